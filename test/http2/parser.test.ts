// HTTP/2 connection parsing with hand-built frames: stitching, CONTINUATION,
// padding, trailers, gRPC framing, resets, push, upgrade and mid-stream joins.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { Http2Parser } from '../../packages/protocols/src/http2/parser.js';
import { HpackEncoder, encodeInteger } from '../../packages/protocols/src/http2/hpack.js';
import { detectHttp2 } from '../../packages/protocols/src/http2/index.js';
import { fakeContext } from '../helpers/fake-parser-context.js';
import { PREFACE, frame, grpcMessage, pbField, settings } from '../helpers/http2-frames.js';

const DATA = 0, HEADERS = 1, PRIORITY = 2, RST = 3, PUSH = 5, PING = 6, GOAWAY = 7, WINDOW = 8, CONT = 9;
const END_STREAM = 1, END_HEADERS = 4, PADDED = 8, PRIO = 0x20;

function simpleConversation() {
  const ce = new HpackEncoder();
  const se = new HpackEncoder();
  const stream1 = [
    frame(HEADERS, END_HEADERS, 1, ce.encode([[':method', 'POST'], [':scheme', 'http'], [':path', '/submit?x=1'], [':authority', 'example.test'], ['content-type', 'application/json'], ['user-agent', 'hand/1']])),
    frame(DATA, 0, 1, Buffer.from('{"a":')),
    frame(DATA, END_STREAM, 1, Buffer.from('1}')),
  ];
  const client = Buffer.concat([
    PREFACE,
    settings([[1, 4096], [4, 65535]]),
    stream1[0],
    stream1[1],
    frame(WINDOW, 0, 0, Buffer.from([0, 0, 1, 0])),
    stream1[2],
    frame(HEADERS, END_HEADERS | END_STREAM, 3, ce.encode([[':method', 'GET'], [':scheme', 'http'], [':path', '/two'], [':authority', 'example.test']])),
    frame(PING, 0, 0, Buffer.alloc(8)),
  ]);
  const server = Buffer.concat([
    settings([[3, 100]]),
    settings([], true),
    frame(HEADERS, END_HEADERS, 3, se.encode([[':status', '404'], ['content-type', 'text/plain']])),
    frame(DATA, END_STREAM, 3, Buffer.from('nope')),
    frame(HEADERS, END_HEADERS, 1, se.encode([[':status', '201'], ['content-type', 'text/plain']])),
    frame(DATA, END_STREAM, 1, Buffer.from('created')),
  ]);
  return { client, server, stream1Bytes: stream1.reduce((n, f) => n + f.length, 0) };
}

/** A gRPC server's reply on stream 1: headers, one message `{f1: 'ok'}`, trailers with status 0. */
function grpcOkReply(se: HpackEncoder): Buffer {
  return Buffer.concat([
    frame(HEADERS, END_HEADERS, 1, se.encode([[':status', '200'], ['content-type', 'application/grpc']])),
    frame(DATA, 0, 1, grpcMessage(pbField(1, 'ok'))),
    frame(HEADERS, END_HEADERS | END_STREAM, 1, se.encode([['grpc-status', '0']])),
  ]);
}

function check(records: ReturnType<typeof fakeContext>['records']) {
  assert.equal(records.length, 2);
  const [a, b] = records;
  assert.equal(a.kind, 'exchange');
  const h3 = a.attributes.http as any;
  assert.equal((a.attributes.http2 as any).stream_id, 3);
  assert.equal(h3.request.method, 'GET');
  assert.equal((a.attributes.url as any).path, '/two');
  assert.equal(h3.response.status_code, 404);
  assert.equal(h3.response.body.content, 'nope');
  const h1 = b.attributes.http as any;
  assert.equal((b.attributes.http2 as any).stream_id, 1);
  assert.equal(h1.request.method, 'POST');
  assert.deepEqual(b.attributes.url, { scheme: 'http', path: '/submit', query: 'x=1' });
  assert.deepEqual(h1.request.header[':authority'], ['example.test']);
  assert.deepEqual(b.attributes.user_agent, { original: 'hand/1' });
  assert.equal(h1.request.body.content, '{"a":1}');
  assert.equal(h1.response.status_code, 201);
  assert.equal(h1.response.body.content, 'created');
  assert.deepEqual(b.attributes.network, { protocol: { name: 'http', version: '2' } });
  assert.equal(b.flags, undefined);
}

test('prior knowledge: two streams stitched by id, split at every offset', () => {
  const { client, server, stream1Bytes } = simpleConversation();
  for (let cut = 0; cut <= client.length; cut += 1) {
    const ctx = fakeContext();
    const p = new Http2Parser(ctx);
    p.data(0, client.subarray(0, cut), 1n);
    p.data(0, client.subarray(cut), 2n);
    const sc = Math.min(cut, server.length);
    p.data(1, server.subarray(0, sc), 3n);
    p.data(1, server.subarray(sc), 4n);
    check(ctx.records);
    assert.deepEqual(ctx.abandoned, []);
  }
  // One byte at a time.
  const ctx = fakeContext();
  const p = new Http2Parser(ctx);
  for (let i = 0; i < client.length; i++) p.data(0, client.subarray(i, i + 1), BigInt(i));
  for (let i = 0; i < server.length; i++) p.data(1, server.subarray(i, i + 1), BigInt(1000 + i));
  check(ctx.records);
  assert.equal(ctx.records[1].requestBytes, stream1Bytes);
});

test('a frame on a finished stream is counted once, a late header block with its CONTINUATION too', () => {
  const { client, server } = simpleConversation();
  const ctx = fakeContext();
  const p = new Http2Parser(ctx);
  p.data(0, client, 1n);
  p.data(1, server, 2n);
  check(ctx.records);
  // Both streams are finished; the client sends on each (RFC 9113 §5.1: a stream error), the
  // first as a header block split over HEADERS and CONTINUATION (one block; the table still
  // takes its insertions), then a DATA frame and a lone HEADERS.
  const e = new HpackEncoder();
  const block = e.encode([['x-late', 'yes'], ['x-more', 'z'.repeat(40)]]);
  p.data(0, Buffer.concat([
    frame(HEADERS, 0, 1, block.subarray(0, 10)),
    frame(CONT, END_HEADERS, 1, block.subarray(10)),
    frame(DATA, END_STREAM, 3, Buffer.from('late')),
    frame(HEADERS, END_HEADERS | END_STREAM, 3, e.encode([['x-late', 'yes']])),
  ]), 3n);
  // and an RST_STREAM on a finished stream (a browser cancelling what it already has) is one too
  p.data(0, frame(RST, 0, 1, Buffer.from([0, 0, 0, 8])), 3n);
  p.close('fin', 4n);
  assert.equal(ctx.records.length, 2);
  assert.equal(ctx.counts.get('http2.frames_on_closed_streams'), 4);
  assert.equal(ctx.counts.get('http2.rst_stream'), undefined);
});

test('http2.streams counts every stream reported, also one reset or left open at the end', () => {
  const { client, server } = simpleConversation();
  const ce = new HpackEncoder();
  const ctx = fakeContext();
  const p = new Http2Parser(ctx);
  p.data(0, client, 1n);
  p.data(1, server, 2n);
  // The encoder above took no part in the conversation: these blocks use literals only.
  p.data(0, frame(HEADERS, END_HEADERS | END_STREAM, 5, ce.encode([[':method', 'GET'], [':path', '/reset']], { index: false })), 3n);
  p.data(1, frame(RST, 0, 5, Buffer.from([0, 0, 0, 8])), 4n);
  p.data(0, frame(HEADERS, END_HEADERS | END_STREAM, 7, ce.encode([[':method', 'GET'], [':path', '/open']], { index: false })), 5n);
  p.close('fin', 6n);
  assert.deepEqual(ctx.records.map((r) => [(r.attributes.http2 as any).stream_id, r.kind]), [[3, 'exchange'], [1, 'exchange'], [5, 'unanswered'], [7, 'unanswered']]);
  assert.equal(ctx.counts.get('http2.streams'), 4);
});

test('CONTINUATION, padding and priority fields', () => {
  const e = new HpackEncoder();
  const block = e.encode([[':method', 'GET'], [':scheme', 'https'], [':path', '/long'], [':authority', 'a.test'], ['x-big', 'y'.repeat(300)]]);
  const padded = Buffer.concat([Buffer.from([7]), Buffer.from([0x80, 0, 0, 0, 16]), block.subarray(0, 10), Buffer.alloc(7)]);
  const client = Buffer.concat([
    PREFACE,
    frame(HEADERS, PADDED | PRIO | END_STREAM, 5, padded),
    frame(CONT, 0, 5, block.subarray(10, 200)),
    frame(CONT, END_HEADERS, 5, block.subarray(200)),
    frame(PRIORITY, 0, 5, Buffer.from([0, 0, 0, 0, 9])),
  ]);
  const se = new HpackEncoder();
  const server = Buffer.concat([
    frame(HEADERS, END_HEADERS, 5, se.encode([[':status', '200']])),
    frame(DATA, PADDED, 5, Buffer.concat([Buffer.from([3]), Buffer.from('abc'), Buffer.alloc(3)])),
    frame(DATA, PADDED | END_STREAM, 5, Buffer.concat([Buffer.from([0]), Buffer.from('def')])),
  ]);
  const ctx = fakeContext();
  const p = new Http2Parser(ctx);
  p.data(0, client, 1n);
  p.data(1, server, 2n);
  assert.equal(ctx.records.length, 1);
  const http = ctx.records[0].attributes.http as any;
  assert.equal(http.request.header['x-big'][0], 'y'.repeat(300));
  assert.equal(http.response.body.content, 'abcdef');
  assert.equal(http.response.body.size, 6);
});

test('gRPC: messages across frames, gzip, trailers, wire decode', () => {
  const ce = new HpackEncoder();
  const se = new HpackEncoder();
  const m1 = Buffer.concat([pbField(1, 'alice@example.com'), pbField(2, 42), pbField(3, Buffer.concat([pbField(1, 'nested')]))]);
  const m2 = gzipSync(pbField(1, 'second'));
  const body = Buffer.concat([grpcMessage(m1), grpcMessage(m2, true)]);
  const client = Buffer.concat([
    PREFACE,
    frame(HEADERS, END_HEADERS, 1, ce.encode([[':method', 'POST'], [':scheme', 'http'], [':path', '/pkg.Users/Find'], [':authority', 'x'], ['content-type', 'application/grpc'], ['grpc-encoding', 'gzip'], ['te', 'trailers']])),
    frame(DATA, 0, 1, body.subarray(0, 3)),
    frame(DATA, 0, 1, body.subarray(3, 20)),
    frame(DATA, END_STREAM, 1, body.subarray(20)),
  ]);
  const server = Buffer.concat([
    frame(HEADERS, END_HEADERS, 1, se.encode([[':status', '200'], ['content-type', 'application/grpc']])),
    frame(DATA, 0, 1, grpcMessage(pbField(5, 'ok'))),
    frame(HEADERS, END_HEADERS | END_STREAM, 1, se.encode([['grpc-status', '5'], ['grpc-message', 'user%20not%20found']])),
  ]);
  const ctx = fakeContext();
  const p = new Http2Parser(ctx);
  p.data(0, client, 1n);
  p.data(1, server, 2n);
  assert.equal(ctx.records.length, 1);
  const a = ctx.records[0].attributes as any;
  assert.deepEqual(a.rpc, { system: 'grpc', service: 'pkg.Users', method: 'Find', grpc: { status_code: 5 } });
  assert.deepEqual(a.error, { type: 'NOT_FOUND' });
  assert.equal(a.grpc.status_message, 'user not found');
  assert.equal(a.grpc.request.message_count, 2);
  assert.equal(a.grpc.request.message_bytes, m1.length + m2.length);
  assert.deepEqual(a.grpc.request.messages[0].fields, { f1: 'alice@example.com', f2: 42, f3: { f1: 'nested' } });
  assert.equal(a.grpc.request.messages[1].compressed, true);
  assert.deepEqual(a.grpc.request.messages[1].fields, { f1: 'second' });
  assert.deepEqual(a.grpc.response.messages[0].fields, { f5: 'ok' });
  assert.deepEqual(a.http.response.trailer['grpc-status'], ['5']);
});

