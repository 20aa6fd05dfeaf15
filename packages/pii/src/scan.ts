/**
 * Scans one string for PII. Three cheap passes, none of them a giant regex:
 *  1. literal anchors (`@`, `eyJ`, `AKIA`, ...), each followed by its rule's
 *     sticky regex on a bounded window;
 *  2. digit runs, dispatched by shape to the numeric validators (IPv4,
 *     dates, SSN, cards, Aadhaar, phones) and the letter-prefixed ones
 *     (IBAN, UK NINO, Indian PAN);
 *  3. `:` anchors for IPv6.
 * Short values find the anchors, runs and colons with one char-code pass, a
 * trie regex and `runEnd`; long ones get them from the Locator (locate.ts).
 * Then field-name context adjusts confidence and overlapping hits are resolved.
 */
import { ANCHORS, type AnchoredRule, type PiiType } from './rules.js';
import { Hint, hintsBefore, phoneLabelAfter, phoneWordBefore } from './context.js';
import { addressBytes, hostBitsSet, parseDate, validAadhaar, validCard, validDob, validIban, validIpv4, validIpv6, validNino, validPan, validSsn } from './validators.js';
import { extensionAfter, intlPrefix, isDigit, phoneLike, phoneShape, validPhone } from './phone.js';
import { Locator } from './locate.js';

export interface Hit {
  type: PiiType;
  start: number;
  end: number;
  confidence: number;
  /** `repeat`: the value of a finding made elsewhere in the same event (repeat.ts). */
  detector: 'regex' | 'context' | 'model' | 'repeat';
  validator: string | null;
  /**
   * A repeat written differently from the finding it repeats (`Ada+Lovelace`, `ada lovelace` for
   * `Ada Lovelace`): that finding's text, which its keyed hash is taken of, so equal values still join.
   */
  sameAs?: string;
}

const DIGIT_RUN_SRC = String.raw`\d(?:\d|[ ./()-]{1,2}(?=[\d(]))*`;
/** Rules by anchor text. */
const RULES_BY_ANCHOR = new Map<string, AnchoredRule[]>();
for (const { anchor, rule } of ANCHORS) {
  const list = RULES_BY_ANCHOR.get(anchor) ?? [];
  list.push(rule);
  RULES_BY_ANCHOR.set(anchor, list);
}
/** Long values: anchors, digit runs and IPv6 colons from one pass of the Locator; its anchor ids index RULES_BY_ID. */
const LOCATOR = new Locator([...RULES_BY_ANCHOR.keys()], '@');
/**
 * Longest value given to the Locator: its memory takes ~22 bytes a character
 * and is kept. Longer ones (pano-parse keeps 64 KiB of a body unless told
 * otherwise) take the regexes, which give the same hits.
 */
const LOCATED_MAX = 1 << 20;
const RULES_BY_ID = [...RULES_BY_ANCHOR.values()];
const escapeRe = (x: string) => x.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
/**
 * The anchors as one trie-shaped regex (`A(?:KIA|SIA|Iza)|...`, longest
 * match first, as a flat longest-first alternation would give), without `@`:
 * that one is found with indexOf. On the corpus captures' bodies this runs
 * ~1.8× faster than the flat 45-way alternation, which spent its time
 * trying alternatives at every position.
 */
function trieSource(words: string[]): string {
  const byFirst = new Map<string, string[]>();
  let ends = false;
  for (const w of words) {
    if (w === '') ends = true;
    else {
      const list = byFirst.get(w[0]!) ?? [];
      list.push(w.slice(1));
      byFirst.set(w[0]!, list);
    }
  }
  const alts: string[] = [];
  for (const [c, rest] of byFirst) {
    const tail = trieSource(rest);
    alts.push(escapeRe(c) + tail);
  }
  if (alts.length === 0) return '';
  const body = alts.length === 1 ? alts[0]! : `(?:${alts.join('|')})`;
  // a word that ends here: the longer continuations are tried first (greedy `?`)
  return ends ? (alts.length === 1 && alts[0]!.length === 1 ? `${body}?` : `(?:${body})?`) : body;
}
const ANCHOR_RE = new RegExp(trieSource([...RULES_BY_ANCHOR.keys()].filter((a) => a !== '@')), 'g');
const AT_RULES = RULES_BY_ANCHOR.get('@') ?? [];

/**
 * Short values (most header, column and argument values) cost more in
 * regex calls (~50–100 ns each) than in characters, so for them one pass
 * over the char codes decides which passes are needed at all: the first
 * anchor (looked up by its first two characters, then compared: 9 of 10
 * short corpus values with such a pair hold no anchor, and the trie regex
 * cost ~150 ns to say so), the first digit and the first ':'. The passes
 * then start there, which gives the same hits as starting at 0.
 */
