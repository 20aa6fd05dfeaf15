/**
 * Structured views of text bodies: a JSON document or an
 * application/x-www-form-urlencoded string is walked value by value so a hit
 * carries its inner path (`$.user.email`, `$.items[2].phone`, `$.email`), and
 * can be written back after redaction.
 */

import { parseJsonPrefix, serialiseJsonPrefix, type JsonPrefix } from './json-prefix.js';

export type Body =
  /** `prefix` when JSON.parse rejected the text and its valid beginning was parsed (json-prefix.ts). */
  | { kind: 'json'; doc: unknown; prefix?: JsonPrefix }
  | { kind: 'form'; pairs: Array<[string, string]>; raw: string[] };

const FORM_RE = /^[A-Za-z0-9_.%*+~\-[\]]{1,256}=[^&\s]*(?:&[A-Za-z0-9_.%*+~\-[\]]{1,256}=?[^&\s]*){0,4096}$/;

function decodeForm(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

/** Parse a body's text as JSON (object/array) or a form; undefined for anything else. */
export function parseBody(text: string): Body | undefined {
  let i = 0;
  while (i < text.length && (text.charCodeAt(i) === 32 || text.charCodeAt(i) === 10 || text.charCodeAt(i) === 13 || text.charCodeAt(i) === 9)) i++;
  const c = text.charCodeAt(i);
  if (c === 123 || c === 91) {
    try {
      return { kind: 'json', doc: JSON.parse(text) };
    } catch {
      // cut at --max-body, or JSON with something after it: walk what is whole
      const prefix = parseJsonPrefix(text);
      return prefix && { kind: 'json', doc: prefix.doc, prefix };
    }
  }
  if (text.length > 0 && text.length < 1 << 20 && FORM_RE.test(text)) return parseForm(text);
  return undefined;
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

/** Serialise a (possibly redacted) body back to text. Form pairs left untouched keep their original bytes. */
export function serialiseBody(b: Body, touched: Set<number>, dropped: Set<number>): string {
  if (b.kind === 'json') return b.prefix ? serialiseJsonPrefix(b.prefix) : JSON.stringify(b.doc);
  const parts: string[] = [];
  for (let i = 0; i < b.pairs.length; i++) {
    if (dropped.has(i)) continue;
    if (!touched.has(i)) parts.push(b.raw[i]!);
    else parts.push(encodeURIComponent(b.pairs[i]![0]) + '=' + encodeURIComponent(b.pairs[i]![1]));
  }
  return parts.join('&');
}
