/**
 * Percent-decoding for finding a value again where a URL, cookie or form
 * wrote it (repeat.ts), and for hashing a finding that was written encoded
 * (event.ts). Encoders differ in what they escape (`encodeURIComponent`
 * leaves `! ' ( ) *` as they are, form encoders and PHP's urlencode escape
 * them, Go's PathEscape leaves `+`), in the case of their hex digits and in
 * whether a space is `%20` or `+`: enumerating their outputs missed every
 * one but the first. Decoding the text instead finds the value however it
 * was escaped.
 */

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 32;
  return l >= 97 && l <= 102 ? l - 87 : -1;
}

/** The byte of the escape `%XX` at `i` (on its `%`), or -1 when there is none. */
function escapedByte(s: string, i: number): number {
  if (i + 2 >= s.length || s.charCodeAt(i) !== 37) return -1;
  const h = hexValue(s.charCodeAt(i + 1));
  const l = hexValue(s.charCodeAt(i + 2));
  return h < 0 || l < 0 ? -1 : (h << 4) | l;
}

/** Set by decodeEscape: the raw length of the escapes it decoded. */
let escapeLength = 0;

/**
 * The character of the escapes starting at `i`: one `%XX` below 0x80, a
 * whole UTF-8 sequence of them (`%C3%A9`), or, for a byte that starts none,
 * that byte as Latin-1 (`%E9`, as older forms send `é`). -1 when `i` starts
 * no escape. `escapeLength` says how much of `s` it took.
 */
function decodeEscape(s: string, i: number): number {
  const b0 = escapedByte(s, i);
  if (b0 < 0) return -1;
  const cp = b0 < 0x80 ? b0 : utf8Char(b0, (k) => escapedByte(s, i + 3 * k));
  escapeLength = b0 < 0x80 ? 3 : 3 * utf8Bytes;
  return cp;
}

/** Set by utf8Char: how many bytes the character it returned took (1 for a byte that starts no sequence). */
export let utf8Bytes = 1;

/**
 * The character of the UTF-8 sequence (RFC 3629) that starts with byte `b0` (0x80 or more), its
 * further bytes read in order by `byteAt(k)`, k from 1 (-1 for none). For a byte that starts no
 * sequence, or a sequence cut or malformed, `b0` itself as Latin-1. Shared by the escapes of URLs
 * (`%C3%A9`) and of DNS presentation text (`\195\169`, dns-text.ts).
 */
export function utf8Char(b0: number, byteAt: (k: number) => number): number {
  utf8Bytes = 1;
  const n = b0 >= 0xc2 && b0 <= 0xdf ? 2 : b0 >= 0xe0 && b0 <= 0xef ? 3 : b0 >= 0xf0 && b0 <= 0xf4 ? 4 : 1;
  if (n === 1) return b0;
  let cp = n === 2 ? b0 & 0x1f : n === 3 ? b0 & 0x0f : b0 & 0x07;
  for (let k = 1; k < n; k++) {
    const b = byteAt(k);
    // continuation bytes, without overlong forms, surrogates or code points past U+10FFFF
    let lo = 0x80;
    let hi = 0xbf;
    if (k === 1) {
      if (b0 === 0xe0) lo = 0xa0;
      else if (b0 === 0xf0) lo = 0x90;
      else if (b0 === 0xed) hi = 0x9f;
      else if (b0 === 0xf4) hi = 0x8f;
    }
    if (b < lo || b > hi) return b0;
    cp = (cp << 6) | (b & 0x3f);
  }
  utf8Bytes = n;
  return cp;
}

/**
 * `s` with its percent escapes decoded (`%` that starts no escape stays),
 * `+` left as it is. `marks`, when given, receives for every escape decoded
 * the pair (end in the result, end in `s`): between marks the two run alike,
 * which is what rawOffset needs. Returns `s` itself when it holds no escape.
 */
export function decodePercent(s: string, marks?: number[]): string {
  let pct = s.indexOf('%');
  if (pct < 0) return s;
  let out = '';
  let from = 0;
  for (; pct >= 0; pct = s.indexOf('%', pct + 1)) {
    const cp = decodeEscape(s, pct);
    if (cp < 0) continue;
    out += s.slice(from, pct) + String.fromCodePoint(cp);
    from = pct + escapeLength;
    marks?.push(out.length, from);
    pct = from - 1;
  }
  return from === 0 ? s : out + s.slice(from);
}

/** The offset in the raw text of offset `at` of its decodePercent(raw, marks) (at the start of a character). */
export function rawOffset(marks: readonly number[], at: number): number {
  // the last mark at or before `at`; marks are few (one per escape) and ascending
  let lo = 0;
  let hi = marks.length / 2;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (marks[2 * mid]! <= at) lo = mid + 1;
    else hi = mid;
  }
  return lo === 0 ? at : marks[2 * lo - 1]! + (at - marks[2 * lo - 2]!);
}

/**
 * Most times a text is percent-decoded. A URL carried in a query parameter (a login's
 * `next=%2Fsearch%3Fq%3DChris%2520Sanders`, an OAuth `redirect_uri`, a `return_to`) holds its own
 * query encoded twice in `url.full`, a Referer or a cookie (`%2520` for a space); a redirect through two
 * such hops, three times. Decoding once left `Chris%20Sanders` there, which is not the name.
 */
export const DECODE_ROUNDS = 3;

/** The offset in the raw text of offset `at` of a text decoded round after round, `layers` the marks of each round, first round first. */
export function rawOffsetThrough(layers: readonly (readonly number[])[], at: number): number {
  for (let i = layers.length - 1; i >= 0; i--) at = rawOffset(layers[i]!, at);
  return at;
}

/**
 * The value a finding written percent-encoded stands for, as its keyed hash
 * is taken of, so it joins the same value found decoded (`url.full`'s
 * `alice%40example.org` and `url.query$.email`'s `alice@example.org`). Text
 * without an escape is the value as written. Where there is one, `+` is a
 * space, as in the query and form values pano-pii decodes, except in an
 * e-mail address, which holds no space and often a `+` (left by encoders
 * that leave `+`, as Go's PathEscape does). In a phone number every `+` but a
 * first one is a space, escaped or not: `+1+650-253-0000` is `+1 650-253-0000`,
 * as a form that left its dialling `+` unescaped wrote it.
 */
export function decodedValue(type: string, text: string): string {
  // a phone number's `+` after its first character is a form's space (`+1+650-253-0000`), escaped or not
  if (type === 'phone' && text.indexOf('+', 1) > 0) return decodePercent(text[0] + text.slice(1).replace(/\+/g, ' '));
  if (text.indexOf('%') < 0) return text;
  const decoded = decodePercent(text);
  if (decoded === text || type === 'email' || text.indexOf('+') < 0) return decoded;
  return decodePercent(text.replace(/\+/g, ' '));
}
