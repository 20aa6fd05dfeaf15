/**
 * An Internet message as an SMTP client sends it (RFC 5322): header fields,
 * a blank line, the body. Kept bounded as it streams in (the header block up
 * to `maxHeader` bytes, the body up to `maxBody`), parsed when it ends: fields
 * unfolded, names lower-cased, each name with its values in order (as HTTP
 * headers are), RFC 2047 encoded words decoded so that a name or address
 * written `=?UTF-8?B?...?=` is scanned as the text it is.
 */
import { isUtf8 } from 'node:buffer';
import { setOwn } from '@panopticon/events';
import { BodyCapture, bodyView } from '../body.js';

export interface ParsedMessage {
  /** Bytes of the message as delivered (after dot-unstuffing). */
  size: number;
  headers: Record<string, string[]>;
  body: Record<string, unknown>;
  /** The header block was longer than kept: fields after the cut are missing. */
  headersCut?: true;
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
      this.body.add(piece);
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
    this.body.add(piece.subarray(h));
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
    const raw = Buffer.concat(this.head);
    const head = raw.toString(isUtf8(raw) ? 'utf8' : 'latin1');
    const headers: Record<string, string[]> = {};
    // unfold (a line starting with white space continues the field before it), then split name: value
    const lines = head.split(/\r?\n/);
    let name = '';
    let value = '';
    const flush = () => {
      if (!name) return;
      const v = decodeWords(value.trim());
      const seen = headers[name];
      if (Array.isArray(seen)) seen.push(v);
      else setOwn(headers, name, [v]);
      name = '';
    };
    for (const line of lines) {
      if (line === '') continue;
      if ((line[0] === ' ' || line[0] === '\t') && name) {
        value += ' ' + line.trim();
        continue;
      }
      flush();
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      name = line.slice(0, colon).trim().toLowerCase();
      value = line.slice(colon + 1);
    }
    flush();
    const bodyInfo = this.inBody ? (bodyView(this.body, undefined, undefined, this.maxBody) as unknown as Record<string, unknown>) : { size: 0 };
    const out: ParsedMessage = { size: this.size, headers, body: bodyInfo };
    if (this.headersCut) out.headersCut = true;
    return out;
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

const ENCODED_WORD = /=\?([^?\s]+)\?([BbQq])\?([^?\s]*)\?=/g;

/** RFC 2047: encoded words decoded (UTF-8, Latin-1 and ASCII); the white space between two of them goes. */
export function decodeWords(v: string): string {
  if (!v.includes('=?')) return v;
  return v.replace(/(\?=)\s+(=\?)/g, '$1$2').replace(ENCODED_WORD, (whole, charset: string, enc: string, text: string) => {
    const cs = charset.toLowerCase().split('*')[0];
    const encoding = cs === 'utf-8' || cs === 'utf8' ? 'utf8' : cs === 'iso-8859-1' || cs === 'latin1' || cs === 'us-ascii' ? 'latin1' : undefined;
    if (!encoding) return whole;
    let bytes: Buffer;
    if (enc === 'B' || enc === 'b') bytes = Buffer.from(text, 'base64');
    else bytes = Buffer.from(text.replace(/_/g, ' ').replace(/=([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1');
    return bytes.toString(encoding);
  });
}
