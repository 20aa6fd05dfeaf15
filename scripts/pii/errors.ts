/**
 * Error analysis for the span model: for one labeled set, every missed
 * name/address and every false hit, classified by cause:
 *  - `no-candidate`: no candidate span touches the gold span;
 *  - `boundary`: candidates touch it but none overlaps by half of both
 *    (the span rules cut a word too many or too few);
 *  - `model-none`: a candidate matches, the model said none (or below threshold);
 *  - `model-type`: a candidate matches, the model gave the other type;
 *  - `lost-overlap`: a matching candidate was scored right but another overlapping
 *    hit (longer or more probable) won.
 * False hits are printed with the gold spans they touch (if any).
 *
 *   node --import tsx --conditions=source scripts/pii/errors.ts [--set dev|large|wnut-dev|wiki-dev|wiki-held] [--model FILE] [--type person_name] [--limit N] [--wiki-fold F]
 */
import { randomBytes } from 'node:crypto';
import { EventScanner, OnnxSpanModel, type Candidate } from '@panopticon/pii';
import { BUILTIN_MODEL } from '../../packages/pii/src/main.js';
import { conllTexts, presidioTexts, wikigoldSplit, wrap } from './datasets.js';
import type { Label } from './generate.js';

const args = process.argv.slice(2);
const get = (k: string, d: string) => (args.includes(k) ? args[args.indexOf(k) + 1]! : d);
const set = get('--set', 'dev');
const only = get('--type', '');
const limit = +get('--limit', '1000000');

const ov = (a: { start: number; end: number }, b: { start: number; end: number }) => {
  const inter = Math.min(a.end, b.end) - Math.max(a.start, b.start);
  return inter > 0 && inter >= 0.5 * (a.end - a.start) && inter >= 0.5 * (b.end - b.start);
};

let texts;
if (set === 'dev') { const p = presidioTexts('synth_dataset_v2.json')!; texts = p.slice(Math.floor(p.length * 0.8)); }
else if (set === 'large') texts = presidioTexts('generated_large.json')!;
else if (set === 'wnut-dev') texts = conllTexts('wnut17/emerging.dev.conll', 'person')!;
else if (set === 'wiki-held') texts = wikigoldSplit()!.held;
else if (set === 'wiki-dev') texts = wikigoldSplit(false, +get('--wiki-fold', '3'))!.dev;
else throw new Error(`unknown set ${set}`);
const { events, labels } = wrap(texts, 'x');
const model = await OnnxSpanModel.load(get('--model', BUILTIN_MODEL));
const scanner = new EventScanner({ key: randomBytes(32), model });
const causes = new Map<string, number>();
const tp = new Map<string, number>();
const lines: string[] = [];
for (const [n, ev0] of events.entries()) {
  const ev = structuredClone(ev0);
  const id = (ev.pano as { id: string }).id;
  const p = scanner.collect(ev);
  const cands = p.candidates as Array<{ slot: { path: string; value: string }; cand: Candidate }>;
  const scores = cands.length ? await model.score(cands.map((c) => c.cand)) : [];
  await scanner.scoreCandidates([p]);
  const found = scanner.finish(p).filter((f) => f.type === 'person_name' || f.type === 'street_address');
  const gold = (labels.get(id) ?? []).filter((l: Label) => l.type === 'person_name' || l.type === 'street_address');
  const text = texts[n]!.text;
  const used = new Set<number>();
  for (const f of found) {
    const k = gold.findIndex((g, i) => !used.has(i) && g.type === f.type && g.path === f.path && ov(g, f));
    if (k >= 0) { used.add(k); tp.set(f.type, (tp.get(f.type) ?? 0) + 1); continue; }
    if (only && f.type !== only) continue;
    const touching = gold.filter((g) => g.start < f.end && f.start < g.end);
    const cause = touching.length ? (touching.some((g) => g.type !== f.type && ov(g, f)) ? 'fp-wrong-type' : 'fp-boundary') : 'fp-no-gold';
    causes.set(`${f.type} ${cause}`, (causes.get(`${f.type} ${cause}`) ?? 0) + 1);
    lines.push(`FP ${f.type} ${cause} ${JSON.stringify(text.slice(f.start, f.end))} ${touching.map((g) => `[gold ${g.type} ${JSON.stringify(text.slice(g.start, g.end))}]`).join(' ')}  | ${JSON.stringify(text.slice(Math.max(0, f.start - 30), f.end + 30))}`);
  }
  gold.forEach((g, i) => {
    if (used.has(i) || (only && g.type !== only)) return;
    const touch = cands.map((c, j) => ({ c: c.cand, s: scores[j]! })).filter(({ c }) => c.start < g.end && g.start < c.end);
    const match = touch.filter(({ c }) => ov(g, c));
    let cause: string;
    if (touch.length === 0) cause = 'no-candidate';
    else if (match.length === 0) cause = 'boundary';
    else if (match.some(({ s }) => s[0] === g.type && s[1] >= 0.5)) cause = 'lost-overlap';
    else if (match.some(({ s }) => s[0] !== 'none')) cause = 'model-type';
    else cause = 'model-none';
    causes.set(`${g.type} ${cause}`, (causes.get(`${g.type} ${cause}`) ?? 0) + 1);
    lines.push(`FN ${g.type} ${cause} ${JSON.stringify(text.slice(g.start, g.end))} cands: ${touch.map(({ c, s }) => `${JSON.stringify(text.slice(c.start, c.end))}=${s[0]}:${s[1].toFixed(2)}`).join(' ')}  | ${JSON.stringify(text.slice(Math.max(0, g.start - 30), g.end + 30))}`);
  });
}
console.log(lines.slice(0, limit).join('\n'));
console.log('\n== causes');
for (const [k, v] of [...causes].sort()) console.log(`${k.padEnd(40)} ${v}`);
for (const t of ['person_name', 'street_address']) {
  const T = tp.get(t) ?? 0;
  let fp = 0, fn = 0;
  for (const [k, v] of causes) if (k.startsWith(t + ' ')) (k.includes(' fp-') ? (fp += v) : (fn += v));
  const P = T / (T + fp), R = T / (T + fn);
  console.log(`${t}: TP ${T} FP ${fp} FN ${fn} P ${P.toFixed(3)} R ${R.toFixed(3)} F1 ${((2 * P * R) / (P + R)).toFixed(3)}`);
}
