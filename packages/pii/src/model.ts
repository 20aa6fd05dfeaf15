/**
 * The optional span model for what rules cannot decide: person names and
 * street addresses. Rules propose candidate spans (capitalised word runs,
 * number-led address runs, whole values of name/address fields); the model
 * classifies each as `none`, `person_name` or `street_address`.
 *
 * Model contract (docs/PII.md, "Bring your own model"): an ONNX graph with
 *   input  `indices`  int64 [N, K]  hashed feature ids (0 = padding)
 *   output `probs`    float [N, C]  class probabilities
 * and metadata_props `pano.features` = `pano-span-v4` (or v3, v2, v1), `pano.dim` (hash
 * space size D, ids are 1..D-1), `pano.k` (K), `pano.labels` (comma list of
 * C labels, `none` first; a label that is not a PII type, such as `organization`, is no finding). The features are computed here (`featurize`), so a
 * user's model only has to agree on this function, not on any code.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { Hint, normaliseKey } from './context.js';
import { WordTable } from './word-table.js';

/** The feature set the shipped model and `featureStrings` use. */
export const FEATURE_SET = 'pano-span-v4';
/** Feature sets a model may declare: v1–v3 models (earlier releases, users' own) still load. */
export const FEATURE_SETS = ['pano-span-v1', 'pano-span-v2', 'pano-span-v3', 'pano-span-v4'] as const;
export type FeatureSet = (typeof FEATURE_SETS)[number];

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

