// QUIC decrypted with a TLS key log, and the HTTP/3 inside it: ngtcp2's example client and server
// (Debian's gtlsclient and gtlsserver, GnuTLS, which writes SSLKEYLOGFILE) on loopback, captured with
// tcpdump. Three connections: several requests on one with AES-128-GCM and client key updates during a
// 400 KB download (the server sends it with UDP segmentation offload, so the capture holds datagrams
// sent as one), a request with a body under ChaCha20-Poly1305 (ChaCha20 header protection), and one
// under AES-256-GCM after a Retry. Every request and answer is checked against the files served and
// the data sent; the encrypted handshake's ALPN answer and certificate against openssl; tshark,
// decrypting with the same key log, agrees on each request stream's bytes where it reads them whole.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LoopbackCapture, freePort } from '../helpers/loopback-capture.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';

const missing = ['/usr/bin/gtlsclient', '/usr/sbin/gtlsserver', '/usr/bin/openssl', '/usr/bin/tcpdump', '/usr/bin/tshark', '/usr/bin/editcap'].filter((p) => !existsSync(p));
const skip = missing.length ? `missing ${missing.join(', ')} (apt-get install ngtcp2-client ngtcp2-server)` : false;
const dir = mkdtempSync(join(tmpdir(), 'pano-quic-keys-'));
const docs = join(dir, 'htdocs');
const keylog = join(dir, 'keys.log');
const servers: ChildProcess[] = [];
const files: Record<string, string> = {};

before(() => {
  if (skip) return;
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '30',
    '-subj', '/CN=localhost', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'pipe' });
  mkdirSync(docs);
  files['hello.txt'] = 'hello over quic, read from its decrypted packets\n';
  files['profile.json'] = JSON.stringify({ name: 'Ada Lovelace', email: 'ada@example.org', phone: '+44 20 7946 0958' }) + '\n';
  files['large.txt'] = randomBytes(2_400_000).toString('base64').replace(/.{100}/g, '$&\n');
  for (const [name, text] of Object.entries(files)) writeFileSync(join(docs, name), text);
  writeFileSync(join(dir, 'form.txt'), 'card=4111111111111111&holder=Grace+Hopper');
});
after(() => {
  for (const s of servers) s.kill();
  rmSync(dir, { recursive: true, force: true });
});

/** The end offset of each stream's furthest STREAM frame, per client port, stream and direction, as tshark decrypts them. */
function tsharkStreamEnds(file: string, keys: string, serverPorts: number[]): Map<string, number> {
  const out = execFileSync('tshark', ['-r', file, '-o', `tls.keylog_file:${keys}`, '-Y', 'quic.stream.stream_id', '-T', 'json', '--no-duplicate-keys', '-J', 'udp quic'], { encoding: 'utf8', maxBuffer: 256 << 20, stdio: ['ignore', 'pipe', 'ignore'] });
  const ends = new Map<string, number>();
  for (const p of JSON.parse(out) as any[]) {
    const udp = p._source.layers.udp;
    const toServer = serverPorts.includes(Number(udp['udp.dstport']));
    const clientPort = toServer ? udp['udp.srcport'] : udp['udp.dstport'];
    const walk = (o: unknown): void => {
      if (Array.isArray(o)) return o.forEach(walk);
      if (o === null || typeof o !== 'object') return;
      const f = o as Record<string, unknown>;
      if (typeof f['quic.stream.stream_id'] === 'string') {
        const data = String(f['quic.stream_data'] ?? '').replace(/:/g, '');
        const end = Number(f['quic.stream.offset'] ?? 0) + data.length / 2;
        const key = `${clientPort} ${f['quic.stream.stream_id']} ${toServer ? 'request' : 'response'}`;
        ends.set(key, Math.max(ends.get(key) ?? 0, end));
      }
      for (const v of Object.values(f)) walk(v);
    };
    walk(p._source.layers.quic);
  }
  return ends;
}

async function server(port: number, validate: boolean): Promise<void> {
  const p = spawn('gtlsserver', ['-q', ...(validate ? ['-V'] : []), '-d', docs, '127.0.0.1', String(port), join(dir, 'key.pem'), join(dir, 'cert.pem')], { stdio: 'ignore' });
  servers.push(p);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(p.exitCode, null, 'gtlsserver exited');
}

/** One connection of HTTP/3 requests for `paths`, the client writing its secrets to the key log; returns what it downloaded. */
async function get(port: number, cipher: string, paths: string[], extra: string[], i: number): Promise<Record<string, string>> {
  const out = join(dir, `got-${i}`);
  mkdirSync(out);
  await promisify(execFile)('gtlsclient', ['-q', `--ciphers=NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+${cipher}`, `--download=${out}`, '--exit-on-all-streams-close', ...extra,
    '127.0.0.1', String(port), ...paths.map((p) => `https://localhost:${port}/${p}`)], { encoding: 'utf8', timeout: 20_000, env: { ...process.env, SSLKEYLOGFILE: keylog } });
  return Object.fromEntries(paths.map((p) => [p, readFileSync(join(out, p), 'utf8')]));
}

