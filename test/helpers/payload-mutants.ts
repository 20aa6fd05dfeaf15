/**
 * Seeded mutation of the TCP/UDP payload bytes of a capture: the pcap framing
 * and the L2-L4 headers stay whole, so the damage reaches the protocol
 * parsers instead of stopping at the reader or the decoder. Used by
 * test/parse/fuzz.test.ts and, for longer runs, scripts/fuzz-payloads.ts.
 */
import { CaptureReader } from '@panopticon/pcap';
import { Decoder } from '@panopticon/decode';

/** The seeded generator the PII generator uses (mulberry32): small and reproducible. */
export { rng } from '../../scripts/pii/generate.js';

/** Offsets and lengths of the TCP/UDP payloads of `capture` that sit in its own bytes (not rebuilt from fragments). */
export function payloadSpans(capture: Buffer): Array<[number, number]> {
  const spans: Array<[number, number]> = [];
  const decoder = new Decoder();
  const reader = new CaptureReader({
    onPacket: (p) => {
      const l4 = decoder.decode(p);
      if (!l4 || l4.payload.length === 0 || l4.payload.buffer !== capture.buffer) return;
      const off = l4.payload.byteOffset - capture.byteOffset;
      if (off >= 0 && off + l4.payload.length <= capture.length) spans.push([off, l4.payload.length]);
    },
  });
  reader.push(capture);
  reader.end();
  return spans;
}

/** A copy of `capture` with 1-8 payload bytes or short runs changed (flips, random bytes, 00/FF/7F/80, runs of 00 or FF). */
export function mutatePayloads(capture: Buffer, spans: Array<[number, number]>, rand: () => number): Buffer {
  const buf = Buffer.from(capture);
  const edits = 1 + Math.floor(rand() * 8);
  for (let k = 0; k < edits; k++) {
    const [off, len] = spans[Math.floor(rand() * spans.length)]!;
    const at = off + Math.floor(rand() * len);
    const kind = Math.floor(rand() * 4);
    if (kind === 0) buf[at] ^= 1 << Math.floor(rand() * 8);
    else if (kind === 1) buf[at] = Math.floor(rand() * 256);
    else if (kind === 2) buf[at] = [0x00, 0xff, 0x7f, 0x80][Math.floor(rand() * 4)]!;
    else buf.fill(rand() < 0.5 ? 0 : 0xff, at, Math.min(off + len, at + 1 + Math.floor(rand() * 8)));
  }
  return buf;
}
