/**
 * AMQP 0-9-1 framing for one direction: the 8-byte protocol header, then
 * frames of type(1) channel(2) size(4) payload frame-end(0xCE). Method,
 * header and heartbeat frames are handed up whole (bounded); body frames
 * stream through in pieces, so a frame-max-sized body frame is never
 * buffered just to be skipped.
 */
import { FRAME_BODY, FRAME_END, FRAME_HEADER, FRAME_HEADER_SIZE, FRAME_HEARTBEAT, FRAME_HEARTBEAT_08, FRAME_METHOD, methodSpec } from './constants.js';

export interface FrameSink {
  protocolHeader(header: Buffer, tsNs: bigint): void;
  /** a method, content header or heartbeat frame */
  frame(type: number, channel: number, payload: Buffer, startNs: bigint, endNs: bigint): void;
  bodyChunk(channel: number, chunk: Buffer, tsNs: bigint): void;
  bodyEnd(channel: number, tsNs: bigint): void;
  damaged(reason: string): void;
  skipped(bytes: number): void;
}

/** Non-body frames larger than this are damage (RabbitMQ's frame_max tops out at 128 KiB by default). */
export const MAX_NONBODY_FRAME = 1 << 20;
/**
 * Frames larger than this are not believed while resynchronising (brokers
 * negotiate frame-max in the 4 KiB .. 1 MiB range); a candidate is taken only
 * once its frame end is seen where its size says.
 */
const MAX_SYNC_FRAME = 1 << 20;

const PROTOCOL_HEADER_FIRST = 0x41; // 'A' of "AMQP", never a frame type

export class AmqpFrameReader {
  private header = Buffer.alloc(FRAME_HEADER_SIZE + 1);
  private headerLen = 0;
  private type = 0;
  private channel = 0;
  private remaining = -1;
  private parts: Buffer[] = [];
  private kept = 0;
  private startNs = 0n;
  private awaitingEnd = false;
  private leftover: Buffer | null = null;
  syncing = false;

  constructor(private readonly sink: FrameSink) {}

  push(chunk: Buffer, tsNs: bigint): void {
    let buf = chunk;
    if (this.leftover) {
      buf = Buffer.concat([this.leftover, chunk]);
      this.leftover = null;
    }
    let off = 0;
    while (off < buf.length) {
      if (this.syncing) {
        off = this.sync(buf, off);
        if (this.syncing) return;
      }
      if (this.awaitingEnd) {
        this.awaitingEnd = false;
        if (buf[off] !== FRAME_END) {
          this.damage(`frame end 0x${buf[off]!.toString(16)} instead of 0xce`);
          continue;
        }
        off++;
        this.finishFrame(tsNs);
        continue;
      }
      if (this.remaining < 0) {
        if (this.headerLen === 0) {
          this.startNs = tsNs;
          if (buf[off] === PROTOCOL_HEADER_FIRST) {
            if (buf.length - off < 8) {
              this.leftover = Buffer.from(buf.subarray(off));
              return;
            }
            this.sink.protocolHeader(buf.subarray(off, off + 8), tsNs);
            off += 8;
            continue;
          }
        }
        const n = Math.min(FRAME_HEADER_SIZE - this.headerLen, buf.length - off);
        buf.copy(this.header, this.headerLen, off, off + n);
        this.headerLen += n;
        off += n;
        if (this.headerLen < FRAME_HEADER_SIZE) return;
        this.type = this.header[0]!;
        this.channel = this.header.readUInt16BE(1);
        const size = this.header.readUInt32BE(3);
        if (!isFrameType(this.type)) {
          this.damage(`unknown frame type ${this.type}`);
          continue;
        }
        if (this.type !== FRAME_BODY && size > MAX_NONBODY_FRAME) {
          this.damage(`${size}-byte non-body frame`);
          continue;
        }
        this.remaining = size;
        this.parts = [];
        this.kept = 0;
      }
      const n = Math.min(this.remaining, buf.length - off);
      if (n > 0) {
        const piece = buf.subarray(off, off + n);
        if (this.type === FRAME_BODY) this.sink.bodyChunk(this.channel, piece, tsNs);
        else {
          this.parts.push(piece);
          this.kept += n;
        }
        this.remaining -= n;
        off += n;
      }
      if (this.remaining === 0) this.awaitingEnd = true;
    }
  }

  resync(): void {
    this.reset();
    this.leftover = null;
    this.syncing = true;
  }

  private damage(reason: string): void {
    this.sink.damaged(reason);
    this.resync();
  }

  private reset(): void {
    this.headerLen = 0;
    this.remaining = -1;
    this.parts = [];
    this.kept = 0;
    this.awaitingEnd = false;
  }

  private finishFrame(tsNs: bigint): void {
    const type = this.type;
    const channel = this.channel;
    const payload = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.kept);
    const startNs = this.startNs;
    this.reset();
    if (type === FRAME_BODY) this.sink.bodyEnd(channel, tsNs);
    else this.sink.frame(type, channel, payload, startNs, tsNs);
  }

  /** Find a frame header whose frame end is where its size says, and (for methods) whose method exists. */
  private sync(buf: Buffer, off: number): number {
    const start = off;
    for (; off < buf.length; off++) {
      const v = plausibleFrame(buf, off);
      if (v === 'yes' || buf[off] === PROTOCOL_HEADER_FIRST && buf.toString('latin1', off, off + 4) === 'AMQP') {
        this.syncing = false;
        break;
      }
      if (v === 'more') {
        this.leftover = Buffer.from(buf.subarray(off));
        if (off > start) this.sink.skipped(off - start);
        return buf.length;
      }
    }
    if (off > start) this.sink.skipped(off - start);
    return off;
  }
}

function isFrameType(t: number): boolean {
  return t === FRAME_METHOD || t === FRAME_HEADER || t === FRAME_BODY || t === FRAME_HEARTBEAT || t === FRAME_HEARTBEAT_08;
}

export function plausibleFrame(buf: Buffer, off: number): 'yes' | 'no' | 'more' {
  if (!isFrameType(buf[off]!)) return 'no';
  if (buf.length - off < FRAME_HEADER_SIZE) return 'more';
  const size = buf.readUInt32BE(off + 3);
  if (size > MAX_SYNC_FRAME) return 'no';
  const type = buf[off]!;
  if (type === FRAME_METHOD) {
    if (size < 4) return 'no';
    if (buf.length - off < FRAME_HEADER_SIZE + 4) return 'more';
    if (!methodSpec(buf.readUInt16BE(off + 7), buf.readUInt16BE(off + 9))) return 'no';
  }
  if ((type === FRAME_HEARTBEAT || type === FRAME_HEARTBEAT_08) && (size !== 0 || buf.readUInt16BE(off + 1) !== 0)) return 'no';
  const endAt = off + FRAME_HEADER_SIZE + size;
  if (endAt >= buf.length) return 'more';
  return buf[endAt] === FRAME_END ? 'yes' : 'no';
}
