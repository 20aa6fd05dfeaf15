// memcached parser on hand-written traffic (memcached's protocol.txt for the
// text and meta commands, protocol_binary.h for the binary protocol): fed
// whole, split at every byte, with gaps, mid-stream joins and closes; whole
// sessions through the pipeline, checked against the schema; detection
// beside Redis, whose inline commands share GET and SET.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fakeContext } from '../helpers/fake-parser-context.js';
import { C, S, at, shape, runSession, sidesOf, damagedSessionsStayValid, type RunOptions, type Side } from '../helpers/parser-session.js';
import { Conversation, pcapng } from '../helpers/synth.js';
import { assertValidEvents, parseCaptureSync } from '../helpers/parse.js';
import { MemcachedParser } from '../../packages/protocols/src/memcached/parser.js';
import { memcachedModule } from '../../packages/protocols/src/memcached/index.js';
import { redisModule } from '../../packages/protocols/src/redis/index.js';


const run = (sides: Side[], step = Infinity, opts: RunOptions['options'] = {}, conn: RunOptions['conn'] = {}, close = true) =>
  runSession((ctx) => new MemcachedParser(ctx), sides, { step, options: opts, conn, close });

/** A binary packet: header (magic, opcode, key length, extras length, data type 0, status/vbucket, total body, opaque, CAS), extras, key, value. */
function bin(magic: number, opcode: number, o: { key?: string; extras?: Buffer; value?: Buffer | string; status?: number; opaque?: number; cas?: bigint } = {}): Buffer {
  const key = Buffer.from(o.key ?? '');
  const extras = o.extras ?? Buffer.alloc(0);
  const value = Buffer.from(o.value ?? '');
  const h = Buffer.alloc(24);
  h[0] = magic;
  h[1] = opcode;
  h.writeUInt16BE(key.length, 2);
  h[4] = extras.length;
  h.writeUInt16BE(o.status ?? 0, 6);
  h.writeUInt32BE(extras.length + key.length + value.length, 8);
  h.writeUInt32BE(o.opaque ?? 0, 12);
  h.writeBigUInt64BE(o.cas ?? 0n, 16);
  return Buffer.concat([h, extras, key, value]);
}
const u32s = (...n: number[]) => Buffer.concat(n.map((x) => { const b = Buffer.alloc(4); b.writeUInt32BE(x); return b; }));
const u64s = (...n: bigint[]) => Buffer.concat(n.map((x) => { const b = Buffer.alloc(8); b.writeBigUInt64BE(x); return b; }));

const textSession: Side[] = [
  [C, 'set user:42:email 5 3600 15\r\nann@example.com\r\n'],
  [S, 'STORED\r\n'],
  [C, 'add user:42:email 0 0 1\r\nx\r\n'],
  [S, 'NOT_STORED\r\n'],
  [C, 'get user:42:email nope other\r\n'],
  [S, 'VALUE user:42:email 5 15\r\nann@example.com\r\nVALUE other 0 2\r\nhi\r\nEND\r\n'],
  [C, 'gets user:42:email\r\n'],
  [S, 'VALUE user:42:email 5 15 99\r\nann@example.com\r\nEND\r\n'],
  [C, 'cas user:42:email 5 0 3 98\r\nbob\r\n'],
  [S, 'EXISTS\r\n'],
  [C, 'set counter 0 0 2 noreply\r\n10\r\n'],
  [C, 'incr counter 5\r\n'],
  [S, '15\r\n'],
  [C, 'decr nope 1\r\n'],
  [S, 'NOT_FOUND\r\n'],
  [C, 'touch counter 60\r\n'],
  [S, 'TOUCHED\r\n'],
  [C, 'delete counter\r\n'],
  [S, 'DELETED\r\n'],
  [C, 'stats\r\n'],
  [S, 'STAT pid 4242\r\nSTAT uptime 17\r\nSTAT version 1.6.18\r\nEND\r\n'],
  [C, 'version\r\n'],
  [S, 'VERSION 1.6.18\r\n'],
  [C, 'bogus\r\n'],
  [S, 'ERROR\r\n'],
  [C, 'set k 0 0 notanumber\r\n'],
  [S, 'CLIENT_ERROR bad command line format\r\n'],
  [C, 'quit\r\n'],
];

