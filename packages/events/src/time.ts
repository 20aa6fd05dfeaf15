/** Exact nanosecond timestamps: bigint inside, decimal strings in JSON. */

const NS_PER_S = 1_000_000_000n;

// Events come in time order, many per second: the seconds part is cached.
let cachedSecond = -1n;
let cachedPrefix = '';

/** ISO-8601 UTC with all nine fractional digits: 2023-11-14T22:13:20.123456789Z. */
export function isoFromNs(ns: bigint): string {
  if (ns >= NS_PER_S) return isoFromDecimalNs(ns.toString());
  const second = ns / NS_PER_S;
  const frac = ns - second * NS_PER_S;
  if (second !== cachedSecond) {
    cachedSecond = second;
    cachedSecondText = '';
    cachedPrefix = new Date(Number(second) * 1000).toISOString().slice(0, 19); // 2023-11-14T22:13:20
  }
  return `${cachedPrefix}.${frac.toString().padStart(9, '0')}Z`;
}

let cachedSecondText = '';

/**
 * `isoFromNs` of a time given as its decimal text (ns.toString(), at least
 * one second after the epoch), for callers that print the text anyway: the
 * seconds and the nine fraction digits are cut from the text, no BigInt
 * division per event.
 */
export function isoFromDecimalNs(decimal: string): string {
  const cut = decimal.length - 9;
  const second = decimal.slice(0, cut);
  if (second !== cachedSecondText) {
    cachedSecondText = second;
    cachedSecond = BigInt(second);
    cachedPrefix = new Date(Number(second) * 1000).toISOString().slice(0, 19);
  }
  return `${cachedPrefix}.${decimal.slice(cut)}Z`;
}

/** Duration in ns as a JSON-safe number (exact below 2^53 ns ≈ 104 days). */
export function durationNs(startNs: bigint, endNs: bigint): number {
  const d = endNs - startNs;
  return d > 0n ? Number(d) : 0;
}
