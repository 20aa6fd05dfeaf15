// gRPC pieces on their own: message framing across arbitrary cuts, the
// schema-less wire decode against bytes built by hand from the protobuf
// encoding spec, deflate, and --proto loading (success and errors).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { deflateSync, gzipSync } from 'node:zlib';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GrpcFramer } from '../../packages/protocols/src/grpc/framing.js';
import { decodeWire } from '../../packages/protocols/src/grpc/wire.js';
import { GrpcWire, grpcAttributes, grpcTimeoutNs, grpcWire, rpcName } from '../../packages/protocols/src/grpc/index.js';
import { loadProtoSchemas } from '../../packages/protocols/src/grpc/proto.js';
import { defaultParseOptions } from '../../packages/protocols/src/types.js';
import { grpcMessage, pbField } from '../helpers/http2-frames.js';

const dir = mkdtempSync(join(tmpdir(), 'pano-grpc-unit-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('framing: counts and sizes survive every cut; kept bytes are bounded', () => {
  const msgs = [Buffer.from('one'), Buffer.alloc(0), Buffer.alloc(300, 7), Buffer.from('last')];
  const stream = Buffer.concat(msgs.map((m, i) => grpcMessage(m, i === 2)));
  for (let cut = 0; cut <= stream.length; cut++) {
    const f = new GrpcFramer(3, 100);
    f.push(stream.subarray(0, cut));
    f.push(stream.subarray(cut));
    f.end();
    assert.equal(f.count, 4);
    assert.equal(f.totalBytes, 307);
    assert.deepEqual(f.messages.map((m) => [m.size, m.compressed, m.truncated ?? false, m.bytes?.length]), [
      [3, false, false, 3], [0, false, false, 0], [300, true, true, 97],
    ]);
  }
  const cutShort = new GrpcFramer(5, 1000);
  cutShort.push(stream.subarray(0, 20));
  cutShort.end();
  assert.equal(cutShort.messages[2].truncated, true);
});

test('wire decode: varints (incl. beyond 2^53 and negative int32), fixed (fixed64 beyond 2^53 in hex), strings, nested, repeated, bytes', () => {
  const tenBytes = Buffer.from([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]); // field 1 = 2^64-1
  const neg = Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]); // field 2 = -1 as int32 (10-byte varint)
  const fixed32 = Buffer.from([0x1d, 0x01, 0x00, 0x00, 0x00]); // field 3, wire type 5
  const fixed64 = Buffer.from([0x21, 0x02, 0, 0, 0, 0, 0, 0, 0]); // field 4, wire type 1
  const double = Buffer.from([0x51, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f]); // field 10, wire type 1: the double 1.0
  const msg = Buffer.concat([
    tenBytes, neg, fixed32, fixed64,
    pbField(5, 'Grüße, José'),
    pbField(6, Buffer.concat([pbField(1, 'inner'), pbField(2, 150)])),
    pbField(7, 'a'), pbField(7, 'b'),
    pbField(8, Buffer.from([0x00, 0xff, 0xfe])),
    Buffer.from([0x48, 0x96, 0x01]), // field 9 = 150 (the spec's example)
    double,
  ]);
  assert.deepEqual(decodeWire(msg), {
    f1: '18446744073709551615', f2: '18446744073709551615', f3: 1, f4: 2,
    f5: 'Grüße, José', f6: { f1: 'inner', f2: 150 }, f7: ['a', 'b'], f8: '00fffe', f9: 150,
    f10: '0x3ff0000000000000', // fixed64 beyond 2^53 in hex, as protoc --decode_raw prints it
  });
  // Keys stay in wire order (an integer key would be enumerated in numeric order), past the precomputed key names too.
  const unordered = Buffer.concat([pbField(300, 'late'), pbField(3, 'c'), pbField(1, 'a'), pbField(3, 'c2')]);
  assert.equal(JSON.stringify(decodeWire(unordered)), '{"f300":"late","f3":["c","c2"],"f1":"a"}');
  assert.equal(decodeWire(Buffer.from([0x0b])), undefined); // wire type 3 (group): not decoded
  assert.equal(decodeWire(Buffer.from([0x0a, 0x05, 0x61])), undefined); // length past the end
});