test('text protocol: every command kind with its answer, noreply and quit as messages, errors by name; the same from 1-byte pieces', () => {
  const ctx = run(textSession);
  const brief = ctx.records.map((r) => [r.kind, at(r, 'db.operation.name'), at(r, 'memcached.response.status') ?? at(r, 'memcached.response.number') ?? null]);
  assert.deepEqual(brief, [
    ['exchange', 'set', 'STORED'],
    ['exchange', 'add', 'NOT_STORED'],
    ['exchange', 'get', 'END'],
    ['exchange', 'gets', 'END'],
    ['exchange', 'cas', 'EXISTS'],
    ['message', 'set', null],
    ['exchange', 'incr', '15'],
    ['exchange', 'decr', 'NOT_FOUND'],
    ['exchange', 'touch', 'TOUCHED'],
    ['exchange', 'delete', 'DELETED'],
    ['exchange', 'stats', 'END'],
    ['exchange', 'version', 'VERSION'],
    ['exchange', 'bogus', 'ERROR'],
    ['exchange', 'set', 'CLIENT_ERROR'],
    ['message', 'quit', null],
  ]);
  const [set, , get, gets, cas, noreply, incr, , , , stats, version, bogus, bad] = ctx.records;
  assert.deepEqual(set!.attributes.db, { system: { name: 'memcached' }, operation: { name: 'set' }, query: { text: 'set user:42:email 5 3600 15' } });
  assert.deepEqual(at(set!, 'memcached'), { protocol: 'text', keys: ['user:42:email'], flags: 5, exptime: 3600, value: { size: 15, content: 'ann@example.com' }, response: { status: 'STORED' } });
  assert.deepEqual(at(get!, 'memcached.keys'), ['user:42:email', 'nope', 'other']);
  assert.deepEqual(at(get!, 'memcached.response.values'), [
    { key: 'user:42:email', flags: 5, value: { size: 15, content: 'ann@example.com' } },
    { key: 'other', flags: 0, value: { size: 2, content: 'hi' } },
  ]);
  assert.equal(at(get!, 'db.response.returned_rows'), 2);
  assert.equal((at(gets!, 'memcached.response.values') as Array<{ cas: string }>)[0]!.cas, '99');
  assert.equal(at(cas!, 'memcached.cas'), '98');
  assert.equal(at(cas!, 'error'), undefined, 'EXISTS is an outcome');
  assert.equal(at(noreply!, 'memcached.noreply'), true);
  assert.equal(at(incr!, 'memcached.delta'), '5');
  assert.deepEqual(at(stats!, 'memcached.response.stats'), { pid: '4242', uptime: '17', version: '1.6.18' });
  assert.equal(at(version!, 'memcached.response.version'), '1.6.18');
  assert.equal(at(bogus!, 'error.type'), 'ERROR');
  assert.deepEqual(at(bad!, 'memcached.response'), { status: 'CLIENT_ERROR', message: 'bad command line format' });
  assert.equal(at(bad!, 'error.type'), 'CLIENT_ERROR');
  assert.equal(ctx.counts.get('memcached.malformed_commands'), 1);
  assert.equal(set!.requestBytes, 'set user:42:email 5 3600 15\r\n'.length + 15 + 2);
  for (const step of [1, 2, 7]) assert.deepEqual(shape(run(textSession, step).records), shape(ctx.records), `step ${step}`);
});

test('meta commands: values and flags, a quiet miss answered by silence before mn, an answer found by its opaque token', () => {
  const ctx = run([
    [C, 'ms sess:1 5 T60 F7\r\nhello\r\n'],
    [S, 'HD\r\n'],
    [C, 'mg sess:1 v f t\r\n'],
    [S, 'VA 5 f7 t59\r\nhello\r\n'],
    [C, 'mg gone v q\r\nmg sess:1 v q Oabc\r\nmn\r\n'],
    [S, 'VA 5 Oabc\r\nhello\r\nMN\r\n'],
    [C, 'md gone q\r\nmn\r\n'],
    [S, 'NF\r\nMN\r\n'],
    [C, 'ma ctr N0 J13 v\r\n'],
    [S, 'VA 2\r\n13\r\n'],
  ]);
  assert.deepEqual(ctx.records.map((r) => [r.kind, at(r, 'db.operation.name'), at(r, 'memcached.response.status') ?? null]), [
    ['exchange', 'ms', 'HD'],
    ['exchange', 'mg', 'VA'],
    ['message', 'mg', null],
    ['exchange', 'mg', 'VA'],
    ['exchange', 'mn', 'MN'],
    ['exchange', 'md', 'NF'],
    ['exchange', 'mn', 'MN'],
    ['exchange', 'ma', 'VA'],
  ]);
  const [ms, mg, quiet, opaque, , , , ma] = ctx.records;
  assert.deepEqual(at(ma!, 'memcached.response'), { status: 'VA', number: '13' });
  assert.deepEqual(at(ms!, 'memcached'), { protocol: 'meta', keys: ['sess:1'], meta_flags: ['T60', 'F7'], value: { size: 5, content: 'hello' }, response: { status: 'HD' } });
  assert.deepEqual(at(mg!, 'memcached.response'), { status: 'VA', values: [{ key: 'sess:1', flags: 7, value: { size: 5, content: 'hello' } }], meta_flags: ['f7', 't59'] });
  assert.equal(at(mg!, 'db.response.returned_rows'), 1);
  assert.deepEqual(at(quiet!, 'memcached.keys'), ['gone']);
  assert.deepEqual(at(opaque!, 'memcached.keys'), ['sess:1']);
});

