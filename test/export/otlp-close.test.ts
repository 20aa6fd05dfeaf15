// --otlp-flush-timeout bounds the whole exit: a collector that never answers,
// or refuses connections while the exporter retries for --otlp-timeout, does
// not hold the exit past it; the spans not delivered are counted lost.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { httpEv, runExport } from './fixtures.js';

const stat = (stderr: string, name: string) => Number(new RegExp(`^otlp\\.${name} (\\d+)$`, 'm').exec(stderr)?.[1] ?? -1);
const lines = (n: number) => Array.from({ length: n }, (_, i) => JSON.stringify(httpEv(`${i}-1`, 'GET', 200, 1000))).join('\n') + '\n';

test('a collector that never answers: exit within --otlp-flush-timeout, the batch in flight counted lost', async () => {
  const sockets = new Set<import('node:net').Socket>();
  const server = createServer((req) => req.resume()); // reads the request, never answers
  server.on('connection', (s) => sockets.add(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  try {
    const run = runExport(['--stats', '--otlp', `http://127.0.0.1:${port}`, '--otlp-delay', '10', '--otlp-timeout', '10000', '--otlp-flush-timeout', '1000']);
    run.child.stdin.write(lines(5));
    // the 5 spans are in flight once the collector has the request
    while (sockets.size === 0) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 100));
    const t0 = Date.now();
    run.child.stdin.end();
    assert.equal(await run.exited, 0, run.stderr());
    const took = Date.now() - t0;
    assert.ok(took < 2500, `exit took ${took} ms with --otlp-flush-timeout 1000 (--otlp-timeout 10000)`);
    assert.ok(took >= 900, `exit took ${took} ms: the flush should have waited for the collector`);
    assert.equal(stat(run.stderr(), 'spans'), 5);
    assert.doesNotMatch(run.stderr(), /^otlp\.sent [1-9]/m, 'nothing reached the collector');
    assert.equal(stat(run.stderr(), 'lost'), 5);
    assert.equal(stat(run.stderr(), 'lost_at_exit'), 5, run.stderr());
  } finally {
    for (const s of sockets) s.destroy();
    server.close();
  }
});

test('a collector refusing connections: --otlp-flush-timeout 100 ends the exporter\'s retries at exit', async () => {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as { port: number }).port;
  await new Promise((r) => probe.close(r));
  const run = runExport(['--otlp', `http://127.0.0.1:${port}`, '--otlp-delay', '10', '--otlp-timeout', '10000', '--otlp-flush-timeout', '100']);
  run.child.stdin.write(lines(3));
  await new Promise((r) => setTimeout(r, 1500)); // started, and the batch is being retried
  const t0 = Date.now();
  run.child.stdin.end();
  assert.equal(await run.exited, 0, run.stderr());
  const took = Date.now() - t0;
  assert.ok(took < 1500, `exit took ${took} ms with --otlp-flush-timeout 100 (--otlp-timeout 10000)`);
  assert.match(run.stderr(), /^pano-export: 0 bad lines, 0 oversized, 3 spans lost \(see --stats\)$/m);
});
