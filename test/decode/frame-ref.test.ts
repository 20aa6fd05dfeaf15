/**
 * `Decoder.decodeFrame` and the reader's `onFrame`, as pano-parse uses them
 * (the frame where it sits in the input, no view per packet), against
 * `decode` and `onPacket` over every corpus capture.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CaptureReader, type FrameRef, type Packet } from '@panopticon/pcap';
import { Decoder, type L4Packet } from '@panopticon/decode';
import { captureFiles } from './corpus.js';

const files = captureFiles();

/** Comparable form of a decode result: the payload as its bytes. */
function plain(r: L4Packet | null, d: Decoder): unknown {
  return { r: r && { ...r, payload: [...r.payload] }, problem: d.problem, reassembled: d.reassembledLength };
}

test('onFrame hands over the same packets as onPacket, in small and whole chunks', () => {
  assert.ok(files.length > 0, 'corpus present');
  for (const file of files) {
    const bytes = readFileSync(file);
    const packets: Packet[] = [];
    new CaptureReader({ onPacket: (p) => packets.push(p), onWarning: () => {} }).push(bytes);
    for (const chunk of [bytes.length, 1000]) {
      const frames: unknown[] = [];
      const r = new CaptureReader({
        onFrame: (f: FrameRef) => {
          const { buf, start, end, ...rest } = f;
          frames.push({ ...rest, data: Buffer.from(buf.subarray(start, end)) });
        },
        onWarning: () => {},
      });
      for (let o = 0; o < bytes.length; o += chunk) r.push(bytes.subarray(o, o + chunk));
      r.end();
      assert.deepEqual(
        frames,
        packets.map((p) => ({ ...p, data: Buffer.from(p.data) })),
        file,
      );
    }
  }
});

test('decodeFrame on a frame inside a larger buffer equals decode of the frame alone', () => {
  for (const file of files) {
    const packets: Packet[] = [];
    new CaptureReader({ onPacket: (p) => packets.push(p), onWarning: () => {} }).push(readFileSync(file));
    const a = new Decoder();
    const b = new Decoder();
    for (const p of packets) {
      // Bytes after the frame that would decode as more header or payload if `end` were ignored.
      const buf = Buffer.concat([Buffer.alloc(7, 0x45), p.data, Buffer.alloc(64, 0x45)]);
      const f: FrameRef = { ...p, buf, start: 7, end: 7 + p.data.length };
      assert.deepEqual(plain(b.decodeFrame(f), b), plain(a.decode(p), a), file);
    }
    assert.deepEqual(b.counters, a.counters, file);
  }
});
