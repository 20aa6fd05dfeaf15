/**
 * HTTP/1.x message heads: the start line and the header fields, parsed from
 * one Buffer region (latin1, as RFC 9112 treats field bytes).
 */

export type Headers = Record<string, string[]>;

export interface RequestHead {
  method: string;
  target: string;
  version: string;
  headers: Headers;
}

export interface ResponseHead {
  version: string;
  status: number;
  reason: string;
  headers: Headers;
}

const CR = 0x0d;
const LF = 0x0a;

/**
 * Offset just past the blank line ending a head that starts at `from`, or -1.
 * Accepts CRLF CRLF and the bare-LF forms lenient servers and clients send.
 */
export function findHeadEnd(buf: Buffer, from: number): number {
  let i = buf.indexOf(LF, from);
  while (i !== -1) {
    // i is a LF; the head ends if the next line is empty.
    const n = i + 1;
    if (n < buf.length && buf[n] === LF) return n + 1;
    if (n + 1 < buf.length && buf[n] === CR && buf[n + 1] === LF) return n + 2;
    if (n >= buf.length || (n + 1 >= buf.length && buf[n] === CR)) return -1;
    i = buf.indexOf(LF, n);
  }
  return -1;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const LENIENT_VERSION = /^HTTP\/\d(\.\d?)?$/;

/** Methods recognised even without a version on the request line (RFC 9110, WebDAV, common extensions). */
export const KNOWN_METHODS = new Set([
  'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH',
  'PROPFIND', 'PROPPATCH', 'MKCOL', 'COPY', 'MOVE', 'LOCK', 'UNLOCK', 'SEARCH', 'REPORT',
  'MKCALENDAR', 'ACL', 'BIND', 'UNBIND', 'REBIND', 'MERGE', 'CHECKOUT', 'CHECKIN', 'UPDATE',
  'LABEL', 'MKACTIVITY', 'MKWORKSPACE', 'VERSION-CONTROL', 'BASELINE-CONTROL', 'ORDERPATCH',
  'NOTIFY', 'SUBSCRIBE', 'UNSUBSCRIBE', 'M-SEARCH', 'PURGE', 'LINK', 'UNLINK', 'CCM_POST',
]);

function splitLines(text: string): string[] {
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    if (l.length && l.charCodeAt(l.length - 1) === 13) lines[i] = l.slice(0, -1);
  }
  return lines;
}

function parseFields(lines: string[], from: number): Headers | null {
  const headers: Headers = Object.create(null);
  let last: string[] | null = null;
  for (let i = from; i < lines.length; i++) {
    const line = lines[i];
    if (line === '') continue;
    const c0 = line.charCodeAt(0);
    if ((c0 === 32 || c0 === 9) && last) {
      // obs-fold: a continuation of the previous field value
      last[last.length - 1] += ' ' + line.trim();
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) return null;
    const name = line.slice(0, colon).toLowerCase();
    if (!TOKEN.test(name)) return null;
    const value = line.slice(colon + 1).trim();
    last = headers[name] ??= [];
    last.push(value);
  }
  return headers;
}

/**
 * Request line and fields. Lenient the way servers are: a missing or odd
 * version ("GET /", "GET / HTTP/1.") still makes a request when the method
 * is a token, since servers answer such lines and the exchange matters.
 */
export function parseRequestHead(buf: Buffer, start: number, end: number): RequestHead | null {
  const lines = splitLines(buf.toString('latin1', start, end));
  const first = lines[0];
  const a = first.indexOf(' ');
  const method = a === -1 ? first : first.slice(0, a);
  if (!TOKEN.test(method)) return null;
  let target = '';
  let version = '';
  if (a !== -1) {
    const rest = first.slice(a + 1);
    const b = rest.lastIndexOf(' ');
    const tail = b === -1 ? '' : rest.slice(b + 1);
    if (b !== -1 && LENIENT_VERSION.test(tail)) {
      target = rest.slice(0, b);
      version = tail.slice(5);
    } else {
      target = rest;
    }
  } else if (!KNOWN_METHODS.has(method)) {
    return null;
  }
  const headers = parseFields(lines, 1);
  if (!headers) return null;
  return { method, target, version, headers };
}

export function parseResponseHead(buf: Buffer, start: number, end: number): ResponseHead | null {
  const lines = splitLines(buf.toString('latin1', start, end));
  const first = lines[0];
  const m = /^(HTTP\/\d\.\d) (\d{3})(?: (.*))?$/.exec(first);
  if (!m) return null;
  const headers = parseFields(lines, 1);
  if (!headers) return null;
  return { version: m[1].slice(5), status: Number(m[2]), reason: m[3] ?? '', headers };
}

export function header(h: Headers, name: string): string | undefined {
  const v = h[name];
  return v === undefined ? undefined : v[v.length - 1];
}

/** True if a comma-separated header contains `token` (case-insensitive). */
export function headerHasToken(h: Headers, name: string, token: string): boolean {
  const v = h[name];
  if (!v) return false;
  for (const item of v) {
    for (const part of item.split(',')) if (part.trim().toLowerCase() === token) return true;
  }
  return false;
}

const METHOD_START = /^[A-Z][A-Z0-9\-_]{1,19} \S* ?HTTP\/\d(\.\d?)?\r?$/;
const STATUS_START = /^HTTP\/\d\.\d \d{3}(?: [^\r\n]*)?\r?$/;

/** Could `line` (without LF) be the start line of a request / response? Used to detect and resync. */
export function looksLikeRequestLine(line: string): boolean {
  if (METHOD_START.test(line)) return true;
  // A known method with a target but no version ("GET /x"), as lenient servers accept.
  const sp = line.indexOf(' ');
  if (sp === -1) return KNOWN_METHODS.has(line.replace(/\r$/, ''));
  return sp > 0 && KNOWN_METHODS.has(line.slice(0, sp)) && !/\s/.test(line.slice(sp + 1).replace(/\r$/, ''));
}

export function looksLikeStatusLine(line: string): boolean {
  return STATUS_START.test(line);
}
