import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cat, custom, endOpt, epb, idb, isb, opt, shb, spb, u8, u32, block, type Order } from './build.js';
import { CaptureReader, SECRETS_TLS_KEY_LOG } from '@panopticon/pcap';
import {
  DATA18,
  expectedCustom,
  expectedInterfaces,
  expectedPackets,
  expectedStatistics,
  twoSections,
} from './fixtures.js';
import { collect, epochString, tsharkFields, tsharkMissing } from './support.js';

const strip = <T extends { offset?: number }>(xs: T[]) => xs.map(({ offset: _o, ...rest }) => rest);

for (const first of ['le', 'be'] as Order[]) {
  test(`pcapng: ${first} section then ${first === 'le' ? 'be' : 'le'} section, every block type and option`, () => {
    const bytes = twoSections(first);
    const got = collect([bytes]);
    assert.deepEqual(got.warnings, []);
    assert.deepEqual(strip(got.packets), expectedPackets);
    assert.deepEqual(strip(got.interfaces), expectedInterfaces);
    // an interface's offset is where its Interface Description Block (type 1, in its section's byte order) starts
    for (const i of got.interfaces) assert.ok(bytes.readUInt32LE(i.offset!) === 1 || bytes.readUInt32BE(i.offset!) === 1, `interface ${i.section}/${i.id} at ${i.offset}`);
    assert.equal(new Set(got.interfaces.map((i) => i.offset)).size, got.interfaces.length);
    assert.deepEqual(strip(got.statistics), expectedStatistics);
    assert.deepEqual(strip(got.custom), expectedCustom);
    assert.equal(got.stats.format, 'pcapng');
    assert.equal(got.stats.unknownBlocks, 1);
    assert.equal(got.stats.blocks, 19);
    assert.equal(got.stats.skippedBytes, 0);
    // offsets point at the block: the first EPB follows SHB, three IDBs and the NRB
    for (const p of got.packets) assert.ok([6, 2, 3].includes(bytes.readUInt32LE(p.offset)) || [6, 2, 3].includes(bytes.readUInt32BE(p.offset)));
  });
}

