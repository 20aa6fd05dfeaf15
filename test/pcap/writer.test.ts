/**
 * Files written by PcapngWriter and PcapWriter, checked by tshark and capinfos
 * (the independent oracle) and read back by the reader.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CaptureReader, Direction, LinkType, PcapngWriter, PcapWriter, readCapture, SECRETS_TLS_KEY_LOG, type Packet } from '@panopticon/pcap';
import { collect, epochString, tsharkFields, tsharkMissing } from './support.js';

const IPV4 = Buffer.from('450000140000000040060000c0a80001c0a80002', 'hex');
const FRAME = Buffer.concat([Buffer.from('ffffffffffff0200000000010800', 'hex'), IPV4]);

function writeSample(): { file: Buffer; ids: number[] } {
  const w = new PcapngWriter();
  const shb = w.sectionHeader({ application: 'pano-test', os: 'Linux', hardware: 'vm', comment: 'round trip' });
  const eth = w.interfaceDescription({ linkType: LinkType.ETHERNET, snapLen: 262144, name: 'eth0', description: 'first' });
  const raw = w.interfaceDescription({ linkType: LinkType.RAW, snapLen: 1500, name: 'lo', tsResolNs: false });
  const file = Buffer.concat([
    shb,
    eth.block,
    raw.block,
    w.enhancedPacket({ interfaceId: eth.id, tsNs: 1700000000123456789n, data: FRAME, originalLength: 60, flags: Direction.INBOUND }),
    w.enhancedPacket({ interfaceId: raw.id, tsNs: 1700000000123456789n, data: IPV4, originalLength: 100, flags: Direction.OUTBOUND, comment: 'hi' }),
    w.enhancedPacket({ interfaceId: eth.id, tsNs: 1700000002000000001n, data: FRAME.subarray(0, 33) }),
    w.interfaceStatistics({
      interfaceId: eth.id,
      tsNs: 1700000003000000000n,
      ifRecv: 10n,
      ifDrop: 1n,
      osDrop: 2n,
      filterAccept: 9n,
      usrDeliv: 8n,
      startNs: 1700000000000000000n,
      endNs: 1700000003000000000n,
      comment: 'stats',
    }),
    w.custom({ pen: 32473, data: Buffer.from('abcde'), copyable: false }),
    w.custom({ pen: 32473, data: Buffer.from('wxyz'), copyable: true }),
  ]);
  return { file, ids: [eth.id, raw.id] };
}

test('PcapngWriter: blocks are whole, 32-bit aligned and start a new section with interface 0', () => {
  const w = new PcapngWriter();
  w.sectionHeader();
  assert.equal(w.interfaceDescription({ linkType: 1, snapLen: 0 }).id, 0);
  assert.equal(w.interfaceDescription({ linkType: 1, snapLen: 0 }).id, 1);
  w.sectionHeader();
  assert.equal(w.interfaceDescription({ linkType: 1, snapLen: 0 }).id, 0);
  assert.throws(() => w.enhancedPacket({ interfaceId: 1, tsNs: 0n, data: FRAME }), /interface 1 was not described/);
  for (let n = 0; n < 9; n++) {
    const b = w.enhancedPacket({ interfaceId: 0, tsNs: 1n, data: Buffer.alloc(n, 0xee), comment: 'x'.repeat(n) });
    assert.equal(b.length % 4, 0);
    assert.equal(b.readUInt32LE(4), b.length);
    assert.equal(b.readUInt32LE(b.length - 4), b.length);
    // padding after the data is zero
    assert.ok(b.subarray(28 + n, 28 + ((n + 3) & ~3)).every((x) => x === 0));
  }
});

test('PcapngWriter: the reader reads back exactly what was written', () => {
  const { file } = writeSample();
  const got = collect([file]);
  assert.deepEqual(got.warnings, []);
  assert.deepEqual(
    got.packets.map((p) => [p.interfaceKey, p.linkType, p.tsNs, p.capturedLength, p.originalLength, p.flags, p.data.toString('hex')]),
    [
      [0, 1, 1700000000123456789n, FRAME.length, 60, 1, FRAME.toString('hex')],
      // microsecond interface: the timestamp is rounded down to the microsecond
      [1, 101, 1700000000123456000n, IPV4.length, 100, 2, IPV4.toString('hex')],
      [0, 1, 1700000002000000001n, 33, 33, 0, FRAME.subarray(0, 33).toString('hex')],
    ],
  );
  assert.deepEqual(
    got.interfaces.map((i) => [i.name, i.description, i.linkType, i.snapLen, i.tsResol]),
    [
      ['eth0', 'first', 1, 262144, { base: 10, exponent: 9 }],
      ['lo', undefined, 101, 1500, { base: 10, exponent: 6 }],
    ],
  );
  assert.deepEqual(got.statistics, [
    {
      interfaceKey: 0,
      tsNs: 1700000003000000000n,
      startNs: 1700000000000000000n,
      endNs: 1700000003000000000n,
      ifRecv: 10n,
      ifDrop: 1n,
      filterAccept: 9n,
      osDrop: 2n,
      usrDeliv: 8n,
      comment: 'stats',
      offset: got.statistics[0].offset,
    },
  ]);
  assert.deepEqual(
    got.custom.map((c) => [c.pen, c.copyable, c.data.toString('latin1')]),
    [
      [32473, false, 'abcde\0\0\0'],
      [32473, true, 'wxyz'],
    ],
  );
});

test('PcapngWriter: tshark and capinfos read the written file', { skip: tsharkMissing() }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pano-pcap-'));
  try {
    const path = join(dir, 'w.pcapng');
    writeFileSync(path, writeSample().file);
    const rows = tsharkFields(path, [
      'frame.time_epoch',
      'frame.interface_name',
      'frame.packet_flags_direction',
      'frame.comment',
      'frame.cap_len',
      'frame.len',
    ]);
    assert.deepEqual(rows, [
      ['1700000000.123456789', 'eth0', '0x00000001', '', String(FRAME.length), '60'],
      ['1700000000.123456000', 'lo', '0x00000002', 'hi', String(IPV4.length), '100'],
      ['1700000002.000000001', 'eth0', '', '', '33', '33'],
      // the two custom blocks, as tshark 4 lists them
      ['', '', '', '', '8', '8'],
      ['', '', '', '', '4', '4'],
    ]);
    const info = execFileSync('capinfos', ['-M', path], { encoding: 'utf8' });
    assert.match(info, /Number of packets:\s+3\n/);
    assert.match(info, /Capture application: pano-test\n/);
    assert.match(info, /Capture comment:\s+round trip\n/);
    assert.match(info, /Number of interfaces in file: 2\n/);
    assert.match(info, /Name = eth0\n\s+Description = first\n\s+Encapsulation = Ethernet \(1 - ether\)\n\s+Capture length = 262144\n\s+Time precision = nanoseconds \(9\)/);
    assert.match(info, /Number of stat entries = 1\n\s+Number of packets = 2\n/);
    // and readCapture on the same file agrees with the in-memory reader
    const packets: Packet[] = [];
    const stats = await readCapture(path, { onPacket: (p) => packets.push(p) }, { chunkSize: 7 });
    assert.equal(stats.packets, 3);
    assert.equal(stats.bytes, readFileSync(path).length);
    assert.deepEqual(
      packets.map((p) => p.tsNs),
      [1700000000123456789n, 1700000000123456000n, 1700000002000000001n],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('PcapWriter: tshark reads its nanosecond and microsecond files in both byte orders', { skip: tsharkMissing() }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'pano-pcap-'));
  try {
    for (const resolution of ['ns', 'us'] as const) {
      for (const bigEndian of [false, true]) {
        const w = new PcapWriter({ resolution, bigEndian });
        const path = join(dir, `${resolution}-${bigEndian}.pcap`);
        writeFileSync(
          path,
          Buffer.concat([
            w.header({ linkType: LinkType.ETHERNET, snapLen: 65535 }),
            w.packet({ tsNs: 1700000000123456789n, data: FRAME, originalLength: 1514 }),
            w.packet({ tsNs: 4000000000000000999n, data: FRAME.subarray(0, 14) }),
          ]),
        );
        const want =
          resolution === 'ns'
            ? ['1700000000.123456789', '4000000000.000000999']
            : ['1700000000.123456000', '4000000000.000000000'];
        const rows = rowsOf(path);
        assert.deepEqual(rows, [
          [want[0], String(FRAME.length), '1514'],
          [want[1], '14', '14'],
        ]);
        const got = collect([readFileSync(path)]);
        assert.deepEqual(
          got.packets.map((p) => [epochString(p.tsNs), String(p.capturedLength), String(p.originalLength)]),
          rows,
        );
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

function rowsOf(path: string): string[][] {
  return tsharkFields(path, ['frame.time_epoch', 'frame.cap_len', 'frame.len']);
}

test('a Decryption Secrets Block written is read back, its text whole (the padding not included)', () => {
  const w = new PcapngWriter();
  const keys = Buffer.from(`CLIENT_RANDOM ${'01'.repeat(32)} ${'02'.repeat(48)}\n`); // 159 bytes: padded to 160
  const bytes = Buffer.concat([w.sectionHeader(), w.interfaceDescription({ linkType: 1, snapLen: 65535 }).block, w.decryptionSecrets(SECRETS_TLS_KEY_LOG, keys)]);
  const seen: Array<{ type: number; data: string }> = [];
  const r = new CaptureReader({ onSecrets: (s) => seen.push({ type: s.type, data: s.data.toString('latin1') }) });
  r.push(bytes);
  r.end();
  assert.deepEqual(seen, [{ type: SECRETS_TLS_KEY_LOG, data: keys.toString('latin1') }]);
});
