// Phone numbers that libphonenumber rejects (unassigned area codes, partial
// numbers) are still a person's phone number when the context says so: the
// `phone-context` rule. Values written by hand; each good value below fails
// libphonenumber validation (asserted, with libphonenumber-js as the oracle),
// so it can only be found through context.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import { scanString, Hint, hintsFor } from '@panopticon/pii';

function phones(s: string, hints = 0): string[] {
  return scanString(s, hints).filter((h) => h.type === 'phone').map((h) => `${s.slice(h.start, h.end)}|${h.validator}`);
}
function lpnValid(s: string): boolean {
  const digits = s.replace(/x\d+$/, '');
  if (digits.startsWith('+')) return parsePhoneNumberFromString(digits)?.isValid() ?? false;
  return ['US', 'GB', 'DE', 'FR', 'IN'].some((r) => parsePhoneNumberFromString(digits, r)?.isValid());
}

test('phone-context: invalid numbers announced by a word before, a label after, a field, a prefix or an extension', () => {
  const cases: Array<[string, string, number?]> = [
    ['They are not answering at 785 8949', '785 8949'],
    ['Can someone call me on 9472 7916? Thanks', '9472 7916'],
    ['Name: Ann\nPhone:\n28-81-33-70', '28-81-33-70'],
    ['you can reach me at (32) 484-557 after six', '(32) 484-557'],
    ['my number is 469 34 883', '469 34 883'],
    ['text me on 61 51 81', '61 51 81'],
    ['Mobile no. 0479 50 54', '0479 50 54'],
    ['Chile 89825\n9761 9808 office\n', '9761 9808'],
    ['Office: none\n3732695155-Fax', '3732695155'],
    ['contact: 001-748-088-2851x818-Fax', '001-748-088-2851x818'],
    ['+1-177-892-0730x52646', '+1-177-892-0730x52646'],
    ['+1-054-353-1726 was the line', '+1-054-353-1726'],
    ['833.719.3994x1887', '833.719.3994x1887'],
    ['785 8949', '785 8949', Hint.phone],
    ['2546712361', '2546712361', Hint.phone],
  ];
  let byContext = 0;
  for (const [text, value, hints] of cases) {
    // some of them are valid somewhere (785 8949 in Germany): then libphonenumber names it, context only let it be tried
    // (libphonenumber is asked from 7 digits on; six-digit numbers are context-only)
    const valid = value.replace(/x\d+$/, '').replace(/\D/g, '').length >= 7 && lpnValid(value);
    assert.deepEqual(phones(text, hints ?? 0), [`${value}|${valid ? 'libphonenumber' : 'phone-context'}`], text);
    const h = scanString(text, hints ?? 0).find((x) => x.type === 'phone')!;
    if (!valid) {
      byContext++;
      assert.ok(h.confidence >= 0.6 && h.confidence < 0.85, `lower confidence than a valid number: ${h.confidence}`);
      assert.equal(h.detector, 'context');
    }
  }
  assert.ok(byContext >= 6, `most cases exercise the context rule (${byContext})`);
});

test('valid numbers keep the libphonenumber validator; dialling prefixes and extensions are part of them', () => {
  assert.deepEqual(phones('call (415) 555-2671 ext. 12 today'), ['(415) 555-2671 ext. 12|libphonenumber']);
  assert.deepEqual(phones('office 020 7946 0958 x 31'), ['020 7946 0958 x 31|libphonenumber']);
  assert.deepEqual(phones('from abroad: 011 44 20 7946 0958'), ['011 44 20 7946 0958|libphonenumber']);
  assert.deepEqual(phones('00 44 20 7946 0958'), ['00 44 20 7946 0958|libphonenumber']);
});

test('no context, no phone: the same invalid numbers elsewhere do not fire', () => {
  for (const text of [
    'order 785 8949 shipped',
    'ticket 28-81-33-70 closed',
    'rows 9761 9808 scanned',
    'contact id 78589490',
    'the answer is 42 or 4242 4242 maybe',
    '61 51 81',
    'serial 3732695155',
    'Suite 3 4022 Oakridge',
    '12345 office',
  ]) assert.deepEqual(phones(text), [], text);
});

test('decoys stay decoys even after a phone word', () => {
  const decoys = [
    '123e4567-e89b-12d3-a456-426614174000',
    '1.2.3', 'v10.4.2.1', '4.19.0-26-amd64',
    '2024-01-02T10:30:00.123456Z', '1700000000123456789',
    '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
    '000-00-0000', '666-12-3456', '536-22-8821',
    '1,234.56', '3.14159265', '10:30:00', '12/03/2024', '1985-03-14',
    '192.168.1.10', '4111 1111 1111 1111', '4111111111111112',
    '00:1a:2b:3c:4d:5e', 'x1234', '12345',
  ];
  for (const d of decoys) {
    for (const text of [`phone: ${d}`, `call me on ${d}`, `${d} office`]) assert.deepEqual(phones(text), [], text);
  }
  // a phone field does not make a card, an SSN or a date a phone
  for (const d of ['4111 1111 1111 1111', '536-22-8821', '1985-03-14', '192.168.1.10']) assert.deepEqual(phones(d, Hint.phone), [], d);
  // an identifier field still wins over the rule
  assert.ok(scanString('785 8949', Hint.notPii).every((h) => h.confidence < 0.5));
});

test('byte ranges in Range headers are not phones (found in the corpus captures)', () => {
  for (const h of ['Range', 'content-range', 'If-Range']) {
    assert.ok(scanString('bytes=816896-1022919', hintsFor(h)).every((x) => x.confidence < 0.5), h);
  }
});
