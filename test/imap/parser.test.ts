// IMAP parser on hand-written sessions (RFC 9051 / RFC 3501 with LITERAL+,
// IDLE, ID, SASL-IR, STARTTLS; messages fetched and appended as literals):
// fed whole and in small pieces, with gaps, closes and damage; detection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fakeContext, recordAsEvent } from '../helpers/fake-parser-context.js';
import { C, S, at, shape, runSession, sidesOf, damagedSessionsStayValid, resumedInside, type RunOptions, type Side } from '../helpers/parser-session.js';
import { Conversation, pcapng } from '../helpers/synth.js';
import { assertValidEvents, parseCaptureSync } from '../helpers/parse.js';
import { ImapParser } from '../../packages/protocols/src/imap/parser.js';
import { detectImap } from '../../packages/protocols/src/imap/index.js';
import { mailboxName } from '../../packages/protocols/src/imap/values.js';
import type { ExchangeRecord } from '../../packages/protocols/src/types.js';


const run = (sides: Side[], step = Infinity, opts: RunOptions['options'] = {}, conn: RunOptions['conn'] = {}, close = true) =>
  runSession((ctx) => new ImapParser(ctx), sides, { step, options: opts, conn, close });
const attrsText = (records: ExchangeRecord[]) => JSON.stringify(records.map((r) => r.attributes));
const b64 = (s: string) => Buffer.from(s).toString('base64');

const MESSAGE = [
  'From: =?UTF-8?B?Wm/DqyBCYXJ0?= <zoe@example.com>',
  'To: Bob <bob@example.org>',
  'Subject: Lunch',
  '',
  'Hi Bob,',
  'call me: +1 415 555 2671',
  '',
].join('\r\n');
const HEADER = 'From: Carol <carol@example.net>\r\nSubject: Re: Lunch\r\n\r\n';
const APPENDED = 'From: bob@example.org\r\nSubject: Draft\r\n\r\nSee you at noon.\r\n';

const session: Side[] = [
  [S, '* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS AUTH=PLAIN] Dovecot (Debian) ready.\r\n'],
  [C, 'a1 ID ("name" "Thunderbird" "version" "115.3.1")\r\n'],
  [S, '* ID ("name" "Dovecot")\r\na1 OK ID completed (0.001 + 0.000 secs).\r\n'],
  [C, 'a2 LOGIN bob {7}\r\n'],
  [S, '+ OK\r\n'],
  [C, 'hunter2\r\n'],
  [S, '* CAPABILITY IMAP4rev1 SASL-IR IDLE MOVE\r\na2 OK [CAPABILITY IMAP4rev1 SASL-IR IDLE MOVE] Logged in\r\n'],
  [C, 'a3 LIST "" "*"\r\n'],
  [S, '* LIST (\\HasNoChildren) "." INBOX\r\n* LIST (\\HasNoChildren \\Sent) "." "Sent Items"\r\n* LIST (\\HasNoChildren) "." "Entw&APw-rfe"\r\na3 OK List completed (0.001 + 0.000 secs).\r\n'],
  [C, 'a4 SELECT INBOX\r\n'],
  [S, '* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted.\r\n* 2 EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY 1700000000] UIDs valid\r\n* OK [UIDNEXT 3] Predicted next UID\r\na4 OK [READ-WRITE] Select completed (0.001 + 0.000 secs).\r\n'],
  [C, 'a5 UID SEARCH FROM "zoe@example.com"\r\n'],
  [S, '* SEARCH 1 2\r\na5 OK Search completed (0.001 + 0.000 secs).\r\n'],
  [C, 'a6 FETCH 1:2 (UID FLAGS RFC822.SIZE ENVELOPE BODY.PEEK[])\r\n'],
  [S, `* 1 FETCH (UID 1 FLAGS (\\Seen) RFC822.SIZE ${MESSAGE.length} ENVELOPE ("Mon, 30 Nov 2026 01:00:00 +0000" "Lunch" (("=?UTF-8?B?Wm/DqyBCYXJ0?=" NIL "zoe" "example.com")) (("=?UTF-8?B?Wm/DqyBCYXJ0?=" NIL "zoe" "example.com")) (("=?UTF-8?B?Wm/DqyBCYXJ0?=" NIL "zoe" "example.com")) (("Bob" NIL "bob" "example.org")) NIL NIL NIL "<1@example.com>") BODY[] {${MESSAGE.length}}\r\n${MESSAGE})\r\n`],
  [S, `* 2 FETCH (UID 2 FLAGS () RFC822.SIZE 120 ENVELOPE (NIL {9}\r\nRe: Lunch ((NIL NIL "carol" "example.net")) NIL NIL NIL NIL NIL NIL NIL) BODY[HEADER] {${HEADER.length}}\r\n${HEADER})\r\na6 OK Fetch completed (0.002 + 0.000 secs).\r\n`],
  [C, `a7 APPEND Drafts (\\Draft) {${APPENDED.length}+}\r\n${APPENDED}\r\n`],
  [S, 'a7 OK [APPENDUID 1700000001 1] Append completed.\r\n'],
  [C, 'a8 STATUS INBOX (MESSAGES UNSEEN)\r\n'],
  [S, '* STATUS INBOX (MESSAGES 2 UNSEEN 1)\r\na8 OK Status completed.\r\n'],
  [C, 'a9 IDLE\r\n'],
  [S, '+ idling\r\n* 3 EXISTS\r\n'],
  [C, 'DONE\r\n'],
  [S, 'a9 OK Idle completed (0.001 + 2.000 secs).\r\n'],
  [C, 'a10 SELECT Nonexistent\r\n'],
  [S, 'a10 NO [NONEXISTENT] Mailbox doesn\'t exist: Nonexistent\r\n'],
  [C, 'a11 LOGOUT\r\n'],
  [S, '* BYE Logging out\r\na11 OK Logout completed (0.001 + 0.000 secs).\r\n'],
];

