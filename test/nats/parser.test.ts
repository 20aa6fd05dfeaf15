// NATS parser on hand-written sessions (the client protocol as docs.nats.io
// "Client Protocol" writes it: INFO, CONNECT, PUB/HPUB, SUB/UNSUB, MSG/HMSG,
// PING/PONG, +OK/-ERR, NATS/1.0 header blocks): fed whole and in 1-byte
// pieces, with gaps, refusals, requests and replies, limits, damage and
// mid-stream joins; detection beside Redis's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { recordAsEvent } from '../helpers/fake-parser-context.js';
import { C, S, at, runSession, sidesOf, damagedSessionsStayValid, resumedInside, type RunOptions, type Side } from '../helpers/parser-session.js';
import { assertValidEvents } from '../helpers/parse.js';
import { NatsParser } from '../../packages/protocols/src/nats/parser.js';
import { detectNats } from '../../packages/protocols/src/nats/index.js';
import { detectRedis } from '../../packages/protocols/src/redis/index.js';

const run = (sides: Side[], step = Infinity, opts: RunOptions['options'] = {}, conn: RunOptions['conn'] = {}) =>
  runSession((ctx) => new NatsParser(ctx), sides, { step, options: opts, conn });

const INFO = 'INFO {"server_id":"NAUDLC","server_name":"n1","version":"2.9.10","proto":1,"go":"go1.19.8","host":"0.0.0.0","port":4222,"headers":true,"auth_required":true,"max_payload":1048576,"client_id":7,"client_ip":"10.0.0.1","nonce":"abcdef"}\r\n';
const CONNECT = 'CONNECT {"verbose":false,"pedantic":false,"lang":"nats.js","version":"2.29.3","protocol":1,"name":"crm-worker","user":"ann","pass":"s3cret","headers":true,"no_responders":true}\r\n';
/** The header block of an HPUB: 2 fields, one repeated. */
const HDR = 'NATS/1.0\r\nTrace-Id: abc\r\nTag: a\r\nTag: b\r\n\r\n';
const BODY = '{"name":"Ann Lee"}';

const session: Side[] = [
  [S, INFO],
  [C, `${CONNECT}PING\r\n`],
  [S, 'PONG\r\n'],
  [C, 'SUB crm.customers.*.phone 1\r\nSUB users.lookup workers 2\r\n'],
  [C, 'PUB crm.customers.42.phone 15\r\n+1 415 555 0100\r\n'],
  [C, `HPUB events.signup ${HDR.length} ${HDR.length + BODY.length}\r\n${HDR}${BODY}\r\n`],
  [S, 'MSG crm.customers.42.phone 1 15\r\n+1 415 555 0100\r\n'],
  // a request delivered to this connection as a responder, and its reply
  [S, 'MSG users.lookup 2 _INBOX.r.1 2\r\n42\r\n'],
  [C, 'PUB _INBOX.r.1 27\r\n{"email":"ann@example.org"}\r\n'],
  // a request this connection makes, answered; another answered by no one
  [C, 'SUB _INBOX.q.* 3\r\nPUB users.lookup _INBOX.q.1 2\r\n43\r\n'],
  [S, 'MSG _INBOX.q.1 3 2\r\nok\r\n'],
  [C, 'PUB nobody.here _INBOX.q.2 1\r\nx\r\n'],
  [S, 'HMSG _INBOX.q.2 3 16 16\r\nNATS/1.0 503\r\n\r\n\r\n'],
  [C, 'PING\r\n'],
  [S, 'PONG\r\n'],
  [C, 'UNSUB 3\r\nUNSUB 1 5\r\n'],
];

