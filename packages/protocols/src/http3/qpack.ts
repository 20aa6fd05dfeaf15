/**
 * QPACK (RFC 9204) as an observer decodes it: the static table, the
 * dynamic table the peer's encoder stream builds (§4.3: capacity,
 * insertions by name reference or literal name, duplicates), and field
 * sections of HEADERS frames (§4.5) against it: indexed and literal field
 * lines, relative to a Base, post-base references. A section that needs
 * insertions not yet seen is blocked: the caller holds it until the
 * encoder stream catches up (or the connection ends).
 * Huffman strings share HPACK's code. Bounded: the table by the capacity
 * the encoder set (at most MAX_CAPACITY), field sections by their caller.
 */
import { huffmanDecode, HuffmanError } from '../http2/huffman.js';
import { HpackError, HpackTruncated, readInteger, type HeaderList } from '../http2/hpack.js';

/** RFC 9204 Appendix A, index 0 to 98. */
export const QPACK_STATIC: ReadonlyArray<readonly [string, string]> = [
  [':authority', ''], [':path', '/'], ['age', '0'], ['content-disposition', ''], ['content-length', '0'], ['cookie', ''],
  ['date', ''], ['etag', ''], ['if-modified-since', ''], ['if-none-match', ''], ['last-modified', ''], ['link', ''],
  ['location', ''], ['referer', ''], ['set-cookie', ''], [':method', 'CONNECT'], [':method', 'DELETE'], [':method', 'GET'],
  [':method', 'HEAD'], [':method', 'OPTIONS'], [':method', 'POST'], [':method', 'PUT'], [':scheme', 'http'], [':scheme', 'https'],
  [':status', '103'], [':status', '200'], [':status', '304'], [':status', '404'], [':status', '503'], ['accept', '*/*'],
  ['accept', 'application/dns-message'], ['accept-encoding', 'gzip, deflate, br'], ['accept-ranges', 'bytes'],
  ['access-control-allow-headers', 'cache-control'], ['access-control-allow-headers', 'content-type'],
  ['access-control-allow-origin', '*'], ['cache-control', 'max-age=0'], ['cache-control', 'max-age=2592000'],
  ['cache-control', 'max-age=604800'], ['cache-control', 'no-cache'], ['cache-control', 'no-store'],
  ['cache-control', 'public, max-age=31536000'], ['content-encoding', 'br'], ['content-encoding', 'gzip'],
  ['content-type', 'application/dns-message'], ['content-type', 'application/javascript'], ['content-type', 'application/json'],
  ['content-type', 'application/x-www-form-urlencoded'], ['content-type', 'image/gif'], ['content-type', 'image/jpeg'],
  ['content-type', 'image/png'], ['content-type', 'text/css'], ['content-type', 'text/html; charset=utf-8'],
  ['content-type', 'text/plain'], ['content-type', 'text/plain;charset=utf-8'], ['range', 'bytes=0-'],
  ['strict-transport-security', 'max-age=31536000'], ['strict-transport-security', 'max-age=31536000; includesubdomains'],
  ['strict-transport-security', 'max-age=31536000; includesubdomains; preload'], ['vary', 'accept-encoding'], ['vary', 'origin'],
  ['x-content-type-options', 'nosniff'], ['x-xss-protection', '1; mode=block'], [':status', '100'], [':status', '204'],
  [':status', '206'], [':status', '302'], [':status', '400'], [':status', '403'], [':status', '421'], [':status', '425'],
  [':status', '500'], ['accept-language', ''], ['access-control-allow-credentials', 'FALSE'],
  ['access-control-allow-credentials', 'TRUE'], ['access-control-allow-headers', '*'], ['access-control-allow-methods', 'get'],
  ['access-control-allow-methods', 'get, post, options'], ['access-control-allow-methods', 'options'],
  ['access-control-expose-headers', 'content-length'], ['access-control-request-headers', 'content-type'],
  ['access-control-request-method', 'get'], ['access-control-request-method', 'post'], ['alt-svc', 'clear'],
  ['authorization', ''], ['content-security-policy', "script-src 'none'; object-src 'none'; base-uri 'none'"],
  ['early-data', '1'], ['expect-ct', ''], ['forwarded', ''], ['if-range', ''], ['origin', ''], ['purpose', 'prefetch'],
  ['server', ''], ['timing-allow-origin', '*'], ['upgrade-insecure-requests', '1'], ['user-agent', ''],
  ['x-forwarded-for', ''], ['x-frame-options', 'deny'], ['x-frame-options', 'sameorigin'],
];

/** The largest dynamic table an observer keeps (the encoder's capacity is bounded by the decoder's SETTINGS; 64 KiB is far above common ones). */
export const MAX_CAPACITY = 64 * 1024;

export class QpackError extends Error {}
/** The input ended inside an instruction or field line: on the encoder stream, the rest may come. */
class QpackTruncated extends QpackError {}

