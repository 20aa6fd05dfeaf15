// Redaction modes on every kind of field holder: plain string fields, header
// arrays, JSON bodies (nested), form bodies, URL queries. Hash tokens are
// checked against HMAC-SHA-256 computed here with node:crypto.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { EventScanner, MAX_EVENT_HITS, type Candidate, type RedactMode, type SpanModel } from '@panopticon/pii';

const key = Buffer.from('0123456789abcdef0123456789abcdef');
const email = 'alice.smith@example.com';
const card = '4111 1111 1111 1111';

function event() {
  return {
    pano: { v: 1, id: '1-1', kind: 'exchange', protocol: 'http' },
    client: { address: '10.0.0.1', port: 1234 },
    http: {
      request: {
        method: 'POST',
        header: { 'x-user': [`user ${email}`], 'content-type': ['application/json'] },
        body: { size: 10, content: JSON.stringify({ user: { email, note: 'hi' }, pay: { card } }) },
      },
      response: { status_code: 200, body: { size: 5, content: `email=${encodeURIComponent(email)}&page=2` } },
    },
    url: { path: '/x', query: `q=${encodeURIComponent(email)}&lang=en` },
  } as Record<string, any>;
}

function run(mode: RedactMode | undefined) {
  const s = new EventScanner({ key, redact: mode });
  const ev = event();
  const found = s.finish(s.collect(ev));
  return { ev, found };
}

const token = (type: string, v: string) => `<${type}:${createHmac('sha256', key).update(type).update('\0').update(v).digest('hex').slice(0, 8)}>`;

test('without --redact the event is untouched except for pii annotations (no raw values)', () => {
  const { ev, found } = run(undefined);
  const orig = event();
  for (const k of ['http', 'url', 'client']) assert.deepEqual(ev[k], orig[k]);
  assert.deepEqual(ev.pii.map((p: any) => p.path).sort(), [
    'http.request.body.content$.pay.card',
    'http.request.body.content$.user.email',
    'http.request.header.x-user[0]',
    'http.response.body.content$.email',
    'url.query$.q',
  ]);
  const text = JSON.stringify(ev.pii);
  assert.ok(!text.includes('alice') && !text.includes('4111'));
  const hdr = ev.pii.find((p: any) => p.path === 'http.request.header.x-user[0]');
  assert.deepEqual([hdr.start, hdr.end, hdr.type], [5, 5 + email.length, 'email']);
  assert.equal(found.length, 5);
});

test('mask keeps type and shape; cards keep their last four', () => {
  const { ev } = run('mask');
  assert.equal(ev.http.request.header['x-user'][0], 'user <email:*****.*****@*******.***>');
  const body = JSON.parse(ev.http.request.body.content);
  assert.equal(body.user.email, '<email:*****.*****@*******.***>');
  assert.equal(body.user.note, 'hi');
  assert.equal(body.pay.card, '<credit_card:**** **** **** 1111>');
  assert.equal(new URLSearchParams(ev.url.query).get('q'), '<email:*****.*****@*******.***>');
  assert.equal(new URLSearchParams(ev.url.query).get('lang'), 'en');
  assert.ok(!JSON.stringify(ev).includes('alice'));
});

test('hash gives keyed tokens that join equal values and differ per key', () => {
  const { ev } = run('hash');
  const t = token('email', email);
  assert.equal(ev.http.request.header['x-user'][0], `user ${t}`);
  assert.equal(JSON.parse(ev.http.request.body.content).user.email, t);
  assert.equal(new URLSearchParams(ev.http.response.body.content).get('email'), t);
  // a card is hashed as its digits (canonical.ts)
  assert.equal(JSON.parse(ev.http.request.body.content).pay.card, token('credit_card', '4111111111111111'));
  const other = new EventScanner({ key: Buffer.alloc(32, 7), redact: 'hash' });
  const ev2 = event();
  other.finish(other.collect(ev2));
  assert.notEqual(JSON.parse(ev2.http.request.body.content).user.email, t);
});

