/**
 * Labeled event generator for pano-pii: realistic events of every protocol
 * (HTTP JSON/form, PostgreSQL/MySQL, Redis, Kafka, AMQP, gRPC, DNS) with
 * planted personal data and decoys, plus the labels (path, offsets, type) of
 * every planted value. Values are made valid by construction (Luhn digit,
 * IBAN check digits, Verhoeff digit computed here, independent of the
 * package's validators); decoys are made invalid or non-personal on purpose.
 *
 * Splits: `train` and `eval` draw person names and addresses from different
 * pools (Presidio's synth_dataset_v2 vs generated_large) and different seeds,
 * so the model never trains on evaluation values.
 *
 *   node --import tsx scripts/pii/generate.ts --count 1000 --seed 7 --split eval \
 *     --out events.jsonl --labels labels.jsonl
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';

export interface Label {
  path: string;
  start: number;
  end: number;
  type: string;
}
export interface Generated {
  events: Array<Record<string, unknown>>;
  /** labels per event id */
  labels: Map<string, Label[]>;
}

export type Split = 'train' | 'eval' | 'test';

/** Deterministic PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FIRST = ['Alice', 'Bob', 'Carmen', 'Dmitri', 'Emma', 'Farah', 'George', 'Hana', 'Ivan', 'Julia', 'Kofi', 'Lena', 'Marco', 'Nadia', 'Oscar', 'Priya', 'Quentin', 'Rosa', 'Sven', 'Tara', 'Umar', 'Vera', 'Wei', 'Yusuf', 'Zoe'];
const LAST = ['Smith', 'Okafor', 'García', 'Ivanova', 'Müller', 'Haddad', 'Brown', 'Tanaka', 'Petrov', 'Rossi', 'Mensah', 'Schmidt', 'Bianchi', 'Kaur', 'Nilsson', 'Sharma', 'Dubois', 'Moreno', 'Larsen', 'Singh', 'Khan', 'Novak', 'Chen', 'Yilmaz', "O'Brien"];
const STREETS = ['Baker Street', 'Elm Avenue', 'Rue de Rivoli', 'Hauptstraße', 'Maple Drive', 'Station Road', 'Oak Lane', 'Via Roma', 'Church Street', 'Park Avenue', 'Victoria Road', 'Sunset Boulevard'];
const CITIES = ['London NW1 6XE', 'Springfield, IL 62704', 'Paris 75001', 'Berlin 10115', 'Austin, TX 78701', 'Leeds LS1 4AP', 'Milano 20121', 'Seattle, WA 98101', 'Mumbai 400001', 'Boston, MA 02108'];
const DOMAINS = ['example.com', 'mail.example.org', 'corp.example.net', 'example.co.uk', 'shop.example.de'];
const WORDS = ['order', 'shipped', 'invoice', 'status', 'pending', 'ok', 'retry', 'customer', 'updated', 'cart', 'session', 'refund', 'review', 'delivery', 'tomorrow', 'thanks', 'please', 'account', 'the', 'and', 'for', 'with'];

const cache = new Map<string, { names: string[]; addresses: string[] }>();

/**
 * Person names and addresses for a split from the Presidio sets (built-in pools when absent);
 * `poolTexts` keeps only the file's first N texts (train-model.ts --dev holds the rest out).
 */