/** What a field section decoded to (the shape HPACK's decoder gives; QPACK's references are never unknown: a section waits for its entries). */
export interface DecodedSection {
  headers: HeaderList;
  missing: number;
}

/** §4.1.1 prefixed integer: HPACK's (RFC 7541 §5.1), its errors as QPACK's. */
function integer(b: Buffer, c: { pos: number }, end: number, prefix: number): number {
  try {
    return readInteger(b, c, end, prefix);
  } catch (e) {
    if (e instanceof HpackTruncated) throw new QpackTruncated('ends inside an integer');
    if (e instanceof HpackError) throw new QpackError(e.message);
    throw e;
  }
}

/** §4.1.2 string literal: its H bit is the bit above the `prefix`-bit length. */
function string(b: Buffer, c: { pos: number }, end: number, prefix: number): string {
  if (c.pos >= end) throw new QpackTruncated('ends inside a string');
  const huffman = (b[c.pos]! & (1 << prefix)) !== 0;
  const len = integer(b, c, end, prefix);
  if (c.pos + len > end) throw new QpackTruncated('ends inside a string (its length runs past)');
  const start = c.pos;
  c.pos += len;
  if (!huffman) return b.toString('latin1', start, start + len);
  try {
    return huffmanDecode(b, start, len);
  } catch (e) {
    if (e instanceof HuffmanError) throw new QpackError(e.message);
    throw e;
  }
}

/** §3.2.1: an entry's size is its name's and value's lengths plus 32. */
const entrySize = (name: string, value: string) => name.length + value.length + 32;

export class QpackDecoder {
  /** Entries by absolute index (the oldest evicted from the front). */
  private entries: Array<readonly [string, string]> = [];
  /** Index in `entries` of the oldest kept (eviction moves it; the array is compacted now and then). */
  private head = 0;
  /** Absolute index of entries[0]. */
  private dropped = 0;
  private size = 0;
  private capacity = 0;
  /** Encoder stream bytes not yet a whole instruction. */
  private pending: Buffer | null = null;

  /**
   * The decoding endpoint's SETTINGS_QPACK_MAX_TABLE_CAPACITY (§5), which
   * Required Insert Counts are encoded against; undefined until its
   * SETTINGS are read (0 when it sent none).
   */
  maxTableCapacity: number | undefined;

  constructor(private readonly maxCapacity = MAX_CAPACITY) {}

  /** Entries inserted since the connection began (§2.1.4 Insert Count). */
  get insertCount(): number {
    return this.dropped + this.entries.length - this.head;
  }

  /** Bytes of the peer's encoder stream, in order; instructions cut across calls are joined. Throws QpackError on damage. */
  encoderStream(data: Buffer): void {
    const b = this.pending ? Buffer.concat([this.pending, data]) : data;
    this.pending = null;
    const c = { pos: 0 };
    while (c.pos < b.length) {
      const start = c.pos;
      try {
        this.instruction(b, c);
      } catch (e) {
        if (!(e instanceof QpackTruncated)) throw e;
        if (b.length - start > 2 * this.maxCapacity + 64) throw new QpackError('encoder instruction larger than the table');
        this.pending = Buffer.from(b.subarray(start));
        return;
      }
    }
  }

  private instruction(b: Buffer, c: { pos: number }): void {
    const first = b[c.pos]!;
    if (first & 0x80) {
      // §4.3.2 Insert with Name Reference: 1 T index(6), value
      const isStatic = (first & 0x40) !== 0;
      const index = integer(b, c, b.length, 6);
      const value = string(b, c, b.length, 7);
      const name = isStatic ? QPACK_STATIC[index]?.[0] : this.relative(index)?.[0];
      if (isStatic && name === undefined) throw new QpackError(`static index ${index} out of range`);
      this.insert(name, value);
    } else if (first & 0x40) {
      // §4.3.3 Insert with Literal Name: 01 H len(5) name, value
      const name = string(b, c, b.length, 5);
      const value = string(b, c, b.length, 7);
      this.insert(name, value);
    } else if (first & 0x20) {
      // §4.3.1 Set Dynamic Table Capacity: 001 capacity(5)
      const capacity = integer(b, c, b.length, 5);
      if (capacity > this.maxCapacity) throw new QpackError(`table capacity ${capacity} above the observer's ${this.maxCapacity}`);
      this.capacity = capacity;
      this.evict(0);
    } else {
      // §4.3.4 Duplicate: 000 index(5)
      const e = this.relative(integer(b, c, b.length, 5));
      this.insert(e?.[0], e?.[1]);
    }
  }

  /** The entry `index` back from the newest (§3.2.5 relative indexing on the encoder stream). */
  private relative(index: number): readonly [string, string] | undefined {
    const abs = this.insertCount - 1 - index;
    return this.absolute(abs);
  }

