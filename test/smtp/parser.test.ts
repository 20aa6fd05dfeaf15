// SMTP parser on hand-written sessions (RFC 5321 with RFC 2920 pipelining,
// RFC 3030 BDAT, RFC 4954 AUTH with RFC 4616 PLAIN, RFC 3207 STARTTLS; RFC
// 5322 messages with RFC 2047 encoded words): fed whole and in 1-byte pieces,
// with gaps, refusals and closes; detection beside FTP's 220.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fakeContext, recordAsEvent } from '../helpers/fake-parser-context.js';
import { C, S, at, shape, runSession, sidesOf, damagedSessionsStayValid, type RunOptions, type Side } from '../helpers/parser-session.js';
import { Conversation, pcapng } from '../helpers/synth.js';
import { assertValidEvents, parseCaptureSync } from '../helpers/parse.js';
import { SmtpParser } from '../../packages/protocols/src/smtp/parser.js';
import { detectSmtp } from '../../packages/protocols/src/smtp/index.js';
import { decodeWords } from '../../packages/protocols/src/smtp/headers.js';


const run = (sides: Side[], step = Infinity, opts: RunOptions['options'] = {}, conn: RunOptions['conn'] = {}, close = true) =>
  runSession((ctx) => new SmtpParser(ctx), sides, { step, options: opts, conn, close });
const b64 = (s: string) => Buffer.from(s).toString('base64');

const MESSAGE = [
  'From: =?UTF-8?B?Wm/DqyBCYXJ0?= <zoe@example.com>',
  'To: Bob <bob@example.org>,',
  '  Carol <carol@example.net>',
  'Subject: =?iso-8859-1?Q?Gr=FC=DFe_aus_M=FCnchen?=',
  'X-Empty:',
  '',
  'Hi Bob,',
  '..this line began with a dot',
  'call me: +1 415 555 2671',
  '',
].join('\r\n');

const session: Side[] = [
  [S, '220 mx.example.org ESMTP Postfix\r\n'],
  [C, 'EHLO client.example.com\r\n'],
  [S, '250-mx.example.org\r\n250-PIPELINING\r\n250-AUTH PLAIN LOGIN\r\n250 CHUNKING\r\n'],
  // pipelined: MAIL, two RCPTs and DATA in one segment, their replies in another
  [C, 'MAIL FROM:<zoe@example.com> SIZE=300\r\nRCPT TO:<bob@example.org>\r\nRCPT TO:<nobody@example.org>\r\nRCPT TO:<carol@example.net>\r\nDATA\r\n'],
  [S, '250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 <nobody@example.org>: Recipient address rejected\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n'],
  [C, `${MESSAGE}.\r\n`],
  [S, '250 2.0.0 Ok: queued as 4XyZ\r\n'],
  [C, 'QUIT\r\n'],
  [S, '221 2.0.0 Bye\r\n'],
];

test('a session: the greeting, a multi-line EHLO reply, pipelined MAIL/RCPT/DATA, the message with its envelope, headers and body', () => {
  const ctx = run(session);
  assert.deepEqual(ctx.records.map((r) => [r.kind, at(r, 'smtp.command') ?? null, at(r, 'smtp.reply.code')]), [
    ['message', null, 220],
    ['exchange', 'EHLO', 250],
    ['exchange', 'MAIL', 250],
    ['exchange', 'RCPT', 250],
    ['exchange', 'RCPT', 550],
    ['exchange', 'RCPT', 250],
    ['exchange', 'DATA', 250],
    ['exchange', 'QUIT', 221],
  ]);
  const [greeting, ehlo, mail, , refused, , data] = ctx.records;
  assert.deepEqual(greeting!.attributes.smtp, { greeting: true, reply: { code: 220, text: 'mx.example.org ESMTP Postfix' } });
  assert.deepEqual(at(ehlo!, 'smtp.reply'), { code: 250, text: 'mx.example.org\nPIPELINING\nAUTH PLAIN LOGIN\nCHUNKING' });
  assert.equal(at(mail!, 'smtp.mail_from'), 'zoe@example.com');
  assert.deepEqual(at(mail!, 'smtp.reply'), { code: 250, enhanced_status: '2.1.0', text: '2.1.0 Ok' });
  assert.equal(at(refused!, 'error.type'), '550');
  assert.equal(at(refused!, 'smtp.rcpt_to'), 'nobody@example.org');
  // the envelope: the recipients the server took
  assert.deepEqual(at(data!, 'smtp.envelope'), { mail_from: 'zoe@example.com', rcpt_to: ['bob@example.org', 'carol@example.net'] });
  assert.deepEqual(at(data!, 'smtp.intermediate_reply'), { code: 354, text: 'End data with <CR><LF>.<CR><LF>' });
  const m = at(data!, 'smtp.message') as { size: number; headers: Record<string, string[]>; body: { size: number; content: string } };
  assert.deepEqual(JSON.parse(JSON.stringify(m.headers)), {
    from: ['Zoë Bart <zoe@example.com>'],
    to: ['Bob <bob@example.org>, Carol <carol@example.net>'],
    subject: ['Grüße aus München'],
    'x-empty': [''],
  });
  const body = 'Hi Bob,\r\n.this line began with a dot\r\ncall me: +1 415 555 2671\r\n';
  assert.deepEqual(m.body, { size: Buffer.byteLength(body), content: body });
  assert.equal(m.size, Buffer.byteLength(MESSAGE) - 1);
  assert.equal(data!.requestBytes, 'DATA\r\n'.length + Buffer.byteLength(MESSAGE) - 1 + 3);
  assert.deepEqual(shape(run(session, 1).records), shape(ctx.records));
  assert.deepEqual(shape(run(session, 7).records), shape(ctx.records));
});