test('deflate-compressed messages decode; unknown encodings say so', () => {
  const f = new GrpcFramer(20, 1000);
  f.push(grpcMessage(deflateSync(pbField(1, 'deflated text')), true));
  f.end();
  const flags = new Set<string>();
  const a = grpcAttributes({ path: '/x.Y/Z', request: { framer: f, encoding: 'deflate' } }, defaultParseOptions, flags) as any;
  assert.deepEqual(a.grpc.request.messages[0].fields, { f1: 'deflated text' });
  const g = new GrpcFramer(20, 1000);
  g.push(grpcMessage(Buffer.from('zz'), true));
  g.end();
  const b = grpcAttributes({ path: '/x.Y/Z', request: { framer: g, encoding: 'snappy' } }, defaultParseOptions, flags) as any;
  assert.equal(b.grpc.request.messages[0].decode_error, 'unsupported grpc-encoding snappy');
});

/** The views of a side's messages (and the flags they raised) from one framed stream. */
function viewsOf(stream: Buffer, encoding: string | undefined, maxBody: number): { messages: any[]; flags: Set<string> } {
  const f = new GrpcFramer(20, maxBody);
  f.push(stream);
  f.end();
  const flags = new Set<string>();
  const a = grpcAttributes({ path: '/x.Y/Z', request: { framer: f, encoding } }, { ...defaultParseOptions, maxBody }, flags) as any;
  return { messages: a.grpc.request.messages, flags };
}

test('a compressed message past --max-body once decompressed is cut as an uncompressed one is: truncated, not decoded, its size on the wire', () => {
  // grpc-js sent this (gzip): 1,010 bytes on the wire, 1,000,005 decompressed; the whole
  // megabyte was decoded into the event under the default 64 KiB.
  const big = pbField(1, 'q'.repeat(1_000_000));
  const uncompressed = viewsOf(grpcMessage(big), undefined, 64 * 1024);
  assert.deepEqual(uncompressed.messages, [{ size: big.length, truncated: true }]);
  assert.deepEqual([...uncompressed.flags], ['truncated']);
  for (const [encoding, z] of [['gzip', gzipSync(big)], ['deflate', deflateSync(big)]] as const) {
    // 64 KiB, and 1 KiB, where the output passes the inflate bound (32 x --max-body; it was an error then).
    for (const maxBody of [64 * 1024, 1024]) {
      const { messages, flags } = viewsOf(grpcMessage(z, true), encoding, maxBody);
      assert.deepEqual(messages, [{ size: z.length, compressed: true, truncated: true }], `${encoding} ${maxBody}`);
      assert.deepEqual([...flags], ['truncated']);
    }
  }
});

test('a side\'s messages share --max-body, counted after decompression, as the framer shares it on the wire', () => {
  // Three messages of 60, 60 and 3 bytes under a bound of 100: the first is kept, the second goes
  // past what is left, and the third finds nothing left. Compressed or not, the same views.
  const m = [pbField(1, 'a'.repeat(58)), pbField(1, 'b'.repeat(58)), pbField(1, 'c')];
  const plain = viewsOf(Buffer.concat(m.map((x) => grpcMessage(x))), undefined, 100);
  assert.deepEqual(plain.messages, [{ size: 60, fields: { f1: 'a'.repeat(58) } }, { size: 60, truncated: true }, { size: 3, truncated: true }]);
  const gz = m.map((x) => gzipSync(x));
  const zipped = viewsOf(Buffer.concat([grpcMessage(gz[0], true), grpcMessage(gz[1], true), grpcMessage(m[2])]), 'gzip', 100);
  assert.ok(gz[0].length + gz[1].length + 3 < 100, 'on the wire, all three fit');
  assert.deepEqual(zipped.messages, [
    { size: gz[0].length, compressed: true, fields: { f1: 'a'.repeat(58) } },
    { size: gz[1].length, compressed: true, truncated: true },
    { size: 3, truncated: true },
  ]);
  assert.deepEqual([...zipped.flags], ['truncated']);
  // Exactly what is left still fits.
  assert.deepEqual(viewsOf(grpcMessage(gz[0], true), 'gzip', 60).messages, [{ size: gz[0].length, compressed: true, fields: { f1: 'a'.repeat(58) } }]);
});

test('content types and paths', () => {
  assert.equal(grpcWire('application/grpc'), GrpcWire.NATIVE);
  assert.equal(grpcWire('application/grpc+proto'), GrpcWire.NATIVE);
  assert.equal(grpcWire('application/grpc; charset=utf-8'), GrpcWire.NATIVE);
  assert.equal(grpcWire('application/json'), undefined);
  assert.deepEqual(rpcName('/a.b.Svc/Do'), { service: 'a.b.Svc', method: 'Do' });
  assert.deepEqual(rpcName('/notgrpc'), {});
});

