/**
 * Seeded structural mutation of events (NDJSON lines) for the stages after
 * pano-parse, which read events that may come from another producer, be
 * edited by hand or be damaged: values of other JSON types at random paths,
 * required fields deleted, deep nesting, long strings and arrays, lone
 * surrogates and control characters, numbers JSON.parse cannot hold (written
 * as raw JSON text), keys such as `__proto__` or with `$ [ " .`, `pii` arrays
 * of wrong shapes, one protocol's fields in another's event. Optionally a
 * known e-mail address, phone number or card number is planted in a string,
 * for the redaction check. Used by test/pii/fuzz-events.test.ts and, for
 * longer runs, scripts/fuzz-events.ts.
 */
import { readFileSync } from 'node:fs';
import { parseCaptureSync } from './parse.js';

export { rng } from '../../scripts/pii/generate.js';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = { [k: string]: Json };

export interface Planted {
  type: 'email' | 'phone' | 'credit_card';
  value: string;
  /** the string's path as pano-pii writes paths (`http.request.body.content`, `db.response.rows[0].name`) */
  path: string;
}

export interface EventMutant {
  /** the mutant as one NDJSON line (no newline) */
  line: string;
  /** what was done, in order, for the report */
  ops: string[];
  planted?: Planted;
}

/** Bounds that keep a run fast: long enough to cross the commands' limits on values, not their line limit. */
export const LIMITS = { maxString: 300_000, maxArray: 20_000, maxDepth: 30_000 };

/**
 * Values that exist only as JSON text: JSON.parse rounds them, makes them
 * Infinity or -0, or they repeat a key. Each is written in place of a
 * placeholder string when the mutant is serialised.
 */
