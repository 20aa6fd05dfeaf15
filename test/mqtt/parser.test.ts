// MQTT parser on hand-built packets (layouts from the OASIS MQTT 3.1.1 and 5.0
// specifications): fed whole, split at every offset and byte by byte, with
// gaps, damage, mid-stream joins and closes; and whole scripted TCP sessions
// through the pipeline, their events checked against the schema.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fakeContext } from '../helpers/fake-parser-context.js';
import { at, shape, runSession, damagedSessionsStayValid, type RunOptions, type Side } from '../helpers/parser-session.js';
import { Conversation, pcapng } from '../helpers/synth.js';
import { assertValidEvents, parseCaptureSync } from '../helpers/parse.js';
import { MqttParser } from '../../packages/protocols/src/mqtt/parser.js';
import { detectMqtt } from '../../packages/protocols/src/mqtt/index.js';
import { fixedHeader } from '../../packages/protocols/src/mqtt/packets.js';
import { bin, pkt, props, str, u16, u32, u8, vbi } from '../helpers/mqtt.js';

function connect311(opts: { clientId: string; user?: string; pass?: string; will?: [string, string] }): Buffer {
  let flags = 0x02;
  const tail: Buffer[] = [str(opts.clientId)];
  if (opts.will) {
    flags |= 0x04 | (1 << 3) | 0x20;
    tail.push(str(opts.will[0]), bin(opts.will[1]));
  }
  if (opts.user !== undefined) { flags |= 0x80; tail.push(str(opts.user)); }
  if (opts.pass !== undefined) { flags |= 0x40; tail.push(bin(opts.pass)); }
  return pkt(0x10, str('MQTT'), u8(4), u8(flags), u16(30), ...tail);
}
const connack311 = (code: number, sp = 0) => pkt(0x20, u8(sp), u8(code));
const connect5 = (clientId: string, p: Buffer = props()) => pkt(0x10, str('MQTT'), u8(5), u8(0x02), u16(60), p, str(clientId));
const connack5 = (code: number, p: Buffer = props()) => pkt(0x20, u8(0), u8(code), p);
const publish311 = (topic: string, payload: Buffer | string, qos = 0, id?: number, extra = 0) => pkt(0x30 | (qos << 1) | extra, str(topic), ...(qos ? [u16(id!)] : []), Buffer.from(payload));
const publish5 = (topic: string, payload: Buffer | string, qos: number, id: number | undefined, p: Buffer) => pkt(0x30 | (qos << 1), str(topic), ...(qos ? [u16(id!)] : []), p, Buffer.from(payload));


const run = (sides: Side[], step = Infinity, opts: RunOptions['options'] = {}, conn: RunOptions['conn'] = {}, close = true) =>
  runSession((ctx) => new MqttParser(ctx), sides, { step, options: opts, conn, close });



test('remaining length: the specification table of variable byte integers (§1.5.5), and a fifth byte refused', () => {
  const cases: Array<[number, number[]]> = [
    [0, [0x00]], [127, [0x7f]], [128, [0x80, 0x01]], [16383, [0xff, 0x7f]], [16384, [0x80, 0x80, 0x01]],
    [2097151, [0xff, 0xff, 0x7f]], [2097152, [0x80, 0x80, 0x80, 0x01]], [268435455, [0xff, 0xff, 0xff, 0x7f]],
  ];
  for (const [n, bytes] of cases) {
    assert.deepEqual([...vbi(n)], bytes);
    const h = fixedHeader(Buffer.from([0x30, ...bytes]), 0, bytes.length + 1);
    assert.deepEqual(h, { next: 1 + bytes.length, length: n });
  }
  assert.equal(fixedHeader(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]), 0, 6), -1);
  assert.equal(fixedHeader(Buffer.from([0x30, 0x80]), 0, 2), -2);
  // flags a type does not allow: SUBSCRIBE must carry 0010, PUBLISH no QoS 3, type 0 is reserved
  assert.equal(fixedHeader(Buffer.from([0x80, 0x00]), 0, 2), -1);
  assert.equal(fixedHeader(Buffer.from([0x36, 0x00]), 0, 2), -1);
  assert.equal(fixedHeader(Buffer.from([0x00, 0x00]), 0, 2), -1);
});