test('a finding written percent-encoded (url.full) hashes as its decoded value: the same token and audit hash as in url.query', () => {
  const ev = {
    pano: { v: 1, id: '1-1', kind: 'exchange', protocol: 'http' },
    url: {
      full: 'http://api.example.net/v1/users?email=alice.smith%40example.org&password=Tr0ub4dor%263&ssn=536-22-4817',
      path: '/v1/users',
      query: 'email=alice.smith%40example.org&password=Tr0ub4dor%263&ssn=536-22-4817',
    },
    http: { request: { method: 'GET', header: { referer: ['http://x.example.com/?password=Tr0ub4dor%263'] } } },
  } as Record<string, any>;
  const s = new EventScanner({ key, redact: 'hash', hashValues: true });
  const found = s.finish(s.collect(ev));
  const email = token('email', 'alice.smith@example.org');
  const password = token('password', 'Tr0ub4dor&3');
  assert.equal(ev.url.full, `http://api.example.net/v1/users?email=${email}&password=${password}&ssn=${token('us_ssn', '536224817')}`);
  assert.equal(new URLSearchParams(ev.url.query).get('email'), email);
  assert.equal(new URLSearchParams(ev.url.query).get('password'), password);
  assert.equal(ev.http.request.header.referer[0], `http://x.example.com/?password=${password}`);
  const hashes = (type: string) => new Set(found.filter((f) => f.type === type).map((f) => f.valueHash));
  assert.equal(hashes('email').size, 1);
  assert.equal(hashes('password').size, 1);
  // `+` in an address is the address's own; elsewhere, beside an escape, it is a space as in a form
  const t = new EventScanner({ key, redact: 'hash' });
  const ev2 = { pano: { v: 1, id: '1-2', kind: 'exchange', protocol: 'http' }, http: { request: { header: { referer: ['http://x.example.com/?to=bob+news%40example.org&password=Sup3r+S3cret%21'] } } } } as Record<string, any>;
  t.finish(t.collect(ev2));
  assert.equal(ev2.http.request.header.referer[0], `http://x.example.com/?to=${token('email', 'bob+news@example.org')}&password=${token('password', 'Sup3r S3cret!')}`);
});

test('drop removes the field (object key, array element, form pair)', () => {
  const { ev } = run('drop');
  assert.deepEqual(ev.http.request.header['x-user'], [null]);
  const body = JSON.parse(ev.http.request.body.content);
  assert.deepEqual(body, { user: { note: 'hi' }, pay: {} });
  assert.equal(ev.http.response.body.content, 'page=2');
  assert.equal(ev.url.query, 'lang=en');
  assert.equal(ev.pii.length, 5);
});

test('--types, --min-confidence and --allow filter findings', () => {
  const s1 = new EventScanner({ key, types: new Set(['credit_card']) });
  const e1 = event();
  assert.deepEqual(s1.finish(s1.collect(e1)).map((f) => f.type), ['credit_card']);
  const s2 = new EventScanner({ key, minConfidence: 0.99 });
  const e2 = event();
  assert.ok(s2.finish(s2.collect(e2)).every((f) => f.confidence >= 0.99));
  const s3 = new EventScanner({ key, allow: new Set([email]), redact: 'mask' });
  const e3 = event();
  assert.deepEqual(s3.finish(s3.collect(e3)).map((f) => f.type), ['credit_card']);
  assert.equal(JSON.parse(e3.http.request.body.content).user.email, email);
});

test('the pii list is bounded per event; redaction still covers every finding', () => {
  const many = Array.from({ length: 1200 }, (_, i) => `u${i}@example.com`).join(' ');
  const s = new EventScanner({ key, redact: 'mask' });
  const ev = { pano: { id: '9-9', flags: [] as string[] }, messaging: { message: { body: { content: many } } } } as Record<string, any>;
  const found = s.finish(s.collect(ev));
  assert.equal(found.length, 1200);
  assert.equal(ev.pii.length, 1000);
  assert.deepEqual(ev.pano.flags, ['pii_truncated']);
  assert.equal(s.annotationsDropped, 200);
  assert.ok(!ev.messaging.message.body.content.includes('@example.com'));
});