export const SHORT = 96;
/** Anchors (other than '@') by their first two characters, `(c0 << 7) | c1`. */
const PAIRS: Array<string[] | undefined> = new Array(128 * 128).fill(undefined);
/** Per ASCII code: 1 digit, 2 first character of an anchor (other than '@'), 4 ':', 8 '@' */
const CLASS = new Uint8Array(128);
for (const anchor of RULES_BY_ANCHOR.keys()) {
  const c = anchor.charCodeAt(0);
  if (anchor.length === 1) CLASS[c] = CLASS[c]! | 8;
  else {
    CLASS[c] = CLASS[c]! | 2;
    (PAIRS[(c << 7) | anchor.charCodeAt(1)] ??= []).push(anchor);
  }
}
for (let d = 48; d <= 57; d++) CLASS[d] = CLASS[d]! | 1;
CLASS[58] = CLASS[58]! | 4;

/** Does one of `anchors` start at `i`? */
function anchorAt(s: string, i: number, anchors: string[] | undefined): boolean {
  if (anchors === undefined) return false;
  for (const a of anchors) if (s.startsWith(a, i)) return true;
  return false;
}

/** Separators inside a digit run: space . / ( ) - */
function runSep(c: number): boolean {
  return c === 32 || c === 46 || c === 47 || c === 40 || c === 41 || c === 45;
}
/**
 * End of the digit run starting at digit `i`: DIGIT_RUN_SRC written out for
 * short values (digits, and one or two separators when a digit or `(`
 * follows them). The tests check it against the regex.
 */
export function runEnd(s: string, i: number): number {
  const n = s.length;
  let j = i + 1;
  for (;;) {
    const c = j < n ? s.charCodeAt(j) : -1;
    if (c >= 48 && c <= 57) {
      j++;
      continue;
    }
    if (c < 0 || !runSep(c)) return j;
    // [ ./()-]{1,2}(?=[\d(]): two separators if the lookahead holds after them, else one
    const c1 = j + 1 < n ? s.charCodeAt(j + 1) : -1;
    if (runSep(c1)) {
      const c2 = j + 2 < n ? s.charCodeAt(j + 2) : -1;
      if ((c2 >= 48 && c2 <= 57) || c2 === 40) {
        j += 2;
        continue;
      }
    }
    if ((c1 >= 48 && c1 <= 57) || c1 === 40) {
      j += 1;
      continue;
    }
    return j;
  }
}
/**
 * The runs that can give a hit: DIGIT_RUN with `+` instead of `*`, so a lone
 * digit ("h1", "0px", base64) is no match and the engine moves on by itself
 * instead of returning to JS (65% of the runs in the corpus bodies). Exact:
 * a lone digit is followed by no digit, so the next attempt starts at the
 * next digit, where the `*` pattern (DIGIT_RUN_SRC, runEnd) starts its next
 * run too; and a one-character run is no numeric type (6 characters
 * needed) and no IBAN/NINO/PAN tail (two digits needed): it never gave a hit.
 */
const DIGIT_RUN = new RegExp(DIGIT_RUN_SRC.slice(0, -1) + '+', 'g');
const MAX_RUN = 48;
const DATE_PREFIX = /^(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{4})(?= )/;

function isWord(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
}
function isAlpha(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}
function isUpper(c: number): boolean {
  return c >= 65 && c <= 90;
}
function isAlnum(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

const NON_ASCII_WORD = /[\p{L}\p{M}\p{N}]/u;

/** [\p{L}\p{M}\p{N}._%+-]: an email local part (the only rule that scans backwards), as the email rule's. */
function localPartChar(c: number): boolean {
  if (c < 0x80) return isAlnum(c) || c === 46 || c === 95 || c === 37 || c === 43 || c === 45;
  // A surrogate is half of a letter beyond U+FFFF (CJK, historic scripts): taken as one.
  return (c >= 0xd800 && c <= 0xdfff) || NON_ASCII_WORD.test(String.fromCharCode(c));
}

function clamp(x: number): number {
  return x > 0.99 ? 0.99 : x < 0 ? 0 : Math.round(x * 100) / 100;
}

/** Confidence after context: +0.08 when the field name hints at the type, −0.5 when it says "identifier/hash". */
function adjust(base: number, hintFlag: number, hints: number): number {
  if (hints & Hint.notPii) return clamp(base - 0.5);
  if (hintFlag && hints & hintFlag) return clamp(base + 0.08);
  return clamp(base);
}

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 32;
  return l >= 97 && l <= 102 ? l - 87 : -1;
}

/**
 * Where an e-mail address's local part, scanned back over [start, at), really starts: after the last
 * percent escape in it of a character no local part holds (`%20` a space, `%2C` a comma, `%3A`, `%3C`,
 * `%40` another address's `@`). `%` is a local-part character for the addresses written encoded
 * (`alice.smith%40example.org`), and the scan back had taken `u0%40example.org%20u1` for the local part
 * of `u1%40example.org`: two addresses, or a phone number before one, made one finding.
 */
