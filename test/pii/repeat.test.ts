// A value found in one field is found again wherever the same event repeats it (repeat.ts):
// Redis query text repeating its arguments, a name coming back URL-encoded in a cookie or in
// another case in a search term, and redaction covering every place.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { BUILTIN_MODEL, EventScanner, OnnxSpanModel, type Candidate, type SpanModel } from '@panopticon/pii';
import { REPEAT_MAX_VALUES } from '../../packages/pii/src/repeat.ts';

const key = Buffer.from('0123456789abcdef0123456789abcdef');
const token = (type: string, v: string) => `<${type}:${createHmac('sha256', key).update(type).update('\0').update(v).digest('hex').slice(0, 8)}>`;

function redisEvent() {
  return {
    pano: { v: 1, id: '1-1', kind: 'exchange', protocol: 'redis' },
    db: { system: { name: 'redis' }, operation: { name: 'HSET' }, query: { text: 'HSET user:7 surname Norem city Noremberg' } },
    redis: { args: ['user:7', 'surname', 'Norem', 'city', 'Noremberg'] },
  } as Record<string, any>;
}

test('a name found in a Redis argument is found (and redacted) in the query text that repeats it, not inside a longer word', () => {
  const s = new EventScanner({ key, redact: 'mask' });
  const ev = redisEvent();
  const found = s.finish(s.collect(ev));
  assert.deepEqual(
    found.map((f) => [f.path, f.start, f.end, f.type, f.detector, f.confidence]),
    [
      ['db.query.text', 20, 25, 'person_name', 'repeat', 0.75],
      ['redis.args[2]', 0, 5, 'person_name', 'context', 0.75],
    ],
  );
  assert.equal(ev.db.query.text, 'HSET user:7 surname <person_name:*****> city Noremberg');
  assert.equal(ev.redis.args[2], '<person_name:*****>');
  assert.equal(ev.redis.args[4], 'Noremberg');
});

function httpEvent(extra: Record<string, unknown> = {}) {
  return {
    pano: { v: 1, id: '1-1', kind: 'exchange', protocol: 'http' },
    http: {
      request: {
        method: 'POST',
        header: {
          cookie: ['who=Ada+Lovelace; theme=dark'],
          referer: ['https://example.com/search?x=1&q=about%20ada%20lovelace%20notes'],
          'content-type': ['application/json'],
        },
        body: { size: 60, content: JSON.stringify({ name: 'Ada Lovelace', request_id: 'Ada Lovelace', note: 'Kafka rocks', ...extra }) },
      },
      response: { status_code: 200, header: { server: ['Ada Lovelace'] } },
    },
    messaging: { system: 'kafka' },
  } as Record<string, any>;
}

test('repeats URL-encoded (+, %20 after a percent escape) and, for several words, in any case; not in identifier fields or protocol text', () => {
  const s = new EventScanner({ key, hashValues: true });
  const ev = httpEvent();
  const found = s.finish(s.collect(ev));
  const cookie = ev.http.request.header.cookie[0] as string;
  const referer = ev.http.request.header.referer[0] as string;
  assert.deepEqual(
    found.map((f) => [f.path, f.start, f.end, f.detector]),
    [
      ['http.request.header.cookie[0]', cookie.indexOf('Ada+'), cookie.indexOf('; '), 'repeat'],
      ['http.request.header.referer[0]', referer.indexOf('ada%20'), referer.indexOf('%20notes'), 'repeat'],
      ['http.request.body.content$.name', 0, 12, 'context'],
    ],
  );
  // one value however it is written: the same keyed hash for the audit log
  assert.equal(new Set(found.map((f) => f.valueHash)).size, 1);
  // `server` is protocol text, `user_id` an identifier field, and `kafka` is not the one-word name `Kafka`
  assert.ok(!found.some((f) => /server|request_id|messaging/.test(f.path)));
});

test('one word repeats only in its own case', () => {
  const s = new EventScanner({ key });
  const ev = httpEvent({ name: 'Kafka' });
  const found = s.finish(s.collect(ev));
  assert.deepEqual(
    found.map((f) => [f.path, f.start, f.end, f.detector]),
    [
      ['http.request.body.content$.name', 0, 5, 'context'],
      ['http.request.body.content$.note', 0, 5, 'repeat'],
    ],
  );
});

