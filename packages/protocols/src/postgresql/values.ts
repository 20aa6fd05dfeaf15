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
  uuid: 2950,
  jsonb: 3802,
} as const;

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
    case Oid.jsonb:
      // binary jsonb is a version byte (1) followed by the JSON text
      return v.length >= 1 && v[0] === 1 ? text(v.subarray(1), budget, codec) : hex(v, budget);
    default:
      return textOids.has(typeOid) ? text(v, budget, codec) : hex(v, budget);
  }
}
