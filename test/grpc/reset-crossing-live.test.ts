// gRPC deadlines that pass at both ends, live: a @grpc/grpc-js client whose
// deadline runs out resets the stream (RST_STREAM CANCEL) while the grpc-js
// server (test/fixtures/grpc/slow-server.mjs, its own process) is still in the
// handler, which then answers with a status (DEADLINE_EXCEEDED, CANCELLED, or
// OK with a message) it writes before reading the reset: on the wire the
// server's HEADERS with grpc-status come after the client's RST_STREAM. Checked
// against what the client and server did and against tshark's frames.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { LoopbackCapture } from '../helpers/loopback-capture.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';

const missing = ['/usr/bin/tshark'].filter((p) => !existsSync(p));
if (!existsSync('/usr/bin/tcpdump') && !existsSync('/usr/sbin/tcpdump')) missing.push('tcpdump');
const skip = missing.length > 0 && `missing: ${missing.join(', ')}`;

const dir = mkdtempSync(join(tmpdir(), 'pano-grpc-reset-'));
const protoFile = join(dir, 'slow.proto');
writeFileSync(
  protoFile,
  `syntax = "proto3";
package demo.v1;
message SlowRequest { int32 delay_ms = 1; int32 code = 2; }
message SlowReply { string text = 1; }
service Slow { rpc Get(SlowRequest) returns (SlowReply); }
`,
);
const pcap = join(dir, 'reset.pcap');

/** The calls: how long the handler takes, the status it answers, the client's deadline (900 ms apart, so a loaded machine still sees the reset first). */
const CALLS: Array<{ delay_ms: number; code: number; deadlineMs: number }> = [
  { delay_ms: 0, code: grpc.status.OK, deadlineMs: 10_000 },
  { delay_ms: 1000, code: grpc.status.DEADLINE_EXCEEDED, deadlineMs: 100 },
  { delay_ms: 1000, code: grpc.status.CANCELLED, deadlineMs: 100 },
  { delay_ms: 1000, code: grpc.status.OK, deadlineMs: 100 },
  { delay_ms: 0, code: grpc.status.OK, deadlineMs: 10_000 },
];

let server: ChildProcess | undefined;
let serverOut = '';
/** The status each call ended with, as the client saw it. */
const clientCodes: number[] = [];

