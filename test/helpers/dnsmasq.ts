/** A throwaway dnsmasq on 127.0.0.1 for tests that drive real DNS traffic with dig. */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, after } from 'node:test';
import { freePort } from './loopback-capture.js';

/**
 * Starts dnsmasq on a free port of 127.0.0.1 with `args` (its records) and no other configuration,
 * its pid file in `dir`; resolves once it answers dig (at most 5 s). Stop it with `proc.kill()`.
 */
export async function startDnsmasq(dir: string, args: string[]): Promise<{ proc: ChildProcess; port: number }> {
  const port = await freePort();
  const proc = spawn('/usr/sbin/dnsmasq', [
    '--no-daemon', '--conf-file=/dev/null', `--port=${port}`, '--listen-address=127.0.0.1', '--bind-interfaces',
    '--no-resolv', '--no-hosts', '--pid-file=' + join(dir, 'pid'), ...args,
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (d) => (err += d));
  // Ready when it answers.
  for (let i = 0; i < 100; i++) {
    try {
      execFileSync('dig', ['+short', '+time=1', '+tries=1', '-p', String(port), '@127.0.0.1', 'example.test'], { stdio: 'pipe' });
      return { proc, port };
    } catch {
      if (proc.exitCode !== null) throw new Error(`dnsmasq exited: ${err}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  proc.kill();
  throw new Error(`dnsmasq did not answer: ${err}`);
}

/**
 * A dnsmasq for the tests of one file, with `args` (its records): started in before() unless `skip`,
 * stopped and its directory (`dir`, also for the test's captures) removed in after().
 */
export function dnsmasqForTests(prefix: string, args: string[], skip: boolean): { dir: string; port: () => number } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  let proc: ChildProcess | undefined;
  let port = 0;
  before(async () => {
    if (skip) return;
    ({ proc, port } = await startDnsmasq(dir, args));
  });
  after(() => {
    proc?.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, port: () => port };
}
