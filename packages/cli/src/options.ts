/** Option value parsers shared by the commands: sizes, durations, counts, lists. */
import { InvalidArgumentError } from 'commander';

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1024, kib: 1024, m: 1 << 20, mb: 1 << 20, mib: 1 << 20, g: 1 << 30, gb: 1 << 30, gib: 1 << 30 };

/** "64k", "16MiB", "1000" → bytes. */
export function parseSize(value: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(value.trim());
  const unit = m ? SIZE_UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new InvalidArgumentError(`not a size: "${value}" (e.g. 65536, 64k, 16M)`);
  return Math.floor(Number(m[1]) * unit);
}

const DURATION_UNITS: Record<string, number> = { ns: 1e-9, us: 1e-6, ms: 1e-3, s: 1, '': 1, m: 60, min: 60, h: 3600 };

/** "300ms", "5s", "2m" → seconds (a plain number is seconds). */
export function parseDuration(value: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/.exec(value.trim());
  const unit = m ? DURATION_UNITS[m[2]] : undefined;
  if (!m || unit === undefined) throw new InvalidArgumentError(`not a duration: "${value}" (e.g. 30s, 500ms, 5m)`);
  return Number(m[1]) * unit;
}

export function parseCount(value: string): number {
  if (!/^\d+$/.test(value.trim())) throw new InvalidArgumentError(`not a whole number: "${value}"`);
  return Number(value);
}

export function parseList(value: string, previous: string[] = []): string[] {
  const items = value.split(',').map((s) => s.trim()).filter(Boolean);
  // `--types ''` from a script's empty variable would otherwise mean "none" (or "all") without a word
  if (items.length === 0) throw new InvalidArgumentError(`empty list: "${value}"`);
  return previous.concat(items);
}

/** A whole number of at least 1 (a limit of zero would track, keep or wait for nothing). */
export function parsePositiveCount(value: string): number {
  const n = parseCount(value);
  if (n < 1) throw new InvalidArgumentError(`must be at least 1: "${value}"`);
  return n;
}

/** A duration of more than zero. */
export function parsePositiveDuration(value: string): number {
  const d = parseDuration(value);
  if (!(d > 0)) throw new InvalidArgumentError(`must be more than 0: "${value}"`);
  return d;
}
