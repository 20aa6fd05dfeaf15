/**
 * A TLS connection's handshake as the wire shows it (RFC 8446, RFC 5246):
 * records read per side, handshake messages joined across records, the
 * ClientHello, the ServerHello and (before TLS 1.3) the server's
 * certificate read, and one event when the server's cleartext part ends:
 * server name (SNI), versions, cipher, ALPN, certificate. Handshake bytes
 * kept per side are bounded.
 *
 * With a key log (`--tls-keylog`, or a capture's Decryption Secrets Block)
 * that holds the connection's secrets, its records are opened too
 * (decrypt.ts): TLS 1.3's encrypted handshake (ALPN, certificate) joins the
 * event, which then waits for the server's Finished, and the application
 * data goes to the protocol it carries (chosen by ALPN, else detected),
 * whose events say `tls.decrypted`. Without keys what follows the handshake
 * is encrypted and is not read.
 */
import { Dir, type CloseReason } from '@panopticon/flows';
import type { ParserContext } from '../types.js';
import { handshakeRecord, tlsAttributes } from './attributes.js';
import { alertName } from './constants.js';
import { HandshakeType, parseCertificate, parseClientHello, parseEncryptedExtensions, parseServerHello, type CertificateInfo, type ClientHello, type ServerHello } from './handshake.js';
import { CLOSE_FLAG } from '../close-flags.js';
import { nullOpeners, suiteParams, tls12Openers, Tls13Opener, type RecordOpener, type SuiteParams } from './decrypt.js';
import { KeyLabel, KeyWait, type TlsKeyLog } from './keylog.js';
import type { ExchangeRecord, StreamParser } from '../types.js';

const ContentType = { ChangeCipherSpec: 20, Alert: 21, Handshake: 22, ApplicationData: 23 } as const;

/** A record's payload is at most 2^14 bytes plus 2048 of expansion (RFC 5246 §6.2.3). */
const MAX_RECORD = (1 << 14) + 2048;
/** Handshake bytes kept per side: a certificate chain of a few certificates fits. */
const MAX_HANDSHAKE = 64 * 1024;

/** The protocol a negotiated ALPN name carries (RFC 7301 registry), for the plaintext's parser. */
const ALPN_PROTOCOL: Record<string, string> = { h2: 'http2', 'h2-16': 'http2', 'h2-14': 'http2', 'http/1.1': 'http', 'http/1.0': 'http' };


/**
 * A suite this ServerHello chose whose records can be opened here, at the
 * version it chose: SSL 3.0 has a PRF and MAC of its own; AEAD suites need
 * TLS 1.2 (TLS 1.3's, TLS 1.3).
 */
function openable(s: ServerHello): SuiteParams | undefined {
  const suite = suiteParams(s.cipherCode);
  if (!suite) return undefined;
  const fits = suite.tls13 ? s.version === '1.3' : s.version === '1.2' || (suite.mac !== undefined && (s.version === '1.0' || s.version === '1.1'));
  return fits ? suite : undefined;
}

class Side {
  /** Bytes of a record not yet whole. */
  pending: Buffer | null = null;
  /** Handshake bytes not yet a whole message. */
  hs: Buffer | null = null;
  /** The side now sends encrypted records (after its ChangeCipherSpec, or a TLS 1.3 ServerHello). */
  encrypted = false;
  startNs: bigint | undefined;
  bytes = 0;
  /** The side's record protection, once its keys are known. */
  opener: RecordOpener | undefined;
  /** TLS 1.3: the side's handshake is over (its Finished read); its records are under its traffic secret. */
  application = false;
  /** Nothing more of this side is read: a gap, or records that did not open. */
  lost = false;
  /** TLS 1.3: the traffic secret this side's records wait for (the key log had its handshake's, not this yet). */
  awaiting: string | undefined;
  /** Its records held meanwhile (bounded as a connection's are before its first keys). */
  held: KeyWait<HeldRecord> | undefined;
}

interface HeldRecord {
  dir: Dir;
  type: number;
  version: number;
  payload: Buffer;
  tsNs: bigint;
}

