// gRPC-Web (grpc/doc/PROTOCOL-WEB.md) with bytes built by hand from the spec:
// content types, the trailer frame (flag 0x80, `name: value\r\n` lines), the
// -text variants as several padded base64 chunks cut anywhere, and whole
// exchanges over HTTP/1.1 (synthetic capture) and HTTP/2 (hand-built frames).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { GrpcFramer } from '../../packages/protocols/src/grpc/framing.js';
import { grpcAttributes } from '../../packages/protocols/src/grpc/index.js';
import { Base64Stream, GrpcWire, grpcWire, parseTrailerBlock } from '../../packages/protocols/src/grpc/web.js';
import { defaultParseOptions } from '../../packages/protocols/src/types.js';
import { Http2Parser } from '../../packages/protocols/src/http2/parser.js';
import { HpackEncoder } from '../../packages/protocols/src/http2/hpack.js';
import { fakeContext } from '../helpers/fake-parser-context.js';
import { PREFACE, frame, grpcMessage, pbField } from '../helpers/http2-frames.js';
import { Conversation } from '../helpers/synth.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';

/** The trailer frame: flag byte 0x80 (MSB set: trailers, uncompressed), 4-byte length, the field lines. */
function trailerFrame(lines: string): Buffer {
  const body = Buffer.from(lines, 'latin1');
  const h = Buffer.alloc(5);
  h[0] = 0x80;
  h.writeUInt32BE(body.length, 1);
  return Buffer.concat([h, body]);
}

test('content types: grpc, grpc-web, grpc-web-text, with +proto and parameters', () => {
  assert.equal(grpcWire('application/grpc'), GrpcWire.NATIVE);
  assert.equal(grpcWire('application/grpc+proto'), GrpcWire.NATIVE);
  assert.equal(grpcWire('application/grpc-web'), GrpcWire.WEB);
  assert.equal(grpcWire('application/grpc-web+proto'), GrpcWire.WEB);
  assert.equal(grpcWire('Application/GRPC-Web; charset=utf-8'), GrpcWire.WEB);
  assert.equal(grpcWire('application/grpc-web-text'), GrpcWire.WEB_TEXT);
  assert.equal(grpcWire('application/grpc-web-text+proto'), GrpcWire.WEB_TEXT);
  assert.equal(grpcWire('application/grpc-web-text-base64'), GrpcWire.WEB_TEXT);
  for (const no of ['application/grpc-webx', 'application/grpcweb', 'application/json', 'text/grpc-web', undefined]) {
    assert.equal(grpcWire(no), undefined, String(no));
  }
});

test('base64 stream: padded chunks end to end, cut at every offset, decode to the bytes encoded', () => {
  // Three flushes of 1, 2 and 3 bytes mod 3: "==", "=" and no padding inside the stream.
  const flushes = [Buffer.from([0x00, 0x00, 0x00, 0x00, 0x01, 0x41]), Buffer.from('hello'), Buffer.from([0x80, 0x00, 0x00, 0x00, 0x03, 0x61, 0x62, 0x63, 0xff])];
  const text = Buffer.from(flushes.map((f) => f.toString('base64')).join(''));
  assert.equal(text.toString(), 'AAAAAAFB' + 'aGVsbG8=' + 'gAAAAANhYmP/');
  const whole = Buffer.concat(flushes);
  for (let cut = 0; cut <= text.length; cut++) {
    for (const cut2 of [cut, Math.min(text.length, cut + 3)]) {
      const d = new Base64Stream();
      const out = Buffer.concat([d.decode(text.subarray(0, cut)), d.decode(text.subarray(cut, cut2)), d.decode(text.subarray(cut2))]);
      assert.deepEqual(out, whole, `cut ${cut}/${cut2}`);
      assert.equal(d.invalid, false);
    }
  }
  // "QQ==" is one byte, "QUI=" two (RFC 4648 §4); a line break between chunks is skipped.
  const d = new Base64Stream();
  assert.deepEqual(d.decode(Buffer.from('QQ==QUI=\r\nQUJD')), Buffer.from('AABABC'));
  const bad = new Base64Stream();
  assert.deepEqual(bad.decode(Buffer.from('QUJD*QUJD')), Buffer.from('ABC'));
  assert.equal(bad.invalid, true);
});

