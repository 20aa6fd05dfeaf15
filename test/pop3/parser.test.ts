// POP3 parser on hand-written sessions (RFC 1939 with RFC 2449 CAPA, PIPELINING
// and extended response codes, RFC 5034 AUTH with RFC 4616 PLAIN, RFC 2595
// STLS; RFC 5322 messages dot-stuffed on RETR): fed whole and in 1-byte
// pieces, with gaps, refusals and closes; detection beside Redis's "+OK" and
// FTP's USER.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fakeContext, recordAsEvent } from '../helpers/fake-parser-context.js';
import { C, S, at, shape, runSession, sidesOf, damagedSessionsStayValid, resumedInside, type RunOptions, type Side } from '../helpers/parser-session.js';
import { Conversation, pcapng } from '../helpers/synth.js';
import { assertValidEvents, parseCaptureSync } from '../helpers/parse.js';
import { validateEvent } from '@panopticon/events';
import { Pop3Parser } from '../../packages/protocols/src/pop3/parser.js';
import { detectPop3 } from '../../packages/protocols/src/pop3/index.js';
import { detectRedis } from '../../packages/protocols/src/redis/index.js';


const run = (sides: Side[], step = Infinity, opts: RunOptions['options'] = {}, conn: RunOptions['conn'] = {}, close = true) =>
  runSession((ctx) => new Pop3Parser(ctx), sides, { step, options: opts, conn, close });
const b64 = (s: string) => Buffer.from(s).toString('base64');

const MESSAGE = [
  'From: =?UTF-8?B?Wm/DqyBCYXJ0?= <zoe@example.com>',
  'To: Bob <bob@example.org>',
  'Subject: Lunch',
  '',
  'Hi Bob,',
  '.this line began with a dot',
  'call me: +1 415 555 2671',
  '',
].join('\r\n');
/** MESSAGE as RETR sends it: every line that starts with "." gets another. */
const STUFFED = MESSAGE.replace(/^\./gm, '..');

const session: Side[] = [
  [S, '+OK Dovecot ready. <1896.697170952@mail.example.org>\r\n'],
  [C, 'CAPA\r\n'],
  [S, '+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nSTLS\r\nUSER\r\nSASL PLAIN LOGIN\r\n.\r\n'],
  [C, 'USER bob\r\n'],
  [S, '+OK\r\n'],
  [C, 'PASS hunter2\r\n'],
  [S, '+OK Logged in.\r\n'],
  // pipelined: STAT, LIST, UIDL and LIST 2 in one segment, their answers in another
  [C, 'STAT\r\nLIST\r\nUIDL\r\nLIST 2\r\n'],
  [S, `+OK 2 ${MESSAGE.length + 120}\r\n+OK 2 messages:\r\n1 ${MESSAGE.length}\r\n2 120\r\n.\r\n+OK\r\n1 000000017a3f\r\n2 000000027a3f\r\n.\r\n+OK 2 120\r\n`],
  [C, 'RETR 1\r\n'],
  [S, `+OK ${MESSAGE.length} octets\r\n${STUFFED}.\r\n`],
  [C, 'TOP 2 0\r\n'],
  [S, '+OK\r\nFrom: Carol <carol@example.net>\r\nSubject: Re: Lunch\r\n\r\n.\r\n'],
  [C, 'DELE 1\r\n'],
  [S, '+OK Marked to be deleted.\r\n'],
  [C, 'RETR 1\r\n'],
  [S, '-ERR Message is deleted.\r\n'],
  [C, 'QUIT\r\n'],
  [S, '+OK Logging out, messages deleted.\r\n'],
];

