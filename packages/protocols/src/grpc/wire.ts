/**
 * Schema-less protobuf wire-format decoding (the `protoc --decode_raw` idea):
 * fields by number (key `f<number>`, see below), varints as numbers (decimal
 * strings past 2^53), nested messages where the bytes parse as one, text
 * where they are printable UTF-8, hex otherwise. The point is that downstream
 * PII scanning sees the strings.
 */
import { isUtf8 } from 'node:buffer';
import { sequential } from '@panopticon/events';

const MAX_DEPTH = 16;

export type WireValue = number | string | WireObject | WireValue[];
export interface WireObject {
  [field: string]: WireValue;
}

/**
 * Field 7 is keyed `f7`, not `7` (ADR 0203). A key that reads as an integer
 * is an array index to JavaScript: such objects enumerate in numeric order,
 * not in wire order, and V8 14's JSON.stringify fast path (about 3x on these
 * events) refuses them. The key strings of the usual field numbers are made
 * once, so each message type's objects share hidden classes.
 */
const FIELD_KEYS: readonly string[] = Array.from({ length: 128 }, (_, n) => `f${n}`);

function fieldKey(field: number): string {
  return field < FIELD_KEYS.length ? FIELD_KEYS[field] : `f${field}`;
}

/**
 * Thrown when bytes are not a message. Nested length-delimited fields are
 * tried as messages first and are often not, so this is thrown in normal
 * operation: it carries no stack trace (capturing one costs more than the
 * decode).
 */
class WireError {
  constructor(readonly message: string) {}
}

/** Buffer's native slicers (not in Node's typings): the text of a range without `toString`'s encoding dispatch. */
type Slicer = Buffer & { latin1Slice(start: number, end: number): string; utf8Slice(start: number, end: number): string };

/** Offset just after the varint last read by `readVarint` (one decode at a time, synchronously). */
let varintEnd = 0;

function readVarint(buf: Buffer, pos: number, end: number): bigint | number {
  // Keys and most lengths and values are one byte.
  if (pos < end && buf[pos] < 0x80) {
    varintEnd = pos + 1;
    return buf[pos];
  }
  let result = 0;
  let shift = 0;
  let scale = 1; // 2 ** shift, kept by multiplication rather than a power per byte
  // Fast path: up to 7 bytes fit a double exactly (49 bits).
  while (pos < end && shift < 49) {
    const b = buf[pos++];
    result += (b & 0x7f) * scale;
    if (!(b & 0x80)) {
      varintEnd = pos;
      return result;
    }
    shift += 7;
    scale *= 128;
  }
  let big = BigInt(result);
  while (pos < end) {
    const b = buf[pos++];
    big |= BigInt(b & 0x7f) << BigInt(shift);
    if (!(b & 0x80)) {
      varintEnd = pos;
      if (shift > 63) throw new WireError('varint longer than 10 bytes');
      return big;
    }
    shift += 7;
    if (shift > 63) throw new WireError('varint longer than 10 bytes');
  }
  throw new WireError('varint runs past the end');
}

function asNumber(v: bigint | number): number | string {
  if (typeof v === 'number') return v;
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
}

/**
 * A fixed64 beyond 2^53 is usually a double's bits (1.0 is 0x3ff0000000000000) or a hash, rarely a
 * count: as protoc --decode_raw does, it is written in hex. In decimal, doubles near 1 are 19 digits
 * from 45… to 46…, which pass a card-number check one time in ten.
 */
function fixed64(v: bigint): number | string {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : sequential(`0x${v.toString(16).padStart(16, '0')}`);
}

const TEXT_NONE = 0;
const TEXT_ASCII = 1;
const TEXT_UTF8 = 2;