export class TlsStream implements StreamParser {
  private readonly sides = [new Side(), new Side()];
  private client: ClientHello | undefined;
  private server: ServerHello | undefined;
  private certificate: CertificateInfo | undefined;
  private alert: string | undefined;
  private done = false;
  private flags = new Set<string>();
  /**
   * Joined after the handshake: the first record was application data. Only
   * the bytes each side sends are counted, for one event when the connection
   * ends (which hosts spoke TLS, how much, how long).
   */
  private joined = false;
  private sawHandshake = false;
  /** The handshake's event was emitted; with keys the records go on being read. */
  private reported = false;
  /** The key log asked for this connection's secrets (a key log was given). */
  private readonly keys: TlsKeyLog | undefined;
  /** The ServerHello chose NULL encryption: the records are read after the handshake, keys or not. */
  private clear = false;
  private suite: SuiteParams | undefined;
  /** Secrets found and the records are being opened. */
  private decrypting = false;
  /** Protected records held until the key log has the connection's secrets (bounded). */
  private waiting: KeyWait<HeldRecord> | undefined;
  /** TLS 1.3: the ALPN protocol of the server's EncryptedExtensions. */
  private serverAlpn: string | undefined;
  /** The parser of the plaintext's protocol, from the first application data. */
  private inner: StreamParser | undefined;
  private innerTried = false;
  /** Time of the last bytes read. */
  private lastNs = 0n;
  /** TLS 1.3 with keys: the server's Finished was read (the handshake is whole). */
  private serverFinished = false;
  /**
   * TLS 1.3 0-RTT (the ClientHello offered early_data: the client sent
   * records under its early secret with it): `pending` until the server's
   * EncryptedExtensions say whether it took them; `unread` when they never
   * will be read.
   */
  private early: 'pending' | 'accepted' | 'rejected' | 'unread' = 'pending';
  /** The client's records that may be 0-RTT, held until the server's answer is read (bounded as others). */
  private readonly earlyHeld: KeyWait<HeldRecord>;
  /** Some were past the bounds and dropped: what is left of them is not read either. */
  private earlyCut = false;
  /** Accepted 0-RTT with its secret logged: opens the client's records until its EndOfEarlyData. */
  private earlyOpener: Tls13Opener | undefined;
  /** Accepted 0-RTT that is not read: the carried protocol's client side starts with a gap. */
  private earlyLost = false;
  /**
   * TLS 1.2 and before: a renegotiation under way, its hellos read from the
   * protected handshake; its keys (null: not to be had), and how many sides
   * have switched to them.
   */
  private reneg: { client: ClientHello; server?: ServerHello; openers?: { client: RecordOpener; server: RecordOpener } | null; switched: number } | undefined;

  constructor(
    private readonly ctx: ParserContext,
    /** A session that switched to TLS (MySQL's SSL request): what the TLS carries is its, resumed. */
    private readonly carried?: { name: string; parser: (ctx: ParserContext) => StreamParser },
  ) {
    this.keys = ctx.tlsKeys?.active ? ctx.tlsKeys : undefined;
    this.earlyHeld = new KeyWait(this.keys);
  }

  data(dir: Dir, chunk: Buffer, tsNs: bigint): void {
    if (this.done) return;
    this.lastNs = tsNs;
    const side = this.sides[dir === Dir.ToServer ? 0 : 1]!;
    side.startNs ??= tsNs;
    if (this.joined) {
      side.bytes += chunk.length;
      return;
    }
    if (side.lost) return void (side.bytes += chunk.length);
    let buf = side.pending ? Buffer.concat([side.pending, chunk]) : chunk;
    side.pending = null;
    let off = 0;
    while (!this.done && buf.length - off >= 5) {
      const type = buf[off]!;
      const length = buf.readUInt16BE(off + 3);
      if (type < ContentType.ChangeCipherSpec || type > ContentType.ApplicationData || buf[off + 1] !== 3 || length > MAX_RECORD) {
        // no handshake seen: joined after it, and this side's capture began inside a record
        if (!this.sawHandshake) {
          this.joined = true;
          side.bytes += buf.length - off;
          return;
        }
        return this.damage();
      }
      if (buf.length - off < 5 + length) break;
      side.bytes += 5 + length;
      this.record(dir, side, type, buf.readUInt16BE(off + 1), buf.subarray(off + 5, off + 5 + length), tsNs);
      off += 5 + length;
      if (this.joined) {
        side.bytes += buf.length - off;
        return;
      }
    }
    if (!this.done && off < buf.length) side.pending = Buffer.from(buf.subarray(off));
  }

