// gRPC-Web from real software: a node server (http for HTTP/1.1, http2 for
// HTTP/2, the same handler) answering in grpc-web framing as PROTOCOL-WEB.md
// describes it, and clients (fetch over HTTP/1.1, node's http2 client)
// sending grpc-web framed protobuf (protobufjs) in binary and -text form,
// captured with tcpdump on loopback, parsed with and without the .proto, and
// compared with what both ends did and with tshark's reading.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import type protobufNs from 'protobufjs';
import { LoopbackCapture } from '../helpers/loopback-capture.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';
import { tsharkFields } from '../helpers/tshark.js';

const protobuf = createRequire(import.meta.url)('protobufjs') as typeof protobufNs;
const missing = ['/usr/bin/tcpdump', '/usr/bin/tshark'].filter((p) => !existsSync(p));
const dir = mkdtempSync(join(tmpdir(), 'pano-grpc-web-'));
const protoFile = join(dir, 'users.proto');
writeFileSync(
  protoFile,
  `syntax = "proto3";
package demo.v1;
message GetUserRequest { int64 id = 1; }
message User { int64 id = 1; string name = 2; string email = 3; }
message ListRequest { int32 limit = 1; }
service Users {
  rpc GetUser(GetUserRequest) returns (User);
  rpc ListUsers(ListRequest) returns (stream User);
}
`,
);
const root = protobuf.loadSync(protoFile);
const GetUserRequest = root.lookupType('demo.v1.GetUserRequest');
const ListRequest = root.lookupType('demo.v1.ListRequest');
const User = root.lookupType('demo.v1.User');
const users = [
  { id: 1, name: 'Ada Lovelace', email: 'ada@example.test' },
  { id: 2, name: 'Alan Turing', email: 'alan@example.test' },
  { id: 3, name: 'Grace Hopper', email: 'grace@example.test' },
];

/** A grpc-web frame: flag byte (0x80 for trailers), 4-byte big-endian length, payload. */
function webFrame(payload: Uint8Array, flag = 0): Buffer {
  const h = Buffer.alloc(5);
  h[0] = flag;
  h.writeUInt32BE(payload.length, 1);
  return Buffer.concat([h, payload]);
}

/** Splits a binary grpc-web body into its frames (the server's own reading of the request). */
function readFrames(body: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let p = 0; p + 5 <= body.length; p += 5 + body.readUInt32BE(p + 1)) out.push(body.subarray(p + 5, p + 5 + body.readUInt32BE(p + 1)));
  return out;
}

interface Served {
  transport: '1.1' | '2';
  path: string;
  text: boolean;
  request: Record<string, unknown>;
  replies: Array<Record<string, unknown>>;
  status: number;
  message?: string;
  trailersOnly: boolean;
}
const served: Served[] = [];

/**
 * One handler for both servers (node's http2 compatibility API has http's req/res):
 * reads the request frames, answers frame by frame, each flush base64-encoded on
 * its own for -text, and ends with the trailer frame (or trailers-only headers).
 */
function handler(req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', async () => {
    const ct = String(req.headers['content-type']);
    const text = ct.startsWith('application/grpc-web-text');
    const raw = Buffer.concat(chunks);
    const body = text ? fromBase64Chunks(raw.toString('latin1')) : raw;
    const path = String(req.url);
    const [frame] = readFrames(body);
    const transport = req.httpVersion === '2.0' ? '2' : '1.1';
    const s: Served = { transport, path, text, request: {}, replies: [], status: 0, trailersOnly: false };
    served.push(s);
    const send = async (b: Buffer) => {
      (res as http.ServerResponse).write(text ? Buffer.from(b.toString('base64')) : b);
      // A flush per frame, as grpc-web servers do: separate writes, separate base64 texts.
      await new Promise((r) => setTimeout(r, 5));
    };
    res.setHeader('content-type', text ? 'application/grpc-web-text+proto' : 'application/grpc-web+proto');
    if (path === '/demo.v1.Users/GetUser') {
      s.request = GetUserRequest.toObject(GetUserRequest.decode(frame), { longs: Number });
      const u = users.find((x) => x.id === s.request.id);
      if (!u) {
        s.status = 5;
        s.message = `no user ${s.request.id} ✗`;
        if (s.request.id === 404) {
          // Trailers-only: the status in the headers, no body.
          s.trailersOnly = true;
          res.setHeader('grpc-status', '5');
          res.setHeader('grpc-message', encodeURIComponent(s.message));
          res.end();
          return;
        }
      } else {
        s.replies.push(u);
        await send(webFrame(User.encode(User.fromObject(u)).finish()));
      }
    } else if (path === '/demo.v1.Users/ListUsers') {
      s.request = ListRequest.toObject(ListRequest.decode(frame));
      for (const u of users.slice(0, Number(s.request.limit))) {
        s.replies.push(u);
        await send(webFrame(User.encode(User.fromObject(u)).finish()));
      }
    }
    const trailer = `grpc-status: ${s.status}\r\ngrpc-message: ${s.message ? encodeURIComponent(s.message) : ''}\r\nx-served-by: node-${transport}\r\n`;
    await send(webFrame(Buffer.from(trailer), 0x80));
    res.end();
  });
}

