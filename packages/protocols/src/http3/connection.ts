/**
 * HTTP/3 (RFC 9114) over a QUIC connection's decrypted streams: the bytes
 * of each stream joined by offset, unidirectional streams told apart by
 * their type (control: SETTINGS; QPACK encoder streams feed each side's
 * decoder; push and unknown types are passed over), and each request
 * stream's HEADERS and DATA frames turned into one exchange when the
 * server ends its side. The exchange is built as HTTP/2's is (Http2Stream:
 * the same headers, bodies, gRPC and DoH readings), with
 * `network.protocol.version` 3 and `http3.stream_id`. Bounded: streams
 * tracked, bytes held ahead of a hole, header sections, blocked sections.
 */
import { Dir, type CloseReason } from '@panopticon/flows';
import type { ExchangeRecord, ParserContext } from '../types.js';
import { Http2Stream, type MessageSide } from '../http2/stream.js';
import { readVarint } from '../quic/packets.js';
import { OrderedStream, type AheadBudget } from '../quic/stream-order.js';
import { CLOSE_FLAG } from '../close-flags.js';
import { QpackDecoder, QpackError } from './qpack.js';

/** HTTP/3 frame types (RFC 9114 §7.2). */
const FrameType = { Data: 0x00, Headers: 0x01, Settings: 0x04, PushPromise: 0x05, Goaway: 0x07 } as const;
/** Unidirectional stream types (RFC 9114 §6.2, RFC 9204 §4.2). */
const StreamType = { Control: 0x00, Push: 0x01, QpackEncoder: 0x02, QpackDecoder: 0x03 } as const;
/** SETTINGS_QPACK_MAX_TABLE_CAPACITY (RFC 9204 §5). */
const SETTINGS_QPACK_MAX_TABLE_CAPACITY = 0x01;

/** Request streams tracked at once; past it the oldest is emitted as it stands. */
const MAX_STREAMS = 1024;
/** Field sections waiting for their QPACK entries, per connection. */
const MAX_BLOCKED = 64;

/** One direction of one QUIC stream: its bytes in order (OrderedStream), and its HTTP/3 frames being read. */
class StreamSide extends OrderedStream {
  /** Frame bytes not yet whole (a HEADERS or a frame header cut across STREAM frames). */
  held: Buffer | null = null;
  /** DATA payload bytes still to come of the frame being read. */
  dataLeft = 0;
  /** A unidirectional stream's type, once read. */
  type: number | undefined;
  /** Field sections waiting for their QPACK entries, in order. */
  blocked: Buffer[] = [];
}

class Tracked {
  readonly sides: [StreamSide, StreamSide];
  constructor(
    readonly ex: Http2Stream,
    budget: AheadBudget,
  ) {
    this.sides = [new StreamSide(budget), new StreamSide(budget)];
  }
}

export class Http3Connection {
  private readonly streams = new Map<number, Tracked>();
  /** Unidirectional streams, by id: their type and bytes. */
  private readonly uni = new Map<number, StreamSide>();
  /** Each sender's QPACK: the client's encoder stream builds the table its requests are decoded with. */
  private readonly qpack = [new QpackDecoder(), new QpackDecoder()];
  private blockedCount = 0;
  /** Request streams already reported, the latest MAX_STREAMS of them: their late frames are not a new request. */
  private readonly finished = new Set<number>();
  /** What this connection's streams hold ahead of holes, all of them together (bounded). */
  private readonly ahead: AheadBudget = { held: 0 };

  constructor(
    private readonly ctx: ParserContext,
    /** Marks each record (the TLS it was decrypted from). */
    private readonly decorate: (r: ExchangeRecord) => void,
  ) {}

  /** A STREAM frame's data (RFC 9000 §19.8), decrypted. */
  stream(dir: Dir, id: number, offset: number, data: Buffer, fin: boolean, tsNs: bigint): void {
    if ((id & 0x02) !== 0) return this.uniStream(dir, id, offset, data, fin, tsNs);
    // bidirectional streams are client-initiated requests (§6.1); a server-initiated one has no meaning here
    if ((id & 0x01) !== 0) return void this.ctx.count('http3.unexpected_streams');
    let t = this.streams.get(id);
    if (!t) {
      // a retransmission of a stream already reported (its FIN came, or a late copy of a frame)
      if (this.finished.has(id)) return;
      if (this.streams.size >= MAX_STREAMS) this.evictOldest(tsNs);
      t = new Tracked(new Http2Stream(id, this.ctx.options), this.ahead);
      this.streams.set(id, t);
      this.ctx.count('http3.streams');
    }
    const side = t.sides[dir === Dir.ToServer ? 0 : 1]!;
    this.join(side, offset, data, fin, (bytes) => this.requestBytes(t!, dir, side, bytes, tsNs));
    if (side.ended && !side.lost) this.sideEnded(t, dir, tsNs);
  }