  private record(dir: Dir, side: Side, type: number, version: number, payload: Buffer, tsNs: bigint): void {
    // a side's protected records, when a key log may open them (TLS 1.3 still sends plain ChangeCipherSpecs)
    if (this.reading && side.encrypted && type !== ContentType.ChangeCipherSpec) return this.protectedRecord(dir, side, type, version, payload, tsNs);
    switch (type) {
      case ContentType.ApplicationData:
        // encrypted data before any handshake record: the connection was joined after its handshake
        if (!this.sawHandshake) {
          this.joined = true;
          return;
        }
        // 0-RTT data right after a ClientHello that offered it, under the early secret: with keys, held
        // until the server's answer says whether it took them; the handshake goes on either way
        if (this.client?.earlyData && !this.server && dir === Dir.ToServer) {
          if (this.keys) return this.holdEarly({ dir, type, version, payload: Buffer.from(payload), tsNs });
          return void this.ctx.count('tls.early_data_records');
        }
        // TLS 1.3: the client's records after the ServerHello are protected (its Finished first)
        if (this.keys && this.server?.version === '1.3') {
          side.encrypted = true;
          return this.protectedRecord(dir, side, type, version, payload, tsNs);
        }
        // the handshake is over (or what is left of it is encrypted)
        return this.finish(tsNs);
      case ContentType.ChangeCipherSpec:
        if (!this.sawHandshake) {
          this.joined = true;
          return;
        }
        // Before TLS 1.3 a ChangeCipherSpec starts its side's encryption (and the server's ends its
        // cleartext: an abbreviated, resumed handshake). TLS 1.3 sends one only for middleboxes (RFC
        // 8446 §D.4), around a HelloRetryRequest too, with cleartext hellos after it: ignored there,
        // and while no ServerHello has said which version it is.
        if (!this.server || this.server.version === '1.3') return;
        // a second ChangeCipherSpec: a renegotiation's new keys start here; in order with the records
        // held while the connection's first keys are awaited
        if (side.encrypted && this.decrypting) return this.renegotiated(dir, side);
        if (side.encrypted && this.keys && this.waiting !== undefined) return this.hold({ dir, type, version, payload: Buffer.from(payload), tsNs });
        side.encrypted = true;
        // with a key log the event waits for the server's Finished, decrypted (or for knowing it will not be)
        if (dir === Dir.ToClient && !this.reading) this.finish(tsNs);
        return;
      case ContentType.Alert:
        // before any handshake record: an encrypted alert of a connection joined after its handshake
        if (!this.sawHandshake) {
          this.joined = true;
          return;
        }
        // an alert sent before the side encrypts is readable: level, description
        if (!side.encrypted && payload.length >= 2) {
          this.alert = alertName(payload[1]!);
          this.finish(tsNs);
        }
        return;
      default:
        this.sawHandshake = true;
        if (side.encrypted) return;
        this.handshake(dir, side, payload, tsNs);
    }
  }

  private handshake(dir: Dir, side: Side, payload: Buffer, tsNs: bigint): void {
    let buf = side.hs ? Buffer.concat([side.hs, payload]) : payload;
    side.hs = null;
    let off = 0;
    while (!this.done && buf.length - off >= 4) {
      const type = buf[off]!;
      const length = buf.readUIntBE(off + 1, 3);
      if (length > MAX_HANDSHAKE) return this.damage();
      if (buf.length - off < 4 + length) break;
      try {
        this.message(dir, side, type, buf, off + 4, off + 4 + length, tsNs);
      } catch (e) {
        if (!(e instanceof RangeError)) throw e;
        return this.damage();
      }
      off += 4 + length;
    }
    if (this.done || off >= buf.length) return;
    if (buf.length - off > MAX_HANDSHAKE) return this.damage();
    side.hs = Buffer.from(buf.subarray(off));
  }