test('trailer block: CRLF lines, lower-cased names, repeated names, UTF-8 or latin1 values', () => {
  assert.deepEqual(parseTrailerBlock(Buffer.from('grpc-status: 5\r\nGrpc-Message: no%20user\r\nx-a: 1\r\nx-a:2\r\nbad line\r\nx-utf8: caf\xc3\xa9', 'latin1')), {
    'grpc-status': ['5'], 'grpc-message': ['no%20user'], 'x-a': ['1', '2'], 'x-utf8': ['café'],
  });
  assert.deepEqual(parseTrailerBlock(Buffer.from('x-latin1: caf\xe9\n', 'latin1')), { 'x-latin1': ['caf\xe9'] });
});

test('framing: the trailer frame is not a message; the status comes from it; counts survive every cut', () => {
  const reply = pbField(1, 'Ada Lovelace');
  const body = Buffer.concat([grpcMessage(reply), grpcMessage(Buffer.alloc(0)), trailerFrame('grpc-status: 5\r\ngrpc-message: no%20user%20%E2%9C%97\r\n')]);
  for (let cut = 0; cut <= body.length; cut++) {
    const f = new GrpcFramer(20, 1000, GrpcWire.WEB);
    f.push(body.subarray(0, cut));
    f.push(body.subarray(cut));
    f.end();
    assert.equal(f.count, 2, `cut ${cut}`);
    assert.equal(f.totalBytes, reply.length);
    const flags = new Set<string>();
    const a = grpcAttributes({ path: '/demo.v1.Users/GetUser', response: { framer: f } }, defaultParseOptions, flags) as any;
    assert.deepEqual(a.rpc, { system: 'grpc', service: 'demo.v1.Users', method: 'GetUser', grpc: { status_code: 5 } });
    assert.equal(a.grpc.status, 'NOT_FOUND');
    assert.equal(a.grpc.status_message, 'no user ✗');
    assert.deepEqual(a.error, { type: 'NOT_FOUND' });
    assert.deepEqual(a.grpc.response.messages[0].fields, { f1: 'Ada Lovelace' });
    assert.deepEqual(flags, new Set());
  }
  // Native gRPC has no trailer frame: a 0x80 flag is a message like any other.
  const native = new GrpcFramer(20, 1000, GrpcWire.NATIVE);
  native.push(trailerFrame('grpc-status: 5\r\n'));
  assert.equal(native.count, 1);
  assert.equal(native.trailerBlock, undefined);
  // A trailer frame cut by the end of the body gives no status (half a line could be a wrong one).
  const cutShort = new GrpcFramer(20, 1000, GrpcWire.WEB);
  cutShort.push(trailerFrame('grpc-status: 13\r\n').subarray(0, 18));
  cutShort.end();
  assert.equal(cutShort.trailerBlock, undefined);
});

test('framing, text: the web stream base64-encoded per flush decodes to the same messages and status', () => {
  const msgs = [pbField(1, 'first'), pbField(2, 'second message, longer'), pbField(3, 'x')];
  const flushes = [...msgs.map((m) => grpcMessage(m)), trailerFrame('grpc-status: 0\r\n')];
  const text = Buffer.from(flushes.map((f) => f.toString('base64')).join(''));
  for (let cut = 0; cut <= text.length; cut++) {
    const f = new GrpcFramer(20, 1000, GrpcWire.WEB_TEXT);
    f.push(text.subarray(0, cut));
    f.push(text.subarray(cut));
    f.end();
    const a = grpcAttributes({ path: '/a.B/C', response: { framer: f } }, defaultParseOptions, new Set()) as any;
    assert.equal(a.grpc.response.message_count, 3, `cut ${cut}`);
    assert.equal(a.grpc.response.message_bytes, msgs.reduce((n, m) => n + m.length, 0));
    assert.deepEqual(a.grpc.response.messages.map((m: any) => m.fields), [{ f1: 'first' }, { f2: 'second message, longer' }, { f3: 'x' }]);
    assert.equal(a.rpc.grpc.status_code, 0);
    assert.equal(a.error, undefined);
  }
  // Not base64: what came before the bad byte is framed, the event says malformed.
  const f = new GrpcFramer(20, 1000, GrpcWire.WEB_TEXT);
  f.push(Buffer.concat([Buffer.from(grpcMessage(msgs[0]).toString('base64')), Buffer.from('!!!!'), text]));
  f.end();
  const flags = new Set<string>();
  const a = grpcAttributes({ path: '/a.B/C', response: { framer: f } }, defaultParseOptions, flags) as any;
  assert.equal(a.grpc.response.message_count, 1);
  assert.deepEqual(flags, new Set(['malformed']));
});

