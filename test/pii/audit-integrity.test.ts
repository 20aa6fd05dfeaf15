// The audit log against a forger and against a second writer: v2 checkpoint
// signatures cover the whole checkpoint (a log cut at a periodic checkpoint
// cannot pass as ended by turning its "final" true, also not by stripping the
// version marker), old-format (v1) signed logs verify only with the head kept
// elsewhere, one writer at a time (a lock file that a killed writer does not
// leave blocking), and --head in either case.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, linkSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createHash, generateKeyPairSync, sign, verify } from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import { AuditLog, verifyAudit } from '@panopticon/pii';

const root = process.env.PANO_ROOT ?? process.cwd();
const node = [process.execPath, '--import', 'tsx', '--conditions=source'];
const dir = mkdtempSync(join(tmpdir(), 'pii-audit-int-'));
let n = 0;
const fresh = () => join(dir, `a${n++}.log`);
const keys = generateKeyPairSync('ed25519');
const pubPem = keys.publicKey.export({ type: 'spki', format: 'pem' }).toString();

function write(file: string, findings: number, every = 3) {
  const log = AuditLog.open(file, { checkpointEvery: every, signKey: keys.privateKey });
  for (let i = 0; i < findings; i++) {
    log.append({ kind: 'finding', event: `1-${i}`, type: 'email', path: 'http.request.body.content$.email', value_hash: 'ab'.repeat(32), detector: 'regex', confidence: 0.9 });
  }
  log.close();
}
const lines = (f: string) => readFileSync(f, 'utf8').split('\n').slice(0, -1);
const put = (f: string, ls: string[]) => writeFileSync(f, ls.map((l) => l + '\n').join(''));
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

/** What a forger without the key can do: recompute every prev and hash (after `edit` changed a record's JSON). */
function rehash(ls: string[], edit: (i: number, rec: Record<string, unknown>) => void = () => {}): string[] {
  let prev = '0'.repeat(64);
  return ls.map((l, i) => {
    const rec = JSON.parse(l);
    delete rec.hash;
    rec.prev = prev;
    edit(i, rec);
    const body = JSON.stringify(rec);
    prev = sha(body);
    return body.slice(0, -1) + `,"hash":"${prev}"}`;
  });
}

/** A log as writers before v2 signed it: no sigv, sig over `pano-audit-checkpoint:v1:<seq>:<prev>`, the key's owner signing. */
function toOldFormat(ls: string[]): string[] {
  return rehash(ls, (_, rec) => {
    if (rec.kind !== 'checkpoint') return;
    delete rec.sigv;
    const sig = rec.sig;
    delete rec.sig;
    if (sig !== undefined) rec.sig = sign(null, Buffer.from(`pano-audit-checkpoint:v1:${rec.seq}:${rec.prev}`), keys.privateKey).toString('base64');
  });
}

/** Cut after line index `at` (a periodic checkpoint) and turn it into a final one. */
function cutAsFinal(ls: string[], at: number, strip: string[] = []): string[] {
  assert.equal(JSON.parse(ls[at]!).kind, 'checkpoint');
  assert.equal(JSON.parse(ls[at]!).final, false);
  return rehash(ls.slice(0, at + 1), (i, rec) => {
    if (i !== at) return;
    rec.final = true;
    for (const k of strip) delete rec[k];
  });
}

test('a signed log cut at a periodic checkpoint, its final turned true and the chain recomputed, fails with the key', () => {
  const f = fresh();
  write(f, 10);
  const base = lines(f);
  assert.equal(verifyAudit(f, { publicKey: pubPem }).ok, true);
  const at = 4; // open, 3 findings, checkpoint
  put(f, cutAsFinal(base, at));
  assert.equal(verifyAudit(f).ok, true, 'the chain alone cannot tell (no key): that is what signatures are for');
  const r = verifyAudit(f, { publicKey: pubPem });
  assert.equal(r.ok, false);
  assert.deepEqual(r.error, { line: at + 1, seq: at, reason: 'bad checkpoint signature' });
});

test('a downgrade does not help: stripping sigv (verified as the old format) or changing it fails', () => {
  const f = fresh();
  write(f, 10);
  const base = lines(f);
  put(f, cutAsFinal(base, 4, ['sigv']));
  // a v2 signature is no signature over the old message
  assert.deepEqual(verifyAudit(f, { publicKey: pubPem }).error, { line: 5, seq: 4, reason: 'bad checkpoint signature' });
  put(f, rehash(base, (i, rec) => { if (i === 4) rec.sigv = 3; }));
  assert.match(verifyAudit(f, { publicKey: pubPem }).error!.reason, /sigv 3 is unknown/);
  // the signature must be the last field before the hash: a field added after it is not signed
  put(f, rehash(base, (i, rec) => {
    if (i !== 4) return;
    const sig = rec.sig;
    delete rec.sig;
    rec.sig = sig;
    rec.final = true;
  }));
  assert.equal(verifyAudit(f, { publicKey: pubPem }).error!.reason, 'bad checkpoint signature');
  put(f, base.map((l, i) => (i === 4 ? l.replace('"sig":', '"final":true,"sig":') : l)));
  // (its hash no longer matches either; recomputed, the signature still fails)
  put(f, rehash(lines(f)));
  assert.equal(verifyAudit(f, { publicKey: pubPem }).error!.line, 5);
});

