/**
 * Scripted conversations for unit tests of stream parsers: feed them whole,
 * split at chosen offsets, byte by byte, or coalesced like TCP would.
 */
import type { Dir } from '@panopticon/flows';
import type { ExchangeRecord, StreamParser } from '../../packages/protocols/src/types.js';

/** One side's bytes at one moment of a conversation. */
export interface Segment {
  dir: Dir;
  bytes: Buffer;
}

/**
 * Feeds a conversation; `cut(segmentIndex, bytes)` returns the chunks each
 * segment is delivered in (default: whole). A segment's timestamp is its
 * index (ns), so tests can check start and end times.
 */
export function feed(parser: StreamParser, script: Segment[], cut?: (i: number, bytes: Buffer) => Buffer[]): void {
  script.forEach((s, i) => {
    const chunks = cut ? cut(i, s.bytes) : [s.bytes];
    for (const c of chunks) if (c.length) parser.data(s.dir, c, BigInt(i));
  });
}

/** Every byte its own chunk. */
export function bytewise(b: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; i++) out.push(b.subarray(i, i + 1));
  return out;
}

/** Two chunks cut at `at`. */
export function splitAt(b: Buffer, at: number): Buffer[] {
  return [b.subarray(0, at), b.subarray(at)];
}

/** Consecutive segments of one direction merged (TCP coalescing). */
export function coalesce(script: Segment[]): Segment[] {
  const out: Segment[] = [];
  for (const s of script) {
    const last = out[out.length - 1];
    if (last && last.dir === s.dir) last.bytes = Buffer.concat([last.bytes, s.bytes]);
    else out.push({ dir: s.dir, bytes: s.bytes });
  }
  return out;
}

/** Records as plain JSON (bigints as decimal strings), for deep comparisons. */
export function plain(records: ExchangeRecord[]): unknown {
  return JSON.parse(JSON.stringify(records, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)));
}

/** Records without their timing, for comparing deliveries that differ only in chunking. */
export function untimed(records: ExchangeRecord[]): unknown {
  return (plain(records) as Array<Record<string, unknown>>).map(({ startNs: _s, endNs: _e, ...rest }) => rest);
}
