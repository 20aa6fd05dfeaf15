// --prometheus: a real Prometheus server scrapes pano-export and its HTTP API
// returns the series with the values computed by hand from the events fed;
// promtool checks the exposition; health, readiness, state and the bearer token.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ev, httpEv, runExport, until, T0 } from './fixtures.js';

const PROMETHEUS = '/usr/bin/prometheus';
const PROMTOOL = '/usr/bin/promtool';

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

// Traffic: 4 GET 200 (2,4,6,8 ms) and 1 POST 503 (100 ms) to 10.0.0.2:80,
// 2 DNS queries (1 NOERROR, 1 NXDOMAIN) to 10.0.0.53:53, one with a PII finding.
function traffic(): string[] {
  const out = [];
  for (let i = 0; i < 4; i++) out.push(httpEv(`1-${i}`, 'GET', 200, (i + 1) * 2_000_000, { startNs: T0 + BigInt(i) * 10_000_000n }));
  out.push(httpEv('2-1', 'POST', 503, 100_000_000, { groups: { pii: [{ type: 'email', path: 'http.request.body.content', start: 0, end: 9, confidence: 0.9, detector: 'regex', validator: null }] } }));
  for (const [id, rcode] of [['3-1', 'NOERROR'], ['3-2', 'NXDOMAIN']] as const) {
    out.push(ev({ id, protocol: 'dns', server: ['10.0.0.53', 53], reqBytes: 30, resBytes: 60, durNs: 500_000,
      groups: { network: { transport: 'udp', type: 'ipv4' }, dns: { question: { name: 'x.example', type: 'A' }, response_code: rcode }, ...(rcode !== 'NOERROR' ? { error: { type: rcode } } : {}) } }));
  }
  return out.map((e) => JSON.stringify(e));
}

