/**
 * A DTLS association's handshake as the wire shows it (RFC 6347, RFC 9147):
 * records of each datagram read, handshake messages joined from their
 * fragments by message sequence and offset (certificates are fragmented to
 * fit a path's MTU), the ClientHello, HelloVerifyRequest, ServerHello and
 * (before DTLS 1.3) the server's certificate read, and one event when the
 * server's cleartext part ends, with the same `tls.*` fields as TLS under
 * `tls.protocol.name` dtls. Epochs past 0 are encrypted and passed over.
 * Bytes kept are bounded.
 */
import { Dir, type CloseReason } from '@panopticon/flows';
import type { DatagramParser, ParserContext } from '../types.js';
import { handshakeRecord, tlsAttributes } from '../tls/attributes.js';
import { alertName } from '../tls/constants.js';
import { HandshakeType, parseCertificate, parseClientHello, parseServerHello, type CertificateInfo, type ClientHello, type ServerHello } from '../tls/handshake.js';
import { CLOSE_FLAG } from '../close-flags.js';

const ContentType = { ChangeCipherSpec: 20, Alert: 21, Handshake: 22, ApplicationData: 23 } as const;
/** type, version, epoch, sequence number, length (RFC 6347 §4.1). */
const RECORD_HEADER = 13;
/** msg_type, length, message_seq, fragment_offset, fragment_length (RFC 6347 §4.2.2). */
const FRAGMENT_HEADER = 12;
/** A handshake message longer than this is damage (a certificate chain of a few certificates fits). */
const MAX_MESSAGE = 64 * 1024;
/** Messages being joined from fragments per side; their bytes are bounded by MAX_MESSAGE each. */
const MAX_PARTIAL = 8;


/** One handshake message joined from fragments: its bytes and which ranges of them came. */
class Partial {
  readonly body: Buffer;
  /** Received byte ranges [start, end), merged, in order. */
  private ranges: Array<[number, number]> = [];
  constructor(readonly type: number, length: number) {
    this.body = Buffer.alloc(length);
  }
  add(offset: number, data: Buffer): void {
    data.copy(this.body, offset);
    const merged: Array<[number, number]> = [];
    let [s, e] = [offset, offset + data.length];
    for (const [a, b] of this.ranges) {
      if (b < s || a > e) merged.push([a, b]);
      else [s, e] = [Math.min(a, s), Math.max(b, e)];
    }
    merged.push([s, e]);
    this.ranges = merged.sort((x, y) => x[0] - y[0]);
  }
  get whole(): boolean {
    return this.ranges.length === 1 && this.ranges[0]![0] === 0 && this.ranges[0]![1] === this.body.length;
  }
}

class Side {
  readonly partial = new Map<number, Partial>();
  /** Message sequence numbers read whole: retransmissions of them are passed over. */
  readonly done = new Set<number>();
  startNs: bigint | undefined;
  bytes = 0;
}

export class DtlsParser implements DatagramParser {
  private readonly sides = [new Side(), new Side()];
  private client: ClientHello | undefined;
  private server: ServerHello | undefined;
  private certificate: CertificateInfo | undefined;
  private alert: string | undefined;
  private readonly flags = new Set<string>();
  private finished = false;

  constructor(private readonly ctx: ParserContext) {}

  datagram(dir: Dir, payload: Buffer, tsNs: bigint): void {
    if (this.finished) return;
    const side = this.sides[dir === Dir.ToServer ? 0 : 1]!;
    side.startNs ??= tsNs;
    side.bytes += payload.length;
    let off = 0;
    while (!this.finished && payload.length - off >= RECORD_HEADER) {
      const type = payload[off]!;
      // DTLS 1.3's unified header (RFC 9147 §4: 001xxxxx): an encrypted record, and the rest of the datagram with it
      if ((type & 0xe0) === 0x20) return;
      const epoch = payload.readUInt16BE(off + 3);
      const length = payload.readUInt16BE(off + 11);
      if (type < ContentType.ChangeCipherSpec || type > ContentType.ApplicationData || payload[off + 1] !== 0xfe || off + RECORD_HEADER + length > payload.length) {
        return this.damage();
      }
      this.record(dir, side, type, epoch, payload.subarray(off + RECORD_HEADER, off + RECORD_HEADER + length), tsNs);
      off += RECORD_HEADER + length;
    }
  }

