/**
 * MIME (RFC 2045-2047): a message's body as the parts its readers see. A
 * multipart body is split at its boundary lines (nested multiparts too, up to
 * MAX_DEPTH), and each leaf part's transfer encoding (base64,
 * quoted-printable) is undone, so that what a mail says is scanned as text:
 * base64 hides every character from a pattern, and quoted-printable breaks
 * `=` and long lines. Text parts (text/*, message/*, JSON, XML) get their
 * text in their charset (UTF-8, ISO-8859-1, ASCII; others read as UTF-8);
 * other parts (an image, a PDF) get their size and file name only.
 */
import { headerParameters, parseHeaders } from './headers.js';

export interface MimePart {
  headers: Record<string, string[]>;
  body: { size: number; content?: string; truncated?: true; content_encoding?: string };
  filename?: string;
}

/** Parts kept per message; nested multiparts followed this deep. */
export const MAX_PARTS = 64;
const MAX_DEPTH = 4;
const TEXTUAL = /^(?:text\/|message\/|application\/(?:json|xml|[^;]*\+(?:json|xml)))/i;

/** A header value's parameter (`boundary`, `charset`, `filename`, `name`), RFC 2231 and 2047 decoded (headerParameters). */
function param(value: string | undefined, name: string): string | undefined {
  if (!value || !value.includes(';')) return undefined;
  const ps = headerParameters(value);
  return Object.hasOwn(ps, name) ? ps[name] : undefined;
}

/** Quoted-printable (RFC 2045 §6.7): soft line breaks joined, =XX octets decoded. */
export function decodeQuotedPrintable(s: string): Buffer {
  const out: number[] = [];
  const text = s.replace(/=\r?\n/g, '');
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x3d && /^[0-9A-Fa-f]{2}$/.test(text.slice(i + 1, i + 3))) {
      out.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else out.push(c & 0xff);
  }
  return Buffer.from(out);
}

function decodeBody(raw: Buffer, encoding: string): Buffer {
  if (encoding === 'base64') return Buffer.from(raw.toString('latin1').replace(/[^A-Za-z0-9+/=]/g, ''), 'base64');
  if (encoding === 'quoted-printable') return decodeQuotedPrintable(raw.toString('latin1'));
  return raw;
}

function leaf(headers: Record<string, string[]>, raw: Buffer, truncated: boolean, maxBody: number): MimePart {
  const type = headers['content-type']?.[0] ?? 'text/plain';
  const encoding = (headers['content-transfer-encoding']?.[0] ?? '').trim().toLowerCase();
  const bytes = decodeBody(raw, encoding);
  const body: MimePart['body'] = { size: bytes.length };
  if (encoding === 'base64' || encoding === 'quoted-printable') body.content_encoding = encoding;
  if (TEXTUAL.test(type)) {
    const charset = (param(type, 'charset') ?? 'utf-8').toLowerCase();
    const latin1 = charset === 'iso-8859-1' || charset === 'latin1' || charset === 'us-ascii' || charset === 'windows-1252';
    const kept = bytes.length > maxBody ? bytes.subarray(0, maxBody) : bytes;
    body.content = kept.toString(latin1 ? 'latin1' : 'utf8');
    if (kept.length < bytes.length) body.truncated = true;
  }
  if (truncated) body.truncated = true;
  const part: MimePart = { headers, body };
  const filename = param(headers['content-disposition']?.[0], 'filename') ?? param(type, 'name');
  if (filename !== undefined) part.filename = filename;
  return part;
}

/**
 * A leaf part that began past the body bytes kept (late-parts.ts): its header fields and file name,
 * and its size (decoded for base64, which attachments are sent in; as sent otherwise), none of it kept.
 */