test('binary protocol: set, get, a quiet getq miss passed over to the noop, stat packets up to the empty one, errors by status name, SASL data by size only', () => {
  const session: Side[] = [
    [C, bin(0x80, 0x01, { key: 'k1', extras: u32s(9, 300), value: '{"ssn":"536-22-8821"}', opaque: 1 })],
    [S, bin(0x81, 0x01, { opaque: 1, cas: 7n })],
    [C, bin(0x80, 0x00, { key: 'k1', opaque: 2 })],
    [S, bin(0x81, 0x00, { extras: u32s(9), value: '{"ssn":"536-22-8821"}', opaque: 2, cas: 7n })],
    [C, Buffer.concat([bin(0x80, 0x09, { key: 'gone', opaque: 3 }), bin(0x80, 0x0a, { opaque: 4 })])],
    [S, bin(0x81, 0x0a, { opaque: 4 })],
    [C, bin(0x80, 0x05, { key: 'ctr', extras: Buffer.concat([u64s(3n, 10n), u32s(0)]), opaque: 5 })],
    [S, bin(0x81, 0x05, { value: u64s(13n), opaque: 5 })],
    [C, bin(0x80, 0x10, { opaque: 6 })],
    [S, Buffer.concat([bin(0x81, 0x10, { key: 'pid', value: '42', opaque: 6 }), bin(0x81, 0x10, { key: 'uptime', value: '9', opaque: 6 }), bin(0x81, 0x10, { opaque: 6 })])],
    [C, bin(0x80, 0x04, { key: 'gone', opaque: 7 })],
    [S, bin(0x81, 0x04, { status: 0x0001, value: 'Not found', opaque: 7 })],
    [C, bin(0x80, 0x01, { key: 'big', extras: u32s(0, 0), value: 'x', opaque: 8 })],
    [S, bin(0x81, 0x01, { status: 0x0082, value: 'Out of memory', opaque: 8 })],
    [C, bin(0x80, 0x21, { key: 'PLAIN', value: '\0user\0s3cret', opaque: 9 })],
    [S, bin(0x81, 0x21, { status: 0x0008, value: 'Auth failure', opaque: 9 })],
  ];
  const ctx = run(session);
  assert.deepEqual(ctx.records.map((r) => [r.kind, at(r, 'db.operation.name'), at(r, 'memcached.response.status') ?? null, at(r, 'error.type') ?? null]), [
    ['exchange', 'set', 'no_error', null],
    ['exchange', 'get', 'no_error', null],
    ['message', 'getq', null, null],
    ['exchange', 'noop', 'no_error', null],
    ['exchange', 'increment', 'no_error', null],
    ['exchange', 'stat', 'no_error', null],
    ['exchange', 'delete', 'key_not_found', null],
    ['exchange', 'set', 'out_of_memory', 'out_of_memory'],
    ['exchange', 'sasl_auth', 'auth_error', 'auth_error'],
  ]);
  const [set, get, , , incr, stat, , , sasl] = ctx.records;
  assert.deepEqual(at(set!, 'memcached'), { protocol: 'binary', keys: ['k1'], flags: 9, exptime: 300, value: { size: 21, content: '{"ssn":"536-22-8821"}' }, response: { status: 'no_error' } });
  assert.equal(at(set!, 'db.query'), undefined);
  assert.deepEqual(at(get!, 'memcached.response.values'), [{ key: 'k1', flags: 9, cas: '7', value: { size: 21, content: '{"ssn":"536-22-8821"}' } }]);
  assert.equal(at(get!, 'db.response.returned_rows'), 1);
  assert.deepEqual([at(incr!, 'memcached.delta'), at(incr!, 'memcached.initial'), at(incr!, 'memcached.response.number')], ['3', '10', '13']);
  assert.deepEqual(at(stat!, 'memcached.response.stats'), { pid: '42', uptime: '9' });
  assert.deepEqual(at(sasl!, 'memcached.auth_data'), { size: 12 });
  assert.ok(!JSON.stringify(ctx.records.map((r) => r.attributes)).includes('s3cret'));
  assert.deepEqual(shape(run(session, 1).records), shape(ctx.records));
});

