// `Upgrade: h2c` with a request body, live: curl --http2 -d @file against hyper-h2
// (Debian python3-h2, test/fixtures/h2c/upgrade-server.py), which answers the
// upgraded request on stream 1 and a second request, reusing the connection, on
// stream 3. Captured with tcpdump on loopback; checked against what the server
// received, what curl printed, and tshark's reading of the same packets.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LoopbackCapture } from '../helpers/loopback-capture.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';
import { tsharkFields } from '../helpers/tshark.js';

const run = promisify(execFile);
const SERVER = join(import.meta.dirname, '../fixtures/h2c/upgrade-server.py');
const hasH2 = existsSync('/usr/lib/python3/dist-packages/h2/connection.py');
const missing = ['/usr/bin/curl', '/usr/bin/tshark', '/usr/bin/python3'].filter((p) => !existsSync(p));
if (!hasH2) missing.push('python3-h2');
if (!existsSync('/usr/bin/tcpdump') && !existsSync('/usr/sbin/tcpdump')) missing.push('tcpdump');
const skip = missing.length > 0 && `missing: ${missing.join(', ')}`;

const dir = mkdtempSync(join(tmpdir(), 'pano-h2c-'));
const pcap = join(dir, 'h2c.pcap');
/** A form with PII in it: reported once means one event holds it. */
const BODY = 'name=Alice+Example&email=alice.example%40example.test&phone=%2B44+20+7946+0958';
let server: ChildProcess | undefined;
let port = 0;
/** What the server received, one JSON line per request. */
let serverOut = '';
let curlOut = '';

before(async () => {
  if (skip) return;
  server = spawn('/usr/bin/python3', [SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
  server.stdout!.on('data', (d) => (serverOut += d));
  while (!/^port \d+/m.test(serverOut)) {
    if (server.exitCode !== null) throw new Error('the h2c server exited');
    await new Promise((r) => setTimeout(r, 20));
  }
  port = Number(/^port (\d+)/m.exec(serverOut)![1]);
  const body = join(dir, 'form.txt');
  writeFileSync(body, BODY);
  const cap = new LoopbackCapture(pcap, `tcp port ${port}`);
  await cap.start();
  try {
    // One connection: the POST is upgraded (stream 1), the GET after it is stream 3.
    const r = await run('curl', ['-sS', '--http2', '-d', `@${body}`, `http://127.0.0.1:${port}/form`, '--next', '--http2', `http://127.0.0.1:${port}/second`]);
    curlOut = r.stdout;
  } finally {
    await cap.stop();
  }
});

after(() => {
  if (server?.pid) process.kill(server.pid);
  if (!process.env.PANO_KEEP) rmSync(dir, { recursive: true, force: true });
});

function requestsServerSaw(): Array<{ stream: number; method: string; path: string; body: string }> {
  return serverOut
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));
}

test('h2c upgrade of a POST: the request and its body are in one event, stream 1, with the 101 as an interim response', { skip }, () => {
  const saw = requestsServerSaw();
  assert.deepEqual(
    saw.map((s) => [s.stream, s.method, s.path, s.body]),
    [
      [1, 'POST', '/form', BODY],
      [3, 'GET', '/second', ''],
    ],
  );
  assert.equal(curlOut, `got ${BODY.length} bytes for /formgot 0 bytes for /second`);
  const { events, stats } = parseCaptureSync(pcap);
  assertValidEvents(events);
  // One event per request the server answered: no HTTP/1.1 event for the 101 besides stream 1's.
  assert.equal(events.length, saw.length, JSON.stringify(events.map((e: any) => [e.pano.protocol, e.http?.response?.status_code])));
  assert.equal(stats.protocols['http.upgrade_h2c'], 1);
  const text = events.map((e) => JSON.stringify(e)).join('\n');
  assert.equal(text.split('alice.example%40example.test').length - 1, 1, 'the body is reported once');
  const [up, second] = events as any[];
  assert.equal(up.pano.protocol, 'http2');
  assert.equal(up.pano.kind, 'exchange');
  assert.equal(up.http2.stream_id, 1);
  assert.equal(up.http.request.method, 'POST');
  assert.equal(up.url.path, '/form');
  assert.equal(up.http.request.header['content-type'][0], 'application/x-www-form-urlencoded');
  assert.equal(up.http.request.header.upgrade[0], 'h2c');
  assert.equal(up.http.request.body.size, BODY.length);
  assert.equal(up.http.request.body.content, BODY);
  assert.equal(up.http.response.status_code, 200);
  assert.equal(up.http.response.body.content, `got ${BODY.length} bytes for /form`);
  assert.deepEqual(up.http.response.interim, [{ status_code: 101, header: { connection: ['Upgrade'], upgrade: ['h2c'] } }]);
  assert.equal(up.pano.flags, undefined);
  assert.equal(second.http2.stream_id, 3);
  assert.equal(second.url.path, '/second');
  assert.equal(second.http.response.body.content, 'got 0 bytes for /second');

  // tshark: the HTTP/1.1 request (its reassembled length) and 101 (its segment, less any HTTP/2
  // frames behind it), and stream 1's HTTP/2 frames (9-byte header + payload each).
  const decode = ['-d', `tcp.port==${port},http`];
  const req = tsharkFields(pcap, ['tcp.len', 'tcp.reassembled.length', 'http.file_data'], 'http.request', decode);
  assert.equal(req.length, 1);
  assert.equal(Buffer.from(req[0][2].replace(/:/g, ''), /^[0-9a-f:]+$/.test(req[0][2]) ? 'hex' : 'utf8').toString(), BODY);
  const reqBytes = Number(req[0][1] || req[0][0]);
  const sw = tsharkFields(pcap, ['tcp.len', 'http2.length'], 'http.response.code == 101', decode);
  assert.equal(sw.length, 1);
  const framesBehind = sw[0][1] ? sw[0][1].split(',').reduce((n, l) => n + 9 + Number(l), 0) : 0;
  const bytes101 = Number(sw[0][0]) - framesBehind;
  const h2 = tsharkFields(pcap, ['tcp.srcport', 'http2.streamid', 'http2.length', 'http2.type'], 'http2', decode);
  let stream1Server = 0;
  let stream1Data = 0;
  for (const [src, ids, lens, types] of h2) {
    if (Number(src) !== port) continue;
    const l = lens.split(',');
    const t = types.split(',');
    ids.split(',').forEach((id, i) => {
      if (id !== '1') return;
      stream1Server += 9 + Number(l[i]);
      if (t[i] === '0') stream1Data += Number(l[i]);
    });
  }
  assert.equal(up.pano.request_bytes, reqBytes);
  assert.equal(up.pano.response_bytes, bytes101 + stream1Server);
  assert.equal(up.http.response.body.size, stream1Data);
});

test('h2c upgrade with HTTP/2 not parsed (--protocols http): the 101 exchange carries the request', { skip }, () => {
  const { events } = parseCaptureSync(pcap, { protocols: ['http'] });
  assertValidEvents(events);
  assert.equal(events.length, 1);
  const e = events[0] as any;
  assert.equal(e.pano.protocol, 'http');
  assert.equal(e.http.response.status_code, 101);
  assert.equal(e.http.request.body.content, BODY);
});