test('3.1.1 CONNECT with will, user name and password, answered by CONNACK: one exchange; the password only by size', () => {
  const c = connect311({ clientId: 'sensor-7', user: 'alice', pass: 'hunter2', will: ['status/sensor-7', 'offline'] });
  const sides: Side[] = [[0, c], [1, connack311(0, 1)]];
  const ctx = run(sides);
  assert.equal(ctx.records.length, 1);
  const r = ctx.records[0]!;
  assert.equal(r.kind, 'exchange');
  assert.equal(r.requestBytes, c.length);
  assert.equal(r.responseBytes, 4);
  assert.deepEqual(r.attributes.messaging, { system: 'mqtt', operation: { name: 'connect' }, client: { id: 'sensor-7' } });
  assert.deepEqual(r.attributes.mqtt, {
    packet_type: 'CONNECT',
    connect: {
      protocol_name: 'MQTT', clean_session: true, keep_alive: 30, username: 'alice', password: { size: 7 },
      will: { topic: 'status/sensor-7', qos: 1, retain: true, body: { size: 7, content: 'offline' } },
    },
    response: { packet_type: 'CONNACK', session_present: true, reason_code: 0, reason_name: 'accepted' },
  });
  assert.deepEqual(r.attributes.network, { protocol: { name: 'mqtt', version: '3.1.1' } });
  assert.ok(!JSON.stringify(r.attributes).includes('hunter2'));
  // the same records whatever the pieces
  for (const step of [1, 2, 3, 5, 7]) assert.deepEqual(shape(run(sides, step).records), shape(ctx.records), `step ${step}`);
});

test('a refused CONNECT: 3.1.1 return code 5 and 5.0 reason 0x86 are error.type by name', () => {
  const a = run([[0, connect311({ clientId: 'x' })], [1, connack311(5)]]).records[0]!;
  assert.equal(at(a, 'error.type'), 'not_authorized');
  assert.equal(at(a, 'mqtt.response.reason_name'), 'not_authorized');
  const b = run([[0, connect5('y')], [1, connack5(0x86, props(u8(0x1f), str('bad password')))]]).records[0]!;
  assert.equal(at(b, 'error.type'), 'bad_user_name_or_password');
  assert.deepEqual(at(b, 'mqtt.response'), { packet_type: 'CONNACK', session_present: false, reason_code: 0x86, reason_name: 'bad_user_name_or_password', properties: { reason_string: 'bad password' } });
  assert.deepEqual(at(b, 'network'), { protocol: { name: 'mqtt', version: '5.0' } });
});

test('3.1 (MQIsdp, level 3) reads as 3.1.1 does, with its own version', () => {
  const c = pkt(0x10, str('MQIsdp'), u8(3), u8(0x02), u16(60), str('old-client'));
  const r = run([[0, c], [1, connack311(0)]]).records[0]!;
  assert.equal(at(r, 'mqtt.connect.protocol_name'), 'MQIsdp');
  assert.equal(at(r, 'network.protocol.version'), '3.1');
  assert.equal(at(r, 'messaging.client.id'), 'old-client');
});

test('PUBLISH at QoS 0, 1 and 2, both ways: messages, PUBACK and the PUBREC/PUBREL/PUBCOMP flow', () => {
  const sides: Side[] = [
    [0, connect311({ clientId: 'c1' })], [1, connack311(0)],
    [0, publish311('t/zero', 'a', 0, undefined, 0x01)],
    [0, publish311('t/one', '{"email":"bob@example.com"}', 1, 7)],
    [0, publish311('t/two', 'two', 2, 8)],
    [1, pkt(0x40, u16(7))],
    [1, pkt(0x50, u16(8))],
    [0, pkt(0x62, u16(8))],
    [1, pkt(0x70, u16(8))],
    // the broker delivers to this client at QoS 1, which acknowledges
    [1, publish311('t/in', 'hi', 1, 1, 0x08)],
    [0, pkt(0x40, u16(1))],
    [0, pkt(0xc0)], [1, pkt(0xd0)],
    [0, pkt(0xe0)],
  ];
  const ctx = run(sides);
  const kinds = ctx.records.map((r) => [r.kind, at(r, 'mqtt.packet_type'), at(r, 'messaging.destination.name')]);
  assert.deepEqual(kinds, [
    ['exchange', 'CONNECT', undefined],
    ['message', 'PUBLISH', 't/zero'],
    ['exchange', 'PUBLISH', 't/one'],
    ['exchange', 'PUBLISH', 't/two'],
    ['exchange', 'PUBLISH', 't/in'],
    ['message', 'DISCONNECT', undefined],
  ]);
  const [, zero, one, two, inbound] = ctx.records;
  assert.deepEqual(at(zero!, 'mqtt'), { packet_type: 'PUBLISH', qos: 0, retain: true });
  assert.equal(at(zero!, 'messaging.operation.type'), 'send');
  assert.deepEqual(at(one!, 'messaging.message.body'), { size: 27, content: '{"email":"bob@example.com"}' });
  assert.deepEqual(at(one!, 'mqtt.response'), { packet_type: 'PUBACK' });
  assert.equal(at(one!, 'mqtt.packet_id'), 7);
  assert.deepEqual(at(two!, 'mqtt.acks'), ['PUBREC', 'PUBREL', 'PUBCOMP']);
  assert.deepEqual(at(two!, 'mqtt.response'), { packet_type: 'PUBCOMP' });
  assert.equal(two!.endNs > two!.startNs, true);
  assert.equal(at(inbound!, 'messaging.operation.type'), 'receive');
  assert.equal(at(inbound!, 'mqtt.dup'), true);
  for (const r of ctx.records) assert.equal(at(r, 'messaging.client.id'), 'c1');
  assert.equal(ctx.counts.get('mqtt.pings'), 2);
  for (const step of [1, 4, 9]) assert.deepEqual(shape(run(sides, step).records), shape(ctx.records), `step ${step}`);
});

