/**
 * Framing of IMAP for one direction (RFC 9051 §4.3, RFC 3501): CRLF lines,
 * any of which may end in a literal's size (`{n}`, LITERAL+'s `{n+}`, or
 * BINARY's `~{n}`); then n bytes of the literal follow, and after them the
 * same logical line goes on. A message fetched or appended is such a literal:
 * its bytes go to the sink as they come, so a 50 MB message costs what a small
 * one does. A line longer than MAX_LINE is damage, skipped to its end.
 */
import { LineSplitter } from '../lines.js';

export interface ImapReaderSink {
  /**
   * A piece of a logical line, without its line end (a view): `literal` is the size of the literal
   * the piece announces at its end (its marker cut off: [start, end) stops before it), or -1 when
   * the logical line ends with this piece. `wire` is the piece's size on the wire: its text, the
   * marker and the line end.
   */
  text(buf: Buffer, start: number, end: number, literal: number, wire: number, tsNs: bigint): void;
  /** Bytes of the literal announced last (a view). */
  literal(buf: Buffer, start: number, end: number, tsNs: bigint): void;
  literalEnd(tsNs: bigint): void;
  damaged(reason: string): void;
}

/** RFC 9051 sets no limit; servers answer long lines with BAD. SEARCH results of large mailboxes are the long ones seen. */
export const MAX_LINE = 64 * 1024;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACE = 0x7b;
const PLUS = 0x2b;
const TILDE = 0x7e;

export class ImapReader {
  private readonly lines: LineSplitter;
  /** Bytes of the current literal still to come, or -1 outside one. */
  private literalLeft = -1;

  constructor(private readonly sink: ImapReaderSink) {
    this.lines = new LineSplitter(MAX_LINE, (reason) => sink.damaged(reason));
  }

  get inLiteral(): boolean {
    return this.literalLeft >= 0;
  }

  push(chunk: Buffer, tsNs: bigint): void {
    const buf = this.lines.join(chunk);
    let off = 0;
    const end = buf.length;
    while (off < end) {
      if (this.literalLeft >= 0) {
        const take = Math.min(this.literalLeft, end - off);
        if (take > 0) this.sink.literal(buf, off, off + take, tsNs);
        off += take;
        this.literalLeft -= take;
        if (this.literalLeft === 0) this.endLiteral(tsNs);
        continue;
      }
      const next = this.lines.next(buf, off);
      if (next < 0) return;
      const start = off;
      off = next;
      this.line(buf, this.lines.start, this.lines.end, next - start, tsNs);
    }
  }

  private line(buf: Buffer, start: number, end: number, wire: number, tsNs: bigint): void {
    const marker = literalMarker(buf, start, end);
    if (marker.at < 0) {
      this.sink.text(buf, start, end, -1, wire, tsNs);
      return;
    }
    this.sink.text(buf, start, marker.at, marker.size, wire, tsNs);
    this.literalLeft = marker.size;
    if (marker.size === 0) this.endLiteral(tsNs);
  }

  private endLiteral(tsNs: bigint): void {
    this.literalLeft = -1;
    this.sink.literalEnd(tsNs);
  }

  /**
   * `length` bytes were lost. Inside a literal the count takes them off (the line goes on after
   * it); elsewhere the next line starts after the next LF.
   */
  gap(length: number, tsNs: bigint): void {
    this.lines.clear();
    if (this.literalLeft > length) {
      this.literalLeft -= length;
      return;
    }
    if (this.literalLeft >= 0) this.endLiteral(tsNs);
    this.lines.skipLine();
  }

  /** Joined mid-stream: the first line may be a piece of one. */
  resync(): void {
    this.literalLeft = -1;
    this.lines.skipLine();
  }
}

/** The literal announced at the end of a line: where its marker starts and its size; at -1 when there is none. */
function literalMarker(buf: Buffer, start: number, end: number): { at: number; size: number } {
  const none = { at: -1, size: 0 };
  if (end - start < 3 || buf[end - 1] !== CLOSE_BRACE) return none;
  let i = end - 2;
  // LITERAL+ and LITERAL- (RFC 7888): {n+}
  if (buf[i] === PLUS) i--;
  let size = 0;
  let digits = 0;
  let scale = 1;
  while (i > start && buf[i]! >= 0x30 && buf[i]! <= 0x39) {
    size += (buf[i]! - 0x30) * scale;
    scale *= 10;
    digits++;
    i--;
  }
  // a literal's size is a number32 (RFC 9051 §9: at most 4,294,967,295)
  if (digits === 0 || digits > 10 || size > 0xffffffff || buf[i] !== OPEN_BRACE) return none;
  // BINARY (RFC 3516): ~{n}
  const at = i > start && buf[i - 1] === TILDE ? i - 1 : i;
  return { at, size };
}
