/**
 * Structured views of text bodies: a JSON document, an
 * application/x-www-form-urlencoded string or a multipart/form-data body (by
 * its Content-Type) is walked value by value so a hit carries its inner path
 * (`$.user.email`, `$.items[2].phone`, `$.email`), and can be written back
 * after redaction.
 */

import { adoptNumberTexts, mayHaveInexactFractions, parseJsonPrefix, serialiseJsonPrefix, stringifyExact, type JsonPrefix } from './json-prefix.js';

export type Body = JsonBody | { kind: 'form'; pairs: Array<[string, string]>; raw: string[] } | MultipartBody | StreamBody;

/**
 * A text holding JSON documents among other text: NDJSON (a document per line), a Server-Sent
 * Events stream (RFC 8895-era `text/event-stream`: a document per `data:` line, as streaming APIs
 * send them), or a Socket.IO packet (`42["chat",{...}]`: a packet type, then a JSON array). `pieces`
 * joined in order are the text; `docs[i]` says piece i is a whole JSON object or array, walked as a
 * document at `$[n]` (the n-th document); the other pieces are scanned as the text they are. A piece
 * is replaced by its redacted text, or set to null to leave it out (--redact drop): each line of an
 * event stream, and each line ending, is a piece of its own, so a dropped line leaves the rest framed.
 */
export interface StreamBody {
  kind: 'stream';
  pieces: Array<string | null>;
  offsets: number[];
  docs: boolean[];
}

/** Pieces read from one streamed body; what follows is one piece scanned as text. */
export const MAX_STREAM_PIECES = 8192;

export interface JsonBody {
  kind: 'json';
  doc: unknown;
  /** When JSON.parse rejected the text and its valid beginning was parsed (json-prefix.ts). */
  prefix?: JsonPrefix;
  /** The body's text, as it came. */
  text: string;
  /** Every number JSON.parse could not hold as written holds its text (a JsonNumber): see keepNumberTexts. */
  numbersKept?: boolean;
  /** The walk met a number that is no integer (whose digits a double may not all hold). */
  fractions?: boolean;
  /** The document holds a JsonNumber: written back with stringifyExact. */
  hasNumberTexts?: boolean;
}

const FORM_RE = /^[A-Za-z0-9_.%*+~\-[\]]{1,256}=[^&\s]*(?:&[A-Za-z0-9_.%*+~\-[\]]{1,256}=?[^&\s]*){0,4096}$/;