test('a session: greeting, ID, LOGIN with a literal password, LIST, SELECT, SEARCH, FETCH of a message and a header, APPEND, STATUS, IDLE, a refusal, LOGOUT', () => {
  const ctx = run(session);
  assert.deepEqual(ctx.records.map((r) => [r.kind, at(r, 'imap.tag') ?? null, at(r, 'imap.command') ?? null, at(r, 'imap.response.status')]), [
    ['message', null, null, 'OK'],
    ['exchange', 'a1', 'ID', 'OK'],
    ['exchange', 'a2', 'LOGIN', 'OK'],
    ['exchange', 'a3', 'LIST', 'OK'],
    ['exchange', 'a4', 'SELECT', 'OK'],
    ['exchange', 'a5', 'UID SEARCH', 'OK'],
    ['exchange', 'a6', 'FETCH', 'OK'],
    ['exchange', 'a7', 'APPEND', 'OK'],
    ['exchange', 'a8', 'STATUS', 'OK'],
    ['exchange', 'a9', 'IDLE', 'OK'],
    ['exchange', 'a10', 'SELECT', 'NO'],
    ['exchange', 'a11', 'LOGOUT', 'OK'],
  ]);
  const [greeting, id, login, list, select, search, fetch, append, status, idle, refused, logout] = ctx.records;
  assert.deepEqual(greeting!.attributes.imap, {
    greeting: true,
    capabilities: ['IMAP4rev1', 'SASL-IR', 'LOGIN-REFERRALS', 'ID', 'ENABLE', 'IDLE', 'LITERAL+', 'STARTTLS', 'AUTH=PLAIN'],
    response: { status: 'OK', code: 'CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS AUTH=PLAIN', text: 'Dovecot (Debian) ready.' },
  });
  assert.deepEqual(at(id!, 'imap.client_id'), { name: 'Thunderbird', version: '115.3.1' });
  assert.deepEqual(at(id!, 'imap.server_id'), { name: 'Dovecot' });
  // the password (a literal after the server's go-ahead) is nowhere
  assert.deepEqual(at(login!, 'imap.arguments'), 'bob');
  assert.deepEqual(at(login!, 'imap.username'), 'bob');
  assert.deepEqual(at(login!, 'imap.capabilities'), ['IMAP4rev1', 'SASL-IR', 'IDLE', 'MOVE']);
  assert.doesNotMatch(attrsText(ctx.records), /hunter2/);
  assert.equal(login!.requestBytes, 'a2 LOGIN bob {7}\r\nhunter2\r\n'.length);
  assert.equal(login!.responseBytes, '+ OK\r\n* CAPABILITY IMAP4rev1 SASL-IR IDLE MOVE\r\na2 OK [CAPABILITY IMAP4rev1 SASL-IR IDLE MOVE] Logged in\r\n'.length);
  assert.deepEqual(at(list!, 'imap.mailboxes'), [
    { name: 'INBOX', delimiter: '.', attributes: ['\\HasNoChildren'] },
    { name: 'Sent Items', delimiter: '.', attributes: ['\\HasNoChildren', '\\Sent'] },
    { name: 'Entwürfe', delimiter: '.', attributes: ['\\HasNoChildren'] },
  ]);
  assert.equal(at(list!, 'imap.arguments'), '"" "*"');
  const sel = select!.attributes.imap as Record<string, unknown>;
  assert.deepEqual([sel.mailbox, sel.exists, sel.recent, sel.uidvalidity, sel.uidnext], ['INBOX', 2, 0, 1700000000, 3]);
  assert.deepEqual(sel.flags, ['\\Answered', '\\Flagged', '\\Deleted', '\\Seen', '\\Draft']);
  assert.deepEqual(sel.response, { status: 'OK', code: 'READ-WRITE', text: 'Select completed (0.001 + 0.000 secs).' });
  assert.deepEqual(at(search!, 'imap.search'), { count: 2, ids: [1, 2] });
  assert.equal(at(search!, 'imap.arguments'), 'FROM "zoe@example.com"');
  const [m1, m2] = at(fetch!, 'imap.fetch') as Array<Record<string, any>>;
  assert.deepEqual([m1!.seq, m1!.uid, m1!.flags, m1!.size], [1, 1, ['\\Seen'], MESSAGE.length]);
  assert.deepEqual(m1!.envelope, { date: 'Mon, 30 Nov 2026 01:00:00 +0000', subject: 'Lunch', from: ['Zoë Bart <zoe@example.com>'], sender: ['Zoë Bart <zoe@example.com>'], reply_to: ['Zoë Bart <zoe@example.com>'], to: ['Bob <bob@example.org>'], message_id: '<1@example.com>' });
  assert.equal(m1!.message.size, MESSAGE.length);
  assert.deepEqual(m1!.message.headers, { from: ['Zoë Bart <zoe@example.com>'], to: ['Bob <bob@example.org>'], subject: ['Lunch'] });
  assert.equal(m1!.message.body.content, 'Hi Bob,\r\ncall me: +1 415 555 2671\r\n');
  // a subject sent as a literal is a string like any other; BODY[HEADER] gives the header fields alone
  assert.deepEqual(m2!.envelope, { subject: 'Re: Lunch', from: ['carol@example.net'] });
  assert.deepEqual(m2!.headers, { from: ['Carol <carol@example.net>'], subject: ['Re: Lunch'] });
  assert.equal(m2!.message, undefined);
  // APPEND with a LITERAL+ literal: the message parsed, the arguments show its size
  assert.equal(at(append!, 'imap.mailbox'), 'Drafts');
  assert.equal(at(append!, 'imap.arguments'), `Drafts (\\Draft) {${APPENDED.length}}`);
  assert.deepEqual((at(append!, 'imap.message') as { headers: unknown }).headers, { from: ['bob@example.org'], subject: ['Draft'] });
  // every byte on the wire counts, the LITERAL+ marker's '+' with the rest
  assert.equal(append!.requestBytes, `a7 APPEND Drafts (\\Draft) {${APPENDED.length}+}\r\n${APPENDED}\r\n`.length);
  assert.deepEqual(at(status!, 'imap.status'), { mailbox: 'INBOX', items: { MESSAGES: 2, UNSEEN: 1 } });
  assert.equal(at(idle!, 'imap.exists'), 3);
  assert.equal(idle!.requestBytes, 'a9 IDLE\r\nDONE\r\n'.length);
  assert.deepEqual(refused!.attributes.error, { type: 'NONEXISTENT' });
  assert.equal(at(logout!, 'imap.bye'), 'Logging out');
  for (const r of ctx.records) assert.deepEqual(r.attributes.network, { protocol: { name: 'imap' } });
  assertValidEvents(ctx.records.map((r) => recordAsEvent(r, 'imap')));
});

