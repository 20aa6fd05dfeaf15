// QUIC handshakes of a real client and server: ngtcp2's example client and server (Debian's
// ngtcp2-client and ngtcp2-server, GnuTLS) on loopback, an HTTP/3 GET each, captured with tcpdump.
// The event holds what the client was told to offer (its cipher suites) and what the server chose,
// the Retry when the server validates addresses, and tshark's reading of the same Initials agrees.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LoopbackCapture, freePort } from '../helpers/loopback-capture.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';
import { tsharkFields } from '../helpers/tshark.js';
import { JA4_TSHARK_FIELDS, ja4FromTshark } from '../helpers/ja4.js';

const missing = ['/usr/bin/gtlsclient', '/usr/sbin/gtlsserver', '/usr/bin/openssl', '/usr/bin/tcpdump', '/usr/bin/tshark'].filter((p) => !existsSync(p));
const skip = missing.length ? `missing ${missing.join(', ')} (apt-get install ngtcp2-client ngtcp2-server)` : false;
const dir = mkdtempSync(join(tmpdir(), 'pano-quic-'));
const servers: ChildProcess[] = [];

before(() => {
  if (skip) return;
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '30',
    '-subj', '/CN=localhost', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'pipe' });
  writeFileSync(join(dir, 'hello.txt'), 'hello over quic\n');
});
after(() => {
  for (const s of servers) s.kill();
  rmSync(dir, { recursive: true, force: true });
});

async function server(port: number, validate: boolean): Promise<void> {
  const p = spawn('gtlsserver', ['-q', ...(validate ? ['-V'] : []), '-d', dir, '127.0.0.1', String(port), join(dir, 'key.pem'), join(dir, 'cert.pem')], { stdio: 'ignore' });
  servers.push(p);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(p.exitCode, null, 'gtlsserver exited');
}

/** One HTTP/3 GET; GnuTLS priority `ciphers` is what the client offers. Returns the body it downloaded. */
async function get(port: number, ciphers: string, i: number): Promise<string> {
  const out = join(dir, `got-${i}`);
  mkdirSync(out);
  await promisify(execFile)('gtlsclient', ['-q', `--ciphers=${ciphers}`, `--download=${out}`, '--exit-on-first-stream-close', '127.0.0.1', String(port), `https://localhost:${port}/hello.txt`], { encoding: 'utf8', timeout: 10_000 });
  return readFileSync(join(out, 'hello.txt'), 'utf8');
}

const SUITES: Record<string, string> = { 'AES-128-GCM': 'TLS_AES_128_GCM_SHA256', 'AES-256-GCM': 'TLS_AES_256_GCM_SHA384', 'CHACHA20-POLY1305': 'TLS_CHACHA20_POLY1305_SHA256' };
const priority = (suites: string[]) => `NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:${suites.map((s) => `+${s}`).join(':')}`;

test('ngtcp2 client and server, three connections offering different suites, one with Retry: an exchange each with the suites offered and the one chosen, tshark agreeing', { skip }, async () => {
  const port = await freePort();
  const retryPort = await freePort();
  await server(port, false);
  await server(retryPort, true);
  const file = join(dir, 'quic.pcap');
  const cap = new LoopbackCapture(file, `udp port ${port} or udp port ${retryPort}`);
  const offers = [['AES-128-GCM', 'AES-256-GCM', 'CHACHA20-POLY1305'], ['CHACHA20-POLY1305'], ['AES-256-GCM']];
  await cap.start();
  try {
    for (const [i, suites] of offers.entries()) {
      const body = await get(i === 2 ? retryPort : port, priority(suites), i);
      assert.match(body, /hello over quic/, 'the HTTP/3 GET completed');
    }
  } finally {
    await cap.stop();
  }
  const { events, stats } = parseCaptureSync(file);
  assertValidEvents(events);
  const quic = (events as any[]).filter((e) => e.pano.protocol === 'quic');
  assert.equal(quic.length, 3);
  assert.equal((stats.protocols as Record<string, number>)['quic.undecryptable_packets'], undefined);
  const hellos = tsharkFields(file, ['udp.srcport', 'tls.handshake.type', 'tls.handshake.extensions_server_name', 'tls.handshake.ciphersuite', 'tls.handshake.ja3', 'tls.handshake.ja3s', 'quic.dcid', 'quic.scid'], 'tls.handshake');
  const retries = tsharkFields(file, ['udp.dstport'], 'quic.long.packet_type == 3');
  const ja4 = new Map(tsharkFields(file, ['udp.srcport', ...JA4_TSHARK_FIELDS], 'tls.handshake.type == 1').map(([port, ...f]) => [port, ja4FromTshark('q', f)]));
  quic.forEach((e, i) => {
    const clientPort = String(e.client.port);
    assert.equal(e.pano.kind, 'exchange');
    assert.deepEqual(e.pano.flags, i === 2 ? ['retry'] : undefined);
    assert.deepEqual(e.network.protocol, { name: 'quic', version: '1' });
    assert.equal(e.server.port, i === 2 ? retryPort : port);
    // what the client was told to offer, in its order, and a suite of those chosen
    assert.deepEqual(e.tls.client.supported_ciphers, offers[i]!.map((s) => SUITES[s]));
    assert.ok(offers[i]!.map((s) => SUITES[s]).includes(e.tls.cipher));
    if (offers[i]!.length === 1) assert.equal(e.tls.cipher, SUITES[offers[i]![0]!]);
    assert.deepEqual(e.tls.client.alpn, ['h3']);
    assert.equal(e.tls.protocol.version, '1.3');
    assert.equal(e.tls.established, true);
    // tshark's reading of the same ClientHello and ServerHello
    const ch = hellos.find((r) => r[0] === clientPort && r[1] === '1')!;
    const sh = hellos.find((r) => r[1] === '2' && r[6]!.split(',')[0] === e.quic.client_connection_id)!;
    assert.ok(ch && sh, `tshark read both hellos of connection ${i}`);
    assert.equal(e.tls.client.server_name, ch[2]);
    assert.equal(e.tls.client.ja3, ch[4]);
    assert.equal(e.tls.client.ja4, ja4.get(clientPort));
    assert.match(e.tls.client.ja4, /^q13d0\d\d\dh3_/);
    assert.equal(ch[3], e.tls.client.supported_ciphers.map((n: string) => `0x${{ TLS_AES_128_GCM_SHA256: '1301', TLS_AES_256_GCM_SHA384: '1302', TLS_CHACHA20_POLY1305_SHA256: '1303' }[n]}`).join(','));
    assert.equal(e.tls.server.ja3s, sh[5]);
    assert.equal(e.quic.original_destination_connection_id, ch[6]!.split(',')[0]);
    assert.equal(e.quic.client_connection_id, ch[7]!.split(',')[0]);
    assert.equal(e.quic.server_connection_id, sh[7]!.split(',')[0]);
    assert.equal(retries.some((r) => r[0] === clientPort), i === 2);
  });
});