test('native gRPC with a content-encoding header (zstd, or one a proxy adds) is still framed as it streams, per message', () => {
  const ce = new HpackEncoder();
  const se = new HpackEncoder();
  const ctx = fakeContext();
  const p = new Http2Parser(ctx);
  const req = Buffer.concat([grpcMessage(pbField(1, 'one')), grpcMessage(pbField(1, 'two'))]);
  p.data(0, Buffer.concat([
    PREFACE,
    frame(HEADERS, END_HEADERS, 1, ce.encode([[':method', 'POST'], [':path', '/a.B/C'], ['content-type', 'application/grpc'], ['content-encoding', 'zstd']])),
    frame(DATA, 0, 1, req.subarray(0, 7)),
    frame(DATA, END_STREAM, 1, req.subarray(7)),
  ]), 1n);
  p.data(1, Buffer.concat([
    frame(HEADERS, END_HEADERS, 1, se.encode([[':status', '200'], ['content-type', 'application/grpc'], ['content-encoding', 'gzip']])),
    frame(DATA, 0, 1, grpcMessage(pbField(2, 'reply'))),
    frame(HEADERS, END_HEADERS | END_STREAM, 1, se.encode([['grpc-status', '0']])),
  ]), 2n);
  assert.equal(ctx.records.length, 1);
  const r = ctx.records[0];
  const a = r.attributes as any;
  assert.equal(r.flags, undefined);
  assert.equal(a.rpc.grpc.status_code, 0);
  assert.equal(a.grpc.request.message_count, 2);
  assert.deepEqual(a.grpc.request.messages.map((m: any) => m.fields), [{ f1: 'one' }, { f1: 'two' }]);
  assert.deepEqual(a.grpc.response.messages.map((m: any) => m.fields), [{ f2: 'reply' }]);
});

test('gRPC: 20 gzip messages of 2,000,000 bytes each (2 KB on the wire) stay within --max-body: cut, not decoded, the event small', () => {
  // A grpc-js client stream like this made a 40 MB event: each message was decompressed whole.
  const ce = new HpackEncoder();
  const se = new HpackEncoder();
  const zipped = Array.from({ length: 20 }, (_, i) => gzipSync(pbField(1, String.fromCharCode(97 + i).repeat(2_000_000))));
  const ctx = fakeContext();
  const p = new Http2Parser(ctx);
  p.data(0, Buffer.concat([
    PREFACE,
    frame(HEADERS, END_HEADERS, 1, ce.encode([[':method', 'POST'], [':path', '/demo.v1.Echo/ClientStream'], ['content-type', 'application/grpc'], ['grpc-encoding', 'gzip']])),
    ...zipped.map((z, i) => frame(DATA, i === 19 ? END_STREAM : 0, 1, grpcMessage(z, true))),
  ]), 1n);
  p.data(1, grpcOkReply(se), 2n);
  const r = ctx.records[0];
  const a = r.attributes as any;
  assert.equal(a.grpc.request.message_count, 20);
  assert.equal(a.grpc.request.message_bytes, zipped.reduce((n, z) => n + z.length, 0));
  assert.deepEqual(a.grpc.request.messages, zipped.map((z) => ({ size: z.length, compressed: true, truncated: true })));
  assert.deepEqual(a.grpc.response.messages, [{ size: 4, fields: { f1: 'ok' } }]);
  assert.deepEqual(r.flags, ['truncated']);
  assert.ok(JSON.stringify(r.attributes).length < 10_000, String(JSON.stringify(r.attributes).length));
});

test('gRPC: a response that is not gRPC by its content-type (a proxy\'s 502 page, a 503 text, none) is not framed; its body is kept as any body', () => {
  // nginx grpc_pass to a dead upstream answers 502 text/html: "<htm" was read as a 1.75 GB message.
  const html = '<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n';
  const cases: Array<{ status: string; headers: Array<[string, string]>; body: Buffer; content: string }> = [
    { status: '502', headers: [['content-type', 'text/html']], body: Buffer.from(html), content: html },
    { status: '503', headers: [['content-type', 'text/plain']], body: Buffer.from('upstream down\n'), content: 'upstream down\n' },
    { status: '503', headers: [['content-type', 'text/plain'], ['content-encoding', 'gzip']], body: gzipSync('upstream down\n'), content: 'upstream down\n' },
    { status: '502', headers: [], body: Buffer.from('no content-type\n'), content: 'no content-type\n' },
  ];
  for (const c of cases) {
    const ce = new HpackEncoder();
    const se = new HpackEncoder();
    const ctx = fakeContext();
    const p = new Http2Parser(ctx);
    p.data(0, Buffer.concat([
      PREFACE,
      frame(HEADERS, END_HEADERS, 1, ce.encode([[':method', 'POST'], [':path', '/demo.v1.Echo/Unary'], ['content-type', 'application/grpc'], ['te', 'trailers']])),
      frame(DATA, END_STREAM, 1, grpcMessage(pbField(1, 'hi'))),
    ]), 1n);
    p.data(1, Buffer.concat([
      frame(HEADERS, END_HEADERS, 1, se.encode([[':status', c.status], ...c.headers])),
      frame(DATA, END_STREAM, 1, c.body),
    ]), 2n);
    const r = ctx.records[0];
    const a = r.attributes as any;
    const what = `${c.status} ${JSON.stringify(c.headers)}`;
    assert.equal(r.flags, undefined, what);
    assert.equal(a.rpc.system, 'grpc', what);
    assert.deepEqual(a.grpc.request, { message_count: 1, message_bytes: 4, messages: [{ size: 4, fields: { f1: 'hi' } }] }, what);
    assert.deepEqual(a.http.request.body, { size: 9 }, what);
    assert.equal(a.grpc.response, undefined, what);
    assert.equal(a.http.response.body.size, c.body.length, what);
    assert.equal(a.http.response.body.content, c.content, what);
    assert.deepEqual(a.error, { type: c.status }, what);
  }
});

test('gRPC: a request that says it is not gRPC (JSON) answered in gRPC keeps its body as a body; only the response is framed', () => {
  const ce = new HpackEncoder();
  const se = new HpackEncoder();
  const ctx = fakeContext();
  const p = new Http2Parser(ctx);
  const json = '{"name":"x"}';
  p.data(0, Buffer.concat([
    PREFACE,
    frame(HEADERS, END_HEADERS, 1, ce.encode([[':method', 'POST'], [':path', '/demo.v1.Echo/Unary'], ['content-type', 'application/json']])),
    frame(DATA, END_STREAM, 1, Buffer.from(json)),
  ]), 1n);
  p.data(1, grpcOkReply(se), 2n);
  const a = ctx.records[0].attributes as any;
  // Framed as gRPC, '{' was read as the flag byte and '"nam' as a 578 MB length, and the JSON was lost.
  assert.equal(a.http.request.body.content, json);
  assert.equal(a.grpc.request, undefined);
  assert.deepEqual(a.grpc.response.messages, [{ size: 4, fields: { f1: 'ok' } }]);
  assert.equal(a.rpc.grpc.status_code, 0);
  assert.equal(ctx.records[0].flags, undefined);
});

test('gRPC: a trailers-only response without a content-type is not framed either, and still gives the status', () => {
  const ce = new HpackEncoder();
  const se = new HpackEncoder();
  const ctx = fakeContext();
  const p = new Http2Parser(ctx);
  p.data(0, Buffer.concat([PREFACE, frame(HEADERS, END_HEADERS | END_STREAM, 1, ce.encode([[':method', 'POST'], [':path', '/a.B/C'], ['content-type', 'application/grpc']]))]), 1n);
  p.data(1, frame(HEADERS, END_HEADERS | END_STREAM, 1, se.encode([[':status', '200'], ['grpc-status', '14'], ['grpc-message', 'no%20upstream']])), 2n);
  const a = ctx.records[0].attributes as any;
  assert.equal(a.rpc.grpc.status_code, 14);
  assert.equal(a.grpc.status_message, 'no upstream');
  assert.deepEqual(a.error, { type: 'UNAVAILABLE' });
  assert.equal(a.grpc.response, undefined);
});

test('gRPC: a response that ends without grpc-status is flagged grpc_status_missing; one reset, cut by a gap or still open is not', () => {
  const run = (end: 'data' | 'reset' | 'gap' | 'open' | 'trailers') => {
    const ce = new HpackEncoder();
    const se = new HpackEncoder();
    const ctx = fakeContext();
    const p = new Http2Parser(ctx);
    p.data(0, Buffer.concat([
      PREFACE,
      frame(HEADERS, END_HEADERS, 1, ce.encode([[':method', 'POST'], [':path', '/a.B/C'], ['content-type', 'application/grpc']])),
      frame(DATA, END_STREAM, 1, grpcMessage(pbField(1, 'q'))),
    ]), 1n);
    p.data(1, frame(HEADERS, END_HEADERS, 1, se.encode([[':status', '200'], ['content-type', 'application/grpc']])), 2n);
    if (end === 'gap') {
      p.gap(1, 100, 3n);
    }
    const message = grpcMessage(pbField(1, 'r'));
    if (end === 'trailers') {
      p.data(1, Buffer.concat([frame(DATA, 0, 1, message), frame(HEADERS, END_HEADERS | END_STREAM, 1, se.encode([['grpc-status', '0']]))]), 4n);
    } else {
      p.data(1, frame(DATA, end === 'data' || end === 'gap' ? END_STREAM : 0, 1, message), 4n);
    }
    if (end === 'reset') p.data(1, frame(RST, 0, 1, Buffer.from([0, 0, 0, 2])), 5n);
    p.close('fin', 6n);
    assert.equal(ctx.records.length, 1, end);
    const r = ctx.records[0];
    return { flags: r.flags ?? [], error: (r.attributes as any).error, rpc: (r.attributes as any).rpc };
  };
  const missing = run('data');
  assert.ok(missing.flags.includes('grpc_status_missing'));
  assert.deepEqual(missing.error, { type: 'grpc_status_missing' });
  assert.equal(missing.rpc.grpc, undefined);
  for (const end of ['reset', 'gap', 'open', 'trailers'] as const) {
    const r = run(end);
    assert.ok(!r.flags.includes('grpc_status_missing'), `${end}: ${r.flags}`);
    if (end === 'trailers') assert.equal(r.error, undefined);
    else assert.notDeepEqual(r.error, { type: 'grpc_status_missing' }, end);
  }
});

test('gRPC trailers-only response carries the status in the headers', () => {
  const ce = new HpackEncoder();
  const se = new HpackEncoder();
  const ctx = fakeContext();
  const p = new Http2Parser(ctx);
  p.data(0, Buffer.concat([PREFACE, frame(HEADERS, END_HEADERS | END_STREAM, 1, ce.encode([[':method', 'POST'], [':path', '/a.B/C'], ['content-type', 'application/grpc+proto']]))]), 1n);
  p.data(1, frame(HEADERS, END_HEADERS | END_STREAM, 1, se.encode([[':status', '200'], ['content-type', 'application/grpc'], ['grpc-status', '12']])), 2n);
  const a = ctx.records[0].attributes as any;
  assert.equal(a.rpc.grpc.status_code, 12);
  assert.equal(a.grpc.status, 'UNIMPLEMENTED');
});