test('grpc-timeout (gRPC over HTTP/2: 1 to 8 digits, then H M S m u n) in nanoseconds; other forms give none', () => {
  const cases: Array<[string | undefined, number | undefined]> = [
    ['1H', 3_600_000_000_000], ['30M', 1_800_000_000_000], ['5S', 5_000_000_000], ['199m', 199_000_000], ['7u', 7_000], ['9n', 9],
    ['99999999m', 99_999_999_000_000], ['0n', 0], [' 20S ', 20_000_000_000],
    [undefined, undefined], ['', undefined], ['123456789m', undefined], ['5s', undefined], ['5', undefined], ['m', undefined], ['1.5S', undefined], ['-1S', undefined], ['5 S', undefined],
  ];
  for (const [value, ns] of cases) assert.equal(grpcTimeoutNs(value), ns, String(value));
  const flags = new Set<string>();
  assert.equal((grpcAttributes({ path: '/a.S/M', timeout: '250m' }, defaultParseOptions, flags).grpc as any).timeout_ns, 250_000_000);
  assert.equal((grpcAttributes({ path: '/a.S/M', timeout: 'soon' }, defaultParseOptions, flags).grpc as any).timeout_ns, undefined);
});

test('--proto: a directory with imports loads; errors name the file in one line', () => {
  mkdirSync(join(dir, 'ok', 'common'), { recursive: true });
  writeFileSync(join(dir, 'ok', 'common', 'types.proto'), 'syntax = "proto3";\npackage common;\nmessage Money { string currency = 1; int64 units = 2; }\n');
  writeFileSync(join(dir, 'ok', 'pay.proto'), 'syntax = "proto3";\npackage pay.v1;\nimport "common/types.proto";\nimport "google/protobuf/timestamp.proto";\nmessage PayRequest { string card = 1; common.Money amount = 2; google.protobuf.Timestamp at = 3; }\nmessage PayReply { bool ok = 1; }\nservice Payments { rpc Pay(PayRequest) returns (PayReply); }\n');
  const schemas = loadProtoSchemas([join(dir, 'ok')]);
  const m = schemas.method('/pay.v1.Payments/Pay');
  assert.ok(m);
  const bytes = Buffer.concat([pbField(1, '4111111111111111'), pbField(2, Buffer.concat([pbField(1, 'EUR'), pbField(2, 1250)]))]);
  assert.deepEqual(m.request.toObject(m.request.decode(bytes), { longs: String }), { card: '4111111111111111', amount: { currency: 'EUR', units: '1250' } });
  assert.equal(schemas.method('/pay.v1.Payments/Refund'), undefined);
  assert.equal(schemas.method('/nope.Svc/Pay'), undefined);

  writeFileSync(join(dir, 'bad.proto'), 'syntax = "proto3";\nmessage Broken { string x = ; }\n');
  assert.throws(() => loadProtoSchemas([join(dir, 'bad.proto')]), (e: Error) => e.message.startsWith(`--proto ${join(dir, 'bad.proto')}: `) && !e.message.includes('\n'));
  assert.throws(() => loadProtoSchemas([join(dir, 'missing')]), /--proto .*missing: no such file or directory/);
});

