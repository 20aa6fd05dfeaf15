/**
 * Sequential reader over one message body that may be cut short (oversized
 * messages arrive as a prefix): reading past the end yields empty values and
 * sets `short` instead of throwing. PostgreSQL and MySQL each add their own
 * integer encodings on top.
 */
export class BoundedReader {
  pos: number;
  short = false;

  constructor(
    readonly buf: Buffer,
    start = 0,
  ) {
    this.pos = start;
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  /** A NUL-terminated string; without the NUL, the rest (and `short`). */
  cstring(): string {
    const end = this.buf.indexOf(0, this.pos);
    if (end < 0) {
      const s = this.text(this.pos, this.buf.length);
      this.pos = this.buf.length;
      this.short = true;
      return s;
    }
    const s = this.text(this.pos, end);
    this.pos = end + 1;
    return s;
  }

  /** Bytes `[start, end)` of the body as text: UTF-8 here; PostgreSQL decodes with the connection's client_encoding. */
  protected text(start: number, end: number): string {
    return this.buf.toString('utf8', start, end);
  }

  /** A view of the next `n` bytes (fewer, and `short`, when cut). */
  bytes(n: number): Buffer {
    const end = Math.min(this.buf.length, this.pos + n);
    if (end < this.pos + n) this.short = true;
    const v = this.buf.subarray(this.pos, end);
    this.pos = end;
    return v;
  }

  /** Marks the body as cut and returns `v` as the value read. */
  protected fail<T>(v: T): T {
    this.short = true;
    this.pos = this.buf.length;
    return v;
  }
}
