// Real gRPC on loopback: a @grpc/grpc-js server and client (unary, server
// streaming, client streaming, bidi, an error status, gzip-compressed
// messages, messages past --max-body, a proxy's HTML error page), captured
// with tcpdump and parsed with and without the .proto.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { LoopbackCapture } from '../helpers/loopback-capture.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';
import { repoRoot } from '../helpers/corpus.js';

const missing = ['/usr/bin/tcpdump'].filter((p) => !existsSync(p));
const dir = mkdtempSync(join(tmpdir(), 'pano-grpc-'));
const protoFile = join(dir, 'users.proto');
writeFileSync(
  protoFile,
  `syntax = "proto3";
package demo.v1;
message GetUserRequest { int64 id = 1; }
message User { int64 id = 1; string name = 2; string email = 3; repeated string tags = 4; Address address = 5; }
message Address { string street = 1; string city = 2; }
message ListRequest { int32 limit = 1; }
message UploadSummary { int32 count = 1; }
message ChatMessage { string text = 1; }
service Users {
  rpc GetUser(GetUserRequest) returns (User);
  rpc ListUsers(ListRequest) returns (stream User);
  rpc Upload(stream User) returns (UploadSummary);
  rpc Chat(stream ChatMessage) returns (stream ChatMessage);
}
`,
);

const users = [
  { id: 1, name: 'Ada Lovelace', email: 'ada@example.test', tags: ['admin', 'math'], address: { street: '12 St James Sq', city: 'London' } },
  { id: 2, name: 'Alan Turing', email: 'alan@example.test', tags: [], address: { street: 'Bletchley Park', city: 'Milton Keynes' } },
  { id: 3, name: 'Grace Hopper', email: 'grace@example.test', tags: ['navy'], address: { street: '1 Navy Way', city: 'Arlington' } },
];

let server: grpc.Server;
let port = 0;
const def = protoLoader.loadSync(protoFile, { keepCase: true, longs: Number, defaults: false });
const demo = (grpc.loadPackageDefinition(def) as any).demo.v1;

before(async () => {
  server = new grpc.Server({ 'grpc.default_compression_algorithm': 2 } as grpc.ServerOptions);
  server.addService(demo.Users.service, {
    GetUser: (call: any, cb: any) => {
      const u = users.find((x) => x.id === Number(call.request.id));
      if (!u) return cb({ code: grpc.status.NOT_FOUND, details: `no user ${call.request.id} ✗` });
      cb(null, u);
    },
    ListUsers: (call: any) => {
      for (const u of users.slice(0, call.request.limit)) call.write(u);
      call.end();
    },
    Upload: (call: any, cb: any) => {
      let n = 0;
      call.on('data', () => n++);
      call.on('end', () => cb(null, { count: n }));
    },
    Chat: (call: any) => {
      call.on('data', (m: any) => call.write({ text: `echo: ${m.text}` }));
      call.on('end', () => call.end());
    },
  });
  port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  // grpc-js before 1.10 serves only after start().
  (server as unknown as { start?: () => void }).start?.();
});

after(() => {
  server?.forceShutdown();
  if (!process.env.PANO_KEEP) rmSync(dir, { recursive: true, force: true });
});