const RAW_NUMBERS = ['1e308', '-1e308', '1e999', '-1e999', '-0', '-0.0', '9007199254740993', '-9007199254740993', '18446744073709551616', '123456789012345678901234567890', '4e-400', '1E+2', '0.30000000000000004', '2.5e-324'];
const ODD_KEYS = ['__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'toString', 'valueOf', '__defineGetter__', '$', '$ref', 'a$b', '[0]', 'a[0]', '"', 'a"b', '.', 'a.b', '', ' ', 'key#0', '\u0000', '\ud800', 'ключ'];
const ODD_STRINGS = [
  '\ud800', '\udc00', 'a\udfffb\ud800', '\u0000', 'nul\u0000in', '\u001b[31mred\u001b[0m', '\r\n', 'line\nbreak', '\u2028\u2029', '\ufeff', '\ufffe\uffff',
  '\u202eevil', '\u0085', '\u00a0', '%', '%zz%', '%ud800', '\\', '"', '\\u0000', '{', '[', '{"a":', '[1,2', '{"__proto__":{"polluted":1}}', '{"constructor":{"prototype":{"polluted":1}}}',
  '', ' ', 'NaN', 'Infinity', '-0', '1e308', '9007199254740993', 'true', 'null', '__proto__', 'constructor', 'data:,x', 'a=b&c=%ff&__proto__[x]=1', '\u{1f600}'.repeat(3),
];
/** Paths whose loss leaves an event without what the envelope requires (docs/events). */
const REQUIRED = ['pano', 'pano.v', 'pano.id', 'pano.kind', 'pano.protocol', 'pano.start_ns', 'pano.end_ns', 'pano.duration_ns', 'pano.time', 'pano.source', 'pano.connection', 'pano.connection.id', 'client', 'server', 'client.address', 'server.address', 'client.port', 'server.port'];
const PLANTS: Array<Omit<Planted, 'path'>> = [
  { type: 'email', value: 'zora.planted@fuzzmail-example.net' },
  { type: 'credit_card', value: '4539 1488 0343 6467' },
  { type: 'phone', value: '+44 20 7946 0958' },
];

/** The events pano-parse makes of each capture, parsed back from their JSON (as a later stage reads them). */
export function corpusEvents(files: string[], opts: { maxBytes?: number; perFile?: number } = {}): Obj[] {
  const out: Obj[] = [];
  for (const f of files) {
    const bytes = readFileSync(f);
    if (opts.maxBytes && bytes.length > opts.maxBytes) continue;
    const evs = parseCaptureSync(bytes).events;
    out.push(...(evs.slice(0, opts.perFile ?? evs.length) as unknown as Obj[]));
  }
  return out;
}

class Mutator {
  readonly ops: string[] = [];
  readonly raw: string[] = [];
  planted?: Planted;
  constructor(private readonly rand: () => number) {}

  int(n: number): number {
    return Math.floor(this.rand() * n);
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)]!;
  }
  /** A placeholder that serialises to the raw JSON text `text`. */
  rawValue(text: string): string {
    this.raw.push(text);
    return `\u0000RAW${this.raw.length - 1}\u0000`;
  }

  /** Every path (as keys and indices) to a value inside `root`, at most `cap` of them. */
  paths(root: Json, cap = 4000): Array<Array<string | number>> {
    const out: Array<Array<string | number>> = [];
    const walk = (v: Json, at: Array<string | number>) => {
      if (out.length >= cap) return;
      if (at.length) out.push(at);
      if (Array.isArray(v)) v.slice(0, 50).forEach((x, i) => walk(x, [...at, i]));
      else if (v && typeof v === 'object') for (const k of Object.keys(v).slice(0, 50)) walk(v[k]!, [...at, k]);
    };
    walk(root, []);
    return out;
  }

  /** A value of another JSON type than `old` (or of any, for none). */
  otherValue(old?: Json, small = false): Json {
    const kinds = ['string', 'number', 'bool', 'null', 'array', 'object', 'raw', 'odd', ...(small ? [] : ['long', 'nest', 'wide'])].filter((k) => k !== typeOf(old));
    switch (this.pick(kinds)) {
      case 'string':
        return typeof old === 'number' ? String(old) : this.pick(['', 'x', 'GET', 'http', '10.0.0.1', '-1', '1.5', 'exchange', '2024-01-01T00:00:00Z']);
      case 'number':
        return this.pick([0, -1, 1.5, 2 ** 31, -(2 ** 63), Number.MAX_SAFE_INTEGER, Number.MIN_VALUE, 65536, 1e21, typeof old === 'string' ? Number(old) || 7 : 3]);
      case 'bool':
        return this.rand() < 0.5;
      case 'null':
        return null;
      case 'array':
        return this.pick<Json>([[], [null], [1, 'a', {}], [[[]]], old === undefined ? [] : [old as Json]]);
      case 'object':
        return this.pick<Json>([{}, { a: 1 }, { type: 'email' }, { length: 5 }, { toString: 'x' }, old === undefined ? {} : { v: old as Json }]);
      case 'raw':
        return this.rawValue(this.pick(RAW_NUMBERS));
      case 'odd':
        return this.pick(ODD_STRINGS);
      case 'long':
        return this.longString();
      case 'nest':
        return this.nested();
      default:
        return this.wideArray();
    }
  }

  longString(): string {
    const n = 1 + this.int(LIMITS.maxString);
    return this.pick(['a', 'é', '\ud83d\ude00', '%41', ' ', '\u0000', '1', 'ab@']).repeat(Math.ceil(n / 2)).slice(0, n);
  }
  /** A value nested deep, as JSON text (JSON.stringify cannot write a few thousand levels). */
  nested(): Json {
    // mostly within what JSON.stringify can write back, sometimes past it
    const depth = 2 + this.int(this.rand() < 0.8 ? 3000 : LIMITS.maxDepth);
    const leaf = this.pick(['"leaf"', '1', 'null', '{}', '"a@b.example.com"']);
    const [open, close] = this.rand() < 0.5 ? ['{"k":', '}'] : ['[', ']'];
    return this.rawValue(open.repeat(depth) + leaf + close.repeat(depth));
  }
  wideArray(): Json[] {
    const n = 1 + this.int(LIMITS.maxArray);
    const item = this.pick<Json>([0, 'x', null, {}, [], 'a@b.co', { type: 'email', path: 'x', start: 0, end: 1 }]);
    // copies, not one object n times: a later change to one element must not grow them all
    return Array.from({ length: n }, () => structuredClone(item));
  }

  /** A `pii` list of the wrong shape (or of findings with wrong fields). */
  badPii(): Json {
    const finding = (): Obj => {
      const f: Obj = { type: 'email', path: 'http.request.body.content', start: 0, end: 3, confidence: 0.9, detector: 'regex', validator: null };
      const k = this.pick(Object.keys(f));
      if (this.rand() < 0.7) f[k] = this.otherValue(f[k], true);
      else delete f[k];
      if (this.rand() < 0.2) f.type = this.pick(['__proto__', 'constructor', 'toString', '', 'a"b', '\u001b[2J', 'x'.repeat(300)]);
      if (this.rand() < 0.2) f.direction = this.otherValue(undefined, true);
      return f;
    };
    return this.pick<() => Json>([
      () => 'email',
      () => ({ type: 'email' }),
      () => [1, 'email', null, true],
      () => [finding(), finding(), finding()],
      () => new Array(1 + this.int(5000)).fill(0).map(finding),
      () => [[finding()]],
      () => this.otherValue(),
    ])();
  }
}

function typeOf(v: Json | undefined): string {
  if (v === undefined) return 'none';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v === 'boolean' ? 'bool' : typeof v;
}

function get(root: Json, path: ReadonlyArray<string | number>): Json | undefined {
  let v: Json | undefined = root;
  for (const k of path) v = v && typeof v === 'object' ? (v as Record<string | number, Json>)[k] : undefined;
  return v;
}

/** Sets (or, for `undefined`, deletes) the value at `path`; a key such as `__proto__` becomes an own property, as JSON.parse makes it. */
function put(root: Json, path: ReadonlyArray<string | number>, value: Json | undefined): void {
  const parent = get(root, path.slice(0, -1));
  if (!parent || typeof parent !== 'object') return;
  const k = path[path.length - 1]!;
  if (value === undefined) {
    if (Array.isArray(parent) && typeof k === 'number') parent.splice(k, 1);
    else delete (parent as Obj)[k];
  } else Object.defineProperty(parent, k, { value, enumerable: true, writable: true, configurable: true });
}

