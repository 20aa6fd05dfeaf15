// Double-encoded JSON: a string value inside a JSON body (or a form field, a
// JSON payload value) whose text is itself a whole JSON document (an SNS/SQS
// envelope's Message, a webhook's `payload`, GraphQL `variables` sent as a
// string) is walked as JSON, its values at `outer$.key$.inner`, and written
// back into its string under --redact so both levels stay JSON.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { EventScanner, MAX_JSON_LEVELS, type RedactMode } from '@panopticon/pii';

const root = process.env.PANO_ROOT ?? process.cwd();
const bin = resolve(root, 'bin/pano-pii');
const dir = mkdtempSync(join(tmpdir(), 'pii-nested-json-'));
const key = Buffer.alloc(32, 7);

function run(args: string[], input: string) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--conditions=source', bin, ...args], { input, encoding: 'utf8', cwd: root });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const inner = { password: 'hunter2xyz', name: 'Maria Gonzalez', dob: '1984-03-12' };
/** The task's reproduction: an HTTP JSON body whose `payload` is a JSON document written as a string. */
const reproduction = () => ({
  pano: { v: 1, id: '1-1', kind: 'exchange', protocol: 'http' },
  http: { request: { method: 'POST', header: { 'content-type': ['application/json'] }, body: { content: JSON.stringify({ payload: JSON.stringify(inner) }) } } },
});
const at = (f: { type: string; path: string; start: number; end: number; detector: string }) => `${f.type} ${f.path} ${f.start}-${f.end} ${f.detector}`;
const WANT = [
  'password http.request.body.content$.payload$.password 0-10 context',
  'person_name http.request.body.content$.payload$.name 0-14 context',
  'date_of_birth http.request.body.content$.payload$.dob 0-10 context',
];

