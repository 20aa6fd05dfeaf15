// Real Redis traffic: redis-server (Debian) on a loopback port, driven by
// redis-cli (RESP2 and RESP3) and ioredis (pipelining, MULTI/EXEC, pub/sub,
// RESP3, a big value; a raw RESP3 connection for what clients hide: a reply
// with an attribute, client-side caching invalidations), captured with
// tcpdump, parsed, and checked against what the clients did and got back.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { LoopbackCapture } from '../helpers/loopback-capture.js';
import { startRedis } from '../helpers/redis-server.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';
import type { PanoEvent } from '@panopticon/events';

const missing = ['/usr/bin/redis-server', '/usr/bin/redis-cli', '/usr/bin/tcpdump'].filter((p) => !existsSync(p));
const dir = mkdtempSync(join(tmpdir(), 'pano-redis-'));
let server: ChildProcess | undefined;
let port = 0;

before(async () => {
  if (missing.length) return;
  // DEBUG PROTOCOL attrib (a reply with a RESP3 attribute) needs the DEBUG command, off by default since Redis 7
  ({ port, process: server } = await startRedis(dir, ['--enable-debug-command', 'local']));
});

after(() => {
  server?.kill('SIGTERM');
  if (!process.env.PANO_KEEP) rmSync(dir, { recursive: true, force: true });
});

const cli = (...args: string[]) => execFileSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' }).trim();

interface RedisFields {
  db: { operation?: { name: string }; query?: { text: string }; response?: { status_code: string }; namespace?: string };
  redis: { args?: string[]; response?: { type: string; value: unknown; size?: number; truncated?: boolean }; in_transaction?: boolean; transaction?: { commands: string[] }; pubsub?: { kind: string; channel: string } };
  messaging?: { destination?: { name: string }; message?: { body: { content?: string } } };
  error?: { type: string };
  network: { protocol: { version?: string } };
}

const f = (e: PanoEvent) => e as unknown as PanoEvent & RedisFields;
const op = (e: PanoEvent) => f(e).db.operation?.name;

/** The first exchange with this command text, after `from` in the list. */
function find(events: PanoEvent[], text: string): PanoEvent & RedisFields {
  // ioredis sends command names in lower case, redis-cli as typed
  const e = events.find((x) => f(x).db.query?.text?.toLowerCase() === text.toLowerCase());
  assert.ok(e, `no event for ${text}; saw ${events.map((x) => f(x).db.query?.text).join(' | ')}`);
  return f(e);
}