test('a session: the greeting, CAPA, USER/PASS, pipelined STAT/LIST/UIDL, RETR with its message, TOP, DELE, a refusal, QUIT', () => {
  const ctx = run(session);
  assert.deepEqual(ctx.records.map((r) => [r.kind, at(r, 'pop3.command') ?? null, at(r, 'pop3.response.status')]), [
    ['message', null, '+OK'],
    ['exchange', 'CAPA', '+OK'],
    ['exchange', 'USER', '+OK'],
    ['exchange', 'PASS', '+OK'],
    ['exchange', 'STAT', '+OK'],
    ['exchange', 'LIST', '+OK'],
    ['exchange', 'UIDL', '+OK'],
    ['exchange', 'LIST', '+OK'],
    ['exchange', 'RETR', '+OK'],
    ['exchange', 'TOP', '+OK'],
    ['exchange', 'DELE', '+OK'],
    ['exchange', 'RETR', '-ERR'],
    ['exchange', 'QUIT', '+OK'],
  ]);
  const [greeting, capa, user, pass, stat, list, uidl, list2, retr, top, dele, refused] = ctx.records;
  assert.deepEqual(greeting!.attributes.pop3, { greeting: true, response: { status: '+OK', text: 'Dovecot ready. <1896.697170952@mail.example.org>' } });
  assert.deepEqual(at(capa!, 'pop3.capabilities'), ['CAPA', 'TOP', 'UIDL', 'RESP-CODES', 'PIPELINING', 'STLS', 'USER', 'SASL PLAIN LOGIN']);
  assert.deepEqual(user!.attributes.pop3, { command: 'USER', arguments: 'bob', username: 'bob', response: { status: '+OK', text: '' } });
  // the password is nowhere in the event
  assert.deepEqual(pass!.attributes.pop3, { command: 'PASS', response: { status: '+OK', text: 'Logged in.' } });
  assert.doesNotMatch(JSON.stringify(ctx.records.map((r) => r.attributes)), /hunter2/);
  assert.deepEqual(at(stat!, 'pop3.maildrop'), { messages: 2, size: MESSAGE.length + 120 });
  assert.deepEqual(at(list!, 'pop3.listing'), [{ number: 1, size: MESSAGE.length }, { number: 2, size: 120 }]);
  assert.equal(at(list!, 'pop3.response.text'), '2 messages:');
  assert.deepEqual(at(uidl!, 'pop3.listing'), [{ number: 1, uid: '000000017a3f' }, { number: 2, uid: '000000027a3f' }]);
  assert.deepEqual(at(list2!, 'pop3.listing'), [{ number: 2, size: 120 }]);
  assert.equal(at(list2!, 'pop3.message_number'), 2);
  // the message, unstuffed: its size is RFC 1939's octet count of the message, not of the stuffed lines
  assert.equal(at(retr!, 'pop3.message_number'), 1);
  const m = at(retr!, 'pop3.message') as { size: number; headers: Record<string, string[]>; body: { content: string } };
  assert.equal(m.size, MESSAGE.length);
  assert.deepEqual(m.headers, { from: ['Zoë Bart <zoe@example.com>'], to: ['Bob <bob@example.org>'], subject: ['Lunch'] });
  assert.equal(m.body.content, 'Hi Bob,\r\n.this line began with a dot\r\ncall me: +1 415 555 2671\r\n');
  assert.equal(retr!.responseBytes, `+OK ${MESSAGE.length} octets\r\n`.length + MESSAGE.length + 3);
  assert.deepEqual((at(top!, 'pop3.message') as { headers: unknown }).headers, { from: ['Carol <carol@example.net>'], subject: ['Re: Lunch'] });
  assert.equal(at(dele!, 'pop3.message_number'), 1);
  assert.deepEqual(at(refused!, 'pop3.response'), { status: '-ERR', text: 'Message is deleted.' });
  assert.deepEqual(at(refused!, 'error.type'), 'ERR');
  assert.equal(at(refused!, 'pop3.message'), undefined);
  for (const r of ctx.records) assert.deepEqual(r.attributes.network, { protocol: { name: 'pop3' } });
  // every record is a valid event
  for (const r of ctx.records) assert.deepEqual(validateEvent(recordAsEvent(r, 'pop3')), [], JSON.stringify(r.attributes));
});

test('fed one byte at a time, the session gives the same records', () => {
  assert.deepEqual(shape(run(session, 1).records), shape(run(session).records));
  assert.deepEqual(shape(run(session, 7).records), shape(run(session).records));
});

test('AUTH PLAIN with an initial response and LOGIN through challenges read the user name only; "*" cancels', () => {
  const ctx = run([
    [S, '+OK ready\r\n'],
    [C, `AUTH PLAIN ${b64('\0eve\0s3cret-pw')}\r\n`],
    [S, '+OK Logged in.\r\n'],
    [C, 'AUTH LOGIN\r\n'],
    [S, `+ ${b64('Username:')}\r\n`],
    [C, `${b64('mallory')}\r\n`],
    [S, `+ ${b64('Password:')}\r\n`],
    [C, `${b64('wrong-pw')}\r\n`],
    [S, '-ERR [AUTH] Authentication failed.\r\n'],
    [C, 'AUTH PLAIN\r\n'],
    [S, '+ \r\n'],
    [C, '*\r\n'],
    [S, '-ERR Authentication aborted by client.\r\n'],
    [C, 'AUTH\r\n'],
    [S, '+OK\r\nPLAIN\r\nLOGIN\r\n.\r\n'],
  ]);
  const [, plain, login, cancelled, list] = ctx.records;
  assert.deepEqual(plain!.attributes.pop3, { command: 'AUTH', arguments: 'PLAIN', username: 'eve', auth: { mechanism: 'PLAIN', username: 'eve', steps: 0 }, response: { status: '+OK', text: 'Logged in.' } });
  assert.deepEqual(login!.attributes.pop3, { command: 'AUTH', arguments: 'LOGIN', username: 'mallory', auth: { mechanism: 'LOGIN', username: 'mallory', steps: 2 }, response: { status: '-ERR', text: '[AUTH] Authentication failed.', code: 'AUTH' } });
  assert.deepEqual(login!.attributes.error, { type: 'AUTH' });
  assert.equal(login!.responseBytes, `+ ${b64('Username:')}\r\n+ ${b64('Password:')}\r\n-ERR [AUTH] Authentication failed.\r\n`.length);
  assert.deepEqual(cancelled!.attributes.pop3, { command: 'AUTH', arguments: 'PLAIN', auth: { mechanism: 'PLAIN', steps: 1 }, response: { status: '-ERR', text: 'Authentication aborted by client.' } });
  assert.deepEqual(at(list!, 'pop3.capabilities'), ['PLAIN', 'LOGIN']);
  assert.doesNotMatch(JSON.stringify(ctx.records.map((r) => r.attributes)), /s3cret|wrong-pw|d3JvbmctcHc/);
});

