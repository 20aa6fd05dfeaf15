/** tshark as an oracle: field extraction from a capture. */
import { execFile, execFileSync, spawnSync } from 'node:child_process';

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

/** As tsharkFields, without blocking: several tshark processes can run while the test parses. */
export function tsharkFieldsAsync(file: string, fields: string[], filter?: string, extra: string[] = []): Promise<string[][]> {
  const args = ['-r', file, ...extra];
  if (filter) args.push('-Y', filter);
  args.push('-T', 'fields', '-E', 'separator=\t', '-E', 'occurrence=a', '-E', 'aggregator=,');
  for (const f of fields) args.push('-e', f);
  return new Promise((resolve, reject) => {
    execFile('tshark', args, { encoding: 'utf8', maxBuffer: 256 << 20 }, (err, out) => {
      if (err) return reject(new Error(`tshark ${args.join(' ')}: ${err.message}`));
      resolve(out.split('\n').filter((l) => l.length > 0).map((l) => l.split('\t')));
    });
  });
}

/** Runs `fn` over `items` with at most `limit` in flight, results in input order. */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
