// Redis parser on hand-built RESP bytes (values written out from the RESP2/RESP3
// specifications), fed whole, split at every offset, byte by byte and coalesced.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fakeContext } from '../helpers/fake-parser-context.js';
import { RedisParser } from '../../packages/protocols/src/redis/parser.js';
import { detectRedis } from '../../packages/protocols/src/redis/index.js';
import type { ExchangeRecord } from '../../packages/protocols/src/types.js';

type Seg = [0 | 1, string | Buffer];

function cmd(...args: string[]): string {
  return `*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('');
}

/** Feed segments, each cut into pieces at the given offsets (same direction pieces keep order). */
function run(segs: Seg[], cut: (b: Buffer) => Buffer[] = (b) => [b], opts = {}, conn = {}) {
  const ctx = fakeContext(opts, { server: { address: '127.0.0.1', port: 6379 }, ...conn });
  const p = new RedisParser(ctx);
  let ts = 1000n;
  for (const [dir, s] of segs) {
    for (const piece of cut(Buffer.isBuffer(s) ? s : Buffer.from(s, 'latin1'))) p.data(dir, piece, ts++);
  }
  p.close('fin', ts);
  return ctx;
}

/** What matters of a record, without timing (which depends on how it was cut). */
function shape(r: ExchangeRecord) {
  return { kind: r.kind, flags: r.flags, req: r.requestBytes, res: r.responseBytes, a: r.attributes };
}

function everyCut(segs: Seg[], check: (records: ExchangeRecord[]) => void) {
  const whole = run(segs).records;
  check(whole);
  const total = segs.map(([, s]) => Buffer.from(s as string, 'latin1'));
  // every split point inside each segment
  for (let i = 0; i < total.length; i++) {
    for (let k = 1; k < total[i]!.length; k++) {
      const recs = run(segs, (b) => (b === total[i] || b.equals(total[i]!) ? [b.subarray(0, k), b.subarray(k)] : [b])).records;
      assert.deepEqual(recs.map(shape), whole.map(shape), `split segment ${i} at ${k}`);
    }
  }
  const bytewise = run(segs, (b) => [...b].map((x) => Buffer.from([x]))).records;
  assert.deepEqual(bytewise.map(shape), whole.map(shape), 'byte by byte');
}

test('pipelined commands are paired in order, whatever the segmentation', () => {
  const segs: Seg[] = [
    [0, cmd('SET', 'user:1', 'alice@example.com') + cmd('GET', 'user:1') + cmd('INCR', 'n')],
    [1, '+OK\r\n$17\r\nalice@example.com\r\n:42\r\n'],
  ];
  everyCut(segs, (recs) => {
    assert.equal(recs.length, 3);
    const [set, get, incr] = recs as [ExchangeRecord, ExchangeRecord, ExchangeRecord];
    assert.equal(set.kind, 'exchange');
    assert.deepEqual(set.attributes.db, {
      system: { name: 'redis' },
      operation: { name: 'SET' },
      query: { text: 'SET user:1 alice@example.com' },
      namespace: '0',
    });
    assert.deepEqual((set.attributes.redis as any).args, ['user:1', 'alice@example.com']);
    assert.deepEqual((set.attributes.redis as any).response, { type: 'simple', value: 'OK' });
    assert.deepEqual((get.attributes.redis as any).response, { type: 'bulk', value: 'alice@example.com', size: 17 });
    assert.deepEqual((incr.attributes.redis as any).response, { type: 'integer', value: 42 });
    assert.equal(set.requestBytes, Buffer.byteLength(cmd('SET', 'user:1', 'alice@example.com')));
    assert.equal(get.responseBytes, 24);
  });
});

test('every RESP3 reply type is decoded', () => {
  const replies: Array<[string, unknown, string]> = [
    ['+OK\r\n', 'OK', 'simple'],
    [':-7\r\n', -7, 'integer'],
    [':9007199254740993\r\n', '9007199254740993', 'integer'],
    ['$-1\r\n', null, 'null'],
    ['*-1\r\n', null, 'null'],
    ['_\r\n', null, 'null'],
    ['$0\r\n\r\n', '', 'bulk'],
    [',3.25\r\n', 3.25, 'double'],
    [',inf\r\n', 'inf', 'double'],
    ['#t\r\n', true, 'boolean'],
    ['#f\r\n', false, 'boolean'],
    ['(3492890328409238509324850943850943825024385\r\n', '3492890328409238509324850943850943825024385', 'big_number'],
    ['=15\r\ntxt:Some string\r\n', 'Some string', 'verbatim'],
    ['!21\r\nSYNTAX invalid syntax\r\n', 'SYNTAX invalid syntax', 'blob_error'],
    ['*2\r\n$1\r\na\r\n:1\r\n', ['a', 1], 'array'],
    ['~2\r\n+x\r\n+y\r\n', ['x', 'y'], 'set'],
    ['%2\r\n+first\r\n:1\r\n$6\r\nsecond\r\n*1\r\n#t\r\n', { first: 1, second: [true] }, 'map'],
    ['*0\r\n', [], 'array'],
  ];
  const segs: Seg[] = [[0, replies.map((_, i) => cmd('ECHO', String(i))).join('')], [1, replies.map((r) => r[0]).join('')]];
  everyCut(segs, (recs) => {
    assert.equal(recs.length, replies.length);
    recs.forEach((r, i) => {
      const resp = (r.attributes.redis as any).response;
      assert.equal(resp.type, replies[i]![2], `reply ${i} type`);
      assert.deepEqual(resp.value, replies[i]![1], `reply ${i} value`);
    });
    const err = recs[13]!;
    assert.deepEqual(err.attributes.error, { type: 'SYNTAX' });
    assert.deepEqual((err.attributes.db as any).response, { status_code: 'SYNTAX' });
  });
});

test('RESP3 attributes annotate the reply that follows them, at any depth', () => {
  const segs: Seg[] = [
    [0, cmd('GET', 'k') + cmd('MGET', 'a', 'b')],
    [1, '|1\r\n+key-popularity\r\n%1\r\n$1\r\nk\r\n,0.19\r\n$2\r\nv1\r\n' + '*2\r\n|1\r\n+ttl\r\n:3\r\n$1\r\nx\r\n$1\r\ny\r\n'],
  ];
  everyCut(segs, (recs) => {
    assert.equal(recs.length, 2);
    const get = (recs[0]!.attributes.redis as any).response;
    assert.deepEqual(get, { type: 'bulk', value: 'v1', size: 2, attributes: { '': { 'key-popularity': { k: 0.19 } } } });
    // the nested attribute describes the first element: kept, by the JSON Pointer of that element
    assert.deepEqual((recs[1]!.attributes.redis as any).response, { type: 'array', value: ['x', 'y'], length: 2, attributes: { '/0': { ttl: 3 } } });
  });
});

test('RESP3 attributes: the specification\'s examples, and attributes in maps, sets, pushes and in a row', () => {
  // RESP3.md "Attribute type": MGET a b with key popularity, then *3 whose third element has {ttl: 3600}
  const spec1 = '|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.1923\r\n$1\r\nb\r\n,0.0012\r\n*2\r\n:2039123\r\n:9543892\r\n';
  const spec2 = '*3\r\n:1\r\n:2\r\n|1\r\n+ttl\r\n:3600\r\n:3\r\n';
  // a map value and a map key with attributes (a key needs the [key, value] pair form to be addressed), a nested
  // array element, a set, a key with a '/' (escaped ~1), two attributes in a row (merged), and an attribute before a push
  const map = '%2\r\n+a/b\r\n|1\r\n+src\r\n+cache\r\n*2\r\n:1\r\n|1\r\n+n\r\n:9\r\n:2\r\n+c\r\n:3\r\n';
  const keyed = '%1\r\n|1\r\n+k\r\n:1\r\n+key\r\n+val\r\n';
  const set = '~2\r\n|1\r\n+x\r\n#t\r\n+m1\r\n+m2\r\n';
  const twice = '|1\r\n+a\r\n:1\r\n|1\r\n+b\r\n:2\r\n+OK\r\n';
  const push = '|1\r\n+p\r\n:1\r\n>2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n';
  const segs: Seg[] = [
    [0, cmd('MGET', 'a', 'b') + cmd('LRANGE', 'l', '0', '2') + cmd('HGETALL', 'h') + cmd('HGETALL', 'g') + cmd('SMEMBERS', 's') + cmd('SET', 'k', 'v') + cmd('PING')],
    [1, spec1 + spec2 + map + keyed + set + twice + push + '+PONG\r\n'],
  ];
  everyCut(segs, (recs) => {
    // seven commands, seven replies, and the push on its own: nothing shifted
    assert.deepEqual(recs.map((r) => [r.kind, (r.attributes.db as any).operation?.name]), [
      ['exchange', 'MGET'], ['exchange', 'LRANGE'], ['exchange', 'HGETALL'], ['exchange', 'HGETALL'], ['exchange', 'SMEMBERS'], ['exchange', 'SET'], ['message', undefined], ['exchange', 'PING'],
    ]);
    const res = recs.map((r) => (r.attributes.redis as any).response ?? (r.attributes.redis as any).push);
    assert.deepEqual(res[0], { type: 'array', value: [2039123, 9543892], length: 2, attributes: { '': { 'key-popularity': { a: 0.1923, b: 0.0012 } } } });
    assert.deepEqual(res[1], { type: 'array', value: [1, 2, 3], length: 3, attributes: { '/2': { ttl: 3600 } } });
    assert.deepEqual(res[2], { type: 'map', value: { 'a/b': [1, 2], c: 3 }, length: 2, attributes: { '/a~1b': { src: 'cache' }, '/a~1b/1': { n: 9 } } });
    assert.deepEqual(res[3], { type: 'map', value: [['key', 'val']], length: 1, attributes: { '/0/0': { k: 1 } } });
    assert.deepEqual(res[4], { type: 'set', value: ['m1', 'm2'], length: 2, attributes: { '/0': { x: true } } });
    assert.deepEqual(res[5], { type: 'simple', value: 'OK', attributes: { '': { a: 1, b: 2 } } });
    assert.deepEqual(res[6], { type: 'push', value: ['invalidate', ['k']], length: 2, attributes: { '': { p: 1 } } });
    assert.deepEqual(res[7], { type: 'simple', value: 'PONG' });
  });
});

test('RESP3 map keys named __proto__ are kept as entries (an assignment would drop them)', () => {
  const segs: Seg[] = [[0, cmd('HGETALL', 'h')], [1, '%2\r\n$9\r\n__proto__\r\n$1\r\nx\r\n$11\r\nconstructor\r\n$1\r\ny\r\n']];
  everyCut(segs, (recs) => {
    assert.equal(JSON.stringify((recs[0]!.attributes.redis as any).response.value), '{"__proto__":"x","constructor":"y"}');
  });
});

test('inline commands are split like redis-server does', () => {
  const segs: Seg[] = [[0, 'PING\r\nSET greeting "hello world\\x21"\r\n\r\nget greeting\n'], [1, '+PONG\r\n+OK\r\n$12\r\nhello world!\r\n']];
  everyCut(segs, (recs) => {
    assert.equal(recs.length, 3);
    assert.deepEqual(recs.map((r) => (r.attributes.db as any).operation.name), ['PING', 'SET', 'GET']);
    assert.deepEqual((recs[1]!.attributes.redis as any).args, ['greeting', 'hello world!']);
    assert.equal((recs[1]!.attributes.redis as any).inline, true);
    assert.equal((recs[1]!.attributes.db as any).query.text, 'SET greeting "hello world!"');
  });
});

test('RESP2 pub/sub: one exchange per SUBSCRIBE, messages as their own events', () => {
  const segs: Seg[] = [
    [0, cmd('SUBSCRIBE', 'news', 'sport') + cmd('PSUBSCRIBE', 'n*')],
    [1, '*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$5\r\nsport\r\n:2\r\n'],
    [1, '*3\r\n$10\r\npsubscribe\r\n$2\r\nn*\r\n:3\r\n'],
    [1, '*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n*4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$5\r\nhello\r\n'],
    [0, cmd('UNSUBSCRIBE')],
    [1, '*3\r\n$11\r\nunsubscribe\r\n$4\r\nnews\r\n:2\r\n*3\r\n$11\r\nunsubscribe\r\n$5\r\nsport\r\n:1\r\n'],
  ];
  everyCut(segs, (recs) => {
    assert.deepEqual(recs.map((r) => r.kind), ['exchange', 'exchange', 'message', 'message', 'exchange']);
    const sub = recs[0]!.attributes.redis as any;
    assert.equal(sub.response.type, 'confirmations');
    assert.deepEqual(sub.response.value, [['subscribe', 'news', 1], ['subscribe', 'sport', 2]]);
    assert.deepEqual(recs[2]!.attributes.messaging, {
      system: 'redis',
      operation: { type: 'receive', name: 'message' },
      destination: { name: 'news' },
      message: { body: { size: 5, content: 'hello' } },
    });
    assert.deepEqual(recs[3]!.attributes.redis, { pubsub: { kind: 'pmessage', pattern: 'n*', channel: 'news' } });
    assert.equal((recs[4]!.attributes.redis as any).response.length, 2);
  });
});

test('RESP3 pushes are out of band: replies around them still pair', () => {
  const segs: Seg[] = [
    [0, cmd('HELLO', '3') + cmd('SUBSCRIBE', 'c') + cmd('PING')],
    [1, '%1\r\n$5\r\nproto\r\n:3\r\n'],
    [1, '>3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n>3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$2\r\nhi\r\n+PONG\r\n'],
    [1, '>2\r\n$10\r\ninvalidate\r\n*1\r\n$3\r\nkey\r\n'],
  ];
  everyCut(segs, (recs) => {
    assert.deepEqual(recs.map((r) => r.kind), ['exchange', 'exchange', 'message', 'exchange', 'message']);
    assert.deepEqual(recs[1]!.attributes.network, { protocol: { name: 'redis', version: '3' } });
    assert.equal((recs[3]!.attributes.redis as any).response.value, 'PONG');
    assert.deepEqual((recs[4]!.attributes.redis as any).push.value, ['invalidate', ['key']]);
  });
});

test('RESP3: a subscribed client\'s array replies are replies, even when they start with "message"', () => {
  // A RESP3 connection may run any command while subscribed; pub/sub traffic comes only as pushes.
  const segs: Seg[] = [
    [0, cmd('HELLO', '3') + cmd('SUBSCRIBE', 'c')],
    [1, '%1\r\n$5\r\nproto\r\n:3\r\n>3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n'],
    [0, cmd('LRANGE', 'l', '0', '-1') + cmd('GET', 'k') + cmd('UNSUBSCRIBE')],
    [1, '*3\r\n$7\r\nmessage\r\n$1\r\nx\r\n$1\r\ny\r\n$1\r\nv\r\n>3\r\n$11\r\nunsubscribe\r\n$1\r\nc\r\n:0\r\n'],
  ];
  everyCut(segs, (recs) => {
    assert.deepEqual(recs.map((r) => [r.kind, (r.attributes.db as any).operation?.name]), [
      ['exchange', 'HELLO'], ['exchange', 'SUBSCRIBE'], ['exchange', 'LRANGE'], ['exchange', 'GET'], ['exchange', 'UNSUBSCRIBE'],
    ]);
    assert.deepEqual((recs[2]!.attributes.redis as any).response, { type: 'array', value: ['message', 'x', 'y'], length: 3 });
    assert.equal((recs[3]!.attributes.redis as any).response.value, 'v');
    assert.deepEqual((recs[4]!.attributes.redis as any).response.value, ['unsubscribe', 'c', 0]);
  });
});

test('MULTI/EXEC: queued commands, then EXEC with every result', () => {
  const segs: Seg[] = [
    [0, cmd('MULTI') + cmd('INCR', 'a') + cmd('GET', 'a') + cmd('EXEC')],
    [1, '+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n:1\r\n$1\r\n1\r\n'],
  ];
  everyCut(segs, (recs) => {
    assert.equal(recs.length, 4);
    assert.equal((recs[1]!.attributes.redis as any).in_transaction, true);
    assert.equal((recs[1]!.attributes.redis as any).response.value, 'QUEUED');
    const exec = recs[3]!.attributes.redis as any;
    assert.deepEqual(exec.transaction, { commands: ['INCR', 'GET'] });
    assert.deepEqual(exec.response.value, [1, '1']);
  });
});

test('a huge bulk keeps maxBody bytes, reports its size and is streamed past', () => {
  const big = Buffer.alloc(3 * 1024 * 1024, 0x61);
  const request = Buffer.concat([Buffer.from(`*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$${big.length}\r\n`), big, Buffer.from('\r\n')]);
  const ctx = fakeContext({ maxBody: 100 });
  const p = new RedisParser(ctx);
  for (let off = 0; off < request.length; off += 1400) p.data(0, request.subarray(off, off + 1400), 1n);
  p.data(1, Buffer.from(`+OK\r\n$${big.length}\r\n`), 2n);
  for (let off = 0; off < big.length; off += 65536) p.data(1, big.subarray(off, off + 65536), 3n);
  p.data(1, Buffer.from('\r\n'), 4n);
  p.data(0, Buffer.from(cmd('GET', 'k')), 5n);
  p.close('end', 6n);
  const [set, get] = ctx.records as [ExchangeRecord, ExchangeRecord];
  assert.deepEqual(set.flags, ['truncated']);
  assert.equal((set.attributes.redis as any).args[1].length, 96); // 100 kept bytes, 4 used by "SET" and "k"
  assert.equal(set.requestBytes, request.length);
  // GET's reply was 3 MiB: after 'OK' the message budget is whole again
  const resp = (get.attributes.redis as any).response;
  assert.equal(resp.size, big.length);
  assert.equal(resp.value.length, 100);
  assert.equal(resp.truncated, true);
});

test('mid-stream join skips to the first whole message; a reply without command is an orphan', () => {
  const segs: Seg[] = [
    [0, 'ue\r\n' + cmd('GET', 'x')],
    [1, 'of-previous\r\n$1\r\n5\r\n'],
  ];
  // The server side starts with a line that looks like nothing, then a bulk.
  const ctx = run(segs, undefined, {}, { midstream: true });
  assert.equal(ctx.records.length, 1);
  assert.equal(ctx.records[0]!.kind, 'exchange');
  assert.equal((ctx.records[0]!.attributes.db as any).query.text, 'GET x');
  assert.equal(ctx.records[0]!.attributes.db && (ctx.records[0]!.attributes.db as any).namespace, undefined);
  assert.ok((ctx.counts.get('redis.skipped_bytes') ?? 0) > 0);

  const orphan = run([[1, '+OK\r\n']], undefined, {}, { midstream: true });
  assert.equal(orphan.records[0]!.kind, 'orphan_response');
  assert.deepEqual(orphan.records[0]!.flags, ['midstream']);
});

test('damage is counted and parsing resumes at the next message; a gap unpairs what was pending', () => {
  const ctx = fakeContext();
  const p = new RedisParser(ctx);
  p.data(0, Buffer.from(cmd('GET', 'a') + cmd('GET', 'b')), 1n);
  p.data(1, Buffer.from('$1\r\n1\r\n'), 2n);
  p.gap(1, 100, 3n);
  p.data(0, Buffer.from(cmd('GET', 'c')), 4n);
  p.data(1, Buffer.from('\x01garbage\r\n$1\r\n3\r\n'), 5n);
  p.close('fin', 6n);
  assert.deepEqual(ctx.records.map((r) => [r.kind, r.flags]), [
    ['exchange', undefined],
    ['unanswered', ['gap']],
    ['exchange', ['gap']],
  ]);
  assert.equal((ctx.records[2]!.attributes.redis as any).response.value, '3');
  assert.equal(ctx.counts.get('redis.gaps'), 1);
  // the garbage line after the gap is skipped while resynchronising
  assert.equal(ctx.counts.get('redis.skipped_bytes'), 10);

  const broken = fakeContext();
  const q = new RedisParser(broken);
  q.data(0, Buffer.from(cmd('GET', 'a')), 1n);
  q.data(1, Buffer.from('$3\r\nabcXY+OK\r\n'), 2n);
  assert.equal(broken.counts.get('redis.malformed'), 1);
});

test('unanswered commands at close carry the close reason', () => {
  const ctx = run([[0, cmd('BLPOP', 'q', '0')]]);
  assert.equal(ctx.records[0]!.kind, 'unanswered');
  assert.deepEqual(ctx.records[0]!.flags, ['closed']);
});

test('detection: command arrays and inline commands are the client, reply headers weakly the server', () => {
  assert.deepEqual(detectRedis(Buffer.from(cmd('GET', 'k')), 0), { sender: 'client', confidence: 0.9 });
  assert.equal(detectRedis(Buffer.from('*2\r\n$3\r\nGE'), 0), 'more');
  assert.equal(detectRedis(Buffer.from(cmd('NOTACOMMAND', 'k')), 0), null);
  assert.deepEqual(detectRedis(Buffer.from('PING\r\n'), 0), { sender: 'client', confidence: 0.6 });
  assert.equal(detectRedis(Buffer.from('GET / HTTP/1.1\r\n'), 0), null);
  assert.deepEqual(detectRedis(Buffer.from('+PONG\r\n'), 1), { sender: 'server', confidence: 0.3 });
  assert.equal(detectRedis(Buffer.from('\x16\x03\x01\x02\x00'), 0), null);
  // an error reply names its kind in capitals; a file listing's first line only starts with '-'
  assert.deepEqual(detectRedis(Buffer.from('-WRONGTYPE Operation against a key holding the wrong kind of value\r\n'), 1), { sender: 'server', confidence: 0.3 });
  assert.deepEqual(detectRedis(Buffer.from('-ERR\r\n'), 1), { sender: 'server', confidence: 0.3 });
  assert.equal(detectRedis(Buffer.from('-rw-r--r--   1 root root 36 Nov 30 04:36 contacts.csv\r\n'), 1), null);
  // POP3's greeting and answers: +OK and text (Redis answers a bare +OK)
  assert.equal(detectRedis(Buffer.from('+OK Dovecot ready.\r\n'), 1), null);
});

test('a pipeline deeper than maxPending: the oldest are emitted unanswered and their replies skipped, the rest stay paired', () => {
  const ctx = fakeContext({ maxPending: 4 });
  const p = new RedisParser(ctx);
  const n = 10;
  p.data(0, Buffer.from(Array.from({ length: n }, (_, i) => cmd('GET', `k${i}`)).join('')), 1n);
  p.data(1, Buffer.from(Array.from({ length: n }, (_, i) => `$2\r\nv${i}\r\n`).join('')), 2n);
  p.close('fin', 3n);
  const unanswered = ctx.records.filter((r) => r.kind === 'unanswered');
  const answered = ctx.records.filter((r) => r.kind === 'exchange');
  assert.equal(unanswered.length, n - 4);
  assert.equal(answered.length, 4);
  for (const r of answered) {
    const key = (r.attributes.redis as any).args[0] as string;
    assert.equal((r.attributes.redis as any).response.value, key.replace('k', 'v'));
  }
  assert.equal(ctx.counts.get('redis.evicted_replies'), n - 4);
});

test('passwords are never kept: AUTH, HELLO AUTH, MIGRATE AUTH/AUTH2, ACL SETUSER rules', () => {
  const segs: Seg[] = [
    [0, cmd('AUTH', 's3cret-1') + cmd('AUTH', 'alice', 's3cret-2') + cmd('HELLO', '3', 'AUTH', 'bob', 's3cret-3', 'SETNAME', 'app') +
      cmd('MIGRATE', 'h', '6379', 'k', '0', '1000', 'AUTH2', 'carol', 's3cret-4') + cmd('ACL', 'SETUSER', 'dave', 'on', '>s3cret-5', '~*')],
    [1, '+OK\r\n+OK\r\n%0\r\n+NOKEY\r\n+OK\r\n'],
  ];
  const ctx = run(segs);
  const texts = ctx.records.map((r) => (r.attributes.db as any).query.text);
  assert.deepEqual(texts, ['AUTH ?', 'AUTH alice ?', 'HELLO 3 AUTH bob ? SETNAME app', 'MIGRATE h 6379 k 0 1000 AUTH2 carol ?', 'ACL SETUSER dave on ? ~*']);
  assert.ok(!JSON.stringify(ctx.records.map((r) => r.attributes)).includes('s3cret'));
  assert.equal(ctx.counts.get('redis.redacted_secrets'), 5);
});

test('CLIENT REPLY OFF/SKIP: silenced commands are one-way messages, the rest stay paired', () => {
  const segs: Seg[] = [
    [0, cmd('SET', 'a', '1') + cmd('CLIENT', 'REPLY', 'SKIP') + cmd('SET', 'b', '2') + cmd('GET', 'a') +
      cmd('CLIENT', 'REPLY', 'OFF') + cmd('SET', 'c', '3') + cmd('CLIENT', 'REPLY', 'ON') + cmd('GET', 'c')],
    [1, '+OK\r\n$1\r\n1\r\n+OK\r\n$1\r\n3\r\n'],
  ];
  everyCut(segs, (recs) => {
    const byText = new Map(recs.map((r) => [(r.attributes.db as any).query.text, r]));
    assert.equal(recs.length, 8);
    for (const t of ['CLIENT REPLY SKIP', 'SET b 2', 'CLIENT REPLY OFF', 'SET c 3']) assert.equal(byText.get(t)!.kind, 'message', t);
    assert.equal((byText.get('GET a')!.attributes.redis as any).response.value, '1');
    assert.equal((byText.get('CLIENT REPLY ON')!.attributes.redis as any).response.value, 'OK');
    assert.equal((byText.get('GET c')!.attributes.redis as any).response.value, '3');
  });
});