test('5.0 PUBLISH properties, a topic alias set and used, an unknown alias flagged, reason codes on acknowledgements', () => {
  const p = props(u8(0x03), str('application/json'), u8(0x08), str('reply/here'), u8(0x09), bin('req-42'), u8(0x26), str('k'), str('v'), u8(0x26), str('k'), str('w'), u8(0x23), u16(3));
  const sides: Side[] = [
    [0, connect5('c5', props(u8(0x11), u32(3600)))], [1, connack5(0, props(u8(0x22), u16(10)))],
    [0, publish5('sensors/1/temp', '{"t":21}', 1, 1, p)],
    [1, pkt(0x40, u16(1), u8(0x10))],
    [0, publish5('', '{"t":22}', 0, undefined, props(u8(0x23), u16(3)))],
    [0, publish5('', '{"t":23}', 0, undefined, props(u8(0x23), u16(9)))],
    [0, publish5('x', 'binary', 2, 2, props(u8(0x09), bin(Buffer.from([0xff, 0x00, 0x01]))))],
    [1, pkt(0x50, u16(2), u8(0x87), props(u8(0x1f), str('no')))],
  ];
  const ctx = run(sides);
  const [conn, first, aliased, unknown, refused] = ctx.records;
  assert.deepEqual(at(conn!, 'mqtt.properties'), { session_expiry_interval: 3600 });
  assert.deepEqual(at(conn!, 'mqtt.response.properties'), { topic_alias_maximum: 10 });
  // user properties have no prototype (a name `__proto__` is a name like any other): compared as JSON
  assert.deepEqual(JSON.parse(JSON.stringify(at(first!, 'mqtt.properties'))), { content_type: 'application/json', response_topic: 'reply/here', correlation_data: 'req-42', user_properties: { k: ['v', 'w'] }, topic_alias: 3 });
  assert.equal(at(first!, 'messaging.message.conversation_id'), 'req-42');
  // 0x10 (no matching subscribers) is not a failure
  assert.deepEqual(at(first!, 'mqtt.response'), { packet_type: 'PUBACK', reason_code: 0x10, reason_name: 'no_matching_subscribers' });
  assert.equal(at(first!, 'error'), undefined);
  assert.equal(at(aliased!, 'messaging.destination.name'), 'sensors/1/temp');
  assert.equal(at(unknown!, 'messaging.destination'), undefined);
  assert.deepEqual(unknown!.flags, ['topic_alias_unknown']);
  assert.equal(ctx.counts.get('mqtt.topic_alias_unknown'), 1);
  // a failing PUBREC ends the QoS 2 flow (5.0 §4.3.3)
  assert.equal(refused!.kind, 'exchange');
  assert.equal(at(refused!, 'error.type'), 'not_authorized');
  assert.deepEqual(at(refused!, 'mqtt.properties'), { correlation_data: { base64: Buffer.from([0xff, 0x00, 0x01]).toString('base64') } });
  assert.equal(at(refused!, 'messaging.message.conversation_id'), undefined);
  assert.equal(ctx.records.length, 5);
});

