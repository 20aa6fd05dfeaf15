// WebSocket over HTTP/2 (RFC 8441) between Node's own http2 client and server on loopback, h2c with
// prior knowledge, captured with tcpdump: two extended CONNECT streams on one connection, one plain and
// one with permessage-deflate. The frames are RFC 6455 §5.7's and RFC 7692 §7.2.3's examples, written
// by hand, so every message's text is known; the events hold them, per stream, with the sender.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LoopbackCapture, freePort, tcpdumpAvailable } from '../helpers/loopback-capture.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';

const skip = tcpdumpAvailable() ? false : 'tcpdump is not installed';
const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
/** RFC 6455 §5.7: a masked "Hello" from the client, an unmasked "Hello" from the server. */
const MASKED_HELLO = hex('81 85 37 fa 21 3d 7f 9f 4d 51 58');
const HELLO = hex('81 05 48 65 6c 6c 6f');
/** RFC 7692 §7.2.3.1: "Hello" compressed in one frame (RSV1 set). */
const DEFLATED_HELLO = hex('c1 07 f2 48 cd c9 c9 07 00');

/** A masked client frame (RFC 6455 §5.2), `fin` and `opcode` as given, with a fixed key. */
function masked(payload: Buffer, opcode: number, fin = true): Buffer {
  const key = Buffer.from([0xa1, 0xb2, 0xc3, 0xd4]);
  const out = Buffer.concat([Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | payload.length]), key, Buffer.alloc(payload.length)]);
  for (let i = 0; i < payload.length; i++) out[6 + i] = payload[i]! ^ key[i % 4]!;
  return out;
}
const close = (code: number, reason: string) => Buffer.concat([Buffer.from([code >> 8, code & 0xff]), Buffer.from(reason)]);

test('two WebSocket streams over one HTTP/2 connection (RFC 8441), one with permessage-deflate: each message and close as sent, by stream and sender', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pano-h2ws-'));
  const port = await freePort();
  const server = http2.createServer({ settings: { enableConnectProtocol: true } });
  server.on('stream', (stream, headers) => {
    if (headers[':method'] !== 'CONNECT' || headers[':protocol'] !== 'websocket') return stream.respond({ ':status': 400 }, { endStream: true });
    const deflate = headers[':path'] === '/deflate';
    stream.respond({ ':status': 200, 'sec-websocket-protocol': 'chat', ...(deflate ? { 'sec-websocket-extensions': 'permessage-deflate' } : {}) });
    let got = 0;
    let answered = false;
    stream.on('data', (d: Buffer) => {
      got += d.length;
      if (answered) return;
      // answer once the client's frames are in: the RFC's frames, then a close
      if (deflate && got >= 13) {
        answered = true;
        stream.write(DEFLATED_HELLO);
        stream.end(Buffer.concat([Buffer.from([0x88, 5]), close(1000, 'bye')]));
      } else if (!deflate && got >= MASKED_HELLO.length + 14 + 26) {
        answered = true;
        stream.write(HELLO);
        stream.write(Buffer.concat([Buffer.from([0x82, 0x7e, 0x01, 0x00]), Buffer.alloc(256, 0x41)]));
        stream.end(Buffer.concat([Buffer.from([0x88, 5]), close(1000, 'bye')]));
      }
    });
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  const file = join(dir, 'h2ws.pcap');
  const cap = new LoopbackCapture(file, `tcp port ${port}`);
  await cap.start();
  try {
    const client = http2.connect(`http://127.0.0.1:${port}`);
    await new Promise<void>((r) => client.once('remoteSettings', () => r()));
    assert.equal(client.remoteSettings.enableConnectProtocol, true);
    const open = (path: string, frames: Buffer[]) => new Promise<void>((resolve, reject) => {
      const req = client.request({ ':method': 'CONNECT', ':protocol': 'websocket', ':path': path, ':scheme': 'http', ':authority': `127.0.0.1:${port}`, 'sec-websocket-version': '13', 'sec-websocket-protocol': 'chat' });
      req.on('response', (h) => assert.equal(h[':status'], 200));
      for (const f of frames) req.write(f);
      req.on('data', () => {});
      req.on('end', () => {
        req.end(masked(close(1000, 'ok'), 0x8));
        resolve();
      });
      req.on('error', reject);
    });
    // stream 1: "Hello" (RFC 6455), then a JSON text message in two fragments
    await open('/chat', [MASKED_HELLO, masked(Buffer.from('{"user":'), 0x1, false), masked(Buffer.from('"alice@example.org"}'), 0x0)]);
    // stream 3: permessage-deflate; the client's "Hello" compressed, masked (RFC 7692 §7.2.3.1 then masked)
    const compressed = hex('f2 48 cd c9 c9 07 00');
    const m = masked(compressed, 0x1);
    m[0] |= 0x40; // RSV1: compressed
    await open('/deflate', [m]);
    await new Promise((r) => setTimeout(r, 100));
    client.close();
  } finally {
    await cap.stop();
    server.close();
  }
  const { events } = parseCaptureSync(file);
  rmSync(dir, { recursive: true, force: true });
  assertValidEvents(events);
  const evs = events as any[];
  const connects = evs.filter((e) => e.pano.protocol === 'http2');
  assert.deepEqual(connects.map((e) => [e.http2.stream_id, e.http.request.method, e.http.response.status_code]), [[1, 'CONNECT', 200], [3, 'CONNECT', 200]]);
  const ws = evs.filter((e) => e.pano.protocol === 'websocket');
  const seen = ws.map((e) => [e.http2.stream_id, e.websocket.sender, e.websocket.opcode, e.websocket.frames, e.websocket.message?.body?.content ?? e.websocket.message?.size ?? `${e.websocket.close?.code} ${e.websocket.close?.reason}`]);
  const of = (id: number, sender: string) => seen.filter((x) => x[0] === id && x[1] === sender).map((x) => x.slice(2));
  assert.deepEqual(of(1, 'client'), [['text', 1, 'Hello'], ['text', 2, '{"user":"alice@example.org"}'], ['close', 1, '1000 ok']]);
  assert.deepEqual(of(1, 'server'), [['text', 1, 'Hello'], ['binary', 1, 'A'.repeat(256)], ['close', 1, '1000 bye']]);
  assert.deepEqual(of(3, 'client'), [['text', 1, 'Hello'], ['close', 1, '1000 ok']]);
  assert.deepEqual(of(3, 'server'), [['text', 1, 'Hello'], ['close', 1, '1000 bye']]);
  assert.equal(ws.length, 10);
  for (const e of ws) {
    assert.equal(e.websocket.subprotocol, 'chat');
    assert.equal(e.pano.kind, 'message');
    assert.equal(e.pano.flags, undefined);
  }
  assert.equal(ws.filter((e) => e.http2.stream_id === 3 && e.websocket.opcode === 'text').every((e) => e.websocket.message.body.content_encoding === 'permessage-deflate'), true);
});
