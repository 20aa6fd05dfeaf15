/**
 * HPACK header compression (RFC 7541): the decoder a passive observer needs,
 * plus a small encoder used to build test and benchmark data.
 *
 * An observer that joined a connection late has not seen the insertions that
 * built the peer's dynamic table. It then keeps only what it has seen itself
 * (newest entries, whose positions are exact) and knows that older, unknown
 * entries may sit behind them. A reference to one of those makes the header
 * block `undecodable`; it is never guessed. Once the entries we saw fill the
 * table by themselves, or a size update empties it, the table is known again.
 */
import { HuffmanError, huffmanDecode, huffmanEncode, huffmanEncodedLength } from './huffman.js';

// prettier-ignore
export const STATIC_TABLE: ReadonlyArray<readonly [string, string]> = [
  ['', ''], // index 0 is not used
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'],
  [':scheme', 'http'], [':scheme', 'https'], [':status', '200'], [':status', '204'], [':status', '206'],
  [':status', '304'], [':status', '400'], [':status', '404'], [':status', '500'], ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'], ['accept-language', ''], ['accept-ranges', ''], ['accept', ''],
  ['access-control-allow-origin', ''], ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''],
  ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''], ['date', ''],
  ['etag', ''], ['expect', ''], ['expires', ''], ['from', ''], ['host', ''], ['if-match', ''],
  ['if-modified-since', ''], ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''],
  ['last-modified', ''], ['link', ''], ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''],
  ['proxy-authorization', ''], ['range', ''], ['referer', ''], ['refresh', ''], ['retry-after', ''],
  ['server', ''], ['set-cookie', ''], ['strict-transport-security', ''], ['transfer-encoding', ''],
  ['user-agent', ''], ['vary', ''], ['via', ''], ['www-authenticate', ''],
];
const STATIC_LENGTH = STATIC_TABLE.length - 1; // 61
/** The static table as the entries `lookup` returns, built once rather than per reference. */
const STATIC_ENTRIES: ReadonlyArray<{ readonly name: string; readonly value: string }> = STATIC_TABLE.map(([name, value]) => ({ name, value }));

/**
 * Largest dynamic table this observer keeps (1 MiB). Peers announce at most a
 * few KiB in practice; a larger size update is treated as damage, which turns
 * the table unknown (so nothing is guessed) instead of letting one connection
 * grow the observer's memory at will.
 */
export const MAX_OBSERVED_TABLE_SIZE = 1 << 20;

/** RFC 7541 §4.1: an entry's size is its name and value lengths plus 32. */
const ENTRY_OVERHEAD = 32;

export class HpackError extends Error {}
/** The input ended inside an integer: more bytes may complete it (QPACK's encoder stream waits for them). */
export class HpackTruncated extends HpackError {}

export type HeaderList = Array<[string, string]>;

export interface DecodedBlock {
  headers: HeaderList;
  /** Representations that referred to dynamic-table state we never saw. */
  missing: number;
}

interface Entry {
  name: string;
  value: string;
  size: number;
  /** False for an entry inserted with a name we could not resolve. */
  known: boolean;
}

export class DynamicTable {
  /** Newest first. */
  entries: Entry[] = [];
  size = 0;
  /** Current maximum size, set by the encoder's size updates. */
  maxSize: number;
  /** Older entries we never saw may exist behind `entries`. */
  unknownTail: boolean;

  constructor(maxSize: number, known: boolean) {
    this.maxSize = maxSize;
    this.unknownTail = !known;
  }

  get(index: number): Entry | undefined {
    return this.entries[index - STATIC_LENGTH - 1];
  }

  insert(name: string, value: string, known: boolean): void {
    const size = name.length + value.length + ENTRY_OVERHEAD;
    if (!known) {
      // Its exact size is unknown (name unseen), so nothing older can be placed any more.
      this.entries = [];
      this.size = 0;
      this.unknownTail = true;
    }
    this.evictFor(size);
    if (size > this.maxSize) {
      // An entry larger than the table empties it (§4.4), which also settles what was unknown.
      this.entries = [];
      this.size = 0;
      if (known) this.unknownTail = false;
      return;
    }
    this.entries.unshift({ name, value, size, known });
    this.size += size;
  }

