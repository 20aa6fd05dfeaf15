// Real NATS traffic: a private nats-server 2.9 (Debian's) started once for
// this file on a loopback port (test/helpers/nats-server.ts: its own config
// in a temp dir, users ann and bob, bob denied publishing to secret.>,
// max_payload 256 KiB, JetStream, the protocol trace on), driven by the nats
// npm client and by raw sockets, one connection per client, each named:
//  - pano-sub subscribes to a wildcard (auto-unsubscribing after 2), to
//    orders.> in queue group workers and to bulk.data; pano-pub publishes a
//    plain message, a JSON order, a message with headers (one repeated) and
//    a 10,000-byte one (over the --max-body 4096 this file parses with);
//  - pano-responder answers svc.echo and never svc.silent; pano-requester
//    asks svc.echo, nobody.home (no responders: 503) and svc.silent (timed
//    out); pano-responder then asks its own svc.echo;
//  - a user known by its nkey (the server then puts a nonce in every INFO),
//    a wrong password (refused), bob publishing to secret.x (permissions
//    violation);
//  - raw sockets: verbose mode (+OK after each operation), and a PUB over
//    max_payload after a CONNECT without PING;
//  - JetStream: a stream added, a message published and acknowledged;
//  - pano-mid publishes a 100 KB message to its own subscription and two
//    small ones: the capture cut after the first segment of the delivery
//    joins that connection mid-payload.
// Captured with tcpdump, parsed with bin/pano-parse (--stats --max-body
// 4096), and every event checked against the server's trace of what each
// connection sent and received and against what each client did and got
// back (its transcript).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { connect, headers, nkeyAuthenticator, nkeys, StorageType, type ConnectionOptions, type Msg, type NatsConnection } from 'nats';
import type { PanoEvent } from '@panopticon/events';
import { captureDuring } from '../helpers/loopback-capture.js';
import { assertValidEvents, parseCaptureSync } from '../helpers/parse.js';
import { runBinAsync } from '../helpers/bin.js';
import { sleep } from '../helpers/server-process.js';
import {
  ANN,
  BOB,
  NatsServer,
  RawNatsConnection,
  captureSegments,
  natsMissing,
  natsTrace,
  traceConnections,
  wireLineBytes,
  wireMessageBytes,
  writeSegments,
  type TraceConnection,
  type TraceOp,
} from '../helpers/nats-server.js';

const missing = natsMissing();
const skip = missing.length ? `missing ${missing.join(', ')}` : false;
let server: NatsServer | undefined;

/** The server's max_payload: the oversize PUB announces more. */
const MAX_PAYLOAD = 256 * 1024;

/** A user known by its nkey, who signs the server's nonce: every INFO carries one. */
const NKEY = nkeys.createUser();

before(async () => {
  if (!missing.length) server = await NatsServer.start({ maxPayload: MAX_PAYLOAD, nkeys: [NKEY.getPublicKey()] });
});

after(async () => {
  await server?.stop();
});

/** pano-parse --max-body: the 10,000-byte message is cut, every other body but the mid-stream one is whole. */
const MAX_BODY = 4096;
const WRONG_PASS = 'wr0ng-pass';

const PHONE = Buffer.from('+1 555 0100');
const ORDER = Buffer.from(JSON.stringify({ order: 17, email: 'ivy@example.com' }));
const NOTE = Buffer.from('call back after 5pm');
const NOTE_HEADERS: Array<[string, string]> = [['X-Trace', 't-42'], ['X-Tag', 'vip'], ['X-Tag', 'callback'], ['Content-Type', 'text/plain']];
const BIG = Buffer.from(Array.from({ length: 400 }, (_, i) => `bulk line ${String(i).padStart(4, '0')} of 10,000\n`).join(''));
const JS_ORDER = Buffer.from('{"order":18}');
/** Lines with CRLF: joined mid-payload, the parser reads them as lines naming no operation. */
const MID_BIG = Buffer.from(Array.from({ length: 3200 }, (_, i) => `row ${String(i).padStart(6, '0')} of the big message \r\n`).join(''));

interface Received {
  subject: string;
  sid: number;
  reply?: string;
  data: Buffer;
  headers?: Record<string, string[]>;
}

/** What the clients did and got back. */
interface Transcript {
  /** connection name → the client id its INFO gave it (as the client read it), the INFO itself, the password it gave */
  conns: Map<string, { cid: number; info: Record<string, unknown>; pass?: string }>;
  /** what pano-sub received, in order */
  received: Received[];
  echo: { reply: Buffer; self: Buffer };
  /** the nats client's error codes */
  noResponders: string;
  timedOut: string;
  silentDeliveries: number;
  refused: string;
  permission: { code: string; operation?: string; subject?: string };
  oversize: string;
  pubAck: { stream: string; seq: number };
  mid: Received[];
}

const codeOf = (e: unknown) => String((e as { code?: string }).code ?? e);

