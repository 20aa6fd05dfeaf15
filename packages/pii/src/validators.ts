/**
 * Checksums and structural rules that turn a pattern match into a finding.
 * Each takes the candidate text (separators allowed where the format allows
 * them) and answers whether it is a real value of its kind. Pure functions,
 * no allocation beyond the digits they need.
 */

/** Digits of `s` (skipping spaces and dashes); undefined when any other character appears. */
export function digitsOf(s: string, allowed = ' -'): string | undefined {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) out += s[i];
    else if (!allowed.includes(s[i]!)) return undefined;
  }
  return out;
}

export function luhn(digits: string): boolean {
  let sum = 0;
  let dbl = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return false;
    if (dbl) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    dbl = !dbl;
  }
  return digits.length > 0 && sum % 10 === 0;
}

/** Card brand from IIN prefix and length (ISO/IEC 7812 ranges as published by the networks). */
export function cardBrand(d: string): string | undefined {
  const n = d.length;
  const p2 = +d.slice(0, 2);
  const p3 = +d.slice(0, 3);
  const p4 = +d.slice(0, 4);
  const p6 = +d.slice(0, 6);
  if (d[0] === '4' && (n === 13 || n === 16 || n === 19)) return 'visa';
  if (((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720)) && n === 16) return 'mastercard';
  if ((p2 === 34 || p2 === 37) && n === 15) return 'amex';
  if ((p4 === 6011 || p2 === 65 || (p3 >= 644 && p3 <= 649) || (p6 >= 622126 && p6 <= 622925)) && n >= 16 && n <= 19) return 'discover';
  if (p4 >= 3528 && p4 <= 3589 && n >= 16 && n <= 19) return 'jcb';
  if ((p3 >= 300 && p3 <= 305) || p2 === 36 || p2 === 38 || p2 === 39) return n >= 14 && n <= 19 ? 'diners' : undefined;
  if (p2 === 62 && n >= 16 && n <= 19) return 'unionpay';
  if ((p4 === 5018 || p4 === 5020 || p4 === 5038 || p4 === 5893 || p4 === 6304 || p4 === 6759 || p4 === 6761 || p4 === 6762 || p4 === 6763) && n >= 12 && n <= 19) return 'maestro';
  return undefined;
}

/** Payment card: 12–19 digits, grouped by single spaces or dashes only, known IIN/length, Luhn. */
export function validCard(s: string): boolean {
  const d = digitsOf(s);
  if (!d || d.length < 12 || d.length > 19) return false;
  if (/^(\d)\1+$/.test(d)) return false;
  return cardBrand(d) !== undefined && luhn(d);
}

/** US SSN in AAA-GG-SSSS (or 9 bare digits): area not 000/666/9xx, group not 00, serial not 0000. */
export function validSsn(s: string): boolean {
  const d = digitsOf(s);
  if (!d || d.length !== 9) return false;
  const area = +d.slice(0, 3);
  const group = +d.slice(3, 5);
  const serial = +d.slice(5);
  if (area === 0 || area === 666 || area >= 900 || group === 0 || serial === 0) return false;
  // advertising and well-known invalid numbers
  if (d === '078051120' || d === '219099999' || d === '123456789') return false;
  return true;
}

/** IBAN lengths per country (SWIFT IBAN registry). */
export const IBAN_LENGTHS: Record<string, number> = {
  AD: 24, AE: 23, AL: 28, AT: 20, AZ: 28, BA: 20, BE: 16, BG: 22, BH: 22, BR: 29, BY: 28, CH: 21, CR: 22, CY: 28,
  CZ: 24, DE: 22, DK: 18, DO: 28, EE: 20, EG: 29, ES: 24, FI: 18, FO: 18, FR: 27, GB: 22, GE: 22, GI: 23, GL: 18,
  GR: 27, GT: 28, HR: 21, HU: 28, IE: 22, IL: 23, IQ: 23, IS: 26, IT: 27, JO: 30, KW: 30, KZ: 20, LB: 28, LC: 32,
  LI: 21, LT: 20, LU: 20, LV: 21, MC: 27, MD: 24, ME: 22, MK: 19, MR: 27, MT: 31, MU: 30, NL: 18, NO: 15, PK: 24,
  PL: 28, PS: 29, PT: 25, QA: 29, RO: 24, RS: 22, SA: 24, SC: 31, SE: 24, SI: 19, SK: 24, SM: 27, ST: 25, SV: 28,
  TL: 23, TN: 24, TR: 26, UA: 29, VA: 22, VG: 24, XK: 20,
};

