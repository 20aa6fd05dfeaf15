/**
 * Real clients and servers in the live tests: run a client program with a
 * time limit, and ask whether a server accepts connections yet.
 */
import { spawn } from 'node:child_process';
import { createConnection } from 'node:net';

export interface ClientResult {
  /** exit code; null when killed (timed out) */
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Runs `file` with `args`; resolves when it exits, or kills it (SIGKILL) after `timeoutMs` and resolves with `timedOut`. */
export function runClient(file: string, args: string[], timeoutMs: number, cwd?: string): Promise<ClientResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(file, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    p.stdout!.on('data', (d) => (stdout += d));
    p.stderr!.on('data', (d) => (stderr += d));
    const t = setTimeout(() => {
      timedOut = true;
      p.kill('SIGKILL');
    }, timeoutMs);
    p.once('error', (e) => (clearTimeout(t), reject(e)));
    p.once('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr, timedOut });
    });
  });
}

/** Whether a TCP server accepts connections on 127.0.0.1:`port`. */
export function acceptsConnections(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = createConnection({ port, host: '127.0.0.1' });
    s.once('connect', () => (s.destroy(), res(true)));
    s.once('error', () => res(false));
  });
}