const NAME_RUN = /(?<![\p{L}\p{N}_@.])(?:\p{Lu}[\p{Ll}'’-]{1,30}\.?|\p{Lu}\.)(?:[ ](?:\p{Lu}[\p{L}'’-]{0,30}\.?|van|von|de|da|del|der|den|la|le|du|dos|bin|ibn|al|ter|ten)){0,4}(?![\p{L}\p{N}_@])/gu;
// Number-led: "221B Baker Street", "58 2347 Lauzon Parkway", continuation lines (also "> " or "??? " quoted), Apt/Suite/Unit lines.
// Continuation of an address after ", ", spaces or a line break (also "> " or "??? " quoted lines): a unit line,
// or up to four words that each start with a capital or a digit ("Grand Rapids", "CONFLANS-SAINTE-HONORINE IL 92507").
const ADDR_TAIL = String.raw`(?:,?(?:[ ]{1,3}|[ ]*(?:\n[ ]*){1,2}(?:[>?•*]{1,3}[ ]?)?)(?:(?:[Aa]pt|APT|[Ss]uite|SUITE|[Uu]nit|UNIT|[Ff]lat|No|[Ss]te)\.? ?#?\d{1,5}|,?[ ]?[\p{Lu}\d(][\p{L}\d.'’()-]{0,30}(?:[ ][\p{Lu}\d(][\p{L}\d.'’()-]{0,30}|[ ](?:of|the|de|del|la|le|du|nad|an|am|and)(?=[ ]\p{Lu})){0,4})){0,6}`;
const STREET_LC = 'avenue|street|road|lane|drive|boulevard|place|square|way|rue|avenida|avda\\.|calle|via|strasse|straße|str\\.|weg|gate|gata|gatan|gade|vej|tie|katu|ulica|ul\\.|út|utca|tér|rua';
// Number-led: "221B Baker Street", "58 2347 Lauzon Parkway", "33 avenue de Provence", then continuation lines.
const ADDRESS_RUN = new RegExp(String.raw`(?<![\p{L}\p{N}])\d{1,6}[A-Za-z]?,?(?:[ ](?:[\p{Lu}\d][\p{L}\d.'’-]{0,30}|[a-z]{1,4}(?![\p{L}])|C\/|${STREET_LC})){1,7}` + ADDR_TAIL, 'gu');
// Continental order: street name first, then the number ("Puruntie 82", "Via Roma 12, 20121 Milano").
const ADDRESS_EU = new RegExp(String.raw`(?<![\p{L}\p{N}])\p{Lu}[\p{L}.'’-]{0,30}(?:[ ][\p{L}.'’-]{1,30}){0,3}[ ]\d{1,5}[a-zA-Z]?\.?(?![\p{L}\p{N}])` + ADDR_TAIL, 'gu');
// Post boxes and military addresses: "P.O. Box 104", "PSC 7951, Box 9972\nAPO AA 69974", "Unit 9456 Box 8731\nDPO AP 71610", "USS Dam\nFPO AE 94560".
const ADDRESS_BOX = /(?<![\p{L}\p{N}])(?:P\.? ?O\.? Box \d{1,6}|PO Box \d{1,6}|(?:PSC|Unit) \d{1,5},? Box \d{1,5}|(?:USNS|USNV|USS|USCGC|USNF) \p{Lu}[\p{L}'’-]{1,30})(?:[ ,\n]{1,3}(?:[APF]PO [A-Z]{2} \d{5}|\p{Lu}[\p{L}.'’ -]{1,40}))?(?![\p{L}\p{N}])/gu;
// "the corner of A 12 and B Street"
const CORNER = /(?<![\p{L}])the corner of [^\n]{3,60}? and [\p{Lu}\d][\p{L}\d.'’-]{0,30}(?:[ ][\p{Lu}][\p{L}.'’-]{0,30}){0,3}/gu;
const MAX_CANDIDATES_PER_VALUE = 96;
/** Lower-case words inside names ("Paul van der Voet", "Teresa de Vaan"). */
const PARTICLES = new Set(['van', 'von', 'de', 'da', 'del', 'der', 'den', 'la', 'le', 'du', 'dos', 'bin', 'ibn', 'al', 'ter', 'ten']);
/** Capitalised words that start sentences or greetings rather than names. */
const LEAD_WORDS = new Set(['the', 'a', 'an', 'dear', 'hi', 'hello', 'hey', 'thanks', 'and', 'but', 'if', 'when', 'in', 'on', 'at', 'from', 'to', 'for', 'with', 'by', 'this', 'that', 'my', 'our', 'your', 'please', 'mr', 'mrs', 'ms', 'dr', 'mr.', 'mrs.', 'ms.', 'dr.', 'prof.', 'sir', 'madam', 'yes', 'no', 'so', 'as', 'after', 'before', 'since', 'while']);
/**
 * Common English function words and verbs: in lower-case text, the words that
 * are not these are capitalised in a copy so the same run rules can propose
 * lower-case names and addresses ("why is yulan so impulsive", "16 salontie 6").
 */
const STOP = new Set(`a about above after again against all am an and any are as at be because been before being below between both but by can could did do does doing down during each few for from further had has have having he her here hers herself him himself his how i if in into is it its itself just me more most my myself no nor not now of off on once only or other our ours out over own same she should so some such than that the their theirs them themselves then there these they this those through to too under until up very was we were what when where which while who whom why will with would you your yours yourself
also am an anyone anything are been being can cannot could did done dont get gets getting go goes going gone got gotta had has have im ive ill id its lets let lol lmao omg rt via new one two three first last next back still even ever never always really well good great best bad better like love want need know think see say said says tell told make made take took give gave come came look looking feel feeling day days today tonight tomorrow yesterday time week year years night morning people guy guys man men woman women girl girls boy boys thing things way much many lot little big old right left sure okay ok yes yeah yea hey hi hello thanks thank please sorry wait watch watching play playing work working home life world shit fuck damn gonna wanna u ur r y n w im dont cant wont didnt doesnt isnt thats whats theres heres hes shes youre theyre were weve youve ive ill youll theyll
address street road avenue lane drive apt suite unit box city state zip country name named call called number phone email order orders account card send sent new please update change my live lives living moved move meet meeting here there office located`.split(/\s+/));