test('APOP keeps the name, not the digest; extended response codes become error.type', () => {
  const ctx = run([
    [S, '+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n'],
    [C, 'APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n'],
    [S, '-ERR [IN-USE] Do you have another POP session running?\r\n'],
    [C, 'APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n'],
    [S, '-ERR [SYS/TEMP] try again\r\n'],
  ]);
  const [, inUse, temp] = ctx.records;
  assert.deepEqual(at(inUse!, 'pop3.arguments'), 'mrose');
  assert.deepEqual(at(inUse!, 'pop3.username'), 'mrose');
  assert.deepEqual(at(inUse!, 'pop3.response.code'), 'IN-USE');
  assert.deepEqual(inUse!.attributes.error, { type: 'IN-USE' });
  assert.deepEqual(temp!.attributes.error, { type: 'SYS/TEMP' });
  assert.doesNotMatch(JSON.stringify(ctx.records.map((r) => r.attributes)), /c4c9334b/);
});

test('STLS answered +OK hands the connection to TLS with a POP3 parser that expects no greeting', () => {
  const ctx = fakeContext();
  const p = new Pop3Parser(ctx);
  p.data(S, Buffer.from('+OK ready\r\n'), 1n);
  p.data(C, Buffer.from('STLS\r\n'), 2n);
  p.data(S, Buffer.from('+OK Begin TLS negotiation now.\r\n'), 3n);
  assert.deepEqual(ctx.handoffs.map((h) => h.protocol), ['tls']);
  // inside TLS the client's first command is answered, not taken for a greeting
  const { inner, parser: q } = resumedInside(ctx, 'pop3');
  q.data(C, Buffer.from('USER bob\r\n'), 4n);
  q.data(S, Buffer.from('+OK\r\n'), 5n);
  assert.deepEqual(inner.records.map((r) => [r.kind, at(r, 'pop3.command')]), [['exchange', 'USER']]);
});

test('a gap inside RETR keeps what came before it, flagged, and the next response pairs with the next command', () => {
  const ctx = fakeContext();
  const p = new Pop3Parser(ctx);
  p.data(S, Buffer.from('+OK ready\r\n'), 1n);
  p.data(C, Buffer.from('RETR 1\r\nNOOP\r\n'), 2n);
  p.data(S, Buffer.from('+OK\r\nSubject: hi\r\n\r\nfirst line\r\n'), 3n);
  p.gap(S, 500, 4n);
  p.data(S, Buffer.from('lost line\r\nmore\r\n.\r\n+OK\r\n'), 5n);
  p.close('fin', 6n);
  const [, retr, noop] = ctx.records;
  assert.deepEqual(retr!.flags, ['gap']);
  const m = at(retr!, 'pop3.message') as { headers: unknown; body: { content: string } };
  assert.deepEqual(m.headers, { subject: ['hi'] });
  assert.equal(m.body.content, 'first line\r\n');
  assert.equal(at(noop!, 'pop3.command'), 'NOOP');
  assert.equal(ctx.counts.get('pop3.gaps'), 1);
});

test('a connection closed inside RETR reports the message so far; unanswered commands are flagged, QUIT is a message', () => {
  const ctx = run([
    [S, '+OK ready\r\n'],
    [C, 'RETR 1\r\n'],
    [S, '+OK\r\nSubject: cut\r\n\r\npart of the body\r\n'],
  ]);
  const [, retr] = ctx.records;
  assert.deepEqual(retr!.flags, ['response_incomplete', 'closed']);
  assert.equal((at(retr!, 'pop3.message') as { body: { content: string } }).body.content, 'part of the body\r\n');
  const ctx2 = run([
    [S, '+OK ready\r\n'],
    [C, 'STAT\r\nQUIT\r\n'],
  ]);
  assert.deepEqual(ctx2.records.map((r) => [r.kind, at(r, 'pop3.command'), r.flags]), [
    ['message', undefined, undefined],
    ['unanswered', 'STAT', ['closed']],
    ['message', 'QUIT', ['closed']],
  ]);
});

