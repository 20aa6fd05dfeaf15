// Where output goes, checked before anything is written: an output that is
// also an input is refused (opening it to write would empty the input before
// it is read; appending to it would feed the output back in without end), and
// an output that cannot be created is the user's error (status 2, one line
// naming the option and the path), not an internal one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runBin } from '../helpers/bin.js';
import { pcapng, udpFrame } from '../helpers/synth.js';

/** Runs `bin/CMD ARGS`, with a shell redirection of its stdin and stdout (`< f`, `>> f`). */
const run = (cmd: string, args: string[], redirect = '> /dev/null') => runBin(cmd, args, { redirect });

const dir = mkdtempSync(join(tmpdir(), 'pano-output-paths-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const query = Buffer.from('123401000001000000000000076578616d706c6503636f6d0000010001', 'hex');
const captureBytes = pcapng([{ tsNs: 1_000_000_000n, data: udpFrame({ addr: '10.0.0.1', port: 5353 }, { addr: '10.0.0.53', port: 53 }, query) }]);
const event = JSON.stringify({ pano: { v: 1, id: '1-1', kind: 'exchange', protocol: 'http', start_ns: '1', end_ns: '2', duration_ns: 1, time: '', source: { type: 'pcap' }, connection: { id: 1, roles: 'syn' } }, client: { address: '10.0.0.1', port: 1 }, server: { address: '10.0.0.2', port: 80 }, http: { request: { method: 'POST', body: { size: 20, content: 'mail bob@example.com' } } } });

test('two outputs of pano-pii or pano-export that are one file (events and audit log) are refused with status 2 before either is written', () => {
  const events = join(dir, 'in.jsonl');
  writeFileSync(events, event + '\n');
  const log = join(dir, 'both.out');
  const existing = join(dir, 'existing.out');
  writeFileSync(existing, 'kept\n');
  const cases: Array<[string[], string, string]> = [
    // not there yet: the same path
    [['-o', log, '--audit', log], '> /dev/null', `--audit ${log}: the same file as -o ${log}`],
    [['-o', existing, '--audit', join(dir, '.', 'existing.out')], '> /dev/null', `--audit ${join(dir, '.', 'existing.out')}: the same file as -o ${existing}`],
    [['--audit', existing], `> ${existing}`, `--audit ${existing}: the same file as standard output`],
  ];
  for (const [args, redirect, message] of cases) {
    const r = run('pano-pii', ['--redact', 'mask', ...args, events], redirect);
    assert.equal(r.status, 2, `${args.join(' ')} ${redirect}: ${r.stderr}`);
    assert.equal(r.stderr, `pano-pii: ${message} (each would overwrite the other)\n`);
  }
  // pano-export's outputs alike
  const exportCases: Array<[string[], string, string]> = [
    [['--jsonl', log, '--audit', log], '> /dev/null', `--audit ${log}: the same file as --jsonl ${log}`],
    [['--tee', '--jsonl', existing], `>> ${existing}`, `--jsonl ${existing}: the same file as standard output`],
    [['--tee', '--audit', existing], `>> ${existing}`, `--audit ${existing}: the same file as standard output`],
  ];
  for (const [args, redirect, message] of exportCases) {
    const r = run('pano-export', [...args, events], redirect);
    assert.equal(r.status, 2, `${args.join(' ')} ${redirect}: ${r.stderr}`);
    assert.equal(r.stderr, `pano-export: ${message} (each would overwrite the other)\n`);
  }
  assert.throws(() => statSync(log), /ENOENT/);
  // the redirection emptied it (the shell's doing), and pano-pii wrote nothing into it
  assert.equal(readFileSync(existing, 'utf8'), '');
});

test('an output that is also an input is refused with status 2, and the input is left as it was', () => {
  const capture = join(dir, 'same.pcapng');
  writeFileSync(capture, captureBytes);
  const events = join(dir, 'same.jsonl');
  writeFileSync(events, event + '\n');
  const cases: Array<[string, string[], string, string]> = [
    ['pano-parse', [capture, '-o', capture], '> /dev/null', `-o ${capture}: the same file as the input ${capture}`],
    ['pano-parse', ['-o', capture], `< ${capture}`, `-o ${capture}: the same file as standard input`],
    ['pano-pii', [events, '-o', events], '> /dev/null', `-o ${events}: the same file as the input ${events}`],
    ['pano-pii', [events, '--audit', events], '> /dev/null', `--audit ${events}: the same file as the input ${events}`],
    ['pano-pii', [], `< ${events} >> ${events}`, 'standard output is the same file as standard input'],
    ['pano-export', [events, '--jsonl', events], '', `--jsonl ${events}: the same file as the input ${events}`],
    ['pano-export', ['--tee', events], `>> ${events}`, `standard output is the same file as the input ${events}`],
    ['pano-graph', [events], `>> ${events}`, `standard output is the same file as the input ${events}`],
  ];
  for (const [cmd, args, redirect, message] of cases) {
    const r = run(cmd, args, redirect);
    assert.equal(r.status, 2, `${cmd} ${args.join(' ')} ${redirect}: ${r.stderr}`);
    assert.equal(r.stderr, `${cmd}: ${message} (writing it would destroy it before it is read)\n`);
    assert.deepEqual(readFileSync(capture), captureBytes, `${cmd}: the capture is intact`);
    assert.equal(readFileSync(events, 'utf8'), event + '\n', `${cmd}: the events are intact`);
  }
  // another file, or a device, is fine; so is standard output on a file that is not an input
  const other = join(dir, 'other.jsonl');
  assert.equal(run('pano-parse', [capture, '-o', other]).status, 0);
  assert.equal(statSync(other).mode & 0o777, 0o600);
  assert.equal(run('pano-pii', [events, '-o', '/dev/null']).status, 0);
  assert.equal(run('pano-graph', [events], `> ${join(dir, 'graph.json')}`).status, 0);
});

test('an output that cannot be created: status 2, one line naming the option and why', () => {
  const capture = join(dir, 'in.pcapng');
  writeFileSync(capture, captureBytes);
  const events = join(dir, 'in.jsonl');
  writeFileSync(events, event + '\n');
  const sub = join(dir, 'a-directory');
  mkdirSync(sub, { recursive: true });
  const cases: Array<[string, string[], string]> = [
    ['pano-parse', [capture, '-o', sub], `-o ${sub}: is a directory`],
    ['pano-parse', [capture, '-o', join(dir, 'missing', 'x.jsonl')], `-o ${join(dir, 'missing', 'x.jsonl')}: no such file or directory`],
    ['pano-pii', [events, '-o', sub], `-o ${sub}: is a directory`],
    // the audit log alike, in both commands that write one (its writer lock is made beside it first)
    ['pano-pii', [events, '--audit', join(dir, 'missing', 'a.log')], `--audit ${join(dir, 'missing', 'a.log')}: no such file or directory`],
    ['pano-pii', [events, '--audit', sub], `--audit ${sub}: is a directory`],
    ['pano-export', [events, '--audit', join(dir, 'missing', 'a.log')], `--audit ${join(dir, 'missing', 'a.log')}: no such file or directory`],
    ['pano-export', [events, '--audit', sub], `--audit ${sub}: is a directory`],
  ];
  // a file that exists where no file can be created (procfs answers ENOENT for the lock beside it)
  if (existsSync('/proc/version')) {
    for (const cmd of ['pano-pii', 'pano-export']) cases.push([cmd, [events, '--audit', '/proc/version'], '--audit /proc/version: cannot take its writer lock: no file can be created in /proc']);
  }
  for (const [cmd, args, message] of cases) {
    const r = run(cmd, args);
    assert.equal(r.status, 2, `${cmd} ${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr, `${cmd}: ${message}\n`);
  }
});
