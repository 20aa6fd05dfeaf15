// The graph of the test's own traffic, in a network namespace the test creates
// (so no other test's traffic or BPF programs on the host's lo interfere): a
// real DNS server (dnsmasq) answers a name, a real client (dig) looks it up, a
// real client (curl) then talks HTTP to the address it got, tcpdump captures it
// all on the namespace's lo; pano-parse | pano-pii | pano-graph must show
// exactly that: the HTTP server named by the answer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GraphSnapshot } from '@panopticon/graph';
import { pipeline } from './pipeline.js';

const TOOLS = ['/usr/sbin/dnsmasq', '/usr/bin/tcpdump', '/usr/bin/dig', '/usr/bin/curl'];
const missing = TOOLS.find((t) => !existsSync(t));
const DNS_ADDR = '127.0.0.54';
const WEB_ADDR = '127.0.0.2';
const NAME = 'api.pano.test';
// async: the HTTP server lives in this process, so a synchronous client would deadlock it
const run = promisify(execFile);

function waitFor(child: ReturnType<typeof spawn>, re: RegExp, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let text = '';
    const t = setTimeout(() => reject(new Error(`${what} did not start: ${text}`)), 20_000);
    const on = (d: Buffer) => {
      text += d.toString();
      if (re.test(text)) {
        clearTimeout(t);
        resolve();
      }
    };
    child.stderr?.on('data', on);
    child.stdout?.on('data', on);
    child.once('exit', (code) => reject(new Error(`${what} exited ${code}: ${text}`)));
  });
}

test('DNS lookup then HTTP, captured live: the server node carries the looked-up name', { timeout: 120_000, skip: (missing && `${missing} is not installed`) || (process.getuid?.() !== 0 && 'needs root for a network namespace') }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pano-live-'));
  const ns = `pano-graph-${process.pid}`;
  const inNs = (cmd: string, args: string[]) => ['netns', 'exec', ns, cmd, ...args];
  const pcap = join(dir, 'live.pcap');
  const webPort = 8080;
  const server = `require('node:http').createServer((q, s) => q.url === '/fail' ? s.writeHead(503).end('down') :
    s.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ user: 'jane', email: 'jane.doe@example.com' })))
    .listen(${webPort}, '${WEB_ADDR}', () => console.log('serving'))`;
  await run('ip', ['netns', 'add', ns]);
  const procs: Array<ReturnType<typeof spawn>> = [];
  const start = (cmd: string, args: string[]) => {
    const p = spawn('ip', inNs(cmd, args), { stdio: ['ignore', 'pipe', 'pipe'] });
    procs.push(p);
    return p;
  };
  try {
    await run('ip', inNs('ip', ['link', 'set', 'lo', 'up']));
    const web = start(process.execPath, ['-e', server]);
    const dnsmasq = start('/usr/sbin/dnsmasq', ['-k', '--conf-file=/dev/null', '--port=53', `--listen-address=${DNS_ADDR}`, '--bind-interfaces', '--no-resolv', '--no-hosts', `--address=/${NAME}/${WEB_ADDR}`, `--pid-file=${join(dir, 'dnsmasq.pid')}`, '--log-facility=-', '--user=root']);
    // --immediate-mode: without it packets wait in the kernel's ring block (up to its
    // timeout) and those still there when tcpdump is stopped are never written
    const tcpdump = start('/usr/bin/tcpdump', ['-i', 'lo', '--immediate-mode', '-B', '65536', '-U', '-n', '-Z', 'root', '-w', pcap, `host ${DNS_ADDR} or host ${WEB_ADDR} or udp port 9`]);
    await waitFor(web, /serving/, 'HTTP server');
    await waitFor(dnsmasq, /started/, 'dnsmasq');
    await waitFor(tcpdump, /listening on lo/, 'tcpdump');
    // "listening" can come before packets reach the file: send UDP probes to the discard
    // port (no parser claims them) until one lands there
    const probe = "require('node:dgram').createSocket('udp4').send('probe', 9, '127.0.0.1', () => process.exit(0))";
    for (let i = 0; i < 50 && statSync(pcap).size <= 24; i++) {
      await run('ip', inNs(process.execPath, ['-e', probe]));
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(statSync(pcap).size > 24, 'tcpdump captures');

    const dig = await run('ip', inNs('/usr/bin/dig', [`@${DNS_ADDR}`, '-b', '127.0.0.1', '+short', '+tries=1', NAME, 'A']), { encoding: 'utf8' });
    assert.equal(dig.stdout.trim(), WEB_ADDR, dig.stderr);
    for (const path of ['/', '/', '/fail']) {
      const c = await run('ip', inNs('/usr/bin/curl', ['-s', '-m', '10', '-o', '/dev/null', '-w', '%{http_code}', '--interface', '127.0.0.1', `http://${WEB_ADDR}:${webPort}${path}`]), { encoding: 'utf8' }).catch((e) => e as { stdout: string });
      assert.equal(c.stdout, path === '/fail' ? '503' : '200');
    }
  } finally {
    for (const p of procs.reverse()) {
      p.kill('SIGTERM');
      if (p.exitCode === null && p.signalCode === null) await new Promise((r) => p.once('exit', r));
    }
    await run('ip', ['netns', 'delete', ns]).catch(() => undefined);
  }
  try {
    const g = JSON.parse(pipeline([pcap], [], { pii: true })) as GraphSnapshot;
    // what the test did, by hand: 1 DNS query 127.0.0.1 → 127.0.0.54:53, 3 HTTP requests to 127.0.0.2, one 503
    assert.deepEqual(g.nodes.map((n) => n.id).sort(), ['127.0.0.1', DNS_ADDR, NAME].sort());
    const webNode = g.nodes.find((n) => n.id === NAME)!;
    assert.deepEqual(webNode.addresses, [WEB_ADDR]);
    assert.deepEqual(webNode.names, [NAME]);
    assert.deepEqual(webNode.ports, [webPort]);
    assert.deepEqual(webNode.protocols, ['http']);
    assert.equal(webNode.requests_served, 3);
    assert.deepEqual(g.nodes.find((n) => n.id === DNS_ADDR)!.ports, [53]);

    assert.deepEqual(g.edges.map((e) => e.id).sort(), [`127.0.0.1 -> ${DNS_ADDR} (dns)`, `127.0.0.1 -> ${NAME} (http)`].sort());
    const http = g.edges.find((e) => e.protocol === 'http')!;
    assert.equal(http.requests, 3);
    assert.equal(http.errors, 1);
    assert.equal(http.latency_ns.samples, 3);
    assert.ok(http.latency_ns.p50! > 0 && http.latency_ns.p50! <= http.latency_ns.p99!);
    assert.equal(http.pii.server_to_client.email, 2, 'the address in the two 200 responses went server → client');
    const dns = g.edges.find((e) => e.protocol === 'dns')!;
    assert.equal(dns.requests, 1);
    assert.equal(dns.errors, 0);
    assert.ok(BigInt(dns.last_seen_ns) <= BigInt(http.first_seen_ns), 'the lookup came before the HTTP traffic');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