  private message(dir: Dir, side: Side, type: number, buf: Buffer, start: number, end: number, tsNs: bigint): void {
    if (side.opener) return this.protectedMessage(dir, side, type, buf, start, end, tsNs);
    if (dir === Dir.ToServer) {
      if (type === HandshakeType.ClientHello) {
        // a second ClientHello (after a HelloRetryRequest): 0-RTT sent with the first was refused (RFC 8446 §4.2.10)
        if (this.client?.earlyData) {
          this.giveUpEarly();
          this.early = 'rejected';
        }
        this.client = parseClientHello(buf, start, end);
      }
      return;
    }
    if (type === HandshakeType.ServerHello) {
      const hello = parseServerHello(buf, start, end);
      // a HelloRetryRequest asks for another ClientHello; the real ServerHello follows it
      if (hello.retry) {
        this.flags.add('hello_retry');
        return;
      }
      this.server = hello;
      this.clear = openable(hello)?.bulk === 'null';
      // 0-RTT the server cannot have taken: not TLS 1.3, or not under the client's first key (RFC 8446 §4.2.10)
      if (this.client?.earlyData && this.early === 'pending' && (hello.version !== '1.3' || hello.pskIdentity !== 0)) {
        this.giveUpEarly();
        this.early = 'rejected';
      }
      if (hello.version === '1.3') {
        side.encrypted = true;
        // with a key log the event waits for what the encrypted handshake says (ALPN, certificate)
        if (!this.keys) this.finish(tsNs);
      }
    } else if (type === HandshakeType.Certificate) {
      this.certificate = parseCertificate(buf, start, end);
    } else if (type === HandshakeType.ServerHelloDone) {
      if (!this.reading) this.finish(tsNs);
    }
  }

  /** A handshake message that came encrypted: TLS 1.3's handshake after the ServerHello, key updates, tickets. */
  private protectedMessage(dir: Dir, side: Side, type: number, buf: Buffer, start: number, end: number, tsNs: bigint): void {
    const tls13 = this.server?.version === '1.3';
    if (!tls13) {
      // TLS 1.2: the server's Finished ends the handshake; hellos under protection are a
      // renegotiation (a HelloRequest, type 0, only asks the client for one), read to follow its keys
      if (type === HandshakeType.Finished && dir === Dir.ToClient) this.finish(tsNs);
      else if (type === HandshakeType.ClientHello && dir === Dir.ToServer) this.reneg = { client: parseClientHello(buf, start, end), switched: 0 };
      else if (type === HandshakeType.ServerHello && dir === Dir.ToClient && this.reneg) this.reneg.server = parseServerHello(buf, start, end);
      return;
    }
    if (type === HandshakeType.KeyUpdate && side.application) return (side.opener as Tls13Opener).update();
    if (side.application) return; // NewSessionTicket and the like
    if (dir === Dir.ToClient) {
      if (type === HandshakeType.EncryptedExtensions) {
        const ee = parseEncryptedExtensions(buf, start, end);
        this.serverAlpn = ee.alpn;
        this.settleEarly(ee.earlyData ? 'accepted' : 'rejected');
      }
      else if (type === HandshakeType.Certificate) this.certificate = parseCertificate(buf, start, end, true);
    }
    if (type !== HandshakeType.Finished) return;
    // the side's handshake is over: its records are now under its first traffic secret
    const label = dir === Dir.ToServer ? KeyLabel.ClientTraffic : KeyLabel.ServerTraffic;
    const secret = this.keys!.get(this.client!.random, label);
    side.application = true;
    // not logged yet (a client logs each secret as its handshake reaches it, and pano-capture writes
    // the lines it has at each batch): the side's records wait for it
    if (secret) side.opener = new Tls13Opener(this.suite!, secret);
    else {
      side.opener = undefined;
      side.awaiting = label;
      side.held = new KeyWait(this.keys);
    }
    // the handshake's event, unless the server's secret is awaited: then when it comes or is given up
    if (dir === Dir.ToClient) this.serverFinished = true;
    if (dir === Dir.ToClient && secret) this.finish(tsNs);
  }

