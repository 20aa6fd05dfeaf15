// A test OTLP/HTTP receiver decoding ExportTraceServiceRequest with the official
// OTLP protobuf definitions (protobufjs code generated from opentelemetry-proto,
// as shipped by @opentelemetry/otlp-transformer 0.57, installed under an alias).
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
// eslint-disable-next-line @typescript-eslint/no-require-imports
const root = require('otlp-proto-0.57/build/src/generated/root.js');
const ExportTraceServiceRequest = root.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
const ExportTraceServiceResponse = root.opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse;

export interface DecodedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: Record<string, unknown>;
  /** the span's dropped_attributes_count */
  droppedAttributesCount: number;
  status: { code: number; message: string };
  links: Array<{ traceId: string; spanId: string }>;
}

function hex(b: Uint8Array | undefined): string {
  return b ? Buffer.from(b).toString('hex') : '';
}

function anyValue(v: Record<string, unknown>): unknown {
  if ('stringValue' in v) return v.stringValue;
  if ('intValue' in v) return Number(v.intValue);
  if ('doubleValue' in v) return v.doubleValue;
  if ('boolValue' in v) return v.boolValue;
  if ('arrayValue' in v) return ((v.arrayValue as { values?: Array<Record<string, unknown>> }).values ?? []).map(anyValue);
  return undefined;
}

export async function receiver(): Promise<{ server: Server; url: string; spans: DecodedSpan[]; resources: Array<Record<string, unknown>>; requests: number }> {
  const state = { spans: [] as DecodedSpan[], resources: [] as Array<Record<string, unknown>>, requests: 0 };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      state.requests++;
      assert.equal(req.url, '/v1/traces');
      assert.equal(req.headers['content-type'], 'application/x-protobuf');
      const msg = ExportTraceServiceRequest.decode(Buffer.concat(chunks));
      const obj = ExportTraceServiceRequest.toObject(msg, { longs: String, bytes: Array, defaults: true });
      for (const rs of obj.resourceSpans) {
        state.resources.push(Object.fromEntries(rs.resource.attributes.map((a: { key: string; value: Record<string, unknown> }) => [a.key, anyValue(a.value)])));
        for (const ss of rs.scopeSpans) {
          for (const s of ss.spans) {
            state.spans.push({
              traceId: hex(s.traceId), spanId: hex(s.spanId), parentSpanId: hex(s.parentSpanId), name: s.name, kind: s.kind,
              startTimeUnixNano: s.startTimeUnixNano, endTimeUnixNano: s.endTimeUnixNano,
              attributes: Object.fromEntries(s.attributes.map((a: { key: string; value: Record<string, unknown> }) => [a.key, anyValue(a.value)])),
              droppedAttributesCount: s.droppedAttributesCount,
              status: { code: s.status?.code ?? 0, message: s.status?.message ?? '' },
              links: (s.links ?? []).map((l: { traceId: Uint8Array; spanId: Uint8Array }) => ({ traceId: hex(l.traceId), spanId: hex(l.spanId) })),
            });
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/x-protobuf' });
      res.end(ExportTraceServiceResponse.encode(ExportTraceServiceResponse.create({})).finish());
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return Object.assign(state, { server, url: `http://127.0.0.1:${port}` });
}

