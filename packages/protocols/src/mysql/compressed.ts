/**
 * The compressed protocol (CLIENT_COMPRESS, zlib), switched on after the
 * handshake: every chunk of the ordinary packet stream travels in a frame of
 * `compressed length(3) sequence(1) uncompressed length(3)` followed by the
 * zlib data (or the raw bytes when the uncompressed length is 0). This
 * unwraps the frames and hands the ordinary stream to the packet framer.
 * A frame longer than `limit` is skipped and reported as lost bytes, so
 * nothing is buffered beyond the limit.
 */
import { inflateSync } from 'node:zlib';

export interface UnwrapHooks {
  /** The next bytes of the ordinary packet stream. */
  bytes(chunk: Buffer, tsNs: bigint): void;
  /** `n` bytes of the ordinary stream could not be recovered. */
  lost(n: number): void;
  /** A frame did not inflate. */
  damaged(): void;
}

export class CompressedUnwrapper {
  private readonly header = Buffer.alloc(7);
  private headerHave = 0;
  private left = 0;
  private rawLength = 0;
  private parts: Buffer[] = [];
  private kept = 0;
  private skipping = false;

  constructor(
    private readonly hooks: UnwrapHooks,
    private readonly limit: number,
  ) {}

  /** Bytes were lost: the frame in progress is gone and framing cannot be trusted. */
  lose(): void {
    this.headerHave = 0;
    this.left = 0;
    this.parts = [];
    this.kept = 0;
    this.skipping = false;
  }

  push(chunk: Buffer, tsNs: bigint): void {
    let off = 0;
    while (off < chunk.length) {
      if (this.left === 0 && this.headerHave < 7) {
        const n = Math.min(7 - this.headerHave, chunk.length - off);
        chunk.copy(this.header, this.headerHave, off, off + n);
        this.headerHave += n;
        off += n;
        if (this.headerHave < 7) return;
        this.left = this.header.readUIntLE(0, 3);
        this.rawLength = this.header.readUIntLE(4, 3);
        this.skipping = this.left > this.limit;
        if (this.left === 0) this.finish(tsNs);
        continue;
      }
      const n = Math.min(this.left, chunk.length - off);
      if (!this.skipping) {
        this.parts.push(chunk.subarray(off, off + n));
        this.kept += n;
      }
      this.left -= n;
      off += n;
      if (this.left === 0) this.finish(tsNs);
    }
  }

  private finish(tsNs: bigint): void {
    const compressedLength = this.header.readUIntLE(0, 3);
    const raw = this.rawLength;
    const skipped = this.skipping;
    const data = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.kept);
    this.headerHave = 0;
    this.parts = [];
    this.kept = 0;
    this.skipping = false;
    if (skipped) {
      this.hooks.lost(raw || compressedLength);
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
}