  /** A record of a side waiting for its traffic secret: held, bounded; opened with the rest when the secret comes. */
  private holdSide(dir: Dir, side: Side, h: HeldRecord): void {
    if (!side.held!.add(h, h.payload.length)) {
      side.held!.take();
      side.awaiting = undefined;
      side.lost = true;
      this.ctx.count('tls.keys_missing');
      this.flags.add('keys_missing');
      return this.lost(dir, h.tsNs);
    }
    const secret = this.keys!.get(this.client!.random, side.awaiting!);
    if (!secret) return;
    side.opener = new Tls13Opener(this.suite!, secret);
    side.awaiting = undefined;
    const held = side.held!.take();
    if (dir === Dir.ToClient) this.finish(held[0]!.tsNs);
    for (const r of held) if (!this.done && !side.lost) this.protectedRecord(r.dir, side, r.type, r.version, r.payload, r.tsNs);
  }

  private dropSideHeld(side: Side): void {
    side.held?.take();
  }

  /**
   * A record sent after its side's ChangeCipherSpec (TLS 1.2) or ServerHello
   * (TLS 1.3), with a key log given: opened when the connection's secrets
   * are known, held (bounded) while they may still come, counted otherwise.
   */
  private protectedRecord(dir: Dir, side: Side, type: number, version: number, payload: Buffer, tsNs: bigint): void {
    if (side.lost) return;
    // a renegotiation's ChangeCipherSpec, held in order while the first keys were awaited
    if (type === ContentType.ChangeCipherSpec) return this.renegotiated(dir, side);
    if (!this.decrypting) {
      if (this.waiting === undefined && !this.startDecrypting()) {
        // no hellos to name the connection, or a suite not opened here: as without a key log
        if (!this.reported) this.finish(tsNs);
        this.done = true;
        return;
      }
      if (!this.decrypting) return this.hold({ dir, type, version, payload: Buffer.from(payload), tsNs });
    }
    if (dir === Dir.ToServer && !side.application && this.client?.earlyData && this.early !== 'rejected') {
      // may be 0-RTT: held until the server's answer is read, then opened under the early secret if it took them
      if (this.early === 'pending') return this.holdEarly({ dir, type, version, payload: Buffer.from(payload), tsNs });
      if (this.earlyOpener && this.earlyRecord(version, payload, tsNs)) return;
    }
    if (!side.opener) {
      if (side.awaiting) this.holdSide(dir, side, { dir, type, version, payload: Buffer.from(payload), tsNs });
      return;
    }
    const opened = side.opener.open(type, version, payload);
    if (!opened) {
      // 0-RTT data the server refused (or that cannot be read) comes under the early secret: skipped
      if (dir === Dir.ToServer && !side.application && this.client?.earlyData) return void this.ctx.count('tls.early_data_records');
      this.ctx.count('tls.undecryptable_records');
      this.flags.add('decrypt_failed');
      side.lost = true;
      return this.lost(dir, tsNs);
    }
    this.ctx.count('tls.decrypted_records');
    switch (opened.type) {
      case ContentType.Handshake:
        return this.handshake(dir, side, opened.content, tsNs);
      case ContentType.ApplicationData:
        return this.plaintext(dir, opened.content, tsNs);
      case ContentType.Alert:
        if (opened.content.length >= 2) {
          const name = alertName(opened.content[1]!);
          if (!this.reported) this.alert = name;
          // close_notify: the side sends no more; another alert ends the connection
          this.inner?.end(dir, tsNs);
        }
        return;
      default:
        return;
    }
  }

  /**
   * A client record that may be 0-RTT, held while the server's answer is
   * not read; past the bounds the 0-RTT data is given up (counted), as
   * without its secret.
   */
  private holdEarly(h: HeldRecord): void {
    if (this.earlyCut) return void this.ctx.count('tls.early_data_records');
    if (this.earlyHeld.add(h, h.payload.length)) return;
    this.ctx.count('tls.early_data_records', this.earlyHeld.take().length + 1);
    this.earlyCut = true;
  }

