// --otlp: a W3C traceparent in a message's headers (AMQP headers property, MQTT 5 user properties,
// Kafka record headers) continues the producer's trace as HTTP's does; a Kafka
// batch whose records carry several contexts is linked to each of them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { receiver } from './otlp-receiver.js';
import { ev, runExport } from './fixtures.js';
import { spanShapeOf } from '@panopticon/export';
import { SpanKind } from '@opentelemetry/api';

const CLIENT = 3, PRODUCER = 4, CONSUMER = 5;
const tp = (trace: string, span: string) => `00-${trace}-${span}-01`;
const T1 = '11111111111111111111111111111111', S1 = '1111111111111111';
const T2 = '22222222222222222222222222222222', S2 = '2222222222222222';
const T3 = '33333333333333333333333333333333', S3 = '3333333333333333';

test('traceparent in AMQP and Kafka headers: child of the producer context, or links for a batch', async () => {
  const rx = await receiver();
  try {
    const events = [
      ev({ id: '1-1', protocol: 'amqp', kind: 'message', groups: {
        messaging: { system: 'rabbitmq', operation: { name: 'basic.deliver', type: 'receive' }, destination: { name: 'orders' } },
        amqp: { channel: 1, method: 'basic.deliver', properties: { headers: { traceparent: tp(T1, S1) } } },
      } }),
      // basic.get answered by get-ok: the content's properties are the response's
      ev({ id: '1-2', protocol: 'amqp', groups: {
        messaging: { system: 'rabbitmq', operation: { name: 'basic.get', type: 'receive' }, destination: { name: 'q' } },
        amqp: { channel: 1, method: 'basic.get', response: { method: 'basic.get-ok', properties: { headers: { traceparent: tp(T2, S2) } } } },
      } }),
      ev({ id: '2-1', protocol: 'kafka', groups: {
        messaging: { system: 'kafka', operation: { name: 'Produce', type: 'send' }, destination: { name: 'orders' } },
        kafka: { records: [{ offset: 0, headers: { traceparent: [tp(T3, S3)] } }] },
      } }),
      ev({ id: '2-2', protocol: 'kafka', groups: {
        messaging: { system: 'kafka', operation: { name: 'Fetch', type: 'receive' }, destination: { name: 'orders' } },
        kafka: { records: [{ offset: 0, headers: { traceparent: [tp(T1, S1)] } }, { offset: 1, headers: { traceparent: [tp(T2, S2)] } }, { offset: 2, headers: { traceparent: [tp(T1, S1)] } }, { offset: 3 }] },
      } }),
      ev({ id: '3-1', protocol: 'amqp', kind: 'message', groups: {
        messaging: { system: 'rabbitmq', operation: { name: 'basic.publish', type: 'send' }, destination: { name: 'orders' } },
        amqp: { channel: 1, method: 'basic.publish', properties: { headers: { traceparent: 'not a traceparent' } } },
      } }),
    ];
    const run = runExport(['--otlp', rx.url, '--otlp-delay', '20']);
    run.child.stdin.end(events.map((e) => JSON.stringify(e)).join('\n') + '\n');
    assert.equal(await run.exited, 0, run.stderr());
    const by = Object.fromEntries(rx.spans.map((s) => [s.attributes['pano.event.id'], s]));

    const deliver = by['1-1']!;
    assert.equal(deliver.traceId, T1);
    assert.equal(deliver.parentSpanId, S1);
    assert.equal(deliver.kind, CONSUMER, 'a message span keeps its messaging kind');
    assert.equal(by['1-2']!.traceId, T2);
    assert.equal(by['1-2']!.parentSpanId, S2);
    assert.equal(by['1-2']!.kind, CLIENT, 'joined by a message context: not the server side of a call');

    const produce = by['2-1']!;
    assert.equal(produce.traceId, T3);
    assert.equal(produce.parentSpanId, S3);

    const fetchBatch = by['2-2']!;
    assert.equal(fetchBatch.parentSpanId, '', 'a batch of several contexts is a trace of its own');
    assert.ok(![T1, T2].includes(fetchBatch.traceId));
    assert.deepEqual(fetchBatch.links, [{ traceId: T1, spanId: S1 }, { traceId: T2, spanId: S2 }], 'one link per distinct context');

    const bad = by['3-1']!;
    assert.equal(bad.parentSpanId, '');
    assert.equal(bad.kind, PRODUCER);
    assert.deepEqual(bad.links, []);
  } finally {
    rx.server.close();
  }
});