test('hash redaction gives a repeat the token of the value it repeats; --allow applies to each occurrence', () => {
  const s = new EventScanner({ key, redact: 'hash' });
  const ev = httpEvent();
  s.finish(s.collect(ev));
  const t = token('person_name', 'Ada Lovelace');
  assert.equal(ev.http.request.header.cookie[0], `who=${t}; theme=dark`);
  assert.equal(ev.http.request.header.referer[0], `https://example.com/search?x=1&q=about%20${t}%20notes`);
  assert.equal(JSON.parse(ev.http.request.body.content).name, t);

  const a = new EventScanner({ key, allow: new Set(['Ada+Lovelace']) });
  const found = a.finish(a.collect(httpEvent()));
  assert.deepEqual(found.map((f) => f.path), ['http.request.header.referer[0]', 'http.request.body.content$.name']);
});

function formPostEvent() {
  // a browser's form POST (form encoding escapes ' and !, writes a space +, é as UTF-8), its values echoed in Set-Cookie
  return {
    pano: { v: 1, id: '1-1', kind: 'exchange', protocol: 'http' },
    http: {
      request: { method: 'POST', body: { size: 60, content: 'author=Ren%C3%A9e+O%27Neil&password=Sup3rS3cret%21&comment=hi' } },
      response: { status_code: 302, header: { 'set-cookie': ['comment_author_0d7d=Ren%C3%A9e+O%27Neil; path=/', 'last_pw=Sup3rS3cret%21; path=/'] } },
    },
  } as Record<string, any>;
}

test('a repeat is found however it was percent-encoded (form encoding of ! \' ( ) *, + for a space, UTF-8), and redacted under every mode', () => {
  const s = new EventScanner({ key, hashValues: true });
  const ev = formPostEvent();
  const found = s.finish(s.collect(ev));
  const cookies = ev.http.response.header['set-cookie'] as string[];
  assert.deepEqual(
    found.map((f) => [f.path, f.start, f.end, f.type, f.detector]),
    [
      ['http.request.body.content$.author', 0, 12, 'person_name', 'context'],
      ['http.request.body.content$.password', 0, 12, 'password', 'context'],
      ['http.response.header.set-cookie[0]', cookies[0]!.indexOf('Ren'), cookies[0]!.indexOf(';'), 'person_name', 'repeat'],
      ['http.response.header.set-cookie[1]', cookies[1]!.indexOf('Sup'), cookies[1]!.indexOf(';'), 'password', 'repeat'],
    ],
  );
  // each value however written has one keyed hash
  assert.equal(found[0]!.valueHash, found[2]!.valueHash);
  assert.equal(found[1]!.valueHash, found[3]!.valueHash);

  for (const redact of ['mask', 'hash', 'drop'] as const) {
    const r = new EventScanner({ key, redact });
    const red = formPostEvent();
    r.finish(r.collect(red));
    const out = JSON.stringify(red);
    assert.ok(!out.includes('Ren%C3%A9e') && !out.includes('Sup3rS3cret'), `${redact}: ${out}`);
    if (redact === 'hash') {
      assert.deepEqual(red.http.response.header['set-cookie'], [`comment_author_0d7d=${token('person_name', 'Renée O\'Neil')}; path=/`, `last_pw=${token('password', 'Sup3rS3cret!')}; path=/`]);
    }
  }
});