/** Per byte value: 0 printable ASCII (and tab, LF, CR), 1 a control character (not text), 2 past ASCII. */
const BYTE_CLASS = new Uint8Array(256);
for (let c = 0; c < 256; c++) BYTE_CLASS[c] = (c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c === 0x7f ? 1 : c >= 0x80 ? 2 : 0;

/** Whether the bytes read as text: not at all, as ASCII, or as UTF-8 with bytes past ASCII. */
function textKind(buf: Buffer, start: number, end: number): number {
  // Control characters first: one table load per byte, which also tells
  // whether any byte is past ASCII. Only then is UTF-8 validity asked (a
  // view and a native call per field otherwise): ASCII is always valid UTF-8.
  let high = false;
  for (let i = start; i < end; i++) {
    const k = BYTE_CLASS[buf[i]];
    if (k !== 0) {
      if (k === 1) return TEXT_NONE;
      high = true;
    }
  }
  if (!high) return TEXT_ASCII;
  return isUtf8(buf.subarray(start, end)) ? TEXT_UTF8 : TEXT_NONE;
}

/** What `readField` last read (one at a time, synchronously, as `varintEnd`): its number, wire type, where it ends, and where a length-delimited value starts. */
let fieldNumber = 0;
let fieldWireType = 0;
let fieldEnd = 0;
let bytesStart = 0;

/**
 * Reads the field at `pos`: a varint or fixed-width value is returned, a
 * length-delimited one is not (undefined: its bytes are [bytesStart,
 * fieldEnd)). Throws a WireError where the bytes are not a field.
 */
function readField(buf: Buffer, pos: number, end: number): number | string | undefined {
  const key = readVarint(buf, pos, end);
  pos = varintEnd;
  const k = typeof key === 'number' ? key : Number(key & 0xffffffffn);
  const field = Math.floor(k / 8);
  const wireType = k & 7;
  if (field === 0 || field > 536870911) throw new WireError('invalid field number');
  fieldNumber = field;
  fieldWireType = wireType;
  let value: number | string | undefined;
  switch (wireType) {
    case 0:
      value = asNumber(readVarint(buf, pos, end));
      pos = varintEnd;
      break;
    case 1:
      if (pos + 8 > end) throw new WireError('fixed64 runs past the end');
      value = fixed64(buf.readBigUInt64LE(pos));
      pos += 8;
      break;
    case 5:
      if (pos + 4 > end) throw new WireError('fixed32 runs past the end');
      value = buf.readUInt32LE(pos);
      pos += 4;
      break;
    case 2: {
      const len = readVarint(buf, pos, end);
      pos = varintEnd;
      if (typeof len !== 'number' || pos + len > end) throw new WireError('length-delimited field runs past the end');
      bytesStart = pos;
      pos += len;
      break;
    }
    default:
      throw new WireError(`unsupported wire type ${wireType}`);
  }
  fieldEnd = pos;
  return value;
}

function decodeFields(buf: Buffer, start: number, end: number, depth: number): WireObject {
  let out: WireObject | undefined;
  let pos = start;
  while (pos < end) {
    const scalar = readField(buf, pos, end);
    // read before lengthDelimited, whose nested decode reads fields of its own
    const field = fieldNumber;
    pos = fieldEnd;
    const value: WireValue = scalar !== undefined ? scalar : lengthDelimited(buf, bytesStart, pos, depth);
    out ??= {};
    const name = fieldKey(field);
    const prev = out[name];
    if (prev === undefined) out[name] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else out[name] = [prev, value];
  }
  return out ?? {};
}

function lengthDelimited(buf: Buffer, start: number, end: number, depth: number): WireValue {
  if (start === end) return '';
  const text = textKind(buf, start, end);
  if (text === TEXT_ASCII) return (buf as Slicer).latin1Slice(start, end);
  if (text === TEXT_UTF8) return (buf as Slicer).utf8Slice(start, end);
  if (depth < MAX_DEPTH) {
    try {
      return decodeFields(buf, start, end, depth + 1);
    } catch {
      // not a message: fall through to bytes
    }
  }
  return buf.toString('hex', start, end);
}

/** Decodes one message; returns undefined when the bytes are not a protobuf message. */
export function decodeWire(buf: Buffer): WireObject | undefined {
  try {
    return decodeFields(buf, 0, buf.length, 0);
  } catch {
    return undefined;
  }
}

/** Whether the bytes are printable UTF-8 text, as the decode above tells text from bytes. */
export function isText(buf: Buffer): boolean {
  return textKind(buf, 0, buf.length) !== TEXT_NONE;
}

/** One field of a message, as `readFields` gives it: varints and fixed widths as numbers, length-delimited as its bytes. */
export interface RawField {
  field: number;
  wireType: number;
  value: number | string | Buffer;
}

/**
 * The top-level fields of one message, in wire order, for a reader that
 * knows the message's type (google.rpc.Status) and asks for field numbers.
 * Throws an Error with a one-line reason when the bytes are not a message.
 */
export function readFields(buf: Buffer): RawField[] {
  const out: RawField[] = [];
  let pos = 0;
  try {
    while (pos < buf.length) {
      const scalar = readField(buf, pos, buf.length);
      out.push({ field: fieldNumber, wireType: fieldWireType, value: scalar !== undefined ? scalar : buf.subarray(bytesStart, fieldEnd) });
      pos = fieldEnd;
    }
  } catch (e) {
    if (e instanceof WireError) throw new Error(e.message);
    throw e;
  }
  return out;
}
