// TLS handshakes of real clients and servers: curl (OpenSSL) against Node's https server (OpenSSL)
// on loopback, with a certificate made here by the openssl command, captured with tcpdump. The event
// holds what curl itself reported (version, cipher, ALPN), the SNI curl sent, the certificate as
// openssl reads it (before TLS 1.3, where it is in the clear), and tshark agrees on each.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { createServer, type Server } from 'node:https';
import { createServer as createHttpServer } from 'node:http';
import { connect } from 'node:net';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LoopbackCapture, freePort } from '../helpers/loopback-capture.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';
import { tsharkFields } from '../helpers/tshark.js';

const missing = ['/usr/bin/curl', '/usr/bin/openssl', '/usr/bin/tcpdump', '/usr/bin/tshark'].filter((p) => !existsSync(p));
const skip = missing.length ? `missing ${missing.join(', ')}` : false;
const dir = mkdtempSync(join(tmpdir(), 'pano-tls-'));
let server: Server | undefined;
let port = 0;

before(async () => {
  if (skip) return;
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '30',
    '-subj', '/O=Panopticon Test/CN=shop.example.test', '-addext', 'subjectAltName=DNS:shop.example.test,DNS:api.example.test',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'pipe' });
  server = createServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')), ALPNProtocols: ['http/1.1'] }, (_req, res) => res.end('ok'));
  port = await freePort();
  await new Promise<void>((r) => server!.listen(port, '127.0.0.1', r));
});
after(() => {
  server?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** curl -v's own account of its handshake: "SSL connection using TLSv1.3 / TLS_AES_256_GCM_SHA384", "ALPN: server accepted http/1.1". */
function curlSaw(stderr: string): { version: string; cipher: string; alpn: string | undefined } {
  const m = /SSL connection using TLSv(1\.[0-3]) \/ (\S+)/.exec(stderr);
  assert.ok(m, stderr);
  const alpn = /ALPN: server accepted (\S+)/.exec(stderr)?.[1];
  return { version: m[1]!, cipher: m[2]!, alpn };
}

test('curl to an https server, TLS 1.3 and 1.2: SNI, versions, cipher and ALPN as curl reported them, the certificate as openssl reads it, tshark agreeing', { skip }, async () => {
  const file = join(dir, 'tls.pcap');
  const cap = new LoopbackCapture(file, `tcp port ${port}`);
  await cap.start();
  const saw: Array<ReturnType<typeof curlSaw> & { max: string }> = [];
  try {
    for (const max of ['1.3', '1.2']) {
      const { stderr } = await promisify(execFile)('curl', ['-sv', '-k', '--http1.1', '--tls-max', max, '--resolve', `shop.example.test:${port}:127.0.0.1`, `https://shop.example.test:${port}/`], { encoding: 'utf8' });
      saw.push({ ...curlSaw(stderr), max });
    }
  } finally {
    await cap.stop();
  }
  const { events } = parseCaptureSync(file);
  assertValidEvents(events);
  const tls = (events as any[]).filter((e) => e.pano.protocol === 'tls');
  assert.equal(tls.length, 2);
  // the certificate, independently: openssl's subject, SAN and SHA-256 fingerprint
  const x509 = (...a: string[]) => execFileSync('openssl', ['x509', '-in', join(dir, 'cert.pem'), '-noout', ...a], { encoding: 'utf8' }).trim();
  const fingerprint = x509('-fingerprint', '-sha256').split('=')[1]!.replace(/:/g, '').toLowerCase();
  tls.forEach((e, i) => {
    const s = saw[i]!;
    assert.equal(e.pano.kind, 'exchange');
    assert.equal(e.pano.flags, undefined);
    assert.equal(e.server.port, port);
    assert.equal(e.tls.protocol.version, s.version);
    assert.equal(e.tls.cipher, s.cipher.replace(/^ECDHE-ECDSA-AES256-GCM-SHA384$/, 'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384').replace(/^ECDHE-ECDSA-AES128-GCM-SHA256$/, 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256'));
    // TLS 1.3 answers ALPN in EncryptedExtensions: not in the clear
    assert.equal(e.tls.next_protocol, s.version === '1.3' ? undefined : s.alpn);
    assert.equal(e.tls.established, true);
    assert.equal(e.tls.resumed, false);
    assert.equal(e.tls.client.server_name, 'shop.example.test');
    assert.deepEqual(e.tls.client.alpn, ['http/1.1']);
    if (s.version === '1.3') {
      assert.ok(e.tls.client.supported_versions.includes('1.3'));
      assert.equal(e.tls.server.subject, undefined, 'TLS 1.3 sends the certificate encrypted');
    } else {
      assert.equal(e.tls.server.subject, 'O=Panopticon Test, CN=shop.example.test');
      assert.equal(e.tls.server.alt_names, 'DNS:shop.example.test, DNS:api.example.test');
      assert.equal(e.tls.server.hash.sha256, fingerprint);
      assert.equal(Date.parse(e.tls.server.not_after), Date.parse(x509('-enddate').split('=')[1]!));
    }
  });
  // tshark: the SNI, the server's cipher suite and version, per connection
  const rows = tsharkFields(file, ['tcp.srcport', 'tls.handshake.extensions_server_name', 'tls.handshake.ciphersuite', 'tls.handshake.extensions.supported_version', 'tls.handshake.version'], 'tls.handshake.type == 1 || tls.handshake.type == 2', ['-d', `tcp.port==${port},tls`]);
  const hellos = rows.filter(([src]) => Number(src) !== port);
  const serverHellos = rows.filter(([src]) => Number(src) === port);
  assert.deepEqual(hellos.map(([, sni]) => sni), ['shop.example.test', 'shop.example.test']);
  const V: Record<string, string> = { '0x0304': '1.3', '0x0303': '1.2' };
  assert.deepEqual(serverHellos.map(([, , , sv, v]) => V[sv || v!]), tls.map((e) => e.tls.protocol.version));
  // JA3 and JA3S as tshark computes them
  const ja3 = tsharkFields(file, ['tls.handshake.ja3', 'tls.handshake.ja3s'], 'tls.handshake.type == 1 || tls.handshake.type == 2', ['-d', `tcp.port==${port},tls`]);
  assert.deepEqual(ja3.filter(([c]) => c).map(([c]) => c), tls.map((e) => e.tls.client.ja3));
  assert.deepEqual(ja3.filter(([, sh]) => sh).map(([, sh]) => sh), tls.map((e) => e.tls.server.ja3s));
});

test('a server that refuses the handshake (no shared protocol version): the alert is the error, the handshake not established', { skip }, async () => {
  const file = join(dir, 'alert.pcap');
  const cap = new LoopbackCapture(file, `tcp port ${port}`);
  await cap.start();
  try {
    // the server speaks TLS 1.2 and 1.3; a client held to TLS 1.1 gets a protocol_version alert
    await promisify(execFile)('curl', ['-s', '-k', '--tlsv1.1', '--tls-max', '1.1', '--resolve', `shop.example.test:${port}:127.0.0.1`, `https://shop.example.test:${port}/`]).catch(() => undefined);
  } finally {
    await cap.stop();
  }
  const { events } = parseCaptureSync(file);
  assertValidEvents(events);
  const tls = (events as any[]).filter((e) => e.pano.protocol === 'tls');
  assert.equal(tls.length, 1);
  const [alert] = tsharkFields(file, ['tls.alert_message.desc'], 'tls.alert_message', ['-d', `tcp.port==${port},tls`]);
  assert.ok(alert, 'tshark sees an alert');
  assert.equal(tls[0].tls.established, false);
  assert.equal(tls[0].tls.client.server_name, 'shop.example.test');
  assert.equal(tls[0].error.type, tls[0].tls.alert);
  assert.equal({ 70: 'protocol_version', 40: 'handshake_failure', 80: 'internal_error' }[Number(alert[0])], tls[0].tls.alert);
});

test('curl through an HTTP proxy (CONNECT, then TLS inside the tunnel): the CONNECT exchange, then the tunnel\'s TLS handshake with the SNI curl sent, on the same connection', { skip }, async () => {
  // a forwarding proxy as proxies do it: on CONNECT, a TCP connection to the target, then bytes both ways
  const proxy = createHttpServer();
  proxy.on('connect', (req, socket, head) => {
    const [, p] = req.url!.split(':');
    const upstream = connect(Number(p), '127.0.0.1', () => {
      socket.write('HTTP/1.1 200 Connection established\r\n\r\n');
      if (head.length) upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    upstream.on('error', () => socket.destroy());
    socket.on('error', () => upstream.destroy());
  });
  const proxyPort = await freePort();
  await new Promise<void>((r) => proxy.listen(proxyPort, '127.0.0.1', r));
  const file = join(dir, 'connect.pcap');
  const cap = new LoopbackCapture(file, `tcp port ${proxyPort}`);
  await cap.start();
  try {
    await promisify(execFile)('curl', ['-s', '-k', '-x', `http://127.0.0.1:${proxyPort}`, '--resolve', `shop.example.test:${port}:127.0.0.1`, `https://shop.example.test:${port}/`]);
  } finally {
    await cap.stop();
    proxy.close();
  }
  const { events, stats } = parseCaptureSync(file);
  assertValidEvents(events);
  const [connectEv, tlsEv] = events as any[];
  assert.equal(events.length, 2);
  assert.equal(connectEv.http.request.method, 'CONNECT');
  assert.deepEqual(connectEv.url, { domain: 'shop.example.test', port });
  assert.equal(connectEv.http.response.status_code, 200);
  assert.equal(tlsEv.pano.protocol, 'tls');
  assert.equal(tlsEv.pano.connection.id, connectEv.pano.connection.id);
  assert.equal(tlsEv.tls.client.server_name, 'shop.example.test');
  assert.equal(tlsEv.tls.established, true);
  assert.equal(stats.protocols['http.connect_tunnel'], 1);
  // tshark reads the tunnel's ClientHello too
  const rows = tsharkFields(file, ['tls.handshake.extensions_server_name'], 'tls.handshake.type == 1', ['-d', `tcp.port==${proxyPort},http`]);
  assert.deepEqual(rows.map(([sni]) => sni), ['shop.example.test']);
});
