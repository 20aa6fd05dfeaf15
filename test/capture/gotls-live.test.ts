/**
 * pano-capture --tls-go end to end: a Go HTTPS client and server (net/http
 * over crypto/tls, built here from test/capture/fixtures/go-https) talk over
 * loopback, over HTTP/1.1 and then over HTTP/2, while pano-capture probes
 * both binaries and captures lo; the
 * events pano-parse makes of the plaintext must say what the client sent
 * and the server answered (the programs print both), once from each
 * process, tied to the connection the packets show (tshark's ports).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCapture, decodeTlsEndRecord, RecordType, type CustomBlock } from '@panopticon/pcap';
import { PANO_PEN, decodeTlsRecord } from '@panopticon/capture';
import { bpfUnavailable, toolMissing } from './env.js';
import { NODE_SRC, ROOT, waitFor, exited, collect } from './netns.js';
import { buildGoFixture, goMissing } from './go-build.js';

const skip = bpfUnavailable() ?? goMissing() ?? toolMissing('openssl', 'tshark', 'bpftool', 'cc');
const CAPTURE = [...NODE_SRC, join(ROOT, 'bin/pano-capture')];
const PARSE = [...NODE_SRC, join(ROOT, 'bin/pano-parse')];

function run(cmd: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd[0], cmd.slice(1), { encoding: 'utf8', maxBuffer: 64 << 20 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function ourPrograms(): string[] {
  const progs = JSON.parse(run(['bpftool', 'prog', 'list', '-j']).stdout || '[]') as { name?: string }[];
  return progs.map((p) => p.name ?? '').filter((n) => n.startsWith('pano_'));
}

type Ev = Record<string, any>;
interface Exchange {
  method: string;
  path: string;
  status: number;
  body: string;
  sent: string;
  local: string;
  proto: string;
}

/** One client run: over HTTP/1.1, then over HTTP/2, each its own connection and process. */
interface ClientRun {
  mode: 'client' | 'client-h2';
  version: '1.1' | '2';
  pid: number;
  exchanges: Exchange[];
}

