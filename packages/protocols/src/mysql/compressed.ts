/**
 * The compressed protocol (CLIENT_COMPRESS, zlib), switched on after the
 * handshake: every chunk of the ordinary packet stream travels in a frame of
 * `compressed length(3) sequence(1) uncompressed length(3)` followed by the
 * zlib data (or the raw bytes when the uncompressed length is 0). This
 * unwraps the frames and hands the ordinary stream to the packet framer.
 * A frame longer than `limit` is skipped and reported as lost bytes, so
 * nothing is buffered beyond the limit.
 *
 * Frames have their own sequence ids (reset per command like packets', but
 * counted per frame); each is handed to the session, which checks them.
 *
 * Lost bytes: when the gap ends inside the current frame, the frame is lost
 * but the next header is exactly where the frame ends, so framing goes on.
 * When it runs past the frame (or hits a header), the frame boundaries are
 * unknown and the unwrapper scans for a believable header, as the packet
 * framer does: a length that fits, zlib's header check for a deflated body,
 * and another believable header right after (or the end of what was received).
 */
import { inflateSync } from 'node:zlib';
import { ResyncBuffer } from './resync-buffer.js';

export interface UnwrapHooks {
  /** The next bytes of the ordinary packet stream. */
  bytes(chunk: Buffer, tsNs: bigint): void;
  /** `n` bytes of the ordinary stream could not be recovered (0: already counted as a gap). */
  lost(n: number): void;
  /** A frame did not inflate. */
  damaged(): void;
  /** A frame header with this sequence id was read. */
  frame(seq: number): void;
  /** `n` bytes were skipped while looking for a frame header. */
  skipped(n: number): void;
}

const HEADER = 7;
/** zlib's first byte for deflate with a 32 KiB window, which is what MySQL's compress() writes. */
const ZLIB_CMF = 0x78;

export class CompressedUnwrapper {
  private readonly header = Buffer.alloc(HEADER);
  private headerHave = 0;
  private left = 0;
  private rawLength = 0;
  private parts: Buffer[] = [];
  private kept = 0;
  private skipping = false;
  /** The frame in progress lost bytes to a gap: its body is skipped, not inflated. */
  private broken = false;
  /** Bytes of the frame in progress already counted as lost by gaps. */
  private gapped = 0;
  /** Frame boundaries unknown: scanning for a header. */
  private resyncing = false;
  /** Bytes held while a resync candidate cannot be judged yet (at most `limit` + 2 headers). */
  private readonly scan = new ResyncBuffer();
  /** Bytes `resync` wants held before it scans again. */
  private scanNeed = 0;

  constructor(
    private readonly hooks: UnwrapHooks,
    private readonly limit: number,
  ) {}

  /**
   * `n` bytes of this direction were lost. Inside a frame's body with the
   * frame's end still to come, the rest of it is skipped and framing stays
   * in step; otherwise the next header is searched for.
   */
  lose(n: number): void {
    // received bytes dropped unread, like the ones the scan passes over
    const held = this.scan.drop();
    if (held > 0) this.hooks.skipped(held);
    if (!this.resyncing && this.headerHave === HEADER && n < this.left) {
      this.left -= n;
      this.gapped += n;
      this.broken = true;
      this.parts = [];
      this.kept = 0;
      return;
    }
    if (!this.resyncing && this.headerHave === HEADER && n === this.left) {
      this.left = 0;
      this.gapped += n;
      this.broken = true;
      this.finish(0n);
      return;
    }
    if (!this.resyncing && this.headerHave === HEADER && this.skipping) {
      // the gap runs past an oversized frame: it counts the frame's last `left` bytes, the rest is counted here
      this.hooks.lost(Math.max(0, this.skippedLength() - this.gapped - this.left));
    }
    this.reset();
    this.resyncing = true;
  }