  /**
   * The server's answer to 0-RTT (its EncryptedExtensions), or `unread`
   * when it will not be read: accepted data is opened with the client's
   * early secret (RFC 8446 §7.1); refused data the server never read, and
   * neither does pano (counted). The held records then go on in order.
   */
  private settleEarly(answer: 'accepted' | 'rejected' | 'unread'): void {
    if (this.early !== 'pending' || !this.client?.earlyData) return;
    this.early = answer;
    if (answer === 'accepted') {
      const secret = this.earlyCut ? undefined : this.keys!.get(this.client.random, KeyLabel.ClientEarly);
      // without it, what the client said first is not read (counted): the carried protocol is told
      // of the loss, so that the server's answers to it are not paired with later requests
      if (secret) this.earlyOpener = new Tls13Opener(this.suite!, secret);
      else this.earlyLost = true;
      if (!secret && !this.earlyCut) {
        this.ctx.count('tls.keys_missing');
        this.flags.add('keys_missing');
      }
    }
    const held = this.earlyHeld.take();
    const side = this.sides[0]!;
    for (const h of held) {
      if (!this.done && !side.lost) this.protectedRecord(h.dir, side, h.type, h.version, h.payload, h.tsNs);
      else this.ctx.count('tls.early_data_records');
    }
  }

  /** A client record opened under the early secret (0-RTT the server took); false when it does not open. */
  private earlyRecord(version: number, payload: Buffer, tsNs: bigint): boolean {
    const opened = this.earlyOpener!.open(ContentType.ApplicationData, version, payload);
    if (!opened) return false;
    this.ctx.count('tls.decrypted_records');
    this.ctx.count('tls.early_data_decrypted');
    if (opened.type === ContentType.ApplicationData) this.plaintext(Dir.ToServer, opened.content, tsNs);
    // EndOfEarlyData: the client's next records are under its handshake secret
    else if (opened.type === ContentType.Handshake && opened.content[0] === HandshakeType.EndOfEarlyData) this.earlyOpener = undefined;
    return true;
  }

  /**
   * A side's ChangeCipherSpec after its first (TLS 1.2 and before): a
   * renegotiation's new keys, from the master secret the key log has for
   * the new ClientHello's random, for that side's records from here on
   * (RFC 5246 §7.1). One whose hellos were not read, whose suite is not
   * opened here, or whose secret is not logged ends the reading as before,
   * flagged.
   */
  private renegotiated(dir: Dir, side: Side): void {
    const r = this.reneg;
    if (!r?.server) return this.stopDecrypting('renegotiated');
    if (r.openers === undefined) {
      const suite = openable(r.server);
      const master = suite && this.keys?.get(r.client.random, KeyLabel.MasterSecret);
      r.openers = suite && master ? tls12Openers(suite, master, r.client.random, r.server.random, r.server.encryptThenMac, r.server.version === '1.0' || r.server.version === '1.1') : suite?.bulk === 'null' ? nullOpeners(suite) : null;
      if (!suite) {
        this.ctx.count('tls.cipher_not_decrypted');
        this.flags.add('cipher_not_decrypted');
      }
      if (r.openers) this.ctx.count('tls.renegotiations');
    }
    if (!r.openers) return this.stopDecrypting(openable(r.server) ? 'keys_missing' : 'renegotiated');
    side.opener = dir === Dir.ToServer ? r.openers.client : r.openers.server;
    // both sides under the new keys: the renegotiation is over
    if (++r.switched === 2) this.reneg = undefined;
  }

  /** Derives both sides' record keys from the key log; false when they can never come (a suite not opened here, no hellos). */
  private startDecrypting(): boolean {
    const c = this.client;
    const s = this.server;
    const suite = s && openable(s);
    if (!c || !s || !suite) {
      if (c && s) {
        this.ctx.count('tls.cipher_not_decrypted');
        this.flags.add('cipher_not_decrypted');
      }
      return false;
    }
    this.suite = suite;
    this.waiting = new KeyWait(this.keys);
    this.tryKeys();
    return true;
  }

  /** The keys, when the key log has them now; then the held records are opened in order. */
  private tryKeys(): void {
    const c = this.client!;
    const s = this.server!;
    const suite = this.suite!;
    const [cs, ss] = this.sides as [Side, Side];
    if (suite.tls13) {
      const client = this.keys!.get(c.random, KeyLabel.ClientHandshake);
      const server = client && this.keys!.get(c.random, KeyLabel.ServerHandshake);
      if (!client || !server) return;
      cs.opener = new Tls13Opener(suite, client);
      ss.opener = new Tls13Opener(suite, server);
    } else {
      const master = this.keys?.get(c.random, KeyLabel.MasterSecret);
      // NULL encryption is read without its keys (its MACs unchecked); with them, checked
      if (!master && !this.clear) return;
      const o = master ? tls12Openers(suite, master, c.random, s.random, s.encryptThenMac, s.version === '1.0' || s.version === '1.1') : nullOpeners(suite);
      cs.opener = o.client;
      ss.opener = o.server;
    }
    this.decrypting = true;
    this.flags.delete('keys_missing');
    this.ctx.count('tls.decrypted_connections');
    const held = this.waiting!.take();
    this.waiting = undefined;
    for (const h of held) {
      if (this.done) break;
      const side = this.sides[h.dir === Dir.ToServer ? 0 : 1]!;
      this.protectedRecord(h.dir, side, h.type, h.version, h.payload, h.tsNs);
    }
  }

