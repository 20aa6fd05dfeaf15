/**
 * TLS handshake messages in the clear (RFC 8446 §4, RFC 5246 §7.4): the
 * ClientHello and ServerHello, and before TLS 1.3 the server's Certificate.
 * Pure functions over a message's bytes; a message that does not fit its
 * lengths throws a RangeError (the caller reports the connection as damaged).
 */
import { X509Certificate, createHash } from 'node:crypto';
import { sequential } from '@panopticon/events';
import { cipherName, groupName, versionName } from './constants.js';

export const HandshakeType = {
  ClientHello: 1,
  ServerHello: 2,
  HelloVerifyRequest: 3,
  NewSessionTicket: 4,
  EndOfEarlyData: 5,
  EncryptedExtensions: 8,
  Certificate: 11,
  ServerHelloDone: 14,
  Finished: 20,
  KeyUpdate: 24,
} as const;

const Extension = { ServerName: 0, SupportedGroups: 10, EcPointFormats: 11, SignatureAlgorithms: 13, Alpn: 16, EncryptThenMac: 22, PreSharedKey: 41, EarlyData: 42, SupportedVersions: 43, QuicTransportParameters: 57 } as const;

/** ServerHello.random of a HelloRetryRequest (RFC 8446 §4.1.3): SHA-256 of "HelloRetryRequest". */
const HRR_RANDOM = Buffer.from('cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c', 'hex');

export interface ClientHello {
  /** legacy_version, and the versions of supported_versions when sent (TLS 1.3) */
  versions: string[];
  /** ClientHello.random: what a key log names the connection by */
  random: Buffer;
  /** early_data offered (TLS 1.3 0-RTT: records under the early secret may follow the hello) */
  earlyData: boolean;
  serverName?: string;
  alpn: string[];
  ciphers: string[];
  groups: string[];
  sessionId: Buffer;
  /** JA3: MD5 of `version,ciphers,extensions,groups,point formats` in decimal, GREASE left out (Salesforce's definition) */
  ja3: string;
  /** JA4 (FoxIO's definition, technical_details/JA4.md), `t`, `q` or `d` first by the transport that carried the hello */
  ja4: string;
}

export interface ServerHello {
  version: string;
  cipher: string;
  /** the cipher suite's IANA code */
  cipherCode: number;
  random: Buffer;
  /** encrypt_then_mac echoed (RFC 7366): CBC records carry their MAC after the ciphertext */
  encryptThenMac: boolean;
  alpn?: string;
  sessionId: Buffer;
  /** TLS 1.3: the server took a pre-shared key (resumption) */
  psk: boolean;
  /** which of the client's offered keys it took (0-RTT is only ever under the first, RFC 8446 §4.2.10) */
  pskIdentity?: number;
  retry: boolean;
  /** JA3S: MD5 of `version,cipher,extensions` in decimal */
  ja3s: string;
}

export interface CertificateInfo {
  subject: string;
  issuer: string;
  notBefore: string;
  notAfter: string;
  altNames?: string;
  sha256: string;
}

/** A cursor that checks every read against the end it was given. */
class Reader {
  constructor(readonly b: Buffer, public at: number, readonly end: number) {}
  need(n: number, what: string): void {
    if (this.at + n > this.end) throw new RangeError(`${what} runs past its message`);
  }
  u8(what: string): number {
    this.need(1, what);
    return this.b[this.at++]!;
  }
  u16(what: string): number {
    this.need(2, what);
    const v = this.b.readUInt16BE(this.at);
    this.at += 2;
    return v;
  }
  u24(what: string): number {
    this.need(3, what);
    const v = this.b.readUIntBE(this.at, 3);
    this.at += 3;
    return v;
  }
  bytes(n: number, what: string): Buffer {
    this.need(n, what);
    const v = this.b.subarray(this.at, this.at + n);
    this.at += n;
    return v;
  }
  /** A vector with a `lenBytes`-byte length: its own reader. */
  vector(lenBytes: 1 | 2 | 3, what: string): Reader {
    const n = lenBytes === 1 ? this.u8(what) : lenBytes === 2 ? this.u16(what) : this.u24(what);
    this.need(n, what);
    const r = new Reader(this.b, this.at, this.at + n);
    this.at += n;
    return r;
  }
  get left(): number {
    return this.end - this.at;
  }
}

