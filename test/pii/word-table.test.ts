// The word → clusters table of the span model: lookups against a hand-written table (present,
// absent, prefixes, collisions in a small index, comments, non-ASCII words), and the checked-in
// cluster file's shape and what it says about words used alike.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { WordTable } from '../../packages/pii/src/word-table.js';
import { CLUSTERS_FILE, featureStrings, type Candidate } from '@panopticon/pii';

test('a word table finds each word of its text and nothing else', () => {
  const text = '# comment line\nriver 1f 65\nrivers 2 z\nriv 0 0\nzürich a 10\n\nlast 35 1a';
  const t = WordTable.fromText(text);
  assert.equal(t.get('river'), (51 << 16) | 221); // 1f = 36 + 15, 65 = 6 * 36 + 5
  assert.equal(t.get('rivers'), (2 << 16) | 35);
  assert.equal(t.get('riv'), 0);
  assert.equal(t.get('zürich'), (10 << 16) | 36);
  assert.equal(t.get('last'), (113 << 16) | 46); // the last line has no newline
  for (const w of ['ri', 'riverx', 'River', '', '#', 'comment', 'line', '1f', 'river 1f']) assert.equal(t.get(w), -1, w);
});

test('a word table keeps every word when many share index slots', () => {
  const words = Array.from({ length: 5000 }, (_, i) => `w${i.toString(36)}`);
  const t = WordTable.fromText(words.map((w, i) => `${w} ${(i % 64).toString(36)} ${(i % 512).toString(36)}`).join('\n'));
  words.forEach((w, i) => assert.equal(t.get(w), ((i % 64) << 16) | (i % 512), w));
  assert.equal(t.get('w5000x'), -1);
});

test('a looked-up word that begins a stored word in its own index slot is not that word', () => {
  // FNV-1a over UTF-16 code units, as the table hashes; a table of one line has 1024 slots
  const fnv = (w: string) => {
    let h = 0x811c9dc5;
    for (let i = 0; i < w.length; i++) h = Math.imul(h ^ w.charCodeAt(i), 0x01000193);
    return h & 1023;
  };
  let k = 0;
  while (fnv(`ab${k}`) !== fnv('ab')) k++;
  const t = WordTable.fromText(`ab${k} 1 2\n`);
  assert.equal(t.get(`ab${k}`), (1 << 16) | 2);
  assert.equal(t.get('ab'), -1);
});

test('a line without numbers is an error naming the line', () => {
  assert.throws(() => WordTable.fromText('ok 1 2\nbroken\n'), /line 2 has no numbers/);
});

const clusterText = gunzipSync(readFileSync(CLUSTERS_FILE)).toString('utf8');
const table = WordTable.fromText(clusterText);

test('the cluster file: 300,000 lower-case words, 64 coarse and 512 fine clusters, no time in its gzip header', () => {
  const raw = readFileSync(CLUSTERS_FILE);
  assert.equal(raw.readUInt32LE(4), 0, 'gzip mtime');
  const lines = clusterText.split('\n').filter((l) => l && l[0] !== '#');
  assert.equal(lines.length, 300000);
  const coarse = new Set<number>();
  const fine = new Set<number>();
  for (const l of lines) {
    const [w, c, f] = l.split(' ');
    assert.equal(w, w!.toLowerCase());
    coarse.add(parseInt(c!, 36));
    fine.add(parseInt(f!, 36));
  }
  assert.equal(coarse.size, 64);
  assert.equal(fine.size, 512);
  assert.ok(Math.max(...coarse) === 63 && Math.max(...fine) === 511);
});

test('words used alike share a fine cluster, words used differently do not', () => {
  const fine = (w: string) => table.get(w) & 0xffff;
  // rivers, physicists, footballers: from the embeddings, not from any list of ours
  assert.equal(fine('danube'), fine('rhine'));
  assert.equal(fine('einstein'), fine('planck'));
  assert.equal(fine('ronaldo'), fine('beckham'));
  assert.notEqual(fine('danube'), fine('einstein'));
  assert.notEqual(fine('einstein'), fine('ronaldo'));
  assert.equal(table.get('xqzzvtlq'), -1);
});

test('v4 features add the clusters of the first and last word and of the words either side to v3', () => {
  const text = 'thanks to Clement Smith today';
  const cand: Candidate = { start: 10, end: 23, text, key: 'comment', whole: false };
  const v3 = featureStrings(cand, 'pano-span-v3');
  const v4 = featureStrings(cand, 'pano-span-v4');
  assert.deepEqual(v4.slice(0, v3.length), v3);
  const cl = (p: string, w: string) => {
    const v = table.get(w);
    return [`c${p}:${(v >>> 16).toString(36)}`, `f${p}:${(v & 0xffff).toString(36)}`];
  };
  assert.deepEqual(v4.slice(v3.length), [...cl('c0', 'clement'), ...cl('cl', 'smith'), ...cl('cb', 'to'), ...cl('ca', 'today')]);
  // a word the embeddings lack, a possessive, and no word before or after
  const alone: Candidate = { start: 0, end: 16, text: "Xqzzvtlq Smith's", key: '', whole: true };
  assert.deepEqual(featureStrings(alone, 'pano-span-v4').slice(featureStrings(alone, 'pano-span-v3').length), ['cc0:-', 'fc0:-', ...cl('cl', 'smith'), 'ccb:^', 'cca:$']);
});