test('HTTP/3 read from QUIC decrypted with the client\'s key log: three suites, key updates, offloaded sends, a Retry; bodies as served and sent, tshark agreeing', { skip, timeout: 60_000 }, async () => {
  const port = await freePort();
  const retryPort = await freePort();
  await server(port, false);
  await server(retryPort, true);
  const file = join(dir, 'h3.pcap');
  const cap = new LoopbackCapture(file, `udp port ${port} or udp port ${retryPort}`);
  await cap.start();
  const got: Array<Record<string, string>> = [];
  try {
    got.push(await get(port, 'AES-128-GCM', ['hello.txt', 'profile.json', 'large.txt'], ['--key-update=1ms'], 0));
    got.push(await get(port, 'CHACHA20-POLY1305', ['profile.json'], ['-d', join(dir, 'form.txt')], 1));
    got.push(await get(retryPort, 'AES-256-GCM', ['hello.txt'], [], 2));
  } finally {
    await cap.stop();
  }
  for (const g of got) for (const [p, text] of Object.entries(g)) assert.equal(text, files[p], `the client downloaded ${p} whole`);

  const check = (events: any[], stats: any, how: string) => {
    assertValidEvents(events);
    const quic = events.filter((e) => e.pano.protocol === 'quic');
    assert.equal(quic.length, 3, how);
    const fingerprint = execFileSync('openssl', ['x509', '-in', join(dir, 'cert.pem'), '-noout', '-fingerprint', '-sha256'], { encoding: 'utf8' }).trim().split('=')[1]!.replace(/:/g, '').toLowerCase();
    quic.forEach((e, i) => {
      assert.equal(e.tls.cipher, ['TLS_AES_128_GCM_SHA256', 'TLS_CHACHA20_POLY1305_SHA256', 'TLS_AES_256_GCM_SHA384'][i], how);
      assert.equal(e.tls.decrypted, true, how);
      assert.equal(e.tls.next_protocol, 'h3', `${how}: the ALPN answer, from the decrypted EncryptedExtensions`);
      assert.equal(e.tls.server.hash.sha256, fingerprint, `${how}: the certificate, from the decrypted handshake`);
      assert.deepEqual(e.pano.flags, i === 2 ? ['retry'] : undefined, how);
    });
    const h3 = events.filter((e) => e.pano.protocol === 'http3');
    const byConn = (i: number) => h3.filter((e) => e.pano.connection.id === quic[i].pano.connection.id);
    assert.deepEqual(byConn(0).map((e) => e.url.path).sort(), ['/hello.txt', '/large.txt', '/profile.json'], how);
    assert.deepEqual(byConn(1).map((e) => e.url.path), ['/profile.json'], how);
    assert.deepEqual(byConn(2).map((e) => e.url.path), ['/hello.txt'], how);
    for (const e of h3) {
      const name = e.url.path.slice(1);
      assert.equal(e.pano.kind, 'exchange', `${how} ${name}`);
      assert.deepEqual(e.network.protocol, { name: 'http', version: '3' });
      assert.equal(e.url.scheme, 'https');
      assert.equal(e.http.request.header[':authority']?.[0], `localhost:${e.server.port}`);
      assert.equal(e.http.request.header['user-agent']?.[0], 'nghttp3/ngtcp2 client');
      assert.equal(e.http.response.status_code, 200);
      assert.equal(e.http3.stream_id % 4, 0, 'a client-initiated bidirectional stream');
      assert.equal(e.tls.decrypted, true);
      const body = e.http.response.body;
      assert.equal(body.size, Buffer.byteLength(files[name]!), `${how} ${name}: every byte of the answer, across key updates and offloaded sends`);
      if (name === 'large.txt') assert.ok(files[name]!.startsWith(body.content), 'the kept part is the answer\'s start');
      else assert.equal(body.content, files[name], `${how} ${name}`);
    }
    // the body the second connection sent, as sent
    assert.equal(byConn(1)[0].http.request.body.content, readFileSync(join(dir, 'form.txt'), 'utf8'));
    assert.ok(stats.protocols['quic.key_updates'] >= 1, `${how}: the client's key updates were followed`);
    assert.ok(stats.protocols['quic.segmented_datagrams'] >= 1, `${how}: offloaded sends were cut into their datagrams`);
    assert.equal(stats.protocols['quic.undecryptable_packets'], undefined, how);
    return h3;
  };

  const { events, stats } = parseCaptureSync(file, { parse: { tlsKeyLogs: [keylog] } });
  const h3 = check(events as any[], stats, '--tls-keylog');
  // tshark, with the same key log, reads the STREAM frames of each whole datagram (not of those sent as
  // one): on the connections without offloaded sends, each request stream's bytes each way (the end of
  // its furthest STREAM frame: a retransmission counts once) are ours
  const sums = tsharkStreamEnds(file, keylog, [port, retryPort]);
  const firstConnection = (events as any[]).find((e) => e.pano.protocol === 'quic').pano.connection.id;
  const compared = h3.filter((e) => e.pano.connection.id !== firstConnection);
  assert.equal(compared.length, 2);
  for (const e of compared) {
    assert.equal(e.pano.request_bytes, sums.get(`${e.client.port} ${e.http3.stream_id} request`), `tshark's request STREAM bytes of ${e.url.path}`);
    assert.equal(e.pano.response_bytes, sums.get(`${e.client.port} ${e.http3.stream_id} response`), `tshark's response STREAM bytes of ${e.url.path}`);
  }

  // the key log carried in the capture (a Decryption Secrets Block) does what --tls-keylog did
  const withSecrets = join(dir, 'with-secrets.pcapng');
  execFileSync('editcap', ['--inject-secrets', `tls,${keylog}`, file, withSecrets], { stdio: 'pipe' });
  const inline = parseCaptureSync(withSecrets);
  check(inline.events as any[], inline.stats, 'secrets block');
});

