// Kafka parser on hand-built messages (layouts from the Kafka protocol guide
// and KIP-482 for flexible versions), fed whole, split at every offset and byte
// by byte, with gaps, mid-stream joins and oversized messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { createRequire } from 'node:module';
import { fakeContext } from '../helpers/fake-parser-context.js';
import { KafkaParser, MAX_DECODED_MESSAGE } from '../../packages/protocols/src/kafka/parser.js';
import { detectKafka } from '../../packages/protocols/src/kafka/index.js';
import type { ExchangeRecord } from '../../packages/protocols/src/types.js';

const require = createRequire(import.meta.url);
const snappy = require('snappyjs') as { compress(b: Buffer): Uint8Array };

const i8 = (n: number) => { const b = Buffer.alloc(1); b.writeInt8(n); return b; };
const i16 = (n: number) => { const b = Buffer.alloc(2); b.writeInt16BE(n); return b; };
const i32 = (n: number) => { const b = Buffer.alloc(4); b.writeInt32BE(n); return b; };
const i64 = (n: bigint) => { const b = Buffer.alloc(8); b.writeBigInt64BE(n); return b; };
const str = (s: string | null) => (s === null ? i16(-1) : Buffer.concat([i16(Buffer.byteLength(s)), Buffer.from(s)]));
const bytes = (b: Buffer | null) => (b === null ? i32(-1) : Buffer.concat([i32(b.length), b]));
function uvarint(n: number): Buffer {
  const out: number[] = [];
  while (n >= 0x80) { out.push((n & 0x7f) | 0x80); n >>>= 7; }
  out.push(n);
  return Buffer.from(out);
}
const varint = (n: number) => uvarint(n >= 0 ? n * 2 : -n * 2 - 1);
const cstr = (s: string) => Buffer.concat([uvarint(Buffer.byteLength(s) + 1), Buffer.from(s)]);
const sized = (body: Buffer) => Buffer.concat([i32(body.length), body]);
const reqHeader = (key: number, version: number, corr: number, client: string) => Buffer.concat([i16(key), i16(version), i32(corr), str(client)]);

/** One v2 record: length, attributes, timestamp delta, offset delta, key, value, headers. */
function record(offsetDelta: number, key: string | null, value: string, headers: Array<[string, string | null]> = []): Buffer {
  const k = key === null ? varint(-1) : Buffer.concat([varint(Buffer.byteLength(key)), Buffer.from(key)]);
  const body = Buffer.concat([
    i8(0), varint(offsetDelta * 10), varint(offsetDelta), k, varint(Buffer.byteLength(value)), Buffer.from(value),
    varint(headers.length), ...headers.map(([hk, hv]) => Buffer.concat([varint(hk.length), Buffer.from(hk), hv === null ? varint(-1) : Buffer.concat([varint(hv.length), Buffer.from(hv)])])),
  ]);
  return Buffer.concat([varint(body.length), body]);
}

/** A v2 record batch (crc not checked by the parser, so zero). */
function batch(baseOffset: bigint, records: Buffer[], codec = 0, compress: (b: Buffer) => Buffer = (b) => b): Buffer {
  const payload = compress(Buffer.concat(records));
  const afterLength = Buffer.concat([
    i32(0), i8(2), i32(0), i16(codec), i32(records.length - 1), i64(1700000000000n), i64(1700000000000n + BigInt(records.length)),
    i64(-1n), i16(-1), i32(-1), i32(records.length), payload,
  ]);
  return Buffer.concat([i64(baseOffset), i32(afterLength.length), afterLength]);
}

