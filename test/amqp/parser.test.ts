// AMQP 0-9-1 parser on hand-built frames (layouts from the 0-9-1 specification
// and RabbitMQ's field-table errata), fed whole, split at every offset, byte by
// byte, with gaps and mid-stream joins.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fakeContext } from '../helpers/fake-parser-context.js';
import { AmqpParser } from '../../packages/protocols/src/amqp/parser.js';
import { detectAmqp } from '../../packages/protocols/src/amqp/index.js';
import type { ExchangeRecord } from '../../packages/protocols/src/types.js';

const u8 = (n: number) => Buffer.from([n]);
const u16 = (n: number) => { const b = Buffer.alloc(2); b.writeUInt16BE(n); return b; };
const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
const u64 = (n: bigint) => { const b = Buffer.alloc(8); b.writeBigUInt64BE(n); return b; };
const shortstr = (s: string) => Buffer.concat([u8(Buffer.byteLength(s)), Buffer.from(s)]);
const longstr = (b: Buffer | string) => { const x = Buffer.from(b); return Buffer.concat([u32(x.length), x]); };
const frame = (type: number, channel: number, payload: Buffer) => Buffer.concat([u8(type), u16(channel), u32(payload.length), payload, u8(0xce)]);
const method = (channel: number, cls: number, m: number, ...args: Buffer[]) => frame(1, channel, Buffer.concat([u16(cls), u16(m), ...args]));

/** A field table with one value of every type RabbitMQ reads. */
function everyTypeTable(): [Buffer, Record<string, unknown>] {
  const i8 = Buffer.alloc(1); i8.writeInt8(-5);
  const i16 = Buffer.alloc(2); i16.writeInt16BE(-300);
  const i32 = Buffer.alloc(4); i32.writeInt32BE(-70000);
  const i64 = Buffer.alloc(8); i64.writeBigInt64BE(-5000000000n);
  const f32 = Buffer.alloc(4); f32.writeFloatBE(1.5);
  const f64 = Buffer.alloc(8); f64.writeDoubleBE(2.25);
  const dec = Buffer.concat([u8(2), (() => { const b = Buffer.alloc(4); b.writeInt32BE(12345); return b; })()]);
  const inner = Buffer.concat([shortstr('k'), Buffer.from('S'), longstr('v')]);
  const arr = Buffer.concat([Buffer.from('I'), i32, Buffer.from('S'), longstr('x')]);
  const entries: Array<[string, string, Buffer]> = [
    ['bool', 't', u8(1)], ['i8', 'b', i8], ['u8', 'B', u8(200)], ['i16', 's', i16], ['u16', 'u', u16(65000)],
    ['i32', 'I', i32], ['u32', 'i', u32(4000000000)], ['i64', 'l', i64], ['f32', 'f', f32], ['f64', 'd', f64],
    ['dec', 'D', dec], ['str', 'S', longstr('héllo')], ['arr', 'A', longstr(arr)], ['ts', 'T', u64(1700000000n)],
    ['tbl', 'F', longstr(inner)], ['void', 'V', Buffer.alloc(0)], ['bytes', 'x', longstr(Buffer.from([0, 1, 2]))],
  ];
  const body = Buffer.concat(entries.map(([k, t, v]) => Buffer.concat([shortstr(k), Buffer.from(t), v])));
  return [longstr(body), {
    bool: true, i8: -5, u8: 200, i16: -300, u16: 65000, i32: -70000, u32: 4000000000, i64: -5000000000, f32: 1.5, f64: 2.25,
    dec: { decimal: 123.45 }, str: 'héllo', arr: [-70000, 'x'], ts: 1700000000, tbl: { k: 'v' }, void: null, bytes: { bytes: 'AAEC' },
  }];
}

type Seg = [0 | 1, Buffer];

