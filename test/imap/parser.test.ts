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
import { mimeParameters } from '../../packages/protocols/src/smtp/headers.js';
import type { ExchangeRecord } from '../../packages/protocols/src/types.js';


const run = (sides: Side[], step = Infinity, opts: RunOptions['options'] = {}, conn: RunOptions['conn'] = {}, close = true) =>
  runSession((ctx) => new ImapParser(ctx), sides, { step, options: opts, conn, close });
const attrsText = (records: ExchangeRecord[]) => JSON.stringify(records.map((r) => r.attributes));
/** Every record read, as an event, passes the schema. */
const valid = (records: ExchangeRecord[]) => assertValidEvents(records.map((r) => recordAsEvent(r, 'imap')));
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
  valid(ctx.records);
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

// --- BODYSTRUCTURE and BODY (RFC 9051 §7.5.2, RFC 3501 §7.4.2) ---------------

const PHOTO = 'Photo of "Zoë".png';
const ENVELOPE_FWD = '("Mon, 13 Nov 2023 10:00:00 +0000" "Fwd: plans" (("Ivy Chen" NIL "ivy" "example.org")) (("Ivy Chen" NIL "ivy" "example.org")) NIL (("Eve" NIL "eve" "example.com")) NIL NIL NIL "<fwd-1@example.org>")';
/** A multipart/mixed with a text part, a nested alternative, a PDF and a photo with every extension field, a forwarded message with its own multipart, and a forwarded single-part one. */
const STRUCTURE_LINE = [
  '* 1 FETCH (UID 7 BODYSTRUCTURE (',
  '("text" "plain" ("charset" "utf-8" "format" "flowed") NIL NIL "quoted-printable" 120 4 NIL NIL NIL NIL)',
  '(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 10 1 NIL NIL NIL NIL)("text" "html" ("charset" "utf-8") NIL NIL "7bit" 20 1 NIL NIL NIL NIL) "alternative" ("boundary" "b2") NIL NIL NIL)',
  `("application" "pdf" ("name*" "utf-8''%C3%9Cbersicht.pdf") "<pdf1@example.com>" "=?utf-8?Q?Kontoauszug_M=C3=A4rz?=" "base64" 4200 "Q2hlY2sgSW50ZWdyaXR5IQ==" ("attachment" ("filename*0*" "utf-8''%C3%9Cber" "filename*1" "sicht.pdf" "SIZE" "3100")) ("de" "en") "http://example.com/x.pdf")`,
  `("IMAGE" "PNG" ("name" "=?utf-8?B?${b64('Foto Zoë')}?=.png") NIL NIL "BASE64" 300 NIL ("INLINE" ("filename" {${Buffer.byteLength(PHOTO)}}\r\n${PHOTO})) "de" NIL)`,
  `("message" "rfc822" NIL NIL "Forwarded" "7bit" 500 ${ENVELOPE_FWD} (("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 30 2 NIL NIL NIL NIL)("text" "csv" ("charset" "utf-8" "name" "contacts.csv") NIL NIL "base64" 80 2 NIL ("attachment" ("filename" "contacts.csv")) NIL NIL) "mixed" ("boundary" "b3") NIL NIL NIL) 14 NIL ("attachment" NIL) NIL NIL)`,
  '("message" "rfc822" NIL NIL NIL "7bit" 60 (NIL "short" NIL NIL NIL NIL NIL NIL NIL NIL) ("text" "plain" NIL NIL NIL "7bit" 6 1 NIL NIL NIL NIL) 4 NIL NIL NIL NIL)',
  ' "mixed" ("boundary" "b1") ("inline" NIL) ("en") "urn:x") FLAGS (\\Seen))\r\n',
].join('');
const FWD_FROM = ['Ivy Chen <ivy@example.org>'];
/** What the pieces of STRUCTURE_LINE say, written out from the grammar. */
const STRUCTURE = [
  { part: 'TEXT', type: 'multipart', subtype: 'mixed', parameters: { boundary: 'b1' }, disposition: { type: 'inline' }, language: ['en'], location: 'urn:x' },
  { part: '1', type: 'text', subtype: 'plain', parameters: { charset: 'utf-8', format: 'flowed' }, encoding: 'quoted-printable', size: 120, lines: 4 },
  { part: '2', type: 'multipart', subtype: 'alternative', parameters: { boundary: 'b2' } },
  { part: '2.1', type: 'text', subtype: 'plain', parameters: { charset: 'us-ascii' }, encoding: '7bit', size: 10, lines: 1 },
  { part: '2.2', type: 'text', subtype: 'html', parameters: { charset: 'utf-8' }, encoding: '7bit', size: 20, lines: 1 },
  {
    part: '3', type: 'application', subtype: 'pdf', parameters: { name: 'Übersicht.pdf' }, id: '<pdf1@example.com>', description: 'Kontoauszug März', encoding: 'base64', size: 4200,
    md5: 'Q2hlY2sgSW50ZWdyaXR5IQ==', disposition: { type: 'attachment', parameters: { filename: 'Übersicht.pdf', size: '3100' } }, language: ['de', 'en'], location: 'http://example.com/x.pdf',
  },
  { part: '4', type: 'image', subtype: 'png', parameters: { name: 'Foto Zoë.png' }, encoding: 'base64', size: 300, disposition: { type: 'inline', parameters: { filename: PHOTO } }, language: ['de'] },
  {
    part: '5', type: 'message', subtype: 'rfc822', description: 'Forwarded', encoding: '7bit', size: 500,
    envelope: { date: 'Mon, 13 Nov 2023 10:00:00 +0000', subject: 'Fwd: plans', from: FWD_FROM, sender: FWD_FROM, to: ['Eve <eve@example.com>'], message_id: '<fwd-1@example.org>' },
    lines: 14, disposition: { type: 'attachment' },
  },
  { part: '5.TEXT', type: 'multipart', subtype: 'mixed', parameters: { boundary: 'b3' } },
  { part: '5.1', type: 'text', subtype: 'plain', parameters: { charset: 'utf-8' }, encoding: '7bit', size: 30, lines: 2 },
  { part: '5.2', type: 'text', subtype: 'csv', parameters: { charset: 'utf-8', name: 'contacts.csv' }, encoding: 'base64', size: 80, lines: 2, disposition: { type: 'attachment', parameters: { filename: 'contacts.csv' } } },
  { part: '6', type: 'message', subtype: 'rfc822', encoding: '7bit', size: 60, envelope: { subject: 'short' }, lines: 4 },
  { part: '6.1', type: 'text', subtype: 'plain', encoding: '7bit', size: 6, lines: 1 },
];

