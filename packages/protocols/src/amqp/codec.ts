/**
 * AMQP 0-9-1 data types: method arguments (with packed bits), field tables
 * and arrays with every value type (the 0-9-1 spec's and RabbitMQ's, which
 * differ: RabbitMQ reads `s` as a signed 16-bit integer and `l` as a signed
 * 64-bit one), and basic content headers.
 */
import { safeInt } from '../messaging/body.js';
import { BASIC_PROPERTIES, type ArgType } from './constants.js';
import { setOwn } from '@panopticon/events';

export class AmqpDecodeError extends Error {}

const MAX_TABLE_DEPTH = 16;

export class AmqpReader {
  constructor(
    readonly buf: Buffer,
    public off: number,
    readonly end: number = buf.length,
  ) {}

  private need(n: number): void {
    if (this.off + n > this.end) throw new AmqpDecodeError(`need ${n} bytes at offset ${this.off}, frame ends at ${this.end}`);
  }

  octet(): number {
    this.need(1);
    return this.buf[this.off++]!;
  }

  short(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.off);
    this.off += 2;
    return v;
  }

  long(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.off);
    this.off += 4;
    return v;
  }

  longlong(): bigint {
    this.need(8);
    const v = this.buf.readBigUInt64BE(this.off);
    this.off += 8;
    return v;
  }

  shortstr(): string {
    const n = this.octet();
    this.need(n);
    const s = this.buf.toString('utf8', this.off, this.off + n);
    this.off += n;
    return s;
  }

  longstrBytes(): Buffer {
    const n = this.long();
    this.need(n);
    const b = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    return b;
  }

  table(depth = 0): Record<string, unknown> {
    const bytes = this.longstrBytes();
    const r = new AmqpReader(bytes, 0);
    const out: Record<string, unknown> = {};
    while (r.off < bytes.length) {
      const key = r.shortstr();
      setOwn(out, key, r.fieldValue(depth + 1));
    }
    return out;
  }

  private array(depth: number): unknown[] {
    const bytes = this.longstrBytes();
    const r = new AmqpReader(bytes, 0);
    const out: unknown[] = [];
    while (r.off < bytes.length) out.push(r.fieldValue(depth + 1));
    return out;
  }

  fieldValue(depth: number): unknown {
    if (depth > MAX_TABLE_DEPTH) throw new AmqpDecodeError(`field tables nested deeper than ${MAX_TABLE_DEPTH}`);
    const type = String.fromCharCode(this.octet());
    switch (type) {
      case 't':
        return this.octet() !== 0;
      case 'b':
        this.need(1);
        return this.buf.readInt8(this.off++);
      case 'B':
        return this.octet();
      case 's': // RabbitMQ: short-int
      case 'U': {
        this.need(2);
        const v = this.buf.readInt16BE(this.off);
        this.off += 2;
        return v;
      }
      case 'u':
        return this.short();
      case 'I': {
        this.need(4);
        const v = this.buf.readInt32BE(this.off);
        this.off += 4;
        return v;
      }
      case 'i':
        return this.long();
      case 'l': // RabbitMQ: signed long-long
      case 'L': {
        this.need(8);
        const v = this.buf.readBigInt64BE(this.off);
        this.off += 8;
        return safeInt(v);
      }
      case 'f': {
        this.need(4);
        const v = this.buf.readFloatBE(this.off);
        this.off += 4;
        return v;
      }
      case 'd': {
        this.need(8);
        const v = this.buf.readDoubleBE(this.off);
        this.off += 8;
        return v;
      }
      case 'D': {
        const scale = this.octet();
        this.need(4);
        const unscaled = this.buf.readInt32BE(this.off);
        this.off += 4;
        return { decimal: unscaled / 10 ** scale };
      }
      case 'S':
        return this.longstrBytes().toString('utf8');
      case 'x':
        return { bytes: this.longstrBytes().toString('base64') };
      case 'A':
        return this.array(depth);
      case 'T':
        return safeInt(this.longlong());
      case 'F':
        return this.table(depth);
      case 'V':
        return null;
      default:
        throw new AmqpDecodeError(`unknown field value type '${type}' at offset ${this.off - 1}`);
    }
  }
}

/**
 * Method arguments in order; consecutive bits share octets, low bit first.
 * Secrets (SASL responses, update-secret) are reported by size only.
 */
export function decodeArgs(r: AmqpReader, args: Array<[string, ArgType]>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  let bits = 0;
  let bitIndex = 8;
  for (const [name, type] of args) {
    if (type !== 'bit') bitIndex = 8;
    switch (type) {
      case 'bit':
        if (bitIndex >= 8) {
          bits = r.octet();
          bitIndex = 0;
        }
        out[name] = ((bits >> bitIndex++) & 1) === 1;
        break;
      case 'octet':
        out[name] = r.octet();
        break;
      case 'short':
        out[name] = r.short();
        break;
      case 'long':
        out[name] = r.long();
        break;
      case 'longlong':
      case 'timestamp':
        out[name] = safeInt(r.longlong());
        break;
      case 'shortstr':
        out[name] = r.shortstr();
        break;
      case 'longstr':
        out[name] = r.longstrBytes().toString('utf8');
        break;
      case 'secret':
        out[name] = { size: r.longstrBytes().length };
        break;
      case 'table':
        out[name] = r.table();
        break;
    }
  }
  return out;
}

export interface ContentHeader {
  classId: number;
  bodySize: number;
  properties: Record<string, unknown>;
}

/** class-id, weight, body size, property flags (chained by bit 0), properties. */
export function decodeContentHeader(r: AmqpReader): ContentHeader {
  const classId = r.short();
  r.short(); // weight, unused
  const bodySize = Number(r.longlong());
  const flags: number[] = [];
  do flags.push(r.short());
  while ((flags[flags.length - 1]! & 1) === 1 && flags.length < 4);
  const properties: Record<string, unknown> = {};
  const first = flags[0]!;
  BASIC_PROPERTIES.forEach(([name, type], i) => {
    if ((first & (1 << (15 - i))) === 0) return;
    switch (type) {
      case 'shortstr':
        properties[name] = r.shortstr();
        break;
      case 'table':
        properties[name] = r.table();
        break;
      case 'octet':
        properties[name] = r.octet();
        break;
      case 'timestamp':
        properties[name] = safeInt(r.longlong());
        break;
    }
  });
  return { classId, bodySize, properties };
}