function run(segs: Seg[], cut: (b: Buffer) => Buffer[] = (b) => [b], opts = {}, conn = {}) {
  const ctx = fakeContext(opts, { server: { address: '127.0.0.1', port: 5672 }, ...conn });
  const p = new AmqpParser(ctx);
  let ts = 1n;
  for (const [dir, b] of segs) for (const piece of cut(b)) p.data(dir, piece, ts++);
  p.close('fin', ts);
  return ctx;
}
const shape = (r: ExchangeRecord) => ({ kind: r.kind, flags: r.flags, req: r.requestBytes, res: r.responseBytes, a: r.attributes });

function everyCut(segs: Seg[], check: (records: ExchangeRecord[]) => void) {
  const whole = run(segs).records;
  check(whole);
  for (let i = 0; i < segs.length; i++) {
    const seg = segs[i]![1];
    for (let k = 1; k < seg.length; k += Math.max(1, Math.floor(seg.length / 400))) {
      const recs = run(segs, (b) => (b === seg ? [b.subarray(0, k), b.subarray(k)] : [b])).records;
      assert.deepEqual(recs.map(shape), whole.map(shape), `segment ${i} split at ${k}`);
    }
  }
  assert.deepEqual(run(segs, (b) => [...b].map((x) => Buffer.from([x]))).records.map(shape), whole.map(shape), 'byte by byte');
}

const header = Buffer.from('AMQP\x00\x00\x09\x01', 'latin1');

test('publish: properties with every field-table type, body reassembled from frames', () => {
  const [table, tableJson] = everyTypeTable();
  const body = Buffer.from('{"email":"carol@example.com","n":1}');
  const flags = (1 << 15) | (1 << 13) | (1 << 12) | (1 << 10) | (1 << 7) | (1 << 6);
  const props = Buffer.concat([shortstr('application/json'), table, u8(2), shortstr('corr-9'), shortstr('msg-7'), u64(1700000001n)]);
  const client = Buffer.concat([
    header,
    method(1, 60, 40, u16(0), shortstr('orders'), shortstr('eu.created'), u8(0b01)),
    frame(2, 1, Buffer.concat([u16(60), u16(0), u64(BigInt(body.length)), u16(flags), props])),
    frame(3, 1, body.subarray(0, 10)),
    frame(3, 1, body.subarray(10, 20)),
    frame(3, 1, body.subarray(20)),
    frame(8, 0, Buffer.alloc(0)),
  ]);
  everyCut([[0, client]], (recs) => {
    assert.equal(recs.length, 1);
    const r = recs[0]!;
    assert.equal(r.kind, 'message');
    assert.equal(r.requestBytes, client.length - header.length - 8);
    assert.deepEqual(r.attributes.messaging, {
      system: 'rabbitmq',
      operation: { name: 'basic.publish', type: 'send' },
      destination: { name: 'orders' },
      rabbitmq: { destination: { routing_key: 'eu.created' } },
      message: { body: { size: body.length, content: body.toString() }, id: 'msg-7', conversation_id: 'corr-9' },
    });
    const amqp = r.attributes.amqp as Record<string, any>;
    assert.deepEqual(amqp.arguments, { ticket: 0, exchange: 'orders', routing_key: 'eu.created', mandatory: true, immediate: false });
    assert.deepEqual(amqp.properties, {
      content_type: 'application/json', headers: tableJson, delivery_mode: 2, correlation_id: 'corr-9', message_id: 'msg-7', timestamp: 1700000001,
    });
    assert.deepEqual(r.attributes.network, { protocol: { name: 'amqp', version: '0-9-1' } });
  });
  assert.equal(run([[0, client]]).counts.get('amqp.heartbeats'), 1);
});

