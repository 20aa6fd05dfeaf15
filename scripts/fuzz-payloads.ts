/**
 * Longer runs of the payload fuzzing in test/parse/fuzz.test.ts: every corpus
 * capture (optionally those whose path contains FILTER), N mutants each of its
 * TCP/UDP payload bytes, replayed through the whole pipeline. Prints each
 * mutant that throws, makes a parser fault, takes over 5 s or yields an event
 * the schema rejects, with the seed and index that rebuild it (the same with
 * any FILTER that keeps the capture; PANO_DEBUG=1 turns a parser fault into a
 * stack); exits 1 if any.
 *
 *   node --import tsx --conditions=source scripts/fuzz-payloads.ts [SEED] [N] [FILTER]
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { corpusDir, corpusFiles } from '../test/helpers/corpus.js';
import { parseCaptureSync, validateEvent } from '../test/helpers/parse.js';
import { mutatePayloads, payloadSpans, rng } from '../test/helpers/payload-mutants.js';

const seed = Number(process.argv[2] ?? 1);
const perFile = Number(process.argv[3] ?? 20);
const filter = process.argv[4] ?? '';
const files = corpusFiles().filter((f) => f.includes(filter));
/** Each capture draws from its own generator, so a FILTER rebuilds the same mutants of the captures it keeps. */
function fileSeed(name: string): number {
  let h = 0x811c9dc5 ^ seed;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0;
}
let problems = 0;
let mutants = 0;
const report = (what: string) => {
  problems++;
  console.log(what);
};
for (const file of files) {
  const orig = readFileSync(file);
  const rand = rng(fileSeed(relative(corpusDir, file)));
  const spans = payloadSpans(orig);
  if (spans.length === 0) continue;
  for (let i = 0; i < perFile; i++) {
    const buf = mutatePayloads(orig, spans, rand);
    const chunkSize = 1 + Math.floor(rand() * 65536);
    const where = `${relative(corpusDir, file)} seed ${seed} mutant ${i}`;
    mutants++;
    const t0 = performance.now();
    let r;
    try {
      r = parseCaptureSync(buf, { chunkSize });
    } catch (e) {
      report(`THREW ${where}: ${(e as Error).stack?.split('\n').slice(0, 12).join(' | ')}`);
      continue;
    }
    const ms = performance.now() - t0;
    if (ms > 5000) report(`SLOW ${where}: ${ms.toFixed(0)} ms`);
    const faults = Object.entries(r.stats.protocols).filter(([k, v]) => k.endsWith('.parser_faults') && Number(v) > 0);
    if (faults.length) report(`FAULT ${where}: ${JSON.stringify(faults)} (PANO_DEBUG=1 stops at it with its stack)`);
    for (const ev of r.events) {
      const errs = validateEvent(ev);
      if (errs.length) {
        report(`INVALID ${where}: ${errs.slice(0, 3).join('; ')}`);
        break;
      }
    }
  }
}
console.log(`${files.length} captures, ${mutants} mutants, seed ${seed}: ${problems} problem(s)`);
process.exitCode = problems ? 1 : 0;
