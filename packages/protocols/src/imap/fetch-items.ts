/**
 * What FETCH says of a message's form (RFC 9051 §7.5.2, RFC 3501 §7.4.2):
 * its ENVELOPE, and its BODYSTRUCTURE (or BODY, the same without extension
 * data) as a flat list of parts in order, each with its IMAP part number. A
 * multipart container comes before its parts, with its subtype; a
 * message/rfc822 part with the envelope of the message it holds, then that
 * message's parts. Parameters are read as RFC 2231 and RFC 2047 have them
 * written (`filename*=utf-8''...`, `=?utf-8?B?...?=`): an attachment's file
 * name is what a reader of the mailbox sees. Bounded: MAX_PARTS parts of a
 * message, MAX_NESTING levels; past either the reading stops (`cut`).
 */
import { decodeWords, mimeParameters } from '../smtp/headers.js';
import type { Envelope, StructurePart } from './fields.js';
import { num, text, type Value } from './values.js';

/** Parts kept of one message's structure, containers included. */
export const MAX_PARTS = 100;
/** Bodies nested deeper than this (a multipart's part, a message/rfc822's message: one level each) are not read. */
export const MAX_NESTING = 16;

export interface Structure {
  parts: StructurePart[];
  /** A limit stopped the reading: the parts after it are missing. */
  cut: boolean;
  /** Something was not what the grammar says: a part without its type left out, a field of the wrong kind not kept. */
  malformed: boolean;
}

/** A BODYSTRUCTURE's or BODY's value: the whole message's body. */
export function bodyStructure(v: Value): Structure {
  const s: Structure = { parts: [], cut: false, malformed: false };
  body(s, v, 1, true, '');
  return s;
}

const join = (prefix: string, n: string) => (prefix ? `${prefix}.${n}` : n);

/**
 * A body: a multipart (its parts first in its list) or a single part. `root`: the body of a message,
 * the whole one or the one message/rfc822 part `n` holds, whose container is `n.TEXT` and whose
 * single part `n.1` (RFC 9051 §6.4.5); otherwise the part numbered `n`.
 */
function body(s: Structure, v: Value, depth: number, root: boolean, n: string): void {
  if (s.cut) return;
  if (depth > MAX_NESTING || s.parts.length >= MAX_PARTS) {
    s.cut = true;
    return;
  }
  if (!Array.isArray(v) || v.length === 0) {
    s.malformed = true;
    return;
  }
  if (Array.isArray(v[0])) multipart(s, v, depth, root ? join(n, 'TEXT') : n, n);
  else single(s, v, depth, root ? join(n, '1') : n);
}

/** body-type-mpart: 1*body SP media-subtype [SP body-ext-mpart]. */
function multipart(s: Structure, v: Value[], depth: number, number: string, prefix: string): void {
  let count = 0;
  while (count < v.length && Array.isArray(v[count])) count++;
  const subtype = text(v[count]);
  if (subtype === undefined) {
    s.malformed = true;
    return;
  }
  const part: StructurePart = { part: number, type: 'multipart', subtype: subtype.toLowerCase() };
  const params = parameters(s, v[count + 1]);
  if (params) part.parameters = params;
  extension(s, part, v, count + 2);
  s.parts.push(part);
  for (let i = 0; i < count; i++) body(s, v[i]!, depth + 1, false, join(prefix, String(i + 1)));
}

/**
 * body-type-1part: type, subtype, parameters, id, description, encoding, size; a text part's lines;
 * a message/rfc822 part's envelope, body and lines; then the extension data (BODYSTRUCTURE's).
 */
