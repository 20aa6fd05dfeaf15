// The compiled phone validator (phone-fast.ts) against its oracle,
// libphonenumber-js itself: the verdicts must agree exactly on many
// thousands of candidates, random (formatted like people write numbers,
// with dialling prefixes, national prefixes and calling codes in front to
// reach every parsing branch) and real (libphonenumber-js's own example
// numbers for every country, and the phone values of Presidio's sets).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parsePhoneNumberFromString, getCountries, getExampleNumber, type CountryCode } from 'libphonenumber-js/max';
import examples from 'libphonenumber-js/examples.mobile.json';
import { fastValid, candidateDigits, validPhone, validPhoneLibrary, PHONE_REGIONS } from '@panopticon/pii';

function oracle(text: string, region?: CountryCode): boolean {
  return parsePhoneNumberFromString(text, region)?.isValid() ?? false;
}

function check(text: string, regions: readonly CountryCode[], bad: string[]): void {
  const c = candidateDigits(text);
  assert.ok(c, text);
  if (c.plus) {
    if (fastValid(true, c.digits) !== oracle(text)) bad.push(`${text} (international)`);
    return;
  }
  for (const r of regions) if (fastValid(false, c.digits, r) !== oracle(text, r)) bad.push(`${text} in ${r}`);
}

// xorshift32: reproducible
let state = 0x9e3779b9;
function rnd(n: number): number {
  state ^= state << 13; state >>>= 0;
  state ^= state >>> 17;
  state ^= state << 5; state >>>= 0;
  return state % n;
}
function digits(n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += String(rnd(10));
  return s;
}
/** Groups split by one separator kind, sometimes the first in parens. */
function format(d: string): string {
  const sep = [' ', '-', '.', ''][rnd(4)]!;
  let out = '';
  let i = 0;
  let first = true;
  while (i < d.length) {
    const g = Math.min(d.length - i, 2 + rnd(3));
    const part = d.slice(i, i + g);
    out += first && rnd(5) === 0 ? `(${part}) ` : (out && !out.endsWith(' ') ? sep : '') + part;
    first = false;
    i += g;
  }
  return out;
}
const PREFIXES = ['', '', '', '0', '00', '011', '1', '44', '49', '33', '91', '001', '0044', '01', '0049', '00 33 ', '0091', '7', '8', '9'];

test('fastValid agrees with libphonenumber-js on 12,000 random candidates in the scanned regions', () => {
  const bad: string[] = [];
  for (let i = 0; i < 12000; i++) {
    const body = digits(4 + rnd(12));
    const lead = PREFIXES[rnd(PREFIXES.length)]!;
    let text = format(lead + body);
    if (rnd(4) === 0) text = '+' + text.replace(/^\(/, '');
    if (!/\d/.test(text[0] ?? '') && text[0] !== '+' && text[0] !== '(') continue;
    check(text, PHONE_REGIONS, bad);
  }
  assert.deepEqual(bad.slice(0, 20), [], `${bad.length} disagreements`);
});

test('fastValid agrees on example numbers of every country, international and national, as regions too', () => {
  const bad: string[] = [];
  let n = 0;
  for (const country of getCountries()) {
    const ex = getExampleNumber(country, examples as never);
    if (!ex) continue;
    const variants = [ex.number, ex.formatInternational(), ex.formatNational(), ex.nationalNumber];
    // near misses: one digit changed, one dropped, one added
    const nn = ex.nationalNumber as string;
    const k = rnd(nn.length);
    variants.push('+' + ex.countryCallingCode + nn.slice(0, k) + String((+nn[k]! + 1) % 10) + nn.slice(k + 1));
    variants.push('+' + ex.countryCallingCode + nn.slice(1));
    variants.push('+' + ex.countryCallingCode + nn + '5');
    for (const v of variants) {
      if (!candidateDigits(v)) continue;
      check(v, [...PHONE_REGIONS, country], bad);
      n++;
    }
  }
  assert.ok(n > 1000, `${n} example variants`);
  assert.deepEqual(bad.slice(0, 20), [], `${bad.length} disagreements`);
});

test('fastValid agrees on random national numbers in every country of the metadata', () => {
  const bad: string[] = [];
  const all = getCountries();
  for (let i = 0; i < 6000; i++) {
    const r = all[rnd(all.length)]!;
    const text = format(PREFIXES[rnd(PREFIXES.length)]! + digits(5 + rnd(9)));
    if (!/^[\d(]/.test(text)) continue;
    check(text, [r], bad);
  }
  assert.deepEqual(bad.slice(0, 20), [], `${bad.length} disagreements`);
});

test('fastValid agrees on the phone values of the Presidio sets (when present)', (t) => {
  const dir = resolve(process.env.PANO_ROOT ?? process.cwd(), '../shared/pii-data/presidio-research');
  if (!existsSync(dir)) return t.skip('no ../shared/pii-data here');
  const bad: string[] = [];
  let n = 0;
  for (const f of ['synth_dataset_v2.json', 'generated_large.json']) {
    const data = JSON.parse(readFileSync(resolve(dir, f), 'utf8')) as Array<{ spans: Array<{ entity_type: string; entity_value: string }> }>;
    for (const d of data) {
      for (const s of d.spans) {
        if (s.entity_type !== 'PHONE_NUMBER') continue;
        const v = s.entity_value.replace(/x\d+$/, '');
        if (!candidateDigits(v)) continue;
        check(v, PHONE_REGIONS, bad);
        n++;
      }
    }
  }
  assert.ok(n > 200, `${n} values`);
  assert.deepEqual(bad.slice(0, 20), [], `${bad.length} disagreements`);
});

test('validPhone: the compiled path and the library path give the same verdicts; odd text goes to the library', () => {
  for (const s of ['(415) 555-2671', '+44 20 7946 0958', '020 7946 0958', '030 901820', '+1-962-819-8200', '785 8949', '00 44 20 7946 0958', '011 44 20 7946 0958']) {
    assert.equal(Boolean(validPhone(s)), Boolean(validPhoneLibrary(s)), s);
  }
  assert.equal(candidateDigits('+1 415 555 2671 ext 3'), undefined);
  assert.equal(candidateDigits('1+2'), undefined);
  assert.equal(candidateDigits('12'), undefined);
});
