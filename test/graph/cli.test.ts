// pano-graph as a command: --window snapshots, bad input, closed pipes, help.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { ROOT } from './pipeline.js';

const T0 = 1_700_000_000_000_000_000n;
const graph = (args: string[], input: string) =>
  spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', resolve(ROOT, 'test/graph/run-stage.ts'), '@panopticon/graph/main', ...args], { cwd: ROOT, input, encoding: 'utf8' });

function ev(id: string, startS: number, server: string, extra: Record<string, unknown> = {}) {
  const start = T0 + BigInt(startS) * 1_000_000_000n;
  return JSON.stringify({
    pano: { v: 1, id, kind: 'exchange', protocol: 'http', start_ns: start.toString(), end_ns: (start + 1_000_000n).toString(), duration_ns: 1_000_000, time: '', source: { type: 'pcap' }, connection: { id: 1, roles: 'syn' } },
    client: { address: '10.0.0.1', port: 40000 }, server: { address: server, port: 80 }, ...extra,
  });
}

test('--window 10s: one NDJSON snapshot per window of event time; names carry over, stats do not', () => {
  // T0 is a multiple of 10 s, so windows are [0,10), [10,20), [20,30) seconds after T0
  const dns = JSON.stringify({
    pano: { v: 1, id: '9-1', kind: 'exchange', protocol: 'dns', start_ns: T0.toString(), end_ns: (T0 + 1000n).toString(), duration_ns: 1000, time: '', source: { type: 'pcap' }, connection: { id: 9, roles: 'port' } },
    client: { address: '10.0.0.1', port: 5353 }, server: { address: '10.0.0.53', port: 53 },
    dns: { question: { name: 'api.example', type: 'A' }, response_code: 'NOERROR', answers: [{ name: 'api.example', type: 'A', class: 'IN', ttl: 60, data: '10.0.0.2' }] },
  });
  const lines = [dns, ev('1-1', 1, '10.0.0.2'), ev('1-2', 9, '10.0.0.2'), ev('1-3', 12, '10.0.0.2'), ev('1-4', 25, '10.0.0.3'), ev('1-5', 24, '10.0.0.2')];
  const r = graph(['--window', '10s', '--stats'], lines.join('\n') + '\n');
  assert.equal(r.status, 0, r.stderr);
  const snaps = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(snaps.map((s) => s.window.start_ns), [T0, T0 + 10_000_000_000n, T0 + 20_000_000_000n].map(String));
  assert.deepEqual(snaps.map((s) => s.window.end_ns), [T0 + 10_000_000_000n, T0 + 20_000_000_000n, T0 + 30_000_000_000n].map(String));
  const http = (s: any) => s.edges.filter((e: any) => e.protocol === 'http').map((e: any) => [e.target, e.requests]);
  assert.deepEqual(http(snaps[0]), [['api.example', 2]]);
  assert.deepEqual(http(snaps[1]), [['api.example', 1]], 'the name learnt in the first window still applies');
  assert.deepEqual(http(snaps[2]), [['10.0.0.3', 1], ['api.example', 1]]);
  assert.match(r.stderr, /^graph\.snapshots 3$/m);
  // --stats counts every window's events, not the last window's two
  assert.match(r.stderr, /^graph\.events 6$/m);
});

test('--window: events left out at the limits in an earlier window are reported at exit, with or without --stats', () => {
  // --max-edges 1: the first window's second edge is left out; the last window has room for its one edge
  const lines = [ev('1-1', 1, '10.0.0.2'), ev('1-2', 2, '10.0.0.3'), ev('1-3', 12, '10.0.0.2')];
  const quiet = graph(['--window', '10s', '--max-edges', '1'], lines.join('\n') + '\n');
  assert.equal(quiet.status, 0, quiet.stderr);
  assert.deepEqual(quiet.stdout.trim().split('\n').map((l) => JSON.parse(l).counts.dropped_edge_limit), [1, 0]);
  assert.equal(quiet.stderr, 'pano-graph: 0 bad lines, 0 oversized, 1 events dropped at limits (see --stats)\n');
  const stats = graph(['--window', '10s', '--max-edges', '1', '--stats'], lines.join('\n') + '\n');
  assert.match(stats.stderr, /^graph\.events 3$/m);
  assert.match(stats.stderr, /^graph\.dropped_edge_limit 1$/m);
});