test('HTTP/1.1: grpc-web request, grpc-web-text response in chunks with its trailer frame, split at every size', () => {
  const client = { addr: '192.0.2.10', port: 50123 };
  const server = { addr: '192.0.2.80', port: 8080 };
  const request = grpcMessage(pbField(1, 42));
  const reply = pbField(2, 'grace@example.test');
  // grpc-web's clients send the deadline as native gRPC does: 1500 ms
  const req = `POST /demo.v1.Users/GetUser HTTP/1.1\r\nHost: h\r\nContent-Type: application/grpc-web+proto\r\nX-Grpc-Web: 1\r\nGrpc-Timeout: 1500m\r\nContent-Length: ${request.length}\r\n\r\n`;
  // One HTTP chunk per flush, each flush base64 on its own (padded).
  const flushes = [grpcMessage(reply), trailerFrame('grpc-status: 0\r\ngrpc-message: \r\nx-req-id: r-1\r\n')].map((f) => f.toString('base64'));
  const res = 'HTTP/1.1 200 OK\r\nContent-Type: application/grpc-web-text+proto\r\nTransfer-Encoding: chunked\r\n\r\n' + flushes.map((f) => `${f.length.toString(16)}\r\n${f}\r\n`).join('') + '0\r\n\r\n';
  for (const mss of [1, 3, 7, 1460]) {
    const c = new Conversation(client, server).handshake().send(0, Buffer.concat([Buffer.from(req), request]), mss).send(1, res, mss).close();
    const { events } = parseCaptureSync(c.pcapng());
    assertValidEvents(events);
    assert.equal(events.length, 1);
    const e = events[0] as any;
    assert.equal(e.pano.protocol, 'http');
    assert.deepEqual(e.rpc, { system: 'grpc', service: 'demo.v1.Users', method: 'GetUser', grpc: { status_code: 0 } });
    assert.equal(e.grpc.status, 'OK');
    assert.equal(e.grpc.timeout_ns, 1_500_000_000);
    assert.equal(e.grpc.request.message_count, 1);
    assert.deepEqual(e.grpc.request.messages[0].fields, { f1: 42 });
    assert.equal(e.grpc.response.message_count, 1, `mss ${mss}`);
    assert.equal(e.grpc.response.message_bytes, reply.length);
    assert.deepEqual(e.grpc.response.messages[0].fields, { f2: 'grace@example.test' });
    assert.equal(e.pano.flags, undefined);
  }
  // Trailers-only: the status in the response headers, no body.
  const only = 'HTTP/1.1 200 OK\r\nContent-Type: application/grpc-web+proto\r\nGrpc-Status: 16\r\nGrpc-Message: token%20expired\r\nContent-Length: 0\r\n\r\n';
  const c = new Conversation(client, server).handshake().send(0, Buffer.concat([Buffer.from(req), request])).send(1, only).close();
  const e = parseCaptureSync(c.pcapng()).events[0] as any;
  assert.equal(e.rpc.grpc.status_code, 16);
  assert.equal(e.grpc.status_message, 'token expired');
  assert.deepEqual(e.error, { type: 'UNAUTHENTICATED' });
  assert.equal(e.grpc.response.message_count, 0);
});

