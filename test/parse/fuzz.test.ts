/**
 * Seeded mutation fuzzing of the whole replay pipeline: corrupt bytes of real
 * captures anywhere past the file magic and replay them. The pipeline must
 * never throw, never hang, and stay bounded; damage is counted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { corpusAvailable, corpusDir, corpusFiles } from '../helpers/corpus.js';
import { parseCaptureSync } from '../helpers/parse.js';

const skip = corpusAvailable() ? false : 'corpus not found at ../shared/corpus';

/** mulberry32: small, seeded, reproducible. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const BUDGET = 240;

test(`${BUDGET} seeded mutants of corpus captures replay without throwing`, { skip }, () => {
  const files = corpusFiles().filter((f) => readFileSync(f).length < 200_000);
  const rand = rng(0x5eed);
  let damaged = 0;
  for (let i = 0; i < BUDGET; i++) {
    const file = files[Math.floor(rand() * files.length)];
    const orig = readFileSync(file);
    const buf = Buffer.from(orig);
    const kind = Math.floor(rand() * 4);
    const flips = 1 + Math.floor(rand() * 20);
    for (let k = 0; k < flips; k++) {
      const at = 64 + Math.floor(rand() * Math.max(1, buf.length - 64));
      if (at >= buf.length) continue;
      if (kind === 0) buf[at] ^= 1 << Math.floor(rand() * 8);
      else if (kind === 1) buf[at] = Math.floor(rand() * 256);
      else if (kind === 2) buf.fill(0xff, at, Math.min(buf.length, at + 1 + Math.floor(rand() * 16)));
      else buf.fill(0, at, Math.min(buf.length, at + 1 + Math.floor(rand() * 64)));
    }
    const cut = rand() < 0.3 ? buf.subarray(0, 24 + Math.floor(rand() * (buf.length - 24))) : buf;
    const where = `mutant ${i} of ${relative(corpusDir, file)}`;
    let r;
    try {
      r = parseCaptureSync(cut, { chunkSize: 1 + Math.floor(rand() * 65536) });
    } catch (e) {
      assert.fail(`${where}: threw ${(e as Error).stack}`);
    }
    if (r.warnings.length || r.stats.decode.malformed) damaged++;
  }
  assert.ok(damaged > 0, 'mutations should have produced counted damage');
  assert.ok(process.memoryUsage().heapUsed < 1.5 * 1024 ** 3, 'heap stayed bounded');
});
