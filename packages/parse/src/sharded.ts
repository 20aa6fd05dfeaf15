/**
 * Flow-sharded parsing (`pano-parse --workers N`, ADR 0006): N worker
 * threads each run the whole pipeline over every frame, each parsing the
 * flows of one shard (shardOf), and write their events as NDJSON bytes; the
 * main thread feeds them the input and merges their lines back into one
 * stream ordered by the frame each event was completed at.
 *
 * Serialising events is close to half of the work for small exchanges (DNS,
 * gRPC) and no faster in JavaScript than JSON.stringify, so the only way past
 * one core is more cores. Reading and decoding frames is cheap next to
 * parsing, so every worker does it for every frame rather than the main
 * thread deciding and copying each packet: packet time, idle expiry and
 * response timeouts then advance in each worker exactly as in one pipeline.
 */
import { Worker } from 'node:worker_threads';
import { CaptureFormatError, type LossRecord, type ReaderWarning } from '@panopticon/pcap';
import { addCounters } from '@panopticon/cli';
import { BATCH_BYTES, detachOnce, type FromWorker, type ToWorker, type WorkerPipelineOptions, type WorkerSetup } from './shard-messages.js';
import type { ParsePipeline } from './pipeline.js';

type Stats = ReturnType<ParsePipeline['stats']>;

/**
 * Run from source (tests and benchmarks go through tsx), the worker is the
 * .ts beside this file, and needs tsx's loader, which Node 20 does not pass
 * on to worker threads.
 */
const FROM_SOURCE = import.meta.url.endsWith('.ts')
  ? `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((tsx) => { tsx.register(); return import(${JSON.stringify(new URL('./shard-worker.ts', import.meta.url).href)}); })`
  : '';

/**
 * Worker threads for flow-sharded parsing. Kept across inputs (several files,
 * benchmark rounds) so that their compiled code stays warm; one input at a
 * time.
 */
export class ParseWorkers {
  readonly workers: Worker[] = [];
  /** A ShardedPipeline is using them. */
  busy = false;
  /** A worker failed or they were closed: no more inputs. */
  broken = false;