test('HTTP/1.1: a request that says it is not gRPC (JSON) answered in gRPC-Web is not framed; one with no content-type is', () => {
  const client = { addr: '192.0.2.10', port: 50123 };
  const server = { addr: '192.0.2.80', port: 8080 };
  const json = '{"id":42}';
  const body = Buffer.concat([grpcMessage(pbField(2, 'ok')), trailerFrame('grpc-status: 0\r\n')]);
  const res = `HTTP/1.1 200 OK\r\nContent-Type: application/grpc-web+proto\r\nContent-Length: ${body.length}\r\n\r\n`;
  for (const type of ['Content-Type: application/json\r\n', '']) {
    const req = `POST /demo.v1.Users/GetUser HTTP/1.1\r\nHost: h\r\n${type}Content-Length: ${json.length}\r\n\r\n${json}`;
    const c = new Conversation(client, server).handshake().send(0, req).send(1, Buffer.concat([Buffer.from(res), body])).close();
    const { events } = parseCaptureSync(c.pcapng());
    assertValidEvents(events);
    const e = events[0] as any;
    assert.equal(e.rpc.grpc.status_code, 0, type);
    assert.deepEqual(e.grpc.response.messages[0].fields, { f2: 'ok' }, type);
    assert.equal(e.http.request.body.content, json, type);
    if (type) {
      // Framed, '{' was the flag byte and '"id"' a 577 MB length.
      assert.equal(e.grpc.request, undefined);
      assert.equal(e.pano.flags, undefined);
    } else {
      // No type said: read as the response's, from the capture (here a cut message of 577 MB).
      assert.equal(e.grpc.request.message_bytes, 0x22696422);
    }
  }
});

test('HTTP/2: grpc-web-text request and binary grpc-web response, the trailer frame in DATA', () => {
  const ce = new HpackEncoder();
  const se = new HpackEncoder();
  const ctx = fakeContext();
  const p = new Http2Parser(ctx);
  const reqText = Buffer.from(grpcMessage(pbField(1, 'hello')).toString('base64'));
  p.data(0, Buffer.concat([
    PREFACE,
    frame(1, 4, 1, ce.encode([[':method', 'POST'], [':scheme', 'http'], [':path', '/chat.v1.Chat/Say'], [':authority', 'x'], ['content-type', 'application/grpc-web-text'], ['accept', 'application/grpc-web']])),
    frame(0, 0, 1, reqText.subarray(0, 5)),
    frame(0, 1, 1, reqText.subarray(5)),
  ]), 1n);
  const body = Buffer.concat([grpcMessage(pbField(1, 'echo: hello')), grpcMessage(pbField(1, 'bye')), trailerFrame('grpc-status: 14\r\ngrpc-message: going%20away\r\n')]);
  p.data(1, Buffer.concat([
    frame(1, 4, 1, se.encode([[':status', '200'], ['content-type', 'application/grpc-web+proto']])),
    frame(0, 0, 1, body.subarray(0, 20)),
    frame(0, 1, 1, body.subarray(20)),
  ]), 2n);
  assert.equal(ctx.records.length, 1);
  const a = ctx.records[0].attributes as any;
  assert.deepEqual(a.rpc, { system: 'grpc', service: 'chat.v1.Chat', method: 'Say', grpc: { status_code: 14 } });
  assert.equal(a.grpc.status_message, 'going away');
  assert.deepEqual(a.error, { type: 'UNAVAILABLE' });
  assert.deepEqual(a.grpc.request.messages.map((m: any) => m.fields), [{ f1: 'hello' }]);
  assert.deepEqual(a.grpc.response.messages.map((m: any) => m.fields), [{ f1: 'echo: hello' }, { f1: 'bye' }]);
  assert.equal(a.grpc.response.message_count, 2);
  assert.deepEqual(a.http.request.body, { size: reqText.length });
});