test('synchronous methods pair with their -ok per channel; no-wait ones stand alone', () => {
  const client = Buffer.concat([
    method(1, 50, 10, u16(0), shortstr('q1'), u8(0b00010), longstr(Buffer.alloc(0))),
    method(2, 50, 10, u16(0), shortstr(''), u8(0b01000), longstr(Buffer.alloc(0))),
    method(1, 40, 10, u16(0), shortstr('ex'), shortstr('fanout'), u8(0b10000), longstr(Buffer.alloc(0))),
  ]);
  const server = Buffer.concat([
    method(2, 50, 11, shortstr('amq.gen-XYZ'), u32(0), u32(0)),
    method(1, 50, 11, shortstr('q1'), u32(5), u32(1)),
  ]);
  everyCut([[0, client], [1, server]], (recs) => {
    assert.deepEqual(recs.map((r) => [r.kind, (r.attributes.amqp as any).channel, (r.attributes.amqp as any).method, (r.attributes.amqp as any).response?.method]), [
      ['message', 1, 'exchange.declare', undefined],
      ['exchange', 2, 'queue.declare', 'queue.declare-ok'],
      ['exchange', 1, 'queue.declare', 'queue.declare-ok'],
    ]);
    // a server-named queue: the destination is the name the broker gave
    assert.deepEqual((recs[1]!.attributes.messaging as any).destination, { name: 'amq.gen-XYZ' });
    assert.deepEqual((recs[2]!.attributes.amqp as any).response.arguments, { queue: 'q1', message_count: 5, consumer_count: 1 });
    assert.equal((recs[2]!.attributes.amqp as any).arguments.durable, true);
  });
});

test('deliver, get-ok with content, get-empty, ack; the SASL response is never kept', () => {
  const start = method(0, 10, 10, u8(0), u8(9), longstr(Buffer.alloc(0)), longstr('PLAIN'), longstr('en_US'));
  const startOk = method(0, 10, 11, longstr(Buffer.alloc(0)), shortstr('PLAIN'), longstr('\0user\0s3cret'), shortstr('en_US'));
  const get = method(1, 60, 70, u16(0), shortstr('jobs'), u8(0));
  const deliverWithContent = Buffer.concat([
    method(1, 60, 60, shortstr('ctag'), u64(7n), u8(1), shortstr('ex'), shortstr('rk')),
    frame(2, 1, Buffer.concat([u16(60), u16(0), u64(3n), u16(0)])),
    frame(3, 1, Buffer.from('abc')),
  ]);
  const getOk = Buffer.concat([
    method(1, 60, 71, u64(8n), u8(0), shortstr(''), shortstr('jobs'), u32(0)),
    frame(2, 1, Buffer.concat([u16(60), u16(0), u64(0n), u16(0)])),
  ]);
  const getEmpty = method(1, 60, 72, shortstr(''));
  const ack = method(1, 60, 80, u64(7n), u8(0));
  const recs = run([[1, start], [0, startOk], [1, deliverWithContent], [0, get], [1, getOk], [0, get], [1, getEmpty], [0, ack]]).records;
  const names = recs.map((r) => `${r.kind}:${(r.attributes.amqp as any).method}>${(r.attributes.amqp as any).response?.method ?? ''}`);
  assert.deepEqual(names, [
    'exchange:connection.start>connection.start-ok', 'message:basic.deliver>', 'exchange:basic.get>basic.get-ok', 'exchange:basic.get>basic.get-empty', 'message:basic.ack>',
  ]);
  assert.ok(!JSON.stringify(recs.map((r) => r.attributes)).includes('s3cret'));
  assert.deepEqual((recs[0]!.attributes.amqp as any).response.arguments.response, { size: 12 });
  assert.deepEqual((recs[1]!.attributes.messaging as any).rabbitmq, { destination: { routing_key: 'rk' }, message: { delivery_tag: 7 } });
  assert.deepEqual((recs[1]!.attributes.messaging as any).message.body, { size: 3, content: 'abc' });
  assert.deepEqual((recs[2]!.attributes.messaging as any).message.body, { size: 0 });
  assert.equal((recs[2]!.attributes.messaging as any).destination.name, 'jobs');
});