test('SUBSCRIBE and UNSUBSCRIBE with their acknowledgements; a SUBACK failure is error.type', () => {
  const sides: Side[] = [
    [0, connect311({ clientId: 's' })], [1, connack311(0)],
    [0, pkt(0x82, u16(10), str('a/+'), u8(1), str('b/#'), u8(2))],
    [1, pkt(0x90, u16(10), u8(1), u8(0x80))],
    [0, pkt(0xa2, u16(11), str('a/+'))],
    [1, pkt(0xb0, u16(11))],
  ];
  const [, sub, unsub] = run(sides).records;
  assert.deepEqual(at(sub!, 'mqtt.subscriptions'), [{ filter: 'a/+', qos: 1 }, { filter: 'b/#', qos: 2 }]);
  assert.equal(at(sub!, 'messaging.destination'), undefined);
  assert.deepEqual(at(sub!, 'mqtt.response'), { packet_type: 'SUBACK', reason_codes: [1, 0x80], reason_names: ['granted_qos_1', 'failure'] });
  assert.equal(at(sub!, 'error.type'), 'failure');
  assert.deepEqual(at(unsub!, 'mqtt.topic_filters'), ['a/+']);
  assert.equal(at(unsub!, 'messaging.destination.name'), 'a/+');
  assert.deepEqual(at(unsub!, 'mqtt.response'), { packet_type: 'UNSUBACK' });
  // 5.0 subscription options
  const five: Side[] = [
    [0, connect5('s5')], [1, connack5(0)],
    [0, pkt(0x82, u16(1), props(u8(0x0b), vbi(200)), str('x/#'), u8(0x2e))],
    [1, pkt(0x90, u16(1), props(), u8(2))],
  ];
  const s5 = run(five).records[1]!;
  assert.deepEqual(at(s5, 'mqtt.subscriptions'), [{ filter: 'x/#', qos: 2, no_local: true, retain_as_published: true, retain_handling: 2 }]);
  assert.deepEqual(at(s5, 'mqtt.properties'), { subscription_identifiers: [200] });
});

test('a payload past maxBody keeps its first bytes, its whole size, and is flagged truncated', () => {
  const payload = Buffer.alloc(100_000, 0x61);
  const sides: Side[] = [[0, connect311({ clientId: 'big' })], [1, connack311(0)], [0, publish311('big/one', payload, 1, 3)], [1, pkt(0x40, u16(3))]];
  for (const step of [Infinity, 1460, 1]) {
    const r = run(sides, step, { maxBody: 1000 }).records[1]!;
    const body = at(r, 'messaging.message.body') as { size: number; content: string; truncated: boolean };
    assert.equal(body.size, 100_000);
    assert.equal(body.truncated, true);
    assert.equal(body.content, 'a'.repeat(1000));
    assert.deepEqual(r.flags, ['truncated']);
    // fixed header 1 + 3 (remaining length 100,011), topic 2 + 7, packet id 2, payload
    assert.equal(r.requestBytes, 1 + 3 + 2 + 7 + 2 + 100_000);
  }
});

test('the connection ends: the CONNECT, QoS 1 publishes and requests waiting are unanswered; a QoS 2 message past PUBREC is delivered', () => {
  const ctx = run([
    [0, connect311({ clientId: 'w' })], [1, connack311(0)],
    [0, publish311('q1', 'x', 1, 1)],
    [0, publish311('q2', 'y', 2, 2)], [1, pkt(0x50, u16(2))],
    [0, pkt(0x82, u16(3), str('s'), u8(0))],
  ]);
  assert.deepEqual(ctx.records.slice(1).map((r) => [r.kind, at(r, 'messaging.destination.name'), r.flags]), [
    ['unanswered', 'q1', ['closed']],
    ['exchange', 'q2', ['closed']],
    ['unanswered', 's', ['closed']],
  ]);
  assert.deepEqual(at(ctx.records[2]!, 'mqtt.response'), { packet_type: 'PUBREC' });
  const lone = run([[0, connect311({ clientId: 'z' })]]).records;
  assert.deepEqual(lone.map((r) => [r.kind, r.flags]), [['unanswered', ['closed']]]);
});

