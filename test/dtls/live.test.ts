// DTLS handshakes of OpenSSL's own client and server (openssl s_client / s_server, -dtls1_2 and -dtls1)
// on loopback, captured with tcpdump. The event holds the server name the client was given, the suite
// the client was told to offer when it offered one, the protocol and suite s_client reported (its
// OpenSSL names turned into IANA names by `openssl ciphers -stdname`), the certificate as openssl reads
// it, the HelloVerifyRequest round; tshark agrees on SNI, suites, JA3 and the JA4 its fields give.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LoopbackCapture, freePort } from '../helpers/loopback-capture.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';
import { tsharkFields } from '../helpers/tshark.js';
import { ja4FromTshark, ja4TsharkFields } from '../helpers/ja4.js';

const missing = ['/usr/bin/openssl', '/usr/bin/tcpdump', '/usr/bin/tshark'].filter((p) => !existsSync(p));
const skip = missing.length ? `missing ${missing.join(', ')}` : false;
const dir = mkdtempSync(join(tmpdir(), 'pano-dtls-'));
const servers: ChildProcess[] = [];

/** OpenSSL's suites by code: `openssl ciphers -V -stdname` lines `0x13,0x02 - TLS_AES_256_GCM_SHA384 - …`. */
const OPENSSL_SUITES = new Map<number, string>();
function loadSuites(): void {
  for (const line of execFileSync('openssl', ['ciphers', '-V', '-stdname', 'ALL:@SECLEVEL=0'], { encoding: 'utf8' }).split('\n')) {
    const m = /0x([0-9A-F]{2}),0x([0-9A-F]{2}) - (\S+)/.exec(line);
    if (m) OPENSSL_SUITES.set(Number.parseInt(m[1]! + m[2]!, 16), m[3]!);
  }
}


before(() => {
  if (skip) return;
  loadSuites();
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '30',
    '-subj', '/O=Panopticon Test/CN=dtls.example.test', '-addext', 'subjectAltName=DNS:dtls.example.test',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'pipe' });
});
after(() => {
  for (const s of servers) s.kill();
  rmSync(dir, { recursive: true, force: true });
});

/** One DTLS session: s_server on `port`, s_client sending a line; s_client's own report of what it negotiated. */
async function session(port: number, version: string, cipher: string | undefined): Promise<{ protocol: string; cipher: string }> {
  const opts = [`-${version}`, '-cipher', cipher ?? 'DEFAULT:@SECLEVEL=0'];
  const server = spawn('openssl', ['s_server', ...opts, '-accept', `127.0.0.1:${port}`, '-cert', join(dir, 'cert.pem'), '-key', join(dir, 'key.pem'), '-quiet'], { stdio: 'ignore' });
  servers.push(server);
  await new Promise((r) => setTimeout(r, 400));
  const client = spawn('openssl', ['s_client', ...opts, '-connect', `127.0.0.1:${port}`, '-servername', 'dtls.example.test'], { stdio: ['pipe', 'pipe', 'ignore'] });
  const exited = new Promise((r) => client.once('exit', r));
  let out = '';
  client.stdout!.on('data', (d) => (out += d));
  client.stdin!.write('hello over dtls\n');
  await new Promise((r) => setTimeout(r, 700));
  client.stdin!.end();
  await exited;
  server.kill();
  const protocol = /Protocol\s*:\s*(\S+)/.exec(out)?.[1];
  const name = /Cipher\s*:\s*(\S+)/.exec(out)?.[1];
  assert.ok(protocol && name, out);
  const iana = execFileSync('openssl', ['ciphers', '-stdname', '-s', `${name}:@SECLEVEL=0`], { encoding: 'utf8' }).split('\n').find((l) => l.includes(` ${name} `))!.split(' ')[0]!;
  return { protocol, cipher: iana };
}

test('openssl s_client to s_server over DTLS 1.2 and 1.0, one offering a single suite: the SNI, the suite offered and the one chosen, version, certificate and HelloVerifyRequest, tshark agreeing', { skip }, async () => {
  const ports = [await freePort(), await freePort(), await freePort()];
  const file = join(dir, 'dtls.pcap');
  const cap = new LoopbackCapture(file, ports.map((p) => `udp port ${p}`).join(' or '));
  const runs: Array<[string, string | undefined]> = [['dtls1_2', undefined], ['dtls1_2', 'ECDHE-ECDSA-AES128-GCM-SHA256'], ['dtls1', undefined]];
  const saw: Array<{ protocol: string; cipher: string }> = [];
  await cap.start();
  try {
    for (const [i, [version, cipher]] of runs.entries()) saw.push(await session(ports[i]!, version, cipher));
  } finally {
    await cap.stop();
  }
  const { events } = parseCaptureSync(file);
  assertValidEvents(events);
  const dtls = (events as any[]).filter((e) => e.pano.protocol === 'dtls').sort((a, b) => ports.indexOf(a.server.port) - ports.indexOf(b.server.port));
  assert.equal(dtls.length, 3);
  const fingerprint = execFileSync('openssl', ['x509', '-in', join(dir, 'cert.pem'), '-noout', '-fingerprint', '-sha256'], { encoding: 'utf8' }).trim().split('=')[1]!.replace(/:/g, '').toLowerCase();
  // [src port, dst port, types, SNI, JA3, then JA4's fields, the suites first] (a field named twice gets only its last column)
  const hellos = tsharkFields(file, ['udp.srcport', 'udp.dstport', 'dtls.handshake.type', 'dtls.handshake.extensions_server_name', 'dtls.handshake.ja3', ...ja4TsharkFields('dtls')], 'dtls.handshake.type == 1 || dtls.handshake.type == 2 || dtls.handshake.type == 3');
  dtls.forEach((e, i) => {
    const s = saw[i]!;
    assert.equal(e.pano.kind, 'exchange');
    assert.deepEqual(e.network.protocol, { name: 'dtls' });
    assert.equal(e.tls.protocol.name, 'dtls');
    assert.equal(`DTLSv${e.tls.protocol.version === '1.0' ? '1' : e.tls.protocol.version}`, s.protocol);
    assert.equal(e.tls.cipher, s.cipher);
    if (runs[i]![1]) assert.deepEqual(e.tls.client.supported_ciphers.filter((c: string) => c !== 'TLS_EMPTY_RENEGOTIATION_INFO_SCSV'), [s.cipher]);
    assert.equal(e.tls.client.server_name, 'dtls.example.test');
    assert.equal(e.tls.server.hash.sha256, fingerprint);
    assert.equal(e.tls.server.subject, 'O=Panopticon Test, CN=dtls.example.test');
    assert.equal(e.tls.established, true);
    const port = String(e.client.port);
    const mine = hellos.filter((r) => r[0] === port || r[1] === port);
    const ch = mine.filter((r) => r[2]!.split(',').includes('1')).pop()!;
    assert.equal(ch[3], e.tls.client.server_name);
    assert.equal(ch[4], e.tls.client.ja3);
    assert.equal(ja4FromTshark('d', ch.slice(5)), e.tls.client.ja4);
    assert.match(e.tls.client.ja4, /^dd[12]d/);
    const sh = mine.find((r) => r[2]!.split(',').includes('2'))!;
    // the suite tshark read in the ServerHello, by OpenSSL's own table of codes and IANA names
    assert.equal(OPENSSL_SUITES.get(Number.parseInt(sh[5]!.split(',')[0]!, 16)), e.tls.cipher);
    assert.equal(e.pano.flags?.includes('hello_verify') ?? false, mine.some((r) => r[2]!.split(',').includes('3')));
  });
});
