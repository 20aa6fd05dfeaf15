import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, statSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPairSync, createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { AuditLog, verifyAudit, AUDIT_GENESIS } from '@panopticon/pii';

const dir = mkdtempSync(join(tmpdir(), 'pii-audit-'));
let n = 0;
const fresh = () => join(dir, `a${n++}.log`);
const clock = () => '2026-11-25T22:00:00.000Z';
const keys = generateKeyPairSync('ed25519');
const other = generateKeyPairSync('ed25519');

function write(file: string, findings: number, opts: { sign?: boolean; every?: number } = {}) {
  const log = AuditLog.open(file, { now: clock, checkpointEvery: opts.every ?? 3, signKey: opts.sign ? keys.privateKey : undefined });
  for (let i = 0; i < findings; i++) {
    log.append({ kind: 'finding', event: `1-${i}`, type: 'email', path: 'http.request.body.content$.email', value_hash: 'ab'.repeat(32), detector: 'regex', confidence: 0.9 });
  }
  log.close();
}
const lines = (f: string) => readFileSync(f, 'utf8').split('\n').slice(0, -1);
const put = (f: string, ls: string[]) => writeFileSync(f, ls.map((l) => l + '\n').join(''));

test('a fresh log verifies, is mode 0600, and hashes are SHA-256 of the record without its hash', () => {
  const f = fresh();
  write(f, 7);
  assert.equal(statSync(f).mode & 0o777, 0o600);
  const r = verifyAudit(f);
  assert.equal(r.ok, true, JSON.stringify(r.error));
  // open + 7 findings + checkpoints after every 3 findings (2) + final checkpoint
  assert.equal(r.records, 1 + 7 + 2 + 1);
  assert.equal(r.checkpoints, 3);
  const first = JSON.parse(lines(f)[0]!);
  assert.equal(first.prev, AUDIT_GENESIS);
  const raw = lines(f)[0]!;
  const body = raw.slice(0, raw.indexOf(',"hash":')) + '}';
  assert.equal(first.hash, createHash('sha256').update(body).digest('hex'));
});

test('appending continues the chain across sessions', () => {
  const f = fresh();
  write(f, 2);
  write(f, 2);
  const r = verifyAudit(f);
  assert.equal(r.ok, true, JSON.stringify(r.error));
  const seqs = lines(f).map((l) => JSON.parse(l).seq);
  assert.deepEqual(seqs, seqs.map((_, i) => i));
});

test('edit is detected and names the record', () => {
  const f = fresh();
  write(f, 5);
  const ls = lines(f);
  ls[3] = ls[3]!.replace('"type":"email"', '"type":"phone"');
  put(f, ls);
  const r = verifyAudit(f);
  assert.equal(r.ok, false);
  assert.equal(r.error?.line, 4);
  assert.match(r.error!.reason, /hash mismatch/);
});

test('an edit that recomputes the record hash still breaks the chain at the next record', () => {
  const f = fresh();
  write(f, 5);
  const ls = lines(f);
  const rec = JSON.parse(ls[2]!);
  rec.type = 'phone';
  delete rec.hash;
  const body = JSON.stringify(rec);
  ls[2] = body.slice(0, -1) + `,"hash":"${createHash('sha256').update(body).digest('hex')}"}`;
  put(f, ls);
  const r = verifyAudit(f);
  assert.equal(r.ok, false);
  assert.equal(r.error?.line, 4);
  assert.match(r.error!.reason, /chain broken/);
});

test('delete, insert, reorder are detected', () => {
  const f1 = fresh();
  write(f1, 5);
  const base = lines(f1);
  const del = base.filter((_, i) => i !== 2);
  put(f1, del);
  let r = verifyAudit(f1);
  assert.equal(r.ok, false);
  assert.equal(r.error?.line, 3);

  const ins = [...base.slice(0, 3), base[2]!, ...base.slice(3)];
  put(f1, ins);
  r = verifyAudit(f1);
  assert.equal(r.ok, false);
  assert.equal(r.error?.line, 4);

  const reo = [...base];
  [reo[1], reo[2]] = [reo[2]!, reo[1]!];
  put(f1, reo);
  r = verifyAudit(f1);
  assert.equal(r.ok, false);
  assert.equal(r.error?.line, 2);
});

test('truncation is detected: cut tail, cut mid-line, and cut at a periodic checkpoint', () => {
  const f = fresh();
  write(f, 7);
  const base = lines(f);
  put(f, base.slice(0, -2));
  assert.match(verifyAudit(f).error!.reason, /final checkpoint/);
  writeFileSync(f, base.join('\n') + '\n');
  const full = readFileSync(f, 'utf8');
  writeFileSync(f, full.slice(0, full.length - 20));
  assert.match(verifyAudit(f).error!.reason, /incomplete last line/);
  // line index 4 is the checkpoint after the third finding: a valid chain, but not final
  assert.equal(JSON.parse(base[4]!).kind, 'checkpoint');
  put(f, base.slice(0, 5));
  const r = verifyAudit(f);
  assert.equal(r.ok, false);
  assert.match(r.error!.reason, /final checkpoint/);
  // a whole-session cut is caught with the externally kept head
  put(f, base);
  const head = verifyAudit(f).head;
  write(f, 1);
  const two = lines(f);
  put(f, two.slice(0, base.length));
  assert.equal(verifyAudit(f).ok, true);
  put(f, two);
  assert.equal(verifyAudit(f, { expectHead: head }).ok, false);
});