export function unkeptPart(headers: Record<string, string[]>, sent: number, payload: number, padding: number): MimePart {
  const encoding = (headers['content-transfer-encoding']?.[0] ?? '').trim().toLowerCase();
  const body: MimePart['body'] = { size: partSize(headers, sent, payload, padding), truncated: true };
  if (encoding === 'base64' || encoding === 'quoted-printable') body.content_encoding = encoding;
  const part: MimePart = { headers, body };
  const filename = param(headers['content-disposition']?.[0], 'filename') ?? param(headers['content-type']?.[0], 'name');
  if (filename !== undefined) part.filename = filename;
  return part;
}

/** A part's size from its bytes as sent: decoded for base64 (its characters without line ends, less its `=` padding), as sent otherwise. */
export function partSize(headers: Record<string, string[]>, sent: number, payload: number, padding: number): number {
  const encoding = (headers['content-transfer-encoding']?.[0] ?? '').trim().toLowerCase();
  return encoding === 'base64' ? Math.max(0, Math.floor((payload * 3) / 4) - padding) : sent;
}

/** The boundary of a multipart body, or undefined. */
export function multipartBoundary(headers: Record<string, string[]>): string | undefined {
  const type = headers['content-type']?.[0] ?? '';
  return /^multipart\//i.test(type) ? param(type, 'boundary') : undefined;
}

/** The parts between a multipart body's boundary lines (the preamble and epilogue left out). */
function splitParts(raw: Buffer, boundary: string): Array<{ bytes: Buffer; closed: boolean }> {
  const text = raw.toString('latin1');
  const delimiter = `--${boundary}`;
  const out: Array<{ bytes: Buffer; closed: boolean }> = [];
  let at = text.startsWith(delimiter) ? 0 : text.indexOf(`\n${delimiter}`);
  if (at < 0) return out;
  if (at > 0) at += 1;
  while (at >= 0 && out.length < MAX_PARTS) {
    const lineEnd = text.indexOf('\n', at);
    if (text.startsWith(`${delimiter}--`, at) || lineEnd < 0) break;
    const start = lineEnd + 1;
    const next = text.indexOf(`\n${delimiter}`, start);
    // the line end before a delimiter belongs to the delimiter (RFC 2046 §5.1.1)
    const end = next < 0 ? text.length : next > start && text[next - 1] === '\r' ? next - 1 : next;
    out.push({ bytes: raw.subarray(start, end), closed: next >= 0 });
    at = next < 0 ? -1 : next + 1;
  }
  return out;
}

/**
 * The leaf parts of a body whose headers are `headers`, or undefined when it is one plain part
 * with nothing to undo (read as it is). `truncated`: the body was kept shorter than it was.
 */
export function mimeParts(headers: Record<string, string[]>, raw: Buffer, truncated: boolean, maxBody: number, depth = 0, out: MimePart[] = []): MimePart[] | undefined {
  const type = headers['content-type']?.[0] ?? '';
  const boundary = /^multipart\//i.test(type) ? param(type, 'boundary') : undefined;
  if (boundary && depth < MAX_DEPTH) {
    for (const p of splitParts(raw, boundary)) {
      if (out.length >= MAX_PARTS) break;
      const text = p.bytes.toString('latin1');
      const blank = /\r?\n\r?\n/.exec(text);
      const startsBlank = /^\r?\n/.exec(text);
      const headEnd = startsBlank ? 0 : blank ? blank.index : text.length;
      const bodyStart = startsBlank ? startsBlank[0].length : blank ? blank.index + blank[0].length : text.length;
      const partHeaders = parseHeaders(p.bytes.subarray(0, headEnd));
      mimeParts(partHeaders, p.bytes.subarray(bodyStart), truncated && !p.closed, maxBody, depth + 1, out);
    }
    return out;
  }
  const encoding = (headers['content-transfer-encoding']?.[0] ?? '').trim().toLowerCase();
  if (depth === 0 && encoding !== 'base64' && encoding !== 'quoted-printable') return undefined;
  out.push(leaf(headers, raw, truncated, maxBody));
  return out;
}