/** The extensions block: type → its data's reader (the last of a type that repeats), and the types in order. */
function extensions(r: Reader): { map: Map<number, Reader>; order: number[] } {
  const map = new Map<number, Reader>();
  const order: number[] = [];
  if (r.left === 0) return { map, order }; // no extensions at all (SSL 3.0 style hellos)
  const all = r.vector(2, 'extensions');
  while (all.left > 0) {
    const type = all.u16('extension type');
    order.push(type);
    map.set(type, all.vector(2, 'extension'));
  }
  return { map, order };
}

/** GREASE values (RFC 8701: 0x0a0a, 0x1a1a … 0xfafa) say nothing about the sender. */
function grease(v: number): boolean {
  return (v & 0x0f0f) === 0x0a0a && v >> 8 === (v & 0xff);
}

const md5 = (text: string): string => createHash('md5').update(text).digest('hex');

/** ALPN protocol names (RFC 7301 §3.1): a 2-byte list of 1-byte-length names, as they are on the wire. */
function alpnValues(r: Reader): Buffer[] {
  const list = r.vector(2, 'ALPN list');
  const out: Buffer[] = [];
  while (list.left > 0) {
    const name = list.vector(1, 'ALPN name');
    out.push(name.b.subarray(name.at, name.end));
  }
  return out;
}

/** An ALPN name as text: printable ASCII, anything else `?`. */
function alpnText(v: Buffer): string {
  return sequential(v.toString('latin1').replace(/[^\x20-\x7e]/g, '?'));
}

/**
 * `transport`: `t` for TLS over TCP, `q` for the TLS a QUIC connection
 * carries, `d` for DTLS, whose ClientHello has a cookie after the session id
 * (RFC 6347 §4.2.1) (JA4's first character).
 */
export function parseClientHello(b: Buffer, start: number, end: number, transport: 't' | 'q' | 'd' = 't'): ClientHello {
  const r = new Reader(b, start, end);
  const legacy = r.u16('client version');
  const random = Buffer.from(r.bytes(32, 'random'));
  const sid = r.vector(1, 'session id');
  const sessionId = Buffer.from(b.subarray(sid.at, sid.end));
  if (transport === 'd') r.vector(1, 'cookie');
  const suites = r.vector(2, 'cipher suites');
  const ciphers: string[] = [];
  const cipherCodes: number[] = [];
  while (suites.left >= 2) {
    const c = suites.u16('cipher suite');
    if (grease(c)) continue;
    ciphers.push(cipherName(c));
    cipherCodes.push(c);
  }
  r.vector(1, 'compression methods');
  const { map: ext, order } = extensions(r);
  const hello: ClientHello = { versions: [versionName(legacy)], random, earlyData: ext.has(Extension.EarlyData), alpn: [], ciphers, groups: [], sessionId, ja3: '', ja4: '' };
  const groupCodes: number[] = [];
  const pointFormats: number[] = [];
  const sni = ext.get(Extension.ServerName);
  if (sni) {
    const list = sni.vector(2, 'server name list');
    while (list.left > 0) {
      const type = list.u8('server name type');
      const name = list.vector(2, 'server name');
      if (type === 0 && hello.serverName === undefined) hello.serverName = sequential(b.toString('latin1', name.at, name.end).replace(/[^\x21-\x7e]/g, '?'));
    }
  }
  const alpn = ext.get(Extension.Alpn);
  let firstAlpn: Buffer | undefined;
  if (alpn) {
    const values = alpnValues(alpn);
    firstAlpn = values[0];
    hello.alpn = values.map(alpnText);
  }
  const versions = ext.get(Extension.SupportedVersions);
  let highest = -1;
  if (versions) {
    const list = versions.vector(1, 'supported versions');
    const v: string[] = [];
    while (list.left >= 2) {
      const x = list.u16('version');
      if (grease(x)) continue;
      v.push(versionName(x));
      if (x > highest) highest = x;
    }
    if (v.length) hello.versions = v;
  }
  const sigAlgs: number[] = [];
  const sig = ext.get(Extension.SignatureAlgorithms);
  if (sig) {
    const list = sig.vector(2, 'signature algorithms');
    while (list.left >= 2) {
      const a = list.u16('signature algorithm');
      if (!grease(a)) sigAlgs.push(a);
    }
  }
  const groups = ext.get(Extension.SupportedGroups);
  if (groups) {
    const list = groups.vector(2, 'supported groups');
    while (list.left >= 2) {
      const g = list.u16('group');
      if (grease(g)) continue;
      hello.groups.push(groupName(g));
      groupCodes.push(g);
    }
  }
  const formats = ext.get(Extension.EcPointFormats);
  if (formats) {
    const list = formats.vector(1, 'EC point formats');
    while (list.left > 0) pointFormats.push(list.u8('EC point format'));
  }
  const extensionCodes = order.filter((t) => !grease(t));
  hello.ja3 = md5([legacy, cipherCodes.join('-'), extensionCodes.join('-'), groupCodes.join('-'), pointFormats.join('-')].join(','));
  // a template literal of parts is a rope: flat for JSON.stringify's fast path (ADR 0007)
  hello.ja4 = sequential(ja4(transport, highest >= 0 ? highest : legacy, ext.has(Extension.ServerName), cipherCodes, extensionCodes, firstAlpn, sigAlgs));
  return hello;
}