const structureSession: Side[] = [
  [S, '* OK IMAP4rev1 ready\r\n'],
  [C, 'a1 UID FETCH 7:9 (FLAGS BODYSTRUCTURE)\r\n'],
  [S, STRUCTURE_LINE],
  // BODY, the form without extension data; a single-part message's body is part 1
  [S, '* 2 FETCH (UID 8 BODY ("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 12 1))\r\n'],
  // NIL wherever the grammar allows it, and BODY before BODYSTRUCTURE: the latter kept
  [S, '* 3 FETCH (UID 9 BODY ("application" "octet-stream" NIL NIL NIL NIL 0) BODYSTRUCTURE ("application" "octet-stream" NIL NIL NIL NIL 0 NIL NIL NIL NIL))\r\n'],
  [S, 'a1 OK Fetch completed.\r\n'],
];

test('BODYSTRUCTURE: nested multiparts, message/rfc822 with its envelope and body, extension data, RFC 2231 and RFC 2047 parameters, a literal inside; BODY; NIL everywhere', () => {
  const ctx = run(structureSession);
  const [, fetch] = ctx.records;
  assert.equal(fetch!.flags, undefined);
  const [m1, m2, m3] = at(fetch!, 'imap.fetch') as Array<Record<string, unknown>>;
  assert.deepEqual(m1, { seq: 1, uid: 7, flags: ['\\Seen'], structure: STRUCTURE });
  assert.deepEqual(m2, { seq: 2, uid: 8, structure: [{ part: '1', type: 'text', subtype: 'plain', parameters: { charset: 'us-ascii' }, encoding: '7bit', size: 12, lines: 1 }] });
  assert.deepEqual(m3, { seq: 3, uid: 9, structure: [{ part: '1', type: 'application', subtype: 'octet-stream', size: 0 }] });
  assert.equal(ctx.counts.get('imap.malformed_structures'), undefined);
  assert.equal(ctx.counts.get('imap.untagged_other'), undefined);
  valid(ctx.records);
  // the literal's bytes, cut anywhere, give the same
  const whole = shape(ctx.records);
  for (const n of [1, 7, 64]) assert.deepEqual(shape(run(structureSession, n).records), whole, `pieces of ${n}`);
});