test('a cut before a final checkpoint stays visible when a later session appends after it', () => {
  const f = fresh();
  write(f, 7);
  write(f, 7);
  const base = lines(f);
  // cut inside the second session (its final checkpoint and two findings gone), then a third run appends
  const cut = base.length - 3;
  put(f, base.slice(0, cut));
  assert.match(verifyAudit(f).error!.reason, /does not end with a final checkpoint/);
  write(f, 2);
  const r = verifyAudit(f);
  assert.equal(r.ok, false, 'the append must not hide the cut');
  assert.equal(r.error!.line, cut + 1);
  assert.equal(r.error!.seq, cut);
  assert.match(r.error!.reason, /a new session starts where the one before did not end with a final checkpoint/);
  // the same for a writer killed before it closed (no final checkpoint written at all)
  const k = fresh();
  const killed = AuditLog.open(k, { now: clock });
  killed.append({ kind: 'finding', event: '1-1', type: 'email', path: 'x', value_hash: 'ab'.repeat(32), detector: 'regex', confidence: 0.9 });
  killed.flush();
  // its lock is stale once it is gone (taken over by the next writer); abandon lets it go without a final checkpoint
  killed.abandon();
  write(k, 1);
  assert.equal(verifyAudit(k).error!.line, 3);
});

test('signed checkpoints verify with the right key and fail with a wrong key or a forged signature', () => {
  const f = fresh();
  write(f, 4, { sign: true });
  const pem = keys.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const ok = verifyAudit(f, { publicKey: pem });
  assert.equal(ok.ok, true, JSON.stringify(ok.error));
  assert.equal(ok.signedCheckpoints, 2);
  const bad = verifyAudit(f, { publicKey: other.publicKey });
  assert.equal(bad.ok, false);
  assert.match(bad.error!.reason, /signed by key/);
  // forge: flip the signature and re-hash the tail so only the signature is wrong
  const ls = lines(f);
  const idx = ls.findIndex((l) => l.includes('"sig"'));
  const rec = JSON.parse(ls[idx]!);
  const sig = Buffer.from(rec.sig, 'base64');
  sig[0]! ^= 1;
  rec.sig = sig.toString('base64');
  // rebuild the chain from idx on so the hashes are consistent
  let prev = rec.prev as string;
  for (let i = idx; i < ls.length; i++) {
    const r2 = i === idx ? rec : JSON.parse(ls[i]!);
    r2.prev = prev;
    delete r2.hash;
    const body = JSON.stringify(r2);
    prev = createHash('sha256').update(body).digest('hex');
    ls[i] = body.slice(0, -1) + `,"hash":"${prev}"}`;
  }
  put(f, ls);
  assert.equal(verifyAudit(f).ok, true, 'without a key the chain alone is consistent');
  const forged = verifyAudit(f, { publicKey: keys.publicKey });
  assert.equal(forged.ok, false);
  assert.match(forged.error!.reason, /bad checkpoint signature/);
  assert.equal(forged.error!.line, idx + 1);
});

test('unsigned checkpoints fail when a public key is required; garbage lines are named', () => {
  const f = fresh();
  write(f, 2);
  assert.match(verifyAudit(f, { publicKey: keys.publicKey }).error!.reason, /not signed/);
  appendFileSync(f, 'hello\n');
  const r = verifyAudit(f);
  assert.equal(r.ok, false);
  assert.match(r.error!.reason, /not valid JSON/);
  assert.throws(() => AuditLog.open(f), /not an audit record/);
});

test('a log longer than a read chunk verifies record by record; an edit past the first MiB is named by its line', () => {
  const f = fresh();
  write(f, 12_000, { every: 1000 }); // ~4 MiB: records cross the 1 MiB read chunks
  const size = statSync(f).size;
  assert.ok(size > 3 * 1024 * 1024, `log is ${size} bytes`);
  const r = verifyAudit(f);
  assert.equal(r.ok, true, JSON.stringify(r.error));
  assert.equal(r.records, 1 + 12_000 + 12 + 1);
  // the same through a pipe, as `verify-audit <(cat log)` gives it
  const piped = spawnSync('bash', ['-c', `node --conditions=source --import tsx -e "const { verifyAudit } = await import('@panopticon/pii'); console.log(JSON.stringify(verifyAudit(process.argv[1])))" <(cat '${f}')`], { encoding: 'utf8' });
  assert.equal(JSON.parse(piped.stdout).records, r.records, piped.stderr);
  const ls = lines(f);
  const at = 9_000; // well past the first chunk
  ls[at] = ls[at]!.replace('"type":"email"', '"type":"phone"');
  put(f, ls);
  const bad = verifyAudit(f);
  assert.equal(bad.ok, false);
  assert.deepEqual([bad.error!.line, bad.error!.reason], [at + 1, 'record hash mismatch (record edited)']);
  // and a log whose last line has no newline, past the first chunk too
  writeFileSync(f, ls.slice(0, at).map((l) => l + '\n').join('') + ls[at]!.slice(0, 50));
  assert.deepEqual(verifyAudit(f).error, { line: at + 1, reason: 'incomplete last line (truncated)' });
});