  private absolute(abs: number): readonly [string, string] {
    if (abs < 0 || abs >= this.insertCount) throw new QpackError(`dynamic index ${abs} not inserted`);
    if (abs < this.dropped) throw new QpackError(`dynamic index ${abs} already evicted`);
    return this.entries[this.head + abs - this.dropped]!;
  }

  private insert(name: string | undefined, value: string | undefined): void {
    if (name === undefined || value === undefined) throw new QpackError('insertion refers to no entry');
    const e: readonly [string, string] = [name, value];
    const size = entrySize(e[0], e[1]);
    if (size > this.capacity) throw new QpackError(`entry of ${size} bytes above the table capacity ${this.capacity}`);
    this.evict(size);
    this.entries.push(e);
    this.size += size;
  }

  private evict(room: number): void {
    while (this.size + room > this.capacity && this.head < this.entries.length) {
      const [n, v] = this.entries[this.head++]!;
      this.size -= entrySize(n, v);
      this.dropped++;
    }
    // drop the evicted front now and then, not on every eviction
    if (this.head > 64 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
  }

  /**
   * The Required Insert Count a field section needs (§4.5.1.1), from its
   * encoded form, or undefined while the decoding endpoint's SETTINGS it is
   * encoded against are not known. A section whose count is above
   * insertCount waits for the encoder stream.
   */
  requiredInsertCount(b: Buffer, start: number, end: number): number | undefined {
    const encoded = integer(b, { pos: start }, end, 8);
    if (encoded === 0) return 0;
    if (this.maxTableCapacity === undefined) return undefined;
    const maxEntries = Math.floor(this.maxTableCapacity / 32);
    const fullRange = 2 * maxEntries;
    if (encoded > fullRange) throw new QpackError('Required Insert Count out of range');
    const maxValue = this.insertCount + maxEntries;
    const maxWrapped = Math.floor(maxValue / fullRange) * fullRange;
    let ric = maxWrapped + encoded - 1;
    if (ric > maxValue) {
      if (ric <= fullRange) throw new QpackError('Required Insert Count out of range');
      ric -= fullRange;
    }
    if (ric === 0) throw new QpackError('Required Insert Count of 0 encoded as non-zero');
    return ric;
  }

  /** Decodes a whole field section (a HEADERS frame's payload) whose Required Insert Count is ≤ insertCount. */
  decode(b: Buffer, start: number, end: number): DecodedSection {
    const c = { pos: start };
    const ric = this.requiredInsertCount(b, start, end);
    if (ric === undefined || ric > this.insertCount) throw new QpackError('field section decoded before its entries');
    integer(b, c, end, 8);
    if (c.pos >= end) throw new QpackError('field section ends in its prefix');
    const negative = (b[c.pos]! & 0x80) !== 0;
    const delta = integer(b, c, end, 7);
    const base = negative ? ric - delta - 1 : ric + delta;
    if (base < 0) throw new QpackError('negative Base');
    const headers: HeaderList = [];
    const missing = 0;
    const dyn = (abs: number): readonly [string, string] => {
      if (abs >= ric) throw new QpackError(`reference to entry ${abs} beyond the Required Insert Count ${ric}`);
      return this.absolute(abs);
    };
    while (c.pos < end) {
      const x = b[c.pos]!;
      let field: readonly [string, string] | undefined;
      if (x & 0x80) {
        // §4.5.2 Indexed Field Line: 1 T index(6)
        const isStatic = (x & 0x40) !== 0;
        const index = integer(b, c, end, 6);
        field = isStatic ? QPACK_STATIC[index] : dyn(base - 1 - index);
        if (isStatic && !field) throw new QpackError(`static index ${index} out of range`);
      } else if (x & 0x40) {
        // §4.5.4 Literal Field Line with Name Reference: 01 N T index(4), value
        const isStatic = (x & 0x10) !== 0;
        const index = integer(b, c, end, 4);
        const value = string(b, c, end, 7);
        const ref = isStatic ? QPACK_STATIC[index] : dyn(base - 1 - index);
        if (isStatic && !ref) throw new QpackError(`static index ${index} out of range`);
        field = [ref![0], value];
      } else if (x & 0x20) {
        // §4.5.6 Literal Field Line with Literal Name: 001 N H len(3) name, value
        const name = string(b, c, end, 3);
        field = [name, string(b, c, end, 7)];
      } else if (x & 0x10) {
        // §4.5.3 Indexed Field Line with Post-Base Index: 0001 index(4)
        field = dyn(base + integer(b, c, end, 4));
      } else {
        // §4.5.5 Literal Field Line with Post-Base Name Reference: 0000 N index(3), value
        const index = integer(b, c, end, 3);
        const value = string(b, c, end, 7);
        field = [dyn(base + index)[0], value];
      }
      if (!field) throw new QpackError('field line refers to no entry');
      headers.push([field[0], field[1]]);
    }
    return { headers, missing };
  }
}