test('a session: INFO, CONNECT answered by the PONG to its PING, SUB with and without a queue group, PUB, HPUB, deliveries, requests and replies both ways, no responders, UNSUB', () => {
  for (const step of [Infinity, 1]) {
    const ctx = run(session, step);
    assert.deepEqual(
      ctx.records.map((r) => [r.kind, at(r, 'nats.operation'), at(r, 'messaging.destination.name') ?? null, at(r, 'nats.response.operation') ?? null]),
      [
        ['message', 'INFO', null, null],
        ['exchange', 'CONNECT', null, 'PONG'],
        ['message', 'SUB', 'crm.customers.*.phone', null],
        ['message', 'SUB', 'users.lookup', null],
        ['message', 'PUB', 'crm.customers.42.phone', null],
        ['message', 'HPUB', 'events.signup', null],
        ['message', 'MSG', 'crm.customers.42.phone', null],
        ['exchange', 'MSG', 'users.lookup', 'PUB'],
        ['message', 'SUB', '_INBOX.q.*', null],
        ['exchange', 'PUB', 'users.lookup', 'MSG'],
        ['exchange', 'PUB', 'nobody.here', 'HMSG'],
        ['message', 'UNSUB', '_INBOX.q.*', null],
        ['message', 'UNSUB', 'crm.customers.*.phone', null],
      ],
      `step ${step}`,
    );
    assert.equal(ctx.counts.get('nats.pings'), 2);
    assert.equal(ctx.counts.get('nats.pongs'), 1, 'the PONG answering CONNECT is its response, the later one is counted');
    assert.equal(ctx.counts.get('nats.malformed'), undefined);
    for (const r of ctx.records) assertValidEvents([recordAsEvent(r, 'nats')]);
    const [info, connect, , queued, pub, hpub, msg, served, , asked, nobody, unsub, unsubMax] = ctx.records as Array<(typeof ctx.records)[number]>;
    // INFO: its fields without the nonce; the client id on every event after it
    assert.equal(at(info!, 'nats.info.server_id'), 'NAUDLC');
    assert.equal(at(info!, 'nats.info.max_payload'), 1048576);
    assert.equal(at(info!, 'nats.info.nonce'), undefined);
    assert.equal(at(info!, 'messaging.client.id'), '7');
    assert.equal(at(unsub!, 'messaging.client.id'), '7');
    // CONNECT: the password by size only
    assert.deepEqual(at(connect!, 'nats.connect.pass'), { size: 6 });
    assert.equal(at(connect!, 'nats.connect.user'), 'ann');
    assert.equal(at(connect!, 'nats.connect.name'), 'crm-worker');
    assert.ok(!JSON.stringify(ctx.records.map((r) => r.attributes)).includes('s3cret'));
    assert.equal(connect!.requestBytes, CONNECT.length);
    assert.equal(connect!.responseBytes, 6);
    assert.deepEqual(at(queued!, 'messaging.consumer.group.name'), 'workers');
    assert.deepEqual(at(queued!, 'nats.sid'), '2');
    // PUB: the payload as the message body; bytes: line, payload, CRLF
    assert.deepEqual(at(pub!, 'messaging.message.body'), { size: 15, content: '+1 415 555 0100' });
    assert.deepEqual(at(pub!, 'messaging.operation'), { name: 'publish', type: 'send' });
    assert.equal(pub!.requestBytes, 'PUB crm.customers.42.phone 15\r\n'.length + 17);
    // HPUB: the header block is headers, not body
    assert.deepEqual(at(hpub!, 'nats.headers'), { 'Trace-Id': ['abc'], Tag: ['a', 'b'] });
    assert.deepEqual(at(hpub!, 'messaging.message.body'), { size: BODY.length, content: BODY });
    // MSG: its subscription by sid
    assert.deepEqual(at(msg!, 'nats.subscription'), { subject: 'crm.customers.*.phone' });
    assert.deepEqual(at(msg!, 'messaging.operation'), { name: 'receive', type: 'receive' });
    // a responder: the delivered request and the reply it published
    assert.deepEqual(at(served!, 'messaging.consumer.group.name'), 'workers');
    assert.equal(at(served!, 'nats.reply_to'), '_INBOX.r.1');
    assert.deepEqual(at(served!, 'nats.response.body'), { size: 27, content: '{"email":"ann@example.org"}' });
    assert.equal(at(served!, 'nats.response.subject'), '_INBOX.r.1');
    // a requester: its publish and the delivery answering it
    assert.deepEqual(at(asked!, 'messaging.message.body'), { size: 2, content: '43' });
    assert.deepEqual(at(asked!, 'nats.response.body'), { size: 2, content: 'ok' });
    assert.equal(at(asked!, 'nats.response.sid'), '3');
    assert.equal(at(asked!, 'error'), undefined);
    assert.equal(at(nobody!, 'nats.response.status'), 503);
    assert.deepEqual(at(nobody!, 'error'), { type: 'no_responders' });
    // UNSUB with a maximum keeps the subscription (and says so)
    assert.equal(at(unsubMax!, 'nats.max_msgs'), 5);
  }
});