test('redis-cli and ioredis traffic parses into what the clients did', { skip: missing.length ? `missing ${missing.join(', ')}` : false }, async () => {
  const file = join(dir, 'redis.pcap');
  const cap = new LoopbackCapture(file, `tcp port ${port}`);
  await cap.start();
  const seen: Record<string, unknown> = {};
  const big = 'b'.repeat(300_000);
  try {
    seen.set = cli('SET', 'cli:email', 'alice@example.com');
    seen.incrError = cli('INCR', 'cli:email');
    cli('HSET', 'cli:h', 'name', 'Alice', 'city', 'Paris');
    seen.hgetall3 = cli('-3', 'HGETALL', 'cli:h');

    // ioredis 6 speaks RESP3 unless told otherwise: RESP2 here, RESP3 below
    const r = new Redis({ port, host: '127.0.0.1', protocol: 2, enableReadyCheck: false });
    seen.pipeline = await r.pipeline().set('p:a', '1').incr('p:a').get('p:a').exec();
    seen.multi = await r.multi().set('t:a', 'x').incr('t:n').exec();
    await r.set('big', big);
    seen.bigLength = (await r.get('big'))!.length;

    // one subscriber over RESP2 (messages are arrays), one over RESP3 (messages are pushes)
    const sub = new Redis({ port, host: '127.0.0.1', protocol: 2, enableReadyCheck: false });
    const sub3 = new Redis({ port, host: '127.0.0.1', protocol: 3, enableReadyCheck: false });
    await sub.subscribe('news', 'sport');
    await sub3.subscribe('news');
    const got = new Promise<[string, string]>((res) => sub.once('message', (ch: string, msg: string) => res([ch, msg])));
    const got3 = new Promise<[string, string]>((res) => sub3.once('message', (ch: string, msg: string) => res([ch, msg])));
    seen.receivers = await r.publish('news', 'hello subscribers');
    seen.message = await got;
    seen.message3 = await got3;
    await sub.unsubscribe();
    await sub.quit();
    await sub3.quit();

    const r3 = new Redis({ port, host: '127.0.0.1', protocol: 3, enableReadyCheck: false });
    seen.hgetall3io = await r3.hgetall('cli:h');
    await r3.quit();
    await r.quit();
  } finally {
    await cap.stop();
  }

  const { events } = parseCaptureSync(file, { parse: { maxBody: 1024 } });
  assertValidEvents(events);
  const redis = events.filter((e) => e.pano.protocol === 'redis');
  assert.ok(redis.every((e) => e.pano.kind !== 'orphan_response'), 'every reply found its command');

  // redis-cli: SET, then INCR on a non-integer fails
  assert.equal(seen.set, 'OK');
  assert.deepEqual(find(redis, 'SET cli:email alice@example.com').redis.response, { type: 'simple', value: 'OK' });
  const incr = find(redis, 'INCR cli:email');
  assert.match(String(seen.incrError), /ERR value is not an integer/);
  assert.equal(incr.redis.response!.type, 'error');
  assert.equal(`ERR ${String(incr.redis.response!.value).replace(/^ERR /, '')}`, String(seen.incrError).replace(/^\(error\) /, ''));
  assert.deepEqual(incr.error, { type: 'ERR' });
  assert.deepEqual(incr.db.response, { status_code: 'ERR' });

  // redis-cli -3: HELLO 3 first, then a map reply
  const hello = redis.find((e) => op(e) === 'HELLO' && f(e).redis.args?.[0] === '3');
  assert.ok(hello, 'HELLO 3');
  const cliMap = redis.find((e) => f(e).db.query?.text === 'HGETALL cli:h' && f(e).redis.response?.type === 'map');
  assert.ok(cliMap, 'RESP3 map reply');
  assert.deepEqual(f(cliMap).redis.response!.value, { name: 'Alice', city: 'Paris' });
  assert.equal(f(cliMap).network.protocol.version, '3');

  // ioredis pipeline: three commands, three replies, in order
  assert.deepEqual(seen.pipeline, [[null, 'OK'], [null, 2], [null, '2']]);
  assert.equal(find(redis, 'INCR p:a').redis.response!.value, 2);
  assert.equal(find(redis, 'GET p:a').redis.response!.value, '2');

  // MULTI/EXEC
  const exec = redis.find((e) => op(e) === 'EXEC');
  assert.ok(exec);
  assert.deepEqual(f(exec).redis.transaction, { commands: ['SET', 'INCR'] });
  assert.deepEqual(f(exec).redis.response!.value, (seen.multi as Array<[unknown, unknown]>).map(([, v]) => v));
  assert.equal(find(redis, 'SET t:a x').redis.in_transaction, true);
  assert.equal(find(redis, 'SET t:a x').redis.response!.value, 'QUEUED');

  // the big value: kept to maxBody, full size reported
  const bigSet = redis.find((e) => op(e) === 'SET' && f(e).redis.args?.[0] === 'big');
  assert.ok(bigSet);
  assert.ok(bigSet.pano.flags?.includes('truncated'));
  assert.equal(f(bigSet).redis.args![1]!.length, 1024 - 'SET'.length - 'big'.length);
  const bigGet = find(redis, 'GET big');
  assert.equal(bigGet.redis.response!.size, seen.bigLength);
  assert.equal(bigGet.redis.response!.truncated, true);

  // pub/sub: one exchange for SUBSCRIBE (two confirmations), the message as its own event
  const subscribe = find(redis, 'SUBSCRIBE news sport');
  assert.equal(subscribe.redis.response!.type, 'confirmations');
  assert.deepEqual(subscribe.redis.response!.value, [['subscribe', 'news', 1], ['subscribe', 'sport', 2]]);
  assert.equal(find(redis, 'PUBLISH news "hello subscribers"').redis.response!.value, seen.receivers);
  const messages = redis.filter((e) => e.pano.kind === 'message' && f(e).redis.pubsub);
  assert.equal(seen.receivers, 2);
  assert.equal(messages.length, 2);
  for (const m of messages) assert.deepEqual([f(m).messaging!.destination!.name, f(m).messaging!.message!.body.content], seen.message);
  assert.deepEqual(seen.message3, seen.message);
  assert.equal(find(redis, 'UNSUBSCRIBE').pano.kind, 'exchange');

  // ioredis over RESP3
  const io3 = redis.filter((e) => f(e).db.query?.text?.toLowerCase() === 'hgetall cli:h' && f(e).redis.response?.type === 'map');
  assert.equal(io3.length, 2, 'redis-cli -3 and ioredis protocol 3');
  assert.deepEqual(f(io3[1]!).redis.response!.value, seen.hgetall3io);
});