  /** RESET_STREAM (RFC 9000 §19.4): the sender abandoned its side of a request. */
  reset(dir: Dir, id: number, code: number, tsNs: bigint): void {
    const t = this.streams.get(id);
    if (!t) return;
    t.ex.resetBy = { side: dir === Dir.ToServer ? 'client' : 'server', code: `0x${code.toString(16)}` };
    t.ex.flags.add('reset');
    this.emit(id, t, t.ex.answered ? 'exchange' : 'unanswered', tsNs);
  }

  close(reason: CloseReason, tsNs: bigint): void {
    for (const [id, t] of [...this.streams]) {
      if (!t.ex.identified) continue;
      this.emit(id, t, t.ex.answered ? 'exchange' : 'unanswered', tsNs, [CLOSE_FLAG[reason]]);
    }
    this.streams.clear();
  }

  /** Joins a stream side's bytes by offset and hands on what is in order. */
  private join(side: StreamSide, offset: number, data: Buffer, fin: boolean, deliver: (b: Buffer) => void): void {
    side.join(offset, data, fin, deliver, () => this.ctx.count('http3.stream_overflows'));
  }

  private uniStream(dir: Dir, id: number, offset: number, data: Buffer, fin: boolean, tsNs: bigint): void {
    let side = this.uni.get(id);
    if (!side) {
      if (this.uni.size >= MAX_STREAMS) return void this.ctx.count('http3.stream_overflows');
      this.uni.set(id, (side = new StreamSide(this.ahead)));
    }
    const sender = dir === Dir.ToServer ? 0 : 1;
    this.join(side, offset, data, fin, (bytes) => this.uniBytes(sender, side!, bytes, tsNs));
  }

  private uniBytes(sender: number, side: StreamSide, bytes: Buffer, tsNs: bigint): void {
    let b = bytes;
    if (side.type === undefined) {
      b = side.held ? Buffer.concat([side.held, b]) : b;
      side.held = null;
      const v = readVarint(b, 0, b.length);
      if (!v) return void (side.held = Buffer.from(b));
      side.type = v.value;
      b = b.subarray(v.next);
      if (side.type === StreamType.Push) this.ctx.count('http3.push_streams');
    }
    try {
      if (side.type === StreamType.QpackEncoder) {
        this.qpack[sender]!.encoderStream(b);
        this.unblock(sender, tsNs);
      } else if (side.type === StreamType.Control) {
        this.control(sender, side, b);
      }
      // the decoder stream (acknowledgements), push streams and reserved types carry nothing an exchange needs
    } catch (e) {
      if (!(e instanceof QpackError) && !(e instanceof RangeError)) throw e;
      side.lost = true;
      this.ctx.count('http3.malformed');
    }
  }

  /** The control stream's frames: SETTINGS gives the QPACK table capacity the peer's field sections are encoded against. */
  private control(sender: number, side: StreamSide, bytes: Buffer): void {
    const b = side.held ? Buffer.concat([side.held, bytes]) : bytes;
    side.held = null;
    let at = 0;
    for (;;) {
      const type = readVarint(b, at, b.length);
      const len = type && readVarint(b, type.next, b.length);
      if (!type || !len || len.next + len.value > b.length) break;
      if (type.value === FrameType.Settings) {
        let capacity = 0;
        for (let p = len.next; p < len.next + len.value; ) {
          const k = readVarint(b, p, len.next + len.value);
          const v = k && readVarint(b, k.next, len.next + len.value);
          if (!k || !v) throw new RangeError('SETTINGS runs past its frame');
          if (k.value === SETTINGS_QPACK_MAX_TABLE_CAPACITY) capacity = v.value;
          p = v.next;
        }
        // the sender's SETTINGS bound what the other side's encoder may use, so they decode the other side's sections
        this.qpack[1 - sender]!.maxTableCapacity = capacity;
        this.unblock(1 - sender, 0n);
      }
      at = len.next + len.value;
    }
    if (at < b.length) {
      if (b.length - at > this.ctx.options.maxHeaderBytes) throw new RangeError('control frame too large');
      side.held = Buffer.from(b.subarray(at));
    }
  }

