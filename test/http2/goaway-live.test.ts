// GOAWAY from real software: node's http2 server (nghttp2) sends GOAWAY with
// `session.goaway(code, lastStreamId, data)` while a node client has streams
// in flight, captured with tcpdump on loopback. The events are compared with
// what the client was told and with tshark's reading of the GOAWAY frames.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LoopbackCapture } from '../helpers/loopback-capture.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';
import { tsharkFields } from '../helpers/tshark.js';

const missing = ['/usr/bin/tcpdump', '/usr/bin/tshark'].filter((p) => !existsSync(p));
const dir = mkdtempSync(join(tmpdir(), 'pano-h2-goaway-'));
let server: http2.Http2Server;
let port = 0;

/** How the server ends each connection, by the path that triggers it. */
const PLANS: Record<string, { code: number; debug: Buffer }> = {
  '/drain': { code: http2.constants.NGHTTP2_NO_ERROR, debug: Buffer.from('graceful_stop') },
  '/calm': { code: http2.constants.NGHTTP2_ENHANCE_YOUR_CALM, debug: Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x00]) },
};

before(async () => {
  server = http2.createServer();
  server.on('session', (session) => {
    let goawayAt = -1;
    session.on('stream', (stream, headers) => {
      // nghttp2 closes the streams a GOAWAY refused with REFUSED_STREAM on the server's side.
      stream.on('error', () => {});
      const path = String(headers[':path']);
      const plan = PLANS[path];
      if (plan) {
        // Sent while the client's later streams are open: they are above the last-stream-id.
        goawayAt = stream.id;
        setTimeout(() => session.goaway(plan.code, stream.id, plan.debug), 100);
      }
      // Answered late, so that every stream is still in flight when the GOAWAY goes out;
      // streams above the GOAWAY's last-stream-id are never answered (the server refused them).
      setTimeout(() => {
        if (stream.destroyed || (goawayAt >= 0 && stream.id > goawayAt)) return;
        stream.respond({ ':status': 200 });
        stream.end(`done ${path}`);
      }, 300);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as { port: number }).port;
});

after(() => {
  server?.close();
  if (!process.env.PANO_KEEP) rmSync(dir, { recursive: true, force: true });
});

interface Outcome {
  path: string;
  streamId: number;
  result: string;
}

/** One connection: `/first`, the trigger, then two more streams, all sent at once. */
async function connection(trigger: string): Promise<{ outcomes: Outcome[]; goaway: [number, number, string] | undefined }> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => {});
  let goaway: [number, number, string] | undefined;
  session.on('goaway', (code, last, data) => (goaway ??= [code, last, data ? data.toString('hex') : '']));
  const request = (path: string) =>
    new Promise<Outcome>((resolve) => {
      const req = session.request({ ':path': path });
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (d) => (body += d));
      req.on('end', () => resolve({ path, streamId: req.id!, result: body }));
      req.on('error', (e: NodeJS.ErrnoException) => resolve({ path, streamId: req.id ?? -1, result: `error ${e.code}` }));
      req.on('close', () => resolve({ path, streamId: req.id ?? -1, result: `closed ${req.rstCode}` }));
      req.end();
    });
  const outcomes = await Promise.all([request('/first'), request(trigger), request('/third'), request('/fourth')]);
  // After a GOAWAY node closes (NO_ERROR) or destroys (an error code) the session itself;
  // close() on a session already closing never calls back: wait for its 'close'.
  if (!session.destroyed) {
    await new Promise<void>((r) => {
      session.once('close', () => r());
      session.close();
    });
  }
  return { outcomes, goaway };
}