test('AUTH: PLAIN with an initial response and after a 334, LOGIN in two steps, a refusal; the user name read, the password nowhere', () => {
  const ctx = run([
    [S, '220 mx ESMTP\r\n'],
    [C, `AUTH PLAIN ${b64('\0eve\0s3cret-pass')}\r\n`],
    [S, '235 2.7.0 Authentication successful\r\n'],
    [C, 'AUTH PLAIN\r\n'],
    [S, '334 \r\n'],
    [C, `${b64('admin\0eve\0s3cret-pass')}\r\n`],
    [S, '235 2.7.0 Authentication successful\r\n'],
    [C, 'AUTH LOGIN\r\n'],
    [S, `334 ${b64('Username:')}\r\n`],
    [C, `${b64('mallory')}\r\n`],
    [S, `334 ${b64('Password:')}\r\n`],
    [C, `${b64('wr0ng-no')}\r\n`],
    [S, '535 5.7.8 Authentication credentials invalid\r\n'],
    [C, 'NOOP\r\n'],
    [S, '250 2.0.0 Ok\r\n'],
  ]);
  assert.deepEqual(ctx.records.slice(1).map((r) => [at(r, 'smtp.command'), at(r, 'smtp.arguments') ?? null, at(r, 'smtp.auth') ?? null, at(r, 'smtp.reply.code'), at(r, 'error.type') ?? null]), [
    ['AUTH', 'PLAIN', { mechanism: 'PLAIN', username: 'eve', steps: 0 }, 235, null],
    ['AUTH', 'PLAIN', { mechanism: 'PLAIN', username: 'eve', steps: 1 }, 235, null],
    ['AUTH', 'LOGIN', { mechanism: 'LOGIN', username: 'mallory', steps: 2 }, 535, '535'],
    ['NOOP', null, null, 250, null],
  ]);
  const all = JSON.stringify(ctx.records.map((r) => r.attributes));
  for (const secret of ['s3cret-pass', 'wr0ng-no', b64('wr0ng-no'), b64('\0eve\0s3cret-pass')]) assert.ok(!all.includes(secret), secret);
});

