// --allow: an allowed value is not reported however a URL or a form escaped it, and only the whole
// value is allowed. The encoded spellings are made here by Node's encoders (encodeURIComponent,
// URLSearchParams, which writes a space `+`) and by hand (lower-case hex, PHP's urlencode of `.`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventScanner } from '@panopticon/pii';

const key = Buffer.from('0123456789abcdef0123456789abcdef');

function scan(allow: string[], ev: Record<string, any>) {
  const s = new EventScanner({ key, allow: new Set(allow), redact: 'mask' });
  return s.finish(s.collect(ev)).map((f) => `${f.type} ${f.path}`);
}

function http(referer: string, query: string, body: string) {
  return {
    pano: { v: 1, id: '1-1', kind: 'exchange', protocol: 'http' },
    url: { full: `/signup?${query}`, query },
    http: { request: { method: 'POST', header: { referer: [referer] }, body: { size: body.length, content: body } } },
  } as Record<string, any>;
}

test('an allowed e-mail address is not reported where it is written percent-encoded (url.full, a Referer, a form body)', () => {
  const a = 'a@x.org';
  const q = new URLSearchParams({ email: a }).toString();
  assert.equal(q, 'email=a%40x.org');
  const ev = () => http(`https://h/p?email=${encodeURIComponent(a)}&lc=a%40x.org`, q, `${q}&again=a%40x%2Eorg`);
  // without --allow each spelling is a finding
  assert.deepEqual(scan([], ev()), [
    'email url.full', 'email url.query$.email', 'email http.request.header.referer[0]', 'email http.request.header.referer[0]',
    'email http.request.body.content$.email', 'email http.request.body.content$.again',
  ]);
  assert.deepEqual(scan([a], ev()), []);
});

test('an allowed value covers no other value: a longer address, one around it, another local part', () => {
  const ev = http('https://h/p?e=a%40x.org.evil.com&f=b.a%40x.org', 'e=ba%40x.org', 'g=a%2Bb%40x.org');
  assert.deepEqual(scan(['a@x.org'], ev), [
    'email url.full', 'email url.query$.e', 'email http.request.header.referer[0]', 'email http.request.header.referer[0]', 'email http.request.body.content$.g',
  ]);
  // the tagged address is its own entry, written with its `+` escaped or not
  const tagged = http('https://h/p?e=a%2Bb%40x.org&f=a+b%40x.org', 'e=a%2Bb%40x.org', 'g=x');
  assert.deepEqual(scan(['a+b@x.org'], tagged), []);
});

test('an e-mail domain is compared in any case, its local part as written', () => {
  const ev = () => http('https://h/p?e=a%40X.ORG&f=A%40x.org', 'e=a%40X.Org', 'g=a@x.org');
  assert.deepEqual(scan(['a@x.org'], ev()), ['email http.request.header.referer[0]']);
  // an entry written with a capital domain allows the same
  assert.deepEqual(scan(['a@X.org'], ev()), ['email http.request.header.referer[0]']);
});

test('an allowed phone number covers its form-encoded spelling (%2B for +, + for a space)', () => {
  const phone = '+1 650-253-0000';
  const q = new URLSearchParams({ phone }).toString();
  assert.equal(q, 'phone=%2B1+650-253-0000');
  const ev = () => http(`https://h/p?${q}`, q, `phone=${encodeURIComponent(phone)}`);
  assert.equal(scan([], ev()).length, 4);
  assert.deepEqual(scan([phone], ev()), []);
});

test('an allowed value covers its other spellings, compared as it is hashed (canonical forms), and no other value', () => {
  const ev = (phone: string, card: string) => ({
    pano: { v: 1, id: '1-1', kind: 'exchange', protocol: 'http' },
    http: { request: { method: 'POST', header: {}, body: { size: 1, content: JSON.stringify({ phone, card }) } } },
  });
  const found = (allow: string[], phone: string, card: string) => scan(allow, ev(phone, card)).map((f) => f.split(' ')[0]);
  // E.164 and digits, written by hand: +1 650 253 0000 is +16502530000 (NANP), the card's digits without groups
  const allow = ['+16502530000', '4111 1111 1111 1111'];
  for (const phone of ['+1 650-253-0000', '(650) 253-0000', '+1.650.253.0000']) {
    for (const card of ['4111-1111-1111-1111', '4111111111111111']) assert.deepEqual(found(allow, phone, card), [], `${phone} ${card}`);
  }
  assert.deepEqual(found(allow, '+1 650-253-0001', '4012-8888-8888-1881'), ['phone', 'credit_card']);
});
