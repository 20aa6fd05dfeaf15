/**
 * A QUIC connection's Initial packets (RFC 9000, RFC 9001): decrypted with
 * the keys any observer derives from the client's first Destination
 * Connection ID, their CRYPTO frames joined per side into the TLS handshake
 * they carry, and one event once the ServerHello is read: server name
 * (SNI), versions, cipher suites, ALPN offered, the QUIC version and the
 * connection IDs. Handshake and 1-RTT packets are encrypted with keys the
 * wire does not show; they are passed over. Bytes kept are bounded.
 */
import { Dir, type CloseReason } from '@panopticon/flows';
import type { DatagramParser, ParserContext } from '../types.js';
import { alertName } from '../tls/constants.js';
import { handshakeRecord, tlsAttributes } from '../tls/attributes.js';
import { HandshakeType, parseClientHello, parseServerHello, type ClientHello, type ServerHello } from '../tls/handshake.js';
import { Frame, transportErrorName, versionName, versionParams, type VersionParams } from './constants.js';
import { initialKeys, openInitial, type InitialKeys } from './initial.js';
import { readLongHeader, readVarint } from './packets.js';
import { CLOSE_FLAG } from '../close-flags.js';

/** CRYPTO bytes kept per side, joined and waiting: a ClientHello with post-quantum key shares is a few KB. */
const MAX_CRYPTO = 64 * 1024;
/** Initial packets read per side before the handshake is given up as unreadable. */
const MAX_INITIALS = 64;
/** Handshake messages over this length are damage (a ClientHello or ServerHello is far smaller). */
const MAX_MESSAGE = 32 * 1024;


/** One side's CRYPTO stream at the Initial level: joined by offset, read as TLS handshake messages. */
class Side {
  /** Stream offset up to which bytes were joined. */
  joined = 0;
  /** Joined bytes not yet a whole handshake message. */
  held: Buffer | null = null;
  /** Segments ahead of `joined`, by offset, copied (the datagram's buffer is not ours to keep). */
  ahead = new Map<number, Buffer>();
  aheadBytes = 0;
  largestPn = -1;
  initials = 0;
  bytes = 0;
  startNs: bigint | undefined;
}

/** Thrown inside a packet's frames: the packet is damage, the rest of the connection is still read. */
class FrameError extends Error {}

export class QuicParser implements DatagramParser {
  private readonly sides = [new Side(), new Side()];
  private params: VersionParams | undefined;
  private version = 0;
  private keys: { client: InitialKeys; server: InitialKeys } | undefined;
  private originalDcid: Buffer | undefined;
  private clientCid: Buffer | undefined;
  private serverCid: Buffer | undefined;
  private serverVersions: string[] | undefined;
  private client: ClientHello | undefined;
  private server: ServerHello | undefined;
  private alert: string | undefined;
  private error: string | undefined;
  private readonly flags = new Set<string>();
  private done = false;

  constructor(private readonly ctx: ParserContext) {}

  datagram(dir: Dir, payload: Buffer, tsNs: bigint): void {
    if (this.done) return;
    const side = this.sides[dir === Dir.ToServer ? 0 : 1]!;
    let at = 0;
    // coalesced long-header packets (RFC 9000 §12.2); a short header, or padding after the last packet, ends them
    while (!this.done && at < payload.length && (payload[at]! & 0x80) !== 0) {
      const h = readLongHeader(payload, at, payload.length);
      if (!h) return this.damage('quic.malformed');
      if (h.version === 0) return this.versionNegotiation(dir, payload, h.rest);
      const params = versionParams(h.version);
      if (!params) {
        this.ctx.count('quic.unknown_version_packets');
        return;
      }
      if (h.typeCode === params.types.retry) return this.retry(dir, params, h.scid);
      let p = h.rest;
      if (h.typeCode === params.types.initial) {
        const token = readVarint(payload, p, payload.length);
        if (!token || token.next + token.value > payload.length) return this.damage('quic.malformed');
        p = token.next + token.value;
      }
      const length = readVarint(payload, p, payload.length);
      if (!length || length.next + length.value > payload.length) return this.damage('quic.malformed');
      const end = length.next + length.value;
      if (h.typeCode === params.types.initial) {
        side.startNs ??= tsNs;
        side.bytes += end - at;
        this.initial(dir, params, h.version, h.dcid, h.scid, payload.subarray(at, end), length.next - at, tsNs);
      }
      at = end;
    }
  }

