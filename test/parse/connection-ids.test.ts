// The table of connection IDs by which a QUIC connection is found on a new path (ConnectionIds):
// short and long headers, IDs of several lengths, bounds per connection and overall, an ID issued
// again by another connection, and forgetting a connection that ended.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConnectionIds } from '../../packages/protocols/src/connection-ids.js';

const id = (hex: string) => Buffer.from(hex, 'hex');
/** A short-header packet (RFC 9000 §17.3.1) to `dcid`, then protected bytes. */
const short = (dcid: string) => Buffer.concat([Buffer.from([0x41]), id(dcid), Buffer.alloc(30, 0xaa)]);
/** A long-header Handshake packet (§17.2) to `dcid` from an 8-byte source ID. */
const long = (dcid: string) => Buffer.concat([Buffer.from([0xe0, 0, 0, 0, 1, dcid.length / 2]), id(dcid), Buffer.from([8]), Buffer.alloc(8, 1), Buffer.alloc(30, 0xaa)]);

test('a datagram is found by the destination ID of its first packet, short header (tried at each length in the table) or long (its stated length)', () => {
  const t = new ConnectionIds<{ n: number }>();
  const a = { n: 1 };
  const b = { n: 2 };
  assert.equal(t.find(short('0011223344556677')), undefined, 'empty table');
  t.add(a, id('0011223344556677'), true);
  t.add(a, id('a1a2a3a4'), false);
  t.add(b, id('b0b1b2b3b4b5b6b7b8b9b0b1b2b3b4b5b6b7'), true);
  assert.deepEqual(t.find(short('0011223344556677')), { owner: a, toServer: true });
  assert.deepEqual(t.find(short('a1a2a3a4')), { owner: a, toServer: false }, '4 bytes');
  assert.deepEqual(t.find(short('b0b1b2b3b4b5b6b7b8b9b0b1b2b3b4b5b6b7')), { owner: b, toServer: true }, '18 bytes');
  assert.deepEqual(t.find(long('0011223344556677')), { owner: a, toServer: true });
  assert.equal(t.find(long('00112233445566')), undefined, 'a long header states its length: a prefix is not the ID');
  assert.equal(t.find(short('0011223344556600')), undefined);
  assert.equal(t.find(Buffer.from([0x41, 0x00, 0x11])), undefined, 'shorter than any ID');
  assert.equal(t.find(Buffer.from([0xc0, 0, 0, 0, 1, 20, 1, 2])), undefined, 'a long header cut inside its ID');
  assert.equal(t.size, 3);
});

test('IDs shorter than 4 bytes (or empty: an endpoint that cannot migrate) or longer than 20 are not taken', () => {
  const t = new ConnectionIds<object>();
  const a = {};
  assert.equal(t.add(a, Buffer.alloc(0), true), true);
  assert.equal(t.add(a, id('010203'), true), true);
  assert.equal(t.add(a, Buffer.alloc(21, 7), true), true);
  assert.equal(t.size, 0);
  assert.equal(t.find(short('01020304050607')), undefined);
});

test('each connection keeps its last 16 IDs; forget drops them all; an ID issued again belongs to the newer connection', () => {
  const t = new ConnectionIds<{ n: number }>();
  const a = { n: 1 };
  const b = { n: 2 };
  const cid = (i: number) => id(`c0ffee${i.toString(16).padStart(2, '0')}00000000`);
  for (let i = 0; i < 20; i++) t.add(a, cid(i), true);
  assert.equal(t.size, 16);
  for (let i = 0; i < 4; i++) assert.equal(t.find(short(cid(i).toString('hex'))), undefined, `the oldest, ${i}, retired`);
  for (let i = 4; i < 20; i++) assert.equal(t.find(short(cid(i).toString('hex')))?.owner, a);
  t.add(a, cid(19), true);
  assert.equal(t.size, 16, 'taken twice, kept once');
  t.add(b, cid(19), false);
  assert.deepEqual(t.find(short(cid(19).toString('hex'))), { owner: b, toServer: false });
  assert.equal(t.size, 16);
  t.forget(a);
  assert.equal(t.size, 1, 'b keeps the ID it took over');
  assert.equal(t.find(short(cid(10).toString('hex'))), undefined);
  t.forget(b);
  assert.equal(t.size, 0);
  assert.equal(t.find(short(cid(19).toString('hex'))), undefined);
});

test('the table is bounded: past 65,536 IDs, none is taken and add says so', () => {
  const t = new ConnectionIds<object>();
  let owner = {};
  for (let i = 0; i < 65536; i++) {
    if (i % 16 === 0) owner = {};
    const b = Buffer.alloc(8);
    b.writeUInt32BE(i);
    assert.equal(t.add(owner, b, true), true);
  }
  assert.equal(t.size, 65536);
  assert.equal(t.add({}, Buffer.alloc(8, 0xff), true), false);
  assert.equal(t.size, 65536);
  assert.equal(t.find(short('ffffffffffffffff')), undefined);
});

test('with several workers, a QUIC datagram goes to the shard where the connection that chose its destination ID started; other UDP (a DNS response, whose first bit is a long header\'s) by its tuple', async () => {
  const { QuicShardIds } = await import('../../packages/protocols/src/quic/shard-ids.js');
  const t = new QuicShardIds();
  /** A QUIC v1 long header (a Handshake packet) from `scid` to `dcid`. */
  const longFrom = (scid: string, dcid: string) => Buffer.concat([Buffer.from([0xe0, 0, 0, 0, 1, dcid.length / 2]), id(dcid), Buffer.from([scid.length / 2]), id(scid), Buffer.alloc(40, 0xaa)]);
  // the handshake on a flow of shard 1: each side's source ID is learned for shard 1
  assert.equal(t.shardOf(longFrom('c11e47c11e47', '5e77e75e77e7'), 1), 1);
  assert.equal(t.shardOf(longFrom('5e77e75e77e7aa', 'c11e47c11e47'), 1), 1);
  // a rebound path whose tuple falls to shard 0: its packets go to shard 1 both ways
  assert.equal(t.shardOf(short('5e77e75e77e7aa'), 0), 1);
  assert.equal(t.shardOf(short('c11e47c11e47'), 0), 1);
  assert.equal(t.shardOf(short('0000000000000000'), 0), 0, 'an unknown ID: by its tuple');
  // a DNS response (QR bit set, no QUIC version in bytes 1-4) is no long header, learns nothing
  const dns = Buffer.from('c11e8180000100010000000003777777076578616d706c6503636f6d0000010001', 'hex');
  assert.equal(t.shardOf(dns, 0), 0);
  assert.equal(t.shardOf(dns, 1), 1);
});