/** A multipart holding `n` one-byte parts. */
const wide = (n: number) => `(${'("text" "plain" NIL NIL NIL "7bit" 1 0)'.repeat(n)} "mixed")`;
/** `levels` multiparts, each holding the next, the innermost a text part. */
const deep = (levels: number) => `${'('.repeat(levels)}("text" "plain" NIL NIL NIL "7bit" 1 0)${' "mixed")'.repeat(levels)}`;

test('limits: 100 parts of a structure and 16 levels are read; past either the reading stops, the event flagged truncated and counted', () => {
  const fetch = (structure: string, step = Infinity) =>
    run([
      [S, '* OK IMAP4rev1 ready\r\n'],
      [C, 'a1 FETCH 1 (UID BODY)\r\n'],
      [S, `* 1 FETCH (UID 4 BODY ${structure} FLAGS ())\r\na1 OK done\r\n`],
    ], step);
  // 99 parts and their container: all of it, not flagged
  let ctx = fetch(wide(99));
  let [entry] = at(ctx.records[1]!, 'imap.fetch') as Array<{ uid: number; flags: string[]; structure: Array<{ part: string }> }>;
  assert.equal(entry!.structure.length, 100);
  assert.equal(entry!.structure.at(-1)!.part, '99');
  assert.equal(ctx.records[1]!.flags, undefined);
  // 120 parts: the container and the first 99
  ctx = fetch(wide(120));
  [entry] = at(ctx.records[1]!, 'imap.fetch') as typeof entry[];
  assert.deepEqual(entry!.structure.map((p) => p.part), ['TEXT', ...Array.from({ length: 99 }, (_, i) => String(i + 1))]);
  assert.deepEqual([entry!.uid, entry!.flags], [4, []], "the message's other items are kept");
  assert.deepEqual(ctx.records[1]!.flags, ['truncated']);
  assert.equal(ctx.counts.get('imap.structures_truncated'), 1);
  // 15 multiparts around a text part: 16 levels, all read; the innermost part's number has 15 components
  ctx = fetch(deep(15));
  [entry] = at(ctx.records[1]!, 'imap.fetch') as typeof entry[];
  assert.equal(entry!.structure.length, 16);
  assert.deepEqual([entry!.structure[0]!.part, entry!.structure[1]!.part, entry!.structure.at(-1)!.part], ['TEXT', '1', Array(15).fill('1').join('.')]);
  assert.equal(ctx.records[1]!.flags, undefined);
  // 16 multiparts: the 17th level is not read
  ctx = fetch(deep(16));
  [entry] = at(ctx.records[1]!, 'imap.fetch') as typeof entry[];
  assert.equal(entry!.structure.length, 16);
  assert.ok(entry!.structure.every((p) => p.part === 'TEXT' || /^1(?:\.1)*$/.test(p.part)));
  assert.deepEqual(ctx.records[1]!.flags, ['truncated']);
  assert.equal(ctx.counts.get('imap.structures_truncated'), 1);
  // far deeper than the value reader nests lists: flattened below, still cut at 16 levels, nothing thrown
  ctx = fetch(deep(400), 5);
  [entry] = at(ctx.records[1]!, 'imap.fetch') as typeof entry[];
  assert.equal(entry!.structure.length, 16);
  assert.deepEqual(ctx.records[1]!.flags, ['truncated']);
  for (const c of [fetch(wide(120)), fetch(deep(16)), fetch(deep(400))]) valid(c.records);
});