test('fed in pieces of 1, 7 and 100 bytes, the session gives the same records', () => {
  const whole = shape(run(session).records);
  for (const n of [1, 7, 100]) assert.deepEqual(shape(run(session, n).records), whole, `pieces of ${n}`);
});

test('AUTHENTICATE PLAIN with SASL-IR, LOGIN through challenges, a cancel: the user name only', () => {
  const ctx = run([
    [S, '* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN AUTH=LOGIN] ready\r\n'],
    [C, `a1 AUTHENTICATE PLAIN ${b64('\0eve\0s3cret-pw')}\r\n`],
    [S, 'a1 OK Logged in\r\n'],
    [C, 'a2 AUTHENTICATE LOGIN\r\n'],
    [S, `+ ${b64('Username:')}\r\n`],
    [C, `${b64('mallory')}\r\n`],
    [S, `+ ${b64('Password:')}\r\n`],
    [C, `${b64('wrong-pw')}\r\n`],
    [S, 'a2 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n'],
    [C, 'a3 AUTHENTICATE PLAIN\r\n'],
    [S, '+ \r\n'],
    [C, '*\r\n'],
    [S, 'a3 BAD Authentication aborted by client.\r\n'],
  ]);
  const [, plain, login, cancelled] = ctx.records;
  assert.deepEqual(plain!.attributes.imap, { tag: 'a1', command: 'AUTHENTICATE', arguments: 'PLAIN', username: 'eve', auth: { mechanism: 'PLAIN', username: 'eve', steps: 0 }, response: { status: 'OK', text: 'Logged in' } });
  assert.deepEqual(login!.attributes.imap, { tag: 'a2', command: 'AUTHENTICATE', arguments: 'LOGIN', username: 'mallory', auth: { mechanism: 'LOGIN', username: 'mallory', steps: 2 }, response: { status: 'NO', code: 'AUTHENTICATIONFAILED', text: 'Authentication failed.' } });
  assert.deepEqual(login!.attributes.error, { type: 'AUTHENTICATIONFAILED' });
  assert.deepEqual(at(cancelled!, 'imap.auth'), { mechanism: 'PLAIN', steps: 1 });
  assert.deepEqual(cancelled!.attributes.error, { type: 'BAD' });
  assert.doesNotMatch(attrsText(ctx.records), /s3cret|wrong-pw|d3JvbmctcHc/);
});