  resize(maxSize: number): void {
    this.maxSize = maxSize;
    this.evictFor(0);
    if (maxSize === 0) this.unknownTail = false;
  }

  private evictFor(incoming: number): void {
    while (this.entries.length && this.size + incoming > this.maxSize) {
      this.size -= this.entries.pop()!.size;
      // What we saw alone overflowed the table: anything older is gone.
      this.unknownTail = false;
    }
    // Every entry we have is known-size and together they leave no room for
    // an unseen one: the unseen tail has been evicted.
    if (this.unknownTail && this.entries.every((e) => e.known) && this.maxSize - this.size - incoming < ENTRY_OVERHEAD) {
      this.unknownTail = false;
    }
  }
}

export interface HpackDecoderOptions {
  /** SETTINGS_HEADER_TABLE_SIZE the decoding side advertised (default 4096): the bound for size updates. */
  maxTableSize?: number;
  /** False when the connection was joined mid-stream and earlier insertions were missed. */
  known?: boolean;
  /** Bytes of name+value accepted per block before it is declared too large. */
  maxHeaderListBytes?: number;
}

export class HpackDecoder {
  readonly table: DynamicTable;
  /** Upper bound for dynamic table size updates: the decoder side's SETTINGS_HEADER_TABLE_SIZE. */
  settingsMaxSize: number;
  private readonly maxHeaderListBytes: number;

  constructor(opts: HpackDecoderOptions = {}) {
    this.settingsMaxSize = opts.maxTableSize ?? 4096;
    this.table = new DynamicTable(this.settingsMaxSize, opts.known ?? true);
    this.maxHeaderListBytes = opts.maxHeaderListBytes ?? 64 * 1024;
  }

  /** The decoding endpoint acknowledged a new SETTINGS_HEADER_TABLE_SIZE. */
  setSettingsMaxSize(size: number): void {
    this.settingsMaxSize = size;
  }

  /** Decodes one complete header block. Throws HpackError when the block is malformed. */
  decode(buf: Buffer, start = 0, end = buf.length): DecodedBlock {
    const headers: HeaderList = [];
    let missing = 0;
    let listBytes = 0;
    let sawHeader = false;
    const cursor = { pos: start };
    while (cursor.pos < end) {
      const b = buf[cursor.pos];
      if (b & 0x80) {
        // §6.1 indexed header field
        const index = readInteger(buf, cursor, end, 7);
        if (index === 0) throw new HpackError('indexed header field with index 0');
        const e = this.lookup(index);
        sawHeader = true;
        if (!e) { missing++; continue; }
        headers.push([e.name, e.value]);
        listBytes += e.name.length + e.value.length;
      } else if ((b & 0xe0) === 0x20) {
        // §6.3 dynamic table size update: only before the first header
        if (sawHeader) throw new HpackError('dynamic table size update after a header field');
        const size = readInteger(buf, cursor, end, 5);
        if (size > this.settingsMaxSize) throw new HpackError(`table size update ${size} exceeds SETTINGS_HEADER_TABLE_SIZE ${this.settingsMaxSize}`);
        if (size > MAX_OBSERVED_TABLE_SIZE) throw new HpackError(`table size update ${size} exceeds the observer's ${MAX_OBSERVED_TABLE_SIZE}-byte bound`);
        this.table.resize(size);
      } else {
        // §6.2 literal: with incremental indexing (01), without (0000), never indexed (0001)
        const incremental = (b & 0xc0) === 0x40;
        const nameIndex = readInteger(buf, cursor, end, incremental ? 6 : 4);
        let name: string | undefined;
        if (nameIndex === 0) name = readString(buf, cursor, end);
        else name = this.lookup(nameIndex)?.name;
        const value = readString(buf, cursor, end);
        sawHeader = true;
        if (incremental) this.table.insert(name ?? '', value, name !== undefined);
        if (name === undefined) { missing++; continue; }
        headers.push([name, value]);
        listBytes += name.length + value.length;
      }
      if (listBytes > this.maxHeaderListBytes) throw new HpackError(`header list larger than ${this.maxHeaderListBytes} bytes`);
    }
    return { headers, missing };
  }

