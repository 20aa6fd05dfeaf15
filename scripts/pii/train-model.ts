/**
 * Trains the shipped span model (packages/pii/model/pano-span-v4.onnx):
 * multinomial logistic regression over hashed features (model.ts
 * `featureStrings`) of candidate spans, classes none / person_name /
 * street_address, fitted with AdaGrad, written as an ONNX graph
 * (Gather → ReduceSum → Add → Softmax) with onnx-proto.
 *
 * Training data (never used by scripts/eval-pii.ts):
 *  - Presidio synth_dataset_v2.json, wrapped into payloads;
 *  - wikigold (I-PER) without its held-out fifth of articles (`wikigoldSplit`,
 *    evaluated by scripts/eval-pii.ts), WNUT17 train and dev (person), wrapped
 *    likewise (with `--dev`, WNUT17 dev, a fifth of synth_dataset_v2 and a
 *    fifth of the wikigold training articles are
 *    held out instead, to compare settings);
 *  - generated events, split `train` (own name/address pool, own seed).
 * Each candidate the scanner proposes is labeled by its overlap with a gold
 * span at the same path (≥ half of both), else `none`.
 *
 *   node --import tsx --conditions=source scripts/pii/train-model.ts [--out FILE] [--epochs N] [--dev] [--features SET]
 *     [--l2 X] [--pos-weight X] [--lr X (AdaGrad step, 0.03)] [--aux [--aux-weight X]] [--hidden H [--drop P]] [--seed S]
 *     [--average N (linear models averaged, 4)]
 *     [--wiki-fold F (with --dev: which fifth of wikigold's training articles is dev, 0-3, default 3)]
 *
 * `--hidden H` trains an embedding-bag MLP instead of the linear model: E[D,H] rows gathered by the feature ids
 * and summed, + b1, ReLU, then W2[H,C] + b2, softmax; all AdaGrad (sparse rows of E), same epochs, L2 (on E and W2)
 * and class weights. Its ONNX graph is Gather → ReduceSum → Add → Relu → MatMul → Add → Softmax with the same
 * input, output and metadata, so the runtime loads it unchanged. Tried on the dev sets only; not shipped.
 * `--drop P` drops each feature id of a training example with probability P (MLP only).
 * `--seed S` (default 42) seeds the example order (and the MLP's initial weights); 42 gives the shipped model.
 * `--average N` (default 4) trains N linear models in the example orders of seeds S..S+N-1 and averages their
 * weights (session 30: less of one order's chance in the model). With no options the script writes the shipped
 * model byte for byte (test/pii/model-build.test.ts).
 *
 * `--aux` trains organisations, places and other named things as classes of their own (AUX_CLASSES), which
 * pano-pii never reports; tried in session 12 and not shipped (docs/PII.md).
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import onnxProto from 'onnx-proto';
import { EventScanner, featureStrings, featureId, FEATURE_SET, FEATURE_SETS, type Candidate, type FeatureSet, type SpanModel } from '@panopticon/pii';
import { generate, rng, type Label } from './generate.js';
import { AUX_CLASSES, conllTexts, presidioTexts, wikigoldSplit, wrap } from './datasets.js';

const { onnx } = onnxProto;
const PII_LABELS = ['none', 'person_name', 'street_address'];
/** The classes trained: the PII ones, and with `--aux` the other named entities (AUX_CLASSES) as classes of their own. */
let LABELS = PII_LABELS;
/** Weight of an auxiliary class's errors (`--aux-weight`): they are non-PII, as `none` is. */
let auxWeight = 1;
const DIM = 1 << 16;
const K = 96;

interface Example { ids: Int32Array; y: number }

/** A model that proposes nothing: lets the scanner emit its candidates for labeling. */
const recorder: SpanModel = { labels: LABELS, score: async (c: Candidate[]) => c.map(() => ['none', 0] as [string, number]) };