test('infrastructure fields seen in the corpus captures are not personal data', () => {
  const s = new EventScanner({ key });
  const ev = {
    http: { request: { header: { ':authority': ['192.168.199.215:30035'], host: ['10.0.0.7:8080'] } } },
    amqp: { properties: { headers: { hostname: 'celery@worker1.example.com' } } },
    messaging: { message: { body: { content: JSON.stringify({ name: 'CognitoCore.tasks.executePolicy', hostname: 'celery@test.example.com' }) } } },
    user_agent: { original: 'Mozilla/5.0 (Windows NT 6.1; rv:1.9.1.7) Gecko/20091221 Firefox/3.5.7' },
  } as Record<string, unknown>;
  assert.deepEqual(s.finish(s.collect(ev)), []);
});

test('values from the SQL captures: codes, "using password: NO", host names in name columns', () => {
  const s = new EventScanner({ key });
  const ev = {
    db: { response: { rows: [{ name: 'legacy-host', code: 'TZB-20251121-52' }, { name: 'Goofy' }] } },
    mysql: { error: { message: "Access denied for user 'root'@'localhost' (using password: NO)" } },
  } as Record<string, unknown>;
  assert.deepEqual(s.finish(s.collect(ev)).map((f) => `${f.type} ${f.path}`), ['person_name db.response.rows[1].name']);
});

test('names in scripts without letter case are names in a name field, with or without the model, and their repeats (two letters are enough); not protocol names', async () => {
  const none: SpanModel = { labels: ['none', 'person_name', 'street_address'], score: async (c: Candidate[]) => c.map((): [string, number] => ['none', 0.99]) };
  for (const model of [undefined, none]) {
    const s = new EventScanner({ key, model });
    const ev = {
      db: { response: { rows: [{ customer_name: '陈瀚', note: '陈瀚' }, { surname: ' 山田太郎 ' }, { first_name: '김민준' }, { name: 'محمد' }] } },
      messaging: { destination: { name: '订单' } },
    } as Record<string, unknown>;
    const p = s.collect(ev);
    await s.scoreCandidates([p]);
    assert.deepEqual(
      s.finish(p).map((f) => `${f.type} ${f.path} ${f.start}-${f.end} ${f.detector}`),
      ['person_name db.response.rows[0].customer_name 0-2 context', 'person_name db.response.rows[0].note 0-2 repeat', 'person_name db.response.rows[1].surname 1-5 context', 'person_name db.response.rows[2].first_name 0-3 context', 'person_name db.response.rows[3].name 0-4 context'],
      model ? 'with a model' : 'without a model',
    );
  }
});

test('a person in a role (author, rider, patient, ...) is a name field; user, owner and client are not', async () => {
  const s = new EventScanner({ key, redact: 'mask' });
  const ev = {
    http: { request: { body: { content: JSON.stringify({ author: 'Kofi Moreno', owner: 'Platform Team', user: 'Kofi', client: 'Firefox' }) } } },
    db: { system: { name: 'redis' }, query: { text: 'XADD race:france * rider Castilla speed 30.2' } },
    redis: { args: ['race:france', '*', 'rider', 'Castilla', 'speed', '30.2'] },
  } as Record<string, unknown>;
  const f = s.finish(s.collect(ev));
  assert.deepEqual(f.map((x) => `${x.type} ${x.path} ${x.start}-${x.end} ${x.detector}`).sort(), [
    'person_name db.query.text 25-33 repeat',
    'person_name http.request.body.content$.author 0-11 context',
    'person_name redis.args[3] 0-8 context',
  ]);
  // with the model the role field's whole value is its candidate, and the model decides
  const seen: string[] = [];
  const model: SpanModel = { labels: ['none', 'person_name', 'street_address'], score: async (c: Candidate[]) => c.map((x): [string, number] => (seen.push(`${x.key}:${x.text.slice(x.start, x.end)}:${x.whole}`), ['none', 0.99])) };
  const sm = new EventScanner({ key, model });
  const p = sm.collect({ http: { request: { body: { content: JSON.stringify({ patient: 'Ana de la Cruz', owner: 'Ana de la Cruz' }) } } } });
  await sm.scoreCandidates([p]);
  assert.ok(seen.includes('patient:Ana de la Cruz:true'), seen.join(' | '));
  assert.ok(!seen.includes('owner:Ana de la Cruz:true'), seen.join(' | '));
});

