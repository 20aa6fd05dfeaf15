// Real AMQP 0-9-1 traffic: rabbitmq-server (Debian) started once for this file
// on a loopback port with its state in a temp dir, driven by amqplib
// (declare, bind, publish with properties and headers, a body larger than
// frame-max, consume + ack, get, get-empty, nack, reject, a refused passive
// declare) and a refused login, captured with tcpdump, parsed, and checked
// against what amqplib did (and, for the refused login, what tshark reads).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqplib from 'amqplib';
import { LoopbackCapture, freePort } from '../helpers/loopback-capture.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';
import { tsharkFields } from '../helpers/tshark.js';
import type { PanoEvent } from '@panopticon/events';

const RABBIT = '/usr/lib/rabbitmq/bin/rabbitmq-server';
const missing = [RABBIT, '/usr/bin/tcpdump'].filter((p) => !existsSync(p));
const dir = mkdtempSync(join(tmpdir(), 'pano-amqp-'));
let server: ChildProcess | undefined;
let port = 0;
let log = '';

function listening(p: number): Promise<boolean> {
  return new Promise((res) => {
    const s = createConnection({ port: p, host: '127.0.0.1' });
    s.once('connect', () => (s.destroy(), res(true)));
    s.once('error', () => res(false));
  });
}

before(async () => {
  if (missing.length) return;
  port = await freePort();
  writeFileSync(join(dir, 'enabled_plugins'), '[].\n');
  // Run the broker directly (not the /usr/sbin wrapper, which su's to the rabbitmq
  // user and writes to /var): node name, ports and every path are this test's own.
  server = spawn(RABBIT, [], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      HOME: dir,
      RABBITMQ_NODENAME: `pano${process.pid}@localhost`,
      RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
      RABBITMQ_NODE_PORT: String(port),
      RABBITMQ_DIST_PORT: String(port + 1 > 65535 ? port - 1 : port + 1),
      RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'),
      RABBITMQ_LOG_BASE: join(dir, 'log'),
      RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, 'enabled_plugins'),
      RABBITMQ_CONFIG_FILE: join(dir, 'rabbitmq'),
    },
  });
  server.stdout!.on('data', (d) => (log += d));
  server.stderr!.on('data', (d) => (log += d));
  // Broker start takes tens of seconds on a busy machine.
  for (let i = 0; i < 1800; i++) {
    if (server.exitCode !== null) throw new Error(`rabbitmq-server exited: ${log.slice(-2000)}`);
    if (log.includes('Starting broker... completed') && (await listening(port))) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`rabbitmq-server did not start: ${log.slice(-2000)}`);
});