/** Polls `cond` until it holds; throws naming `what` after `ms`. */
async function until(cond: () => boolean, what: string, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

function receivedOf(m: Msg): Received {
  const r: Received = { subject: m.subject, sid: m.sid, data: Buffer.from(m.data) };
  if (m.reply) r.reply = m.reply;
  if (m.headers) r.headers = Object.fromEntries(m.headers.keys().map((k) => [k, m.headers!.values(k)]));
  return r;
}

async function scenario(s: NatsServer): Promise<Transcript> {
  const conns: Transcript['conns'] = new Map();
  const open = async (name: string, who: { user: string; pass: string } | null = ANN, opts: Partial<ConnectionOptions> = {}): Promise<NatsConnection> => {
    const nc = await connect({ servers: s.url, name, ...(who ? { user: who.user, pass: who.pass } : {}), reconnect: false, ...opts });
    conns.set(name, { cid: nc.info!.client_id, info: { ...nc.info! }, pass: who?.pass });
    return nc;
  };
  // closed, and the server done with it (its trace complete) before the next step
  const close = async (nc: NatsConnection) => {
    const cid = nc.info!.client_id;
    await nc.close();
    await s.waitClosed(cid);
  };
  const raw = async (name: string) => {
    const r = await RawNatsConnection.connect(s.port);
    const info = JSON.parse((await r.expect(/^INFO (\{.*\}) \r\n/))[1]!) as Record<string, unknown>;
    conns.set(name, { cid: info.client_id as number, info, pass: ANN.pass });
    return { r, cid: info.client_id as number, connect: (opts: Record<string, unknown>) => r.write(`CONNECT ${JSON.stringify({ verbose: false, pedantic: false, user: ANN.user, pass: ANN.pass, name, lang: 'raw', version: '0.0.1', protocol: 1, ...opts })}\r\n`) };
  };

  // publish and subscribe: a wildcard, a queue group, headers, a message over --max-body
  const sub = await open('pano-sub');
  const received: Received[] = [];
  const got = (_: unknown, m: Msg) => received.push(receivedOf(m));
  sub.subscribe('crm.customers.*.phone', { max: 2, callback: got });
  const orders = sub.subscribe('orders.>', { queue: 'workers', callback: got });
  sub.subscribe('bulk.data', { max: 1, callback: got });
  await sub.flush();
  const pub = await open('pano-pub');
  const h = headers();
  for (const [k, v] of NOTE_HEADERS) h.append(k, v);
  pub.publish('crm.customers.42.phone', PHONE);
  pub.publish('orders.new', ORDER);
  pub.publish('crm.customers.7.phone', NOTE, { headers: h });
  pub.publish('bulk.data', BIG);
  await pub.flush();
  await until(() => received.length === 4, 'pano-sub to receive 4 messages');
  orders.unsubscribe();
  await sub.flush();
  await close(pub);
  await close(sub);

  // request and reply
  const responder = await open('pano-responder');
  let silentDeliveries = 0;
  responder.subscribe('svc.echo', { callback: (_, m) => m.respond(Buffer.concat([Buffer.from('echo: '), m.data])) });
  responder.subscribe('svc.silent', { callback: () => silentDeliveries++ });
  await responder.flush();
  const requester = await open('pano-requester');
  const reply = Buffer.from((await requester.request('svc.echo', Buffer.from('ping 1'), { timeout: 5_000 })).data);
  const noResponders = await requester.request('nobody.home', Buffer.from('anyone?'), { timeout: 5_000 }).then(() => 'answered', codeOf);
  const timedOut = await requester.request('svc.silent', Buffer.from('hello?'), { timeout: 300 }).then(() => 'answered', codeOf);
  await close(requester);
  // the responder asks its own service: both exchanges on one connection
  const self = Buffer.from((await responder.request('svc.echo', Buffer.from('from myself'), { timeout: 5_000 })).data);
  await close(responder);

  // a wrong password
  const refused = await open('pano-refused', { user: ANN.user, pass: WRONG_PASS }).then(async (nc) => (await nc.close(), 'connected'), codeOf);
  const bad = await s.connectionNamed('pano-refused');
  await s.waitClosed(bad.cid);

  // a user known by its nkey: CONNECT carries it and its signature of INFO's nonce
  const keyed = await open('pano-nkey', null, { authenticator: nkeyAuthenticator(NKEY.getSeed()) });
  keyed.publish('keyed.hello', Buffer.from('signed in'));
  await keyed.flush();
  await close(keyed);

  // bob may not publish to secret.>
  const bob = await open('pano-bob', BOB);
  let permission: Transcript['permission'] | undefined;
  void (async () => {
    for await (const st of bob.status()) {
      const ctx = (st as { permissionContext?: { operation: string; subject: string } }).permissionContext;
      if (st.type === 'error') permission = { code: String(st.data), operation: ctx?.operation, subject: ctx?.subject };
    }
  })();
  // the -ERR comes before the PONG to flush's PING: then the next PUB
  bob.publish('secret.x', Buffer.from('classified'));
  await bob.flush();
  await until(() => permission !== undefined, 'the permissions violation');
  bob.publish('public.news', Buffer.from('hello all'));
  await bob.flush();
  await close(bob);

  // verbose mode: +OK after CONNECT and after each operation
  const verbose = await raw('pano-verbose');
  verbose.connect({ verbose: true });
  await verbose.r.expect(/^\+OK\r\n/);
  for (const op of ['SUB raw.in 1\r\n', 'PUB raw.out 5\r\nhello\r\n', 'UNSUB 1\r\n', 'PUB raw.out 0\r\n\r\n']) {
    verbose.r.write(op);
    await verbose.r.expect(/^\+OK\r\n/);
  }
  verbose.r.write('PING\r\n');
  await verbose.r.expect(/^PONG\r\n/);
  await verbose.r.close();
  await s.waitClosed(verbose.cid);

  // a CONNECT nothing answers (no verbose, no PING), then a PUB over max_payload: refused, the connection closed
  const oversize = await raw('pano-oversize');
  oversize.connect({});
  oversize.r.write(`PUB too.big ${MAX_PAYLOAD + 1}\r\n`);
  const err = (await oversize.r.expect(/^-ERR '([^']*)'\r\n/))[1]!;
  await oversize.r.close();
  await s.waitClosed(oversize.cid);

  // JetStream: the API's requests, and a publish the stream acknowledges
  const js = await open('pano-js');
  const jsm = await js.jetstreamManager();
  await jsm.streams.add({ name: 'ORDERS', subjects: ['js.orders.>'], storage: StorageType.Memory });
  const ack = await js.jetstream().publish('js.orders.1', JS_ORDER);
  await close(js);

  // mid-stream: the big message is delivered whole before the next ones go out
  const mid = await open('pano-mid');
  const midGot: Received[] = [];
  mid.subscribe('mid.>', { callback: (_, m) => midGot.push(receivedOf(m)) });
  await mid.flush();
  mid.publish('mid.big', MID_BIG);
  await until(() => midGot.length === 1, 'the big message');
  mid.publish('mid.after', Buffer.from('after the cut'));
  mid.publish('mid.last', Buffer.from('the last one'));
  await until(() => midGot.length === 3, 'the messages after it');
  await close(mid);

  return { conns, received, echo: { reply, self }, noResponders, timedOut, silentDeliveries, refused, permission: permission!, oversize: err, pubAck: { stream: ack.stream, seq: ack.seq }, mid: midGot };
}

// ---------------------------------------------------------------------------
// The events

interface Body {
  size: number;
  content?: string;
  truncated?: boolean;
}

interface NatsPart {
  operation: string;
  subject?: string;
  sid?: string;
  reply_to?: string;
  headers?: Record<string, string[]>;
  status?: number;
  status_description?: string;
  body?: Body;
  error?: string;
}

type NatsEvent = PanoEvent & {
  client: { port: number };
  server: { port: number };
  network: { protocol: { name: string } };
  messaging: {
    system: string;
    operation: { name: string; type?: string };
    destination?: { name: string };
    consumer?: { group: { name: string } };
    client?: { id: string };
    message?: { body: Body };
  };
  nats: NatsPart & {
    queue?: string;
    max_msgs?: number;
    subscription?: { subject: string; queue?: string };
    connect?: Record<string, unknown>;
    info?: Record<string, unknown>;
    response?: NatsPart;
  };
  error?: { type: string };
};

interface Captured {
  run: Transcript;
  file: string;
  /** pano-parse's standard output */
  stdout: string;
  events: NatsEvent[];
  /** --stats: counter → value */
  stats: Map<string, number>;
  /** client connections by cid, from the server's trace */
  trace: Map<number, TraceConnection>;
}
let captured: Promise<Captured> | undefined;

/** The scenario's traffic, captured and parsed once for the tests that read it. */
function capture(): Promise<Captured> {
  return (captured ??= (async () => {
    const s = server!;
    const file = join(s.dir, 'nats.pcap');
    const from = s.log.length;
    const run = await captureDuring(file, `tcp port ${s.port}`, () => scenario(s));
    const parsed = await runBinAsync('pano-parse', ['--stats', '--max-body', String(MAX_BODY), file]);
    assert.equal(parsed.status, 0, parsed.stderr);
    const events = parsed.stdout.trim().split('\n').map((l) => JSON.parse(l) as NatsEvent);
    assertValidEvents(events);
    const stats = new Map(parsed.stderr.split('\n').filter((l) => /^\S+ \d+$/.test(l)).map((l) => [l.split(' ')[0]!, Number(l.split(' ')[1])] as const));
    return { run, file, stdout: parsed.stdout, events, stats, trace: traceConnections(natsTrace(s.log.slice(from))) };
  })());
}

const show = (e: NatsEvent) => `${e.pano.kind} ${e.nats?.operation} ${e.messaging?.destination?.name ?? ''}${e.nats?.response ? ` -> ${e.nats.response.operation} ${e.nats.response.subject ?? e.nats.response.error ?? ''}` : ''}`;
const showAll = (list: NatsEvent[]) => list.map(show).join('\n  ');

/** The trace of the connection named `name` (its CONNECT's name). */
function traced(c: Captured, name: string): TraceConnection {
  const t = [...c.trace.values()].find((x) => x.connect?.name === name);
  assert.ok(t, `no traced connection named ${name}`);
  return t;
}

/** The events of the connection named `name`, in the order written. */
function eventsOf(c: Captured, name: string): NatsEvent[] {
  const port = traced(c, name).port;
  return c.events.filter((e) => e.client.port === port);
}

/** A body as the parse with --max-body MAX_BODY shows it. */
function body(data: Buffer): Body {
  const b: Body = { size: data.length };
  if (data.length > MAX_BODY) b.truncated = true;
  if (data.length) b.content = data.subarray(0, MAX_BODY).toString('utf8');
  return b;
}

/** A message operation of the trace, its line read: PUB subj [reply] size, HPUB subj [reply] hdr total, MSG subj sid [reply] size, HMSG subj sid [reply] hdr total. */
interface TracedMessage {
  o: TraceOp;
  op: string;
  subject: string;
  sid?: string;
  reply?: string;
  headerBytes: number;
  bodySize: number;
}

const MESSAGE_OPS = new Set(['PUB', 'HPUB', 'MSG', 'HMSG']);

function tracedMessage(o: TraceOp): TracedMessage {
  // an empty reply leaves two spaces (nats-server writes JetStream's acknowledgements so)
  const t = o.args.split(' ').filter((x) => x !== '');
  const withHeaders = o.op === 'HPUB' || o.op === 'HMSG';
  const named = o.op === 'MSG' || o.op === 'HMSG' ? 2 : 1;
  const total = Number(t.at(-1));
  const headerBytes = withHeaders ? Number(t.at(-2)) : 0;
  const m: TracedMessage = { o, op: o.op, subject: t[0]!, headerBytes, bodySize: total - headerBytes };
  if (named === 2) m.sid = t[1];
  if (t.length > named + (withHeaders ? 2 : 1)) m.reply = t[named];
  return m;
}

/** The messages of an event: its own, and the one answering it. */
function messageParts(e: NatsEvent): Array<{ part: NatsPart; bytes: number | undefined; e: NatsEvent }> {
  if (!MESSAGE_OPS.has(e.nats.operation)) return [];
  const own: NatsPart = { ...e.nats, subject: e.messaging.destination?.name, body: e.messaging.message?.body };
  const out = [{ part: own, bytes: e.pano.request_bytes, e }];
  if (e.nats.response) out.push({ part: e.nats.response, bytes: e.pano.response_bytes, e });
  return out;
}

const sameMessage = (t: TracedMessage, p: NatsPart) => p.operation === t.op && p.subject === t.subject && p.sid === t.sid && p.reply_to === t.reply;

/**
 * Checks the events of one traced connection against its trace: INFO (as
 * the client read it), CONNECT (its options as traced, the password by size,
 * what answered it), each SUB and UNSUB, each -ERR that answers no CONNECT,
 * and every message each way, its own or as a reply, once: subject, sid,
 * reply subject, subscription, sizes and bytes on the wire, the payload the
 * server read. `answer`: what the trace's answer to CONNECT is (the first
 * +OK, PONG or -ERR after it), if any. Returns the events' message parts no
 * traced message accounts for.
 */
function checkConnection(c: Captured, name: string, answer: 'OK' | 'PONG' | '-ERR' | undefined, info: Record<string, unknown>, pass: string | undefined): NatsPart[] {
  const t = traced(c, name);
  const list = eventsOf(c, name);
  const all = `${name}:\n  ${showAll(list)}`;
  for (const e of list) {
    assert.equal(e.pano.protocol, 'nats', show(e));
    assert.equal(e.server.port, server!.port);
    assert.equal(e.network.protocol.name, 'nats');
    assert.equal(e.messaging.system, 'nats');
    assert.equal(e.messaging.client?.id, String(t.cid), `${name}: the client id of its INFO on every event: ${show(e)}`);
    assert.notEqual(e.pano.kind, 'orphan_response', show(e));
  }
  assert.equal(info.client_id, t.cid, `${name}: the client read the cid the server traced`);

  // INFO: first, a message, as the client read it but for its nonce (the challenge an nkey signs)
  const infos = list.filter((e) => e.nats.operation === 'INFO');
  assert.equal(infos.length, 1, all);
  assert.equal(list[0], infos[0], `${name}: INFO comes first`);
  assert.equal(infos[0]!.pano.kind, 'message');
  assert.deepEqual([infos[0]!.messaging.operation, infos[0]!.messaging.destination], [{ name: 'info' }, undefined]);
  const { nonce, ...shown } = info;
  assert.equal(typeof nonce, 'string', `${name}: with an nkey user configured, every INFO has a nonce`);
  assert.deepEqual(infos[0]!.nats.info, shown, `${name}: INFO`);

  // CONNECT: its options as traced; the password (the server redacts it) and an nkey's signature by their size only
  const connects = list.filter((e) => e.nats.operation === 'CONNECT');
  assert.equal(connects.length, 1, all);
  const cn = connects[0]!;
  const connectOp = t.ops.find((o) => o.op === 'CONNECT')!;
  const want: Record<string, unknown> = { ...t.connect };
  assert.equal(want.pass, pass === undefined ? undefined : '[REDACTED]', `${name}: the trace redacts the password`);
  if (pass !== undefined) want.pass = { size: Buffer.byteLength(pass) };
  if (typeof want.sig === 'string') want.sig = { size: Buffer.byteLength(want.sig) };
  assert.deepEqual(cn.nats.connect, want, `${name}: CONNECT`);
  assert.deepEqual(cn.messaging.operation, { name: 'connect' });
  assert.equal(cn.pano.request_bytes, wireLineBytes({ ...connectOp, args: connectOp.args.replace('"[REDACTED]"', JSON.stringify(pass)) }), `${name}: CONNECT's bytes`);
  const after = t.ops.slice(t.ops.indexOf(connectOp) + 1);
  const answerOp = answer && after.find((o) => o.dir === 'out' && ['OK', 'PONG', '-ERR'].includes(o.op));
  if (answerOp) {
    assert.equal(answerOp.op, answer, `${name}: the server's answer to CONNECT`);
    assert.equal(cn.pano.kind, 'exchange', show(cn));
    assert.deepEqual(cn.nats.response, answer === '-ERR' ? { operation: '-ERR', error: answerOp.args } : { operation: answer === 'OK' ? '+OK' : answer });
    assert.equal(cn.pano.response_bytes, wireLineBytes(answerOp), `${name}: the answer's bytes`);
  } else {
    assert.equal(answer, undefined, `${name}: no ${answer} traced after CONNECT`);
    assert.equal(cn.pano.kind, 'message', `${name}: nothing answers a CONNECT without verbose mode or a PING`);
    assert.equal(cn.nats.response, undefined);
  }

  // SUB and UNSUB: one message event each, the UNSUB naming its SUB's subject and queue
  const subs = new Map<string, { subject: string; queue?: string }>();
  const subEvents = list.filter((e) => e.nats.operation === 'SUB' || e.nats.operation === 'UNSUB');
  const subOps = t.ops.filter((o) => o.op === 'SUB' || o.op === 'UNSUB');
  assert.equal(subEvents.length, subOps.length, `${name}: SUB/UNSUB traced: ${subOps.map((o) => `${o.op} ${o.args}`).join('; ')}\n  ${showAll(list)}`);
  subOps.forEach((o, i) => {
    const e = subEvents[i]!;
    const a = o.args.split(' ');
    assert.equal(e.nats.operation, o.op, show(e));
    assert.equal(e.pano.kind, 'message', show(e));
    assert.equal(e.pano.request_bytes, wireLineBytes(o), `${o.op} ${o.args}`);
    let sub: { subject: string; queue?: string } | undefined;
    if (o.op === 'SUB') {
      sub = a.length === 3 ? { subject: a[0]!, queue: a[1]! } : { subject: a[0]! };
      subs.set(a.at(-1)!, sub);
      assert.equal(e.nats.sid, a.at(-1));
      assert.equal(e.nats.max_msgs, undefined);
      assert.deepEqual(e.messaging.operation, { name: 'subscribe' });
    } else {
      sub = subs.get(a[0]!);
      assert.ok(sub, `UNSUB ${o.args}: its SUB is traced`);
      assert.equal(e.nats.sid, a[0]);
      assert.equal(e.nats.max_msgs, a[1] === undefined ? undefined : Number(a[1]), `UNSUB ${o.args}`);
      assert.deepEqual(e.messaging.operation, { name: 'unsubscribe' });
    }
    assert.equal(e.nats.subject, sub.subject, `${o.op} ${o.args}`);
    assert.equal(e.messaging.destination?.name, sub.subject);
    assert.equal(e.nats.queue, sub.queue);
    assert.equal(e.messaging.consumer?.group.name, sub.queue);
  });

  // -ERR that answers no CONNECT: a message event each
  const errOps = after.filter((o) => o.op === '-ERR' && o !== answerOp);
  const errEvents = list.filter((e) => e.nats.operation === '-ERR');
  assert.equal(errEvents.length, errOps.length, all);
  errOps.forEach((o, i) => {
    const e = errEvents[i]!;
    assert.equal(e.pano.kind, 'message', show(e));
    assert.deepEqual(e.messaging.operation, { name: 'error' });
    assert.equal(e.nats.error, o.args);
    assert.equal(e.pano.request_bytes, wireLineBytes(o));
  });

  // every traced message, once, as an event's own message or as the reply in one
  const parts = list.flatMap(messageParts);
  const used = new Set<number>();
  // (a PUB refused at its line, its payload never read, is none: its message never came)
  for (const o of t.ops.filter((x) => MESSAGE_OPS.has(x.op) && (x.dir === 'out' || x.payload !== undefined))) {
    const m = tracedMessage(o);
    const what = `${name}: ${o.dir === 'in' ? '<<-' : '->>'} ${o.op} ${o.args}`;
    const i = parts.findIndex((p, k) => !used.has(k) && sameMessage(m, p.part));
    assert.ok(i >= 0, `${what} is in no event:\n  ${showAll(list)}`);
    used.add(i);
    const { part, bytes, e } = parts[i]!;
    assert.equal(part.body?.size, m.bodySize, `${what}: body size`);
    assert.equal(bytes, wireMessageBytes(o), `${what}: bytes on the wire`);
    if (o.payload !== undefined) {
      // what the server read: the header block, then the body
      assert.deepEqual(part.body, body(Buffer.from(o.payload.slice(m.headerBytes), 'latin1')), `${what}: body`);
      if (m.headerBytes === 0) assert.equal(part.headers, undefined, what);
    }
    if (part === e.nats.response) continue;
    // a delivery names the subscription its sid was given by
    if (m.sid !== undefined) {
      const sub = subs.get(m.sid);
      assert.ok(sub, `${what}: its SUB is traced`);
      assert.deepEqual(e.nats.subscription, sub, what);
      assert.equal(e.messaging.consumer?.group.name, sub.queue, what);
      assert.deepEqual(e.messaging.operation, { name: 'receive', type: 'receive' }, what);
    } else assert.deepEqual(e.messaging.operation, { name: 'publish', type: 'send' }, what);
  }

  // and nothing else
  const messageEvents = list.filter((e) => MESSAGE_OPS.has(e.nats.operation));
  assert.equal(list.length, 2 + subEvents.length + errEvents.length + messageEvents.length, all);
  return parts.filter((_, k) => !used.has(k)).map((p) => p.part);
}

/** The connection's message events (own message's operation, subject). */
const find = (list: NatsEvent[], op: string, subject: string) => {
  const e = list.find((x) => x.nats.operation === op && x.messaging.destination?.name === subject);
  assert.ok(e, `no ${op} ${subject}:\n  ${showAll(list)}`);
  return e;
};

/** checkConnection for a nats-client connection (CONNECT answered by the PONG to its PING), which every traced message accounts for. */
function checkClient(c: Captured, name: string): NatsEvent[] {
  const conn = c.run.conns.get(name)!;
  assert.deepEqual(checkConnection(c, name, 'PONG', conn.info, conn.pass), [], `${name}: messages no trace accounts for`);
  return eventsOf(c, name);
}

// ---------------------------------------------------------------------------

test('INFO and CONNECT: the INFO the client read, CONNECT answered by the PONG to its PING, the password as its size only', { skip }, async () => {
  const c = await capture();
  const list = checkClient(c, 'pano-pub');
  const connect = list.find((e) => e.nats.operation === 'CONNECT')!;
  assert.equal(connect.nats.connect!.name, 'pano-pub');
  assert.equal(connect.nats.connect!.user, 'ann');
  assert.deepEqual(connect.nats.connect!.pass, { size: 6 });
  assert.equal(connect.nats.connect!.lang, 'nats.js');
  assert.equal(connect.error, undefined);
  const info = list[0]!.nats.info!;
  assert.equal(info.server_name, 'pano-nats');
  assert.equal(info.max_payload, MAX_PAYLOAD);
  assert.equal(info.auth_required, true);
  assert.equal(info.client_id, c.run.conns.get('pano-pub')!.cid);
  // no password anywhere: not ann's, not bob's, not the refused one, not the raw clients'; no nonce, no signature
  assert.ok(!c.stdout.includes(ANN.pass), 'the password appears in the output');
  for (const conn of c.run.conns.values()) assert.ok(!c.stdout.includes(conn.info.nonce as string), 'a nonce appears in the output');
  assert.ok(!c.stdout.includes(WRONG_PASS), 'the wrong password appears in the output');
  assert.ok(!c.stdout.includes(`"${BOB.pass}"`), "bob's password appears in the output");
  // every connection of the capture is NATS and was traced
  assert.deepEqual(c.events.filter((e) => e.pano.protocol !== 'nats').map(show), []);
  assert.deepEqual([...new Set(c.events.map((e) => e.client.port))].sort(), [...c.trace.values()].map((t) => t.port).sort());
});

test('publish and subscribe: PUB events, SUB with a wildcard and a queue group, each MSG with its subscription and sid', { skip }, async () => {
  const c = await capture();
  const pubs = checkClient(c, 'pano-pub');
  const subs = checkClient(c, 'pano-sub');
  // the publisher: four message events, as published
  const sent = pubs.filter((e) => e.messaging.operation.type === 'send');
  assert.deepEqual(sent.map((e) => [e.pano.kind, e.messaging.destination!.name]), [
    ['message', 'crm.customers.42.phone'],
    ['message', 'orders.new'],
    ['message', 'crm.customers.7.phone'],
    ['message', 'bulk.data'],
  ]);
  assert.deepEqual(sent.map((e) => e.messaging.message!.body), [body(PHONE), body(ORDER), body(NOTE), body(BIG)]);
  assert.equal(JSON.parse(sent[1]!.messaging.message!.body.content!).email, 'ivy@example.com');
  // the subscriber: each delivery as the client received it, in order
  const got = subs.filter((e) => e.messaging.operation.type === 'receive');
  assert.deepEqual(got.map((e) => [e.pano.kind, e.messaging.destination!.name, e.nats.sid, e.messaging.message!.body]), c.run.received.map((r) => ['message', r.subject, String(r.sid), body(r.data)]));
  assert.deepEqual(got.map((e) => e.nats.subscription), [
    { subject: 'crm.customers.*.phone' },
    { subject: 'orders.>', queue: 'workers' },
    { subject: 'crm.customers.*.phone' },
    { subject: 'bulk.data' },
  ]);
  assert.deepEqual(got.map((e) => e.messaging.consumer?.group.name), [undefined, 'workers', undefined, undefined]);
  assert.ok(got.every((e) => e.nats.reply_to === undefined && e.nats.response === undefined));
  // SUB and UNSUB: the auto-unsubscribe after 2 and 1, and the queue subscription dropped
  const sub = subs.filter((e) => e.nats.operation === 'SUB').map((e) => [e.nats.subject, e.nats.queue, e.nats.sid]);
  assert.deepEqual(sub, [['crm.customers.*.phone', undefined, '1'], ['orders.>', 'workers', '2'], ['bulk.data', undefined, '3']]);
  const unsub = subs.filter((e) => e.nats.operation === 'UNSUB');
  assert.ok(unsub.some((e) => e.nats.sid === '1' && e.nats.max_msgs === 2 && e.nats.subject === 'crm.customers.*.phone'), showAll(unsub));
  assert.ok(unsub.some((e) => e.nats.sid === '2' && e.nats.max_msgs === undefined && e.nats.queue === 'workers' && e.messaging.consumer?.group.name === 'workers'), showAll(unsub));
});

test('headers: HPUB and HMSG with their header fields (one repeated) in order, the body apart from them', { skip }, async () => {
  const c = await capture();
  const want: Record<string, string[]> = {};
  for (const [k, v] of NOTE_HEADERS) (want[k] ??= []).push(v);
  const hpub = find(eventsOf(c, 'pano-pub'), 'HPUB', 'crm.customers.7.phone');
  const hmsg = find(eventsOf(c, 'pano-sub'), 'HMSG', 'crm.customers.7.phone');
  const delivered = c.run.received.find((r) => r.headers)!;
  assert.deepEqual(delivered.headers, want, 'the subscriber read the headers as published');
  for (const e of [hpub, hmsg]) {
    assert.deepEqual(e.nats.headers, want, show(e));
    assert.deepEqual(e.messaging.message!.body, body(NOTE), show(e));
    assert.equal(e.nats.status, undefined);
    assert.equal(e.error, undefined);
  }
  // only this message carried headers
  assert.deepEqual([...eventsOf(c, 'pano-pub'), ...eventsOf(c, 'pano-sub')].filter((e) => e.nats.headers).map(show), [show(hpub), show(hmsg)]);
});

test('request/reply: the requester\'s PUB and the MSG answering it, the responder\'s MSG and its PUB, no responders (503), a request nobody answers', { skip }, async () => {
  const c = await capture();
  const { run } = c;
  assert.equal(run.noResponders, '503');
  assert.equal(run.timedOut, 'TIMEOUT');
  assert.equal(run.silentDeliveries, 1);
  assert.equal(run.echo.reply.toString(), 'echo: ping 1');
  assert.equal(run.echo.self.toString(), 'echo: from myself');

  // the requester: the no-responders status message is not in nats-server's trace; the 503 the client got is
  const rq = c.run.conns.get('pano-requester')!;
  const untraced = checkConnection(c, 'pano-requester', 'PONG', rq.info, rq.pass);
  assert.deepEqual(untraced.map((p) => [p.operation, p.status, p.headers, p.body]), [['HMSG', 503, undefined, { size: 0 }]]);
  const req = eventsOf(c, 'pano-requester');
  const echo = find(req, 'PUB', 'svc.echo');
  assert.equal(echo.pano.kind, 'exchange');
  assert.deepEqual(echo.messaging.operation, { name: 'publish', type: 'send' });
  assert.deepEqual(echo.messaging.message!.body, body(Buffer.from('ping 1')));
  assert.equal(echo.nats.response!.operation, 'MSG');
  assert.equal(echo.nats.response!.subject, echo.nats.reply_to);
  assert.deepEqual(echo.nats.response!.body, body(run.echo.reply));
  assert.equal(echo.error, undefined);

  const none = find(req, 'PUB', 'nobody.home');
  assert.equal(none.pano.kind, 'exchange');
  assert.deepEqual(none.error, { type: 'no_responders' });
  assert.equal(none.nats.response!.operation, 'HMSG');
  assert.equal(none.nats.response!.status, 503);
  assert.equal(none.nats.response!.subject, none.nats.reply_to);

  const silent = find(req, 'PUB', 'svc.silent');
  assert.equal(silent.pano.kind, 'unanswered', show(silent));
  assert.deepEqual(silent.pano.flags, ['closed'], 'the requester closed its connection first');
  assert.ok(silent.nats.reply_to);
  assert.equal(silent.nats.response, undefined);

  // the responder: the delivered request and its PUB in reply; the one it never answered is a message
  const rs = c.run.conns.get('pano-responder')!;
  assert.deepEqual(checkConnection(c, 'pano-responder', 'PONG', rs.info, rs.pass), []);
  const resp = eventsOf(c, 'pano-responder');
  const delivered = resp.filter((e) => e.nats.operation === 'MSG' && e.messaging.destination!.name === 'svc.echo');
  assert.equal(delivered.length, 2, showAll(resp));
  for (const [e, asked] of [[delivered[0]!, 'ping 1'], [delivered[1]!, 'from myself']] as const) {
    assert.equal(e.pano.kind, 'exchange', show(e));
    assert.deepEqual(e.messaging.operation, { name: 'receive', type: 'receive' });
    assert.deepEqual(e.messaging.message!.body, body(Buffer.from(asked)));
    assert.equal(e.nats.response!.operation, 'PUB');
    assert.equal(e.nats.response!.subject, e.nats.reply_to);
    assert.deepEqual(e.nats.response!.body, body(Buffer.from(`echo: ${asked}`)));
  }
  assert.equal(delivered[0]!.nats.reply_to, echo.nats.reply_to, "the requester's reply subject");
  const unanswered = find(resp, 'MSG', 'svc.silent');
  assert.equal(unanswered.pano.kind, 'message', show(unanswered));
  assert.equal(unanswered.nats.reply_to, silent.nats.reply_to);
  // its own request, on the same connection: the PUB and the MSG answering it
  const own = find(resp, 'PUB', 'svc.echo');
  assert.equal(own.pano.kind, 'exchange', show(own));
  assert.equal(own.nats.reply_to, delivered[1]!.nats.reply_to);
  assert.equal(own.nats.response!.operation, 'MSG');
  assert.deepEqual(own.nats.response!.body, body(run.echo.self));
  assert.ok(resp.every((e) => e.pano.kind !== 'unanswered'), showAll(resp));
});

test('an nkey user: CONNECT with its public key and its signature of the nonce by size only', { skip }, async () => {
  const c = await capture();
  const list = checkClient(c, 'pano-nkey');
  const t = traced(c, 'pano-nkey');
  const cn = list[1]!;
  assert.equal(cn.nats.connect!.nkey, NKEY.getPublicKey());
  assert.equal(cn.nats.connect!.user, undefined);
  assert.equal(cn.nats.connect!.pass, undefined);
  // the signature (the trace shows it): 64 bytes of ed25519 in base64, nowhere in the output
  const sig = t.connect!.sig as string;
  assert.equal(Buffer.from(sig, 'base64').length, 64);
  assert.deepEqual(cn.nats.connect!.sig, { size: sig.length });
  assert.ok(!c.stdout.includes(sig));
  assert.deepEqual(list.slice(2).map((e) => [e.pano.kind, e.nats.operation, e.messaging.destination?.name, e.messaging.message?.body]), [['message', 'PUB', 'keyed.hello', body(Buffer.from('signed in'))]]);
});

test('a wrong password: INFO, then CONNECT answered by -ERR, authorization_violation', { skip }, async () => {
  const c = await capture();
  assert.equal(c.run.refused, 'AUTHORIZATION_VIOLATION');
  const t = traced(c, 'pano-refused');
  const list = eventsOf(c, 'pano-refused');
  // the client never got to read it: the INFO every connection gets, with this connection's id
  const info: Record<string, unknown> = { ...c.run.conns.get('pano-pub')!.info, client_id: t.cid };
  assert.deepEqual(checkConnection(c, 'pano-refused', '-ERR', info, WRONG_PASS), []);
  assert.deepEqual(list.map((e) => e.nats.operation), ['INFO', 'CONNECT'], showAll(list));
  const cn = list[1]!;
  assert.equal(t.ops.find((o) => o.op === '-ERR')!.args, 'Authorization Violation');
  assert.deepEqual(cn.nats.response, { operation: '-ERR', error: 'Authorization Violation' });
  assert.deepEqual(cn.error, { type: 'authorization_violation' });
  assert.deepEqual(cn.nats.connect!.pass, { size: WRONG_PASS.length });
  assert.equal(info.server_name, 'pano-nats');
});

test('a permissions violation: bob\'s PUB to secret.x, then an -ERR message event, permissions_violation', { skip }, async () => {
  const c = await capture();
  assert.deepEqual(c.run.permission, { code: 'PERMISSIONS_VIOLATION', operation: 'publish', subject: 'secret.x' });
  const list = checkClient(c, 'pano-bob');
  const text = traced(c, 'pano-bob').ops.find((o) => o.op === '-ERR')!.args;
  assert.equal(text, 'Permissions Violation for Publish to "secret.x"');
  assert.deepEqual(list.map((e) => [e.pano.kind, e.nats.operation, e.messaging.destination?.name]), [
    ['message', 'INFO', undefined],
    ['exchange', 'CONNECT', undefined],
    ['message', 'PUB', 'secret.x'],
    ['message', '-ERR', undefined],
    ['message', 'PUB', 'public.news'],
  ]);
  const err = list[3]!;
  assert.equal(err.nats.error, text);
  assert.deepEqual(err.error, { type: 'permissions_violation' });
  assert.deepEqual(list[1]!.nats.connect!.pass, { size: BOB.pass.length });
  assert.equal(list[1]!.error, undefined);
});

test('a CONNECT nothing answers, then a PUB over max_payload: the CONNECT a message, the -ERR an event of its own', { skip }, async () => {
  const c = await capture();
  assert.equal(c.run.oversize, 'Maximum Payload Violation');
  const conn = c.run.conns.get('pano-oversize')!;
  assert.deepEqual(checkConnection(c, 'pano-oversize', undefined, conn.info, conn.pass), []);
  const list = eventsOf(c, 'pano-oversize');
  // the PUB's payload never came (the server refused its line, then closed the connection): no message event
  assert.deepEqual(traced(c, 'pano-oversize').ops.filter((o) => o.op === 'PUB').map((o) => [o.args, o.payload]), [[`too.big ${MAX_PAYLOAD + 1}`, undefined]]);
  assert.deepEqual(list.map((e) => [e.pano.kind, e.nats.operation]), [['message', 'INFO'], ['message', 'CONNECT'], ['message', '-ERR']], showAll(list));
  assert.equal(list[1]!.error, undefined);
  assert.deepEqual(list[2]!.error, { type: 'maximum_payload_violation' });
  assert.equal(list[2]!.nats.error, c.run.oversize);
});

test('a payload over --max-body: the first 4096 bytes kept, the full size reported, flagged truncated', { skip }, async () => {
  const c = await capture();
  assert.ok(BIG.length > MAX_BODY);
  const traceSize = (name: string, op: string) => Number(traced(c, name).ops.find((o) => o.op === op && o.args.startsWith('bulk.data '))!.args.split(' ').at(-1));
  for (const [e, size] of [[find(eventsOf(c, 'pano-pub'), 'PUB', 'bulk.data'), traceSize('pano-pub', 'PUB')], [find(eventsOf(c, 'pano-sub'), 'MSG', 'bulk.data'), traceSize('pano-sub', 'MSG')]] as const) {
    assert.equal(size, BIG.length);
    assert.deepEqual(e.messaging.message!.body, { size: BIG.length, truncated: true, content: BIG.subarray(0, MAX_BODY).toString() }, show(e));
    assert.deepEqual(e.pano.flags, ['truncated'], show(e));
  }
  // the others are whole
  assert.ok(c.events.filter((e) => e.pano.flags?.includes('truncated')).every((e) => ['bulk.data', 'mid.big'].includes(e.messaging.destination!.name)));
});

test('verbose mode over a raw socket: CONNECT answered by +OK, the +OK after each operation counted (nats.oks)', { skip }, async () => {
  const c = await capture();
  const conn = c.run.conns.get('pano-verbose')!;
  assert.deepEqual(checkConnection(c, 'pano-verbose', 'OK', conn.info, conn.pass), []);
  const list = eventsOf(c, 'pano-verbose');
  assert.deepEqual(list.map((e) => [e.pano.kind, e.nats.operation, e.messaging.destination?.name]), [
    ['message', 'INFO', undefined],
    ['exchange', 'CONNECT', undefined],
    ['message', 'SUB', 'raw.in'],
    ['message', 'PUB', 'raw.out'],
    ['message', 'UNSUB', 'raw.in'],
    ['message', 'PUB', 'raw.out'],
  ]);
  assert.equal(list[1]!.nats.connect!.verbose, true);
  assert.deepEqual(list[3]!.messaging.message!.body, body(Buffer.from('hello')));
  assert.deepEqual(list[5]!.messaging.message!.body, { size: 0 });
  // every +OK the server wrote on any connection but the one answering this CONNECT
  const oks = [...c.trace.values()].flatMap((t) => t.ops).filter((o) => o.op === 'OK').length;
  assert.equal(oks, 5);
  assert.equal(c.stats.get('protocols.nats.oks'), oks - 1);
  // PING and PONG: every PING either way counted; every PONG but those answering a CONNECT
  const ops = [...c.trace.values()].flatMap((t) => t.ops);
  const connectPongs = c.events.filter((e) => e.nats.response?.operation === 'PONG' && e.nats.operation === 'CONNECT').length;
  // (and the PING the nats client sent with its refused CONNECT, which the server closed the connection without reading)
  assert.equal(c.stats.get('protocols.nats.pings'), ops.filter((o) => o.op === 'PING').length + 1);
  assert.equal(c.stats.get('protocols.nats.pongs'), ops.filter((o) => o.op === 'PONG').length - connectPongs);
  assert.equal(c.stats.get('protocols.nats.malformed'), undefined);
  assert.equal(c.stats.get('protocols.nats.gaps'), undefined);
});

test('JetStream: the API requests and a publish with its PubAck are exchanges, the acknowledgement JSON the response body', { skip }, async () => {
  const c = await capture();
  assert.deepEqual(c.run.pubAck, { stream: 'ORDERS', seq: 1 });
  const list = checkClient(c, 'pano-js');
  const pub = list.find((e) => e.messaging.destination?.name === 'js.orders.1');
  assert.ok(pub, showAll(list));
  assert.equal(pub.pano.kind, 'exchange');
  assert.deepEqual(pub.messaging.operation, { name: 'publish', type: 'send' });
  assert.deepEqual(pub.messaging.message!.body, body(JS_ORDER));
  const res = pub.nats.response!;
  assert.equal(res.operation, 'MSG');
  assert.equal(res.subject, pub.nats.reply_to);
  assert.deepEqual(JSON.parse(res.body!.content!), { stream: c.run.pubAck.stream, seq: c.run.pubAck.seq });
  // the stream's creation and the account's info: requests answered by JSON
  const api = list.filter((e) => e.messaging.destination?.name.startsWith('$JS.API.'));
  assert.deepEqual(api.map((e) => [e.pano.kind, e.messaging.destination!.name]), [['exchange', '$JS.API.INFO'], ['exchange', '$JS.API.STREAM.CREATE.ORDERS']]);
  assert.equal(JSON.parse(api[0]!.nats.response!.body!.content!).type, 'io.nats.jetstream.api.v1.account_info_response');
  const created = JSON.parse(api[1]!.nats.response!.body!.content!);
  assert.equal(created.type, 'io.nats.jetstream.api.v1.stream_create_response');
  assert.deepEqual(created.config.subjects, ['js.orders.>']);
  assert.deepEqual(JSON.parse(api[1]!.messaging.message!.body.content!), { name: 'ORDERS', subjects: ['js.orders.>'], storage: 'memory' });
});

test('joined mid-stream: the capture cut inside a 100 KB delivery; its tail skipped, the later messages found, no false events', { skip }, async () => {
  const c = await capture();
  assert.deepEqual(c.run.mid.map((r) => [r.subject, r.data.length]), [['mid.big', MID_BIG.length], ['mid.after', 13], ['mid.last', 12]]);
  // the whole capture has the connection
  assert.deepEqual(checkClient(c, 'pano-mid').filter((e) => e.messaging.operation.type).map((e) => [e.nats.operation, e.messaging.destination!.name]), [
    ['PUB', 'mid.big'],
    ['MSG', 'mid.big'],
    ['PUB', 'mid.after'],
    ['PUB', 'mid.last'],
    ['MSG', 'mid.after'],
    ['MSG', 'mid.last'],
  ]);
  // cut: this connection's packets after the first segment of the server's delivery of mid.big (and
  // no copy of what it carried: a retransmission under load would be the delivery's start again)
  const port = traced(c, 'pano-mid').port;
  const segs = captureSegments(c.file).filter((s) => s.srcPort === port || s.dstPort === port);
  const first = segs.findIndex((s) => s.dstPort === port && s.payload.toString('latin1').startsWith('MSG mid.big '));
  assert.ok(first > 0);
  const cutSeq = (segs[first]!.seq + segs[first]!.payload.length) >>> 0;
  const rest = segs.slice(first + 1).filter((s) => s.dstPort !== port || ((s.seq - cutSeq) | 0) >= 0);
  const next = rest.find((s) => s.dstPort === port && s.payload.toString('latin1').startsWith('MSG mid.after '));
  assert.ok(next, 'the next delivery starts a segment');
  // the server's bytes before it (by sequence number: a retransmitted segment is not two): the tail of
  // mid.big, its last line's CRLF then the message's
  const tail = (next.seq - cutSeq) >>> 0;
  assert.ok(tail > 2 && tail <= MID_BIG.length + 2, `tail ${tail}`);
  const cut = join(server!.dir, 'mid-cut.pcap');
  writeSegments(cut, rest);
  const { events, stats } = parseCaptureSync(cut);
  assertValidEvents(events);
  const list = events as NatsEvent[];
  assert.deepEqual(list.map((e) => [e.pano.protocol, e.pano.kind, e.nats.operation, e.messaging.destination?.name, e.messaging.message?.body]), [
    ['nats', 'message', 'PUB', 'mid.after', body(Buffer.from('after the cut'))],
    ['nats', 'message', 'PUB', 'mid.last', body(Buffer.from('the last one'))],
    ['nats', 'message', 'MSG', 'mid.after', body(Buffer.from('after the cut'))],
    ['nats', 'message', 'MSG', 'mid.last', body(Buffer.from('the last one'))],
  ]);
  for (const e of list) {
    assert.equal(e.client.port, port, 'roles from the detected side');
    assert.equal(e.messaging.client, undefined, 'no INFO seen: no client id');
    assert.equal(e.nats.subscription, undefined, 'no SUB seen');
  }
  assert.deepEqual(list.filter((e) => e.nats.sid !== undefined).map((e) => e.nats.sid), ['1', '1']);
  // every byte of the tail is skipped by the parser (line by line) or, past what detection keeps, by the dispatcher;
  // the last CRLF is an empty line, which is no damage
  const p = stats.protocols as Record<string, number>;
  const skipped = p['nats.skipped_bytes'] ?? 0;
  assert.ok(skipped > 0, JSON.stringify(p));
  assert.equal(skipped + (p['dispatch.ignored_bytes'] ?? 0), tail - 2, JSON.stringify(p));
  assert.equal(p['nats.malformed'], undefined);
});
