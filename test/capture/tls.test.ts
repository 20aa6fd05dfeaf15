/**
 * pano-capture --tls end to end: real TLS traffic (curl against nginx with a
 * self-signed certificate, HTTP/1.1 and HTTP/2; a Node.js HTTPS client and
 * server through the node binary's OpenSSL) captured as TLS plaintext
 * records, then parsed by pano-parse into events that must say what the
 * clients did. tshark and capinfos must read the capture without error, and
 * nothing of the run may stay attached.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCapture, decodeTlsEndRecord, RecordType, type CustomBlock, type TlsEndRecord } from '@panopticon/pcap';
import { PANO_PEN, decodeTlsRecord, findLibgnutls, findLibssl } from '@panopticon/capture';
import { bpfUnavailable, toolMissing } from './env.js';
import { NODE_SRC, ROOT, waitFor, exited, collect } from './netns.js';

const skip = bpfUnavailable() ?? toolMissing('nginx', 'curl', 'wget', 'openssl', 'tshark', 'capinfos', 'bpftool', 'cc') ?? (findLibssl() ? undefined : 'libssl.so.3 is not installed') ?? (findLibgnutls() ? undefined : 'libgnutls.so.30 is not installed');
const CAPTURE = [...NODE_SRC, join(ROOT, 'bin/pano-capture')];
const PARSE = [...NODE_SRC, join(ROOT, 'bin/pano-parse')];

/**
 * A free port in [from, from + 4000). The test's second port is above the
 * kernel's ephemeral range (32768-60999), so above every client port: there
 * roles guessed by port are always wrong, and nginx's HTTP/2 SETTINGS, written
 * before it reads, cannot correct them; the record's role must (ADR 0304).
 */
async function freePort(from: number): Promise<number> {
  for (;;) {
    const s = createServer();
    const port = from + Math.floor(Math.random() * 4000);
    const ok = await new Promise<boolean>((r) => {
      s.once('error', () => r(false));
      s.listen(port, '127.0.0.1', () => r(true));
    });
    if (!ok) continue;
    await new Promise((r) => s.close(r));
    return port;
  }
}

