// TLS decrypted with a key log, from real clients and servers: curl (OpenSSL, SSLKEYLOGFILE) against
// Node's HTTPS and HTTP/2 servers on loopback, TLS 1.3 and 1.2 with AES-GCM, AES-CCM (16- and 8-byte tags), ChaCha20-Poly1305 and
// AES-CBC (encrypt-then-MAC, and MAC-then-encrypt from openssl s_client -no_etm), and TLS 1.2 PSK,
// ARIA and Camellia suites and a TLS 1.2 renegotiation from openssl s_client, captured with
// tcpdump. Each request carries its own path and body and each answer its own body: the events read
// from the decrypted records hold exactly those, tshark decrypting with the same key log agrees on
// every request and status, and the same capture with the key log injected into it (editcap
// --inject-secrets, a pcapng Decryption Secrets Block) decrypts without --tls-keylog.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { createServer, type Server } from 'node:https';
import { createSecureServer, type Http2SecureServer } from 'node:http2';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { ParsePipeline } from '@panopticon/parse';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LoopbackCapture, freePort } from '../helpers/loopback-capture.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';
import { tsharkFields } from '../helpers/tshark.js';

const missing = ['/usr/bin/curl', '/usr/bin/openssl', '/usr/bin/tcpdump', '/usr/bin/tshark', '/usr/bin/editcap'].filter((p) => !existsSync(p));
const skip = missing.length ? `missing ${missing.join(', ')}` : false;
const dir = mkdtempSync(join(tmpdir(), 'pano-tls-decrypt-'));
const keylog = join(dir, 'keys.log');
let h1: Server | undefined;
let h2: Http2SecureServer | undefined;
let h1Port = 0;
let h2Port = 0;

const PSK = Buffer.from('5ec2e7c0ffee00112233445566778899', 'hex');

/** What the server answers to a path: its own body, so a response cannot be taken for another's. */
const answer = (path: string, body: string) => `answer to ${path} (${body.length} bytes came)`;