test('whole-body Content-Encoding (gzip, br, deflate) is undone before framing, on HTTP/1.1 and HTTP/2; a body that does not decompress is flagged', () => {
  const client = { addr: '192.0.2.10', port: 50123 };
  const server = { addr: '192.0.2.80', port: 8080 };
  const replies = [pbField(2, 'ada@example.test'), pbField(2, 'alan@example.test')];
  const plain = Buffer.concat([...replies.map((r) => grpcMessage(r)), trailerFrame('grpc-status: 7\r\ngrpc-message: denied\r\n')]);
  const request = grpcMessage(pbField(1, 5));
  const compress: Record<string, (b: Buffer) => Buffer> = { gzip: gzipSync, br: brotliCompressSync, deflate: deflateSync };
  for (const [encoding, fn] of Object.entries(compress)) {
    const body = fn(plain);
    // The request has no gRPC content-type (a client that left it out): the response's makes it gRPC-Web,
    // and the request body, read before that was known, is framed from the capture.
    const req = `POST /demo.v1.Users/List HTTP/1.1\r\nHost: h\r\nContent-Length: ${request.length}\r\n\r\n`;
    const res = `HTTP/1.1 200 OK\r\nContent-Type: application/grpc-web+proto\r\nContent-Encoding: ${encoding}\r\nContent-Length: ${body.length}\r\n\r\n`;
    const c = new Conversation(client, server).handshake().send(0, Buffer.concat([Buffer.from(req), request]), 7).send(1, Buffer.concat([Buffer.from(res), body]), 5).close();
    const { events } = parseCaptureSync(c.pcapng());
    assertValidEvents(events);
    const e = events[0] as any;
    assert.equal(e.rpc.grpc.status_code, 7, encoding);
    assert.deepEqual(e.error, { type: 'PERMISSION_DENIED' });
    assert.equal(e.grpc.status_message, 'denied');
    assert.deepEqual(e.grpc.response.messages.map((m: any) => m.fields), [{ f2: 'ada@example.test' }, { f2: 'alan@example.test' }], encoding);
    assert.equal(e.grpc.response.message_count, 2);
    assert.deepEqual(e.grpc.request.messages.map((m: any) => m.fields), [{ f1: 5 }]);
    assert.equal(e.pano.flags, undefined);
  }
  // HTTP/2, gzip on the response.
  const ce = new HpackEncoder();
  const se = new HpackEncoder();
  const ctx = fakeContext();
  const p = new Http2Parser(ctx);
  const gz = gzipSync(plain);
  p.data(0, Buffer.concat([PREFACE, frame(1, 4, 1, ce.encode([[':method', 'POST'], [':path', '/demo.v1.Users/List'], ['content-type', 'application/grpc-web']])), frame(0, 1, 1, request)]), 1n);
  p.data(1, Buffer.concat([frame(1, 4, 1, se.encode([[':status', '200'], ['content-type', 'application/grpc-web'], ['content-encoding', 'gzip']])), frame(0, 0, 1, gz.subarray(0, 9)), frame(0, 1, 1, gz.subarray(9))]), 2n);
  const a = ctx.records[0].attributes as any;
  assert.equal(a.rpc.grpc.status_code, 7);
  assert.equal(a.grpc.response.message_count, 2);
  assert.deepEqual(a.grpc.response.messages[1].fields, { f2: 'alan@example.test' });
  // Not gzip at all: no messages are made up, the event says malformed.
  const bad = fakeContext();
  const q = new Http2Parser(bad);
  const ce2 = new HpackEncoder();
  const se2 = new HpackEncoder();
  q.data(0, Buffer.concat([PREFACE, frame(1, 4 | 1, 1, ce2.encode([[':method', 'POST'], [':path', '/a.B/C'], ['content-type', 'application/grpc-web']]))]), 1n);
  q.data(1, Buffer.concat([frame(1, 4, 1, se2.encode([[':status', '200'], ['content-type', 'application/grpc-web'], ['content-encoding', 'gzip']])), frame(0, 1, 1, plain)]), 2n);
  assert.equal((bad.records[0].attributes as any).grpc.response.message_count, 0);
  assert.deepEqual(bad.records[0].flags, ['malformed']);
});