const JA4_VERSIONS: Record<number, string> = { 0x0304: '13', 0x0303: '12', 0x0302: '11', 0x0301: '10', 0x0300: 's3', 0x0002: 's2', 0xfeff: 'd1', 0xfefd: 'd2', 0xfefc: 'd3' };
const hex4 = (v: number): string => v.toString(16).padStart(4, '0');
const count2 = (n: number): string => String(Math.min(n, 99)).padStart(2, '0');
const sha12 = (text: string): string => createHash('sha256').update(text).digest('hex').slice(0, 12);
const alnum = (c: number): boolean => (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);

/** JA4's two ALPN characters: the first value's first and last, or of its hex when either byte is not alphanumeric; `00` without one. */
function ja4Alpn(v: Buffer | undefined): string {
  if (v === undefined || v.length === 0) return '00';
  const first = v[0]!;
  const last = v[v.length - 1]!;
  if (alnum(first) && alnum(last)) return String.fromCharCode(first, last);
  const h = v.toString('hex');
  return h[0]! + h[h.length - 1]!;
}

/**
 * JA4 (FoxIO, technical_details/JA4.md): `t13d1516h2_<ciphers>_<extensions>`.
 * Counts and lists leave GREASE out; the hashes are the first 12 hex digits of
 * the SHA-256 of the sorted cipher codes, and of the sorted extension codes
 * without SNI and ALPN, then `_` and the signature algorithms in their order.
 */
function ja4(transport: 't' | 'q' | 'd', version: number, sni: boolean, ciphers: number[], extensions: number[], alpn: Buffer | undefined, sigAlgs: number[]): string {
  const a = `${transport}${JA4_VERSIONS[version] ?? '00'}${sni ? 'd' : 'i'}${count2(ciphers.length)}${count2(extensions.length)}${ja4Alpn(alpn)}`;
  const sortedCiphers = ciphers.map(hex4).sort();
  const b = sortedCiphers.length ? sha12(sortedCiphers.join(',')) : '000000000000';
  const exts = extensions.filter((t) => t !== Extension.ServerName && t !== Extension.Alpn).map(hex4).sort();
  const c = exts.length ? sha12(sigAlgs.length ? `${exts.join(',')}_${sigAlgs.map(hex4).join(',')}` : exts.join(',')) : '000000000000';
  return `${a}_${b}_${c}`;
}

