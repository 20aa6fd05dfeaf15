/**
 * Seeded structural fuzzing of the stages after pano-parse: mutants of the
 * events of corpus captures (values of other types, required fields deleted,
 * deep nesting, long values, lone surrogates, raw numbers JSON cannot hold,
 * keys such as __proto__, pii lists of wrong shapes, another protocol's
 * fields) through pano-pii (each --redact mode, --audit), pano-graph and
 * pano-export's sinks, in-process. No stage may throw, every output line is
 * one JSON object, no built-in prototype changes, a planted personal value
 * that an annotation says was found does not survive --redact, and the audit
 * logs verify. Longer runs, with the built commands too and the index of
 * every mutant that breaks something:
 * `node --import tsx --conditions=source scripts/fuzz-events.ts SEED N [FILTER]`,
 * which found a span mapping that recursed past the stack on deeply nested
 * values (test/export/otlp-nesting.test.ts) and pano-pii failing the whole
 * run on an event too deep to write out (test/pii/deep-events.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { corpusAvailable, corpusFiles } from '../helpers/corpus.js';
import { corpusEvents, mutateEvent, rng } from '../helpers/event-mutants.js';
import { EventStages } from '../helpers/event-stages.js';

const skip = corpusAvailable() ? false : 'corpus not found at ../shared/corpus';
const BUDGET = 200;

test(`${BUDGET} seeded structural mutants of corpus events pass pano-pii, pano-graph and pano-export without a problem`, { skip }, async () => {
  const events = corpusEvents(corpusFiles(), { maxBytes: 200_000, perFile: 20 });
  const rand = rng(0xe7e275);
  const stages = new EventStages();
  const problems: string[] = [];
  let planted = 0;
  for (let i = 0; i < BUDGET; i++) {
    const m = mutateEvent(events[Math.floor(rand() * events.length)]!, events[Math.floor(rand() * events.length)]!, rand, { plant: rand() < 0.5 });
    if (m.planted) planted++;
    for (const p of await stages.run(m)) problems.push(`mutant ${i} (${m.ops.join('; ')}): ${p}`);
  }
  problems.push(...(await stages.close()));
  assert.deepEqual(problems, []);
  assert.ok(planted > BUDGET / 4, 'values were planted for the redaction check');
});