describe('pano-capture --tls-go', { skip }, () => {
  let dir: string;
  let server: ChildProcess | undefined;
  /** Stopped in after() too: an assertion failing while it runs must not leave it attached and the runner waiting. */
  let capture: ChildProcess | undefined;
  let serverPid = 0;
  const clients: ClientRun[] = [
    { mode: 'client', version: '1.1', pid: 0, exchanges: [] },
    { mode: 'client-h2', version: '2', pid: 0, exchanges: [] },
  ];
  let port = 0;
  let clientBin = '';
  let capFile = '';
  let capStatus: number | null = null;
  let capStderr = '';
  let parseStderr = '';
  let events: Ev[] = [];
  let leftBefore: string[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pano-gotls-'));
    leftBefore = ourPrograms();
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    const gen = run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost']);
    assert.equal(gen.status, 0, gen.stderr);
    // two binaries (two files, so two sets of probes) from the one source
    const serverBin = buildGoFixture(dir, 'go-server');
    clientBin = join(dir, 'go-client');
    copyFileSync(serverBin, clientBin);

    server = spawn(serverBin, ['server', cert, key], { stdio: ['ignore', 'pipe', 'inherit'] });
    serverPid = server.pid!;
    port = Number(/listening (\d+)/.exec(await waitFor(server, 'stdout', /listening \d+\n/))![1]);
    const serverOut = collect(server, 'stdout');

    capFile = join(dir, 'go.pcapng');
    const cap = spawn(CAPTURE[0], [...CAPTURE.slice(1), '--tls-go', clientBin, '--tls-go', serverBin, '-i', 'lo', '-w', capFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    capture = cap;
    const err = collect(cap, 'stderr');
    await waitFor(cap, 'stderr', /capturing TLS plaintext/);

    for (const c of clients) {
      const client = spawn(clientBin, [c.mode, `https://127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'inherit'] });
      c.pid = client.pid!;
      const out = collect(client, 'stdout');
      assert.equal(await exited(client), 0);
      c.exchanges = JSON.parse(out());
    }

    // the server closes each connection after the client's close, which the client's exit does not
    // wait for: the server is stopped once it says it closed both (its Close probed by then)
    for (let i = 0; i < 200 && (serverOut().match(/^closed$/gm) ?? []).length < clients.length; i++) await new Promise((r) => setTimeout(r, 25));
    assert.equal((serverOut().match(/^closed$/gm) ?? []).length, clients.length, 'the server closed both connections');
    server.kill('SIGTERM');
    await exited(server);
    server = undefined;
    cap.kill('SIGINT');
    capStatus = await exited(cap);
    capture = undefined;
    capStderr = err();
    const parsed = run([...PARSE, '--stats', capFile]);
    assert.equal(parsed.status, 0, parsed.stderr);
    parseStderr = parsed.stderr;
    events = parsed.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));
  });

  after(async () => {
    server?.kill('SIGTERM');
    if (capture && capture.exitCode === null) {
      capture.kill('SIGINT');
      await exited(capture);
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the capture ends cleanly, every record tied to its connection, and nothing of it stays attached', () => {
    assert.equal(capStatus, 0, capStderr);
    assert.match(capStderr, /TLS: [1-9]\d* plaintext records captured, 0 cut at \d+ bytes, 0 without their connection/);
    assert.doesNotMatch(capStderr, /plaintext records lost/);
    assert.match(capStderr, / 0 lost,/);
    assert.deepEqual(ourPrograms(), leftBefore);
  });

  for (const c of clients) {
    it(`each exchange the client made over HTTP/${c.version} is one event from the client and one from the server, saying what was sent and answered`, () => {
      const proto = c.version === '2' ? 'HTTP/2.0' : 'HTTP/1.1';
      assert.deepEqual(c.exchanges.map((x) => `${x.proto} ${x.method} ${x.path} ${x.status}`), [`${proto} GET /hello?via=go 200`, `${proto} POST /submit 201`, `${proto} GET /big 200`]);
      for (const x of c.exchanges) {
        const [path, query] = x.path.split('?');
        const list = events.filter((e) => e.url?.path === path && `${e.client.address}:${e.client.port}` === x.local);
        assert.deepEqual(list.map((e) => e.process.pid).sort(), [c.pid, serverPid].sort(), `${x.path}: ${JSON.stringify(list).slice(0, 2000)}`);
        for (const e of list) {
          assert.deepEqual(e.pano.source, { type: 'tls', library: 'go' });
          assert.equal(e.network.protocol.version, c.version);
          assert.equal(e.pano.connection.view, e.process.pid === c.pid ? 'client' : 'server');
          assert.equal(e.url.scheme, 'https');
          assert.equal(e.url.query, query);
          assert.equal(e.http.request.method, x.method);
          assert.equal(e.http.response.status_code, x.status);
          assert.equal(e.http.response.body.size, Buffer.byteLength(x.body));
          assert.equal(e.http.response.body.content, x.body);
          if (x.sent) assert.equal(e.http.request.body.content, x.sent);
          else assert.equal(e.http.request.body, undefined);
          // the tuple: the client's own end, as it printed it, and the server's port
          assert.equal(`${e.client.address}:${e.client.port}`, x.local);
          assert.equal(e.server.address, '127.0.0.1');
          assert.equal(e.server.port, port);
        }
        // one view names the other as the one it repeats
        const named = list.filter((e) => e.pano.connection.mirror_of !== undefined);
        assert.equal(named.length, 1);
        assert.equal(named[0].pano.connection.mirror_of, list.find((e) => e !== named[0])!.pano.connection.id);
      }
    });
  }

  it("the events' ports are those of the connection's packets (tshark)", () => {
    const t = run(['tshark', '-r', capFile, '-Y', 'tcp', '-T', 'fields', '-e', 'tcp.srcport', '-e', 'tcp.dstport']);
    assert.equal(t.status, 0, t.stderr);
    const pairs = new Set(t.stdout.trim().split('\n').map((l) => l.split('\t').map(Number).sort((a, b) => a - b).join('-')));
    const expected = clients.map((c) => [Number(c.exchanges[0].local.split(':')[1]), port].sort((a, b) => a - b).join('-'));
    assert.deepEqual([...pairs].sort(), expected.sort());
  });

  it("the end of each process's connection comes from its (*tls.Conn).Close, for the *Conn its records name", async () => {
    const ssl = new Map<number, Set<bigint>>();
    const ends = new Map<number, bigint[]>();
    await readCapture(capFile, {
      onCustom: (c: CustomBlock) => {
        if (c.pen !== PANO_PEN) return;
        const type = c.data.readUInt16LE(0);
        if (type === RecordType.TLS) {
          const r = decodeTlsRecord(c.data);
          assert.ok(r && typeof r !== 'string', String(r));
          assert.equal(r.library, 'go');
          ssl.set(r.pid, (ssl.get(r.pid) ?? new Set()).add(r.ssl));
        } else if (type === RecordType.TLS_END) {
          const r = decodeTlsEndRecord(c.data);
          assert.ok(r && typeof r !== 'string', String(r));
          if (r.reason === 1) ends.set(r.pid, [...(ends.get(r.pid) ?? []), r.ssl]);
        }
      },
    });
    // one connection per client, both of them the server's
    for (const [pid, n] of [...clients.map((c) => [c.pid, 1]), [serverPid, 2]]) {
      assert.equal(ssl.get(pid)?.size, n, `pid ${pid}: ${n} *tls.Conn`);
      assert.deepEqual(ends.get(pid)?.sort(), [...ssl.get(pid)!].sort(), `pid ${pid}`);
    }
    assert.match(parseStderr, /flows\.plaintextEndedByLibrary 4\n/);
  });

  it('a binary that cannot be probed is a one-line error naming it', () => {
    const stripped = buildGoFixture(dir, 'stripped', ['-ldflags=-s -w']);
    const c = join(dir, 'c-program');
    const cc = spawnSync('cc', ['-x', 'c', '-o', c, '-'], { input: 'int main(void) { return 0; }\n', encoding: 'utf8' });
    assert.equal(cc.status, 0, cc.stderr);
    for (const [bin, what] of [
      [stripped, 'stripped (no .symtab)'],
      [c, 'not a Go program using crypto/tls'],
    ]) {
      const r = run([...CAPTURE, '--tls-go', bin, '-w', join(dir, 'none.pcapng')]);
      assert.equal(r.status, 1, r.stderr);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.ok(r.stderr.includes(`--tls-go: ${bin}: `) && r.stderr.includes(what), r.stderr);
    }
  });
});

describe('pano-capture --tls-go: a Write that starts over after its stack grew', { skip }, () => {
  let dir: string;
  let sink: ChildProcess | undefined;
  let capture: ChildProcess | undefined;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'pano-gotls-deep-'));
  });

  after(async () => {
    sink?.kill('SIGTERM');
    if (capture && capture.exitCode === null) {
      capture.kill('SIGINT');
      await exited(capture);
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  // The fixture writes from new goroutines (small stacks) after 0..299 nested
  // calls, so some of the Writes find their stack full at their entry and run
  // from the entry again once it has grown: the entry probe fires twice for
  // one call. Without the check for a call still open, 12 of the 300 messages
  // were captured twice here.
  it('is captured once: every message the program wrote, each in one record (the binary named twice, through a link)', async () => {
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    const gen = run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost']);
    assert.equal(gen.status, 0, gen.stderr);
    const sinkBin = buildGoFixture(dir, 'go-sink');
    const writer = join(dir, 'go-writer');
    copyFileSync(sinkBin, writer);
    sink = spawn(sinkBin, ['sink', cert, key], { stdio: ['ignore', 'pipe', 'inherit'] });
    const port = Number(/listening (\d+)/.exec(await waitFor(sink, 'stdout', /listening \d+\n/))![1]);

    const capFile = join(dir, 'deep.pcapng');
    // the writer named twice (a symbolic link too): two probes at each point, and still each
    // record once (the second entry finds its call open, the second RET finds it closed)
    const link = join(dir, 'link-to-writer');
    symlinkSync(writer, link);
    const cap = spawn(CAPTURE[0], [...CAPTURE.slice(1), '--tls-go', writer, '--tls-go', link, '-w', capFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    capture = cap;
    const err = collect(cap, 'stderr');
    await waitFor(cap, 'stderr', /capturing TLS plaintext/);
    const w = spawn(writer, ['deep', `127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'inherit'] });
    assert.equal(await exited(w), 0);
    cap.kill('SIGINT');
    assert.equal(await exited(cap), 0, err());

    const written: string[] = [];
    await readCapture(capFile, {
      onCustom: (c: CustomBlock) => {
        if (c.pen !== PANO_PEN || c.data.readUInt16LE(0) !== RecordType.TLS) return;
        const r = decodeTlsRecord(c.data);
        assert.ok(r && typeof r !== 'string', String(r));
        if (r.direction === 2) written.push(r.data.toString('latin1'));
      },
    });
    const expected = Array.from({ length: 300 }, (_, d) => `msg-${String(d).padStart(3, '0')}\n`);
    assert.deepEqual(written, expected);
  });
});
