// Real WebSocket traffic: Debian's python3-websockets as server and client (RFC 6455, with
// permessage-deflate and context takeover on, as it negotiates by default), captured with tcpdump
// on loopback, parsed, and compared with what the client sent and the server echoed, with tshark's
// reading of every frame, and with what pano-pii finds in the messages.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventScanner } from '@panopticon/pii';
import { LoopbackCapture, freePort } from '../helpers/loopback-capture.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';
import { tsharkFields } from '../helpers/tshark.js';

const PEER = join(import.meta.dirname, '../fixtures/websocket/peer.py');
const hasWebsockets = existsSync('/usr/lib/python3/dist-packages/websockets/__init__.py');
const missing = ['/usr/bin/python3', '/usr/bin/tcpdump', '/usr/bin/tshark'].filter((p) => !existsSync(p));
const skip = missing.length ? `missing ${missing.join(', ')}` : !hasWebsockets ? 'missing python3-websockets' : false;
const dir = mkdtempSync(join(tmpdir(), 'pano-ws-'));
let server: ChildProcess | undefined;
after(() => {
  server?.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
});

/** Starts peer.py's echo server on a free port; resolves once it listens. */
async function startServer(): Promise<number> {
  const port = await freePort();
  server = spawn('/usr/bin/python3', [PEER, 'serve', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  server.stdout!.on('data', (d) => (out += d));
  server.stderr!.on('data', (d) => (out += d));
  for (let i = 0; i < 200 && !out.includes('ready'); i++) {
    if (server.exitCode !== null) throw new Error(`peer.py serve exited: ${out}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  if (!out.includes('ready')) throw new Error(`peer.py serve did not start: ${out}`);
  return port;
}

test('python3-websockets client and server (permessage-deflate, context takeover): every message both ways as sent, the close frames, tshark agrees on each frame, pano-pii finds the JSON message\'s personal data', { skip }, async () => {
  const port = await startServer();
  const file = join(dir, 'ws.pcap');
  const cap = new LoopbackCapture(file, `tcp port ${port}`);
  await cap.start();
  let talked;
  try {
    talked = spawnSync('/usr/bin/python3', [PEER, 'talk', String(port)], { encoding: 'utf8', timeout: 20_000 });
  } finally {
    await cap.stop();
  }
  assert.equal(talked.status, 0, talked.stderr);
  const sent = talked.stdout.trim().split('\n').map((l) => JSON.parse(l) as { kind: string; value: string; frames: number });
  assert.equal(sent.length, 5);

  const { events, stats } = parseCaptureSync(file);
  assertValidEvents(events);
  const [upgrade, ...rest] = events as any[];
  assert.equal(upgrade.http.response.status_code, 101);
  assert.match(upgrade.http.response.header['sec-websocket-extensions'][0], /^permessage-deflate/);
  assert.ok(rest.every((e) => e.pano.protocol === 'websocket' && e.pano.kind === 'message' && e.pano.connection.id === upgrade.pano.connection.id && e.websocket.subprotocol === 'chat.v1'));
  // the one message past --max-body, and its echo, are flagged truncated; nothing else is flagged
  assert.deepEqual(rest.map((e) => e.pano.flags), rest.map((e) => (e.websocket.message?.size > 65536 ? ['truncated'] : undefined)));

  // each message the client sent, then the server's echo of it: the text whole, or cut at --max-body (64 KiB)
  const messages = rest.filter((e) => e.websocket.opcode !== 'close');
  assert.equal(messages.length, 2 * sent.length);
  sent.forEach((s, i) => {
    for (const [k, sender] of [[2 * i, 'client'], [2 * i + 1, 'server']] as const) {
      const e = messages[k];
      const body = e.websocket.message.body;
      assert.equal(e.websocket.sender, sender);
      assert.equal(e.websocket.opcode, s.kind === 'binary' ? 'binary' : 'text');
      assert.equal(body.content_encoding, 'permessage-deflate');
      if (s.kind === 'binary') {
        assert.equal(e.websocket.message.size, s.value.length / 2);
        assert.equal(body.content, undefined); // bytes 0-255: no text
      } else {
        assert.equal(e.websocket.message.size, Buffer.byteLength(s.value));
        assert.equal(body.content, s.value.slice(0, 65536));
        assert.equal(body.truncated, s.value.length > 65536 ? true : undefined);
      }
      if (sender === 'client' && s.kind === 'fragments') assert.ok(e.websocket.frames >= s.frames, `${e.websocket.frames} frames`);
    }
  });
  // the second JSON message is the first's text again and more: with context takeover it is a few bytes on the wire
  assert.ok(messages[2].websocket.message.body.size < 20, String(messages[2].websocket.message.body.size));
  assert.deepEqual(rest.filter((e) => e.websocket.opcode === 'close').map((e) => [e.websocket.sender, e.websocket.close]), [['client', { code: 1000, reason: 'done' }], ['server', { code: 1000, reason: 'done' }]]);
  assert.equal(stats.protocols['websocket.text_messages'], 8);
  assert.equal(stats.protocols['websocket.binary_messages'], 2);

  // tshark, frame by frame: opcode, compression bit, payload length, and the text it decompresses for a one-frame message
  const rows = tsharkFields(file, ['tcp.srcport', 'websocket.opcode', 'websocket.fin', 'websocket.pmc', 'websocket.payload_length', 'websocket.payload_length_ext_16', 'websocket.payload_length_ext_64', 'websocket.payload.text', 'websocket.payload.close.status_code', 'websocket.payload.close.reason'], 'websocket', ['-d', `tcp.port==${port},http`]);
  const theirs: unknown[] = [];
  for (let i = 0; i < rows.length; i++) {
    const [src, opcode, fin, pmc, len7, len16, len64, text, code, reason] = rows[i]!;
    const sender = Number(src) === port ? 'server' : 'client';
    const length = Number(len7) === 126 ? Number(len16) : Number(len7) === 127 ? Number(len64) : Number(len7);
    if (opcode === '8') theirs.push([sender, 'close', { code: Number(code), reason }]);
    else if (opcode === '0') continue; // a continuation: counted with its message below
    else if (fin === '1') theirs.push([sender, opcode === '1' ? 'text' : 'binary', 1, pmc === '1', length, opcode === '1' ? text : undefined]);
    else {
      // a fragmented message: its frames up to the final one (tshark shows no text for it)
      let frames = 1;
      let total = length;
      while (rows[i + frames]![2] !== '1') total += Number(rows[i + frames++]![4]);
      total += Number(rows[i + frames++]![4]);
      theirs.push([sender, opcode === '1' ? 'text' : 'binary', frames, pmc === '1', total, undefined]);
    }
  }
  const ours = rest.map((e) => e.websocket.opcode === 'close'
    ? [e.websocket.sender, 'close', e.websocket.close]
    : [e.websocket.sender, e.websocket.opcode, e.websocket.frames, e.websocket.message.body.content_encoding === 'permessage-deflate', e.websocket.message.body.size, e.websocket.frames === 1 && e.websocket.opcode === 'text' ? e.websocket.message.body.content : undefined]);
  // tshark shows the whole 100000-character text; pano-parse keeps --max-body of it
  const cut = (v: unknown[]) => (typeof v[5] === 'string' ? [...v.slice(0, 5), (v[5] as string).slice(0, 65536)] : v);
  assert.deepEqual(ours.map(cut), theirs.map((t) => cut(t as unknown[])));

  // pano-pii: the JSON message is walked as JSON, each finding at its path
  const s = new EventScanner({});
  const found = s.finish(s.collect(structuredClone(messages[0])));
  assert.deepEqual(found.filter((f) => f.detector === 'regex').map((f) => [f.type, f.path]), [
    ['email', 'websocket.message.body.content$.user.email'],
    ['phone', 'websocket.message.body.content$.user.phone'],
  ]);
});