  private initial(dir: Dir, params: VersionParams, version: number, dcid: Buffer, scid: Buffer, pkt: Buffer, pnOffset: number, tsNs: bigint): void {
    if (dir === Dir.ToServer) {
      if (this.keys === undefined || version !== this.version) {
        // the client's first Initial, or its first in another version after a Version Negotiation
        if (this.keys !== undefined) this.restart();
        this.params = params;
        this.version = version;
        this.keys = initialKeys(params, dcid);
        this.originalDcid = Buffer.from(dcid);
        this.clientCid = Buffer.from(scid);
      }
    } else {
      // a server's Initial is protected with the keys of the client's DCID; without them it cannot be read
      if (this.keys === undefined || version !== this.version) {
        this.ctx.count('quic.undecryptable_packets');
        return;
      }
      this.serverCid ??= Buffer.from(scid);
    }
    const side = this.sides[dir === Dir.ToServer ? 0 : 1]!;
    if (++side.initials > MAX_INITIALS) return this.give('quic.unfinished_handshakes');
    const opened = openInitial(dir === Dir.ToServer ? this.keys.client : this.keys.server, pkt, pnOffset, side.largestPn);
    if (!opened) {
      this.ctx.count('quic.undecryptable_packets');
      return;
    }
    if (opened.packetNumber > side.largestPn) side.largestPn = opened.packetNumber;
    try {
      this.frames(side, opened.payload);
    } catch (e) {
      if (!(e instanceof FrameError)) throw e;
      this.ctx.count('quic.malformed');
      this.flags.add('malformed');
    }
    this.messages(dir, side, tsNs);
    // a CONNECTION_CLOSE in the clear ends the handshake (a TLS alert, a refusal): nothing more will be readable
    if (this.flags.has('connection_close')) this.finish(tsNs);
  }

  /** The frames of an Initial packet (RFC 9000 §19): CRYPTO kept, ACK, PING and PADDING passed, CONNECTION_CLOSE read. */
  private frames(side: Side, f: Buffer): void {
    let at = 0;
    const varint = (): number => {
      const v = readVarint(f, at, f.length);
      if (!v) throw new FrameError('frame runs past its packet');
      at = v.next;
      return v.value;
    };
    while (at < f.length) {
      const type = varint();
      switch (type) {
        case Frame.Padding:
          while (at < f.length && f[at] === 0) at++;
          break;
        case Frame.Ping:
          break;
        case Frame.Ack:
        case Frame.AckEcn: {
          varint(); // largest acknowledged
          varint(); // delay
          const ranges = varint();
          varint(); // first range
          for (let i = 0; i < ranges; i++) {
            varint(); // gap
            varint(); // range length
          }
          if (type === Frame.AckEcn) for (let i = 0; i < 3; i++) varint();
          break;
        }
        case Frame.Crypto: {
          const offset = varint();
          const length = varint();
          if (at + length > f.length) throw new FrameError('CRYPTO data runs past its packet');
          this.crypto(side, offset, f.subarray(at, at + length));
          at += length;
          break;
        }
        case Frame.ConnectionClose: {
          const code = varint();
          varint(); // the frame type that caused it
          const reason = varint();
          if (at + reason > f.length) throw new FrameError('reason phrase runs past its packet');
          at += reason;
          // 0x0100–0x01ff: a TLS alert the handshake raised (RFC 9001 §4.8)
          if (code >= 0x100 && code <= 0x1ff) this.alert = alertName(code - 0x100);
          else this.error = transportErrorName(code);
          this.flags.add('connection_close');
          break;
        }
        default:
          // no other frame may be in an Initial packet (RFC 9000 §12.4)
          throw new FrameError(`frame type 0x${type.toString(16)} in an Initial packet`);
      }
    }
  }

  /** CRYPTO data at `offset`: joined when it meets what came before, else kept (bounded) until it does. */
  private crypto(side: Side, offset: number, data: Buffer): void {
    const end = offset + data.length;
    if (end <= side.joined) return; // a retransmission of bytes already joined
    if (offset > side.joined) {
      if (side.ahead.has(offset) || data.length === 0) return;
      if (side.aheadBytes + data.length > MAX_CRYPTO) return this.give('quic.crypto_overflows');
      side.ahead.set(offset, Buffer.from(data));
      side.aheadBytes += data.length;
      return;
    }
    this.join(side, data.subarray(side.joined - offset));
    // segments that now meet the joined bytes
    for (let moved = true; moved && side.ahead.size > 0; ) {
      moved = false;
      for (const [o, d] of side.ahead) {
        if (o > side.joined) continue;
        side.ahead.delete(o);
        side.aheadBytes -= d.length;
        if (o + d.length > side.joined) this.join(side, d.subarray(side.joined - o));
        moved = true;
      }
    }
  }

