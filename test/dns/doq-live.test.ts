// DNS over QUIC (RFC 9250) read with a key log: a DoQ client and server on quic-go (Debian's
// golang-github-lucas-clemente-quic-go-dev; test/fixtures/doq/main.go), the server asking dnsmasq
// over UDP, the client writing its TLS secrets; captured with tcpdump on loopback. Four questions on
// one connection, each on a stream of its own and all in flight at once: each is an event read from
// the decrypted streams with the answer the client was given, and without the key log only the
// QUIC handshake is.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { dnsmasqForTests } from '../helpers/dnsmasq.js';
import { LoopbackCapture, freePort } from '../helpers/loopback-capture.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';

const QUIC_GO = '/usr/share/gocode/src/github.com/lucas-clemente/quic-go';
const missing = ['/usr/sbin/dnsmasq', '/usr/bin/go', '/usr/bin/tcpdump', '/usr/bin/openssl', QUIC_GO].filter((p) => !existsSync(p));
const skip = missing.length ? `missing ${missing.join(', ')} (scripts/setup-machine.sh installs them)` : false;
const dns = dnsmasqForTests('pano-doq-', ['--address=/doq.example.test/192.0.2.53', '--txt-record=txt.doq.example.test,read over quic',
  '--mx-host=doq.example.test,mail.doq.example.test,10', '--address=/gone.example.test/'], Boolean(skip));
let server: ChildProcess | undefined;
let doq = '';
let port = 0;
/** What the server said went wrong, for the assertion messages. */
let serverErrors = '';

before(async () => {
  if (skip) return;
  doq = join(dns.dir, 'doq');
  // Debian's Go libraries in GOPATH mode (no module proxy here); the build cache shared with the other Go fixtures
  const built = spawnSync('go', ['build', '-o', doq, resolve('test/fixtures/doq/main.go')], {
    encoding: 'utf8',
    env: { ...process.env, GOPATH: '/usr/share/gocode', GO111MODULE: 'off', GOFLAGS: '', CGO_ENABLED: '0', GOCACHE: join(tmpdir(), 'pano-test-gocache') },
  });
  assert.equal(built.status, 0, `go build: ${built.stderr}`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', '/CN=doq.example.test', '-keyout', join(dns.dir, 'key.pem'), '-out', join(dns.dir, 'cert.pem')], { stdio: 'pipe' });
});

/** The DoQ server, asking dnsmasq (whose port is known once the hooks have run). */
async function startServer(): Promise<void> {
  port = await freePort();
  server = spawn(doq, ['server', `127.0.0.1:${port}`, `127.0.0.1:${dns.port()}`, join(dns.dir, 'cert.pem'), join(dns.dir, 'key.pem')], { stdio: ['ignore', 'pipe', 'pipe'] });
  server.stderr!.on('data', (d) => (serverErrors += d));
  await new Promise<void>((ok, fail) => {
    server!.stdout!.once('data', () => ok());
    server!.once('exit', (code) => fail(new Error(`doq server exited ${code}: ${serverErrors}`)));
  });
}
after(() => {
  server?.kill();
});

test('DNS over QUIC, four questions on one connection at once: each an event of its stream, read from the decrypted packets, with the answers the client got; only the handshake without the key log', { skip, timeout: 60_000 }, async () => {
  await startServer();
  const file = join(dns.dir, 'doq.pcap');
  const keylog = join(dns.dir, 'doq.keys');
  const cap = new LoopbackCapture(file, `udp port ${port}`);
  await cap.start();
  let out: string;
  try {
    ({ stdout: out } = await promisify(execFile)(doq, ['query', `127.0.0.1:${port}`, keylog,
      'doq.example.test/A', 'txt.doq.example.test/TXT', 'doq.example.test/MX', 'gone.example.test/A'], { encoding: 'utf8', timeout: 20_000 }));
  } catch (e) {
    throw new Error(`${(e as Error).message}; the server said: ${serverErrors}`);
  } finally {
    await cap.stop();
  }
  // what the client was answered: name, type, RCODE, answer count
  assert.deepEqual(out.trim().split('\n'), ['doq.example.test A 0 1', 'txt.doq.example.test TXT 0 1', 'doq.example.test MX 0 1', 'gone.example.test A 3 0']);

  const { events, stats } = parseCaptureSync(file, { parse: { tlsKeyLogs: [keylog] } }) as { events: any[]; stats: any };
  assertValidEvents(events);
  const [hs, ...rest] = events;
  assert.deepEqual([hs.pano.protocol, hs.tls.next_protocol, hs.tls.decrypted], ['quic', 'doq', true]);
  const exchanges = rest.sort((a, b) => a.quic.stream_id - b.quic.stream_id);
  assert.deepEqual(exchanges.map((e) => [e.pano.protocol, e.pano.kind, e.quic.stream_id, e.dns.id, e.dns.question.name, e.dns.question.type, e.dns.response_code, e.dns.answers.map((a: any) => a.data)]), [
    ['dns', 'exchange', 0, 0, 'doq.example.test', 'A', 'NOERROR', ['192.0.2.53']],
    ['dns', 'exchange', 4, 0, 'txt.doq.example.test', 'TXT', 'NOERROR', ['"read over quic"']],
    ['dns', 'exchange', 8, 0, 'doq.example.test', 'MX', 'NOERROR', ['10 mail.doq.example.test']],
    ['dns', 'exchange', 12, 0, 'gone.example.test', 'A', 'NXDOMAIN', []],
  ]);
  for (const e of exchanges) {
    assert.equal(e.pano.connection.id, hs.pano.connection.id, 'on the QUIC connection');
    assert.deepEqual(e.tls, { protocol: { name: 'tls', version: '1.3' }, cipher: hs.tls.cipher, established: true, decrypted: true });
    assert.equal(e.network.transport, 'udp');
    // the query as the fixture builds it (12-byte header, the name's labels, type and class), with its 2-byte length
    assert.equal(e.pano.request_bytes, 2 + 12 + e.dns.question.name.length + 2 + 4);
  }
  assert.equal(stats.protocols['dns.queries'], 4);
  assert.equal(stats.protocols['dns.responses'], 4);
  assert.equal(stats.protocols['quic.stream_bytes_not_read'], undefined);
  const bare = parseCaptureSync(file) as { events: any[]; stats: any };
  assert.deepEqual(bare.events.map((e) => e.pano.protocol), ['quic']);
});
