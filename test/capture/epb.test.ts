/**
 * The capture's own EPB encoder against the shared pcapng writer: for the
 * same kernel record and clock offset, the bytes must be identical.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { PcapngWriter } from '@panopticon/pcap';
import { EpbEncoder, splitOffset, RECORD } from '@panopticon/capture';

function record(monoNs: bigint, data: Buffer, origLen: number, direction: number): Buffer {
  const r = Buffer.alloc(RECORD.SIZE + data.length);
  r.writeBigUInt64LE(monoNs, RECORD.TS_NS);
  r.writeUInt32LE(4, RECORD.IFINDEX);
  r.writeUInt32LE(origLen, RECORD.ORIG_LEN);
  r.writeUInt32LE(data.length, RECORD.CAP_LEN);
  r.writeUInt16LE(1, RECORD.SLOT);
  r[RECORD.DIRECTION] = direction;
  data.copy(r, RECORD.SIZE);
  return r;
}

it('EpbEncoder writes what PcapngWriter writes, including carries across the 32-bit halves', () => {
  const writer = new PcapngWriter();
  writer.sectionHeader();
  writer.interfaceDescription({ linkType: 1, snapLen: 262144 });
  writer.interfaceDescription({ linkType: 1, snapLen: 262144 });
  const enc = new EpbEncoder();
  const offset = 1_795_600_000_000_000_000n - 5_000_000_000n; // REALTIME - MONOTONIC
  const [hi, lo] = splitOffset(offset);
  const cases: [bigint, number, number, number][] = [
    [5_000_000_123n, 60, 60, 1],
    [0xffffffffn, 61, 1500, 2], // low half of mono + offset carries into the high half
    [123_456_789_012_345n, 63, 70000, 2],
    [1n, 0, 0, 1],
  ];
  for (const [mono, len, orig, dir] of cases) {
    const data = Buffer.alloc(len, 0xab);
    const mine = enc.encode(record(mono, data, orig, dir), 1, hi, lo);
    const theirs = writer.enhancedPacket({ interfaceId: 1, tsNs: mono + offset, data, originalLength: orig, flags: dir });
    assert.deepEqual(mine, theirs);
    assert.equal(enc.lastTs, Number(mono + offset));
  }
});
