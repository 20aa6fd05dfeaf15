/**
 * gRPC message framing over one side of an HTTP/2 stream: each message is a
 * 1-byte compressed flag, a 4-byte big-endian length, then the bytes
 * (gRPC over HTTP/2, "Length-Prefixed-Message"). DATA frames cut messages
 * anywhere, so this is incremental. Every message is counted and measured;
 * the first few are kept (bounded) for decoding.
 */

import { Base64Stream, GrpcWire, MAX_WEB_TRAILER_BYTES } from './web.js';

const PREFIX_LENGTH = 5;
/** Flag bits of the prefix byte: compressed (gRPC), and the trailer frame (gRPC-Web's MSB). */
const FLAG_COMPRESSED = 0x01;
const FLAG_TRAILER = 0x80;

export interface GrpcMessage {
  size: number;
  compressed: boolean;
  /** The kept bytes (absent past the keep limits). */
  bytes?: Buffer;
  /** Some of the message lies beyond what was kept or captured. */
  truncated?: boolean;
}

export class GrpcFramer {
  readonly messages: GrpcMessage[] = [];
  count = 0;
  totalBytes = 0;
  /** Bytes after the last complete message (a cut message at stream end). */
  dangling = 0;
  /** A gap broke the framing: nothing after it is trusted. */
  lost = false;
  /** gRPC-Web: the trailer frame's payload (bounded), and whether its flag said compressed. */
  trailerBlock: Buffer | undefined;
  trailerCompressed = false;
  /** gRPC-Web text that is not base64: nothing after it is trusted. */
  malformed = false;
  /** Bytes of the trailer frame still to come, and its pieces so far. */
  private trailerLeft = 0;
  private trailerParts: Buffer[] | undefined;
  private trailerKept = 0;
  private readonly base64: Base64Stream | undefined;
  /** Prefix bytes read so far, and what they said: kept as numbers, not a buffer per framer (two per gRPC call). */
  private prefixHave = 0;
  private prefixFlags = 0;
  private prefixSize = 0;
  private current: GrpcMessage | undefined;
  private remaining = 0;
  /** Kept pieces of the current message: most messages arrive in one DATA frame, so no array until a second piece. */
  private firstPart: Buffer | undefined;
  private moreParts: Buffer[] | undefined;
  private kept = 0;

  constructor(
    private readonly maxMessages: number,
    private readonly maxBytes: number,
    readonly wire: GrpcWire = GrpcWire.NATIVE,
  ) {
    if (wire === GrpcWire.WEB_TEXT) this.base64 = new Base64Stream();
  }

  push(data: Buffer): void {
    if (this.lost || this.malformed) return;
    if (this.base64) {
      data = this.base64.decode(data);
      // What decoded before the bad byte is still framed.
      if (this.base64.invalid) this.malformed = true;
    }
    let pos = 0;
    while (pos < data.length) {
      if (this.trailerLeft > 0) {
        pos = this.takeTrailer(data, pos);
        continue;
      }
      if (!this.current) {
        while (this.prefixHave < PREFIX_LENGTH && pos < data.length) {
          const b = data[pos++];
          if (this.prefixHave === 0) this.prefixFlags = b;
          else this.prefixSize = this.prefixSize * 256 + b;
          this.prefixHave++;
        }
        if (this.prefixHave < PREFIX_LENGTH) break;
        this.prefixHave = 0;
        const size = this.prefixSize;
        this.prefixSize = 0;
        if (this.wire !== GrpcWire.NATIVE && this.prefixFlags & FLAG_TRAILER) {
          this.startTrailer(size);
          continue;
        }
        this.current = { size, compressed: (this.prefixFlags & FLAG_COMPRESSED) === 1 };
        this.remaining = size;
        this.firstPart = undefined;
        this.moreParts = undefined;
        if (this.remaining === 0) this.finish();
        continue;
      }
      const take = Math.min(this.remaining, data.length - pos);
      const keepRoom = this.messages.length < this.maxMessages ? this.maxBytes - this.kept : 0;
      if (keepRoom > 0) {
        const k = Math.min(take, keepRoom);
        const piece = data.subarray(pos, pos + k);
        if (!this.firstPart) this.firstPart = piece;
        else (this.moreParts ??= []).push(piece);
        this.kept += k;
        if (k < take) this.current.truncated = true;
      } else {
        this.current.truncated = true;
      }
      this.remaining -= take;
      pos += take;
      if (this.remaining === 0) this.finish();
    }
  }

  /** gRPC-Web's trailer frame: not a message; its block is kept (bounded) for the status. */
  private startTrailer(size: number): void {
    this.trailerCompressed = (this.prefixFlags & FLAG_COMPRESSED) === 1;
    this.trailerLeft = size;
    this.trailerParts = [];
    this.trailerKept = 0;
    if (size === 0) this.finishTrailer();
  }

  private takeTrailer(data: Buffer, pos: number): number {
    const take = Math.min(this.trailerLeft, data.length - pos);
    const room = MAX_WEB_TRAILER_BYTES - this.trailerKept;
    if (room > 0) {
      this.trailerParts!.push(data.subarray(pos, pos + Math.min(take, room)));
      this.trailerKept += Math.min(take, room);
    }
    this.trailerLeft -= take;
    if (this.trailerLeft === 0) this.finishTrailer();
    return pos + take;
  }

  private finishTrailer(): void {
    const parts = this.trailerParts!;
    let block = parts.length === 1 ? parts[0] : Buffer.concat(parts);
    // Cut at the bound: a line cut short could read as a wrong value, so only whole lines are kept.
    if (this.trailerKept === MAX_WEB_TRAILER_BYTES) block = block.subarray(0, block.lastIndexOf(0x0a) + 1);
    this.trailerBlock = block;
    this.trailerParts = undefined;
  }

  gap(): void {
    this.lost = true;
    if (this.current) this.current.truncated = true;
  }

  /** The side ended; a message still open is reported as cut. */
  end(): void {
    if (this.current) {
      this.dangling = this.current.size - this.remaining;
      this.current.truncated = true;
      this.record(this.current);
      this.current = undefined;
    } else if (this.prefixHave) {
      this.dangling = this.prefixHave;
    }
  }

  private finish(): void {
    this.record(this.current!);
    this.current = undefined;
  }

  private record(m: GrpcMessage): void {
    this.count++;
    this.totalBytes += m.size;
    if (this.messages.length >= this.maxMessages) return;
    if (this.firstPart) m.bytes = this.moreParts ? Buffer.concat([this.firstPart, ...this.moreParts]) : this.firstPart;
    else if (m.size === 0) m.bytes = Buffer.alloc(0);
    this.firstPart = undefined;
    this.moreParts = undefined;
    this.messages.push(m);
  }
}
