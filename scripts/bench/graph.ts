/**
 * pano-graph speed, as ratios against peers in the same run:
 *  - in process: GraphBuilder.add over parsed events vs JSON.parse of the
 *    same lines (the floor every NDJSON stage pays), and snapshot cost;
 *  - whole command: `pano-graph` (compiled) vs `jq` doing the bare minimum
 *    grouping (client, server, protocol → count) on the same file.
 * Input: generated events (HTTP, DNS answers naming the servers, PostgreSQL,
 * with PII annotations on some). GRAPH_BENCH_EVENTS sets the size (default 100000).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { GraphBuilder } from '@panopticon/graph';

const N = Number(process.env.GRAPH_BENCH_EVENTS ?? 100_000);
const T0 = 1_700_000_000_000_000_000n;
const lines: string[] = [];
for (let i = 0; i < N; i++) {
  const server = `10.1.${(i % 200) >> 8}.${i % 200}`;
  const start = T0 + BigInt(i) * 1_000_000n;
  const pano = { v: 1, id: `${i}-1`, kind: 'exchange', start_ns: start.toString(), end_ns: (start + 2_000_000n).toString(), duration_ns: 1_000_000 + (i % 997) * 1000, time: '', source: { type: 'pcap', name: 'bench' }, connection: { id: i, roles: 'syn' }, request_bytes: 200, response_bytes: 1500 };
  const client = { address: `10.0.0.${i % 50}`, port: 40000 + (i % 20000) };
  if (i % 20 === 0) {
    lines.push(JSON.stringify({ pano: { ...pano, protocol: 'dns' }, client, server: { address: '10.0.0.53', port: 53 }, dns: { question: { name: `svc${i % 200}.example`, type: 'A' }, response_code: 'NOERROR', answers: [{ name: `svc${i % 200}.example`, type: 'A', class: 'IN', ttl: 60, data: server }] } }));
  } else if (i % 7 === 0) {
    lines.push(JSON.stringify({ pano: { ...pano, protocol: 'postgresql' }, client, server: { address: server, port: 5432 }, db: { system: { name: 'postgresql' }, operation: { name: 'SELECT' }, query: { text: 'SELECT * FROM users WHERE id = $1' } } }));
  } else {
    const pii = i % 3 === 0 ? [{ type: 'email', path: 'http.request.body.content$.email', start: 0, end: 10, confidence: 0.9, detector: 'regex', validator: null }] : undefined;
    lines.push(JSON.stringify({ pano: { ...pano, protocol: 'http' }, client, server: { address: server, port: 80 }, http: { request: { method: 'POST', header: { 'content-type': ['application/json'] } }, response: { status_code: i % 50 === 1 ? 503 : 200 } }, url: { path: `/api/${i % 100}` }, ...(pii ? { pii } : {}) }));
  }
}
const bytes = lines.reduce((n, l) => n + l.length + 1, 0);

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

let sink = 0;
const tParse = time(() => {
  for (const l of lines) sink += (JSON.parse(l) as { pano: object }).pano ? 1 : 0;
});
const tBuild = time(() => {
  const g = new GraphBuilder();
  for (const l of lines) g.add(JSON.parse(l));
  sink += g.counters.events;
});
const built = new GraphBuilder();
for (const l of lines) built.add(JSON.parse(l));
const tSnap = time(() => {
  sink += built.snapshot().edges.length;
}, 500);
const snap = built.snapshot();

const mb = bytes / 1e6;
console.log(`input: ${N} events, ${mb.toFixed(1)} MB → ${snap.nodes.length} nodes, ${snap.edges.length} edges`);
console.log(`JSON.parse only:          ${(N / tParse / 1000).toFixed(0)}k events/s  ${(mb / tParse).toFixed(1)} MB/s`);
console.log(`parse + GraphBuilder.add: ${(N / tBuild / 1000).toFixed(0)}k events/s  ${(mb / tBuild).toFixed(1)} MB/s  (${(tBuild / tParse).toFixed(2)}× the parse floor)`);
console.log(`snapshot (names, merge, percentiles): ${(tSnap * 1000).toFixed(1)} ms`);

const bin = resolve(import.meta.dirname, '../../bin/pano-graph');
const dist = resolve(import.meta.dirname, '../../packages/graph/dist/main.js');
const jq = spawnSync('jq', ['--version']).status === 0;
if (existsSync(dist) && jq) {
  const dir = mkdtempSync(join(tmpdir(), 'pano-bench-'));
  try {
    const file = join(dir, 'events.jsonl');
    writeFileSync(file, lines.join('\n') + '\n');
    const wall = (cmd: string, args: string[]) => {
      const t0 = performance.now();
      const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'], maxBuffer: 1 << 30 });
      if (r.status !== 0) throw new Error(`${cmd} failed`);
      return (performance.now() - t0) / 1000;
    };
    const best = (f: () => number) => Math.min(f(), f(), f());
    const tCmd = best(() => wall(process.execPath, [bin, file]));
    const tJq = best(() => wall('jq', ['-n', '-c', 'reduce inputs as $e ({}; .[[$e.client.address, $e.server.address, $e.pano.protocol] | join(" ")] += 1)', file]));
    console.log(`pano-graph ${N} events: ${tCmd.toFixed(2)} s; jq minimal grouping: ${tJq.toFixed(2)} s; ratio pano-graph/jq = ${(tCmd / tJq).toFixed(2)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
} else console.log('whole-command comparison skipped: needs `npm run build` (packages/graph/dist) and jq');
if (sink < 0) console.log(sink);
