// A download with response trailers from nghttpd (nghttp2's server, padding on)
// to nghttp with small flow-control windows, captured with tcpdump on loopback,
// then cut with editcap after the response head so that the capture joins the
// stream mid-body. The trailer block that ends the stream is its trailers
// (RFC 9113 §8.1), not a response head: compared with the trailer nghttpd was
// told to send, what nghttp printed, and tshark's frames.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { LoopbackCapture, tcpdumpAvailable } from '../helpers/loopback-capture.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';
import { tsharkFields } from '../helpers/tshark.js';

const run = promisify(execFile);
const missing = ['/usr/sbin/nghttpd', '/usr/bin/nghttp', '/usr/bin/tshark', '/usr/bin/editcap'].filter((p) => !existsSync(p));
if (!tcpdumpAvailable()) missing.push('tcpdump');
const skip = missing.length > 0 && `missing: ${missing.join(', ')}`;

const dir = mkdtempSync(join(tmpdir(), 'pano-h2-trailers-'));
const pcap = join(dir, 'full.pcap');
const SIZE = 200_000;
let server: ChildProcess | undefined;
let port = 0;
let nghttpOut = '';

before(async () => {
  if (skip) return;
  const root = join(dir, 'www');
  mkdirSync(root);
  writeFileSync(join(root, 'big.bin'), randomBytes(SIZE));
  port = await lowPort();
  // --trailer: sent after the body of every response that has one; --padding: DATA and HEADERS padded.
  server = spawn('/usr/sbin/nghttpd', ['--no-tls', '-d', root, '--trailer', 'x-trail: t1', '--trailer', 'x-digest: sha-256=abc', '--padding=17', String(port)], { stdio: 'ignore' });
  for (let i = 0; ; i++) {
    const ok = await new Promise<boolean>((r) => net.connect(port, '127.0.0.1').once('connect', function (this: net.Socket) { this.destroy(); r(true); }).once('error', () => r(false)));
    if (ok) break;
    if (i > 200 || server.exitCode !== null) throw new Error('nghttpd did not start');
    await new Promise((r) => setTimeout(r, 20));
  }
  const cap = new LoopbackCapture(pcap, `tcp port ${port}`);
  await cap.start();
  try {
    // 4 KiB stream and 16 KiB connection windows: the body comes in many DATA frames and segments.
    nghttpOut = (await run('/usr/bin/nghttp', ['-v', '-n', '-w', '12', '-W', '14', `http://127.0.0.1:${port}/big.bin`])).stdout;
  } finally {
    await cap.stop();
  }
});

after(() => {
  if (server?.pid) process.kill(server.pid);
  if (!process.env.PANO_KEEP) rmSync(dir, { recursive: true, force: true });
});

/**
 * A free port below the ephemeral range (32768 up): the cut capture has no SYN, so the
 * connection's roles come from its ports, the lower one the server's. nghttp's port is ephemeral.
 */
async function lowPort(): Promise<number> {
  for (;;) {
    const p = 20000 + Math.floor(Math.random() * 12000);
    const free = await new Promise<boolean>((r) => {
      const s = net.createServer().once('error', () => r(false)).listen(p, '127.0.0.1', () => s.close(() => r(true)));
    });
    if (free) return p;
  }
}

const decodeAs = () => ['-d', `tcp.port==${port},http2`];

test('joined after the response head: the block that ends the stream is its trailers, not its head; whole capture: head and trailers', { skip }, async () => {
  // What nghttp received: the trailer fields after the body.
  assert.match(nghttpOut, /x-trail: t1/);
  const whole = parseCaptureSync(pcap).events as any[];
  assertValidEvents(whole);
  assert.equal(whole.length, 1);
  const full = whole[0];
  assert.equal(full.http.response.status_code, 200);
  assert.deepEqual(full.http.response.trailer, { 'x-trail': ['t1'], 'x-digest': ['sha-256=abc'] });
  assert.equal(full.http.response.body.size, SIZE);
  const streamId = full.http2.stream_id;

  // The first segment carrying DATA of the stream: the cut keeps what comes after it.
  const rows = tsharkFields(pcap, ['frame.number'], `http2.type == 0 && http2.streamid == ${streamId}`, decodeAs());
  assert.ok(rows.length > 10, `the body came in many segments (${rows.length})`);
  const from = Number(rows[0][0]) + 1;
  const cut = join(dir, 'cut.pcap');
  await run('/usr/bin/editcap', ['-r', pcap, cut, `${from}-100000000`]);
  // tshark: no header block with :status is left in the cut capture; the trailer block is.
  const frames = tsharkFields(cut, ['http2.streamid', 'http2.type', 'http2.flags'], `http2.type == 1`, decodeAs()).flatMap(([ids, types, flags]) => {
    const t = types.split(','), f = flags.split(',');
    return ids.split(',').map((id, i) => ({ id: Number(id), type: Number(t[i]), flags: Number(f[i]) }));
  });
  const heads = frames.filter((f) => f.id === streamId && f.type === 1);
  assert.equal(heads.length, 1, 'one HEADERS frame left on the stream: the trailers');
  assert.equal(heads[0].flags & 1, 1, 'it ends the stream');
  assert.equal(tsharkFields(cut, ['frame.number'], 'http2.headers.status', decodeAs()).length, 0, 'no :status in the cut capture');

  const { events } = parseCaptureSync(cut);
  assertValidEvents(events);
  const e = (events as any[]).find((x) => x.http2?.stream_id === streamId);
  assert.ok(e, 'the stream is reported');
  assert.equal(e.pano.kind, 'orphan_response');
  assert.ok(e.pano.flags.includes('midstream'));
  assert.equal(e.http.response.status_code, undefined, 'the head was not captured');
  assert.equal(e.http.response.header, undefined, 'trailer fields are not a head');
  assert.deepEqual(e.http.response.trailer, { 'x-trail': ['t1'], 'x-digest': ['sha-256=abc'] });
  assert.ok(e.http.response.body.size > 0 && e.http.response.body.size < SIZE);
});
