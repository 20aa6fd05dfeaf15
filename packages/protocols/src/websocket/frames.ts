/**
 * WebSocket framing (RFC 6455 §5.2), one direction at a time: a reader is
 * pushed the bytes one side sent and calls back with each frame's header,
 * its payload in the pieces the chunks hold it in (still masked: the sink
 * unmasks what it keeps), and its end. It keeps at most a frame header's 14
 * bytes between chunks, never a payload, so a frame of any size streams
 * through in bounded memory. It does no I/O.
 */

export const Opcode = {
  Continuation: 0x0,
  Text: 0x1,
  Binary: 0x2,
  Close: 0x8,
  Ping: 0x9,
  Pong: 0xa,
} as const;

/** Payloads of control frames (close, ping, pong) are at most this long and never fragmented (§5.5). */
export const MAX_CONTROL_PAYLOAD = 125;

/** The largest payload length taken: 2^53 - 1 (a length whose top bit is set is malformed, §5.2). */
const MAX_PAYLOAD = Number.MAX_SAFE_INTEGER;

export interface FrameHead {
  fin: boolean;
  /** RSV1: the message is compressed (permessage-deflate, RFC 7692 §6), on its first frame. */
  rsv1: boolean;
  opcode: number;
  /** The 32-bit masking key, or -1 for an unmasked frame (a server's). */
  mask: number;
  length: number;
  /** Header plus payload bytes on the wire. */
  wireBytes: number;
}

export interface FrameSink {
  frameStart(head: FrameHead, tsNs: bigint): void;
  /** Payload bytes `buf[start, end)`, at `offset` into the frame's payload (for the masking key's phase). */
  payload(buf: Buffer, start: number, end: number, offset: number): void;
  frameEnd(tsNs: bigint): void;
  /** The stream broke the framing rules (`why`, a counter's name); the reader stops (`push` ignores what follows). */
  damage(why: string): void;
}

export class FrameReader {
  private readonly head = Buffer.alloc(14);
  private headLen = 0;
  /** The frame whose payload is being read, and how much of it is left. */
  private frame: FrameHead | null = null;
  private left = 0;
  private done = 0;
  broken = false;

  constructor(private readonly sink: FrameSink) {}

  push(chunk: Buffer, tsNs: bigint): void {
    let off = 0;
    while (!this.broken && (off < chunk.length || (this.frame && this.left === 0))) {
      if (this.frame) {
        const n = Math.min(this.left, chunk.length - off);
        if (n > 0) this.sink.payload(chunk, off, off + n, this.done);
        off += n;
        this.done += n;
        this.left -= n;
        if (this.left > 0) return;
        this.frame = null;
        this.sink.frameEnd(tsNs);
        continue;
      }
      off = this.readHead(chunk, off, tsNs);
    }
  }

  /** Reads header bytes from `off`; starts the frame once the header is whole. Returns where it stopped. */
  private readHead(chunk: Buffer, off: number, tsNs: bigint): number {
    // the first two bytes say how long the header is: copy only as far as needed
    while (off < chunk.length) {
      const need = this.headLen < 2 ? 2 : headLength(this.head);
      if (this.headLen >= need) break;
      const n = Math.min(need - this.headLen, chunk.length - off);
      chunk.copy(this.head, this.headLen, off, off + n);
      this.headLen += n;
      off += n;
    }
    if (this.headLen < 2 || this.headLen < headLength(this.head)) return off;
    const h = this.head;
    const b0 = h[0];
    const b1 = h[1];
    const opcode = b0 & 0x0f;
    const len7 = b1 & 0x7f;
    let length: number;
    let p = 2;
    if (len7 === 126) {
      length = h.readUInt16BE(2);
      p = 4;
    } else if (len7 === 127) {
      const hi = h.readUInt32BE(2);
      length = hi * 0x100000000 + h.readUInt32BE(6);
      p = 10;
      // a length with its top bit set is malformed (§5.2); past 2^53 no JavaScript number holds it
      if (hi >= 0x200000 || length > MAX_PAYLOAD) return this.fail('frame_length', off);
    } else {
      length = len7;
    }
    const mask = b1 & 0x80 ? h.readInt32BE(p) : -1;
    if (mask !== -1) p += 4;
    this.headLen = 0;
    // RSV2 and RSV3: no extension defined here uses them
    if (b0 & 0x30) return this.fail('rsv2_rsv3', off);
    if ((opcode > Opcode.Binary && opcode < Opcode.Close) || opcode > Opcode.Pong) return this.fail('reserved_opcode', off);
    if (opcode >= Opcode.Close && !(b0 & 0x80)) return this.fail('control_fragmented', off);
    if (opcode >= Opcode.Close && length > MAX_CONTROL_PAYLOAD) return this.fail('control_too_long', off);
    this.frame = { fin: (b0 & 0x80) !== 0, rsv1: (b0 & 0x40) !== 0, opcode, mask, length, wireBytes: p + length };
    this.left = length;
    this.done = 0;
    this.sink.frameStart(this.frame, tsNs);
    return off;
  }

  private fail(why: string, off: number): number {
    this.broken = true;
    this.sink.damage(why);
    return off;
  }
}

/** Header length once its first two bytes are known: 2, plus 2 or 8 for an extended length, plus 4 for a mask. */
function headLength(h: Buffer): number {
  const len7 = h[1] & 0x7f;
  return 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (h[1] & 0x80 ? 4 : 0);
}

/**
 * `buf[start, end)` unmasked into a new buffer: byte i of a payload is XORed with byte (i mod 4) of
 * the key (§5.3); `offset` is where in the payload `start` lies.
 */
export function unmask(buf: Buffer, start: number, end: number, mask: number, offset: number): Buffer {
  const out = Buffer.allocUnsafe(end - start);
  for (let i = 0; i < out.length; i++) out[i] = buf[start + i] ^ ((mask >>> (24 - 8 * ((offset + i) & 3))) & 0xff);
  return out;
}
