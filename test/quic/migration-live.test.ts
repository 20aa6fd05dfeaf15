// A QUIC connection that moves to another client address (RFC 9000 §9), followed by the IDs its
// endpoints issued: ngtcp2's example client (Debian's gtlsclient) migrating to a new local port
// right after its handshake (`--change-local-addr`) while it downloads a file from gtlsserver on
// loopback, its key log written by GnuTLS, captured with tcpdump. Before the connection IDs were
// followed, the new path was a flow of its own that no module recognised: the download stopped at
// the ~40 KB sent before the move, the second answer was missing. And a NAT rebinding, the same
// IDs from a new port, made by rewriting the client's port in a capture of a connection that did
// not move. And a server that asks to be reached at another address (its preferred_address
// transport parameter, read from the decrypted handshake), which the client moves to.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CaptureReader, type Packet } from '@panopticon/pcap';
import { LoopbackCapture, freePort } from '../helpers/loopback-capture.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';
import { pcapng } from '../helpers/synth.js';
import { runBin } from '../helpers/bin.js';
import { shardOf } from '@panopticon/parse';

const missing = ['/usr/bin/gtlsclient', '/usr/sbin/gtlsserver', '/usr/bin/openssl', '/usr/bin/tcpdump', '/usr/bin/tshark'].filter((p) => !existsSync(p));
const skip = missing.length ? `missing ${missing.join(', ')} (apt-get install ngtcp2-client ngtcp2-server)` : false;
const dir = mkdtempSync(join(tmpdir(), 'pano-quic-move-'));
const docs = join(dir, 'htdocs');
const files: Record<string, string> = {};
const servers: ChildProcess[] = [];
let port = 0;

before(async () => {
  if (skip) return;
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '30',
    '-subj', '/CN=localhost', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'pipe' });
  mkdirSync(docs);
  files['large.txt'] = randomBytes(1_200_000).toString('base64').replace(/.{100}/g, '$&\n');
  files['hello.txt'] = 'hello from the other side of a migration\n';
  for (const [name, text] of Object.entries(files)) writeFileSync(join(docs, name), text);
  port = await freePort();
  const p = spawn('gtlsserver', ['-q', '-d', docs, '127.0.0.1', String(port), join(dir, 'key.pem'), join(dir, 'cert.pem')], { stdio: 'ignore' });
  servers.push(p);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(p.exitCode, null, 'gtlsserver exited');
});
after(() => {
  for (const s of servers) s.kill();
  rmSync(dir, { recursive: true, force: true });
});

/** Captures one connection downloading both files (from `serverPort`, also capturing `alsoPort`); returns the capture and its key log. */
async function download(name: string, extra: string[], serverPort = port, alsoPort?: number): Promise<{ file: string; keylog: string }> {
  const file = join(dir, `${name}.pcap`);
  const keylog = join(dir, `${name}.keys`);
  const out = join(dir, `got-${name}`);
  mkdirSync(out);
  const cap = new LoopbackCapture(file, `udp port ${serverPort}${alsoPort ? ` or udp port ${alsoPort}` : ''}`);
  await cap.start();
  try {
    await promisify(execFile)('gtlsclient', ['-q', `--download=${out}`, '--exit-on-all-streams-close', ...extra,
      '127.0.0.1', String(serverPort), `https://localhost:${serverPort}/large.txt`, `https://localhost:${serverPort}/hello.txt`], { timeout: 20_000, env: { ...process.env, SSLKEYLOGFILE: keylog } });
  } finally {
    await cap.stop();
  }
  for (const f of Object.keys(files)) assert.equal(readFileSync(join(out, f), 'utf8'), files[f], `the client downloaded ${f} whole`);
  return { file, keylog };
}

function packets(file: string): Packet[] {
  const list: Packet[] = [];
  const r = new CaptureReader({ onPacket: (p) => list.push({ ...p, data: Buffer.from(p.data) }), onWarning: () => {} });
  r.push(readFileSync(file));
  r.end();
  return list;
}