test('header values: UTF-8 octets are text, other high octets (node sends latin1) are kept as latin1, never U+FFFD', () => {
  const ce = new HpackEncoder();
  const se = new HpackEncoder();
  const ctx = fakeContext();
  const p = new Http2Parser(ctx);
  // HPACK carries octets; the encoder takes them as a latin1 string.
  p.data(0, Buffer.concat([PREFACE, frame(HEADERS, END_HEADERS | END_STREAM, 1, ce.encode([[':method', 'GET'], [':path', '/'], ['x-utf8', Buffer.from('crème brûlée ✓').toString('latin1')], ['x-latin1', 'caf\xe9']]))]), 1n);
  p.data(1, frame(HEADERS, END_HEADERS | END_STREAM, 1, se.encode([[':status', '200'], ['content-disposition', 'attachment; filename="r\xe9sum\xe9.pdf"']])), 2n);
  const http = ctx.records[0].attributes.http as any;
  assert.deepEqual(http.request.header['x-utf8'], ['crème brûlée ✓']);
  assert.deepEqual(http.request.header['x-latin1'], ['café']);
  assert.deepEqual(http.response.header['content-disposition'], ['attachment; filename="résumé.pdf"']);
});

test('field names that are Object.prototype members (constructor, toString, __proto__) are fields like any other', () => {
  const ce = new HpackEncoder();
  const se = new HpackEncoder();
  const ctx = fakeContext();
  const p = new Http2Parser(ctx);
  p.data(0, Buffer.concat([PREFACE, frame(HEADERS, END_HEADERS | END_STREAM, 1, ce.encode([[':method', 'GET'], [':path', '/'], ['constructor', 'x'], ['__proto__', 'p1'], ['__proto__', 'p2'], ['tostring', 't'], ['length', 'l']]))]), 1n);
  p.data(1, frame(HEADERS, END_HEADERS | END_STREAM, 1, se.encode([[':status', '200'], ['constructor', 'y']])), 2n);
  assert.equal(ctx.records.length, 1);
  const h = ctx.records[0].attributes.http as any;
  assert.equal(JSON.stringify(h.request.header), '{"constructor":["x"],"__proto__":["p1","p2"],"tostring":["t"],"length":["l"]}');
  assert.equal(Object.getPrototypeOf(h.request.header), Object.prototype);
  assert.deepEqual(h.response.header.constructor, ['y']);
});

test('gRPC grpc-message: percent-encoded UTF-8 is decoded, raw UTF-8 (sent unescaped) is kept as it is', () => {
  const ce = new HpackEncoder();
  const se = new HpackEncoder();
  const ctx = fakeContext();
  const p = new Http2Parser(ctx);
  const req = (id: number) => frame(HEADERS, END_HEADERS | END_STREAM, id, ce.encode([[':method', 'POST'], [':path', '/a.B/C'], ['content-type', 'application/grpc']]));
  // HPACK carries octets; the encoder takes them as a latin1 string.
  const status = (id: number, message: string) =>
    frame(HEADERS, END_HEADERS | END_STREAM, id, se.encode([[':status', '200'], ['content-type', 'application/grpc'], ['grpc-status', '5'], ['grpc-message', Buffer.from(message).toString('latin1')]]));
  p.data(0, Buffer.concat([PREFACE, req(1), req(3)]), 1n);
  p.data(1, Buffer.concat([status(1, 'no user 1: %C2%ABmissing%C2%BB 100%25'), status(3, 'no café ✗ here')]), 2n);
  const messages = ctx.records.map((r) => (r.attributes.grpc as any).status_message);
  assert.deepEqual(messages, ['no user 1: «missing» 100%', 'no café ✗ here']);
});

test('RST_STREAM and GOAWAY end streams with a flag; close ends the rest', () => {
  const ce = new HpackEncoder();
  const se = new HpackEncoder();
  const req = (id: number, path: string) => frame(HEADERS, END_HEADERS | END_STREAM, id, ce.encode([[':method', 'GET'], [':path', path]]));
  const ctx = fakeContext();
  const p = new Http2Parser(ctx);
  p.data(0, Buffer.concat([PREFACE, req(1, '/a'), req(3, '/b'), req(5, '/c'), req(7, '/d')]), 1n);
  p.data(1, frame(HEADERS, END_HEADERS, 1, se.encode([[':status', '200']])), 2n);
  p.data(0, frame(RST, 0, 1, Buffer.from([0, 0, 0, 8])), 3n);
  const goaway = Buffer.alloc(8);
  goaway.writeUInt32BE(3, 0);
  p.data(1, frame(GOAWAY, 0, 0, goaway), 4n);
  p.close('fin', 5n);
  const byStream = Object.fromEntries(ctx.records.map((r) => [(r.attributes.http2 as any).stream_id, r]));
  assert.equal(byStream[1].kind, 'exchange');
  assert.deepEqual(byStream[1].flags, ['reset', 'incomplete']);
  assert.deepEqual((byStream[1].attributes.http2 as any).reset, { by: 'client', error_code: 'CANCEL' });
  assert.deepEqual([byStream[5].kind, byStream[5].flags], ['unanswered', ['goaway']]);
  assert.deepEqual([byStream[7].kind, byStream[7].flags], ['unanswered', ['goaway']]);
  assert.deepEqual([byStream[3].kind, byStream[3].flags], ['unanswered', ['closed']]);
  // Refused or merely open when it came, the streams say which GOAWAY, from whom, and why.
  const g = { by: 'server', error_code: 'NO_ERROR', last_stream_id: 3 };
  for (const id of [3, 5, 7]) assert.deepEqual((byStream[id].attributes.http2 as any).goaway, g, `stream ${id}`);
  assert.equal((byStream[1].attributes.http2 as any).goaway, undefined, 'reset before the GOAWAY');
});

/** What each record says of its stream: id, kind, flags, grpc status. */
function streamsOf(records: ReturnType<typeof fakeContext>['records']): Array<[number, string, string[] | undefined, number | undefined]> {
  return records.map((r) => [(r.attributes.http2 as any).stream_id, r.kind, r.flags, (r.attributes.rpc as any)?.grpc?.status_code]);
}

const CANCEL = Buffer.from([0, 0, 0, 8]);
const grpcReq = (ce: HpackEncoder, id: number) =>
  Buffer.concat([
    frame(HEADERS, END_HEADERS, id, ce.encode([[':method', 'POST'], [':path', '/demo.v1.Slow/Get'], ['content-type', 'application/grpc'], ['grpc-timeout', '100m']])),
    frame(DATA, END_STREAM, id, grpcMessage(Buffer.alloc(0))),
  ]);
/** A trailers-only gRPC answer (one HEADERS with END_STREAM), as a server sends an error status. */
const grpcTrailersOnly = (se: HpackEncoder, id: number, code: number) =>
  frame(HEADERS, END_HEADERS | END_STREAM, id, se.encode([[':status', '200'], ['content-type', 'application/grpc'], ['grpc-status', String(code)]]));

test('RST_STREAM from the client: the server\'s status crossing it on the wire is the stream\'s, in one event that keeps the reset', () => {
  const ce = new HpackEncoder();
  const se = new HpackEncoder();
  const ctx = fakeContext();
  const p = new Http2Parser(ctx);
  p.data(0, Buffer.concat([PREFACE, grpcReq(ce, 1)]), 1n);
  p.data(0, frame(RST, 0, 1, CANCEL), 2n);
  assert.equal(ctx.records.length, 0, 'the server may still answer');
  p.data(1, grpcTrailersOnly(se, 1, 4), 3n);
  assert.deepEqual(streamsOf(ctx.records), [[1, 'exchange', ['reset'], 4]]);
  assert.deepEqual((ctx.records[0].attributes.http2 as any).reset, { by: 'client', error_code: 'CANCEL' });
  // the server's RST_STREAM after that finds the stream closed; nothing is emitted again
  p.data(1, frame(RST, 0, 1, CANCEL), 4n);
  p.close('fin', 5n);
  assert.equal(ctx.records.length, 1);
  // The server's own RST_STREAM crossing the client's ends the wait; the client's reset is the one named.
  const ctx2 = fakeContext();
  const p2 = new Http2Parser(ctx2);
  p2.data(0, Buffer.concat([PREFACE, grpcReq(new HpackEncoder(), 1), frame(RST, 0, 1, CANCEL)]), 1n);
  p2.data(1, frame(RST, 0, 1, Buffer.from([0, 0, 0, 2])), 2n);
  assert.deepEqual(streamsOf(ctx2.records), [[1, 'unanswered', ['reset'], undefined]]);
  assert.deepEqual((ctx2.records[0].attributes.http2 as any).reset, { by: 'client', error_code: 'CANCEL' });
  p2.close('fin', 3n);
  assert.equal(ctx2.records.length, 1);
});

test('RST_STREAM from the client, nothing more from the server: emitted once the server answers a stream opened after the reset, or a PING or SETTINGS sent after it, or at the end', () => {
  const ce = new HpackEncoder();
  const se = new HpackEncoder();
  // The server answers stream 3, which the client opened after resetting 1: it read the reset.
  let ctx = fakeContext();
  let p = new Http2Parser(ctx);
  p.data(0, Buffer.concat([PREFACE, grpcReq(ce, 1), frame(RST, 0, 1, CANCEL), grpcReq(ce, 3)]), 1n);
  // a frame the client sends on a stream it reset is late: dropped, and it does not end the wait
  p.data(0, frame(DATA, END_STREAM, 1, grpcMessage(Buffer.from('x'))), 2n);
  assert.equal(ctx.counts.get('http2.frames_on_closed_streams'), 1);
  p.data(1, grpcTrailersOnly(se, 3, 0), 3n);
  assert.deepEqual(streamsOf(ctx.records), [[1, 'unanswered', ['reset'], undefined], [3, 'exchange', undefined, 0]]);
  // A PING the client sent after the reset, acknowledged by the server.
  const ping = Buffer.from('0123456789abcdef', 'hex');
  const ce2 = new HpackEncoder();
  ctx = fakeContext();
  p = new Http2Parser(ctx);
  p.data(0, Buffer.concat([PREFACE, grpcReq(ce2, 1), frame(RST, 0, 1, CANCEL), frame(PING, 0, 0, ping)]), 1n);
  p.data(1, frame(PING, 1, 0, Buffer.from('fedcba9876543210', 'hex')), 2n);
  assert.equal(ctx.records.length, 0, 'an ACK of another PING says nothing');
  p.data(1, frame(PING, 1, 0, ping), 3n);
  assert.deepEqual(streamsOf(ctx.records), [[1, 'unanswered', ['reset'], undefined]]);
  // A SETTINGS frame the client sent after the reset, acknowledged by the server. The ACK of the
  // client's first SETTINGS (sent before the reset) says nothing: ACKs come in the order of the frames.
  ctx = fakeContext();
  p = new Http2Parser(ctx);
  p.data(0, Buffer.concat([PREFACE, settings([[4, 65535]]), grpcReq(new HpackEncoder(), 1), frame(RST, 0, 1, CANCEL), settings([[4, 1 << 20]])]), 1n);
  p.data(1, Buffer.concat([settings([]), settings([], true)]), 2n);
  assert.equal(ctx.records.length, 0, 'the ACK of the SETTINGS sent before the reset says nothing');
  p.data(1, settings([], true), 3n);
  assert.deepEqual(streamsOf(ctx.records), [[1, 'unanswered', ['reset'], undefined]]);
  // Nothing: the connection's end emits it, as reset (not "closed").
  ctx = fakeContext();
  p = new Http2Parser(ctx);
  p.data(0, Buffer.concat([PREFACE, grpcReq(new HpackEncoder(), 1), frame(RST, 0, 1, CANCEL)]), 1n);
  p.close('fin', 2n);
  assert.deepEqual(streamsOf(ctx.records), [[1, 'unanswered', ['reset'], undefined]]);
});

