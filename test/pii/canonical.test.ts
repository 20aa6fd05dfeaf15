// The keyed hash of a finding (`--redact hash` token, audit `value_hash`) is
// taken of its type's canonical form, so one value written several ways
// joins. Expected forms are written here by hand from the numbers (E.164,
// RFC 5952, ISO 13616 electronic format) and hashed with node:crypto; the
// findings' spans must stay as written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createHmac } from 'node:crypto';
import { EventScanner, canonicalValue } from '@panopticon/pii';

const key = Buffer.from('0123456789abcdef0123456789abcdef');
const hmac = (type: string, v: string) => createHmac('sha256', key).update(type).update('\0').update(v).digest('hex');

/** One finding per value, each value alone in a JSON body field named `field` (its context). */
function findings(field: string, value: string) {
  const ev = {
    pano: { v: 1, id: '1-1', kind: 'exchange', protocol: 'http' },
    http: { request: { method: 'POST', header: { 'content-type': ['application/json'] }, body: { size: 1, content: JSON.stringify({ [field]: value }) } } },
  };
  const s = new EventScanner({ key, hashValues: true });
  return s.finish(s.collect(ev));
}

// [type, field, canonical form written by hand, spellings the scanner finds whole]
const SAME: Array<[string, string, string, string[]]> = [
  ['phone', 'phone', '+16502530000', ['+1-650-253-0000', '+1 650 253 0000', '(650) 253-0000', '+16502530000', '650.253.0000', '+1+650+253+0000']],
  ['phone', 'phone', '+442079460958', ['+44 20 7946 0958', '020 7946 0958', '0044 20 7946 0958', '+44-20-7946-0958']],
  // an extension is part of the line: RFC 3966's `;ext=`
  ['phone', 'phone', '+16502530000;ext=23', ['650-253-0000 x23', '+1 650 253 0000 ext. 23']],
  // valid in no region (context alone): no country code to add, its digits with the `+` it was written with
  ['phone', 'phone', '+15550100', ['+1 (555) 0100', '+1 555-0100']],
  ['credit_card', 'card', '4111111111111111', ['4111 1111 1111 1111', '4111-1111-1111-1111', '4111111111111111']],
  ['iban', 'iban', 'GB82WEST12345698765432', ['GB82 WEST 1234 5698 7654 32', 'GB82WEST12345698765432', 'gb82west12345698765432']],
  ['email', 'email', 'Alice.Smith@example.org', ['Alice.Smith@EXAMPLE.ORG', 'Alice.Smith@Example.org', 'Alice.Smith%40example.ORG']],
  ['ipv6', 'ip', '2001:db8::1', ['2001:DB8::1', '2001:db8:0:0:0:0:0:1', '2001:0db8:0000::0001']],
  ['ipv6', 'ip', '::ffff:192.0.2.1', ['::ffff:192.0.2.1', '::FFFF:C000:0201', '0:0:0:0:0:ffff:c000:201']],
  ['us_ssn', 'ssn', '536224817', ['536-22-4817', '536224817']],
  ['aadhaar', 'aadhaar', '234567890124', ['2345 6789 0124', '234567890124']],
  ['uk_nino', 'nino', 'AB123456C', ['AB 12 34 56 C', 'AB123456C']],
];

test('each type: every spelling of one value is found as written and hashed as its canonical form', () => {
  for (const [type, field, canonical, spellings] of SAME) {
    for (const spelling of spellings) {
      const f = findings(field, spelling);
      assert.equal(f.length, 1, `${spelling}: ${JSON.stringify(f)}`);
      assert.equal(f[0]!.type, type, spelling);
      // the span is the text as written (the body field's string starts at 0)
      assert.deepEqual([f[0]!.start, f[0]!.end], [0, spelling.length], spelling);
      assert.equal(f[0]!.valueHash, hmac(type, canonical), `${type} ${spelling}`);
    }
  }
});

test('other values stay apart: another number, an extension, another local part case, another address', () => {
  const hashOf = (field: string, v: string) => {
    const f = findings(field, v);
    assert.equal(f.length, 1, v);
    return f[0]!.valueHash;
  };
  const apart: Array<[string, string, string]> = [
    ['phone', '+1 650 253 0000', '+1 650 253 0001'],
    ['phone', '+1 650 253 0000', '650-253-0000 x23'],
    ['phone', '020 7946 0958', '020 7946 0959'],
    ['card', '4111 1111 1111 1111', '4012 8888 8888 1881'],
    // the local part may be case-sensitive (RFC 5321 §2.4)
    ['email', 'alice.smith@example.org', 'Alice.Smith@example.org'],
    ['ip', '2001:db8::1', '2001:db8::1:0'],
    ['ssn', '536-22-4817', '536-22-4818'],
    ['nino', 'AB 12 34 56 C', 'AB 12 34 56 D'],
  ];
  for (const [field, a, b] of apart) assert.notEqual(hashOf(field, a), hashOf(field, b), `${a} / ${b}`);
});

