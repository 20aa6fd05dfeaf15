/**
 * Renders parameter and column values for events. Text-format values are
 * kept as strings (they are what the database would print); binary-format
 * values are decoded for the common built-in types by OID and shown as
 * `\x` hex otherwise, like psql shows bytea. Text (text-format values, and
 * binary values of text types) is in the connection's client_encoding. Every
 * value counts against the exchange's ValueBudget.
 */
import { ValueBudget, hexValue as hex } from '../sql/value-budget.js';
import type { PgTextCodec } from './encoding.js';

/** Built-in type OIDs (pg_type.dat). */
const Oid = {
  bool: 16,
  bytea: 17,
  char: 18,
  name: 19,
  int8: 20,
  int2: 21,
  int4: 23,
  text: 25,
  oid: 26,
  json: 114,
  float4: 700,
  float8: 701,
  bpchar: 1042,
  varchar: 1043,
  date: 1082,
  time: 1083,
  timestamp: 1114,
  timestamptz: 1184,
  numeric: 1700,
  uuid: 2950,
  jsonb: 3802,
} as const;

/** Binary numeric sign words (numeric.c): NUMERIC_NEG, NUMERIC_NAN, NUMERIC_PINF, NUMERIC_NINF. */
const NUMERIC_NEG = 0x4000;
const NUMERIC_NAN = 0xc000;
const NUMERIC_PINF = 0xd000;
const NUMERIC_NINF = 0xf000;
/** Binary dates count days, timestamps microseconds, from 2000-01-01 (the PostgreSQL epoch). */
const PG_EPOCH_MS = Date.UTC(2000, 0, 1);
const MS_PER_DAY = 86_400_000;
const DATE_PINF = 0x7fffffff;
const DATE_NINF = -0x80000000;
const TS_PINF = 0x7fffffffffffffffn;
const TS_NINF = -0x8000000000000000n;
/** Farthest instant a JS Date holds (ms either side of 1970); PostgreSQL goes farther, shown as hex. */
const JS_DATE_MAX_MS = 8.64e15;

const textOids = new Set<number>([Oid.char, Oid.name, Oid.text, Oid.json, Oid.bpchar, Oid.varchar]);

export type Value = string | number | boolean | null;

export { ValueBudget };

/** Text in the client encoding, cut to the budget (a character cut in two is dropped). */
function text(v: Buffer, budget: ValueBudget, codec: PgTextCodec): string {
  const n = budget.take(v.length);
  return codec.decode(v, 0, n, n < v.length);
}

/** A value as the event shows it (format 0 = text, 1 = binary). */
export function renderValue(v: Buffer | null, typeOid: number, format: number, budget: ValueBudget, codec: PgTextCodec): Value {
  if (v === null) return null;
  if (format !== 1) return text(v, budget, codec);
  switch (typeOid) {
    case Oid.bool:
      budget.take(1);
      return v.length === 1 ? v[0] !== 0 : hex(v, budget);
    case Oid.int2:
      budget.take(2);
      return v.length === 2 ? v.readInt16BE(0) : hex(v, budget);
    case Oid.int4:
      budget.take(4);
      return v.length === 4 ? v.readInt32BE(0) : hex(v, budget);
    case Oid.oid:
      budget.take(4);
      return v.length === 4 ? v.readUInt32BE(0) : hex(v, budget);
    case Oid.int8: {
      if (v.length !== 8) return hex(v, budget);
      const big = v.readBigInt64BE(0);
      const s = big.toString();
      budget.take(s.length);
      // Beyond 2^53 a JSON number would silently change the value, so keep those as strings.
      return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : s;
    }
    case Oid.float4:
      budget.take(4);
      return v.length === 4 ? v.readFloatBE(0) : hex(v, budget);
    case Oid.float8:
      budget.take(8);
      return v.length === 8 ? v.readDoubleBE(0) : hex(v, budget);
    case Oid.uuid: {
      if (v.length !== 16) return hex(v, budget);
      budget.take(36);
      const h = v.toString('hex');
      return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
    }
    case Oid.numeric:
      return fixed(numericText(v), v, budget);
    case Oid.date:
      return fixed(v.length === 4 ? dateText(v.readInt32BE(0)) : undefined, v, budget);
    case Oid.time:
      return fixed(v.length === 8 ? clockText(v.readBigInt64BE(0)) : undefined, v, budget);
    case Oid.timestamp:
      return fixed(v.length === 8 ? timestampText(v.readBigInt64BE(0), '') : undefined, v, budget);
    case Oid.timestamptz:
      // the instant in UTC, as PostgreSQL prints it with TimeZone UTC (the session's zone is not on the wire)
      return fixed(v.length === 8 ? timestampText(v.readBigInt64BE(0), '+00') : undefined, v, budget);
    case Oid.jsonb:
      // binary jsonb is a version byte (1) followed by the JSON text
      return v.length >= 1 && v[0] === 1 ? text(v.subarray(1), budget, codec) : hex(v, budget);
    default:
      return textOids.has(typeOid) ? text(v, budget, codec) : hex(v, budget);
  }
}

