/**
 * Kafka record data as carried in Produce requests and Fetch responses:
 * record batches (magic 2) and the legacy message sets (magic 0 and 1),
 * compressed or not. Decoding is bounded: at most `budget.records` records
 * and `budget.bytes` key/value bytes are kept per exchange; everything past
 * that is counted, not kept.
 */
import { gunzipSync } from 'node:zlib';
import { setOwn } from '@panopticon/events';
import { createRequire } from 'node:module';
import { bodyView, safeInt, type BodyView } from '../messaging/body.js';
import { KafkaRangeError, KafkaReader } from './reader.js';

const require = createRequire(import.meta.url);
// Pure-JS codecs, loaded lazily so that a missing one only makes its codec undecodable.
type Decompress = (input: Buffer, limit: number) => Buffer;
let codecs: Partial<Record<Compression, Decompress | null>> | undefined;

export type Compression = 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd';
const COMPRESSION: Compression[] = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];
/** Attribute bit (batches, and v1 messages): the broker stamped the log append time. */
const LOG_APPEND_TIME = 0x08;

/** Largest decompressed batch accepted (a decompression bomb costs no more than this). */
export const MAX_DECOMPRESSED = 16 * 1024 * 1024;

export interface KafkaRecord {
  /** absolute offset (Fetch); in a Produce request, relative until the response gives the base */
  offset?: number | string;
  timestamp?: number | string;
  key?: BodyView | null;
  value?: BodyView | null;
  headers?: KafkaHeaders;
}

/**
 * Header values by key, in the order they came. Keys may repeat (a record can
 * carry `trace: a` and `trace: b`), so every key holds a list, as repeated
 * HTTP fields do in `http.request.header`. Keys are kept as sent: Kafka does
 * not fold their case. Keys such as `__proto__` or `constructor` are headers
 * like any other (an own-array check and setOwn). A plain object, not a
 * prototype-less one: that is a dictionary, which keeps the whole event off
 * V8's JSON.stringify fast path (ADR 0007).
 */
export type KafkaHeaders = Record<string, Array<string | null>>;

export interface RecordsSummary {
  /** wire size of the record data */
  size: number;
  batches: number;
  /** records declared in the batches (kept or not) */
  count: number;
  magic?: number;
  compression?: Compression;
  /** set when some batch could not be decompressed: the codec and why */
  undecoded?: string;
  /** the last batch was cut (Fetch responses end on a partial batch by design) */
  partial?: boolean;
  producer_id?: number | string;
  transactional?: boolean;
  control?: boolean;
}

export interface RecordBudget {
  records: number;
  bytes: number;
  /** some header value was cut to fit `bytes` (a header is a string, with no truncated mark of its own) */
  headerCut?: boolean;
}

export function decodeRecords(data: Buffer, budget: RecordBudget, kept: KafkaRecord[]): RecordsSummary {
  const summary: RecordsSummary = { size: data.length, batches: 0, count: 0 };
  let off = 0;
  while (off + 17 <= data.length) {
    const batchLength = data.readInt32BE(off + 8);
    const end = off + 12 + batchLength;
    if (batchLength < 0) {
      summary.partial = true;
      break;
    }
    const magic = data.readInt8(off + 16);
    if (end > data.length) {
      // A cut batch (a Fetch reply ends on one; an oversized message is kept in
      // part): uncompressed records before the cut are still whole.
      summary.partial = true;
      if (magic === 2 && data.length - off >= 61) {
        summary.batches++;
        summary.magic = 2;
        try {
          decodeBatchV2(data.subarray(off), budget, kept, summary, true);
        } catch (err) {
          if (!(err instanceof KafkaRangeError)) throw err;
        }
      }
      break;
    }
    summary.magic = magic;
    summary.batches++;
    try {
      if (magic === 2) decodeBatchV2(data.subarray(off, end), budget, kept, summary);
      else if (magic === 0 || magic === 1) decodeLegacy(data.subarray(off, end), magic, budget, kept, summary);
      else summary.undecoded = `magic ${magic}`;
    } catch (err) {
      if (!(err instanceof KafkaRangeError)) throw err;
      summary.partial = true;
    }
    off = end;
  }
  if (off < data.length && !summary.partial) summary.partial = true;
  return summary;
}

function keep(b: Buffer | null, budget: RecordBudget): BodyView | null {
  if (b === null) return null;
  const n = Math.min(b.length, Math.max(0, budget.bytes));
  budget.bytes -= n;
  return bodyView(b.subarray(0, n), b.length);
}

