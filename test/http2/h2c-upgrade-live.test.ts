// `Upgrade: h2c` with a request body, live: curl --http2 -d @file against hyper-h2
// (Debian python3-h2, test/fixtures/h2c/upgrade-server.py), which answers the
// upgraded request on stream 1 and a second request, reusing the connection, on
// stream 3. Captured with tcpdump on loopback; checked against what the server
// received, what curl printed, and tshark's reading of the same packets. Then
// nghttp -u with a 64 KiB header table in its HTTP2-Settings against the same
// server writing the 101 and stream 1's response at once (--one-write).
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
const skipNghttp = skip || (!existsSync('/usr/bin/nghttp') && 'missing: nghttp');

const dir = mkdtempSync(join(tmpdir(), 'pano-h2c-'));
const pcap = join(dir, 'h2c.pcap');
const settingsPcap = join(dir, 'h2c-settings.pcap');
/** A form with PII in it: reported once means one event holds it. */
const BODY = 'name=Alice+Example&email=alice.example%40example.test&phone=%2B44+20+7946+0958';
const servers: ChildProcess[] = [];
let port = 0;
let settingsPort = 0;
/** What the server received, one JSON line per request. */
let serverOut = '';
let curlOut = '';

/** Starts the fixture server; resolves with its port once it listens. `out` gets its stdout. */
async function startServer(args: string[], out: (d: string) => void): Promise<number> {
  const server = spawn('/usr/bin/python3', [SERVER, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  servers.push(server);
  let text = '';
  server.stdout!.on('data', (d) => ((text += d), out(String(d))));
  while (!/^port \d+/m.test(text)) {
    if (server.exitCode !== null) throw new Error('the h2c server exited');
    await new Promise((r) => setTimeout(r, 20));
  }
  return Number(/^port (\d+)/m.exec(text)![1]);
}

before(async () => {
  if (skip) return;
  port = await startServer([], (d) => (serverOut += d));
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
  if (skipNghttp) return;
  settingsPort = await startServer(['--one-write'], () => {});
  const cap2 = new LoopbackCapture(settingsPcap, `tcp port ${settingsPort}`);
  await cap2.start();
  try {
    // -c 65536: SETTINGS_HEADER_TABLE_SIZE 65536, in HTTP2-Settings and again in nghttp's SETTINGS frame.
    // nghttp2 waits for a SETTINGS ACK before it takes the larger table, so it refuses the response
    // (GOAWAY COMPRESSION_ERROR) though the 101 acknowledged it (RFC 7540 §3.2.1): its exit says nothing.
    await run('/usr/bin/nghttp', ['-nu', '-c', '65536', `http://127.0.0.1:${settingsPort}/tables`]).catch(() => {});
  } finally {
    await cap2.stop();
  }
});

after(() => {
  for (const s of servers) if (s.pid) process.kill(s.pid);
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



test('h2c upgrade: stream 1\'s response encoded with the HTTP2-Settings header table size (the 101 acknowledges it) is decoded', { skip: skipNghttp }, () => {
  // tshark: the server's HEADERS on stream 1 comes before the client's SETTINGS frame, and its block
  // opens with a dynamic table size update to 65536 (001 11111, then 65505 in 7-bit groups: 3f e1 ff 03).
  const decode = ['-d', `tcp.port==${settingsPort},http`];
  const frames = tsharkFields(settingsPcap, ['frame.number', 'tcp.srcport', 'http2.streamid', 'http2.type', 'http2.headers'], 'http2.type == 1 || http2.type == 4', decode);
  const firstServerHeaders = frames.find(([, src, ids, types]) => Number(src) === settingsPort && types.split(',').some((t, i) => t === '1' && ids.split(',')[i] === '1'));
  const firstClientSettings = frames.find(([, src]) => Number(src) !== settingsPort);
  assert.ok(firstServerHeaders && firstClientSettings);
  assert.ok(Number(firstServerHeaders[0]) < Number(firstClientSettings[0]), 'the response precedes the client SETTINGS frame');
  assert.match(firstServerHeaders[4].replace(/:/g, ''), /^3fe1ff03/);

  const { events, stats } = parseCaptureSync(settingsPcap);
  assertValidEvents(events);
  assert.equal(stats.protocols['http2.hpack_errors'], undefined);
  const up = (events as any[]).find((e) => e.http2?.stream_id === 1);
  assert.ok(up);
  assert.equal(up.pano.flags, undefined);
  assert.equal(up.url.path, '/tables');
  // What the fixture sends: 200, text/plain, its length, "got 0 bytes for /tables".
  assert.equal(up.http.response.status_code, 200);
  assert.deepEqual(up.http.response.header, { 'content-type': ['text/plain'], 'content-length': ['23'] });
  assert.equal(up.http.response.body.content, 'got 0 bytes for /tables');
});
