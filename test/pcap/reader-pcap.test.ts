import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cat, pcapHeader, pcapRecord, u16, u32, u8, type Order } from './build.js';
import { DATA18, DATA5, DATA7 } from './fixtures.js';
import { collect, epochString, tsharkFields, tsharkMissing } from './support.js';

const MICRO = 0xa1b2c3d4;
const NANO = 0xa1b23c4d;
const MODIFIED = 0xa1b2cd34;

function variant(o: Order, magic: number): Buffer {
  // the modified format adds ifindex, protocol, packet type and padding to each record header
  const extra = magic === MODIFIED ? cat(u32(o, 2), u16(o, 0x0800), u8(0), u8(0)) : undefined;
  const frac = magic === NANO ? 123456789 : 123456;
  return cat(
    pcapHeader(o, magic, 65535, 1),
    pcapRecord(o, 1700000000, frac, DATA18, 60, extra),
    pcapRecord(o, 1700000001, 0, DATA5, 5, extra),
    pcapRecord(o, 4000000000, frac, DATA7, 7, extra), // seconds are unsigned: past 2038
  );
}

const cases: [Order, number, string][] = [];
for (const o of ['le', 'be'] as Order[]) {
  for (const [magic, name] of [
    [MICRO, 'microsecond'],
    [NANO, 'nanosecond'],
    [MODIFIED, 'modified'],
  ] as const) {
    cases.push([o, magic, name]);
  }
}

for (const [o, magic, name] of cases) {
  test(`pcap ${o} ${name}: packets, timestamps and interface`, () => {
    const got = collect([variant(o, magic)]);
    assert.deepEqual(got.warnings, []);
    const nanos = magic === NANO;
    assert.deepEqual(got.interfaces, [
      { id: 0, section: 0, linkType: 1, snapLen: 65535, offset: 0, tsResol: { base: 10, exponent: nanos ? 9 : 6 }, tsOffsetSeconds: 0n },
    ]);
    const hdr = magic === MODIFIED ? 24 : 16;
    assert.deepEqual(
      got.packets.map((p) => [p.tsNs, p.capturedLength, p.originalLength, p.data.toString('hex'), p.offset, p.interfaceKey, p.linkType, p.flags]),
      [
        [nanos ? 1700000000123456789n : 1700000000123456000n, 18, 60, DATA18.toString('hex'), 24, 0, 1, 0],
        [1700000001000000000n, 5, 5, DATA5.toString('hex'), 24 + hdr + 18, 0, 1, 0],
        [nanos ? 4000000000123456789n : 4000000000123456000n, 7, 7, DATA7.toString('hex'), 24 + 2 * hdr + 23, 0, 1, 0],
      ],
    );
    assert.equal(got.stats.format, 'pcap');
    assert.equal(got.stats.blocks, 4);
  });
}

test('pcap: tshark reads the hand-built variants the same way', { skip: tsharkMissing() }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'pano-pcap-'));
  try {
    for (const [o, magic, name] of cases) {
      const file = join(dir, `${o}-${name}.pcap`);
      writeFileSync(file, variant(o, magic));
      const rows = tsharkFields(file, ['frame.time_epoch', 'frame.cap_len', 'frame.len']);
      const got = collect([variant(o, magic)]);
      assert.deepEqual(
        rows,
        got.packets.map((p) => [epochString(p.tsNs), String(p.capturedLength), String(p.originalLength)]),
        `${o} ${name}`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('pcap: FCS bits in the link type field are not part of the link type', () => {
  const o: Order = 'le';
  const fcs = (1 << 28) | (2 << 29); // F bit, FCS length 2 (32-bit words)
  const got = collect([cat(pcapHeader(o, MICRO, 65535, 105 | fcs), pcapRecord(o, 1, 2, DATA5, 5))]);
  assert.equal(got.interfaces[0].linkType, 105);
  assert.equal(got.packets[0].linkType, 105);
});

test('pcap: an impossible captured length is reported and the next record is found', () => {
  const o: Order = 'be';
  const bad = pcapRecord(o, 1700000000, 1, DATA18, 18);
  bad.writeUInt32BE(70000000, 8); // 70 MB claimed in a 65535-snaplen file
  const file = cat(
    pcapHeader(o, MICRO, 65535, 1),
    pcapRecord(o, 1700000000, 0, DATA5, 5),
    bad,
    pcapRecord(o, 1700000000, 2, DATA7, 7),
    pcapRecord(o, 1700000000, 3, DATA18, 18),
  );
  const got = collect([file]);
  assert.deepEqual(
    got.packets.map((p) => p.tsNs),
    [1700000000000000000n, 1700000000000002000n, 1700000000000003000n],
  );
  const at = 24 + 16 + 5;
  assert.deepEqual(
    got.warnings.map((w) => [w.offset, w.message]),
    [
      [at, `pcap record at offset ${at} claims 70000000 captured bytes (limit 262144); scanning for the next record`],
      [at + 34, `resynchronised at offset ${at + 34} after skipping 34 bytes from offset ${at}`],
    ],
  );
  assert.equal(got.stats.skippedBytes, 34);
});

test('pcap: an unexpected version is reported, the file still read', () => {
  const h = pcapHeader('le', MICRO, 65535, 1);
  h.writeUInt16LE(3, 4);
  const got = collect([cat(h, pcapRecord('le', 1, 2, DATA5, 5))]);
  assert.equal(got.packets.length, 1);
  assert.deepEqual(got.warnings, [{ offset: 0, message: 'unexpected pcap version 3.4 at offset 4; reading as 2.4' }]);
});
