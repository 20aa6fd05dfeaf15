// memcached over UDP on hand-built datagrams (protocol.txt, "UDP protocol":
// an 8-byte frame header of request id, sequence number, datagram count and
// two reserved zero bytes, then the text or binary protocol): answers matched
// by request id, out of order, duplicated, split into several messages, lost;
// timeouts, eviction, damage; detection beside DNS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fakeContext, recordAsEvent } from '../helpers/fake-parser-context.js';
import { at } from '../helpers/parser-session.js';
import { assertValidEvents } from '../helpers/parse.js';
import { MemcachedDatagramParser } from '../../packages/protocols/src/memcached/udp.js';
import { detectMemcachedDatagram } from '../../packages/protocols/src/memcached/index.js';

function dg(id: number, seq: number, total: number, body: string | Buffer, reserved = 0): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(id, 0);
  h.writeUInt16BE(seq, 2);
  h.writeUInt16BE(total, 4);
  h.writeUInt16BE(reserved, 6);
  return Buffer.concat([h, Buffer.from(body)]);
}

function parser(opts: Parameters<typeof fakeContext>[0] = {}) {
  const ctx = fakeContext(opts);
  return { ctx, p: new MemcachedDatagramParser(ctx) };
}

test('answers matched by request id, whatever their order; an answer of several datagrams put back in sequence, duplicates dropped; END as a message of its own', () => {
  const { ctx, p } = parser();
  const value = 'v'.repeat(30);
  p.datagram(0, dg(1, 0, 1, 'get a b\r\n'), 1n);
  p.datagram(0, dg(2, 0, 1, 'delete c\r\n'), 2n);
  assert.equal(p.idle(), false);
  p.datagram(1, dg(2, 0, 1, 'DELETED\r\n'), 3n);
  const answer = `VALUE a 3 ${value.length}\r\n${value}\r\n`;
  // three datagrams, the last first and the middle twice; then END alone, as memcached sends it
  p.datagram(1, dg(1, 2, 3, answer.slice(20)), 4n);
  p.datagram(1, dg(1, 0, 3, answer.slice(0, 10)), 5n);
  p.datagram(1, dg(1, 1, 3, answer.slice(10, 20)), 6n);
  p.datagram(1, dg(1, 1, 3, answer.slice(10, 20)), 7n);
  assert.equal(ctx.records.length, 1, 'no END yet: the get still waits');
  p.datagram(1, dg(1, 0, 1, 'END\r\n'), 8n);
  assert.equal(p.idle(), true);
  assert.deepEqual(ctx.records.map((r) => [at(r, 'db.query.text'), at(r, 'memcached.response.status'), r.responseBytes]), [
    ['delete c', 'DELETED', 9],
    ['get a b', 'END', answer.length + 5],
  ]);
  assert.deepEqual(at(ctx.records[1]!, 'memcached.response.values'), [{ key: 'a', flags: 3, value: { size: value.length, content: value } }]);
  for (const r of ctx.records) assertValidEvents([recordAsEvent(r, 'memcached')]);
});

test('noreply is a message at once; an answer that never comes is unanswered at the timeout (flag timeout) or the end; maxPending evicts the oldest; a reused id ends the earlier request', () => {
  const { ctx, p } = parser({ maxPending: 2, responseTimeoutNs: 1000n });
  p.datagram(0, dg(1, 0, 1, 'set q 0 0 1 noreply\r\nx\r\n'), 1n);
  assert.equal(p.idle(), true);
  p.datagram(0, dg(2, 0, 1, 'get a\r\n'), 10n);
  p.datagram(0, dg(3, 0, 1, 'get b\r\n'), 20n);
  p.datagram(0, dg(4, 0, 1, 'get c\r\n'), 30n);
  p.datagram(0, dg(4, 0, 1, 'get d\r\n'), 40n);
  p.datagram(1, dg(3, 0, 2, 'VALUE b 0 1\r\n'), 50n);
  p.tick(1035n);
  p.close('end', 2000n);
  assert.deepEqual(ctx.records.map((r) => [r.kind, at(r, 'db.query.text'), r.flags ?? []]), [
    ['message', 'set q 0 0 1 noreply', []],
    ['unanswered', 'get a', ['evicted']],
    ['unanswered', 'get c', ['timeout']],
    ['unanswered', 'get b', ['timeout']],
    ['unanswered', 'get d', ['eof']],
  ]);
  assert.equal(ctx.counts.get('memcached.pending_overflow'), 1);
  assert.equal(ctx.counts.get('memcached.udp_lost_datagrams'), undefined, 'get b: its first datagram came, nothing held');
});