  /**
   * A record held for the connection's secrets, within the key log's
   * bounds (reserveHold); past them, waiting ends as keys_missing.
   */
  private hold(h: HeldRecord): void {
    if (!this.waiting!.add(h, h.payload.length)) {
      this.dropWaiting();
      return this.stopDecrypting('keys_missing');
    }
    this.tryKeys();
  }

  /** 0-RTT candidates still held when the connection's reading ends: not read, counted. */
  private giveUpEarly(): void {
    const held = this.earlyHeld.take().length;
    if (held) this.ctx.count('tls.early_data_records', held);
    if (this.early === 'pending') this.early = 'unread';
  }

  /** Held records let go (opened, or given up), their bytes back in the shared budget. */
  private dropWaiting(): void {
    this.waiting?.take();
    this.waiting = undefined;
  }

  /** What was not opened stays unread: the connection is reported as without a key log, flagged why. */
  private stopDecrypting(why: 'keys_missing' | 'renegotiated'): void {
    this.ctx.count(`tls.${why}`);
    this.flags.add(why);
    for (const side of this.sides) this.dropSideHeld(side);
    this.giveUpEarly();
    for (const side of this.sides) side.lost = true;
    if (!this.reported) this.finish(undefined);
    this.innerLost(this.lastNs);
    this.done = true;
  }

  /** The carried protocol will get nothing more: each side is a gap to it (its connection's end still closes it). */
  private innerLost(tsNs: bigint): void {
    this.inner?.gap(Dir.ToServer, 1, tsNs);
    this.inner?.gap(Dir.ToClient, 1, tsNs);
  }

  /** Whether records after the handshake are read: a key log was given, or the suite encrypts nothing. */
  private get reading(): boolean {
    return this.keys !== undefined || this.clear;
  }

  /** Decrypted application data: to the carried protocol's parser, made at its first bytes. */
  private plaintext(dir: Dir, content: Buffer, tsNs: bigint): void {
    if (content.length === 0) return;
    if (!this.innerTried) {
      this.innerTried = true;
      const alpn = this.server?.alpn ?? this.serverAlpn;
      const version = this.server!.version;
      const cipher = this.server!.cipher;
      const decorate = (r: ExchangeRecord, protocol: string): void => {
        r.protocol = protocol;
        r.attributes = { ...r.attributes, tls: { protocol: { name: 'tls', version }, cipher, established: true, decrypted: true } };
      };
      this.inner = this.ctx.tunnel?.(this.ctx.conn.server.port, decorate, { create: this.carried, protocol: alpn === undefined ? undefined : ALPN_PROTOCOL[alpn], tls: true });
      if (this.earlyLost) this.inner?.gap(Dir.ToServer, 1, tsNs);
    }
    this.ctx.count('tls.plaintext_bytes', content.length);
    this.inner?.data(dir, content, tsNs);
  }

  /** A side can no longer be read (a gap, a record that did not open): its protocol is told of the loss. */
  private lost(dir: Dir, tsNs: bigint): void {
    // the server's EncryptedExtensions will not be read: held 0-RTT candidates go on as without an answer
    if (dir === Dir.ToClient) this.settleEarly('unread');
    this.inner?.gap(dir, 1, tsNs);
    if (!this.reported) this.finish(tsNs);
  }