test('--window: each snapshot counts its own window: late events, bad lines, expired names', () => {
  const dns = JSON.stringify({
    pano: { v: 1, id: '9-1', kind: 'exchange', protocol: 'dns', start_ns: T0.toString(), end_ns: (T0 + 1000n).toString(), duration_ns: 1000, time: '', source: { type: 'pcap' }, connection: { id: 9, roles: 'port' } },
    client: { address: '10.0.0.1', port: 5353 }, server: { address: '10.0.0.53', port: 53 },
    dns: { question: { name: 'api.example', type: 'A' }, response_code: 'NOERROR', answers: [{ name: 'api.example', type: 'A', class: 'IN', ttl: 60, data: '10.0.0.2' }] },
  });
  // windows [0,10) [10,20) [20,30) s; the answer names 10.0.0.2 for 5 s (--name-ttl), so the
  // event at 12 s finds it expired; the event at 5 s read in the second window is late there,
  // as is the bad line read there
  const lines = [dns, ev('1-1', 1, '10.0.0.2'), ev('1-2', 12, '10.0.0.2'), ev('1-3', 5, '10.0.0.2'), 'not json', ev('1-4', 25, '10.0.0.2'), ev('1-5', 26, '10.0.0.3')];
  const r = graph(['--window', '10s', '--name-ttl', '5s'], lines.join('\n') + '\n');
  assert.equal(r.status, 0, r.stderr);
  const counts = r.stdout.trim().split('\n').map((l) => JSON.parse(l).counts);
  // by hand, window by window: [events, late_events, bad_lines, names_expired]
  assert.deepEqual(counts.map((c) => [c.events, c.late_events, c.bad_lines, c.names_expired]), [[2, 0, 0, 0], [2, 1, 1, 1], [2, 0, 0, 0]]);
});

test('bad lines are skipped and counted, named by line; --strict makes them fatal after writing the graph before them; --window needs json', () => {
  const input = [ev('1-1', 1, '10.0.0.2'), '{"not":"an event"}', 'garbage', ev('1-2', 2, '10.0.0.2')].join('\n') + '\n';
  const r = graph([], input);
  assert.equal(r.status, 0);
  assert.equal(JSON.parse(r.stdout).edges[0].requests, 2);
  assert.equal(JSON.parse(r.stdout).counts.bad_lines, 2);
  assert.match(r.stderr, /^pano-graph: stdin:2: no "pano" envelope; line skipped$/m);
  assert.match(r.stderr, /^pano-graph: stdin:3: not JSON .*; line skipped$/m);
  const strict = graph(['--strict'], input);
  assert.equal(strict.status, 2);
  assert.equal(strict.stderr, 'pano-graph: stdin:2: no "pano" envelope\n');
  // the graph of the events before the bad line is written, as on SIGINT: the one request of line 1
  assert.equal(JSON.parse(strict.stdout).edges[0].requests, 1);
  const strictWindows = graph(['--strict', '--window', '1s'], input);
  assert.equal(strictWindows.status, 2);
  assert.deepEqual(strictWindows.stdout.trim().split('\n').map((l) => JSON.parse(l).edges[0].requests), [1]);
  // a window past 2^53 ns lost precision (its end printed as 8639999999913599887736832)
  const huge = graph(['--window', '99999999999d'], input);
  assert.equal(huge.status, 2);
  assert.equal(huge.stderr, 'pano-graph: --window: duration "99999999999d" is longer than 100 years\n');
  // duration errors name their option
  const zero = graph(['--window', '0'], input);
  assert.equal(zero.status, 2);
  assert.equal(zero.stderr, 'pano-graph: --window: duration "0" must be greater than zero\n');
  const ttl = graph(['--name-ttl', '5x'], input);
  assert.equal(ttl.status, 2);
  assert.equal(ttl.stderr, 'pano-graph: --name-ttl: invalid duration "5x" (use e.g. 500ms, 10s, 5m, 1h)\n');
  const w = graph(['--window', '1m', '-f', 'dot'], input);
  assert.equal(w.status, 2);
  assert.equal(w.stderr, 'pano-graph: --window writes NDJSON snapshots; it needs --format json\n');
  const missing = graph(['/nonexistent/events.jsonl'], '');
  assert.equal(missing.status, 2);
  assert.equal(missing.stderr, 'pano-graph: /nonexistent/events.jsonl: no such file\n');
});

test('a closed stdout (| head) ends quietly with status 0; --help has examples', () => {
  const lines = [];
  for (let i = 0; i < 2000; i++) lines.push(ev(`${i}-1`, i, `10.0.${i >> 8}.${i & 255}`));
  const r = spawnSync('bash', ['-c', `set -o pipefail; ${[process.execPath, '--conditions=source', '--import', 'tsx', resolve(ROOT, 'test/graph/run-stage.ts'), '@panopticon/graph/main', '--window', '1s'].map((a) => `'${a}'`).join(' ')} | head -1 > /dev/null`], { cwd: ROOT, input: lines.join('\n') + '\n', encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '');
  const help = graph(['--help'], '');
  assert.equal(help.status, 0);
  assert.match(help.stdout, /Examples:\n {2}pano-parse capture.pcapng \| pano-graph/);
  assert.equal(graph(['--version'], '').stdout, '0.1.0\n');
});

test('option errors are one line naming the command, exit status 2 (pano-graph(1) EXIT STATUS)', () => {
  for (const [args, re] of [
    [['--bogus'], /^pano-graph: unknown option '--bogus'\n$/],
    [['--format', 'svg'], /^pano-graph: option '-f, --format <format>' argument 'svg' is invalid\. Allowed choices are json, dot, mermaid, html\.\n$/],
  ] as Array<[string[], RegExp]>) {
    const r = graph(args, '');
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
  }
});
