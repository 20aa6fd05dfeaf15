/**
 * TLS record protection undone with secrets from a key log: the keys of TLS
 * 1.2 from its master secret (RFC 5246 §6.3, the PRF of §5), those of TLS 1.3
 * from its traffic secrets (RFC 8446 §7.1, §7.3, key updates §7.2), and one
 * record opened at a time (AES-GCM, AES-CCM and CCM_8, ChaCha20-Poly1305,
 * and TLS 1.2's ARIA-GCM and AES- or Camellia-CBC with HMAC, MAC-then-encrypt
 * or encrypt-then-MAC, RFC 7366). Pure functions
 * and small state over node:crypto; nothing here reads the wire.
 */
import { createDecipheriv, createHmac, timingSafeEqual } from 'node:crypto';
import { cipherName } from './constants.js';

type Hash = 'sha256' | 'sha384';
/** node:crypto's name of a record cipher. */
type Bulk = 'null' | 'aes-128-gcm' | 'aes-256-gcm' | 'aria-128-gcm' | 'aria-256-gcm' | 'aes-128-ccm' | 'aes-256-ccm' | 'chacha20-poly1305' | 'aes-128-cbc' | 'aes-256-cbc' | 'camellia-128-cbc' | 'camellia-256-cbc';

/** What a cipher suite needs to be opened: its bulk cipher, its PRF/HKDF hash, and for CBC its record MAC. */
export interface SuiteParams {
  tls13: boolean;
  bulk: Bulk;
  keyLength: number;
  hash: Hash;
  mac?: 'sha1' | 'sha256' | 'sha384';
  macLength: number;
  /** An AEAD's tag: 16 bytes, 8 for the CCM_8 suites (RFC 6655, RFC 8446 §B.4); 0 for CBC. */
  tagLength: number;
  /** CBC: the cipher's block, which is also each record's explicit IV (TLS 1.1 and later). */
  blockLength: number;
}

const aead = (tls13: boolean, bulk: Bulk, hash: Hash, tagLength = 16): SuiteParams => ({ tls13, bulk, keyLength: bulk.includes('-128-') ? 16 : 32, hash, macLength: 0, tagLength, blockLength: 0 });
const cbc = (bulk: Bulk, mac: 'sha1' | 'sha256' | 'sha384'): SuiteParams => ({
  tls13: false,
  bulk,
  keyLength: bulk.includes('-128-') ? 16 : 32,
  hash: mac === 'sha384' ? 'sha384' : 'sha256',
  mac,
  macLength: mac === 'sha1' ? 20 : mac === 'sha256' ? 32 : 48,
  tagLength: 0,
  blockLength: 16,
});

const HASH: Record<string, Hash> = { SHA256: 'sha256', SHA384: 'sha384' };
const MAC: Record<string, 'sha1' | 'sha256' | 'sha384'> = { SHA: 'sha1', SHA256: 'sha256', SHA384: 'sha384' };

/**
 * What a suite's IANA name says of its record protection, whatever its key
 * exchange (the key log gives the secrets it led to): TLS 1.3's
 * `TLS_<AEAD>_<hash>`, and TLS 1.2's `TLS_<kx>_WITH_<cipher>_<MAC or PRF
 * hash>` with AES-GCM, AES-CCM (no hash: SHA-256), ARIA-GCM (RFC 6209),
 * ChaCha20-Poly1305, and AES- or Camellia-CBC with HMAC. Undefined for the
 * rest (RC4, 3DES, SEED, export, NULL with MD5; Camellia-GCM, which OpenSSL
 * lacks). NULL-encryption suites (`_WITH_NULL_SHA…`) are read too, with or
 * without keys (see `nullOpeners`).
 */