async function calls(): Promise<void> {
  const plain = new demo.Users(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const gz = new demo.Users(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.default_compression_algorithm': 2 });
  await new Promise<void>((res, rej) => plain.GetUser({ id: 1 }, (e: any) => (e ? rej(e) : res())));
  await new Promise<void>((res) => plain.GetUser({ id: 404 }, () => res()));
  await new Promise<void>((res, rej) => {
    const s = plain.ListUsers({ limit: 3 });
    s.on('data', () => {});
    s.on('error', rej);
    s.on('end', res);
  });
  await new Promise<void>((res, rej) => {
    const c = gz.Upload((e: any) => (e ? rej(e) : res()));
    for (const u of users) c.write(u);
    c.end();
  });
  await new Promise<void>((res, rej) => {
    const c = plain.Chat();
    c.on('data', () => {});
    c.on('error', rej);
    c.on('end', res);
    c.write({ text: 'hello' });
    c.write({ text: 'my phone is +44 20 7946 0958' });
    c.end();
  });
  plain.close();
  gz.close();
}

test('grpc-js unary, streaming kinds, errors and gzip: events match the calls', { skip: missing.length ? `missing ${missing.join(', ')}` : false }, async () => {
  const file = join(dir, 'grpc.pcap');
  const cap = new LoopbackCapture(file, `tcp port ${port}`);
  await cap.start();
  try {
    await calls();
  } finally {
    await cap.stop();
  }
  const { events } = parseCaptureSync(file);
  assertValidEvents(events);
  const rpc = (events as any[]).filter((e) => e.rpc?.system === 'grpc');
  const byMethod = (m: string) => rpc.filter((e) => e.rpc.method === m);
  assert.equal(rpc.length, 5);
  for (const e of rpc) {
    assert.equal(e.rpc.service, 'demo.v1.Users');
    assert.equal(e.pano.kind, 'exchange');
  }
  const [ok, notFound] = byMethod('GetUser');
  assert.equal(ok.rpc.grpc.status_code, 0);
  assert.equal(ok.grpc.request.message_count, 1);
  assert.equal(ok.grpc.response.message_count, 1);
  // Schema-less: field numbers (keyed f<n>), strings as text, nested message decoded.
  assert.deepEqual(ok.grpc.request.messages[0].fields, { f1: 1 });
  const f = ok.grpc.response.messages[0].fields;
  assert.equal(f.f2, 'Ada Lovelace');
  assert.equal(f.f3, 'ada@example.test');
  assert.deepEqual(f.f4, ['admin', 'math']);
  assert.deepEqual(f.f5, { f1: '12 St James Sq', f2: 'London' });
  assert.equal(notFound.rpc.grpc.status_code, 5);
  assert.deepEqual(notFound.error, { type: 'NOT_FOUND' });
  assert.equal(notFound.grpc.status_message, 'no user 404 ✗');
  assert.equal(notFound.grpc.response.message_count, 0);
  const [list] = byMethod('ListUsers');
  assert.equal(list.grpc.response.message_count, 3);
  const [upload] = byMethod('Upload');
  assert.equal(upload.grpc.request.message_count, 3);
  assert.equal(upload.grpc.request.encoding, 'gzip');
  assert.ok(upload.grpc.request.messages.every((m: any) => m.compressed), 'client messages were gzip-compressed');
  assert.equal(upload.grpc.request.messages[2].fields.f3, 'grace@example.test');
  const [chat] = byMethod('Chat');
  assert.equal(chat.grpc.request.message_count, 2);
  assert.equal(chat.grpc.response.message_count, 2);
  assert.equal(chat.grpc.request.messages[1].fields.f1, 'my phone is +44 20 7946 0958');
  assert.equal(chat.grpc.response.messages[0].fields.f1, 'echo: hello');

  // With the schema: field names, through protobufjs.
  const named = (parseCaptureSync(file, { parse: { protoPaths: [dir] } }).events as any[]).filter((e) => e.rpc?.system === 'grpc');
  assertValidEvents(named);
  const okNamed = named.find((e) => e.rpc.method === 'GetUser' && e.rpc.grpc.status_code === 0);
  assert.equal(okNamed.grpc.schema, true);
  assert.deepEqual(okNamed.grpc.request.messages[0].content, { id: '1' });
  assert.deepEqual(okNamed.grpc.response.messages[0].content, { ...users[0], id: '1' });
  const up = named.find((e) => e.rpc.method === 'Upload');
  assert.deepEqual(up.grpc.request.messages.map((m: any) => m.content.email), users.map((u) => u.email));
  assert.deepEqual(up.grpc.response.messages[0].content, { count: 3 });

  // An older schema than the server's (User without email, Address without city): what it does not know
  // is shown schema-less where it was, not dropped, so a reader and pano-pii still see the address.
  // (beside `dir`, not in it: `--proto dir` below reads every .proto under it)
  const oldDir = mkdtempSync(join(tmpdir(), 'pano-grpc-v0-'));
  writeFileSync(
    join(oldDir, 'users.proto'),
    readFileSync(protoFile, 'utf8')
      .replace('string email = 3; ', '')
      .replace('message Address { string street = 1; string city = 2; }', 'message Address { string street = 1; }'),
  );
  const older = (parseCaptureSync(file, { parse: { protoPaths: [oldDir] } }).events as any[]).filter((e) => e.rpc?.system === 'grpc');
  rmSync(oldDir, { recursive: true, force: true });
  assertValidEvents(older);
  const okOlder = older.find((e) => e.rpc.method === 'GetUser' && e.rpc.grpc.status_code === 0);
  assert.deepEqual(okOlder.grpc.response.messages[0], {
    ...okNamed.grpc.response.messages[0],
    content: { id: '1', name: 'Ada Lovelace', tags: ['admin', 'math'], address: { street: '12 St James Sq' } },
    unknown_fields: [
      { at: '', fields: { f3: 'ada@example.test' } },
      { at: 'address', fields: { f2: 'London' } },
    ],
  });
  const pii = spawnSync(process.execPath, [resolve(repoRoot, 'bin/pano-pii')], { input: JSON.stringify(okOlder) + '\n', encoding: 'utf8' });
  assert.equal(pii.status, 0, pii.stderr);
  assert.ok(
    JSON.parse(pii.stdout).pii.some((f: any) => f.type === 'email' && f.path === 'grpc.response.messages[0].unknown_fields[0].fields.f3'),
    `the e-mail address the older schema does not know is found: ${pii.stdout}`,
  );

  // The command, as the README writes it, decodes the same; with two workers too: --proto reaches every worker.
  for (const workers of ['1', '2']) {
    const cli = spawnSync(process.execPath, [resolve(repoRoot, 'bin/pano-parse'), '--proto', dir, file, '--workers', workers], { encoding: 'utf8' });
    assert.equal(cli.status, 0, cli.stderr);
    const viaCommand = cli.stdout.trim().split('\n').map((l) => JSON.parse(l)).filter((e) => e.rpc?.system === 'grpc');
    assert.deepEqual(viaCommand.map((e) => e.grpc), named.map((e) => e.grpc), `--workers ${workers}`);
  }
  const cli = spawnSync(process.execPath, [resolve(repoRoot, 'bin/pano-parse'), '--proto', join(dir, 'users.proto'), '--proto', dir, file], { encoding: 'utf8' });
  assert.equal(cli.status, 0, cli.stderr);
  assert.equal(cli.stdout.trim().split('\n').length, parseCaptureSync(file).events.length, '--proto twice: both paths, and the capture is still read');
});

test('grpc-js gzip messages that inflate past --max-body are cut and not decoded; the event stays small', { skip: missing.length ? `missing ${missing.join(', ')}` : false }, async () => {
  // 1,000,000 letters compress to about 1 KB: the event held the whole megabyte.
  const file = join(dir, 'grpc-gzip-big.pcap');
  const cap = new LoopbackCapture(file, `tcp port ${port}`);
  await cap.start();
  try {
    const gz = new demo.Users(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.default_compression_algorithm': 2 });
    await new Promise<void>((res, rej) => {
      const c = gz.Upload((e: any) => (e ? rej(e) : res()));
      c.write({ ...users[0], name: 'q'.repeat(1_000_000) });
      c.write(users[1]);
      c.end();
    });
    gz.close();
  } finally {
    await cap.stop();
  }
  for (const maxBody of [64 * 1024, 1024]) {
    const { events } = parseCaptureSync(file, { parse: { maxBody } });
    assertValidEvents(events);
    const [upload] = (events as any[]).filter((e) => e.rpc?.method === 'Upload');
    const [big, small] = upload.grpc.request.messages;
    assert.equal(upload.grpc.request.message_count, 2);
    assert.ok(big.size < 10_000, `${big.size} bytes on the wire`);
    // Cut as an uncompressed message past --max-body is, and so is the one after it (the side's bound is spent).
    assert.deepEqual(big, { size: big.size, compressed: true, truncated: true }, String(maxBody));
    assert.deepEqual(small, { size: small.size, compressed: true, truncated: true }, String(maxBody));
    assert.deepEqual(upload.grpc.response.messages[0].fields, { f1: 2 });
    assert.ok(upload.pano.flags.includes('truncated'));
    assert.ok(JSON.stringify(upload).length < 10_000, String(JSON.stringify(upload).length));
  }
});

test('grpc-js through a proxy that answers 502 text/html: the response is not framed as gRPC, its page is kept', { skip: missing.length ? `missing ${missing.join(', ')}` : false }, async () => {
  // What nginx's grpc_pass answers when its upstream is down; "<htm" was read as a 1.75 GB message.
  const page = '<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n';
  const proxy = http2.createServer();
  proxy.on('stream', (stream) => {
    stream.on('data', () => {});
    stream.on('end', () => {
      stream.respond({ ':status': 502, 'content-type': 'text/html' });
      stream.end(page);
    });
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  const proxyPort = (proxy.address() as { port: number }).port;
  const file = join(dir, 'grpc-502.pcap');
  const cap = new LoopbackCapture(file, `tcp port ${proxyPort}`);
  await cap.start();
  let code: number | undefined;
  try {
    const c = new demo.Users(`127.0.0.1:${proxyPort}`, grpc.credentials.createInsecure());
    await new Promise<void>((res) => c.GetUser({ id: 1 }, (e: any) => ((code = e?.code), res())));
    c.close();
  } finally {
    await cap.stop();
    proxy.close();
  }
  // The call fails (this grpc-js reads the page as a message too long to receive: RESOURCE_EXHAUSTED).
  assert.notEqual(code, undefined);
  assert.notEqual(code, grpc.status.OK);
  const { events } = parseCaptureSync(file);
  assertValidEvents(events);
  const [e] = (events as any[]).filter((x) => x.rpc?.system === 'grpc');
  assert.equal(e.http.response.status_code, 502);
  assert.deepEqual(e.http.response.body, { size: page.length, content: page });
  assert.deepEqual(e.error, { type: '502' });
  assert.deepEqual(e.grpc.request.messages, [{ size: 2, fields: { f1: 1 } }]);
  assert.equal(e.grpc.response, undefined);
  assert.equal(e.pano.flags, undefined);
});

test('grpc-js deadlines: grpc.timeout_ns is the grpc-timeout the client sent (tshark reads it), on a call that made it and one that ran out', { skip: missing.length || !existsSync('/usr/bin/tshark') ? 'missing tcpdump or tshark' : false }, async () => {
  const file = join(dir, 'grpc-deadline.pcap');
  const cap = new LoopbackCapture(file, `tcp port ${port}`);
  await cap.start();
  const codes: number[] = [];
  try {
    const c = new demo.Users(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    await new Promise<void>((res) => c.GetUser({ id: 1 }, { deadline: Date.now() + 5000 }, (e: any) => (codes.push(e?.code ?? 0), res())));
    // Chat answers only what it is sent: sent nothing, the call runs out of time
    await new Promise<void>((res) => {
      const call = c.Chat({ deadline: Date.now() + 300 });
      call.on('data', () => {});
      call.on('error', () => {});
      // the outcome is the status: grpc-js ends the stream after its error too
      call.on('status', (st: any) => (codes.push(st.code), res()));
    });
    c.close();
  } finally {
    await cap.stop();
  }
  assert.deepEqual(codes, [grpc.status.OK, grpc.status.DEADLINE_EXCEEDED]);
  const { events } = parseCaptureSync(file);
  assertValidEvents(events);
  const rpc = (events as any[]).filter((e) => e.rpc?.system === 'grpc');
  assert.deepEqual(rpc.map((e) => e.rpc.method), ['GetUser', 'Chat']);
  // JSON, frame by frame: a packet holds other streams' frames too, and header values hold commas
  const packets = JSON.parse(spawnSync('tshark', ['-r', file, '-d', `tcp.port==${port},http2`, '-Y', 'http2.header.name == "grpc-timeout"', '-T', 'json', '--no-duplicate-keys', '-J', 'http2'], { encoding: 'utf8', maxBuffer: 64 << 20 }).stdout) as any[];
  const list = (x: any) => (x === undefined ? [] : Array.isArray(x) ? x : [x]);
  const sent: Array<[number, string]> = [];
  for (const p of packets) for (const h2 of list(p._source.layers.http2)) for (const f of list(h2['http2.stream'])) {
    const t = list(f['http2.header']).find((h: any) => h['http2.header.name'] === 'grpc-timeout');
    if (t) sent.push([Number(f['http2.streamid']), t['http2.header.value']]);
  }
  assert.equal(sent.length, 2);
  const UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };
  for (const [stream, v] of sent) {
    const ev = rpc.find((e) => e.http2.stream_id === stream);
    assert.equal(ev.grpc.timeout_ns / 1e6, Number(v.slice(0, -1)) * UNIT_MS[v.slice(-1)], v);
  }
  const [ok, late] = rpc;
  assert.ok(ok.grpc.timeout_ns > 4e9 && ok.grpc.timeout_ns <= 5e9, String(ok.grpc.timeout_ns));
  assert.equal(ok.rpc.grpc.status_code, 0);
  assert.ok(late.grpc.timeout_ns > 0 && late.grpc.timeout_ns <= 3e8, String(late.grpc.timeout_ns));
  // What the wire shows of the ending depends on who is first: the client resets the stream at its deadline
  // (Node 20's grpc-js), or half-closes it and the server answers that (Chat ends with OK: Node 26), or the
  // server's own deadline answers DEADLINE_EXCEEDED. The client reported DEADLINE_EXCEEDED in every case.
  const ending = late.http2.reset ? `reset ${late.http2.reset.by} ${late.http2.reset.error_code}` : `status ${late.rpc.grpc?.status_code}`;
  assert.ok(['reset client CANCEL', `status ${grpc.status.OK}`, `status ${grpc.status.DEADLINE_EXCEEDED}`].includes(ending), ending);
});
