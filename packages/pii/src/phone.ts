/**
 * Phone numbers: a cheap shape filter first, then libphonenumber-js on the
 * survivors only (it costs ~30 µs per candidate, so never run it over text).
 */
import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js/max';
import { candidateDigits, fastValid } from './phone-fast.js';

/** National formats tried, in order, for numbers without a `+` prefix. */
export const PHONE_REGIONS: CountryCode[] = ['US', 'GB', 'DE', 'FR', 'IN'];

export function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/**
 * Does the candidate look like a written phone number? International (`+`
 * then 8–15 digits), or national with the separators people use (parens
 * around an area code, or at least two groups split by space, dash or dot),
 * or bare digits when the field is known to hold a phone number.
 */
export function phoneShape(s: string, contextSaysPhone: boolean): boolean {
  let digits = 0;
  let groups = 0;
  let inGroup = false;
  let dots = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (isDigit(c)) {
      digits++;
      if (!inGroup) groups++;
      inGroup = true;
    } else {
      inGroup = false;
      if (c === 46) dots++;
      else if (c !== 32 && c !== 45 && c !== 40 && c !== 41 && c !== 43) return false;
    }
  }
  if (digits < 7 || digits > 15) return false;
  // one dot is a decimal or a coordinate ("3.14159265", "+49.1234567"), never a phone
  if (dots === 1) return false;
  if (s.charCodeAt(0) === 43) return digits >= 8;
  // dotted quads and a.b.c versions are not phones
  if (dots > 0 && groups <= 4 && digits <= 12 && !contextSaysPhone) return false;
  if (contextSaysPhone) return true;
  if (s.includes('(')) return groups >= 3;
  return groups >= 2 && digits >= 9;
}

/**
 * End of a phone extension written right after a number at `end` ("x818",
 * " x 12", "ext. 12", " ext 4", "extension 31"), or -1. At most 6 digits.
 */
export function extensionAfter(s: string, end: number): number {
  let i = end;
  while (i < s.length && i < end + 2 && (s.charCodeAt(i) === 32 || s.charCodeAt(i) === 44)) i++;
  const c = s.charCodeAt(i) | 32;
  if (c === 120) i++;
  else if (c === 101 && (s.charCodeAt(i + 1) | 32) === 120 && (s.charCodeAt(i + 2) | 32) === 116) {
    i += 3;
    if (s.startsWith('ension', i) || s.startsWith('ENSION', i)) i += 6;
    if (s.charCodeAt(i) === 46) i++;
  } else return -1;
  if (s.charCodeAt(i) === 32) i++;
  const d0 = i;
  while (i < s.length && i - d0 < 7 && isDigit(s.charCodeAt(i))) i++;
  if (i === d0 || i - d0 > 6) return -1;
  // "x1887" must end there: "x12ab" is an identifier
  const n = i < s.length ? s.charCodeAt(i) | 32 : 32;
  if ((n >= 97 && n <= 122) || n === 127 /* '_' | 32 */) return -1;
  return i;
}

/**
 * Written like a phone number, whatever its validity: the test for numbers
 * that context says are phones but that libphonenumber does not know
 * (unassigned area codes, partial or made-up numbers people still typed as
 * theirs). Digits, spaces, `-`, `.`, one pair of parens around the first
 * group, an optional leading `+`; 7–15 digits (6 when grouped, as in
 * "61 51 81"); dots only as the sole separator of three or more groups
 * ("833.719.3994"), never a single dot (decimals, coordinates); bare digits
 * at most 11 unless international ("+" or a 00/011 dialling prefix).
 */
export function phoneLike(s: string): boolean {
  let digits = 0;
  let groups = 0;
  let inGroup = false;
  let dots = 0;
  let others = 0;
  let open = -1;
  let close = -1;
  const plus = s.charCodeAt(0) === 43;
  for (let i = plus ? 1 : 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (isDigit(c)) {
      digits++;
      if (!inGroup) groups++;
      inGroup = true;
      continue;
    }
    inGroup = false;
    if (c === 46) dots++;
    else if (c === 32 || c === 45) others++;
    else if (c === 40) {
      if (open !== -1 || groups > 1) return false;
      open = i;
    } else if (c === 41) {
      if (open === -1 || close !== -1) return false;
      close = i;
    } else return false;
  }
  if ((open === -1) !== (close === -1)) return false;
  if (digits > 15 || digits < 6) return false;
  if (digits === 6 && groups < 2) return false;
  if (dots > 0 && (dots < 2 || others > 0)) return false;
  if (groups === 1 && digits > 11 && !plus && !intlPrefix(s)) return false;
  return true;
}

/** Starts with an international dialling prefix (00 or 011) followed by a separator or country code. */
export function intlPrefix(s: string): boolean {
  return s.startsWith('00') ? s.length > 2 && s[2] !== '0' : s.startsWith('011') && s.length > 3 && s[3] !== '0';
}

// Phone numbers repeat in traffic (the same customers): remember recent verdicts.
const verdicts = new Map<string, string | null>();

/** libphonenumber validity: international as written, national in the first region where it is valid. */
export function validPhone(s: string): string | undefined {
  const seen = verdicts.get(s);
  if (seen !== undefined) return seen ?? undefined;
  const v = validPhoneUncached(s);
  if (verdicts.size >= 4096) verdicts.clear();
  verdicts.set(s, v ?? null);
  return v;
}

function validPhoneUncached(s: string): string | undefined {
  // the compiled check (phone-fast.ts) for the scanner's plain candidates, libphonenumber-js for anything else
  const c = s.length <= 250 ? candidateDigits(s) : undefined;
  if (c) {
    if (c.plus) return fastValid(true, c.digits) ? 'intl' : undefined;
    for (const r of PHONE_REGIONS) if (fastValid(false, c.digits, r)) return r;
    return undefined;
  }
  return validPhoneLibrary(s);
}

/** libphonenumber-js itself: international as written, national in the first region where it is valid. */
export function validPhoneLibrary(s: string): string | undefined {
  if (s.charCodeAt(0) === 43) {
    const n = parsePhoneNumberFromString(s);
    return n && n.isValid() ? 'intl' : undefined;
  }
  for (const r of PHONE_REGIONS) {
    const n = parsePhoneNumberFromString(s, r);
    if (n && n.isValid()) return r;
  }
  return undefined;
}
