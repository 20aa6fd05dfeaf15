// DNS over TLS (RFC 7858) and over HTTPS (RFC 8484) read with a key log: dig +tls and +https (BIND
// 9.18) against dnsmasq behind front ends in this process, which log the sessions' secrets: a TLS
// terminator piping each connection to dnsmasq's TCP port (as stunnel or a resolver's DoT front end
// does), and an HTTP/2 server passing each DNS message to dnsmasq over UDP; captured with tcpdump.
// dig keeps its connection open for three queries: each is an event of its own, read from the
// decrypted records, and nothing of them without the key log.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { createServer, type Server } from 'node:tls';
import { createSecureServer, type Http2SecureServer } from 'node:http2';
import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import { dnsmasqForTests } from '../helpers/dnsmasq.js';
import { LoopbackCapture, freePort } from '../helpers/loopback-capture.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';

const missing = ['/usr/sbin/dnsmasq', '/usr/bin/dig', '/usr/bin/tcpdump', '/usr/bin/openssl'].filter((p) => !existsSync(p));
const skip = missing.length ? `missing ${missing.join(', ')}` : false;
const dns = dnsmasqForTests('pano-dot-', ['--address=/dot.example.test/192.0.2.53', '--txt-record=txt.dot.example.test,read over tls', '--mx-host=dot.example.test,mail.dot.example.test,10'], Boolean(skip));
let server: Server | undefined;
let doh: Http2SecureServer | undefined;
let port = 0;
let dohPort = 0;
const keylog = () => join(dns.dir, 'dot.keys');

before(async () => {
  if (skip) return;
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', '/CN=dot.example.test', '-keyout', join(dns.dir, 'key.pem'), '-out', join(dns.dir, 'cert.pem')], { stdio: 'pipe' });
  server = createServer({ key: readFileSync(join(dns.dir, 'key.pem')), cert: readFileSync(join(dns.dir, 'cert.pem')) }, (tls) => {
    const up = connect(dns.port(), '127.0.0.1');
    tls.pipe(up).pipe(tls);
    tls.on('error', () => up.destroy());
    up.on('error', () => tls.destroy());
  });
  server.on('keylog', (line) => appendFileSync(keylog(), line));
  port = await freePort();
  await new Promise<void>((r) => server!.listen(port, '127.0.0.1', r));
  // DoH: the body of a POST to /dns-query is a DNS message; it goes to dnsmasq over UDP, the answer back
  doh = createSecureServer({ key: readFileSync(join(dns.dir, 'key.pem')), cert: readFileSync(join(dns.dir, 'cert.pem')) }, (req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const udp = createSocket('udp4');
      udp.once('message', (answer) => {
        udp.close();
        // (dig's DoH client reads no answer without a content-length)
        res.writeHead(200, { 'content-type': 'application/dns-message', 'content-length': answer.length });
        res.end(answer);
      });
      udp.send(Buffer.concat(parts), dns.port(), '127.0.0.1');
    });
  });
  doh.on('keylog', (line) => appendFileSync(keylog(), line));
  dohPort = await freePort();
  await new Promise<void>((r) => doh!.listen(dohPort, '127.0.0.1', r));
});
after(() => {
  server?.close();
  doh?.close();
});

/**
 * dig `flag` (+tls, +https) asking the three questions on one connection to `serverPort`, captured
 * into NAME.pcap; returns the capture and what dig printed (asserted first).
 */
async function digCaptured(name: string, flag: string, serverPort: number): Promise<{ file: string; printed: string[] }> {
  const file = join(dns.dir, `${name}.pcap`);
  const cap = new LoopbackCapture(file, `tcp port ${serverPort}`);
  await cap.start();
  let out: string;
  try {
    // (not execFileSync: the servers run in this process)
    ({ stdout: out } = await promisify(execFile)('dig', [flag, '+keepopen', '+short', '-p', String(serverPort), '@127.0.0.1',
      'dot.example.test', 'A', 'txt.dot.example.test', 'TXT', 'dot.example.test', 'MX'], { encoding: 'utf8' }));
  } finally {
    await cap.stop();
  }
  const printed = out.trim().split('\n');
  assert.deepEqual(printed, ['192.0.2.53', '"read over tls"', '10 mail.dot.example.test.']);
  return { file, printed };
}

test('dig +tls, three queries on one connection: each an event read from the decrypted records, as dig printed the answers; nothing without the key log', { skip }, async () => {
  const { file, printed } = await digCaptured('dot', '+tls', port);

  const { events, stats } = parseCaptureSync(file, { parse: { tlsKeyLogs: [keylog()] } }) as { events: any[]; stats: any };
  assertValidEvents(events);
  const [hs, ...queries] = events;
  assert.equal(hs.pano.protocol, 'tls');
  assert.equal(hs.tls.decrypted, true);
  // the answers as dig printed them (presentation format; names without their final dot)
  assert.deepEqual(queries.map((e) => [e.pano.protocol, e.pano.kind, e.dns.question.name, e.dns.question.type, e.dns.response_code, e.dns.answers.map((a: any) => a.data)]), [
    ['dns', 'exchange', 'dot.example.test', 'A', 'NOERROR', [printed[0]]],
    ['dns', 'exchange', 'txt.dot.example.test', 'TXT', 'NOERROR', [printed[1]]],
    ['dns', 'exchange', 'dot.example.test', 'MX', 'NOERROR', [printed[2]!.replace(/\.$/, '')]],
  ]);
  for (const e of queries) {
    assert.deepEqual(e.tls, { protocol: { name: 'tls', version: hs.tls.protocol.version }, cipher: hs.tls.cipher, established: true, decrypted: true });
    assert.equal(e.pano.connection.id, hs.pano.connection.id, 'on the TLS connection');
    assert.equal(e.network.transport, 'tcp');
  }
  assert.equal(stats.protocols['tunnel.dns'], 1);
  const bare = parseCaptureSync(file).events as any[];
  assert.deepEqual(bare.map((e) => e.pano.protocol), ['tls']);
});

test('dig +https (DNS over HTTPS, HTTP/2 POSTs on one connection): each exchange read from the decrypted records carries the DNS question and answers dig printed', { skip }, async () => {
  const { file, printed } = await digCaptured('doh', '+https', dohPort);
  const { events } = parseCaptureSync(file, { parse: { tlsKeyLogs: [keylog()] } }) as { events: any[] };
  assertValidEvents(events);
  const [hs, ...exchanges] = events;
  assert.deepEqual([hs.pano.protocol, hs.tls.next_protocol, hs.tls.decrypted], ['tls', 'h2', true]);
  assert.deepEqual(exchanges.map((e) => [e.pano.protocol, e.http.request.method, e.url.path, e.http.response.status_code, e.dns.question.name, e.dns.question.type, e.dns.answers.map((a: any) => a.data), e.tls.decrypted]), [
    ['http2', 'POST', '/dns-query', 200, 'dot.example.test', 'A', [printed[0]], true],
    ['http2', 'POST', '/dns-query', 200, 'txt.dot.example.test', 'TXT', [printed[1]], true],
    ['http2', 'POST', '/dns-query', 200, 'dot.example.test', 'MX', [printed[2]!.replace(/\.$/, '')], true],
  ]);
  assert.deepEqual(parseCaptureSync(file).events.map((e: any) => e.pano.protocol), ['tls']);
});