test('--proto: a message whose wire types disagree with the schema (a wrong .proto) is read schema-less and says which field; matching ones decode', () => {
  mkdirSync(join(dir, 'mismatch'), { recursive: true });
  writeFileSync(
    join(dir, 'mismatch', 't.proto'),
    'syntax = "proto3";\npackage t.v1;\nenum Kind { NONE = 0; BIG = 1; }\nmessage Inner { int32 n = 1; Kind kind = 2; }\n' +
      'message Ping { string note = 1; Inner inner = 2; repeated int32 ids = 3; map<string, int32> counts = 4; repeated Kind kinds = 5; }\n' +
      'message Stamp { fixed64 note = 1; }\nservice Svc { rpc Right(Ping) returns (Ping); rpc Wrong(Stamp) returns (Ping); }\n',
  );
  const options = { ...defaultParseOptions, protoPaths: [join(dir, 'mismatch')] };
  const view = (path: string, payload: Buffer): any => {
    const f = new GrpcFramer(20, 1000);
    f.push(grpcMessage(payload));
    f.end();
    return (grpcAttributes({ path, request: { framer: f } }, options, new Set()) as any).grpc.request.messages[0];
  };
  // Keys by the encoding spec: (field << 3) | wire type. 0a = field 1 LEN, 12 = field 2 LEN, 18 = field 3 VARINT,
  // 1a = field 3 LEN (packed), 22 = field 4 LEN (a map entry: 0a key, 10 value as VARINT), 2a = field 5 LEN (packed enums).
  const hello = pbField(1, 'hello12');
  // protobufjs read the 8 bytes after the key (the length byte and "hello12") as the fixed64: a number nobody sent.
  assert.deepEqual(view('/t.v1.Svc/Wrong', hello), {
    size: 9,
    decode_error: 't.v1.Stamp: field note (1) has wire type 2, its type in the schema has 1',
    fields: { f1: 'hello12' },
  });
  // Matching: unpacked and packed repeated, a map, enums packed, a nested message.
  const right = Buffer.concat([
    hello,
    pbField(2, Buffer.concat([pbField(1, 7), pbField(2, 1)])),
    pbField(3, 1), pbField(3, 2), pbField(3, Buffer.from([0x03, 0xac, 0x02])),
    pbField(4, Buffer.concat([pbField(1, 'a'), pbField(2, 5)])),
    pbField(5, Buffer.from([0x01, 0x00])),
  ]);
  assert.deepEqual(view('/t.v1.Svc/Right', right), {
    size: right.length,
    content: { note: 'hello12', inner: { n: 7, kind: 'BIG' }, ids: [1, 2, 3, 300], counts: { a: 5 }, kinds: ['BIG', 'NONE'] },
  });
  // Inside a nested message, and inside a map entry: text where the schema has an int32.
  const nested = pbField(2, pbField(1, 'seven'));
  assert.equal(view('/t.v1.Svc/Right', nested).decode_error, 't.v1.Inner: field n (1) has wire type 2, its type in the schema has 0');
  assert.deepEqual(view('/t.v1.Svc/Right', nested).fields, { f2: { f1: 'seven' } });
  const entry = pbField(4, Buffer.concat([pbField(1, 'a'), pbField(2, 'five')]));
  assert.equal(view('/t.v1.Svc/Right', entry).decode_error, 't.v1.Ping.counts entry: field value (2) has wire type 2, its type in the schema has 0');
  // A field the schema does not know is no mismatch whatever its wire type; it is shown apart (next test).
  assert.deepEqual(view('/t.v1.Svc/Right', Buffer.concat([pbField(9, 'extra'), hello])), {
    size: 16,
    content: { note: 'hello12' },
    unknown_fields: [{ at: '', fields: { f9: 'extra' } }],
  });
});

test('--proto: fields the schema does not know (a newer sender, an older .proto) are shown schema-less with where they were, not dropped', () => {
  mkdirSync(join(dir, 'unknown'), { recursive: true });
  writeFileSync(
    join(dir, 'unknown', 'u.proto'),
    'syntax = "proto3";\npackage u.v1;\nmessage Address { string city = 1; }\n' +
      'message User { string name = 1; Address address = 2; repeated Address previous = 3; map<string, Address> homes = 4; }\n' +
      'service Users { rpc Get(User) returns (User); }\n',
  );
  const options = { ...defaultParseOptions, protoPaths: [join(dir, 'unknown')] };
  const view = (payload: Buffer): any => {
    const f = new GrpcFramer(20, 1000);
    f.push(grpcMessage(payload));
    f.end();
    return (grpcAttributes({ path: '/u.v1.Users/Get', request: { framer: f } }, options, new Set()) as any).grpc.request.messages[0];
  };
  // A newer User: field 7 (an e-mail) at the top, 9 (a street) in address, 5 (a phone number, varint) in the
  // second of previous, and 8 in the value of homes' first entry; field 6 twice at the top.
  const msg = Buffer.concat([
    pbField(1, 'Ann'),
    pbField(7, 'ann@example.org'),
    pbField(2, Buffer.concat([pbField(1, 'Oslo'), pbField(9, 'Storgata 1')])),
    pbField(3, pbField(1, 'Bergen')),
    pbField(3, Buffer.concat([pbField(1, 'Lund'), pbField(5, 4755512345)])),
    pbField(4, Buffer.concat([pbField(1, 'summer'), pbField(2, Buffer.concat([pbField(1, 'Hvar'), pbField(8, 'x')]))])),
    pbField(6, 1),
    pbField(6, 2),
  ]);
  assert.deepEqual(view(msg), {
    size: msg.length,
    content: { name: 'Ann', address: { city: 'Oslo' }, previous: [{ city: 'Bergen' }, { city: 'Lund' }], homes: { summer: { city: 'Hvar' } } },
    unknown_fields: [
      { at: '', fields: { f7: 'ann@example.org', f6: [1, 2] } },
      { at: 'address', fields: { f9: 'Storgata 1' } },
      { at: 'previous[1]', fields: { f5: 4755512345 } },
      { at: 'homes[0].value', fields: { f8: 'x' } },
    ],
  });
  // A message the schema knows whole has none.
  assert.equal(view(Buffer.concat([pbField(1, 'Ann'), pbField(2, pbField(1, 'Oslo'))])).unknown_fields, undefined);
});