/** IBAN: known country, exact length, ISO 7064 mod 97-10 == 1. Spaces allowed. */
export function validIban(s: string): boolean {
  const v = s.replace(/ /g, '').toUpperCase();
  const len = IBAN_LENGTHS[v.slice(0, 2)];
  if (len === undefined || v.length !== len || !/^[A-Z]{2}\d{2}[A-Z0-9]+$/.test(v)) return false;
  const r = v.slice(4) + v.slice(0, 4);
  let rem = 0;
  for (let i = 0; i < r.length; i++) {
    const c = r.charCodeAt(i);
    const val = c <= 57 ? c - 48 : c - 55;
    rem = val >= 10 ? (rem * 100 + val) % 97 : (rem * 10 + val) % 97;
  }
  return rem === 1;
}

const VERHOEFF_D = [
  [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5], [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
  [3, 4, 0, 1, 2, 8, 9, 5, 6, 7], [4, 0, 1, 2, 3, 9, 5, 6, 7, 8], [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
  [6, 5, 9, 8, 7, 1, 0, 4, 3, 2], [7, 6, 5, 9, 8, 2, 1, 0, 4, 3], [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
  [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
];
const VERHOEFF_P = [
  [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 7, 6, 2, 8, 3, 0, 9, 4], [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
  [8, 9, 1, 6, 0, 4, 3, 5, 2, 7], [9, 4, 5, 3, 1, 2, 6, 8, 7, 0], [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
  [2, 7, 9, 3, 8, 0, 6, 4, 1, 5], [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
];

export function verhoeff(digits: string): boolean {
  let c = 0;
  for (let i = 0; i < digits.length; i++) {
    const d = digits.charCodeAt(digits.length - 1 - i) - 48;
    c = VERHOEFF_D[c]![VERHOEFF_P[i % 8]![d]!]!;
  }
  return c === 0;
}

/** Aadhaar: 12 digits (groups of 4 allowed), first digit 2–9, Verhoeff check digit. */
export function validAadhaar(s: string): boolean {
  const d = digitsOf(s, ' ');
  if (!d || d.length !== 12 || d[0] === '0' || d[0] === '1') return false;
  if (/^(\d)\1+$/.test(d)) return false;
  return verhoeff(d);
}

/** Indian PAN: AAAAA9999A, 4th letter the holder type (P person, C company, H, F, A, T, B, L, J, G). */
export function validPan(s: string): boolean {
  return /^[A-Z]{3}[PCHFATBLJG][A-Z]\d{4}[A-Z]$/.test(s);
}

/** UK National Insurance number: 2 prefix letters (HMRC rules), 6 digits, suffix A–D; spaces allowed. */
export function validNino(s: string): boolean {
  const v = s.replace(/ /g, '');
  if (!/^[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]\d{6}[A-D]$/.test(v)) return false;
  const pre = v.slice(0, 2);
  return !['BG', 'GB', 'NK', 'KN', 'TN', 'NT', 'ZZ'].includes(pre);
}

/** IPv4 dotted quad, no leading zeros (those are version-ish or octal-ish). */
export function validIpv4(s: string): boolean {
  let parts = 0;
  let val = 0;
  let len = 0;
  let lead0 = false;
  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) : 46;
    if (c === 46) {
      if (len === 0 || (lead0 && len > 1) || val > 255) return false;
      parts++;
      val = 0;
      len = 0;
      continue;
    }
    if (c < 48 || c > 57 || ++len > 3) return false;
    if (len === 1) lead0 = c === 48;
    val = val * 10 + (c - 48);
  }
  return parts === 4;
}

/** IPv6 text form (RFC 4291 §2.2, with optional embedded IPv4); needs at least two colons-separated groups. */
export function validIpv6(s: string): boolean {
  if (s.length < 3 || s.length > 45) return false;
  let head = s;
  let v4groups = 0;
  const lastColon = s.lastIndexOf(':');
  if (s.indexOf('.', lastColon) !== -1) {
    if (!validIpv4(s.slice(lastColon + 1))) return false;
    head = s.slice(0, lastColon + 1) + '0';
    v4groups = 1;
  }
  const dbl = head.indexOf('::');
  if (dbl !== -1 && head.indexOf('::', dbl + 1) !== -1) return false;
  const groups = head.split(':');
  let count = 0;
  for (let i = 0; i < groups.length; i++) {
    const g = groups[i]!;
    if (g === '') {
      if (dbl === -1) return false;
      continue;
    }
    if (!/^[0-9A-Fa-f]{1,4}$/.test(g)) return false;
    count++;
  }
  const total = count + v4groups;
  return dbl === -1 ? total === 8 : total < 8;
}

/** The bytes (4 or 16) of an address validIpv4 or validIpv6 accepts, or undefined. */
export function addressBytes(s: string): number[] | undefined {
  if (validIpv4(s)) return s.split('.').map(Number);
  if (!validIpv6(s)) return undefined;
  const lastColon = s.lastIndexOf(':');
  const v4 = s.indexOf('.', lastColon) !== -1 ? s.slice(lastColon + 1).split('.').map(Number) : [];
  const head = v4.length ? s.slice(0, lastColon + (s[lastColon - 1] === ':' ? 1 : 0)) : s;
  const [l, r] = head.includes('::') ? head.split('::') : [head, undefined];
  const words = (t: string | undefined) => (t ? t.split(':').filter(Boolean).map((g) => parseInt(g, 16)) : []);
  const left = words(l);
  const right = words(r);
  const fill = 8 - v4.length / 2 - left.length - right.length;
  const all = r === undefined ? left : [...left, ...new Array<number>(fill).fill(0), ...right];
  return [...all.flatMap((w) => [w >> 8, w & 255]), ...v4];
}

/**
 * Does the address keep bits set past `prefix` (a CIDR's `/n`)? Then the text is a host's address
 * with its link's prefix (`192.168.1.5/24`, as `ip addr` prints it); with none set it names a
 * network (`10.0.0.0/8`), unless the prefix is the whole address.
 */
export function hostBitsSet(bytes: readonly number[], prefix: number): boolean {
  if (prefix >= bytes.length * 8) return true;
  for (let bit = prefix; bit < bytes.length * 8; bit++) if ((bytes[bit >> 3]! >> (7 - (bit & 7))) & 1) return true;
  return false;
}

/** Base64url (or base64) decode that never throws; undefined on characters outside the alphabet. */
export function b64decode(s: string): Buffer | undefined {
  if (!/^[A-Za-z0-9_\-+/]*={0,2}$/.test(s)) return undefined;
  return Buffer.from(s.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
}

/** JWT/JWS compact form: header decodes to a JSON object with a string `alg`, payload is base64url. */
export function validJwt(s: string): boolean {
  const parts = s.split('.');
  if (parts.length !== 3 && parts.length !== 5) return false;
  const hdr = b64decode(parts[0]!);
  if (!hdr) return false;
  try {
    const h = JSON.parse(hdr.toString('utf8'));
    if (typeof h !== 'object' || h === null || typeof h.alg !== 'string') return false;
  } catch {
    return false;
  }
  return b64decode(parts[1]!) !== undefined;
}

/** HTTP Basic credentials: base64 of `user:password`, printable. */
export function validBasic(s: string): boolean {
  if (s.length < 4 || s.length % 4 !== 0) return false;
  const b = b64decode(s);
  if (!b || b.length < 3) return false;
  const t = b.toString('latin1');
  const colon = t.indexOf(':');
  if (colon <= 0) return false;
  for (let i = 0; i < t.length; i++) {
    const c = t.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return false;
  }
  return true;
}

/** Shannon entropy in bits per character; secrets are high, words and hex ids lower. */
export function entropy(s: string): number {
  const counts = new Map<string, number>();
  for (const ch of s) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let h = 0;
  for (const n of counts.values()) {
    const p = n / s.length;
    h -= p * Math.log2(p);
  }
  return h;
}

/** A plausible calendar date; returns [y, m, d] or undefined. Accepts Y-M-D, D/M/Y, M/D/Y, D.M.Y. */
export function parseDate(s: string): [number, number, number] | undefined {
  let m = /^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})$/.exec(s);
  let y: number, mo: number, d: number;
  if (m) {
    y = +m[1]!; mo = +m[2]!; d = +m[3]!;
  } else {
    m = /^(\d{1,2})([-/.])(\d{1,2})\2(\d{4})$/.exec(s);
    if (!m) return undefined;
    y = +m[4]!;
    const a = +m[1]!;
    const b = +m[3]!;
    // D/M/Y when the first part cannot be a month, else M/D/Y (US) for '/', D.M.Y for '.' and '-'
    if (a > 12 || m[2] !== '/') { d = a; mo = b; } else { mo = a; d = b; }
  }
  if (mo < 1 || mo > 12 || d < 1) return undefined;
  const dim = [31, y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][mo - 1]!;
  if (d > dim) return undefined;
  return [y, mo, d];
}

/** Date of birth: a valid date of a living person (1900 up to this year). */
export function validDob(s: string, thisYear = new Date().getUTCFullYear()): boolean {
  const p = parseDate(s);
  return p !== undefined && p[0] >= 1900 && p[0] <= thisYear;
}