type Seg = [0 | 1, Buffer];
function run(segs: Seg[], cut: (b: Buffer) => Buffer[] = (b) => [b], conn = {}) {
  const ctx = fakeContext({}, { server: { address: '127.0.0.1', port: 9092 }, ...conn });
  const p = new KafkaParser(ctx);
  let ts = 1n;
  for (const [dir, b] of segs) for (const piece of cut(b)) p.data(dir, piece, ts++);
  p.close('fin', ts);
  return ctx;
}
const shape = (r: ExchangeRecord) => ({ kind: r.kind, flags: r.flags, req: r.requestBytes, res: r.responseBytes, a: r.attributes });
function everyCut(segs: Seg[], check: (r: ExchangeRecord[]) => void) {
  const whole = run(segs).records;
  check(whole);
  for (let i = 0; i < segs.length; i++) {
    const seg = segs[i]![1];
    for (let k = 1; k < seg.length; k++) {
      assert.deepEqual(run(segs, (b) => (b === seg ? [b.subarray(0, k), b.subarray(k)] : [b])).records.map(shape), whole.map(shape), `segment ${i} split at ${k}`);
    }
  }
  assert.deepEqual(run(segs, (b) => [...b].map((x) => Buffer.from([x]))).records.map(shape), whole.map(shape), 'byte by byte');
}

test('ApiVersions v3: flexible request header with tags, response header v0 (the exception)', () => {
  const request = sized(Buffer.concat([reqHeader(18, 3, 7, 'cli'), uvarint(0), cstr('librdkafka'), cstr('2.3.0'), uvarint(0)]));
  // response header v0: correlation id only; body flexible: error, compact array, throttle, tags
  const response = sized(Buffer.concat([
    i32(7), i16(0), uvarint(3), i16(0), i16(0), i16(9), uvarint(0), i16(18), i16(0), i16(3), uvarint(0), i32(0), uvarint(0),
  ]));
  const pipelined = sized(Buffer.concat([reqHeader(12, 4, 8, 'cli'), uvarint(0), cstr('group-1'), i32(5), cstr('m-1'), uvarint(0), uvarint(0)]));
  const hbResponse = sized(Buffer.concat([i32(8), uvarint(0), i32(0), i16(27), uvarint(0)]));
  everyCut([[0, Buffer.concat([request, pipelined])], [1, Buffer.concat([response, hbResponse])]], (recs) => {
    assert.equal(recs.length, 2);
    const [av, hb] = recs as [ExchangeRecord, ExchangeRecord];
    assert.deepEqual((av.attributes.kafka as any).request, { client_software_name: 'librdkafka', client_software_version: '2.3.0' });
    assert.deepEqual((av.attributes.kafka as any).response, {
      error_code: 0, api_keys: [{ api_key: 0, min_version: 0, max_version: 9 }, { api_key: 18, min_version: 0, max_version: 3 }], throttle_time_ms: 0,
    });
    assert.equal(av.requestBytes, request.length);
    assert.deepEqual(hb.attributes.messaging, { system: 'kafka', operation: { name: 'Heartbeat' }, client: { id: 'cli' }, consumer: { group: { name: 'group-1' } } });
    assert.equal((hb.attributes.kafka as any).error_name, 'REBALANCE_IN_PROGRESS');
    assert.deepEqual(hb.attributes.error, { type: 'REBALANCE_IN_PROGRESS' });
  });
});

test('Fetch v4 response: record batches with keys, values, headers; a cut last batch is partial', () => {
  const request = sized(Buffer.concat([
    reqHeader(1, 4, 3, 'consumer'), i32(-1), i32(500), i32(1), i32(1 << 20), i8(0), i32(1), str('orders'), i32(1), i32(2), i64(40n), i32(1 << 20),
  ]));
  const b1 = batch(40n, [record(0, 'k0', 'v0', [['trace', 'abc']]), record(1, null, 'v1')]);
  const b2 = batch(42n, [record(0, 'k2', 'v2')]);
  const records = Buffer.concat([b1, b2, b2.subarray(0, 30)]);
  const response = sized(Buffer.concat([
    i32(3), i32(0), i32(1), str('orders'), i32(1), i32(2), i16(0), i64(43n), i64(43n), i32(-1), bytes(records),
  ]));
  everyCut([[0, request], [1, response]], (recs) => {
    const r = recs[0]!;
    assert.deepEqual(r.attributes.messaging, {
      system: 'kafka', operation: { name: 'Fetch', type: 'receive' }, client: { id: 'consumer' },
      destination: { name: 'orders', partition: { id: '2' } }, batch: { message_count: 3 },
    });
    const k = r.attributes.kafka as any;
    assert.deepEqual(JSON.parse(JSON.stringify(k.records)), [
      { topic: 'orders', partition: 2, offset: 40, timestamp: 1700000000000, key: { size: 2, content: 'k0' }, value: { size: 2, content: 'v0' }, headers: { trace: ['abc'] } },
      { topic: 'orders', partition: 2, offset: 41, timestamp: 1700000000010, key: null, value: { size: 2, content: 'v1' } },
      { topic: 'orders', partition: 2, offset: 42, timestamp: 1700000000000, key: { size: 2, content: 'k2' }, value: { size: 2, content: 'v2' } },
    ]);
    assert.deepEqual(k.response.responses[0].partitions[0].records, { size: records.length, batches: 2, count: 3, magic: 2, partial: true });
  });
});

