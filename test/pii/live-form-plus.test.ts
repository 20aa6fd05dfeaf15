// A query written as a browser's form GET writes it (application/x-www-form-urlencoded: `+` for every
// space, nothing else escaped: `card=4111+1111+1111+1111`), built here by URLSearchParams, sent through
// curl to a Node server acting as a proxy (so the request line carries url.full), with the same query in
// a Referer and echoed in the server's Location; captured with tcpdump and parsed. url.query$ reads the
// values decoded and redacts them; until session 22 the `+` spellings in url.full, the Referer and the
// Location were not found and stayed raw beside them under every --redact mode. And an e-mail address
// whose `+` a client left unescaped (`email=alice+news@example.org`, curl -d and a hand-built URL), which
// form encoding reads `alice news@example.org`: found whole, not as `news@example.org` with `alice` raw.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { existsSync } from 'node:fs';
import { EventScanner } from '@panopticon/pii';
import { curlCapture, formFindingText, formReader } from '../helpers/curl-capture.js';
import { redactedTexts } from '../helpers/redacted.js';

const missing = ['/usr/bin/curl', '/usr/bin/tcpdump'].filter((p) => !existsSync(p));
const key = Buffer.alloc(32, 7);
// valid by hand: Luhn (4111…), mod 97 (the IBAN of ISO 13616's example), Verhoeff (Aadhaar), HMRC prefix
const VALUES: Record<string, [string, string]> = {
  card: ['credit_card', '4111 1111 1111 1111'],
  iban: ['iban', 'GB82 WEST 1234 5698 7654 32'],
  aadhaar: ['aadhaar', '2345 6789 0124'],
  nino: ['uk_nino', 'AB 12 34 56 C'],
  phone: ['phone', '650 253 0000'],
};

test('values of a form GET whose spaces are + are found and redacted in url.full, a Referer and a Location as in url.query', { skip: missing.length ? `missing ${missing.join(', ')}` : false }, async () => {
  const query = new URLSearchParams(Object.entries(VALUES).map(([k, [, v]]) => [k, v])).toString();
  assert.ok(query.includes('card=4111+1111+1111+1111') && !query.includes('%'), query);
  const seen: string[] = [];
  const events = await curlCapture(
    (req, res) => {
      seen.push(req.url!);
      res.writeHead(302, { location: `http://shop.example/done?${query}` }).end();
    },
    (base) => [['-x', base, '-e', `http://shop.example/form?${query}`, `http://shop.example/search?${query}`]],
  );
  // the proxy got the absolute form; the spec's reading of its query gives the values back
  assert.equal(seen.length, 1);
  const got = new URL(seen[0]!).searchParams;
  for (const [k, [, v]] of Object.entries(VALUES)) assert.equal(got.get(k), v);

  assert.equal(events.length, 1);
  const ev = events[0]!;
  assert.equal(ev.url.full, `http://shop.example/search?${query}`);
  assert.equal(ev.http.request.header.referer[0], `http://shop.example/form?${query}`);
  assert.equal(ev.http.response.header.location[0], `http://shop.example/done?${query}`);

  const s = new EventScanner({ key, hashValues: true });
  const found = s.finish(s.collect(structuredClone(ev)));
  const texts: Record<string, string> = { 'url.full': ev.url.full, 'http.request.header.referer[0]': ev.http.request.header.referer[0], 'http.response.header.location[0]': ev.http.response.header.location[0] };
  for (const [k, [type, v]] of Object.entries(VALUES)) {
    const mine = found.filter((f) => f.type === type);
    // once decoded in url.query$, once as written (`+` for spaces) in each of the three URLs
    assert.deepEqual(mine.map((f) => (f.path.startsWith('url.query$') ? f.path : [f.path, texts[f.path]!.slice(f.start, f.end)])).sort(), [
      ...Object.keys(texts).map((p) => [p, v.replace(/ /g, '+')]),
      `url.query$.${k}`,
    ].sort(), k);
    // one value, one keyed hash, however it was written
    assert.equal(new Set(mine.map((f) => f.valueHash)).size, 1, k);
  }
  for (const [mode, out] of redactedTexts(events, key)) {
    for (const [, v] of Object.values(VALUES)) {
      for (const form of [v, v.replace(/ /g, '+'), v.replace(/ /g, '%20'), v.replace(/ /g, '')]) assert.ok(!out.includes(form), `${mode}: ${form} left in ${out}`);
    }
  }
});

