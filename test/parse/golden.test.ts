/**
 * Golden tests: the exact events for the HTTP/1.1 corpus captures and the
 * bundled sample. A change in output shows up here as a diff; when it is
 * intended, regenerate with `UPDATE_GOLDEN=1 node scripts/run-tests.mjs test/parse/golden.test.ts`
 * and review the diff of test/golden/ like code.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { corpusAvailable, corpusFiles, repoRoot } from '../helpers/corpus.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';

const goldenDir = join(repoRoot, 'test/golden');
const update = process.env.UPDATE_GOLDEN === '1';

const inputs = [join(repoRoot, 'test/fixtures/sample-http.pcapng'), ...(corpusAvailable() ? corpusFiles('http1') : [])];

for (const file of inputs) {
  test(`golden: ${basename(file)}`, () => {
    const { events } = parseCaptureSync(file, { protocols: ['http'] });
    assertValidEvents(events);
    const text = events.map((e) => JSON.stringify(e)).join('\n') + '\n';
    const golden = join(goldenDir, `${basename(file)}.ndjson`);
    if (update || !existsSync(golden)) {
      if (!update) assert.fail(`no golden file ${golden}: run with UPDATE_GOLDEN=1 and review it`);
      writeFileSync(golden, text);
      return;
    }
    assert.equal(text, readFileSync(golden, 'utf8'));
  });
}