test('record headers: repeated keys keep every value in order; null values; keys named like Object members', () => {
  // KIP-82 headers are an ordered list in which a key may repeat (an object of strings kept only the last value)
  const request = sized(Buffer.concat([
    reqHeader(1, 4, 5, 'consumer'), i32(-1), i32(500), i32(1), i32(1 << 20), i8(0), i32(1), str('orders'), i32(1), i32(0), i64(7n), i32(1 << 20),
  ]));
  const headers: Array<[string, string | null]> = [['trace', 'a'], ['source', 'pano'], ['trace', 'b'], ['__proto__', 'p'], ['constructor', 'c'], ['Trace', 'upper'], ['trace', null]];
  const records = batch(7n, [record(0, 'k', 'v', headers)]);
  const response = sized(Buffer.concat([i32(5), i32(0), i32(1), str('orders'), i32(1), i32(0), i16(0), i64(8n), i64(8n), i32(-1), bytes(records)]));
  everyCut([[0, request], [1, response]], (recs) => {
    const k = recs[0]!.attributes.kafka as any;
    assert.equal(recs[0]!.flags, undefined);
    // as the event is written: keys in order of first appearance, each with its values in order
    assert.equal(JSON.stringify(k.records[0].headers), '{"trace":["a","b",null],"source":["pano"],"__proto__":["p"],"constructor":["c"],"Trace":["upper"]}');
    assert.deepEqual(Object.keys(k.records[0].headers), ['trace', 'source', '__proto__', 'constructor', 'Trace']);
  });
});

test('a record header value cut to maxBody flags the event truncated (the header has no mark of its own)', () => {
  const request = sized(Buffer.concat([
    reqHeader(1, 4, 6, 'consumer'), i32(-1), i32(500), i32(1), i32(1 << 20), i8(0), i32(1), str('orders'), i32(1), i32(0), i64(7n), i32(1 << 20),
  ]));
  // no key and an empty value: the header is the only thing the 4-byte budget cuts
  const records = batch(7n, [record(0, null, '', [['trace', 'abcdefgh']])]);
  const response = sized(Buffer.concat([i32(6), i32(0), i32(1), str('orders'), i32(1), i32(0), i16(0), i64(8n), i64(8n), i32(-1), bytes(records)]));
  const ctx = fakeContext({ maxBody: 4 }, { server: { address: '127.0.0.1', port: 9092 } });
  const p = new KafkaParser(ctx);
  p.data(0, request, 1n);
  p.data(1, response, 2n);
  p.close('fin', 3n);
  const r = ctx.records[0]!;
  assert.deepEqual(JSON.parse(JSON.stringify((r.attributes.kafka as any).records[0].headers)), { trace: ['abcd'] });
  assert.deepEqual((r.attributes.kafka as any).records[0].value, { size: 0, content: '' });
  assert.deepEqual(r.flags, ['truncated']);
});

