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

it('a VLAN tag the kernel held beside the bytes goes back after the MAC addresses, within the snap length (as libpcap does)', () => {
  const writer = new PcapngWriter();
  writer.sectionHeader();
  writer.interfaceDescription({ linkType: 1, snapLen: 100 });
  const enc = new EpbEncoder(100);
  const [hi, lo] = splitOffset(1_000_000_000n);
  const untagged = Buffer.from(Array.from({ length: 90 }, (_, i) => i));
  const withTag = (data: Buffer, tci: number, proto: number) => {
    const r = record(5n, data, 90, 1);
    r[RECORD.VLAN_PRESENT] = 1;
    r.writeUInt16LE(tci, RECORD.VLAN_TCI);
    r.writeUInt16BE(proto, RECORD.VLAN_PROTO); // network order in the record
    return r;
  };
  const tagged = Buffer.concat([untagged.subarray(0, 12), Buffer.from([0x81, 0x00, 0x20, 0x0a]), untagged.subarray(12)]);
  assert.deepEqual(
    enc.encode(withTag(untagged, 0x200a, 0x8100), 0, hi, lo),
    writer.enhancedPacket({ interfaceId: 0, tsNs: 1_000_000_005n, data: tagged, originalLength: 94, flags: 1 }),
  );
  // 802.1ad, and a frame the snap length cuts: 4 more bytes would pass it, so the tail gives way
  const full = Buffer.alloc(100, 0xcd);
  const cut = Buffer.concat([full.subarray(0, 12), Buffer.from([0x88, 0xa8, 0x00, 0x64]), full.subarray(12, 96)]);
  const r = withTag(full, 100, 0x88a8);
  r.writeUInt32LE(1500, RECORD.ORIG_LEN);
  assert.deepEqual(
    enc.encode(r, 0, hi, lo),
    writer.enhancedPacket({ interfaceId: 0, tsNs: 1_000_000_005n, data: cut, originalLength: 1504, flags: 1 }),
  );
  // fewer bytes than the MAC addresses: nowhere to put the tag (libpcap leaves such a frame alone too)
  const tiny = Buffer.alloc(8, 0xee);
  const t = withTag(tiny, 10, 0x8100);
  t.writeUInt32LE(60, RECORD.ORIG_LEN);
  assert.deepEqual(enc.encode(t, 0, hi, lo), writer.enhancedPacket({ interfaceId: 0, tsNs: 1_000_000_005n, data: tiny, originalLength: 60, flags: 1 }));
});
