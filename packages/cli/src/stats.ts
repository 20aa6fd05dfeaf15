/** Counters printed to stderr at exit (`--stats`), one `name value` per line, grouped by stage. */
export function formatStats(groups: Record<string, Record<string, number | bigint>>): string {
  const lines: string[] = [];
  for (const [group, counters] of Object.entries(groups)) {
    for (const [name, value] of Object.entries(counters)) {
      if (value === 0 || value === 0n) continue;
      lines.push(`${group}.${name} ${value}`);
    }
  }
  return lines.join('\n') + (lines.length ? '\n' : '');
}

/** Adds every counter of `src` into `dst` (a BigInt on either side makes the sum a BigInt). */
export function addCounters(dst: Record<string, number | bigint>, src: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(src)) {
    if (typeof v !== 'number' && typeof v !== 'bigint') continue;
    const prev = dst[k];
    dst[k] = typeof v === 'bigint' || typeof prev === 'bigint' ? BigInt(prev ?? 0) + BigInt(v) : Number(prev ?? 0) + v;
  }
}