test('every field of a checkpoint is signed: its time, and the exact bytes before the signature', () => {
  const f = fresh();
  write(f, 4);
  const base = lines(f);
  put(f, rehash(base, (i, rec) => { if (i === 4) rec.time = '1999-01-01T00:00:00.000Z'; }));
  assert.deepEqual(verifyAudit(f, { publicKey: pubPem }).error, { line: 5, seq: 4, reason: 'bad checkpoint signature' });
  // the documented message, checked independently of verifyAudit: prefix, then the record up to ,"sig" closed with }
  const cp = base[4]!;
  const rec = JSON.parse(cp);
  assert.equal(rec.sigv, 2);
  const signed = cp.slice(0, cp.indexOf(',"sig":')) + '}';
  assert.equal(verify(null, Buffer.from(`pano-audit-checkpoint:v2\n${signed}`), keys.publicKey, Buffer.from(rec.sig, 'base64')), true);
});

test('old-format (v1) signed logs: verified with the head kept elsewhere (either case), refused without it; a v2 session after them ends them', () => {
  const f = fresh();
  write(f, 10);
  const old = toOldFormat(lines(f));
  put(f, old);
  const head = JSON.parse(old.at(-1)!).hash as string;
  const r = verifyAudit(f, { publicKey: pubPem });
  assert.equal(r.ok, false);
  assert.equal(r.error!.line, old.length);
  assert.match(r.error!.reason, /old signature format .* does not cover "final"/);
  const withHead = verifyAudit(f, { publicKey: pubPem, expectHead: head.toUpperCase() });
  assert.equal(withHead.ok, true, JSON.stringify(withHead.error));
  assert.equal(withHead.oldFormatCheckpoints, withHead.checkpoints);
  // the reviewer's forgery on an old log: refused without the head, and the head does not match
  put(f, cutAsFinal(old, 4));
  assert.equal(verifyAudit(f, { publicKey: pubPem }).ok, false);
  assert.match(verifyAudit(f, { publicKey: pubPem, expectHead: head }).error!.reason, /differs from the expected/);
  // a new writer continuing an old log signs the whole chain in v2: it verifies without --head
  put(f, old);
  write(f, 2);
  const cont = verifyAudit(f, { publicKey: pubPem });
  assert.equal(cont.ok, true, JSON.stringify(cont.error));
  assert.ok(cont.oldFormatCheckpoints > 0 && cont.oldFormatCheckpoints < cont.checkpoints);
});

test('--head is taken in either case; still 64 hex digits', () => {
  const f = fresh();
  write(f, 2);
  const head = verifyAudit(f).head;
  const bin = resolve(root, 'bin/pano-pii');
  const up = spawnSync(node[0]!, [...node.slice(1), bin, 'verify-audit', f, '--head', head.toUpperCase()], { encoding: 'utf8', cwd: root });
  assert.equal(up.status, 0, up.stderr);
  const wrong = spawnSync(node[0]!, [...node.slice(1), bin, 'verify-audit', f, '--head', 'F'.repeat(64)], { encoding: 'utf8', cwd: root });
  assert.equal(wrong.status, 1, wrong.stderr);
  const short = spawnSync(node[0]!, [...node.slice(1), bin, 'verify-audit', f, '--head', 'F'.repeat(63)], { encoding: 'utf8', cwd: root });
  assert.equal(short.status, 2, short.stderr);
});

// ---- one writer at a time

const lockOf = (f: string) => `${f}.lock`;

/** Start time of a process (field 22 of /proc/PID/stat). */
function startOf(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!;
}

test('a second writer is refused while the first has the log open; the lock goes with close and abandon', () => {
  const f = fresh();
  const first = AuditLog.open(f);
  assert.ok(existsSync(lockOf(f)));
  assert.equal(JSON.parse(readFileSync(lockOf(f), 'utf8')).pid, process.pid);
  assert.throws(() => AuditLog.open(f), new RegExp(`another writer \\(pid ${process.pid}\\) has the log open \\(lock ${lockOf(f).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\)`));
  first.append({ kind: 'finding', event: '1-1' });
  first.close();
  assert.equal(existsSync(lockOf(f)), false);
  const second = AuditLog.open(f);
  second.flush();
  second.abandon();
  assert.equal(existsSync(lockOf(f)), false);
  write(f, 1);
  assert.equal(verifyAudit(f).ok, false, 'the abandoned session has no final checkpoint');
});

