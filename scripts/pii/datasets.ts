/**
 * The public labeled sets in ../shared/pii-data, turned into pano-pii inputs:
 * Presidio's synthetic sentences and CoNLL NER sentences wrapped into event
 * payloads (HTTP JSON body, Kafka message, SQL parameter, Redis argument),
 * with their span labels carried over. Offsets do not move: each text is the
 * whole value of one field.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Label } from './generate.js';

export const DATA_DIR = resolve(process.env.PANO_ROOT ?? process.cwd(), '../shared/pii-data');

const PRESIDIO_TYPES: Record<string, string> = {
  PERSON: 'person_name', STREET_ADDRESS: 'street_address', ADDRESS: 'street_address', CREDIT_CARD: 'credit_card',
  EMAIL_ADDRESS: 'email', US_SSN: 'us_ssn', IBAN_CODE: 'iban', PHONE_NUMBER: 'phone', IP_ADDRESS: 'ip',
  // city, region, country and postcode: part of an address when they follow one, else not labeled
  LOCATION: 'loc', GPE: 'loc', ZIP_CODE: 'loc',
};

export interface LabeledText {
  text: string;
  spans: Array<{ start: number; end: number; type: string }>;
}

/**
 * Entity classes the span model may learn beside names and addresses (`train-model.ts --aux`):
 * organisations, places and other named things are what the false names are, and a class of their
 * own gives the model weights that say "organisation" rather than lumping them with every other
 * non-name. Never PII: a candidate whose best class is one of them is not a finding.
 */
export const AUX_CLASSES = ['organization', 'location', 'misc'] as const;
const PRESIDIO_AUX: Record<string, string> = { ORGANIZATION: 'organization', GPE: 'location', LOCATION: 'location' };
const CONLL_AUX: Record<string, string> = {
  ORG: 'organization', LOC: 'location', MISC: 'misc',
  corporation: 'organization', group: 'organization', location: 'location', product: 'misc', 'creative-work': 'misc',
};

export function presidioTexts(file: string, aux = false): LabeledText[] | undefined {
  let data: Array<{ full_text: string; spans: Array<{ entity_type: string; start_position: number; end_position: number; entity_value: string }> }>;
  try {
    data = JSON.parse(readFileSync(resolve(DATA_DIR, 'presidio-research', file), 'utf8'));
  } catch {
    return undefined;
  }
  return data.map((d) => {
    const spans = mergeTitles(d.full_text, mergeAddressParts(
      d.full_text,
      d.spans
        .filter((s) => PRESIDIO_TYPES[s.entity_type])
        .map((s) => ({ start: s.start_position, end: s.end_position, type: PRESIDIO_TYPES[s.entity_type] === 'ip' ? (s.entity_value.includes(':') ? 'ipv6' : 'ipv4') : PRESIDIO_TYPES[s.entity_type]! })),
    ));
    if (aux) {
      // places and organisations that are not part of an address (those merged into it above)
      for (const s of d.spans) {
        const type = PRESIDIO_AUX[s.entity_type];
        if (type && !spans.some((o) => o.start < s.end_position && s.start_position < o.end)) spans.push({ start: s.start_position, end: s.end_position, type });
      }
    }
    return { text: d.full_text, spans };
  });
}

/**
 * Presidio labels a title before a name as a PERSON span of its own
 * ("Mr." and "Ford" in "Mr. Ford is ..."); a title and the name after it are
 * one person name for us, as a finding covers the whole "Mr. Ford".
 */
function mergeTitles(text: string, spans: LabeledText['spans']): LabeledText['spans'] {
  const out: LabeledText['spans'] = [];
  for (const s of spans) {
    const last = out[out.length - 1];
    if (last && last.type === 'person_name' && s.type === 'person_name' && s.start === last.end + 1 && text[last.end] === ' ' && /^(?:mr|mrs|ms|miss|dr|prof|sir)\.?$/i.test(text.slice(last.start, last.end))) {
      last.end = s.end;
      continue;
    }
    out.push({ ...s });
  }
  return out;
}

/**
 * generated_large labels an address as separate parts (building number,
 * street, suite, city, postcode); one address is one finding for us, so
 * parts separated only by spaces, commas, newlines or quote markers merge.
 */
function mergeAddressParts(text: string, spans: LabeledText['spans']): LabeledText['spans'] {
  spans.sort((a, b) => a.start - b.start);
  const out: LabeledText['spans'] = [];
  for (const s of spans) {
    const last = out[out.length - 1];
    if (last && last.type === 'street_address' && (s.type === 'street_address' || s.type === 'loc') && s.start - last.end <= 8 && /^[\s,.>?]*$/.test(text.slice(last.end, s.start))) {
      last.end = s.end;
      continue;
    }
    out.push({ ...s });
  }
  return out.filter((s) => s.type !== 'loc');
}

/** CoNLL sentences (token … tag per line); entities of `tag` (PER for wikigold's I-PER, person for WNUT's B-/I-person). */
export function conllTexts(file: string, tag: string, aux = false): LabeledText[] | undefined {
  let raw: string;
  try {
    raw = readFileSync(resolve(DATA_DIR, file), 'utf8');
  } catch {
    return undefined;
  }
  return conllParse(raw, tag, aux);
}