test('a damaged structure is counted, what can be read of it kept, and the message\'s other items are there', () => {
  const ctx = run([
    [S, '* OK IMAP4rev1 ready\r\n'],
    [C, 'a1 FETCH 1:3 (UID ENVELOPE BODYSTRUCTURE)\r\n'],
    // a part without its type, a size that is no number, a disposition that is a string
    [S, '* 1 FETCH (UID 5 ENVELOPE (NIL "hi" NIL NIL NIL NIL NIL NIL NIL NIL) BODYSTRUCTURE ((NIL "pdf" NIL NIL NIL "base64" 10 NIL NIL NIL NIL)("text" "plain" NIL NIL NIL "7bit" many 1 NIL "attachment" NIL NIL) "mixed"))\r\n'],
    // not a body at all; a multipart without its subtype
    [S, '* 2 FETCH (UID 6 BODYSTRUCTURE NIL)\r\n* 3 FETCH (BODYSTRUCTURE (("text" "plain" NIL NIL NIL "7bit" 1 0)) UID 7)\r\n'],
    [S, 'a1 OK done\r\n'],
  ]);
  const entries = at(ctx.records[1]!, 'imap.fetch') as Array<Record<string, unknown>>;
  assert.deepEqual(entries, [
    { seq: 1, uid: 5, envelope: { subject: 'hi' }, structure: [{ part: 'TEXT', type: 'multipart', subtype: 'mixed' }, { part: '2', type: 'text', subtype: 'plain', encoding: '7bit', lines: 1 }] },
    { seq: 2, uid: 6 },
    { seq: 3, uid: 7 },
  ]);
  assert.equal(ctx.counts.get('imap.malformed_structures'), 3);
  assert.equal(ctx.records[1]!.flags, undefined);
  valid(ctx.records);
});

// --- NAMESPACE, QUOTA, QUOTAROOT, ESEARCH ------------------------------------

const extensionSession: Side[] = [
  [S, '* OK [CAPABILITY IMAP4rev1 NAMESPACE QUOTA ESEARCH] ready\r\n'],
  // pipelined: each answer goes to the command that asks for it, not to the NOOP waiting before them
  [C, 'b1 NOOP\r\nb2 NAMESPACE\r\nb3 GETQUOTAROOT "Entw&APw-rfe"\r\nb4 GETQUOTA ""\r\n'],
  [S, '* NAMESPACE (("" "/")("#mh/" "/" "X-PARAM" ("FLAG1"))) (("~" "/")) (("#shared/&AMQ-rger/" "/")("#public/" NIL))\r\n'],
  [S, '* QUOTAROOT "Entw&APw-rfe" "" "user.eve"\r\n* QUOTA "" (STORAGE 10 512 MESSAGE 3 1000)\r\n* QUOTA "user.eve" (STORAGE 0 100)\r\n'],
  [S, 'b2 OK done\r\nb3 OK done\r\n* QUOTA "" (STORAGE 10 512)\r\nb4 OK done\r\nb1 OK noop\r\n'],
  // two SEARCHes with RETURN, answered out of order by their tags; a third whose ALL finds nothing
  [C, 'b5 UID SEARCH RETURN (MIN MAX COUNT) FROM "ivy"\r\nb6 SEARCH RETURN (ALL) 1:*\r\nb7 SEARCH RETURN () SUBJECT "nothing"\r\nb8 SEARCH RETURN (MIN) SUBJECT "nothing"\r\n'],
  [S, '* ESEARCH (TAG "b6") ALL 1:1200,1300:1299,2000\r\n* ESEARCH (TAG "b5") UID MIN 4 MAX 19 COUNT 3\r\n* ESEARCH (TAG "b7")\r\n* ESEARCH (TAG "b8")\r\n'],
  [S, 'b5 OK done\r\nb6 OK done\r\nb7 OK done\r\nb8 OK done\r\n'],
  // IMAP4rev2: ESEARCH answers a SEARCH without RETURN (ALL); one without a tag goes to the oldest SEARCH
  [C, 'b9 UID SEARCH ALL\r\n'],
  [S, '* ESEARCH UID ALL 3:5,9\r\nb9 OK done\r\n'],
];

