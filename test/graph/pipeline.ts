// Real pipelines for graph tests: pano-parse | [pano-pii |] pano-graph, each stage from sources.
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

export const ROOT = resolve(process.env.PANO_ROOT ?? process.cwd());
export const CORPUS = resolve(ROOT, '../shared/corpus');

const stage = (pkg: string, args: string[]) =>
  [process.execPath, '--conditions=source', '--import', 'tsx', resolve(ROOT, 'test/graph/run-stage.ts'), pkg, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');

/** Runs `pano-parse FILES [| pano-pii] | pano-graph ARGS` and returns the graph's stdout. */
export function pipeline(files: string[], graphArgs: string[], opts: { pii?: boolean } = {}): string {
  const parts = [stage('@panopticon/parse', files)];
  if (opts.pii) parts.push(stage('@panopticon/pii', []));
  parts.push(stage('@panopticon/graph/main', graphArgs));
  const res = spawnSync('bash', ['-c', `set -o pipefail; ${parts.join(' | ')}`], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (res.status !== 0) throw new Error(`pipeline failed (${res.status}): ${res.stderr}`);
  return res.stdout;
}

/** Runs pano-parse | pano-pii and returns the annotated events. */
export function piiEvents(files: string[]): Array<Record<string, any>> {
  const res = spawnSync('bash', ['-c', `set -o pipefail; ${stage('@panopticon/parse', files)} | ${stage('@panopticon/pii', [])}`], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (res.status !== 0) throw new Error(`pano-parse | pano-pii failed: ${res.stderr}`);
  return res.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

/** Runs pano-parse alone and returns its events. */
export function parseEvents(files: string[]): Array<Record<string, any>> {
  const res = spawnSync('sh', ['-c', stage('@panopticon/parse', files)], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (res.status !== 0) throw new Error(`pano-parse failed: ${res.stderr}`);
  return res.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

export function tshark(args: string[]): string[][] {
  const res = spawnSync('tshark', args, { encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`tshark failed: ${res.stderr}`);
  return res.stdout.split('\n').filter(Boolean).map((l) => l.split('\t'));
}