test('CONNECT refused: -ERR answers it with its class; without verbose or PING nothing answers it; verbose +OK answers it and later +OKs are counted', () => {
  const refused = run([[S, INFO], [C, `${CONNECT}PING\r\n`], [S, "-ERR 'Authorization Violation'\r\n"]]);
  assert.deepEqual(refused.records.map((r) => [r.kind, at(r, 'nats.operation'), at(r, 'nats.response.operation') ?? null, at(r, 'nats.response.error') ?? null, at(r, 'error.type') ?? null]), [
    ['message', 'INFO', null, null, null],
    ['exchange', 'CONNECT', '-ERR', 'Authorization Violation', 'authorization_violation'],
  ]);
  const silent = run([[S, INFO], [C, CONNECT.replace('"name"', '"echo":true,"name"')], [C, 'PUB a 1\r\nx\r\n']]);
  assert.deepEqual(silent.records.map((r) => [r.kind, at(r, 'nats.operation')]), [['message', 'INFO'], ['message', 'PUB'], ['message', 'CONNECT']]);
  assert.equal(at(silent.records[2]!, 'nats.connect.echo'), true);
  const verbose = run([[S, INFO], [C, CONNECT.replace('"verbose":false', '"verbose":true')], [S, '+OK\r\n'], [C, 'SUB a 1\r\nPUB a 1\r\nx\r\n'], [S, '+OK\r\n+OK\r\n']]);
  assert.deepEqual(verbose.records.map((r) => [r.kind, at(r, 'nats.operation'), at(r, 'nats.response.operation') ?? null]), [
    ['message', 'INFO', null],
    ['exchange', 'CONNECT', '+OK'],
    ['message', 'SUB', null],
    ['message', 'PUB', null],
  ]);
  assert.equal(verbose.counts.get('nats.oks'), 2);
  // verbose, answered by nothing before the end: unanswered
  const cut = run([[S, INFO], [C, CONNECT.replace('"verbose":false', '"verbose":true')]]);
  assert.deepEqual(cut.records.map((r) => [r.kind, r.flags ?? []]), [['message', []], ['unanswered', ['closed']]]);
});

test('-ERR outside CONNECT: an event of its own, classed; texts not known are "error"', () => {
  const ctx = run([
    [S, INFO],
    [C, `${CONNECT}PING\r\n`],
    [S, 'PONG\r\n'],
    [C, 'PUB secret.x 1\r\nx\r\n'],
    [S, "-ERR 'Permissions Violation for Publish to \"secret.x\"'\r\n-ERR 'Slow Consumer'\r\n-ERR 'something new'\r\n"],
  ]);
  const errs = ctx.records.filter((r) => at(r, 'nats.operation') === '-ERR');
  assert.deepEqual(errs.map((r) => [r.kind, at(r, 'nats.error'), at(r, 'error.type'), at(r, 'messaging.operation.name')]), [
    ['message', 'Permissions Violation for Publish to "secret.x"', 'permissions_violation', 'error'],
    ['message', 'Slow Consumer', 'slow_consumer', 'error'],
    ['message', 'something new', 'error', 'error'],
  ]);
});

