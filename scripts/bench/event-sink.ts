/**
 * Where the parser benchmarks put their events: pano-parse's own output path
 * (`JSON.stringify` into `LineOutput`, which UTF-8 encodes the lines into
 * 256 KiB batches), writing to a stream that discards the bytes, as
 * `> /dev/null` would.
 */
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

/**
 * The sharded figures of a parser benchmark: a first run on workers started
 * for it (cold, as a one-shot `pano-parse --workers N` runs), then the best
 * of `rounds` on the same, warm, workers, and the mean CPU time of those
 * rounds over all threads. Checks the event count.
 */
export async function shardedRounds(bytes: Buffer, workers: number, rounds: number, expectEvents: number): Promise<{ coldNs: number; bestNs: number; cpuNs: number }> {
  const pool = new ParseWorkers(workers);
  try {
    const coldNs = (await shardedRun(bytes, pool)).ns;
    let bestNs = Infinity;
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < rounds; i++) {
      const r = await shardedRun(bytes, pool);
      if (r.events !== expectEvents) throw new Error(`--workers ${workers}: expected ${expectEvents} events, got ${r.events}`);
      bestNs = Math.min(bestNs, r.ns);
    }
    const cpu = process.cpuUsage(cpu0);
    // Every thread of the process: the workers' and the main thread's CPU time, per round.
    return { coldNs, bestNs, cpuNs: ((cpu.user + cpu.system) * 1000) / rounds };
  } finally {
    await pool.close();
  }
}
