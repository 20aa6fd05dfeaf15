// BadLines: how pano-pii, pano-graph and pano-export name skipped input lines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BadLines, BAD_LINES_SHOWN } from '@panopticon/cli';

test('the first ten bad lines are named, the eleventh says the rest are only counted, later ones are silent', () => {
  const written: string[] = [];
  const bad = new BadLines('pano-x', { write: (t) => written.push(t) });
  for (let i = 1; i <= 25; i++) bad.report(`in.jsonl:${i}`, `reason ${i}`);
  assert.equal(BAD_LINES_SHOWN, 10);
  assert.equal(bad.count, 25);
  assert.equal(written.length, 11);
  for (let i = 0; i < 10; i++) assert.equal(written[i], `pano-x: in.jsonl:${i + 1}: reason ${i + 1}; line skipped\n`);
  assert.equal(written[10], 'pano-x: in.jsonl:11: reason 11; line skipped, and further bad lines only counted\n');
});
