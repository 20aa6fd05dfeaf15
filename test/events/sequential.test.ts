// Event strings kept sequential (ADR 0007): `sequential` keeps the text exactly,
// and the events of every protocol carry no ropes or slices, nor prototype-less
// objects (dictionaries from the start), which would cost the whole event V8
// 14's JSON.stringify fast path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sequential } from '../../packages/events/src/flat.js';
import { corpusAvailable, corpusFiles, repoRoot } from '../helpers/corpus.js';

test('sequential returns the same text: ASCII, Latin-1, beyond Latin-1, lone surrogates, short and huge strings', () => {
  const pieces = ['host0.svc0.example.com', 'café crème brûlée ÿ', 'naïve 名前 👩‍💻 text', 'lone \ud800 surrogate \udfff end', '\u0000\u00ff'.repeat(20)];
  for (const p of pieces) {
    const rope = p + '|' + String(p.length); // a concatenation, as the parsers build them
    assert.equal(sequential(rope), rope);
    assert.equal(sequential(rope.slice(3)), rope.slice(3)); // a slice
  }
  const short = 'abc' + 'def';
  assert.equal(sequential(short), short);
  const huge = 'x'.repeat(100_000) + 'y'; // past the scratch buffer
  assert.equal(sequential(huge), huge);
  const hugeWide = '名'.repeat(50_000) + 'y';
  assert.equal(sequential(hugeWide), hugeWide);
});

/** Prints V8's name for the representation of every event string (%DebugPrint, in a child with natives syntax). */
const CENSUS = `
import { readFileSync } from 'node:fs';
import { ParsePipeline } from '@panopticon/parse';
import { sequential } from '@panopticon/events';
const files = JSON.parse(process.argv[1]);
// Labels go out through %DebugPrint too: process.stdout and V8's own printing are buffered apart.
const say = (s) => %DebugPrint('@@' + s + '@@');
// the helper itself: a rope and a slice go in, sequential strings come out
for (const s of ['abcdefghij' + Math.random(), ('abcdefghij' + Math.random()).slice(1), 'ŝĉĝĥĵŭ-' + Math.random()]) { say('STRING helper'); %DebugPrint(sequential(s)); }
for (const f of files) {
  const evs = [];
  const p = new ParsePipeline({ source: { type: 'pcap', name: f.split('/').pop() }, onEvent: (e) => evs.push(e) });
  p.push(readFileSync(f));
  p.end();
  const walk = (o, path) => {
    if (typeof o === 'string') { if (o.length >= 13) { say('STRING ' + f.split('/').slice(-2).join('/') + ':' + path); %DebugPrint(o); } return; }
    if (Array.isArray(o)) { for (const x of o) walk(x, path + '[]'); return; }
    if (o && typeof o === 'object') {
      // a prototype-less object is a dictionary from the start, and costs the whole event the fast path too (ADR 0007)
      if (Object.getPrototypeOf(o) === null) say('DICT ' + f.split('/').slice(-2).join('/') + ':' + path);
      for (const k of Object.keys(o)) walk(o[k], path + '.' + k);
    }
  };
  for (const e of evs) walk(e, '');
}
`;

test('events of every corpus capture hold no ropes, slices or prototype-less objects', { skip: corpusAvailable() ? false : 'corpus not beside the clone (../shared/corpus)' }, () => {
  const files = corpusFiles();
  assert.ok(files.length >= 100, `found ${files.length} captures`);
  // %DebugPrint writes past Node's stream handling: on a pipe, which Node makes non-blocking, what the
  // reader has not taken yet is dropped (the counts varied from run to run on a busy machine). A file never refuses.
  const dir = mkdtempSync(join(tmpdir(), 'pano-census-'));
  const outFile = join(dir, 'census.txt');
  const fd = openSync(outFile, 'w');
  let stdout: string;
  try {
    const r = spawnSync(process.execPath, ['--allow-natives-syntax', '--input-type=module', '-e', CENSUS, JSON.stringify(files)], { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', fd, 'pipe'] });
    assert.equal(r.status, 0, r.stderr);
    stdout = readFileSync(outFile, 'utf8');
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
  const kinds = new Map<string, number>();
  const bad: string[] = [];
  let where = '';
  let labelType = false;
  for (const line of stdout.split('\n')) {
    const dict = /"@@DICT (.*)@@"/.exec(line);
    if (dict) {
      bad.push(`${dict[1]} prototype-less object`);
      labelType = true; // the label's own type line follows
      continue;
    }
    const label = /"@@STRING (.*)@@"/.exec(line);
    if (label) {
      where = label[1];
      labelType = true;
      continue;
    }
    const m = /^ - type: (\w+)/.exec(line);
    if (!m) continue;
    if (labelType) {
      labelType = false; // the label's own type line
      continue;
    }
    kinds.set(m[1], (kinds.get(m[1]) ?? 0) + 1);
    // Ropes, slices and the rest are what the fast path refuses. Thin strings (a string
    // internalized after it was made points at the internalized copy) serialise as fast as
    // sequential ones (measured, ADR 0007). V8 11 names sequential strings ONE_BYTE_STRING_TYPE
    // and STRING_TYPE, V8 14 SEQ_ONE_BYTE_... and SEQ_TWO_BYTE_....
    if (/^(CONS|SLICED|EXTERNAL|UNCACHED)_/.test(m[1])) bad.push(`${where} ${m[1]}`);
  }
  const count = (re: RegExp) => [...kinds].filter(([k]) => re.test(k)).reduce((n, [, c]) => n + c, 0);
  assert.ok(count(/^(SEQ_)?ONE_BYTE_STRING_TYPE$/) > 500, `census saw ${JSON.stringify([...kinds])}`);
  assert.ok(count(/^(SEQ_TWO_BYTE_STRING_TYPE|STRING_TYPE)$/) >= 1, 'the helper made a two-byte string');
  assert.deepEqual([...new Set(bad)], []);
});
