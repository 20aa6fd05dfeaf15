/**
 * libphonenumber-js's own validity check, compiled.
 *
 * `parsePhoneNumberFromString(text, region)?.isValid()` costs ~15 µs per call
 * (~80 µs for a number tried in five regions): it builds `new RegExp(...)`
 * from metadata strings on every test, allocates Metadata objects and walks
 * every NANP country for +1 numbers. This module re-does the same steps over
 * the same metadata (`libphonenumber-js/metadata.max.json`, so it follows the
 * installed version) with each pattern compiled once, lazily per country:
 *
 *  - calling code: a `+` number takes the first 1–3 digits that are a known
 *    code (none when it starts `+0`); a national number first loses the
 *    region's IDD prefix (then it is international), or loses the region's
 *    own calling code written without `+` when the number is too long or
 *    only valid without it;
 *  - national number: the national prefix (and carrier code, with the
 *    region's transform rule) is stripped when what remains still matches
 *    the national pattern and is a possible length;
 *  - country: for shared calling codes (+1, +44, +7, ...) the first country
 *    whose leading digits, or else whose number types, match;
 *  - valid: the national number matches the country's national pattern and
 *    one of its number types (pattern and possible lengths).
 *
 * Inputs are what the scanner hands over: digits with an optional leading
 * `+` and the punctuation `phoneShape` allows (space, `-`, `.`, parens),
 * i.e. exactly the strings for which libphonenumber's text extraction and
 * extension stripping reduce to "the digits, and whether a `+` leads".
 * Anything else goes to libphonenumber-js itself (`phone.ts`). The tests
 * compare this function with libphonenumber-js on many thousands of random
 * and real candidates.
 */
import metadataJson from 'libphonenumber-js/metadata.max.json';

type RawPlan = Array<unknown>;
interface RawMetadata {
  country_calling_codes: Record<string, string[]>;
  countries: Record<string, RawPlan>;
  nonGeographic?: Record<string, RawPlan>;
}

interface NumberType {
  re: RegExp;
  lengths?: number[];
}

interface Plan {
  cc: string;
  /** `^(?:IDD)` or undefined */
  idd?: RegExp;
  /** `^(?:national number pattern)$` */
  nnp: RegExp;
  lengths?: number[];
  /** `^(?:national prefix for parsing)` (falls back to the national prefix) */
  npfp?: RegExp;
  transform?: string;
  leading?: RegExp;
  hasTypes: boolean;
  types: NumberType[];
}

const META = metadataJson as unknown as RawMetadata;
const plans = new Map<string, Plan>();
const nonGeo = new Map<string, Plan>();

function compile(raw: RawPlan): Plan {
  // metadata version 4 layout (libphonenumber-js metadata.js, NumberingPlan)
  const str = (i: number): string | undefined => (typeof raw[i] === 'string' && (raw[i] as string).length > 0 ? (raw[i] as string) : undefined);
  const lengths = Array.isArray(raw[3]) ? (raw[3] as number[]) : undefined;
  const np = str(5);
  const npfpSrc = str(7) ?? np;
  const rawTypes = raw[11];
  const hasTypes = Array.isArray(rawTypes) && rawTypes.length > 0;
  const types: NumberType[] = [];
  if (hasTypes) {
    for (const t of rawTypes as unknown[]) {
      if (!Array.isArray(t) || typeof t[0] !== 'string' || t[0] === '') continue;
      types.push({ re: new RegExp('^(?:' + t[0] + ')$'), lengths: Array.isArray(t[1]) ? (t[1] as number[]) : lengths });
    }
  }
  const idd = str(1);
  const leading = str(10);
  return {
    cc: raw[0] as string,
    idd: idd !== undefined ? new RegExp('^(?:' + idd + ')') : undefined,
    nnp: new RegExp('^(?:' + (str(2) ?? '') + ')$'),
    lengths,
    npfp: npfpSrc !== undefined ? new RegExp('^(?:' + npfpSrc + ')') : undefined,
    transform: str(8),
    leading: leading !== undefined ? new RegExp('^(?:' + leading + ')') : undefined,
    hasTypes,
    types,
  };
}

function countryPlan(country: string): Plan | undefined {
  let p = plans.get(country);
  if (p === undefined) {
    const raw = META.countries[country];
    if (!raw) return undefined;
    p = compile(raw);
    plans.set(country, p);
  }
  return p;
}

/** Countries sharing a calling code, main country first; undefined for non-geographic codes. */
function countriesFor(cc: string): string[] | undefined {
  const list = META.country_calling_codes[cc];
  if (!list || (list.length === 1 && list[0]!.length === 3)) return undefined;
  return list;
}

function hasCallingCode(cc: string): boolean {
  return countriesFor(cc) !== undefined || META.nonGeographic?.[cc] !== undefined;
}

function callingCodePlan(cc: string): Plan | undefined {
  const list = countriesFor(cc);
  if (list) return countryPlan(list[0]!);
  let p = nonGeo.get(cc);
  if (p === undefined) {
    const raw = META.nonGeographic?.[cc];
    if (!raw) return undefined;
    p = compile(raw);
    nonGeo.set(cc, p);
  }
  return p;
}