test('pipelined commands complete by tag, in any order; each untagged answer goes to the command that asked for it', () => {
  const ctx = run([
    [S, '* OK IMAP4rev1 ready\r\n'],
    [C, 'x1 NOOP\r\nx2 CAPABILITY\r\nx3 UID SEARCH ALL\r\nx4 UID FETCH 7 (FLAGS)\r\n'],
    [S, '* CAPABILITY IMAP4rev1\r\n* 3 FETCH (UID 7 FLAGS (\\Seen))\r\n* SEARCH 3\r\nx2 OK done\r\nx1 OK noop\r\nx4 OK fetched\r\nx3 OK searched\r\n'],
  ]);
  assert.deepEqual(ctx.records.slice(1).map((r) => [at(r, 'imap.tag'), at(r, 'imap.command')]), [['x2', 'CAPABILITY'], ['x1', 'NOOP'], ['x4', 'UID FETCH'], ['x3', 'UID SEARCH']]);
  const [, caps, noop, fetch, search] = ctx.records;
  assert.deepEqual(at(caps!, 'imap.capabilities'), ['IMAP4rev1']);
  assert.equal(at(noop!, 'imap.capabilities'), undefined);
  assert.deepEqual(at(fetch!, 'imap.fetch'), [{ seq: 3, uid: 7, flags: ['\\Seen'] }]);
  assert.deepEqual(at(search!, 'imap.search'), { count: 1, ids: [3] });
});

