/**
 * The MIME parts of a message that begin past the body bytes kept (maxBody,
 * 64 KiB by default): a mail whose first attachment is large still shows
 * the attachments after it, by their header fields and file names, which
 * say much of what a mail carries (`passport-scan.pdf`). The whole body
 * streams through once, line by line, looking only at boundary lines and at
 * the header block after each; the bytes between are counted, never kept.
 * Nested multiparts are followed by the boundaries their headers declare.
 */
import { parseHeaders } from './headers.js';
import { multipartBoundary } from './mime.js';

/** A part found by its boundary line: where its body starts, its size so far. */
export interface ScannedPart {
  headers: Record<string, string[]>;
  /** Body offsets of the part's header block and of its first body byte. */
  headerStart: number;
  bodyStart: number;
  /** Bytes of the part's body as sent, line ends included. */
  size: number;
  /** Of those, the bytes that are not line ends, and the `=` that close the last line (base64's size). */
  payload: number;
  padding: number;
  /** A multipart container (its own parts follow); not a leaf. */
  container: boolean;
}

/** Parts followed per message, header bytes kept per part, boundaries followed. */
const MAX_PARTS = 64;
const MAX_PART_HEADER = 8 * 1024;
const MAX_BOUNDARIES = 8;
/** Longest boundary line looked at: a boundary is at most 70 characters (RFC 2046 §5.1.1), plus `--`, `--` and white space. */
const MAX_DASH_LINE = 128;

const LF = 0x0a;
const CR = 0x0d;
const DASH = 0x2d;

export class PartScanner {
  readonly parts: ScannedPart[] = [];
  private readonly boundaries: string[] = [];
  /** Body bytes seen. */
  private offset = 0;
  private atLineStart = true;
  /** A line that starts with `-` and has not ended yet (it may be a boundary line). */
  private dash: Buffer[] | undefined;
  private dashLen = 0;
  /** Reading a part's header block. */
  private header: Buffer[] | undefined;
  private headerLen = 0;
  private headerStart = 0;
  /** The leaf part whose body is being counted. */
  private current: ScannedPart | undefined;
  /** The line end of the last whole line counted in it (it belongs to a boundary line that follows). */
  private lastLineEnd = 0;
  /** The last piece counted ended in a CR. */
  private crPending = false;
  /** The last piece counted ended mid-line, so `=` in this one continue its padding. */
  private eqRun = false;
  /** The header line being read has had a byte other than its line end in an earlier piece. */
  private headerLineText = false;

  constructor(boundary: string) {
    this.boundaries.push(`--${boundary}`);
  }

  push(b: Buffer): void {
    let off = 0;
    while (off < b.length) {
      const lf = b.indexOf(LF, off);
      const end = lf < 0 ? b.length : lf + 1;
      const whole = lf >= 0;
      if (this.header) this.headerLine(b, off, end, whole);
      else if (this.dash || (this.atLineStart && b[off] === DASH)) this.dashLine(b, off, end, whole);
      else this.count(b, off, end, whole);
      this.offset += end - off;
      this.atLineStart = whole;
      off = end;
    }
  }

  /** The end of the message: a part still open ends here, a last line that began with `-` counted in it. */
  end(): void {
    if (this.dash) this.flushDash(false);
    this.current = undefined;
  }

  /** Counts a piece of the current part's body: its size, its payload without line ends, its closing `=`. */
  private count(b: Buffer, start: number, end: number, whole: boolean): void {
    const p = this.current;
    if (!p) return;
    p.size += end - start;
    let stop = end;
    if (whole) stop--;
    // a CR that ended the piece before: a line end if this piece starts the LF after it
    let lineEnd = whole ? 1 : 0;
    if (whole && stop === start && this.crPending) lineEnd = 2;
    else {
      // the CR that ended the last piece was not a line end's: payload
      if (this.crPending) p.payload++;
      if (whole && stop > start && b[stop - 1] === CR) {
        stop--;
        lineEnd = 2;
      }
    }
    this.crPending = !whole && end > start && b[end - 1] === CR;
    if (this.crPending) stop--;
    this.lastLineEnd = lineEnd;
    p.payload += stop - start;
    if (stop > start) {
      let eq = 0;
      while (eq < stop - start && b[stop - 1 - eq] === 0x3d) eq++;
      // padding split between pieces (`==` as `=` and `=`) adds up
      p.padding = eq === stop - start && this.eqRun ? p.padding + eq : eq;
      this.eqRun = !whole;
    } else if (whole) this.eqRun = false;
  }

  private dashLine(b: Buffer, start: number, end: number, whole: boolean): void {
    // kept (copied) past this chunk until the line ends
    (this.dash ??= []).push(whole ? b.subarray(start, end) : Buffer.from(b.subarray(start, end)));
    this.dashLen += end - start;
    if (!whole) {
      if (this.dashLen > MAX_DASH_LINE) this.flushDash(false);
      return;
    }
    const line = this.dash.length === 1 ? this.dash[0]! : Buffer.concat(this.dash);
    this.dash = undefined;
    this.dashLen = 0;
    const text = line.toString('latin1').replace(/[ \t]*\r?\n$/, '');
    for (const d of this.boundaries) {
      if (text === d || text === `${d}--`) {
        this.partEnds();
        // a part's header block follows a boundary line; nothing follows a closing one but the epilogue
        if (text === d && this.parts.length < MAX_PARTS) {
          this.header = [];
          this.headerLen = 0;
          this.headerStart = this.offset + (end - start);
        }
        return;
      }
    }
    this.count(line, 0, line.length, true);
  }

  /** A line that began with `-` and grew too long to be a boundary line, or the message ended in it: body bytes. */
  private flushDash(whole: boolean): void {
    const line = Buffer.concat(this.dash!);
    this.dash = undefined;
    this.dashLen = 0;
    this.count(line, 0, line.length, whole);
  }

  /** The current part ends before the line end that precedes a boundary line, which belongs to the boundary (RFC 2046 §5.1.1). */
  private partEnds(): void {
    const p = this.current;
    if (p) p.size = Math.max(0, p.size - this.lastLineEnd);
    this.current = undefined;
    this.lastLineEnd = 0;
    this.crPending = false;
  }

  private headerLine(b: Buffer, start: number, end: number, whole: boolean): void {
    const len = end - start;
    if (this.headerLen + len <= MAX_PART_HEADER) this.header!.push(Buffer.from(b.subarray(start, end)));
    this.headerLen += len;
    // an empty line (only its line end, perhaps split between pieces) closes the header block
    let text = this.headerLineText;
    for (let i = start; i < end && !text; i++) text = b[i] !== CR && b[i] !== LF;
    if (!whole) {
      this.headerLineText = text;
      return;
    }
    this.headerLineText = false;
    if (text) return;
    const headers = parseHeaders(Buffer.concat(this.header!));
    this.header = undefined;
    const boundary = multipartBoundary(headers);
    if (boundary !== undefined && this.boundaries.length < MAX_BOUNDARIES) this.boundaries.push(`--${boundary}`);
    const p: ScannedPart = { headers, headerStart: this.headerStart, bodyStart: this.offset + len, size: 0, payload: 0, padding: 0, container: boundary !== undefined };
    this.parts.push(p);
    this.current = p.container ? undefined : p;
    this.lastLineEnd = 0;
    this.crPending = false;
  }
}
