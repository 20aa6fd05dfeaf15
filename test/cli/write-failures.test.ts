// When output cannot be written (a full disk, /dev/full), every command says so
// in one line and exits 74 (EX_IOERR), never 0 and never with a stack trace;
// pano-pii writes no event whose findings are not in its audit log; the files
// left behind end with a whole line (JSONL) or a whole record (audit log, which
// a later run continues the chain, and verify-audit names where the failed session ends). The full disk is a 64 KiB tmpfs mounted for the test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runBin } from '../helpers/bin.js';
import { generate } from '../../scripts/pii/generate.js';
import { pcapng, udpFrame } from '../helpers/synth.js';

const run = (cmd: string, args: string[], opts: { input?: string; stdout?: string } = {}) => {
  const r = runBin(cmd, args, { input: opts.input, redirect: `> ${opts.stdout ?? '/dev/null'}` });
  return { status: r.status, stderr: r.stderr };
};

const dir = mkdtempSync(join(tmpdir(), 'pano-write-failures-'));
const events = generate({ count: 400, seed: 7, split: 'eval' }).events.map((e) => JSON.stringify(e));
const eventsFile = join(dir, 'events.jsonl');
writeFileSync(eventsFile, events.join('\n') + '\n');
const key = join(dir, 'k.key');
writeFileSync(key, Buffer.alloc(32, 7));
const capture = join(dir, 'dns.pcapng');
const query = Buffer.from('123401000001000000000000076578616d706c6503636f6d0000010001', 'hex');
writeFileSync(capture, pcapng([{ tsNs: 1_000_000_000n, data: udpFrame({ addr: '10.0.0.1', port: 5353 }, { addr: '10.0.0.53', port: 53 }, query) }]));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const mount = (args: string[]) => {
  const m = spawnSync('mount', args, { encoding: 'utf8' });
  assert.equal(m.status, 0, `mount ${args.join(' ')}: ${m.stderr}`);
};

test('standard output on /dev/full: each command ends with one line naming itself and status 74', () => {
  const cases: Array<[string, string[]]> = [
    ['pano-parse', [capture]],
    ['pano-pii', ['--key-file', key, eventsFile]],
    ['pano-graph', [eventsFile]],
    ['pano-export', ['--tee', eventsFile]],
  ];
  for (const [cmd, args] of cases) {
    const r = run(cmd, args, { stdout: '/dev/full' });
    assert.equal(r.status, 74, `${cmd}: ${r.stderr}`);
    assert.equal(r.stderr, `${cmd}: standard output: no space left on device\n`, cmd);
  }
});

test('a device is refused as an audit log, to write or to verify, in one line with status 2', () => {
  const w = run('pano-pii', ['--key-file', key, '--audit', '/dev/full', eventsFile]);
  assert.equal(w.status, 2);
  assert.equal(w.stderr, 'pano-pii: --audit /dev/full: not a regular file\n');
  // /dev/zero would be read forever (it used to end in an out-of-memory abort)
  const v = run('pano-pii', ['verify-audit', '/dev/zero']);
  assert.equal(v.status, 2);
  assert.equal(v.stderr, 'pano-pii: /dev/zero: a device, not an audit log\n');
});

test('a full disk: the audit log and the JSONL file end whole, no unaudited event leaves pano-pii, status 74', { skip: process.getuid?.() !== 0 ? 'needs root to mount a tmpfs' : false }, () => {
  const disk = join(dir, 'disk');
  spawnSync('mkdir', [disk]);
  mount(['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', disk]);
  try {
    const audit = join(disk, 'audit.log');
    const out = join(dir, 'out.jsonl');
    const r = run('pano-pii', ['--key-file', key, '--audit', audit, eventsFile], { stdout: out });
    assert.equal(r.status, 74, r.stderr);
    assert.equal(r.stderr, `pano-pii: ${audit}: no space left on device; the audit log is cut short there, and no event whose findings are not in it was written out (pano-pii verify-audit shows where it ends)\n`);
    const log = readFileSync(audit, 'utf8');
    assert.ok(log.length > 0 && log.endsWith('\n'), 'the log ends with a whole record');
    const audited = new Set(log.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { kind: string; event?: string }).filter((rec) => rec.kind === 'finding').map((rec) => rec.event));
    assert.ok(audited.size > 0);
    // every event written out had its findings on record before it left
    for (const line of readFileSync(out, 'utf8').split('\n').filter(Boolean)) {
      const ev = JSON.parse(line) as { pano: { id: string }; pii?: unknown[] };
      if (ev.pii?.length) assert.ok(audited.has(ev.pano.id), `event ${ev.pano.id} left without its audit records`);
    }
    const v = run('pano-pii', ['verify-audit', audit]);
    assert.equal(v.status, 1);
    assert.match(v.stderr, /does not end with a final checkpoint/);
    // more room: the next run continues the chain from the last whole record; the log stays one that cannot
    // prove nothing was cut where the failed session ends, and verify-audit says so at the new session's start
    const cutAt = readFileSync(audit, 'utf8').split('\n').length; // the new open record's line
    mount(['-o', 'remount,size=4m', disk]);
    assert.equal(run('pano-pii', ['--key-file', key, '--audit', audit], { input: events.slice(0, 20).join('\n') + '\n' }).status, 0);
    const resumed = run('pano-pii', ['verify-audit', audit]);
    assert.equal(resumed.status, 1, resumed.stderr);
    assert.match(resumed.stderr, new RegExp(`^pano-pii: ${audit}:${cutAt}: record seq \\d+: a new session starts where the one before did not end with a final checkpoint`));

    rmSync(audit);
    mount(['-o', 'remount,size=64k', disk]);
    // -o FILE: the message names the file
    const events2 = join(disk, 'parsed.jsonl');
    const big = join(dir, 'many.pcapng');
    writeFileSync(big, pcapng(Array.from({ length: 600 }, (_, i) => ({ tsNs: 1_000_000_000n + BigInt(i), data: udpFrame({ addr: '10.0.0.1', port: 5000 + i }, { addr: '10.0.0.53', port: 53 }, query) }))));
    const p = run('pano-parse', ['-o', events2, big]);
    assert.equal(p.status, 74, p.stderr);
    assert.equal(p.stderr, `pano-parse: ${events2}: no space left on device\n`);
    rmSync(events2);
    const jsonl = join(disk, 'events.jsonl');
    const e = run('pano-export', ['--jsonl', jsonl, eventsFile]);
    assert.equal(e.status, 74, e.stderr);
    assert.equal(e.stderr, `pano-export: ${jsonl}: no space left on device\n`);
    const written = readFileSync(jsonl, 'utf8');
    assert.ok(written.length > 0 && written.endsWith('\n'), 'the file ends with a whole line');
    const lines = written.split('\n').slice(0, -1);
    assert.deepEqual(lines, events.slice(0, lines.length));
  } finally {
    spawnSync('umount', [disk]);
  }
});
