// The wikigold split behind training, the dev sets and the evaluation (scripts/pii/datasets.ts): the held-out
// fifth of articles is the same whatever dev fold is asked for, and the four dev folds are disjoint and together
// exactly the training articles, so cross-validation (--wiki-fold, scripts/pii/wiki-cv.sh) never touches the
// held-out fifth. Counts are from the file itself: its -DOCSTART- lines and blank-line sentence breaks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { DATA_DIR, wikigoldSplit } from '../../scripts/pii/datasets.js';

const file = resolve(DATA_DIR, 'wikigold/wikigold.conll.txt');

test('wikigold dev folds 0-3 partition the training articles; the held-out fifth never moves', { skip: !existsSync(file) && 'no wikigold copy here' }, () => {
  const key = (t: { text: string }) => t.text;
  const base = wikigoldSplit()!;
  // sentences per article, from the raw file: every fifth article (index 4, 9, ...) is held out
  const docs = readFileSync(file, 'utf8').split(/^-DOCSTART-[^\n]*$/m)
    .map((d) => d.split(/\n\s*\n/).filter((b) => b.split('\n').some((l) => l.trim().split(/\s+/).length >= 2)).length);
  const heldCount = docs.filter((_, i) => i % 5 === 4).reduce((a, b) => a + b, 0);
  assert.equal(base.held.length, heldCount);
  assert.equal(base.train.length + base.held.length, docs.reduce((a, b) => a + b, 0));
  const devs: string[][] = [];
  for (let f = 0; f < 4; f++) {
    const s = wikigoldSplit(false, f)!;
    assert.deepEqual(s.held.map(key), base.held.map(key), `fold ${f}: held-out fifth`);
    assert.deepEqual(s.train.map(key), base.train.map(key), `fold ${f}: training articles`);
    assert.equal(s.dev.length, docs.filter((_, i) => i % 5 === f).reduce((a, b) => a + b, 0), `fold ${f}: dev size`);
    assert.deepEqual([...s.dev, ...s.devTrain].map(key).sort(), base.train.map(key).sort(), `fold ${f}: dev + devTrain = train`);
    devs.push(s.dev.map(key));
  }
  // the default dev fold is fold 3, as before --wiki-fold existed
  assert.deepEqual(base.dev.map(key), devs[3]);
  assert.deepEqual(devs.flat().sort(), base.train.map(key).sort());
  assert.throws(() => wikigoldSplit(false, 4), /dev fold 4: one of 0-3/);
  assert.throws(() => wikigoldSplit(false, Number('x')), /dev fold NaN/);
});
