/**
 * An Internet message as an SMTP client sends it (RFC 5322): header fields,
 * a blank line, the body. Kept bounded as it streams in (the header block up
 * to `maxHeader` bytes, the body up to `maxBody`), parsed when it ends: fields
 * unfolded, names lower-cased, each name with its values in order (as HTTP
 * headers are), RFC 2047 encoded words decoded so that a name or address
 * written `=?UTF-8?B?...?=` is scanned as the text it is.
 */
import { BodyCapture, bodyView } from '../body.js';
import { parseHeaders } from './headers.js';
import { PartScanner } from './late-parts.js';
import { MAX_PARTS, mimeParts, multipartBoundary, partSize, unkeptPart, type MimePart } from './mime.js';

export interface ParsedMessage {
  /** Bytes of the message as delivered (after dot-unstuffing). */
  size: number;
  headers: Record<string, string[]>;
  body: Record<string, unknown>;
  /** The header block was longer than kept: fields after the cut are missing. */
  headersCut?: true;
  /** MIME: the leaf parts, their transfer encodings undone (mime.ts); then `body` is its size alone. */
  parts?: MimePart[];
}

export class MessageCapture {
  size = 0;
  private head: Buffer[] = [];
  private headLen = 0;
  /** The header block has ended: what comes is body. */
  private inBody = false;
  private body: BodyCapture;
  /** The last bytes of the head, to find a blank line split between pieces. */
  private tail = '';
  headersCut = false;
  /** The header fields, parsed once the header block has ended (nothing is added to it after). */
  private headers: Record<string, string[]> | undefined;
  /** A multipart body's boundary, from those fields. */
  private boundary: string | undefined;
  /** A multipart body longer than kept: its parts past the kept bytes are found by their boundary lines. */
  private scanner: PartScanner | undefined;

  constructor(
    private readonly maxHeader: number,
    private readonly maxBody: number,
  ) {
    this.body = new BodyCapture(maxBody);
  }

  add(buf: Buffer, start: number, end: number): void {
    this.size += end - start;
    const piece = buf.subarray(start, end);
    if (this.inBody) {
      this.bodyPiece(piece);
      return;
    }
    // the header block ends at its first empty line; the last bytes of what came before are looked at
    // too, for a blank line split between pieces
    const text = this.tail + piece.toString('latin1');
    const at = blankLineEnd(text, this.headLen === 0 && this.tail === '');
    if (at < 0) {
      this.keepHead(piece);
      this.tail = text.slice(-3);
      return;
    }
    const h = Math.max(0, Math.min(piece.length, at - this.tail.length));
    this.keepHead(piece.subarray(0, h));
    this.inBody = true;
    this.headers = parseHeaders(Buffer.concat(this.head));
    this.boundary = multipartBoundary(this.headers);
    this.bodyPiece(piece.subarray(h));
  }

  private bodyPiece(piece: Buffer): void {
    if (this.scanner) {
      this.scanner.push(piece);
      this.body.size += piece.length;
      return;
    }
    this.body.add(piece);
    if (this.body.truncated && this.boundary !== undefined && this.body.size > this.maxBody) {
      // past the bytes kept: from here on the body is read for its parts' boundaries and headers only
      this.scanner = new PartScanner(this.boundary);
      this.scanner.push(this.body.bytes());
      this.scanner.push(piece.subarray(piece.length - (this.body.size - this.maxBody)));
    }
  }

  private keepHead(b: Buffer): void {
    const room = this.maxHeader - this.headLen;
    if (room <= 0) {
      if (b.length) this.headersCut = true;
      return;
    }
    const take = b.length <= room ? b : b.subarray(0, room);
    if (take.length < b.length) this.headersCut = true;
    this.head.push(Buffer.from(take));
    this.headLen += take.length;
  }

  parse(): ParsedMessage {
    const headers = this.headers ?? parseHeaders(Buffer.concat(this.head));
    const bodyInfo = this.inBody ? (bodyView(this.body, undefined, undefined, this.maxBody) as unknown as Record<string, unknown>) : { size: 0 };
    const out: ParsedMessage = { size: this.size, headers, body: bodyInfo };
    if (this.inBody && this.body.size > 0) {
      const parts = mimeParts(headers, this.body.bytes(), this.body.truncated, this.maxBody);
      if (parts && this.scanner) this.unkeptParts(parts);
      if (parts) {
        // the decoded parts are what is read: the body stays as its size, not scanned twice
        out.parts = parts;
        delete bodyInfo.content;
      }
    }
    if (this.headersCut) out.headersCut = true;
    return out;
  }

  /** The leaf parts whose bodies begin past the bytes kept, after those read from the kept bytes. */
  private unkeptParts(parts: MimePart[]): void {
    const s = this.scanner!;
    s.end();
    const leaves = s.parts.filter((p) => !p.container);
    // the part the kept bytes cut inside its body: its whole size, from the scanner
    const cut = leaves.filter((p) => p.bodyStart <= this.maxBody).pop();
    const last = parts[parts.length - 1];
    if (cut && last?.body.truncated && last.headers['content-type']?.[0] === cut.headers['content-type']?.[0]) {
      last.body.size = partSize(cut.headers, cut.size, cut.payload, cut.padding);
    }
    let first = true;
    for (const p of leaves) {
      if (p.bodyStart <= this.maxBody) continue;
      // the part cut inside its header block was read from the kept bytes without its fields: this is it whole
      if (first && p.headerStart < this.maxBody && parts.length && parts[parts.length - 1]!.body.size === 0) parts.pop();
      first = false;
      if (parts.length >= MAX_PARTS) break;
      parts.push(unkeptPart(p.headers, p.size, p.payload, p.padding));
    }
  }
}

/** The offset just after the first empty line of `text` (a message that starts with one has no fields), or -1. */
function blankLineEnd(text: string, atStart: boolean): number {
  if (atStart && text.startsWith('\r\n')) return 2;
  if (atStart && text.startsWith('\n')) return 1;
  const crlf = text.indexOf('\r\n\r\n');
  const lf = text.indexOf('\n\n');
  if (crlf < 0) return lf < 0 ? -1 : lf + 2;
  return lf >= 0 && lf < crlf ? lf + 2 : crlf + 4;
}
