/**
 * Scripted conversations for unit tests of stream parsers: feed them whole,
 * split at chosen offsets, byte by byte, or coalesced like TCP would.
 */
import type { Connection, Dir } from '@panopticon/flows';
import type { ExchangeRecord, ParseOptions, ProtocolModule, StreamParser } from '../../packages/protocols/src/types.js';
import { fakeContext, type FakeContext } from './fake-parser-context.js';

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

/**
 * Runs `module`'s stream parser over a conversation with a server on
 * 127.0.0.1:`serverPort` (`conn` laid over it), closed at 1000 ns, and
 * returns the context holding its records and counters.
 */
export function runScript(module: ProtocolModule, serverPort: number, script: Segment[], opts: Partial<ParseOptions> = {}, conn: Partial<Connection> = {}, cut?: (i: number, b: Buffer) => Buffer[]): FakeContext {
  const ctx = fakeContext(opts, { server: { address: '127.0.0.1', port: serverPort }, ...conn });
  const p = module.createStream!(ctx);
  feed(p, script, cut);
  p.close('fin', 1000n);
  return ctx;
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
