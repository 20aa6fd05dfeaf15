/**
 * The shipped span model is what scripts/pii/train-model.ts writes from ../shared/pii-data and the generator:
 * a change to candidate rules, features or labeling that would change the model fails here until the model is
 * retrained (and its figures in docs/PII.md rerun), so the shipped file never drifts from its recipe again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../helpers/corpus.js';

const data = join(repoRoot, '../shared/pii-data');

test('packages/pii/model/pano-span-v4.onnx is what scripts/pii/train-model.ts trains, byte for byte', (t) => {
  for (const f of ['presidio-research/synth_dataset_v2.json', 'wnut17/wnut17train.conll', 'wnut17/emerging.dev.conll', 'wikigold/wikigold.conll.txt']) {
    if (!existsSync(join(data, f))) return t.skip(`no ../shared/pii-data/${f} here`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'pano-model-'));
  try {
    const out = join(dir, 'model.onnx');
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--conditions=source', 'scripts/pii/train-model.ts', '--out', out], { cwd: repoRoot, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    // the training data as the script found it, for the message when the bytes differ
    const found = /examples: .*/.exec(r.stderr)?.[0] ?? '(no example count printed)';
    const shipped = readFileSync(join(repoRoot, 'packages/pii/model/pano-span-v4.onnx'));
    assert.ok(readFileSync(out).equals(shipped), `the script trains another model than the shipped one; ${found}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