test('bounds: a trailer frame past 16 KiB keeps whole lines only; a compressed body past --max-body is flagged truncated', () => {
  const filler = `x-filler: ${'a'.repeat(100)}\r\n`.repeat(170); // 17,510 bytes of fields before the status
  const f = new GrpcFramer(20, 1000, GrpcWire.WEB);
  f.push(trailerFrame(`grpc-message: first\r\n${filler}grpc-status: 9\r\n`));
  f.end();
  const t = parseTrailerBlock(f.trailerBlock!);
  assert.ok(f.trailerBlock!.length <= 16 * 1024);
  assert.equal(f.trailerBlock![f.trailerBlock!.length - 1], 0x0a, 'ends with a whole line');
  assert.deepEqual(t['grpc-message'], ['first']);
  assert.equal(t['grpc-status'], undefined, 'beyond the bound: not read, not guessed');
  assert.ok(t['x-filler'].every((v) => v === 'a'.repeat(100)));

  // 40 messages gzip-compressed as one body, captured up to --max-body 200.
  const client = { addr: '192.0.2.10', port: 50123 };
  const server = { addr: '192.0.2.80', port: 8080 };
  const many = Buffer.concat(Array.from({ length: 40 }, (_, i) => grpcMessage(pbField(1, `message number ${i} ${'z'.repeat(i)}`))));
  const gz = gzipSync(many);
  const req = 'POST /a.B/C HTTP/1.1\r\nHost: h\r\nContent-Type: application/grpc-web\r\nContent-Length: 5\r\n\r\n\0\0\0\0\0';
  const res = `HTTP/1.1 200 OK\r\nContent-Type: application/grpc-web\r\nContent-Encoding: gzip\r\nContent-Length: ${gz.length}\r\n\r\n`;
  const c = new Conversation(client, server).handshake().send(0, req).send(1, Buffer.concat([Buffer.from(res), gz])).close();
  const e = parseCaptureSync(c.pcapng(), { parse: { maxBody: 200 } }).events[0] as any;
  assert.ok(gz.length > 200);
  assert.ok(e.grpc.response.message_count < 40 && e.grpc.response.message_count > 0, String(e.grpc.response.message_count));
  assert.ok(e.pano.flags.includes('truncated'));
  // HTTP/1.1, framed from the capture, cut by --max-body exactly between two messages: no
  // message looks cut, the body view says truncated.
  const four = Buffer.concat(Array.from({ length: 4 }, (_, i) => grpcMessage(pbField(1, `${i}`.repeat(43)))));
  assert.equal(four.length, 200);
  const untyped = `POST /a.B/C HTTP/1.1\r\nHost: h\r\nContent-Length: ${four.length}\r\n\r\n`;
  const only = 'HTTP/1.1 200 OK\r\nContent-Type: application/grpc-web\r\nGrpc-Status: 0\r\nContent-Length: 0\r\n\r\n';
  const c2 = new Conversation(client, server).handshake().send(0, Buffer.concat([Buffer.from(untyped), four])).send(1, only).close();
  const e2 = parseCaptureSync(c2.pcapng(), { parse: { maxBody: 100 } }).events[0] as any;
  assert.equal(e2.grpc.request.message_count, 2);
  assert.deepEqual(e2.grpc.request.messages.map((m: any) => m.truncated), [undefined, undefined]);
  assert.deepEqual(e2.pano.flags, ['truncated']);

  // HTTP/2 (where gRPC bodies carry only their size, so the body view flags nothing): a gzip
  // body of stored deflate blocks (RFC 1951 §3.2.4), one per message, cut by --max-body right
  // after the second block: the inflated prefix is two whole messages.
  const msg = grpcMessage(pbField(1, 'm'.repeat(43)));
  const stored = (data: Buffer) => Buffer.concat([Buffer.from([0x00, data.length & 0xff, data.length >> 8, ~data.length & 0xff, (~data.length >> 8) & 0xff]), data]);
  const gzHeader = Buffer.from([0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0xff]);
  const gzBody = Buffer.concat([gzHeader, stored(msg), stored(msg), stored(msg), stored(msg)]);
  const ctx = fakeContext({ maxBody: gzHeader.length + 2 * (5 + msg.length) });
  const p = new Http2Parser(ctx);
  const ce = new HpackEncoder();
  const se = new HpackEncoder();
  p.data(0, Buffer.concat([PREFACE, frame(1, 4 | 1, 1, ce.encode([[':method', 'POST'], [':path', '/a.B/C'], ['content-type', 'application/grpc-web']]))]), 1n);
  p.data(1, Buffer.concat([frame(1, 4, 1, se.encode([[':status', '200'], ['content-type', 'application/grpc-web'], ['content-encoding', 'gzip']])), frame(0, 1, 1, gzBody)]), 2n);
  const r = ctx.records[0];
  assert.equal((r.attributes as any).grpc.response.message_count, 2);
  assert.deepEqual(r.flags, ['truncated']);
});