function fromName(name: string): SuiteParams | undefined {
  const with_ = name.indexOf('_WITH_');
  const tls13 = with_ < 0;
  const c = tls13 ? name.slice(4) : name.slice(with_ + 6);
  let m = /^(AES|ARIA)_(128|256)_GCM_(SHA256|SHA384)$/.exec(c);
  if (m && (!tls13 || m[1] === 'AES')) return aead(tls13, `${m[1]!.toLowerCase()}-${m[2]}-gcm` as Bulk, HASH[m[3]!]!);
  if (c === 'CHACHA20_POLY1305_SHA256') return aead(tls13, 'chacha20-poly1305', 'sha256');
  if (tls13) {
    // TLS 1.3's CCM suites carry their hash: TLS_AES_128_CCM_SHA256, TLS_AES_128_CCM_8_SHA256
    m = /^AES_128_CCM(_8)?_SHA256$/.exec(c);
    return m ? aead(true, 'aes-128-ccm', 'sha256', m[1] ? 8 : 16) : undefined;
  }
  m = /^AES_(128|256)_CCM(_8)?$/.exec(c);
  if (m) return aead(false, `aes-${m[1]}-ccm` as Bulk, 'sha256', m[2] ? 8 : 16);
  m = /^(AES|CAMELLIA)_(128|256)_CBC_(SHA|SHA256|SHA384)$/.exec(c);
  if (m) return cbc(`${m[1]!.toLowerCase()}-${m[2]}-cbc` as Bulk, MAC[m[3]!]!);
  // NULL encryption (RFC 5246 App. C): records are their content and an HMAC, readable without keys
  m = /^NULL_(SHA|SHA256|SHA384)$/.exec(c);
  if (m) return { ...cbc('null', MAC[m[1]!]!), keyLength: 0, blockLength: 0 };
  return undefined;
}

const SUITES = new Map<number, SuiteParams | undefined>();

/** The record protection of the suite with IANA code `code`, when it is one opened here. */
export function suiteParams(code: number): SuiteParams | undefined {
  if (!SUITES.has(code)) {
    const name = cipherName(code);
    SUITES.set(code, name.startsWith('TLS_') ? fromName(name) : undefined);
  }
  return SUITES.get(code);
}

const HASH_LENGTH: Record<Hash, number> = { sha256: 32, sha384: 48 };

/** HKDF-Expand-Label of TLS 1.3 (RFC 8446 §7.1) with an empty context; `length` ≤ the hash's is one HMAC block. */
export function expandLabel(secret: Buffer, label: string, length: number, hash: Hash = 'sha256'): Buffer {
  const full = `tls13 ${label}`;
  const info = Buffer.alloc(4 + full.length + 1);
  info.writeUInt16BE(length, 0);
  info[2] = full.length;
  info.write(full, 3, 'latin1');
  info[3 + full.length] = 0; // context length
  info[info.length - 1] = 1; // HKDF-Expand's block counter T(1)
  return createHmac(hash, secret).update(info).digest().subarray(0, length);
}

/** TLS 1.2's PRF (RFC 5246 §5): P_hash(secret, label + seed) to `length` bytes. */
export function prf(hash: Hash, secret: Buffer, label: string, seed: Buffer, length: number): Buffer {
  return pHash(hash, secret, Buffer.concat([Buffer.from(label, 'latin1'), seed]), length);
}

/** The PRF of TLS 1.0 and 1.1 (RFC 4346 §5): P_MD5 of the secret's first half XOR P_SHA-1 of its second. */
export function prf10(secret: Buffer, label: string, seed: Buffer, length: number): Buffer {
  const half = Math.ceil(secret.length / 2);
  const labeled = Buffer.concat([Buffer.from(label, 'latin1'), seed]);
  const md5 = pHash('md5', secret.subarray(0, half), labeled, length);
  const sha1 = pHash('sha1', secret.subarray(secret.length - half), labeled, length);
  for (let i = 0; i < length; i++) md5[i]! ^= sha1[i]!;
  return md5;
}

function pHash(hash: string, secret: Buffer, labeled: Buffer, length: number): Buffer {
  const out: Buffer[] = [];
  let a = labeled;
  let got = 0;
  while (got < length) {
    a = createHmac(hash, secret).update(a).digest();
    const block = createHmac(hash, secret).update(a).update(labeled).digest();
    out.push(block);
    got += block.length;
  }
  return Buffer.concat(out).subarray(0, length);
}

/** A record type, and its content (a view into a buffer of the opener's). */
export interface OpenedRecord {
  type: number;
  content: Buffer;
}

/**
 * One direction's record protection: its keys and the records' sequence
 * number. `open` returns undefined when a record does not authenticate
 * (wrong keys, or damage).
 */
export interface RecordOpener {
  open(type: number, version: number, payload: Buffer): OpenedRecord | undefined;
}

/** AES-GCM or ChaCha20-Poly1305 with a 12-byte nonce of `iv` XOR the sequence number (TLS 1.3, and ChaCha20 in 1.2). */
function xorNonce(iv: Buffer, seq: number): Buffer {
  const n = Buffer.from(iv);
  // the sequence number as two 32-bit halves: a record count stays far below 2^53
  n.writeUInt32BE((n.readUInt32BE(4) ^ Math.floor(seq / 0x100000000)) >>> 0, 4);
  n.writeUInt32BE((n.readUInt32BE(8) ^ seq) >>> 0, 8);
  return n;
}