test('a second writer reaching the log under another name (a hard link) is refused too', () => {
  const f = fresh();
  const g = `${f}.link`;
  write(f, 2);
  linkSync(f, g);
  const first = AuditLog.open(f);
  // its lock file is beside the other name: the lock on the file itself is what refuses it
  assert.throws(() => AuditLog.open(g), /another writer has this log open under another name \(a hard link/);
  assert.equal(existsSync(lockOf(g)), false, 'the refused writer leaves no lock behind');
  first.append({ kind: 'finding', event: '1-1' });
  first.close();
  const second = AuditLog.open(g);
  second.append({ kind: 'finding', event: '1-2' });
  second.close();
  assert.equal(verifyAudit(f).ok, true);
});

test('a stale lock (dead pid, or a pid now held by a later process) is taken over; a live one or another host\'s is not', () => {
  const f = fresh();
  const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
  writeFileSync(lockOf(f), JSON.stringify({ pid: dead, host: hostname(), start: '1', nonce: 'x' }) + '\n');
  const a = AuditLog.open(f);
  assert.equal(JSON.parse(readFileSync(lockOf(f), 'utf8')).pid, process.pid);
  a.close();
  // this process's pid, but another start time: the pid was reused after the holder died
  writeFileSync(lockOf(f), JSON.stringify({ pid: process.pid, host: hostname(), start: '0', nonce: 'x' }) + '\n');
  AuditLog.open(f).close();
  // this very process: alive
  writeFileSync(lockOf(f), JSON.stringify({ pid: process.pid, host: hostname(), start: startOf(process.pid), nonce: 'x' }) + '\n');
  assert.throws(() => AuditLog.open(f), /another writer/);
  // another host: cannot be told dead from here
  writeFileSync(lockOf(f), JSON.stringify({ pid: dead, host: `not-${hostname()}`, start: '1', nonce: 'x' }) + '\n');
  assert.throws(() => AuditLog.open(f), /on host not-.*remove the lock if that writer is gone/);
  // a lock that is no lock at all (not this code's JSON) is stale
  writeFileSync(lockOf(f), 'garbage\n');
  AuditLog.open(f).close();
  assert.equal(existsSync(lockOf(f)), false);
  assert.equal(verifyAudit(f).ok, true);
});

/** A child process holding the log open (or exiting without closing it, with `exit`). */
function holder(f: string, exit = false): Promise<ReturnType<typeof spawn>> {
  const code = `const { AuditLog } = await import('@panopticon/pii'); const l = AuditLog.open(${JSON.stringify(f)}); l.append({ kind: 'finding', event: 'x' }); l.flush(); console.log('open'); ${exit ? 'process.exit(0)' : 'setInterval(() => {}, 1000)'}`;
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', '--input-type=module', '-e', code], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((res, rej) => {
    child.stdout!.once('data', () => res(child));
    child.once('exit', (c) => (exit ? res(child) : rej(new Error(`holder exited ${c}`))));
  });
}

test('a writer killed with SIGKILL leaves a lock that does not block the next; one that exits without closing leaves none', async () => {
  const f = fresh();
  const child = await holder(f);
  const gone = new Promise((res) => child.once('exit', res));
  try {
    assert.throws(() => AuditLog.open(f), new RegExp(`another writer \\(pid ${child.pid}\\)`));
  } finally {
    child.kill('SIGKILL');
    await gone;
  }
  assert.ok(existsSync(lockOf(f)), 'SIGKILL leaves the lock file');
  write(f, 1);
  assert.equal(existsSync(lockOf(f)), false);
  // the killed session shows in the log (no final checkpoint before the next open)
  assert.match(verifyAudit(f).error!.reason, /did not end with a final checkpoint/);

  const g = fresh();
  const exited = await holder(g, true);
  await new Promise((res) => (exited.exitCode !== null ? res(null) : exited.once('exit', res)));
  assert.equal(existsSync(lockOf(g)), false, 'the exit handler removes the lock');
});

test('pano-pii --audit: a second writer exits 2 with one line and writes nothing; two at once leave a log that verifies', async () => {
  const bin = resolve(root, 'bin/pano-pii');
  const f = fresh();
  const events = Array.from({ length: 3000 }, (_, i) => JSON.stringify({ pano: { id: `1-${i}` }, http: { request: { headers: { 'x-mail': `user${i}@example.com` } } } })).join('\n') + '\n';
  const held = AuditLog.open(f);
  held.flush();
  const before = readFileSync(f, 'utf8');
  const r = spawnSync(node[0]!, [...node.slice(1), bin, '--audit', f], { input: events, encoding: 'utf8', cwd: root });
  assert.equal(r.status, 2, r.stderr);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /another writer \(pid \d+\) has the log open/);
  assert.equal(readFileSync(f, 'utf8'), before);
  held.close();
  // really at once (the reviewer's case): the second refused, or run after the first; the log is whole either way
  const g = fresh();
  const run = () =>
    new Promise<number | null>((res) => {
      const c = spawn(node[0]!, [...node.slice(1), bin, '--audit', g], { cwd: root, stdio: ['pipe', 'ignore', 'pipe'] });
      c.stdin!.on('error', () => {}); // a refused writer does not read its input
      c.stdin!.end(events);
      c.stderr!.resume();
      c.once('exit', res);
    });
  const codes = await Promise.all([run(), run()]);
  assert.ok(codes.includes(0), String(codes));
  assert.ok(codes.every((c) => c === 0 || c === 2), String(codes));
  const v = verifyAudit(g);
  assert.equal(v.ok, true, JSON.stringify(v.error));
  assert.equal(existsSync(lockOf(g)), false);
});