function upperFirst(w: string): string {
  const u = w[0]!.toUpperCase();
  return u.length === 1 ? u + w.slice(1) : w;
}

/** Share of letter words that start with a capital letter, and of those written all in capitals (first 200 words). */
function capitalRatio(value: string): { words: number; ratio: number; upper: number } {
  let words = 0, caps = 0, upper = 0;
  const re = /\p{L}[\p{L}'’-]*/gu;
  let m: RegExpExecArray | null;
  while ((m = re.exec(value)) !== null && words < 200) {
    words++;
    const k = m[0].charCodeAt(0);
    if (k < 128 ? k >= 65 && k <= 90 : /^\p{Lu}/u.test(m[0])) {
      caps++;
      if (m[0].length >= 2 && !/\p{Ll}/u.test(m[0])) upper++;
    }
  }
  return { words, ratio: words ? caps / words : 0, upper: words ? upper / words : 0 };
}

/** "ELEKTRA" → "Elektra" (unchanged where case mapping would change the length). */
function titleCase(w: string): string {
  const t = w[0]! + w.slice(1).toLowerCase();
  return t.length === w.length ? t : w;
}

function lowerSame(w: string): string {
  const t = w.toLowerCase();
  return t.length === w.length ? t : w;
}

/** More than one in ten of the first 512 characters replacement or control characters (not tab, CR, LF). */
function looksBinary(value: string): boolean {
  const n = Math.min(value.length, 512);
  let bad = 0;
  for (let i = 0; i < n; i++) {
    const k = value.charCodeAt(i);
    if (k === 0xfffd || (k < 32 && k !== 9 && k !== 10 && k !== 13)) bad++;
  }
  return bad * 10 > n;
}

const FONT_DECLARATION = /font(?:-family)?\s*:[^;{}<>\n]{1,300}/gi;
/** Where CSS names fonts (`font-family: Georgia, Menlo, Monaco`): typeface names, not people. */
function fontDeclarations(value: string): Array<[number, number]> | undefined {
  if (!value.includes('font')) return undefined;
  const out: Array<[number, number]> = [];
  FONT_DECLARATION.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = FONT_DECLARATION.exec(value)) !== null) out.push([m.index, m.index + m[0].length]);
  return out;
}

