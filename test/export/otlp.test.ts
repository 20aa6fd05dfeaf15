// --otlp: spans received by a test OTLP/HTTP receiver that decodes them with
// the official OTLP protobuf definitions (the protobufjs code generated from
// opentelemetry-proto, as shipped by @opentelemetry/otlp-transformer 0.57),
// checked for trace and parent ids, exact times, kinds, attributes, status.
// Collector down: the pipe keeps flowing and the loss is counted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { receiver } from './otlp-receiver.js';
import { httpEv, ev, exportedSpans, runExport, T0 } from './fixtures.js';

// OTLP enum values from trace.proto: SPAN_KIND_SERVER = 2, CLIENT = 3, PRODUCER = 4; STATUS_CODE_ERROR = 2.
const SERVER = 2, CLIENT = 3, PRODUCER = 4, ERROR = 2;

test('spans: exact times, W3C traceparent joins the observed trace, attributes from semconv fields, status', async () => {
  const rx = await receiver();
  try {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const parentId = '00f067aa0ba902b7';
    const start = T0 + 123_456_789n;
    const events = [
      httpEv('1-1', 'GET', 200, 2_345_678, { startNs: start }, { request: { header: { traceparent: [`00-${traceId}-${parentId}-01`], 'user-agent': ['curl/8'] } } }),
      httpEv('1-2', 'POST', 503, 1_000, { startNs: start + 10n, groups: { pii: [{ type: 'email', path: 'http.request.body.content', start: 0, end: 3, confidence: 1, detector: 'regex', validator: null }] } }, { request: { body: { size: 7, content: 'a@b.c x' } } }),
      ev({ id: '2-1', protocol: 'kafka', kind: 'message', startNs: start, durNs: 0, groups: { messaging: { system: 'kafka', destination: { name: 'orders' }, operation: { type: 'send', name: 'produce' } } } }),
      ev({ id: '3-1', protocol: 'redis', kind: 'unanswered', flags: ['eof'], groups: { db: { system: { name: 'redis' }, operation: { name: 'GET' } } } }),
    ];
    const run = runExport(['--otlp', rx.url, '--otlp-delay', '50', '--stats', '--service-name', 'pano-test']);
    run.child.stdin.end(events.map((e) => JSON.stringify(e)).join('\n') + '\n');
    assert.equal(await run.exited, 0, run.stderr());
    assert.match(run.stderr(), /^otlp\.sent 4$/m);
    assert.doesNotMatch(run.stderr(), /^otlp\.lost/m);
    assert.equal(rx.spans.length, 4);
    assert.deepEqual(rx.resources[0]!['service.name'], 'pano-test');
    const by = Object.fromEntries(rx.spans.map((s) => [s.attributes['pano.event.id'], s]));

    const get = by['1-1']!;
    assert.equal(get.traceId, traceId, 'joins the observed trace');
    assert.equal(get.parentSpanId, parentId, 'child of the observed span');
    assert.notEqual(get.spanId, parentId);
    assert.equal(get.kind, SERVER);
    assert.equal(get.name, 'GET');
    assert.equal(get.startTimeUnixNano, start.toString(), 'exact start ns');
    assert.equal(get.endTimeUnixNano, (start + 2_345_678n).toString(), 'exact end ns');
    assert.equal(get.attributes['http.request.method'], 'GET');
    assert.equal(get.attributes['http.response.status_code'], 200);
    assert.equal(get.attributes['url.path'], '/api/users/1-1');
    assert.equal(get.attributes['server.address'], '10.0.0.2');
    assert.equal(get.attributes['server.port'], 80);
    assert.deepEqual(get.attributes['http.request.header.user-agent'], ['curl/8']);
    assert.equal(get.status.code, 0);

    const post = by['1-2']!;
    assert.notEqual(post.traceId, traceId, 'no traceparent: a trace of its own');
    assert.equal(post.parentSpanId, '');
    assert.equal(post.kind, CLIENT);
    assert.equal(post.status.code, ERROR);
    assert.equal(post.status.message, '503');
    assert.equal(post.attributes['http.request.body.size'], 7);
    assert.equal(post.attributes['http.request.body.content'], undefined, 'body content left out by default');
    assert.deepEqual(post.attributes['pano.pii.types'], ['email']);

    const kafka = by['2-1']!;
    assert.equal(kafka.kind, PRODUCER);
    assert.equal(kafka.name, 'produce orders');
    assert.equal(kafka.attributes['messaging.destination.name'], 'orders');

    const redis = by['3-1']!;
    assert.equal(redis.status.code, ERROR);
    assert.equal(redis.status.message, 'unanswered: eof');
    assert.deepEqual(redis.attributes['pano.flags'], ['eof']);
  } finally {
    rx.server.close();
  }
});