test('a value past a scan window is scanned window by window: every e-mail once, one across the window edge too', () => {
  const filler = 'lorem ipsum '.repeat(200_000); // 2.4 MB: three 1 MiB windows
  const at = [5, 300_000, (1 << 20) - 10, (1 << 20) + 70_000, (2 << 20) - 3, filler.length - 40];
  let text = filler;
  const placed: number[] = [];
  at.forEach((o, i) => {
    const e = `user${i}@example.com`;
    text = text.slice(0, o) + ` ${e} ` + text.slice(o + e.length + 2);
    placed.push(o + 1);
  });
  const s = new EventScanner({ key });
  const ev = { pano: { v: 1, id: '1-1', kind: 'exchange', protocol: 'kafka' }, messaging: { message: { body: { size: text.length, content: text } } } } as Record<string, any>;
  const found = s.finish(s.collect(ev)).filter((f) => f.type === 'email');
  assert.deepEqual(found.map((f) => f.start), placed);
  assert.deepEqual(found.map((f) => text.slice(f.start, f.end)), at.map((_, i) => `user${i}@example.com`));
});

test('an event stops taking findings at MAX_EVENT_HITS: flagged pii_scan_cut, and under --redact the unscanned rest does not leave', () => {
  const extra = 500;
  const text = 'a@b.cc '.repeat(MAX_EVENT_HITS + extra); // 700 KB of e-mail addresses
  for (const mode of [undefined, 'mask', 'hash', 'drop'] as Array<RedactMode | undefined>) {
    const s = new EventScanner({ key, redact: mode });
    const ev = { pano: { v: 1, id: '1-1', kind: 'exchange', protocol: 'kafka' }, messaging: { message: { body: { size: text.length, content: text } } } } as Record<string, any>;
    const found = s.finish(s.collect(ev));
    assert.equal(found.length, MAX_EVENT_HITS, String(mode));
    assert.deepEqual(ev.pano.flags, ['pii_scan_cut', 'pii_truncated']);
    assert.equal(s.scanCutEvents, 1);
    const out = ev.messaging.message.body.content as string | undefined;
    const cut = (MAX_EVENT_HITS - 1) * 7 + 6; // the end of the last address scanned
    if (mode === undefined) assert.equal(out, text);
    else if (mode === 'drop') assert.equal(out, undefined);
    else {
      assert.ok(out!.endsWith(`<unscanned:${text.length - cut}>`), out!.slice(-40));
      assert.ok(!out!.includes('a@b.cc'), `${mode}: no address left as it was`);
    }
  }
});

test('a value nested deeper than the walk goes is flagged pii_scan_cut and, under --redact, replaced, never passed on raw', () => {
  let body: unknown = { email };
  let top: unknown = { email };
  for (let i = 0; i < 70; i++) {
    body = { d: body };
    top = [top];
  }
  const make = () => ({
    pano: { v: 1, id: '1-1', kind: 'exchange', protocol: 'http' },
    http: { request: { body: { size: 10, content: JSON.stringify(body) } } },
    redis: { value: top },
  }) as Record<string, any>;
  for (const mode of [undefined, 'mask', 'hash', 'drop'] as Array<RedactMode | undefined>) {
    const s = new EventScanner({ key, redact: mode });
    const ev = make();
    s.finish(s.collect(ev));
    assert.deepEqual(ev.pano.flags, ['pii_scan_cut'], String(mode));
    assert.equal(s.scanCutEvents, 1);
    if (mode === undefined) assert.ok(JSON.stringify(ev).includes(email), 'without --redact the event is as it came');
    else {
      assert.ok(!JSON.stringify(ev).includes('alice'), `${mode}: ${JSON.stringify(ev).slice(0, 200)}`);
      assert.ok(ev.http.request.body.content.includes('"<unscanned:nested>"'), mode);
      assert.ok(JSON.stringify(ev.redis).includes('<unscanned:nested>'), mode);
    }
  }
  // 64 levels are walked: a value there is found, and nothing is flagged
  let shallow: unknown = email;
  for (let i = 0; i < 60; i++) shallow = [shallow];
  const s = new EventScanner({ key, redact: 'mask' });
  const ev = { pano: { v: 1, id: '1-1' }, http: { request: { body: { size: 1, content: JSON.stringify(shallow) } } } } as Record<string, any>;
  assert.equal(s.finish(s.collect(ev)).length, 1);
  assert.equal(ev.pano.flags, undefined);
});