test('DATA refused keeps the next command a command; BDAT chunks make one message; a message past maxBody is kept short and flagged', () => {
  const ctx = run([
    [S, '220 mx ESMTP\r\n'],
    [C, 'DATA\r\n'],
    [S, '554 5.5.1 Error: no valid recipients\r\n'],
    [C, 'MAIL FROM:<a@example.com>\r\n'],
    [S, '250 Ok\r\n'],
    [C, 'RCPT TO:<b@example.com>\r\n'],
    [S, '250 Ok\r\n'],
    [C, 'BDAT 15\r\nSubject: hi\r\n\r\nBDAT 13 LAST\r\nchunked body.'],
    [S, '250 2.0.0 Ok 15 octets\r\n250 2.0.0 Ok: queued\r\n'],
    [C, 'MAIL FROM:<a@example.com>\r\n'],
    [S, '250 Ok\r\n'],
    [C, `DATA\r\n`],
    [S, '354 go\r\n'],
    [C, `Subject: big\r\n\r\n${'x'.repeat(5000)}\r\n.\r\n`],
    [S, '250 Ok\r\n'],
  ], 333, { maxBody: 100 });
  assert.deepEqual(ctx.records.slice(1).map((r) => [at(r, 'smtp.command'), at(r, 'smtp.arguments') ?? null, at(r, 'smtp.reply.code')]), [
    ['DATA', null, 554],
    ['MAIL', 'FROM:<a@example.com>', 250],
    ['RCPT', 'TO:<b@example.com>', 250],
    ['BDAT', '15', 250],
    ['BDAT', '13 LAST', 250],
    ['MAIL', 'FROM:<a@example.com>', 250],
    ['DATA', null, 250],
  ]);
  const [, refused, , , first, last, , big] = ctx.records;
  assert.equal(at(refused!, 'smtp.message'), undefined);
  assert.equal(at(first!, 'smtp.message'), undefined);
  assert.deepEqual(at(last!, 'smtp.message'), { size: 28, headers: { subject: ['hi'] }, body: { size: 13, content: 'chunked body.' } });
  assert.deepEqual(at(last!, 'smtp.envelope'), { mail_from: 'a@example.com', rcpt_to: ['b@example.com'] });
  assert.deepEqual(at(big!, 'smtp.message.body'), { size: 5002, content: 'x'.repeat(100), truncated: true });
  assert.deepEqual(big!.flags, ['truncated']);
  // the envelope after a message is new: MAIL reset the recipients
  assert.deepEqual(at(big!, 'smtp.envelope'), { mail_from: 'a@example.com', rcpt_to: [] });
});

test('STARTTLS answered 220 hands the connection to TLS, with the session to resume inside it', () => {
  const ctx = run([
    [S, '220 mx ESMTP\r\n'],
    [C, 'EHLO c\r\n'],
    [S, '250-mx\r\n250 STARTTLS\r\n'],
    [C, 'STARTTLS\r\n'],
    [S, '220 2.0.0 Ready to start TLS\r\n'],
  ]);
  assert.deepEqual(ctx.records.slice(1).map((r) => [at(r, 'smtp.command'), at(r, 'smtp.reply.code')]), [['EHLO', 250], ['STARTTLS', 220]]);
  assert.deepEqual(ctx.handoffs.map((h) => h.protocol), ['tls']);
  // refused, it stays SMTP
  const refused = run([[S, '220 mx ESMTP\r\n'], [C, 'STARTTLS\r\n'], [S, '454 4.7.0 TLS not available\r\n'], [C, 'QUIT\r\n'], [S, '221 Bye\r\n']]);
  assert.equal(refused.handoffs.length, 0);
  assert.equal(refused.records.length, 3);
  // the resumed session has no greeting: its first reply is EHLO's
  const inside = fakeContext();
  const p = SmtpParser.resumed(inside);
  p.data(C, Buffer.from('EHLO c\r\n'), 1n);
  p.data(S, Buffer.from('250 mx\r\n'), 2n);
  p.close('fin', 3n);
  assert.deepEqual(inside.records.map((r) => [r.kind, at(r, 'smtp.command'), at(r, 'smtp.reply.code')]), [['exchange', 'EHLO', 250]]);
});

