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