test('legacy message sets: v1 inside a gzip wrapper, v0 plain; xerial-framed snappy batch', () => {
  const msg = (magic: number, attributes: number, offset: bigint, key: string | null, value: Buffer) => {
    const body = Buffer.concat([i32(0), i8(magic), i8(attributes), ...(magic === 1 ? [i64(1600000000000n)] : []), bytes(key === null ? null : Buffer.from(key)), bytes(value)]);
    return Buffer.concat([i64(offset), i32(body.length), body]);
  };
  const inner = Buffer.concat([msg(1, 0, 0n, 'a', Buffer.from('one')), msg(1, 0, 1n, 'b', Buffer.from('two'))]);
  const wrapper = msg(1, 1, 1n, null, gzipSync(inner));
  const plain = msg(0, 0, 0n, null, Buffer.from('zero'));
  const produce = (corr: number, set: Buffer) =>
    sized(Buffer.concat([reqHeader(0, 2, corr, 'p'), i16(1), i32(1000), i32(1), str('t'), i32(1), i32(0), bytes(set)]));
  const raw = Buffer.concat([record(0, 'x', 'snappy-value'), record(1, 'y', 'second')]);
  const blocks = Buffer.from(snappy.compress(raw));
  const xerial = Buffer.concat([Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]), i32(1), i32(1), i32(blocks.length), blocks]);
  const snappyBatch = batch(0n, [record(0, 'x', 'snappy-value'), record(1, 'y', 'second')], 2, () => xerial);
  const produce3 = sized(Buffer.concat([reqHeader(0, 3, 3, 'p'), str(null), i16(0), i32(1000), i32(1), str('t'), i32(1), i32(0), bytes(snappyBatch)]));
  const ctx = run([[0, Buffer.concat([produce(1, wrapper), produce(2, plain), produce3])]]);
  const byCorr = (c: number) => ctx.records.find((r) => (r.attributes.kafka as any).correlation_id === c)!;
  const [gz, v0, sn] = [byCorr(1), byCorr(2), byCorr(3)];
  assert.deepEqual((gz.attributes.kafka as any).records.map((r: any) => [r.key?.content, r.value.content, r.timestamp]), [['a', 'one', 1600000000000], ['b', 'two', 1600000000000]]);
  assert.equal((gz.attributes.kafka as any).request.topics[0].partitions[0].records.compression, 'gzip');
  assert.deepEqual((v0.attributes.kafka as any).records.map((r: any) => r.value.content), ['zero']);
  assert.equal(v0.kind, 'unanswered');
  // acks=0: no response will come, a one-way message
  assert.equal(sn.kind, 'message');
  assert.deepEqual((sn.attributes.kafka as any).records.map((r: any) => r.value.content), ['snappy-value', 'second']);
  assert.equal((sn.attributes.kafka as any).request.topics[0].partitions[0].records.compression, 'snappy');
});

test('broker-stamped records: v1 compressed sets have relative inner offsets, LogAppendTime replaces record timestamps', () => {
  // Fetch v2 (magic 1): the gzip wrapper carries the last inner message's absolute offset and,
  // with LogAppendTime (attribute 0x08), the timestamp every inner message has.
  const msg = (attributes: number, offset: bigint, ts: bigint, value: Buffer) => {
    const body = Buffer.concat([i32(0), i8(1), i8(attributes), i64(ts), bytes(null), bytes(value)]);
    return Buffer.concat([i64(offset), i32(body.length), body]);
  };
  const inner = Buffer.concat([msg(0, 0n, 1600000000000n, Buffer.from('one')), msg(0, 1n, 1600000000001n, Buffer.from('two'))]);
  const set = Buffer.concat([msg(1 | 0x08, 101n, 1600000009999n, gzipSync(inner)), msg(1, 103n, 1600000000000n, gzipSync(inner))]);
  const fetch2 = sized(Buffer.concat([reqHeader(1, 2, 1, 'c'), i32(-1), i32(500), i32(1), i32(1), str('t'), i32(1), i32(0), i64(100n), i32(1 << 20)]));
  const fetch2Res = sized(Buffer.concat([i32(1), i32(0), i32(1), str('t'), i32(1), i32(0), i16(0), i64(104n), bytes(set)]));
  // Fetch v4 (magic 2): a LogAppendTime batch's records all have its max timestamp
  const b = batch(40n, [record(0, 'k0', 'v0'), record(1, 'k1', 'v1')], 0x08);
  const fetch4 = sized(Buffer.concat([
    reqHeader(1, 4, 2, 'c'), i32(-1), i32(500), i32(1), i32(1 << 20), i8(0), i32(1), str('t'), i32(1), i32(0), i64(40n), i32(1 << 20),
  ]));
  const fetch4Res = sized(Buffer.concat([i32(2), i32(0), i32(1), str('t'), i32(1), i32(0), i16(0), i64(42n), i64(42n), i32(-1), bytes(b)]));
  const ctx = run([[0, Buffer.concat([fetch2, fetch4])], [1, Buffer.concat([fetch2Res, fetch4Res])]]);
  const [v1, v2] = ctx.records.map((r) => (r.attributes.kafka as any).records.map((x: any) => [x.offset, x.timestamp, x.value.content]));
  assert.deepEqual(v1, [[100, 1600000009999, 'one'], [101, 1600000009999, 'two'], [102, 1600000000000, 'one'], [103, 1600000000001, 'two']]);
  assert.deepEqual(v2, [[40, 1700000000002, 'v0'], [41, 1700000000002, 'v1']]);
});