function examplesFrom(events: Array<Record<string, unknown>>, labels: Map<string, Label[]>, out: Example[], features: FeatureSet): void {
  const scanner = new EventScanner({ key: randomBytes(32), model: recorder });
  for (const ev of events) {
    const id = (ev.pano as { id: string }).id;
    const gold = (labels.get(id) ?? []).filter((l) => LABELS.includes(l.type) && l.type !== 'none');
    const p = scanner.collect(structuredClone(ev));
    const cands = p.candidates as Array<{ slot: { path: string }; cand: Candidate }>;
    // gold spans some candidate hits exactly: there the exact one is the positive, and a looser match
    // ("Hello Marie" for "Marie") a negative, so the model learns where names and addresses begin and end
    const exact = new Set(gold.filter((l) => l.type === 'person_name' && cands.some(({ slot, cand }) => slot.path === l.path && cand.start === l.start && cand.end === l.end)));
    for (const { slot, cand } of cands) {
      let g = gold.find((l) => {
        if (l.path !== slot.path) return false;
        const inter = Math.min(l.end, cand.end) - Math.max(l.start, cand.start);
        return inter > 0 && inter >= 0.5 * (l.end - l.start) && inter >= 0.5 * (cand.end - cand.start);
      });
      if (g && exact.has(g) && (cand.start !== g.start || cand.end !== g.end)) g = undefined;
      // a part of a gold name that is too short to match it (one word of "Emily Smith") is neither
      // a positive nor a negative: the whole span is the answer, yet the part is not "not a name" (parts of an
      // address stay negatives: "Apt. 460" alone must lose to the whole address)
      if (!g && gold.some((l) => l.type === 'person_name' && l.path === slot.path && l.start <= cand.start && cand.end <= l.end)) continue;
      const ids = new Set<number>();
      for (const f of featureStrings(cand, features)) {
        if (ids.size >= K) break;
        ids.add(featureId(f, DIM));
      }
      out.push({ ids: Int32Array.from(ids), y: g ? LABELS.indexOf(g.type) : 0 });
    }
  }
}

/** Fisher–Yates over `order` with `r`: one epoch's example order. */
function shuffle(order: number[], r: () => number): void {
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
}

/** Names and addresses are the minority: their errors weigh more (recall over precision); `--aux` classes weigh auxWeight. */
function classWeight(y: number, posWeight: number): number {
  return y === 0 ? 1 : y < PII_LABELS.length ? posWeight : auxWeight;
}

function train(data: Example[], epochs: number, l2: number, posWeight: number, lr: number, seed = 42): { W: Float32Array; b: Float32Array } {
  const C = LABELS.length;
  const W = new Float32Array(DIM * C);
  const b = new Float32Array(C);
  const GW = new Float32Array(DIM * C).fill(1e-8);
  const Gb = new Float32Array(C).fill(1e-8);
  const order = data.map((_, i) => i);
  const r = rng(seed);
  const z = new Float64Array(C);
  for (let ep = 0; ep < epochs; ep++) {
    shuffle(order, r);
    let loss = 0;
    for (const k of order) {
      const ex = data[k]!;
      for (let c = 0; c < C; c++) {
        let s = b[c]!;
        for (const id of ex.ids) s += W[id * C + c]!;
        z[c] = s;
      }
      const mx = Math.max(...z);
      let sum = 0;
      for (let c = 0; c < C; c++) sum += (z[c] = Math.exp(z[c]! - mx));
      for (let c = 0; c < C; c++) {
        const p = z[c]! / sum;
        const g = (p - (c === ex.y ? 1 : 0)) * classWeight(ex.y, posWeight);
        if (c === ex.y) loss -= Math.log(Math.max(p, 1e-12));
        Gb[c]! += g * g;
        b[c]! -= (lr * g) / Math.sqrt(Gb[c]!);
        for (const id of ex.ids) {
          const w = id * C + c;
          const gw = g + l2 * W[w]!;
          GW[w]! += gw * gw;
          W[w]! -= (lr * gw) / Math.sqrt(GW[w]!);
        }
      }
    }
    console.error(`epoch ${ep + 1}: mean loss ${(loss / data.length).toFixed(4)}`);
  }
  for (let c = 0; c < C; c++) W[c] = 0; // row 0 is padding
  return { W, b };
}

/**
 * `n` linear models trained on the same data in `n` example orders (seeds `seed`, `seed + 1`, ...), their weights
 * averaged: still one linear model (the mean of the logits), with less of any one order's chance in it.
 */
