// HTTP/3 (RFC 9114) over decrypted QUIC streams, built by hand: control streams with SETTINGS, QPACK
// encoder streams, request streams whose STREAM frames arrive out of order, overlap and split frames
// anywhere; a HEADERS frame that waits for its QPACK entries (and one that waits for the SETTINGS it
// is encoded against); reserved frame and stream types passed over; RESET_STREAM; the connection's end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Dir } from '@panopticon/flows';
import { Http3Connection } from '../../packages/protocols/src/http3/connection.js';
import { fakeContext } from '../helpers/fake-parser-context.js';

/** A QUIC variable-length integer (RFC 9000 §16). */
function varint(n: number): Buffer {
  if (n < 64) return Buffer.from([n]);
  if (n < 16384) return Buffer.from([0x40 | (n >> 8), n & 0xff]);
  const b = Buffer.alloc(4);
  b.writeUInt32BE((0x80000000 | n) >>> 0);
  return b;
}
const frame = (type: number, payload: Buffer) => Buffer.concat([varint(type), varint(payload.length), payload]);
const str7 = (s: string) => Buffer.concat([Buffer.from([s.length]), Buffer.from(s)]);
/** Field lines (RFC 9204 §4.5): indexed static, literal with static name reference, indexed dynamic (relative to Base). */
const staticField = (i: number) => Buffer.from([0xc0 | i]);
const staticName = (i: number, value: string) => Buffer.concat([Buffer.from([0x50 | i]), str7(value)]);
const dynamicField = (relative: number) => Buffer.from([0x80 | relative]);
const settings = (capacity: number) => Buffer.concat([Buffer.from([0x00]), frame(0x04, Buffer.concat([varint(0x01), varint(capacity), varint(0x21), varint(7)]))]);

function setup() {
  const ctx = fakeContext();
  const h3 = new Http3Connection(ctx, (r) => (r.attributes = { ...r.attributes, marked: true }));
  let t = 1000n;
  const send = (dir: Dir, id: number, offset: number, data: Buffer, fin = false) => h3.stream(dir, id, offset, data, fin, (t += 1000n));
  return { ctx, h3, send };
}

test('a request on stream 0: out-of-order and overlapping STREAM frames, a HEADERS waiting for its QPACK entry, a reserved frame type, bodies whole', () => {
  const { ctx, send } = setup();
  send(Dir.ToServer, 2, 0, settings(4096));
  send(Dir.ToClient, 3, 0, settings(4096));
  // the client's request refers to dynamic entry 0 (authority), which its encoder stream inserts later
  const reqHeaders = frame(0x01, Buffer.concat([Buffer.from([0x02, 0x00]), staticField(20), staticField(23), dynamicField(0), staticName(1, '/v1/orders')]));
  const body = Buffer.from(JSON.stringify({ item: 'book', qty: 2 }));
  const reqStream = Buffer.concat([reqHeaders, frame(0x21, Buffer.from('reserved')), frame(0x00, body.subarray(0, 10)), frame(0x00, body.subarray(10))]);
  // delivered out of order: the tail first, then an overlapping middle, then the head
  send(Dir.ToServer, 0, 20, reqStream.subarray(20), true);
  send(Dir.ToServer, 0, 8, reqStream.subarray(8, 30));
  send(Dir.ToServer, 0, 0, reqStream.subarray(0, 12));
  assert.equal(ctx.records.length, 0);
  // the encoder stream: capacity 4096, insert :authority=shop.example with a static name reference
  const enc = Buffer.concat([Buffer.from([0x02, 0x3f, 0xe1, 0x1f, 0xc0]), str7('shop.example')]);
  send(Dir.ToServer, 6, 0, enc.subarray(0, 4));
  send(Dir.ToServer, 6, 4, enc.subarray(4));
  const answer = Buffer.from('{"order":42}');
  const resStream = Buffer.concat([frame(0x01, Buffer.concat([Buffer.from([0x00, 0x00]), staticField(25), staticField(46)])), frame(0x00, answer)]);
  for (let i = 0; i < resStream.length; i += 5) send(Dir.ToClient, 0, i, resStream.subarray(i, i + 5), i + 5 >= resStream.length);
  assert.equal(ctx.records.length, 1);
  const r = ctx.records[0]!;
  const a = r.attributes as any;
  assert.equal(r.kind, 'exchange');
  assert.equal(r.protocol, 'http3');
  assert.equal(a.marked, true);
  assert.deepEqual(a.network, { protocol: { name: 'http', version: '3' } });
  assert.deepEqual(a.http3, { stream_id: 0 });
  assert.equal(a.http.request.method, 'POST');
  assert.deepEqual(a.url, { scheme: 'https', path: '/v1/orders' });
  assert.deepEqual(a.http.request.header[':authority'], ['shop.example']);
  assert.equal(a.http.request.body.content, body.toString());
  assert.equal(a.http.response.status_code, 200);
  assert.equal(a.http.response.header['content-type'][0], 'application/json');
  assert.equal(a.http.response.body.content, answer.toString());
  assert.equal(r.requestBytes, reqStream.length);
  assert.equal(r.responseBytes, resStream.length);
});