test('a JSON document in a body string is walked by its fields (the name by its key), under every --redact, and both levels parse back', () => {
  for (const mode of ['mask', 'hash', 'drop'] as RedactMode[]) {
    const audit = join(dir, `audit-${mode}.log`);
    const r = run(['--redact', mode, '--audit', audit], JSON.stringify(reproduction()) + '\n');
    assert.equal(r.code, 0, r.err);
    const ev = JSON.parse(r.out);
    assert.deepEqual(ev.pii.map(at), WANT, mode);
    const body = JSON.parse(ev.http.request.body.content);
    const payload = JSON.parse(body.payload);
    for (const raw of Object.values(inner)) assert.ok(!r.out.includes(raw), `${mode}: ${raw} left in ${r.out}`);
    if (mode === 'drop') assert.deepEqual(payload, {});
    else {
      assert.deepEqual(Object.keys(payload), ['password', 'name', 'dob']);
      assert.match(payload.name, mode === 'mask' ? /^<person_name:\*{5} \*{8}>$/ : /^<person_name:[0-9a-f]{8}>$/);
    }
    // the audit log's finding records carry the nested paths
    const records = readFileSync(audit, 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((x) => x.kind === 'finding');
    assert.deepEqual(records.map((x) => x.path), WANT.map((w) => w.split(' ')[1]), mode);
    assert.equal(run(['verify-audit', audit]).code, 0);
  }
});

test('the same object un-nested and nested finds the same values; a body holding it twice over gets a second `$`', () => {
  const s = new EventScanner({ key });
  const flat = s.finish(s.collect({ http: { request: { body: { content: JSON.stringify({ payload: inner }) } } } }));
  const nested = s.finish(s.collect(reproduction()));
  assert.deepEqual(nested.map((f) => [f.type, f.path.replace('payload$', 'payload'), f.start, f.end]), flat.map((f) => [f.type, f.path, f.start, f.end]));
  // SNS in SQS: the Message of an envelope whose body came as a string too
  const sqs = { Body: JSON.stringify({ Type: 'Notification', Message: JSON.stringify({ customer: { email: 'ana@example.org', full_name: 'Ana Lima' } }) }) };
  const f = s.finish(s.collect({ http: { response: { body: { content: JSON.stringify({ Messages: [sqs] }) } } } }));
  assert.deepEqual(f.map((x) => `${x.type} ${x.path}`), [
    'email http.response.body.content$.Messages[0].Body$.Message$.customer.email',
    'person_name http.response.body.content$.Messages[0].Body$.Message$.customer.full_name',
  ]);
});

test('a Kafka record value and a JSON result column holding a JSON string, and a form field holding JSON, are walked and written back', () => {
  const s = new EventScanner({ key, redact: 'mask' });
  const value = JSON.stringify({ event: 'signup', data: JSON.stringify({ name: 'Kofi Moreno', phone: '+1 650-253-0000', plan: 'pro' }) });
  const ev = {
    kafka: { records: [{ value: { size: value.length, content: value } }] },
    db: { response: { rows: [{ doc: JSON.stringify({ variables: JSON.stringify({ surname: 'Moreno', ssn: '536-22-8821' }) }) }] } },
    // a Slack-style interaction: a form whose `payload` field is JSON (percent-encoded)
    http: { request: { body: { content: 'payload=' + encodeURIComponent(JSON.stringify({ user: { name: 'Ana Lima' } })) + '&x=1' } } },
  } as Record<string, any>;
  const f = s.finish(s.collect(ev));
  assert.deepEqual(f.map((x) => `${x.type} ${x.path}`).sort(), [
    'person_name db.response.rows[0].doc$.variables$.surname',
    'person_name http.request.body.content$.payload$.user.name',
    'person_name kafka.records[0].value.content$.data$.name',
    'phone kafka.records[0].value.content$.data$.phone',
    'us_ssn db.response.rows[0].doc$.variables$.ssn',
  ]);
  const data = JSON.parse(JSON.parse(ev.kafka.records[0].value.content).data);
  assert.deepEqual(data, { name: '<person_name:**** ******>', phone: '<phone:+* ***-***-****>', plan: 'pro' });
  assert.deepEqual(JSON.parse(JSON.parse(ev.db.response.rows[0].doc).variables), { surname: '<person_name:******>', ssn: '<us_ssn:***-**-****>' });
  const form = new URLSearchParams(ev.http.request.body.content);
  assert.deepEqual(JSON.parse(form.get('payload')!), { user: { name: '<person_name:*** ****>' } });
  assert.equal(form.get('x'), '1');
});

test('a key holding personal data whose value is a JSON string: the document is written back under the renamed key, or not at all', () => {
  for (const mode of ['mask', 'drop'] as RedactMode[]) {
    const s = new EventScanner({ key, redact: mode });
    const body = JSON.stringify({ 'alice.smith@example.com': JSON.stringify({ name: 'Ana Lima' }), n: 1 });
    const ev = { http: { request: { body: { content: body } } } } as Record<string, any>;
    const f = s.finish(s.collect(ev));
    assert.deepEqual(f.map((x) => `${x.type} ${x.path}`).sort(), ['email http.request.body.content$[key#0]', 'person_name http.request.body.content$[key#0]$.name']);
    const out = ev.http.request.body.content as string;
    assert.ok(!out.includes('alice') && !out.includes('Ana'), out);
    const doc = JSON.parse(out);
    if (mode === 'drop') assert.deepEqual(doc, { n: 1 });
    else assert.deepEqual(doc, { '<email:*****.*****@*******.***>': JSON.stringify({ name: '<person_name:*** ****>' }), n: 1 });
    // the same in a payload value (a decoded gRPC map keyed by address): the raw key came back with the document
    const grpc = { grpc: { request: { messages: [{ fields: { 'bob.jones@example.com': JSON.stringify({ name: 'Ana Lima' }) } }] } } } as Record<string, any>;
    s.finish(s.collect(grpc));
    const fields = grpc.grpc.request.messages[0].fields;
    assert.deepEqual(fields, mode === 'drop' ? {} : { '<email:***.*****@*******.***>': JSON.stringify({ name: '<person_name:*** ****>' }) }, mode);
  }
});

test(`documents in strings are walked ${MAX_JSON_LEVELS} levels deep; a deeper one is scanned as text, flagged pii_scan_cut, and replaced under --redact`, () => {
  const nest = (levels: number) => {
    let doc: unknown = { name: 'Kofi Moreno', email: 'kofi@example.org' };
    for (let i = 1; i < levels; i++) doc = { m: JSON.stringify(doc) };
    return { pano: { v: 1, id: '1-1' }, http: { request: { body: { content: JSON.stringify(doc) } } } } as Record<string, any>;
  };
  const s = new EventScanner({ key });
  const ok = nest(MAX_JSON_LEVELS);
  const f = s.finish(s.collect(ok));
  const deepest = 'http.request.body.content' + '$.m'.repeat(MAX_JSON_LEVELS - 1) + '$';
  assert.deepEqual(f.map((x) => `${x.type} ${x.path}`), [`person_name ${deepest}.name`, `email ${deepest}.email`]);
  assert.equal(ok.pano.flags, undefined);
  // one more: the innermost string is text (its e-mail found by the rules, at offsets into it; the name, which only its key tells, not)
  const text = JSON.stringify({ name: 'Kofi Moreno', email: 'kofi@example.org' });
  const deep = nest(MAX_JSON_LEVELS + 1);
  const g = s.finish(s.collect(deep));
  const cut = 'http.request.body.content' + '$.m'.repeat(MAX_JSON_LEVELS);
  assert.deepEqual(g.map((x) => `${x.type} ${x.path} ${x.start}-${x.end}`), [`email ${cut} ${text.indexOf('kofi@')}-${text.indexOf('kofi@') + 16}`]);
  assert.deepEqual(deep.pano.flags, ['pii_scan_cut']);
  for (const mode of ['mask', 'hash', 'drop'] as RedactMode[]) {
    const r = new EventScanner({ key, redact: mode });
    const ev = nest(MAX_JSON_LEVELS + 1);
    r.finish(r.collect(ev));
    const out = ev.http.request.body.content as string;
    assert.ok(!out.includes('Kofi') && !out.includes('kofi'), `${mode}: ${out}`);
    let doc = JSON.parse(out);
    for (let i = 1; i < MAX_JSON_LEVELS; i++) doc = JSON.parse(doc.m);
    assert.deepEqual(doc, mode === 'drop' ? {} : { m: '<unscanned:nested>' }, mode);
  }
});

test('a string that looks like JSON but is not a whole document stays text and keeps its rule hits', () => {
  const s = new EventScanner({ key, redact: 'mask' });
  const notJson = ['{"name": "Kofi Moreno", "email": "kofi@example.org"', '{name: Kofi Moreno, email: kofi@example.org}', '[INFO] mail to kofi@example.org]'];
  const ev = { http: { request: { body: { content: JSON.stringify({ a: notJson[0], b: notJson[1], c: notJson[2] }) } } } } as Record<string, any>;
  const f = s.finish(s.collect(ev));
  assert.deepEqual(f.map((x) => `${x.type} ${x.path} ${x.start}-${x.end}`), notJson.map((t, i) => `email http.request.body.content$.${'abc'[i]} ${t.indexOf('kofi@')}-${t.indexOf('kofi@') + 16}`));
  const doc = JSON.parse(ev.http.request.body.content);
  assert.equal(doc.a, '{"name": "Kofi Moreno", "email": "<email:****@*******.***>"');
  assert.equal(doc.c, '[INFO] mail to <email:****@*******.***>]');
});
