// An international phone number in a form and a query, as curl sends it escaped (--data-urlencode:
// `%2B1+650-253-0000`) and as a hand-written form or URL writes it, its `+` unescaped and `+` for
// its spaces (`+1+650-253-0000`), captured with tcpdump and parsed. Form encoding (WHATWG URL,
// application/x-www-form-urlencoded) reads the second as ` 1 650-253-0000`, as the Node server's
// URLSearchParams here shows; the finding covers the whole number, its country code with its `+`,
// wherever it is written, and every spelling hashes as `+1 650-253-0000`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { existsSync } from 'node:fs';
import { EventScanner } from '@panopticon/pii';
import { curlCapture, formFindingText, formReader } from '../helpers/curl-capture.js';
import { redactedTexts } from '../helpers/redacted.js';

const missing = ['/usr/bin/curl', '/usr/bin/tcpdump'].filter((p) => !existsSync(p));
const key = Buffer.alloc(32, 7);
const PHONE = '+1 650-253-0000';
const UNESCAPED = '+1+650-253-0000';

test('a phone number with its + unescaped in a form and a query is found whole, with its country code, and joins its escaped spelling', { skip: missing.length ? `missing ${missing.join(', ')}` : false }, async () => {
  const seen: string[] = [];
  const events = await curlCapture(formReader('phone', seen), (base) => [
    ['--data-urlencode', `phone=${PHONE}`, `${base}/escaped`],
    ['--data', `phone=${UNESCAPED}`, `${base}/unescaped`],
    ['-e', `http://shop.example/form?phone=${UNESCAPED}`, `${base}/get?phone=${UNESCAPED}`],
  ]);
  // the server's reading, per the form-encoding spec
  assert.deepEqual(seen, [PHONE, ' 1 650-253-0000', ' 1 650-253-0000']);
  assert.deepEqual(events.map((e) => e.url.path), ['/escaped', '/unescaped', '/get']);
  assert.equal(events[0].http.request.body.content, 'phone=%2B1+650-253-0000');
  assert.equal(events[1].http.request.body.content, `phone=${UNESCAPED}`);

  const s = new EventScanner({ key, hashValues: true });
  const found = events.flatMap((ev) => {
    const copy = structuredClone(ev);
    return s.finish(s.collect(copy)).map((f) => ({ ...f, ev }));
  });
  // the text each finding's offsets are into: a form value decoded, a header as sent
  assert.deepEqual(found.map((f) => [f.path, formFindingText(f, f.ev, 'phone').slice(f.start, f.end)]), [
    ['http.request.body.content$.phone', PHONE],
    ['http.request.body.content$.phone', ' 1 650-253-0000'],
    ['url.query$.phone', ' 1 650-253-0000'],
    ['http.request.header.referer[0]', UNESCAPED],
  ]);
  // one value, one hash: that of the number as typed, in E.164 (written here from PHONE by hand)
  const want = createHmac('sha256', key).update('phone').update('\0').update('+16502530000').digest('hex');
  assert.deepEqual(new Set(found.map((f) => f.valueHash)), new Set([want]));

  for (const [mode, out] of redactedTexts(events, key)) {
    for (const form of ['650-253-0000', '650%2D253', '+1+650', '%2B1', '"1 650', '=1+']) assert.ok(!out.includes(form), `${mode}: ${form} left in ${out}`);
  }
});

test('written with + for spaces in raw text (url.full, a cookie), the number is found whole from its first +; other + are not read as dialling prefixes', () => {
  const s = new EventScanner({ key, hashValues: true });
  const ev = {
    pano: { v: 1, id: '1-1', kind: 'exchange', protocol: 'http' },
    url: { full: '/s?a=%7E&p=+1+650-253-0000&t=+44+20+7946+0958' },
    http: { request: { header: { cookie: ['tel=+44+20+7946+0958; at=2024-01-01T10:00:00+01:00; k=abc+123+4567+89'] } } },
  } as Record<string, any>;
  const found = s.finish(s.collect(ev));
  const spans = found.map((f) => (f.path === 'url.full' ? ev.url.full : ev.http.request.header.cookie[0]).slice(f.start, f.end));
  // k's value reads `abc 123 4567 89` as a form's (every + a space inside a key=value pair, as url.query$
  // reads it), a French national number (libphonenumber-js: valid in FR only of the five regions,
  // +33123456789); its first + is no dialling prefix, so the span starts at the digits
  assert.deepEqual(spans, ['+1+650-253-0000', '+44+20+7946+0958', '+44+20+7946+0958', '123+4567+89']);
  const hmac = (v: string) => createHmac('sha256', key).update('phone').update('\0').update(v).digest('hex');
  assert.deepEqual(found.map((f) => f.valueHash), [hmac('+16502530000'), hmac('+442079460958'), hmac('+442079460958'), hmac('+33123456789')]);
});
