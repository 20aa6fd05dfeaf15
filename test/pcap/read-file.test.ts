/** readCapture over files, pipes and streams gives the same packets as the in-memory reader. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createReadStream, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { readCapture, type Packet } from '@panopticon/pcap';
import { collect, corpusDir } from './support.js';

const file = join(corpusDir, 'linux-sll2/suricata-decode-sll2-02-input.pcap'); // 2.6 MB: several 1 MiB reads
const summary = (ps: Packet[]) => ps.map((p) => `${p.offset}:${p.tsNs}:${p.capturedLength}:${p.data.toString('base64')}`);

test('readCapture: a path, a file stream and a pipe give what the in-memory reader gives', async () => {
  const want = collect([readFileSync(file)]);
  const fromPath: Packet[] = [];
  const stats = await readCapture(file, { onPacket: (p) => fromPath.push(p) });
  assert.deepEqual(summary(fromPath), summary(want.packets));
  assert.deepEqual(stats, want.stats);

  const fromStream: Packet[] = [];
  await readCapture(createReadStream(file, { highWaterMark: 10007 }), { onPacket: (p) => fromStream.push(p) });
  assert.deepEqual(summary(fromStream), summary(want.packets));

  // a pipe, as stdin would be
  const cat = spawn('cat', [file], { stdio: ['ignore', 'pipe', 'inherit'] });
  const fromPipe: Packet[] = [];
  const pipeStats = await readCapture(cat.stdout, { onPacket: (p) => fromPipe.push(p) });
  assert.deepEqual(summary(fromPipe), summary(want.packets));
  assert.equal(pipeStats.bytes, readFileSync(file).length);
});

test('readCapture: a stream of strings is refused, a missing file names itself', async () => {
  await assert.rejects(readCapture(Readable.from(['abc']), { onPacket: () => {} }), /do not set an encoding/);
  await assert.rejects(readCapture('/nonexistent/x.pcap', { onPacket: () => {} }), /ENOENT.*\/nonexistent\/x\.pcap/);
});

test('readCapture: an aborted signal stops between chunks', async () => {
  const ac = new AbortController();
  let n = 0;
  const stats = await readCapture(
    file,
    {
      onPacket: () => {
        if (++n === 1) ac.abort();
      },
    },
    { chunkSize: 4096, signal: ac.signal },
  );
  assert.equal(stats.bytes, 4096);
  assert.equal(stats.warnings, 0);
  assert.ok(n >= 1 && n < collect([readFileSync(file)]).packets.length);
});