function trainAveraged(data: Example[], epochs: number, l2: number, posWeight: number, lr: number, seed: number, n: number): { W: Float32Array; b: Float32Array } {
  const first = train(data, epochs, l2, posWeight, lr, seed);
  if (n <= 1) return first;
  const W = Float64Array.from(first.W), b = Float64Array.from(first.b);
  for (let i = 1; i < n; i++) {
    const m = train(data, epochs, l2, posWeight, lr, seed + i);
    for (let k = 0; k < W.length; k++) W[k]! += m.W[k]!;
    for (let k = 0; k < b.length; k++) b[k]! += m.b[k]!;
  }
  return { W: Float32Array.from(W, (v) => v / n), b: Float32Array.from(b, (v) => v / n) };
}

export interface Mlp { E: Float32Array; b1: Float32Array; W2: Float32Array; b2: Float32Array; H: number }

/** Class probabilities of one example under the MLP (`hp` gets the pre-activations, `h` the hidden units). */
export function mlpForward(m: Mlp, ids: Int32Array, hp: Float64Array, h: Float64Array, z: Float64Array, scale = 1): void {
  const { E, b1, W2, b2, H } = m;
  const C = b2.length;
  for (let j = 0; j < H; j++) hp[j] = 0;
  for (const id of ids) {
    const o = id * H;
    for (let j = 0; j < H; j++) hp[j]! += E[o + j]!;
  }
  for (let j = 0; j < H; j++) hp[j] = hp[j]! * scale + b1[j]!;
  for (let j = 0; j < H; j++) h[j] = hp[j]! > 0 ? hp[j]! : 0;
  let mx = -Infinity;
  for (let c = 0; c < C; c++) {
    let s = b2[c]!;
    for (let j = 0; j < H; j++) s += h[j]! * W2[j * C + c]!;
    z[c] = s;
    if (s > mx) mx = s;
  }
  let sum = 0;
  for (let c = 0; c < C; c++) sum += (z[c] = Math.exp(z[c]! - mx));
  for (let c = 0; c < C; c++) z[c]! /= sum;
}

/** Embedding-bag MLP (`--hidden H`): sum of E rows + b1, ReLU, W2 + b2, softmax; AdaGrad, sparse rows of E. */
function trainMlp(data: Example[], epochs: number, l2: number, posWeight: number, lr: number, H: number, seed: number, drop = 0): Mlp {
  const C = LABELS.length;
  const init = rng(seed + 1);
  // small uniform weights: E so that a sum of ~90 rows has units of order 0.1–1, W2 Glorot-like
  const gauss = () => { let u = 0; for (let i = 0; i < 4; i++) u += init(); return (u - 2) * Math.sqrt(3); };
  const E = new Float32Array(DIM * H);
  for (let i = H; i < E.length; i++) E[i] = 0.05 * gauss();
  const W2 = new Float32Array(H * C);
  for (let i = 0; i < W2.length; i++) W2[i] = Math.sqrt(2 / (H + C)) * gauss();
  const b1 = new Float32Array(H).fill(0.1);
  const b2 = new Float32Array(C);
  const m: Mlp = { E, b1, W2, b2, H };
  const GE = new Float32Array(DIM * H).fill(1e-8);
  const GW2 = new Float32Array(H * C).fill(1e-8);
  const Gb1 = new Float32Array(H).fill(1e-8);
  const Gb2 = new Float32Array(C).fill(1e-8);
  const order = data.map((_, i) => i);
  const r = rng(seed);
  const dr = rng(seed + 2);
  const hp = new Float64Array(H), h = new Float64Array(H), z = new Float64Array(C), dz = new Float64Array(C), dh = new Float64Array(H);
  for (let ep = 0; ep < epochs; ep++) {
    shuffle(order, r);
    let loss = 0;
    for (const k of order) {
      let ex = data[k]!;
      // feature dropout (`--drop p`): each id is left out with probability p, the others scaled by 1/(1-p) through E's rows
      if (drop > 0) ex = { y: ex.y, ids: ex.ids.filter(() => dr() >= drop) };
      mlpForward(m, ex.ids, hp, h, z, drop > 0 ? 1 / (1 - drop) : 1);
      loss -= Math.log(Math.max(z[ex.y]!, 1e-12));
      const wt = classWeight(ex.y, posWeight);
      for (let c = 0; c < C; c++) dz[c] = (z[c]! - (c === ex.y ? 1 : 0)) * wt;
      for (let j = 0; j < H; j++) {
        let s = 0;
        for (let c = 0; c < C; c++) s += W2[j * C + c]! * dz[c]!;
        dh[j] = hp[j]! > 0 ? s : 0;
      }
      for (let c = 0; c < C; c++) {
        const g = dz[c]!;
        Gb2[c]! += g * g;
        b2[c]! -= (lr * g) / Math.sqrt(Gb2[c]!);
        for (let j = 0; j < H; j++) {
          const w = j * C + c;
          const gw = h[j]! * g + l2 * W2[w]!;
          GW2[w]! += gw * gw;
          W2[w]! -= (lr * gw) / Math.sqrt(GW2[w]!);
        }
      }
      for (let j = 0; j < H; j++) {
        const g = dh[j]!;
        if (g === 0) continue;
        Gb1[j]! += g * g;
        b1[j]! -= (lr * g) / Math.sqrt(Gb1[j]!);
      }
      const sc = drop > 0 ? 1 / (1 - drop) : 1;
      for (const id of ex.ids) {
        const o = id * H;
        for (let j = 0; j < H; j++) {
          const w = o + j;
          const g = dh[j]! * sc + l2 * E[w]!;
          if (g === 0) continue;
          GE[w]! += g * g;
          E[w]! -= (lr * g) / Math.sqrt(GE[w]!);
        }
      }
    }
    console.error(`epoch ${ep + 1}: mean loss ${(loss / data.length).toFixed(4)}`);
  }
  E.fill(0, 0, H); // row 0 is padding
  return m;
}