test('trailer block: names that are Object.prototype members (constructor, __proto__, toString) are fields like any other', () => {
  const t = parseTrailerBlock(Buffer.from('grpc-status: 0\r\nconstructor: x\r\n__proto__: p1\r\n__proto__: p2\r\ntoString: s\r\nhasOwnProperty: h\r\n'));
  assert.equal(JSON.stringify(t), '{"grpc-status":["0"],"constructor":["x"],"__proto__":["p1","p2"],"tostring":["s"],"hasownproperty":["h"]}');
  assert.equal(Object.getPrototypeOf(t), Object.prototype, 'a plain object: the prototype was not replaced');
  // Over HTTP/2 (HTTP/1.x reads the same block): the status is read and the stream is an event, no parser fault.
  const ce = new HpackEncoder();
  const se = new HpackEncoder();
  const ctx = fakeContext();
  const p = new Http2Parser(ctx);
  p.data(0, Buffer.concat([PREFACE, frame(1, 4 | 1, 1, ce.encode([[':method', 'POST'], [':path', '/a.B/C'], ['content-type', 'application/grpc-web']]))]), 1n);
  const body = Buffer.concat([grpcMessage(pbField(1, 'ok')), trailerFrame('grpc-status: 0\r\nconstructor: x')]);
  p.data(1, Buffer.concat([frame(1, 4, 1, se.encode([[':status', '200'], ['content-type', 'application/grpc-web']])), frame(0, 1, 1, body)]), 2n);
  assert.equal(ctx.records.length, 1);
  const a = ctx.records[0].attributes as any;
  assert.equal(a.rpc.grpc.status_code, 0);
  assert.equal(a.grpc.response.message_count, 1);
});

/** The gRPC attributes of a gRPC-Web response that is one trailer frame, `z` (gzip, the side's grpc-encoding). */
function compressedTrailerFrame(z: Buffer): any {
  const frameBytes = Buffer.alloc(5);
  frameBytes[0] = 0x81; // trailers, compressed with the side's grpc-encoding
  frameBytes.writeUInt32BE(z.length, 1);
  const f = new GrpcFramer(20, 1000, GrpcWire.WEB);
  f.push(Buffer.concat([frameBytes, z]));
  f.end();
  return grpcAttributes({ path: '/a.B/C', response: { framer: f, encoding: 'gzip' } }, defaultParseOptions, new Set());
}

test('trailer block: 2 MiB of lines without a colon (a compressed trailer frame inflates to --max-body x 32 bytes) still gives the status at its end', () => {
  // The colon is looked for within its line: searching past the line's end was quadratic here (12 to
  // 35 s for this block, against under 100 ms, measured by hand; speed is not asserted in tests).
  const lines = Buffer.concat([Buffer.alloc(2 * 1024 * 1024 - 32, 'x\n'), Buffer.from('grpc-status: 3\r\n')]);
  const a = compressedTrailerFrame(gzipSync(lines));
  assert.equal(a.rpc.grpc.status_code, 3);
});

test('a trailer frame cut at 16 KiB before its first line ended gives no fields: the HTTP trailers give the status', () => {
  const ce = new HpackEncoder();
  const se = new HpackEncoder();
  const ctx = fakeContext();
  const p = new Http2Parser(ctx);
  p.data(0, Buffer.concat([PREFACE, frame(1, 4 | 1, 1, ce.encode([[':method', 'POST'], [':path', '/a.B/C'], ['content-type', 'application/grpc-web']]))]), 1n);
  const body = Buffer.concat([grpcMessage(pbField(1, 'ok')), trailerFrame(`x-long: ${'a'.repeat(17 * 1024)}`)]);
  p.data(1, Buffer.concat([
    frame(1, 4, 1, se.encode([[':status', '200'], ['content-type', 'application/grpc-web']])),
    frame(0, 0, 1, body),
    frame(1, 4 | 1, 1, se.encode([['grpc-status', '3'], ['grpc-message', 'bad%20id']])),
  ]), 2n);
  const a = ctx.records[0].attributes as any;
  assert.equal(a.grpc.response.message_count, 1);
  assert.equal(a.rpc.grpc.status_code, 3);
  assert.equal(a.grpc.status_message, 'bad id');
  assert.deepEqual(a.error, { type: 'INVALID_ARGUMENT' });
});