function decodeForm(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

/** Parse a body's text as JSON (object/array), a stream of JSON documents, or a form; undefined for anything else. */
export function parseBody(text: string): Body | undefined {
  let i = 0;
  while (i < text.length && (text.charCodeAt(i) === 32 || text.charCodeAt(i) === 10 || text.charCodeAt(i) === 13 || text.charCodeAt(i) === 9)) i++;
  const c = text.charCodeAt(i);
  if (c === 123 || c === 91) {
    try {
      return { kind: 'json', doc: JSON.parse(text), text };
    } catch {
      // a document per line (NDJSON), or one cut at --max-body or with something after it: walk what
      // is whole (a cut document's numbers as written)
      const lines = parseNdjson(text);
      if (lines) return lines;
      const prefix = parseJsonPrefix(text);
      return prefix && { kind: 'json', doc: prefix.doc, prefix, text, numbersKept: true };
    }
  }
  if (c >= 48 && c <= 57) {
    const packet = parseSocketIo(text);
    if (packet) return packet;
  } else if (SSE_START.test(text)) {
    const events = parseEventStream(text);
    if (events) return events;
  }
  if (text.length > 0 && text.length < 1 << 20 && FORM_RE.test(text)) return parseForm(text);
  return undefined;
}

/** A whole JSON object or array in `text[from, to)` (white space around it allowed), else false. */
function isJsonDoc(text: string, from: number, to: number): boolean {
  while (from < to && /\s/.test(text[from]!)) from++;
  while (to > from && /\s/.test(text[to - 1]!)) to--;
  const c = text.charCodeAt(from);
  if ((c !== 123 && c !== 91) || text.charCodeAt(to - 1) !== c + 2) return false;
  try {
    JSON.parse(text.slice(from, to));
    return true;
  } catch {
    return false;
  }
}

/** Adds `text[from, to)` to `b` as one piece (nothing when empty). */
function piece(b: StreamBody, text: string, from: number, to: number, doc: boolean): void {
  if (to <= from) return;
  b.pieces.push(text.slice(from, to));
  b.offsets.push(from);
  b.docs.push(doc);
}

/** Where the line starting at `from` ends (before its CR LF or LF), and where the next one starts. */
function lineAt(text: string, from: number): [end: number, next: number] {
  const lf = text.indexOf('\n', from);
  if (lf < 0) return [text.length, text.length];
  return [lf > from && text.charCodeAt(lf - 1) === 13 ? lf - 1 : lf, lf + 1];
}

/**
 * `text` cut line by line into a stream body, `line` adding each line's pieces (`at` its start, `end`
 * before its line ending, `next` the next line's start; false: the text is no such stream). Past
 * MAX_STREAM_PIECES the rest is one piece. Undefined unless it holds `minDocs` documents.
 */
function byLines(text: string, minDocs: number, line: (b: StreamBody, at: number, end: number, next: number) => boolean): StreamBody | undefined {
  const b: StreamBody = { kind: 'stream', pieces: [], offsets: [], docs: [] };
  for (let at = 0; at < text.length; ) {
    if (b.pieces.length >= MAX_STREAM_PIECES) {
      piece(b, text, at, text.length, false);
      break;
    }
    const [end, next] = lineAt(text, at);
    if (!line(b, at, end, next)) return undefined;
    at = next;
  }
  let docs = 0;
  for (const d of b.docs) if (d) docs++;
  return docs >= minDocs ? b : undefined;
}

/**
 * NDJSON / JSON Lines: two or more lines that are each a whole JSON document (blank lines allowed,
 * the last one may be cut at --max-body, kept as text), else undefined.
 */
function parseNdjson(text: string): StreamBody | undefined {
  return byLines(text, 2, (b, at, end, next) => {
    const doc = isJsonDoc(text, at, end);
    // a line that is no document is one only at the end (cut there) or when blank
    if (!doc && next < text.length && text.slice(at, end).trim() !== '') return false;
    piece(b, text, at, end, doc);
    piece(b, text, end, next, false);
    return true;
  });
}

/** A Server-Sent Events stream starts with a field line or a comment (WHATWG HTML §9.2.6). */
const SSE_START = /^(?:\uFEFF)?(?:data|event|id|retry)?:/;

/**
 * An event stream (text/event-stream): each line a piece, and each `data:` line whose value is a whole
 * JSON document split into its field name, the document, and the line ending. Undefined when no data
 * line holds a document (it is scanned as text, as before).
 */
function parseEventStream(text: string): StreamBody | undefined {
  return byLines(text, 1, (b, at, end, next) => {
    const value = text.startsWith('data:', at) ? at + (text.charCodeAt(at + 5) === 32 ? 6 : 5) : -1;
    if (value >= 0 && isJsonDoc(text, value, end)) {
      piece(b, text, at, value, false);
      piece(b, text, value, end, true);
      piece(b, text, end, next, false);
    } else {
      piece(b, text, at, next, false);
    }
    return true;
  });
}

/** A Socket.IO packet's head: digits (the Engine.IO and Socket.IO packet types, an ack id), an optional namespace. */
const SOCKET_IO_HEAD = /^\d{1,3}(?:\/[^,[{"\s\x1e]{0,256},)?\d{0,20}(?=[[{])/;

/**
 * Socket.IO over Engine.IO: a packet (`42["chat",{...}]`, `431["ack",...]`, `42/admin,["x"]`, `0{"sid":…}`)
 * is its head, then a JSON array or object to its end; an HTTP long-polling payload joins several
 * with the record separator 0x1e (Engine.IO 4). Every packet must be one, else undefined.
 */
function parseSocketIo(text: string): StreamBody | undefined {
  const b: StreamBody = { kind: 'stream', pieces: [], offsets: [], docs: [] };
  for (let at = 0; at < text.length; ) {
    if (b.pieces.length >= MAX_STREAM_PIECES) {
      piece(b, text, at, text.length, false);
      break;
    }
    const sep = text.indexOf('\x1e', at);
    const end = sep < 0 ? text.length : sep;
    const m = SOCKET_IO_HEAD.exec(text.slice(at, Math.min(end, at + 300)));
    if (!m || !isJsonDoc(text, at + m[0].length, end)) return undefined;
    piece(b, text, at, at + m[0].length, false);
    piece(b, text, at + m[0].length, end, true);
    piece(b, text, end, sep < 0 ? end : sep + 1, false);
    at = sep < 0 ? text.length : sep + 1;
  }
  return b.pieces.length ? b : undefined;
}

export function parseForm(text: string): Body {
  const raw = text.split('&');
  const pairs: Array<[string, string]> = raw.map((p) => {
    const eq = p.indexOf('=');
    return eq === -1 ? [decodeForm(p), ''] : [decodeForm(p.slice(0, eq)), decodeForm(p.slice(eq + 1))];
  });
  return { kind: 'form', pairs, raw };
}

const segments = new Map<string, string>();

/**
 * Path segment for an object key: `.key` when plain, `["k.e y"]` (JSON string) otherwise.
 * Cached like hintsFor: keys repeat across events, and the regex per key was
 * ~3% of the event path on the corpus captures.
 */
export function keySegment(key: string): string {
  let seg = segments.get(key);
  if (seg !== undefined) return seg;
  seg = /^[A-Za-z0-9_][A-Za-z0-9_-]*$/.test(key) ? '.' + key : '[' + JSON.stringify(key) + ']';
  if (segments.size < 10_000) segments.set(key, seg);
  return seg;
}

/**
 * Makes the numbers of a body JSON.parse read hold their text where JSON.parse
 * could not hold them as written. An integer beyond 2^53 is rounded
 * (`6212345678901234569` becomes 6212345678901234000), so its digits would be
 * scanned wrong and a rewritten body would carry the rounded number (the first
 * 15 digits of a card left, an id changed); the walk says when it meets one
 * (`rounded`), before it scans it, and the text is parsed again at once. A
 * fraction may hold more digits than a double (`0.10000000000000000001`) or be
 * spelled otherwise (`1.50`); before a body with fractions (`fractions`, from
 * the walk) is rewritten, its text is searched for such a one first. Bodies
 * with neither, most of them, keep JSON.parse's document and JSON.stringify.
 * The texts go into the document in place, before redaction has renamed any
 * key. Idempotent.
 */
export function keepNumberTexts(b: JsonBody, rounded: boolean): void {
  if (b.numbersKept) return;
  b.numbersKept = true;
  if (!rounded && !(b.fractions && mayHaveInexactFractions(b.text))) return;
  const exact = parseJsonPrefix(b.text);
  if (exact && adoptNumberTexts(b.doc, exact.doc)) b.hasNumberTexts = true;
}

/**
 * Serialise a (possibly redacted) body back to text: JSON numbers as they came
 * (after keepNumberTexts), form pairs left untouched with their original bytes,
 * multipart pieces as they came or as redaction rewrote them.
 */
export function serialiseBody(b: Body, touched: Set<number>, dropped: Set<number>): string {
  if (b.kind === 'json') return b.prefix ? serialiseJsonPrefix(b.prefix) : b.hasNumberTexts ? stringifyExact(b.doc)! : JSON.stringify(b.doc);
  if (b.kind === 'stream') return b.pieces.filter((x) => x !== null).join('');
  if (b.kind === 'multipart') {
    // a dropped part goes whole (its delimiter line, headers and value): the parts around it stay well formed
    let out = '';
    for (let i = 0; i < b.pieces.length; i++) if (b.pieces[i] !== null && !dropped.has(b.partOf[i]!)) out += b.pieces[i];
    return out;
  }
  const parts: string[] = [];
  for (let i = 0; i < b.pairs.length; i++) {
    if (dropped.has(i)) continue;
    if (!touched.has(i)) parts.push(b.raw[i]!);
    else parts.push(encodeURIComponent(b.pairs[i]![0]) + '=' + encodeURIComponent(b.pairs[i]![1]));
  }
  return parts.join('&');
}

/**
 * A multipart/form-data body (RFC 7578, RFC 2046 §5.1) cut at its delimiters, so each field's value
 * can be scanned with the context of its name and written back in place. `pieces` joined in order are
 * the body's text: the preamble, then per part its head (the delimiter line and the part's header
 * lines, through the blank line) and its value, then the close delimiter and the epilogue. A piece is
 * replaced by its redacted text, or set to null to leave it out (--redact drop).
 */
export interface MultipartBody {
  kind: 'multipart';
  pieces: Array<string | null>;
  /** Per piece: the index of the part it belongs to, or -1 (preamble, close delimiter, epilogue). */
  partOf: number[];
  /** Per piece: its offset in the body's text. */
  offsets: number[];
  /** The piece that is the close delimiter, or -1. */
  close: number;
  parts: MultipartPart[];
}

export interface MultipartPart {
  /** The field's name when the part is a field's value (no filename, a text type, no transfer encoding), else undefined: its text is scanned as text. */
  name: string | undefined;
  /** Indexes of the part's head and value pieces (value -1 when the body was cut inside the head). */
  head: number;
  value: number;
  /** Where the name's text is in the head piece, and whether it is quoted (for renaming it). */
  nameStart: number;
  nameEnd: number;
  nameQuoted: boolean;
}

/** Parts read from one body; what follows is one piece scanned as text. */
export const MAX_MULTIPART_PARTS = 4096;
/** A part's header lines longer than this are not read: the part is scanned as text. */
const MAX_PART_HEADER = 16 * 1024;

/** The boundary of a multipart/form-data Content-Type (RFC 2046 §5.1.1: 1–70 characters), or undefined. */
export function formDataBoundary(contentType: string): string | undefined {
  if (!/^\s*multipart\/form-data\s*(?:;|$)/i.test(contentType)) return undefined;
  const m = /;\s*boundary\s*=\s*(?:"([^"\r\n]{1,70})"|([^;\s"]{1,70}))/i.exec(contentType);
  return m ? (m[1] ?? m[2]) : undefined;
}

/** The parameters of a Content-Disposition value after its type: name → [value, start, end, quoted] (start/end: the value's text, inside quotes). */
function dispositionParams(v: string, base: number): Map<string, [string, number, number, boolean]> {
  const out = new Map<string, [string, number, number, boolean]>();
  const re = /;\s*([A-Za-z0-9_*.-]{1,64})\s*=\s*(?:"((?:[^"\\\r\n]|\\[^\r\n])*)"|([^;\s"]*))/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(v)) !== null) {
    const k = m[1]!.toLowerCase();
    if (out.has(k)) continue;
    const quoted = m[2] !== undefined;
    const text = quoted ? m[2]! : m[3]!;
    const start = base + m.index + m[0].length - text.length - (quoted ? 1 : 0);
    out.set(k, [quoted ? text.replace(/\\(.)/g, '$1') : text, start, start + text.length, quoted]);
  }
  return out;
}

