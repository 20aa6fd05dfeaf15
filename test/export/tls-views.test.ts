// TLS plaintext seen from both ends (pano-events(5) pano.connection.view and
// mirror_of): the metrics count the exchange once, leaving out the view
// captured second; each view is a span of its own end's kind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SpanKind } from '@opentelemetry/api';
import { MetricsSink, spanShapeOf } from '@panopticon/export';
import { httpEv } from './fixtures.js';

function view(id: string, connection: Record<string, unknown>): Record<string, unknown> {
  const e = httpEv(id, 'GET', 200, 2_000_000);
  const pano = e.pano as Record<string, unknown>;
  pano.source = { type: 'tls', library: 'openssl' };
  pano.connection = { roles: 'library', ...connection };
  return e;
}

const health = { eventsIn: () => 0, parseFailures: () => 0, dropped: () => [], queueDepths: () => [] };

test('metrics: the view captured second is not counted again; a lone server view is', async () => {
  const m = new MetricsSink(health);
  m.accept(view('1-1', { id: 1, view: 'server' }));
  m.accept(view('2-1', { id: 2, view: 'client', mirror_of: 1 }));
  m.accept(view('3-1', { id: 3, view: 'server' }));
  const text = await m.registry.metrics();
  const total = [...text.matchAll(/^pano_requests_total\{[^}]*\} (\d+)$/gm)].reduce((n, x) => n + Number(x[1]), 0);
  assert.equal(total, 2, text);
  const bytes = [...text.matchAll(/^pano_bytes_total\{[^}]*direction="client_to_server"\} (\d+)$/gm)].reduce((n, x) => n + Number(x[1]), 0);
  assert.equal(bytes, 200);
});

test('spans: the client view is a CLIENT span, the server view a SERVER span', () => {
  assert.equal(spanShapeOf(view('1-1', { id: 1, view: 'client', mirror_of: 2 }))!.kind, SpanKind.CLIENT);
  assert.equal(spanShapeOf(view('2-1', { id: 2, view: 'server' }))!.kind, SpanKind.SERVER);
  assert.equal(spanShapeOf(view('3-1', { id: 3, view: 'server' }))!.kind, SpanKind.SERVER);
});