test('a close answers what waits on its channel and carries the reply code', () => {
  const client = method(3, 50, 10, u16(0), shortstr('nope'), u8(0b1), longstr(Buffer.alloc(0)));
  const server = method(3, 20, 40, u16(404), shortstr("NOT_FOUND - no queue 'nope'"), u16(50), u16(10));
  const ack = method(3, 20, 41);
  const recs = run([[0, client], [1, server], [0, ack]]).records;
  assert.equal(recs.length, 2);
  assert.equal((recs[0]!.attributes.amqp as any).response.method, 'channel.close');
  assert.deepEqual(recs[0]!.attributes.error, { type: '404' });
  assert.equal((recs[0]!.attributes.amqp as any).reply_name, 'not-found');
  assert.equal((recs[1]!.attributes.amqp as any).method, 'channel.close');
  assert.equal((recs[1]!.attributes.amqp as any).response.method, 'channel.close-ok');
});

test('a refused login: the start exchange carries the 403 that followed the credentials; the close stays its own event', () => {
  // RabbitMQ's authentication_failure_close: connection.close 403 right after start-ok, and no close-ok from
  // the client, which hangs up. The start exchange was complete before the refusal came.
  const start = method(0, 10, 10, u8(0), u8(9), longstr(Buffer.alloc(0)), longstr('PLAIN AMQPLAIN'), longstr('en_US'));
  const startOk = method(0, 10, 11, longstr(Buffer.alloc(0)), shortstr('PLAIN'), longstr('\0guest\0wrong'), shortstr('en_US'));
  const text = 'ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details see the broker logfile.';
  const refusal = method(0, 10, 50, u16(403), shortstr(text), u16(0), u16(0));
  everyCut([[0, header], [1, start], [0, startOk], [1, refusal]], (recs) => {
    assert.deepEqual(recs.map((r) => [r.kind, (r.attributes.amqp as any).method, (r.attributes.amqp as any).response?.method, r.flags]), [
      ['exchange', 'connection.start', 'connection.start-ok', undefined],
      ['unanswered', 'connection.close', undefined, ['closed']],
    ]);
    const [login, close] = recs as [ExchangeRecord, ExchangeRecord];
    assert.deepEqual(login.attributes.error, { type: '403' });
    assert.equal((login.attributes.amqp as any).reply_code, 403);
    assert.equal((login.attributes.amqp as any).reply_name, 'access-refused');
    assert.equal((login.attributes.amqp as any).response.arguments.mechanism, 'PLAIN');
    // the refusal's bytes are the close's, counted once
    assert.equal(login.requestBytes, startOk.length);
    assert.equal(login.responseBytes, start.length);
    assert.equal(close.responseBytes, refusal.length);
    assert.deepEqual(close.attributes.error, { type: '403' });
    assert.equal((close.attributes.amqp as any).arguments.reply_text, text);
  });
  const ctx = fakeContext({}, { server: { address: '127.0.0.1', port: 5672 } });
  const p = new AmqpParser(ctx);
  p.data(0, header, 1n);
  p.data(1, start, 2n);
  p.data(0, startOk, 3n);
  p.data(1, refusal, 9n);
  p.close('rst', 10n);
  // the exchange lasts until the refusal
  assert.equal(ctx.records[0]!.endNs, 9n);
});

test('a login that goes through: tune or a secure challenge settles it; a broker that just hangs up leaves it unsettled', () => {
  const start = method(0, 10, 10, u8(0), u8(9), longstr(Buffer.alloc(0)), longstr('PLAIN'), longstr('en_US'));
  const startOk = method(0, 10, 11, longstr(Buffer.alloc(0)), shortstr('PLAIN'), longstr('\0u\0p'), shortstr('en_US'));
  const secure = method(0, 10, 20, longstr('challenge'));
  const secureOk = method(0, 10, 21, longstr('answer'));
  const tune = method(0, 10, 30, u16(2047), u32(131072), u16(60));
  const tuneOk = method(0, 10, 31, u16(2047), u32(131072), u16(60));
  const refusal = method(0, 10, 50, u16(403), shortstr('ACCESS_REFUSED'), u16(0), u16(0));
  const summary = (recs: ExchangeRecord[]) => recs.map((r) => [(r.attributes.amqp as any).method, (r.attributes.amqp as any).response?.method, r.attributes.error, r.flags]);
  assert.deepEqual(summary(run([[1, start], [0, startOk], [1, tune], [0, tuneOk]]).records), [
    ['connection.start', 'connection.start-ok', undefined, undefined],
    ['connection.tune', 'connection.tune-ok', undefined, undefined],
  ]);
  // a second SASL round: the start step went through, the secure step was refused
  assert.deepEqual(summary(run([[1, start], [0, startOk], [1, secure], [0, secureOk], [1, refusal]]).records), [
    ['connection.start', 'connection.start-ok', undefined, undefined],
    ['connection.secure', 'connection.secure-ok', { type: '403' }, undefined],
    ['connection.close', undefined, { type: '403' }, ['closed']],
  ]);
  // no verdict: the connection ended after the credentials
  assert.deepEqual(summary(run([[1, start], [0, startOk]]).records), [['connection.start', 'connection.start-ok', undefined, ['closed']]]);
});