test('a repeat is found in every common percent-encoding: any case of hex digits, escaped or not, + or %20, UTF-8 or Latin-1; whole words of the decoded text only', () => {
  const cases: Array<[field: string, value: string, written: string, found: boolean]> = [
    ['password', 'Sup3r/S3cret', 'Sup3r%2fS3cret', true], // lower-case hex
    ['password', 'Sup3r/S3cret', 'Sup3r%2FS3cret', true],
    ['password', 'Sup3rS3cret!', 'Sup3rS3cret%21', true], // encodeURIComponent leaves `!`, form encoding does not
    ['password', "it's(*)", 'it%27s%28%2A%29', true],
    ['password', 'Sup3r+S3cret!', 'Sup3r+S3cret%21', true], // Go's PathEscape leaves `+`
    ['password', 'Sup3r+S3cret!', 'Sup3r%2BS3cret%21', true],
    ['password', 'Sup3r S3cret!', 'Sup3r+S3cret%21', true],
    ['password', 'Sup3rS3cr\u00e9t', 'Sup3rS3cr%c3%a9t', true],
    ['password', 'Sup3rS3cr\u00e9t', 'Sup3rS3cr%E9t', true], // Latin-1, as older forms send it
    ['password', 'Sup3rS3cret!', 'Sup3rS3cret%21x', false], // part of a longer word
    ['password', 'Sup3rS3cret!', 'xSup3rS3cret%21', false],
    ['password', 'Sup3r/S3cret', 'sup3r%2Fs3cret', false], // a password in another case is another password
    ['customer_name', 'Jos\u00e9 Gonzalez', 'Jos%C3%A9%20Gonzalez', true],
    ['customer_name', 'Jos\u00e9 Gonzalez', 'jos%c3%a9+gonzalez', true], // a name of several words, in any case
    ['customer_name', 'Ren\u00e9e O\'Neil', 'Ren%C3%A9e+O%27Neil', true],
    ['customer_name', 'Norem', 'Nor%65mberg', false],
  ];
  for (const [field, value, written, expected] of cases) {
    const s = new EventScanner({ key, hashValues: true });
    const header = `echo ${written} end`;
    const ev = {
      pano: { v: 1, id: '1-1', kind: 'exchange', protocol: 'http' },
      http: { request: { header: { 'x-debug': [header] }, body: { size: 1, content: JSON.stringify({ [field]: value }) } } },
    } as Record<string, any>;
    const found = s.finish(s.collect(ev));
    const repeat = found.filter((f) => f.path === 'http.request.header.x-debug[0]');
    const what = `${JSON.stringify(value)} as ${JSON.stringify(written)}`;
    if (!expected) {
      assert.deepEqual(repeat, [], what);
      continue;
    }
    assert.deepEqual(repeat.map((f) => [f.start, f.end, f.detector]), [[5, 5 + written.length, 'repeat']], what);
    assert.equal(repeat[0]!.valueHash, found.find((f) => f.path !== 'http.request.header.x-debug[0]')!.valueHash, what);
  }
});

test('a repeat replaces shorter hits of its type inside it ("Chris" of "Chris+Sanders"), not hits of other types', async () => {
  // a model that knows only these two spans, so that the set-cookie value holds the part "Chris"
  const model: SpanModel = {
    labels: ['none', 'person_name', 'street_address'],
    async score(cands: Candidate[]) {
      return cands.map((c): [string, number] => {
        const t = c.text.slice(c.start, c.end);
        return t === 'Chris Sanders' || t === 'Chris' ? ['person_name', 0.9] : ['none', 0.99];
      });
    },
  };
  const s = new EventScanner({ key, model });
  const ev = {
    pano: { v: 1, id: '1-1', kind: 'exchange', protocol: 'http' },
    http: {
      request: { body: { size: 30, content: JSON.stringify({ author: 'Chris Sanders' }) } },
      response: { header: { 'set-cookie': ['author_0d7d=Chris+Sanders; expires=Sat', 'x=Chris+Sanders@example.com'] } },
    },
  } as Record<string, any>;
  const p = s.collect(ev);
  await s.scoreCandidates([p]);
  const found = s.finish(p);
  assert.deepEqual(
    found.map((f) => [f.path, f.start, f.end, f.type, f.detector]),
    [
      ['http.request.body.content$.author', 0, 13, 'person_name', 'model'],
      ['http.response.header.set-cookie[0]', 12, 25, 'person_name', 'repeat'],
      ['http.response.header.set-cookie[1]', 2, 27, 'email', 'regex'],
    ],
  );
});

test(`at most ${REPEAT_MAX_VALUES} distinct values of one event are looked for again`, () => {
  const names = Array.from({ length: REPEAT_MAX_VALUES + 8 }, (_, i) => `Nam${String.fromCharCode(97 + (i % 26))}${String.fromCharCode(97 + Math.floor(i / 26))}`);
  const s = new EventScanner({ key });
  const ev = {
    pano: { v: 1, id: '1-1', kind: 'exchange', protocol: 'http' },
    http: { request: { body: { size: 1, content: JSON.stringify({ people: names.map((name) => ({ name })), note: names.join(', ') }) } } },
  } as Record<string, any>;
  const found = s.finish(s.collect(ev));
  assert.equal(found.filter((f) => f.detector === 'context').length, names.length);
  assert.equal(found.filter((f) => f.detector === 'repeat').length, REPEAT_MAX_VALUES);
});

test('a name found all in lower case is not looked for again', async () => {
  const model: SpanModel = {
    labels: ['none', 'person_name', 'street_address'],
    async score(cands: Candidate[]) {
      return cands.map((c): [string, number] => (c.text === 'elements' ? ['person_name', 0.9] : ['none', 0.99]));
    },
  };
  const s = new EventScanner({ key, model });
  const ev = {
    pano: { v: 1, id: '1-1', kind: 'exchange', protocol: 'redis' },
    redis: { response: { value: ['surname', 'elements', 'summary', 'the number of elements returned'] } },
  } as Record<string, any>;
  const p = s.collect(ev);
  await s.scoreCandidates([p]);
  const found = s.finish(p);
  assert.deepEqual(found.map((f) => [f.path, f.detector]), [['redis.response.value[1]', 'model']]);
});