function tensor(name: string, dims: number[], data: Float32Array | BigInt64Array): onnxProto.onnx.TensorProto {
  const isF = data instanceof Float32Array;
  return onnx.TensorProto.create({
    name,
    dims,
    dataType: isF ? onnx.TensorProto.DataType.FLOAT : onnx.TensorProto.DataType.INT64,
    rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  });
}

function valueInfo(name: string, elem: number, shape: Array<string | number>): onnxProto.onnx.ValueInfoProto {
  return onnx.ValueInfoProto.create({
    name,
    type: onnx.TypeProto.create({
      tensorType: onnx.TypeProto.Tensor.create({
        elemType: elem,
        shape: onnx.TensorShapeProto.create({ dim: shape.map((d) => (typeof d === 'string' ? onnx.TensorShapeProto.Dimension.create({ dimParam: d }) : onnx.TensorShapeProto.Dimension.create({ dimValue: d }))) }),
      }),
    }),
  });
}

const intAttr = (name: string, i: number) => onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INT, i });

/**
 * A span model under the runtime's contract: `indices` int64 [N, K] in,
 * `probs` float [N, C] out, `meta` as metadata_props. `table` [D, width] is
 * gathered by the indices and summed over K into `summed`; `head` makes
 * `probs` of it.
 */
function encodeModel(name: string, table: string, head: onnxProto.onnx.NodeProto[], initializer: onnxProto.onnx.TensorProto[], C: number, meta: Record<string, string>): Uint8Array {
  const graph = onnx.GraphProto.create({
    name,
    node: [
      onnx.NodeProto.create({ opType: 'Gather', input: [table, 'indices'], output: ['gathered'], name: 'gather', attribute: [intAttr('axis', 0)] }),
      onnx.NodeProto.create({ opType: 'ReduceSum', input: ['gathered', 'axes'], output: ['summed'], name: 'sum', attribute: [intAttr('keepdims', 0)] }),
      ...head,
    ],
    initializer,
    input: [valueInfo('indices', onnx.TensorProto.DataType.INT64, ['N', Number(meta['pano.k'] ?? K)])],
    output: [valueInfo('probs', onnx.TensorProto.DataType.FLOAT, ['N', C])],
  });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'panopticon scripts/pii/train-model.ts',
    opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: 13 })],
    graph,
    metadataProps: Object.entries(meta).map(([key, value]) => onnx.StringStringEntryProto.create({ key, value })),
  });
  return onnx.ModelProto.encode(model).finish();
}