test('an unknown codec byte or a broken payload is reported undecoded, not guessed', () => {
  const broken = batch(0n, [record(0, 'k', 'v')], 1, () => Buffer.from('not gzip at all'));
  const req = sized(Buffer.concat([reqHeader(0, 3, 1, 'p'), str(null), i16(0), i32(1000), i32(1), str('t'), i32(1), i32(0), bytes(broken)]));
  const [r] = run([[0, req]]).records as [ExchangeRecord];
  assert.deepEqual(r.flags, ['undecodable']);
  assert.match((r.attributes.kafka as any).request.topics[0].partitions[0].records.undecoded, /^gzip: /);
});

test('a message larger than the decode bound: header and first records decoded, rest streamed past', () => {
  const value = 'v'.repeat(1000);
  const many = Array.from({ length: Math.ceil((MAX_DECODED_MESSAGE + 100_000) / 1010) }, (_, i) => record(i, null, value));
  const b = batch(0n, many);
  const req = sized(Buffer.concat([reqHeader(0, 3, 9, 'big'), str(null), i16(1), i32(1000), i32(1), str('t'), i32(1), i32(0), bytes(b)]));
  const resp = sized(Buffer.concat([i32(9), i32(1), str('t'), i32(1), i32(0), i16(0), i64(0n), i64(-1n), i32(0)]));
  const ctx = fakeContext({ maxRows: 5 });
  const p = new KafkaParser(ctx);
  for (let off = 0; off < req.length; off += 65536) p.data(0, req.subarray(off, off + 65536), 1n);
  p.data(1, resp, 2n);
  p.close('fin', 3n);
  const [r] = ctx.records as [ExchangeRecord];
  assert.equal(r.kind, 'exchange');
  assert.equal(r.requestBytes, req.length);
  assert.ok(r.flags?.includes('truncated'));
  assert.equal((r.attributes.kafka as any).records.length, 5);
  assert.equal((r.attributes.messaging as any).client.id, 'big');
});

test('after a gap the response side resynchronises on a pending correlation id; mid-stream orphans', () => {
  const req = (corr: number) => sized(Buffer.concat([reqHeader(3, 0, corr, 'c'), i32(0)]));
  const resp = (corr: number) => sized(Buffer.concat([i32(corr), i32(0), i32(0)]));
  const ctx = fakeContext();
  const p = new KafkaParser(ctx);
  p.data(0, Buffer.concat([req(1), req(2)]), 1n);
  p.data(1, resp(1).subarray(0, 6), 2n);
  p.gap(1, 6, 3n);
  p.data(1, Buffer.concat([Buffer.from('junk'), resp(2)]), 4n);
  p.close('fin', 5n);
  assert.deepEqual(ctx.records.map((r) => [r.kind, (r.attributes.kafka as any).correlation_id, r.flags?.sort()]), [
    ['exchange', 2, ['gap']],
    ['unanswered', 1, ['closed', 'gap']],
  ]);
  assert.equal(ctx.counts.get('kafka.skipped_bytes'), 4);

  const mid = run([[1, Buffer.concat([Buffer.from([0, 0]), resp(77)])], [0, req(78)], [1, resp(78)]], undefined, { midstream: true });
  assert.deepEqual(mid.records.map((r) => r.kind), ['exchange']);
});

