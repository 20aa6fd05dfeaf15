/**
 * pano-export speed, as ratios against peers in the same run:
 *  - JSONL sink vs writing the same lines with one fs.writeSync per 64 KiB
 *    (the floor for a file sink) — both in process, same lines;
 *  - Prometheus sink (prom-client counters and histogram per event) and the
 *    OTLP span mapping + SDK span creation, each vs JSON.parse of the same
 *    lines (the floor every NDJSON stage pays);
 *  - OTLP end to end: spans exported to a loopback receiver that only counts
 *    bytes, spans/s.
 * EXPORT_BENCH_EVENTS sets the size (default 50000).
 */
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JsonlSink, MetricsSink, OtlpSink, spanShapeOf } from '@panopticon/export';

const N = Number(process.env.EXPORT_BENCH_EVENTS ?? 50_000);
const T0 = 1_700_000_000_000_000_000n;
const lines: string[] = [];
for (let i = 0; i < N; i++) {
  const start = T0 + BigInt(i) * 1_000_000n;
  lines.push(JSON.stringify({
    pano: { v: 1, id: `${i}-1`, kind: 'exchange', protocol: 'http', start_ns: start.toString(), end_ns: (start + 2_000_000n).toString(), duration_ns: 1_000_000 + (i % 997) * 1000, time: '', source: { type: 'pcap', name: 'bench' }, connection: { id: i, roles: 'syn' }, request_bytes: 200, response_bytes: 1500 },
    client: { address: `10.0.0.${i % 50}`, port: 40000 }, server: { address: `10.1.0.${i % 100}`, port: 80 },
    network: { transport: 'tcp', type: 'ipv4', protocol: { name: 'http', version: '1.1' } },
    http: { request: { method: i % 5 ? 'GET' : 'POST', header: { 'content-type': ['application/json'], ...(i % 4 === 0 ? { traceparent: [`00-${(i + 1).toString(16).padStart(32, '0')}-00f067aa0ba902b7-01`] } : {}) } }, response: { status_code: i % 50 === 1 ? 503 : 200 } },
    url: { path: `/api/items/${i}`, scheme: 'http' },
    ...(i % 3 === 0 ? { pii: [{ type: 'email', path: 'http.request.body.content$.email', start: 0, end: 10, confidence: 0.9, detector: 'regex', validator: null }] } : {}),
  }));
}
const events = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
const mb = lines.reduce((n, l) => n + l.length + 1, 0) / 1e6;

function time(fn: () => void, minMs = 1500): number {
  fn();
  let runs = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < minMs) {
    fn();
    runs++;
    t = performance.now();
  }
  return (t - t0) / runs / 1000;
}
const rate = (t: number) => `${(N / t / 1000).toFixed(0)}k events/s`;
let sink = 0;

const dir = mkdtempSync(join(tmpdir(), 'pano-bench-'));
try {
  const tParse = time(() => {
    for (const l of lines) sink += JSON.parse(l) ? 1 : 0;
  });
  console.log(`input: ${N} events, ${mb.toFixed(1)} MB; JSON.parse floor ${rate(tParse)}`);

  const tFloor = time(() => {
    const fd = openSync(join(dir, 'floor.jsonl'), 'w', 0o600);
    let batch = '';
    for (const l of lines) {
      batch += l + '\n';
      if (batch.length >= 65536) {
        writeSync(fd, batch);
        batch = '';
      }
    }
    writeSync(fd, batch);
    closeSync(fd);
  });
  let k = 0;
  const tJsonl = time(() => {
    const s = new JsonlSink(join(dir, `e${k++}.jsonl`), { rotateBytes: 8 * 1024 * 1024, keep: 2 });
    for (let i = 0; i < N; i++) s.accept(events[i]!, lines[i]!);
    void s.close();
  });
  console.log(`JSONL sink (rotating every 8 MiB): ${rate(tJsonl)}, ${(mb / tJsonl).toFixed(0)} MB/s; batched writeSync floor ${(mb / tFloor).toFixed(0)} MB/s; ratio ${(tJsonl / tFloor).toFixed(2)}`);

  const health = { eventsIn: () => N, parseFailures: () => 0, dropped: () => [], queueDepths: () => [] };
  const tProm = time(() => {
    const m = new MetricsSink(health);
    for (const e of events) m.accept(e);
  });
  console.log(`Prometheus sink: ${rate(tProm)} (${(tProm / tParse).toFixed(2)}× the JSON.parse floor)`);

  const tMap = time(() => {
    for (const e of events) sink += spanShapeOf(e)!.name.length;
  });
  console.log(`span mapping (flatten semconv fields): ${rate(tMap)} (${(tMap / tParse).toFixed(2)}× the JSON.parse floor)`);

  let received = 0;
  let requests = 0;
  const rx = createServer((req, res) => {
    req.on('data', (c: Buffer) => (received += c.length));
    req.on('end', () => {
      requests++;
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((r) => rx.listen(0, '127.0.0.1', r));
  const port = (rx.address() as { port: number }).port;
  const otlp = new OtlpSink({ url: `http://127.0.0.1:${port}`, maxQueue: 100_000, maxBatch: 2048, delayMs: 50 });
  const t0 = performance.now();
  for (const e of events) otlp.accept(e);
  const tCreate = (performance.now() - t0) / 1000;
  await otlp.close();
  const tAll = (performance.now() - t0) / 1000;
  rx.close();
  console.log(`OTLP: span creation ${rate(tCreate)}; exported ${otlp.processor.sent} spans in ${requests} requests (${(received / 1e6).toFixed(1)} MB protobuf) at ${(otlp.processor.sent / tAll / 1000).toFixed(0)}k spans/s end to end; lost ${otlp.lost}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
if (sink < 0) console.log(sink);