test('canonical forms by rule: RFC 5952 compression, digits-only fallbacks, values kept as written', () => {
  const cases: Array<[string, string, string]> = [
    // RFC 5952 §4.2.2: one zero word is not `::`; §4.2.3: the longest run, the first of equal runs
    ['ipv6', '2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['ipv6', '2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],
    ['ipv6', '2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    // §5: IPv4-translated (RFC 2765) dotted; a prefix length kept, as a number
    ['ipv6', '0:0:0:0:ffff:0:c000:201', '::ffff:0:192.0.2.1'],
    ['ipv6', '2001:0DB8:0:0::/056', '2001:db8::/56'],
    // an SSN written with spaces (which the scanner reads as a phone number) is its digits
    ['us_ssn', '536 22 4817', '536224817'],
    ['in_pan', 'ABCPE1234F', 'ABCPE1234F'],
    // a phone number valid in no region, without `+`: its digits
    ['phone', '12 34 56', '123456'],
    // kept as written: secrets are case-sensitive, a date's order is not known from its text
    ['jwt', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.AbC', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.AbC'],
    ['aws_access_key_id', 'AKIAIOSFODNN7EXAMPLE', 'AKIAIOSFODNN7EXAMPLE'],
    ['password', 'Tr0ub 4dor', 'Tr0ub 4dor'],
    ['date_of_birth', '04/01/1993', '04/01/1993'],
    ['ipv4', '192.0.2.1', '192.0.2.1'],
  ];
  for (const [type, v, want] of cases) assert.equal(canonicalValue(type, v), want, `${type} ${v}`);
});

test('a repeat joins its original: a phone number found by context alone, repeated percent-encoded in a Referer', () => {
  const ev = {
    pano: { v: 1, id: '1-1', kind: 'exchange', protocol: 'http' },
    http: {
      request: {
        method: 'POST',
        header: { 'content-type': ['application/json'], referer: ['http://x.example.com/c?n=12%2034%2056'] },
        body: { size: 1, content: JSON.stringify({ phone: '12 34 56' }) },
      },
    },
  } as Record<string, any>;
  const s = new EventScanner({ key, hashValues: true });
  const found = s.finish(s.collect(ev));
  const referer = ev.http.request.header.referer[0] as string;
  assert.deepEqual(
    found.map((f) => [f.path, f.start, f.end, f.detector]),
    [
      ['http.request.header.referer[0]', referer.indexOf('12%20'), referer.length, 'repeat'],
      ['http.request.body.content$.phone', 0, 8, 'context'],
    ],
  );
  // valid in no region, written without `+`: its digits
  assert.deepEqual(found.map((f) => f.valueHash), [hmac('phone', '123456'), hmac('phone', '123456')]);
});

test('bin/pano-pii --redact hash --key-file: two events writing one phone number and one card differently give one token each, and one audit hash', () => {
  const root = process.env.PANO_ROOT ?? process.cwd();
  const bin = resolve(root, 'bin/pano-pii');
  const dir = mkdtempSync(join(tmpdir(), 'pii-canon-'));
  const keyFile = join(dir, 'k');
  writeFileSync(keyFile, key);
  const event = (id: string, phone: string, card: string) => JSON.stringify({
    pano: { v: 1, id, kind: 'exchange', protocol: 'http' },
    http: { request: { method: 'POST', header: { 'content-type': ['application/json'] }, body: { size: 1, content: JSON.stringify({ phone, card }) } } },
  });
  const input = event('1-1', '+1 650-253-0000', '4111 1111 1111 1111') + '\n' + event('1-2', '(650) 253-0000', '4111-1111-1111-1111') + '\n';
  const audit = join(dir, 'audit.log');
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--conditions=source', bin, '--redact', 'hash', '--key-file', keyFile, '--audit', audit], { input, encoding: 'utf8', cwd: root });
  assert.equal(r.status, 0, r.stderr);
  const bodies = r.stdout.trim().split('\n').map((l) => JSON.parse(JSON.parse(l).http.request.body.content));
  const tok = (type: string, v: string) => `<${type}:${hmac(type, v).slice(0, 8)}>`;
  for (const b of bodies) assert.deepEqual(b, { phone: tok('phone', '+16502530000'), card: tok('credit_card', '4111111111111111') });
  const records = readFileSync(audit, 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((x) => x.kind === 'finding');
  assert.deepEqual(
    records.map((x) => [x.event, x.type, x.start, x.end, x.value_hash]),
    [
      ['1-1', 'phone', 0, 15, hmac('phone', '+16502530000')],
      ['1-1', 'credit_card', 0, 19, hmac('credit_card', '4111111111111111')],
      ['1-2', 'phone', 0, 14, hmac('phone', '+16502530000')],
      ['1-2', 'credit_card', 0, 19, hmac('credit_card', '4111111111111111')],
    ],
  );
});