function serverLines(): string[] {
  return serverOut.split('\n').filter((l) => l.startsWith('{'));
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; !cond(); i++) {
    if (server?.exitCode !== null) throw new Error(`the gRPC server exited while waiting for ${what}`);
    if (i > 1500) throw new Error(`no ${what} in 30 s`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

before(async () => {
  if (skip) return;
  server = spawn(process.execPath, [join(import.meta.dirname, '../fixtures/grpc/slow-server.mjs'), protoFile], { stdio: ['ignore', 'pipe', 'inherit'] });
  server.stdout!.on('data', (d) => (serverOut += d));
  await until(() => /^port \d+/m.test(serverOut), 'port');
  const port = Number(/^port (\d+)/m.exec(serverOut)![1]);
  const demo = (grpc.loadPackageDefinition(protoLoader.loadSync(protoFile, { keepCase: true })) as any).demo.v1;
  const cap = new LoopbackCapture(pcap, `tcp port ${port}`);
  await cap.start();
  try {
    const c = new demo.Slow(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    for (const [i, call] of CALLS.entries()) {
      await new Promise<void>((res) => c.Get({ delay_ms: call.delay_ms, code: call.code }, { deadline: Date.now() + call.deadlineMs }, (e: any) => (clientCodes.push(e?.code ?? 0), res())));
      // One call at a time on the wire: the next starts when the server has answered this one.
      await until(() => serverLines().length > i, `the server's answer ${i + 1}`);
    }
    c.close();
  } finally {
    await cap.stop();
  }
});

after(() => {
  if (server?.pid && server.exitCode === null) process.kill(server.pid);
  if (!process.env.PANO_KEEP) rmSync(dir, { recursive: true, force: true });
});

const list = (x: any) => (x === undefined ? [] : Array.isArray(x) ? x : [x]);

/** tshark's frames per stream, in capture order: who sent it, its type, and grpc-status if a header block has one. */
function tsharkStreams(port: number): Map<number, Array<{ from: 'client' | 'server'; type: number; endStream: boolean; grpcStatus?: string; rstCode?: string; dataLength?: number }>> {
  const out = spawnSync('tshark', ['-r', pcap, '-d', `tcp.port==${port},http2`, '-Y', 'http2', '-T', 'json', '--no-duplicate-keys', '-J', 'tcp http2'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const streams = new Map<number, Array<{ from: 'client' | 'server'; type: number; endStream: boolean; grpcStatus?: string; rstCode?: string; dataLength?: number }>>();
  for (const p of JSON.parse(out.stdout) as any[]) {
    const from = Number(p._source.layers.tcp['tcp.srcport']) === port ? 'server' : 'client';
    for (const h2 of list(p._source.layers.http2)) for (const f of list(h2['http2.stream'])) {
      const id = Number(f['http2.streamid']);
      if (!id) continue;
      const type = Number(f['http2.type']);
      const st = list(f['http2.header']).find((h: any) => h['http2.header.name'] === 'grpc-status');
      const endStream = (type === 0 || type === 1) && (Number(f['http2.flags']) & 1) === 1;
      const fr = { from, type, endStream, grpcStatus: st?.['http2.header.value'], rstCode: f['http2.rst_stream.error'], dataLength: type === 0 ? Number(f['http2.length']) : undefined } as const;
      if (!streams.has(id)) streams.set(id, []);
      streams.get(id)!.push(fr);
    }
  }
  return streams;
}

test('gRPC: a server status that crosses the client\'s RST_STREAM on the wire is in the stream\'s event, which keeps the reset; one event per call', { skip }, () => {
  const port = Number(/^port (\d+)/m.exec(serverOut)![1]);
  assert.deepEqual(clientCodes, CALLS.map((c) => (c.deadlineMs < c.delay_ms ? grpc.status.DEADLINE_EXCEEDED : grpc.status.OK)));
  assert.deepEqual(serverLines().map((l) => JSON.parse(l).code), CALLS.map((c) => c.code));
  const wire = tsharkStreams(port);
  const ids = [...wire.keys()].sort((a, b) => a - b);
  assert.equal(ids.length, CALLS.length, `one stream per call: ${ids}`);
  // The premise, from tshark: on each late call the client's RST_STREAM(CANCEL, 8) comes before the server's
  // answer. An error status is one HEADERS (trailers-only), written at once; an OK's HEADERS and DATA are too,
  // but grpc-js writes its trailers a turn later, after it read the reset: none are sent.
  const late = ids.filter((_, i) => CALLS[i].deadlineMs < CALLS[i].delay_ms);
  for (const id of late) {
    const frames = wire.get(id)!;
    const rst = frames.findIndex((f) => f.from === 'client' && f.type === 3);
    const answer = frames.findIndex((f) => f.from === 'server');
    assert.ok(rst >= 0 && frames[rst].rstCode === '8', `stream ${id}: the client's RST_STREAM CANCEL`);
    assert.ok(answer > rst, `stream ${id}: the server's frames follow the reset (${JSON.stringify(frames)})`);
    const code = CALLS[ids.indexOf(id)].code;
    if (code !== grpc.status.OK) assert.equal(frames.find((f) => f.grpcStatus !== undefined)?.grpcStatus, String(code), `stream ${id}`);
  }

  const { events, stats } = parseCaptureSync(pcap);
  assertValidEvents(events);
  const rpc = (events as any[]).filter((e) => e.rpc?.system === 'grpc');
  assert.equal(rpc.length, CALLS.length, 'one event per call');
  assert.equal(new Set(rpc.map((e) => e.pano.id)).size, rpc.length);
  assert.deepEqual(rpc.map((e) => e.http2.stream_id).sort((a, b) => a - b), ids, 'each stream once');
  for (const [i, id] of ids.entries()) {
    const e = rpc.find((x) => x.http2.stream_id === id);
    const frames = wire.get(id)!;
    const status = frames.find((f) => f.from === 'server' && f.grpcStatus !== undefined)?.grpcStatus;
    assert.equal(e.rpc.grpc?.status_code, status === undefined ? undefined : Number(status), `stream ${id}`);
    if (status !== undefined) assert.equal(e.rpc.grpc.status_code, CALLS[i].code, `stream ${id}`);
    const data = frames.filter((f) => f.from === 'server' && f.type === 0).reduce((n, f) => n + f.dataLength!, 0);
    assert.equal(e.http.response.body?.size ?? 0, data, `stream ${id}: the server's DATA`);
    if (late.includes(id)) {
      assert.deepEqual(e.http2.reset, { by: 'client', error_code: 'CANCEL' });
      // Ended by the server's status, else the response is incomplete (no trailers came).
      assert.deepEqual(e.pano.flags, status === undefined ? ['reset', 'incomplete'] : ['reset'], `stream ${id}`);
      assert.equal(e.pano.kind, 'exchange');
    } else {
      assert.equal(e.http2.reset, undefined);
    }
  }
  // Nothing of the calls was dropped: the only late frames are RST_STREAMs the client sent on streams the server
  // had ended (grpc-js closing a finished call, as the client on Node.js 20 does), counted as frames on closed streams.
  const afterEnd = ids.reduce((n, id) => {
    const frames = wire.get(id)!;
    const end = frames.findIndex((f) => f.from === 'server' && f.endStream);
    return n + (end < 0 ? 0 : frames.slice(end + 1).filter((f) => f.from === 'client' && f.type === 3).length);
  }, 0);
  assert.equal(stats.protocols['http2.frames_on_closed_streams'] ?? 0, afterEnd, 'no frame of the calls was dropped');
  assert.equal(stats.protocols['http2.rst_stream'], late.length);
});
