/**
 * HTTP/1.x message heads: the start line and the header fields, parsed from
 * one Buffer region (latin1, as RFC 9112 treats field bytes).
 */
import { sequential, setOwn } from '@panopticon/events';

export type Headers = Record<string, string[]>;

/** 1xx responses kept per exchange (HTTP/1.1 and HTTP/2); more are dropped and the event flagged `truncated`. */
export const MAX_INTERIM = 8;

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

/** RFC 9110 tchar, as a byte table. */
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") TCHAR[c.charCodeAt(0)] = 1;

/**
 * Header fields in buf[from, end): one pass over the bytes, one string per
 * name and per value (no intermediate line strings). Null when a line is not
 * a field (no colon, or a name that is not a token).
 */
function parseFields(buf: Buffer, from: number, end: number): Headers | null {
  // A plain object, not a prototype-less one: that is a dictionary, which keeps the whole event off
  // V8's JSON.stringify fast path (ADR 0007); HTTP/2's header maps are built the same way.
  const headers: Headers = {};
  let last: string[] | null = null;
  let i = from;
  while (i < end) {
    let lf = buf.indexOf(LF, i);
    if (lf === -1 || lf >= end) lf = end;
    let lineEnd = lf;
    if (lineEnd > i && buf[lineEnd - 1] === CR) lineEnd--;
    if (lineEnd > i) {
      const c0 = buf[i];
      if ((c0 === 32 || c0 === 9) && last) {
        // obs-fold: a continuation of the previous field value
        last[last.length - 1] += ' ' + buf.toString('latin1', i, lineEnd).trim();
      } else {
        let colon = i;
        let upper = false;
        for (; colon < lineEnd; colon++) {
          const c = buf[colon];
          if (c === 0x3a) break;
          if (TCHAR[c] === 0) return null;
          if (c >= 0x41 && c <= 0x5a) upper = true;
        }
        if (colon === i || colon === lineEnd) return null;
        const raw = buf.toString('latin1', i, colon);
        const name = upper ? raw.toLowerCase() : raw;
        let vs = colon + 1;
        let ve = lineEnd;
        while (vs < ve && (buf[vs] === 32 || buf[vs] === 9)) vs++;
        while (ve > vs && (buf[ve - 1] === 32 || buf[ve - 1] === 9)) ve--;
        const value = buf.toString('latin1', vs, ve);
        // Names come off the wire: `constructor` finds Object.prototype's member (never an array),
        // `__proto__` must be defined, not assigned (setOwn).
        const seen = headers[name];
        if (Array.isArray(seen)) (last = seen).push(value);
        else setOwn(headers, name, (last = [value]));
      }
    }
    i = lf + 1;
  }
  return headers;
}

/** The start line of a head: [text, offset where the fields begin]. */
function startLine(buf: Buffer, start: number, end: number): [string, number] {
  let lf = buf.indexOf(LF, start);
  if (lf === -1 || lf >= end) lf = end;
  const e = lf > start && buf[lf - 1] === CR ? lf - 1 : lf;
  return [buf.toString('latin1', start, e), lf + 1];
}

/**
 * Request line and fields. Lenient the way servers are: a missing or odd
 * version ("GET /", "GET / HTTP/1.") still makes a request when the method
 * is a token, since servers answer such lines and the exchange matters.
 */
export function parseRequestHead(buf: Buffer, start: number, end: number): RequestHead | null {
  const [first, fieldsFrom] = startLine(buf, start, end);
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
  const headers = parseFields(buf, fieldsFrom, end);
  if (!headers) return null;
  return { method, target, version, headers };
}

export function parseResponseHead(buf: Buffer, start: number, end: number): ResponseHead | null {
  const [first, fieldsFrom] = startLine(buf, start, end);
  const m = /^(HTTP\/\d\.\d) ([1-9]\d\d)(?: (.*))?$/.exec(first);
  if (!m) return null;
  const headers = parseFields(buf, fieldsFrom, end);
  if (!headers) return null;
  // the reason is a slice of the status line: copied so the event stays on the JSON fast path (ADR 0007)
  return { version: m[1].slice(5), status: Number(m[2]), reason: m[3] === undefined ? '' : sequential(m[3]), headers };
}

export function header(h: Headers, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[v.length - 1] : undefined;
}

/** True if a comma-separated header contains `token` (case-insensitive). */
export function headerHasToken(h: Headers, name: string, token: string): boolean {
  const v = h[name];
  if (!Array.isArray(v)) return false;
  for (const item of v) {
    for (const part of item.split(',')) if (part.trim().toLowerCase() === token) return true;
  }
  return false;
}

const METHOD_START = /^[A-Z][A-Z0-9\-_]{1,19} \S* ?HTTP\/\d(\.\d?)?\r?$/;
const STATUS_START = /^HTTP\/\d\.\d [1-9]\d\d(?: [^\r\n]*)?\r?$/;

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