  constructor(readonly count: number) {
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`bad worker count ${count}`);
    // the main thread hands written batches back (transfers them): see detachOnce
    detachOnce();
    for (let index = 0; index < count; index++) {
      const workerData = { index };
      this.workers.push(FROM_SOURCE ? new Worker(FROM_SOURCE, { eval: true, workerData }) : new Worker(new URL('./shard-worker.js', import.meta.url), { workerData }));
    }
  }

  async close(): Promise<void> {
    this.broken = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

export interface ShardedOptions extends WorkerPipelineOptions {
  /** The worker threads to use; they stay the caller's, to reuse or close. */
  pool: ParseWorkers;
  /**
   * Whole NDJSON lines, `lines` of them, in merged order: `batch[start, end)`.
   * Valid during the call only: copy what is kept (the batch goes back to
   * its worker to be filled again, and a view of it then reads as empty).
   */
  onLines(batch: Buffer, start: number, end: number, lines: number): void;
  onWarning?(w: ReaderWarning): void;
  onLoss?(loss: LossRecord, interfaceName: string | undefined): void;
}

/** A buffer the workers can read without a copy each: give `push` chunks read into these. */
export function sharedChunk(size: number): Buffer {
  return Buffer.from(new SharedArrayBuffer(size));
}

function sharedCopy(chunk: Buffer): Buffer {
  const b = sharedChunk(chunk.length);
  chunk.copy(b);
  return b;
}

/** Input chunks a worker may be behind the main thread before `push` waits. */
const MAX_AHEAD = 4;

interface Batch {
  bytes: Buffer;
  ords: Float64Array;
  ends: Uint32Array;
  /** Next event to write. */
  pos: number;
}

interface Shard {
  worker: Worker;
  batches: Batch[];
  /** Every event this worker has yet to send has an ordinal ≥ this. */
  watermark: number;
  chunksDone: number;
  stats: Stats | undefined;
  /** The worker's next connection id, when it is done. */
  nextId: number;
}

export class ShardedPipeline {
  /** Events written so far. */
  events = 0;
  private readonly shards: Shard[];
  private chunksPosted = 0;
  private failure: Error | undefined;
  /** Damage the caller made fatal (onWarning threw), met after `ordinal` frames: events up to it are still written, then the run fails. */
  private stopAt: { ordinal: number; error: Error } | undefined;
  /** Callers waiting for the next message from any worker. */
  private waiters: Array<() => void> = [];
  private readonly pool: ParseWorkers;
  private readonly detach: Array<() => void> = [];
  private finished = false;

  constructor(private readonly opts: ShardedOptions) {
    const { pool, onLines: _l, onWarning: _ow, onLoss: _ol, ...options } = opts;
    this.pool = pool;
    if (this.pool.busy || this.pool.broken) throw new Error('parse workers are in use or closed');
    this.pool.busy = true;
    const n = this.pool.count;
    this.shards = [];
    for (let index = 0; index < n; index++) {
      const worker = this.pool.workers[index];
      const shard: Shard = { worker, batches: [], watermark: 0, chunksDone: 0, stats: undefined, nextId: 0 };
      const onMessage = (m: FromWorker) => this.receive(shard, m);
      const onError = (e: Error) => this.fail(e);
      const onExit = (code: number) => this.fail(new Error(`parse worker ${index} exited with status ${code}`));
      worker.on('message', onMessage).on('error', onError).on('exit', onExit);
      this.detach.push(() => worker.off('message', onMessage).off('error', onError).off('exit', onExit));
      const setup: WorkerSetup = { options, shard: { index, count: n } };
      worker.postMessage({ t: 'start', setup } satisfies ToWorker);
      this.shards.push(shard);
    }
  }

  /**
   * Hands a chunk of capture bytes to every worker; waits while they are more
   * than a few chunks behind. The workers share one copy of it: a chunk in
   * a SharedArrayBuffer (see `sharedChunk`) is passed as it is, any other is
   * copied into one first. Either way the caller must not write to it again:
   * the workers keep views into it.
   */
  async push(chunk: Buffer): Promise<void> {
    this.check();
    const bytes = chunk.buffer instanceof SharedArrayBuffer ? chunk : sharedCopy(chunk);
    const m: ToWorker = { t: 'chunk', bytes };
    for (const s of this.shards) s.worker.postMessage(m);
    this.chunksPosted++;
    while (this.failure === undefined && this.slowest() < this.chunksPosted - MAX_AHEAD) await this.message();
    this.check();
  }

  /** End of input: the workers close their flows; resolves when every event is written. */
  end(): Promise<void> {
    return this.finish('end');
  }

  /** Stop early: open connections are closed so complete exchanges still come out. */
  abort(): Promise<void> {
    return this.finish('abort');
  }

  /** Counters as ParsePipeline reports them: capture and decode are every worker's (the first's), the rest summed. */
  /** Greater than every connection id a worker gave (after end or abort). */
  get nextConnectionId(): number {
    return Math.max(...this.shards.map((s) => s.nextId));
  }

  stats(): Stats {
    const all = this.shards.map((s) => s.stats).filter((s): s is Stats => s !== undefined);
    if (all.length === 0) throw new Error('stats before the workers finished');
    const out: Stats = { capture: { ...all[0].capture }, decode: { ...all[0].decode }, flows: {}, protocols: {}, events: {} };
    for (const s of all) for (const group of ['flows', 'protocols', 'events'] as const) addCounters(out[group], s[group]);
    out.protocols = Object.fromEntries(Object.entries(out.protocols).sort(([a], [b]) => (a < b ? -1 : 1)));
    return out;
  }

  private async finish(how: 'end' | 'abort'): Promise<void> {
    if (this.finished) throw new Error('sharded pipeline already finished');
    this.finished = true;
    try {
      this.check();
      const m: ToWorker = { t: how };
      for (const s of this.shards) s.worker.postMessage(m);
      while (this.failure === undefined && this.shards.some((s) => s.stats === undefined)) await this.message();
      if (this.stopAt !== undefined) this.fail(this.stopAt.error);
      this.check();
    } finally {
      for (const d of this.detach) d();
      this.pool.busy = false;
      if (this.failure !== undefined) await this.pool.close();
    }
  }

  private slowest(): number {
    let min = Number.POSITIVE_INFINITY;
    for (const s of this.shards) if (s.chunksDone < min) min = s.chunksDone;
    return min;
  }

  private message(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private check(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  private fail(e: Error): void {
    if (this.failure === undefined) {
      this.failure = e;
      // The workers' state is unknown now: stop them, so that a caller that
      // gives up on this pipeline does not leave threads holding the process.
      void this.pool.close();
    }
    this.notify();
  }

  private notify(): void {
    const waiting = this.waiters;
    this.waiters = [];
    for (const w of waiting) w();
  }

  private receive(shard: Shard, m: FromWorker): void {
    try {
      switch (m.t) {
        case 'events':
          if (m.ords.length > 0) shard.batches.push({ bytes: Buffer.from(m.bytes.buffer, m.bytes.byteOffset, m.bytes.byteLength), ords: m.ords, ends: m.ends, pos: 0 });
          shard.watermark = m.watermark;
          if (m.ack) shard.chunksDone++;
          this.merge();
          break;
        case 'warning':
          try {
            this.opts.onWarning?.({ offset: m.offset, message: m.message });
          } catch (e) {
            // The damage is fatal to the caller (--strict): as with one pipeline, every event
            // completed before it still goes out, so the run ends once every worker is past it.
            this.stopAt ??= { ordinal: m.ordinal, error: e as Error };
          }
          break;
        case 'loss':
          this.opts.onLoss?.(m.loss, m.interfaceName);
          break;
        case 'done':
          shard.stats = m.stats;
          shard.nextId = m.nextId;
          break;
        case 'error': {
          const e = m.offset !== undefined ? new CaptureFormatError(m.message, m.offset) : new Error(m.message);
          if (m.offset === undefined && m.stack) e.stack = m.stack;
          this.fail(e);
          break;
        }
      }
    } catch (e) {
      this.fail(e as Error);
    }
    const stop = this.stopAt;
    if (stop !== undefined && this.failure === undefined && this.shards.every((s) => s.watermark > stop.ordinal)) this.fail(stop.error);
    this.notify();
  }

  /**
   * Writes every event that no worker can still precede: ordinal below every
   * watermark, smallest ordinal first, the lower worker first on a tie (the
   * frames of one flow are one worker's, so ties are only events completed
   * by the same frame's time, e.g. timeouts). Consecutive events of one
   * worker go out as one slice of its batch.
   */
  private merge(): void {
    const shards = this.shards;
    let low = Number.POSITIVE_INFINITY;
    for (const s of shards) if (s.watermark < low) low = s.watermark;
    // nothing from after a fatal damage (see `stopAt`)
    if (this.stopAt !== undefined && this.stopAt.ordinal + 1 < low) low = this.stopAt.ordinal + 1;
    for (;;) {
      let best = -1;
      let bestOrd = Number.POSITIVE_INFINITY;
      let next = -1;
      let nextOrd = Number.POSITIVE_INFINITY;
      for (let i = 0; i < shards.length; i++) {
        const b = shards[i].batches[0];
        if (b === undefined) continue;
        const o = b.ords[b.pos];
        if (o < bestOrd) {
          next = best;
          nextOrd = bestOrd;
          best = i;
          bestOrd = o;
        } else if (o < nextOrd) {
          next = i;
          nextOrd = o;
        }
      }
      if (best < 0 || !(bestOrd < low)) return;
      const s = shards[best];
      const b = s.batches[0];
      const from = b.pos;
      let to = from;
      // Take while no other worker's head (or unsent event) could come first.
      while (to < b.ords.length) {
        const o = b.ords[to];
        if (!(o < low) || o > nextOrd || (o === nextOrd && next < best)) break;
        to++;
      }
      const start = from === 0 ? 0 : b.ends[from - 1];
      const end = b.ends[to - 1];
      b.pos = to;
      this.events += to - from;
      this.opts.onLines(b.bytes, start, end, to - from);
      if (to === b.ords.length) {
        s.batches.shift();
        const buf = b.bytes.buffer as ArrayBuffer;
        if (buf.byteLength === BATCH_BYTES) s.worker.postMessage({ t: 'recycle', bytes: buf } satisfies ToWorker, [buf]);
      }
    }
  }
}