after(async () => {
  if (server && server.exitCode === null) {
    const exited = new Promise((r) => server!.once('exit', r));
    server.kill('SIGTERM');
    const t = setTimeout(() => server!.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(t);
  }
  if (!process.env.PANO_KEEP) rmSync(dir, { recursive: true, force: true });
});

interface AmqpFields {
  amqp: {
    channel: number;
    method: string;
    arguments?: Record<string, unknown>;
    properties?: Record<string, unknown>;
    response?: { method: string; arguments?: Record<string, unknown>; properties?: Record<string, unknown> };
    reply_code?: number;
  };
  messaging: {
    system: string;
    operation: { name: string; type?: string };
    destination?: { name: string };
    rabbitmq?: { destination?: { routing_key: string }; message?: { delivery_tag: number } };
    message?: { id?: string; conversation_id?: string; body: { size: number; content?: string; truncated?: boolean } };
  };
  error?: { type: string };
}
const f = (e: PanoEvent) => e as unknown as PanoEvent & AmqpFields;

test('amqplib traffic against RabbitMQ parses into what the client did', { skip: missing.length ? `missing ${missing.join(', ')}` : false }, async () => {
  const file = join(dir, 'amqp.pcap');
  const cap = new LoopbackCapture(file, `tcp port ${port}`);
  await cap.start();
  const payload = { email: 'bob@example.com', order: 17 };
  const big = Buffer.alloc(300_000, 0x7a);
  const headers = { 'x-user': 'bob', 'x-n': 42, 'x-neg': -7, 'x-flag': true, 'x-list': [1, 'a'], 'x-nested': { a: 1 }, 'x-float': 1.5 };
  const delivered: Array<{ tag: number; body: Buffer }> = [];
  let gotten: amqplib.GetMessage | false = false;
  let empty: amqplib.GetMessage | false = true as unknown as false;
  let refused = '';
  try {
    const conn = await amqplib.connect(`amqp://guest:guest@127.0.0.1:${port}`);
    const ch = await conn.createChannel();
    await ch.assertExchange('pano.ex', 'direct', { durable: false });
    await ch.assertQueue('pano.q', { durable: false });
    await ch.bindQueue('pano.q', 'pano.ex', 'rk.1');
    ch.publish('pano.ex', 'rk.1', Buffer.from(JSON.stringify(payload)), {
      contentType: 'application/json',
      headers,
      messageId: 'm-1',
      correlationId: 'c-1',
      deliveryMode: 1,
    });
    ch.publish('pano.ex', 'rk.1', big, { contentType: 'application/octet-stream' });
    const done = new Promise<void>((res) => {
      void ch.consume('pano.q', (msg) => {
        if (!msg) return;
        delivered.push({ tag: msg.fields.deliveryTag, body: msg.content });
        ch.ack(msg);
        if (delivered.length === 2) res();
      });
    });
    await done;
    // A second channel for get / nack / reject, with no consumer on its queue;
    // in confirm mode, so both messages are known to be queued before the gets.
    const ch2 = await conn.createConfirmChannel();
    await ch2.assertQueue('pano.q2', { durable: false });
    ch2.sendToQueue('pano.q2', Buffer.from('first'));
    ch2.sendToQueue('pano.q2', Buffer.from('second'));
    await ch2.waitForConfirms();
    gotten = await ch2.get('pano.q2', { noAck: false });
    if (gotten) ch2.nack(gotten, false, false);
    const second = await ch2.get('pano.q2', { noAck: false });
    if (second) ch2.reject(second, false);
    empty = await ch2.get('pano.q2');
    await ch2.close();
    // A passive declare of a missing queue: the broker closes the channel with 404.
    const ch3 = await conn.createChannel();
    ch3.on('error', () => {});
    try {
      await ch3.checkQueue('pano.missing');
    } catch (e) {
      refused = (e as Error).message;
    }
    await ch.close();
    await conn.close();
  } finally {
    await cap.stop();
  }

  const { events } = parseCaptureSync(file, { parse: { maxBody: 1024 } });
  assertValidEvents(events);
  const amqp = events.filter((e) => e.pano.protocol === 'amqp').map(f);
  const methods = amqp.map((e) => e.amqp.method);
  for (const m of ['connection.start', 'connection.tune', 'connection.open', 'channel.open', 'exchange.declare', 'queue.declare', 'queue.bind', 'basic.consume', 'basic.publish', 'basic.deliver', 'basic.ack', 'basic.get', 'basic.nack', 'basic.reject', 'channel.close', 'connection.close']) {
    assert.ok(methods.includes(m), `${m} missing: ${methods.join(' ')}`);
  }
  assert.ok(amqp.every((e) => e.messaging.system === 'rabbitmq'));

  // connection.start answered by start-ok, whose SASL response is reported by size only
  const start = amqp.find((e) => e.amqp.method === 'connection.start')!;
  assert.equal(start.amqp.response!.method, 'connection.start-ok');
  assert.deepEqual(start.amqp.response!.arguments!.response, { size: '\0guest\0guest'.length });
  assert.equal(start.amqp.response!.arguments!.mechanism, 'PLAIN');
  assert.ok(!JSON.stringify(start).includes('\\u0000guest'));

  const declare = amqp.find((e) => e.amqp.method === 'exchange.declare')!;
  assert.equal(declare.pano.kind, 'exchange');
  assert.equal(declare.messaging.destination!.name, 'pano.ex');
  assert.equal(declare.amqp.arguments!.type, 'direct');
  assert.equal(declare.amqp.response!.method, 'exchange.declare-ok');
  const bind = amqp.find((e) => e.amqp.method === 'queue.bind')!;
  assert.equal(bind.messaging.destination!.name, 'pano.q');
  assert.equal(bind.messaging.rabbitmq!.destination!.routing_key, 'rk.1');

  // the publishes: properties, headers (every value type amqplib sends), bodies
  const publishes = amqp.filter((e) => e.amqp.method === 'basic.publish' && e.messaging.destination!.name === 'pano.ex');
  assert.equal(publishes.length, 2);
  const [json, large] = publishes as [typeof publishes[0], typeof publishes[0]];
  assert.equal(json.pano.kind, 'message');
  assert.equal(json.messaging.operation.type, 'send');
  assert.equal(json.messaging.rabbitmq!.destination!.routing_key, 'rk.1');
  assert.deepEqual(json.messaging.message!.body, { size: JSON.stringify(payload).length, content: JSON.stringify(payload) });
  assert.equal(json.messaging.message!.id, 'm-1');
  assert.equal(json.messaging.message!.conversation_id, 'c-1');
  assert.deepEqual(json.amqp.properties!.headers, headers);
  assert.equal(json.amqp.properties!.content_type, 'application/json');
  assert.equal(json.amqp.properties!.delivery_mode, 1);
  // 300 000 bytes cross frame-max (128 KiB): reassembled, kept to maxBody
  assert.equal(large.messaging.message!.body.size, big.length);
  assert.equal(large.messaging.message!.body.truncated, true);
  assert.equal(large.messaging.message!.body.content, 'z'.repeat(1024));
  assert.ok(large.pano.flags?.includes('truncated'));

  // deliveries and acks: what the consumer got, with its delivery tags
  const deliveries = amqp.filter((e) => e.amqp.method === 'basic.deliver');
  assert.deepEqual(
    deliveries.map((e) => [e.messaging.rabbitmq!.message!.delivery_tag, e.messaging.message!.body.size]),
    delivered.map((d) => [d.tag, d.body.length]),
  );
  assert.equal(deliveries[0]!.messaging.message!.body.content, JSON.stringify(payload));
  assert.ok(deliveries.every((e) => (e.amqp as { queue?: string }).queue === 'pano.q'), 'deliveries name their queue');
  assert.deepEqual(deliveries[0]!.amqp.properties!.headers, headers);
  // the consumer's acks (channel 1); the broker's publisher confirms are acks on channel 2
  const acks = amqp.filter((e) => e.amqp.method === 'basic.ack' && e.amqp.channel === 1);
  const confirms = amqp.filter((e) => e.amqp.method === 'basic.ack' && e.amqp.channel === 2);
  assert.ok(confirms.length >= 1);
  for (const c of confirms) assert.ok(c.pano.response_bytes! > 0 && c.pano.request_bytes === undefined, 'a confirm is sent by the broker');
  assert.equal(Math.max(...confirms.map((c) => Number(c.messaging.rabbitmq!.message!.delivery_tag))), 2);
  assert.ok(amqp.some((e) => e.amqp.method === 'confirm.select' && e.amqp.response?.method === 'confirm.select-ok'));
  assert.deepEqual(acks.map((e) => e.messaging.rabbitmq!.message!.delivery_tag), delivered.map((d) => d.tag));
  assert.ok(acks.every((e) => e.messaging.operation.type === 'settle'));

  // basic.get → get-ok with the message, then get-empty; nack and reject settle them
  const gets = amqp.filter((e) => e.amqp.method === 'basic.get');
  assert.deepEqual(gets.map((e) => e.amqp.response!.method), ['basic.get-ok', 'basic.get-ok', 'basic.get-empty']);
  assert.ok(gotten);
  assert.equal(gets[0]!.messaging.message!.body.content, 'first');
  assert.equal(gets[1]!.messaging.message!.body.content, 'second');
  assert.equal(gets[0]!.messaging.destination!.name, 'pano.q2');
  assert.equal(empty, false);
  const nack = amqp.find((e) => e.amqp.method === 'basic.nack')!;
  assert.equal(nack.messaging.rabbitmq!.message!.delivery_tag, (gotten as amqplib.GetMessage).fields.deliveryTag);
  assert.equal(nack.amqp.arguments!.requeue, false);
  assert.ok(amqp.find((e) => e.amqp.method === 'basic.reject'));

  // the refused passive declare: answered by channel.close 404
  assert.match(refused, /404/);
  const missingQueue = amqp.find((e) => e.amqp.method === 'queue.declare' && e.amqp.arguments!.queue === 'pano.missing')!;
  assert.equal(missingQueue.amqp.response!.method, 'channel.close');
  assert.deepEqual(missingQueue.error, { type: '404' });
  assert.equal(missingQueue.amqp.reply_code, 404);
});

test('a login RabbitMQ refuses: the start exchange carries the 403, the close its text; as tshark reads them', { skip: missing.length ? `missing ${missing.join(', ')}` : false }, async () => {
  const file = join(dir, 'refused.pcap');
  const cap = new LoopbackCapture(file, `tcp port ${port}`);
  await cap.start();
  let failure = '';
  try {
    await amqplib.connect(`amqp://guest:wrong@127.0.0.1:${port}`).then((c) => c.close(), (e: Error) => (failure = e.message));
  } finally {
    await cap.stop();
  }
  assert.match(failure, /403 \(ACCESS-REFUSED\)/, 'amqplib saw the refusal');

  const { events } = parseCaptureSync(file);
  assertValidEvents(events);
  const amqp = events.filter((e) => e.pano.protocol === 'amqp').map(f);
  assert.deepEqual(amqp.map((e) => [e.pano.kind, e.amqp.method, e.amqp.response?.method]), [
    ['exchange', 'connection.start', 'connection.start-ok'],
    ['unanswered', 'connection.close', undefined],
  ]);
  const [login, close] = amqp as [(typeof amqp)[0], (typeof amqp)[0]];
  assert.equal(login.amqp.response!.arguments!.mechanism, 'PLAIN');
  assert.deepEqual(login.amqp.response!.arguments!.response, { size: '\0guest\0wrong'.length });
  assert.deepEqual(login.error, { type: '403' });
  assert.equal(login.amqp.reply_code, 403);
  assert.equal((login.amqp as { reply_name?: string }).reply_name, 'access-refused');

  // tshark: start, start-ok, close 403 with its text, nothing after
  const rows = tsharkFields(file, ['amqp.method.method', 'amqp.method.arguments.reply_code', 'amqp.method.arguments.reply_text'], 'amqp', ['-d', `tcp.port==${port},amqp`]);
  assert.deepEqual(rows.map((r) => r[0]), ['10', '11', '50']);
  assert.equal(Number(rows[2]![1]), close.amqp.reply_code);
  assert.equal(rows[2]![2], close.amqp.arguments!.reply_text);
  assert.match(rows[2]![2]!, /^ACCESS_REFUSED - Login was refused/);
  assert.deepEqual(close.error, { type: '403' });
});