/** libphonenumber's checkNumberLength with the plan's general possible lengths. */
function lengthVerdict(n: number, lengths: number[] | undefined): 'ok' | 'short' | 'long' | 'invalid' {
  if (!lengths) return 'ok';
  if (lengths[0] === n) return 'ok';
  if (lengths[0]! > n) return 'short';
  if (lengths[lengths.length - 1]! < n) return 'long';
  return lengths.indexOf(n, 1) >= 0 ? 'ok' : 'invalid';
}

/** getNumberType(...) !== undefined: national pattern, then any number type with a length it allows. */
function hasType(p: Plan, nn: string): boolean {
  if (!p.nnp.test(nn)) return false;
  for (const t of p.types) {
    if (t.lengths && t.lengths.indexOf(nn.length) < 0) continue;
    if (t.re.test(nn)) return true;
  }
  return false;
}

function countryByNational(countries: string[], nn: string): string | undefined {
  for (const c of countries) {
    const p = countryPlan(c)!;
    if (p.leading) {
      if (nn && p.leading.test(nn)) return c;
    } else if (hasType(p, nn)) return c;
  }
  return undefined;
}

function countryByCallingCode(cc: string, nn: string): string | undefined {
  const list = countriesFor(cc);
  if (!list) return undefined;
  if (list.length === 1) return list[0];
  return countryByNational(list, nn);
}

/** extractNationalNumber: national prefix (and carrier code) stripped when that leaves a possible number. */
function nationalNumber(number: string, p: Plan): string {
  let nn = number;
  if (number && p.npfp) {
    const m = p.npfp.exec(number);
    if (m) {
      const groups = m.length - 1;
      const captured = groups > 0 && m[groups];
      nn = p.transform && captured ? number.replace(p.npfp, p.transform) : number.slice(m[0].length);
    }
  }
  if (nn !== number) {
    if (p.nnp.test(number) && !p.nnp.test(nn)) return number;
    if (p.lengths) {
      const c = countryByCallingCode(p.cc, nn);
      const lengths = c !== undefined ? countryPlan(c)!.lengths : p.lengths;
      const v = lengthVerdict(nn.length, lengths);
      if (v === 'short' || v === 'invalid') return number;
    }
  }
  return nn;
}

/**
 * `parsePhoneNumberFromString(text, region)?.isValid() === true`, for digits
 * with an optional leading `+` (region ignored then, as libphonenumber does
 * for numbers with a calling code). `region` must be a country of the metadata.
 */
export function fastValid(plus: boolean, digits: string, region?: string): boolean {
  let intl: string | undefined; // digits after the `+` or the IDD prefix
  let cc: string | undefined;
  let rest: string | undefined;
  if (plus) intl = digits;
  else {
    if (region === undefined) return false;
    const rp = countryPlan(region)!;
    const m = rp.idd?.exec(digits);
    if (m && m[0].length > 0) {
      const after = digits.slice(m[0].length);
      // an IDD followed by 0 is not an international number
      if (after.length > 0 && after[0] !== '0') intl = after;
    }
    if (intl === undefined && digits.startsWith(rp.cc)) {
      // the region's calling code written without "+"
      const shorter = digits.slice(rp.cc.length);
      const sn = nationalNumber(shorter, rp);
      const n = nationalNumber(digits, rp);
      if ((!rp.nnp.test(n) && rp.nnp.test(sn)) || lengthVerdict(n.length, rp.lengths) === 'long') {
        cc = rp.cc;
        rest = shorter;
      }
    }
  }
  if (intl !== undefined) {
    if (intl.length === 0 || intl[0] === '0') return false;
    for (let i = 1; i <= 3 && i <= intl.length; i++) {
      const c = intl.slice(0, i);
      if (hasCallingCode(c)) {
        cc = c;
        rest = intl.slice(i);
        break;
      }
    }
    if (cc === undefined) return false;
  }
  let plan: Plan;
  let country: string | undefined;
  if (cc !== undefined) {
    plan = callingCodePlan(cc)!;
  } else {
    country = region!;
    plan = countryPlan(country)!;
    cc = plan.cc;
    rest = digits;
  }
  if (!rest) return false;
  const nn = nationalNumber(rest, plan);
  const exact = countryByCallingCode(cc, nn);
  if (exact !== undefined) country = exact;
  if (nn.length < 2 || nn.length > 17) return false;
  const vp = country !== undefined ? countryPlan(country)! : callingCodePlan(cc)!;
  return vp.hasTypes ? hasType(vp, nn) : vp.nnp.test(nn);
}

/**
 * The digits of a scanner candidate and whether a `+` leads, or undefined
 * when it holds anything but digits, `+` first, space, `-`, `.` and parens
 * (then only libphonenumber-js itself may judge it).
 */
export function candidateDigits(s: string): { plus: boolean; digits: string } | undefined {
  let digits = '';
  let plus = false;
  let seenDigit = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      digits += s[i];
      seenDigit = true;
    } else if (c === 43) {
      if (seenDigit || plus) return undefined;
      plus = true;
    } else if (c !== 32 && c !== 45 && c !== 46 && c !== 40 && c !== 41) return undefined;
  }
  // libphonenumber needs a viable number: at least three digits (two for bare digits)
  if (digits.length < 3 || digits.length > 250) return undefined;
  return { plus, digits };
}