test('streams waiting for frames crossing their reset count against the streams kept, and go first when the limit is reached', () => {
  const ce = new HpackEncoder();
  const ctx = fakeContext({ maxPending: 3 });
  const p = new Http2Parser(ctx);
  p.data(0, Buffer.concat([PREFACE, grpcReq(ce, 1), grpcReq(ce, 3), frame(RST, 0, 3, CANCEL), grpcReq(ce, 5)]), 1n);
  assert.equal(ctx.records.length, 0);
  // a fourth stream: the reset one (3) is let go, not the oldest open one (1)
  p.data(0, grpcReq(ce, 7), 2n);
  assert.deepEqual(streamsOf(ctx.records), [[3, 'unanswered', ['reset'], undefined]]);
  assert.equal(ctx.counts.get('http2.stream_overflow'), undefined);
  p.data(0, grpcReq(ce, 9), 3n);
  assert.deepEqual(streamsOf(ctx.records).slice(1), [[1, 'unanswered', ['overflow'], undefined]]);
  assert.equal(ctx.counts.get('http2.stream_overflow'), 1);
});

function goawayFrame(last: number, code: number, debug: Buffer = Buffer.alloc(0)): Buffer {
  const p = Buffer.alloc(8);
  p.writeUInt32BE(last, 0);
  p.writeUInt32BE(code, 4);
  return frame(GOAWAY, 0, 0, Buffer.concat([p, debug]));
}

test('GOAWAY: code names (§7) and unknown codes in hex; debug data as text, hex, or cut at 256 bytes with its size', () => {
  // A new encoder per connection: the HPACK table starts empty with each parser.
  const req = (id: number) => frame(HEADERS, END_HEADERS | END_STREAM, id, new HpackEncoder().encode([[':method', 'GET'], [':path', `/${id}`]]));
  const cases: Array<[number, Buffer, Record<string, unknown>]> = [
    [0xb, Buffer.from('too_many_pings'), { error_code: 'ENHANCE_YOUR_CALM', debug_data: 'too_many_pings', debug_data_size: 14 }],
    [0xd, Buffer.alloc(0), { error_code: 'HTTP_1_1_REQUIRED' }],
    [0x1, Buffer.from('délai ✓\r\n'), { error_code: 'PROTOCOL_ERROR', debug_data: 'délai ✓\r\n', debug_data_size: 12 }],
    // Cut at 256 bytes would split an é: the cut goes before it, and the text stays text.
    [0x3, Buffer.from('x' + 'é'.repeat(200)), { error_code: 'FLOW_CONTROL_ERROR', debug_data: 'x' + 'é'.repeat(127), debug_data_size: 401 }],
    [0xe, Buffer.from([0x00, 0x01, 0xff]), { error_code: '0xe', debug_data: '0001ff', debug_data_size: 3 }],
    [0xdeadbeef, Buffer.from('a\x07b'), { error_code: '0xdeadbeef', debug_data: '610762', debug_data_size: 3 }],
    [0x2, Buffer.alloc(1000, 'x'), { error_code: 'INTERNAL_ERROR', debug_data: 'x'.repeat(256), debug_data_size: 1000 }],
  ];
  for (const [code, debug, expected] of cases) {
    const ctx = fakeContext();
    const p = new Http2Parser(ctx);
    p.data(0, Buffer.concat([PREFACE, req(1), req(3)]), 1n);
    p.data(1, goawayFrame(1, code, debug), 2n);
    assert.equal(ctx.records.length, 1, 'stream 3 refused');
    assert.deepEqual(ctx.records[0].flags, ['goaway']);
    assert.deepEqual((ctx.records[0].attributes.http2 as any).goaway, { by: 'server', last_stream_id: 1, ...expected });
  }
});

test('GOAWAY: a client HEADERS that crossed it is refused at the end; the first GOAWAY is kept; a client GOAWAY refuses pushes', () => {
  const ce = new HpackEncoder();
  const se = new HpackEncoder();
  const req = (id: number) => frame(HEADERS, END_HEADERS | END_STREAM, id, ce.encode([[':method', 'GET'], [':path', `/${id}`]]));
  const ctx = fakeContext();
  const p = new Http2Parser(ctx);
  p.data(0, Buffer.concat([PREFACE, req(1)]), 1n);
  p.data(1, goawayFrame(1, 0, Buffer.from('graceful_stop')), 2n);
  // The client sent stream 3 before it read the GOAWAY; later ones repeat without the reason.
  p.data(0, req(3), 3n);
  p.data(0, goawayFrame(0, 0), 4n);
  p.data(1, goawayFrame(1, 0), 5n);
  // Stream 5 crossed the repeat: nothing refuses it on the wire, it ends with the connection.
  p.data(0, req(5), 6n);
  p.data(1, Buffer.concat([frame(HEADERS, END_HEADERS, 1, se.encode([[':status', '200']])), frame(DATA, END_STREAM, 1, Buffer.from('ok'))]), 7n);
  p.close('fin', 8n);
  const byStream = Object.fromEntries(ctx.records.map((r) => [(r.attributes.http2 as any).stream_id, r]));
  const first = { by: 'server', error_code: 'NO_ERROR', last_stream_id: 1, debug_data: 'graceful_stop', debug_data_size: 13 };
  assert.equal(byStream[1].kind, 'exchange');
  assert.equal(byStream[1].flags, undefined, 'processed: not refused');
  assert.deepEqual((byStream[1].attributes.http2 as any).goaway, first);
  // Refused by the repeat, described by the first (same sender, with the reason).
  assert.equal(byStream[3].kind, 'unanswered');
  assert.deepEqual(byStream[3].flags, ['goaway']);
  assert.deepEqual((byStream[3].attributes.http2 as any).goaway, first);
  assert.equal(byStream[5].kind, 'unanswered');
  assert.deepEqual(byStream[5].flags, ['closed', 'goaway']);
  assert.deepEqual((byStream[5].attributes.http2 as any).goaway, { by: 'server', error_code: 'NO_ERROR', last_stream_id: 1 });

  // Pushed streams are the server's: a client's GOAWAY refuses those above its last-stream-id.
  const ctx2 = fakeContext();
  const p2 = new Http2Parser(ctx2);
  const se2 = new HpackEncoder();
  p2.data(0, Buffer.concat([PREFACE, frame(HEADERS, END_HEADERS | END_STREAM, 1, new HpackEncoder().encode([[':method', 'GET'], [':path', '/']]))]), 1n);
  const promise = (id: number) => frame(PUSH, END_HEADERS, 1, Buffer.concat([Buffer.from([0, 0, 0, id]), se2.encode([[':method', 'GET'], [':path', `/p${id}`], [':scheme', 'http'], [':authority', 'x']])]));
  p2.data(1, Buffer.concat([promise(2), promise(4)]), 2n);
  p2.data(0, goawayFrame(2, 8), 3n);
  assert.deepEqual(ctx2.records.map((r) => [r.kind, (r.attributes.http2 as any).stream_id, r.flags]), [['message', 4, ['goaway']]]);
  assert.deepEqual((ctx2.records[0].attributes.http2 as any).goaway, { by: 'client', error_code: 'CANCEL', last_stream_id: 2 });
});

test('GOAWAY: a two-step graceful shutdown (§6.8) refuses with the second frame, and the refused stream shows that one', () => {
  const ce = new HpackEncoder();
  const se = new HpackEncoder();
  const req = (id: number) => frame(HEADERS, END_HEADERS | END_STREAM, id, ce.encode([[':method', 'GET'], [':path', `/${id}`]]));
  const ctx = fakeContext();
  const p = new Http2Parser(ctx);
  p.data(0, Buffer.concat([PREFACE, req(1), req(3)]), 1n);
  // First step: last-stream-id 2^31-1 refuses nothing; streams 1 and 3 stay open.
  p.data(1, goawayFrame(0x7fffffff, 0, Buffer.from('shutdown')), 2n);
  assert.equal(ctx.records.length, 0);
  p.data(1, Buffer.concat([frame(HEADERS, END_HEADERS, 1, se.encode([[':status', '200']])), frame(DATA, END_STREAM, 1, Buffer.from('ok'))]), 3n);
  // Second step, after a round trip: the real last-stream-id refuses stream 3.
  p.data(1, goawayFrame(1, 0), 4n);
  const byStream = Object.fromEntries(ctx.records.map((r) => [(r.attributes.http2 as any).stream_id, r]));
  assert.equal(byStream[1].flags, undefined);
  assert.deepEqual((byStream[1].attributes.http2 as any).goaway, { by: 'server', error_code: 'NO_ERROR', last_stream_id: 0x7fffffff, debug_data: 'shutdown', debug_data_size: 8 });
  assert.equal(byStream[3].kind, 'unanswered');
  assert.deepEqual(byStream[3].flags, ['goaway']);
  assert.deepEqual((byStream[3].attributes.http2 as any).goaway, { by: 'server', error_code: 'NO_ERROR', last_stream_id: 1 });
});

/** A parser that has read a client's GET / on stream 1, and the server's PUSH_PROMISE (on 1) of /style.css as stream 2, to send. */
function pushOfStyle() {
  const se = new HpackEncoder();
  const ctx = fakeContext();
  const p = new Http2Parser(ctx);
  p.data(0, Buffer.concat([PREFACE, frame(HEADERS, END_HEADERS | END_STREAM, 1, new HpackEncoder().encode([[':method', 'GET'], [':path', '/']]))]), 1n);
  const promised = Buffer.concat([Buffer.from([0, 0, 0, 2]), se.encode([[':method', 'GET'], [':path', '/style.css'], [':scheme', 'http'], [':authority', 'x']])]);
  return { se, ctx, p, promise: frame(PUSH, END_HEADERS, 1, promised) };
}

test('server push is recorded as a message with its promised request', () => {
  const { se, ctx, p, promise } = pushOfStyle();
  p.data(1, Buffer.concat([
    promise,
    frame(HEADERS, END_HEADERS, 1, se.encode([[':status', '200']])),
    frame(DATA, END_STREAM, 1, Buffer.from('<html>')),
    frame(HEADERS, END_HEADERS, 2, se.encode([[':status', '200'], ['content-type', 'text/css']])),
    frame(DATA, END_STREAM, 2, Buffer.from('body{}')),
  ]), 2n);
  assert.deepEqual(ctx.records.map((r) => [r.kind, (r.attributes.http2 as any).stream_id]), [['exchange', 1], ['message', 2]]);
  const pushed = ctx.records[1].attributes as any;
  assert.equal(pushed.url.path, '/style.css');
  assert.equal(pushed.http2.push_promise_stream_id, 1);
  assert.equal(pushed.http.response.body.content, 'body{}');
});

/** The 101 HTTP/1.1 hands over with the upgraded request: 71 bytes on the wire. */
const SWITCHING = { status_code: 101, header: { connection: ['Upgrade'], upgrade: ['h2c'] } };