for (const withModel of [false, true]) {
  test(`after --redact mask no whole-word copy of a found name, address or context value is left in a scanned field (generated events of every protocol${withModel ? ', shipped model' : ''})`, async () => {
    const { generate } = await import('../../scripts/pii/generate.js');
    const model = withModel ? await OnnxSpanModel.load(BUILTIN_MODEL) : undefined;
    const gen = generate({ count: 1500, seed: 777, split: 'test' });
    const SKIP = new Set(['pano', 'client', 'server', 'network', 'process', 'error', 'pii', 'source', 'destination']);
    let checked = 0;
    for (const ev0 of gen.events) {
      // the values found, read from a scan without redaction
      const plain = new EventScanner({ key, model });
      const p = plain.collect(structuredClone(ev0));
      await plain.scoreCandidates([p]);
      const values = new Set<string>();
      for (const f of plain.finish(p)) {
        if (f.detector !== 'context' && f.detector !== 'model') continue;
        const slot = (p.slots as Array<{ path: string; value: string }>).find((s) => s.path === f.path)!;
        const v = slot.value.slice(f.start, f.end);
        if (v.length >= 3 && /\p{Lu}|\d/u.test(v) && f.type !== 'ipv4' && f.type !== 'ipv6') values.add(v);
      }
      if (values.size === 0) continue;
      const masked = new EventScanner({ key, redact: 'mask', model });
      const ev = structuredClone(ev0);
      const q = masked.collect(ev);
      await masked.scoreCandidates([q]);
      masked.finish(q);
      // every scanned field of the redacted event, bodies as their text
      const texts: string[] = [];
      const walk = (v: unknown): void => {
        if (typeof v === 'string') texts.push(v);
        else if (Array.isArray(v)) v.forEach(walk);
        else if (v && typeof v === 'object') for (const x of Object.values(v)) walk(x);
      };
      for (const [k, v] of Object.entries(ev)) if (!SKIP.has(k)) walk(v);
      for (const v of values) {
        const word = new RegExp(`(?<![\\p{L}\\p{N}])${v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![\\p{L}\\p{N}])`, 'u');
        for (const t of texts) {
          // a JSON body may write characters as \u escapes: compare against it re-serialised too
          let decoded = t;
          try { decoded = JSON.stringify(JSON.parse(t)); } catch { /* not JSON */ }
          assert.ok(!word.test(t) && !word.test(decoded), `${JSON.stringify(v)} left in ${JSON.stringify(t.slice(0, 200))} (event ${(ev.pano as { id: string }).id})`);
        }
        checked++;
      }
    }
    assert.ok(checked > 200, `only ${checked} values checked`);
  });
}

test("a name with an apostrophe is found again in SQL text as a literal writes it (O''Neil, MySQL's O\\'Neil), only in the statement's text, and hashed as the name", () => {
  const name = "Renée O'Neil";
  const event = (text: string, protocol = 'mysql') =>
    ({ pano: { v: 1, id: '1-1', kind: 'exchange', protocol }, db: { system: { name: protocol }, query: { text }, response: { rows: [{ full_name: name, note: "Renée O''Neil" }] } } }) as Record<string, any>;
  for (const lit of ["Renée O''Neil", "Renée O\\'Neil", "renée o''neil"]) {
    const text = `SELECT full_name FROM people WHERE lower(full_name) IN ('${lit}', 'x')`;
    const s = new EventScanner({ key, redact: 'hash' });
    const ev = event(text);
    const found = s.finish(s.collect(ev));
    // the literal's content, at its offsets in the text as sent (by hand: after "IN ('")
    const at = text.indexOf("IN ('") + 5;
    assert.deepEqual(found.map((f) => [f.path, f.start, f.end, f.detector]), [
      ['db.query.text', at, at + lit.length, 'repeat'],
      ['db.response.rows[0].full_name', 0, name.length, 'context'],
    ], lit);
    assert.equal(ev.db.query.text, text.replace(lit, token('person_name', name)));
    // a row's text that merely holds the doubled quote is no SQL: left as it is
    assert.equal(ev.db.response.rows[0].note, "Renée O''Neil");
  }
});
