/**
 * Phone numbers: a cheap shape filter first, then libphonenumber-js on the
 * survivors only (it costs ~30 µs per candidate, so never run it over text).
 */
import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js/max';

/** National formats tried, in order, for numbers without a `+` prefix. */
export const PHONE_REGIONS: CountryCode[] = ['US', 'GB', 'DE', 'FR', 'IN'];

function isDigit(c: number): boolean {
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
  if (s.charCodeAt(0) === 43) return digits >= 8;
  // dotted quads and a.b.c versions are not phones
  if (dots > 0 && groups <= 4 && digits <= 12 && !contextSaysPhone) return false;
  if (contextSaysPhone) return true;
  if (s.includes('(')) return groups >= 3;
  return groups >= 2 && digits >= 9;
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
  if (s.charCodeAt(0) === 43) {
    const n = parsePhoneNumberFromString(s);
    return n && n.isValid() ? n.country ?? 'intl' : undefined;
  }
  for (const r of PHONE_REGIONS) {
    const n = parsePhoneNumberFromString(s, r);
    if (n && n.isValid()) return r;
  }
  return undefined;
}