test('joined mid-connection: damage skipped to a packet boundary, 3.1.1 assumed until an acknowledgement proves 5.0, answers without requests are orphans', () => {
  const tail = Buffer.concat([publish311('late/topic', 'payload', 1, 9), publish311('next', 'n', 0)]);
  const ctx = run([
    [0, Buffer.concat([Buffer.from([0x00, 0x17, 0x99, 0x01]), tail])],
    [1, Buffer.concat([pkt(0x40, u16(4)), pkt(0x40, u16(9))])],
  ], Infinity, {}, { midstream: true, roleSource: 'port' });
  assert.deepEqual(ctx.records.map((r) => [r.kind, at(r, 'messaging.destination.name') ?? at(r, 'mqtt.response.packet_type')]), [
    ['message', 'next'],
    ['exchange', 'late/topic'],
  ]);
  assert.equal(ctx.counts.get('mqtt.skipped_bytes'), 4);
  assert.equal(ctx.counts.get('mqtt.unmatched_acks'), 1);
  assert.deepEqual(at(ctx.records[0]!, 'network'), { protocol: { name: 'mqtt' } });
  // an acknowledgement with a reason code can only be 5.0
  const v5 = run([[0, publish5('t', 'p', 1, 1, props())], [1, pkt(0x40, u16(1), u8(0x10), props())]], Infinity, {}, { midstream: true, roleSource: 'port' });
  assert.equal(at(v5.records[0]!, 'network.protocol.version'), '5.0');
  // so can a CONNACK with properties
  const connack = run([[1, connack5(0, props(u8(0x21), u16(20)))], [0, publish5('t', 'p', 0, undefined, props())]], Infinity, {}, { midstream: true, roleSource: 'port' });
  assert.deepEqual(connack.records.map((r) => [r.kind, at(r, 'network.protocol.version')]), [['orphan_response', '5.0'], ['message', '5.0']]);
  assert.deepEqual(at(connack.records[0]!, 'mqtt.response.properties'), { receive_maximum: 20 });
  // a SUBACK whose SUBSCRIBE was not seen
  const orphan = run([[1, pkt(0x90, u16(5), u8(0))]], Infinity, {}, { midstream: true, roleSource: 'port' });
  assert.equal(orphan.records[0]!.kind, 'orphan_response');
  assert.deepEqual(at(orphan.records[0]!, 'mqtt'), { packet_id: 5, response: { packet_type: 'SUBACK', reason_codes: [0], reason_names: ['granted_qos_0'] } });
});

test('a bad fixed header and a malformed packet body are counted and skipped; a gap resynchronises', () => {
  const ctx = run([
    [0, connect311({ clientId: 'g' })], [1, connack311(0)],
    // a topic length running past the packet
    [0, pkt(0x30, u16(50), Buffer.from('abc'))],
    [0, publish311('ok', '1')],
    [0, Buffer.from([0x00, 0x00])],
    [0, publish311('ok', '2')],
  ]);
  assert.deepEqual(ctx.records.slice(1).map((r) => at(r, 'messaging.message.body.content')), ['1', '2']);
  assert.equal(ctx.counts.get('mqtt.malformed'), 2);
  // a gap in the middle of a packet: the rest of it is skipped, the next packet read
  const c = fakeContext();
  const p = new MqttParser(c);
  const a = publish311('before', 'x'.repeat(50));
  p.data(0, a.subarray(0, 20), 1n);
  p.gap(0, 10, 2n);
  p.data(0, Buffer.concat([a.subarray(30), publish311('after', 'y')]), 3n);
  p.close('fin', 4n);
  assert.deepEqual(c.records.map((r) => at(r, 'messaging.destination.name')), ['after']);
  assert.equal(c.counts.get('mqtt.gaps'), 1);
});

test('detection: a CONNECT of each version, whole packets mid-stream with a text topic; not TLS, HTTP, or a lone acknowledgement', () => {
  assert.deepEqual(detectMqtt(connect311({ clientId: 'a' }), 0), { sender: 'client', confidence: 1 });
  assert.deepEqual(detectMqtt(connect5('a'), 0), { sender: 'client', confidence: 1 });
  assert.deepEqual(detectMqtt(pkt(0x10, str('MQIsdp'), u8(3), u8(2), u16(1), str('a')), 0), { sender: 'client', confidence: 1 });
  assert.equal(detectMqtt(connect311({ clientId: 'a' }).subarray(0, 5), 0), 'more');
  assert.equal(detectMqtt(pkt(0x10, str('MQTT'), u8(9), u8(2), u16(1), str('a')), 0), null);
  assert.deepEqual(detectMqtt(Buffer.concat([publish311('home/kitchen/temp', '21.5', 1, 3), pkt(0x40, u16(2))]), 1), { sender: 'unknown', confidence: 0.5 });
  assert.deepEqual(detectMqtt(pkt(0x82, u16(1), str('a/#'), u8(0)), 0), { sender: 'client', confidence: 0.5 });
  assert.equal(detectMqtt(pkt(0x40, u16(2)), 1), null);
  assert.equal(detectMqtt(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x40]), 0), null);
  assert.equal(detectMqtt(Buffer.from('GET / HTTP/1.1\r\n\r\n'), 0), null);
  assert.equal(detectMqtt(publish311('bin\u0001ary', 'x'), 0), null);
});