test('damage: a bad frame header, a request of several datagrams, an answer with no request, a total that changes mid-message, an answer whole but not ending', () => {
  const { ctx, p } = parser();
  p.datagram(0, dg(1, 0, 1, 'get a\r\n', 7), 1n);
  p.datagram(0, dg(2, 0, 2, 'get a\r\n'), 2n);
  p.datagram(1, dg(9, 0, 1, 'END\r\n'), 3n);
  p.datagram(0, Buffer.from([0, 1, 0]), 4n);
  p.datagram(0, dg(3, 0, 1, 'get b\r\n'), 5n);
  p.datagram(1, dg(3, 0, 2, 'VALUE b 0 1\r\n'), 6n);
  p.datagram(1, dg(3, 1, 3, 'x\r\n'), 7n);
  p.datagram(1, dg(3, 1, 2, 'x\r\nEND\r\n'), 8n);
  assert.deepEqual(ctx.records.map((r) => [r.kind, at(r, 'db.query.text'), at(r, 'memcached.response.status')]), [['exchange', 'get b', 'END']]);
  assert.equal(ctx.counts.get('memcached.malformed'), 3);
  assert.equal(ctx.counts.get('memcached.udp_multi_datagram_requests'), 1);
  assert.equal(ctx.counts.get('memcached.udp_unmatched_datagrams'), 1);
});

test('binary protocol over UDP: a request and its answer by id', () => {
  const { ctx, p } = parser();
  // a binary get of key "k" (opaque 7) and its key_not_found answer
  const req = Buffer.alloc(25);
  req[0] = 0x80; req[1] = 0x00; req.writeUInt16BE(1, 2); req.writeUInt32BE(1, 8); req.writeUInt32BE(7, 12); req[24] = 0x6b;
  const res = Buffer.alloc(33);
  res[0] = 0x81; res[1] = 0x00; res.writeUInt16BE(1, 6); res.writeUInt32BE(9, 8); res.writeUInt32BE(7, 12); res.write('Not found', 24);
  p.datagram(0, dg(5, 0, 1, req), 1n);
  p.datagram(1, dg(5, 0, 1, res), 2n);
  assert.deepEqual(ctx.records.map((r) => [r.kind, at(r, 'memcached.protocol'), at(r, 'db.operation.name'), at(r, 'memcached.response.status')]), [['exchange', 'binary', 'get', 'key_not_found']]);
});

test('detection: a frame header and a request or answer only memcached writes (a lone get too: Redis has no UDP); DNS and empty frames are not', () => {
  assert.deepEqual(detectMemcachedDatagram(dg(1, 0, 1, 'get user:1\r\n'), 0), { sender: 'client', confidence: 0.8 });
  assert.deepEqual(detectMemcachedDatagram(dg(1, 0, 1, 'set a 0 0 1\r\nx\r\n'), 0), { sender: 'client', confidence: 0.8 });
  assert.deepEqual(detectMemcachedDatagram(dg(1, 0, 1, 'STORED\r\n'), 1), { sender: 'server', confidence: 0.5 });
  assert.equal(detectMemcachedDatagram(dg(1, 0, 1, ''), 0), null);
  assert.equal(detectMemcachedDatagram(dg(1, 0, 1, 'get user:1\r\n', 1), 0), null);
  assert.equal(detectMemcachedDatagram(dg(1, 1, 1, 'get user:1\r\n'), 0), null);
  assert.equal(detectMemcachedDatagram(dg(1, 0, 1, 'hello world\r\n'), 0), null);
  // a DNS query for example.org: its flags (0x0100) are no sequence number within one datagram
  const dns = Buffer.from('abcd01000001000000000000076578616d706c65036f72670000010001', 'hex');
  assert.equal(detectMemcachedDatagram(dns, 0), null);
});