test('GOAWAY from node http2: refused streams carry the sender, code name and debug data; tshark agrees', { skip: missing.length ? `missing ${missing.join(', ')}` : false }, async () => {
  const file = join(dir, 'goaway.pcap');
  const cap = new LoopbackCapture(file, `tcp port ${port}`);
  await cap.start();
  const seen: Array<Awaited<ReturnType<typeof connection>>> = [];
  try {
    seen.push(await connection('/drain'));
    seen.push(await connection('/calm'));
  } finally {
    await cap.stop();
  }
  // What the client was told: code, last-stream-id 3 (the trigger), and the debug data.
  assert.deepEqual(seen.map((s) => s.goaway), [
    [0, 3, Buffer.from('graceful_stop').toString('hex')],
    [11, 3, 'deadbeef00'],
  ]);

  // tshark's view of the GOAWAY frames: per connection, the first each side sent is what the events carry.
  const frames = tsharkFields(file, ['tcp.stream', 'tcp.srcport', 'http2.goaway.error', 'http2.goaway.last_stream_id', 'http2.goaway.addata'], 'http2.type==7', ['-d', `tcp.port==${port},http2`]);
  const firstFromServer = new Map<string, string[]>();
  for (const [conn, src, ...rest] of frames) if (Number(src) === port && !firstFromServer.has(conn)) firstFromServer.set(conn, rest);
  assert.deepEqual([...firstFromServer.values()], [
    ['0', '3', Buffer.from('graceful_stop').toString('hex')],
    ['11', '3', 'deadbeef00'],
  ]);
  const ERROR_NAMES: Record<string, string> = { '0': 'NO_ERROR', '11': 'ENHANCE_YOUR_CALM' };
  // RST_STREAM frames the client sent, by connection index and stream id.
  const resets = new Map<string, string>();
  const conns0 = [...new Set(frames.map((f) => f[0]))];
  for (const [conn, src, sid, code] of tsharkFields(file, ['tcp.stream', 'tcp.srcport', 'http2.streamid', 'http2.rst_stream.error'], 'http2.type==3', ['-d', `tcp.port==${port},http2`])) {
    if (Number(src) !== port) resets.set(`${conns0.indexOf(conn)}/${sid}`, code);
  }

  const { events } = parseCaptureSync(file);
  const h2 = (events as any[]).filter((e) => e.pano.protocol === 'http2');
  assertValidEvents(events);
  const byConn = new Map<number, any[]>();
  for (const e of h2) byConn.set(e.pano.connection.id, [...(byConn.get(e.pano.connection.id) ?? []), e]);
  assert.equal(byConn.size, 2);
  const conns = [...byConn.values()].sort((a, b) => (BigInt(a[0].pano.start_ns) < BigInt(b[0].pano.start_ns) ? -1 : 1));
  const oracle = [...firstFromServer.values()].map(([code, last, data]) => ({
    by: 'server',
    error_code: ERROR_NAMES[code],
    last_stream_id: Number(last),
    // printable debug data as text, other bytes as hex
    debug_data: /^(?:[2-6][0-9a-f]|7[0-9a-e])+$/.test(data) ? Buffer.from(data, 'hex').toString() : data,
    debug_data_size: data.length / 2,
  }));
  conns.forEach((evs, i) => {
    const { outcomes } = seen[i];
    assert.equal(evs.length, 4, 'one event per stream');
    for (const o of outcomes) {
      const ev = evs.find((e) => e.http2.stream_id === o.streamId);
      assert.ok(ev, `event for stream ${o.streamId}`);
      assert.equal(ev.url.path, o.path);
      assert.deepEqual(ev.http2.goaway, oracle[i], `stream ${o.streamId}: open when the GOAWAY came`);
      const refused = o.streamId > oracle[i].last_stream_id;
      if (refused) {
        // The client saw these fail; the server never answered them.
        assert.ok(!o.result.startsWith('done'), `${o.path}: ${o.result}`);
        assert.equal(ev.pano.kind, 'unanswered');
        assert.deepEqual(ev.pano.flags, ['goaway'], `${o.path} refused`);
      } else {
        assert.ok(!ev.pano.flags?.includes('goaway'), `${o.path} was not refused`);
        if (o.result.startsWith('done')) {
          assert.equal(ev.pano.kind, 'exchange');
          assert.equal(ev.http.response.body.content, o.result);
        } else {
          // ENHANCE_YOUR_CALM: node tears the connection down, cutting the streams the server had
          // accepted: Node 20's client resets them with that code first (tshark sees the RST_STREAM),
          // Node 26's just closes the socket (a TCP reset).
          assert.equal(ev.pano.kind, 'unanswered');
          assert.deepEqual(ev.pano.flags, ['reset']);
          const rst = resets.get(`${i}/${o.streamId}`);
          assert.deepEqual(ev.http2.reset, rst && { by: 'client', error_code: ERROR_NAMES[rst] });
        }
      }
    }
  });
  // The graceful GOAWAY let the accepted streams finish; the error one did not.
  assert.deepEqual(seen[0].outcomes.map((o) => o.result.startsWith('done')), [true, true, false, false]);
});