before(async () => {
  if (skip) return;
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '30',
    '-subj', '/O=Panopticon Test/CN=vault.example.test', '-addext', 'subjectAltName=DNS:vault.example.test',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'pipe' });
  // TLS 1.3's CCM suites are off by default in OpenSSL: named here beside the usual three
  const tls13 = 'TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256:TLS_AES_128_CCM_SHA256:TLS_AES_128_CCM_8_SHA256';
  // (and NULL encryption, which ALL leaves out: a client offering only that gets it)
  const tlsOpts = { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')), minVersion: 'TLSv1' as const, ciphers: `${tls13}:ALL:eNULL:@SECLEVEL=0` };
  const handler = (req: import('node:http').IncomingMessage | import('node:http2').Http2ServerRequest, res: import('node:http').ServerResponse | import('node:http2').Http2ServerResponse) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      res.setHeader('content-type', 'text/plain');
      res.end(answer(req.url ?? '', body));
    });
  };
  h1 = createServer({ ...tlsOpts, ALPNProtocols: ['http/1.1'] }, handler);
  // the HTTP/2 server (HTTP/1.1 too, to a client without ALPN) also takes a pre-shared key, for a
  // client offering only the PSK suites (TLS 1.2's, RFC 4279)
  h2 = createSecureServer({ ...tlsOpts, allowHTTP1: true, pskCallback: () => PSK }, handler);
  h1Port = await freePort();
  h2Port = await freePort();
  await new Promise<void>((r) => h1!.listen(h1Port, '127.0.0.1', r));
  await new Promise<void>((r) => h2!.listen(h2Port, '127.0.0.1', r));
});
after(() => {
  h1?.close();
  h2?.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Run {
  path: string;
  body: string;
  http2: boolean;
  /** what curl -v said it negotiated */
  version: string;
  cipher: string;
}

/** curl with SSLKEYLOGFILE: a POST of `body` to `path`, TLS as `tls` asks; returns curl's own account of the handshake. */
async function curl(path: string, body: string, http2: boolean, tls: string[]): Promise<Run> {
  const port = http2 ? h2Port : h1Port;
  const { stdout, stderr } = await promisify(execFile)('curl', ['-sv', '-k', http2 ? '--http2' : '--http1.1', ...tls, '--data-binary', body,
    '--resolve', `vault.example.test:${port}:127.0.0.1`, `https://vault.example.test:${port}${path}`], { encoding: 'utf8', env: { ...process.env, SSLKEYLOGFILE: keylog } });
  assert.equal(stdout, answer(path, body));
  const m = /SSL connection using TLSv(1\.[0-3]) \/ (\S+)/.exec(stderr);
  assert.ok(m, stderr);
  return { path, body, http2, version: m[1]!, cipher: m[2]! };
}

/** openssl s_client, which can refuse encrypt-then-MAC (-no_etm): one HTTP/1.1 POST by hand. */
async function sClient(path: string, body: string, args: string[], port = h1Port): Promise<Run> {
  const req = `POST ${path} HTTP/1.1\r\nHost: vault.example.test\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`;
  const child = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'vault.example.test', '-keylogfile', keylog, '-ign_eof', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  child.stdin.end(req);
  await new Promise((r) => child.on('close', r));
  assert.ok(out.includes(answer(path, body)), out);
  // s_client says TLSv1 for 1.0
  // (a resumed TLS 1.3 session prints no session block: its summary line then)
  const m = /Protocol *: TLSv(1(?:\.[0-3])?)\n[\s\S]*?Cipher *: (\S+)/.exec(out) ?? /(?:New|Reused), TLSv(1\.[0-3]), Cipher is (\S+)/.exec(out);
  assert.ok(m, out);
  return { path, body, http2: false, version: m[1] === '1' ? '1.0' : m[1]!, cipher: m[2]! };
}

/** OpenSSL's cipher names to IANA's, as `openssl ciphers -stdname` maps them. */
function ianaName(openssl: string): string {
  if (openssl.startsWith('TLS_')) return openssl;
  const line = execFileSync('openssl', ['ciphers', '-stdname', 'ALL:COMPLEMENTOFALL:@SECLEVEL=0'], { encoding: 'utf8' }).split('\n').find((l) => l.split(' - ')[1]?.trim().startsWith(`${openssl} `));
  assert.ok(line, openssl);
  return line.split(' - ')[0]!.trim();
}

test('TLS 1.3 and 1.2 decrypted with curl\'s key log: every request\'s path and body and every answer as sent, tshark agreeing; and from the capture\'s own secrets block', { skip }, async () => {
  const file = join(dir, 'tls.pcap');
  const cap = new LoopbackCapture(file, `tcp port ${h1Port} or tcp port ${h2Port}`);
  await cap.start();
  const runs: Run[] = [];
  try {
    runs.push(await curl('/v1/accounts?id=13', 'email=ada@example.org', false, ['--tls-max', '1.3', '--tls13-ciphers', 'TLS_AES_256_GCM_SHA384']));
    runs.push(await curl('/v1/cards', 'pan=4111111111111111', true, ['--tls-max', '1.3', '--tls13-ciphers', 'TLS_CHACHA20_POLY1305_SHA256']));
    runs.push(await curl('/v1/ping', 'x', true, ['--tls-max', '1.3', '--tls13-ciphers', 'TLS_AES_128_GCM_SHA256']));
    runs.push(await curl('/v1/ccm', 'aes-128-ccm', false, ['--tls-max', '1.3', '--tls13-ciphers', 'TLS_AES_128_CCM_SHA256']));
    runs.push(await curl('/v1/ccm8', 'aes-128-ccm, 8-byte tags', true, ['--tls-max', '1.3', '--tls13-ciphers', 'TLS_AES_128_CCM_8_SHA256']));
    runs.push(await curl('/v2/login', 'user=grace&password=hopper', false, ['--tls-max', '1.2', '--ciphers', 'ECDHE-ECDSA-AES128-GCM-SHA256']));
    runs.push(await curl('/v2/ccm', 'tls 1.2 aes-256-ccm', false, ['--tls-max', '1.2', '--ciphers', 'ECDHE-ECDSA-AES256-CCM']));
    runs.push(await curl('/v2/ccm8', 'tls 1.2 aes-128-ccm, 8-byte tags', false, ['--tls-max', '1.2', '--ciphers', 'ECDHE-ECDSA-AES128-CCM8']));
    runs.push(await curl('/v2/orders', '{"name":"Alan Turing"}', true, ['--tls-max', '1.2', '--ciphers', 'ECDHE-ECDSA-CHACHA20-POLY1305']));
    runs.push(await curl('/v2/cbc', 'cbc with encrypt-then-mac', false, ['--tls-max', '1.2', '--ciphers', 'ECDHE-ECDSA-AES256-SHA384']));
    runs.push(await sClient('/v2/mte', 'cbc with mac-then-encrypt', ['-tls1_2', '-no_etm', '-cipher', 'ECDHE-ECDSA-AES128-SHA']));
    runs.push(await sClient('/v1/tls11', 'tls 1.1: explicit iv', ['-tls1_1', '-cipher', 'ECDHE-ECDSA-AES256-SHA:@SECLEVEL=0']));
    runs.push(await sClient('/v1/tls10', 'tls 1.0: chained iv', ['-tls1', '-cipher', 'ECDHE-ECDSA-AES128-SHA:@SECLEVEL=0']));
  } finally {
    await cap.stop();
  }
  const expected = runs.map((r) => ({ ...r, cipher: ianaName(r.cipher) }));
  assert.deepEqual(new Set(expected.map((r) => r.version)), new Set(['1.3', '1.2', '1.1', '1.0']));

  const check = (events: any[], how: string) => {
    assertValidEvents(events);
    const handshakes = events.filter((e) => e.pano.protocol === 'tls');
    assert.equal(handshakes.length, runs.length, how);
    const fingerprint = execFileSync('openssl', ['x509', '-in', join(dir, 'cert.pem'), '-noout', '-fingerprint', '-sha256'], { encoding: 'utf8' }).trim().split('=')[1]!.replace(/:/g, '').toLowerCase();
    expected.forEach((r, i) => {
      const hs = handshakes[i]!;
      assert.equal(hs.tls.protocol.version, r.version, `${how} ${r.path}`);
      assert.equal(hs.tls.cipher, r.cipher, `${how} ${r.path}`);
      assert.equal(hs.tls.decrypted, true, `${how} ${r.path}`);
      assert.equal(hs.pano.flags, undefined, `${how} ${r.path}`);
      // TLS 1.3 says ALPN and the certificate only encrypted: read from the decrypted handshake
      assert.equal(hs.tls.next_protocol, r.http2 ? 'h2' : r.path.startsWith('/v2/mte') || r.path.startsWith('/v1/tls1') ? undefined : 'http/1.1', `${how} ${r.path}`);
      assert.equal(hs.tls.server.hash.sha256, fingerprint, `${how} ${r.path}`);
      const ex = events.find((e) => e.pano.protocol !== 'tls' && e.url?.path === r.path.split('?')[0]);
      assert.ok(ex, `${how}: the request to ${r.path} was read from the decrypted records`);
      assert.equal(ex.pano.protocol, r.http2 ? 'http2' : 'http', r.path);
      assert.equal(ex.pano.connection.id, hs.pano.connection.id);
      assert.deepEqual(ex.tls, { protocol: { name: 'tls', version: r.version }, cipher: r.cipher, established: true, decrypted: true });
      assert.equal(ex.url.scheme, 'https');
      assert.equal(ex.http.request.method, 'POST');
      assert.equal(ex.http.request.body.content, r.body);
      assert.equal(ex.http.response.status_code, 200);
      assert.equal(ex.http.response.body.content, answer(r.path, r.body));
    });
    return events;
  };

  const { events, stats } = parseCaptureSync(file, { parse: { tlsKeyLogs: [keylog] } });
  check(events, '--tls-keylog');
  assert.equal(stats.protocols['tls.decrypted_connections'], runs.length);
  assert.equal(stats.protocols['tls.undecryptable_records'], undefined);

  // tshark, decrypting with the same key log, sees the same requests and answers
  const theirs = [
    ...tsharkFields(file, ['http.request.method', 'http.request.uri', 'http.file_data'], 'http.request', ['-o', `tls.keylog_file:${keylog}`]).map(([m, u]) => `${m} ${u}`),
    ...tsharkFields(file, ['http2.headers.method', 'http2.headers.path'], 'http2.headers.method', ['-o', `tls.keylog_file:${keylog}`]).map(([m, u]) => `${m} ${u}`),
  ].sort();
  const ours = events.filter((e: any) => e.http?.request?.method).map((e: any) => `${e.http.request.method} ${e.url.path}${e.url.query ? `?${e.url.query}` : ''}`).sort();
  assert.deepEqual(ours, theirs);

  // the key log carried in the capture (a Decryption Secrets Block) does what --tls-keylog did
  const withSecrets = join(dir, 'with-secrets.pcapng');
  execFileSync('editcap', ['--inject-secrets', `tls,${keylog}`, file, withSecrets], { stdio: 'pipe' });
  const inline = parseCaptureSync(withSecrets);
  check(inline.events, 'secrets block');
  assert.equal(inline.stats.capture.secrets_blocks, 1);
});

test('TLS 1.2 suites by their families, whatever the key exchange (the key log gives its result): PSK with AES-GCM, AES-CCM_8, ChaCha20 and AES-CBC-SHA384, ARIA-GCM, Camellia-CBC, and NULL encryption (read without keys too); tshark agreeing', { skip }, async () => {
  const file = join(dir, 'families.pcap');
  const cap = new LoopbackCapture(file, `tcp port ${h2Port}`);
  await cap.start();
  const runs: Run[] = [];
  const psk = ['-psk', PSK.toString('hex')];
  try {
    runs.push(await sClient('/f/psk-gcm', 'psk, aes-128-gcm', ['-tls1_2', '-cipher', 'PSK-AES128-GCM-SHA256:@SECLEVEL=0', ...psk], h2Port));
    runs.push(await sClient('/f/psk-ccm8', 'psk, aes-256-ccm8', ['-tls1_2', '-cipher', 'PSK-AES256-CCM8:@SECLEVEL=0', ...psk], h2Port));
    runs.push(await sClient('/f/ecdhe-psk-chacha', 'ecdhe-psk, chacha20', ['-tls1_2', '-cipher', 'ECDHE-PSK-CHACHA20-POLY1305:@SECLEVEL=0', ...psk], h2Port));
    runs.push(await sClient('/f/ecdhe-psk-cbc', 'ecdhe-psk, aes-256-cbc, sha384', ['-tls1_2', '-cipher', 'ECDHE-PSK-AES256-CBC-SHA384:@SECLEVEL=0', ...psk], h2Port));
    runs.push(await sClient('/f/aria', 'ecdhe-ecdsa, aria-256-gcm', ['-tls1_2', '-cipher', 'ECDHE-ECDSA-ARIA256-GCM-SHA384'], h2Port));
    runs.push(await sClient('/f/camellia', 'ecdhe-ecdsa, camellia-128-cbc', ['-tls1_2', '-cipher', 'ECDHE-ECDSA-CAMELLIA128-SHA256'], h2Port));
    runs.push(await sClient('/f/null', 'ecdhe-ecdsa, no encryption at all', ['-tls1_2', '-cipher', 'ECDHE-ECDSA-NULL-SHA:@SECLEVEL=0'], h2Port));
  } finally {
    await cap.stop();
  }
  const { events, stats } = parseCaptureSync(file, { parse: { tlsKeyLogs: [keylog] } });
  assertValidEvents(events);
  const handshakes = (events as any[]).filter((e) => e.pano.protocol === 'tls');
  assert.deepEqual(handshakes.map((e) => [e.tls.cipher, e.tls.decrypted, e.pano.flags]), runs.map((r) => [ianaName(r.cipher), true, undefined]));
  for (const r of runs) {
    const ex = (events as any[]).find((e) => e.url?.path === r.path);
    assert.ok(ex, `${r.path} read from the decrypted records`);
    assert.deepEqual([ex.http.request.body.content, ex.http.response.body.content], [r.body, answer(r.path, r.body)], r.path);
  }
  assert.equal(stats.protocols['tls.undecryptable_records'], undefined);
  // without the key log: NULL encryption is read all the same (its MACs unchecked), the rest is not
  const bare = parseCaptureSync(file).events as any[];
  assertValidEvents(bare);
  assert.deepEqual(bare.filter((e) => e.pano.protocol !== 'tls').map((e) => [e.url.path, e.tls.cipher, e.http.request.body.content]), [['/f/null', 'TLS_ECDHE_ECDSA_WITH_NULL_SHA', 'ecdhe-ecdsa, no encryption at all']]);
  // a key log whose master secret is wrong: the MACs do not match, nothing is taken from the records
  const wrong = join(dir, 'wrong.keys');
  writeFileSync(wrong, readFileSync(keylog, 'utf8').replace(/^(CLIENT_RANDOM [0-9a-f]{64} )([0-9a-f])/gm, (_, head, c) => head + (c === '0' ? '1' : '0')));
  const checked = parseCaptureSync(file, { parse: { tlsKeyLogs: [wrong] } }).events as any[];
  assert.equal(checked.find((e) => e.tls.cipher === 'TLS_ECDHE_ECDSA_WITH_NULL_SHA' && e.pano.protocol === 'tls').pano.flags.includes('decrypt_failed'), true);
  assert.ok(!checked.some((e) => e.url?.path === '/f/null'));
  // tshark here (4.0, on libgcrypt 1.10, which has no ARIA) decrypts every one but ARIA's; ARIA's is
  // checked against what both ends sent and received above
  const theirs = tsharkFields(file, ['http.request.uri'], 'http.request', ['-o', `tls.keylog_file:${keylog}`]).map(([u]) => u).sort();
  assert.deepEqual(theirs, runs.map((r) => r.path).filter((p) => p !== '/f/aria').sort());
});

test('TLS 1.2 and 1.3 sessions resumed (the 1.2 server\'s ChangeCipherSpec first, an abbreviated handshake; 1.3 with a ticket): read with the master secret or traffic secrets logged for the new hellos', { skip }, async () => {
  const file = join(dir, 'resumed.pcap');
  const sessions = [join(dir, 'resume12.sess'), join(dir, 'resume13.sess')];
  // the sessions to resume, from connections not captured
  await sClient('/r/first', 'full handshake', ['-tls1_2', '-sess_out', sessions[0]!]);
  await sClient('/r/first', 'full handshake', ['-tls1_3', '-sess_out', sessions[1]!]);
  const cap = new LoopbackCapture(file, `tcp port ${h1Port}`);
  await cap.start();
  try {
    await sClient('/r/resumed-12', 'abbreviated', ['-tls1_2', '-sess_in', sessions[0]!]);
    await sClient('/r/resumed-13', 'with a ticket', ['-tls1_3', '-sess_in', sessions[1]!]);
  } finally {
    await cap.stop();
  }
  const { events } = parseCaptureSync(file, { parse: { tlsKeyLogs: [keylog] } }) as { events: any[] };
  assertValidEvents(events);
  assert.deepEqual(events.map((e) => [e.pano.protocol, e.tls.protocol.version, e.tls.decrypted, e.pano.protocol === 'tls' ? e.tls.resumed : e.http.request.body.content, e.pano.flags]), [
    ['tls', '1.2', true, true, undefined],
    ['http', '1.2', true, 'abbreviated', undefined],
    ['tls', '1.3', true, true, undefined],
    ['http', '1.3', true, 'with a ticket', undefined],
  ]);
});

test('TLS 1.2 renegotiation (openssl s_client\'s R command, Node\'s server): the requests before and after it read, the new keys from the log\'s second master secret, tshark agreeing; without that secret, flagged keys_missing and nothing after it read', { skip }, async () => {
  const file = join(dir, 'reneg.pcap');
  const keys = join(dir, 'reneg.keys');
  const cap = new LoopbackCapture(file, `tcp port ${h1Port}`);
  await cap.start();
  let out = '';
  try {
    const child = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${h1Port}`, '-tls1_2', '-cipher', 'ECDHE-ECDSA-AES128-GCM-SHA256', '-keylogfile', keys], { stdio: ['pipe', 'pipe', 'pipe'] });
    const closed = new Promise((r) => child.on('close', r));
    // s_client says RENEGOTIATING on stderr, the answers on stdout
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (out += c));
    const until = async (text: string) => {
      for (let i = 0; i < 100 && !out.includes(text); i++) await new Promise((r) => setTimeout(r, 50));
      assert.ok(out.includes(text), `s_client: ${text} in ${out}`);
    };
    const post = (path: string, body: string, close: boolean) => `POST ${path} HTTP/1.1\r\nHost: vault.example.test\r\nContent-Length: ${body.length}\r\n${close ? 'Connection: close\r\n' : ''}\r\n${body}`;
    child.stdin.write(post('/before-reneg', 'first keys', false));
    await until(answer('/before-reneg', 'first keys'));
    // a line of its own that is "R": s_client renegotiates
    child.stdin.write('R\n');
    await until('RENEGOTIATING');
    await new Promise((r) => setTimeout(r, 300));
    // (without -ign_eof s_client hangs up at the end of its input: the input ends after the answer)
    child.stdin.write(post('/after-reneg', 'second keys', true));
    await until(answer('/after-reneg', 'second keys'));
    child.stdin.end();
    await closed;
  } finally {
    await cap.stop();
  }
  const randoms = readFileSync(keys, 'utf8').split('\n').filter((l) => l.startsWith('CLIENT_RANDOM '));
  assert.equal(randoms.length, 2, 'two handshakes, two master secrets');
  const { events, stats } = parseCaptureSync(file, { parse: { tlsKeyLogs: [keys] } }) as { events: any[]; stats: any };
  assertValidEvents(events);
  assert.deepEqual(events.map((e) => [e.pano.protocol, e.url?.path, e.http?.request.body.content, e.http?.response.body.content, e.pano.flags]), [
    ['tls', undefined, undefined, undefined, undefined],
    ['http', '/before-reneg', 'first keys', answer('/before-reneg', 'first keys'), undefined],
    ['http', '/after-reneg', 'second keys', answer('/after-reneg', 'second keys'), undefined],
  ]);
  assert.equal(stats.protocols['tls.renegotiations'], 1);
  assert.equal(stats.protocols['tls.undecryptable_records'], undefined);
  const theirs = tsharkFields(file, ['http.request.uri'], 'http.request', ['-o', `tls.keylog_file:${keys}`]).map(([u]) => u);
  assert.deepEqual(theirs, ['/before-reneg', '/after-reneg']);
  // a key log that gets its lines only after the renegotiation was captured (a live capture racing the
  // client): everything after the first ChangeCipherSpec is held, the renegotiation's with it, in order
  const late = join(dir, 'reneg-late.keys');
  writeFileSync(late, '');
  const held: any[] = [];
  const p = new ParsePipeline({ source: { type: 'pcap', name: 'live' }, parse: { tlsKeyLogs: [late] }, onEvent: (e) => held.push(JSON.parse(JSON.stringify(e))) });
  const bytes = readFileSync(file);
  const cut = Math.floor(bytes.length * 0.9);
  p.push(bytes.subarray(0, cut));
  appendFileSync(late, readFileSync(keys));
  p.push(bytes.subarray(cut));
  p.end();
  assert.deepEqual(held.map((e) => [e.pano.protocol, e.url?.path, e.pano.flags]), [['tls', undefined, undefined], ['http', '/before-reneg', undefined], ['http', '/after-reneg', undefined]]);
  // the second master secret missing: what came before the renegotiation, then nothing
  const first = join(dir, 'reneg-first.keys');
  writeFileSync(first, `${randoms[0]}\n`);
  const partial = parseCaptureSync(file, { parse: { tlsKeyLogs: [first] } }) as { events: any[]; stats: any };
  assertValidEvents(partial.events);
  assert.deepEqual(partial.events.map((e) => [e.pano.protocol, e.url?.path]), [['tls', undefined], ['http', '/before-reneg']]);
  assert.equal(partial.stats.protocols['tls.keys_missing'], 1);
});

test('a key log without the connection\'s secrets: the handshake as without one, flagged keys_missing; the same log then given them decrypts', { skip }, async () => {
  const file = join(dir, 'missing.pcap');
  const own = join(dir, 'own.log');
  const cap = new LoopbackCapture(file, `tcp port ${h1Port}`);
  await cap.start();
  try {
    await curl('/v3/missing', 'no keys for this one', false, ['--tls-max', '1.3']);
  } finally {
    await cap.stop();
  }
  const lines = readFileSync(keylog, 'utf8').trim().split('\n');
  // the last connection's lines are its random's: written without them, the log names only others
  const last = lines[lines.length - 1]!.split(' ')[1]!;
  writeFileSync(own, lines.filter((l) => !l.includes(last)).join('\n') + '\n');
  const { events, stats } = parseCaptureSync(file, { parse: { tlsKeyLogs: [own] } });
  assertValidEvents(events);
  assert.equal(events.length, 1);
  const hs = events[0] as any;
  assert.equal(hs.pano.protocol, 'tls');
  assert.ok(hs.pano.flags.includes('keys_missing'), hs.pano.flags);
  assert.equal(hs.tls.decrypted, undefined);
  // TLS 1.3 without its keys: no ALPN answer and no certificate, as without a key log
  assert.equal(hs.tls.next_protocol, undefined);
  assert.equal(hs.tls.server.subject, undefined);
  assert.equal(stats.protocols['tls.keys_missing'], 1);
  writeFileSync(own, lines.join('\n') + '\n');
  const again = parseCaptureSync(file, { parse: { tlsKeyLogs: [own] } });
  assert.ok(again.events.some((e: any) => e.url?.path === '/v3/missing' && e.tls?.decrypted));
});