function afterEscapedSeparator(s: string, start: number, at: number): number {
  for (let i = at - 3; i >= start; i--) {
    if (s.charCodeAt(i) !== 37) continue;
    const h = hexDigit(s.charCodeAt(i + 1));
    const l = hexDigit(s.charCodeAt(i + 2));
    if (h < 0 || l < 0) continue;
    const b = (h << 4) | l;
    // letters, digits and . _ + - ' stay (an encoded `+` tag, an apostrophe); so do bytes of UTF-8 letters
    if (!(b >= 0x80 || isAlnum(b) || b === 46 || b === 95 || b === 43 || b === 45 || b === 39)) return i + 3;
  }
  return start;
}

/**
 * Is the colon at `colon` inside the userinfo of a URL: `://` before it with
 * only userinfo characters between (those url_password's pattern takes, so
 * `scheme://user:pa:ss@host` too)? Looks back at most 200 characters, the
 * user and password url_password allows.
 */
function inUserinfo(s: string, colon: number): boolean {
  const lo = Math.max(0, colon - 200);
  for (let i = colon - 1; i >= lo + 2; i--) {
    const c = s.charCodeAt(i);
    if (c === 47) return s.charCodeAt(i - 1) === 47 && s.charCodeAt(i - 2) === 58;
    // whitespace, ?, #, @, quotes, <, >: the text before is no URL's userinfo
    if (c <= 32 || c === 63 || c === 35 || c === 64 || c === 34 || c === 39 || c === 60 || c === 62) return false;
  }
  return false;
}

function runAnchored(s: string, rule: AnchoredRule, at: number, hints: number, out: Hit[]): number {
  let start = at;
  /** A character before the anchor, in the match, is not ASCII. */
  let wide = false;
  if (rule.back) {
    const lo = Math.max(0, at - rule.back.max);
    for (let c; start > lo && localPartChar((c = s.charCodeAt(start - 1))); start--) if (c >= 0x80) wide = true;
    start = afterEscapedSeparator(s, start, at);
    if (start === at) return at + 1;
    // userinfo of a URL (`scheme://user:pw@host`) is url_password's, not an email; any other colon
    // before it is no part of the address (`mailto:a@b.org`, a Redis key `email:a@b.org`, `From:a@b.org`)
    if (start > 0 && s.charCodeAt(start - 1) === 58 && inUserinfo(s, start - 1)) return at + 1;
  }
  if (rule.boundary && start > 0 && isWord(s.charCodeAt(start - 1))) return at + 1;
  let m: RegExpExecArray | null = null;
  if (!wide) {
    rule.re.lastIndex = start;
    m = rule.re.exec(s);
  }
  if (!m && rule.wide) {
    rule.wide.lastIndex = start;
    m = rule.wide.exec(s);
  }
  if (!m) return at + 1;
  let vs = m.index;
  let ve = vs + m[0].length;
  if (rule.group !== undefined) {
    const idx = (m as RegExpExecArray & { indices?: Array<[number, number]> }).indices?.[rule.group];
    if (!idx) return at + 1;
    [vs, ve] = idx;
  }
  const value = s.slice(vs, ve);
  if (rule.validate && !rule.validate(value)) return at + 1;
  out.push({ type: rule.type, start: vs, end: ve, confidence: adjust(rule.confidence, rule.hint ?? 0, hints), detector: 'regex', validator: rule.validator });
  return Math.max(ve, at + 1);
}

/** IBAN, NINO, PAN: letters directly before a digit run. Returns true when one matched. */
const IBAN_RE = /[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]){10,30}/y;
const NINO_RE = /[A-Z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-D](?![A-Za-z0-9])/y;
const PAN_RE = /[A-Z]{5}\d{4}[A-Z](?![A-Za-z0-9])/y;

function lettered(s: string, a: number, hints: number, out: Hit[]): number {
  // IBAN: CC + 2 check digits at the start of the run
  if (a >= 2 && isAlpha(s.charCodeAt(a - 1)) && isAlpha(s.charCodeAt(a - 2)) && (a < 3 || !isAlnum(s.charCodeAt(a - 3)))) {
    IBAN_RE.lastIndex = a - 2;
    const m = IBAN_RE.exec(s);
    if (m) {
      // The registry length fixes where it ends; greedy matching may run into following words.
      const text = m[0];
      for (let end = text.length; end >= 15; end--) {
        const cand = text.slice(0, end);
        if (cand.endsWith(' ')) continue;
        if (validIban(cand) && (a - 2 + end >= s.length || !isAlnum(s.charCodeAt(a - 2 + end)))) {
          out.push({ type: 'iban', start: a - 2, end: a - 2 + end, confidence: adjust(0.95, Hint.iban, hints), detector: 'regex', validator: 'mod97+length' });
          return a - 2 + end;
        }
      }
    }
    NINO_RE.lastIndex = a - 2;
    const n = NINO_RE.exec(s);
    if (n && validNino(n[0])) {
      out.push({ type: 'uk_nino', start: a - 2, end: a - 2 + n[0].length, confidence: adjust(0.9, Hint.nino, hints), detector: 'regex', validator: 'hmrc-prefix' });
      return a - 2 + n[0].length;
    }
  }
  // NINO with a space between prefix and digits: "AB 12 34 56 C"
  if (a >= 3 && s.charCodeAt(a - 1) === 32 && isUpper(s.charCodeAt(a - 2)) && isUpper(s.charCodeAt(a - 3)) && (a < 4 || !isAlnum(s.charCodeAt(a - 4)))) {
    NINO_RE.lastIndex = a - 3;
    const n = NINO_RE.exec(s);
    if (n && validNino(n[0])) {
      out.push({ type: 'uk_nino', start: a - 3, end: a - 3 + n[0].length, confidence: adjust(0.9, Hint.nino, hints), detector: 'regex', validator: 'hmrc-prefix' });
      return a - 3 + n[0].length;
    }
  }
  // PAN: five letters, four digits, a letter
  if (a >= 5 && (a < 6 || !isAlnum(s.charCodeAt(a - 6)))) {
    let ok = true;
    for (let i = a - 5; i < a; i++) if (!isUpper(s.charCodeAt(i))) { ok = false; break; }
    if (ok) {
      PAN_RE.lastIndex = a - 5;
      const m = PAN_RE.exec(s);
      if (m && validPan(m[0])) {
        out.push({ type: 'in_pan', start: a - 5, end: a + 5, confidence: adjust(0.85, Hint.pan, hints), detector: 'regex', validator: 'pan-structure' });
        return a + 5;
      }
    }
  }
  return -1;
}

