// A live pipeline (`pano-capture | pano-parse | pano-pii > events.jsonl`):
// events come out while the input is still open, and Ctrl-C, which reaches
// every stage at once, keeps what the stages upstream flush on it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EVENT_LINE, binArgv } from '../helpers/bin.js';
import { pcapng, udpFrame } from '../helpers/synth.js';

const query = Buffer.from('123401000001000000000000076578616d706c6503636f6d0000010001', 'hex');
const answer = Buffer.from('123481800001000100000000076578616d706c6503636f6d0000010001c00c000100010000012c00045db8d822', 'hex');
const client = { addr: '10.0.0.1', port: 5353 };
const server = { addr: '10.0.0.53', port: 53 };
/** One answered DNS query: an event as soon as the answer is read. */
const answered = pcapng([
  { tsNs: 1_000_000_000n, data: udpFrame(client, server, query) },
  { tsNs: 1_001_000_000n, data: udpFrame(server, client, answer) },
]);
/** One query never answered: its event comes when pano-parse ends (end of input, or a signal). */
const unanswered = pcapng([{ tsNs: 1_000_000_000n, data: udpFrame(client, server, query) }]);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(file: string, ok: (text: string) => boolean, ms: number): Promise<string> {
  const until = Date.now() + ms;
  for (;;) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {}
    if (ok(text) || Date.now() > until) return text;
    await sleep(100);
  }
}

test('events come out while the input stays open: nothing waits for a batch to fill', { timeout: 90_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pano-live-'));
  try {
    const cases: Array<[string, string[], Buffer, (line: string) => void]> = [
      ['pano-parse', [], answered, (l) => assert.equal(JSON.parse(l).dns.question.name, 'example.com')],
      ['pano-pii', [], Buffer.from(EVENT_LINE + '\n'), (l) => assert.equal(JSON.parse(l).pano.id, '1-1')],
      ['pano-export', ['--tee'], Buffer.from(EVENT_LINE + '\n'), (l) => assert.equal(l, EVENT_LINE)],
    ];
    for (const [cmd, args, input, check] of cases) {
      const outFile = join(dir, `${cmd}.out`);
      const [exe, ...argv] = binArgv(cmd);
      const child = spawn('bash', ['-c', `exec "$@" > ${outFile}`, 'run', exe!, ...argv, ...args], { stdio: ['pipe', 'ignore', 'pipe'] });
      let err = '';
      child.stderr!.on('data', (d) => (err += d));
      const exited = new Promise<number | null>((done) => child.on('close', (code) => done(code)));
      child.stdin!.write(input); // and the input stays open, as a live capture's does
      const text = await waitFor(outFile, (t) => t.endsWith('\n'), 20_000);
      child.stdin!.end();
      const code = await exited;
      assert.equal(code, 0, `${cmd}: ${err}`);
      assert.ok(text.endsWith('\n'), `${cmd}: no event written while its input was open (${text.length} bytes)`);
      check(text.trimEnd());
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Ctrl-C over a three-stage pipeline: the event pano-parse writes on the signal reaches the file', { timeout: 90_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pano-live-'));
  try {
    const captureFile = join(dir, 'q.pcapng');
    writeFileSync(captureFile, unanswered);
    // the three pipelines run side by side: each mostly waits
    await Promise.all([['pano-pii'], ['pano-export', '--tee'], ['pano-graph']].map(async (last) => {
      const outFile = join(dir, `${last[0]}.out`);
      const q = (argv: string[]) => argv.map((a) => `'${a}'`).join(' ');
      // the producer writes the capture and stays, as pano-capture does until Ctrl-C
      const script = `cat ${captureFile} - <&3 3<&- | ${q(binArgv('pano-parse'))} | ${q([...binArgv(last[0]!), ...last.slice(1)])} > ${outFile}; echo "\${PIPESTATUS[*]}" > ${outFile}.status`;
      // its own process group, as a shell's job is: the group gets the signal, as from a terminal's Ctrl-C
      const group = spawn('bash', ['-c', script], { detached: true, stdio: ['ignore', 'ignore', 'inherit', 'pipe'] });
      const exited = new Promise<void>((done) => group.on('close', () => done()));
      try {
        // every stage running, pano-parse holding the unanswered query: no event yet. Nothing
        // shows when a stage has its handlers in (Node.js itself catches SIGINT from its start,
        // to restore the terminal), so this is time: six processes starting on two cores take
        // about 2.5 s of it here
        await sleep(8000);
        assert.equal(readFileSync(outFile, 'utf8'), '', `${last[0]}: output before the signal`);
        process.kill(-group.pid!, 'SIGINT');
        const timer = setTimeout(() => process.kill(-group.pid!, 'SIGKILL'), 15_000);
        await exited;
        clearTimeout(timer);
      } finally {
        // an assertion that failed leaves nothing running: `cat` waits on fd 3 for ever
        if (group.exitCode === null && group.signalCode === null) process.kill(-group.pid!, 'SIGKILL');
      }
      const out = readFileSync(outFile, 'utf8');
      if (last[0] === 'pano-graph') {
        assert.equal(JSON.parse(out).counts.events, 1, `${last[0]}: ${out}`);
      } else {
        const lines = out.split('\n').filter(Boolean);
        assert.equal(lines.length, 1, `${last[0]}: ${lines.length} events written`);
        assert.equal(JSON.parse(lines[0]!).dns.question.name, 'example.com');
      }
    }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
