/**
 * LineOutput, the batched line writer every command writes through: bytes
 * arrive whole and in order whether batches are refilled (files, standard
 * output) or not (streams that may keep what they are given), and lines
 * handed over already encoded are copied, so their buffer can be refilled.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runBin } from '../helpers/bin.js';
import { PassThrough, Writable } from 'node:stream';
import { LineOutput } from '@panopticon/cli';

const tmp = mkdtempSync(join(tmpdir(), 'pano-line-output-'));

/** Distinct lines of varying length, some not ASCII, about `bytes` in all. */
function lines(bytes: number): string[] {
  const out: string[] = [];
  for (let n = 0, i = 0; n < bytes; i++) {
    const l = `{"i":${i},"pad":"${'x'.repeat((i * 7919) % 700)}","s":"${i % 5 === 0 ? 'Zoë 陈' : 'plain'}"}`;
    out.push(l);
    n += Buffer.byteLength(l) + 1;
  }
  return out;
}

test('a stream that keeps its chunks gets every byte: batches are not refilled under it', async () => {
  const want = lines(3_000_000);
  const sink = new PassThrough();
  const kept: Buffer[] = [];
  sink.on('data', (c: Buffer) => kept.push(c)); // references, as a collecting reader keeps them
  const out = new LineOutput(sink);
  for (let i = 0; i < want.length; i++) {
    out.line(want[i]!);
    // let write callbacks run, as they would between input chunks
    if (i % 500 === 0) await new Promise(setImmediate);
  }
  await out.end();
  assert.equal(Buffer.concat(kept).toString('utf8'), want.join('\n') + '\n');
});

test('a file gets every byte while written batches are refilled', async () => {
  const want = lines(6_000_000);
  const file = join(tmp, 'lines.ndjson');
  const out = LineOutput.toPath(file);
  for (let i = 0; i < want.length; i++) {
    out.line(want[i]!);
    // let the writes complete now and then, so written batches come back to be refilled
    if (i % 2000 === 0 && out.full) await out.drained();
  }
  await out.end();
  assert.equal(readFileSync(file, 'utf8'), want.join('\n') + '\n');
  assert.equal(statSync(file).mode & 0o777, 0o600);
});

test('a file that was there (0644) is made 0600 too, in both modes; a device keeps its mode', async () => {
  for (const append of [false, true]) {
    const file = join(tmp, `existing-${append}.ndjson`);
    writeFileSync(file, '');
    chmodSync(file, 0o644);
    const out = LineOutput.toPath(file, append);
    out.line('{"a":1}');
    await out.end();
    assert.equal(statSync(file).mode & 0o777, 0o600, `append ${append}`);
  }
  const mode = statSync('/dev/null').mode & 0o777;
  await LineOutput.toPath('/dev/null').end();
  assert.equal(statSync('/dev/null').mode & 0o777, mode);
});

test('encoded lines are copied: the caller may refill its buffer at once, runs larger than a batch included', async () => {
  const text = lines(1_500_000);
  const runs = [text.slice(0, 40), text.slice(40, 2000), text.slice(2000)].map((r) => Buffer.from(r.join('\n') + '\n'));
  assert.ok(runs[1]!.length > 2 * 256 * 1024 && runs[2]!.length > 2 * 256 * 1024, "runs several batches long");
  const sink = new PassThrough();
  const kept: Buffer[] = [];
  sink.on('data', (c: Buffer) => kept.push(c));
  const out = new LineOutput(sink);
  const scratch = Buffer.alloc(Math.max(...runs.map((r) => r.length)) + 16);
  let count = 0;
  for (const r of runs) {
    // the same scratch buffer for every run, at an offset, scribbled over after each call
    r.copy(scratch, 16);
    const n = r.toString('utf8').split('\n').length - 1;
    out.encodedLines(scratch, 16, 16 + r.length, n);
    count += n;
    scratch.fill(0x21);
  }
  await out.end();
  assert.equal(Buffer.concat(kept).toString('utf8'), text.join('\n') + '\n');
  assert.equal(out.lines, count);
});

test('drained() returns for a stream that writes synchronously and never emits drain (standard output on a file)', async () => {
  // As Node's SyncWriteStream: the bytes are written inside write(), which returns true, so 'drain' never comes.
  const got: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      got.push(Buffer.from(chunk));
      done();
    },
    highWaterMark: 16 * 1024,
  });
  let drains = 0;
  sink.on('drain', () => drains++);
  const out = new LineOutput(sink, { reuseWritten: true });
  const big = 'y'.repeat(5 * 1024 * 1024); // past the 4 MiB high-water mark in one line
  for (let i = 0; i < 3; i++) {
    out.line(big);
    out.line(`small ${i}`);
    if (out.full) await out.drained(); // hung here: an unsettled await ended the process with status 13
  }
  await out.end();
  assert.equal(Buffer.concat(got).toString(), [big, 'small 0', big, 'small 1', big, 'small 2'].join('\n') + '\n');
  assert.equal(drains, 0, 'the stream did not emit drain: drained() was woken by the write callbacks');
});

test('pano-export --tee and pano-pii to standard output on a file (>) with a line past 4 MiB: every line, status 0', () => {
  const events = join(tmp, 'big-line.jsonl');
  const event = (i: number, body: string) => JSON.stringify({ pano: { v: 1, id: `1-${i}`, kind: 'exchange', protocol: 'http', start_ns: '1', end_ns: '2', duration_ns: 1, time: '', source: { type: 'pcap' }, connection: { id: 1, roles: 'syn' } }, http: { response: { body: { size: body.length, content: body } } } });
  const lines = [event(0, 'z'.repeat(5 * 1024 * 1024)), ...Array.from({ length: 200 }, (_, i) => event(i + 1, 'ok'))];
  writeFileSync(events, lines.join('\n') + '\n');
  for (const [cmd, args] of [['pano-export', ['--tee']], ['pano-pii', []]] as Array<[string, string[]]>) {
    const out = join(tmp, `${cmd}.out`);
    const r = runBin(cmd, [...args, events], { redirect: `> ${out}` });
    assert.equal(r.status, 0, `${cmd}: ${r.stderr}`);
    assert.equal(readFileSync(out, 'utf8').split('\n').length - 1, 201, cmd);
  }
});