const softmax = (input: string) => onnx.NodeProto.create({ opType: 'Softmax', input: [input], output: ['probs'], name: 'softmax', attribute: [intAttr('axis', -1)] });

export function buildOnnx(W: Float32Array, b: Float32Array, meta: Record<string, string>): Uint8Array {
  const C = b.length;
  const dim = W.length / C;
  const head = [onnx.NodeProto.create({ opType: 'Add', input: ['summed', 'b'], output: ['logits'], name: 'bias' }), softmax('logits')];
  return encodeModel('pano_span_linear', 'W', head, [tensor('W', [dim, C], W), tensor('b', [C], b), tensor('axes', [1], BigInt64Array.from([1n]))], C, meta);
}

/** The `--hidden` model's graph: Gather(E) → ReduceSum → Add(b1) → Relu → MatMul(W2) → Add(b2) → Softmax. */
export function buildMlpOnnx(m: Mlp, meta: Record<string, string>): Uint8Array {
  const { E, b1, W2, b2, H } = m;
  const C = b2.length;
  const dim = E.length / H;
  const head = [
    onnx.NodeProto.create({ opType: 'Add', input: ['summed', 'b1'], output: ['pre'], name: 'bias1' }),
    onnx.NodeProto.create({ opType: 'Relu', input: ['pre'], output: ['hidden'], name: 'relu' }),
    onnx.NodeProto.create({ opType: 'MatMul', input: ['hidden', 'W2'], output: ['out'], name: 'matmul' }),
    onnx.NodeProto.create({ opType: 'Add', input: ['out', 'b2'], output: ['logits'], name: 'bias2' }),
    softmax('logits'),
  ];
  return encodeModel('pano_span_mlp', 'E', head, [tensor('E', [dim, H], E), tensor('b1', [H], b1), tensor('W2', [H, C], W2), tensor('b2', [C], b2), tensor('axes', [1], BigInt64Array.from([1n]))], C, meta);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const get = (k: string, d: string) => (args.includes(k) ? args[args.indexOf(k) + 1]! : d);
  const outFile = resolve(get('--out', 'packages/pii/model/pano-span-v4.onnx'));
  const epochs = +get('--epochs', '3');
  // --features: train for an older feature set, to compare with the current one on the same data
  const features = get('--features', FEATURE_SET) as FeatureSet;
  const aux = args.includes('--aux');
  if (aux) LABELS = [...PII_LABELS, ...AUX_CLASSES];
  auxWeight = +get('--aux-weight', '1');
  if (!FEATURE_SETS.includes(features)) throw new Error(`--features: one of ${FEATURE_SETS.join(', ')}`);
  const data: Example[] = [];
  const dev: Example[] = [];
  const sources: string[] = [];
  // --dev: hold out a fifth of synth_dataset_v2, WNUT17's dev set and a fifth of wikigold's training articles
  // to compare settings (never the eval sets)
  const holdOut = args.includes('--dev');
  /** Texts wrapped into payloads (event ids prefixed `tag`), their candidates labeled into `into`. */
  const add = (texts: Parameters<typeof wrap>[0], tag: string, into: Example[]): void => {
    const w = wrap(texts, tag);
    examplesFrom(w.events, w.labels, into, features);
  };
  const pres = presidioTexts('synth_dataset_v2.json', aux);
  if (pres) {
    const cut = holdOut ? Math.floor(pres.length * 0.8) : pres.length;
    add(pres.slice(0, cut), 'p', data);
    if (holdOut) add(pres.slice(cut), 'pd', dev);
    sources.push(`presidio synth_dataset_v2 (${cut} texts)`);
  }
  const wnutDev = conllTexts('wnut17/emerging.dev.conll', 'person', aux);
  if (holdOut && wnutDev) add(wnutDev, 'nd', dev);
  const split = wikigoldSplit(aux, +get('--wiki-fold', '3'));
  const wiki = holdOut ? split?.devTrain : split?.train;
  if (wiki) { add(wiki, 'w', data); sources.push(`wikigold without held-out articles (${wiki.length} sentences)`); }
  if (holdOut && split) add(split.dev, 'wd', dev);
  const wn = conllTexts('wnut17/wnut17train.conll', 'person', aux);
  if (wn) { add(wn, 'n', data); sources.push(`wnut17 train (${wn.length} sentences)`); }
  if (!holdOut && wnutDev) { add(wnutDev, 'nd', data); sources.push(`wnut17 dev (${wnutDev.length} sentences)`); }
  // with --dev, the generated events draw names and addresses only from the training part of synth_dataset_v2
  const gen = generate({ count: 6000, seed: 777, split: 'train', poolTexts: holdOut && pres ? Math.floor(pres.length * 0.8) : undefined });
  examplesFrom(gen.events, gen.labels, data, features);
  sources.push('generated events, train split (6000)');
  const counts = LABELS.map((_, c) => data.filter((e) => e.y === c).length);
  console.error(`examples: ${data.length} (${LABELS.map((l, c) => `${l} ${counts[c]}`).join(', ')}) from ${sources.join('; ')}`);
  const hidden = args.includes('--hidden') ? +get('--hidden', '0') : 0;
  const seed = +get('--seed', '42');
  const l2 = +get('--l2', '1e-3'), posWeight = +get('--pos-weight', '5'), lr = +get('--lr', '0.03');
  const mlp = hidden > 0 ? trainMlp(data, epochs, l2, posWeight, lr, hidden, seed, +get('--drop', '0')) : undefined;
  const { W, b } = mlp ? { W: new Float32Array(0), b: new Float32Array(0) } : trainAveraged(data, epochs, l2, posWeight, lr, seed, +get('--average', '4'));
  const mlpBuf = mlp && { hp: new Float64Array(hidden), h: new Float64Array(hidden), z: new Float64Array(LABELS.length) };
  if (holdOut) {
    for (const th of [0.3, 0.4, 0.5, 0.6]) {
      const line: string[] = [];
      for (let c = 1; c < PII_LABELS.length; c++) {
        let tp = 0, fp = 0, fn = 0;
        for (const ex of dev) {
          let e: number[];
          if (mlp && mlpBuf) { mlpForward(mlp, ex.ids, mlpBuf.hp, mlpBuf.h, mlpBuf.z); e = [...mlpBuf.z]; } else {
            const z = LABELS.map((_, k) => { let s = b[k]!; for (const id of ex.ids) s += W[id * LABELS.length + k]!; return s; });
            const mx = Math.max(...z);
            e = z.map((v) => Math.exp(v - mx));
          }
          const sum = e.reduce((x, y) => x + y, 0);
          const best = e.indexOf(Math.max(...e));
          const pred = best === c && e[best]! / sum >= th;
          if (pred && ex.y === c) tp++; else if (pred) fp++; else if (ex.y === c) fn++;
        }
        const p = tp / (tp + fp), r = tp / (tp + fn);
        line.push(`${LABELS[c]} P ${p.toFixed(3)} R ${r.toFixed(3)} F1 ${((2 * p * r) / (p + r)).toFixed(3)}`);
      }
      console.error(`dev (candidate level), threshold ${th}: ${line.join('; ')}`);
    }
    // a dev model is written only where asked (scripts/pii/errors.ts --set dev --model FILE scores it span by span)
    if (!args.includes('--out')) return;
  }
  const meta = { 'pano.features': features, 'pano.dim': String(DIM), 'pano.k': String(K), 'pano.labels': LABELS.join(','), 'pano.training': sources.join('; ') };
  const bytes = mlp ? buildMlpOnnx(mlp, meta) : buildOnnx(W, b, meta);
  mkdirSync(dirname(outFile), { recursive: true });
  writeFileSync(outFile, bytes);
  console.error(`wrote ${outFile} (${bytes.length} bytes)`);
}

// run only as a script: tests import buildOnnx from here
if (import.meta.url === `file://${process.argv[1]}`) await main();