test('0-RTT: a resumed client (ngtcp2 --session-file, --tp-file) sends its request in 0-RTT packets; with the key log the request is read from them, timed from the first datagram', { skip, timeout: 30_000 }, async () => {
  const port = await freePort();
  await server(port, false);
  const resume = [`--session-file=${join(dir, 'zero.sess')}`, `--tp-file=${join(dir, 'zero.tp')}`];
  // the first connection leaves the ticket and transport parameters behind; not captured
  await get(port, 'AES-128-GCM', ['hello.txt'], resume, 10);
  const file = join(dir, 'zero.pcap');
  const cap = new LoopbackCapture(file, `udp port ${port}`);
  await cap.start();
  let got: Record<string, string>;
  try {
    got = await get(port, 'AES-128-GCM', ['profile.json'], resume, 11);
  } finally {
    await cap.stop();
  }
  assert.equal(got['profile.json'], files['profile.json']);
  const { events, stats } = parseCaptureSync(file, { parse: { tlsKeyLogs: [keylog] } }) as { events: any[]; stats: any };
  assertValidEvents(events);
  const [quic, h3, ...rest] = events;
  assert.equal(rest.length, 0);
  assert.deepEqual([quic.pano.protocol, quic.tls.resumed, quic.tls.early_data, quic.pano.flags], ['quic', true, 'accepted', undefined]);
  assert.deepEqual([h3.url.path, h3.http.response.status_code, h3.http.response.body.content], ['/profile.json', 200, files['profile.json']]);
  assert.ok(stats.protocols['quic.early_data_decrypted'] >= 1, 'the 0-RTT packets were opened');
  assert.equal(stats.protocols['quic.undecryptable_packets'], undefined);
  // the request went in the client's first datagram, beside its Initial
  assert.equal(h3.pano.start_ns, quic.pano.start_ns);
  // tshark, decrypting with the same key log, finds the request's HEADERS in a 0-RTT packet too
  const rows = execFileSync('tshark', ['-r', file, '-o', `tls.keylog_file:${keylog}`, '-Y', 'quic.long.packet_type == 1 && quic.stream.stream_id == 0', '-T', 'fields', '-e', 'frame.number'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split('\n').filter(Boolean);
  assert.ok(rows.length >= 1, 'tshark: stream 0 in a 0-RTT packet');
});

test('AES-128-CCM (TLS_AES_128_CCM_SHA256, which QUIC allows beside GCM and ChaCha20): packets and HTTP/3 read as with the others', { skip, timeout: 30_000 }, async () => {
  const port = await freePort();
  await server(port, false);
  const file = join(dir, 'ccm.pcap');
  const cap = new LoopbackCapture(file, `udp port ${port}`);
  await cap.start();
  try {
    assert.equal((await get(port, 'AES-128-CCM', ['profile.json'], [], 12))['profile.json'], files['profile.json']);
  } finally {
    await cap.stop();
  }
  const { events, stats } = parseCaptureSync(file, { parse: { tlsKeyLogs: [keylog] } }) as { events: any[]; stats: any };
  assertValidEvents(events);
  assert.deepEqual(events.map((e) => [e.pano.protocol, e.tls.cipher, e.tls.decrypted]), [['quic', 'TLS_AES_128_CCM_SHA256', true], ['http3', 'TLS_AES_128_CCM_SHA256', true]]);
  assert.equal(events[1].http.response.body.content, files['profile.json']);
  assert.equal(stats.protocols['quic.undecryptable_packets'], undefined);
});