test('values past maxBody keep their first bytes and whole size, flagged truncated, text and binary', () => {
  const big = 'v'.repeat(5000);
  const text = run([[C, `set big 0 0 ${big.length}\r\n${big}\r\n`], [S, 'STORED\r\n'], [C, 'get big\r\n'], [S, `VALUE big 0 ${big.length}\r\n${big}\r\nEND\r\n`]], 700, { maxBody: 100 });
  for (const v of [at(text.records[0]!, 'memcached.value'), (at(text.records[1]!, 'memcached.response.values') as unknown[])[0] as { value: unknown }]) {
    const body = 'value' in (v as object) && !('size' in (v as object)) ? (v as { value: unknown }).value : v;
    assert.deepEqual(body, { size: 5000, content: 'v'.repeat(100), truncated: true });
  }
  assert.deepEqual(text.records.map((r) => r.flags), [['truncated'], ['truncated']]);
  const binary = run([[C, bin(0x80, 0x01, { key: 'big', extras: u32s(0, 0), value: big, opaque: 1 })], [S, bin(0x81, 0x01, { opaque: 1 })]], 999, { maxBody: 100 });
  assert.deepEqual(at(binary.records[0]!, 'memcached.value'), { size: 5000, content: 'v'.repeat(100), truncated: true });
});

test('the connection ends: commands waiting are unanswered; joined mid-stream: a half line skipped, answers without commands are orphans', () => {
  const ended = run([[C, 'get a\r\nget b\r\n'], [S, 'END\r\n']]);
  assert.deepEqual(ended.records.map((r) => [r.kind, at(r, 'memcached.keys'), r.flags]), [['exchange', ['a'], undefined], ['unanswered', ['b'], ['closed']]]);
  // the client's first line `ey 0 0 1` is the tail of one (no command): skipped; the answer `STORED` came
  // before `get k` was sent: not its answer
  const mid = run([[S, 'STORED\r\n'], [C, 'ey 0 0 1\r\nx\r\nget k\r\n'], [S, 'END\r\n']], Infinity, {}, { midstream: true, roleSource: 'port' });
  assert.deepEqual(mid.records.map((r) => [r.kind, at(r, 'db.operation.name') ?? null, at(r, 'memcached.response.status')]), [
    ['orphan_response', null, 'STORED'],
    ['exchange', 'x', 'END'],
    ['unanswered', 'get', undefined],
  ]);
  assert.equal(mid.counts.get('memcached.skipped_bytes'), 'ey 0 0 1\r\n'.length);
  const orphan = run([[S, 'VALUE k 0 1\r\nz\r\nEND\r\n']], Infinity, {}, { midstream: true, roleSource: 'port' });
  assert.deepEqual(orphan.records.map((r) => [r.kind, at(r, 'memcached.response.values')]), [['orphan_response', [{ key: 'k', flags: 0, value: { size: 1, content: 'z' } }]]]);
  // a gap: what was in progress is dropped, the next line read
  const c = fakeContext();
  const p = new MemcachedParser(c);
  p.data(C, Buffer.from('set k 0 0 10\r\n01234'), 1n);
  p.gap(C, 5, 2n);
  p.data(C, Buffer.from('\r\nget k\r\n'), 3n);
  p.data(S, Buffer.from('END\r\n'), 4n);
  p.close('fin', 5n);
  assert.deepEqual(c.records.map((r) => [r.kind, at(r, 'db.query.text')]), [['exchange', 'get k']]);
  assert.equal(c.counts.get('memcached.gaps'), 1);
});