let h1: http.Server;
let h2: http2.Http2Server;
let port1 = 0;
let port2 = 0;

before(async () => {
  h1 = http.createServer(handler);
  h2 = http2.createServer(handler);
  await new Promise<void>((r) => h1.listen(0, '127.0.0.1', r));
  await new Promise<void>((r) => h2.listen(0, '127.0.0.1', r));
  port1 = (h1.address() as { port: number }).port;
  port2 = (h2.address() as { port: number }).port;
});

after(() => {
  h1?.close();
  h2?.close();
  if (!process.env.PANO_KEEP) rmSync(dir, { recursive: true, force: true });
});

interface Call {
  path: string;
  request: Uint8Array;
  text: boolean;
}

const CALLS: Call[] = [
  { path: '/demo.v1.Users/GetUser', request: GetUserRequest.encode({ id: 1 }).finish(), text: false },
  { path: '/demo.v1.Users/GetUser', request: GetUserRequest.encode({ id: 3 }).finish(), text: true },
  { path: '/demo.v1.Users/GetUser', request: GetUserRequest.encode({ id: 7 }).finish(), text: false },
  { path: '/demo.v1.Users/GetUser', request: GetUserRequest.encode({ id: 404 }).finish(), text: true },
  { path: '/demo.v1.Users/ListUsers', request: ListRequest.encode({ limit: 3 }).finish(), text: true },
  { path: '/demo.v1.Users/ListUsers', request: ListRequest.encode({ limit: 2 }).finish(), text: false },
];

function requestBody(c: Call): Buffer {
  const b = webFrame(c.request);
  return c.text ? Buffer.from(b.toString('base64')) : b;
}

function headers(c: Call): Record<string, string> {
  const ct = c.text ? 'application/grpc-web-text' : 'application/grpc-web+proto';
  return { 'content-type': ct, accept: ct, 'x-grpc-web': '1', 'x-user-agent': 'grpc-web-javascript/0.1' };
}

/** What the client received: the frames of the body (decoded from base64 for -text) and the status. */
interface Received {
  messages: number;
  status: string | undefined;
}

/**
 * -text bodies are padded base64 texts end to end, one per flush: Buffer.from(s, 'base64')
 * stops at the first padding, so each 4-character quantum is decoded on its own.
 */
function fromBase64Chunks(text: string): Buffer {
  return Buffer.concat((text.match(/[^]{4}/g) ?? []).map((q) => Buffer.from(q, 'base64')));
}

function clientView(text: boolean, raw: Buffer, hdrs: Record<string, unknown>): Received {
  const body = text ? fromBase64Chunks(raw.toString('latin1')) : raw;
  const frames: Array<{ flag: number; payload: Buffer }> = [];
  for (let p = 0; p + 5 <= body.length; p += 5 + body.readUInt32BE(p + 1)) frames.push({ flag: body[p], payload: body.subarray(p + 5, p + 5 + body.readUInt32BE(p + 1)) });
  const trailer = frames.find((f) => f.flag & 0x80);
  const status = trailer ? /grpc-status: (\d+)/.exec(trailer.payload.toString())?.[1] : (hdrs['grpc-status'] as string | undefined);
  return { messages: frames.filter((f) => !(f.flag & 0x80)).length, status };
}

async function viaFetch(c: Call): Promise<Received> {
  const r = await fetch(`http://127.0.0.1:${port1}${c.path}`, { method: 'POST', headers: headers(c), body: requestBody(c) });
  return clientView(c.text, Buffer.from(await r.arrayBuffer()), Object.fromEntries(r.headers));
}

async function viaHttp2(session: http2.ClientHttp2Session, c: Call): Promise<Received> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':method': 'POST', ':path': c.path, ...headers(c) });
    const chunks: Buffer[] = [];
    let hdrs: Record<string, unknown> = {};
    req.on('response', (h) => (hdrs = h));
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => resolve(clientView(c.text, Buffer.concat(chunks), hdrs)));
    req.on('error', reject);
    req.end(requestBody(c));
  });
}

