// The NDJSON line reader shared by pano-graph and pano-export: raw text with
// file and line numbers, CRLF, blank lines passed over, over-long lines skipped and counted, an
// unterminated last line, chunk boundaries anywhere.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readLines, parseEventLine, type InputCounters } from '@panopticon/graph';

async function collect(file: string, maxLineBytes?: number) {
  const c: InputCounters = { lines: 0, bytes: 0, oversized: 0, unterminated: 0 };
  const out: Array<[string, number]> = [];
  for await (const l of readLines([file], c, { maxLineBytes })) if (!l.oversized) out.push([l.text, l.lineNo]);
  return { out, c };
}

test('lines keep their text byte for byte, CRLF is stripped, blank lines are passed over, numbering counts every line', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pano-input-'));
  try {
    const f = join(dir, 'a.jsonl');
    writeFileSync(f, '{"a":1.0}\r\n\n{"b":"é"}\n' + 'x'.repeat(100) + '\n\r\n{"c":2}');
    const { out, c } = await collect(f, 50);
    // blank lines (line 2, and line 5: a lone CR) are counted and numbered, not yielded
    assert.deepEqual(out, [['{"a":1.0}', 1], ['{"b":"é"}', 3], ['{"c":2}', 6]]);
    // bytes: 11 + 1 + 11 (é is two bytes) + 101 + 2 + 7
    assert.deepEqual(c, { lines: 6, bytes: 133, oversized: 1, unterminated: 1 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a long line across many chunks is joined exactly; one past the bound is skipped whole', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pano-input-'));
  try {
    const f = join(dir, 'b.jsonl');
    const big = JSON.stringify({ pano: {}, body: 'y'.repeat(300_000) }); // several 64 KiB read chunks
    writeFileSync(f, `${big}\n${'z'.repeat(400_000)}\n{"pano":{}}\n`);
    const { out, c } = await collect(f, 350_000);
    // the skipped line is still yielded, empty and marked, so that the stage can name it (FILE:2)
    const seen: Array<[number, boolean]> = [];
    for await (const l of readLines([f], { lines: 0, bytes: 0, oversized: 0, unterminated: 0 }, { maxLineBytes: 350_000 })) seen.push([l.lineNo, l.oversized === true]);
    assert.deepEqual(seen, [[1, false], [2, true], [3, false]]);
    assert.equal(out.length, 2);
    assert.equal(out[0]![0], big);
    assert.deepEqual(out[1], ['{"pano":{}}', 3]);
    assert.equal(c.oversized, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a byte order mark before the first line is not part of it (nor before a later one)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pano-input-'));
  try {
    const f = join(dir, 'bom.jsonl');
    writeFileSync(f, '\ufeff{"pano":{}}\n\ufeff{"pano":{}}\n');
    const { out } = await collect(f);
    assert.deepEqual(out, [['{"pano":{}}', 1], ['\ufeff{"pano":{}}', 2]]);
    assert.ok(parseEventLine(out[0]![0]).event);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('parseEventLine names what is wrong in one line', () => {
  assert.deepEqual(parseEventLine('').error, 'empty line');
  assert.match(parseEventLine('{"a":').error!, /^not JSON \(/);
  // V8's whole first line, the input it quotes included (bounded): nothing cut from its start
  // the line's own text is not quoted back (it may be the personal data pano-pii keeps off the terminal)
  assert.equal(parseEventLine('Host: www.example.com').error, `not JSON (Unexpected token 'H')`);
  assert.equal(parseEventLine('[1]').error, 'not a JSON object');
  assert.equal(parseEventLine('{"a":1}').error, 'no "pano" envelope');
  assert.deepEqual(parseEventLine('{"pano":{"v":1}}').event, { pano: { v: 1 } });
});
