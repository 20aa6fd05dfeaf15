// TunnelStream on its own: a carried byte stream's protocol detected from its first bytes (held while a
// module asks for more), its records marked by the carrier; a start no module knows is ignored and counted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TunnelStream } from '../../packages/protocols/src/tunnel.js';
import { http1Module } from '../../packages/protocols/src/http1/index.js';
import { tlsModule } from '../../packages/protocols/src/tls/index.js';
import { fakeContext } from '../helpers/fake-parser-context.js';

const mark = (r: { protocol?: string; attributes: Record<string, unknown> }, protocol: string) => {
  r.protocol = protocol;
  r.attributes = { ...r.attributes, carrier: { stream_id: 7 } };
};

test('an HTTP/1.1 exchange whose request line comes in pieces is detected once it can be, and its event is marked', () => {
  const ctx = fakeContext();
  const t = new TunnelStream(ctx, [tlsModule, http1Module], mark);
  t.data(0, Buffer.from('GE'), 1n);
  t.data(0, Buffer.from('T /in?q=1 HTTP/1.1\r\nHost: inner.test\r\n\r\n'), 2n);
  t.data(1, Buffer.from('HTTP/1.1 204 No Content\r\n\r\n'), 3n);
  t.close('fin', 4n);
  assert.equal(ctx.records.length, 1);
  const r = ctx.records[0]!;
  assert.equal(r.protocol, 'http');
  assert.deepEqual(r.attributes.carrier, { stream_id: 7 });
  assert.equal((r.attributes.http as any).request.method, 'GET');
  assert.equal((r.attributes.http as any).response.status_code, 204);
  assert.equal(ctx.counts.get('tunnel.http'), 1);
});

test('bytes no module recognises at the start: ignored and counted, later bytes too; a gap before detection gives up', () => {
  const ctx = fakeContext();
  const t = new TunnelStream(ctx, [tlsModule, http1Module], mark);
  t.data(0, Buffer.from([0x00, 0xff, 0x13, 0x37, 0x42]), 1n);
  t.data(1, Buffer.from('after'), 2n);
  t.close('fin', 3n);
  assert.equal(ctx.records.length, 0);
  assert.equal(ctx.counts.get('tunnel.unidentified'), 1);
  assert.equal(ctx.counts.get('tunnel.ignored_bytes'), 5 + 5);
  const g = fakeContext();
  const u = new TunnelStream(g, [tlsModule, http1Module], mark);
  u.data(0, Buffer.from('GE'), 1n);
  u.gap(0, 100, 2n);
  u.data(0, Buffer.from('T / HTTP/1.1\r\n\r\n'), 3n);
  assert.equal(g.counts.get('tunnel.unidentified'), 1);
  assert.equal(g.records.length, 0);
});

test('a gap while detecting is handed to the parser in its place: a direction is detected from the bytes after its gap', () => {
  const ctx = fakeContext();
  const t = new TunnelStream(ctx, [tlsModule, http1Module], mark);
  // the client's first request was lost (TLS 0-RTT that could not be read); the answer to it comes first
  t.gap(0, 1, 1n);
  t.data(1, Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi'), 2n);
  t.data(0, Buffer.from('GET /next HTTP/1.1\r\nHost: inner.test\r\n\r\n'), 3n);
  t.data(1, Buffer.from('HTTP/1.1 204 No Content\r\n\r\n'), 4n);
  t.close('fin', 5n);
  assert.equal(ctx.counts.get('tunnel.http'), 1);
  assert.equal(ctx.counts.get('tunnel.unidentified'), undefined);
  const http = ctx.records.map((r) => r.attributes.http as any);
  assert.equal(ctx.records[0]!.kind, 'orphan_response');
  assert.equal(http[0].response.body.content, 'hi');
  assert.deepEqual([ctx.records[1]!.kind, http[1].request.method, http[1].response.status_code], ['exchange', 'GET', 204]);
});
