// Option values every command checks alike: an empty value (a script's unset
// variable) is an error naming the option, never "not given"; an option that
// only means something beside another is refused alone rather than ignored;
// a file an option names that cannot be read is named with the option.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runBin, runBinAsync } from '../helpers/bin.js';
import { PROCESSES, mapLimit } from '../helpers/parallel.js';

const run = (cmd: string, args: string[]) => runBin(cmd, args);

test('an empty option value is a usage error naming the option, in every command', async () => {
  const cases: Array<[string, string[], string]> = [
    ['pano-parse', ['-o', ''], '-o, --output <file>'],
    ['pano-pii', ['--audit', ''], '--audit <file>'],
    ['pano-pii', ['--key-file', ''], '--key-file <file>'],
    ['pano-pii', ['verify-audit', '--head', '', 'x.log'], '--head <hash>'],
    ['pano-graph', ['--window', ''], '--window <duration>'],
    ['pano-export', ['--tee', '--jsonl', ''], '--jsonl <file>'],
    ['pano-export', ['--otlp', ''], '--otlp <url>'],
    ['pano-export', ['--prometheus', ''], '--prometheus <addr>'],
    ['pano-capture', ['-i', 'lo', '-w', ''], '-w, --write <file>'],
  ];
  await mapLimit(cases, PROCESSES, async ([cmd, args, flags]) => {
    const r = await runBinAsync(cmd, args);
    assert.equal(r.status, 2, `${cmd} ${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr, `${cmd}: option '${flags}' argument '' is invalid. empty value\n`);
  });
});

test('an option given without the one it belongs to is refused, not ignored', async () => {
  const cases: Array<[string, string[], string]> = [
    ['pano-pii', ['--sign-key', 'audit.pem'], '--sign-key needs --audit'],
    ['pano-pii', ['--checkpoint-every', '10'], '--checkpoint-every needs --audit'],
    ['pano-export', ['--tee', '--keep', '3'], '--keep needs --jsonl'],
    ['pano-export', ['--tee', '--rotate', '1M'], '--rotate needs --jsonl'],
    ['pano-export', ['--tee', '--token-file', 't'], '--token-file needs --prometheus'],
    ['pano-export', ['--tee', '--keep-serving'], '--keep-serving needs --prometheus'],
    ['pano-export', ['--tee', '--otlp-batch', '64'], '--otlp-batch needs --otlp'],
    ['pano-export', ['--tee', '--service-name', 'x'], '--service-name needs --otlp'],
    ['pano-export', ['--tee', '--checkpoint-every', '10'], '--checkpoint-every needs --audit'],
  ];
  await mapLimit(cases, PROCESSES, async ([cmd, args, message]) => {
    const r = await runBinAsync(cmd, args);
    assert.equal(r.status, 2, `${cmd} ${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr, `${cmd}: ${message}\n`);
  });
  // defaults do not count as given: the same commands with their parents run
  assert.equal(run('pano-export', ['--tee']).status, 0);
  assert.equal(run('pano-pii', []).status, 0);
});

test('a key or token file that cannot be read is named with its option', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pano-option-files-'));
  try {
    const r = run('pano-export', ['--prometheus', '127.0.0.1:0', '--token-file', dir]);
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stderr, `pano-export: --token-file ${dir}: is a directory\n`);
    const k = run('pano-export', ['--audit', join(dir, 'a.log'), '--sign-key', join(dir, 'missing.pem')]);
    assert.equal(k.status, 2, k.stderr);
    assert.equal(k.stderr, `pano-export: --sign-key ${join(dir, 'missing.pem')}: no such file or directory\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
