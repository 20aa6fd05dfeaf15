/**
 * The TLS plaintext record (pano-frames(5) type 2): byte-exact encoding
 * against bytes built by hand from the man page, its damage checks, and that
 * a reader of loss records only (type 1) passes it by.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CaptureReader, PcapngWriter, PANO_PEN, decodeLossRecord, decodeTlsRecord, encodeTlsRecord, decodeTlsEndRecord, encodeTlsEndRecord, TLS_END_RECORD_SIZE, TLS_RECORD_HEADER, type CustomBlock, type TlsRecord } from '@panopticon/pcap';

/** The record of the man page's table, byte by byte. */
function handBuilt(data: Buffer, moved = data.length): Buffer {
  const h = Buffer.alloc(108);
  h.writeUInt16LE(2, 0);
  h.writeUInt16LE(1, 2);
  h.writeUInt32LE(4242, 4);
  h.writeBigUInt64LE(1_795_000_000_123_456_789n, 8);
  h.writeUInt32LE(4243, 16);
  h[20] = 2; // sent
  h[21] = 4;
  h.writeUInt16LE(51000, 22);
  h.writeUInt16LE(443, 24);
  h[26] = 1; // client
  h.writeUInt32LE(moved, 28);
  h.writeBigUInt64LE(0x55d0c0ffee00n, 32);
  Buffer.from([10, 0, 0, 1]).copy(h, 40);
  Buffer.from([10, 0, 0, 2]).copy(h, 56);
  h.write('curl', 72, 'latin1');
  h.write('openssl', 88, 'latin1');
  h.writeUInt32LE(data.length, 104);
  return Buffer.concat([h, data]);
}

const DATA = Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\r\n');

function record(over: Partial<TlsRecord> = {}): TlsRecord {
  const local = Buffer.alloc(16);
  local.set([10, 0, 0, 1]);
  const remote = Buffer.alloc(16);
  remote.set([10, 0, 0, 2]);
  return {
    tsNs: 1_795_000_000_123_456_789n,
    pid: 4242,
    tid: 4243,
    direction: 2,
    ipVersion: 4,
    localAddress: local,
    localPort: 51000,
    remoteAddress: remote,
    remotePort: 443,
    length: DATA.length,
    ssl: 0x55d0c0ffee00n,
    comm: 'curl',
    library: 'openssl',
    role: 1,
    data: DATA,
    ...over,
  };
}

test('encodeTlsRecord writes exactly the bytes of pano-frames(5)', () => {
  assert.equal(TLS_RECORD_HEADER, 108);
  assert.deepEqual(encodeTlsRecord(record()), handBuilt(DATA));
});

test('decodeTlsRecord reads hand-built bytes', () => {
  const r = decodeTlsRecord(handBuilt(DATA, 100_000));
  assert.ok(r && typeof r !== 'string');
  assert.equal(r.pid, 4242);
  assert.equal(r.tid, 4243);
  assert.equal(r.tsNs, 1_795_000_000_123_456_789n);
  assert.equal(r.direction, 2);
  assert.equal(r.ipVersion, 4);
  assert.deepEqual([...r.localAddress.subarray(0, 4)], [10, 0, 0, 1]);
  assert.deepEqual([...r.remoteAddress.subarray(0, 4)], [10, 0, 0, 2]);
  assert.equal(r.localPort, 51000);
  assert.equal(r.remotePort, 443);
  assert.equal(r.length, 100_000);
  assert.equal(r.ssl, 0x55d0c0ffee00n);
  assert.equal(r.comm, 'curl');
  assert.equal(r.library, 'openssl');
  assert.equal(r.role, 1);
  assert.deepEqual(r.data, DATA);
});

test('the role byte: server and unknown round-trip; a record written before roles (byte 26 zero) has role 0', () => {
  for (const role of [0, 2] as const) {
    const r = decodeTlsRecord(encodeTlsRecord(record({ role })));
    assert.ok(r && typeof r !== 'string');
    assert.equal(r.role, role);
  }
  const old = handBuilt(DATA);
  old[26] = 0;
  const r = decodeTlsRecord(old);
  assert.ok(r && typeof r !== 'string');
  assert.equal(r.role, 0);
});

test('a 15-character thread name and library fill their fields, NUL-terminated; longer ones are cut', () => {
  const r = decodeTlsRecord(encodeTlsRecord(record({ comm: 'node-MainThread', library: 'a-very-long-library-name' })));
  assert.ok(r && typeof r !== 'string');
  assert.equal(r.comm, 'node-MainThread');
  assert.equal(r.library, 'a-very-long-lib');
});