/** Reads a part's header lines (`head` is the text between the delimiter line's CRLF and the blank line): its field name, or undefined when its value is not a field's text. */
function partField(head: string, headOffset: number, part: MultipartPart): void {
  if (head.length > MAX_PART_HEADER) return;
  let name: [string, number, number, boolean] | undefined;
  let file = false;
  let text = true;
  let at = 0;
  for (const line of head.split('\r\n')) {
    const colon = line.indexOf(':');
    const field = colon > 0 ? line.slice(0, colon).trim().toLowerCase() : '';
    const value = line.slice(colon + 1);
    if (field === 'content-disposition') {
      if (!/^\s*form-data\s*(?:;|$)/i.test(value)) text = false;
      const params = dispositionParams(value, headOffset + at + colon + 1);
      name = params.get('name');
      // a file is what its client read from a file, whatever its type says: scanned as text
      if (params.has('filename') || params.has('filename*')) file = true;
    } else if (field === 'content-type') {
      // absent is text/plain (RFC 7578 §4.4); only text types are a field's text
      if (!/^\s*text\//i.test(value)) text = false;
    } else if (field === 'content-transfer-encoding') {
      if (!/^\s*(?:7bit|8bit|binary)\s*$/i.test(value)) text = false;
    }
    at += line.length + 2;
  }
  if (!name || file || !text) return;
  part.name = name[0];
  [, part.nameStart, part.nameEnd, part.nameQuoted] = name;
}

/**
 * `at` when a delimiter line starts there (`delim`, then `--`, or white space and CRLF, or the end of a
 * body cut there), else -1: a line that only starts with the boundary is content (RFC 2046 §5.1.1).
 */
function delimiterLine(text: string, delim: string, at: number): number {
  if (!text.startsWith(delim, at)) return -1;
  let i = at + delim.length;
  if (text.startsWith('--', i)) return at;
  while (text.charCodeAt(i) === 32 || text.charCodeAt(i) === 9) i++;
  return i >= text.length || text.startsWith('\r\n', i) ? at : -1;
}

/** Where the next delimiter (its CRLF) is from `from`, or -1. */
function nextDelimiter(text: string, delim: string, from: number): number {
  for (let i = text.indexOf('\r\n' + delim, from); i >= 0; i = text.indexOf('\r\n' + delim, i + 2)) {
    if (delimiterLine(text, delim, i + 2) >= 0) return i;
  }
  return -1;
}

/**
 * `text` as a multipart/form-data body with `boundary`, or undefined when it does not start as one (no
 * delimiter line first, after a preamble). A body cut at --max-body ends in its last part's head or
 * value. At most MAX_MULTIPART_PARTS parts are read; the rest is one piece.
 */
export function parseMultipart(text: string, boundary: string): MultipartBody | undefined {
  const delim = '--' + boundary;
  let pos = delimiterLine(text, delim, 0) === 0 ? 0 : nextDelimiter(text, delim, 0);
  if (pos < 0) return undefined;
  const b: MultipartBody = { kind: 'multipart', pieces: [], partOf: [], offsets: [], parts: [], close: -1 };
  const push = (from: number, to: number, part: number) => {
    b.pieces.push(text.slice(from, to));
    b.partOf.push(part);
    b.offsets.push(from);
  };
  if (pos > 0) push(0, pos, -1);
  for (;;) {
    const after = pos + (pos === 0 && text.startsWith(delim) ? 0 : 2) + delim.length;
    if (text.startsWith('--', after) || b.parts.length >= MAX_MULTIPART_PARTS) {
      // the close delimiter (or the parts past the bound), then the epilogue: text
      const end = b.parts.length >= MAX_MULTIPART_PARTS ? pos : after + 2;
      if (end > pos) {
        b.close = b.pieces.length;
        push(pos, end, -1);
      }
      if (end < text.length) push(end, text.length, -1);
      return b;
    }
    let eol = after;
    while (text.charCodeAt(eol) === 32 || text.charCodeAt(eol) === 9) eol++;
    const k = b.parts.length;
    const part: MultipartPart = { name: undefined, head: b.pieces.length, value: -1, nameStart: 0, nameEnd: 0, nameQuoted: false };
    b.parts.push(part);
    // a delimiter line not ending in CRLF, or headers with no blank line after them (a body cut there): the rest is the part's head, text
    const headersAt = text.startsWith('\r\n', eol) ? eol + 2 : -1;
    const blank = headersAt < 0 ? -1 : text.startsWith('\r\n', headersAt) ? headersAt : text.indexOf('\r\n\r\n', headersAt);
    if (blank < 0) {
      push(pos, text.length, k);
      return b;
    }
    const valueAt = blank === headersAt ? headersAt + 2 : blank + 4;
    partField(text.slice(headersAt, blank), headersAt - pos, part);
    push(pos, valueAt, k);
    const next = nextDelimiter(text, delim, valueAt);
    part.value = b.pieces.length;
    push(valueAt, next < 0 ? text.length : next, k);
    if (next < 0) return b;
    pos = next;
  }
}
