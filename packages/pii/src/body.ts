/**
 * Structured views of text bodies: a JSON document or an
 * application/x-www-form-urlencoded string is walked value by value so a hit
 * carries its inner path (`$.user.email`, `$.items[2].phone`, `$.email`), and
 * can be written back after redaction.
 */

import { adoptNumberTexts, mayHaveInexactFractions, parseJsonPrefix, serialiseJsonPrefix, stringifyExact, type JsonPrefix } from './json-prefix.js';

export type Body = JsonBody | { kind: 'form'; pairs: Array<[string, string]>; raw: string[] };

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

/** Parse a body's text as JSON (object/array) or a form; undefined for anything else. */
export function parseBody(text: string): Body | undefined {
  let i = 0;
  while (i < text.length && (text.charCodeAt(i) === 32 || text.charCodeAt(i) === 10 || text.charCodeAt(i) === 13 || text.charCodeAt(i) === 9)) i++;
  const c = text.charCodeAt(i);
  if (c === 123 || c === 91) {
    try {
      return { kind: 'json', doc: JSON.parse(text), text };
    } catch {
      // cut at --max-body, or JSON with something after it: walk what is whole (its numbers as written)
      const prefix = parseJsonPrefix(text);
      return prefix && { kind: 'json', doc: prefix.doc, prefix, text, numbersKept: true };
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
 * (after keepNumberTexts), form pairs left untouched with their original bytes.
 */
export function serialiseBody(b: Body, touched: Set<number>, dropped: Set<number>): string {
  if (b.kind === 'json') return b.prefix ? serialiseJsonPrefix(b.prefix) : b.hasNumberTexts ? stringifyExact(b.doc)! : JSON.stringify(b.doc);
  const parts: string[] = [];
  for (let i = 0; i < b.pairs.length; i++) {
    if (dropped.has(i)) continue;
    if (!touched.has(i)) parts.push(b.raw[i]!);
    else parts.push(encodeURIComponent(b.pairs[i]![0]) + '=' + encodeURIComponent(b.pairs[i]![1]));
  }
  return parts.join('&');
}