test('detection: text and binary commands, answers; Redis keeps its inline GET and SET, memcached its grammar and its port', () => {
  const d = (s: string | Buffer) => memcachedModule.detect(Buffer.isBuffer(s) ? s : Buffer.from(s), 0);
  const r = (s: string) => redisModule.detect(Buffer.from(s), 0);
  assert.deepEqual(d('set k 0 0 5\r\nhello\r\n'), { sender: 'client', confidence: 0.8 });
  assert.deepEqual(d('get a b\r\n'), { sender: 'client', confidence: 0.8 });
  assert.deepEqual(d('mg key v\r\n'), { sender: 'client', confidence: 0.8 });
  assert.deepEqual(d('stats\r\n'), { sender: 'client', confidence: 0.8 });
  assert.deepEqual(d(bin(0x80, 0x00, { key: 'k' })), { sender: 'client', confidence: 0.9 });
  assert.equal(d(bin(0x80, 0x00, { key: 'k' }).subarray(0, 10)), 'more');
  assert.deepEqual(d('VALUE k 0 1\r\nz\r\nEND\r\n'), { sender: 'server', confidence: 0.5 });
  assert.equal(d('GET / HTTP/1.1\r\nHost: h\r\n\r\n'), null);
  assert.equal(d('*1\r\n$4\r\nPING\r\n'), null);
  assert.equal(d('set k'), 'more');
  // a lone `get k` is both: both wait for the answer, which tells them apart; past 512 bytes Redis (tried first) takes it
  assert.equal(r('get k\r\n'), 'more');
  assert.equal(d('get k\r\n'), 'more');
  const many = 'get k\r\n'.repeat(80);
  assert.deepEqual(r(many), { sender: 'client', confidence: 0.6 });
  assert.deepEqual(d(many), { sender: 'client', confidence: 0.5 });
  assert.deepEqual(r('GET k\r\n'), { sender: 'client', confidence: 0.6 }, 'memcached commands are lower case');
  assert.deepEqual(memcachedModule.detect(Buffer.from('END\r\n'), 1), { sender: 'server', confidence: 0.5 });
  assert.equal(redisModule.detect(Buffer.from('END\r\n'), 1), null);
  // memcached's grammar is not Redis's
  for (const line of ['set k 0 0 5\r\nhello\r\n', 'get a b\r\n', 'incr ctr 5\r\n', 'touch k 10\r\n']) assert.equal(r(line), null, line);
  assert.deepEqual(r('set k v\r\n'), { sender: 'client', confidence: 0.6 });
});

test('through the pipeline on a port no module names: text and binary connections found by content, events valid against the schema', () => {
  const conv = (port: number, sides: Side[]) => {
    const c = new Conversation({ addr: '10.0.0.2', port }, { addr: '10.0.0.3', port: 40000 + (port % 1000) }).handshake();
    for (const [side, b] of sides) c.send(side, Buffer.isBuffer(b) ? b : Buffer.from(b));
    c.close();
    return c.frames;
  };
  const frames = [
    ...conv(51000, textSession.slice(0, 24)),
    ...conv(51001, [[C, bin(0x80, 0x01, { key: 'k', extras: u32s(0, 0), value: 'v', opaque: 1 })], [S, bin(0x81, 0x01, { opaque: 1 })]]),
  ].sort((a, b) => (a.tsNs < b.tsNs ? -1 : 1));
  const { events, stats } = parseCaptureSync(pcapng(frames));
  assertValidEvents(events);
  assert.equal(stats.protocols['dispatch.memcached_connections'], 2);
  // the text session's first 24 sends: 12 answered commands, the noreply set, `bogus` unanswered; the binary set
  assert.equal(events.filter((e) => e.pano.protocol === 'memcached').length, 14);
});

test('random damage never throws, and what is read stays within the schema', () => {
  const { client, server } = sidesOf(textSession);
  damagedSessionsStayValid((ctx) => new MemcachedParser(ctx), client, server, 'memcached', { seed: 99, maxPiece: 30 });
});

test('a lone get on a port no module names: the answer tells memcached from Redis', () => {
  const capture = (answer: string) => {
    const c = new Conversation({ addr: '10.0.0.2', port: 52000 }, { addr: '10.0.0.3', port: 52001 }).handshake();
    c.send(C, 'get k\r\n').send(S, answer).close();
    return parseCaptureSync(pcapng(c.frames)).events.map((e) => e.pano.protocol);
  };
  assert.deepEqual(capture('VALUE k 0 1\r\nz\r\nEND\r\n'), ['memcached']);
  assert.deepEqual(capture('END\r\n'), ['memcached']);
  assert.deepEqual(capture('$1\r\nz\r\n'), ['redis']);
  assert.deepEqual(capture('$-1\r\n'), ['redis']);
});