function run(cmd: string[], input?: Buffer): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd[0], cmd.slice(1), { input, encoding: 'utf8', maxBuffer: 64 << 20 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Programs of ours still loaded (they go when the run's links and object are closed). */
function ourPrograms(): string[] {
  const r = run(['bpftool', 'prog', 'list', '-j']);
  const progs = JSON.parse(r.stdout || '[]') as { name?: string }[];
  return progs.map((p) => p.name ?? '').filter((n) => n.startsWith('pano_tls'));
}

type Ev = Record<string, any>;

/** Two views of one connection: exactly one names the other's connection as the one it repeats. */
function assertMirrored(a: Ev, b: Ev): void {
  const pair = [a.pano.connection, b.pano.connection];
  const naming = pair.filter((c) => c.mirror_of !== undefined);
  assert.equal(naming.length, 1, JSON.stringify(pair));
  assert.equal(naming[0].mirror_of, pair.find((c) => c !== naming[0]).id);
}

describe('pano-capture --tls', { skip }, () => {
  let dir: string;
  let nginx: ChildProcess | undefined;
  let port = 0;
  let highPort = 0;
  let capFile: string;
  let events: Ev[] = [];
  let capStderr = '';
  let capStatus: number | null = null;
  let nodeResult: { port: number; status: number; body: string };
  let nodePid = 0;
  const curlPids: number[] = [];
  const wgetPids: number[] = [];
  let leaderExits = { pid: 0, status: null as number | null, stdout: '' };
  let leftBefore: string[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pano-tls-'));
    leftBefore = ourPrograms();
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    const gen = run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost']);
    assert.equal(gen.status, 0, gen.stderr);
    port = await freePort(20000);
    highPort = await freePort(61000);
    writeFileSync(
      join(dir, 'nginx.conf'),
      `worker_processes 1;
user root;
error_log stderr;
pid ${dir}/nginx.pid;
events {}
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server {
    listen 127.0.0.1:${port} ssl http2;
    listen 127.0.0.1:${highPort} ssl http2;
    ssl_certificate ${cert};
    ssl_certificate_key ${key};
    location = /hello { default_type text/plain; return 200 "hello from nginx\\n"; }
    location = /submit { default_type text/plain; return 201 "created\\n"; }
    location / { return 404; }
  }
}
`,
    );
    nginx = spawn('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: ['ignore', 'pipe', 'pipe'] });
    // listening once a connection is accepted
    for (let i = 0; ; i++) {
      const r = run(['curl', '-sk', '-o', '/dev/null', '-w', '%{http_code}', `https://127.0.0.1:${port}/none`]);
      if (r.stdout === '404') break;
      if (i > 200 || nginx.exitCode !== null) throw new Error(`nginx did not start: ${r.stderr}`);
      await new Promise((r) => setTimeout(r, 25));
    }

    capFile = join(dir, 'tls.pcapng');
    const cap = spawn(CAPTURE[0], [...CAPTURE.slice(1), '--tls', '--tls-binary', process.execPath, '-w', capFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    const err = collect(cap, 'stderr');
    await waitFor(cap, 'stderr', /capturing TLS plaintext/);

    const curl = (args: string[]) =>
      new Promise<void>((resolve, reject) => {
        const c = spawn('curl', ['-sk', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
        curlPids.push(c.pid!);
        c.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`curl ${args.join(' ')}: ${code}`))));
      });
    await curl(['--http1.1', `https://127.0.0.1:${port}/hello?lang=en`]);
    await curl(['--http1.1', '-X', 'POST', '-H', 'content-type: application/json', '--data', '{"name":"ada"}', `https://127.0.0.1:${port}/submit`]);
    await curl(['--http2', `https://127.0.0.1:${port}/hello`]);
    await curl(['--http2', `https://127.0.0.1:${highPort}/hello?high=1`]);
    // Debian's wget is built on GnuTLS
    for (const args of [[`https://127.0.0.1:${port}/hello?via=wget`], ['--post-data', '{"name":"grace"}', `https://127.0.0.1:${port}/submit?via=wget`]]) {
      const w = spawn('wget', ['-q', '--no-check-certificate', '-O', '/dev/null', ...args], { stdio: 'ignore' });
      wgetPids.push(w.pid!);
      assert.equal(await exited(w), 0, `wget ${args.join(' ')}`);
    }

    // a client whose main thread leaves (pthread_exit) between its request and the response
    const leaderBin = join(dir, 'leader-exits');
    const cc = run(['cc', '-O1', '-pthread', '-o', leaderBin, join(ROOT, 'test/capture/fixtures/leader-exits.c'), findLibssl()!]);
    assert.equal(cc.status, 0, cc.stderr);
    const le = spawn(leaderBin, [String(port), '/hello?leader=exits'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const leOut = collect(le, 'stdout');
    leaderExits = { pid: le.pid!, status: await exited(le), stdout: leOut() };

    const pair = spawn(process.execPath, [join(ROOT, 'test/capture/fixtures/https-pair.mjs'), key, cert], { stdio: ['ignore', 'pipe', 'inherit'] });
    nodePid = pair.pid!;
    const out = collect(pair, 'stdout');
    assert.equal(await exited(pair), 0);
    nodeResult = JSON.parse(out());

    // The records of the calls above are in the kernel buffer by now (each is written before the call returns).
    cap.kill('SIGINT');
    capStatus = await exited(cap);
    capStderr = err();
    const parsed = run([...PARSE, capFile]);
    assert.equal(parsed.status, 0, parsed.stderr);
    events = parsed.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));
  });

  after(() => {
    nginx?.kill('SIGTERM');
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the capture ends cleanly, saying what it captured, and nothing of it stays attached', () => {
    assert.equal(capStatus, 0, capStderr);
    assert.match(capStderr, /TLS: \d+ plaintext records captured/);
    assert.doesNotMatch(capStderr, /lost/);
    assert.deepEqual(ourPrograms(), leftBefore);
  });

  it('curl → nginx over HTTP/1.1: one event per exchange from each side, with process and tls source', () => {
    const get = events.filter((e) => e.url?.path === '/hello' && e.network?.protocol?.version === '1.1' && e.url.query !== 'via=wget' && e.url.query !== 'leader=exits');
    const post = events.filter((e) => e.url?.path === '/submit' && e.url.query !== 'via=wget');
    for (const [list, what] of [[get, 'GET'], [post, 'POST']] as const) {
      // one from curl, one from the nginx worker
      assert.deepEqual(list.map((e) => e.process.executable.name).sort(), ['curl', 'nginx'], `${what}: ${JSON.stringify(list)}`);
      for (const e of list) {
        assert.deepEqual(e.pano.source, { type: 'tls', library: 'openssl' });
        assert.equal(e.server.port, port);
        assert.equal(e.server.address, '127.0.0.1');
        assert.equal(e.url.scheme, 'https');
        assert.equal(e.http.request.method, what);
        assert.equal(typeof e.process.pid, 'number');
      }
      const fromCurl = list.find((e) => e.process.executable.name === 'curl')!;
      assert.ok(curlPids.includes(fromCurl.process.pid));
      // both ends captured: each view says whose it is, and the one opened second (either) names the other
      const fromNginx = list.find((e) => e.process.executable.name === 'nginx')!;
      assert.equal(fromCurl.pano.connection.view, 'client');
      assert.equal(fromNginx.pano.connection.view, 'server');
      assertMirrored(fromCurl, fromNginx);
    }
    for (const e of get) {
      assert.equal(e.url.query, 'lang=en');
      assert.equal(e.http.response.status_code, 200);
      assert.equal(e.http.response.body.content, 'hello from nginx\n');
    }
    for (const e of post) {
      assert.equal(e.http.request.body.content, '{"name":"ada"}');
      assert.equal(e.http.response.status_code, 201);
      assert.equal(e.http.response.body.content, 'created\n');
    }
  });

  it('curl → nginx over HTTP/2: the HTTP/2 parser gets the plaintext', () => {
    const h2 = events.filter((e) => e.url?.path === '/hello' && e.network?.protocol?.version === '2' && !e.url.query);
    assert.deepEqual(h2.map((e) => e.process.executable.name).sort(), ['curl', 'nginx'], JSON.stringify(events.map((e) => [e.pano.protocol, e.url?.path, e.network?.protocol])));
    for (const e of h2) {
      assert.equal(e.http.request.method, 'GET');
      assert.equal(e.http.response.status_code, 200);
      assert.equal(e.http.response.body.content, 'hello from nginx\n');
      assert.deepEqual(e.pano.source, { type: 'tls', library: 'openssl' });
      assert.equal(e.pano.connection.roles, 'library');
    }
  });

  it('a server on a port above the client port, speaking first (HTTP/2): roles from the library, not the ports', () => {
    const h2 = events.filter((e) => e.url?.query === 'high=1');
    assert.deepEqual(h2.map((e) => e.process.executable.name).sort(), ['curl', 'nginx'], JSON.stringify(events.map((e) => [e.pano.protocol, e.url?.path, e.server?.port])));
    for (const e of h2) {
      assert.equal(e.server.port, highPort);
      assert.ok(e.client.port < highPort);
      assert.equal(e.pano.connection.roles, 'library');
      assert.equal(e.http.request.method, 'GET');
      assert.equal(e.http.response.status_code, 200);
      assert.equal(e.http.response.body.content, 'hello from nginx\n');
    }
  });

  it('wget (GnuTLS) → nginx (OpenSSL): each side from its own library, roles from both', () => {
    const list = events.filter((e) => e.url?.query === 'via=wget');
    assert.deepEqual(list.map((e) => `${e.process.executable.name} ${e.pano.source.library} ${e.url.path}`).sort(), ['nginx openssl /hello', 'nginx openssl /submit', 'wget gnutls /hello', 'wget gnutls /submit'], JSON.stringify(list));
    for (const e of list) {
      assert.deepEqual(e.pano.source, { type: 'tls', library: e.process.executable.name === 'wget' ? 'gnutls' : 'openssl' });
      assert.equal(e.pano.connection.roles, 'library');
      assert.equal(e.server.port, port);
      if (e.process.executable.name === 'wget') assert.ok(wgetPids.includes(e.process.pid));
      if (e.url.path === '/hello') {
        assert.equal(e.http.request.method, 'GET');
        assert.equal(e.http.response.status_code, 200);
        assert.equal(e.http.response.body.content, 'hello from nginx\n');
      } else {
        assert.equal(e.http.request.method, 'POST');
        assert.equal(e.http.response.status_code, 201);
        // wget writes the body after the headers, and nginx answers `return 201` without reading it
        if (e.process.executable.name === 'wget') assert.equal(e.http.request.body.content, '{"name":"grace"}');
      }
    }
  });

  it('Node.js client and server (uprobes on the node binary): both sides, tied to their connection', () => {
    const list = events.filter((e) => e.process?.pid === nodePid);
    assert.equal(list.length, 2, JSON.stringify(list));
    for (const e of list) {
      assert.equal(e.http.request.method, 'POST');
      assert.equal(e.url.path, '/api/items');
      assert.equal(e.url.query, 'x=1');
      assert.equal(e.http.request.body.content, 'hello-body');
      assert.equal(e.http.response.status_code, nodeResult.status);
      assert.equal(e.http.response.body.content, nodeResult.body);
      assert.equal(e.server.port, nodeResult.port);
      assert.equal(e.client.address, '127.0.0.1');
      assert.deepEqual(e.pano.source, { type: 'tls', library: 'openssl' });
      assert.equal(e.pano.connection.roles, 'library');
    }
    // the two views are two connections of pano-parse, whose client port is the same, one naming the other
    assert.notEqual(list[0].pano.connection.id, list[1].pano.connection.id);
    assert.deepEqual(list.map((e) => e.pano.connection.view).sort(), ['client', 'server']);
    assertMirrored(list[0], list[1]);
    assert.equal(list[0].client.port, list[1].client.port);
  });

  it('a process whose main thread exits first: its connection ends with its last thread, the exchange whole', async () => {
    assert.equal(leaderExits.status, 0);
    assert.match(leaderExits.stdout, /^HTTP\/1\.1 200 OK\r\n[\s\S]*hello from nginx\n$/);
    const list = events.filter((e) => e.process?.pid === leaderExits.pid);
    assert.equal(list.length, 1, JSON.stringify(list));
    const [e] = list;
    assert.equal(e.pano.kind, 'exchange');
    assert.equal(e.url.query, 'leader=exits');
    assert.equal(e.http.response.status_code, 200);
    assert.equal(e.http.response.body.content, 'hello from nginx\n');
    assert.notEqual(e.process.thread.id, leaderExits.pid, 'the calls were made by the second thread');
    // nginx's view of it: freed (Connection: close) before the client's SSL_write returned, still paired
    const fromNginx = events.filter((n) => n.process?.executable?.name === 'nginx' && n.url?.query === 'leader=exits');
    assert.equal(fromNginx.length, 1);
    assertMirrored(e, fromNginx[0]);
    // one exit record for the process, written when the second thread (the last) exited, after the response was read
    const exits: TlsEndRecord[] = [];
    await readCapture(capFile, {
      onCustom: (c) => {
        if (c.pen !== PANO_PEN || c.data.readUInt16LE(0) !== RecordType.TLS_END) return;
        const r = decodeTlsEndRecord(c.data);
        if (r && typeof r !== 'string' && r.pid === leaderExits.pid && r.reason === 2) exits.push(r);
      },
    });
    assert.equal(exits.length, 1);
    assert.ok(exits[0].tsNs >= BigInt(e.pano.end_ns), `exit record at ${exits[0].tsNs}, exchange ended at ${e.pano.end_ns}`);
  });

  it('pano-parse --workers 2: the same TLS events, both views of each connection still paired', () => {
    const parsed = run([...PARSE, '--workers', '2', capFile]);
    assert.equal(parsed.status, 0, parsed.stderr);
    const sharded: Ev[] = parsed.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));
    const tls = (list: Ev[]) => list.filter((e) => e.pano.source.type === 'tls');
    assert.equal(tls(sharded).length, tls(events).length);
    // the views of one exchange: same tuple and request; one thread pairs each such two, so must the workers
    const views = new Map<string, Ev[]>();
    for (const e of tls(sharded)) {
      const k = `${e.client.address}:${e.client.port} ${e.server.address}:${e.server.port} ${e.pano.kind} ${e.url?.path} ${e.http?.request?.method} ${e.pano.id.split('-')[1]}`;
      views.set(k, [...(views.get(k) ?? []), e]);
    }
    const pairs = [...views.values()].filter((l) => l.length === 2);
    assert.equal(pairs.length, tls(events).filter((e) => e.pano.connection.mirror_of !== undefined).length);
    for (const [a, b] of pairs) assertMirrored(a, b);
  });

  it('tshark and capinfos read the capture without error; the records decode', async () => {
    const tshark = run(['tshark', '-r', capFile]);
    assert.equal(tshark.status, 0, tshark.stderr);
    assert.match(tshark.stdout, /Custom Block/);
    const capinfos = run(['capinfos', capFile]);
    assert.equal(capinfos.status, 0, capinfos.stderr);
    const custom: CustomBlock[] = [];
    await readCapture(capFile, { onCustom: (c) => custom.push(c) });
    const ours = custom.filter((c) => c.pen === PANO_PEN);
    const tls = ours.filter((c) => c.data.readUInt16LE(0) === RecordType.TLS).map((c) => decodeTlsRecord(c.data));
    assert.ok(tls.length >= 12);
    for (const r of tls) assert.ok(r && typeof r !== 'string', String(r));
    // the role of each record's process end: curl connected, nginx accepted
    const roles = new Map<string, Set<number>>();
    for (const r of tls) if (r && typeof r !== 'string') roles.set(r.comm, (roles.get(r.comm) ?? new Set()).add(r.role));
    assert.deepEqual([...(roles.get('curl') ?? [])], [1]);
    assert.deepEqual([...(roles.get('nginx') ?? [])], [2]);
    assert.deepEqual([...(roles.get('wget') ?? [])], [1]);
    assert.deepEqual([...new Set(tls.filter((r) => r && typeof r !== 'string' && r.comm === 'wget').map((r) => (r as { library: string }).library))], ['gnutls']);

    // TLS end records: each curl exited (after freeing its SSL object), nginx freed the SSL objects of the connections it served
    const ends = ours.filter((c) => c.data.readUInt16LE(0) === RecordType.TLS_END).map((c) => decodeTlsEndRecord(c.data));
    for (const e of ends) assert.ok(e && typeof e !== 'string', String(e));
    const end = ends as TlsEndRecord[];
    for (const pid of curlPids) {
      assert.ok(end.some((e) => e.pid === pid && e.reason === 2), `no exit record for curl ${pid}`);
      assert.ok(end.some((e) => e.pid === pid && e.reason === 1 && e.ssl !== 0n), `no SSL_free record for curl ${pid}`);
    }
    for (const pid of wgetPids) assert.ok(end.some((e) => e.pid === pid && e.reason === 2), `no exit record for wget ${pid}`);
    const nginxPid = events.find((e) => e.process?.executable?.name === 'nginx')!.process.pid;
    assert.ok(end.filter((e) => e.pid === nginxPid && e.reason === 1).length >= curlPids.length, JSON.stringify(end.map((e) => [e.pid, e.reason])));
    // and pano-parse closed those streams by them
    const stats = run([...PARSE, '--stats', capFile]);
    assert.equal(stats.status, 0, stats.stderr);
    const byLibrary = Number(/^flows\.plaintextEndedByLibrary (\d+)$/m.exec(stats.stderr)?.[1] ?? 0);
    assert.ok(byLibrary >= 2 * curlPids.length, stats.stderr);
  });
});