/** Candidate spans in one string value. */
export function nameCandidates(value: string, key: string, hints: number): Candidate[] {
  const out: Candidate[] = [];
  if (value.length === 0 || value.length > 100_000) return out;
  if (hints & (Hint.name | Hint.address) && value.length <= 200) {
    const v = value.trim();
    const off = value.indexOf(v);
    // a UUID, hex digest or number in a name field ("display_name": "dc648715-2525-…") is an identifier,
    // and so is a lower-case token joined by - . _ ("deepflow-server-0", "test-kvm-kx") or a dotted name
    // ("CognitoCore.tasks.executePolicy", as the context rule has it)
    if (v.length >= 2 && !/^[\p{N}\p{P}\s]*$/u.test(v) && !/^[0-9a-f][0-9a-f-]{7,}$/i.test(v) && !/^[a-z0-9]+(?:[-_.][A-Za-z0-9]+)+$/.test(v) && !/^\S*\p{L}\.\p{L}\S*$/u.test(v)) out.push({ start: off, end: off + v.length, text: value, key, whole: true });
    return out;
  }
  // compressed or binary bytes shown as text (mostly U+FFFD and control characters): any "words" there are chance
  if (looksBinary(value)) return out;
  const fonts = fontDeclarations(value);
  const seen = new Set<number>();
  const add = (start: number, end: number): void => {
    if (fonts && fonts.some(([a, b]) => start >= a && start < b)) return;
    // a number closing a sentence ends the address ("... New Zealand 79879. I now live in ...")
    const stop = /\d\.\s/.exec(value.slice(start, end));
    if (stop) end = start + stop.index + 1;
    // a closing quote of the text around (`'None'` in a Python repr, `'Zeeky'` in SQL) is not part of the span
    while (end > start && /[ ,\n>'’]/.test(value[end - 1]!)) end--;
    while (start < end && /[ ,\n]/.test(value[start]!)) start++;
    if (end - start < 2 || out.length >= MAX_CANDIDATES_PER_VALUE) return;
    const k = start * 100_003 + end;
    if (seen.has(k)) return;
    seen.add(k);
    out.push({ start, end, text: value, key, whole: false });
  };
  // Mostly lower-case prose (chat, tweets, lower-cased forms), or prose written in capitals ("WAS THAT ELEKTRA"):
  // case marks nothing, so run the rules on a copy where only the words that are not common English words are
  // capitalised. Prose only: markup, code, key=value text and host names ("<html lang=en>", "a{b:c}",
  // "ns.dns.cluster.local") are not such writing.
  // the words are counted last: that reads every word, and most values (a type, a code: one token) are no prose
  const counted = value.length <= 2000 && /\S\s+\S+\s+\S/.test(value) && !/[<>{}=]|[\p{L}\d]\.\p{L}/u.test(value) ? capitalRatio(value) : undefined;
  const prose = counted !== undefined && counted.words >= 3;
  const shouting = prose && counted.upper >= 0.6;
  const caseless = prose && (counted.ratio < 0.25 || shouting);
  const src = !caseless
    ? value
    : value.replace(/\p{L}[\p{L}'’-]*/gu, (w) => {
      const common = STOP.has(w.toLowerCase()) || w.length < 2;
      if (shouting) return common ? lowerSame(w) : titleCase(w);
      return common ? w : upperFirst(w);
    });
  let m: RegExpExecArray | null;
  // addresses first: the value's candidate cap must not starve them
  for (const re of [ADDRESS_BOX, ADDRESS_RUN, ADDRESS_EU, CORNER]) {
    re.lastIndex = 0;
    while ((m = re.exec(src)) !== null && out.length < MAX_CANDIDATES_PER_VALUE) {
      const seg = src.slice(m.index, m.index + m[0].length);
      // a bare number or a number and one lowercase word is no address
      if (re === ADDRESS_RUN && !/\d[^\n]* [\p{L}]/u.test(seg)) continue;
      add(m.index, m.index + m[0].length);
      // the run cut after each line or comma: the first line alone (street and number), and the address
      // without a trailing piece that is something else (a phone line, "for post mail")
      if (re !== ADDRESS_BOX) for (let i = seg.search(/[\n,]/); i > 0; i = seg.slice(i + 1).search(/[\n,]/) < 0 ? -1 : i + 1 + seg.slice(i + 1).search(/[\n,]/)) add(m.index, m.index + i);
    }
  }
  NAME_RUN.lastIndex = 0;
  while ((m = NAME_RUN.exec(src)) !== null && out.length < MAX_CANDIDATES_PER_VALUE) {
    const run = m[0];
    // word boundaries of the run, cut at a possessive ('s) or a sentence end ("Crnić. Who")
    const ws: Array<[number, number]> = [];
    const wre = /\S+/g;
    let w: RegExpExecArray | null;
    while ((w = wre.exec(run)) !== null) {
      let e = w.index + w[0].length;
      const poss = /['’]s$/.test(w[0]);
      if (poss) e -= 2;
      ws.push([m.index + w.index, m.index + e]);
      if (poss || (/\p{Ll}{2}\.$/u.test(w[0]) && !LEAD_WORDS.has(w[0].toLowerCase()))) {
        if (poss) ws[ws.length - 1]![1] = m.index + e;
        else ws[ws.length - 1]![1] = m.index + e - 1;
        // the rest is another run
        NAME_RUN.lastIndex = m.index + w.index + w[0].length;
        break;
      }
    }
    const n = ws.length;
    // a run that is capitalised in the original text too ("Susan Tougas" inside lower-case prose) is a cased run
    const cased = !shouting && ws.every(([a, b]) => /\p{Lu}/u.test(value[a]!) || PARTICLES.has(value.slice(a, b)));
    if (caseless && !cased) {
      // every span of 1-3 words: nothing marks where a lower-case name starts
      for (let i = 0; i < n; i++) for (let j = i; j < Math.min(n, i + 3); j++) add(ws[i]![0], ws[j]![1]);
      continue;
    }
    add(ws[0]![0], ws[n - 1]![1]);
    // "The Peter Pham", "Hello Marie", "Producer Sandy Lahtela", "ex-Zombie Voss": also without the first word
    if (n >= 2) add(ws[1]![0], ws[n - 1]![1]);
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
    const k = ch.charCodeAt(0);
    // ASCII by code, the rest by Unicode property
    const c = k < 128
      ? (k >= 65 && k <= 90 ? 'X' : k >= 97 && k <= 122 ? 'x' : k >= 48 && k <= 57 ? 'd' : ch)
      : /\p{Lu}/u.test(ch) ? 'X' : /\p{Ll}/u.test(ch) ? 'x' : /\d/.test(ch) ? 'd' : ch;
    if (s[s.length - 1] !== c) s += c;
  }
  return s;
}

const STREET_WORDS = new Set(['street', 'st', 'st.', 'avenue', 'ave', 'ave.', 'road', 'rd', 'rd.', 'lane', 'ln', 'drive', 'dr', 'dr.', 'boulevard', 'blvd', 'way', 'court', 'ct', 'place', 'pl', 'square', 'sq', 'terrace', 'close', 'crescent', 'highway', 'hwy', 'parkway', 'pkwy', 'apt', 'apt.', 'suite', 'unit', 'floor', 'strasse', 'straße', 'str.', 'rue', 'via', 'calle', 'gade', 'vej', 'katu', 'tie', 'weg', 'laan', 'plein', 'po', 'box']);

let ratioMemo: { text: string; caseless: boolean } = { text: '', caseless: false };
function caselessText(text: string): boolean {
  if (ratioMemo.text !== text) {
    const { words, ratio } = capitalRatio(text);
    ratioMemo = { text, caseless: words >= 2 && ratio < 0.25 };
  }
  return ratioMemo.caseless;
}

/**
 * Feature strings of one candidate (before hashing), for the model's feature
 * set. `pano-span-v2` = the span's structure (case, lines, leading number,
 * unit line, post box, commas, street words, word count by leading digit),
 * the case of the text and of the neighbouring words, then all of v1.
 * `pano-span-v3` = all of v2, then the lexicon classes (`lexiconFeatures`).
 * `pano-span-v4` = all of v3, then the word clusters (`clusterFeatures`).
 */
export function featureStrings(c: Candidate, set: FeatureSet = FEATURE_SET): string[] {
  if (set === 'pano-span-v1') return featureStringsV1(c);
  if (set === 'pano-span-v3') return featureStringsV2(c).concat(lexiconFeatures(spanWords(c)));
  if (set === 'pano-span-v4') {
    const sw = spanWords(c);
    return featureStringsV2(c).concat(lexiconFeatures(sw), clusterFeatures(sw));
  }
  return featureStringsV2(c);
}

/** The word lists of `pano-span-v3` and v4 (model/lexicon-v1.txt, scripts/pii/build-lexicon.ts). */
export const LEXICON_FILE = join(dirname(fileURLToPath(import.meta.url)), '..', 'model', 'lexicon-v1.txt');
const SECTIONS: Record<string, number> = { '@given': 1, '@family': 2, '@place': 4, '@street': 8, '@org': 16 };
const CLASS_LETTERS = 'gfpso';
const COMMON_SHIFT = 5;
/** word → section bits | commonness (SCOWL level bucket) << COMMON_SHIFT; read on first use: only the model needs it */
let lexicon: Map<string, number> | undefined;

function loadLexicon(): Map<string, number> {
  const m = new Map<string, number>();
  let bits = 0;
  for (const line of readFileSync(LEXICON_FILE, 'utf8').split('\n')) {
    if (line === '' || line[0] === '#') continue;
    if (line[0] === '@') {
      const level = /^@common(\d+)$/.exec(line);
      // levels 10/20 very common, 35/40 common, 50 less common
      bits = SECTIONS[line] ?? (level ? (+level[1]! <= 20 ? 1 : +level[1]! <= 40 ? 2 : 3) << COMMON_SHIFT : 0);
      continue;
    }
    m.set(line, (m.get(line) ?? 0) | bits);
  }
  return m;
}

/** Class names by lexicon value, built once: `lexClass` runs for every word of every candidate. */
const CLASS_NAMES: string[] = [];
for (let v = 0; v < 4 << COMMON_SHIFT; v++) {
  let k = '';
  for (let i = 0; i < CLASS_LETTERS.length; i++) if (v & (1 << i)) k += CLASS_LETTERS[i];
  CLASS_NAMES.push(v === 0 ? 'u' : v >> COMMON_SHIFT ? `${k}c${v >> COMMON_SHIFT}` : k);
}

/**
 * A word's lexicon class: the letters of its sections (`g` given name, `f`
 * family name, `p` place, `s` street type, `o` legal form), then `c1`–`c3`
 * for a common English word (most common first); `u` for none. Case, a
 * possessive `'s` and a full stop at the end do not count.
 */
export function lexClass(word: string): string {
  lexicon ??= loadLexicon();
  return CLASS_NAMES[lexicon.get(wordKey(word)) ?? 0]!;
}

/** How the word lists (lexicon, clusters) look a word up: lower case, without a possessive `'s` or a final full stop. */
function wordKey(word: string): string {
  const w = word.toLowerCase();
  const n = w.length;
  if (n > 2 && w.charCodeAt(n - 1) === 115 /* s */ && (w.charCodeAt(n - 2) === 39 || w.charCodeAt(n - 2) === 0x2019)) return w.slice(0, n - 2);
  if (n > 1 && w.charCodeAt(n - 1) === 46 /* . */) return w.slice(0, n - 1);
  return w;
}

/** The word clusters of `pano-span-v4` (model/clusters-v1.txt.gz, scripts/pii/build-clusters.ts). */
export const CLUSTERS_FILE = join(dirname(fileURLToPath(import.meta.url)), '..', 'model', 'clusters-v1.txt.gz');
/** word → coarse cluster << 16 | fine cluster; read on first use: only the model needs it */
let clusters: WordTable | undefined;

function loadClusters(): WordTable {
  return WordTable.fromText(gunzipSync(readFileSync(CLUSTERS_FILE)).toString('utf8'));
}

/** Cluster names (base 36, as in the file) by number, built once. */
const CLUSTER_NAMES = Array.from({ length: 1024 }, (_, i) => i.toString(36));

/** `load()` of a word list, its failure named by file. */
function readWordList<T>(file: string, load: () => T): T {
  try {
    return load();
  } catch (e) {
    throw new Error(`${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
}

/** A word's clusters, coarse << 16 | fine, or -1 for a word the embeddings do not have. */
function wordClusters(word: string): number {
  clusters ??= loadClusters();
  return clusters.get(wordKey(word));
}

/** Features `c<p>:coarse` and `f<p>:fine` of one word (`-` for both when the embeddings lack it). */
function pushClusters(f: string[], p: string, word: string): void {
  const v = wordClusters(word);
  if (v < 0) f.push(`c${p}:-`, `f${p}:-`);
  else f.push(`c${p}:${CLUSTER_NAMES[v >>> 16]}`, `f${p}:${CLUSTER_NAMES[v & 0xffff]}`);
}

/**
 * `pano-span-v4` adds to v3 how the words are used: the embedding cluster
 * (coarse and fine) of the span's first and last word and of the words on
 * either side, which places words the lexicon does not list (a river, a
 * dynasty, a physicist) among words used alike.
 */
function clusterFeatures({ words, bw, aw }: SpanWords): string[] {
  const f: string[] = [];
  if (words.length) pushClusters(f, 'c0', words[0]!);
  if (words.length > 1) pushClusters(f, 'cl', words[words.length - 1]!);
  if (bw === undefined) f.push('ccb:^');
  else pushClusters(f, 'cb', bw);
  if (aw === undefined) f.push('cca:$');
  else pushClusters(f, 'ca', aw);
  return f;
}

const WORD_CHAR = /[\p{L}\p{N}'’]/u;
/** Letters, digits and apostrophes make words (as the v1 context split has it); ASCII by code. */
function isWordChar(text: string, i: number): boolean {
  const k = text.charCodeAt(i);
  if (k < 128) return (k >= 48 && k <= 57) || (k >= 65 && k <= 90) || (k >= 97 && k <= 122) || k === 39;
  return WORD_CHAR.test(text[i]!);
}

/** The last word within `window` characters before `at`, or undefined. */
function wordBefore(text: string, at: number, window: number): string | undefined {
  const lo = Math.max(0, at - window);
  let e = at;
  while (e > lo && !isWordChar(text, e - 1)) e--;
  let b = e;
  while (b > lo && isWordChar(text, b - 1)) b--;
  return b < e ? text.slice(b, e) : undefined;
}

/** The first word within `window` characters from `at`, or undefined. */
function wordAfter(text: string, at: number, window: number): string | undefined {
  const hi = Math.min(text.length, at + window);
  let b = at;
  while (b < hi && !isWordChar(text, b)) b++;
  let e = b;
  while (e < hi && isWordChar(text, e)) e++;
  return b < e ? text.slice(b, e) : undefined;
}

/** The span's words and the words just before and after it, which the lexicon and cluster features both read. */
interface SpanWords {
  words: string[];
  bw: string | undefined;
  aw: string | undefined;
}

function spanWords(c: Candidate): SpanWords {
  return {
    words: c.text.slice(c.start, c.end).split(/[\s,]+/).filter(Boolean),
    bw: wordBefore(c.text, c.start, 40),
    aw: wordAfter(c.text, c.end, 40),
  };
}

/**
 * `pano-span-v3` adds to v2 what the words are known as: the lexicon class of
 * each word, of the first and the last, their sequence, and of the words
 * just before and after the span.
 */
function lexiconFeatures({ words, bw, aw }: SpanWords): string[] {
  const f: string[] = [];
  let first = '', last = '', seq = '', n = 0;
  for (const w of words) {
    if (n === 8) break;
    const k = lexClass(w);
    f.push(`lx:${k}`);
    if (n === 0) first = k;
    if (n < 4) seq += n ? `_${k}` : k;
    last = k;
    n++;
  }
  if (n) f.push(`lx0:${first}`, `lxl:${last}`, `LX:${seq}`);
  f.push(`lxb:${bw === undefined ? '^' : lexClass(bw)}`, `lxa:${aw === undefined ? '$' : lexClass(aw)}`);
  return f;
}

function featureStringsV2(c: Candidate): string[] {
  const span = c.text.slice(c.start, c.end);
  const words = span.split(/[\s,]+/).filter(Boolean);
  const f: string[] = [];
  const d0 = /^\d/.test(span);
  const n = Math.min(words.length, 8);
  f.push(`nd:${n}:${d0}`, `lines:${Math.min(span.split('\n').length, 5)}`, `commas:${Math.min((span.match(/,/g) ?? []).length, 3)}`);
  f.push(/\p{Lu}/u.test(span) ? (/\p{Ll}/u.test(span) ? 'case:mixed' : 'case:upper') : 'case:lower');
  f.push(`textcase:${caselessText(c.text) ? 'lower' : 'mixed'}`);
  if (/\b(?:apt|suite|unit|flat|ste)\.? ?#?\d/i.test(span)) f.push('unitline');
  if (/\b(?:p\.? ?o\.? box|box \d|[apf]po [a-z]{2}\b)/i.test(span)) f.push('postbox');
  let sw = 0;
  for (const w of words) if (STREET_WORDS.has(w.toLowerCase())) sw++;
  f.push(`sw:${Math.min(sw, 3)}`);
  if (/\d[^\d]+\d/.test(span)) f.push('two-numbers');
  if (/(?:^|[\s,])[A-Z]{2}[ ,]+\d{5}(?:-\d{4})?$/.test(span)) f.push('state-zip');
  const before = c.text.slice(Math.max(0, c.start - 40), c.start);
  const bw = before.split(/[^\p{L}\p{N}'’.]+/u).filter(Boolean);
  const after = c.text.slice(c.end, c.end + 40);
  const aw = after.split(/[^\p{L}\p{N}'’]+/u).filter(Boolean);
  f.push(`b1s:${bw.length ? shape(bw[bw.length - 1]!) : '^'}`, `a1s:${aw.length ? shape(aw[0]!) : '$'}`);
  if (/^\s*\n/.test(after) || after.length === 0) f.push('eol');
  if (/\n\s*$/.test(before) || before.length === 0) f.push('bol');
  return f.concat(featureStringsV1(c));
}

function featureStringsV1(c: Candidate): string[] {
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
export function featurize(c: Candidate, dim: number, k: number, out: BigInt64Array, offset: number, set: FeatureSet = FEATURE_SET): void {
  const seen = new Set<number>();
  for (const s of featureStrings(c, set)) {
    if (seen.size >= k) break;
    seen.add(featureId(s, dim));
  }
  let i = 0;
  for (const id of seen) out[offset + i++] = BigInt(id);
  for (; i < k; i++) out[offset + i] = 0n;
}

const ORT_SESSION_OPTIONS = {
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
};

interface OrtLike {
  InferenceSession: { create(path: string | Uint8Array, options?: Record<string, unknown>): Promise<OrtSession> };
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
  readonly features: FeatureSet;
  private constructor(private readonly ort: OrtLike, private readonly session: OrtSession, meta: Record<string, string>) {
    const fs = meta['pano.features'] as FeatureSet;
    if (!FEATURE_SETS.includes(fs)) throw new Error(`model: features "${meta['pano.features']}" unsupported (need one of ${FEATURE_SETS.join(', ')})`);
    this.features = fs;
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
    // One thread that does not spin: a batch is a few thousand gathers and sums, and onnxruntime's default pool
    // of spinning threads burned 1.7x the CPU for the same output, taken from pano-parse beside it in the pipe.
    const session = await ort.InferenceSession.create(new Uint8Array(bytes), ORT_SESSION_OPTIONS);
    const model = new OnnxSpanModel(ort, session, meta);
    // read the word lists now, so that a missing or unreadable one is an error of loading the model, not of a later batch
    if (model.features === 'pano-span-v3' || model.features === 'pano-span-v4') lexicon ??= readWordList(LEXICON_FILE, loadLexicon);
    if (model.features === 'pano-span-v4') clusters ??= readWordList(CLUSTERS_FILE, loadClusters);
    return model;
  }

  async score(cands: Candidate[]): Promise<Array<[string, number]>> {
    const out: Array<[string, number]> = [];
    const BATCH = 4096;
    for (let s = 0; s < cands.length; s += BATCH) {
      const part = cands.slice(s, s + BATCH);
      const ids = new BigInt64Array(part.length * this.k);
      part.forEach((c, i) => featurize(c, this.dim, this.k, ids, i * this.k, this.features));
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
