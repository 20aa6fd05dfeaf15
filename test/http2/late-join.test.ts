// A capture that joins an HTTP/2 connection after its preface, built packet by
// packet like tcpdump's view of node's http2 client fetching from nginx (h2c)
// after three earlier requests: each GET is one HEADERS frame in its own
// segment, each response a HEADERS segment and a DATA segment, and HPACK
// tables filled before the capture. The whole pipeline runs on it: detection
// on the server's frames, the replay of the first segments, the parser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HpackEncoder } from '../../packages/protocols/src/http2/hpack.js';
import { PREFACE, frame, settings } from '../helpers/http2-frames.js';
import { Conversation } from '../helpers/synth.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';

const DATA = 0, HEADERS = 1, WINDOW_UPDATE = 8;
const END_STREAM = 1, END_HEADERS = 4;

test('joined after the preface: the first GET captured, a lone HEADERS segment answered before the client sends again, is an exchange', () => {
  const ce = new HpackEncoder();
  const se = new HpackEncoder();
  const custom: Array<[string, string]> = [['x-tenant', 'acme-corp'], ['authorization', 'Bearer abc']];
  const fixed: Array<[string, string]> = [[':scheme', 'http'], [':authority', '127.0.0.1:8081']];
  // Before the capture: the earlier requests and responses filled both tables (:path is
  // sent as a literal never indexed, as nghttp2 does).
  ce.encode([...fixed, ...custom]);
  se.encode([[':status', '200'], ['server', 'nginx'], ['content-type', 'text/plain']]);
  const get = (id: number, path: string) =>
    frame(HEADERS, END_HEADERS | END_STREAM, id, Buffer.concat([ce.encode([[':method', 'GET'], [':path', path]], { index: false }), ce.encode([...fixed, ...custom])]));
  const c = new Conversation({ addr: '127.0.0.1', port: 36852 }, { addr: '127.0.0.1', port: 8081 });
  c.send(0, get(7, '/small.txt'))
    .send(1, frame(HEADERS, END_HEADERS, 7, se.encode([[':status', '200'], ['server', 'nginx'], ['content-type', 'text/plain']])))
    .send(1, frame(DATA, END_STREAM, 7, Buffer.from('small file\n')))
    .send(0, get(9, '/nc'))
    .send(1, frame(HEADERS, END_HEADERS | END_STREAM, 9, se.encode([[':status', '204'], ['server', 'nginx']])))
    .send(0, get(11, '/small.txt'))
    .send(1, frame(HEADERS, END_HEADERS, 11, se.encode([[':status', '200'], ['server', 'nginx'], ['content-type', 'text/plain']])))
    .send(1, frame(DATA, END_STREAM, 11, Buffer.from('small file\n')))
    .close();
  const { events, stats } = parseCaptureSync(c.pcapng());
  assertValidEvents(events);
  assert.deepEqual(
    (events as any[]).map((e) => [e.http2.stream_id, e.pano.kind, e.pano.flags, e.http.request?.method, e.url?.path, e.http.response.status_code]),
    [
      [7, 'exchange', ['undecodable'], 'GET', '/small.txt', 200],
      [9, 'exchange', ['undecodable'], 'GET', '/nc', 204],
      [11, 'exchange', ['undecodable'], 'GET', '/small.txt', 200],
    ],
  );
  const first = events[0] as any;
  // Fields from entries the capture never saw inserted are left out, never guessed.
  assert.equal(first.http.request.header['x-tenant'], undefined);
  assert.equal(first.http.response.header.server, undefined);
  assert.equal(first.http.response.body.content, 'small file\n');
  assert.equal(stats.protocols['http2.frames_on_closed_streams'], undefined);
  assert.equal(stats.protocols['http2.resync_held_frames'], 1);
});

test('no SYN seen and the server speaks first (nginx: SETTINGS with a 2^24-1 frame size and a WINDOW_UPDATE, before the preface), on a port above the client\'s: roles from the SETTINGS, the magic skipped', () => {
  // As TLS plaintext from the uprobes always comes (ADR 0304), or a capture begun mid-handshake.
  for (const serverPort of [50000, 443]) {
    const ce = new HpackEncoder();
    const se = new HpackEncoder();
    const c = new Conversation({ addr: '127.0.0.1', port: 40000 }, { addr: '127.0.0.1', port: serverPort });
    c.send(1, Buffer.concat([settings([[3, 128], [4, 65536], [5, (1 << 24) - 1]]), frame(WINDOW_UPDATE, 0, 0, Buffer.from([0, 0xff, 0, 1]))]))
      .send(0, Buffer.concat([PREFACE, settings([[2, 0]]), frame(HEADERS, END_HEADERS | END_STREAM, 1, ce.encode([[':method', 'GET'], [':scheme', 'https'], [':path', '/x'], [':authority', 'a.test'], ['user-agent', 'curl/7.88.1']]))]))
      .send(1, Buffer.concat([settings([], true), frame(HEADERS, END_HEADERS, 1, se.encode([[':status', '200'], ['server', 'nginx']])), frame(DATA, END_STREAM, 1, Buffer.from('hi'))]))
      .close();
    const { events, stats } = parseCaptureSync(c.pcapng());
    assertValidEvents(events);
    assert.deepEqual(
      (events as any[]).map((e) => [e.pano.kind, e.server.port, e.client.port, e.http.request.method, e.url.path, e.user_agent?.original, e.http.response.status_code, e.http.response.header.server, e.http.response.body.content, e.pano.flags]),
      [['exchange', serverPort, 40000, 'GET', '/x', 'curl/7.88.1', 200, ['nginx'], 'hi', undefined]],
      String(serverPort),
    );
    // the 24 bytes of the magic, nothing else
    assert.equal(stats.protocols['http2.resync_skipped_bytes'], 24);
  }
});

test("joined mid-call on gRPC's port 50051, only DATA, WINDOW_UPDATE and trailers in the capture: the server is the side on 50051, though the client's ephemeral port is lower", () => {
  // Ephemeral ports (32768–60999 on Linux) fall below 50051 about half the time; with no SYN and no
  // head to read roles from, the lower port was taken for the server's and the call was reported
  // backwards (client 50051). 50051 is gRPC's conventional port (grpc.io's examples, grpcurl's docs).
  const se = new HpackEncoder();
  const msg = Buffer.from([0, 0, 0, 0, 2, 0x08, 0x2a]);
  const c = new Conversation({ addr: '127.0.0.1', port: 40000 }, { addr: '127.0.0.1', port: 50051 });
  c.send(1, frame(DATA, 0, 5, msg))
    .send(0, frame(WINDOW_UPDATE, 0, 0, Buffer.from([0, 0, 0, 7])))
    .send(1, frame(DATA, 0, 5, msg))
    .send(1, frame(HEADERS, END_HEADERS | END_STREAM, 5, se.encode([['grpc-status', '0'], ['grpc-message', '']], { index: false })))
    .close();
  const { events } = parseCaptureSync(c.pcapng());
  assertValidEvents(events);
  assert.equal(events.length, 1);
  const ev = events[0] as unknown as { server: { port: number }; client: { port: number }; pano: { kind: string; connection: { roles: string } } };
  assert.deepEqual([ev.client.port, ev.server.port, ev.pano.kind, ev.pano.connection.roles], [40000, 50051, 'orphan_response', 'port']);
});