  private record(dir: Dir, side: Side, type: number, epoch: number, body: Buffer, tsNs: bigint): void {
    if (epoch > 0) {
      // encrypted: the server's cleartext part is over once it encrypts
      if (dir === Dir.ToClient && this.server) this.finish(tsNs);
      return;
    }
    switch (type) {
      case ContentType.ApplicationData:
        return this.finish(tsNs);
      case ContentType.ChangeCipherSpec:
        // before DTLS 1.3 the server's ChangeCipherSpec ends its cleartext (a resumed handshake ends here)
        if (dir === Dir.ToClient && this.server) this.finish(tsNs);
        return;
      case ContentType.Alert:
        if (body.length >= 2) {
          this.alert = alertName(body[1]!);
          this.finish(tsNs);
        }
        return;
      default:
        this.fragments(dir, side, body, tsNs);
    }
  }

  /** The handshake fragments of one record (several may share it). */
  private fragments(dir: Dir, side: Side, b: Buffer, tsNs: bigint): void {
    let off = 0;
    while (!this.finished && b.length - off >= FRAGMENT_HEADER) {
      const type = b[off]!;
      const length = b.readUIntBE(off + 1, 3);
      const seq = b.readUInt16BE(off + 4);
      const fragOffset = b.readUIntBE(off + 6, 3);
      const fragLength = b.readUIntBE(off + 9, 3);
      const start = off + FRAGMENT_HEADER;
      if (length > MAX_MESSAGE || fragOffset + fragLength > length || start + fragLength > b.length) return this.damage();
      off = start + fragLength;
      if (side.done.has(seq)) continue; // a retransmission
      let p = side.partial.get(seq);
      if (!p) {
        if (side.partial.size >= MAX_PARTIAL) {
          this.ctx.count('dtls.fragment_overflows');
          side.partial.delete(side.partial.keys().next().value as number);
        }
        p = new Partial(type, length);
        side.partial.set(seq, p);
      } else if (p.type !== type || p.body.length !== length) {
        return this.damage();
      }
      p.add(fragOffset, b.subarray(start, start + fragLength));
      if (!p.whole) continue;
      side.partial.delete(seq);
      side.done.add(seq);
      try {
        this.message(dir, type, p.body, tsNs);
      } catch (e) {
        if (!(e instanceof RangeError)) throw e;
        return this.damage();
      }
    }
  }

  private message(dir: Dir, type: number, body: Buffer, tsNs: bigint): void {
    if (dir === Dir.ToServer) {
      // a second ClientHello (after a HelloVerifyRequest) says the same with a cookie: the last one counts
      if (type === HandshakeType.ClientHello) this.client = parseClientHello(body, 0, body.length, 'd');
      return;
    }
    switch (type) {
      case HandshakeType.HelloVerifyRequest:
        this.flags.add('hello_verify');
        return;
      case HandshakeType.ServerHello: {
        const hello = parseServerHello(body, 0, body.length);
        if (hello.retry) {
          this.flags.add('hello_retry');
          return;
        }
        this.server = hello;
        // DTLS 1.3 encrypts everything after the ServerHello
        if (hello.version === '1.3') this.finish(tsNs);
        return;
      }
      case HandshakeType.Certificate:
        this.certificate = parseCertificate(body, 0, body.length);
        return;
      case HandshakeType.ServerHelloDone:
        return this.finish(tsNs);
    }
  }

  private damage(): void {
    this.ctx.count('dtls.malformed');
    this.flags.add('malformed');
    this.finish(undefined);
  }

  close(reason: CloseReason, tsNs: bigint): void {
    if (this.finished) return;
    this.flags.add(CLOSE_FLAG[reason]);
    this.finish(tsNs);
  }

  /** One event for the handshake, once. */
  private finish(tsNs: bigint | undefined): void {
    if (this.finished) return;
    this.finished = true;
    for (const s of this.sides) s.partial.clear();
    const c = this.client;
    const s = this.server;
    if (!c && !s) {
      this.ctx.count('dtls.unread_handshakes');
      return;
    }
    const seen = { client: c, server: s, certificate: this.certificate, alert: this.alert, malformed: this.flags.has('malformed') };
    const attributes: Record<string, unknown> = { tls: tlsAttributes(seen, 'dtls'), network: { protocol: { name: 'dtls' } } };
    if (this.alert && this.alert !== 'close_notify') attributes.error = { type: this.alert };
    this.ctx.count('dtls.handshakes');
    this.ctx.emit(handshakeRecord(seen, this.sides[0]!, this.sides[1]!, tsNs, this.flags, attributes));
  }
}