test('every API key is named; unknown bodies are reported, not decoded', () => {
  const req = sized(Buffer.concat([reqHeader(60, 1, 5, 'admin'), uvarint(0), uvarint(0), uvarint(0)]));
  const resp = sized(Buffer.concat([i32(5), uvarint(0), Buffer.alloc(12)]));
  const [r] = run([[0, req], [1, resp]]).records as [ExchangeRecord];
  assert.equal((r.attributes.kafka as any).api_name, 'DescribeCluster');
  assert.equal((r.attributes.kafka as any).request_undecoded, 'DescribeCluster bodies are not decoded');
});

test('detection: a request header with a known API key and printable client id', () => {
  assert.deepEqual(detectKafka(sized(Buffer.concat([reqHeader(18, 3, 1, 'x'), uvarint(0)])), 0), { sender: 'client', confidence: 0.7 });
  assert.equal(detectKafka(Buffer.from([0, 0, 0]), 0), 'more');
  assert.equal(detectKafka(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), 0), null);
  assert.equal(detectKafka(sized(Buffer.concat([i16(500), i16(0), i32(1), str('x')])), 0), null);
  // a TLS ClientHello: 0x16030102 would be a 369 MB request for Fetch v1
  assert.equal(detectKafka(Buffer.from('160301020001000001fc0303000000000000', 'hex'), 0), null);
});

test('ListGroups v4 (flexible) and DeleteTopics v3: bodies decoded, errors named', () => {
  const lgReq = sized(Buffer.concat([reqHeader(16, 4, 1, 'admin'), uvarint(0), uvarint(2), cstr('Stable'), uvarint(0)]));
  const lgRes = sized(Buffer.concat([
    i32(1), uvarint(0), i32(0), i16(0), uvarint(2), cstr('billing'), cstr('consumer'), cstr('Stable'), uvarint(0), uvarint(0),
  ]));
  const dtReq = sized(Buffer.concat([reqHeader(20, 3, 2, 'admin'), i32(2), str('old-a'), str('old-b'), i32(5000)]));
  const dtRes = sized(Buffer.concat([i32(2), i32(0), i32(2), str('old-a'), i16(0), str('old-b'), i16(3)]));
  const [lg, dt] = run([[0, Buffer.concat([lgReq, dtReq])], [1, Buffer.concat([lgRes, dtRes])]]).records as [ExchangeRecord, ExchangeRecord];
  assert.deepEqual((lg.attributes.kafka as any).request, { states_filter: ['Stable'] });
  assert.deepEqual((lg.attributes.kafka as any).response, { throttle_time_ms: 0, error_code: 0, groups: [{ group_id: 'billing', protocol_type: 'consumer', group_state: 'Stable' }] });
  assert.deepEqual((dt.attributes.kafka as any).request, { topic_names: ['old-a', 'old-b'], timeout_ms: 5000 });
  assert.deepEqual((dt.attributes.kafka as any).error_codes, [3]);
  assert.deepEqual(dt.attributes.error, { type: 'UNKNOWN_TOPIC_OR_PARTITION' });
});

test('a record whose length is negative ends the batch: the records before it are kept, the set marked partial, no parser fault', () => {
  // found by payload fuzzing: the cursor went back by the length and then read before the buffer
  const bad = Buffer.concat([varint(-4096), Buffer.alloc(12)]);
  const set = batch(0n, [record(0, 'x', 'first'), bad]);
  const produce = sized(Buffer.concat([reqHeader(0, 3, 7, 'p'), str(null), i16(0), i32(1000), i32(1), str('t'), i32(1), i32(0), bytes(set)]));
  // the parser runs without the dispatcher here: a throw would fail the test
  const ctx = run([[0, produce]]);
  const k = ctx.records[0]!.attributes.kafka as any;
  assert.deepEqual(k.records.map((r: any) => r.value.content), ['first']);
  assert.equal(k.request.topics[0].partitions[0].records.partial, true);
});
