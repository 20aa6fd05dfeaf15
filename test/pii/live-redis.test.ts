// Personal data planted in real Redis traffic (redis-server on a loopback
// port, driven by redis-cli, captured with tcpdump and parsed): every value
// is found where redis-cli sent it and where the server sent it back, and
// no redaction mode leaves it anywhere in the event.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventScanner } from '@panopticon/pii';
import { LoopbackCapture } from '../helpers/loopback-capture.js';
import { parseCaptureSync } from '../helpers/parse.js';
import { startRedis } from '../helpers/redis-server.js';
import { redactedTexts } from '../helpers/redacted.js';

const missing = ['/usr/bin/redis-server', '/usr/bin/redis-cli', '/usr/bin/tcpdump'].filter((p) => !existsSync(p));
const dir = mkdtempSync(join(tmpdir(), 'pano-pii-redis-'));
let server: ChildProcess | undefined;
let port = 0;

before(async () => {
  if (missing.length) return;
  ({ port, process: server } = await startRedis(dir));
});

after(() => {
  server?.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
});

const NAME = "Renée O'Neil";
const EMAIL = 'alice.smith@example.org';

test('a name under a `name` field and an e-mail address in a key are found in the commands and the replies, and redacted', { skip: missing.length ? `missing ${missing.join(', ')}` : false }, async () => {
  const cli = (...args: string[]) => execFileSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' }).trim();
  const file = join(dir, 'pii.pcap');
  const cap = new LoopbackCapture(file, `tcp port ${port}`);
  await cap.start();
  try {
    cli('HSET', 'user:1', 'name', NAME, 'city', 'Lyon');
    // redis-cli printed the reply: the oracle for what the reply event holds
    assert.deepEqual(cli('HGETALL', 'user:1').split('\n'), ['name', NAME, 'city', 'Lyon']);
    cli('SET', `email:${EMAIL}`, '1');
    assert.equal(cli('KEYS', 'email:*'), `email:${EMAIL}`);
  } finally {
    await cap.stop();
  }
  const events = parseCaptureSync(file).events as unknown as Array<Record<string, unknown>>;
  assert.equal(events.length, 4);
  const es = new EventScanner({ key: Buffer.alloc(32) });
  const where = events.map((ev) => es.finish(es.collect(structuredClone(ev))).map((f) => `${f.type} ${f.path} ${f.start}-${f.end}`));
  // offsets computed by hand from the commands as redis-cli sends them (db.query.text quotes an argument with a space)
  assert.deepEqual(where, [
    ['person_name db.query.text 18-30', 'person_name redis.args[2] 0-12'],
    ['person_name redis.response.value[1] 0-12'],
    ['email db.query.text 10-33', 'email redis.args[0] 6-29'],
    ['email redis.response.value[0] 6-29'],
  ]);
  for (const [mode, text] of redactedTexts(events, Buffer.alloc(32))) {
    for (const v of [NAME, EMAIL, 'alice.smith', 'Renée', "O'Neil"]) assert.ok(!text.includes(v), `${mode}: ${v} left in ${text}`);
  }
});