/** UDP ports (other than the servers' in `servers`) of the client's packets, in the order first seen. */
function clientPorts(list: Packet[], servers = [port]): number[] {
  const ports: number[] = [];
  for (const p of list) {
    const udp = 14 + (p.data[14]! & 0x0f) * 4;
    const src = p.data.readUInt16BE(udp);
    const dst = p.data.readUInt16BE(udp + 2);
    const client = servers.includes(src) ? dst : src;
    if (!ports.includes(client)) ports.push(client);
  }
  return ports;
}

/** The server ports the client's packets went to, in the order first seen. */
function serverPorts(list: Packet[], client: number): number[] {
  const ports: number[] = [];
  for (const p of list) {
    const udp = 14 + (p.data[14]! & 0x0f) * 4;
    const src = p.data.readUInt16BE(udp);
    const dst = p.data.readUInt16BE(udp + 2);
    if (src === client && !ports.includes(dst)) ports.push(dst);
  }
  return ports;
}

/** Both answers read whole on the connection's first path; `how` names the case. */
function assertFollowed(events: any[], stats: any, firstPort: number, how: string): void {
  assertValidEvents(events);
  assert.equal(events.filter((e) => e.pano.protocol === 'quic').length, 1, `${how}: one QUIC connection`);
  const h3 = events.filter((e) => e.pano.protocol === 'http3');
  assert.deepEqual(h3.map((e) => e.url.path).sort(), ['/hello.txt', '/large.txt'], how);
  for (const e of h3) {
    const name = e.url.path.slice(1);
    assert.equal(e.client.port, firstPort, `${how}: the connection keeps the address it started from`);
    assert.equal(e.http.response.status_code, 200, `${how} ${name}`);
    assert.equal(e.http.response.body.size, Buffer.byteLength(files[name]!), `${how} ${name}: every byte of the answer, on both paths`);
    assert.ok(!e.pano.flags?.includes('eof'), `${how} ${name}: the answer ended, not the capture`);
  }
  assert.equal(h3.find((e) => e.url.path === '/hello.txt').http.response.body.content, files['hello.txt'], how);
  assert.equal(stats.protocols['dispatch.followed_paths'], 1, `${how}: the new path followed`);
  assert.equal(stats.protocols['dispatch.unidentified_udp_flows'], undefined, how);
  assert.equal(stats.protocols['dispatch.ignored_bytes'], undefined, how);
  assert.equal(stats.protocols['quic.undecryptable_packets'], undefined, how);
}

test('a client that migrates to a new port after its handshake (new connection IDs, from NEW_CONNECTION_ID frames read with the key log): its connection followed onto the new path, both answers whole', { skip, timeout: 60_000 }, async () => {
  const { file, keylog } = await download('migrate', ['--change-local-addr=1ms']);
  const ports = clientPorts(packets(file));
  assert.equal(ports.length, 2, 'the client moved once');
  const { events, stats } = parseCaptureSync(file, { parse: { tlsKeyLogs: [keylog] } }) as { events: any[]; stats: any };
  assertFollowed(events, stats, ports[0]!, 'migration');
  // the IDs the client moved to travel encrypted: without the key log the new path is no known connection
  const bare = parseCaptureSync(file) as { stats: any };
  assert.equal(bare.stats.protocols['dispatch.followed_paths'], undefined);
  assert.equal(bare.stats.protocols['dispatch.unidentified_udp_flows'], 1);
});

