// gRPC binary metadata (`-bin` fields, base64 padded or not, split on ","),
// and grpc-status-details-bin read as a google.rpc.Status, against bytes
// and base64 written out by hand from the protobuf encoding spec and RFC 4648.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GrpcFramer } from '../../packages/protocols/src/grpc/framing.js';
import { grpcAttributes } from '../../packages/protocols/src/grpc/index.js';
import { MAX_BINARY_METADATA_BYTES, MAX_STATUS_DETAILS, base64Bytes } from '../../packages/protocols/src/grpc/metadata.js';
import { defaultParseOptions } from '../../packages/protocols/src/types.js';
import { grpcMessage } from '../helpers/http2-frames.js';
import { Conversation } from '../helpers/synth.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';

const dir = mkdtempSync(join(tmpdir(), 'pano-grpc-bin-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** An empty side: the metadata views go under grpc.request / grpc.response. */
const side = () => ({ framer: new GrpcFramer(20, 1000) });

function attrs(input: Record<string, unknown>, options = defaultParseOptions): { grpc: any; flags: Set<string> } {
  const flags = new Set<string>();
  const a = grpcAttributes({ path: '/x.v1.S/M', request: side(), response: side(), ...input }, options, flags) as any;
  return { grpc: a.grpc, flags };
}

// google.rpc.Status { code: 3, message: "bad email", details: [Any { type_url:
// "type.googleapis.com/google.rpc.ErrorInfo", value: ErrorInfo { reason: "EMAIL", domain: "x.test" } }] },
// key by key ((field << 3) | wire type):
const errorInfo = Buffer.concat([
  Buffer.from([0x0a, 0x05]), Buffer.from('EMAIL'), // reason = 1, LEN 5
  Buffer.from([0x12, 0x06]), Buffer.from('x.test'), // domain = 2, LEN 6
]); // 15 bytes
const typeUrl = 'type.googleapis.com/google.rpc.ErrorInfo'; // 19 + 1 + 20 = 40 = 0x28
const any = Buffer.concat([Buffer.from([0x0a, 0x28]), Buffer.from(typeUrl), Buffer.from([0x12, 0x0f]), errorInfo]); // 2 + 40 + 2 + 15 = 59 = 0x3b
const status = Buffer.concat([
  Buffer.from([0x08, 0x03]), // code = 1, VARINT 3
  Buffer.from([0x12, 0x09]), Buffer.from('bad email'), // message = 2, LEN 9
  Buffer.from([0x1a, 0x3b]), any, // details = 3, LEN 59
]); // 2 + 11 + 61 = 74 bytes: 74 % 3 = 2, so one "=" of padding

test('base64 (RFC 4648 §4): padded and unpadded read alike; other text says where it is not base64', () => {
  // 08 03 = 000010 000000 0011(00): C A M, one "=" to fill the group
  assert.deepEqual(base64Bytes('CAM='), Buffer.from([0x08, 0x03]));
  assert.deepEqual(base64Bytes('CAM'), Buffer.from([0x08, 0x03]));
  // 00 01 02 03: A A E C | A w, "==" to fill
  assert.deepEqual(base64Bytes('AAECAw=='), Buffer.from([0, 1, 2, 3]));
  assert.deepEqual(base64Bytes('AAECAw'), Buffer.from([0, 1, 2, 3]));
  assert.deepEqual(base64Bytes(''), Buffer.alloc(0));
  // Buffer.from would skip the "-" (or read it as base64url's 62) and decode something that was not sent
  assert.equal(base64Bytes('CA-M'), 'not base64: byte 0x2d at offset 2');
  assert.equal(base64Bytes('CAM=x'), 'not base64: byte 0x3d at offset 3');
  assert.equal(base64Bytes('CAM==='), 'not base64: byte 0x3d at offset 3');
  assert.equal(base64Bytes('CAMxC'), 'not base64: 5 characters leave one over');
  assert.equal(base64Bytes('CAM=='), 'not base64: padding does not end a 4-character group');
  assert.equal(base64Bytes('CA='), 'not base64: padding does not end a 4-character group');
});

test('grpc-status-details-bin: a google.rpc.Status with an ErrorInfo detail, padded and unpadded; ErrorInfo is built in', () => {
  const padded = status.toString('base64');
  assert.equal(padded.at(-1), '=');
  assert.equal(padded.at(-2) === '=', false);
  for (const value of [padded, padded.slice(0, -1)]) {
    const { grpc, flags } = attrs({ trailers: { 'grpc-status': ['3'], 'grpc-status-details-bin': [value] } });
    assert.deepEqual(grpc.status_details, {
      size: 74,
      code: 3,
      message: 'bad email',
      details: [{ type_url: typeUrl, content: { reason: 'EMAIL', domain: 'x.test' } }],
    });
    assert.equal(flags.size, 0);
    // it is the status, not other trailer metadata
    assert.equal(grpc.response.trailer_metadata, undefined);
  }
});

test('grpc-status-details-bin with --proto: a detail whose type the schemas define is decoded by it, before the built-in type of that name', () => {
  const proto = join(dir, 'error_details.proto');
  // the user's own google.rpc.ErrorInfo, its fields named otherwise than the built-in's: its names are the ones used
  writeFileSync(proto, 'syntax = "proto3";\npackage google.rpc;\nmessage ErrorInfo { string why = 1; string realm = 2; }\n');
  const { grpc } = attrs({ trailers: { 'grpc-status': ['3'], 'grpc-status-details-bin': [status.toString('base64')] } }, { ...defaultParseOptions, protoPaths: [proto] });
  assert.deepEqual(grpc.status_details.details, [{ type_url: typeUrl, content: { why: 'EMAIL', realm: 'x.test' } }]);
});

test('grpc-status-details-bin: a negative code, unknown fields, malformed base64 or protobuf give decode_error, never a throw', () => {
  const one = (bytes: Buffer | string) =>
    attrs({ trailers: { 'grpc-status': ['2'], 'grpc-status-details-bin': [typeof bytes === 'string' ? bytes : bytes.toString('base64')] } }).grpc.status_details;
  // int32 -1: a 10-byte varint (two's complement over 64 bits); field 9 is not Status's and is skipped
  assert.deepEqual(one(Buffer.from([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x48, 0x01])), { size: 13, code: -1 });
  assert.deepEqual(one('CA-M'), { decode_error: 'not base64: byte 0x2d at offset 2' });
  // 12 05 61: message (2), LEN 5, then one byte: runs past the end
  assert.deepEqual(one(Buffer.from([0x12, 0x05, 0x61])), { size: 3, decode_error: 'google.rpc.Status: length-delimited field runs past the end', hex: '120561' });
  // 0a 01 41: field 1 as LEN: code is a varint
  assert.deepEqual(one(Buffer.from([0x0a, 0x01, 0x41])), { size: 3, decode_error: 'google.rpc.Status: field code (1) has wire type 2, its type has 0' });
  // a detail whose value is no message (ff: field 31 of wire type 7) is shown as hex
  const bad = Buffer.from([0x1a, 0x06, 0x0a, 0x01, 0x54, 0x12, 0x01, 0xff]); // details, LEN 6: type_url "T", value ff
  assert.deepEqual(one(bad), { size: 8, details: [{ type_url: 'T', decode_error: 'not a protobuf message', hex: 'ff' }] });
});

test('grpc-status-details-bin: details past the bound are counted, and the status is flagged truncated', () => {
  const detail = Buffer.from([0x1a, 0x00]); // an empty Any
  const many = Buffer.concat(Array.from({ length: MAX_STATUS_DETAILS + 3 }, () => detail));
  const { grpc, flags } = attrs({ trailers: { 'grpc-status': ['2'], 'grpc-status-details-bin': [many.toString('base64')] } });
  assert.equal(grpc.status_details.details.length, MAX_STATUS_DETAILS);
  assert.equal(grpc.status_details.details_count, MAX_STATUS_DETAILS + 3);
  assert.equal(grpc.status_details.truncated, true);
  assert.ok(flags.has('truncated'));
});

test('other -bin metadata: text, a message, other bytes; values joined with "," split; request, response head and trailers apart', () => {
  const { grpc, flags } = attrs({
    requestHeaders: { 'content-type': ['application/grpc'], 'x-trace-bin': ['AAECAw'], 'x-plain': ['AAECAw'] },
    // "hi" (68 69: 011010 000110 1001(00) = a G k) and 00 01 02 03, joined as a proxy may join them
    responseHeaders: { 'x-user-bin': ['aGk,AAECAw=='] },
    // 0a 02 68 69: field 1, LEN 2, "hi": 000010 100000 001001 101000 | 011010 01(0000) = C g J o | a Q
    trailers: { 'grpc-status': ['0'], 'x-msg-bin': ['CgJoaQ', 'CgJoaQ=='], 'x-bad-bin': ['%%'] },
  });
  assert.deepEqual(grpc.request.metadata, { 'x-trace-bin': [{ size: 4, hex: '00010203' }] });
  assert.deepEqual(grpc.response.metadata, { 'x-user-bin': [{ size: 2, text: 'hi' }, { size: 4, hex: '00010203' }] });
  assert.deepEqual(grpc.response.trailer_metadata, {
    'x-msg-bin': [{ size: 4, fields: { f1: 'hi' } }, { size: 4, fields: { f1: 'hi' } }],
    'x-bad-bin': [{ decode_error: 'not base64: byte 0x25 at offset 0' }],
  });
  assert.equal(flags.size, 0);
});

test('a trailers-only response: its head is its trailers, read once', () => {
  const head = { ':status': ['200'], 'grpc-status': ['3'], 'grpc-status-details-bin': ['CAM'], 'x-msg-bin': ['aGk'] };
  const { grpc } = attrs({ trailers: head, responseHeaders: head });
  assert.deepEqual(grpc.status_details, { size: 2, code: 3 });
  assert.deepEqual(grpc.response.metadata, { 'x-msg-bin': [{ size: 2, text: 'hi' }] });
  assert.equal(grpc.response.trailer_metadata, undefined);
});

test('decoded bytes are bounded per event: a value past what is left is cut, not decoded, and says so', () => {
  const big = Buffer.alloc(MAX_BINARY_METADATA_BYTES - 10, 0x41).toString('base64'); // "AAAA…" as text
  const { grpc, flags } = attrs({ trailers: { 'grpc-status': ['0'], 'a-bin': [big], 'b-bin': ['AAECAw', 'aGk'] } });
  assert.equal(grpc.response.trailer_metadata['a-bin'][0].size, MAX_BINARY_METADATA_BYTES - 10);
  // 10 bytes left: 4 and 2 fit
  assert.deepEqual(grpc.response.trailer_metadata['b-bin'], [{ size: 4, hex: '00010203' }, { size: 2, text: 'hi' }]);
  // 11 do not
  const over = attrs({ trailers: { 'grpc-status': ['0'], 'a-bin': [big], 'b-bin': [Buffer.alloc(11).toString('base64')] } });
  assert.deepEqual(over.grpc.response.trailer_metadata['b-bin'], [{ size: 11, truncated: true }]);
  assert.ok(over.flags.has('truncated'));
  assert.equal(flags.size, 0);
});

test('gRPC-Web over HTTP/1.1: status details and -bin metadata in the trailer frame, -bin request headers, and a trailers-only head', () => {
  const client = { addr: '192.0.2.10', port: 50123 };
  const server = { addr: '192.0.2.80', port: 8080 };
  const request = grpcMessage(Buffer.alloc(0));
  const req = `POST /x.v1.S/M HTTP/1.1\r\nHost: h\r\nContent-Type: application/grpc-web+proto\r\nX-User-Bin: aGk=\r\nContent-Length: ${request.length}\r\n\r\n`;
  // the trailer frame: flag 0x80, length, then `name: value` lines (PROTOCOL-WEB.md)
  const lines = Buffer.from('grpc-status: 3\r\ngrpc-status-details-bin: CAM\r\nx-trace-bin: AAECAw\r\n');
  const trailer = Buffer.concat([Buffer.from([0x80, 0, 0, 0, lines.length]), lines]);
  const res = `HTTP/1.1 200 OK\r\nContent-Type: application/grpc-web+proto\r\nContent-Length: ${trailer.length}\r\n\r\n`;
  const c = new Conversation(client, server).handshake().send(0, Buffer.concat([Buffer.from(req), request])).send(1, Buffer.concat([Buffer.from(res), trailer])).close();
  const { events } = parseCaptureSync(c.pcapng());
  assertValidEvents(events);
  const e = events[0] as any;
  assert.equal(e.rpc.grpc.status_code, 3);
  assert.deepEqual(e.grpc.status_details, { size: 2, code: 3 });
  assert.deepEqual(e.grpc.request.metadata, { 'x-user-bin': [{ size: 2, text: 'hi' }] });
  assert.deepEqual(e.grpc.response.trailer_metadata, { 'x-trace-bin': [{ size: 4, hex: '00010203' }] });

  const only = 'HTTP/1.1 200 OK\r\nContent-Type: application/grpc-web+proto\r\nGrpc-Status: 3\r\nGrpc-Status-Details-Bin: CAM=\r\nX-Trace-Bin: AAECAw==\r\nContent-Length: 0\r\n\r\n';
  const c2 = new Conversation(client, server).handshake().send(0, Buffer.concat([Buffer.from(req), request])).send(1, only).close();
  const e2 = parseCaptureSync(c2.pcapng()).events[0] as any;
  assert.deepEqual(e2.grpc.status_details, { size: 2, code: 3 });
  assert.deepEqual(e2.grpc.response.metadata, { 'x-trace-bin': [{ size: 4, hex: '00010203' }] });
  assert.equal(e2.grpc.response.trailer_metadata, undefined);
});