function aeadOpen(bulk: Bulk, key: Buffer, nonce: Buffer, aad: Buffer, sealed: Buffer, tagLength = 16): Buffer | undefined {
  if (sealed.length < tagLength) return undefined;
  const ct = sealed.subarray(0, sealed.length - tagLength);
  try {
    const d = createDecipheriv(bulk as 'aes-128-gcm', key, nonce, { authTagLength: tagLength });
    d.setAuthTag(sealed.subarray(sealed.length - tagLength));
    // CCM authenticates the length first (RFC 3610): node:crypto wants it with the additional data
    if (bulk === 'aes-128-ccm' || bulk === 'aes-256-ccm') (d as unknown as { setAAD(b: Buffer, o: { plaintextLength: number }): void }).setAAD(aad, { plaintextLength: ct.length });
    else d.setAAD(aad);
    const out = d.update(ct);
    d.final();
    return out;
  } catch {
    return undefined;
  }
}

/** The additional data of a TLS 1.2 record: sequence number, type, version, plaintext length. */
function aad12(seq: number, type: number, version: number, length: number): Buffer {
  const a = Buffer.allocUnsafe(13);
  a.writeUInt32BE(Math.floor(seq / 0x100000000), 0);
  a.writeUInt32BE(seq >>> 0, 4);
  a[8] = type;
  a.writeUInt16BE(version, 9);
  a.writeUInt16BE(length, 11);
  return a;
}

/** TLS 1.3: one traffic secret's keys; a KeyUpdate moves it to the next secret (RFC 8446 §7.2). */
export class Tls13Opener implements RecordOpener {
  private key!: Buffer;
  private iv!: Buffer;
  private seq = 0;

  constructor(
    private readonly suite: SuiteParams,
    private secret: Buffer,
  ) {
    this.derive();
  }

  private derive(): void {
    this.key = expandLabel(this.secret, 'key', this.suite.keyLength, this.suite.hash);
    this.iv = expandLabel(this.secret, 'iv', 12, this.suite.hash);
    this.seq = 0;
  }

  /** The sender updated its keys: the next traffic secret, sequence numbers from 0. */
  update(): void {
    this.secret = expandLabel(this.secret, 'traffic upd', HASH_LENGTH[this.suite.hash], this.suite.hash);
    this.derive();
  }

  open(type: number, version: number, payload: Buffer): OpenedRecord | undefined {
    const header = Buffer.from([type, version >> 8, version & 0xff, payload.length >> 8, payload.length & 0xff]);
    const inner = aeadOpen(this.suite.bulk, this.key, xorNonce(this.iv, this.seq), header, payload, this.suite.tagLength);
    // a record that does not open leaves the count where it was: 0-RTT records the server refused are
    // skipped this way (the caller decides what else a failure means)
    if (!inner) return undefined;
    this.seq++;
    // TLSInnerPlaintext: content, the real type, zero padding (RFC 8446 §5.2)
    let end = inner.length;
    while (end > 0 && inner[end - 1] === 0) end--;
    if (end === 0) return undefined;
    return { type: inner[end - 1]!, content: inner.subarray(0, end - 1) };
  }
}

/** TLS 1.2 (and 1.0, 1.1 for CBC): one side's write keys from the key block. */
export class Tls12Opener implements RecordOpener {
  private seq = 0;

  constructor(
    private readonly suite: SuiteParams,
    private readonly key: Buffer,
    /** AEAD: the fixed IV (4 bytes GCM, 12 ChaCha20); CBC in TLS 1.0: the first record's IV, then the last ciphertext block. */
    private iv: Buffer,
    private readonly macKey: Buffer,
    private readonly encryptThenMac: boolean,
  ) {}

  open(type: number, version: number, payload: Buffer): OpenedRecord | undefined {
    const seq = this.seq++;
    const s = this.suite;
    if (s.bulk === 'chacha20-poly1305') {
      // a record shorter than its tag is damage (its length would make the additional data's negative)
      if (payload.length < 16) return undefined;
      const content = aeadOpen(s.bulk, this.key, xorNonce(this.iv, seq), aad12(seq, type, version, payload.length - 16), payload);
      return content && { type, content };
    }
    if (s.tagLength > 0) {
      // AES-GCM and AES-CCM: a 4-byte salt from the key block and 8 explicit bytes before each record (RFC 5288, RFC 6655)
      if (payload.length < 8 + s.tagLength) return undefined;
      const nonce = Buffer.concat([this.iv, payload.subarray(0, 8)]);
      const content = aeadOpen(s.bulk, this.key, nonce, aad12(seq, type, version, payload.length - 8 - s.tagLength), payload.subarray(8), s.tagLength);
      return content && { type, content };
    }
    return this.openCbc(seq, type, version, payload);
  }

