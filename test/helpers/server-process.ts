/**
 * A real server a live test starts for itself (mosquitto, memcached,
 * aiosmtpd): its process, port, temp dir and what it writes; started in a
 * temp dir that goes away if it does not come up, stopped with its dir.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acceptsConnections } from './client-process.js';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `start` with a new temp dir, removed if it throws (kept with PANO_KEEP). */
export async function inTempDir<T>(prefix: string, start: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  try {
    return await start(dir);
  } catch (e) {
    if (!process.env.PANO_KEEP) rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

export class ServerProcess {
  private logText = '';

  constructor(
    readonly port: number,
    /** the server's own temp dir (config, scripts, client files); captures may go here too */
    readonly dir: string,
    readonly process: ChildProcess,
    private readonly name: string,
  ) {
    process.stderr!.on('data', (d) => (this.logText += d));
    process.stdout!.on('data', (d) => (this.logText += d));
  }

  /** Everything the server wrote so far. */
  get log(): string {
    return this.logText;
  }

  /**
   * Resolves once `ready(log)` holds and the port takes connections; throws if the server exits,
   * or kills it and throws after `tries` polls 25 ms apart.
   */
  async waitReady(ready: (log: string) => boolean = () => true, tries = 200): Promise<void> {
    const p = this.process;
    for (let i = 0; i < tries; i++) {
      if (p.exitCode !== null || p.signalCode !== null) throw new Error(`${this.name} exited: ${this.log}`);
      if (ready(this.log) && (await acceptsConnections(this.port))) return;
      await sleep(25);
    }
    p.kill('SIGKILL');
    throw new Error(`${this.name} did not start: ${this.log}`);
  }

  /**
   * Waits until the server's log, from offset `from` on, contains `what`;
   * resolves with the offset just past it. Throws if the server exits first,
   * or after `timeoutMs`.
   */
  async untilLogged(what: string | RegExp, from = 0, timeoutMs = 5_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const rest = this.log.slice(from);
      if (typeof what === 'string') {
        const i = rest.indexOf(what);
        if (i >= 0) return from + i + what.length;
      } else {
        const m = new RegExp(what.source, what.flags.replace('g', '')).exec(rest);
        if (m) return from + m.index + m[0].length;
      }
      if (this.process.exitCode !== null) throw new Error(`${this.name} exited while waiting for ${what}: ${this.log.slice(-2000)}`);
      if (Date.now() > deadline) throw new Error(`${this.name} did not log ${what}; log since: ${rest.slice(-2000)}`);
      await sleep(5);
    }
  }

  /** Stops the server (SIGTERM, SIGKILL after 5 s) and removes its dir (kept with PANO_KEEP). */
  async stop(): Promise<void> {
    const p = this.process;
    if (p.exitCode === null && p.signalCode === null) {
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      const t = setTimeout(() => p.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(t);
    }
    if (!process.env.PANO_KEEP) rmSync(this.dir, { recursive: true, force: true });
  }
}