test('requests left waiting: a publish is unanswered at the end, a delivery is a message; past maxPending the oldest goes (a publish flagged evicted)', () => {
  const ctx = run([[C, 'PUB a _INBOX.1 1\r\nx\r\n'], [S, 'MSG b 1 _JS.ACK.1 1\r\ny\r\n']]);
  assert.deepEqual(ctx.records.map((r) => [r.kind, at(r, 'nats.operation'), r.flags ?? []]), [
    ['unanswered', 'PUB', ['closed']],
    ['message', 'MSG', []],
  ]);
  const many = run([[C, 'PUB a _INBOX.1 1\r\nx\r\nPUB a _INBOX.2 1\r\nx\r\nPUB a _INBOX.3 1\r\nx\r\n'], [S, 'MSG _INBOX.3 1 1\r\nz\r\n']], Infinity, { maxPending: 2 });
  assert.deepEqual(many.records.map((r) => [r.kind, at(r, 'nats.reply_to'), r.flags ?? []]), [
    ['unanswered', '_INBOX.1', ['evicted']],
    ['exchange', '_INBOX.3', []],
    ['unanswered', '_INBOX.2', ['closed']],
  ]);
  assert.equal(many.counts.get('nats.pending_overflow'), 1);
  // a reply sent the same way as the request is no answer to it
  const same = run([[C, 'PUB a _INBOX.9 1\r\nx\r\nPUB _INBOX.9 1\r\ny\r\n']]);
  assert.deepEqual(same.records.map((r) => [r.kind, at(r, 'messaging.destination.name')]), [['message', '_INBOX.9'], ['unanswered', 'a']]);
});

test('payloads past maxBody are cut and flagged, their size whole; a header block past what is kept is counted', () => {
  const big = 'x'.repeat(5000);
  const ctx = run([[C, `PUB big 5000\r\n${big}\r\nPUB after 2\r\nok\r\n`]], 700, { maxBody: 1024 });
  assert.deepEqual(ctx.records.map((r) => [at(r, 'messaging.destination.name'), at(r, 'messaging.message.body.size'), (at(r, 'messaging.message.body.content') as string).length, r.flags ?? []]), [
    ['big', 5000, 1024, ['truncated']],
    ['after', 2, 2, []],
  ]);
  const hdr = `NATS/1.0\r\nX: ${'h'.repeat(70 * 1024)}\r\n\r\n`;
  const h = run([[C, `HPUB a ${hdr.length} ${hdr.length + 2}\r\n${hdr}ok\r\n`]], Infinity, { maxBody: 1024 });
  assert.equal(h.records.length, 1);
  assert.equal(at(h.records[0]!, 'nats.headers'), undefined);
  assert.equal(at(h.records[0]!, 'messaging.message.body.size'), 2);
  assert.equal(h.counts.get('nats.headers_unread'), 1);
});

test('damage: bad lines are counted and skipped; a gap drops the message being read; joined mid-stream, lines up to one naming an operation are skipped', () => {
  const bad = run([[C, 'PUB a notanumber\r\nSUB\r\nFOO bar\r\nPUB b 1\r\nx\r\nCONNECT {not json\r\n']]);
  assert.deepEqual(bad.records.map((r) => at(r, 'messaging.destination.name')), ['b']);
  assert.equal(bad.counts.get('nats.malformed'), 4);
  const ctx = runSession((c) => new NatsParser(c), [], { close: false });
  const p = new NatsParser(ctx);
  p.data(0, Buffer.from('PUB a 10\r\n01234'), 1n);
  p.gap(0, 100, 2n);
  p.data(0, Buffer.from('tail of something\r\nPUB b 1\r\nx\r\n'), 3n);
  p.close('fin', 4n);
  assert.deepEqual(ctx.records.map((r) => at(r, 'messaging.destination.name')), ['b']);
  assert.equal(ctx.counts.get('nats.gaps'), 1);
  const mid = run([[C, 'rest of a payload\r\nPUB c 1\r\ny\r\n'], [S, 'more\r\nMSG c 1 1\r\ny\r\n']], Infinity, {}, { midstream: true });
  assert.deepEqual(mid.records.map((r) => at(r, 'nats.operation')), ['PUB', 'MSG']);
  assert.equal(mid.counts.get('nats.skipped_bytes'), 'rest of a payload\r\n'.length + 'more\r\n'.length);
});