test('NAMESPACE, QUOTA and QUOTAROOT go to the command that asks; ESEARCH to the one whose tag it names, with MIN, MAX, COUNT and ALL', () => {
  const ctx = run(extensionSession);
  const by = Object.fromEntries(ctx.records.slice(1).map((r) => [at(r, 'imap.tag') as string, r.attributes.imap as Record<string, unknown>]));
  assert.deepEqual(Object.keys(by), ['b2', 'b3', 'b4', 'b1', 'b5', 'b6', 'b7', 'b8', 'b9']);
  assert.deepEqual(by.b1, { tag: 'b1', command: 'NOOP', response: { status: 'OK', text: 'noop' } });
  assert.deepEqual(by.b2!.namespace, {
    personal: [{ prefix: '', delimiter: '/' }, { prefix: '#mh/', delimiter: '/' }],
    other: [{ prefix: '~', delimiter: '/' }],
    shared: [{ prefix: '#shared/Ärger/', delimiter: '/' }, { prefix: '#public/', delimiter: null }],
  });
  assert.deepEqual([by.b3!.mailbox, by.b3!.quota_roots], ['Entwürfe', { mailbox: 'Entwürfe', roots: ['', 'user.eve'] }]);
  assert.deepEqual(by.b3!.quota, [
    { root: '', resources: [{ name: 'STORAGE', usage: 10, limit: 512 }, { name: 'MESSAGE', usage: 3, limit: 1000 }] },
    { root: 'user.eve', resources: [{ name: 'STORAGE', usage: 0, limit: 100 }] },
  ]);
  assert.deepEqual([by.b4!.quota, by.b4!.quota_roots], [[{ root: '', resources: [{ name: 'STORAGE', usage: 10, limit: 512 }] }], undefined]);
  assert.deepEqual(by.b5!.search, { uid: true, min: 4, max: 19, count: 3 });
  // ALL's set is 1201 numbers (1300:1299 is 1299:1300): the first 1000 kept, the set as sent
  const b6 = by.b6!.search as { count: number; ids: number[]; all: string };
  assert.deepEqual([b6.count, b6.ids.length, b6.ids[0], b6.ids.at(-1), b6.all], [1203, 1000, 1, 1000, '1:1200,1300:1299,2000']);
  assert.deepEqual(by.b7!.search, { count: 0, ids: [] });
  assert.deepEqual(by.b8!.search, {});
  assert.deepEqual(by.b9!.search, { uid: true, count: 4, ids: [3, 4, 5, 9] });
  assert.equal(ctx.counts.get('imap.untagged_other'), undefined);
  valid(ctx.records);
  const whole = shape(ctx.records);
  for (const n of [1, 9]) assert.deepEqual(shape(run(extensionSession, n).records), whole, `pieces of ${n}`);
});

test('pipelined SEARCHes: an untagged ESEARCH answers the one with RETURN options, a SEARCH response the one without', () => {
  const ctx = run([
    [S, '* OK IMAP4rev1 ready\r\n'],
    [C, 's1 SEARCH ALL\r\ns2 SEARCH RETURN (MIN) ALL\r\n'],
    [S, '* ESEARCH MIN 2\r\n* SEARCH 2 3\r\ns1 OK done\r\ns2 OK done\r\n'],
  ]);
  assert.deepEqual(ctx.records.slice(1).map((r) => [at(r, 'imap.tag'), at(r, 'imap.search')]), [['s1', { count: 2, ids: [2, 3] }], ['s2', { min: 2 }]]);
});

