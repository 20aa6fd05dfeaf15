// bin/pano-pii end to end: generated events of every protocol, garbage lines,
// --strict, a closed downstream pipe, 0600 outputs, the audit log and
// verify-audit (including tampering), and a real capture through pano-parse.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createHmac, generateKeyPairSync } from 'node:crypto';
import { generate } from '../../scripts/pii/generate.js';
import { ALL_TYPES } from '@panopticon/pii';
import { validateEvent } from '@panopticon/events';

const root = process.env.PANO_ROOT ?? process.cwd();
const bin = resolve(root, 'bin/pano-pii');
const node = [process.execPath, '--import', 'tsx', '--conditions=source'];
const dir = mkdtempSync(join(tmpdir(), 'pii-cli-'));

function run(args: string[], input?: string) {
  const r = spawnSync(node[0]!, [...node.slice(1), bin, ...args], { input, encoding: 'utf8', cwd: root, maxBuffer: 64 << 20 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const gen = generate({ count: 400, seed: 4242, split: 'test' });
const input = gen.events.map((e) => JSON.stringify(e)).join('\n') + '\n';

test('finds every planted rule-type value across all protocols, and nothing at decoys', () => {
  // every rule type (names/addresses are the model's, scored by the eval instead)
  const r = run(['--types', ALL_TYPES.filter((t) => t !== 'person_name' && t !== 'street_address').join(',')], input);
  assert.equal(r.code, 0, r.err);
  const events = r.out.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(events.length, gen.events.length);
  const protocols = new Set<string>();
  let planted = 0;
  for (const ev of events) {
    const want = (gen.labels.get(ev.pano.id) ?? []).filter((l) => l.type !== 'person_name' && l.type !== 'street_address');
    const got = (ev.pii ?? []) as Array<{ type: string; path: string; start: number; end: number }>;
    const key = (x: { type: string; path: string; start: number; end: number }) => `${x.type} ${x.path} ${x.start}-${x.end}`;
    assert.deepEqual(got.map(key).sort(), want.map(key).sort(), `event ${ev.pano.id}`);
    planted += want.length;
    if (want.length) protocols.add(ev.pano.protocol);
  }
  assert.ok(planted > 300, `planted ${planted}`);
  for (const p of ['http', 'postgresql', 'mysql', 'redis', 'kafka', 'amqp', 'grpc']) assert.ok(protocols.has(p), p);
});

test('--redact mask hides a name in the Redis query text that repeats its argument; --stats counts the repeat', () => {
  const ev = { pano: { v: 1, id: '1-1', kind: 'exchange', protocol: 'redis' }, db: { query: { text: 'HSET user:7 surname Norem' } }, redis: { args: ['user:7', 'surname', 'Norem'] } };
  const r = run(['--redact', 'mask', '--stats'], JSON.stringify(ev) + '\n');
  assert.equal(r.code, 0);
  const out = JSON.parse(r.out);
  assert.equal(out.db.query.text, 'HSET user:7 surname <person_name:*****>');
  assert.equal(out.redis.args[2], '<person_name:*****>');
  assert.match(r.err, /^pii\.findings 2$/m);
  assert.match(r.err, /^pii\.repeats 1$/m);
});

test('garbage lines: one-line error with the line number, skipped and counted; --strict is fatal', () => {
  const lines = input.split('\n');
  const bad = [lines[0], '{"unterminated": ', lines[1], '[1,2]', lines[2], ' \t '].join('\n') + '\n';
  const r = run(['--stats'], bad);
  assert.equal(r.code, 0);
  assert.equal(r.out.trim().split('\n').length, 3);
  assert.match(r.err, /^pano-pii: stdin:2: not JSON .*; line skipped$/m);
  assert.match(r.err, /^pano-pii: stdin:4: not a JSON object; line skipped$/m);
  // whitespace alone is named as pano-graph and pano-export name it
  assert.match(r.err, /^pano-pii: stdin:6: empty line; line skipped$/m);
  assert.match(r.err, /^pii\.bad_lines 3$/m);
  assert.ok(!/\n\s+at /.test(r.err), 'no stack trace');
  const s = run(['--strict'], bad);
  assert.equal(s.code, 2);
  assert.match(s.err, /^pano-pii: stdin:2: not JSON/m);
  assert.ok(!/\n\s+at /.test(s.err));
  // the event read before the bad line is complete: it goes out, annotated, before the run ends
  assert.deepEqual(s.out.trim().split('\n').map((l) => JSON.parse(l).pano.id), [JSON.parse(lines[0]!).pano.id]);
  assert.ok(JSON.parse(s.out).pii.length > 0);
});

test('a stream of garbage is not a stream of errors: ten bad lines are shown, the eleventh says the rest are counted', () => {
  const lines = input.split('\n');
  const bad = [lines[0], ...Array.from({ length: 25 }, (_, i) => `garbage ${i}`), lines[1]].join('\n') + '\n';
  const r = run([], bad);
  assert.equal(r.code, 0);
  assert.equal(r.out.trim().split('\n').length, 2);
  const err = r.err.trim().split('\n');
  assert.equal(err.length, 12, r.err);
  for (let i = 0; i < 10; i++) assert.match(err[i]!, new RegExp(`^pano-pii: stdin:${i + 2}: not JSON .*; line skipped$`));
  assert.match(err[10]!, /^pano-pii: stdin:12: not JSON .*; line skipped, and further bad lines only counted$/);
  assert.equal(err[11], 'pano-pii: 25 bad line(s) skipped');
  assert.match(run(['--stats'], bad).err, /^pii\.bad_lines 25$/m);
});

test('a closed downstream pipe ends quietly with status 0', async () => {
  const big = input.repeat(20);
  const child = spawn(node[0]!, [...node.slice(1), bin], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  child.stdin.on('error', () => {});
  child.stdin.end(big);
  await new Promise<void>((res) => child.stdout.once('data', () => { child.stdout.destroy(); res(); }));
  const code = await new Promise<number | null>((res) => child.on('close', (c) => res(c)));
  assert.equal(code, 0);
  assert.equal(err, '');
});

test('when the reader goes away, the rest of the input is not read, and the audit log is closed whole', async () => {
  const big = join(dir, 'many.jsonl');
  const copies = 100; // 40,000 events: far more than one read of the input
  writeFileSync(big, input.repeat(copies));
  const log = join(dir, 'closed-reader.log');
  const child = spawn(node[0]!, [...node.slice(1), bin, '--stats', '--audit', log, big], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  await new Promise<void>((res) => child.stdout.once('data', () => { child.stdout.destroy(); res(); }));
  const code = await new Promise<number | null>((res) => child.on('close', (c) => res(c)));
  assert.equal(code, 0, err);
  // it used to scan all 40,000 events (auditing the findings of all of them) however early the reader left
  const events = Number(/^pii\.events (\d+)$/m.exec(err)?.[1]);
  assert.ok(events > 0 && events < 400 * copies / 2, `events read: ${events}`);
  // the log is closed as after any run: its final checkpoint is there
  assert.equal(run(['verify-audit', log]).code, 0);
});

test('-o output and the audit log are created 0600; verify-audit passes, then catches tampering', () => {
  const out = join(dir, 'events.jsonl');
  const audit = join(dir, 'audit.log');
  const keyFile = join(dir, 'hmac.key');
  writeFileSync(keyFile, 'k'.repeat(32) + '\n');
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const priv = join(dir, 'sign.pem');
  const pub = join(dir, 'sign.pub.pem');
  writeFileSync(priv, privateKey.export({ type: 'pkcs8', format: 'pem' }));
  writeFileSync(pub, publicKey.export({ type: 'spki', format: 'pem' }));
  const r = run(['--redact', 'hash', '--key-file', keyFile, '--audit', audit, '--sign-key', priv, '--checkpoint-every', '50', '-o', out], input);
  assert.equal(r.code, 0, r.err);
  assert.equal(statSync(out).mode & 0o777, 0o600);
  assert.equal(statSync(audit).mode & 0o777, 0o600);
  const log = readFileSync(audit, 'utf8');
  // no raw value of a planted finding reaches the audit log or the redacted events
  const evOut = readFileSync(out, 'utf8');
  const raw = gen.events.flatMap((ev) => (gen.labels.get((ev.pano as { id: string }).id) ?? []).filter((l) => l.type === 'email' && !l.path.includes('$')).map((l) => {
    const v = l.path.split(/\.|\[|\]/).filter(Boolean).reduce((o: any, k) => o?.[k.replace(/^"|"$/g, '')], ev) as unknown as string;
    return v.slice(l.start, l.end);
  }));
  assert.ok(raw.length > 20);
  for (const v of raw) {
    assert.ok(!log.includes(v), `audit log holds ${v}`);
    assert.ok(!evOut.includes(v), `output holds ${v}`);
  }
  // value_hash is HMAC-SHA-256(key, type 0x00 value), recomputed here for one planted email
  const withEmail = gen.events.find((ev) => (gen.labels.get((ev.pano as { id: string }).id) ?? []).some((l) => l.type === 'email' && l.path === 'messaging.kafka.message.key'))!;
  const kafkaKey = ((withEmail.messaging as Record<string, any>).kafka.message.key) as string;
  const rec = log.split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((r) => r.event === (withEmail.pano as { id: string }).id && r.path === 'messaging.kafka.message.key');
  assert.equal(rec.value_hash, createHmac('sha256', 'k'.repeat(32)).update('email').update('\0').update(kafkaKey).digest('hex'));
  const ok = run(['verify-audit', audit, '--pubkey', pub]);
  assert.equal(ok.code, 0, ok.err);
  assert.match(ok.out, /OK: \d+ records, \d+ checkpoints \(\d+ signed, verified\)/);
  const lines = log.split('\n');
  lines[5] = lines[5]!.replace('"confidence":', '"confidence":0.01,"x":');
  writeFileSync(audit, lines.join('\n'));
  const bad = run(['verify-audit', audit]);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /^pano-pii: .*audit\.log:6: record seq 5: .*hash mismatch/m);
  const missing = run(['verify-audit', join(dir, 'nope.log')]);
  assert.equal(missing.code, 2);
  assert.match(missing.err, /nope\.log: no such file or directory/);
});

test('--help shows examples, --version prints, bad options are one-line errors', () => {
  const h = run(['--help']);
  assert.equal(h.code, 0);
  assert.match(h.out, /Examples:/);
  assert.match(h.out, /verify-audit/);
  assert.match(run(['--version']).out, /^\d+\.\d+\.\d+/);
  const b = run(['--redact', 'shred'], '');
  assert.equal(b.code, 2);
  assert.equal(b.err.trim().split('\n').length, 1);
  const t = run(['--types', 'email,nonsense'], '');
  assert.equal(t.code, 2);
  assert.match(t.err, /unknown type nonsense/);
  // empty values (a script's unset variable) are errors, not "no types" or confidence 0
  for (const [args, re] of [
    [['--types', ''], /^pano-pii: option '--types <list>' argument '' is invalid\. empty list: ""\n$/],
    [['--min-confidence', ''], /^pano-pii: option '--min-confidence <n>' argument '' is invalid\. not a confidence between 0 and 1: ""\n$/],
  ] as Array<[string[], RegExp]>) {
    const e = run(args, '');
    assert.equal(e.code, 2, e.err);
    assert.match(e.err, re);
  }
  // verify-audit's 1 means "the log was tampered with": a typo must not look like that.
  for (const [args, re] of [
    [['verify-audit', '--bogus', 'x.log'], /^pano-pii: unknown option '--bogus'\n$/],
    [['verify-audit'], /^pano-pii: missing required argument 'file'\n$/],
  ] as Array<[string[], RegExp]>) {
    const v = run(args, '');
    assert.equal(v.code, 2, v.err);
    assert.match(v.err, re);
  }
  assert.match(run(['verify-audit', '--help']).out, /--pubkey/);
});

test('verify-audit: "-" reads standard input; a --head or --pubkey that could never match is a usage error (2), not a bad log (1)', () => {
  const log = join(dir, 'stdin-audit.log');
  const key = join(dir, 'stdin-audit.key');
  writeFileSync(key, Buffer.alloc(32, 3));
  assert.equal(run(['--key-file', key, '--audit', log, '-o', join(dir, 'stdin-audit.jsonl')], input).code, 0);
  const byFile = run(['verify-audit', log]);
  assert.equal(byFile.code, 0, byFile.err);
  const head = /head ([0-9a-f]{64})$/m.exec(byFile.out)![1]!;
  const piped = run(['verify-audit', '--head', head, '-'], readFileSync(log, 'utf8'));
  assert.equal(piped.code, 0, piped.err);
  assert.equal(piped.out, byFile.out.replace(log, 'stdin'));
  const cut = readFileSync(log, 'utf8').split('\n').slice(0, 5).join('\n') + '\n';
  const bad = run(['verify-audit', '--head', head, '-'], cut);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /^pano-pii: stdin:5: log does not end with a final checkpoint/);
  const h = run(['verify-audit', '--head', 'abc', log]);
  assert.equal(h.code, 2);
  assert.equal(h.err, 'pano-pii: --head: not a head hash (64 hex digits, as verify-audit prints): "abc"\n');
  const rsa = join(dir, 'rsa.pub.pem');
  writeFileSync(rsa, generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }));
  const k = run(['verify-audit', '--pubkey', rsa, log]);
  assert.equal(k.code, 2);
  assert.equal(k.err, `pano-pii: --pubkey ${rsa}: rsa key, need ed25519\n`);
});

test('a real capture through pano-parse: the form POST author and email are found and masked', (t) => {
  const pcap = resolve(root, '../shared/corpus/http1/chrissanders-http_post.pcapng');
  if (!existsSync(pcap)) return t.skip('corpus capture not present');
  const parsed = spawnSync(node[0]!, [...node.slice(1), resolve(root, 'bin/pano-parse'), pcap], { encoding: 'utf8', cwd: root });
  assert.equal(parsed.status, 0, parsed.stderr);
  const r = run(['--redact', 'mask', '--model', 'builtin'], parsed.stdout);
  assert.equal(r.code, 0, r.err);
  const ev = JSON.parse(r.out.split('\n')[0]!);
  const form = new URLSearchParams(ev.http.request.body.content);
  assert.equal(form.get('email'), '<email:*****@************.***>');
  assert.equal(form.get('author'), '<person_name:***** *******>');
  assert.equal(form.get('comment'), 'This is a POST test!');
  assert.ok(ev.pii.some((p: { path: string; type: string }) => p.path === 'http.response.header.set-cookie[1]' && p.type === 'email'));
});

test('every redaction mode leaves real events valid under the event schema (drop: null in string lists)', (t) => {
  // a cookie header and Redis arguments held PII: drop put null there, which the schema refused
  const pcaps = ['http1/chrissanders-http_post.pcapng', 'redis/zeek-stream.pcap'].map((f) => resolve(root, '../shared/corpus', f));
  if (!pcaps.every((f) => existsSync(f))) return t.skip('corpus captures not present');
  const parsed = spawnSync(node[0]!, [...node.slice(1), resolve(root, 'bin/pano-parse'), ...pcaps], { encoding: 'utf8', cwd: root });
  assert.equal(parsed.status, 0, parsed.stderr);
  for (const mode of ['mask', 'hash', 'drop']) {
    const r = run(['--redact', mode, '--model', 'builtin'], parsed.stdout);
    assert.equal(r.code, 0, r.err);
    const events = r.out.trim().split('\n').map((l) => JSON.parse(l));
    assert.ok(events.some((e) => e.pii?.length), mode);
    for (const ev of events) assert.deepEqual(validateEvent(ev), [], `${mode} ${ev.pano.id}`);
    if (mode === 'drop') assert.ok(r.out.includes('null'), 'something was dropped in a list');
  }
});

test('SIGTERM while waiting for input: flushes what was read, closes the audit log, exits 0', async () => {
  const audit = join(dir, 'sigterm.log');
  const child = spawn(node[0]!, [...node.slice(1), bin, '--audit', audit], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const first = gen.events.slice(0, 5).map((e) => JSON.stringify(e)).join('\n') + '\n';
  child.stdin.write(first); // stdin stays open: the command is waiting for more
  // wait until the findings of those events reached the audit log (polling, not timing)
  for (;;) {
    await new Promise((r) => setTimeout(r, 50));
    if (existsSync(audit) && readFileSync(audit, 'utf8').split('\n').length > 2) break;
  }
  child.kill('SIGTERM');
  const code = await new Promise<number | null>((res) => child.on('close', (c) => res(c)));
  assert.equal(code, 0, err);
  assert.equal(out.trim().split('\n').length, 5);
  const v = run(['verify-audit', audit]);
  assert.equal(v.code, 0, v.err);
});
