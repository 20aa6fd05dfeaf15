/** Exact nanosecond timestamps: bigint inside, decimal strings in JSON. */

const NS_PER_MS = 1_000_000n;

/** ISO-8601 UTC with all nine fractional digits: 2023-11-14T22:13:20.123456789Z. */
export function isoFromNs(ns: bigint): string {
  const ms = ns / NS_PER_MS;
  const frac = ns % 1_000_000_000n;
  const base = new Date(Number(ms)).toISOString(); // ...T22:13:20.123Z
  return `${base.slice(0, 19)}.${frac.toString().padStart(9, '0')}Z`;
}

/** Duration in ns as a JSON-safe number (exact below 2^53 ns ≈ 104 days). */
export function durationNs(startNs: bigint, endNs: bigint): number {
  const d = endNs - startNs;
  return d > 0n ? Number(d) : 0;
}