test('bounds: 100 namespaces of a kind, 100 quota roots and resources; what is past them is counted', () => {
  const ns = Array.from({ length: 130 }, (_, i) => `("n${i}/" "/")`).join('');
  const resources = Array.from({ length: 110 }, (_, i) => `R${i} ${i} 1000`).join(' ');
  const roots = Array.from({ length: 105 }, (_, i) => `"r${i}"`).join(' ');
  const quotas = Array.from({ length: 102 }, (_, i) => `* QUOTA "q${i}" (STORAGE 1 2)\r\n`).join('');
  const ctx = run([
    [S, '* OK IMAP4rev1 ready\r\n'],
    [C, 'a1 NAMESPACE\r\na2 GETQUOTAROOT INBOX\r\n'],
    [S, `* NAMESPACE (${ns}) NIL NIL\r\na1 OK done\r\n* QUOTAROOT INBOX ${roots}\r\n* QUOTA "" (${resources})\r\n${quotas}a2 OK done\r\n`],
  ]);
  const [, a1, a2] = ctx.records;
  const namespace = at(a1!, 'imap.namespace') as { personal: unknown[]; other: unknown[]; shared: unknown[] };
  assert.deepEqual([namespace.personal.length, namespace.other, namespace.shared], [100, [], []]);
  assert.equal(ctx.counts.get('imap.namespaces_dropped'), 30);
  const quota = at(a2!, 'imap.quota') as Array<{ resources: unknown[] }>;
  assert.deepEqual([quota.length, quota[0]!.resources.length, (at(a2!, 'imap.quota_roots') as { roots: unknown[] }).roots.length], [100, 100, 100]);
  // 10 resources, 5 roots, 3 QUOTA responses
  assert.equal(ctx.counts.get('imap.quota_dropped'), 18);
  valid(ctx.records);
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
  // structures, namespaces, quotas and ESEARCH answers damaged
  const more = sidesOf([...structureSession, ...extensionSession.slice(1)]);
  damagedSessionsStayValid((ctx) => new ImapParser(ctx), more.client, more.server, 'imap', { seed: 11, maxPiece: 40, interleave: 'client' });
});

test('MIME parameters as RFC 2231 and RFC 2047 write them (BODYSTRUCTURE gives them split)', () => {
  // continuations in any order, the first extended; a plain value of the same name is the fallback
  assert.deepEqual(mimeParameters([['FILENAME*1', ' 2024.pdf'], ['filename*0*', "utf-8'de'Kontoauszug%20M%C3%A4rz"], ['filename', 'Kontoauszug.pdf']]), { filename: 'Kontoauszug März 2024.pdf' });
  // Latin-1, as Dovecot passes it on; an encoded word in a plain value
  assert.deepEqual(mimeParameters([['filename*', "iso-8859-1'de'%C4rger.txt"], ['name', '=?utf-8?Q?=C3=84rger?=.txt']]), { filename: 'Ärger.txt', name: 'Ärger.txt' });
  // a charset not read here: the plain value, or the extended one as sent
  assert.deepEqual(mimeParameters([['name*', "koi8-r''%F0%D2"], ['name', 'fallback.txt'], ['title*', "koi8-r''%F0%D2"]]), { name: 'fallback.txt', title: "koi8-r''%F0%D2" });
  // an own key even for __proto__; a % that starts no octet is kept
  const p = mimeParameters([['__proto__', 'x'], ['size*', "utf-8''100%"]]);
  assert.deepEqual([Object.keys(p), p.__proto__, p.size, Object.getPrototypeOf(p)], [['__proto__', 'size'], 'x', '100%', Object.prototype]);
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

test('a line of many literals keeps the first 32 (each within its own bound) and counts the rest, so one line holds no more than a few dozen', () => {
  const sections = Array.from({ length: 40 }, (_, i) => `BODY[${i + 1}] {5}\r\npart${i % 10}`).join(' ');
  const ctx = run([
    [S, '* OK [CAPABILITY IMAP4rev1] ready\r\n'],
    [C, 'a1 FETCH 1 (BODY[1] BODY[2])\r\n'],
    [S, `* 1 FETCH (${sections})\r\na1 OK done\r\n`],
  ]);
  const fetch = ctx.records.find((r) => at(r, 'imap.command') === 'FETCH')!;
  const got = (at(fetch, 'imap.fetch') as Array<{ sections?: Array<{ section: string; body?: { size: number; content?: string } }> }>)[0]!.sections!;
  assert.equal(got.length, 32);
  assert.deepEqual(got.map((x) => x.section), Array.from({ length: 32 }, (_, i) => String(i + 1)));
  assert.equal(got[31]!.body?.content, 'part1');
  assert.equal(ctx.counts.get('imap.literals_dropped'), 8);
});