test('h2c upgrade: stream 1 answers the HTTP/1.1 request handed over, the 101 its interim response', () => {
  const se = new HpackEncoder();
  const ctx = fakeContext();
  const p = new Http2Parser(ctx, {
    upgradedRequest: { method: 'GET', target: '/humans.txt', authority: 'h.test', headers: { host: ['h.test'] }, startNs: 10n, requestBytes: 120, interim: [SWITCHING], responseBytes: 71, responseEndNs: 15n },
  });
  p.data(0, Buffer.concat([PREFACE, settings()]), 20n);
  p.data(1, Buffer.concat([settings(), frame(HEADERS, END_HEADERS, 1, se.encode([[':status', '200']])), frame(DATA, END_STREAM, 1, Buffer.from('hi'))]), 30n);
  assert.equal(ctx.records.length, 1);
  const r = ctx.records[0];
  assert.equal(r.kind, 'exchange');
  assert.equal(r.startNs, 10n);
  assert.equal(r.requestBytes, 120);
  assert.equal((r.attributes.url as any).path, '/humans.txt');
  assert.equal((r.attributes.http as any).response.status_code, 200);
  assert.deepEqual((r.attributes.http as any).response.interim, [SWITCHING]);
  // the 101, then HEADERS (9 + 1: ":status: 200" is static entry 8) and DATA (9 + 2)
  assert.equal(r.responseBytes, 71 + 10 + 11);
});

test('h2c upgrade: HTTP2-Settings is the client\'s first SETTINGS, acknowledged by the 101: the server may use its header table size before the client\'s SETTINGS frame', () => {
  // SETTINGS_HEADER_TABLE_SIZE (1) = 65536, base64url as in the header (RFC 7540 §3.2.1).
  const http2Settings = Buffer.from([0, 1, 0, 1, 0, 0]).toString('base64url');
  assert.equal(http2Settings, 'AAEAAQAA');
  const se = new HpackEncoder();
  // A size update to 65536 (001 11111 then 65505 in 7-bit groups), then the head.
  const block = Buffer.concat([encodeInteger(65536, 5, 0x20), se.encode([[':status', '200'], ['content-type', 'text/plain']])]);
  assert.deepEqual([...block.subarray(0, 4)], [0x3f, 0xe1, 0xff, 0x03]);
  const upgraded = (headers: Record<string, string[]>) => {
    const ctx = fakeContext();
    const p = new Http2Parser(ctx, {
      upgradedRequest: { method: 'GET', target: '/t', headers, startNs: 10n, requestBytes: 120, interim: [SWITCHING], responseBytes: 71, responseEndNs: 15n },
    });
    // The server's frames come in the 101's segment, before the client's preface.
    p.data(1, Buffer.concat([settings(), frame(HEADERS, END_HEADERS, 1, block), frame(DATA, END_STREAM, 1, Buffer.from('ok'))]), 20n);
    p.data(0, Buffer.concat([PREFACE, settings([[1, 65536]])]), 30n);
    p.close('end', 40n);
    return ctx;
  };
  const ctx = upgraded({ host: ['h.test'], 'http2-settings': [http2Settings] });
  assert.equal(ctx.records.length, 1);
  const r = ctx.records[0];
  assert.equal(r.flags, undefined);
  assert.equal((r.attributes.http as any).response.status_code, 200);
  assert.deepEqual((r.attributes.http as any).response.header, { 'content-type': ['text/plain'] });
  assert.equal(ctx.counts.get('http2.hpack_errors'), undefined);
  // Without the header the bound is the default 4096: the same update is damage, as it would be.
  const without = upgraded({ host: ['h.test'] });
  assert.equal(without.counts.get('http2.hpack_errors'), 1);
  assert.ok(without.records[0].flags!.includes('undecodable'));
});

test('h2c upgrade: the upgraded request\'s user-agent is user_agent.original, as for any request', () => {
  const se = new HpackEncoder();
  const ctx = fakeContext();
  const headers = { host: ['h.test'], 'user-agent': ['curl/7.88.1'], upgrade: ['h2c'], 'http2-settings': ['AAMAAABkAAQCAAAAAAIAAAAA'] };
  const p = new Http2Parser(ctx, { upgradedRequest: { method: 'GET', target: '/upg?x=1', authority: 'h.test', headers, startNs: 10n, requestBytes: 190, interim: [SWITCHING], responseBytes: 71, responseEndNs: 15n } });
  p.data(0, Buffer.concat([PREFACE, settings()]), 20n);
  p.data(1, Buffer.concat([settings(), frame(HEADERS, END_HEADERS, 1, se.encode([[':status', '200']])), frame(DATA, END_STREAM, 1, Buffer.from('hi'))]), 30n);
  assert.equal(ctx.records.length, 1);
  assert.deepEqual(ctx.records[0].attributes.user_agent, { original: 'curl/7.88.1' });
  assert.deepEqual(ctx.records[0].attributes.url, { scheme: 'http', path: '/upg', query: 'x=1' });
});

/** Parses each side's bytes of a connection joined mid-stream, in one chunk each; its events by stream id. */
function joinedMidstream(client: Buffer, server: Buffer) {
  const ctx = fakeContext({}, { midstream: true });
  const p = new Http2Parser(ctx);
  p.data(0, client, 1n);
  p.data(1, server, 2n);
  p.close('end', 3n);
  const byStream = Object.fromEntries(ctx.records.map((r) => [(r.attributes.http2 as any).stream_id, r]));
  return { ctx, byStream };
}

test('mid-stream join: frames found mid-buffer, unseen table entries flagged undecodable, then recovery', () => {
  const ce = new HpackEncoder();
  const se = new HpackEncoder();
  const big = 'q'.repeat(1000);
  // Before the capture: both sides built dynamic table state the observer never sees.
  ce.encode([[':method', 'GET'], [':path', '/before'], [':authority', 'secret.test'], ['cookie', 'sid=1']]);
  se.encode([[':status', '200'], ['server', 'hidden']]);
  const client = Buffer.concat([
    Buffer.from('tail of an earlier frame'),
    frame(HEADERS, END_HEADERS | END_STREAM, 41, ce.encode([[':method', 'GET'], [':path', '/after'], [':authority', 'secret.test'], ['cookie', 'sid=1']])),
    frame(HEADERS, END_HEADERS | END_STREAM, 43, ce.encode([[':method', 'GET'], [':path', '/fill'], ['x-1', big], ['x-2', big], ['x-3', big], ['x-4', big]])),
    frame(HEADERS, END_HEADERS | END_STREAM, 45, ce.encode([[':method', 'GET'], [':path', '/fill'], ['x-4', big], ['x-3', big]])),
  ]);
  const server = Buffer.concat([
    frame(DATA, END_STREAM, 39, Buffer.from('end of earlier response')),
    frame(HEADERS, END_HEADERS | END_STREAM, 41, se.encode([[':status', '200'], ['server', 'hidden']])),
    frame(HEADERS, END_HEADERS | END_STREAM, 43, se.encode([[':status', '204']])),
    frame(HEADERS, END_HEADERS | END_STREAM, 45, se.encode([[':status', '204']])),
  ]);
  const { ctx, byStream } = joinedMidstream(client, server);
  const s41 = byStream[41];
  assert.ok(s41.flags!.includes('undecodable'));
  const h41 = s41.attributes.http as any;
  assert.equal(h41.request.method, 'GET'); // static entry: still decodable
  assert.equal(h41.request.header.cookie, undefined); // dynamic entry never seen: absent, not guessed
  assert.equal((s41.attributes.url as any).path, '/after'); // literal: decodable
  assert.equal(h41.response.header.server, undefined);
  assert.equal(byStream[43].flags, undefined);
  assert.equal(byStream[45].flags, undefined);
  assert.equal((byStream[45].attributes.http as any).request.header['x-4'][0], big);
  // The DATA of stream 39 alone identifies nothing: counted, not emitted.
  assert.equal(byStream[39], undefined);
  assert.equal(ctx.counts.get('http2.unidentified_streams'), 1);
});

test('mid-stream join: a header block after DATA, or one decoded whole without pseudo-header fields, is the trailer block (§8.1), not the head', () => {
  // The capture begins after both heads of streams 1 and 3 (and after the HPACK state they
  // built); the encoders' tables are fresh, so every block below decodes whole.
  const ce = new HpackEncoder();
  const se = new HpackEncoder();
  const client = Buffer.concat([
    // Stream 1: the tail of an upload, then the client's trailers (after DATA).
    frame(DATA, 0, 1, Buffer.from('upload tail')),
    frame(HEADERS, END_HEADERS | END_STREAM, 1, ce.encode([['x-checksum', 'abc123']])),
  ]);
  const server = Buffer.concat([
    // Stream 1: the end of a download, then trailers with no pseudo-header field.
    frame(DATA, 0, 1, Buffer.from('download tail')),
    frame(HEADERS, END_HEADERS | END_STREAM, 1, se.encode([['x-trail', 't1'], ['grpc-status', '0']])),
    // Stream 3: only the trailer block was captured (no DATA before it): no :status, decoded whole.
    frame(HEADERS, END_HEADERS | END_STREAM, 3, se.encode([['x-trail', 't3']])),
    // Stream 5: a head (it has :status), not trailers, though the request was not seen.
    frame(HEADERS, END_HEADERS, 5, se.encode([[':status', '200'], ['content-type', 'text/plain']])),
    frame(DATA, END_STREAM, 5, Buffer.from('five')),
  ]);
  const { ctx, byStream } = joinedMidstream(client, server);
  const s1 = byStream[1];
  assert.equal(s1.kind, 'orphan_response');
  const h1 = s1.attributes.http as any;
  assert.equal(h1.response.header, undefined, 'no head was captured');
  assert.equal(h1.response.status_code, undefined);
  assert.deepEqual(h1.response.trailer, { 'x-trail': ['t1'], 'grpc-status': ['0'] });
  assert.equal(h1.response.body.content, 'download tail');
  assert.equal(h1.request.header, undefined);
  assert.equal(h1.request.body.content, 'upload tail');
  assert.deepEqual((s1.attributes.http2 as any).request_trailer, { 'x-checksum': ['abc123'] });
  const s3 = byStream[3];
  assert.ok(s3, 'a stream identified by its trailers alone is reported');
  assert.equal(s3.kind, 'orphan_response');
  assert.deepEqual((s3.attributes.http as any).response, { trailer: { 'x-trail': ['t3'] } });
  const h5 = byStream[5].attributes.http as any;
  assert.equal(h5.response.status_code, 200);
  assert.deepEqual(h5.response.header, { 'content-type': ['text/plain'] });
  assert.equal(h5.response.trailer, undefined);
  assert.equal(ctx.counts.get('http2.unidentified_streams'), undefined);

  // Seen from its start, a stream's first response block is its head, also one without :status
  // (malformed, RFC 9113 §8.1.1): shown as sent, not taken for trailers.
  const full = fakeContext();
  const q = new Http2Parser(full);
  const qe = new HpackEncoder();
  q.data(0, Buffer.concat([PREFACE, settings(), frame(HEADERS, END_HEADERS | END_STREAM, 1, qe.encode([[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'a.test']]))]), 1n);
  q.data(1, Buffer.concat([settings(), frame(HEADERS, END_HEADERS | END_STREAM, 1, new HpackEncoder().encode([['x-no-status', '1']]))]), 2n);
  assert.equal(full.records.length, 1);
  assert.deepEqual((full.records[0].attributes.http as any).response, { header: { 'x-no-status': ['1'] } });
});

test('mid-stream join: a block with fields missing (unseen HPACK entries) and no DATA before it may have lost its :status: kept as the head', () => {
  const se = new HpackEncoder();
  // Before the capture: the server's table got ':status: 200' and 'server: hidden'.
  se.encode([[':status', '200'], ['server', 'hidden']]);
  const block = se.encode([[':status', '200'], ['server', 'hidden'], ['x-new', 'seen']]);
  const ctx = fakeContext({}, { midstream: true });
  const p = new Http2Parser(ctx);
  // Its first references are to entries the observer never saw: they are missing, not guessed.
  p.data(1, Buffer.concat([frame(HEADERS, END_HEADERS, 7, block), frame(DATA, END_STREAM, 7, Buffer.from('x'))]), 1n);
  p.close('end', 2n);
  assert.equal(ctx.records.length, 1);
  const r = ctx.records[0];
  assert.ok(r.flags!.includes('undecodable'));
  const http = r.attributes.http as any;
  assert.deepEqual(http.response.header, { 'x-new': ['seen'] });
  assert.equal(http.response.trailer, undefined);
});

