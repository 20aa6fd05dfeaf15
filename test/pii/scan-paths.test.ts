// The scanner's two paths give the same hits: short values take one
// char-code pass that decides where the anchor, digit and ':' passes start,
// find anchors with the trie regex and walk digit runs with `runEnd`; long
// values get anchors, digit runs and IPv6 colons from the Locator (a
// WebAssembly pass, locate.ts), and after a lettered hit that ends past its
// run resume the listed runs where the hit ends, as the regex path does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scanString, runEnd, Hint, RULES } from '@panopticon/pii';

const DIGIT_RUN = /\d(?:\d|[ ./()-]{1,2}(?=[\d(]))*/y;

/** A seeded linear congruential generator: the same strings on every run. */
function seeded(seed: number): (n: number) => number {
  let state = seed;
  return (n) => ((state = (state * 1103515245 + 12345) >>> 0) >>> 8) % n;
}

/** A random string of `len` characters drawn from `alphabet`. */
function soup(rnd: (n: number) => number, alphabet: string, len: number): string {
  let s = '';
  for (let i = 0; i < len; i++) s += alphabet[rnd(alphabet.length)];
  return s;
}

test('runEnd is the digit-run regex written out', () => {
  const alphabet = '0123456789 ./()-xa:';
  const rnd = seeded(12345);
  let checked = 0;
  for (let k = 0; k < 20000; k++) {
    const s = soup(rnd, alphabet, 1 + rnd(24));
    for (let i = 0; i < s.length; i++) {
      if (s[i]! < '0' || s[i]! > '9') continue;
      DIGIT_RUN.lastIndex = i;
      const m = DIGIT_RUN.exec(s)!;
      assert.equal(runEnd(s, i), i + m[0].length, JSON.stringify(s) + ' at ' + i);
      checked++;
    }
  }
  assert.ok(checked > 50000);
});

/** Values with hits of every kind, and edge cases of the paths. */
const VALUES = [
  'mail alice.o-neil+tag@mail.example.co.uk now', 'pay with 4111 1111 1111 1111 today', 'ssn 536-22-8821.',
  'to DE89 3704 0044 0532 0130 00 please', 'call +1 (415) 555-2671 or 020 7946 0958', 'from 192.168.1.10 and 2001:db8::42',
  'key AKIAIOSFODNN7EXAMPLE in env', 'postgres://app:Tr0ub4dor@db.internal:5432/prod', 'user=bob&password=hunter22&next=/',
  'NI AB 12 34 56 C, PAN ABCPE1234F', 'GB82WEST12345698765432', 'Authorization: Basic YWxhZGRpbjpvcGVuc2VzYW1l',
  'They are not answering at 785 8949', '9761 9808 office', 'DOB: 14/03/1985', 'john%40example.com', 'x@y', 'a@b.co',
  'id 123e4567-e89b-12d3-a456-426614174000', 'v10.4.2.1 4.19.0-26-amd64', '2024-01-02T10:30:00.123456Z',
  'mac 00:1a:2b:3c:4d:5e 10:30:00', 'price 1,234.56 qty 12', 'Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig', '536228821',
  // an anchor inside another's text is not looked at: '-----BEGIN ' here starts inside 'glpat-'
  'glpat-----BEGIN PRIVATE KEY-----MIIBVAIBADANBgkqhkiG9w0BAQEFAASC-----END PRIVATE KEY-----',
  '-----BEGIN PRIVATE KEY-----MIIBVAIBADANBgkqhkiG9w0BAQEFAASC-----END PRIVATE KEY-----',
  'ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8', 'abc12 34 5678', '12 (34) 56-78', 'fe80::1ff:fe23:4567:890a%eth0',
  // IPv6 without "::": seven colons, and six before a dotted quad (the short path skips values with fewer)
  'to 2001:db8:85a3:0:0:8a2e:370:7334 now', 'nat64 64:ff9b:0:0:0:0:192.0.2.33',
];

test('a short value and the same value made long give the same hits', () => {
  for (const v of VALUES) {
    for (const hints of [0, Hint.phone, Hint.ssn, Hint.notPii]) {
      const short = scanString(v, hints);
      const long = scanString(v + ' '.repeat(200), hints);
      assert.deepEqual(long, short, `${v} (hints ${hints})`);
      assert.ok(v.length < 96 && v.length + 200 > 96);
    }
  }
});

/**
 * `text` scanned as it is (the Locator's lists) and after 1 MiB of spaces (too long for the
 * Locator: the regexes) gives the same hits, at least `minHits` of them, with and without phone context.
 */
function assertPathsAgree(text: string, minHits: number): void {
  const pad = ' '.repeat((1 << 20) + 1);
  for (const hints of [0, Hint.phone]) {
    const located = scanString(text, hints);
    const regexes = scanString(pad + text, hints).map((h) => ({ ...h, start: h.start - pad.length, end: h.end - pad.length }));
    assert.deepEqual(located, regexes, `hints ${hints}`);
    assert.ok(located.length > minHits, `only ${located.length} hits`);
  }
}

test('a value too long for the Locator (over 1 MiB characters) takes the regexes: same hits', () => {
  const rnd = seeded(77);
  const alphabet = '0123456789 ./()-+:@ABGDEPabcdefxh';
  const parts = [...VALUES];
  for (let k = 0; k < 400; k++) parts.push(soup(rnd, alphabet, 4 + rnd(60)));
  assertPathsAgree(parts.join(' | '), 25);
});

test('lettered hits that cut digit runs: listed runs resume where the regex path resumes', () => {
  // IBANs, NINOs and PANs run into digit runs and separators, so a hit ends inside a listed run
  // (its tail is a run of its own), past whole runs, or between them
  const pieces = ['GB82WEST12345698765432', 'DE89 3704 0044 0532 0130 00', 'NL91ABNA0417164300', 'AB123456C', 'QQ 12 34 56 C',
    'ABCDE1234F', '4111 1111 1111 1111', '123-45-6789', '(555) 010-9999', '2345 6789 0123', '+44 20 7946 0958', '12', '9999',
    ' ', ' ', 'x', '.', '-', 'IBAN '];
  const rnd = seeded(2026);
  const parts: string[] = [];
  for (let k = 0; k < 2000; k++) {
    let t = '';
    while (t.length < 40 + rnd(300)) t += pieces[rnd(pieces.length)];
    parts.push(t);
  }
  assertPathsAgree(parts.join(' | '), 500);
});

test('random digit soup: short and long path agree (lone digits skipped by the long-path regex)', () => {
  // letters for IBAN/NINO/PAN prefixes, digits and run separators, lone digits everywhere
  const alphabet = '0123456789012345678901234567 ./()-+ABGDEPxh:@';
  const rnd = seeded(987);
  let hits = 0;
  for (let k = 0; k < 6000; k++) {
    const v = soup(rnd, alphabet, 4 + rnd(90));
    for (const hints of [0, Hint.phone, Hint.ssn, Hint.dob]) {
      const short = scanString(v, hints);
      assert.deepEqual(scanString(v + ' '.repeat(200), hints), short, `${JSON.stringify(v)} (hints ${hints})`);
      hits += short.length;
    }
  }
  // the soup must actually produce hits, or the comparison says nothing
  assert.ok(hits > 500, `only ${hits} hits`);
});

test('anchor, digit and colon soup: the Locator finds what the short path finds, at any offset', () => {
  // pieces of every anchor (whole, cut short, overlapping: "glpat-----BEGIN "), values that
  // give hits, run separators, hex and colons, and characters beyond ASCII (the Locator
  // narrows UTF-16 to bytes: U+0130 and U+FF10 must not pass for digits or letters)
  const anchors = [...new Set(RULES.flatMap((r) => r.anchors))];
  const pieces = [
    ...anchors, ...anchors.map((a) => a.slice(0, -1)), ...anchors.map((a) => a.slice(1)),
    'alice@example.com', 'a%40b.org', 'https://u:pw@host/', 'AKIAIOSFODNN7EXAMPLE', 'ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8',
    'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig', 'password=hunter22', 'Basic YWxhZGRpbjpvcGVuc2VzYW1l', '-----', 'glpat-',
    '4111 1111 1111 1111', '536-22-8821', '+44 20 7946 0958', '(415) 555-2671', '192.168.1.10', 'DE89 3704 0044 0532 0130 00',
    'AB 12 34 56 C', 'ABCPE1234F', 'fe80::1ff:fe23:4567:890a', '2001:db8::42', '10:30:00', 'DOB: 14/03/1985',
    '0', '12', '2024', ' ', '.', '-', '(', ')', '/', ':', '::', 'a', 'F', 'x', '_', '\n', 'é', '€', '\u0130', '\uff10', '\u8030',
  ];
  const rnd = seeded(4242);
  let hits = 0;
  let located = 0;
  for (let k = 0; k < 4000; k++) {
    let v = '';
    while (v.length < 90) {
      const p = pieces[rnd(pieces.length)]!;
      if (v.length + p.length > 96) break;
      v += p;
    }
    if (v.length < 4) continue;
    // a prefix of spaces moves the value across the Locator's 16-character blocks
    const pad = ' '.repeat(1 + rnd(40));
    for (const hints of [0, Hint.phone, Hint.dob]) {
      const short = scanString(v, hints);
      const long = scanString(pad + v + ' '.repeat(120), hints).map((h) => ({ ...h, start: h.start - pad.length, end: h.end - pad.length }));
      assert.deepEqual(long, short, `${JSON.stringify(v)} after ${pad.length} spaces (hints ${hints})`);
      hits += short.length;
      located++;
    }
  }
  assert.ok(located > 10000 && hits > 5000, `${located} values, ${hits} hits`);
});