const IDENT = /^[A-Za-z0-9_][A-Za-z0-9_-]*$/;

/** `path` as pano-pii names it, or undefined where a key would need quoting (no plant there). */
function piiPath(path: ReadonlyArray<string | number>): string | undefined {
  let s = '';
  for (const k of path) {
    if (typeof k === 'number') s += `[${k}]`;
    else if (!IDENT.test(k)) return undefined;
    else s += s ? '.' + k : k;
  }
  return s;
}

/** Groups that pano-pii does not scan (the envelope, addresses, its own list). */
const UNSCANNED = new Set(['pano', 'client', 'server', 'network', 'process', 'error', 'pii', 'source', 'destination']);

/**
 * A mutant of `base` (one event) with 1-4 structural changes; `donor` (an
 * event of another protocol, may be the same) lends fields. With `plant`, a
 * known personal value is also put into one of its strings.
 */
export function mutateEvent(base: object, donor: object, rand: () => number, opts: { plant?: boolean } = {}): EventMutant {
  const m = new Mutator(rand);
  const ev = JSON.parse(JSON.stringify(base)) as Obj;
  const edits = 1 + m.int(4);
  for (let e = 0; e < edits; e++) {
    const paths = m.paths(ev);
    const at = paths.length ? m.pick(paths) : ['pano'];
    const name = at.join('.');
    switch (m.int(9)) {
      case 0:
      case 1: {
        put(ev, at, m.otherValue(get(ev, at)));
        m.ops.push(`retype ${name}`);
        break;
      }
      case 2: {
        const req = m.pick(REQUIRED).split('.');
        put(ev, m.rand() < 0.5 ? req : at, undefined);
        m.ops.push(`delete ${m.rand() < 0.5 ? req.join('.') : name}`);
        break;
      }
      case 3: {
        const big = m.pick([() => m.longString(), () => m.nested(), () => m.wideArray()])();
        put(ev, at, big);
        m.ops.push(`big ${name}`);
        break;
      }
      case 4: {
        const old = get(ev, at);
        const odd = m.pick(ODD_STRINGS);
        put(ev, at, typeof old === 'string' && old.length ? old.slice(0, m.int(old.length)) + odd + old.slice(m.int(old.length)) : odd);
        m.ops.push(`odd-string ${name}`);
        break;
      }
      case 5: {
        put(ev, at, m.rawValue(m.pick(RAW_NUMBERS)));
        m.ops.push(`raw-number ${name}`);
        break;
      }
      case 6: {
        // an odd key on an object on the way (the event itself, or one inside it)
        const objs = [[], ...paths].filter((p) => {
          const v = get(ev, p);
          return v !== null && typeof v === 'object' && !Array.isArray(v);
        });
        const holder = m.pick(objs);
        const key = m.pick(ODD_KEYS);
        put(ev, [...holder, key], m.pick<Json>([{ polluted: 1 }, 'x', 1, null, [], { toString: 1, valueOf: 'x' }, m.otherValue()]));
        m.ops.push(`key ${JSON.stringify(key)} in ${holder.join('.') || '(event)'}`);
        break;
      }
      case 7: {
        put(ev, ['pii'], m.badPii());
        m.ops.push('pii');
        break;
      }
      default: {
        // another protocol's fields: its sections, or its protocol name, in this event
        const d = JSON.parse(JSON.stringify(donor)) as Obj;
        if (m.rand() < 0.3 && d.pano && typeof d.pano === 'object' && ev.pano && typeof ev.pano === 'object' && !Array.isArray(ev.pano)) {
          (ev.pano as Obj).protocol = (d.pano as Obj).protocol ?? null;
          m.ops.push('protocol of donor');
        } else {
          for (const k of Object.keys(d)) if (!['pano', 'client', 'server'].includes(k) && m.rand() < 0.7) put(ev, [k], d[k]!);
          m.ops.push('sections of donor');
        }
      }
    }
  }
  if (opts.plant) plant(m, ev);
  let line = JSON.stringify(ev);
  for (let i = 0; i < m.raw.length; i++) line = line.replace(`"\\u0000RAW${i}\\u0000"`, () => m.raw[i]!);
  return { line, ops: m.ops, planted: m.planted };
}

/** Puts a known value, between spaces, into a string the scan reads. */
function plant(m: Mutator, ev: Obj): void {
  const spots = m.paths(ev).filter((p) => !UNSCANNED.has(String(p[0])) && typeof get(ev, p) === 'string' && piiPath(p) !== undefined);
  if (!spots.length) return;
  const at = m.pick(spots);
  const old = get(ev, at) as string;
  const p = m.pick(PLANTS);
  const cut = m.int(old.length + 1);
  put(ev, at, `${old.slice(0, cut)} ${p.value} ${old.slice(cut)}`);
  m.planted = { ...p, path: piiPath(at)! };
}