test('a gap makes the table unknown and the parser resynchronises on frame headers', () => {
  const ce = new HpackEncoder();
  const se = new HpackEncoder();
  const reqs = [1, 3, 5].map((id) => frame(HEADERS, END_HEADERS | END_STREAM, id, ce.encode([[':method', 'GET'], [':path', `/p${id}`]])));
  const ctx = fakeContext();
  const p = new Http2Parser(ctx);
  p.data(0, Buffer.concat([PREFACE, reqs[0]]), 1n);
  p.gap(0, reqs[1].length, 2n);
  p.data(0, reqs[2], 3n);
  p.data(0, frame(PING, 0, 0, Buffer.alloc(8)), 4n);
  const resp = (id: number) => frame(HEADERS, END_HEADERS | END_STREAM, id, se.encode([[':status', '200']]));
  p.data(1, Buffer.concat([resp(1), resp(3), resp(5)]), 5n);
  p.close('end', 6n);
  const kinds = ctx.records.map((r) => [(r.attributes.http2 as any).stream_id, r.kind]);
  assert.deepEqual(kinds, [[1, 'exchange'], [3, 'orphan_response'], [5, 'exchange']]);
  // /p5's path was a literal: decodable; :method GET is static.
  assert.equal((ctx.records[2].attributes.url as any).path, '/p5');
});

test('after a gap, a lone whole frame up to the next gap or the end is taken (body bytes and the gRPC status are not lost)', () => {
  const ce = new HpackEncoder();
  const se = new HpackEncoder();
  const ctx = fakeContext();
  const p = new Http2Parser(ctx);
  p.data(0, Buffer.concat([PREFACE, frame(HEADERS, END_HEADERS | END_STREAM, 1, ce.encode([[':method', 'POST'], [':path', '/m.Metrics/Stream'], ['content-type', 'application/grpc']]))]), 1n);
  p.data(1, Buffer.concat([frame(HEADERS, END_HEADERS, 1, se.encode([[':status', '200'], ['content-type', 'application/grpc']])), frame(DATA, 0, 1, grpcMessage(Buffer.alloc(100)))]), 2n);
  // Segments lost between single-frame segments (as in deepflow-grpc-server-stream.pcap: PINGs lost).
  p.gap(1, 17, 3n);
  p.data(1, frame(DATA, 0, 1, grpcMessage(Buffer.alloc(200))), 4n);
  p.gap(1, 17, 5n);
  p.data(1, frame(HEADERS, END_HEADERS | END_STREAM, 1, se.encode([['grpc-status', '0']])), 6n);
  p.end(1, 7n);
  p.close('fin', 8n);
  assert.equal(ctx.records.length, 1);
  const a = ctx.records[0].attributes as any;
  assert.equal(a.http.response.body.size, 105 + 205);
  assert.equal(a.grpc.status, 'OK');
  assert.deepEqual(a.http.response.trailer, { 'grpc-status': ['0'] });
  assert.deepEqual(ctx.records[0].flags, ['gap']);
});

test('after a gap, bytes that do not end where a frame does are still not taken', () => {
  const ce = new HpackEncoder();
  const se = new HpackEncoder();
  const ctx = fakeContext();
  const p = new Http2Parser(ctx);
  p.data(0, Buffer.concat([PREFACE, frame(HEADERS, END_HEADERS | END_STREAM, 1, ce.encode([[':method', 'GET'], [':path', '/']]))]), 1n);
  p.data(1, frame(HEADERS, END_HEADERS, 1, se.encode([[':status', '200']])), 2n);
  p.gap(1, 100, 3n);
  // A plausible header whose frame would run past the bytes that came: not trusted.
  p.data(1, frame(DATA, END_STREAM, 1, Buffer.alloc(50)).subarray(0, 40), 4n);
  p.end(1, 5n);
  p.close('fin', 6n);
  const r = ctx.records[0];
  assert.equal((r.attributes.http as any).response.body, undefined);
  assert.ok(r.flags!.includes('incomplete'));
});

test('mid-stream join: a lone request HEADERS is the request of the stream the server then answers, also when the response ends before the client sends again', () => {
  // Found by exploratory testing against nginx: GETs on a connection joined late, each
  // request one HEADERS frame in its own packet. The first request waited for a second
  // client frame to confirm it; the response ended the stream meanwhile, and the request
  // came out as an orphan_response with no method or path.
  for (const responseInOnePacket of [false, true]) {
    const ce = new HpackEncoder();
    const se = new HpackEncoder();
    const custom: Array<[string, string]> = [['x-tenant', 'acme-corp'], ['authorization', 'Bearer abc']];
    // Before the capture: the client's custom fields and the server's fields went into the tables.
    ce.encode(custom);
    se.encode([[':status', '200'], ['server', 'nginx']]);
    const get = (id: number, path: string) =>
      frame(HEADERS, END_HEADERS | END_STREAM, id, Buffer.concat([ce.encode([[':method', 'GET'], [':path', path]], { index: false }), ce.encode(custom)]));
    const ctx = fakeContext({}, { midstream: true });
    const p = new Http2Parser(ctx);
    const req7 = get(7, '/small.txt');
    p.data(0, req7, 1n);
    const head7 = frame(HEADERS, END_HEADERS, 7, se.encode([[':status', '200'], ['server', 'nginx']]));
    const body7 = frame(DATA, END_STREAM, 7, Buffer.from('small file\n'));
    if (responseInOnePacket) {
      p.data(1, Buffer.concat([head7, body7]), 2n);
    } else {
      p.data(1, head7, 2n);
      p.data(1, body7, 3n);
    }
    p.data(0, get(9, '/nc'), 4n);
    p.data(1, frame(HEADERS, END_HEADERS | END_STREAM, 9, se.encode([[':status', '204'], ['server', 'nginx']])), 5n);
    p.close('fin', 6n);
    const at = `response in one packet: ${responseInOnePacket}`;
    assert.deepEqual(
      ctx.records.map((r) => [(r.attributes.http2 as any).stream_id, r.kind, r.flags, (r.attributes.http as any).request?.method, (r.attributes.url as any)?.path, (r.attributes.http as any).response.status_code]),
      [
        [7, 'exchange', ['undecodable'], 'GET', '/small.txt', 200],
        [9, 'exchange', ['undecodable'], 'GET', '/nc', 204],
      ],
      at,
    );
    const h7 = ctx.records[0].attributes.http as any;
    // Fields from table entries inserted before the capture are left out, not guessed.
    assert.equal(h7.request.header['x-tenant'], undefined, at);
    assert.equal(h7.response.header.server, undefined, at);
    assert.equal(h7.response.body.content, 'small file\n', at);
    // The request started with the client's packet, not with the response.
    assert.equal(ctx.records[0].startNs, 1n, at);
    assert.equal(ctx.records[0].requestBytes, req7.length, at);
    assert.equal(ctx.counts.get('http2.frames_on_closed_streams'), undefined, at);
    assert.equal(ctx.counts.get('http2.resync_held_frames'), 1, at);
  }
});

test('mid-stream join: lone frames both sides hold on one stream are read in the order they came', () => {
  // A 204 is one HEADERS frame in its own segment too: the client's next request confirms
  // its held HEADERS before the server's held response; neither may jump ahead of the other.
  for (const next of ['request', 'end'] as const) {
    const ce = new HpackEncoder();
    const se = new HpackEncoder();
    const ctx = fakeContext({}, { midstream: true });
    const p = new Http2Parser(ctx);
    const get = (id: number, path: string) => frame(HEADERS, END_HEADERS | END_STREAM, id, ce.encode([[':method', 'GET'], [':path', path]]));
    p.data(0, get(7, '/nc'), 1n);
    p.data(1, frame(HEADERS, END_HEADERS | END_STREAM, 7, se.encode([[':status', '204']])), 2n);
    if (next === 'request') {
      p.data(0, get(9, '/nc'), 3n);
      p.data(1, frame(HEADERS, END_HEADERS | END_STREAM, 9, se.encode([[':status', '204']])), 4n);
    }
    p.close('fin', 5n);
    assert.deepEqual(
      ctx.records.map((r) => [(r.attributes.http2 as any).stream_id, r.kind, r.flags, (r.attributes.url as any)?.path, (r.attributes.http as any).response?.status_code]),
      next === 'request' ? [[7, 'exchange', undefined, '/nc', 204], [9, 'exchange', undefined, '/nc', 204]] : [[7, 'exchange', undefined, '/nc', 204]],
      next,
    );
  }
});

test('mid-stream join: a lone response HEADERS the server has not yet followed is taken when the client resets that stream', () => {
  const ce = new HpackEncoder();
  const se = new HpackEncoder();
  const ctx = fakeContext({}, { midstream: true });
  const p = new Http2Parser(ctx);
  p.data(0, Buffer.concat([
    frame(HEADERS, END_HEADERS | END_STREAM, 7, ce.encode([[':method', 'GET'], [':path', '/slow']])),
    frame(WINDOW, 0, 0, Buffer.from([0, 0, 1, 0])),
  ]), 1n);
  p.data(1, frame(HEADERS, END_HEADERS, 7, se.encode([[':status', '200'], ['content-type', 'text/plain']])), 2n);
  // The client gives up on the stream before the server's next packet, which crossed the reset.
  p.data(0, frame(RST, 0, 7, Buffer.from([0, 0, 0, 8])), 3n);
  p.data(1, frame(DATA, END_STREAM, 7, Buffer.from('late')), 4n);
  assert.equal(ctx.records.length, 1, 'emitted when the server ended the stream');
  p.close('fin', 5n);
  assert.equal(ctx.records.length, 1);
  const r = ctx.records[0];
  assert.equal(r.kind, 'exchange');
  assert.deepEqual(r.flags, ['reset']);
  assert.equal((r.attributes.http as any).response.status_code, 200);
  assert.equal((r.attributes.http as any).response.body.content, 'late');
  assert.deepEqual((r.attributes.http2 as any).reset, { by: 'client', error_code: 'CANCEL' });
});

test('mid-stream join: a lone frame on another stream than the other side\'s is not taken early', () => {
  // Only a frame on the same stream confirms a held one; any other is no evidence for it.
  const ce = new HpackEncoder();
  const se = new HpackEncoder();
  const ctx = fakeContext({}, { midstream: true });
  const p = new Http2Parser(ctx);
  p.data(0, frame(HEADERS, END_HEADERS | END_STREAM, 9, ce.encode([[':method', 'GET'], [':path', '/nine']])), 1n);
  // Stream 7's request came before the capture; its response arrives now.
  p.data(1, Buffer.concat([frame(HEADERS, END_HEADERS, 7, se.encode([[':status', '200']])), frame(DATA, END_STREAM, 7, Buffer.from('seven'))]), 2n);
  assert.deepEqual(ctx.records.map((r) => [(r.attributes.http2 as any).stream_id, r.kind, r.flags]), [[7, 'orphan_response', ['midstream']]]);
  assert.equal(ctx.counts.get('http2.resync_held_frames'), undefined);
  // The client's next frame confirms the held one: stream 9 is the request it was.
  p.data(0, frame(WINDOW, 0, 0, Buffer.from([0, 0, 1, 0])), 3n);
  p.data(1, frame(HEADERS, END_HEADERS | END_STREAM, 9, se.encode([[':status', '204']])), 4n);
  assert.deepEqual(ctx.records.map((r) => [(r.attributes.http2 as any).stream_id, r.kind, (r.attributes.url as any)?.path]), [[7, 'orphan_response', undefined], [9, 'exchange', '/nine']]);
});