export function parseServerHello(b: Buffer, start: number, end: number): ServerHello {
  const r = new Reader(b, start, end);
  const legacy = r.u16('server version');
  const random = r.bytes(32, 'random');
  const sid = r.vector(1, 'session id');
  const sessionId = Buffer.from(b.subarray(sid.at, sid.end));
  const code = r.u16('cipher suite');
  r.u8('compression method');
  const { map: ext, order } = extensions(r);
  const ja3s = md5([legacy, code, order.join('-')].join(','));
  const hello: ServerHello = {
    version: versionName(legacy),
    cipher: cipherName(code),
    cipherCode: code,
    random: Buffer.from(random),
    encryptThenMac: ext.has(Extension.EncryptThenMac),
    sessionId,
    psk: ext.has(Extension.PreSharedKey),
    retry: random.equals(HRR_RANDOM),
    ja3s,
  };
  const v = ext.get(Extension.SupportedVersions);
  if (v) hello.version = versionName(v.u16('selected version'));
  const psk = ext.get(Extension.PreSharedKey);
  if (psk) hello.pskIdentity = psk.u16('selected identity');
  const alpn = ext.get(Extension.Alpn);
  const chosen = alpn ? alpnValues(alpn)[0] : undefined;
  if (chosen) hello.alpn = alpnText(chosen);
  return hello;
}

/** OpenSSL's date text (`Nov 29 13:09:37 2026 GMT`) as ISO 8601, or the text itself when it is no date. */
function isoDate(text: string): string {
  const t = Date.parse(text);
  return Number.isNaN(t) ? sequential(text) : new Date(t).toISOString();
}

/**
 * What a TLS 1.3 server's EncryptedExtensions (RFC 8446 §4.3.1) say, readable
 * once decrypted: the ALPN protocol it chose, and whether it took the
 * client's 0-RTT data (an empty early_data extension, §4.2.10).
 */
export function parseEncryptedExtensions(b: Buffer, start: number, end: number): { alpn?: string; earlyData: boolean; quicParameters?: Buffer } {
  const r = new Reader(b, start, end);
  const { map: ext } = extensions(r);
  const alpn = ext.get(Extension.Alpn);
  const chosen = alpn ? alpnValues(alpn)[0] : undefined;
  const earlyData = ext.has(Extension.EarlyData);
  const out: { alpn?: string; earlyData: boolean; quicParameters?: Buffer } = chosen ? { alpn: alpnText(chosen), earlyData } : { earlyData };
  // QUIC's transport parameters (RFC 9001 §8.2), the server's: a view of their bytes
  const params = ext.get(Extension.QuicTransportParameters);
  if (params) out.quicParameters = params.bytes(params.left, 'transport parameters');
  return out;
}

/**
 * The first (the server's own) certificate of a Certificate message, read by
 * node:crypto; `tls13`: the message of TLS 1.3 (RFC 8446 §4.4.2), with a
 * request context first and extensions after each certificate.
 */
export function parseCertificate(b: Buffer, start: number, end: number, tls13 = false): CertificateInfo | undefined {
  const r = new Reader(b, start, end);
  if (tls13) r.vector(1, 'certificate request context');
  const list = r.vector(3, 'certificate list');
  if (list.left === 0) return undefined;
  const der = list.vector(3, 'certificate');
  // DER OpenSSL does not read, or a field of it that it cannot format (its getters throw as late as
  // that): the handshake is reported without the certificate
  try {
    const cert = new X509Certificate(b.subarray(der.at, der.end));
    // texts made by replace are ropes; sequential() flattens them for JSON.stringify's fast path (ADR 0007)
    const info: CertificateInfo = {
      subject: sequential(cert.subject.replace(/\n/g, ', ')),
      issuer: sequential(cert.issuer.replace(/\n/g, ', ')),
      notBefore: isoDate(cert.validFrom),
      notAfter: isoDate(cert.validTo),
      sha256: sequential(cert.fingerprint256.replace(/:/g, '').toLowerCase()),
    };
    const san = cert.subjectAltName;
    if (san) info.altNames = sequential(san);
    return info;
  } catch {
    return undefined;
  }
}
