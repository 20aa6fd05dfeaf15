/**
 * The optional span model for what rules cannot decide: person names and
 * street addresses. Rules propose candidate spans (capitalised word runs,
 * number-led address runs, whole values of name/address fields); the model
 * classifies each as `none`, `person_name` or `street_address`.
 *
 * Model contract (docs/PII.md, "Bring your own model"): an ONNX graph with
 *   input  `indices`  int64 [N, K]  hashed feature ids (0 = padding)
 *   output `probs`    float [N, C]  class probabilities
 * and metadata_props `pano.features` = `pano-span-v1`, `pano.dim` (hash
 * space size D, ids are 1..D-1), `pano.k` (K), `pano.labels` (comma list of
 * C labels, `none` first). The features are computed here (`featurize`), so a
 * user's model only has to agree on this function, not on any code.
 */
import { Hint, normaliseKey } from './context.js';

export const FEATURE_SET = 'pano-span-v1';

export interface Candidate {
  start: number;
  end: number;
  /** the whole string the span is in (for context words) */
  text: string;
  /** field name the string came from */
  key: string;
  /** whole value of a name/address-hinted field */
  whole: boolean;
}

export interface SpanModel {
  readonly labels: string[];
  /** Best label and its probability for each candidate. */
  score(cands: Candidate[]): Promise<Array<[string, number]>>;
}

