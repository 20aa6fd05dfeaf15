// Servers that write their SETTINGS frame on accept, before the client's
// preface arrives (nghttpd, Go's net/http, node's http2 with settings): the
// capture's first payload is the server's, one SETTINGS frame alone. Node's
// http2 server and curl --http2-prior-knowledge, with a relay between them
// that holds curl's bytes until the server has spoken, so the order is the
// same on every run; the server leg is captured and compared with curl and
// with tshark.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LoopbackCapture } from '../helpers/loopback-capture.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';
import { tsharkFields } from '../helpers/tshark.js';

const execFileAsync = promisify(execFile);
const missing = ['/usr/bin/tcpdump', '/usr/bin/tshark', '/usr/bin/curl'].filter((p) => !existsSync(p));
const dir = mkdtempSync(join(tmpdir(), 'pano-h2-server-first-'));
let server: http2.Http2Server;
let relay: net.Server;
let port = 0;
let relayPort = 0;

before(async () => {
  // A non-default setting makes the SETTINGS frame 15 bytes: 00 00 06 04 00 00 00 00 00 00 03 00 00 00 64.
  server = http2.createServer({ settings: { maxConcurrentStreams: 100 } });
  server.on('stream', (stream, headers) => {
    const path = String(headers[':path']);
    stream.on('data', () => {});
    stream.on('end', () => {
      if (path === '/missing') stream.respond({ ':status': 404 });
      else stream.respond({ ':status': 200, 'content-type': 'text/plain' });
      stream.end(`${headers[':method']} ${path}\n`);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as { port: number }).port;
  relay = net.createServer((client) => {
    client.pause();
    const upstream = net.connect(port, '127.0.0.1');
    upstream.once('data', (first) => {
      client.write(first);
      client.pipe(upstream);
      upstream.pipe(client);
    });
    const done = () => (client.destroy(), upstream.destroy());
    client.on('error', done).on('close', done);
    upstream.on('error', done).on('close', done);
  });
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
  relayPort = (relay.address() as { port: number }).port;
});

after(() => {
  relay?.close();
  server?.close();
  if (!process.env.PANO_KEEP) rmSync(dir, { recursive: true, force: true });
});

test('a server that sends its SETTINGS before the client preface: HTTP/2 with the right roles, not Kafka; curl and tshark agree', { skip: missing.length ? `missing ${missing.join(', ')}` : false }, async () => {
  const file = join(dir, 'server-first.pcap');
  const cap = new LoopbackCapture(file, `tcp port ${port}`);
  await cap.start();
  const asked: Array<{ method: string; path: string; status: number }> = [];
  try {
    for (const [method, path] of [['GET', '/index.html'], ['GET', '/missing'], ['POST', '/form']]) {
      const args = ['-s', '-o', '/dev/null', '-w', '%{http_version} %{response_code}', '--http2-prior-knowledge', ...(method === 'POST' ? ['-d', 'name=alice'] : []), `http://127.0.0.1:${relayPort}${path}`];
      const { stdout } = await execFileAsync('curl', args);
      const [version, status] = stdout.split(' ');
      assert.equal(version, '2');
      asked.push({ method, path, status: Number(status) });
    }
  } finally {
    await cap.stop();
  }
  // The capture shows the order this test is about: each connection's first payload is the server's SETTINGS.
  const firsts = new Map<string, string>();
  for (const [stream, src, payload] of tsharkFields(file, ['tcp.stream', 'tcp.srcport', 'tcp.payload'], 'tcp.len > 0')) if (!firsts.has(stream)) firsts.set(stream, `${src} ${payload}`);
  assert.deepEqual([...firsts.values()], asked.map(() => `${port} 000006040000000000000300000064`));

  const { events, stats } = parseCaptureSync(file);
  assertValidEvents(events);
  assert.equal(stats.protocols['dispatch.kafka_connections'], undefined);
  assert.deepEqual(
    (events as any[]).map((e) => [e.pano.protocol, e.pano.kind, e.server.port, e.http.request.method, e.url.path, e.http.response.status_code, e.http.response.body.content]),
    asked.map((a) => ['http2', 'exchange', port, a.method, a.path, a.status, `${a.method} ${a.path}\n`]),
  );
  // tshark's reading of the same streams.
  const oracle = tsharkFields(file, ['tcp.srcport', 'http2.header.name', 'http2.header.value'], 'http2.type == 1', ['-d', `tcp.port==${port},http2`]);
  const requests = oracle.filter(([src]) => Number(src) !== port).map(([, names, values]) => {
    const n = names.split(','), v = values.split(',');
    return `${v[n.indexOf(':method')]} ${v[n.indexOf(':path')]}`;
  });
  assert.deepEqual(requests, asked.map((a) => `${a.method} ${a.path}`));
});