test('each SETTINGS ACK settles the SETTINGS frame it answers, also one without a header table size', () => {
  const ce = new HpackEncoder();
  const se = new HpackEncoder();
  const ctx = fakeContext();
  const p = new Http2Parser(ctx);
  p.data(0, Buffer.concat([PREFACE, settings([[3, 100]])]), 1n);
  // The server's first SETTINGS leaves the table size alone, its second lowers it to 0.
  p.data(1, Buffer.concat([settings([[3, 100]]), settings([[1, 0]])]), 2n);
  // The client acknowledges only the first: until it acknowledges the second, 4096 stays legal (§6.5.3).
  p.data(0, settings([], true), 3n);
  p.data(0, frame(HEADERS, END_HEADERS | END_STREAM, 1, Buffer.concat([encodeInteger(4096, 5, 0x20), ce.encode([[':method', 'GET'], [':path', '/a']])])), 4n);
  p.data(1, frame(HEADERS, END_HEADERS | END_STREAM, 1, se.encode([[':status', '200']])), 5n);
  // Then the second ACK: from here a size update above 0 is damage.
  p.data(0, Buffer.concat([settings([], true), frame(HEADERS, END_HEADERS | END_STREAM, 3, Buffer.concat([encodeInteger(0, 5, 0x20), ce.encode([[':method', 'GET'], [':path', '/b']])]))]), 6n);
  p.data(1, frame(HEADERS, END_HEADERS | END_STREAM, 3, se.encode([[':status', '204']])), 7n);
  assert.deepEqual(
    ctx.records.map((r) => [(r.attributes.url as any)?.path, (r.attributes.http as any).response.status_code, r.flags]),
    [['/a', 200, undefined], ['/b', 204, undefined]],
  );
});

test('detection: preface, partial preface, frame chains, and not HTTP/2', () => {
  assert.deepEqual(detectHttp2(PREFACE, 0), { sender: 'client' });
  assert.equal(detectHttp2(PREFACE.subarray(0, 10), 0), 'more');
  const se = new HpackEncoder();
  const serverHead = Buffer.concat([settings([[3, 100]]), frame(WINDOW, 0, 0, Buffer.from([0, 0, 1, 0])), frame(HEADERS, END_HEADERS, 1, se.encode([[':status', '200']]))]);
  assert.deepEqual(detectHttp2(serverHead, 1), { sender: 'server', confidence: 0.7 });
  // a chain cut short waits for more, unless it opens with the server preface (next test)
  assert.equal(detectHttp2(serverHead.subarray(15, 30), 1), 'more');
  assert.equal(detectHttp2(Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\r\n'), 0), null);
  assert.equal(detectHttp2(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]), 0), null);
});

test('detection mid-connection: the sender is read past table size updates at the start of a block, of any size', () => {
  // RFC 7541 §5.1: a size update to 4096 is 3f e1 1f (31 + 0x61 + 0x1f·128); §4.2 allows two (0, then 4096)
  const chain = (block: number[]) =>
    Buffer.concat([frame(HEADERS, END_HEADERS, 5, Buffer.from(block)), frame(WINDOW, 0, 0, Buffer.from([0, 0, 1, 0])), frame(DATA, 0, 5, Buffer.from('x'))]);
  const GET = [0x82, 0x86, 0x84]; // :method GET, :scheme http, :path /
  const STATUS_200 = [0x88];
  assert.deepEqual(detectHttp2(chain([0x3f, 0xe1, 0x1f, ...GET]), 0), { sender: 'client', confidence: 0.7 });
  assert.deepEqual(detectHttp2(chain([0x3f, 0xe1, 0x1f, ...STATUS_200]), 1), { sender: 'server', confidence: 0.7 });
  assert.deepEqual(detectHttp2(chain([0x20, 0x3f, 0xe1, 0x1f, ...STATUS_200]), 1), { sender: 'server', confidence: 0.7 });
  assert.deepEqual(detectHttp2(chain([0x3f, 0x01, ...GET]), 0), { sender: 'client', confidence: 0.7 });
  // a block of nothing but an update says nothing
  assert.deepEqual(detectHttp2(chain([0x3f, 0xe1, 0x1f]), 0), { sender: 'unknown', confidence: 0.7 });
});

test('detection: a server preface alone (SETTINGS written on accept, before the client spoke) is HTTP/2 from the server', () => {
  // nghttpd's and node's (maxConcurrentStreams 100): also a plausible Kafka Produce request, checked after HTTP/2
  const nghttpd = Buffer.from('000006040000000000000300000064', 'hex');
  assert.deepEqual(detectHttp2(nghttpd, 1), { sender: 'server', confidence: 0.7 });
  assert.deepEqual(detectHttp2(settings([[3, 128], [4, 65536], [5, (1 << 24) - 1]]), 0), { sender: 'server', confidence: 0.7 });
  assert.deepEqual(detectHttp2(settings([[8, 1], [9, 1], [1, 0], [2, 0], [6, 1 << 20]]), 1), { sender: 'server', confidence: 0.7 });
  assert.deepEqual(detectHttp2(settings([]), 1), { sender: 'server', confidence: 0.7 });
  // opening a chain (nginx writes a WINDOW_UPDATE with it): the chain's sender is the server
  assert.deepEqual(detectHttp2(Buffer.concat([settings([[3, 128], [4, 65536], [5, (1 << 24) - 1]]), frame(WINDOW, 0, 0, Buffer.from([0, 0xff, 0, 1]))]), 0), { sender: 'server', confidence: 0.7 });
  // followed by the start of the next frame: still the preface
  assert.deepEqual(detectHttp2(Buffer.concat([nghttpd, settings([], true).subarray(0, 4)]), 1), { sender: 'server', confidence: 0.7 });
  // not a preface: an ACK, a frame not yet whole, an undefined identifier, values the RFC forbids
  for (const head of [
    settings([], true),
    nghttpd.subarray(0, 12),
    settings([[0x77, 1]]),
    settings([[2, 2]]),
    settings([[4, 0x80000000]]),
    settings([[5, 16383]]),
    settings(Array.from({ length: 17 }, (): [number, number] => [3, 100])),
  ]) assert.equal(detectHttp2(head, 1), 'more', head.toString('hex'));
});

test('a 1 MiB DATA frame (after SETTINGS_MAX_FRAME_SIZE) split into 1000-byte segments is reassembled once', () => {
  const ce = new HpackEncoder();
  const se = new HpackEncoder();
  const big = Buffer.alloc(1 << 20, 0x61);
  const ctx = fakeContext({ maxBody: 1024 });
  const p = new Http2Parser(ctx);
  p.data(0, Buffer.concat([PREFACE, settings([[5, (1 << 24) - 1]]), frame(HEADERS, END_HEADERS | END_STREAM, 1, ce.encode([[':method', 'GET'], [':path', '/big']]))]), 1n);
  const server = Buffer.concat([settings([[5, (1 << 24) - 1]]), frame(HEADERS, END_HEADERS, 1, se.encode([[':status', '200'], ['content-type', 'text/plain']])), frame(DATA, END_STREAM, 1, big)]);
  for (let i = 0; i < server.length; i += 1000) p.data(1, server.subarray(i, i + 1000), BigInt(i));
  assert.equal(ctx.records.length, 1);
  const body = (ctx.records[0].attributes.http as any).response.body;
  assert.equal(body.size, big.length);
  assert.equal(body.truncated, true);
  assert.equal(body.content, 'a'.repeat(1024));
  assert.deepEqual(ctx.records[0].flags, ['truncated']);
});

test('a gzip body whose inflated prefix (a bomb\'s) is shorter than --max-body is still flagged truncated', () => {
  // 60,200 characters of text that do not compress (45 KB), then 16 MiB of one letter (16 KB): on the
  // wire within --max-body, inflated past its bound (2 MiB), so the text half of the input is decoded.
  const text = Array.from({ length: 1400 }, (_, i) => createHash('sha256').update(String(i)).digest('base64url')).join('');
  const body = gzipSync(Buffer.concat([Buffer.from(text), Buffer.alloc(16 * 1024 * 1024, 'a')]));
  assert.ok(body.length < 64 * 1024);
  const ce = new HpackEncoder();
  const se = new HpackEncoder();
  const ctx = fakeContext({ maxBody: 64 * 1024 });
  const p = new Http2Parser(ctx);
  p.data(0, Buffer.concat([PREFACE, frame(HEADERS, END_HEADERS | END_STREAM, 1, ce.encode([[':method', 'GET'], [':path', '/bomb']]))]), 1n);
  p.data(1, Buffer.concat([frame(HEADERS, END_HEADERS, 1, se.encode([[':status', '200'], ['content-type', 'text/plain'], ['content-encoding', 'gzip']])), frame(DATA, END_STREAM, 1, body)]), 2n);
  const v = (ctx.records[0].attributes.http as any).response.body;
  assert.equal(v.size, body.length);
  assert.ok(v.content.length < 64 * 1024 && text.startsWith(v.content.slice(0, 1000)), String(v.content.length));
  assert.equal(v.truncated, true);
  assert.deepEqual(ctx.records[0].flags, ['truncated']);
});

test('a connection whose start was seen but whose preface is missing decodes as a mid-stream join', () => {
  const ce = new HpackEncoder();
  ce.encode([[':method', 'GET'], [':path', '/x'], ['cookie', 'secret']]); // a block the capture lost
  const ctx = fakeContext();
  const p = new Http2Parser(ctx);
  p.data(0, Buffer.concat([
    frame(HEADERS, END_HEADERS | END_STREAM, 3, ce.encode([[':method', 'GET'], [':path', '/x'], ['cookie', 'secret']])),
    frame(PING, 0, 0, Buffer.alloc(8)),
  ]), 1n);
  p.close('end', 2n);
  assert.equal(ctx.counts.get('http2.bad_preface'), 1);
  assert.equal(ctx.records.length, 1);
  assert.ok(ctx.records[0].flags!.includes('undecodable'));
  assert.equal((ctx.records[0].attributes.http as any).request.header.cookie, undefined);
});

test('a PUSH_PROMISE on stream 0 is a connection error (§6.6): no pushed stream, but its HPACK insertions count', () => {
  // found by payload fuzzing: the pushed stream's event said push_promise_stream_id 0
  const ce = new HpackEncoder();
  const se = new HpackEncoder();
  const ctx = fakeContext();
  const p = new Http2Parser(ctx);
  p.data(0, Buffer.concat([PREFACE, frame(HEADERS, END_HEADERS | END_STREAM, 1, ce.encode([[':method', 'GET'], [':path', '/']]))]), 1n);
  const promised = Buffer.concat([Buffer.from([0, 0, 0, 2]), se.encode([[':method', 'GET'], [':path', '/style.css'], [':scheme', 'http'], [':authority', 'x']])]);
  p.data(1, Buffer.concat([
    frame(PUSH, END_HEADERS, 0, promised),
    // indexed from the dynamic table the promise filled: decodable only if its insertions were kept
    frame(HEADERS, END_HEADERS | END_STREAM, 1, se.encode([[':status', '200'], [':authority', 'x']])),
  ]), 2n);
  assert.deepEqual(ctx.records.map((r) => [r.kind, (r.attributes.http2 as any).stream_id, r.flags]), [['exchange', 1, undefined]]);
  assert.equal(ctx.counts.get('http2.malformed_push_promise'), 1);
});