/** The field's hints, or (when the field name says nothing) those of the words just before `a`. */
function withContext(s: string, a: number, hints: number): number {
  return hints & ~Hint.notPii ? hints : hints | hintsBefore(s, a);
}

function hexish(x: number): boolean {
  return (x >= 48 && x <= 58) || (x >= 65 && x <= 70) || (x >= 97 && x <= 102);
}

/** 1 when the field or the text around [ps, pe) says phone, else 0. */
function phoneContext(s: string, ps: number, pe: number, h: number): number {
  // cheapest first; the regex of hintsBefore last
  return h & Hint.phone || phoneLabelAfter(s, pe) || phoneWordBefore(s, ps) || withContext(s, ps, h) & Hint.phone ? 1 : 0;
}

/**
 * Phone numbers in run [a, b) (with the `+` or `(` just before it). First
 * libphonenumber validity (international, or national in PHONE_REGIONS; a
 * 00/011 dialling prefix is tried as `+`), for candidates shaped like a
 * phone or announced by context. Then the context rule: a number written
 * like a phone (`phoneLike`) that libphonenumber rejects is still reported,
 * at lower confidence with validator `phone-context`, when the context says
 * phone: the field name, a phone word just before ("call me on", "Phone:"),
 * a label just after ("-Fax", " office"), an international dialling prefix
 * (`+`, 00, 011) with the number in groups, or an extension (`x818`, `ext. 12`).
 */
function phoneNumber(s: string, a: number, b: number, plus: boolean, paren: boolean, digits: number, h: number, out: Hit[]): boolean {
  const ps = plus || paren ? a - 1 : a;
  const ptext = s.slice(ps, b);
  const xe = extensionAfter(s, b);
  const pe = xe > 0 ? xe : b;
  const fieldPhone = (h & Hint.phone) !== 0;
  // context, asked lazily (most candidates are decided by their shape): 1 when it says phone, 0 not, -1 not asked
  let said = -1;
  if (digits >= 7 && (phoneShape(ptext, fieldPhone) || (!fieldPhone && phoneShape(ptext, true) && (xe > 0 || (said = phoneContext(s, ps, pe, h)) === 1)))) {
    const intl = !plus && intlPrefix(ptext) ? '+' + ptext.slice(ptext[1] === '0' ? 2 : 3) : undefined;
    if (validPhone(ptext) || (intl !== undefined && validPhone(intl))) {
      out.push({ type: 'phone', start: ps, end: pe, confidence: adjust(plus || intl ? 0.92 : 0.85, Hint.phone, h), detector: 'regex', validator: 'libphonenumber' });
      return true;
    }
  }
  if (!phoneLike(ptext)) return false;
  let groups = 0;
  for (let i = 0, inG = false; i < ptext.length; i++) {
    const c = ptext.charCodeAt(i);
    const d = c >= 48 && c <= 57;
    if (d && !inG) groups++;
    inG = d;
  }
  const strong = (said < 0 ? (said = phoneContext(s, ps, pe, h)) : said) === 1;
  // dialling prefix or extension: evidence enough for a number in three or more groups
  const weak = !strong && digits >= 7 && groups >= 3 && (plus || intlPrefix(ptext) || xe > 0);
  if (!strong && !weak) return false;
  out.push({ type: 'phone', start: ps, end: pe, confidence: adjust(strong ? 0.7 : 0.65, Hint.phone, h), detector: 'context', validator: 'phone-context' });
  return true;
}