test('Prometheus scrapes pano-export; the API returns the series; promtool accepts the exposition', { skip: !existsSync(PROMETHEUS) && 'prometheus is not installed' }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pano-prom-'));
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, 's3cret-token\n', { mode: 0o600 });
  const run = runExport(['--prometheus', '127.0.0.1:0', '--token-file', tokenFile]);
  let prom: ReturnType<typeof spawn> | undefined;
  try {
    const [, port] = await run.waitStderr(/http:\/\/127\.0\.0\.1:(\d+)\//);
    const base = `http://127.0.0.1:${port}`;
    const auth = { headers: { authorization: 'Bearer s3cret-token' } };
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    assert.equal((await fetch(`${base}/metrics`)).status, 401, 'token required');
    assert.equal((await fetch(`${base}/metrics`, { headers: { authorization: 'Bearer wrong-token!' } })).status, 401);
    assert.equal((await fetch(`${base}/readyz`, auth)).status, 503, 'not ready before input');

    run.child.stdin.write(traffic().join('\n') + '\n' + 'garbage line\n');
    await until('ready', async () => ((await fetch(`${base}/readyz`, auth)).status === 200 ? true : undefined));
    const state = await until('7 events', async () => {
      const s = (await (await fetch(`${base}/debug/state`, auth)).json()) as { input: { events: number; bad_lines: number } };
      return s.input.events === 7 ? s : undefined;
    });
    assert.equal(state.input.bad_lines, 1);

    const exposition = await (await fetch(`${base}/metrics`, auth)).text();
    const check = spawnSync(PROMTOOL, ['check', 'metrics'], { input: exposition, encoding: 'utf8' });
    assert.equal(check.status, 0, `promtool: ${check.stdout}${check.stderr}`);

    // a real Prometheus scraping with the bearer token
    const promPort = await freePort();
    writeFileSync(join(dir, 'prometheus.yml'), [
      'global: { scrape_interval: 1s, evaluation_interval: 1s }',
      'scrape_configs:',
      '  - job_name: pano',
      `    authorization: { type: Bearer, credentials_file: ${tokenFile} }`,
      `    static_configs: [ { targets: ["127.0.0.1:${port}"] } ]`,
      '',
    ].join('\n'));
    prom = spawn(PROMETHEUS, [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`, '--log.level=warn'], { stdio: 'ignore' });
    const query = async (q: string) => {
      const r = (await (await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(q)}`)).json()) as { status: string; data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
      return r.status === 'success' && r.data.result.length > 0 ? r.data.result : undefined;
    };
    const requests = await until('pano_requests_total in Prometheus', () => query('pano_requests_total'), 60_000);
    const byKey = Object.fromEntries(requests.map((s) => [`${s.metric.protocol} ${s.metric.server} ${s.metric.operation} ${s.metric.status_class}`, Number(s.value[1])]));
    assert.deepEqual(byKey, {
      'http 10.0.0.2:80 GET 2xx': 4,
      'http 10.0.0.2:80 POST 5xx': 1,
      'dns 10.0.0.53:53 A ok': 1,
      'dns 10.0.0.53:53 A error': 1,
    });
    for (const s of requests) assert.equal(s.metric.job, 'pano');
    const errors = (await query('pano_errors_total'))!;
    assert.deepEqual(Object.fromEntries(errors.map((s) => [`${s.metric.protocol} ${s.metric.error_type}`, Number(s.value[1])])), { 'http 503': 1, 'dns NXDOMAIN': 1 });
    // 5 HTTP exchanges of 2, 4, 6, 8, 100 ms: le=0.005 holds 2 (2, 4 ms), le=0.01 holds 4; count 5; sum 0.12 s
    const le = (await query('pano_request_duration_seconds_bucket{protocol="http",le="0.005"}'))!;
    assert.equal(Number(le[0]!.value[1]), 2);
    assert.equal(Number((await query('pano_request_duration_seconds_bucket{protocol="http",le="0.01"}'))![0]!.value[1]), 4);
    assert.equal(Number((await query('pano_request_duration_seconds_count{protocol="http"}'))![0]!.value[1]), 5);
    assert.ok(Math.abs(Number((await query('pano_request_duration_seconds_sum{protocol="http"}'))![0]!.value[1]) - 0.12) < 1e-9);
    const bytes = (await query('pano_bytes_total{protocol="http"}'))!;
    assert.deepEqual(Object.fromEntries(bytes.map((s) => [s.metric.direction, Number(s.value[1])])), { client_to_server: 500, server_to_client: 5000 });
    const pii = (await query('pano_pii_findings_total'))!;
    assert.deepEqual(pii.map((s) => [s.metric.pii_type, s.metric.protocol, s.metric.direction, s.value[1]]), [['email', 'http', 'client_to_server', '1']]);
    assert.equal((await query('pano_export_events_in_total'))![0]!.value[1], '7');
    assert.equal((await query('pano_export_parse_failures_total'))![0]!.value[1], '1');
  } finally {
    prom?.kill('SIGTERM');
    if (prom && prom.exitCode === null) await new Promise((r) => prom!.once('exit', r));
    run.child.kill('SIGTERM');
    await run.exited;
    rmSync(dir, { recursive: true, force: true });
  }
});

test('label cardinality is bounded: servers past the limit become "other" and are counted', async () => {
  const { MetricsSink } = await import('@panopticon/export');
  const health = { eventsIn: () => 0, parseFailures: () => 0, dropped: () => [], queueDepths: () => [] };
  const m = new MetricsSink(health, { labelLimits: { server: 3 } });
  for (let i = 0; i < 10; i++) m.accept(httpEv(`${i}-1`, 'GET', 200, 1000, { server: [`10.0.1.${i}`, 80] }));
  const text = await m.registry.metrics();
  const servers = [...text.matchAll(/^pano_requests_total\{[^}]*server="([^"]+)"/gm)].map((x) => x[1]);
  assert.deepEqual(servers.sort(), ['10.0.1.0:80', '10.0.1.1:80', '10.0.1.2:80', 'other']);
  assert.match(text, /^pano_requests_total\{[^}]*server="other"[^}]*\} 7$/m);
  assert.match(text, /^pano_export_label_overflow_total\{label="server"\} 7$/m);
});