test('through the pipeline: a 5.0 session on a non-standard port, events valid against the schema, the same from 1-byte segments', () => {
  const script: Array<[0 | 1, Buffer]> = [
    [0, connect5('pipe-5', props(u8(0x11), u32(60)))],
    [1, connack5(0, props(u8(0x12), str('assigned')))],
    [0, publish5('a/b', '{"name":"Ada Lovelace","phone":"+44 20 7946 0958"}', 1, 1, props(u8(0x03), str('application/json'), u8(0x26), str('trace'), str('x')))],
    [1, pkt(0x40, u16(1))],
    [0, pkt(0x82, u16(2), props(), str('c/#'), u8(1))],
    [1, pkt(0x90, u16(2), props(), u8(1))],
    [0, pkt(0xf0, u8(0x19), props(u8(0x15), str('SCRAM-SHA-1'), u8(0x16), bin('secret-bytes')))],
    [0, pkt(0xe0, u8(0x04), props())],
  ];
  const capture = (mss?: number) => {
    const conv = new Conversation({ addr: '10.0.0.2', port: 50000 }, { addr: '10.0.0.1', port: 11883 }).handshake();
    for (const [side, b] of script) conv.send(side, b, mss);
    conv.close();
    return parseCaptureSync(pcapng(conv.frames));
  };
  const whole = capture();
  assertValidEvents(whole.events);
  const ev = whole.events as unknown as Array<{ pano: { kind: string }; mqtt: Record<string, unknown>; messaging: { client: { id: string } }; error?: unknown }>;
  assert.deepEqual(ev.map((e) => [e.pano.kind, e.mqtt.packet_type]), [
    ['exchange', 'CONNECT'], ['exchange', 'PUBLISH'], ['exchange', 'SUBSCRIBE'], ['message', 'AUTH'], ['message', 'DISCONNECT'],
  ]);
  assert.equal(whole.stats.protocols['dispatch.mqtt_connections'], 1);
  assert.deepEqual(ev[3]!.mqtt, { packet_type: 'AUTH', properties: { authentication_method: 'SCRAM-SHA-1', authentication_data: { size: 12 } }, reason_code: 0x19, reason_name: 're_authenticate' });
  assert.ok(!JSON.stringify(ev).includes('secret-bytes'));
  assert.equal(ev[4]!.mqtt.reason_name, 'disconnect_with_will_message');
  assert.equal(ev[4]!.error, undefined);
  // the client named itself: the broker's assigned identifier is not taken
  for (const e of ev) assert.equal(e.messaging.client.id, 'pipe-5');
  const split = capture(1);
  const strip = (events: unknown[]) => events.map((e) => { const { pano, ...rest } = e as { pano: unknown }; void pano; return rest; });
  assert.deepEqual(strip(split.events), strip(whole.events));
});

test('an empty client identifier takes the one the 5.0 broker assigned', () => {
  const ctx = run([[0, connect5('')], [1, connack5(0, props(u8(0x12), str('auto-1234')))], [0, publish5('t', 'p', 0, undefined, props())]]);
  assert.deepEqual(ctx.records.map((r) => at(r, 'messaging.client.id')), ['auto-1234', 'auto-1234']);
});

test('random damage to a session never throws, and what is read stays within the schema', () => {
  const session = Buffer.concat([
    connect5('fuzz', props(u8(0x11), u32(1))), publish5('a/b', 'x'.repeat(40), 1, 1, props(u8(0x26), str('k'), str('v'))),
    pkt(0x82, u16(2), props(), str('c/#'), u8(1)), publish311('z', 'q', 2, 3), pkt(0x62, u16(3)), pkt(0xe0),
  ]);
  const answers = Buffer.concat([connack5(0), pkt(0x40, u16(1), u8(0), props()), pkt(0x90, u16(2), props(), u8(1)), pkt(0x50, u16(3)), pkt(0x70, u16(3))]);
  damagedSessionsStayValid((ctx) => new MqttParser(ctx), session, answers, 'mqtt', { seed: 12345, runs: 400, maxPiece: 20, midstream: 0.3 });
});