test('STARTTLS answered OK hands the connection to TLS with a parser that expects no greeting', () => {
  const ctx = fakeContext();
  const p = new ImapParser(ctx);
  p.data(S, Buffer.from('* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n'), 1n);
  p.data(C, Buffer.from('a1 STARTTLS\r\n'), 2n);
  p.data(S, Buffer.from('a1 OK Begin TLS negotiation now.\r\n'), 3n);
  assert.deepEqual(ctx.handoffs.map((h) => h.protocol), ['tls']);
  const { inner, parser: q } = resumedInside(ctx, 'imap');
  q.data(C, Buffer.from('a2 CAPABILITY\r\n'), 4n);
  q.data(S, Buffer.from('* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\na2 OK done\r\n'), 5n);
  assert.deepEqual(inner.records.map((r) => [r.kind, at(r, 'imap.command')]), [['exchange', 'CAPABILITY']]);
});

test('a gap inside a fetched message keeps what came before it, flagged; the session goes on', () => {
  const ctx = fakeContext();
  const p = new ImapParser(ctx);
  p.data(S, Buffer.from('* OK IMAP4rev1 ready\r\n'), 1n);
  p.data(C, Buffer.from('a1 FETCH 1 BODY[]\r\n'), 2n);
  p.data(S, Buffer.from('* 1 FETCH (BODY[] {200}\r\nSubject: hi\r\n\r\nfirst line\r\n'), 3n);
  p.gap(S, 100, 4n);
  p.data(S, Buffer.from(`${'x'.repeat(200 - 100 - 'Subject: hi\r\n\r\nfirst line\r\n'.length)})\r\na1 OK done\r\n`), 5n);
  p.data(C, Buffer.from('a2 NOOP\r\n'), 6n);
  p.data(S, Buffer.from('a2 OK noop\r\n'), 7n);
  p.close('fin', 8n);
  const [, fetch, noop] = ctx.records;
  assert.deepEqual(fetch!.flags, ['gap']);
  const e = (at(fetch!, 'imap.fetch') as Array<{ message: { headers: unknown } }>)[0]!;
  assert.deepEqual(e.message.headers, { subject: ['hi'] });
  assert.equal(at(noop!, 'imap.command'), 'NOOP');
});

test('a connection closed inside a fetched message reports what came; waiting commands are unanswered, LOGOUT a message', () => {
  const ctx = run([
    [S, '* OK IMAP4rev1 ready\r\n'],
    [C, 'a1 FETCH 1 BODY[]\r\n'],
    [S, '* 1 FETCH (BODY[] {500}\r\nSubject: cut\r\n\r\npart of the body\r\n'],
  ]);
  const [, fetch] = ctx.records;
  assert.equal(fetch!.kind, 'unanswered');
  assert.deepEqual(fetch!.flags, ['closed', 'response_incomplete']);
  assert.equal((at(fetch!, 'imap.fetch') as Array<{ message: { body: { content: string } } }>)[0]!.message.body.content, 'part of the body\r\n');
  const ctx2 = run([
    [S, '* OK IMAP4rev1 ready\r\n'],
    [C, 'a1 NOOP\r\na2 LOGOUT\r\n'],
  ]);
  assert.deepEqual(ctx2.records.map((r) => [r.kind, at(r, 'imap.command') ?? null]), [['message', null], ['unanswered', 'NOOP'], ['message', 'LOGOUT']]);
});

test('a partial fetch (BODY[]<0>) is a fragment, read as a section, not as a message', () => {
  const ctx = run([
    [S, '* OK IMAP4rev1 ready\r\n'],
    [C, 'a1 FETCH 1 (BODY.PEEK[]<0.20> BODY.PEEK[HEADER]<0.10>)\r\n'],
    [S, '* 1 FETCH (BODY[]<0> {20}\r\nSubject: hi\r\nFrom: a BODY[HEADER]<0> "Subject: ")\r\na1 OK done\r\n'],
  ]);
  const e = (at(ctx.records[1]!, 'imap.fetch') as Array<Record<string, unknown>>)[0]!;
  assert.equal(e.message, undefined);
  assert.deepEqual(e.sections, [{ section: '<0>', body: { size: 20, content: 'Subject: hi\r\nFrom: a' } }, { section: 'HEADER<0>', body: { size: 9, content: 'Subject: ' } }]);
});