test('personal data in keys (JSON, form and query field names, header names) is found, redacted, and never in paths or the audit hash input raw', () => {
  const mail2 = 'bob.jones@example.org';
  const make = () => ({
    pano: { v: 1, id: '1-1', kind: 'exchange', protocol: 'http' },
    http: {
      request: {
        header: { [email]: ['1'] },
        body: { size: 10, content: JSON.stringify({ users: { [email]: { card }, [mail2]: { note: 'hi' } }, 'plain-key': 'x' }) },
      },
      response: { body: { size: 5, content: `${encodeURIComponent(email)}=1&page=2` } },
    },
    url: { path: '/x', query: `${encodeURIComponent(mail2)}=yes&lang=en` },
  }) as Record<string, any>;
  const { ev: plain, found } = (() => {
    const s = new EventScanner({ key, hashValues: true } as never);
    const ev = make();
    return { ev, found: s.finish(s.collect(ev)) };
  })();
  const keyed = found.filter((f) => f.key);
  assert.deepEqual(keyed.map((f) => [f.type, f.path]).sort(), [
    ['email', 'http.request.body.content$.users[key#0]'],
    ['email', 'http.request.body.content$.users[key#1]'],
    ['email', 'http.request.header[key#0]'],
    ['email', 'http.response.body.content$[key#0]'],
    ['email', 'url.query$[key#0]'],
  ]);
  // the value under a key is found too, at the key's path
  assert.ok(found.some((f) => f.type === 'credit_card' && f.path === 'http.request.body.content$.users[key#0].card'));
  // the annotations never carry the raw value, not even inside a path
  assert.ok(!/alice|bob\.jones/.test(JSON.stringify(plain.pii)));
  const hdr = keyed.find((f) => f.path === 'http.request.header[key#0]')!;
  assert.deepEqual([hdr.start, hdr.end], [0, email.length]);
  assert.equal(hdr.valueHash, createHmac('sha256', key).update('email').update('\0').update(email).digest('hex'));
  for (const mode of ['mask', 'hash', 'drop'] as RedactMode[]) {
    const s = new EventScanner({ key, redact: mode });
    const ev = make();
    s.finish(s.collect(ev));
    const text = JSON.stringify(ev);
    assert.ok(!/alice|bob\.jones|bob%2Ejones|4111/.test(text), `${mode}: ${text}`);
    const body = JSON.parse(ev.http.request.body.content);
    assert.equal(body['plain-key'], 'x', mode);
    if (mode === 'drop') {
      assert.deepEqual(body.users, {});
      assert.equal(ev.http.response.body.content, 'page=2');
      assert.equal(ev.url.query, 'lang=en');
      assert.deepEqual(ev.http.request.header, {});
    } else {
      // renamed where it was; two keys that mask alike stay two
      assert.equal(Object.keys(body.users).length, 2, mode);
      if (mode === 'hash') assert.deepEqual(Object.keys(body.users), [token('email', email), token('email', mail2)]);
      assert.equal(Object.keys(body)[0], 'users');
      assert.equal(new URLSearchParams(ev.url.query).get('lang'), 'en');
    }
  }
});

test('a Kafka record key and value holding JSON are walked as bodies, not scanned as text', () => {
  const value = JSON.stringify({ customer_name: 'x', password: 'p4ss word"quoted', email });
  const make = () => ({ pano: { v: 1, id: '1-1', kind: 'exchange', protocol: 'kafka' }, kafka: { records: [{ key: { size: 5, content: JSON.stringify({ user: email }) }, value: { size: value.length, content: value } }] } }) as Record<string, any>;
  const s = new EventScanner({ key, redact: 'mask' });
  const ev = make();
  const found = s.finish(s.collect(ev));
  assert.deepEqual(found.map((f) => [f.type, f.path]).sort(), [
    ['email', 'kafka.records[0].key.content$.user'],
    ['email', 'kafka.records[0].value.content$.email'],
    ['password', 'kafka.records[0].value.content$.password'],
  ]);
  const v = JSON.parse(ev.kafka.records[0].value.content);
  assert.equal(v.password, '<password:**** ****"******>');
  assert.equal(v.customer_name, 'x');
  assert.ok(!JSON.stringify(ev).includes('p4ss') && !JSON.stringify(ev).includes('alice'));
});