test('the connection ends or loses bytes: waiting commands unanswered, a message cut by a gap flagged, QUIT without its reply a message', () => {
  const ended = run([[S, '220 mx ESMTP\r\n'], [C, 'MAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\n'], [S, '250 Ok\r\n']]);
  assert.deepEqual(ended.records.slice(1).map((r) => [r.kind, at(r, 'smtp.command'), r.flags]), [['exchange', 'MAIL', undefined], ['unanswered', 'RCPT', ['closed']]]);
  const c = fakeContext();
  const p = new SmtpParser(c);
  p.data(S, Buffer.from('220 mx ESMTP\r\n'), 1n);
  p.data(C, Buffer.from('DATA\r\n'), 2n);
  p.data(S, Buffer.from('354 go\r\n'), 3n);
  p.data(C, Buffer.from('Subject: x\r\n\r\nfirst part'), 4n);
  p.gap(C, 100, 5n);
  p.data(C, Buffer.from('tail\r\n.\r\nQUIT\r\n'), 6n);
  p.data(S, Buffer.from('250 Ok\r\n'), 7n);
  p.close('fin', 8n);
  assert.deepEqual(c.records.slice(1).map((r) => [r.kind, at(r, 'smtp.command'), r.flags]), [
    ['exchange', 'DATA', ['gap']],
    ['message', 'QUIT', ['closed']],
  ]);
  assert.deepEqual(at(c.records[1]!, 'smtp.message.body'), { size: 10, content: 'first part' });
  // the connection ends inside a message: what came of it, with the envelope, flagged
  const cut = run([[S, '220 mx ESMTP\r\n'], [C, 'MAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\n'], [S, '250 Ok\r\n250 Ok\r\n354 go\r\n'], [C, 'Subject: s\r\n\r\nhalf a bo']]);
  const data = cut.records[3]!;
  assert.deepEqual([data.kind, data.flags], ['unanswered', ['closed', 'message_incomplete']]);
  assert.deepEqual(at(data, 'smtp.envelope'), { mail_from: 'a@b.c', rcpt_to: ['d@e.f'] });
  assert.deepEqual(at(data, 'smtp.message'), { size: 23, headers: { subject: ['s'] }, body: { size: 9, content: 'half a bo' } });
});

test('RFC 2047 encoded words: B and Q, adjacent words joined, unknown charsets and plain text left as written', () => {
  assert.equal(decodeWords('=?UTF-8?B?R3LDvMOfZQ==?= =?UTF-8?Q?_von_Zo=C3=AB?='), 'Grüße von Zoë');
  assert.equal(decodeWords('=?ISO-8859-1?Q?Andr=E9?= Pirard <PIRARD@vm1.ulg.ac.be>'), 'André Pirard <PIRARD@vm1.ulg.ac.be>');
  assert.equal(decodeWords('=?KOI8-R?B?9MXT1A==?='), '=?KOI8-R?B?9MXT1A==?=');
  assert.equal(decodeWords('plain = text ?='), 'plain = text ?=');
});

test('detection: a greeting naming SMTP, EHLO/HELO, a mid-session MAIL FROM; not FTP\'s 220, not HTTP', () => {
  assert.deepEqual(detectSmtp(Buffer.from('220 mx.example.org ESMTP Postfix (Debian/GNU)\r\n'), 1), { sender: 'server', confidence: 0.9 });
  assert.deepEqual(detectSmtp(Buffer.from('220-mx.example.org ESMTP Exim 4.96\r\n220 no UCE\r\n'), 1), { sender: 'server', confidence: 0.9 });
  assert.deepEqual(detectSmtp(Buffer.from('EHLO client.example.com\r\n'), 0), { sender: 'client', confidence: 0.8 });
  assert.deepEqual(detectSmtp(Buffer.from('MAIL FROM:<a@b.c>\r\n'), 0), { sender: 'client', confidence: 0.8 });
  assert.equal(detectSmtp(Buffer.from('220 ProFTPD Server ready.\r\n'), 1), null);
  assert.equal(detectSmtp(Buffer.from('220 (vsFTPd 3.0.3)\r\n'), 1), null);
  assert.equal(detectSmtp(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), 0), null);
  assert.equal(detectSmtp(Buffer.from('EHL'), 0), 'more');
});

test('through the pipeline on an unusual port: found by its greeting, events valid against the schema', () => {
  const conv = new Conversation({ addr: '10.0.0.2', port: 50000 }, { addr: '10.0.0.3', port: 2626 }).handshake();
  for (const [side, s] of session) conv.send(side, s);
  conv.close();
  const { events, stats } = parseCaptureSync(pcapng(conv.frames));
  assertValidEvents(events);
  assert.equal(stats.protocols['dispatch.smtp_connections'], 1);
  assert.equal(events.length, 8);
  assert.ok(events.every((e) => e.pano.protocol === 'smtp'));
});

test('random damage never throws, and what is read stays within the schema', () => {
  const { client, server } = sidesOf(session);
  damagedSessionsStayValid((ctx) => new SmtpParser(ctx), client, server, 'smtp', { seed: 7, maxPiece: 40, interleave: 'server' });
});

