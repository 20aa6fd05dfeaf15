// pano-export fed by a real pipeline (pano-parse | pano-pii over corpus
// captures), all sinks at once: JSONL holds every event line, /metrics counts
// what tshark counts, the OTLP receiver gets one span per event with tshark's
// request/response times, the audit log holds every finding.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ROOT, runExport, until } from './fixtures.js';
import { receiver } from './otlp-receiver.js';

const CORPUS = resolve(ROOT, '../shared/corpus');
const FILES = [join(CORPUS, 'http1/wiregasm-http.cap'), join(CORPUS, 'http1/chrissanders-http_post.pcapng'), join(CORPUS, 'postgresql/zeek-psql-insert-fail-drop-fail.pcap')];
const stage = (pkg: string, args: string[] = []) => [process.execPath, '--conditions=source', '--import', 'tsx', resolve(ROOT, 'test/graph/run-stage.ts'), pkg, ...args].map((a) => `'${a}'`).join(' ');

function tshark(args: string[]): string[][] {
  const r = spawnSync('tshark', args, { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\n').filter(Boolean).map((l) => l.split('\t'));
}
const epochNs = (s: string) => {
  const [sec, frac = ''] = s.split('.');
  return (BigInt(sec!) * 1_000_000_000n + BigInt(frac.padEnd(9, '0').slice(0, 9))).toString();
};

test('real events through every sink at once', { skip: !existsSync(FILES[0]!) && 'corpus not found' }, async () => {
  const piped = spawnSync('bash', ['-c', `set -o pipefail; ${stage('@panopticon/parse', FILES)} | ${stage('@panopticon/pii')}`], { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 26 });
  assert.equal(piped.status, 0, piped.stderr);
  const lines = piped.stdout.split('\n').filter(Boolean);
  const events = lines.map((l) => JSON.parse(l));
  const dir = mkdtempSync(join(tmpdir(), 'pano-export-pipe-'));
  const rx = await receiver();
  const run = runExport(['--jsonl', join(dir, 'e.jsonl'), '--prometheus', '127.0.0.1:0', '--keep-serving', '--otlp', rx.url, '--otlp-delay', '50', '--audit', join(dir, 'audit.log'), '--stats']);
  try {
    const [, port] = await run.waitStderr(/http:\/\/127\.0\.0\.1:(\d+)\//);
    run.child.stdin.end(piped.stdout);
    const metrics = await until('all events counted', async () => {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      return new RegExp(`^pano_export_events_in_total ${events.length}$`, 'm').test(text) ? text : undefined;
    });
    // tshark: HTTP responses by status class, per server
    const responses = FILES.slice(0, 2).flatMap((f) => tshark(['-r', f, '-Y', 'http.response', '-T', 'fields', '-e', 'ip.src', '-e', 'tcp.srcport', '-e', 'http.response.code']));
    const want = new Map<string, number>();
    for (const [ip, p, code] of responses) {
      const k = `${ip}:${p} ${code![0]}xx`;
      want.set(k, (want.get(k) ?? 0) + 1);
    }
    const got = new Map<string, number>();
    for (const m of metrics.matchAll(/^pano_requests_total\{protocol="http",server="([^"]+)",operation="[^"]*",status_class="([^"]+)"\} (\d+)$/gm)) {
      const k = `${m[1]} ${m[2]}`;
      got.set(k, (got.get(k) ?? 0) + Number(m[3]));
    }
    assert.deepEqual(Object.fromEntries([...got].sort()), Object.fromEntries([...want].sort()));
    // PostgreSQL errors: tshark's ErrorResponses
    const pgErrors = tshark(['-r', FILES[2]!, '-Y', 'pgsql.type == "Error"', '-T', 'fields', '-e', 'pgsql.code']).map(([c]) => c!);
    assert.equal(pgErrors.length, 2);
    for (const code of new Set(pgErrors)) {
      assert.match(metrics, new RegExp(`^pano_errors_total\\{protocol="postgresql",server="127\\.0\\.0\\.1:5432",error_type="${code}"\\} ${pgErrors.filter((c) => c === code).length}$`, 'm'));
    }
    run.child.kill('SIGTERM');
    assert.equal(await run.exited, 0, run.stderr());

    // JSONL: every line, byte for byte
    assert.equal(readFileSync(join(dir, 'e.jsonl'), 'utf8'), lines.join('\n') + '\n');
    // OTLP: one span per event; HTTP spans start at tshark's request frame and end at its response frame
    assert.equal(rx.spans.length, events.length);
    const frames = FILES.slice(0, 2).flatMap((f) => tshark(['-r', f, '-Y', 'http', '-T', 'fields', '-e', 'frame.time_epoch', '-e', 'tcp.stream', '-e', 'http.request.method']).map((r) => [f, ...r]));
    const httpSpans = rx.spans.filter((s) => s.attributes['pano.protocol'] === 'http').sort((a, b) => (BigInt(a.startTimeUnixNano) < BigInt(b.startTimeUnixNano) ? -1 : 1));
    const reqs = frames.filter((r) => r[3]).map((r) => epochNs(r[1]!)).sort();
    assert.deepEqual(httpSpans.map((s) => s.startTimeUnixNano).sort(), reqs);
    for (const s of httpSpans) assert.equal(typeof s.attributes['http.response.status_code'], 'number');
    // audit: one export record per finding
    const findings = events.reduce((n, e) => n + (e.pii?.length ?? 0), 0);
    const records = readFileSync(join(dir, 'audit.log'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    assert.equal(records.filter((r) => r.kind === 'export').length, findings);
    assert.match(run.stderr(), new RegExp(`^audit\\.findings ${findings}$`, 'm'));
  } finally {
    if (run.child.exitCode === null) run.child.kill('SIGTERM');
    rx.server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