test('the stage\'s running totals are counters named _total, read anew at each scrape, by label', async () => {
  const { MetricsSink } = await import('@panopticon/export');
  let events = 5;
  let failures = 1;
  const dropped = [{ sink: 'otlp', reason: 'queue_full', count: 2 }];
  const health = { eventsIn: () => events, parseFailures: () => failures, dropped: () => dropped, queueDepths: () => [] };
  const m = new MetricsSink(health, {});
  const first = await m.registry.metrics();
  // rate() and increase() take counters only: these were gauges holding the totals
  for (const name of ['pano_export_events_in_total', 'pano_export_parse_failures_total', 'pano_export_dropped_total', 'pano_export_label_overflow_total']) {
    assert.match(first, new RegExp(`^# TYPE ${name} counter$`, 'm'), name);
  }
  assert.match(first, /^pano_export_events_in_total 5$/m);
  assert.match(first, /^pano_export_dropped_total\{sink="otlp",reason="queue_full"\} 2$/m);
  events = 9;
  failures = 3;
  dropped[0]!.count = 4;
  dropped.push({ sink: 'jsonl', reason: 'write_error', count: 1 });
  const second = await m.registry.metrics();
  assert.match(second, /^pano_export_events_in_total 9$/m);
  assert.match(second, /^pano_export_parse_failures_total 3$/m);
  assert.match(second, /^pano_export_dropped_total\{sink="otlp",reason="queue_full"\} 4$/m);
  assert.match(second, /^pano_export_dropped_total\{sink="jsonl",reason="write_error"\} 1$/m);
});

test('listen address parsing binds loopback by default', async () => {
  const { parseListenAddress } = await import('@panopticon/export');
  assert.deepEqual(parseListenAddress('9464'), { host: '127.0.0.1', port: 9464 });
  assert.deepEqual(parseListenAddress(':9464'), { host: '127.0.0.1', port: 9464 });
  assert.deepEqual(parseListenAddress('[::1]:9464'), { host: '::1', port: 9464 });
  assert.deepEqual(parseListenAddress('0.0.0.0:1'), { host: '0.0.0.0', port: 1 });
  assert.throws(() => parseListenAddress('host:99999'), /invalid listen address/);
});

test('a duration or byte count of 1e999 (Infinity once parsed) is left out of the metrics instead of ending the run', async () => {
  // found by scripts/fuzz-events.ts: prom-client throws on Infinity, and pano-export exited 70
  const { MetricsSink } = await import('@panopticon/export');
  const health = { eventsIn: () => 0, parseFailures: () => 0, dropped: () => [], queueDepths: () => [] };
  const m = new MetricsSink(health, {});
  const text = JSON.stringify(httpEv('1-1', 'GET', 200, 1000, { reqBytes: 10, resBytes: 20 }));
  for (const raw of ['1e999', '-1e999']) {
    for (const field of ['duration_ns', 'request_bytes', 'response_bytes']) {
      m.accept(JSON.parse(text.replace(new RegExp(`"${field}":\\d+`), `"${field}":${raw}`)));
    }
  }
  const out = await m.registry.metrics();
  assert.match(out, /^pano_requests_total\{[^}]*\} 6$/m);
  // the four events whose duration was finite
  assert.match(out, /^pano_request_duration_seconds_count\{[^}]*\} 4$/m);
  // bytes of the four events whose count was finite, each way
  assert.match(out, /^pano_bytes_total\{[^}]*direction="client_to_server"\} 40$/m);
  assert.match(out, /^pano_bytes_total\{[^}]*direction="server_to_client"\} 80$/m);
});
