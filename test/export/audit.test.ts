// --audit: the findings of a real pano-pii run over a corpus capture, written by
// pano-export into pano-pii's hash-chained audit log (one implementation);
// `pano-pii verify-audit` accepts it, signed checkpoints verify with the public
// key, and editing a record is detected.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { verifyAudit } from '@panopticon/pii';
import { ROOT, runExport } from './fixtures.js';

const CAPTURE = resolve(ROOT, '../shared/corpus/http1/chrissanders-http_post.pcapng');
const stage = (pkg: string, ...args: string[]) => [process.execPath, '--conditions=source', '--import', 'tsx', resolve(ROOT, 'test/graph/run-stage.ts'), pkg, ...args];

test('findings that pass pano-export land in the shared audit log; verify-audit accepts it and detects an edit', { skip: !existsSync(CAPTURE) && 'corpus not found' }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pano-audit-'));
  try {
    // real events with real findings: pano-parse | pano-pii
    const q = (a: string[]) => a.map((x) => `'${x}'`).join(' ');
    const piped = spawnSync('bash', ['-c', `set -o pipefail; ${q(stage('@panopticon/parse', CAPTURE))} | ${q(stage('@panopticon/pii'))}`], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(piped.status, 0, piped.stderr);
    const events = piped.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));
    const findings = events.flatMap((e) => (e.pii ?? []).map((f: Record<string, unknown>) => ({ event: e.pano.id, ...f })));
    assert.ok(findings.length >= 2, 'the capture carries findings');

    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    writeFileSync(join(dir, 'sign.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
    writeFileSync(join(dir, 'pub.pem'), publicKey.export({ type: 'spki', format: 'pem' }));
    const audit = join(dir, 'audit.log');
    const run = runExport(['--audit', audit, '--sign-key', join(dir, 'sign.pem'), '--jsonl', join(dir, 'out.jsonl'), '--checkpoint-every', '2']);
    run.child.stdin.end(piped.stdout);
    assert.equal(await run.exited, 0, run.stderr());
    assert.equal(statSync(audit).mode & 0o777, 0o600);

    const ok = verifyAudit(audit, { publicKey: readFileSync(join(dir, 'pub.pem'), 'utf8') } as never);
    assert.equal(ok.ok, true, JSON.stringify(ok));
    const records = readFileSync(audit, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    const exported = records.filter((r) => r.kind === 'export');
    assert.deepEqual(
      exported.map((r) => [r.event, r.type, r.path, r.start, r.end, r.detector, r.confidence, r.sinks]),
      findings.map((f) => [f.event, f.type, f.path, f.start, f.end, f.detector, f.confidence, 'jsonl']),
    );
    assert.ok(records.some((r) => r.kind === 'checkpoint' && r.sig), 'signed checkpoints');
    assert.equal(records.at(-1).kind, 'checkpoint');
    assert.equal(records.at(-1).final, true);

    // the same verifier from the command line
    const cli = spawnSync(stage('@panopticon/pii')[0]!, [...stage('@panopticon/pii').slice(1), 'verify-audit', audit, '--pubkey', join(dir, 'pub.pem')], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(cli.status, 0, cli.stdout + cli.stderr);

    // edit one record's type: the chain breaks there
    const text = readFileSync(audit, 'utf8');
    const lines = text.split('\n');
    const i = lines.findIndex((l) => l.includes('"kind":"export"'));
    lines[i] = lines[i]!.replace(/"type":"[a-z0-9_]+"/, '"type":"nothing"');
    writeFileSync(join(dir, 'tampered.log'), lines.join('\n'));
    const bad = spawnSync(stage('@panopticon/pii')[0]!, [...stage('@panopticon/pii').slice(1), 'verify-audit', join(dir, 'tampered.log')], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(bad.status, 1);
    assert.match(bad.stdout + bad.stderr, new RegExp(`tampered.log:${i + 1}: .*edited`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