test('MIME: a multipart/mixed message with a nested multipart/alternative, quoted-printable and base64 parts, an attachment; and a single base64 body', () => {
  const b64lines = (s: string) => Buffer.from(s).toString('base64').replace(/.{1,20}/g, '$&\r\n');
  const message = [
    'From: a@example.com',
    'Subject: order',
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="outer"',
    '',
    'This is a preamble.',
    '--outer',
    'Content-Type: multipart/alternative; boundary=inner',
    '',
    '--inner',
    'Content-Type: text/plain; charset=iso-8859-1',
    'Content-Transfer-Encoding: quoted-printable',
    '',
    'Gr=FC=DFe, J=FCrgen! Your card ends in 4242. A long line that is softly=',
    ' broken.',
    '--inner',
    'Content-Type: text/html; charset=utf-8',
    'Content-Transfer-Encoding: base64',
    '',
    b64lines('<p>Call <b>+49 30 901820</b></p>').trimEnd(),
    '--inner--',
    '--outer',
    'Content-Type: application/pdf; name="invoice.pdf"',
    'Content-Disposition: attachment; filename="invoice.pdf"',
    'Content-Transfer-Encoding: base64',
    '',
    b64lines('%PDF-1.4 binary').trimEnd(),
    '--outer--',
    'epilogue',
    '',
  ].join('\r\n');
  const ctx = run([[S, '220 mx ESMTP\r\n'], [C, 'DATA\r\n'], [S, '354 go\r\n'], [C, `${message}.\r\n`], [S, '250 Ok\r\n']]);
  const m = at(ctx.records[1]!, 'smtp.message') as { body: Record<string, unknown>; parts: Array<{ headers: Record<string, string[]>; body: Record<string, unknown>; filename?: string }> };
  assert.equal(m.body.content, undefined, 'the raw body is not scanned twice');
  assert.equal(m.body.size, Buffer.byteLength(message) - message.indexOf('\r\n\r\n') - 4);
  assert.deepEqual(m.parts.map((p) => [p.headers['content-type']?.[0], p.body, p.filename ?? null]), [
    ['text/plain; charset=iso-8859-1', { size: Buffer.byteLength('Grüße, Jürgen! Your card ends in 4242. A long line that is softly broken.', 'latin1'), content_encoding: 'quoted-printable', content: 'Grüße, Jürgen! Your card ends in 4242. A long line that is softly broken.' }, null],
    ['text/html; charset=utf-8', { size: 32, content_encoding: 'base64', content: '<p>Call <b>+49 30 901820</b></p>' }, null],
    ['application/pdf; name="invoice.pdf"', { size: 15, content_encoding: 'base64' }, 'invoice.pdf'],
  ]);
  // one part, base64: decoded in place of the body
  const single = ['Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: base64', '', b64lines('Hello Zoë, your PIN is in the app.').trimEnd(), ''].join('\r\n');
  const one = run([[S, '220 mx ESMTP\r\n'], [C, 'DATA\r\n'], [S, '354 go\r\n'], [C, `${single}.\r\n`], [S, '250 Ok\r\n']]);
  const parts = at(one.records[1]!, 'smtp.message.parts') as Array<{ body: Record<string, unknown> }>;
  assert.deepEqual(parts.map((p) => p.body), [{ size: Buffer.byteLength('Hello Zoë, your PIN is in the app.'), content_encoding: 'base64', content: 'Hello Zoë, your PIN is in the app.' }]);
  // plain text: no parts
  assert.equal(at(run(session).records[6]!, 'smtp.message.parts'), undefined);
});

test('MIME damage: mutated multipart messages never throw, and what is read stays within the schema', () => {
  const base = ['Content-Type: multipart/mixed; boundary=b', '', '--b', 'Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: quoted-printable', '', 'caf=C3=A9 =', 'soft', '--b', 'Content-Type: multipart/alternative; boundary=c', '', '--c', 'Content-Transfer-Encoding: base64', 'Content-Type: text/html', '', 'PHA+aGk8L3A+', '--c--', '--b--', ''].join('\r\n');
  let seed = 3;
  const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  for (let i = 0; i < 300; i++) {
    const m = Buffer.from(base);
    for (let k = 0; k < 1 + Math.floor(rand() * 6); k++) m[Math.floor(rand() * m.length)] = Math.floor(rand() * 256);
    const ctx = run([[S, '220 mx ESMTP\r\n'], [C, 'DATA\r\n'], [S, '354 go\r\n'], [C, `${m.toString('latin1')}\r\n.\r\n`], [S, '250 Ok\r\n']]);
    for (const r of ctx.records) {
      assertValidEvents([recordAsEvent(r, 'smtp')]);
    }
  }
});