test('a HEADERS frame with dynamic references before the peer\'s SETTINGS waits for them; RESET_STREAM and the connection\'s end report what is open', () => {
  const { ctx, h3, send } = setup();
  // the client's encoder stream and request come before the server's SETTINGS say the table's capacity
  send(Dir.ToServer, 2, 0, settings(4096));
  send(Dir.ToServer, 6, 0, Buffer.concat([Buffer.from([0x02, 0x3f, 0xe1, 0x1f, 0xc0]), str7('api.example')]));
  send(Dir.ToServer, 0, 0, frame(0x01, Buffer.concat([Buffer.from([0x02, 0x00]), staticField(17), staticField(23), dynamicField(0), staticName(1, '/a')])), true);
  assert.equal(ctx.counts.get('http3.malformed'), undefined);
  send(Dir.ToClient, 3, 0, settings(4096));
  send(Dir.ToClient, 0, 0, frame(0x01, Buffer.from([0x00, 0x00, 0xc0 | 27])), true);
  // stream 4: a request the client resets; stream 8: a request still open when the connection ends
  send(Dir.ToServer, 4, 0, frame(0x01, Buffer.concat([Buffer.from([0x00, 0x00]), staticField(17), staticField(23), staticName(1, '/b')])));
  h3.reset(Dir.ToServer, 4, 0x10c, 9000n);
  send(Dir.ToServer, 8, 0, frame(0x01, Buffer.concat([Buffer.from([0x00, 0x00]), staticField(17), staticField(23), staticName(1, '/c')])), true);
  h3.close('fin', 10000n);
  const seen = ctx.records.map((r) => [(r.attributes as any).url.path, r.kind, (r.attributes as any).http.response?.status_code, r.flags]);
  assert.deepEqual(seen, [
    ['/a', 'exchange', 404, undefined],
    ['/b', 'unanswered', undefined, ['reset']],
    ['/c', 'unanswered', undefined, ['closed']],
  ]);
  assert.deepEqual((ctx.records[1]!.attributes as any).http3.reset, { by: 'client', error_code: '0x10c' });
});

test('a late copy of a reported stream is not a new request; QPACK damage and a header frame over the bound are counted, not thrown', () => {
  const { ctx, send } = setup();
  send(Dir.ToServer, 2, 0, settings(0));
  send(Dir.ToClient, 3, 0, settings(0));
  const req = frame(0x01, Buffer.concat([Buffer.from([0x00, 0x00]), staticField(17), staticField(23), staticName(1, '/once')]));
  send(Dir.ToServer, 0, 0, req, true);
  send(Dir.ToClient, 0, 0, frame(0x01, Buffer.from([0x00, 0x00, 0xc0 | 25])), true);
  send(Dir.ToServer, 0, 0, req, true);
  send(Dir.ToClient, 0, 0, frame(0x01, Buffer.from([0x00, 0x00, 0xc0 | 25])), true);
  assert.equal(ctx.records.length, 1);
  // a static index past the table (63 + 50), and a HEADERS frame claiming more than --max-header-bytes
  send(Dir.ToServer, 4, 0, frame(0x01, Buffer.from([0x00, 0x00, 0xff, 50])), true);
  send(Dir.ToServer, 8, 0, Buffer.concat([varint(0x01), varint(1 << 20)]), false);
  assert.equal(ctx.counts.get('http3.malformed'), 2);
});