/** Classify one numeric run [a, b). Returns true when it produced a hit. */
function numeric(s: string, a: number, b: number, hints: number, out: Hit[], inner: boolean): boolean {
  // every numeric type needs 6 characters (a dotted quad 7, dates and phones 6 digits): most runs stop here
  if (b - a < 6 || b - a > MAX_RUN) return false;
  const before = a > 0 ? s.charCodeAt(a - 1) : 32;
  const after = b < s.length ? s.charCodeAt(b) : 32;
  // glued to letters or digits (ids, hashes, base64): not a standalone value
  // a phone extension ("555-0100x23") is the only letter allowed right after a run
  const ext = (after === 120 || after === 101 || after === 69 || after === 88) && extensionAfter(s, b) > 0;
  if (isWord(before) || (isWord(after) && !ext) || before === 46 || (after === 46 && b + 1 < s.length && isAlnum(s.charCodeAt(b + 1)))) return false;
  // the tail of a code such as "TZB-20251121-52" or "ORD-88231": not a value of its own
  if (before === 45 && a > 1 && isAlnum(s.charCodeAt(a - 2))) return false;
  // a version string: v1.2.3.4
  const text = s.slice(a, b);
  const h = hints;
  let dots = 0, dashes = 0, spaces = 0, slashes = 0, parens = 0, digits = 0;
  // counted on `s`: `text` is a sliced string from 13 characters on, slower to index
  for (let i = a; i < b; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) digits++;
    else if (c === 46) dots++;
    else if (c === 45) dashes++;
    else if (c === 32) spaces++;
    else if (c === 47) slashes++;
    else parens++;
  }
  const plus = before === 43;
  if (dots === 3 && digits <= 12 && !dashes && !spaces && !slashes && !parens) {
    // Product/1.2.3.4 and rv:1.9.1.7 are versions
    const versioned = (before === 47 && a > 1 && isAlnum(s.charCodeAt(a - 2))) || (before === 58 && a > 2 && s.charCodeAt(a - 2) === 118 && s.charCodeAt(a - 3) === 114);
    if (!versioned && validIpv4(text)) {
      out.push({ type: 'ipv4', start: a, end: b, confidence: adjust(0.85, Hint.ip, h), detector: 'regex', validator: 'ipv4-octets' });
      return true;
    }
    return false;
  }
  // CIDR text: an address with its prefix length (see cidrHost); after `//` a URL's host, whatever
  // digits its path starts with (`http://10.1.2.3/2024/01`)
  const slash = slashes > 0 && dots === 3 ? text.indexOf('/') : -1;
  const urlHost = slash > 0 && before === 47 && a > 1 && s.charCodeAt(a - 2) === 47 && validIpv4(text.slice(0, slash));
  if (urlHost || (slashes === 1 && slash > 0 && !dashes && !spaces && !parens)) {
    const versioned = !urlHost && before === 47 && a > 1 && isAlnum(s.charCodeAt(a - 2));
    if (urlHost || (!versioned && cidrHost(text.slice(0, slash), text.slice(slash + 1)))) {
      out.push({ type: 'ipv4', start: a, end: a + slash, confidence: adjust(0.85, Hint.ip, h), detector: 'regex', validator: 'ipv4-octets' });
      return true;
    }
    return false;
  }
  // a date followed by a time ("1993-01-04 14:56:41"): the date part decides, never a phone
  // DATE_PREFIX needs a separator at index 4 (Y-M-D) or at 1 or 2 (D/M/Y): test that before running it
  const c1 = s.charCodeAt(a + 1), c2 = s.charCodeAt(a + 2), c4 = s.charCodeAt(a + 4);
  const dated = c4 === 45 || c4 === 47 || c4 === 46 || c1 === 45 || c1 === 47 || c1 === 46 || c2 === 45 || c2 === 47 || c2 === 46 ? DATE_PREFIX.exec(text) : null;
  if (dated && dated[0].length < text.length) {
    const d = dated[0];
    if (withContext(s, a, h) & Hint.dob && validDob(d)) {
      out.push({ type: 'date_of_birth', start: a, end: a + d.length, confidence: adjust(0.85, Hint.dob, h), detector: 'context', validator: 'calendar-date' });
      return true;
    }
    return false;
  }
  if ((dashes === 2 || slashes === 2 || dots === 2) && digits >= 6 && digits <= 8 && !spaces && !parens && parseDate(text)) {
    if (withContext(s, a, h) & Hint.dob && validDob(text)) {
      out.push({ type: 'date_of_birth', start: a, end: b, confidence: adjust(0.85, Hint.dob, h), detector: 'context', validator: 'calendar-date' });
      return true;
    }
    return false;
  }
  const ssnShape = dashes === 2 && digits === 9 && /^\d{3}-\d{2}-\d{4}$/.test(text);
  if (!plus && (ssnShape || (digits === 9 && text.length === 9 && withContext(s, a, h) & Hint.ssn))) {
    if (validSsn(text)) {
      out.push({ type: 'us_ssn', start: a, end: b, confidence: adjust(ssnShape ? 0.9 : 0.8, Hint.ssn, h), detector: 'regex', validator: 'ssn-area-group-serial' });
      return true;
    }
    // written like an SSN but not a valid one: a decoy, never a phone
    if (ssnShape) return false;
  }
  if (!plus && digits >= 12 && digits <= 19 && !dots && !slashes && !parens && !(dashes && spaces)) {
    if (validCard(text)) {
      out.push({ type: 'credit_card', start: a, end: b, confidence: adjust(0.95, Hint.card, h), detector: 'regex', validator: 'luhn+iin' });
      return true;
    }
    if (digits === 12 && (/^\d{4} \d{4} \d{4}$/.test(text) || (!spaces && !dashes && withContext(s, a, h) & Hint.aadhaar)) && validAadhaar(text)) {
      out.push({ type: 'aadhaar', start: a, end: b, confidence: adjust(0.9, Hint.aadhaar, h), detector: 'regex', validator: 'verhoeff' });
      return true;
    }
  }
  if (!(h & Hint.notPii) && digits >= 6 && digits <= 15 && phoneNumber(s, a, b, plus, before === 40, digits, h, out)) return true;
  // A run that is several values side by side ("ids 12 4111 1111 1111 1111"): try its space-split pieces once.
  if (!inner && spaces > 0) {
    let hit = false;
    let i = a;
    while (i < b) {
      let j = i;
      while (j < b && s.charCodeAt(j) !== 32) j++;
      if (j - i >= 6 && numeric(s, i, j, hints, out, true)) hit = true;
      i = j + 1;
    }
    return hit;
  }
  return false;
}

