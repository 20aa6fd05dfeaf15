/** Running the commands in bin/ from their TypeScript sources, as the command-level tests do. */
import { spawn, spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');

/** The argv that runs bin/CMD from source. */
export function binArgv(cmd: string): string[] {
  return [process.execPath, '--import', 'tsx', '--conditions=source', resolve(ROOT, 'bin', cmd)];
}

/**
 * Runs bin/CMD with ARGS from the repository root, standard input `input`
 * (empty by default). `redirect` (`> f`, `< f`, `>> f`, ...) runs it through
 * bash with those redirections of its standard streams.
 */
export function runBin(cmd: string, args: string[], opts: { input?: string; redirect?: string } = {}) {
  const argv = [...binArgv(cmd), ...args];
  const options = { encoding: 'utf8' as const, cwd: ROOT, input: opts.input ?? '', maxBuffer: 1 << 28 };
  return opts.redirect === undefined ? spawnSync(argv[0]!, argv.slice(1), options) : spawnSync('bash', ['-c', `"$@" ${opts.redirect}`, 'run', ...argv], options);
}

export interface BinResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** As runBin, without blocking, so a test can run independent cases side by side (helpers/parallel.ts). */
export function runBinAsync(cmd: string, args: string[], opts: { input?: string; redirect?: string } = {}): Promise<BinResult> {
  return runArgvAsync([...binArgv(cmd), ...args], opts);
}

/** Runs ARGV from the repository root without blocking; `input` and `redirect` as for runBin. */
export function runArgvAsync(argv: string[], opts: { input?: string; redirect?: string } = {}): Promise<BinResult> {
  const child =
    opts.redirect === undefined
      ? spawn(argv[0]!, argv.slice(1), { cwd: ROOT })
      : spawn('bash', ['-c', `"$@" ${opts.redirect}`, 'run', ...argv], { cwd: ROOT });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  // a command that exits before reading its input closes the pipe under the write
  child.stdin.on('error', () => {});
  child.stdin.end(opts.input ?? '');
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (status, signal) => resolve({ status, signal, stdout, stderr }));
  });
}

/** One minimal event (an HTTP exchange between two addresses) as an NDJSON line, without its newline. */
export const EVENT_LINE = JSON.stringify({
  pano: { v: 1, id: '1-1', kind: 'exchange', protocol: 'http', start_ns: '1', end_ns: '2', duration_ns: 1, time: '', source: { type: 'pcap' }, connection: { id: 1, roles: 'syn' } },
  client: { address: '10.0.0.1', port: 1 },
  server: { address: '10.0.0.2', port: 80 },
});
