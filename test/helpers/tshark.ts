/** tshark as an oracle: field extraction from a capture. */
import { execFileSync, spawnSync } from 'node:child_process';

export function tsharkAvailable(): boolean {
  return spawnSync('tshark', ['--version'], { stdio: 'ignore' }).status === 0;
}

/**
 * Rows of `tshark -r FILE [-Y filter] -T fields -e f1 -e f2 ...`, each split
 * into its fields. `extra` carries decode-as (`-d`) and preference (`-o`) options.
 */
export function tsharkFields(file: string, fields: string[], filter?: string, extra: string[] = []): string[][] {
  const args = ['-r', file, ...extra];
  if (filter) args.push('-Y', filter);
  args.push('-T', 'fields', '-E', 'separator=\t', '-E', 'occurrence=a', '-E', 'aggregator=,');
  for (const f of fields) args.push('-e', f);
  const out = execFileSync('tshark', args, { encoding: 'utf8', maxBuffer: 256 << 20, stdio: ['ignore', 'pipe', 'ignore'] });
  return out
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => l.split('\t'));
}