function decodeBatchV2(batch: Buffer, budget: RecordBudget, kept: KafkaRecord[], summary: RecordsSummary, cut = false): void {
  const r = new KafkaReader(batch);
  const baseOffset = r.int64();
  r.int32(); // batch length
  r.int32(); // partition leader epoch
  r.int8(); // magic
  r.uint32(); // crc
  const attributes = r.int16();
  r.int32(); // last offset delta
  const baseTimestamp = r.int64();
  const maxTimestamp = r.int64();
  const producerId = r.int64();
  r.int16(); // producer epoch
  r.int32(); // base sequence
  const count = r.int32();
  summary.count += Math.max(0, count);
  const compression = COMPRESSION[attributes & 0x07] ?? 'none';
  if (compression !== 'none') summary.compression = compression;
  if (producerId >= 0n) summary.producer_id = safeInt(producerId);
  if (attributes & 0x10) summary.transactional = true;
  if (attributes & 0x20) summary.control = true;
  // LogAppendTime: the broker stamped the batch, not the records (their deltas are the producer's)
  const appendTime = attributes & LOG_APPEND_TIME ? safeInt(maxTimestamp) : undefined;
  if (budget.records <= 0) return;
  let body = batch.subarray(r.off);
  if (compression !== 'none') {
    if (cut) {
      summary.undecoded = `${compression}: batch cut before its end`;
      return;
    }
    const out = decompress(compression, body);
    if (typeof out === 'string') {
      summary.undecoded = out;
      return;
    }
    body = out;
  }
  const rr = new KafkaReader(body);
  for (let i = 0; i < count && budget.records > 0 && rr.remaining > 0; i++) {
    const length = rr.varint();
    // a damaged length would move the cursor back (then before the buffer): the rest is not records
    if (length < 0) throw new KafkaRangeError(`record length ${length}`);
    const next = rr.off + length;
    rr.int8(); // attributes
    const tsDelta = rr.varlong();
    const offsetDelta = rr.varint();
    const key = varBytes(rr);
    const value = varBytes(rr);
    const nh = rr.varint();
    const headers: KafkaHeaders | undefined = nh > 0 ? {} : undefined;
    for (let h = 0; h < nh; h++) {
      const hk = varBytes(rr);
      const hv = varBytes(rr);
      const name = hk ? hk.toString('utf8') : '';
      const v = hv ? keepText(hv, budget) : null;
      const seen = headers![name];
      if (Array.isArray(seen)) seen.push(v);
      else setOwn(headers!, name, [v]);
    }
    const rec: KafkaRecord = {
      offset: safeInt(baseOffset + BigInt(offsetDelta)),
      timestamp: appendTime ?? safeInt(baseTimestamp + tsDelta),
      key: keep(key, budget),
      value: keep(value, budget),
    };
    if (headers) rec.headers = headers;
    kept.push(rec);
    budget.records--;
    rr.off = next;
  }
}

function keepText(b: Buffer, budget: RecordBudget): string {
  const v = keep(b, budget)!;
  if (v.truncated) budget.headerCut = true;
  return v.content ?? b.subarray(0, Math.min(b.length, 64)).toString('hex');
}

function varBytes(r: KafkaReader): Buffer | null {
  const n = r.varint();
  if (n < 0) return null;
  const start = r.off;
  r.skip(n);
  return r.buf.subarray(start, start + n);
}

/** A v1 compressed message: its offset is the last inner message's, whose offsets are relative; its timestamp may be the broker's. */
interface LegacyWrapper {
  /** absolute offset of the inner message with relative offset 0 */
  base: bigint;
  /** LogAppendTime: every inner message has the wrapper's timestamp */
  timestamp?: bigint;
}

/** Message sets v0/v1: offset, size, crc, magic, attributes, [timestamp], key, value; compressed sets wrap an inner set in the value. */
function decodeLegacy(set: Buffer, magic: number, budget: RecordBudget, kept: KafkaRecord[], summary: RecordsSummary, wrapper?: LegacyWrapper): void {
  const r = new KafkaReader(set);
  while (r.remaining >= 12) {
    const offset = r.int64();
    const size = r.int32();
    if (size < 0 || size > r.remaining) {
      summary.partial = true;
      return;
    }
    const end = r.off + size;
    r.uint32(); // crc
    const m = r.int8();
    const attributes = r.int8();
    const timestamp = m >= 1 ? r.int64() : undefined;
    const key = r.bytes();
    const value = r.bytes();
    const compression = COMPRESSION[attributes & 0x07] ?? 'none';
    if (compression !== 'none' && value && !wrapper) {
      summary.compression = compression;
      const inner = decompress(compression, value);
      if (typeof inner === 'string') summary.undecoded = inner;
      else {
        // magic 1 (KIP-31): inner offsets are relative, the wrapper has the last one's absolute offset
        // (in a Produce request everything is relative, and some producers leave the wrapper at 0)
        const base = m >= 1 ? offset - lastLegacyOffset(inner) : 0n;
        const w: LegacyWrapper = { base: base > 0n ? base : 0n };
        if (m >= 1 && attributes & LOG_APPEND_TIME) w.timestamp = timestamp;
        decodeLegacy(inner, m, budget, kept, summary, w);
      }
    } else {
      summary.count++;
      if (budget.records > 0) {
        const rec: KafkaRecord = { offset: safeInt((wrapper?.base ?? 0n) + offset), key: keep(key, budget), value: keep(value, budget) };
        const ts = wrapper?.timestamp ?? timestamp;
        if (ts !== undefined) rec.timestamp = safeInt(ts);
        kept.push(rec);
        budget.records--;
      }
    }
    r.off = end;
  }
  if (r.remaining > 0) summary.partial = true;
  void magic;
}

