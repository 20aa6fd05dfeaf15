/** Exact nanosecond timestamps: bigint inside, decimal strings in JSON. */

// Events come in time order, many per second: the seconds part is cached.
let cachedSecondText = '';
let cachedPrefix = '';

/** ISO-8601 UTC with all nine fractional digits: 2023-11-14T22:13:20.123456789Z. */
export function isoFromNs(ns: bigint): string {
  // below one second the decimal text has fewer than ten digits: pad it to "0" seconds
  return isoFromDecimalNs(ns.toString().padStart(10, '0'));
}

/**
 * `isoFromNs` of a time given as its decimal text (ns.toString(), at least
 * ten digits), for callers that print the text anyway: the seconds and the
 * nine fraction digits are cut from the text, no BigInt division per event.
 */
export function isoFromDecimalNs(decimal: string): string {
  const cut = decimal.length - 9;
  const second = decimal.slice(0, cut);
  if (second !== cachedSecondText) {
    cachedSecondText = second;
    cachedPrefix = new Date(Number(second) * 1000).toISOString().slice(0, 19); // 2023-11-14T22:13:20
  }
  return `${cachedPrefix}.${decimal.slice(cut)}Z`;
}

/** Duration in ns as a JSON-safe number (exact below 2^53 ns ≈ 104 days). */
export function durationNs(startNs: bigint, endNs: bigint): number {
  const d = endNs - startNs;
  return d > 0n ? Number(d) : 0;
}
