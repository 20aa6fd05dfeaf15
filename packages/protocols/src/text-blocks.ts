/**
 * Framing of text protocols whose lines may announce a data block, for one
 * direction: CRLF-terminated lines, and after some of them (memcached's
 * storage commands, VALUE and VA lines, `ms`; NATS's PUB, HPUB, MSG, HMSG) a
 * data block of the length the line gave, then CRLF. The
 * sink reads each line and says how many data bytes follow; the reader keeps
 * up to `hold` of them and counts the rest, so a 1 MB item costs what a small
 * one does. A line longer than MAX_LINE is damage: skipped to its end.
 */
import { BodyCapture } from './body.js';
import { LineSplitter } from './lines.js';

export interface TextSink {
  /** A line without its CRLF (a view); returns the data bytes that follow it, or -1 for none. */
  line(buf: Buffer, start: number, end: number, tsNs: bigint): number;
  /** The data block announced by the last line, kept up to the bound; `clean`: it ended with CRLF. */
  data(block: BodyCapture, clean: boolean, tsNs: bigint): void;
  damaged(reason: string): void;
}

/** A memcached get of many keys is one long line (memcached itself takes lines of up to 2048 bytes plus keys); a NATS INFO or CONNECT is JSON on one line. */
export const MAX_LINE = 64 * 1024;
const LF = 0x0a;
const CR = 0x0d;

export class TextReader {
  private readonly lines: LineSplitter;
  /** Data bytes still to come for the current block, then the 2 of its CRLF; -1 in line mode. */
  private need = -1;
  private trailer = 0;
  private block: BodyCapture | null = null;
  private clean = true;

  constructor(
    private readonly sink: TextSink,
    private readonly hold: number,
  ) {
    this.lines = new LineSplitter(MAX_LINE, (reason) => sink.damaged(reason));
  }

  push(chunk: Buffer, tsNs: bigint): void {
    const buf = this.lines.join(chunk);
    let off = 0;
    while (off < buf.length) {
      if (this.need >= 0) {
        off = this.dataBytes(buf, off, tsNs);
        continue;
      }
      const next = this.lines.next(buf, off);
      if (next < 0) return;
      const n = this.sink.line(buf, this.lines.start, this.lines.end, tsNs);
      off = next;
      if (n >= 0) {
        this.need = n;
        this.trailer = 2;
        this.clean = true;
        this.block = new BodyCapture(this.hold);
      }
    }
  }

  /** Bytes of a data block, then its CRLF; the block goes to the sink once both are in. */
  private dataBytes(buf: Buffer, off: number, tsNs: bigint): number {
    if (this.need > 0) {
      const take = Math.min(this.need, buf.length - off);
      // a view: the sink makes its copy when it keeps the block past this call
      this.block!.add(buf.subarray(off, off + take));
      this.need -= take;
      return off + take;
    }
    // the block's CRLF; a block not followed by one is still delivered, marked
    while (this.trailer > 0 && off < buf.length) {
      const want = this.trailer === 2 ? CR : LF;
      if (buf[off] !== want) {
        if (this.trailer === 2 && buf[off] === LF) {
          off++;
          this.trailer = 0;
          break;
        }
        this.clean = false;
        this.trailer = 0;
        break;
      }
      off++;
      this.trailer--;
    }
    if (this.trailer > 0) return off;
    const block = this.block!;
    this.block = null;
    this.need = -1;
    this.sink.data(block, this.clean, tsNs);
    return off;
  }

  /** Forget what is in progress (a gap): the next line starts after the next LF. */
  resync(): void {
    this.lines.skipLine();
    this.need = -1;
    this.block = null;
  }
}
