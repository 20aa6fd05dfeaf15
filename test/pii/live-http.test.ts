// Personal data that HTTP writes percent-encoded outside the query pano-pii
// walks as a form: curl sends a Referer with an encoded query and a Node.js
// server redirects to a Location with one, captured with tcpdump and parsed.
// Every value is found where it is written, joins its decoded occurrence
// under --redact hash, and leaves no trace, encoded or not, in any mode.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { EventScanner } from '@panopticon/pii';
import { curlCapture } from '../helpers/curl-capture.js';
import { redactedTexts } from '../helpers/redacted.js';

const missing = ['/usr/bin/curl', '/usr/bin/tcpdump'].filter((p) => !existsSync(p));

const PHONE = '+1 650-253-0000';
const CARD = '4111 1111 1111 1111';
const IBAN = 'DE89 3704 0044 0532 0130 00';
// as a query encodes them (encodeURIComponent: `+` is %2B, a space %20)
const query = `phone=${encodeURIComponent(PHONE)}&card=${encodeURIComponent(CARD)}&iban=${encodeURIComponent(IBAN)}`;

test('values percent-encoded in a Referer and a Location are found whole, hashed as decoded, and redacted', { skip: missing.length ? `missing ${missing.join(', ')}` : false }, async () => {
  const events = await curlCapture(
    (req, res) => {
      res.writeHead(302, { Location: `/done?${query}` });
      res.end();
    },
    (base) => [['-e', `http://shop.example/checkout?${query}`, `${base}/pay?${query}`]],
  );
  assert.equal(events.length, 1);
  const ev = events[0]!;
  const referer = (ev as { http: { request: { header: { referer: string[] } } } }).http.request.header.referer[0]!;
  const location = (ev as { http: { response: { header: { location: string[] } } } }).http.response.header.location[0]!;
  assert.equal(referer, `http://shop.example/checkout?${query}`);
  assert.equal(location, `/done?${query}`);

  const es = new EventScanner({ key: Buffer.alloc(32), hashValues: true });
  const found = es.finish(es.collect(structuredClone(ev)));
  // where each value is written in the header, as sent
  const at = (text: string, v: string) => {
    const enc = encodeURIComponent(v);
    return `${text.indexOf(enc)}-${text.indexOf(enc) + enc.length}`;
  };
  const inHeader = (name: string, text: string) =>
    found.filter((f) => f.path === `http.${name}`).map((f) => `${f.type} ${f.start}-${f.end}`);
  const want = (text: string) => [`phone ${at(text, PHONE)}`, `credit_card ${at(text, CARD)}`, `iban ${at(text, IBAN)}`];
  assert.deepEqual(inHeader('request.header.referer[0]', referer), want(referer));
  assert.deepEqual(inHeader('response.header.location[0]', location), want(location));
  // the query pano-pii decodes as a form: the same values, which the encoded ones join
  for (const [type, field] of [['phone', 'phone'], ['credit_card', 'card'], ['iban', 'iban']]) {
    const hashes = new Set(found.filter((f) => f.type === type).map((f) => f.valueHash));
    assert.equal(found.filter((f) => f.type === type && f.path === `url.query$.${field}`).length, 1, type);
    assert.equal(hashes.size, 1, `${type}: one value, one hash`);
  }

  for (const [mode, text] of redactedTexts([ev], Buffer.alloc(32))) {
    for (const v of [PHONE, CARD, IBAN]) {
      for (const form of [v, encodeURIComponent(v), v.replace(/\D/g, '').slice(-10), '650-253']) assert.ok(!text.includes(form), `${mode}: ${form} left in ${text}`);
    }
  }
});
