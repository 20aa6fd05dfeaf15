// A capture that joins an HTTP/2 connection after its preface, built packet by
// packet like tcpdump's view of node's http2 client fetching from nginx (h2c)
// after three earlier requests: each GET is one HEADERS frame in its own
// segment, each response a HEADERS segment and a DATA segment, and HPACK
// tables filled before the capture. The whole pipeline runs on it: detection
// on the server's frames, the replay of the first segments, the parser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HpackEncoder } from '../../packages/protocols/src/http2/hpack.js';
import { frame } from '../helpers/http2-frames.js';
import { Conversation } from '../helpers/synth.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';

const DATA = 0, HEADERS = 1;
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