/** Offset of the last whole message of a legacy message set (0 when there is none). */
function lastLegacyOffset(set: Buffer): bigint {
  let last = 0n;
  for (let off = 0; off + 12 <= set.length; ) {
    const size = set.readInt32BE(off + 8);
    if (size < 0 || off + 12 + size > set.length) break;
    last = set.readBigInt64BE(off);
    off += 12 + size;
  }
  return last;
}

/** The decompressed bytes, or a one-line reason why not. */
function decompress(codec: Compression, input: Buffer): Buffer | string {
  const fn = loadCodecs()[codec];
  if (!fn) return `${codec}: no decoder available`;
  try {
    return fn(input, MAX_DECOMPRESSED);
  } catch (err) {
    return `${codec}: ${(err as Error).message.split('\n')[0]}`;
  }
}

function loadCodecs(): Partial<Record<Compression, Decompress | null>> {
  if (codecs) return codecs;
  codecs = {
    gzip: (b, limit) => gunzipSync(b, { maxOutputLength: limit }),
    snappy: tryLoad(() => {
      const snappy = require('snappyjs') as { uncompress(b: Uint8Array, max?: number): Uint8Array };
      return (b, limit) => snappyDecode(b, limit, (block, max) => Buffer.from(snappy.uncompress(block, max)));
    }),
    lz4: tryLoad(() => {
      const lz4 = require('lz4js') as { decompress(b: Uint8Array, max?: number): Uint8Array; decompressBound(b: Uint8Array): number };
      return (b, limit) => {
        // lz4js allocates its output up front: size it from the frame, never from the limit.
        const bound = lz4.decompressBound(b);
        if (bound > limit) throw new Error(`frame may hold ${bound} bytes, more than ${limit}`);
        return Buffer.from(lz4.decompress(b, bound));
      };
    }),
    zstd: tryLoad(() => {
      const fzstd = require('fzstd') as { decompress(b: Uint8Array): Uint8Array };
      return (b, limit) => {
        const declared = zstdContentSize(b);
        if (declared !== undefined && declared > limit) throw new Error(`frame declares ${declared} bytes, more than ${limit}`);
        const out = Buffer.from(fzstd.decompress(b));
        if (out.length > limit) throw new Error(`more than ${limit} bytes`);
        return out;
      };
    }),
  };
  return codecs;
}

function tryLoad(f: () => Decompress): Decompress | null {
  try {
    return f();
  } catch {
    return null;
  }
}

const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);

/**
 * The Java client writes snappy in xerial's framing (magic, version,
 * compatible version, then length-prefixed raw blocks); other clients write
 * one raw snappy block. Both occur on the wire.
 */
function snappyDecode(b: Buffer, limit: number, block: (b: Buffer, max: number) => Buffer): Buffer {
  if (b.length < 16 || !b.subarray(0, 8).equals(XERIAL_MAGIC)) return block(b, limit);
  const parts: Buffer[] = [];
  let total = 0;
  let off = 16;
  while (off + 4 <= b.length) {
    const n = b.readUInt32BE(off);
    off += 4;
    if (off + n > b.length) throw new Error('xerial block past the end');
    const out = block(b.subarray(off, off + n), limit - total);
    total += out.length;
    if (total > limit) throw new Error(`more than ${limit} bytes`);
    parts.push(out);
    off += n;
  }
  return Buffer.concat(parts, total);
}

/** Frame_Content_Size from a zstd frame header, when present. */
function zstdContentSize(b: Buffer): number | undefined {
  if (b.length < 6 || b.readUInt32LE(0) !== 0xfd2fb528) return undefined;
  const fhd = b[4]!;
  const fcsFlag = fhd >> 6;
  const single = (fhd >> 5) & 1;
  const didFlag = fhd & 3;
  const fcsSize = fcsFlag === 0 ? (single ? 1 : 0) : 1 << fcsFlag;
  if (fcsSize === 0) return undefined;
  const at = 5 + (single ? 0 : 1) + [0, 1, 2, 4][didFlag]!;
  if (b.length < at + fcsSize) return undefined;
  if (fcsSize === 1) return b[at];
  if (fcsSize === 2) return b.readUInt16LE(at) + 256;
  if (fcsSize === 4) return b.readUInt32LE(at);
  return Number(b.readBigUInt64LE(at));
}