  private join(side: Side, data: Buffer): void {
    side.joined += data.length;
    side.held = side.held ? Buffer.concat([side.held, data]) : Buffer.from(data);
    if (side.held.length > MAX_CRYPTO) this.give('quic.crypto_overflows');
  }

  /** Whole handshake messages of the joined bytes: the hellos are read; the ServerHello ends what can be read. */
  private messages(dir: Dir, side: Side, tsNs: bigint): void {
    let buf = side.held;
    while (!this.done && buf !== null && buf.length >= 4) {
      const type = buf[0]!;
      const length = buf.readUIntBE(1, 3);
      if (length > MAX_MESSAGE) return this.damage('quic.malformed');
      if (buf.length < 4 + length) break;
      try {
        if (dir === Dir.ToServer && type === HandshakeType.ClientHello) this.client = parseClientHello(buf, 4, 4 + length, 'q');
        else if (dir === Dir.ToClient && type === HandshakeType.ServerHello) {
          const hello = parseServerHello(buf, 4, 4 + length);
          if (hello.retry) this.flags.add('hello_retry');
          else this.server = hello;
        }
      } catch (e) {
        if (!(e instanceof RangeError)) throw e;
        return this.damage('quic.malformed');
      }
      buf = buf.length === 4 + length ? null : buf.subarray(4 + length);
      // the rest of the server's handshake is in Handshake packets, under keys the wire does not show
      if (this.server) return this.finish(tsNs);
    }
    side.held = buf;
  }

  /** A Version Negotiation packet (RFC 9000 §17.2.1): the versions the server speaks; the client may start again in one. */
  private versionNegotiation(dir: Dir, b: Buffer, at: number): void {
    if (dir !== Dir.ToClient) return this.damage('quic.malformed');
    const versions: string[] = [];
    for (; at + 4 <= b.length && versions.length < 64; at += 4) versions.push(versionName(b.readUInt32BE(at)));
    this.serverVersions = versions;
    this.flags.add('version_negotiation');
  }

  /** A Retry (RFC 9000 §17.2.5): the client starts again toward the Retry's Source Connection ID, whose keys protect what follows. */
  private retry(dir: Dir, params: VersionParams, scid: Buffer): void {
    if (dir !== Dir.ToClient || this.keys === undefined) return;
    this.flags.add('retry');
    this.keys = initialKeys(params, scid);
  }

  /** Another version after a Version Negotiation: the handshake read so far was for a connection that never was. */
  private restart(): void {
    for (let i = 0; i < 2; i++) this.sides[i] = Object.assign(new Side(), { startNs: this.sides[i]!.startNs, bytes: this.sides[i]!.bytes });
    this.client = undefined;
    this.server = undefined;
    this.serverCid = undefined;
  }

  private damage(counter: string): void {
    this.ctx.count(counter);
    this.flags.add('malformed');
    this.finish(undefined);
  }

  /** Stop reading: what was read is reported. */
  private give(counter: string): void {
    this.ctx.count(counter);
    this.flags.add('incomplete');
    this.finish(undefined);
  }

  close(reason: CloseReason, tsNs: bigint): void {
    if (this.done) return;
    this.flags.add(CLOSE_FLAG[reason]);
    this.finish(tsNs);
  }

  /** One event for the connection's handshake, once. */
  private finish(tsNs: bigint | undefined): void {
    if (this.done) return;
    this.done = true;
    for (const s of this.sides) {
      s.held = null;
      s.ahead.clear();
    }
    const c = this.client;
    const s = this.server;
    if (!c && !s) {
      this.ctx.count('quic.unread_handshakes');
      return;
    }
    const seen = { client: c, server: s, alert: this.alert, malformed: this.flags.has('malformed') };
    const tls = tlsAttributes(seen);
    if (this.error !== undefined && this.error !== 'NO_ERROR') tls.established = false;
    const quic: Record<string, unknown> = {};
    if (this.originalDcid) quic.original_destination_connection_id = this.originalDcid.toString('hex');
    if (this.clientCid) quic.client_connection_id = this.clientCid.toString('hex');
    if (this.serverCid) quic.server_connection_id = this.serverCid.toString('hex');
    if (this.serverVersions) quic.server_versions = this.serverVersions;
    const attributes: Record<string, unknown> = { tls, quic, network: { protocol: { name: 'quic', version: this.params!.name } } };
    const error = this.alert ?? (this.error !== 'NO_ERROR' ? this.error : undefined);
    if (error !== undefined) attributes.error = { type: error };
    this.ctx.count('quic.handshakes');
    this.ctx.emit(handshakeRecord(seen, this.sides[0]!, this.sides[1]!, tsNs, this.flags, attributes));
  }
}