  /** A request stream's bytes in order: HEADERS and DATA frames (others passed over). */
  private requestBytes(t: Tracked, dir: Dir, side: StreamSide, bytes: Buffer, tsNs: bigint): void {
    const msg = dir === Dir.ToServer ? t.ex.req : t.ex.res;
    msg.touch(tsNs, bytes.length);
    let b = bytes;
    // the rest of a DATA frame's payload goes straight to the body
    if (side.dataLeft > 0) {
      const n = Math.min(side.dataLeft, b.length);
      t.ex.data(msg, b.subarray(0, n));
      side.dataLeft -= n;
      b = b.subarray(n);
      if (b.length === 0) return;
    }
    if (side.held) {
      b = Buffer.concat([side.held, b]);
      side.held = null;
    }
    let at = 0;
    while (at < b.length && !side.lost) {
      const type = readVarint(b, at, b.length);
      const len = type && readVarint(b, type.next, b.length);
      if (!type || !len) break;
      if (type.value === FrameType.Data) {
        const n = Math.min(len.value, b.length - len.next);
        if (n > 0) t.ex.data(msg, b.subarray(len.next, len.next + n));
        side.dataLeft = len.value - n;
        at = len.next + n;
        if (side.dataLeft > 0) return;
        continue;
      }
      if (len.value > this.ctx.options.maxHeaderBytes) {
        side.lost = true;
        t.ex.flags.add('malformed');
        this.ctx.count('http3.malformed');
        return;
      }
      if (len.next + len.value > b.length) break;
      if (type.value === FrameType.Headers) this.headers(t, dir, side, Buffer.from(b.subarray(len.next, len.next + len.value)), tsNs);
      at = len.next + len.value;
    }
    if (at < b.length && !side.lost) side.held = Buffer.from(b.subarray(at));
  }

  /** A HEADERS frame's field section: decoded now, or held until the encoder stream has its entries. */
  private headers(t: Tracked, dir: Dir, side: StreamSide, section: Buffer, tsNs: bigint): void {
    const sender = dir === Dir.ToServer ? 0 : 1;
    if (side.blocked.length || !this.decodable(sender, section)) {
      if (this.blockedCount >= MAX_BLOCKED) {
        t.ex.flags.add('malformed');
        this.ctx.count('http3.blocked_overflows');
        return;
      }
      side.blocked.push(section);
      this.blockedCount++;
      return;
    }
    this.decodeSection(t, dir, section, tsNs);
  }

  private decodable(sender: number, section: Buffer): boolean {
    const q = this.qpack[sender]!;
    try {
      const ric = q.requiredInsertCount(section, 0, section.length);
      return ric !== undefined && ric <= q.insertCount;
    } catch {
      return true; // damage: decodeSection says so
    }
  }

  private decodeSection(t: Tracked, dir: Dir, section: Buffer, tsNs: bigint): void {
    try {
      const { headers } = this.qpack[dir === Dir.ToServer ? 0 : 1]!.decode(section, 0, section.length);
      if (dir === Dir.ToServer) t.ex.requestHeaders(headers, true);
      else t.ex.responseHeaders(headers, true);
    } catch (e) {
      if (!(e instanceof QpackError)) throw e;
      t.ex.flags.add('malformed');
      this.ctx.count('http3.malformed');
    }
    // a side that ended while its head waited for its entries
    const side = t.sides[dir === Dir.ToServer ? 0 : 1]!;
    if (side.ended && side.blocked.length === 0) this.sideEnded(t, dir, tsNs);
  }

  /** The encoder stream grew: sections that waited for it, in each stream's order. */
  private unblock(sender: number, tsNs: bigint): void {
    if (this.blockedCount === 0) return;
    const dir = sender === 0 ? Dir.ToServer : Dir.ToClient;
    for (const t of [...this.streams.values()]) {
      const side = t.sides[sender]!;
      while (side.blocked.length && this.decodable(sender, side.blocked[0]!)) {
        this.blockedCount--;
        this.decodeSection(t, dir, side.blocked.shift()!, tsNs);
      }
    }
  }

  private sideEnded(t: Tracked, dir: Dir, tsNs: bigint): void {
    const msg: MessageSide = dir === Dir.ToServer ? t.ex.req : t.ex.res;
    if (t.sides[dir === Dir.ToServer ? 0 : 1]!.blocked.length) return;
    msg.ended = true;
    // the server ended its side: the exchange is whole (a request may still be cut short by a reset, seen as a flag)
    if (dir === Dir.ToClient) this.emit(t.ex.id, t, t.ex.answered ? 'exchange' : 'orphan_response', tsNs);
  }

  private evictOldest(tsNs: bigint): void {
    const [id, t] = this.streams.entries().next().value!;
    this.ctx.count('http3.evicted_streams');
    this.emit(id, t, t.ex.answered ? 'exchange' : 'unanswered', tsNs, ['evicted']);
  }

  private emit(id: number, t: Tracked, kind: ExchangeRecord['kind'], tsNs: bigint, flags: string[] = []): void {
    this.streams.delete(id);
    this.finished.add(id);
    if (this.finished.size > MAX_STREAMS) this.finished.delete(this.finished.values().next().value!);
    for (const s of t.sides) {
      s.drop();
      this.blockedCount -= s.blocked.length;
      if (s.blocked.length) t.ex.flags.add('incomplete');
      s.blocked = [];
    }
    if (t.ex.req.bytes === 0 && t.ex.res.bytes === 0) return;
    if (t.ex.res.bytes === 0 && t.ex.req.lastNs === 0n) t.ex.req.lastNs = tsNs;
    const r = t.ex.record(kind, this.ctx.options, flags, '3');
    r.protocol = 'http3';
    this.decorate(r);
    this.ctx.count('http3.exchanges');
    this.ctx.emit(r);
  }
}
