/**
 * A TLS connection's handshake as the wire shows it (RFC 8446, RFC 5246):
 * records read per side, handshake messages joined across records, the
 * ClientHello, the ServerHello and (before TLS 1.3) the server's
 * certificate read, and one event when the server's cleartext part ends:
 * server name (SNI), versions, cipher, ALPN, certificate. What follows is
 * encrypted and is not read. Handshake bytes kept per side are bounded.
 */
import { Dir, type CloseReason } from '@panopticon/flows';
import type { ParserContext, StreamParser } from '../types.js';
import { handshakeRecord, tlsAttributes } from './attributes.js';
import { alertName } from './constants.js';
import { HandshakeType, parseCertificate, parseClientHello, parseServerHello, type CertificateInfo, type ClientHello, type ServerHello } from './handshake.js';
import { CLOSE_FLAG } from '../close-flags.js';

const ContentType = { ChangeCipherSpec: 20, Alert: 21, Handshake: 22, ApplicationData: 23 } as const;

/** A record's payload is at most 2^14 bytes plus 2048 of expansion (RFC 5246 §6.2.3). */
const MAX_RECORD = (1 << 14) + 2048;
/** Handshake bytes kept per side: a certificate chain of a few certificates fits. */
const MAX_HANDSHAKE = 64 * 1024;


class Side {
  /** Bytes of a record not yet whole. */
  pending: Buffer | null = null;
  /** Handshake bytes not yet a whole message. */
  hs: Buffer | null = null;
  /** The side now sends encrypted records (after its ChangeCipherSpec, or a TLS 1.3 ServerHello). */
  encrypted = false;
  startNs: bigint | undefined;
  bytes = 0;
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

  constructor(private readonly ctx: ParserContext) {}

  data(dir: Dir, chunk: Buffer, tsNs: bigint): void {
    if (this.done) return;
    const side = this.sides[dir === Dir.ToServer ? 0 : 1]!;
    side.startNs ??= tsNs;
    if (this.joined) {
      side.bytes += chunk.length;
      return;
    }
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
      this.record(dir, side, type, buf.subarray(off + 5, off + 5 + length), tsNs);
      off += 5 + length;
      if (this.joined) {
        side.bytes += buf.length - off;
        return;
      }
    }
    if (!this.done && off < buf.length) side.pending = Buffer.from(buf.subarray(off));
  }

  private record(dir: Dir, side: Side, type: number, payload: Buffer, tsNs: bigint): void {
    switch (type) {
      case ContentType.ApplicationData:
        // encrypted data before any handshake record: the connection was joined after its handshake
        if (!this.sawHandshake) {
          this.joined = true;
          return;
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
        side.encrypted = true;
        if (dir === Dir.ToClient) this.finish(tsNs);
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
    if (dir === Dir.ToServer) {
      if (type === HandshakeType.ClientHello) this.client = parseClientHello(buf, start, end);
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
      if (hello.version === '1.3') {
        side.encrypted = true;
        this.finish(tsNs);
      }
    } else if (type === HandshakeType.Certificate) {
      this.certificate = parseCertificate(buf, start, end);
    } else if (type === HandshakeType.ServerHelloDone) {
      this.finish(tsNs);
    }
  }

  /** Bytes that are no TLS record, or a handshake message that does not fit its lengths: what was read is reported, the rest given up. */
  private damage(): void {
    this.ctx.count('tls.malformed');
    this.flags.add('malformed');
    this.finish(undefined);
    this.ctx.abandon('malformed');
  }

  gap(dir: Dir, length: number, tsNs: bigint): void {
    if (this.done) return;
    if (this.joined) {
      this.sides[dir === Dir.ToServer ? 0 : 1]!.bytes += length;
      this.flags.add('gap');
      return;
    }
    // a gap before the handshake is read: what was read is reported
    this.flags.add('gap');
    this.finish(tsNs);
  }

  end(_dir: Dir, _tsNs: bigint): void {}

  close(reason: CloseReason, tsNs: bigint): void {
    if (this.done) return;
    this.flags.add(CLOSE_FLAG[reason]);
    if (this.joined) return this.finishJoined(tsNs);
    this.finish(tsNs);
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

  /** One event for the handshake, once: what the two hellos and the certificate said. */
  private finish(tsNs: bigint | undefined): void {
    if (this.done) return;
    this.done = true;
    const c = this.client;
    const s = this.server;
    if (!c && !s) return;
    const seen = { client: c, server: s, certificate: this.certificate, alert: this.alert, malformed: this.flags.has('malformed') };
    const attributes: Record<string, unknown> = { tls: tlsAttributes(seen), network: { protocol: { name: 'tls' } } };
    if (this.alert && this.alert !== 'close_notify') attributes.error = { type: this.alert };
    this.ctx.count('tls.handshakes');
    this.ctx.emit(handshakeRecord(seen, this.sides[0]!, this.sides[1]!, tsNs, this.flags, attributes));
  }
}
