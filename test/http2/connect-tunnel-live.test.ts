// CONNECT tunnels over HTTP/2 (RFC 9113 §8.5) through a forward proxy written with Node's http2 server on
// loopback (h2c): one tunnel to an HTTPS server (Node's, with a certificate made here by openssl) and one
// to a plain HTTP/1.1 server, each driven by Node's own clients over the tunnel stream. The capture is of
// the proxy's port only: what is read of the tunnels comes from the HTTP/2 DATA frames. The events hold
// the SNI and suite the TLS client used, and the HTTP/1.1 request and response as sent.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import https from 'node:https';
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LoopbackCapture, freePort } from '../helpers/loopback-capture.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';

const missing = ['/usr/bin/openssl', '/usr/bin/tcpdump'].filter((p) => !existsSync(p));
const skip = missing.length ? `missing ${missing.join(', ')}` : false;
const dir = mkdtempSync(join(tmpdir(), 'pano-h2connect-'));

before(() => {
  if (skip) return;
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '30',
    '-subj', '/CN=shop.example.test', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'pipe' });
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('an HTTP/2 forward proxy\'s CONNECT tunnels: the TLS handshake and the HTTP/1.1 exchange inside them are read, by stream', { skip }, async () => {
  const [proxyPort, tlsPort, httpPort] = [await freePort(), await freePort(), await freePort()];
  const secure = https.createServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (_q, r) => r.end('secret'));
  const plain = http.createServer((q, r) => {
    r.setHeader('content-type', 'text/plain');
    r.end(`hello ${q.url}`);
  });
  const proxy = http2.createServer();
  const sockets = new Set<net.Socket>();
  proxy.on('stream', (stream, headers) => {
    if (headers[':method'] !== 'CONNECT') return stream.respond({ ':status': 405 }, { endStream: true });
    const [host, port] = String(headers[':authority']).split(':');
    const upstream = net.connect(Number(port), host, () => {
      sockets.add(upstream);
      stream.respond({ ':status': 200 });
      upstream.pipe(stream);
      stream.pipe(upstream);
    });
    upstream.on('error', () => stream.close(http2.constants.NGHTTP2_CONNECT_ERROR));
  });
  await Promise.all([[secure, tlsPort], [plain, httpPort], [proxy, proxyPort]].map(([s, p]) => new Promise<void>((r) => (s as net.Server).listen(p as number, '127.0.0.1', r))));
  const file = join(dir, 'connect.pcap');
  const cap = new LoopbackCapture(file, `tcp port ${proxyPort}`);
  let cipher = '';
  let version = '';
  await cap.start();
  try {
    const client = http2.connect(`http://127.0.0.1:${proxyPort}`);
    const tunnel = (port: number) => new Promise<http2.ClientHttp2Stream>((resolve, reject) => {
      const s = client.request({ ':method': 'CONNECT', ':authority': `127.0.0.1:${port}` });
      s.on('response', (h) => (h[':status'] === 200 ? resolve(s) : reject(new Error(`status ${h[':status']}`))));
      s.on('error', reject);
    });
    // TLS through the first tunnel: a GET over it
    const t1 = await tunnel(tlsPort);
    const body1 = await new Promise<string>((resolve, reject) => {
      const sock = tls.connect({ socket: t1, servername: 'shop.example.test', rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }, () => {
        cipher = sock.getCipher().standardName;
        version = sock.getProtocol()!.replace('TLSv', '');
        sock.write('GET /private HTTP/1.1\r\nHost: shop.example.test\r\nConnection: close\r\n\r\n');
      });
      let got = '';
      sock.on('data', (d) => (got += d));
      sock.on('end', () => resolve(got));
      sock.on('error', reject);
    });
    assert.match(body1, /secret/);
    // HTTP/1.1 in the clear through the second tunnel
    const t2 = await tunnel(httpPort);
    const body2 = await new Promise<string>((resolve) => {
      let got = '';
      t2.on('data', (d) => {
        got += d;
        if (got.includes('hello /through')) resolve(got);
      });
      t2.write('GET /through?x=1 HTTP/1.1\r\nHost: inner.example.test\r\nUser-Agent: tunnel-test\r\n\r\n');
    });
    assert.match(body2, /200 OK/);
    t2.close();
    await new Promise((r) => setTimeout(r, 100));
    client.close();
    await new Promise((r) => setTimeout(r, 100));
    client.destroy();
  } finally {
    await cap.stop();
    // nothing left open to keep the test's process alive: tunnels' upstream sockets, keep-alive connections
    for (const s of sockets) s.destroy();
    secure.closeAllConnections();
    plain.closeAllConnections();
    await Promise.all([secure, plain, proxy].map((s) => new Promise((r) => (s as net.Server).close(r))));
  }
  const { events, stats } = parseCaptureSync(file);
  assertValidEvents(events);
  const evs = events as any[];
  const connects = evs.filter((e) => e.pano.protocol === 'http2');
  assert.deepEqual(connects.map((e) => [e.http2.stream_id, e.http.request.method, e.http.response.status_code, e.http.request.body]), [[1, 'CONNECT', 200, undefined], [3, 'CONNECT', 200, undefined]]);
  const t = evs.filter((e) => e.pano.protocol === 'tls');
  assert.equal(t.length, 1);
  assert.equal(t[0].http2.stream_id, 1);
  assert.equal(t[0].tls.client.server_name, 'shop.example.test');
  assert.equal(t[0].tls.cipher, cipher);
  assert.equal(t[0].tls.protocol.version, version);
  assert.equal(t[0].server.port, proxyPort, 'the connection is the proxy\'s');
  const h = evs.filter((e) => e.pano.protocol === 'http');
  assert.equal(h.length, 1);
  assert.equal(h[0].http2.stream_id, 3);
  assert.equal(h[0].http.request.method, 'GET');
  assert.equal(h[0].url.path, '/through');
  assert.equal(h[0].url.query, 'x=1');
  assert.equal(h[0].http.response.status_code, 200);
  assert.equal(h[0].http.response.body.content, 'hello /through?x=1');
  const counts = stats.protocols as Record<string, number>;
  assert.equal(counts['http2.connect_tunnels'], 2);
  assert.equal(counts['tunnel.tls'], 1);
  assert.equal(counts['tunnel.http'], 1);
});
