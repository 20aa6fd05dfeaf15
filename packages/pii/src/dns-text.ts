/**
 * DNS presentation format (RFC 1035 §5.1) read as the bytes it stands for.
 * pano-parse writes names and record data as dig does: inside a label `.`,
 * `\`, `"`, `(`, `)`, `;`, `@` and `$` after a backslash, a space, controls
 * and bytes past ASCII as `\DDD` (packages/protocols/src/dns/names.ts). So
 * an address some resolver or service-discovery client puts in a label
 * (`john\.doe\@example.com`) or a device named after its owner
 * (`J\195\188rgen\032M\195\188ller\226\128\153s\032iPhone._device-info._tcp.local`)
 * holds, as written, no `@` and no name: the rules read the decoded text,
 * and its offsets are mapped back to the text as written (rawOffset, with
 * the marks decodePercent also writes).
 */
import { rawOffset, utf8Bytes, utf8Char } from './percent.js';

/** Set by escapedByte: the raw length of the escape it read. */
let escapeLength = 0;

/** The byte of the escape `\DDD` or `\X` at `i` (on its backslash), or -1 when there is none. */
function escapedByte(s: string, i: number): number {
  if (i + 1 >= s.length || s.charCodeAt(i) !== 92) return -1;
  const d0 = s.charCodeAt(i + 1) - 48;
  if (d0 >= 0 && d0 <= 9) {
    const d1 = s.charCodeAt(i + 2) - 48;
    const d2 = s.charCodeAt(i + 3) - 48;
    // `\DDD` is exactly three digits, at most 255 (RFC 1035 §5.1); anything else is no escape of a byte
    if (!(d1 >= 0 && d1 <= 9 && d2 >= 0 && d2 <= 9)) return -1;
    const b = d0 * 100 + d1 * 10 + d2;
    if (b > 255) return -1;
    escapeLength = 4;
    return b;
  }
  const c = s.charCodeAt(i + 1);
  if (c > 0xff) return -1;
  escapeLength = 2;
  return c;
}

/**
 * The character of the escapes starting at `i`: one byte below 0x80, a whole
 * UTF-8 sequence of `\DDD` (`\195\188`, ü), or for a byte that starts none
 * that byte as Latin-1 (utf8Char, as percent.ts reads `%C3%BC`). -1 when `i`
 * starts no escape; `escapeLength` is then the raw length taken.
 */
function decodeEscape(s: string, i: number): number {
  const b0 = escapedByte(s, i);
  if (b0 < 0x80) return b0;
  const first = escapeLength;
  // the sequence's escapes are of different lengths (`\@` is 2, `\188` 4): read one after another
  let at = i + first;
  const cp = utf8Char(b0, () => {
    const b = escapedByte(s, at);
    if (b >= 0) at += escapeLength;
    return b;
  });
  escapeLength = utf8Bytes > 1 ? at - i : first;
  return cp;
}

/**
 * `s` with its presentation-format escapes decoded. `marks` receives for
 * every escape decoded the pair (end in the result, end in `s`), as
 * decodePercent writes them, for rawOffset. Returns `s` itself when it holds
 * no escape.
 */
export function decodePresentation(s: string, marks: number[]): string {
  let bs = s.indexOf('\\');
  if (bs < 0) return s;
  let out = '';
  let from = 0;
  while (bs >= 0) {
    const cp = decodeEscape(s, bs);
    if (cp < 0) {
      bs = s.indexOf('\\', bs + 1);
      continue;
    }
    out += s.slice(from, bs) + String.fromCodePoint(cp);
    from = bs + escapeLength;
    marks.push(out.length, from);
    bs = s.indexOf('\\', from);
  }
  return from === 0 ? s : out + s.slice(from);
}

/**
 * The mask of presentation text `raw` (a finding's text as written), given
 * `mask`, what masks the decoded text character for character (maskShape):
 * a character the mask hides becomes `*` however it was written (`\195\188`
 * is one `*`, as `ü` is), one it keeps stays as written (`\@`, `\.`). So the
 * redacted field is still presentation text (`*` needs no escape) with the
 * shape of what it hides, and no `\` is left before a `*` (a masked `\064`
 * would otherwise become `\***`, no escape at all).
 */
export function maskPresentation(raw: string, mask: (decoded: string) => string): string {
  const marks: number[] = [];
  const decoded = decodePresentation(raw, marks);
  const masked = mask(decoded);
  if (decoded === raw) return masked;
  let out = '';
  for (let i = 0; i < decoded.length; ) {
    const step = decoded.codePointAt(i)! > 0xffff ? 2 : 1;
    const m = masked.slice(i, i + step);
    out += m === decoded.slice(i, i + step) ? raw.slice(rawOffset(marks, i), rawOffset(marks, i + step)) : m;
    i += step;
  }
  return out;
}

/** Where the escape or character at `i` of presentation text ends: `\DDD` is four characters, `\X` two, any other one. */
function charEnd(s: string, i: number): number {
  if (s.charCodeAt(i) !== 92) return i + 1;
  const d = s.charCodeAt(i + 1);
  return d >= 48 && d <= 57 ? i + 4 : i + 2;
}

/** The first `c` (a space or a dot) at `from` or after in presentation text `s` that is no escape's, or `to`. */
function unescaped(s: string, c: number, from: number, to: number): number {
  for (let i = from; i < to; i = charEnd(s, i)) if (s.charCodeAt(i) === c) return i;
  return to;
}

/** A mailbox written as a name (RFC 1035 §8) in presentation text: its span as written and the address it stands for. */
export interface NamedMailbox {
  start: number;
  end: number;
  address: string;
}

/**
 * The responsible mailbox of an SOA record's presentation text (`mname rname serial refresh retry
 * expire minimum`, as pano-parse writes it): RFC 1035 §3.3.13's RNAME; undefined when the text has
 * no second field, or the name is no mailbox (mailboxAt).
 */
export function soaRname(data: string): NamedMailbox | undefined {
  const start = unescaped(data, 32, 0, data.length) + 1;
  if (start >= data.length) return undefined;
  return mailboxAt(data, start);
}

/** The mailbox of an RP record's presentation text (`mbox-dname txt-dname`, RFC 1183 §2.2): its first field. */
export function rpMailbox(data: string): NamedMailbox | undefined {
  return mailboxAt(data, 0);
}

/**
 * The name field of `data` from `start` to the next unescaped space as the mailbox it stands for
 * (RFC 1035 §8): its first label the local part (its dots escaped, `john\.doe`), the rest the domain
 * (`john.doe@example.org`); undefined when the name has no label after the first (the root, `.`,
 * says there is none).
 */
function mailboxAt(data: string, start: number): NamedMailbox | undefined {
  const end = unescaped(data, 32, start, data.length);
  const dot = unescaped(data, 46, start, end);
  if (dot === start || dot + 1 >= end) return undefined;
  return { start, end, address: `${decodePresentation(data.slice(start, dot), [])}@${decodePresentation(data.slice(dot + 1, end), [])}` };
}