test('limits: a FETCH of more than 100 messages keeps 100, a message past maxBody is cut, both flagged', () => {
  const many = Array.from({ length: 120 }, (_, i) => `* ${i + 1} FETCH (UID ${i + 1} BODY[] {14}\r\nSubject: x\r\n\r\n)\r\n`).join('');
  const big = `Subject: big\r\n\r\n${'y'.repeat(5000)}`;
  const ctx = run([
    [S, '* OK IMAP4rev1 ready\r\n'],
    [C, 'a1 FETCH 1:* (UID BODY[])\r\n'],
    [S, `${many}a1 OK done\r\n`],
    [C, 'a2 FETCH 1 BODY[]\r\n'],
    [S, `* 1 FETCH (BODY[] {${big.length}}\r\n${big})\r\na2 OK done\r\n`],
  ], Infinity, { maxBody: 1000 });
  const [, a1, a2] = ctx.records;
  assert.equal((at(a1!, 'imap.fetch') as unknown[]).length, 100);
  assert.deepEqual(a1!.flags, ['truncated']);
  assert.equal(ctx.counts.get('imap.fetch_dropped'), 20);
  assert.deepEqual(a2!.flags, ['truncated']);
  assert.equal((at(a2!, 'imap.fetch') as Array<{ message: { size: number } }>)[0]!.message.size, big.length);
});

test('joined mid-session: pieces of a message are counted, not taken for responses; a command seen is answered', () => {
  const ctx = run([
    [S, 'middle of a message\r\nHello there\r\n)\r\n'],
    [C, 'xx\r\na5 NOOP\r\n'],
    [S, 'a5 OK noop\r\n'],
  ], Infinity, {}, { midstream: true });
  assert.deepEqual(ctx.records.map((r) => [r.kind, at(r, 'imap.command') ?? null]), [['exchange', 'NOOP']]);
  assert.equal(ctx.counts.get('imap.malformed_responses'), 2);
});

test('random damage never throws, and what is read stays within the schema', () => {
  const { client, server } = sidesOf(session);
  damagedSessionsStayValid((ctx) => new ImapParser(ctx), client, server, 'imap', { seed: 5, maxPiece: 40, interleave: 'client' });
});

test('modified UTF-7 mailbox names', () => {
  assert.equal(mailboxName('Entw&APw-rfe'), 'Entwürfe');
  assert.equal(mailboxName('&ZeVnLIqe-'), '日本語');
  assert.equal(mailboxName('Tom &- Jerry'), 'Tom & Jerry');
  assert.equal(mailboxName('bad &!!- name'), 'bad &!!- name');
});

test('detection: greetings and tagged commands, not Redis arrays', () => {
  const d = (s: string) => detectImap(Buffer.from(s), 0);
  assert.deepEqual(d('* OK [CAPABILITY IMAP4rev1 SASL-IR] Dovecot ready.\r\n'), { sender: 'server', confidence: 0.9 });
  assert.deepEqual(d('* OK IMAP4rev1 Service Ready\r\n'), { sender: 'server', confidence: 0.9 });
  assert.deepEqual(d('* PREAUTH IMAP4rev1 server logged in as Smith\r\n'), { sender: 'server', confidence: 0.9 });
  assert.equal(d('* OK [CAPAB'), 'more');
  assert.equal(d('* OK hello\r\n'), null);
  assert.equal(d('*3\r\n$3\r\nSET\r\n'), null);
  for (const c of ['a1 LOGIN bob pw\r\n', 'A0001 CAPABILITY\r\n', 'x UID FETCH 1:* (FLAGS)\r\n', 'a3 SELECT INBOX\r\n', 'a4 IDLE\r\n']) assert.deepEqual(d(c), { sender: 'client', confidence: 0.7 }, c);
  for (const c of ['GET /x HTTP/1.1\r\n', 'SET key value\r\n', 'USER anonymous\r\n']) assert.equal(d(c), null, c);
});

test('through pano-parse: a captured session on port 143 and on another port is IMAP, with valid events', () => {
  for (const port of [143, 2143]) {
    const conv = new Conversation({ addr: '10.0.0.1', port: 51000 }, { addr: '10.0.0.2', port }).handshake();
    for (const [side, s] of session) conv.send(side, Buffer.from(s));
    conv.close();
    const { events, stats } = parseCaptureSync(pcapng(conv.frames));
    assertValidEvents(events);
    const imap = events.filter((e) => e.pano.protocol === 'imap');
    assert.equal(imap.length, 12, `port ${port}`);
    assert.equal(stats.protocols['imap.malformed'] ?? 0, 0);
  }
});