/**
 * CIDR text `address/prefix` names a host when the address keeps bits past the prefix
 * (`192.168.1.5/24`, `2001:db8:1::5/64`: an interface's address with its link's prefix, as `ip addr`
 * prints it) or the prefix is the whole address (`/32`, `/128`): then its address is a finding, as a
 * bare one is. With no bit past the prefix it names a network (`10.0.0.0/8`, `2001:db8:1::/48`), a
 * route or an allow list's range, nobody's address: no finding. A prefix longer than the address, or
 * written with a leading zero, is no CIDR text.
 */
function cidrHost(address: string, prefix: string): boolean {
  const bytes = addressBytes(address);
  if (!bytes || prefix.length > 3 || (prefix.length > 1 && prefix.charCodeAt(0) === 48)) return false;
  const n = Number(prefix);
  return n <= bytes.length * 8 && hostBitsSet(bytes, n);
}

/** Hex digit, ':' or '.': the characters of an IPv6 text form. */
function v6char(c: number): boolean {
  return hexish(c) || c === 46;
}

function ipv6At(s: string, at: number, hints: number, out: Hit[]): number {
  let a = at;
  const lo = Math.max(0, at - 39);
  while (a > lo && v6char(s.charCodeAt(a - 1))) a--;
  let b = at;
  const hi = Math.min(s.length, at + 45);
  while (b < hi && v6char(s.charCodeAt(b))) b++;
  while (b > at && s.charCodeAt(b - 1) === 46) b--;
  if ((a > 0 && isWord(s.charCodeAt(a - 1))) || (b < s.length && isWord(s.charCodeAt(b)))) return b + 1;
  let colons = 0;
  let dbl = false;
  for (let i = a; i < b; i++) {
    if (s.charCodeAt(i) === 58) {
      colons++;
      if (i > a && s.charCodeAt(i - 1) === 58) dbl = true;
    }
  }
  if (!ipv6Colons(colons, dbl)) return b + 1;
  const text = s.slice(a, b);
  // with a prefix length (`2001:db8:1::/48`) a host's address only, as for IPv4 (cidrHost)
  let prefixEnd = b + 1;
  while (prefixEnd < s.length && prefixEnd - b <= 4 && isDigit(s.charCodeAt(prefixEnd))) prefixEnd++;
  const prefixed = s.charCodeAt(b) === 47 && prefixEnd > b + 1 && !(prefixEnd < s.length && isWord(s.charCodeAt(prefixEnd)));
  // needs at least three groups or a "::" to be worth validating; times like 10:30:00 fail validation
  if (text.length >= 3 && validIpv6(text) && /[0-9a-fA-F]/.test(text) && (!prefixed || cidrHost(text, s.slice(b + 1, prefixEnd)))) {
    out.push({ type: 'ipv6', start: a, end: b, confidence: adjust(text.includes('::') && text.length < 6 ? 0.6 : 0.85, Hint.ip, hints), detector: 'regex', validator: 'rfc4291' });
  }
  return b + 1;
}

/** Overlapping hits: keep the more confident, then the longer. Input in any order; output by start. */
function resolve(hits: Hit[]): Hit[] {
  if (hits.length < 2) return hits;
  hits.sort((x, y) => x.start - y.start || y.end - x.end);
  const out: Hit[] = [];
  for (const h of hits) {
    const last = out[out.length - 1];
    if (last && h.start < last.end) {
      const better = h.confidence > last.confidence || (h.confidence === last.confidence && h.end - h.start > last.end - last.start);
      if (better) out[out.length - 1] = h;
      continue;
    }
    out.push(h);
  }
  return out;
}