/** A decoded value taken from the budget, or hex when the bytes did not decode. */
function fixed(t: string | undefined, v: Buffer, budget: ValueBudget): string {
  if (t === undefined) return hex(v, budget);
  budget.take(t.length);
  return t;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/**
 * Binary numeric (numeric.c numeric_send): digit count, weight of the first
 * base-10000 digit, sign, display scale, then the digits; printed as
 * get_str_from_var does, with exactly `dscale` fraction digits.
 */
function numericText(v: Buffer): string | undefined {
  if (v.length < 8) return undefined;
  const ndigits = v.readInt16BE(0);
  const weight = v.readInt16BE(2);
  const sign = v.readUInt16BE(4);
  const dscale = v.readInt16BE(6);
  if (ndigits < 0 || dscale < 0 || v.length !== 8 + 2 * ndigits) return undefined;
  if (sign === NUMERIC_NAN) return 'NaN';
  if (sign === NUMERIC_PINF) return 'Infinity';
  if (sign === NUMERIC_NINF) return '-Infinity';
  if (sign !== 0 && sign !== NUMERIC_NEG) return undefined;
  const digit = (i: number) => (i >= 0 && i < ndigits ? v.readInt16BE(8 + 2 * i) : 0);
  let out = sign === NUMERIC_NEG ? '-' : '';
  if (weight < 0) out += '0';
  for (let d = 0; d <= weight; d++) out += d === 0 ? String(digit(d)) : pad(digit(d), 4);
  if (dscale > 0) {
    let frac = '';
    for (let d = weight + 1; frac.length < dscale; d++) frac += pad(digit(d), 4);
    out += `.${frac.slice(0, dscale)}`;
  }
  return out;
}

/** Year-month-day of a UTC millisecond time, ISO, with BC as PostgreSQL writes it (year 0 is 1 BC). */
function ymd(ms: number): { date: string; bc: boolean } {
  const d = new Date(ms);
  const y = d.getUTCFullYear();
  const bc = y <= 0;
  return { date: `${pad(bc ? 1 - y : y, 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`, bc };
}

/** Binary date: days since 2000-01-01, or ±infinity. */
function dateText(days: number): string | undefined {
  if (days === DATE_PINF) return 'infinity';
  if (days === DATE_NINF) return '-infinity';
  const ms = PG_EPOCH_MS + days * MS_PER_DAY;
  if (Math.abs(ms) > JS_DATE_MAX_MS) return undefined;
  const { date, bc } = ymd(ms);
  return bc ? `${date} BC` : date;
}

/** HH:MM:SS and the fraction of a second without trailing zeros, as PostgreSQL prints it. */
function clockText(us: bigint): string | undefined {
  if (us < 0n || us > 86_400_000_000n) return undefined;
  const n = Number(us);
  const secs = Math.floor(n / 1e6);
  const frac = n % 1e6;
  const t = `${pad(Math.floor(secs / 3600))}:${pad(Math.floor(secs / 60) % 60)}:${pad(secs % 60)}`;
  return frac ? `${t}.${pad(frac, 6).replace(/0+$/, '')}` : t;
}

/** Binary timestamp: microseconds since 2000-01-01 00:00:00, or ±infinity; `zone` is appended (timestamptz). */
function timestampText(us: bigint, zone: string): string | undefined {
  if (us === TS_PINF) return 'infinity';
  if (us === TS_NINF) return '-infinity';
  const day = 86_400_000_000n;
  let days = us / day;
  let rest = us % day;
  if (rest < 0n) {
    rest += day;
    days -= 1n;
  }
  const ms = PG_EPOCH_MS + Number(days) * MS_PER_DAY;
  if (Math.abs(ms) > JS_DATE_MAX_MS) return undefined;
  const { date, bc } = ymd(ms);
  return `${date} ${clockText(rest)}${zone}${bc ? ' BC' : ''}`;
}