test('a message longer than maxBody is cut and flagged; a listing past 1000 entries is cut and counted', () => {
  const body = 'x'.repeat(70) + '\r\n';
  const ctx = run([
    [S, '+OK ready\r\n'],
    [C, 'RETR 1\r\n'],
    [S, `+OK\r\nSubject: big\r\n\r\n${body.repeat(100)}.\r\n`],
    [C, 'LIST\r\n'],
    [S, `+OK\r\n${Array.from({ length: 1200 }, (_, i) => `${i + 1} 100\r\n`).join('')}.\r\n`],
  ], Infinity, { maxBody: 1000 });
  const [, retr, list] = ctx.records;
  assert.deepEqual(retr!.flags, ['truncated']);
  const m = at(retr!, 'pop3.message') as { size: number; body: { size: number; truncated: boolean } };
  assert.equal(m.size, 'Subject: big\r\n\r\n'.length + body.length * 100);
  assert.equal(m.body.truncated, true);
  assert.equal((at(list!, 'pop3.listing') as unknown[]).length, 1000);
  assert.deepEqual(list!.flags, ['truncated']);
  assert.equal(ctx.counts.get('pop3.listing_dropped'), 200);
});

test('joined mid-session: the first line of each side may be a piece and is skipped; responses before a command seen are orphans, lines inside a message are counted', () => {
  const ctx = run([
    [S, 'the middle of a message\r\nits last line\r\n.\r\n+OK 3 300\r\n'],
    [C, 'AT\r\nSTAT\r\n'],
    [S, '+OK 3 300\r\n'],
  ], Infinity, {}, { midstream: true });
  assert.deepEqual(ctx.records.map((r) => [r.kind, at(r, 'pop3.command') ?? null]), [['orphan_response', null], ['exchange', 'STAT']]);
  assert.equal(ctx.counts.get('pop3.malformed_responses'), 2);
});

test('detection: a +OK greeting with text, client commands only POP3 sends; not Redis replies, not FTP USER', () => {
  const d = (s: string) => detectPop3(Buffer.from(s), 0);
  assert.deepEqual(d('+OK Dovecot (Debian) ready.\r\n'), { sender: 'server', confidence: 0.8 });
  assert.deepEqual(d('+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n'), { sender: 'server', confidence: 0.8 });
  assert.equal(d('+OK Dovec'), 'more');
  assert.equal(d('+'), 'more');
  // Redis: a bare +OK, other simple strings, errors
  assert.equal(d('+OK\r\n'), null);
  assert.equal(d('+PONG\r\n'), null);
  assert.equal(d('-ERR unknown command\r\n'), null);
  for (const c of ['CAPA\r\n', 'STLS\r\n', 'UIDL\r\n', 'RETR 12\r\n', 'TOP 3 10\r\n', 'APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n']) assert.deepEqual(d(c), { sender: 'client', confidence: 0.7 }, c);
  // FTP and Redis commands are not POP3's
  for (const c of ['USER anonymous\r\n', 'STAT\r\n', 'RETR file.txt\r\n', 'LIST\r\n', 'AUTH TLS\r\n']) assert.equal(d(c), null, c);
  // and Redis does not take a POP3 greeting
  assert.equal(detectRedis(Buffer.from('+OK Dovecot ready.\r\n'), 1), null);
});

test('through pano-parse: a captured session on port 110 and on another port is POP3, with valid events', () => {
  for (const port of [110, 2110]) {
    const conv = new Conversation({ addr: '10.0.0.1', port: 51000 }, { addr: '10.0.0.2', port }).handshake();
    for (const [side, s] of session) conv.send(side, Buffer.from(s));
    conv.close();
    const { events, stats } = parseCaptureSync(pcapng(conv.frames));
    assertValidEvents(events);
    const pop3 = events.filter((e) => e.pano.protocol === 'pop3');
    assert.equal(pop3.length, 13, `port ${port}`);
    assert.equal((pop3[8] as unknown as { pop3: { message: { headers: { subject: string[] } } } }).pop3.message.headers.subject[0], 'Lunch');
    assert.equal(stats.protocols['pop3.malformed'] ?? 0, 0);
  }
});

test('random damage never throws, and what is read stays within the schema', () => {
  const { client, server } = sidesOf(session);
  // the client's lines go first (pipelined), so that responses find their commands whatever the damage
  damagedSessionsStayValid((ctx) => new Pop3Parser(ctx), client, server, 'pop3', { seed: 11, maxPiece: 40, check: (ctx) => assert.ok(ctx.records.length > 0) });
});