test('a JSON document kept in Redis is walked by its fields: a name, an address and a password in it are found and redacted', { skip: missing.length ? `missing ${missing.join(', ')}` : false }, async () => {
  const cli = (...args: string[]) => execFileSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' }).trim();
  const doc = JSON.stringify({ name: NAME, home: { street: '221B Baker Street', city: 'London' }, password: 'Tr0ub4dor&3', visits: 3 });
  const file = join(dir, 'json.pcap');
  const cap = new LoopbackCapture(file, `tcp port ${port}`);
  await cap.start();
  try {
    cli('SET', 'cache:user:1', doc);
    assert.equal(cli('GET', 'cache:user:1'), doc);
  } finally {
    await cap.stop();
  }
  const events = parseCaptureSync(file).events as unknown as Array<Record<string, unknown>>;
  assert.equal(events.length, 2);
  const es = new EventScanner({ key: Buffer.alloc(32) });
  const where = events.map((ev) => es.finish(es.collect(structuredClone(ev))).filter((f) => f.path.startsWith('redis.')).map((f) => `${f.type} ${f.path} ${f.start}-${f.end}`));
  assert.deepEqual(where, [
    ['person_name redis.args[1]$.name 0-12', 'street_address redis.args[1]$.home.street 0-17', 'password redis.args[1]$.password 0-11'],
    ['person_name redis.response.value$.name 0-12', 'street_address redis.response.value$.home.street 0-17', 'password redis.response.value$.password 0-11'],
  ]);
  for (const [mode, text] of redactedTexts(events, Buffer.alloc(32))) {
    for (const v of ['Renée', "O'Neil", 'Baker Street', 'Tr0ub4dor']) assert.ok(!text.includes(v), `${mode}: ${v} left in ${text}`);
    // what is not personal data is written back as it was
    const stored = JSON.parse((JSON.parse(text)[1] as { redis: { response: { value: string } } }).redis.response.value);
    assert.equal(stored.visits, 3, mode);
    assert.equal(stored.home.city, 'London', mode);
  }
});

test('a multi-line address, a password with a quote and a private key are found where the query text writes them JSON-escaped, and redacted', { skip: missing.length ? `missing ${missing.join(', ')}` : false }, async () => {
  const cli = (...args: string[]) => execFileSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' }).trim();
  const address = '221B Baker Street\nLondon NW1 6XE';
  const password = 'Tr0ub "4dor" \\3';
  // a PEM block's shape with made-up base64 (the rule reads the armour, not the key)
  const line = 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj';
  const pem = `-----BEGIN PRIVATE KEY-----\n${line}\n${line.split('').reverse().join('')}\n-----END PRIVATE KEY-----`;
  const doc = JSON.stringify({ home: { address } });
  const file = join(dir, 'escaped.pcap');
  const cap = new LoopbackCapture(file, `tcp port ${port}`);
  await cap.start();
  try {
    cli('HSET', 'user:2', 'address', address, 'password', password);
    cli('SET', 'tls:key', pem);
    cli('SET', 'cache:user:2', doc);
  } finally {
    await cap.stop();
  }
  const events = parseCaptureSync(file).events as unknown as Array<Record<string, any>>;
  assert.equal(events.length, 3);
  // pano-parse quotes an argument holding a space or a quote as a JSON string: the text carries them escaped
  assert.equal(events[0]!.db.query.text, `HSET user:2 address ${JSON.stringify(address)} password ${JSON.stringify(password)}`);
  assert.equal(events[1]!.db.query.text, `SET tls:key ${JSON.stringify(pem)}`);
  assert.equal(events[2]!.db.query.text, `SET cache:user:2 ${JSON.stringify(doc)}`);
  const es = new EventScanner({ key: Buffer.alloc(32) });
  const where = events.map((ev) => es.finish(es.collect(structuredClone(ev))).map((f) => [f.type, f.path, ev.db.query.text.slice(f.start, f.end)]).filter(([, p]) => p === 'db.query.text'));
  // each as JSON writes it in the text: once escaped, and twice for the document kept in a string
  assert.deepEqual(where, [
    [['street_address', 'db.query.text', JSON.stringify(address).slice(1, -1)], ['password', 'db.query.text', JSON.stringify(password).slice(1, -1)]],
    [['private_key', 'db.query.text', JSON.stringify(pem).slice(1, -1)]],
    [['street_address', 'db.query.text', JSON.stringify(JSON.stringify(address).slice(1, -1)).slice(1, -1)]],
  ]);
  for (const [mode, text] of redactedTexts(events, Buffer.alloc(32))) {
    for (const v of ['Baker', 'NW1', 'Tr0ub', '4dor', line.slice(0, 20), line.slice(-20).split('').reverse().join('')]) assert.ok(!text.includes(v), `${mode}: ${v} left in ${text}`);
  }
});
