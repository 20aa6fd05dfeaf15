/**
 * Framing of SMTP for one direction (RFC 5321): CRLF lines, and on the
 * client's side the two ways a message is sent: DATA's lines up to a line
 * holding only "." (dot-stuffed lines unstuffed, §4.5.2), and BDAT's chunks of
 * a stated size (RFC 3030). The sink is told which mode comes next; bytes of a
 * message go to it as they come, so a 50 MB message costs what a small one
 * does. A line longer than MAX_LINE outside a message is damage: skipped to
 * its end.
 */
import { LineSplitter } from '../lines.js';

export interface SmtpReaderSink {
  /** A line without its line end (a view). */
  line(buf: Buffer, start: number, end: number, tsNs: bigint): void;
  /** Message bytes, unstuffed, line ends included (a view). */
  content(buf: Buffer, start: number, end: number, tsNs: bigint): void;
  /** The message ended (DATA's "." line, or the last byte of a BDAT chunk). */
  contentEnd(tsNs: bigint): void;
  damaged(reason: string): void;
}

/** RFC 5321 §4.5.3.1.4-6 allow 512-byte command lines and 1000-byte text lines; long ones are seen in the wild. */
export const MAX_LINE = 64 * 1024;
const LF = 0x0a;
const CR = 0x0d;
const DOT = 0x2e;

export class SmtpReader {
  private readonly lines: LineSplitter;
  private mode: 'line' | 'data' | 'chunk' = 'line';
  /** DATA: the next byte starts a line (where "." ends the message or stuffs one). */
  private lineStart = true;
  /** BDAT: bytes of the chunk still to come. */
  private chunkLeft = 0;

  constructor(private readonly sink: SmtpReaderSink) {
    this.lines = new LineSplitter(MAX_LINE, (reason) => sink.damaged(reason));
  }

  /** The bytes after this point are DATA's message, up to its "." line. */
  startData(): void {
    this.mode = 'data';
    this.lineStart = true;
  }

  /** DATA was refused before any of its message came: lines again. */
  cancelData(): boolean {
    if (this.mode !== 'data' || !this.lineStart) return false;
    this.mode = 'line';
    return true;
  }

  get inData(): boolean {
    return this.mode !== 'line';
  }

  /** The next `size` bytes are a BDAT chunk. */
  startChunk(size: number): void {
    this.mode = 'chunk';
    this.chunkLeft = size;
  }

  push(chunk: Buffer, tsNs: bigint): void {
    const buf = this.lines.join(chunk);
    let off = 0;
    const end = buf.length;
    while (off < end) {
      if (this.mode === 'chunk') {
        const take = Math.min(this.chunkLeft, end - off);
        if (take > 0) this.sink.content(buf, off, off + take, tsNs);
        off += take;
        this.chunkLeft -= take;
        if (this.chunkLeft === 0) {
          this.mode = 'line';
          this.sink.contentEnd(tsNs);
        }
        continue;
      }
      if (this.mode === 'data') {
        off = this.data(buf, off, tsNs);
        if (off < 0) return;
        continue;
      }
      const next = this.lines.next(buf, off);
      if (next < 0) return;
      off = next;
      this.sink.line(buf, this.lines.start, this.lines.end, tsNs);
    }
  }

  /** DATA bytes from `off`: whole lines, unstuffed; returns the offset after them, or -1 when the rest waits for more. */
  private data(buf: Buffer, off: number, tsNs: bigint): number {
    const end = buf.length;
    while (off < end) {
      if (this.lineStart && buf[off] === DOT) {
        // "." alone ends the message; ".." is a stuffed ".": the first dot goes
        if (off + 1 >= end || (buf[off + 1] === CR && off + 2 >= end)) {
          this.lines.keep(buf, off);
          return -1;
        }
        if (buf[off + 1] === LF || (buf[off + 1] === CR && buf[off + 2] === LF)) {
          this.mode = 'line';
          this.sink.contentEnd(tsNs);
          return off + (buf[off + 1] === LF ? 2 : 3);
        }
        off++;
      }
      const lf = buf.indexOf(LF, off);
      if (lf < 0) {
        // a line not ended yet: its bytes go now (a base64 attachment's lines are short, a broken
        // sender's may not be), and what follows is inside that line
        this.sink.content(buf, off, end, tsNs);
        this.lineStart = false;
        return end;
      }
      this.sink.content(buf, off, lf + 1, tsNs);
      this.lineStart = true;
      off = lf + 1;
    }
    return off;
  }

  /**
   * `length` bytes were lost. Inside a message the message goes on (its "." line still ends it; a
   * BDAT chunk's count takes the lost bytes off); elsewhere the next line starts after the next LF.
   */
  gap(length: number): void {
    this.lines.clear();
    if (this.mode === 'data') {
      this.lineStart = false;
      return;
    }
    if (this.mode === 'chunk' && this.chunkLeft > length) {
      this.chunkLeft -= length;
      return;
    }
    this.mode = 'line';
    this.lines.skipLine();
  }

  /** Joined mid-stream: the first line may be a piece of one. */
  resync(): void {
    this.mode = 'line';
    this.lines.skipLine();
  }
}