test('a header named __proto__ is exported like any other (assigned, it set the copy\'s prototype and vanished)', () => {
  const e = JSON.parse('{"pano":{"v":1,"id":"9-1","kind":"exchange","protocol":"kafka","start_ns":"1","end_ns":"2"},"messaging":{"system":"kafka"},"kafka":{"records":[{"offset":0,"headers":{"__proto__":["x"],"trace":["a","b"]}}]}}');
  const shape = spanShapeOf(e, { includeContent: true })!;
  const records = JSON.parse(String(shape.attributes['kafka.records']));
  assert.deepEqual(Object.keys(records[0].headers), ['__proto__', 'trace']);
  assert.deepEqual(records[0].headers.trace, ['a', 'b']);
});

test('a WebSocket message is a span named by its opcode; its payload stays out without --otlp-content', () => {
  const e = { pano: { v: 1, id: '4-2', kind: 'message', protocol: 'websocket', start_ns: '1', end_ns: '2' }, websocket: { sender: 'server', opcode: 'text', frames: 1, message: { size: 5, body: { size: 5, content: 'Hello' } } } };
  const shape = spanShapeOf(e)!;
  assert.equal(shape.name, 'WebSocket text');
  assert.equal(shape.attributes['websocket.message.body.content'], undefined);
  assert.equal(spanShapeOf(e, { includeContent: true })!.attributes['websocket.message.body.content'], 'Hello');
});

test('MQTT: a traceparent user property continues the publisher\'s trace; an acknowledged PUBLISH is still PRODUCER or CONSUMER; credential-named user properties are REDACTED', () => {
  const publish = (id: string, type: string, kind: string, user: Record<string, string[]>) => ev({ id, protocol: 'mqtt', kind, groups: {
    messaging: { system: 'mqtt', operation: { name: 'publish', type }, destination: { name: 'sensors/1' } },
    mqtt: { packet_type: 'PUBLISH', packet_id: 1, qos: 1, properties: { user_properties: user }, response: { packet_type: 'PUBACK' } },
  } });
  const sent = spanShapeOf(publish('1-1', 'send', 'exchange', { traceparent: [tp(T1, S1)], 'api-token': ['abc'] }))!;
  assert.equal(sent.parent?.traceId, T1);
  assert.equal(sent.parent?.spanId, S1);
  assert.equal(sent.kind, SpanKind.PRODUCER);
  assert.deepEqual(sent.attributes['mqtt.properties.user_properties.api-token'], ['REDACTED']);
  const received = spanShapeOf(publish('1-2', 'receive', 'exchange', {}))!;
  assert.equal(received.kind, SpanKind.CONSUMER);
  // a SUBSCRIBE is a call
  const sub = spanShapeOf(ev({ id: '1-3', protocol: 'mqtt', groups: { messaging: { system: 'mqtt', operation: { name: 'subscribe' } }, mqtt: { packet_type: 'SUBSCRIBE', packet_id: 2 } } }))!;
  assert.equal(sub.kind, SpanKind.CLIENT);
});

test('NATS: a traceparent header continues the publisher\'s trace; a request and its reply are a call, the responder\'s side SERVER; a plain delivery CONSUMER', () => {
  const nats = (id: string, kind: string, type: string, extra: Record<string, unknown>) => ev({ id, protocol: 'nats', kind, groups: {
    messaging: { system: 'nats', operation: { name: type === 'send' ? 'publish' : 'receive', type }, destination: { name: 'users.lookup' } },
    nats: { operation: type === 'send' ? 'HPUB' : 'HMSG', ...extra },
  } });
  const sent = spanShapeOf(nats('1-1', 'message', 'send', { headers: { traceparent: [tp(T1, S1)] } }))!;
  assert.equal(sent.parent?.traceId, T1);
  assert.equal(sent.kind, SpanKind.PRODUCER);
  assert.equal(spanShapeOf(nats('1-2', 'message', 'receive', {}))!.kind, SpanKind.CONSUMER);
  const asked = spanShapeOf(nats('1-3', 'exchange', 'send', { reply_to: '_INBOX.1', response: { operation: 'MSG', subject: '_INBOX.1', body: { size: 0 } } }))!;
  assert.equal(asked.kind, SpanKind.CLIENT);
  const served = spanShapeOf(nats('2-1', 'exchange', 'receive', { reply_to: '_INBOX.1', headers: { traceparent: [tp(T2, S2)] }, response: { operation: 'PUB', subject: '_INBOX.1', body: { size: 0 } } }))!;
  assert.equal(served.kind, SpanKind.SERVER);
  assert.equal(served.parent?.traceId, T2);
  assert.equal(served.name, 'receive users.lookup');
});