test('+ is read as a space only inside a key=value pair: base64, time zones and + outside a pair stay as written', () => {
  const s = new EventScanner({ key });
  const ev = {
    pano: { v: 1, id: '1-1', kind: 'exchange', protocol: 'http' },
    http: {
      request: {
        header: {
          // a card with + between its groups outside any pair is no form value: not read as one
          'x-note': ['paid with 4111+1111+1111+1111'],
          cookie: ['at=2024-01-01T10:00:00+01:00; sig=ab+cd/ef+12=='],
          referer: ['http://x/?q=call+me+650+253+0000+today#card+4111+1111+1111+1111'],
        },
      },
    },
  } as Record<string, any>;
  const found = s.finish(s.collect(ev));
  assert.deepEqual(found.map((f) => [f.path, f.type, ev.http.request.header.referer[0].slice(f.start, f.end)]), [['http.request.header.referer[0]', 'phone', '650+253+0000']]);
});

test('an e-mail address whose + was left unescaped in a form and a query is found whole, hashed with its +, and redacted', { skip: missing.length ? `missing ${missing.join(', ')}` : false }, async () => {
  const EMAIL = 'alice+news@example.org';
  const seen: string[] = [];
  const events = await curlCapture(formReader('email', seen), (base) => [
    ['--data', `email=${EMAIL}&x=1`, `${base}/post`],
    ['-e', `http://shop.example/form?email=${EMAIL}`, `${base}/get?email=${EMAIL}`],
  ]);
  // the spec's reading: the + is a space, so the value holds no address but news@example.org
  assert.deepEqual(seen, ['alice news@example.org', 'alice news@example.org']);
  assert.deepEqual(events.map((e) => e.url.path), ['/post', '/get']);
  const s = new EventScanner({ key, hashValues: true });
  const found = events.flatMap((ev) => s.finish(s.collect(structuredClone(ev))).map((f) => ({ ...f, ev })));
  assert.deepEqual(found.map((f) => [f.path, formFindingText(f, f.ev, 'email').slice(f.start, f.end)]), [
    ['http.request.body.content$.email', 'alice news@example.org'],
    ['url.query$.email', 'alice news@example.org'],
    ['http.request.header.referer[0]', EMAIL],
  ]);
  const want = createHmac('sha256', key).update('email').update('\0').update(EMAIL).digest('hex');
  assert.deepEqual(new Set(found.map((f) => f.valueHash)), new Set([want]));
  for (const [mode, out] of redactedTexts(events, key)) {
    for (const form of ['alice', 'news@', 'example.org']) assert.ok(!out.includes(form), `${mode}: ${form} left in ${out}`);
  }
});

test('every one of thousands of values in one form value is found and redacted, written with + or with %20', () => {
  const cards = Array.from({ length: 3000 }, () => '4111 1111 1111 1111');
  for (const sep of ['+', '%20']) {
    const s = new EventScanner({ key, redact: 'mask' });
    const ev = { pano: { v: 1, id: '1-1', kind: 'exchange', protocol: 'http' }, http: { request: { header: { referer: [`http://x/?cards=${cards.map((c) => c.replace(/ /g, sep)).join(',')}`] } } } } as Record<string, any>;
    const found = s.finish(s.collect(ev));
    assert.equal(found.length, cards.length, sep);
    assert.ok(!ev.http.request.header.referer[0].includes('4111'), sep);
  }
});
