/**
 * Values of the binary protocol (COM_STMT_EXECUTE parameters, binary result
 * rows) decoded by type, and cells of text result rows. Integers become JSON
 * numbers when exact (64-bit ones beyond 2^53 stay decimal strings), dates
 * and times the text MySQL itself prints, strings UTF-8, binary strings `\x`
 * hex. Every value counts against the exchange's ValueBudget.
 */
import { isUtf8 } from 'node:buffer';
import { ValueBudget, hexValue, textValue } from '../sql/value-budget.js';
import { BINARY_CHARSET, Type } from './constants.js';
import { PayloadReader } from './decode.js';
import { sequential } from '@panopticon/events';

export type Value = string | number | null;

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/**
 * Reads one binary-protocol value at the reader's position. `binaryCharset` is
 * the column's charset test; undefined for a parameter, whose charset is not sent.
 * `decimals` is the column's fractional-second digits (0–6) for temporal
 * values; undefined for a parameter, whose scale is not sent.
 */
export function readBinaryValue(r: PayloadReader, type: number, unsigned: boolean, binaryCharset: boolean | undefined, budget: ValueBudget, decimals?: number): Value {
  switch (type) {
    case Type.Null:
      return null;
    case Type.Tiny: {
      const v = r.u8();
      budget.take(1);
      return unsigned ? v : (v << 24) >> 24;
    }
    case Type.Short:
    case Type.Year: {
      const v = r.u16();
      budget.take(2);
      return unsigned || type === Type.Year ? v : (v << 16) >> 16;
    }
    case Type.Long:
    case Type.Int24: {
      const v = r.u32();
      budget.take(4);
      return unsigned ? v : v | 0;
    }
    case Type.LongLong: {
      const b = r.bytes(8);
      if (b.length < 8) return null;
      const v = unsigned ? b.readBigUInt64LE(0) : b.readBigInt64LE(0);
      const s = v.toString();
      budget.take(s.length);
      return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : s;
    }
    case Type.Float: {
      const b = r.bytes(4);
      budget.take(4);
      // a float32 widened to a double prints noise digits (0.1 → 0.10000000149): keep the shortest exact form
      return b.length === 4 ? shortFloat(b.readFloatLE(0)) : null;
    }
    case Type.Double: {
      const b = r.bytes(8);
      budget.take(8);
      return b.length === 8 ? b.readDoubleLE(0) : null;
    }
    case Type.Date:
    case Type.DateTime:
    case Type.Timestamp:
    case Type.NewDate: {
      const s = readDateTime(r, type === Type.Date || type === Type.NewDate, decimals);
      budget.take(s.length);
      return s;
    }
    case Type.Time: {
      const s = readTime(r, decimals);
      budget.take(s.length);
      return s;
    }
    default: {
      const b = r.lenencBytes();
      if (b === null) return null;
      if (binaryCharset === undefined) return paramBytes(b, type, budget);
      return isBinaryBytes(type, binaryCharset) ? hexValue(b, budget) : textValue(b, budget);
    }
  }
}

/** The shortest decimal that reads back as the same float32 (what the server prints for FLOAT). */
function shortFloat(f: number): number {
  for (let p = 1; p <= 9; p++) {
    const v = Number(f.toPrecision(p));
    if (Math.fround(v) === f) return v;
  }
  return f;
}

/**
 * The fraction of a second as MySQL prints it for a column of `decimals`
 * digits (TIME(3): ".789"; DATETIME(6) at a whole second: ".000000"): the
 * binary protocol sends microseconds, and leaves them out when they are zero.
 * Without the scale (a parameter, or a scale past 6) the microseconds as sent.
 */
function fraction(micros: number | undefined, decimals: number | undefined): string {
  if (decimals !== undefined && decimals <= 6) return decimals === 0 ? '' : `.${pad(micros ?? 0, 6).slice(0, decimals)}`;
  return micros === undefined ? '' : `.${pad(micros, 6)}`;
}

/** Binary-protocol DATE/DATETIME/TIMESTAMP as text, sequential for the JSON fast path (ADR 0007). */
function readDateTime(r: PayloadReader, dateOnly: boolean, decimals: number | undefined): string {
  return sequential(dateTimeText(r, dateOnly, decimals));
}

