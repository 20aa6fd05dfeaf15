/**
 * The canonical form of a finding's value: what its keyed hash (the `hash`
 * token, the audit log's `value_hash`) is taken of, so that one value joins
 * itself however it was written. `+1 650 253 0000`, `(650) 253-0000` and
 * `+16502530000` are one telephone line, `4111 1111 1111 1111` and
 * `4111-1111-1111-1111` one card; hashed as written they gave as many tokens
 * as spellings, and a graph of who called whom or paid with what split one
 * person into several. The finding's offsets and redaction span stay those of
 * the text as written: only the hash input changes.
 *
 * Called once per finding (never over text), after decodedValue (percent
 * escapes, a form's `+`). Each form is a pure function of the value's text,
 * so a repeat (`sameAs`) and its original, or two events, always agree.
 * Types without a form here (tokens, keys, passwords, names, addresses,
 * dates, IPv4 which its validator only takes without leading zeros) are
 * hashed as written: a key's case is part of it, and a date's day and month
 * order is not known from its text.
 */
import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js/max';
import { addressBytes } from './validators.js';
import { intlPrefix, validPhone } from './phone.js';

/** The ASCII digits of `s`, or `s` itself when it has none (a model's odd hit stays as it was). */
function digitsOnly(s: string): string {
  const d = s.replace(/[^0-9]/g, '');
  return d.length ? d : s;
}

/**
 * An e-mail address with its domain (after the last `@`) lower-cased: domains are case-insensitive
 * (RFC 5321 §2.4, RFC 4343), while the local part may be case-sensitive to its host (RFC 5321 §2.4),
 * so `A@x.org` and `a@x.org` may be two mailboxes and must not join.
 */
export function canonicalEmail(v: string): string {
  const at = v.lastIndexOf('@');
  return at < 0 ? v : v.slice(0, at + 1) + v.slice(at + 1).toLowerCase();
}

/** An extension after a number (`x23`, ` ext. 23`, `, extension 23`): from its first letter on. */
const EXTENSION = /[\s,]*[A-Za-z][A-Za-z.]*\s*(\d+)$/;

// Phone numbers repeat in traffic, and libphonenumber's parse costs ~15 µs: remember recent forms.
const phoneForms = new Map<string, string>();

/**
 * A phone number as E.164 (`+16502530000`), in the region libphonenumber validates it in, decided as
 * the scanner decides it (validPhone: international as written, else the first of PHONE_REGIONS; a
 * 00/011 dialling prefix read as `+`), with `;ext=N` (RFC 3966) for an extension. A number no region
 * validates (found by context, validator `phone-context`) has no known country code to write: its
 * digits, with a `+` when it was written with one.
 */
function canonicalPhone(v: string): string {
  const seen = phoneForms.get(v);
  if (seen !== undefined) return seen;
  const x = EXTENSION.exec(v);
  const num = (x ? v.slice(0, x.index) : v).trim();
  let e164: string | undefined;
  const region = validPhone(num);
  if (region !== undefined) e164 = parsePhoneNumberFromString(num, region === 'intl' ? undefined : (region as CountryCode))?.number;
  else if (num.charCodeAt(0) !== 43 && intlPrefix(num)) {
    const intl = '+' + num.slice(num[1] === '0' ? 2 : 3);
    if (validPhone(intl) !== undefined) e164 = parsePhoneNumberFromString(intl)?.number;
  }
  const base = e164 ?? (num.charCodeAt(0) === 43 ? '+' : '') + digitsOnly(num);
  const form = x ? `${base};ext=${x[1]}` : base;
  if (phoneForms.size >= 4096) phoneForms.clear();
  phoneForms.set(v, form);
  return form;
}

/** Words as hex, with the longest run of two or more zero words (the first of equals) as `::` (RFC 5952 §4.2). */
function hexWords(words: readonly number[]): string {
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < words.length; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < words.length && words[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (ws: readonly number[]) => ws.map((w) => w.toString(16)).join(':');
  if (best < 0) return hex(words);
  return `${hex(words.slice(0, best))}::${hex(words.slice(best + bestLen))}`;
}

/**
 * An IPv6 address in the text form of RFC 5952: lower-case hex without leading zeros, the longest run
 * of zero words (two or more) as `::`, and (§5) the last 32 bits dotted when the address is
 * IPv4-mapped (`::ffff:192.0.2.1`, RFC 4291) or IPv4-translated (`::ffff:0:192.0.2.1`, RFC 2765). A
 * prefix length (`2001:db8::/56`, a DNS client subnet) stays, as a decimal number.
 */
function canonicalIpv6(v: string): string {
  const slash = v.indexOf('/');
  const addr = slash < 0 ? v : v.slice(0, slash);
  const bytes = addressBytes(addr);
  if (!bytes || bytes.length !== 16) return v;
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((bytes[i]! << 8) | bytes[i + 1]!);
  const zeros = (n: number) => words.slice(0, n).every((w) => w === 0);
  const mapped = zeros(5) && words[5] === 0xffff;
  const translated = zeros(4) && words[4] === 0xffff && words[5] === 0;
  let text: string;
  if (mapped || translated) {
    const head = hexWords(words.slice(0, 6));
    text = `${head}${head.endsWith('::') ? '' : ':'}${bytes.slice(12).join('.')}`;
  } else text = hexWords(words);
  if (slash < 0) return text;
  const prefix = v.slice(slash + 1);
  return /^\d+$/.test(prefix) ? `${text}/${Number(prefix)}` : `${text}/${prefix}`;
}

/** What a finding of `type` whose (decoded) value is `value` is hashed as. */
export function canonicalValue(type: string, value: string): string {
  switch (type) {
    case 'phone':
      return canonicalPhone(value);
    // numbers written in groups: the digits
    case 'credit_card':
    case 'us_ssn':
    case 'aadhaar':
      return digitsOnly(value);
    // ISO 13616's electronic format (no spaces, upper case); a NINO and a PAN are upper case without spaces too
    case 'iban':
    case 'uk_nino':
    case 'in_pan':
      return value.replace(/\s+/g, '').toUpperCase();
    case 'email':
      return canonicalEmail(value);
    case 'ipv6':
      return canonicalIpv6(value);
    default:
      return value;
  }
}