const NAME_RUN = /(?<![\p{L}\p{N}_@.])(?:\p{Lu}[\p{Ll}'’-]{1,30}\.?|\p{Lu}\.)(?:[ ](?:\p{Lu}[\p{L}'’-]{0,30}\.?|van|von|de|da|del|der|la|le|bin|ibn|al)){0,4}(?![\p{L}\p{N}_@])/gu;
const ADDRESS_RUN = /(?<![\p{L}\p{N}])\d{1,6}[A-Za-z]?,?(?:[ ](?:[\p{Lu}\d][\p{L}\d.'’-]{0,30}|[a-z]{1,4})){1,7}(?:,?[ \n]{1,3}(?:(?:Apt|Suite|Unit|Flat|No)\.? ?\d{1,5}|[\p{Lu}\d][\p{L}\d.'’ -]{1,40})){0,4}/gu;
// Continental order: street name first, then the number ("Puruntie 82", "Via Roma 12, 20121 Milano").
const ADDRESS_EU = /(?<![\p{L}\p{N}])\p{Lu}[\p{L}.'’-]{2,30}(?:[ ][\p{L}.'’-]{1,30}){0,3}[ ]\d{1,5}[a-zA-Z]?(?![\p{L}\p{N}])(?:[ \n,>]{1,4}(?:(?:Apt|Suite|Unit|Flat)\.? ?\d{1,5}|[\p{Lu}\d][\p{L}\d.'’ -]{1,40})){0,4}/gu;
const MAX_CANDIDATES_PER_VALUE = 64;
/** Capitalised words that start sentences or greetings rather than names. */
const LEAD_WORDS = new Set(['the', 'a', 'an', 'dear', 'hi', 'hello', 'hey', 'thanks', 'and', 'but', 'if', 'when', 'in', 'on', 'at', 'from', 'to', 'for', 'with', 'by', 'this', 'that', 'my', 'our', 'your', 'please', 'mr', 'mrs', 'ms', 'dr', 'mr.', 'mrs.', 'ms.', 'dr.', 'prof.', 'sir', 'madam', 'yes', 'no', 'so', 'as', 'after', 'before', 'since', 'while']);

/** Candidate spans in one string value. */
export function nameCandidates(value: string, key: string, hints: number): Candidate[] {
  const out: Candidate[] = [];
  if (value.length === 0 || value.length > 100_000) return out;
  if (hints & (Hint.name | Hint.address) && value.length <= 200) {
    const v = value.trim();
    const off = value.indexOf(v);
    if (v.length >= 2) out.push({ start: off, end: off + v.length, text: value, key, whole: true });
    return out;
  }
  NAME_RUN.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = NAME_RUN.exec(value)) !== null && out.length < MAX_CANDIDATES_PER_VALUE) {
    out.push({ start: m.index, end: m.index + m[0].length, text: value, key, whole: false });
    // "The Peter Pham", "Dear Anna Berg": also the run without its leading function word
    const sp = m[0].indexOf(' ');
    if (sp > 0 && LEAD_WORDS.has(m[0].slice(0, sp).toLowerCase())) {
      out.push({ start: m.index + sp + 1, end: m.index + m[0].length, text: value, key, whole: false });
    }
  }
  ADDRESS_RUN.lastIndex = 0;
  while ((m = ADDRESS_RUN.exec(value)) !== null && out.length < MAX_CANDIDATES_PER_VALUE) {
    let end = m.index + m[0].length;
    while (end > m.index && /[ ,\n>]/.test(value[end - 1]!)) end--;
    // a bare number or a number and one lowercase word is no address
    if (!/\d[^\n]* [\p{L}]/u.test(value.slice(m.index, end))) continue;
    out.push({ start: m.index, end, text: value, key, whole: false });
  }
  ADDRESS_EU.lastIndex = 0;
  while ((m = ADDRESS_EU.exec(value)) !== null && out.length < MAX_CANDIDATES_PER_VALUE) {
    let end = m.index + m[0].length;
    while (end > m.index && /[ ,\n>]/.test(value[end - 1]!)) end--;
    if (out.some((c) => c.start === m!.index && c.end === end)) continue;
    out.push({ start: m.index, end, text: value, key, whole: false });
  }
  return out;
}

/** FNV-1a 32-bit, mapped to 1..dim-1 (0 is padding). */
export function featureId(s: string, dim: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return ((h >>> 0) % (dim - 1)) + 1;
}

function shape(w: string): string {
  let s = '';
  for (const ch of w) {
    const c = /\p{Lu}/u.test(ch) ? 'X' : /\p{Ll}/u.test(ch) ? 'x' : /\d/.test(ch) ? 'd' : ch;
    if (s[s.length - 1] !== c) s += c;
  }
  return s;
}

const STREET_WORDS = new Set(['street', 'st', 'st.', 'avenue', 'ave', 'ave.', 'road', 'rd', 'rd.', 'lane', 'ln', 'drive', 'dr', 'dr.', 'boulevard', 'blvd', 'way', 'court', 'ct', 'place', 'pl', 'square', 'sq', 'terrace', 'close', 'crescent', 'highway', 'hwy', 'parkway', 'pkwy', 'apt', 'apt.', 'suite', 'unit', 'floor', 'strasse', 'straße', 'str.', 'rue', 'via', 'calle', 'gade', 'vej', 'katu', 'tie', 'weg', 'laan', 'plein', 'po', 'box']);

/** Feature strings of one candidate (before hashing). */
export function featureStrings(c: Candidate): string[] {
  const span = c.text.slice(c.start, c.end);
  const words = span.split(/[\s,]+/).filter(Boolean).slice(0, 12);
  const f: string[] = ['bias', `n:${Math.min(words.length, 6)}`, `whole:${c.whole}`];
  const k = normaliseKey(c.key);
  if (k && !/^\d+$/.test(k)) f.push(`k:${k}`);
  let shapes = '';
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    const lw = w.toLowerCase();
    const sh = shape(w);
    shapes += (i ? '_' : '') + sh;
    f.push(`w:${lw}`, `s:${sh}`, `p3:${lw.slice(0, 3)}`, `x3:${lw.slice(-3)}`, `x2:${lw.slice(-2)}`);
    if (i === 0) f.push(`w0:${lw}`);
    if (i === words.length - 1) f.push(`wl:${lw}`);
    if (STREET_WORDS.has(lw)) f.push('street');
  }
  f.push(`S:${shapes.slice(0, 40)}`);
  if (/\d/.test(span)) f.push('digit');
  if (/\d{4,6}\s*$/.test(span)) f.push('zip-end');
  const before = c.text.slice(Math.max(0, c.start - 40), c.start);
  const bw = before.split(/[^\p{L}\p{N}'’]+/u).filter(Boolean);
  f.push(`b1:${(bw[bw.length - 1] ?? '^').toLowerCase()}`, `b2:${(bw[bw.length - 2] ?? '^').toLowerCase()}`);
  const pc = before.trimEnd();
  f.push(`pc:${pc.length === 0 ? '^' : /[.!?]$/.test(pc) ? '.' : /[,;:]$/.test(pc) ? ',' : pc.slice(-1) === '"' ? 'q' : 'w'}`);
  const after = c.text.slice(c.end, c.end + 40);
  const aw = after.split(/[^\p{L}\p{N}'’]+/u).filter(Boolean);
  f.push(`a1:${(aw[0] ?? '$').toLowerCase()}`);
  if (/^'s\b/.test(after)) f.push('poss');
  return f;
}

/** Hashed, de-duplicated feature ids, padded/truncated to k. */
export function featurize(c: Candidate, dim: number, k: number, out: BigInt64Array, offset: number): void {
  const seen = new Set<number>();
  for (const s of featureStrings(c)) {
    if (seen.size >= k) break;
    seen.add(featureId(s, dim));
  }
  let i = 0;
  for (const id of seen) out[offset + i++] = BigInt(id);
  for (; i < k; i++) out[offset + i] = 0n;
}

interface OrtLike {
  InferenceSession: { create(path: string | Uint8Array): Promise<OrtSession> };
  Tensor: new (type: 'int64', data: BigInt64Array, dims: number[]) => unknown;
}
interface OrtSession {
  run(feeds: Record<string, unknown>): Promise<Record<string, { data: Float32Array; dims: readonly number[] }>>;
}

/** An ONNX span model run by onnxruntime-node. */
export class OnnxSpanModel implements SpanModel {
  readonly labels: string[];
  readonly dim: number;
  readonly k: number;
  private constructor(private readonly ort: OrtLike, private readonly session: OrtSession, meta: Record<string, string>) {
    if (meta['pano.features'] !== FEATURE_SET) throw new Error(`model: features "${meta['pano.features']}" unsupported (need ${FEATURE_SET})`);
    this.labels = (meta['pano.labels'] ?? '').split(',');
    this.dim = Number(meta['pano.dim']);
    this.k = Number(meta['pano.k']);
    if (this.labels[0] !== 'none' || !(this.dim > 1) || !(this.k > 0)) throw new Error('model: metadata pano.labels/pano.dim/pano.k missing or invalid');
  }

  /** Load a model file; its metadata is read from the ONNX protobuf with onnx-proto. */
  static async load(file: string): Promise<OnnxSpanModel> {
    const { readFileSync } = await import('node:fs');
    const bytes = readFileSync(file);
    // onnx-proto is CommonJS: under ESM its namespace arrives as the default export
    const mod = (await import('onnx-proto')) as typeof import('onnx-proto') & { default?: typeof import('onnx-proto') };
    const onnx = mod.onnx ?? mod.default!.onnx;
    const mp = onnx.ModelProto.decode(bytes);
    const meta: Record<string, string> = {};
    for (const p of mp.metadataProps ?? []) meta[p.key ?? ''] = p.value ?? '';
    const ort = (await import('onnxruntime-node')) as unknown as OrtLike;
    const session = await ort.InferenceSession.create(new Uint8Array(bytes));
    return new OnnxSpanModel(ort, session, meta);
  }

  async score(cands: Candidate[]): Promise<Array<[string, number]>> {
    const out: Array<[string, number]> = [];
    const BATCH = 4096;
    for (let s = 0; s < cands.length; s += BATCH) {
      const part = cands.slice(s, s + BATCH);
      const ids = new BigInt64Array(part.length * this.k);
      part.forEach((c, i) => featurize(c, this.dim, this.k, ids, i * this.k));
      const res = await this.session.run({ indices: new this.ort.Tensor('int64', ids, [part.length, this.k]) });
      const probs = res.probs!.data;
      const C = this.labels.length;
      for (let i = 0; i < part.length; i++) {
        let best = 0;
        for (let j = 1; j < C; j++) if (probs[i * C + j]! > probs[i * C + best]!) best = j;
        out.push([this.labels[best]!, probs[i * C + best]!]);
      }
    }
    return out;
  }
}
