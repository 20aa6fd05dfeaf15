// TLS 1.3 0-RTT from a real client and server: openssl s_client resuming a session with
// -early_data against nginx (ssl_early_data on), captured with tcpdump. The client sends its one
// request only as early data, and says whether the server accepted it; tshark decrypting with the
// same key log is the oracle for the request. (nginx's $ssl_early_data, echoed in the answer, is 1
// only when nginx got to the request before the handshake ended, which is a race.) A second server block with the
// same ticket key and ssl_early_data off takes the session but refuses its 0-RTT (its
// EncryptedExtensions say so), and the client's next request, sent after the handshake, is read.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LoopbackCapture, freePort } from '../helpers/loopback-capture.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';
import { tsharkFields } from '../helpers/tshark.js';

const missing = ['/usr/sbin/nginx', '/usr/bin/openssl', '/usr/bin/tcpdump', '/usr/bin/tshark'].filter((p) => !existsSync(p));
const skip = missing.length ? `missing ${missing.join(', ')}` : false;
const dir = mkdtempSync(join(tmpdir(), 'pano-tls-early-'));
let nginx: ChildProcess | undefined;
let takes = 0;
let refuses = 0;

before(async () => {
  if (skip) return;
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '30',
    '-subj', '/CN=early.example.test', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'pipe' });
  // one ticket key for both blocks: a session from the first resumes on the second
  writeFileSync(join(dir, 'ticket.key'), randomBytes(80));
  takes = await freePort();
  refuses = await freePort();
  const block = (port: number, early: 'on' | 'off') => `
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${dir}/cert.pem; ssl_certificate_key ${dir}/key.pem;
    ssl_protocols TLSv1.3; ssl_early_data ${early};
    ssl_session_tickets on; ssl_session_ticket_key ${dir}/ticket.key;
    location / { default_type text/plain; return 200 "$request_uri early=$ssl_early_data\\n"; }
  }`;
  writeFileSync(join(dir, 'nginx.conf'), `worker_processes 1;
error_log ${dir}/error.log;
pid ${dir}/nginx.pid;
events {}
http {
  access_log off;
  client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
${block(takes, 'on')}
${block(refuses, 'off')}
}
`);
  nginx = spawn('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: 'ignore' });
  for (let i = 0; ; i++) {
    const r = spawnSync('openssl', ['s_client', '-connect', `127.0.0.1:${refuses}`, '-tls1_3'], { input: '', timeout: 2000 });
    if (r.status === 0) break;
    if (i > 100 || nginx.exitCode !== null) throw new Error(`nginx did not start: ${existsSync(join(dir, 'error.log')) ? readFileSync(join(dir, 'error.log'), 'utf8') : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
});
after(() => {
  nginx?.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
});

const request = (path: string) => `GET ${path} HTTP/1.1\r\nHost: early.example.test\r\nConnection: close\r\n\r\n`;

/** A session ticket from a first, ordinary connection to the server that takes 0-RTT. */
function ticket(name: string): string {
  const file = join(dir, `${name}.sess`);
  const r = spawnSync('openssl', ['s_client', '-connect', `127.0.0.1:${takes}`, '-tls1_3', '-sess_out', file, '-ign_eof', '-quiet'], { input: request('/first'), encoding: 'utf8', timeout: 10_000 });
  assert.match(r.stdout, /\/first early=\s*$/m, r.stderr);
  return file;
}

/**
 * A resumption sending `early` as 0-RTT data, and `after` once the handshake
 * is done; captured, with the client's key log. Returns s_client's output.
 */
async function resume(name: string, port: number, early: string, after: string): Promise<{ pcap: string; keylog: string; out: string }> {
  const sess = ticket(name);
  const earlyFile = join(dir, `${name}.early`);
  writeFileSync(earlyFile, early);
  const keylog = join(dir, `${name}.keys`);
  const capture = new LoopbackCapture(join(dir, `${name}.pcap`), `tcp port ${port}`);
  await capture.start();
  let out: string;
  try {
    const r = spawnSync('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-tls1_3', '-sess_in', sess, '-early_data', earlyFile, '-keylogfile', keylog, '-ign_eof'],
      { input: after, encoding: 'utf8', timeout: 10_000 });
    out = r.stdout;
  } finally {
    await capture.stop();
  }
  return { pcap: capture.file, keylog, out };
}

const summary = (events: any[]) => events.map((e) => [e.pano.protocol, e.pano.kind, e.url?.path, e.http?.response?.body?.content]);

test('0-RTT the server took: the request read from the early data with the early secret, answered, tshark agreeing; without that secret, flagged and not read', { skip }, async () => {
  const { pcap, keylog, out } = await resume('taken', takes, request('/early?q=1'), '');
  assert.match(out, /Early data was accepted/);
  assert.match(out, /Reused, TLSv1\.3/);
  const { events, stats } = parseCaptureSync(pcap, { parse: { tlsKeyLogs: [keylog] } }) as { events: any[]; stats: any };
  assertValidEvents(events);
  assert.deepEqual(summary(events).map((r) => r.slice(0, 3)), [['tls', 'exchange', undefined], ['http', 'exchange', '/early']]);
  assert.match(events[1].http.response.body.content, /^\/early\?q=1 early=1?\n$/);
  const [hs, http] = events;
  assert.equal(hs.tls.early_data, 'accepted');
  assert.equal(hs.tls.resumed, true);
  assert.equal(hs.tls.decrypted, true);
  assert.equal(hs.pano.flags, undefined);
  assert.equal(http.url.query, 'q=1');
  assert.equal(http.tls.decrypted, true);
  assert.ok(stats.protocols['tls.early_data_decrypted'] >= 2, 'the request and EndOfEarlyData');
  assert.equal(stats.protocols['tls.early_data_records'], undefined);
  const port = `tcp.port==${takes}`;
  const rows = tsharkFields(pcap, ['http.request.uri', 'http.response.code'], port, ['-o', `tls.keylog_file:${keylog}`, '-d', `${port},tls`]);
  assert.deepEqual(rows.filter(([uri]) => uri).map(([uri]) => uri), ['/early?q=1']);

  // the key log without CLIENT_EARLY_TRAFFIC_SECRET: the rest opens; the early request is not read
  const partial = join(dir, 'partial.keys');
  writeFileSync(partial, readFileSync(keylog, 'utf8').split('\n').filter((l) => !l.startsWith('CLIENT_EARLY_TRAFFIC_SECRET')).join('\n'));
  const without = parseCaptureSync(pcap, { parse: { tlsKeyLogs: [partial] } }) as { events: any[]; stats: any };
  assertValidEvents(without.events);
  assert.deepEqual(without.events[0].pano.flags, ['keys_missing']);
  assert.equal(without.events[0].tls.early_data, 'accepted');
  assert.deepEqual(summary(without.events).slice(1).map((r) => r.slice(0, 3)), [['http', 'orphan_response', undefined]]);
  assert.equal(without.events[1].http.response.body.content, events[1].http.response.body.content);
  assert.ok(without.stats.protocols['tls.early_data_records'] >= 2);

  // no key log at all: 0-RTT was sent with a session the server took; whether it took the data is
  // encrypted. The early records do not end the handshake's reading before the ServerHello.
  const bare = parseCaptureSync(pcap).events as any[];
  assert.deepEqual(bare.map((e) => [e.pano.protocol, e.pano.kind, e.tls.early_data, e.tls.resumed]), [['tls', 'exchange', 'sent', true]]);
});

test('0-RTT the server refused (it took the session, not the early data): the early request is not read (the server did not read it), the one sent after the handshake is', { skip }, async () => {
  const { pcap, keylog, out } = await resume('refused', refuses, request('/early'), request('/after'));
  assert.match(out, /Early data was rejected/);
  assert.match(out, /Reused, TLSv1\.3/);
  assert.match(out, /\/after early=\s*$/m);
  const { events, stats } = parseCaptureSync(pcap, { parse: { tlsKeyLogs: [keylog] } }) as { events: any[]; stats: any };
  assertValidEvents(events);
  assert.deepEqual(summary(events), [['tls', 'exchange', undefined, undefined], ['http', 'exchange', '/after', '/after early=\n']]);
  assert.equal(events[0].tls.early_data, 'rejected');
  assert.equal(events[0].tls.resumed, true);
  assert.equal(events[0].pano.flags, undefined);
  assert.ok(stats.protocols['tls.early_data_records'] >= 1);
  assert.equal(stats.protocols['tls.early_data_decrypted'], undefined);
  const port = `tcp.port==${refuses}`;
  // tshark decrypts the refused early data too and lists its request; pano-parse leaves it out on
  // purpose: the server never read it, and fed to the HTTP parser it would be a request answered by
  // the answer to /after
  const rows = tsharkFields(pcap, ['http.request.uri'], port, ['-o', `tls.keylog_file:${keylog}`, '-d', `${port},tls`]);
  assert.deepEqual(rows.map(([uri]) => uri).filter(Boolean), ['/early', '/after']);
});
