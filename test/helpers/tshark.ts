/** tshark as an oracle: field extraction from a capture. */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, realpathSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { corpusDir } from './corpus.js';

export function tsharkAvailable(): boolean {
  return spawnSync('tshark', ['--version'], { stdio: 'ignore' }).status === 0;
}

/**
 * Rows of `tshark -r FILE [-Y filter] -T fields -e f1 -e f2 ...`, each split
 * into its fields. `extra` carries decode-as (`-d`) and preference (`-o`) options.
 */
export function tsharkFields(file: string, fields: string[], filter?: string, extra: string[] = []): string[][] {
  const args = fieldArgs(file, fields, filter, extra);
  const key = cacheKey(file, args);
  let out = key ? cached(key) : undefined;
  if (out === undefined) {
    out = execFileSync('tshark', args, { encoding: 'utf8', maxBuffer: 256 << 20, stdio: ['ignore', 'pipe', 'ignore'] });
    if (key) store(key, out);
  }
  return rows(out);
}

function fieldArgs(file: string, fields: string[], filter: string | undefined, extra: string[]): string[] {
  const args = ['-r', file, ...extra];
  if (filter) args.push('-Y', filter);
  args.push('-T', 'fields', '-E', 'separator=\t', '-E', 'occurrence=a', '-E', 'aggregator=,');
  for (const f of fields) args.push('-e', f);
  return args;
}

function rows(out: string): string[][] {
  return out
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => l.split('\t'));
}

/**
 * tshark's answers on the corpus captures, kept between test runs. The suite
 * runs once per Node.js version (ADR 0007), and tshark's output depends on
 * neither: the second run asked tshark the same questions of the same files
 * again, minutes of CI. The key is tshark's own version text, the file's
 * real path, size and modification time, and the arguments, so another
 * tshark or a changed file asks tshark afresh. Only files of the read-only
 * corpus are kept (a test's own captures are new each run).
 * PANO_TSHARK_CACHE=0 turns it off.
 */
const CACHE_DIR = join(tmpdir(), `pano-tshark-cache-${process.getuid?.() ?? 0}`);
let tsharkVersion: string | undefined;

function cacheKey(file: string, args: string[]): string | undefined {
  if (process.env.PANO_TSHARK_CACHE === '0') return undefined;
  let real: string;
  let st: ReturnType<typeof statSync>;
  try {
    real = realpathSync(file);
    if (!real.startsWith(realpathSync(corpusDir) + sep)) return undefined;
    st = statSync(real);
  } catch {
    return undefined;
  }
  tsharkVersion ??= spawnSync('tshark', ['--version'], { encoding: 'utf8' }).stdout ?? '';
  return createHash('sha256').update(JSON.stringify([tsharkVersion, real, st.size, st.mtimeMs, args.slice(2)])).digest('hex');
}

function cached(key: string): string | undefined {
  try {
    return readFileSync(join(CACHE_DIR, key), 'utf8');
  } catch {
    return undefined;
  }
}

function store(key: string, out: string): void {
  try {
    mkdirSync(CACHE_DIR, { recursive: true, mode: 0o700 });
    // whole or not at all: a reader in another test file never sees half an answer
    const tmp = join(CACHE_DIR, `${key}.${process.pid}.tmp`);
    writeFileSync(tmp, out);
    renameSync(tmp, join(CACHE_DIR, key));
  } catch {
    // a cache that cannot be written only costs the next run tshark's time
  }
}

/** As tsharkFields, without blocking: several tshark processes can run while the test parses. */
export async function tsharkFieldsAsync(file: string, fields: string[], filter?: string, extra: string[] = []): Promise<string[][]> {
  return rows(await tsharkOutput(file, fieldArgs(file, fields, filter, extra).slice(2)));
}

/**
 * The standard output of `tshark -r FILE ARGS...`, without blocking, from the
 * cache when FILE is a corpus capture asked the same before.
 */
export function tsharkOutput(file: string, rest: string[]): Promise<string> {
  const args = ['-r', file, ...rest];
  const key = cacheKey(file, args);
  const hit = key ? cached(key) : undefined;
  if (hit !== undefined) return Promise.resolve(hit);
  return new Promise((resolve, reject) => {
    execFile('tshark', args, { encoding: 'utf8', maxBuffer: 256 << 20 }, (err, out) => {
      if (err) return reject(new Error(`tshark ${args.join(' ')}: ${err.message}`));
      if (key) store(key, out);
      resolve(out);
    });
  });
}

export { mapLimit } from './parallel.js';