  /** Bytes that are no TLS record, or a handshake message that does not fit its lengths: what was read is reported, the rest given up. */
  private damage(): void {
    this.ctx.count('tls.malformed');
    this.flags.add('malformed');
    this.finish(undefined);
    if (this.waiting !== undefined) this.dropWaiting();
    for (const side of this.sides) this.dropSideHeld(side);
    this.giveUpEarly();
    // the connection is abandoned and never closed: what the carried protocol holds ends here
    this.innerLost(this.lastNs);
    this.inner?.close('fin', this.lastNs);
    this.inner = undefined;
    this.done = true;
    this.ctx.abandon('malformed');
  }

  gap(dir: Dir, length: number, tsNs: bigint): void {
    if (this.done) return;
    const side = this.sides[dir === Dir.ToServer ? 0 : 1]!;
    if (this.joined) {
      side.bytes += length;
      this.flags.add('gap');
      return;
    }
    this.flags.add('gap');
    // decrypting: record boundaries and sequence numbers of this side are lost; the other side goes on
    if (this.decrypting) {
      side.lost = true;
      side.pending = null;
      side.bytes += length;
      this.inner?.gap(dir, length, tsNs);
      if (!this.reported) this.finish(tsNs);
      return;
    }
    // a gap before the handshake is read: what was read is reported
    this.finish(tsNs);
    this.done = true;
  }

  end(dir: Dir, tsNs: bigint): void {
    this.inner?.end(dir, tsNs);
  }

  close(reason: CloseReason, tsNs: bigint): void {
    if (this.done) {
      this.inner?.close(reason, tsNs);
      this.inner = undefined;
      return;
    }
    // (a handshake whose event waited for a secret was whole: its end is not the close's)
    if (!this.serverFinished) this.flags.add(CLOSE_FLAG[reason]);
    if (this.joined) return this.finishJoined(tsNs);
    if (this.waiting !== undefined) {
      this.dropWaiting();
      this.ctx.count('tls.keys_missing');
      this.flags.add('keys_missing');
    }
    this.giveUpEarly();
    for (const side of this.sides) {
      if (!side.awaiting) continue;
      this.dropSideHeld(side);
      side.awaiting = undefined;
      this.ctx.count('tls.keys_missing');
      this.flags.add('keys_missing');
    }
    this.finish(tsNs);
    this.done = true;
    this.inner?.close(reason, tsNs);
    this.inner = undefined;
  }

  /**
   * The event of a connection joined after its handshake: TLS, established,
   * the bytes each side sent while it was seen; nothing of the handshake.
   */
  private finishJoined(tsNs: bigint): void {
    this.done = true;
    const [cs, ss] = this.sides;
    const startNs = cs!.startNs ?? ss!.startNs!;
    this.ctx.count('tls.joined_connections');
    this.ctx.emit({
      kind: cs!.bytes > 0 && ss!.bytes > 0 ? 'exchange' : 'message',
      startNs,
      endNs: tsNs < startNs ? startNs : tsNs,
      requestBytes: cs!.bytes,
      responseBytes: ss!.bytes,
      flags: ['handshake_missed', ...this.flags],
      attributes: { tls: { protocol: { name: 'tls' }, established: true }, network: { protocol: { name: 'tls' } } },
    });
  }

  /**
   * One event for the handshake, once: what the two hellos and the
   * certificate said. Without a key log nothing after it is read.
   */
  private finish(tsNs: bigint | undefined): void {
    if (this.reported) return;
    this.reported = true;
    if (!this.reading) this.done = true;
    const c = this.client;
    const s = this.server;
    if (!c && !s) return;
    const server = s && this.serverAlpn !== undefined && s.alpn === undefined ? { ...s, alpn: this.serverAlpn } : s;
    const earlyAnswer = this.early === 'accepted' || this.early === 'rejected' ? this.early : undefined;
    const seen = { client: c, server, certificate: this.certificate, alert: this.alert, malformed: this.flags.has('malformed'), earlyAnswer };
    const tls = tlsAttributes(seen);
    if (this.decrypting) tls.decrypted = true;
    const attributes: Record<string, unknown> = { tls, network: { protocol: { name: 'tls' } } };
    if (this.alert && this.alert !== 'close_notify') attributes.error = { type: this.alert };
    this.ctx.count('tls.handshakes');
    this.ctx.emit(handshakeRecord(seen, this.sides[0]!, this.sides[1]!, tsNs, this.flags, attributes));
  }
}