test('pcapng: tshark agrees with the hand-built file', { skip: tsharkMissing() }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'pano-pcap-'));
  try {
    for (const first of ['le', 'be'] as Order[]) {
      const file = join(dir, `${first}.pcapng`);
      writeFileSync(file, twoSections(first));
      const rows = tsharkFields(file, ['frame.time_epoch', 'frame.cap_len', 'frame.len', 'frame.interface_name', 'frame.packet_flags_direction']);
      // tshark also shows the two custom blocks, as frames 6 and 7 (0-based 5 and 6)
      assert.equal(rows.length, expectedPackets.length + 2);
      assert.deepEqual(rows[5].slice(0, 3), ['', '8', '8']);
      assert.deepEqual(rows[6].slice(0, 3), ['', '4', '4']);
      const tsharkRows = [...rows.slice(0, 5), ...rows.slice(7)];
      for (let i = 0; i < expectedPackets.length; i++) {
        const [epoch, capLen, len, name, direction] = tsharkRows[i];
        const want = expectedPackets[i];
        assert.equal(Number(capLen), want.capturedLength, `frame ${i}`);
        assert.equal(Number(len), want.originalLength, `frame ${i}`);
        if (i === 3) assert.equal(epoch, '', 'tshark gives a simple packet block no time');
        // tshark 4.0 computes (units % 10^12) * 10^9 in 64 bits, which overflows for
        // fractions above 0.018 s in picoseconds: it prints .012776324 for .987654321.
        else if (i !== 6) assert.equal(epoch, epochString(want.tsNs), `frame ${i} timestamp`);
        if (i < 5) assert.equal(name, expectedInterfaces[want.interfaceKey].name, `frame ${i} interface`);
        if (want.flags) assert.equal(Number(direction), want.flags & 3, `frame ${i} direction`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('pcapng: tsresol 10^-6 is the default and 10^-9, 2^-n, 10^-12 convert exactly, rounding down', () => {
  const o: Order = 'le';
  const file = cat(
    shb(o),
    idb(o, 1, 0, opt(o, 9, u8(6)), endOpt()),
    idb(o, 1, 0, opt(o, 9, u8(0x80 | 1)), endOpt()), // half seconds
    idb(o, 1, 0, opt(o, 9, u8(0x80 | 30)), endOpt()),
    idb(o, 1, 0, opt(o, 9, u8(10)), endOpt()),
    epb(o, 0, 5n, DATA18, 18),
    epb(o, 1, 3n, DATA18, 18), // 1.5 s
    epb(o, 2, 1n, DATA18, 18), // 2^-30 s = 0.931322574... ns -> 0
    epb(o, 2, (1n << 30n) + 3n, DATA18, 18), // 1 s + 2.79 ns -> 1000000002
    epb(o, 3, 19n, DATA18, 18), // 1.9 ns -> 1
  );
  const got = collect([file]);
  assert.deepEqual(got.warnings, []);
  assert.deepEqual(
    got.packets.map((p) => p.tsNs),
    [5000n, 1500000000n, 0n, 1000000002n, 1n],
  );
});

test('pcapng: damage inside a block is skipped with a warning, the rest is read', () => {
  const o: Order = 'be';
  const badCaplen = epb(o, 0, 1n, DATA18, 18);
  badCaplen.writeUInt32BE(400, 20); // captured length beyond the block
  const overrun = idb(o, 1, 0, opt(o, 2, 'x'), endOpt());
  overrun.writeUInt16BE(200, 16 + 2); // if_name claims 200 bytes
  const file = cat(
    shb(o),
    idb(o, 1, 0),
    epb(o, 7, 1n, DATA18, 18), // no interface 7
    badCaplen,
    overrun,
    isb(o, 9, 0n),
    epb(o, 0, 2n, DATA18, 18),
    epb(o, 1, 3n, DATA18, 18),
  );
  const got = collect([file]);
  assert.deepEqual(
    got.packets.map((p) => [p.interfaceKey, p.tsNs]),
    [
      [0, 2000n],
      [1, 3000n],
    ],
  );
  assert.deepEqual(
    got.warnings.map((w) => w.message),
    [
      `enhanced packet block at offset 48 refers to unknown interface 7; skipped`,
      // SHB 28 + IDB 20 = 48; each EPB with 18 data bytes is 52; the IDB with a 1-byte option 32
      'enhanced packet block at offset 100: captured length 400 exceeds the block; skipped',
      'interface description at offset 152: option 2 overruns the block; rest ignored',
      'interface statistics block at offset 184 refers to unknown interface 9; skipped',
    ],
  );
  assert.equal(got.interfaces.length, 2);
});

test('pcapng: a custom block without options and an unknown block leave no trace but counts', () => {
  const o: Order = 'le';
  const got = collect([cat(shb(o), custom(o, true, 1, Buffer.alloc(0)), block(o, 0x7fffffff))]);
  assert.deepEqual(got.warnings, []);
  assert.deepEqual(strip(got.custom), [{ pen: 1, data: Buffer.alloc(0), copyable: true }]);
  assert.equal(got.stats.unknownBlocks, 1);
});

test('pcapng: a simple packet block is cut to the interface snaplen, as tshark cuts it', () => {
  for (const o of ['le', 'be'] as Order[]) {
    const file = cat(shb(o), idb(o, 1, 4), spb(o, Buffer.from('deadbeef', 'hex'), 100), idb(o, 1, 0));
    const got = collect([file]);
    assert.deepEqual(got.warnings, []);
    assert.deepEqual(
      got.packets.map((p) => [p.interfaceKey, p.capturedLength, p.originalLength, p.data.toString('hex'), p.tsNs]),
      [[0, 4, 100, 'deadbeef', 0n]],
    );
    if (tsharkMissing()) continue;
    const dir = mkdtempSync(join(tmpdir(), 'pano-pcap-'));
    try {
      writeFileSync(join(dir, 'spb.pcapng'), file);
      assert.deepEqual(tsharkFields(join(dir, 'spb.pcapng'), ['frame.cap_len', 'frame.len']), [['4', '100']]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
});

test('pcapng: the section header names the program that wrote it, and its interfaces carry that name', () => {
  for (const o of ['le', 'be'] as Order[]) {
    const file = cat(
      // a comment and the hardware before shb_userappl (option 4), as writers put them
      shb(o, opt(o, 1, 'made in a test'), opt(o, 2, 'x86_64'), opt(o, 4, 'pano-capture'), endOpt()),
      idb(o, 1, 0, opt(o, 2, 'lo'), endOpt()),
      // a second section, written by something else, and one that names no program
      shb(o, opt(o, 4, 'dumpcap (Wireshark) 4.0.11'), endOpt()),
      idb(o, 1, 0),
      shb(o),
      idb(o, 1, 0),
    );
    const got = collect([file]);
    assert.deepEqual(got.warnings, []);
    assert.deepEqual(
      got.interfaces.map((i) => [i.section, i.name, i.application]),
      [
        [0, 'lo', 'pano-capture'],
        [1, undefined, 'dumpcap (Wireshark) 4.0.11'],
        [2, undefined, undefined],
      ],
      o,
    );
    // an option running past the block: the rest ignored, said once
    const overrun = shb(o, opt(o, 4, 'pano-capture'), endOpt());
    if (o === 'le') overrun.writeUInt16LE(200, 24 + 2);
    else overrun.writeUInt16BE(200, 24 + 2);
    const bad = collect([cat(overrun, idb(o, 1, 0))]);
    assert.deepEqual(bad.warnings.map((w) => w.message), ['section header at offset 0: option 4 overruns the block; rest ignored']);
    assert.equal(bad.interfaces[0].application, undefined);
  }
});

test('pcapng: a Decryption Secrets Block gives its type and secrets where it sits (big and little endian); one whose length runs past the block is said and skipped', () => {
  for (const o of ['le', 'be'] as Order[]) {
    const keys = Buffer.from(`CLIENT_RANDOM ${'ab'.repeat(32)} ${'cd'.repeat(48)}\n`);
    const dsb = (type: number, length: number, data: Buffer) => block(o, 0x0a, u32(o, type), u32(o, length), data);
    const bytes = cat(shb(o, endOpt()), idb(o, 1, 65535, endOpt()), dsb(0x544c534b, keys.length, keys), epb(o, 0, 1n, Buffer.alloc(20), 20), dsb(0x544c534b, 4000, keys));
    const seen: Array<{ type: number; data: string; offset: number }> = [];
    const warnings: string[] = [];
    const reader = new CaptureReader({ onPacket: () => {}, onSecrets: (s) => seen.push({ type: s.type, data: s.data.toString('latin1'), offset: s.offset }), onWarning: (w) => warnings.push(w.message) });
    reader.push(bytes);
    reader.end();
    assert.deepEqual(seen.map((s) => [s.type, s.data]), [[SECRETS_TLS_KEY_LOG, keys.toString('latin1')]], o);
    assert.equal(o === 'le' ? bytes.readUInt32LE(seen[0]!.offset) : bytes.readUInt32BE(seen[0]!.offset), 0x0a);
    assert.equal(warnings.length, 1, o);
    assert.match(warnings[0]!, /decryption secrets block at offset \d+: secrets length 4000 runs past the block/);
  }
});