test('field-table keys named __proto__ are kept as entries (an assignment would set the prototype instead)', () => {
  const inner = Buffer.concat([shortstr('k'), Buffer.from('S'), longstr('v')]);
  const table = longstr(Buffer.concat([
    shortstr('__proto__'), Buffer.from('F'), longstr(inner), shortstr('x-max-length'), Buffer.from('I'), u32(5), shortstr('constructor'), Buffer.from('S'), longstr('c'),
  ]));
  const declare = method(1, 50, 10, u16(0), shortstr('q'), u8(0), table);
  const recs = run([[0, declare]]).records;
  assert.equal(JSON.stringify((recs[0]!.attributes.amqp as any).arguments.arguments), '{"__proto__":{"k":"v"},"x-max-length":5,"constructor":"c"}');
});

test('mid-stream join and damage: skipped to the next whole frame, counted', () => {
  const good = method(1, 60, 80, u64(9n), u8(0));
  const tail = Buffer.concat([Buffer.from([0x00, 0x13, 0x37, 0xce, 0x03]), good]);
  const ctx = run([[0, tail]], undefined, {}, { midstream: true });
  assert.equal(ctx.records.length, 1);
  assert.equal((ctx.records[0]!.attributes.messaging as any).rabbitmq.message.delivery_tag, 9);
  assert.equal(ctx.counts.get('amqp.skipped_bytes'), 5);

  const broken = Buffer.concat([good.subarray(0, good.length - 1), Buffer.from([0x00]), good]);
  const ctx2 = run([[0, broken]]);
  assert.equal(ctx2.counts.get('amqp.malformed'), 1);
  assert.equal(ctx2.records.length, 1);
});

test('a gap inside a body: the message is emitted with what arrived and flagged', () => {
  const ctx = fakeContext();
  const p = new AmqpParser(ctx);
  p.data(1, Buffer.concat([method(1, 60, 60, shortstr('c'), u64(1n), u8(0), shortstr('ex'), shortstr('rk')), frame(2, 1, Buffer.concat([u16(60), u16(0), u64(100n), u16(0)])), frame(3, 1, Buffer.from('0123456789'))]), 1n);
  p.gap(1, 90, 2n);
  p.close('end', 3n);
  assert.equal(ctx.records.length, 1);
  assert.deepEqual(ctx.records[0]!.flags, ['gap', 'truncated']);
  assert.deepEqual((ctx.records[0]!.attributes.messaging as any).message.body, { size: 100, content: '0123456789', truncated: true, gap: true });
});

test('detection: the protocol header is the client; connection.start the server', () => {
  assert.deepEqual(detectAmqp(header, 0), { sender: 'client', confidence: 1 });
  assert.equal(detectAmqp(Buffer.from('AMQ'), 0), 'more');
  assert.equal(detectAmqp(Buffer.from('AMQP\x00\x01\x00\x00', 'latin1'), 0), null);
  const start = method(0, 10, 10, u8(0), u8(9), longstr(Buffer.alloc(0)), longstr('PLAIN'), longstr('en_US'));
  assert.deepEqual(detectAmqp(start, 1), { sender: 'server', confidence: 0.9 });
  assert.equal(detectAmqp(Buffer.from('GET / HTTP/1.1\r\n'), 0), null);
});
