/** The shared read-only capture corpus, beside the clone (../shared/corpus). */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const repoRoot = resolve(process.env.PANO_ROOT ?? process.cwd());
export const corpusDir = resolve(repoRoot, '../shared/corpus');

export function corpusAvailable(): boolean {
  return existsSync(corpusDir);
}

/** Every capture file in the corpus (or one directory of it), sorted. */
export function corpusFiles(subdir?: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) {
        if (name !== 'LICENSES') walk(p);
      } else if (/\.(pcap|pcapng|cap)$/.test(name)) out.push(p);
    }
  };
  walk(subdir ? join(corpusDir, subdir) : corpusDir);
  return out;
}