  private openCbc(seq: number, type: number, version: number, payload: Buffer): OpenedRecord | undefined {
    const s = this.suite;
    const macLen = s.macLength;
    if (s.bulk === 'null') {
      // the content in the clear, then its MAC: checked when the key log gave the MAC key
      if (payload.length < macLen) return undefined;
      const end = payload.length - macLen;
      if (this.macKey.length > 0) {
        const want = createHmac(s.mac!, this.macKey).update(aad12(seq, type, version, end)).update(payload.subarray(0, end)).digest();
        if (!timingSafeEqual(want, payload.subarray(end))) return undefined;
      }
      return { type, content: payload.subarray(0, end) };
    }
    // TLS 1.1 and later send each record's IV before it; TLS 1.0 chains from the last record
    const explicitIv = version >= 0x0302;
    let body = payload;
    let mac: Buffer | undefined;
    if (this.encryptThenMac) {
      if (payload.length < macLen) return undefined;
      body = payload.subarray(0, payload.length - macLen);
      mac = payload.subarray(payload.length - macLen);
      const want = createHmac(s.mac!, this.macKey).update(aad12(seq, type, version, body.length)).update(body).digest();
      if (!timingSafeEqual(want, mac)) return undefined;
    }
    const block = s.blockLength;
    const iv = explicitIv ? body.subarray(0, block) : this.iv;
    const ct = explicitIv ? body.subarray(block) : body;
    if (ct.length === 0 || ct.length % block !== 0) return undefined;
    if (!explicitIv) this.iv = Buffer.from(ct.subarray(ct.length - block));
    let plain: Buffer;
    try {
      const d = createDecipheriv(s.bulk, this.key, iv);
      d.setAutoPadding(false);
      plain = Buffer.concat([d.update(ct), d.final()]);
    } catch {
      return undefined;
    }
    const pad = plain[plain.length - 1]!;
    if (pad + 1 > plain.length) return undefined;
    for (let i = plain.length - 1 - pad; i < plain.length - 1; i++) if (plain[i] !== pad) return undefined;
    let end = plain.length - pad - 1;
    if (!this.encryptThenMac) {
      if (end < macLen) return undefined;
      end -= macLen;
      const want = createHmac(s.mac!, this.macKey).update(aad12(seq, type, version, end)).update(plain.subarray(0, end)).digest();
      if (!timingSafeEqual(want, plain.subarray(end, end + macLen))) return undefined;
    }
    return { type, content: plain.subarray(0, end) };
  }
}

/**
 * Both sides' openers of a NULL-encryption suite without keys: each record's
 * content is read as it is, its MAC cut off unchecked (Wireshark reads them
 * alike).
 */
export function nullOpeners(suite: SuiteParams): { client: Tls12Opener; server: Tls12Opener } {
  const none = Buffer.alloc(0);
  return { client: new Tls12Opener(suite, none, none, none, false), server: new Tls12Opener(suite, none, none, none, false) };
}

/**
 * Both sides' openers of TLS 1.2 (and 1.0, 1.1: `prf10`) from the master
 * secret and the two hellos' randoms (RFC 5246 §6.3).
 */
export function tls12Openers(suite: SuiteParams, master: Buffer, clientRandom: Buffer, serverRandom: Buffer, encryptThenMac: boolean, legacyPrf = false): { client: Tls12Opener; server: Tls12Opener } {
  const macLen = suite.mac ? suite.macLength : 0;
  const ivLen = suite.bulk === 'chacha20-poly1305' ? 12 : suite.mac ? suite.blockLength : 4;
  const seed = Buffer.concat([serverRandom, clientRandom]);
  const length = 2 * (macLen + suite.keyLength + ivLen);
  const block = legacyPrf ? prf10(master, 'key expansion', seed, length) : prf(suite.hash, master, 'key expansion', seed, length);
  let at = 0;
  const take = (n: number): Buffer => block.subarray(at, (at += n));
  const clientMac = take(macLen), serverMac = take(macLen);
  const clientKey = take(suite.keyLength), serverKey = take(suite.keyLength);
  const clientIv = take(ivLen), serverIv = take(ivLen);
  // encrypt-then-MAC changes only CBC suites (RFC 7366 §3)
  const etm = encryptThenMac && suite.mac !== undefined;
  return { client: new Tls12Opener(suite, clientKey, clientIv, clientMac, etm), server: new Tls12Opener(suite, serverKey, serverIv, serverMac, etm) };
}
