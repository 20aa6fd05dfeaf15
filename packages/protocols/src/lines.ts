/**
 * The bytes a framer keeps between pushes, and the CRLF line splitting the
 * text protocols share (memcached's text protocol, SMTP): a chunk is read in
 * place, and only what it ends with that cannot be used yet (a packet or
 * line cut by the segment boundary) is copied and joined to the next one.
 */

const LF = 0x0a;
const CR = 0x0d;

/** What the last push could not use, joined to the next chunk. */
export class Leftover {
  private bytes: Buffer | null = null;

  /** `chunk` after what was kept from the last push. */
  join(chunk: Buffer): Buffer {
    if (!this.bytes) return chunk;
    const b = Buffer.concat([this.bytes, chunk]);
    this.bytes = null;
    return b;
  }

  /** Keeps `buf` from `off` for the next push: copied, the chunk being the capture's. */
  keep(buf: Buffer, off: number): void {
    this.bytes = Buffer.from(buf.subarray(off));
  }

  clear(): void {
    this.bytes = null;
  }
}

/**
 * CRLF lines (a bare LF ends one too, as servers read them), at most
 * `maxLine` bytes: a longer one is damage, skipped to its end.
 */
export class LineSplitter extends Leftover {
  /** Where the line `next` found starts, and ends before its line end. */
  start = 0;
  end = 0;
  private skipping = false;

  constructor(
    private readonly maxLine: number,
    private readonly damaged: (reason: string) => void,
  ) {
    super();
  }

  /**
   * The offset after the next whole line from `off` (its bounds in `start` and `end`), or -1:
   * the rest of `buf` is kept for the next push, or, past maxLine, skipped to the line's end.
   */
  next(buf: Buffer, off: number): number {
    for (;;) {
      const lf = buf.indexOf(LF, off);
      if (this.skipping) {
        if (lf < 0) return -1;
        this.skipping = false;
        off = lf + 1;
        if (off >= buf.length) return -1;
        continue;
      }
      if (lf < 0) {
        if (buf.length - off > this.maxLine) {
          this.damaged(`line longer than ${this.maxLine >> 10} KiB`);
          this.skipping = true;
        } else this.keep(buf, off);
        return -1;
      }
      this.start = off;
      this.end = lf > off && buf[lf - 1] === CR ? lf - 1 : lf;
      return lf + 1;
    }
  }

  /** Forgets what was kept; the next line starts after the next LF (a gap, a mid-stream start). */
  skipLine(): void {
    this.clear();
    this.skipping = true;
  }
}