test('a damaged session never throws and every event stays valid', () => {
  const { client, server } = sidesOf(session);
  damagedSessionsStayValid((ctx) => new NatsParser(ctx), client, server, 'nats', { seed: 4222, maxPiece: 40, interleave: 'server', midstream: 0.2 });
});

test('detection: the server\'s INFO, a client\'s CONNECT, a message line whose payload ends where it says; Redis\'s inline INFO and PING are not NATS', () => {
  const d = (s: string) => detectNats(Buffer.from(s), 0);
  assert.deepEqual(d(INFO), { sender: 'server', confidence: 0.9 });
  assert.deepEqual(d(CONNECT), { sender: 'client', confidence: 0.9 });
  assert.equal(d('INFO {"server_'), 'more');
  assert.deepEqual(d('PUB a.b _INBOX.1 5\r\nhello\r\n'), { sender: 'client', confidence: 0.7 });
  assert.deepEqual(d('HMSG a 1 12 14\r\nNATS/1.0\r\n\r\nhi\r\n'), { sender: 'server', confidence: 0.7 });
  assert.equal(d('PUB a 5\r\nhel'), 'more');
  assert.equal(d('PUB a 2\r\nhello\r\n'), null, 'the payload does not end where the line says');
  assert.equal(d('INFO\r\n'), null);
  assert.equal(d('INFO server\r\n'), null);
  assert.equal(d('PING\r\n'), null);
  assert.equal(d('*1\r\n$4\r\nINFO\r\n'), null);
  // Redis's own detection does not take NATS's INFO line, which it sees after NATS (registered first) has
  assert.notEqual(detectRedis(Buffer.from('INFO\r\n'), 0), null, 'Redis still takes its inline INFO');
});

test('TLS: after an INFO in the clear, a client that starts a TLS handshake hands the connection to TLS with its bytes; inside, the session goes on from CONNECT with the client id INFO gave', () => {
  const hello = Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00]);
  const ctx = run([[S, INFO.replace('"headers":true', '"tls_required":true,"headers":true')], [C, hello]]);
  assert.deepEqual(ctx.records.map((r) => at(r, 'nats.operation')), ['INFO']);
  assert.equal(at(ctx.records[0]!, 'nats.info.tls_required'), true);
  const h = ctx.handoffs.find((x) => x.protocol === 'tls')!;
  assert.deepEqual(h.pending?.map((p) => [p.dir, p.bytes]), [[0, hello]]);
  assert.equal(h.init?.carried?.name, 'nats');
  const { inner, parser } = resumedInside(ctx, 'nats');
  parser.data(0, Buffer.from(`${CONNECT}PING\r\nPUB a 1\r\nx\r\n`), 10n);
  parser.data(1, Buffer.from('PONG\r\n'), 11n);
  parser.close('fin', 12n);
  assert.deepEqual(inner.records.map((r) => [r.kind, at(r, 'nats.operation'), at(r, 'messaging.client.id')]), [['message', 'PUB', '7'], ['exchange', 'CONNECT', '7']]);
  // without an INFO first (joined late, or not NATS's upgrade), a 0x16 byte is no handshake to hand over
  const late = run([[C, hello]]);
  assert.equal(late.handoffs.length, 0);
});