function pools(split: Split, poolTexts?: number): { names: string[]; addresses: string[] } {
  const ck = `${split}:${poolTexts ?? 'all'}`;
  const hit = cache.get(ck);
  if (hit) return hit;
  const file = split === 'train' ? 'synth_dataset_v2.json' : 'generated_large.json';
  const dir = resolve(process.env.PANO_ROOT ?? process.cwd(), '../shared/pii-data/presidio-research');
  let names: string[] = [];
  let addresses: string[] = [];
  if (split !== 'test') {
    try {
      const data = JSON.parse(readFileSync(resolve(dir, file), 'utf8')) as Array<{ spans: Array<{ entity_type: string; entity_value: string }> }>;
      for (const s of poolTexts === undefined ? data : data.slice(0, poolTexts)) {
        for (const sp of s.spans) {
          const v = sp.entity_value.trim();
          if (sp.entity_type === 'PERSON' && /^[\p{Lu}][\p{L}.'’ -]{2,40}$/u.test(v) && v.includes(' ')) names.push(v);
          if ((sp.entity_type === 'STREET_ADDRESS' || sp.entity_type === 'ADDRESS') && /^\d/.test(v) && !v.includes('\n') && v.length > 12) addresses.push(v);
        }
      }
    } catch {
      // data set absent: fall back to the built-in pools below
    }
  }
  if (names.length < 20) names = FIRST.flatMap((f, i) => [`${f} ${LAST[i]!}`, `${f} ${LAST[(i + 7) % LAST.length]!}`]);
  if (addresses.length < 20) addresses = STREETS.flatMap((s, i) => [`${12 + i * 7} ${s}, ${CITIES[i % CITIES.length]!}`, `${300 + i} ${s}, ${CITIES[(i + 3) % CITIES.length]!}`]);
  const r = { names: [...new Set(names)], addresses: [...new Set(addresses)] };
  cache.set(ck, r);
  return r;
}

function luhnDigit(body: string): string {
  let sum = 0;
  for (let i = 0; i < body.length; i++) {
    let d = +body[body.length - 1 - i]!;
    if (i % 2 === 0) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return String((10 - (sum % 10)) % 10);
}

function mod97(s: string): number {
  let r = 0;
  for (const ch of s) {
    const v = /\d/.test(ch) ? +ch : ch.charCodeAt(0) - 55;
    r = v >= 10 ? (r * 100 + v) % 97 : (r * 10 + v) % 97;
  }
  return r;
}

// Verhoeff tables (dihedral group D5), written out here so the generator does not share code with the validator.
const VD = '0123456789 1234067895 2340178956 3401289567 4012395678 5987604321 6598710432 7659821043 8765932104 9876543210'.split(' ').map((r) => [...r].map(Number));
const VP = '0123456789 1576283094 5803796142 8916043527 9453126870 4286573901 2793806415 7046913258'.split(' ').map((r) => [...r].map(Number));
function verhoeffOk(n: string): boolean {
  let c = 0;
  [...n].reverse().forEach((ch, i) => (c = VD[c]![VP[i % 8]![+ch]!]!));
  return c === 0;
}

export class Maker {
  constructor(readonly r: () => number, readonly split: Split, readonly poolTexts?: number) {}
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.r() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.r() * xs.length)]!;
  }
  digits(n: number): string {
    let s = '';
    for (let i = 0; i < n; i++) s += String(this.int(0, 9));
    return s;
  }
  chars(n: number, alphabet: string): string {
    let s = '';
    for (let i = 0; i < n; i++) s += alphabet[this.int(0, alphabet.length - 1)];
    return s;
  }
  alnum(n: number): string {
    return this.chars(n, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789');
  }
  first(): string { return this.pick(FIRST); }
  last(): string { return this.pick(LAST); }
  name(): string {
    return this.r() < 0.5 ? `${this.first()} ${this.last()}` : this.pick(pools(this.split, this.poolTexts).names);
  }
  address(): string {
    return this.r() < 0.5 ? `${this.int(1, 999)} ${this.pick(STREETS)}, ${this.pick(CITIES)}` : this.pick(pools(this.split, this.poolTexts).addresses);
  }
  email(): string {
    const f = this.first().toLowerCase();
    const l = this.last().toLowerCase().normalize('NFD').replace(/[^a-z]/g, '');
    return `${this.pick([`${f}.${l}`, `${f[0]}${l}`, `${f}${this.int(1, 99)}`, `${f}+news`])}@${this.pick(DOMAINS)}`;
  }
  card(grouped = this.r() < 0.5): string {
    const [prefix, len] = this.pick([['4', 16], ['51', 16], ['55', 16], ['2221', 16], ['34', 15], ['37', 15], ['6011', 16], ['3528', 16]] as Array<[string, number]>);
    const body = prefix + this.digits(len - prefix.length - 1);
    const n = body + luhnDigit(body);
    if (!grouped) return n;
    return len === 15 ? `${n.slice(0, 4)} ${n.slice(4, 10)} ${n.slice(10)}` : n.replace(/(\d{4})(?=\d)/g, '$1' + this.pick([' ', '-']));
  }
  badCard(): string {
    const body = '4' + this.digits(14);
    const good = luhnDigit(body);
    return body + String((+good + this.int(1, 9)) % 10);
  }
  ssn(): string {
    let area = this.int(1, 899);
    if (area === 666) area = 667;
    return `${String(area).padStart(3, '0')}-${String(this.int(1, 99)).padStart(2, '0')}-${String(this.int(1, 9999)).padStart(4, '0')}`;
  }
  iban(): string {
    const cc = this.pick(['DE', 'GB', 'NL', 'FR', 'ES']);
    const bban = cc === 'DE' ? this.digits(18) : cc === 'GB' ? this.chars(4, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ') + this.digits(14) : cc === 'NL' ? this.chars(4, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ') + this.digits(10) : cc === 'FR' ? this.digits(23) : this.digits(20);
    const check = String(98 - mod97(bban + cc + '00')).padStart(2, '0');
    const iban = cc + check + bban;
    return this.r() < 0.5 ? iban : iban.replace(/(.{4})(?=.)/g, '$1 ');
  }
  phone(): string {
    const n4 = () => this.digits(4);
    return this.pick([
      () => `+1 ${this.pick(['212', '415', '646', '312', '617', '206'])}-${this.int(201, 989)}-${n4()}`,
      () => `(${this.pick(['212', '415', '646', '312', '617', '206'])}) ${this.int(201, 989)}-${n4()}`,
      () => `+44 20 7946 0${this.digits(3)}`,
      () => `020 7946 0${this.digits(3)}`,
      () => `+44 7911 ${this.int(100000, 199999)}`,
      () => `+49 30 ${this.int(2000000, 8999999)}`,
      () => `030 ${this.int(2000000, 8999999)}`,
      () => `+33 1 ${this.int(40, 49)} ${this.int(10, 99)} ${this.int(10, 99)} ${this.int(10, 99)}`,
      () => `06 ${this.int(10, 99)} ${this.int(10, 99)} ${this.int(10, 99)} ${this.int(10, 99)}`,
      () => `+91 ${this.int(90000, 99999)} ${this.digits(5)}`,
    ])();
  }
  aadhaar(): string {
    const base = String(this.int(2, 9)) + this.digits(10);
    for (let d = 0; d < 10; d++) {
      if (verhoeffOk(base + d)) {
        const n = base + d;
        return `${n.slice(0, 4)} ${n.slice(4, 8)} ${n.slice(8)}`;
      }
    }
    throw new Error('unreachable: one Verhoeff digit always fits');
  }
  nino(): string {
    const a = 'ABCEGHJKLMNOPRSTWXYZ';
    const b = 'ABCEGHJKLMNPRSTWXYZ';
    let pre = this.pick([...a]) + this.pick([...b]);
    if (['BG', 'GB', 'NK', 'KN', 'TN', 'NT', 'ZZ'].includes(pre)) pre = 'AB';
    const d = this.digits(6);
    const s = this.pick(['A', 'B', 'C', 'D']);
    return this.r() < 0.5 ? `${pre}${d}${s}` : `${pre} ${d.slice(0, 2)} ${d.slice(2, 4)} ${d.slice(4)} ${s}`;
  }
  pan(): string {
    const L = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
    return this.chars(3, L) + this.pick([...'PCHFT']) + this.chars(1, L) + this.digits(4) + this.chars(1, L);
  }
  ipv4(): string {
    return `${this.pick([203, 198, 81, 92, 151, 172])}.${this.int(0, 255)}.${this.int(0, 255)}.${this.int(1, 254)}`;
  }
  ipv6(): string {
    return `2001:db8:${this.int(1, 0xffff).toString(16)}::${this.int(1, 0xffff).toString(16)}`;
  }
  dob(): string {
    const y = this.int(1940, 2005);
    const m = this.int(1, 12);
    const d = this.int(1, 28);
    return this.r() < 0.6 ? `${y}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}` : `${String(d).padStart(2, '0')}/${String(m).padStart(2, '0')}/${y}`;
  }
  /** The `name` claim of the last token jwt() made: pano-pii reports a token's claims (at `…$jwt.name`), so they are labeled. */
  jwtName = '';
  jwt(): string {
    const h = Buffer.from(JSON.stringify({ alg: this.pick(['HS256', 'RS256', 'ES256']), typ: 'JWT' })).toString('base64url');
    // drawn in the order the object literal drew them before jwtName was kept: the same events
    const sub = this.digits(6);
    this.jwtName = this.first();
    const p = Buffer.from(JSON.stringify({ sub, name: this.jwtName, iat: this.int(1.6e9, 1.8e9) })).toString('base64url');
    return `${h}.${p}.${this.chars(43, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_')}`;
  }
  password(): string {
    return this.pick(['hunter2', 'Tr0ub4dor&3', 'correct-horse', 'P@ssw0rd!', 'letmein2024', 'S3cure#Pass']) + this.int(0, 99);
  }
  secret(type: string): string {
    switch (type) {
      case 'aws_access_key_id': return 'AKIA' + this.chars(16, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567');
      case 'aws_secret_access_key': return this.chars(40, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+');
      case 'github_token': return this.pick(['ghp_', 'gho_', 'ghs_']) + this.alnum(36);
      case 'gitlab_token': return 'glpat-' + this.chars(20, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-');
      case 'slack_token': return `xoxb-${this.digits(11)}-${this.digits(12)}-${this.alnum(24)}`;
      case 'stripe_key': return this.pick(['sk_live_', 'rk_live_']) + this.alnum(24);
      case 'google_api_key': return 'AIza' + this.chars(35, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-');
      case 'private_key': {
        const lines = Array.from({ length: 4 }, () => this.chars(64, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'));
        const kind = this.pick(['RSA ', 'EC ', '', 'OPENSSH ']);
        return `-----BEGIN ${kind}PRIVATE KEY-----\n${lines.join('\n')}\n-----END ${kind}PRIVATE KEY-----`;
      }
      default: throw new Error(type);
    }
  }
  uuid(): string {
    const h = this.chars(32, '0123456789abcdef');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20)}`;
  }
  hex(n: number): string {
    return this.chars(n, '0123456789abcdef');
  }
  words(n: number): string {
    return Array.from({ length: n }, () => this.pick(WORDS)).join(' ');
  }
  /** A decoy: looks numeric/identifier-like, is not personal data. */
  decoy(): string {
    return this.pick([
      () => this.uuid(),
      () => `${this.int(0, 20)}.${this.int(0, 40)}.${this.int(0, 99)}`,
      () => `2026-${String(this.int(1, 12)).padStart(2, '0')}-${String(this.int(1, 28)).padStart(2, '0')}T${String(this.int(0, 23)).padStart(2, '0')}:${String(this.int(10, 59))}:${String(this.int(10, 59))}.${this.digits(3)}Z`,
      () => String(this.int(1.6e9, 1.8e9)) + this.digits(3),
      () => this.hex(64),
      () => this.hex(40),
      () => this.badCard(),
      () => this.digits(this.int(5, 9)),
      () => `${this.hex(2)}:${this.hex(2)}:${this.hex(2)}:${this.hex(2)}:${this.hex(2)}:${this.hex(2)}`,
      () => `v${this.int(1, 9)}.${this.int(0, 9)}.${this.int(0, 9)}.${this.int(0, 9)}`,
      () => `${this.int(10, 23)}:${this.int(10, 59)}:${this.int(10, 59)}`,
      () => `${this.int(1, 999)}.${this.digits(2)} EUR`,
    ])();
  }
}

/** Builds a text and records where planted values land inside it. */
class Text {
  s = '';
  spans: Array<{ start: number; end: number; type: string }> = [];
  /** Values inside planted ones, labeled at the text's path plus `suffix` (a JWT's claims: `$jwt.name`). */
  inner: Array<{ suffix: string; start: number; end: number; type: string }> = [];
  add(t: string): this {
    this.s += t;
    return this;
  }
  plant(type: string, v: string): this {
    this.spans.push({ start: this.s.length, end: this.s.length + v.length, type });
    this.s += v;
    return this;
  }
}

const SECRET_TYPES = ['aws_access_key_id', 'github_token', 'gitlab_token', 'slack_token', 'stripe_key', 'google_api_key'];

export function generate(opts: { count: number; seed: number; split: Split; poolTexts?: number }): Generated {
  const r = rng(opts.seed);
  const m = new Maker(r, opts.split, opts.poolTexts);
  const events: Array<Record<string, unknown>> = [];
  const labels = new Map<string, Label[]>();
  let t = 1_760_000_000_000_000_000n;

  for (let i = 0; i < opts.count; i++) {
    const id = `${Math.floor(i / 4) + 1}-${i % 4}`;
    const lab: Label[] = [];
    const protocol = m.pick(['http', 'http', 'http_form', 'postgresql', 'mysql', 'redis', 'kafka', 'amqp', 'grpc', 'dns']);
    const base = (proto: string) => {
      t += BigInt(m.int(1000, 9_000_000));
      return {
        pano: { v: 1, id, kind: 'exchange', protocol: proto, start_ns: String(t), end_ns: String(t + 1_000_000n), duration_ns: 1_000_000, time: new Date(Number(t / 1_000_000n)).toISOString(), source: { type: 'pcap', name: 'generated' }, connection: { id: Math.floor(i / 4) + 1, roles: 'syn' } },
        client: { address: '10.0.0.' + m.int(2, 250), port: m.int(30000, 60000) },
        server: { address: '10.0.1.' + m.int(2, 250), port: 80 },
      } as Record<string, unknown>;
    };
    /** JSON body: build an object whose string leaves may be planted values. */
    const jsonBody = (path: string, fields: Array<[string, string, string | null]>) => {
      const obj: Record<string, unknown> = {};
      const user: Record<string, unknown> = {};
      for (const [k, v, type] of fields) {
        const nested = ['email', 'phone', 'name', 'address', 'dob', 'ssn'].includes(k) && r() < 0.5;
        (nested ? user : obj)[k] = v;
        if (type) lab.push({ path: `${path}$${nested ? '.user' : ''}.${k}`, start: 0, end: v.length, type });
      }
      if (Object.keys(user).length) obj.user = user;
      return JSON.stringify(obj);
    };
    const personalFields = (): Array<[string, string, string | null]> => {
      const f: Array<[string, string, string | null]> = [];
      const add = (p: number, k: string, make: () => string, type: string | null) => { if (r() < p) f.push([k, make(), type]); };
      add(0.6, 'email', () => m.email(), 'email');
      add(0.4, 'phone', () => m.phone(), 'phone');
      add(0.4, 'name', () => m.name(), 'person_name');
      add(0.3, 'address', () => m.address(), 'street_address');
      add(0.2, 'dob', () => m.dob(), 'date_of_birth');
      add(0.15, 'card_number', () => m.card(), 'credit_card');
      add(0.1, 'ssn', () => m.ssn(), 'us_ssn');
      add(0.1, 'iban', () => m.iban(), 'iban');
      add(0.05, 'aadhaar', () => m.aadhaar(), 'aadhaar');
      add(0.05, 'nino', () => m.nino(), 'uk_nino');
      add(0.05, 'pan', () => m.pan(), 'in_pan');
      add(0.1, 'client_ip', () => m.ipv4(), 'ipv4');
      add(0.05, 'client_ip6', () => m.ipv6(), 'ipv6');
      add(0.5, 'request_id', () => m.uuid(), null);
      add(0.4, 'version', () => m.decoy(), null);
      add(0.4, 'ref', () => m.decoy(), null);
      add(0.3, 'sha256', () => m.hex(64), null);
      add(0.3, 'created_at', () => m.decoy(), null);
      return f;
    };
    /** A free-text message with planted values and decoys. */
    const message = (): Text => {
      const x = new Text();
      const n = m.int(1, 4);
      for (let k = 0; k < n; k++) {
        x.add(m.words(m.int(2, 5)) + ' ');
        const pick = m.int(0, 14);
        if (pick === 0) x.add('contact ').plant('email', m.email());
        else if (pick === 1) x.add('call ').plant('phone', m.phone());
        else if (pick === 2) x.add('card ').plant('credit_card', m.card());
        else if (pick === 3) x.add('from ').plant('ipv4', m.ipv4());
        else if (pick === 4) {
          // names in the shapes people write them: greetings, lists, possessives, signatures
          const k2 = m.int(0, 5);
          if (k2 === 0) x.add('Dear ').plant('person_name', m.name()).add(',');
          else if (k2 === 1) x.plant('person_name', m.first()).add(', ').plant('person_name', m.first()).add(' and ').plant('person_name', m.first()).add(' joined');
          else if (k2 === 2) x.add('as requested by ').plant('person_name', m.name()).add('.');
          else if (k2 === 3) x.plant('person_name', m.name()).add("'s order");
          else if (k2 === 4) x.add('Hi ').plant('person_name', m.first()).add('!');
          else x.add('-- ').plant('person_name', m.name()).add('\n');
        }
        else if (pick === 5) x.add('ship to ').plant('street_address', m.address()).add('.');
        else if (pick === 6) x.add('SSN ').plant('us_ssn', m.ssn());
        else if (pick === 7) x.add('IBAN ').plant('iban', m.iban());
        else if (pick === 8) {
          x.add('token ').plant('jwt', m.jwt());
          x.inner.push({ suffix: '$jwt.name', start: 0, end: m.jwtName.length, type: 'person_name' });
        }
        else if (pick === 9) { const ty = m.pick(SECRET_TYPES); x.add('key ').plant(ty, m.secret(ty)); }
        else if (pick === 10) {
          const kind = m.int(0, 2);
          if (kind === 0) x.add('cfg ').add(`postgres://app:`).plant('url_password', m.password().replace(/[@/:#?&]/g, '')).add(`@db.internal:5432/shop`);
          else if (kind === 1) x.add('aws_secret_access_key=').plant('aws_secret_access_key', m.secret('aws_secret_access_key'));
          else x.add('pem ').plant('private_key', m.secret('private_key'));
        }
        else x.add(m.decoy());
        x.add(' ');
      }
      return x;
    };
    const labelText = (path: string, x: Text) => {
      for (const sp of x.spans) lab.push({ path, ...sp });
      // several tokens in one text: pano-pii numbers their claims, `$jwt[0]`, `$jwt[1]` …
      x.inner.forEach(({ suffix, ...sp }, n) => lab.push({ path: path + (x.inner.length > 1 ? suffix.replace('$jwt', `$jwt[${n}]`) : suffix), ...sp }));
    };

    let ev: Record<string, unknown>;
    switch (protocol) {
      case 'http': {
        ev = base('http');
        const headers: Record<string, string[]> = { host: ['api.example.com'], 'content-type': ['application/json'], 'user-agent': ['curl/8.5.0'], 'x-request-id': [m.uuid()] };
        const auth = m.int(0, 4);
        if (auth === 0) {
          const j = m.jwt();
          headers.authorization = [`Bearer ${j}`];
          lab.push({ path: 'http.request.header.authorization[0]', start: 7, end: 7 + j.length, type: 'jwt' });
          lab.push({ path: 'http.request.header.authorization[0]$jwt.name', start: 0, end: m.jwtName.length, type: 'person_name' });
        }
        else if (auth === 1) { const b = Buffer.from(`${m.first().toLowerCase()}:${m.password()}`).toString('base64'); headers.authorization = [`Basic ${b}`]; lab.push({ path: 'http.request.header.authorization[0]', start: 6, end: 6 + b.length, type: 'basic_auth' }); }
        else if (auth === 2) { const tk = m.alnum(32); headers.authorization = [`Bearer ${tk}`]; lab.push({ path: 'http.request.header.authorization[0]', start: 7, end: 7 + tk.length, type: 'bearer_token' }); }
        if (r() < 0.2) { const ip = m.ipv4(); headers['x-forwarded-for'] = [ip]; lab.push({ path: 'http.request.header.x-forwarded-for[0]', start: 0, end: ip.length, type: 'ipv4' }); }
        const content = jsonBody('http.request.body.content', personalFields());
        const q = new Text().add(`page=${m.int(1, 9)}`);
        if (r() < 0.3) { const e = m.email(); q.add('&email='); lab.push({ path: 'url.query$.email', start: 0, end: e.length, type: 'email' }); q.add(encodeURIComponent(e)); }
        const respFields = r() < 0.5 ? personalFields() : [];
        const resp = respFields.length ? jsonBody('http.response.body.content', respFields) : JSON.stringify({ ok: true, id: m.uuid() });
        ev.http = { request: { method: 'POST', header: headers, body: { size: content.length, content } }, response: { status_code: 200, header: { 'content-type': ['application/json'] }, body: { size: resp.length, content: resp } } };
        ev.url = { path: `/api/v1/users/${m.int(1, 99999)}`, query: q.s, scheme: 'http' };
        ev.network = { transport: 'tcp', type: 'ipv4', protocol: { name: 'http', version: '1.1' } };
        break;
      }
      case 'http_form': {
        ev = base('http');
        const parts: string[] = [];
        const formField = (k: string, v: string, type: string | null) => { parts.push(`${k}=${encodeURIComponent(v).replace(/%20/g, '+')}`); if (type) lab.push({ path: `http.request.body.content$.${k}`, start: 0, end: v.length, type }); };
        formField('username', m.first().toLowerCase(), null);
        formField('password', m.password(), 'password');
        if (r() < 0.6) formField('email', m.email(), 'email');
        if (r() < 0.4) formField('phone', m.phone(), 'phone');
        if (r() < 0.4) formField('full_name', m.name(), 'person_name');
        formField('csrf_token', m.hex(32), null);
        const content = parts.join('&');
        ev.http = { request: { method: 'POST', header: { 'content-type': ['application/x-www-form-urlencoded'] }, body: { size: content.length, content } }, response: { status_code: 302 } };
        ev.url = { path: '/login' };
        break;
      }
      case 'postgresql':
      case 'mysql': {
        ev = base(protocol);
        const cols: Array<[string, () => string, string | null]> = [['email', () => m.email(), 'email'], ['phone', () => m.phone(), 'phone'], ['full_name', () => m.name(), 'person_name'], ['ssn', () => m.ssn(), 'us_ssn'], ['birth_date', () => m.dob(), 'date_of_birth'], ['status', () => m.pick(['active', 'closed']), null], ['created_at', () => m.decoy(), null]];
        const chosen = cols.filter(() => r() < 0.6);
        if (chosen.length === 0) chosen.push(cols[0]!);
        const db: Record<string, unknown> = { system: { name: protocol === 'mysql' ? 'mysql' : 'postgresql' }, namespace: 'shop' };
        if (r() < 0.5) {
          const ph = chosen.map((_, k) => (protocol === 'mysql' ? '?' : `$${k + 1}`));
          const param: Record<string, string> = {};
          chosen.forEach(([c, mk, type], k) => { const v = mk(); param[String(k)] = v; if (type) lab.push({ path: `db.query.parameter.${k}`, start: 0, end: v.length, type }); });
          db.query = { text: `INSERT INTO customers (${chosen.map((c) => c[0]).join(', ')}) VALUES (${ph.join(', ')})`, parameter: param };
          db.operation = { name: 'INSERT' };
        } else {
          const x = new Text().add(`SELECT id, ${chosen.map((c) => c[0]).join(', ')} FROM customers WHERE `);
          const [c, mk, type] = chosen[0]!;
          x.add(`${c} = '`);
          const v = mk();
          if (type) x.plant(type, v); else x.add(v);
          x.add(`' LIMIT ${m.int(1, 50)}`);
          labelText('db.query.text', x);
          const rows = Array.from({ length: m.int(0, 3) }, (_, k) => {
            const row: Record<string, string> = { id: String(m.int(1, 1e6)) };
            for (const [cc, mk2, ty2] of chosen) { const v2 = mk2(); row[cc] = v2; if (ty2) lab.push({ path: `db.response.rows[${k}].${cc}`, start: 0, end: v2.length, type: ty2 }); }
            return row;
          });
          db.query = { text: x.s };
          db.operation = { name: 'SELECT' };
          db.response = { returned_rows: rows.length, rows };
        }
        ev.db = db;
        break;
      }
      case 'redis': {
        ev = base('redis');
        const uid = m.int(1, 99999);
        const kind = m.int(0, 2);
        let args: string[];
        if (kind === 0) { const e = m.email(); args = [`user:${uid}:email`, e]; lab.push({ path: 'redis.args[1]', start: 0, end: e.length, type: 'email' }); }
        else if (kind === 1) { const p = m.phone(); const s = m.uuid(); args = [`user:${uid}`, 'phone', p, 'session', s]; lab.push({ path: 'redis.args[2]', start: 0, end: p.length, type: 'phone' }); }
        else { const x = message(); args = [`notes:${uid}`, x.s]; labelText('redis.args[1]', x); }
        ev.db = { system: { name: 'redis' }, operation: { name: kind === 1 ? 'HSET' : 'SET' }, query: { text: `${kind === 1 ? 'HSET' : 'SET'} ${args.join(' ')}` } };
        // the query text repeats the values: label them there too
        const qt = (ev.db as { query: { text: string } }).query.text;
        for (const l of [...lab]) {
          if (!l.path.startsWith('redis.args[')) continue;
          // a token's claims: at the same place inside the token, in the query text's copy of it
          const inner = l.path.indexOf('$jwt');
          if (inner > 0) {
            lab.push({ path: 'db.query.text' + l.path.slice(inner), start: l.start, end: l.end, type: l.type });
            continue;
          }
          const idx = +l.path.slice(11, -1);
          const off = qt.indexOf(args[idx]!, (kind === 1 ? 5 : 4));
          lab.push({ path: 'db.query.text', start: off + l.start, end: off + l.end, type: l.type });
        }
        ev.redis = { args };
        break;
      }
      case 'kafka': {
        ev = base('kafka');
        const payloadFields = personalFields();
        const content = jsonBody('messaging.message.body.content', payloadFields);
        const key = r() < 0.3 ? m.email() : m.uuid();
        if (key.includes('@')) lab.push({ path: 'messaging.kafka.message.key', start: 0, end: key.length, type: 'email' });
        ev.messaging = { system: 'kafka', destination: { name: 'customers' }, operation: { type: 'send', name: 'produce' }, kafka: { message: { key } }, message: { body: { size: content.length, content } } };
        break;
      }
      case 'amqp': {
        ev = base('amqp');
        const x = message();
        ev.messaging = { system: 'rabbitmq', destination: { name: 'notifications' }, operation: { type: 'send', name: 'basic.publish' }, message: { body: { size: x.s.length, content: x.s } } };
        labelText('messaging.message.body.content', x);
        const e = m.email();
        ev.amqp = { properties: { headers: { 'reply-to-user': e, 'x-trace': m.hex(16) } } };
        lab.push({ path: 'amqp.properties.headers.reply-to-user', start: 0, end: e.length, type: 'email' });
        break;
      }
      case 'grpc': {
        ev = base('grpc');
        const e = m.email();
        const nm = m.name();
        const msg = { json: { customer: { email: e, display_name: nm, id: String(m.int(1, 1e6)) }, note: '' } };
        const x = message();
        msg.json.note = x.s;
        ev.rpc = { system: 'grpc', service: 'shop.v1.Customers', method: 'Update', grpc: { status_code: 0 } };
        ev.grpc = { request: { message_count: 1, messages: [msg] } };
        lab.push({ path: 'grpc.request.messages[0].json.customer.email', start: 0, end: e.length, type: 'email' });
        lab.push({ path: 'grpc.request.messages[0].json.customer.display_name', start: 0, end: nm.length, type: 'person_name' });
        labelText('grpc.request.messages[0].json.note', x);
        break;
      }
      default: {
        ev = base('dns');
        const first = m.first().toLowerCase();
        const name = r() < 0.3 ? `${first}-laptop.corp.example.com` : `api${m.int(1, 9)}.example.com`;
        ev.dns = { question: { name, type: 'A', class: 'IN' }, id: m.int(0, 65535), response_code: 'NOERROR', answers: [{ name, type: 'A', class: 'IN', ttl: 300, data: m.ipv4() }] };
        break;
      }
    }
    events.push(ev);
    labels.set(id, lab);
  }
  return { events, labels };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const get = (k: string, d: string) => {
    const i = args.indexOf(k);
    return i >= 0 ? args[i + 1]! : d;
  };
  const g = generate({ count: +get('--count', '1000'), seed: +get('--seed', '1'), split: get('--split', 'eval') as Split });
  const out = get('--out', '-');
  const text = g.events.map((e) => JSON.stringify(e)).join('\n') + '\n';
  if (out === '-') process.stdout.write(text);
  else writeFileSync(out, text, { mode: 0o600 });
  const lf = get('--labels', '');
  if (lf) writeFileSync(lf, [...g.labels].map(([id, l]) => JSON.stringify({ id, labels: l })).join('\n') + '\n');
}
