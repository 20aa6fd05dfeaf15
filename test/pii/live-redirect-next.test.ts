// A login redirect that carries the page asked for in a query parameter (`/login?next=` + the request's
// URL encodeURIComponent-ed, as Express apps and Django's login_required write it), followed by curl -L
// with an automatic Referer, captured with tcpdump and parsed. The Location holds the asked URL's query
// encoded twice: its spaces as `%2B` when curl wrote them `+` (--data-urlencode), as `%2520` when the
// URL wrote them `%20`. url.query$ of the first request finds the card, the phone and the name; until
// session 22 the Location was decoded once, leaving `4111+1111+…` or `4111%201111…`, and they stayed
// raw there under every --redact mode.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { existsSync } from 'node:fs';
import { EventScanner } from '@panopticon/pii';
import { curlCapture } from '../helpers/curl-capture.js';
import { redactedTexts } from '../helpers/redacted.js';

const missing = ['/usr/bin/curl', '/usr/bin/tcpdump'].filter((p) => !existsSync(p));
const key = Buffer.alloc(32, 7);
const NAME = 'Chris Sanders';
const CARD = '4111 1111 1111 1111';
const PHONE = '+1 650-253-0000';
const hmac = (type: string, v: string) => createHmac('sha256', key).update(type).update('\0').update(v).digest('hex');

test('a card, a phone and a name in a URL a redirect carries in its next parameter are found in the Location, however the URL escaped its spaces', { skip: missing.length ? `missing ${missing.join(', ')}` : false }, async () => {
  const asked: string[] = [];
  const pct = `name=${encodeURIComponent(NAME)}&card=${encodeURIComponent(CARD)}&phone=${encodeURIComponent(PHONE)}`;
  const events = await curlCapture(
    (req, res) => {
      if (req.url!.startsWith('/account')) {
        res.writeHead(302, { location: `/login?next=${encodeURIComponent(req.url!)}` }).end();
        return;
      }
      asked.push(new URL(req.url!, 'http://x').searchParams.get('next')!);
      res.end('login');
    },
    (base) => [
      ['-L', '-e', ';auto', '-G', '--data-urlencode', `name=${NAME}`, '--data-urlencode', `card=${CARD}`, '--data-urlencode', `phone=${PHONE}`, `${base}/account`],
      ['-L', '-e', ';auto', `${base}/account?${pct}`],
    ],
  );
  // the login page got the URL asked for, its values read back by the spec
  assert.equal(asked.length, 2);
  for (const a of asked) {
    const q = new URL(a, 'http://x').searchParams;
    assert.deepEqual([q.get('name'), q.get('card'), q.get('phone')], [NAME, CARD, PHONE]);
  }
  assert.deepEqual(events.map((e) => e.url.path), ['/account', '/login', '/account', '/login']);
  // encoded twice in the Location: `+` for a space became %2B, %20 became %2520
  assert.ok(events[0].http.response.header.location[0].includes('card%3D4111%2B1111'), events[0].http.response.header.location[0]);
  assert.ok(events[2].http.response.header.location[0].includes('card%3D4111%25201111'), events[2].http.response.header.location[0]);

  const s = new EventScanner({ key, hashValues: true });
  for (const ev of [events[0], events[2]]) {
    const found = s.finish(s.collect(structuredClone(ev)));
    const loc = found.filter((f) => f.path === 'http.response.header.location[0]');
    assert.deepEqual(loc.map((f) => f.type), ['person_name', 'credit_card', 'phone']);
    // each is the value it stands for: the keyed hash of the value as typed, in its canonical form
    assert.deepEqual(loc.map((f) => f.valueHash), [hmac('person_name', NAME), hmac('credit_card', CARD.replace(/ /g, '')), hmac('phone', '+16502530000')]);
  }
  for (const [mode, out] of redactedTexts(events, key)) {
    for (const part of ['4111', '253-0000']) assert.ok(!out.includes(part), `${mode}: ${part} left in ${out}`);
  }
  // the name is known by its field in the request that asked for it (repeats are found within an event;
  // in the login request it is text in the next parameter, which no field names)
  for (const [mode, out] of redactedTexts([events[0]!, events[2]!], key)) assert.ok(!out.includes('Sanders'), `${mode}: Sanders left in ${out}`);
});