function single(s: Structure, v: Value[], depth: number, number: string): void {
  const type = text(v[0])?.toLowerCase();
  const subtype = text(v[1])?.toLowerCase();
  if (type === undefined || subtype === undefined) {
    s.malformed = true;
    return;
  }
  const part: StructurePart = { part: number, type, subtype };
  const params = parameters(s, v[2]);
  if (params) part.parameters = params;
  const id = nstring(s, v[3]);
  if (id !== undefined) part.id = id;
  const description = nstring(s, v[4]);
  if (description !== undefined) part.description = decodeWords(description);
  const encoding = nstring(s, v[5]);
  if (encoding !== undefined) part.encoding = encoding.toLowerCase();
  const size = num(v[6]);
  if (size !== undefined) part.size = size;
  else s.malformed = true;
  let next = 7;
  // message/rfc822 (and RFC 9051's message/global): the envelope, the body and the lines of the message it holds
  const message = type === 'message' && (subtype === 'rfc822' || subtype === 'global') && Array.isArray(v[7]) && Array.isArray(v[8]);
  if (message) {
    part.envelope = envelope(v[7] as Value[]);
    next = 9;
  }
  if (message || type === 'text') {
    const lines = num(v[next]);
    if (lines !== undefined) part.lines = lines;
    else s.malformed = true;
    next++;
  }
  if (next < v.length) {
    const md5 = nstring(s, v[next]);
    if (md5 !== undefined) part.md5 = md5;
  }
  extension(s, part, v, next + 1);
  s.parts.push(part);
  if (message) body(s, v[8]!, depth + 1, true, number);
}

/** The extension data both kinds share, from `at`: disposition, language, location (and body-extensions after them, not read). */
function extension(s: Structure, part: StructurePart, v: Value[], at: number): void {
  if (at < v.length) {
    const d = v[at];
    if (Array.isArray(d) && text(d[0]) !== undefined) {
      part.disposition = { type: text(d[0])!.toLowerCase() };
      const params = parameters(s, d[1]);
      if (params) part.disposition.parameters = params;
    } else if (d !== null) s.malformed = true;
  }
  if (at + 1 < v.length) {
    const l = v[at + 1];
    const language = Array.isArray(l) ? l.map(text).filter((x): x is string => x !== undefined) : nstring(s, l);
    if (typeof language === 'string') part.language = [language];
    else if (language?.length) part.language = language;
  }
  if (at + 2 < v.length) {
    const location = nstring(s, v[at + 2]);
    if (location !== undefined) part.location = location;
  }
}

/** body-fld-param: attribute, value, ... or NIL; decoded (RFC 2231, RFC 2047), undefined when there are none. */
function parameters(s: Structure, v: Value | undefined): Record<string, string> | undefined {
  if (v === null || v === undefined) return undefined;
  if (!Array.isArray(v) || v.length % 2) s.malformed = true;
  if (!Array.isArray(v)) return undefined;
  const pairs: Array<[string, string]> = [];
  for (let i = 0; i + 1 < v.length; i += 2) {
    const k = text(v[i]);
    const value = text(v[i + 1]);
    if (k === undefined || value === undefined) s.malformed = true;
    else pairs.push([k, value]);
  }
  return pairs.length ? mimeParameters(pairs) : undefined;
}

/** A string or NIL (undefined); anything else is damage. */
function nstring(s: Structure, v: Value | undefined): string | undefined {
  if (v === null || v === undefined) return undefined;
  const t = text(v);
  if (t === undefined) s.malformed = true;
  return t;
}

/** An ENVELOPE: date, subject, from, sender, reply-to, to, cc, bcc, in-reply-to, message-id. */
export function envelope(v: Value[]): Envelope {
  const e: Envelope = {};
  const str = (x: Value | undefined) => (typeof x === 'string' ? x : undefined);
  const date = str(v[0]);
  if (date !== undefined) e.date = date;
  const subject = str(v[1]);
  if (subject !== undefined) e.subject = decodeWords(subject);
  const lists: Array<[keyof Envelope, number]> = [['from', 2], ['sender', 3], ['reply_to', 4], ['to', 5], ['cc', 6], ['bcc', 7]];
  for (const [k, i] of lists) {
    const a = addresses(v[i]);
    if (a) (e as Record<string, unknown>)[k] = a;
  }
  const irt = str(v[8]);
  if (irt !== undefined) e.in_reply_to = irt;
  const mid = str(v[9]);
  if (mid !== undefined) e.message_id = mid;
  return e;
}

/** An address list: each (name adl mailbox host) as `Name <mailbox@host>`; group markers (host NIL) left out. */
function addresses(v: Value | undefined): string[] | undefined {
  if (!Array.isArray(v)) return undefined;
  const out: string[] = [];
  for (const a of v) {
    if (!Array.isArray(a)) continue;
    const name = typeof a[0] === 'string' ? decodeWords(a[0]) : '';
    const mailbox = text(a[2]);
    const host = text(a[3]);
    if (mailbox === undefined || host === undefined) continue;
    const addr = `${mailbox}@${host}`;
    out.push(name ? `${name} <${addr}>` : addr);
  }
  return out;
}