/**
 * All rule hits in `s`. `hints` are the context flags of the field holding it
 * (see context.ts). Offsets are UTF-16 code-unit offsets into `s`.
 */
export function scanString(s: string, hints = 0): Hit[] {
  const out: Hit[] = [];
  const n = s.length;
  sawHan = false;
  if (n < 4) return out;
  if (n > SHORT && n <= LOCATED_MAX) {
    LOCATOR.locate(s);
    locatedAnchors(s, hints, out);
    digitRuns(s, 0, RUNS_LISTED, hints, out);
    locatedColons(s, hints, out);
    return resolve(out);
  }
  if (n > SHORT) {
    anchors(s, 0, hints, out);
    digitRuns(s, 0, RUNS_REGEX, hints, out);
    colonWalk(s, s.indexOf(':'), hints, out);
    return resolve(out);
  }
  let anchorFrom = -1;
  let digitFrom = -1;
  let colonFrom = -1;
  let colons = 0;
  let doubleColon = false;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128) {
      if (c >= 0x4e00 && c <= 0x9fff) sawHan = true;
      continue;
    }
    const k = CLASS[c]!;
    if (k === 0) continue;
    if (k & 1) {
      if (digitFrom < 0) digitFrom = i;
      continue;
    }
    if (k & 4) {
      if (colonFrom < 0) colonFrom = i;
      else if (s.charCodeAt(i - 1) === 58) doubleColon = true;
      colons++;
    }
    if (anchorFrom < 0 && (k & 8 || (k & 2 && i + 1 < n && anchorAt(s, i, PAIRS[(c << 7) | (s.charCodeAt(i + 1) & 127)])))) anchorFrom = i;
  }
  if (anchorFrom >= 0) anchors(s, anchorFrom, hints, out);
  if (digitFrom >= 0) digitRuns(s, digitFrom, RUNS_WALKED, hints, out);
  if (ipv6Colons(colons, doubleColon)) colonWalk(s, colonFrom, hints, out);
  return resolve(out);
}

let sawHan = false;
/**
 * Whether the string last given to `scanString`, if it was short (up to 96
 * characters), holds a Han character (CJK ideograph), seen in its character
 * pass: the Chinese address rule runs on short values only then, at no cost
 * to those without. Long values are not walked that way, so this says false
 * for them.
 */
export function lastScanSawHan(): boolean {
  return sawHan;
}

/**
 * Whether a span's colons can be an IPv6 text form: "::" (and so two colons
 * at least, "::1"), or six colons at least (eight groups, or six and a
 * dotted quad). Times like 10:30:00 and "key:value" are not.
 */
function ipv6Colons(colons: number, doubleColon: boolean): boolean {
  return doubleColon ? colons >= 2 : colons >= 6;
}

/** IPv6 candidates at the colons from `c` (-1: none), each colon after the last candidate. */
function colonWalk(s: string, c: number, hints: number, out: Hit[]): void {
  const n = s.length;
  while (c !== -1) {
    // cheap precheck: a hex digit or another colon must sit next to it (the Locator's test too)
    const p = c > 0 ? s.charCodeAt(c - 1) : 0;
    const nx = c + 1 < n ? s.charCodeAt(c + 1) : 0;
    c = hexish(p) && hexish(nx) ? s.indexOf(':', ipv6At(s, c, hints, out)) : s.indexOf(':', c + 1);
  }
}

/** The Locator's anchors, in text order, each with its rules (as `anchors` does for short values). */
function locatedAnchors(s: string, hints: number, out: Hit[]): void {
  const w = LOCATOR.words;
  for (let k = 0, p = LOCATOR.anchorsAt; k < LOCATOR.anchorCount; k++, p += 2) {
    for (const rule of RULES_BY_ID[w[p + 1]!]!) runAnchored(s, rule, w[p]!, hints, out);
  }
}

/** The Locator's IPv6 colons; those inside a candidate already looked at are skipped, as the indexOf walk does. */
function locatedColons(s: string, hints: number, out: Hit[]): void {
  const w = LOCATOR.words;
  let next = 0;
  for (let k = 0, p = LOCATOR.colonsAt; k < LOCATOR.colonCount; k++, p++) {
    const c = w[p]!;
    if (c >= next) next = ipv6At(s, c, hints, out);
  }
}

/**
 * Anchors in text order from `from` (short values, and values too long for
 * the Locator): `@` by indexOf, the others by the trie regex. Resume right after an anchor, not after its value: a value may hold
 * a more specific one (a JWT inside "Bearer ..."); resolve() picks between them.
 */
function anchors(s: string, from: number, hints: number, out: Hit[]): void {
  let at = s.indexOf('@', from);
  ANCHOR_RE.lastIndex = from;
  let m = ANCHOR_RE.exec(s);
  while (m !== null || at !== -1) {
    if (at !== -1 && (m === null || at < m.index)) {
      for (const rule of AT_RULES) runAnchored(s, rule, at, hints, out);
      at = s.indexOf('@', at + 1);
      continue;
    }
    const a = m!.index;
    for (const rule of RULES_BY_ANCHOR.get(m![0])!) runAnchored(s, rule, a, hints, out);
    ANCHOR_RE.lastIndex = a + m![0].length;
    m = ANCHOR_RE.exec(s);
  }
}

