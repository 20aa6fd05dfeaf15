/**
 * Where the parser benchmarks put their events: pano-parse's own output path
 * (`JSON.stringify` into `LineOutput`, which UTF-8 encodes the lines into
 * 256 KiB batches), writing to a stream that discards the bytes, as
 * `> /dev/null` would.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { LineOutput } from '@panopticon/cli';
import { ParseWorkers, ShardedPipeline } from '@panopticon/parse';

const CHUNK = 1024 * 1024;

export function discardingOutput(): { out: LineOutput; bytes: () => number } {
  let bytes = 0;
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      bytes += chunk.length;
      done();
    },
  });
  // the sink drops each chunk as it is written, as a file or pipe lets go of it: batches are refilled
  const out = new LineOutput(sink, { reuseWritten: true });
  return {
    out,
    bytes: () => {
      out.flushBatch();
      return bytes;
    },
  };
}

/**
 * Feeds `bytes` to a one-thread pipeline as pano-parse reads a file: 1 MiB
 * at a time, the event loop turning between reads. That turn is when a
 * written batch comes back to LineOutput to be filled again; pushed in one
 * piece, every batch of the run would be a fresh allocation, which the CLI
 * never makes.
 */
export async function feedAsRead(p: { push(bytes: Buffer): void }, bytes: Buffer): Promise<void> {
  for (let o = 0; o < bytes.length; o += CHUNK) {
    p.push(bytes.subarray(o, o + CHUNK));
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/**
 * One run of flow-sharded parsing (`pano-parse --workers N`) over `bytes`,
 * fed in 1 MiB chunks as pano-parse reads a file, merged lines written to a
 * discarding stream. Returns the wall time and the events written.
 */
export async function shardedRun(bytes: Buffer, pool: ParseWorkers): Promise<{ ns: number; events: number }> {
  const t0 = process.hrtime.bigint();
  const { out, bytes: outBytes } = discardingOutput();
  const p = new ShardedPipeline({
    pool,
    source: { type: 'pcap', name: 'bench.pcapng' },
    onLines: (batch, start, end, n) => out.encodedLines(batch, start, end, n),
  });
  for (let o = 0; o < bytes.length; o += CHUNK) await p.push(bytes.subarray(o, o + CHUNK));
  await p.end();
  if (outBytes() === 0) throw new Error('no output');
  return { ns: Number(process.hrtime.bigint() - t0), events: p.events };
}

/** What one benchmark round of a tool measured: wall time and the events (or lines) it wrote. */
export interface Run {
  ns: number;
  events: number;
}

export interface InterleavedFigures {
  /** First one-thread run, before any warm-up: includes JIT warm-up, as a one-shot pano-parse does. */
  coldNs: number;
  /** Best one-thread round, its mean CPU time, and the events of the last round. */
  bestNs: number;
  cpuNs: number;
  events: number;
  /** First sharded run on workers started for it, then the best sharded round and its mean CPU time over all threads. */
  shardedColdNs: number;
  shardedBestNs: number;
  shardedCpuNs: number;
  /** Every run of the peer (tshark), in order. */
  peerNs: number[];
}

/**
 * The figures of a parser benchmark beside its peer. The CPU time this
 * machine gives a process swings by half within seconds (a fixed loop takes
 * 83 or 130 ms; session 14), so figures taken one tool after the other
 * compare two different machines: tshark's runs, taken last, were once
 * 6.4, 6.6 and 4.4 s. The one-thread rounds and the peer's runs are
 * therefore interleaved (the peer every other round), so the best of each
 * is drawn from the same stretch of time. The sharded rounds come after, on
 * their own: run between the one-thread rounds, the main thread's share of
 * sharding (reading, merging) and the workers' collections slowed those
 * rounds by half.
 */
export async function interleavedRounds(opts: {
  bytes: Buffer;
  rounds: number;
  peerRuns: number;
  workers: number;
  expectEvents: number;
  oneThread: () => Promise<Run>;
  peer: () => number;
}): Promise<InterleavedFigures> {
  const { bytes, rounds, peerRuns, workers, expectEvents } = opts;
  const check = (what: string, r: Run) => {
    if (r.events !== expectEvents) throw new Error(`${what}: expected ${expectEvents} events, got ${r.events}`);
    return r;
  };
  const coldNs = check('one thread', await opts.oneThread()).ns;
  await opts.oneThread(); // warm-up round
  let bestNs = Infinity;
  let cpuNs = 0;
  let events = 0;
  const peerNs: number[] = [];
  const peerEvery = Math.max(1, Math.ceil(rounds / peerRuns));
  for (let i = 0; i < rounds; i++) {
    const cpu0 = process.cpuUsage();
    const one = check('one thread', await opts.oneThread());
    const cpu = process.cpuUsage(cpu0);
    bestNs = Math.min(bestNs, one.ns);
    cpuNs += ((cpu.user + cpu.system) * 1000) / rounds;
    events = one.events;
    if (i % peerEvery === 0 && peerNs.length < peerRuns) peerNs.push(opts.peer());
  }
  while (peerNs.length < peerRuns) peerNs.push(opts.peer());
  const pool = new ParseWorkers(workers);
  try {
    const shardedColdNs = check(`--workers ${workers}`, await shardedRun(bytes, pool)).ns;
    let shardedBestNs = Infinity;
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < rounds; i++) shardedBestNs = Math.min(shardedBestNs, check(`--workers ${workers}`, await shardedRun(bytes, pool)).ns);
    const cpu = process.cpuUsage(cpu0);
    // every thread of the process: the workers' and the main thread's CPU time, per round
    const shardedCpuNs = ((cpu.user + cpu.system) * 1000) / rounds;
    return { coldNs, bestNs, cpuNs, events, shardedColdNs, shardedBestNs, shardedCpuNs, peerNs };
  } finally {
    await pool.close();
  }
}

/**
 * Runs the peer (tshark) with its standard output in `outFile`, as pano's
 * output goes to a discarding stream: read back into this process, the
 * 5–10 MB of text a run prints stayed on the heap and cost pano's next
 * rounds an old-generation collection (CPU a round 400 → 610 ms, session
 * 14). Returns its wall time and the lines it wrote.
 */
export function timedPeer(cmd: string, args: string[], outFile: string): { ns: number; lines: number } {
  const fd = openSync(outFile, 'w');
  try {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(cmd, args, { stdio: ['ignore', fd, 'pipe'], encoding: 'utf8' });
    const ns = Number(process.hrtime.bigint() - t0);
    if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr}`);
    const out = readFileSync(outFile);
    let lines = 0;
    for (let i = out.indexOf(10); i >= 0; i = out.indexOf(10, i + 1)) lines++;
    return { ns, lines };
  } finally {
    closeSync(fd);
  }
}