test('HTTP/1.1: native gRPC with a Content-Encoding header is framed per message, not decompressed whole (that is gRPC-Web\'s)', () => {
  const client = { addr: '192.0.2.10', port: 50124 };
  const server = { addr: '192.0.2.80', port: 8080 };
  const request = grpcMessage(pbField(1, 7));
  const reply = grpcMessage(pbField(2, 'ok'));
  const req = `POST /demo.v1.Users/GetUser HTTP/1.1\r\nHost: h\r\nContent-Type: application/grpc\r\nContent-Encoding: zstd\r\nContent-Length: ${request.length}\r\n\r\n`;
  const res = `HTTP/1.1 200 OK\r\nContent-Type: application/grpc\r\nContent-Encoding: gzip\r\nGrpc-Status: 0\r\nContent-Length: ${reply.length}\r\n\r\n`;
  const c = new Conversation(client, server).handshake().send(0, Buffer.concat([Buffer.from(req), request])).send(1, Buffer.concat([Buffer.from(res), reply])).close();
  const { events } = parseCaptureSync(c.pcapng());
  assertValidEvents(events);
  const e = events[0] as any;
  assert.equal(e.grpc.request.message_count, 1);
  assert.deepEqual(e.grpc.request.messages[0].fields, { f1: 7 });
  assert.equal(e.grpc.response.message_count, 1);
  assert.equal(e.pano.flags, undefined);
});

test('a compressed gRPC-Web body past 32 x --max-body once inflated is framed from the inflated prefix, truncated, not malformed', () => {
  // Ten messages of 200,000 zero bytes, gzip-compressed as one body (about 2 KB): the 1 KiB
  // captured inflates past 32 KiB, which was an error (flag malformed, no messages).
  const body = gzipSync(Buffer.concat(Array.from({ length: 10 }, () => grpcMessage(pbField(1, Buffer.alloc(200_000))))));
  const ctx = fakeContext({ maxBody: 1024 });
  const p = new Http2Parser(ctx);
  const ce = new HpackEncoder();
  const se = new HpackEncoder();
  p.data(0, Buffer.concat([PREFACE, frame(1, 4 | 1, 1, ce.encode([[':method', 'POST'], [':path', '/a.B/C'], ['content-type', 'application/grpc-web']]))]), 1n);
  p.data(1, Buffer.concat([frame(1, 4, 1, se.encode([[':status', '200'], ['content-type', 'application/grpc-web'], ['content-encoding', 'gzip']])), frame(0, 1, 1, body)]), 2n);
  const r = ctx.records[0];
  const res = (r.attributes as any).grpc.response;
  assert.ok(res.message_count >= 1, String(res.message_count));
  assert.deepEqual(res.messages[0], { size: 200_004, truncated: true });
  assert.deepEqual(r.flags, ['truncated']);
});

test('a compressed trailer frame that inflates past the bound gives the status from its whole lines', () => {
  // 8 MB of lines after the status (about 8 KB compressed, inside the 16 KiB trailer bound): past
  // 32 x --max-body, which was an error, and the status was lost with it.
  const z = gzipSync(Buffer.concat([Buffer.from('grpc-status: 7\r\ngrpc-message: no%20way\r\n'), Buffer.alloc(8 * 1024 * 1024, 'x\n')]));
  assert.ok(z.length < 16 * 1024);
  const a = compressedTrailerFrame(z);
  assert.equal(a.rpc.grpc.status_code, 7);
  assert.equal(a.grpc.status_message, 'no way');
});