  private lookup(index: number): { name: string; value: string } | undefined {
    if (index <= STATIC_LENGTH) return STATIC_ENTRIES[index];
    const e = this.table.get(index);
    if (e) return e.known ? e : undefined;
    if (this.table.unknownTail) return undefined;
    throw new HpackError(`index ${index} beyond the dynamic table`);
  }
}

/** §5.1 prefixed integer. */
export function readInteger(buf: Buffer, cursor: { pos: number }, end: number, prefixBits: number): number {
  if (cursor.pos >= end) throw new HpackTruncated('header block ends inside an integer');
  const max = (1 << prefixBits) - 1;
  let value = buf[cursor.pos++] & max;
  if (value < max) return value;
  let shift = 0;
  for (;;) {
    if (cursor.pos >= end) throw new HpackTruncated('header block ends inside an integer');
    const b = buf[cursor.pos++];
    value += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if (!(b & 0x80)) break;
    // 2^28 is far beyond any legal length or index here; longer means damage.
    if (shift > 28) throw new HpackError('HPACK integer too large');
  }
  return value;
}

/** §5.2 string literal, Huffman or raw; returned as latin1 (octets one-to-one). */
function readString(buf: Buffer, cursor: { pos: number }, end: number): string {
  if (cursor.pos >= end) throw new HpackError('header block ends inside a string');
  const huffman = (buf[cursor.pos] & 0x80) !== 0;
  const len = readInteger(buf, cursor, end, 7);
  if (cursor.pos + len > end) throw new HpackError('string literal runs past the header block');
  const start = cursor.pos;
  cursor.pos += len;
  if (!huffman) return buf.toString('latin1', start, start + len);
  try {
    return huffmanDecode(buf, start, len);
  } catch (err) {
    if (err instanceof HuffmanError) throw new HpackError(err.message);
    throw err;
  }
}

/**
 * A small HPACK encoder: static-table matches, incremental indexing into its
 * own dynamic table, Huffman when shorter. Enough to produce realistic blocks
 * for tests and benchmarks; the observer never encodes.
 */
export class HpackEncoder {
  private readonly table = new DynamicTable(4096, true);

  encode(headers: HeaderList, opts: { huffman?: boolean; index?: boolean } = {}): Buffer {
    const parts: Buffer[] = [];
    for (const [name, value] of headers) {
      const full = this.find(name, value, true);
      if (full) {
        parts.push(encodeInteger(full, 7, 0x80));
        continue;
      }
      const nameIdx = this.find(name, value, false) ?? 0;
      const index = opts.index ?? true;
      parts.push(encodeInteger(nameIdx, index ? 6 : 4, index ? 0x40 : 0x00));
      if (nameIdx === 0) parts.push(encodeString(name, opts.huffman ?? true));
      parts.push(encodeString(value, opts.huffman ?? true));
      if (index) this.table.insert(name, value, true);
    }
    return Buffer.concat(parts);
  }

  private find(name: string, value: string, needValue: boolean): number | undefined {
    for (let i = 1; i <= STATIC_LENGTH; i++) {
      const [n, v] = STATIC_TABLE[i];
      if (n === name && (!needValue || v === value)) return i;
    }
    const es = this.table.entries;
    for (let i = 0; i < es.length; i++) {
      if (es[i].name === name && (!needValue || es[i].value === value)) return STATIC_LENGTH + 1 + i;
    }
    return undefined;
  }
}

export function encodeInteger(value: number, prefixBits: number, firstByteFlags: number): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([firstByteFlags | value]);
  const out = [firstByteFlags | max];
  let v = value - max;
  while (v >= 128) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
}

function encodeString(s: string, huffman: boolean): Buffer {
  if (huffman && huffmanEncodedLength(s) < s.length) {
    const h = huffmanEncode(s);
    return Buffer.concat([encodeInteger(h.length, 7, 0x80), h]);
  }
  return Buffer.concat([encodeInteger(s.length, 7, 0), Buffer.from(s, 'latin1')]);
}