function dateTimeText(r: PayloadReader, dateOnly: boolean, decimals: number | undefined): string {
  const len = r.u8();
  if (len === 0) return dateOnly ? '0000-00-00' : `0000-00-00 00:00:00${fraction(undefined, decimals)}`;
  const year = r.u16();
  const month = r.u8();
  const day = r.u8();
  const date = `${pad(year, 4)}-${pad(month)}-${pad(day)}`;
  if (dateOnly) {
    if (len >= 7) r.bytes(len - 4); // a DATE sent with a time part: the date is the value
    return date;
  }
  if (len < 7) return `${date} 00:00:00${fraction(undefined, decimals)}`;
  const time = `${pad(r.u8())}:${pad(r.u8())}:${pad(r.u8())}`;
  return `${date} ${time}${fraction(len < 11 ? undefined : r.u32(), decimals)}`;
}

/** Binary-protocol TIME as text, sequential for the JSON fast path (ADR 0007). */
function readTime(r: PayloadReader, decimals: number | undefined): string {
  return sequential(timeText(r, decimals));
}

function timeText(r: PayloadReader, decimals: number | undefined): string {
  const len = r.u8();
  if (len === 0) return `00:00:00${fraction(undefined, decimals)}`;
  const negative = r.u8() === 1;
  const days = r.u32();
  const h = r.u8() + days * 24;
  const t = `${negative ? '-' : ''}${pad(h)}:${pad(r.u8())}:${pad(r.u8())}`;
  return `${t}${fraction(len >= 12 ? r.u32() : undefined, decimals)}`;
}

function isStringType(type: number): boolean {
  return (
    type === Type.VarChar ||
    type === Type.VarString ||
    type === Type.String ||
    type === Type.TinyBlob ||
    type === Type.MediumBlob ||
    type === Type.LongBlob ||
    type === Type.Blob ||
    type === Type.Json ||
    type === Type.Enum ||
    type === Type.Set ||
    type === Type.Decimal ||
    type === Type.NewDecimal
  );
}

/** Bytes that are not text: BIT, GEOMETRY, and strings in the binary charset (BLOB, BINARY, VARBINARY). */
function isBinaryBytes(type: number, binaryCharset: boolean): boolean {
  if (type === Type.Bit || type === Type.Geometry) return true;
  if (!binaryCharset) return false;
  return isStringType(type) && type !== Type.Decimal && type !== Type.NewDecimal && type !== Type.Json;
}

/**
 * String bytes of a parameter (or COM_STMT_SEND_LONG_DATA): no charset says whether they
 * are text, so bytes that are not UTF-8 (a BLOB bound from a byte buffer) become hex
 * rather than losing every such byte to U+FFFD.
 */
export function paramBytes(b: Buffer, type: number, budget: ValueBudget): string {
  return type === Type.Bit || type === Type.Geometry || !isUtf8(b) ? hexValue(b, budget) : textValue(b, budget);
}

/**
 * A text-protocol cell: numbers and dates stay the text the server sent;
 * BLOB / BINARY / VARBINARY cells (string types with the binary charset) become hex.
 */
export function textCell(v: Buffer | null, type: number, charset: number, budget: ValueBudget): Value {
  if (v === null) return null;
  return isBinaryBytes(type, charset === BINARY_CHARSET) ? hexValue(v, budget) : textValue(v, budget);
}

/** A binary result row: header 0x00, NULL bitmap with an offset of 2 bits, then the non-NULL values. */
export function decodeBinaryRow(
  p: Buffer,
  cols: Array<{ type: number; flags: number; charset: number; decimals: number }>,
  budget: ValueBudget,
): Value[] {
  const r = new PayloadReader(p, 1);
  const bitmap = r.bytes((cols.length + 7 + 2) >> 3);
  const out: Value[] = [];
  for (let i = 0; i < cols.length && !r.short; i++) {
    const bit = i + 2;
    if (bitmap[bit >> 3] & (1 << (bit & 7))) {
      out.push(null);
      continue;
    }
    const c = cols[i];
    out.push(readBinaryValue(r, c.type, (c.flags & 0x20) !== 0, c.charset === BINARY_CHARSET, budget, c.decimals));
  }
  return out;
}

export { ValueBudget };