test('grpc-web over HTTP/1.1 (fetch) and HTTP/2 (node client), binary and text: events match both ends and the frames tshark reads', { skip: missing.length ? `missing ${missing.join(', ')}` : false }, async () => {
  const file = join(dir, 'grpc-web.pcap');
  const cap = new LoopbackCapture(file, `tcp port ${port1} or tcp port ${port2}`);
  await cap.start();
  const received: Array<{ transport: '1.1' | '2'; call: Call; got: Received }> = [];
  try {
    for (const call of CALLS) received.push({ transport: '1.1', call, got: await viaFetch(call) });
    const session = http2.connect(`http://127.0.0.1:${port2}`);
    for (const call of CALLS) received.push({ transport: '2', call, got: await viaHttp2(session, call) });
    await new Promise<void>((r) => session.close(() => r()));
  } finally {
    await cap.stop();
  }
  assert.equal(served.length, CALLS.length * 2);

  const { events } = parseCaptureSync(file);
  assertValidEvents(events);
  const rpc = (events as any[]).filter((e) => e.rpc?.system === 'grpc');
  assert.equal(rpc.length, served.length, 'one gRPC event per call');
  for (const transport of ['1.1', '2'] as const) {
    const evs = rpc.filter((e) => e.network.protocol.version === transport).sort((a, b) => (BigInt(a.pano.start_ns) < BigInt(b.pano.start_ns) ? -1 : 1));
    const sv = served.filter((s) => s.transport === transport);
    const rc = received.filter((r) => r.transport === transport);
    assert.equal(evs.length, sv.length, `HTTP/${transport}`);
    evs.forEach((e, i) => {
      const s = sv[i];
      const where = `HTTP/${transport} call ${i} ${s.path} ${JSON.stringify(s.request)}`;
      assert.equal(e.pano.kind, 'exchange', where);
      assert.equal(e.pano.flags, undefined, where);
      assert.equal(`/${e.rpc.service}/${e.rpc.method}`, s.path, where);
      // The status both ends agree on.
      assert.equal(String(e.rpc.grpc.status_code), rc[i].got.status, where);
      assert.equal(e.rpc.grpc.status_code, s.status, where);
      if (s.status) {
        assert.equal(e.grpc.status_message, s.message, where);
        assert.equal(e.error.type, 'NOT_FOUND', where);
      } else assert.equal(e.error, undefined, where);
      // Messages: what the client sent, what the server sent and the client received.
      assert.equal(e.grpc.request.message_count, 1, where);
      assert.equal(e.grpc.response.message_count, s.replies.length, where);
      assert.equal(e.grpc.response.message_count, rc[i].got.messages, where);
      assert.equal(e.grpc.response.message_bytes, s.replies.reduce((n, u) => n + User.encode(User.fromObject(u)).finish().length, 0), where);
      // Schema-less: field numbers; the request's id is field 1.
      assert.deepEqual(e.grpc.request.messages[0].fields, { f1: s.request.id ?? s.request.limit }, where);
      assert.deepEqual(e.grpc.response.messages?.map((m: any) => m.fields) ?? [], s.replies.map((u) => ({ f1: u.id, f2: u.name, f3: u.email })), where);
    });
  }

  // With the schema: names, through protobufjs, for text and binary alike.
  const named = (parseCaptureSync(file, { parse: { protoPaths: [dir] } }).events as any[]).filter((e) => e.rpc?.system === 'grpc');
  assertValidEvents(named);
  const list = named.filter((e) => e.rpc.method === 'ListUsers');
  assert.equal(list.length, 4);
  for (const e of list) {
    assert.equal(e.grpc.schema, true);
    const limit = e.grpc.request.messages[0].content.limit;
    assert.deepEqual(e.grpc.response.messages.map((m: any) => m.content), users.slice(0, limit).map((u) => ({ ...u, id: String(u.id) })));
  }

  // tshark's view (4.0 reads grpc-web, binary and -text, over HTTP/1.1 and HTTP/2 by
  // content-type; it has no grpc.path/grpc.status fields): the frames, by type and length.
  const decodeAs = ['-d', `tcp.port==${port1},http`, '-d', `tcp.port==${port2},http2`];
  const rows = tsharkFields(file, ['tcp.srcport', 'grpc.frame_type', 'grpc.message_length'], 'grpc', decodeAs);
  const theirs = { request: [] as number[], response: [] as number[], trailers: 0 };
  for (const [src, types, lengths] of rows) {
    const fromServer = Number(src) === port1 || Number(src) === port2;
    const t = types.split(',');
    lengths.split(',').forEach((n, k) => {
      if (t[k] === '1') theirs.trailers++;
      else (fromServer ? theirs.response : theirs.request).push(Number(n));
    });
  }
  const sizes = (side: 'request' | 'response') => rpc.flatMap((e) => (e.grpc[side].messages ?? []).map((m: any) => m.size)).sort((a, b) => a - b);
  assert.deepEqual(theirs.request.sort((a, b) => a - b), sizes('request'));
  assert.deepEqual(theirs.response.sort((a, b) => a - b), sizes('response'));
  // Every response but the trailers-only ones ended with a trailer frame.
  assert.equal(theirs.trailers, served.filter((x) => !x.trailersOnly).length);
});
