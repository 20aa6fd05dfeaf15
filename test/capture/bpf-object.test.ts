/** The committed BPF objects are what their sources build to (CI fails when they are stale). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../helpers/corpus.js';

const clang = spawnSync('clang', ['--version'], { stdio: 'ignore' }).status === 0;

test('bpf/*.o are current for bpf/*.c (scripts/check-bpf.sh)', { skip: clang ? false : 'clang not installed (scripts/setup-machine.sh installs it)' }, () => {
  const r = spawnSync('bash', [join(repoRoot, 'scripts/check-bpf.sh')], { encoding: 'utf8', cwd: repoRoot });
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
});
