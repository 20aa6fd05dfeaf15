// A JWT's claims (RFC 7519 §4: its payload is base64url JSON, readable by anyone who holds the token):
// an OpenID Connect ID token or an access token names the user by e-mail address, name and phone
// number. pano-pii reports them at `…$jwt.<claim>`, hashed as the same values found anywhere else (so
// the audit log and the graph join them), while the token's own finding is what redaction replaces.
// Tokens are signed here with HMAC-SHA-256 as RFC 7515 §A.1 describes, so they are real JWTs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { EventScanner } from '@panopticon/pii';

const key = Buffer.from('0123456789abcdef0123456789abcdef');
const hmac = (type: string, v: string) => createHmac('sha256', key).update(type).update('\0').update(v).digest('hex');

function jwt(claims: object | string): string {
  const b64 = (s: string) => Buffer.from(s).toString('base64url');
  const signing = `${b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${b64(typeof claims === 'string' ? claims : JSON.stringify(claims))}`;
  return `${signing}.${createHmac('sha256', 'secret').update(signing).digest('base64url')}`;
}
const CLAIMS = { iss: 'https://id.example.com', sub: '248289761001', aud: 's6BhdRkqt3', email: 'alice@example.org', name: 'Alice Smith', phone_number: '+44 20 7946 0958', iat: 1516239022 };
const event = (token: string) => ({ pano: { v: 1, id: '1-1', kind: 'exchange', protocol: 'http' }, http: { request: { header: { authorization: [`Bearer ${token}`] } } } }) as Record<string, any>;

test('the claims of a bearer JWT: e-mail, name and phone reported at $jwt.<claim>, hashed as the same values in text', () => {
  const token = jwt(CLAIMS);
  const s = new EventScanner({ key, hashValues: true });
  const found = s.finish(s.collect(event(token)));
  const at = 'http.request.header.authorization[0]';
  assert.deepEqual(found.map((f) => [f.type, f.path, f.start, f.end, f.detector]), [
    ['jwt', at, 7, 7 + token.length, 'regex'],
    ['email', `${at}$jwt.email`, 0, 17, 'regex'],
    ['person_name', `${at}$jwt.name`, 0, 11, 'context'],
    ['phone', `${at}$jwt.phone_number`, 0, 16, 'regex'],
  ]);
  // the keyed hashes of the claims are those of the values as text, the phone in E.164
  assert.deepEqual(found.slice(1).map((f) => f.valueHash), [hmac('email', 'alice@example.org'), hmac('person_name', 'Alice Smith'), hmac('phone', '+442079460958')]);
});

test('under --redact the token is replaced whole: nothing of its claims is left; the claims are reported as found', () => {
  const token = jwt(CLAIMS);
  for (const redact of ['mask', 'hash', 'drop'] as const) {
    const ev = event(token);
    const s = new EventScanner({ key, redact });
    const found = s.finish(s.collect(ev));
    assert.deepEqual(found.map((f) => f.type), ['jwt', 'email', 'person_name', 'phone'], redact);
    const out = JSON.stringify(ev.http);
    assert.ok(!out.includes(token.split('.')[1]!) && !out.includes('alice'), `${redact}: ${out}`);
  }
});

test('claims stand only with their token: a token not reported (--types without jwt, --min-confidence above its) has no claims reported, and is left as it came', () => {
  const token = jwt(CLAIMS);
  for (const opts of [{ types: new Set(['email', 'phone']) }, { minConfidence: 0.995 }]) {
    const ev = event(token);
    const s = new EventScanner({ key, redact: 'mask', ...opts } as ConstructorParameters<typeof EventScanner>[0]);
    assert.deepEqual(s.finish(s.collect(ev)), [], JSON.stringify(opts));
    assert.equal(ev.http.request.header.authorization[0], `Bearer ${token}`);
  }
});

test('a token whose payload is no JSON object (a string, an array, not base64url JSON) gives the token\'s finding alone', () => {
  for (const claims of ['"alice@example.org"', '["alice@example.org"]', '{not json']) {
    const s = new EventScanner({ key });
    const found = s.finish(s.collect(event(jwt(claims))));
    assert.deepEqual(found.map((f) => f.type), ['jwt'], claims);
  }
});

test('several tokens in one value: each one\'s claims at $jwt[n], in the order the tokens come', () => {
  const a = jwt({ name: 'Priya Patel' });
  const b = jwt({ email: 'lena@example.net' });
  const ev = { pano: { v: 1, id: '1-3', kind: 'message', protocol: 'kafka' }, messaging: { system: 'kafka', message: { body: { size: 1, content: `tokens ${a} and ${b}` } } } };
  const s = new EventScanner({ key });
  const found = s.finish(s.collect(ev));
  assert.deepEqual(found.map((f) => [f.type, f.path]), [
    ['jwt', 'messaging.message.body.content'],
    ['jwt', 'messaging.message.body.content'],
    ['person_name', 'messaging.message.body.content$jwt[0].name'],
    ['email', 'messaging.message.body.content$jwt[1].email'],
  ]);
});