/** A raw RESP client: redis-cli 7.0 refuses attributes ("Protocol error, got "|" as reply type byte"). */
function resp(...args: string[]): string {
  return `*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('');
}
/** Everything a raw connection received, collected from the start (a push may come between two requests). */
class RawClient {
  got = '';
  private waiter: (() => void) | undefined;
  private constructor(readonly sock: Socket) {
    sock.on('data', (d: Buffer) => {
      this.got += d.toString('latin1');
      this.waiter?.();
    });
  }
  static connect(): Promise<RawClient> {
    return new Promise((res, rej) => {
      const s = createConnection({ port, host: '127.0.0.1' }, () => res(new RawClient(s)));
      s.once('error', rej);
    });
  }
  /** Send, then wait (at most 5 s) until what was received since satisfies `until`. */
  async send(data: string, until: (got: string) => boolean): Promise<string> {
    const from = this.got.length;
    this.sock.write(data);
    await new Promise<void>((res, rej) => {
      const t = setTimeout(() => rej(new Error(`no reply to ${JSON.stringify(data)}: ${JSON.stringify(this.got.slice(from))}`)), 5000);
      this.waiter = () => {
        if (until(this.got.slice(from))) (clearTimeout(t), (this.waiter = undefined), res());
      };
      this.waiter();
    });
    return this.got.slice(from);
  }
}

test('RESP3 for real: a reply with an attribute (DEBUG PROTOCOL attrib) and invalidation pushes (CLIENT TRACKING) pair as sent', { skip: missing.length ? `missing ${missing.join(', ')}` : false }, async () => {
  const file = join(dir, 'resp3.pcap');
  const cap = new LoopbackCapture(file, `tcp port ${port}`);
  await cap.start();
  let first = '';
  let second = '';
  try {
    const a = await RawClient.connect();
    const b = await RawClient.connect();
    first = await a.send(resp('HELLO', '3') + resp('CLIENT', 'TRACKING', 'on') + resp('GET', 'tracked') + resp('DEBUG', 'PROTOCOL', 'attrib'), (g) => g.endsWith('attribute\r\n'));
    await b.send(resp('SET', 'tracked', 'v2'), (g) => g === '+OK\r\n');
    // the invalidation arrives unasked, before the PING's reply or after it
    await a.send(resp('PING'), (g) => g.includes('+PONG\r\n'));
    await a.send('', () => a.got.includes('invalidate'));
    second = a.got.slice(first.length);
    a.sock.destroy();
    b.sock.destroy();
  } finally {
    await cap.stop();
  }
  // what the server sent: an attribute map, then the reply it describes
  const attribute = '|1\r\n$14\r\nkey-popularity\r\n*2\r\n$7\r\nkey:123\r\n:90\r\n';
  assert.ok(first.endsWith(attribute + '$39\r\nSome real reply following the attribute\r\n'), JSON.stringify(first.slice(-120)));

  const { events } = parseCaptureSync(file);
  assertValidEvents(events);
  const redis = events.filter((e) => e.pano.protocol === 'redis').map(f);
  assert.ok(redis.every((e) => e.pano.kind !== 'orphan_response'), 'every reply found its command');
  const debug = find(redis, 'DEBUG PROTOCOL attrib');
  assert.deepEqual(debug.redis.response, {
    type: 'bulk', value: 'Some real reply following the attribute', size: 39, attributes: { '': { 'key-popularity': ['key:123', 90] } },
  });
  assert.equal(debug.pano.response_bytes, Buffer.byteLength(attribute) + Buffer.byteLength('$39\r\nSome real reply following the attribute\r\n'));
  assert.deepEqual(find(redis, 'GET tracked').redis.response, { type: 'null', value: null });
  assert.deepEqual(find(redis, 'PING').redis.response, { type: 'simple', value: 'PONG' });
  const pushes = redis.filter((e) => e.pano.kind === 'message');
  assert.equal(second.split('invalidate').length - 1, 1);
  assert.deepEqual(pushes.map((e) => (e.redis as { push?: unknown }).push), [{ type: 'push', value: ['invalidate', ['tracked']], length: 2 }]);
});
