/**
 * Captures loopback traffic with tcpdump while a test drives real clients and
 * servers: start (waits until tcpdump is listening), run, stop (SIGINT, wait).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { createServer } from 'node:net';

export class LoopbackCapture {
  private proc: ChildProcess | undefined;
  private stderr = '';

  constructor(readonly file: string, readonly filter: string) {}

  async start(): Promise<void> {
    this.proc = spawn('tcpdump', ['-i', 'lo', '-U', '--immediate-mode', '-B', String(BUFFER_KIB), '-s', '0', '-w', this.file, this.filter], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc.stderr!.on('data', (d) => (this.stderr += d));
    // tcpdump prints "listening on lo" once the capture is live. Immediate mode: without it
    // packets wait in TPACKET_V3 blocks, and those still pending at SIGINT are lost.
    const deadline = Date.now() + 10_000;
    while (!this.stderr.includes('listening on')) {
      if (this.proc.exitCode !== null) throw new Error(`tcpdump exited: ${this.stderr.trim()}`);
      if (Date.now() > deadline) throw new Error(`tcpdump did not start: ${this.stderr.trim()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    while (!existsSync(this.file) || statSync(this.file).size < 24) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 100));
  }

  /**
   * Stops tcpdump after the last packets were written. A capture the kernel
   * dropped packets from is not a test input: that is an error here, named as
   * such, rather than a parser assertion failing downstream.
   */
  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    await new Promise((r) => setTimeout(r, 200));
    const done = new Promise((r) => p.once('exit', r));
    p.kill('SIGINT');
    await done;
    const dropped = /(\d+) packets? dropped by kernel/.exec(this.stderr);
    if (dropped && Number(dropped[1]) > 0) throw new Error(`tcpdump: the kernel dropped ${dropped[1]} packets; the capture is incomplete`);
  }
}

/** Runs `fn` while `file` captures loopback traffic matching `filter`; the capture is stopped (and checked) however `fn` ends. */
export async function captureDuring<T>(file: string, filter: string, fn: () => Promise<T>): Promise<T> {
  const cap = new LoopbackCapture(file, filter);
  await cap.start();
  try {
    return await fn();
  } finally {
    await cap.stop();
  }
}

/**
 * tcpdump's kernel buffer (-B, KiB). Loopback bursts (a 300 KB value, an
 * 18 MB MySQL payload) overflow the 2 MiB default and lose packets.
 */
const BUFFER_KIB = 65536;

export function tcpdumpAvailable(): boolean {
  return existsSync('/usr/bin/tcpdump') || existsSync('/usr/sbin/tcpdump');
}

/** A free TCP port on 127.0.0.1 (bound then released). */
export async function freePort(): Promise<number> {
  // the kernel may hand a port it just gave back out again: two servers of one test file (the
  // early-data test's two nginx blocks) then shared a listener; a port is handed out once per process
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

/** Ports freePort gave this process. */
const handedOut = new Set<number>();
