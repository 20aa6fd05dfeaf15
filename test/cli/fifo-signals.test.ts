// A named pipe as input (`mkfifo`, `<(cmd)`): SIGTERM is acted on while its
// writer is quiet, what was complete is written, status 0. A file stream's
// read of a FIFO waits in a thread that neither destroying the stream nor
// exiting could interrupt, so the commands ignored the signal until the
// writer wrote again or closed (forever, for `tail -f` or a live capture).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EVENT_LINE, binArgv } from '../helpers/bin.js';
import { pcapng, udpFrame } from '../helpers/synth.js';

const event = EVENT_LINE;
const query = Buffer.from('123401000001000000000000076578616d706c6503636f6d0000010001', 'hex');
const answer = Buffer.from('123481800001000100000000076578616d706c6503636f6d0000010001c00c000100010000012c00045db8d822', 'hex');
const capture = pcapng([
  { tsNs: 1_000_000_000n, data: udpFrame({ addr: '10.0.0.1', port: 5353 }, { addr: '10.0.0.53', port: 53 }, query) },
  { tsNs: 1_001_000_000n, data: udpFrame({ addr: '10.0.0.53', port: 53 }, { addr: '10.0.0.1', port: 5353 }, answer) },
]);

test('SIGTERM while a FIFO input is quiet: the command writes what was complete and exits 0, the writer still open', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pano-fifo-'));
  try {
    const cases: Array<[string, string[], Buffer, (out: string) => void]> = [
      ['pano-pii', [], Buffer.from(event + '\n'), (out) => assert.equal(JSON.parse(out).pano.id, '1-1')],
      ['pano-graph', [], Buffer.from(event + '\n'), (out) => assert.equal(JSON.parse(out).edges.length, 1)],
      ['pano-export', ['--tee'], Buffer.from(event + '\n'), (out) => assert.equal(out, event + '\n')],
      ['pano-parse', [], capture, (out) => assert.equal(JSON.parse(out).dns.question.name, 'example.com')],
    ];
    // the commands run side by side: each case waits on its own timers, not on the CPU
    await Promise.all(cases.map(async ([cmd, args, input, check]) => {
      const fifo = join(dir, `${cmd}.fifo`);
      assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
      const outFile = join(dir, `${cmd}.out`);
      const child = spawn('bash', ['-c', `exec "$@" > ${outFile}`, 'run', ...binArgv(cmd), ...args, fifo], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (d) => (err += d));
      const exited = new Promise<number | null>((done) => child.on('close', (code) => done(code)));
      // opening waits for the command to open its end, which each does after installing its signal handlers
      const writer = await open(fifo, 'w');
      await writer.write(input);
      // a few milliseconds of reading and parsing: ample time, so the signal finds the command waiting for more
      await new Promise((r) => setTimeout(r, 1500));
      child.kill('SIGTERM');
      const code = await exited; // hung here until the writer closed
      await writer.close();
      assert.equal(code, 0, `${cmd}: ${err}`);
      check(readFileSync(outFile, 'utf8'));
    }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('SIGTERM before a FIFO input has a writer: the command exits at once instead of waiting for one', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pano-fifo-'));
  try {
    // each reads a pipe on for its documented 2 s after a signal (what upstream stages flush), then stops
    const cases: Array<[string, string[], number]> = [['pano-pii', [], 4000], ['pano-graph', [], 4000], ['pano-export', ['--tee'], 4000], ['pano-parse', [], 4000]];
    await Promise.all(cases.map(async ([cmd, args, within]) => {
      const fifo = join(dir, `${cmd}.fifo`);
      assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
      const child = spawn(process.execPath, [...binArgv(cmd).slice(1), ...args, fifo], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (d) => (err += d));
      const exited = new Promise<number | null>((done) => child.on('close', (code) => done(code)));
      // wait until it has its end open (after its signal handlers are in; a blocking open never gets
      // that far, hence the bound); no writer ever opens the other end
      const started = Date.now();
      while (Date.now() - started < 10_000 && !readdirSync(`/proc/${child.pid}/fd`).some((fd) => { try { return readlinkSync(`/proc/${child.pid}/fd/${fd}`) === fifo; } catch { return false; } })) {
        await new Promise((r) => setTimeout(r, 50));
      }
      const signalled = Date.now();
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), within + 5000);
      const code = await exited; // opening waited for a writer in a thread that exiting joins: hung here
      clearTimeout(timer);
      assert.ok(Date.now() - signalled < within, `${cmd} took ${Date.now() - signalled} ms after SIGTERM`);
      assert.equal(code, 0, `${cmd}: ${err}`);
    }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
