/**
 * Every capture in the corpus replays without error or reader warning, and
 * every event it yields satisfies the v1 schema. Also: deterministic output,
 * and the same events whatever the read chunk size.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { relative } from 'node:path';
import { corpusAvailable, corpusDir, corpusFiles } from '../helpers/corpus.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';

const skip = corpusAvailable() ? false : 'corpus not found at ../shared/corpus';

test('every corpus capture replays cleanly with schema-valid events', { skip }, () => {
  const files = corpusFiles();
  assert.ok(files.length >= 100, `expected the 119-file corpus, found ${files.length}`);
  let events = 0;
  for (const file of files) {
    const name = relative(corpusDir, file);
    const r = parseCaptureSync(file);
    assert.deepEqual(r.warnings, [], `${name}: reader warnings`);
    assert.ok(r.stats.decode.packets > 0, `${name}: no packets`);
    try {
      assertValidEvents(r.events);
    } catch (e) {
      throw new Error(`${name}: ${(e as Error).message}`);
    }
    events += r.events.length;
  }
  assert.ok(events > 0);
});

test('output is deterministic and independent of read chunk size', { skip }, () => {
  for (const file of corpusFiles('http1').concat(corpusFiles('tcp-out-of-order'))) {
    const whole = parseCaptureSync(file).events;
    const again = parseCaptureSync(file).events;
    const chunked = parseCaptureSync(file, { chunkSize: 97 }).events;
    assert.deepEqual(again, whole, relative(corpusDir, file));
    assert.deepEqual(chunked, whole, relative(corpusDir, file));
  }
});
