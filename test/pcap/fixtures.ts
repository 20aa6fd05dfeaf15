/**
 * Hand-built captures whose expected decoding was worked out by hand from the
 * specs; shared by the reader, chunking and robustness tests.
 */
import { cat, custom, endOpt, epb, i64, idb, isb, opt, pb, shb, spb, ts, u32, u64, u8, block, type Order } from './build.js';

export const DATA18 = Buffer.from('00112233445566778899aabbccddeeff0800', 'hex');
export const DATA5 = Buffer.from('0102030405', 'hex');
export const DATA7 = Buffer.from('a1a2a3a4a5a6a7', 'hex');

/** Every block type and option the reader interprets, in one section. */
export function sectionA(o: Order): Buffer {
  return cat(
    shb(o, opt(o, 4, 'hand-built'), opt(o, 1, 'a comment'), endOpt()),
    // if 0: no if_tsresol, so microseconds
    idb(o, 1, 65535, opt(o, 2, 'eth0'), opt(o, 3, 'first interface'), endOpt()),
    // if 1: nanoseconds
    idb(o, 101, 1500, opt(o, 2, 'raw0'), opt(o, 9, u8(9)), endOpt()),
    // if 2: 2^-20 s units, one hour behind
    idb(o, 1, 65535, opt(o, 2, 'pow2'), opt(o, 9, u8(0x80 | 20)), opt(o, 14, i64(o, -3600n)), endOpt()),
    // Name Resolution Block holding only nrb_record_end: valid, not interpreted
    block(o, 4, u32(o, 0)),
    epb(o, 0, 1700000000123456n, DATA18, 60, opt(o, 2, u32(o, 1)), endOpt()),
    epb(o, 1, 1700000000987654321n, DATA5, 5, opt(o, 1, 'hello'), opt(o, 2, u32(o, 2)), endOpt()),
    epb(o, 2, 1700000000n * 1048576n + 524289n, DATA18, 18),
    spb(o, DATA7, 7),
    pb(o, 1, 0, 1700000001000000001n, DATA5, 5, opt(o, 2, u32(o, 2)), endOpt()),
    isb(
      o,
      0,
      1700000002000000n,
      opt(o, 2, ts(o, 1700000000000000n)),
      opt(o, 3, ts(o, 1700000002000000n)),
      opt(o, 4, u64(o, 100n)),
      opt(o, 5, u64(o, 3n)),
      opt(o, 6, u64(o, 90n)),
      opt(o, 7, u64(o, 2n)),
      opt(o, 8, u64(o, 88n)),
      opt(o, 1, 'stats'),
      endOpt(),
    ),
    custom(o, true, 32473, Buffer.from('hello!!!')),
    custom(o, false, 32473, Buffer.from('abc')),
    block(o, 0x12345, u32(o, 7)), // a block type nobody defined
  );
}

/** A second section: picosecond units with an epoch offset, and an ISB without options. */
export function sectionB(o: Order): Buffer {
  return cat(
    shb(o),
    idb(o, 113, 262144, opt(o, 2, 'any'), opt(o, 9, u8(12)), opt(o, 14, i64(o, 1700000000n)), endOpt()),
    epb(o, 0, 12345678901n, DATA18, 18),
    epb(o, 0, 987654321098n, DATA18, 18),
    isb(o, 0, 0n),
  );
}

export function twoSections(first: Order): Buffer {
  return cat(sectionA(first), sectionB(first === 'le' ? 'be' : 'le'));
}

/** What the reader must report for twoSections(), worked out by hand. */
export const expectedPackets = [
  // 1700000000123456 us
  { interfaceKey: 0, linkType: 1, tsNs: 1700000000123456000n, capturedLength: 18, originalLength: 60, flags: 1, data: DATA18 },
  { interfaceKey: 1, linkType: 101, tsNs: 1700000000987654321n, capturedLength: 5, originalLength: 5, flags: 2, data: DATA5 },
  // (1700000000 * 2^20 + 524289) / 2^20 s = 1700000000.500000953674... s, rounded down, minus 3600 s
  { interfaceKey: 2, linkType: 1, tsNs: 1699996400500000953n, capturedLength: 18, originalLength: 18, flags: 0, data: DATA18 },
  // Simple Packet Block: interface 0, the latest timestamp seen
  { interfaceKey: 0, linkType: 1, tsNs: 1699996400500000953n, capturedLength: 7, originalLength: 7, flags: 0, data: DATA7 },
  // obsolete Packet Block with pack_flags
  { interfaceKey: 1, linkType: 101, tsNs: 1700000001000000001n, capturedLength: 5, originalLength: 5, flags: 2, data: DATA5 },
  // 12345678901 ps = 0.012345678901 s, rounded down, plus 1700000000 s
  { interfaceKey: 65536, linkType: 113, tsNs: 1700000000012345678n, capturedLength: 18, originalLength: 18, flags: 0, data: DATA18 },
  { interfaceKey: 65536, linkType: 113, tsNs: 1700000000987654321n, capturedLength: 18, originalLength: 18, flags: 0, data: DATA18 },
];

export const expectedInterfaces = [
  { id: 0, section: 0, linkType: 1, snapLen: 65535, application: 'hand-built', name: 'eth0', description: 'first interface', tsResol: { base: 10, exponent: 6 }, tsOffsetSeconds: 0n },
  { id: 1, section: 0, linkType: 101, snapLen: 1500, application: 'hand-built', name: 'raw0', tsResol: { base: 10, exponent: 9 }, tsOffsetSeconds: 0n },
  { id: 2, section: 0, linkType: 1, snapLen: 65535, application: 'hand-built', name: 'pow2', tsResol: { base: 2, exponent: 20 }, tsOffsetSeconds: -3600n },
  { id: 0, section: 1, linkType: 113, snapLen: 262144, name: 'any', tsResol: { base: 10, exponent: 12 }, tsOffsetSeconds: 1700000000n },
];

export const expectedStatistics = [
  {
    interfaceKey: 0,
    tsNs: 1700000002000000000n,
    startNs: 1700000000000000000n,
    endNs: 1700000002000000000n,
    ifRecv: 100n,
    ifDrop: 3n,
    filterAccept: 90n,
    osDrop: 2n,
    usrDeliv: 88n,
    comment: 'stats',
  },
  { interfaceKey: 65536, tsNs: 1700000000000000000n },
];

export const expectedCustom = [
  { pen: 32473, data: Buffer.from('hello!!!'), copyable: true },
  // three bytes of data come back with the block's padding
  { pen: 32473, data: Buffer.from('abc\0'), copyable: false },
];