test('after a gap, a frame larger than the segments it comes in is gathered, and read as when it comes whole', () => {
  // The side held while resynchronising was copied again with each segment (quadratic in the frame's
  // size); it is now gathered as an incomplete frame is. Whatever the segmenting, the reading is the same.
  const SIZE = 300_000;
  const read = (segment: number) => {
    const ce = new HpackEncoder();
    const se = new HpackEncoder();
    const ctx = fakeContext();
    const p = new Http2Parser(ctx);
    // the client allows frames up to 2^24-1 bytes (as nginx's peers do), so one DATA frame may be this large
    p.data(0, Buffer.concat([PREFACE, settings([[5, (1 << 24) - 1]]), frame(HEADERS, END_HEADERS | END_STREAM, 1, ce.encode([[':method', 'GET'], [':path', '/big']]))]), 1n);
    p.data(1, frame(HEADERS, END_HEADERS, 1, se.encode([[':status', '200']])), 2n);
    p.gap(1, 100, 3n);
    // bytes of a lost frame's tail first: the scan must skip them and find the frames after
    const after = Buffer.concat([Buffer.from([0xff, 0xee, 0xdd]), frame(DATA, 0, 1, Buffer.alloc(SIZE, 0x61)), frame(DATA, 0, 1, Buffer.from('tail')), frame(HEADERS, END_HEADERS | END_STREAM, 1, se.encode([['x-done', 'yes']]))]);
    for (let o = 0; o < after.length; o += segment) p.data(1, after.subarray(o, o + segment), 4n);
    p.close('fin', 6n);
    const r = ctx.records[0];
    return { size: (r.attributes.http as any).response.body?.size, trailer: (r.attributes.http as any).response.trailer, flags: r.flags, skipped: ctx.counts.get('http2.resync_skipped_bytes') };
  };
  const whole = read(1 << 30);
  assert.equal(whole.size, SIZE + 4);
  assert.equal(whole.skipped, 3);
  assert.deepEqual(whole.trailer, { 'x-done': ['yes'] });
  for (const segment of [1000, 1460, 16384]) assert.deepEqual(read(segment), whole, `segments of ${segment} bytes`);
});

test('error.type: a stream reset before its response ended failed with the reset\'s code; not after a whole response, not NO_ERROR, not a declined push', () => {
  const errorOf = (r: { attributes: Record<string, unknown> }) => (r.attributes as any).error?.type;
  // gRPC call cancelled by its client, the server's frames crossing it bring no status
  const ce = new HpackEncoder();
  const ctx = fakeContext();
  const p = new Http2Parser(ctx);
  p.data(0, Buffer.concat([PREFACE, grpcReq(ce, 1), frame(RST, 0, 1, CANCEL)]), 1n);
  p.close('fin', 2n);
  assert.deepEqual(streamsOf(ctx.records), [[1, 'unanswered', ['reset'], undefined]]);
  assert.equal(errorOf(ctx.records[0]), 'CANCEL');
  // a server refusing a request (REFUSED_STREAM = 7) after its headers; and a server answering whole, then
  // resetting the rest of the upload (NO_ERROR, RFC 9113 §8.1); and a client cancelling after a whole answer
  const c2 = new HpackEncoder();
  const s2 = new HpackEncoder();
  const ctx2 = fakeContext();
  const p2 = new Http2Parser(ctx2);
  const get = (id: number, end: number) => frame(HEADERS, END_HEADERS | end, id, c2.encode([[':method', 'POST'], [':path', `/u${id}`], [':scheme', 'http'], [':authority', 'x']]));
  p2.data(0, Buffer.concat([PREFACE, get(1, 0), get(3, 0), get(5, 0)]), 1n);
  p2.data(1, Buffer.concat([
    frame(HEADERS, END_HEADERS, 1, s2.encode([[':status', '200']])),
    frame(RST, 0, 1, Buffer.from([0, 0, 0, 7])),
    frame(HEADERS, END_HEADERS | END_STREAM, 3, s2.encode([[':status', '413']])),
    frame(RST, 0, 3, Buffer.from([0, 0, 0, 0])),
    frame(HEADERS, END_HEADERS, 5, s2.encode([[':status', '200']])),
    frame(DATA, END_STREAM, 5, Buffer.from('ok')),
  ]), 2n);
  p2.data(0, frame(RST, 0, 5, CANCEL), 3n);
  p2.close('fin', 4n);
  const byStream = new Map(ctx2.records.map((r) => [(r.attributes.http2 as any).stream_id, r]));
  assert.equal(errorOf(byStream.get(1)!), 'REFUSED_STREAM');
  assert.deepEqual((byStream.get(1)!.attributes.http2 as any).reset, { by: 'server', error_code: 'REFUSED_STREAM' });
  assert.equal(errorOf(byStream.get(3)!), undefined);
  assert.equal(errorOf(byStream.get(5)!), undefined);
  // a status the server sent stays the error: 503 and a gRPC status crossing the client's reset
  const ctx3 = fakeContext();
  const p3 = new Http2Parser(ctx3);
  const c3 = new HpackEncoder();
  const s3 = new HpackEncoder();
  p3.data(0, Buffer.concat([PREFACE, grpcReq(c3, 1), frame(RST, 0, 1, CANCEL)]), 1n);
  p3.data(1, grpcTrailersOnly(s3, 1, 4), 2n);
  p3.data(0, frame(HEADERS, END_HEADERS | END_STREAM, 3, c3.encode([[':method', 'GET'], [':path', '/x'], [':scheme', 'http'], [':authority', 'x']])), 3n);
  p3.data(1, Buffer.concat([frame(HEADERS, END_HEADERS, 3, s3.encode([[':status', '503']])), frame(RST, 0, 3, Buffer.from([0, 0, 0, 2]))]), 4n);
  p3.close('fin', 5n);
  assert.deepEqual(ctx3.records.map(errorOf), ['DEADLINE_EXCEEDED', '503']);
  // a pushed stream the client declines
  const { se: s4, ctx: ctx4, p: p4, promise } = pushOfStyle();
  p4.data(1, Buffer.concat([promise, frame(HEADERS, END_HEADERS, 1, s4.encode([[':status', '200']])), frame(DATA, END_STREAM, 1, Buffer.from('<html>'))]), 2n);
  p4.data(1, frame(HEADERS, END_HEADERS, 2, s4.encode([[':status', '200'], ['content-type', 'text/css']])), 3n);
  p4.data(0, frame(RST, 0, 2, CANCEL), 4n);
  p4.close('fin', 5n);
  const push = ctx4.records.find((r) => (r.attributes.http2 as any).stream_id === 2)!;
  assert.deepEqual((push.attributes.http2 as any).reset, { by: 'client', error_code: 'CANCEL' });
  assert.equal(errorOf(push), undefined);
});

/** An extended CONNECT for WebSocket on `id` (RFC 8441 §4), as a client sends it. */
function wsConnect(ce: HpackEncoder, id: number): Buffer {
  return frame(HEADERS, END_HEADERS, id, ce.encode([[':method', 'CONNECT'], [':protocol', 'websocket'], [':scheme', 'https'], [':path', `/ws${id}`], [':authority', 'example.test'], ['sec-websocket-version', '13']]));
}
/** A client frame of RFC 6455 §5.7: "Hello" masked with 37 fa 21 3d. */
const WS_MASKED_HELLO = Buffer.from('818537fa213d7f9f4d5158', 'hex');

test('WebSocket over HTTP/2: a reset stream cuts its message short; a stream that breaks RFC 6455 is given up alone; a CONNECT answered 4xx stays HTTP', () => {
  const ce = new HpackEncoder();
  const se = new HpackEncoder();
  const ctx = fakeContext();
  const p = new Http2Parser(ctx);
  p.data(0, Buffer.concat([PREFACE, settings(), wsConnect(ce, 1), wsConnect(ce, 3), wsConnect(ce, 5)]), 1n);
  p.data(1, Buffer.concat([
    settings([[8, 1]]), // SETTINGS_ENABLE_CONNECT_PROTOCOL
    frame(HEADERS, END_HEADERS, 1, se.encode([[':status', '200']])),
    frame(HEADERS, END_HEADERS, 3, se.encode([[':status', '200']])),
    frame(HEADERS, END_HEADERS, 5, se.encode([[':status', '403']])),
    frame(DATA, END_STREAM, 5, Buffer.from('forbidden')),
  ]), 2n);
  p.data(0, Buffer.concat([
    frame(DATA, 0, 1, WS_MASKED_HELLO),
    frame(DATA, 0, 1, WS_MASKED_HELLO.subarray(0, 7)), // a second "Hello", cut by the reset below
    frame(DATA, 0, 3, Buffer.from('808000000000', 'hex')), // a continuation frame with no message begun: RFC 6455 §5.4 forbids it
    frame(RST, 0, 1, Buffer.from([0, 0, 0, 8])), // CANCEL
  ]), 3n);
  // stream 3 was given up: its later frames are late ones; the connection goes on (stream 7 is read)
  p.data(0, Buffer.concat([frame(DATA, 0, 3, WS_MASKED_HELLO), frame(HEADERS, END_HEADERS | END_STREAM, 7, ce.encode([[':method', 'GET'], [':scheme', 'https'], [':path', '/after'], [':authority', 'example.test']]))]), 4n);
  p.data(1, Buffer.concat([frame(HEADERS, END_HEADERS | END_STREAM, 7, se.encode([[':status', '204']]))]), 5n);
  p.close('fin', 6n);
  const summary = ctx.records.map((r) => [r.protocol ?? 'http2', (r.attributes.http2 as any).stream_id, (r.attributes.http as any)?.response?.status_code ?? (r.attributes.websocket as any)?.opcode, r.flags ?? []]);
  assert.deepEqual(summary, [
    // the CONNECTs as exchanges of their own when answered; the refused one as HTTP, its request never ended
    ['http2', 1, 200, []],
    ['http2', 3, 200, []],
    ['http2', 5, 403, ['incomplete']],
    ['websocket', 1, 'text', []],
    ['websocket', 1, 'text', ['reset', 'message_incomplete']],
    ['http2', 7, 204, []],
  ]);
  assert.equal(ctx.counts.get('websocket.malformed.continuation_outside_message'), 1);
  assert.equal((ctx.records[3]!.attributes.websocket as any).message.body.content, 'Hello');
  assert.equal((ctx.records[2]!.attributes.http as any).response.body.content, 'forbidden');
  assert.equal(ctx.counts.get('websocket.malformed'), 1);
  assert.equal(ctx.counts.get('http2.websocket_streams'), 2);
  assert.deepEqual(ctx.abandoned, [], 'the HTTP/2 connection is not given up');
  assert.ok((ctx.counts.get('http2.frames_on_closed_streams') ?? 0) >= 1);
});

test('a :status that is not three digits is no status code: the stream is reported without one, flagged malformed (found by fuzzing: 20 was reported as a status)', () => {
  for (const status of ['20', '2000', ' 200', '0x1f', '']) {
    const ce = new HpackEncoder();
    const se = new HpackEncoder();
    const ctx = fakeContext();
    const p = new Http2Parser(ctx);
    p.data(0, Buffer.concat([PREFACE, settings(), frame(HEADERS, END_HEADERS | END_STREAM, 1, ce.encode([[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'a.test']]))]), 1n);
    p.data(1, Buffer.concat([settings(), frame(HEADERS, END_HEADERS | END_STREAM, 1, se.encode([[':status', status]]))]), 2n);
    assert.equal(ctx.records.length, 1, JSON.stringify(status));
    const r = ctx.records[0]!;
    assert.equal((r.attributes.http as any).response.status_code, undefined, JSON.stringify(status));
    assert.ok(r.flags?.includes('malformed'), JSON.stringify(status));
  }
});