  push(chunk: Buffer, tsNs: bigint): void {
    if (this.resyncing) {
      const data = this.scan.join(chunk);
      if (data === null) return;
      const at = this.resync(data);
      if (at < 0) {
        this.scan.hold(data, -at - 1, this.scanNeed);
        return;
      }
      this.resyncing = false;
      chunk = data.subarray(at);
    }
    let off = 0;
    while (off < chunk.length) {
      if (this.headerHave < HEADER) {
        const n = Math.min(HEADER - this.headerHave, chunk.length - off);
        chunk.copy(this.header, this.headerHave, off, off + n);
        this.headerHave += n;
        off += n;
        if (this.headerHave < HEADER) return;
        this.left = this.header.readUIntLE(0, 3);
        this.rawLength = this.header.readUIntLE(4, 3);
        this.skipping = this.left > this.limit;
        this.hooks.frame(this.header[3]);
        if (this.left === 0) this.finish(tsNs);
        continue;
      }
      const n = Math.min(this.left, chunk.length - off);
      if (!this.skipping && !this.broken) {
        this.parts.push(chunk.subarray(off, off + n));
        this.kept += n;
      }
      this.left -= n;
      off += n;
      if (this.left === 0) this.finish(tsNs);
    }
  }

  private reset(): void {
    this.headerHave = 0;
    this.left = 0;
    this.parts = [];
    this.kept = 0;
    this.skipping = false;
    this.broken = false;
    this.gapped = 0;
  }

  /** What an oversized frame counts as lost: its uncompressed length (raw: its body's). */
  private skippedLength(): number {
    return this.rawLength || this.header.readUIntLE(0, 3);
  }

  private finish(tsNs: bigint): void {
    const raw = this.rawLength;
    const { skipping, broken } = this;
    // an oversized frame counts whole, gaps in it or not: the gaps counted their bytes, the rest is counted here
    const skipped = skipping ? Math.max(0, this.skippedLength() - this.gapped) : 0;
    const data = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.kept);
    this.reset();
    if (skipping) {
      this.hooks.lost(skipped);
      return;
    }
    if (broken) {
      // the gap was counted when it was reported; the stream inside the frame is gone
      this.hooks.lost(0);
      return;
    }
    if (raw === 0) {
      this.hooks.bytes(data, tsNs);
      return;
    }
    let out: Buffer;
    try {
      out = inflateSync(data);
    } catch {
      this.hooks.damaged();
      this.hooks.lost(raw);
      return;
    }
    this.hooks.bytes(out, tsNs);
  }

  /**
   * Whether a header at `i` could start a frame: 1 yes, 0 no, -1 not yet known
   * (a deflated body's first two bytes have not arrived).
   */
  private plausible(data: Buffer, i: number): number {
    const len = data.readUIntLE(i, 3);
    if (len === 0) return 0;
    const raw = data.readUIntLE(i + 4, 3);
    if (raw === 0) return 1;
    // MySQL sends a frame deflated only when that made it shorter
    if (len < 2 || len >= raw) return 0;
    if (i + HEADER + 2 > data.length) return -1;
    // zlib header: CMF 0x78, and CMF*256 + FLG a multiple of 31 (RFC 1950)
    return data[i + HEADER] === ZLIB_CMF && ((ZLIB_CMF << 8) | data[i + HEADER + 1]) % 31 === 0 ? 1 : 0;
  }

  /**
   * Where a believable frame starts in `data`, or `-(i+1)` to wait for more
   * bytes from `i` (setting `scanNeed`). A candidate is believed when the next
   * header is believable too, or when it ends exactly where the received bytes
   * end. A deflated candidate running past them (its zlib header checked) is
   * waited for, at most `limit` bytes: they are held, not dropped, so a wrong
   * one costs time, not data. A raw one is passed over: its only mark is three
   * zero bytes, common inside packets, and senders flush whole frames, so a
   * later chunk gives a clean start.
   */
  private resync(data: Buffer): number {
    const end = data.length;
    this.scanNeed = HEADER + 2;
    for (let i = 0; i + HEADER <= end; i++) {
      const here = this.plausible(data, i);
      if (here === 0) continue;
      if (here < 0) return -(this.skip(i) + 1);
      const next = i + HEADER + data.readUIntLE(i, 3);
      if (next === end) return this.skip(i);
      if (next + HEADER <= end) {
        if (this.plausible(data, next) !== 0) return this.skip(i);
        continue;
      }
      if (data.readUIntLE(i + 4, 3) !== 0 && next - i <= this.limit) {
        this.scanNeed = next + HEADER - i;
        return -(this.skip(i) + 1);
      }
    }
    const keep = Math.max(0, end - HEADER + 1);
    return -(this.skip(keep) + 1);
  }

  private skip(n: number): number {
    if (n > 0) this.hooks.skipped(n);
    return n;
  }
}
