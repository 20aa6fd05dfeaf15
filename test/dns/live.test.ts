// Real DNS traffic: dig against a local dnsmasq over UDP and TCP, captured
// with tcpdump on loopback, parsed, and compared with what dig reported.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LoopbackCapture, freePort } from '../helpers/loopback-capture.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';

const missing = ['/usr/sbin/dnsmasq', '/usr/bin/dig', '/usr/bin/tcpdump'].filter((p) => !existsSync(p));
const dir = mkdtempSync(join(tmpdir(), 'pano-dns-'));
let dnsmasq: ChildProcess | undefined;
let port = 0;

before(async () => {
  if (missing.length) return;
  port = await freePort();
  dnsmasq = spawn('/usr/sbin/dnsmasq', [
    '--no-daemon', '--conf-file=/dev/null', `--port=${port}`, '--listen-address=127.0.0.1', '--bind-interfaces',
    '--no-resolv', '--no-hosts', '--pid-file=' + join(dir, 'pid'),
    '--address=/example.test/10.1.2.3', '--address=/v6.example.test/fd00::1234',
    '--txt-record=txt.example.test,"hello world"', '--mx-host=example.test,mail.example.test,10',
    '--srv-host=_sip._tcp.example.test,sip.example.test,5060,1,2', '--cname=alias.example.test,target.example.test',
    '--host-record=target.example.test,10.9.9.9',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  dnsmasq.stderr!.on('data', (d) => (err += d));
  // Ready when it answers.
  for (let i = 0; i < 100; i++) {
    try {
      execFileSync('dig', ['+short', '+time=1', '+tries=1', '-p', String(port), '@127.0.0.1', 'example.test'], { stdio: 'pipe' });
      return;
    } catch {
      if (dnsmasq.exitCode !== null) throw new Error(`dnsmasq exited: ${err}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`dnsmasq did not answer: ${err}`);
});

after(() => {
  dnsmasq?.kill('SIGTERM');
  if (!process.env.PANO_KEEP) rmSync(dir, { recursive: true, force: true });
});

interface DigAnswer { name: string; ttl: number; class: string; type: string; data: string }

/** Runs dig and returns its id, status and answer section (parsed from dig's own output). */
function dig(args: string[]): { id: number; status: string; answers: DigAnswer[] } {
  const out = execFileSync('dig', ['-p', String(port), '@127.0.0.1', '+noall', '+comments', '+answer', ...args], { encoding: 'utf8' });
  const h = /opcode: QUERY, status: (\w+), id: (\d+)/.exec(out);
  assert.ok(h, out);
  const answers: DigAnswer[] = [];
  for (const line of out.split('\n')) {
    if (!line || line.startsWith(';')) continue;
    const m = /^(\S+)\s+(\d+)\s+(\S+)\s+(\S+)\s+(.*)$/.exec(line);
    if (m) answers.push({ name: m[1].replace(/\.$/, ''), ttl: Number(m[2]), class: m[3], type: m[4], data: m[5].replace(/\.$/, '') });
  }
  return { id: Number(h[2]), status: h[1], answers };
}

test('dig over UDP and TCP against dnsmasq: every query and answer as dig saw it', { skip: missing.length ? `missing ${missing.join(', ')}` : false }, async () => {
  const file = join(dir, 'dns.pcap');
  const cap = new LoopbackCapture(file, `port ${port}`);
  await cap.start();
  const asked: Array<{ args: string[]; tcp: boolean; name: string; type: string; r: ReturnType<typeof dig> }> = [];
  try {
    for (const tcp of [false, true]) {
      for (const [name, type] of [['example.test', 'A'], ['v6.example.test', 'AAAA'], ['txt.example.test', 'TXT'], ['example.test', 'MX'], ['_sip._tcp.example.test', 'SRV'], ['alias.example.test', 'A'], ['nowhere.invalid', 'A']]) {
        const args = [name, type, ...(tcp ? ['+tcp'] : [])];
        asked.push({ args, tcp, name, type, r: dig(args) });
      }
    }
  } finally {
    await cap.stop();
  }
  const { events } = parseCaptureSync(file);
  assertValidEvents(events);
  const dns = events.filter((e: any) => e.pano.protocol === 'dns') as any[];
  assert.equal(dns.length, asked.length, 'one event per dig query');
  for (const a of asked) {
    const ev = dns.find((e) => e.dns.id === a.r.id && e.dns.question.name === a.name && e.network.transport === (a.tcp ? 'tcp' : 'udp'));
    assert.ok(ev, `event for ${a.args.join(' ')}`);
    assert.equal(ev.pano.kind, 'exchange');
    assert.equal(ev.dns.question.type, a.type);
    assert.equal(ev.dns.response_code, a.r.status);
    assert.equal(ev.server.port, port);
    assert.deepEqual(
      ev.dns.answers.map((x: any) => ({ name: x.name, ttl: x.ttl, class: x.class, type: x.type, data: x.data })),
      a.r.answers,
      a.args.join(' '),
    );
  }
  // The addresses the service graph will use.
  const a = dns.find((e) => e.dns.question.name === 'example.test' && e.dns.question.type === 'A');
  assert.equal(a.dns.answers[0].data, '10.1.2.3');
});
