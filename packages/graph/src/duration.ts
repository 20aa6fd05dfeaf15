/** `250ms`, `10s`, `5m`, `1h`, `1d`, or plain seconds → ns (bigint). Throws a one-line message when invalid. */
const UNIT_NS: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9, d: 86400e9 };

const MAX_DURATION_NS = 100 * 365.25 * 86_400e9;

export function parseDuration(text: string): bigint {
  const m = /^(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) throw new Error(`invalid duration "${text}" (use e.g. 500ms, 10s, 5m, 1h)`);
  const value = Number(m[1]) * UNIT_NS[m[2] ?? 's']!;
  // past 2^53 ns (104 days) the product is no longer exact; a century is past any capture and any window
  if (value > MAX_DURATION_NS) throw new Error(`duration "${text}" is longer than 100 years`);
  const ns = BigInt(Math.round(value));
  if (ns <= 0n) throw new Error(`duration "${text}" must be greater than zero`);
  return ns;
}

/** A positive integer option value, or a one-line error naming the option. */
export function parseCount(name: string, text: string, min = 0): number {
  if (!/^\d+$/.test(text) || Number(text) < min || !Number.isSafeInteger(Number(text))) {
    throw new Error(`${name} must be an integer ≥ ${min}, got "${text}"`);
  }
  return Number(text);
}