/**
 * Wikigold split by document (145 `-DOCSTART-` lines, 146 articles): every
 * fifth article (index 4, 9, ...) is held out for evaluation, the rest is
 * training data. A fixed document split, so sentences of one article never
 * sit on both sides. To compare settings, the training articles split again:
 * index 3, 8, ... as `dev`, the others as `devTrain`; `devFold` 0–3 picks another
 * fifth of them as `dev` (index devFold, devFold + 5, ...), for cross-validation
 * over all training articles (`--wiki-fold` of train-model.ts and errors.ts).
 */
export function wikigoldSplit(aux = false, devFold = 3): { train: LabeledText[]; held: LabeledText[]; devTrain: LabeledText[]; dev: LabeledText[] } | undefined {
  let raw: string;
  try {
    raw = readFileSync(resolve(DATA_DIR, 'wikigold/wikigold.conll.txt'), 'utf8');
  } catch {
    return undefined;
  }
  if (!(devFold >= 0 && devFold <= 3 && Number.isInteger(devFold))) throw new Error(`wikigold dev fold ${devFold}: one of 0-3 (4 is the held-out fifth)`);
  const docs = raw.split(/^-DOCSTART-[^\n]*$/m);
  const train: LabeledText[] = [];
  const held: LabeledText[] = [];
  // for comparing settings (train-model.ts --dev): a fifth of the training articles as dev, the rest to train
  const devTrain: LabeledText[] = [];
  const dev: LabeledText[] = [];
  docs.forEach((d, i) => {
    const sentences = conllParse(d, 'PER', aux);
    (i % 5 === 4 ? held : train).push(...sentences);
    if (i % 5 !== 4) (i % 5 === devFold ? dev : devTrain).push(...sentences);
  });
  return { train, held, devTrain, dev };
}

/** `aux`: the other entities too, typed by AUX_CLASSES (for training only: evaluation scores PII types). */
function conllParse(raw: string, tag: string, aux = false): LabeledText[] {
  const out: LabeledText[] = [];
  for (const block of raw.split(/\n\s*\n/)) {
    const toks = block.split('\n').map((l) => l.trim().split(/\s+/)).filter((t) => t.length >= 2 && t[0] !== '-DOCSTART-');
    if (toks.length === 0) continue;
    let text = '';
    const spans: LabeledText['spans'] = [];
    let open: { start: number; end: number; type: string } | undefined;
    for (const t of toks) {
      const word = t[0]!;
      const label = t[t.length - 1]!;
      if (text.length) text += ' ';
      const start = text.length;
      text += word;
      const ent = label.slice(2);
      const type = label === 'O' ? undefined : ent === tag ? 'person_name' : aux ? CONLL_AUX[ent] : undefined;
      const begins = label.startsWith('B-');
      if (type && open && open.type === type && !begins) open.end = text.length;
      else {
        if (open) spans.push(open);
        open = type ? { start, end: text.length, type } : undefined;
      }
    }
    if (open) spans.push(open);
    out.push({ text, spans });
  }
  return out;
}

/** Wrap labeled texts into events of four payload shapes. */
export function wrap(texts: LabeledText[], prefix: string): { events: Array<Record<string, unknown>>; labels: Map<string, Label[]> } {
  const events: Array<Record<string, unknown>> = [];
  const labels = new Map<string, Label[]>();
  texts.forEach((t, i) => {
    const id = `${prefix}-${i}`;
    const pano = { v: 1, id, kind: 'exchange', protocol: '', start_ns: '0', end_ns: '0', duration_ns: 0, time: '', source: { type: 'pcap', name: prefix }, connection: { id: i, roles: 'syn' } };
    let ev: Record<string, unknown>;
    let path: string;
    switch (i % 4) {
      case 0: {
        const content = JSON.stringify({ comment: t.text, ticket: i });
        ev = { pano: { ...pano, protocol: 'http' }, http: { request: { method: 'POST', body: { size: content.length, content } } } };
        path = 'http.request.body.content$.comment';
        break;
      }
      case 1:
        ev = { pano: { ...pano, protocol: 'kafka' }, messaging: { system: 'kafka', message: { body: { size: t.text.length, content: t.text } } } };
        path = 'messaging.message.body.content';
        break;
      case 2:
        ev = { pano: { ...pano, protocol: 'postgresql' }, db: { query: { text: 'INSERT INTO notes (body) VALUES ($1)', parameter: { '0': t.text } } } };
        path = 'db.query.parameter.0';
        break;
      default:
        ev = { pano: { ...pano, protocol: 'redis' }, redis: { args: [`note:${i}`, t.text] } };
        path = 'redis.args[1]';
    }
    events.push(ev);
    labels.set(id, t.spans.map((s) => ({ path, ...s })));
  });
  return { events, labels };
}

export function presidioEvents(file: string) {
  const t = presidioTexts(file);
  return t ? wrap(t, 'presidio') : undefined;
}

export function conllEvents(file: string, tag: string) {
  const t = conllTexts(file, tag);
  return t ? wrap(t, 'conll') : undefined;
}
