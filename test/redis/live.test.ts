// Real Redis traffic: redis-server (Debian) on a loopback port, driven by
// redis-cli (RESP2 and RESP3) and ioredis (pipelining, MULTI/EXEC, pub/sub,
// RESP3, a big value), captured with tcpdump, parsed, and checked against what
// the clients did and got back.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { LoopbackCapture, freePort } from '../helpers/loopback-capture.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';
import type { PanoEvent } from '@panopticon/events';

const missing = ['/usr/bin/redis-server', '/usr/bin/redis-cli', '/usr/bin/tcpdump'].filter((p) => !existsSync(p));
const dir = mkdtempSync(join(tmpdir(), 'pano-redis-'));
let server: ChildProcess | undefined;
let port = 0;

before(async () => {
  if (missing.length) return;
  port = await freePort();
  server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  for (let i = 0; i < 200; i++) {
    try {
      if (execFileSync('redis-cli', ['-p', String(port), 'PING'], { encoding: 'utf8', stdio: 'pipe' }).trim() === 'PONG') return;
    } catch {
      if (server.exitCode !== null) throw new Error('redis-server exited');
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('redis-server did not answer');
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
