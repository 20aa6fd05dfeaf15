/**
 * Where the chunk boundaries fall must not change what is read: every split
 * point of small files, and one byte at a time, give the same output as one push.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CaptureReader } from '@panopticon/pcap';
import { cat, pcapHeader, pcapRecord } from './build.js';
import { DATA18, DATA5, DATA7, twoSections } from './fixtures.js';
import { collect, corpusDir, digest } from './support.js';

const inputs: [string, Buffer][] = [
  ['pcapng, two sections of both byte orders', twoSections('be')],
  [
    'pcap, big-endian nanoseconds',
    cat(pcapHeader('be', 0xa1b23c4d, 65535, 1), pcapRecord('be', 5, 6, DATA18, 18), pcapRecord('be', 7, 8, DATA5, 9), pcapRecord('be', 9, 10, DATA7, 7)),
  ],
];

for (const [name, file] of inputs) {
  test(`${name}: every two-piece split reads the same as one push`, () => {
    const whole = digest(collect([file]));
    for (let k = 0; k <= file.length; k++) {
      assert.deepEqual(digest(collect([file.subarray(0, k), file.subarray(k)])), whole, `split at ${k}`);
    }
  });

  test(`${name}: one byte at a time reads the same as one push`, () => {
    const bytes = [...file].map((b) => Buffer.from([b]));
    assert.deepEqual(digest(collect(bytes)), digest(collect([file])));
  });
}

test('a corpus file in odd-sized chunks reads the same as one push, and packets survive later pushes', () => {
  const file = readFileSync(join(corpusDir, 'pcapng-multi-interface/gopacket-be-test202.pcapng'));
  const whole = collect([file]);
  for (const size of [1, 3, 7, 13, 64, 333, 1000]) {
    const chunks: Buffer[] = [];
    // Packets are kept until every chunk was pushed: a reader that reused a buffer for
    // records straddling chunks would show here as changed data.
    for (let i = 0; i < file.length; i += size) chunks.push(Buffer.from(file.subarray(i, i + size)));
    const kept: Buffer[] = [];
    const reader = new CaptureReader({ onPacket: (p) => kept.push(p.data) });
    for (const c of chunks) reader.push(c);
    reader.end();
    assert.deepEqual(
      kept.map((d) => d.toString('hex')),
      whole.packets.map((p) => p.data.toString('hex')),
      `chunks of ${size}`,
    );
    assert.ok(reader.bufferedBytes === 0);
  }
});