test('a NAT rebinding (the client\'s packets from another port after the handshake, with the same connection IDs): followed by the IDs of the handshake, with or without the key log', { skip, timeout: 60_000 }, async () => {
  const { file, keylog } = await download('rebind', []);
  const list = packets(file);
  const [first] = clientPorts(list);
  assert.equal(clientPorts(list).length, 1, 'the client did not move');
  // from the client's first 1-RTT packet on (a short header, RFC 9000 §17.3), both directions use a new client
  // port, one whose tuple falls to the other of two workers (pano-parse -w 2, below)
  const shard = (clientPort: number) => shardOf({ srcAddr: '127.0.0.1', srcPort: clientPort, dstAddr: '127.0.0.1', dstPort: port } as never, 2);
  let moved = first! + 1;
  while (moved === port || shard(moved) === shard(first!)) moved++;
  let rebound = false;
  const frames = list.map((p) => {
    const data = Buffer.from(p.data);
    const udp = 14 + (data[14]! & 0x0f) * 4;
    const toServer = data.readUInt16BE(udp + 2) === port;
    if (toServer && (data[udp + 8]! & 0x80) === 0) rebound = true;
    if (rebound) {
      data.writeUInt16BE(moved, toServer ? udp : udp + 2);
      data.writeUInt16BE(0, udp + 6); // no checksum (RFC 768), as the ports changed
    }
    return { tsNs: p.tsNs, data };
  });
  assert.ok(rebound, 'the client sent 1-RTT packets');
  const capture = pcapng(frames);
  const { events, stats } = parseCaptureSync(capture, { parse: { tlsKeyLogs: [keylog] } }) as { events: any[]; stats: any };
  assertFollowed(events, stats, first!, 'rebinding');
  // without keys only the handshake is read, but the rebound path is still known to be that connection
  const bare = parseCaptureSync(capture) as { stats: any };
  assert.equal(bare.stats.protocols['dispatch.followed_paths'], 1);
  assert.equal(bare.stats.protocols['dispatch.unidentified_udp_flows'], undefined);
  // as the unmodified capture reads
  const whole = parseCaptureSync(file, { parse: { tlsKeyLogs: [keylog] } }) as { events: any[] };
  assert.deepEqual(events.map((e) => [e.url?.path, e.http?.response?.body?.size]), whole.events.map((e) => [e.url?.path, e.http?.response?.body?.size]));
  // with two workers, the rebound path (its tuple the other worker's) stays with the worker that started
  // the connection, which every worker knows from the handshake's IDs: the same events and counts
  const reboundFile = join(dir, 'rebound.pcapng');
  writeFileSync(reboundFile, capture);
  const summary = (stdout: string) => stdout.trim().split('\n').map((l) => JSON.parse(l)).map((e) => [e.pano.protocol, e.url?.path, e.http?.response?.body?.size, e.client.port]).sort();
  const counts = (stderr: string) => stderr.split('\n').filter((l) => /^(flows\.udpFlows|protocols\.dispatch\.|protocols\.http3\.exchanges)/.test(l));
  const one = runBin('pano-parse', ['--stats', '--tls-keylog', keylog, reboundFile]);
  const two = runBin('pano-parse', ['-w', '2', '--stats', '--tls-keylog', keylog, reboundFile]);
  assert.equal(one.status, 0, one.stderr);
  assert.equal(two.status, 0, two.stderr);
  assert.deepEqual(summary(two.stdout), summary(one.stdout));
  assert.deepEqual(counts(two.stderr), counts(one.stderr));
  assert.ok(counts(one.stderr).includes('protocols.dispatch.followed_paths 1'), one.stderr);
});

test('a server that gives a preferred address (RFC 9000 §9.6): the client moves there after the handshake, sending the ID the server gave with the address in its encrypted transport parameters; followed from its first packet there', { skip, timeout: 60_000 }, async () => {
  const first = await freePort();
  const preferred = await freePort();
  const p = spawn('gtlsserver', ['-q', '-d', docs, `--preferred-ipv4-addr=127.0.0.1:${preferred}`, '127.0.0.1', String(first), join(dir, 'key.pem'), join(dir, 'cert.pem')], { stdio: 'ignore' });
  servers.push(p);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(p.exitCode, null, 'gtlsserver exited');
  const { file, keylog } = await download('preferred', [], first, preferred);
  const list = packets(file);
  const [client] = clientPorts(list, [first, preferred]);
  assert.deepEqual(serverPorts(list, client!), [first, preferred], 'the client moved to the preferred address');
  const { events, stats } = parseCaptureSync(file, { parse: { tlsKeyLogs: [keylog] } }) as { events: any[]; stats: any };
  // every event keeps the address the connection started at (assertFollowed also finds no byte ignored:
  // the first packets at the new address carry the preferred address's ID, known before they came)
  assertFollowed(events, stats, client!, 'preferred address');
  for (const e of events) assert.equal(e.server.port, first);
});