test('IPv6 and unknown connections round-trip', () => {
  const a = Buffer.from('20010db8000000000000000000000001', 'hex');
  const r6 = decodeTlsRecord(encodeTlsRecord(record({ ipVersion: 6, localAddress: a, direction: 1 })));
  assert.ok(r6 && typeof r6 !== 'string');
  assert.deepEqual(r6.localAddress, a);
  assert.equal(r6.direction, 1);
  const r0 = decodeTlsRecord(encodeTlsRecord(record({ ipVersion: 0, localAddress: Buffer.alloc(16), localPort: 0 })));
  assert.ok(r0 && typeof r0 !== 'string');
  assert.equal(r0.ipVersion, 0);
});

test('damage is named, not decoded; other record types are not TLS records', () => {
  const good = handBuilt(DATA);
  const damaged = (f: (b: Buffer) => void) => {
    const b = Buffer.from(good);
    f(b);
    return decodeTlsRecord(b);
  };
  // a later version is not damage: skipped, as unknown types are
  assert.equal(damaged((b) => b.writeUInt16LE(2, 2)), undefined);
  assert.match(String(damaged((b) => (b[20] = 3))), /direction 3/);
  assert.match(String(damaged((b) => (b[21] = 5))), /IP version 5/);
  assert.match(String(damaged((b) => (b[26] = 3))), /role 3/);
  assert.match(String(damaged((b) => b.writeUInt32LE(DATA.length + 1, 104))), /overruns/);
  assert.match(String(damaged((b) => b.writeUInt32LE(2 << 20, 104))), /overruns/);
  assert.match(String(damaged((b) => b.writeUInt32LE(DATA.length - 1, 28))), /fewer than/);
  assert.match(String(decodeTlsRecord(good.subarray(0, 100))), /shorter than its 108-byte header/);
  const loss = Buffer.alloc(48);
  loss.writeUInt16LE(1, 0);
  loss.writeUInt16LE(1, 2);
  assert.equal(decodeTlsRecord(loss), undefined);
  assert.equal(decodeLossRecord(good), undefined);
});

test('in a pcapng stream, the record comes back whole through the reader, padding and all', () => {
  const w = new PcapngWriter();
  const odd = Buffer.from('x'.repeat(13));
  const stream = Buffer.concat([
    w.sectionHeader({ application: 'pano-capture' }),
    w.custom({ pen: PANO_PEN, copyable: true, data: encodeTlsRecord(record({ data: odd, length: odd.length })) }),
  ]);
  const seen: CustomBlock[] = [];
  const r = new CaptureReader({ onFrame: () => {}, onCustom: (c) => seen.push({ ...c, data: Buffer.from(c.data) }) });
  r.push(stream);
  r.end();
  assert.equal(seen.length, 1);
  const t = decodeTlsRecord(seen[0].data);
  assert.ok(t && typeof t !== 'string');
  assert.deepEqual(t.data, odd);
});

/** The TLS end record of the man page's table (type 3), byte by byte. */
function handBuiltEnd(reason: number, ssl: bigint): Buffer {
  const b = Buffer.alloc(48);
  b.writeUInt16LE(3, 0);
  b.writeUInt16LE(1, 2);
  b.writeUInt32LE(4242, 4);
  b.writeBigUInt64LE(1_795_000_000_987_654_321n, 8);
  b.writeBigUInt64LE(ssl, 16);
  b[24] = reason;
  b.write('openssl', 32, 'latin1');
  return b;
}

test('TLS end records (type 3): exact bytes both ways, for a freed connection and a process exit', () => {
  assert.equal(TLS_END_RECORD_SIZE, 48);
  const freed = { tsNs: 1_795_000_000_987_654_321n, pid: 4242, reason: 1 as const, ssl: 0x55d0c0ffee00n, library: 'openssl' };
  assert.deepEqual(encodeTlsEndRecord(freed), handBuiltEnd(1, 0x55d0c0ffee00n));
  assert.deepEqual(decodeTlsEndRecord(handBuiltEnd(1, 0x55d0c0ffee00n)), freed);
  assert.deepEqual(decodeTlsEndRecord(handBuiltEnd(2, 0n)), { ...freed, reason: 2, ssl: 0n });
  // each decoder passes the other's records by
  assert.equal(decodeTlsRecord(handBuiltEnd(2, 0n)), undefined);
  assert.equal(decodeTlsEndRecord(handBuilt(DATA)), undefined);
});

test('TLS end record damage is named, not applied', () => {
  assert.match(String(decodeTlsEndRecord(handBuiltEnd(3, 1n))), /reason 3/);
  assert.match(String(decodeTlsEndRecord(handBuiltEnd(1, 0n))), /names no connection object/);
  assert.match(String(decodeTlsEndRecord(handBuiltEnd(2, 5n))), /process exit names a connection object/);
  assert.match(String(decodeTlsEndRecord(handBuiltEnd(2, 0n).subarray(0, 40))), /shorter than 48/);
  const later = handBuiltEnd(2, 0n);
  later.writeUInt16LE(2, 2);
  assert.equal(decodeTlsEndRecord(later), undefined);
});
