/**
 * Converts bpf_ktime_get_ns() (CLOCK_MONOTONIC) to wall-clock nanoseconds.
 *
 * The offset REALTIME - MONOTONIC is sampled by reading MONOTONIC, REALTIME,
 * MONOTONIC back to back and keeping the tightest of a few tries, so the
 * error is bounded by half that window (well under a microsecond here). It is
 * re-sampled on demand (the capture loop does so every second), so steps and
 * NTP slewing of the wall clock are followed.
 */
import koffi from 'koffi';

const CLOCK_REALTIME = 0;
const CLOCK_MONOTONIC = 1;

let clockGettime: ((id: number, ts: Buffer) => number) | undefined;

function gettime(): (id: number, ts: Buffer) => number {
  if (!clockGettime) {
    const libc = koffi.load('libc.so.6');
    clockGettime = libc.func('int clock_gettime(int clk, void *ts)') as (id: number, ts: Buffer) => number;
  }
  return clockGettime;
}

function read(fn: (id: number, ts: Buffer) => number, id: number, ts: Buffer): bigint {
  if (fn(id, ts) !== 0) throw new Error(`clock_gettime(${id}) failed`);
  return ts.readBigInt64LE(0) * 1_000_000_000n + ts.readBigInt64LE(8);
}

export class MonotonicToWall {
  private offset = 0n;

  constructor() {
    this.resample();
  }

  /** Re-measures REALTIME - MONOTONIC; returns the measurement window in ns. */
  resample(tries = 5): bigint {
    const fn = gettime();
    const ts = Buffer.alloc(16);
    let best = -1n;
    for (let i = 0; i < tries; i++) {
      const m1 = read(fn, CLOCK_MONOTONIC, ts);
      const r = read(fn, CLOCK_REALTIME, ts);
      const m2 = read(fn, CLOCK_MONOTONIC, ts);
      const window = m2 - m1;
      if (best < 0n || window < best) {
        best = window;
        this.offset = r - (m1 + m2) / 2n;
      }
    }
    return best;
  }

  /** REALTIME - MONOTONIC, ns, as last measured. */
  get offsetNs(): bigint {
    return this.offset;
  }

  wall(monotonicNs: bigint): bigint {
    return monotonicNs + this.offset;
  }

  /** CLOCK_MONOTONIC now, in ns (the clock the BPF program stamps with). */
  static monotonicNow(): bigint {
    return read(gettime(), CLOCK_MONOTONIC, Buffer.alloc(16));
  }
}