test('an event with more fields than a span holds: envelope facts, method and status kept, headers cut and the cut counted', async () => {
  // 300 request headers + 10 fields (client and server address and port, network transport and
  // type, method, status, url path and scheme) + 9 pano.* facts (id, protocol, kind, source type
  // and name, connection id, request and response bytes, PII types) = 319 attributes; a span
  // holds 256, so 63 headers go, counted by the span, and 237 stay
  const header: Record<string, string[]> = {};
  for (let i = 0; i < 300; i++) header[`x-h${String(i).padStart(3, '0')}`] = [`v${i}`];
  const pii = [{ type: 'email', path: 'http.request.header.x-h001[0]', start: 0, end: 2, confidence: 0.9, detector: 'regex', validator: null }];
  const e = httpEv('1-1', 'GET', 200, 1_000, { groups: { pii } }, { request: { header } });
  const by = await exportedSpans(JSON.stringify(e) + '\n', [], 1);
  const span = Object.values(by)[0]!;
  assert.equal(span.attributes['pano.event.id'], '1-1');
  assert.equal(Object.keys(span.attributes).length, 256);
  assert.equal(span.droppedAttributesCount, 63);
  assert.equal(span.attributes['pano.protocol'], 'http');
  assert.deepEqual(span.attributes['pano.pii.types'], ['email']);
  assert.equal(span.attributes['http.request.method'], 'GET');
  assert.equal(span.attributes['http.response.status_code'], 200);
  assert.equal(span.attributes['url.path'], '/api/users/1-1');
  assert.equal(Object.keys(span.attributes).filter((k) => k.startsWith('http.request.header.')).length, 237);
});

test('collector down: events keep flowing through --tee and every span is counted lost', async () => {
  // a port with nothing listening: take one and close it
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as { port: number }).port;
  await new Promise((r) => probe.close(r));

  const lines = [];
  for (let i = 0; i < 300; i++) lines.push(JSON.stringify(httpEv(`${i}-1`, 'GET', 200, 1000)));
  // an event without a start time makes no span, and --stats says so
  const timeless = httpEv('300-1', 'GET', 200, 1000) as { pano: Record<string, unknown> };
  delete timeless.pano.start_ns;
  lines.push(JSON.stringify(timeless));
  const run = runExport(['--stats', '--otlp', `http://127.0.0.1:${port}`, '--otlp-queue', '100', '--otlp-batch', '50', '--otlp-delay', '10', '--otlp-timeout', '300', '--otlp-flush-timeout', '1000', '--tee']);
  run.child.stdin.end(lines.join('\n') + '\n');
  assert.equal(await run.exited, 0, run.stderr());
  assert.equal(run.stdout(), lines.join('\n') + '\n', 'every event passed through');
  const stat = (name: string) => Number(new RegExp(`^otlp\\.${name} (\\d+)$`, 'm').exec(run.stderr())?.[1] ?? 0);
  assert.equal(stat('spans'), 300);
  assert.equal(stat('unmappable'), 1);
  assert.equal(stat('sent'), 0);
  assert.equal(stat('lost'), 300, 'all 300 spans counted lost');
  assert.equal(stat('failed') + stat('dropped_queue_full') + stat('lost_at_exit'), 300);
  assert.ok(stat('dropped_queue_full') > 0, 'the bounded queue overflowed while the collector was down');
  assert.match(run.stderr(), /otlp: last export error: .*ECONNREFUSED/);
});

test('traceparent parsing follows W3C trace-context', async () => {
  const { parseTraceparent } = await import('@panopticon/export');
  assert.deepEqual(parseTraceparent(['00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01']), { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: 1 });
  assert.equal(parseTraceparent('00-00000000000000000000000000000000-00f067aa0ba902b7-01'), undefined);
  assert.equal(parseTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01'), undefined);
  assert.equal(parseTraceparent('ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'), undefined);
  assert.equal(parseTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra'), undefined);
  assert.ok(parseTraceparent('01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra'), 'future versions may append fields');
  // ids are lower-case hex; a header with upper-case hex is invalid and ignored (the OpenTelemetry propagator does too)
  assert.equal(parseTraceparent('00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01'), undefined);
  assert.equal(parseTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01'), undefined);
});