/** Where digitRuns gets its runs: runEnd from the text, the Locator's list, the digit-run regex. */
const RUNS_WALKED = 0, RUNS_LISTED = 1, RUNS_REGEX = 2;

/**
 * Digit runs from `from` (no run starts before it), dispatched by shape; runs
 * inside anchored hits are skipped. Short values walk them with runEnd; long
 * ones take the Locator's list; values too long for the Locator use the regex
 * throughout. After a lettered hit (IBAN, NINO, PAN) that ends past its run,
 * the runs resume where it ends, as the regex resumed from there would find
 * them: listed runs inside the hit are passed over, and a run it cuts gives
 * its tail (the regex, once). Until session 9 the regex took over for the
 * rest of the value instead, so a 64 KiB text paid for the Locator's list and
 * the regex both after its first IBAN.
 */
function digitRuns(s: string, from: number, source: number, hints: number, out: Hit[]): void {
  const short = source === RUNS_WALKED;
  // anchored hits by start, walked with a cursor as the digit runs advance
  const anchored = out.length;
  if (anchored > 1) out.sort((x, y) => x.start - y.start);
  let cursor = 0;
  const n = s.length;
  let i = from;
  let m: RegExpExecArray | null = null;
  const w = LOCATOR.words;
  const listEnd = LOCATOR.runsAt + 2 * LOCATOR.runCount;
  // next pair of the Locator's list, or -1 when the regex gives the runs
  let listed = source === RUNS_LISTED ? LOCATOR.runsAt : -1;
  // listed runs: where the last lettered hit ended (runs resume there)
  let resumeAt = -1;
  if (source === RUNS_REGEX) DIGIT_RUN.lastIndex = from;
  for (;;) {
    let a: number;
    let b: number;
    if (short) {
      while (i < n) {
        const c = s.charCodeAt(i);
        if (c >= 48 && c <= 57) break;
        i++;
      }
      if (i >= n) return;
      a = i;
      b = runEnd(s, a);
      i = b;
    } else if (listed >= 0) {
      if (listed >= listEnd) return;
      a = w[listed]!;
      b = w[listed + 1]!;
      listed += 2;
      if (a < resumeAt) {
        if (b <= resumeAt) continue;
        // the run's tail after the hit, if it is a run of its own (a match starting past b is the next listed run)
        DIGIT_RUN.lastIndex = resumeAt;
        if ((m = DIGIT_RUN.exec(s)) === null || m.index >= b) continue;
        a = m.index;
        b = a + m[0].length;
      }
    } else {
      if ((m = DIGIT_RUN.exec(s)) === null) return;
      a = m.index;
      b = a + m[0].length;
    }
    // under 6 characters and no second digit: no numeric type and no IBAN/NINO/PAN tail (see DIGIT_RUN)
    if (b - a < 6 && !(a + 1 < n && isDigit(s.charCodeAt(a + 1)))) continue;
    // inside a value an anchored rule already found (an email's digits, a token's tail)
    while (cursor < anchored && out[cursor]!.end <= a) cursor++;
    if (cursor < anchored && out[cursor]!.start <= a) continue;
    if (a > 1 && (isAlpha(s.charCodeAt(a - 1)) || (s.charCodeAt(a - 1) === 32 && isUpper(s.charCodeAt(a - 2))))) {
      const end = lettered(s, a, hints, out);
      if (end > 0) {
        if (short) i = Math.max(end, b);
        else if (listed >= 0) resumeAt = Math.max(resumeAt, end);
        else DIGIT_RUN.lastIndex = Math.max(end, b);
        continue;
      }
    }
    numeric(s, a, b, hints, out, false);
  }
}

/** Whole-value hits that only context can give (a `password` field, an AWS secret in an `aws_secret_access_key` field). */
export function scanByContext(s: string, hints: number): Hit[] {
  if (!hints || hints & Hint.notPii || s.length === 0) return [];
  const v = s.trim();
  const off = s.indexOf(v);
  if (v.length === 0 || v.length > 256) return [];
  if (hints & Hint.aws_secret && /^[A-Za-z0-9/+]{40}$/.test(v)) {
    return [{ type: 'aws_secret_access_key', start: off, end: off + v.length, confidence: 0.95, detector: 'context', validator: 'context+shape' }];
  }
  if (hints & Hint.password && !/^(\*+|x+|null|none|undefined|\?|\$\d+|%s|REDACTED)$/i.test(v)) {
    return [{ type: 'password', start: off, end: off + v.length, confidence: 0.9, detector: 'context', validator: null }];
  }
  if (hints & Hint.secret && v.length >= 16 && !/\s/.test(v) && /[0-9]/.test(v) && /[A-Za-z]/.test(v)) {
    return [{ type: 'api_key', start: off, end: off + v.length, confidence: 0.8, detector: 'context', validator: 'context+charset' }];
  }
  return [];
}
