/** Exact nanosecond timestamps: bigint inside, decimal strings in JSON. */

// Events come in time order, many per second: the seconds part is cached,
// already written into the buffer the text is read from. The text is read as
// one sequential string, not concatenated: V8 14's JSON.stringify fast path
// refuses ropes (see flat.ts), and every event carries this string.
let cachedSecondText = '';
const iso = Buffer.alloc(30) as Buffer & { latin1Slice(start: number, end: number): string };
iso.write('1970-01-01T00:00:00.000000000Z', 'latin1');

/** 9999-12-31T23:59:59.999999999Z: the last instant an event's `time` (four-digit year) can name. */
export const LAST_NS = 253_402_300_799_999_999_999n;

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
    iso.write(new Date(Number(second) * 1000).toISOString().slice(0, 19), 0, 'latin1'); // 2023-11-14T22:13:20
  }
  for (let i = 0; i < 9; i++) iso[20 + i] = decimal.charCodeAt(cut + i);
  return iso.latin1Slice(0, 30);
}

/** Duration in ns as a JSON-safe number (exact below 2^53 ns ≈ 104 days). */
export function durationNs(startNs: bigint, endNs: bigint): number {
  const d = endNs - startNs;
  return d > 0n ? Number(d) : 0;
}
