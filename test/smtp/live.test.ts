// Real SMTP traffic: aiosmtpd 1.4 (Debian's python3-aiosmtpd) started once for
// this file on a loopback port, with STARTTLS (a certificate made here) and
// AUTH PLAIN/LOGIN without TLS, driven by swaks (a plain message from a
// display name to two recipients; PIPELINING with a refused recipient; AUTH
// PLAIN and LOGIN as eve, a refused LOGIN as mallory; a multipart message with
// an attachment and an RFC 2047 Subject; dot-stuffed lines; a ~100 KB body),
// Python's smtplib (HELO, NOOP, VRFY, EXPN, HELP, RSET between transactions,
// a refused RCPT, a message with encoded words and folded headers; then a
// session that switches to TLS with STARTTLS and writes its key log), and a
// raw socket that ends the connection in the middle of DATA; captured with
// tcpdump, parsed, and checked against what each client sent and got back
// (its transcript) and what the server recorded (the envelope and the exact
// message bytes of each DATA). See smtpScenario in test/helpers/smtp-server.ts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { captureDuring } from '../helpers/loopback-capture.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';
import {
  SmtpServer,
  smtpMissing,
  smtpScenario,
  expectedFromTranscript,
  expectedMessage,
  expectedBody,
  MAX_BODY,
  EVE,
  MALLORY,
  PLAIN,
  GREETING,
  GREETING_SUBJECT,
  ATTACHMENT,
  DOTS_BODY,
  REFUSED_DOMAIN,
  type ExpectedSmtp,
  type MessageRecord,
  type SmtpEvent,
  type SmtpRun,
  type SmtpScenarioResult,
} from '../helpers/smtp-server.js';
import type { PanoEvent } from '@panopticon/events';

const missing = smtpMissing();
const skip = missing.length ? `missing ${missing.join(', ')}` : false;
let server: SmtpServer | undefined;

before(async () => {
  if (!missing.length) server = await SmtpServer.start({ tls: true, auth: true });
});

after(async () => {
  await server?.stop();
});

interface Captured {
  run: SmtpScenarioResult;
  file: string;
  /** every event of the capture, parsed with the STARTTLS session's key log */
  events: PanoEvent[];
  /** the smtp events of that parse */
  smtp: SmtpEvent[];
  /** every event of the capture, parsed without the key log */
  plain: PanoEvent[];
}
let captured: Promise<Captured> | undefined;

/** The scenario's traffic, captured and parsed once for the tests that read it. */
function capture(): Promise<Captured> {
  return (captured ??= (async () => {
    const s = server!;
    const file = join(s.dir, 'smtp.pcap');
    const run = await captureDuring(file, `tcp port ${s.port}`, () => smtpScenario(s));
    const { events } = parseCaptureSync(file, { parse: { tlsKeyLogs: [run.keylog] } });
    assertValidEvents(events);
    const plain = parseCaptureSync(file).events;
    assertValidEvents(plain);
    return { run, file, events, plain, smtp: smtpOf(events) };
  })());
}

const smtpOf = (events: PanoEvent[]) => events.filter((e) => e.pano.protocol === 'smtp') as SmtpEvent[];

const show = (e: SmtpEvent) =>
  `${e.pano.kind} ${e.smtp?.greeting ? '(greeting)' : (e.smtp?.command ?? '?')} ${e.smtp?.arguments ?? ''} -> ${e.smtp?.reply?.code ?? '-'}${e.tls?.decrypted ? ' [tls]' : ''}`;
const showAll = (list: SmtpEvent[]) => list.map(show).join('\n  ');
const showX = (x: ExpectedSmtp) => `${x.kind} ${x.greeting ? '(greeting)' : x.command} ${x.arguments ?? ''} -> ${x.reply?.code ?? '-'}${x.tls ? ' [tls]' : ''}`;

const cmpStart = (a: PanoEvent, b: PanoEvent) => (BigInt(a.pano.start_ns) < BigInt(b.pano.start_ns) ? -1 : BigInt(a.pano.start_ns) > BigInt(b.pano.start_ns) ? 1 : 0);

/**
 * The SMTP events of each connection (by client port), each list in start
 * order (a stable sort: commands pipelined in one segment keep the order the
 * parser answered them in), the connections in the order they started.
 */
function connections(smtp: SmtpEvent[]): Array<[number, SmtpEvent[]]> {
  const out = new Map<number, SmtpEvent[]>();
  for (const e of smtp) out.set(e.client.port, [...(out.get(e.client.port) ?? []), e]);
  for (const list of out.values()) list.sort(cmpStart);
  return [...out.entries()].sort(([, a], [, b]) => cmpStart(a[0]!, b[0]!));
}

/** The connection of each run (the runs went one after another), checked against the ports the clients told. */
function runConnections(c: Captured): Map<string, { run: SmtpRun; port: number; events: SmtpEvent[] }> {
  const conns = connections(c.smtp);
  assert.equal(conns.length, c.run.runs.length, `a connection per client run, got:\n  ${conns.map(([p, l]) => `${p}: ${showAll(l)}`).join('\n  ')}`);
  const out = new Map<string, { run: SmtpRun; port: number; events: SmtpEvent[] }>();
  c.run.runs.forEach((run, i) => {
    const [port, events] = conns[i]!;
    if (run.port !== undefined) assert.equal(port, run.port, `${run.name}: the client's port`);
    out.set(run.name, { run, port, events });
  });
  return out;
}

const messageRecord = (run: SmtpScenarioResult, id: string | undefined): MessageRecord => {
  const rec = run.records.find((r): r is MessageRecord => r.type === 'message' && r.id === id);
  assert.ok(rec, `no server record of message ${id}`);
  return rec;
};

/** Checks one event against what the transcript says of its command and the server recorded of its message. */
function checkEvent(e: SmtpEvent, x: ExpectedSmtp, c: Captured, port: number, where: string): void {
  const s = e.smtp;
  const at = `${where}: ${show(e)}`;
  assert.equal(e.pano.protocol, 'smtp', at);
  assert.equal(e.network.protocol.name, 'smtp', at);
  assert.equal(e.server.port, c.run.port, at);
  assert.equal(e.pano.kind, x.kind, at);
  if (x.greeting) {
    assert.equal(s.greeting, true, at);
    assert.equal(s.command, undefined, `${at}: the greeting answers no command`);
  } else {
    assert.notEqual(s.greeting, true, at);
    assert.equal(s.command, x.command, at);
    // a command without arguments: absent (or empty)
    assert.equal(s.arguments ?? '', x.arguments ?? '', `${at}: arguments`);
  }
  // unanswered: no reply
  assert.deepEqual(s.reply, x.reply, `${at}: reply`);
  assert.deepEqual(s.intermediate_reply, x.intermediate, `${at}: intermediate_reply`);
  assert.deepEqual(s.auth, x.auth, `${at}: auth`);
  assert.equal(s.mail_from, x.mail_from, `${at}: mail_from`);
  assert.equal(s.rcpt_to, x.rcpt_to, `${at}: rcpt_to`);
  if (x.kind !== 'unanswered') {
    if (x.reply!.code >= 400) assert.deepEqual(e.error, { type: String(x.reply!.code) }, at);
    else assert.equal(e.error, undefined, `${at}: no error`);
  }
  if (x.tls) assert.equal(e.tls?.decrypted, true, `${at}: read inside TLS`);
  else assert.notEqual(e.tls?.decrypted, true, `${at}: sent in the clear`);
  if (x.command === 'DATA' && x.kind !== 'unanswered') {
    const rec = messageRecord(c.run, x.queued);
    assert.equal(rec.peer_port, port, `${at}: the record's connection`);
    assert.equal(rec.tls, x.tls, `${at}: the record's TLS`);
    // what the client's transcript and the server agree the transaction was
    assert.deepEqual(x.envelope, { mail_from: rec.mail_from, rcpt_to: rec.rcpt_tos }, `${at}: scenario`);
    assert.deepEqual(s.envelope, { mail_from: rec.mail_from, rcpt_to: rec.rcpt_tos }, `${at}: envelope`);
    const want = expectedMessage(rec.data);
    assert.ok(s.message, `${at}: no message`);
    assert.equal(s.message.size, want.size, `${at}: message size (dot-unstuffed)`);
    assert.deepEqual(s.message.headers, want.headers, `${at}: headers`);
    assert.deepEqual(s.message.body, want.body, `${at}: body`);
    // MIME parts: each part's decoded payload as Python's email package reads it (headers are compared above)
    assert.deepEqual(s.message.parts?.map((p) => (p.filename === undefined ? { body: p.body } : { body: p.body, filename: p.filename })), want.parts, `${at}: parts`);
  } else if (x.kind !== 'unanswered') {
    assert.equal(s.envelope, undefined, `${at}: envelope`);
    assert.equal(s.message, undefined, `${at}: message`);
  }
}

function checkSequence(list: SmtpEvent[], expected: ExpectedSmtp[], c: Captured, port: number, what: string): void {
  assert.deepEqual(list.map(show), expected.map(showX), `${what}: the events`);
  expected.forEach((x, i) => checkEvent(list[i]!, x, c, port, `${what} #${i}`));
}

/** The DATA event of a run, and the server's record of its message. */
function dataOf(c: Captured, name: string): { e: SmtpEvent; rec: MessageRecord } {
  const conn = runConnections(c).get(name)!;
  const e = conn.events.find((x) => x.smtp.command === 'DATA' && x.pano.kind === 'exchange');
  assert.ok(e, `${name}: no DATA exchange:\n  ${showAll(conn.events)}`);
  return { e, rec: messageRecord(c.run, /queued as (\S+)/.exec(e.smtp.reply?.text ?? '')?.[1]) };
}

// ---------------------------------------------------------------------------

test('every SMTP connection parses into what its client sent and got back, and the server recorded', { skip }, async () => {
  const c = await capture();
  assert.ok(c.smtp.length > 0, 'no smtp events');
  for (const e of c.smtp) {
    assert.notEqual(e.pano.kind, 'orphan_response', show(e));
    assert.ok(!e.pano.flags?.includes('gap'), show(e));
  }
  for (const { run, port, events } of runConnections(c).values()) {
    checkSequence(events, expectedFromTranscript(run.transcript), c, port, `${run.name} (${run.client})`);
  }
  // every message the server received is a DATA event's
  const datas = c.smtp.filter((e) => e.smtp.command === 'DATA' && e.pano.kind === 'exchange');
  assert.equal(datas.length, c.run.records.filter((r) => r.type === 'message').length);
});

test('smtp (a): a plain message from a display name to two recipients', { skip }, async () => {
  const c = await capture();
  const { e, rec } = dataOf(c, 'plain');
  assert.deepEqual(rec.rcpt_tos, PLAIN.to);
  assert.deepEqual(e.smtp.envelope, { mail_from: PLAIN.from, rcpt_to: PLAIN.to });
  const h = e.smtp.message!.headers;
  assert.deepEqual(h.from, [PLAIN.fromHeader]);
  assert.deepEqual(h.subject, [PLAIN.subject]);
  assert.deepEqual(h.to, [PLAIN.to.join(',')]);
  assert.ok(e.smtp.message!.body.content!.includes('+1 415 555 0100'), JSON.stringify(e.smtp.message!.body));
  const conn = runConnections(c).get('plain')!.events;
  assert.deepEqual(conn[0]!.smtp.reply, { code: 220, text: GREETING });
  assert.deepEqual(
    conn.filter((x) => x.smtp.command === 'RCPT').map((x) => x.smtp.rcpt_to),
    PLAIN.to,
  );
  // EHLO's multi-line reply: its lines' texts joined, the keywords swaks saw
  const ehlo = conn.find((x) => x.smtp.command === 'EHLO')!;
  assert.equal(ehlo.smtp.reply!.text.split('\n')[0], 'mx.example.test');
  assert.ok(ehlo.smtp.reply!.text.split('\n').includes('PIPELINING'), ehlo.smtp.reply!.text);
});

test('smtp (b): pipelined MAIL, RCPT, RCPT, DATA are answered in order, the refused recipient left out of the envelope', { skip }, async () => {
  const c = await capture();
  const { run, events } = runConnections(c).get('pipeline')!;
  // swaks wrote the four commands before reading a reply
  const sent = run.transcript.map((t) => (t.from === 'client' ? `> ${t.text}` : `< ${t.code}`));
  assert.deepEqual(sent.slice(sent.indexOf('> MAIL FROM:<pipe@example.com>'), sent.indexOf('> MAIL FROM:<pipe@example.com>') + 8), [
    '> MAIL FROM:<pipe@example.com>', '> RCPT TO:<bob@example.org>', `> RCPT TO:<nobody@${REFUSED_DOMAIN}>`, '> DATA', '< 250', '< 250', '< 550', '< 354',
  ]);
  assert.deepEqual(
    events.filter((e) => ['MAIL', 'RCPT', 'DATA'].includes(e.smtp.command!)).map((e) => [e.smtp.command, e.smtp.reply?.code, e.smtp.reply?.enhanced_status, e.error?.type]),
    [['MAIL', 250, '2.1.0', undefined], ['RCPT', 250, '2.1.5', undefined], ['RCPT', 550, '5.1.1', '550'], ['DATA', 250, '2.0.0', undefined]],
  );
  const { e } = dataOf(c, 'pipeline');
  assert.deepEqual(e.smtp.envelope, { mail_from: 'pipe@example.com', rcpt_to: ['bob@example.org'] });
  assert.deepEqual(e.smtp.intermediate_reply, { code: 354, text: 'End data with <CR><LF>.<CR><LF>' });
});

test('smtp (c): AUTH PLAIN and LOGIN as eve, a refused LOGIN as mallory; the user names kept, no password anywhere', { skip }, async () => {
  const c = await capture();
  const conns = runConnections(c);
  const auth = (name: string) => conns.get(name)!.events.filter((e) => e.smtp.command === 'AUTH');
  assert.deepEqual(auth('auth-plain').map((e) => [e.smtp.arguments, e.smtp.auth, e.smtp.reply?.code, e.error]), [['PLAIN', { mechanism: 'PLAIN', username: 'eve', steps: 0 }, 235, undefined]]);
  assert.deepEqual(auth('auth-login').map((e) => [e.smtp.arguments, e.smtp.auth, e.smtp.reply?.code, e.error]), [['LOGIN', { mechanism: 'LOGIN', username: 'eve', steps: 2 }, 235, undefined]]);
  assert.deepEqual(auth('auth-refused').map((e) => [e.smtp.arguments, e.smtp.auth, e.smtp.reply, e.error]), [
    ['LOGIN', { mechanism: 'LOGIN', username: 'mallory', steps: 2 }, { code: 535, enhanced_status: '5.7.8', text: '5.7.8 Authentication credentials invalid' }, { type: '535' }],
  ]);
  assert.deepEqual(auth('starttls').map((e) => [e.smtp.auth, e.tls?.decrypted]), [[{ mechanism: 'PLAIN', username: 'eve', steps: 0 }, true]]);
  // the server saw the same attempts
  assert.deepEqual(
    c.run.records.filter((r) => r.type === 'auth').map((r) => [r.type === 'auth' && r.mechanism, r.type === 'auth' && r.login, r.type === 'auth' && r.success]),
    [['PLAIN', 'eve', true], ['LOGIN', 'eve', true], ['LOGIN', 'mallory', false], ['PLAIN', 'eve', true]],
  );
  // neither password, nor its base64, nor PLAIN's initial response, in any event of either parse
  const plainResponse = (u: string, p: string) => Buffer.from(`\0${u}\0${p}`).toString('base64');
  for (const [what, events] of [['with the key log', c.events], ['without', c.plain]] as const) {
    const text = JSON.stringify(events);
    for (const secret of [EVE.password, MALLORY.password, Buffer.from(EVE.password).toString('base64'), Buffer.from(MALLORY.password).toString('base64'), plainResponse(EVE.user, EVE.password)]) {
      assert.ok(!text.includes(secret), `${what}: ${secret} in the events`);
    }
  }
});

test('smtp (d): a multipart message with an attachment and an RFC 2047 Subject, decoded', { skip }, async () => {
  const c = await capture();
  const { e, rec } = dataOf(c, 'attachment');
  const m = e.smtp.message!;
  assert.deepEqual(m.headers.subject, [GREETING_SUBJECT]);
  assert.match(m.headers['content-type']![0]!, /^multipart\/mixed; boundary="[^"]+"$/);
  assert.deepEqual(m.headers['mime-version'], ['1.0']);
  // the MIME body is read as its parts: the text part, and the attachment's base64 undone
  assert.equal(m.body.content, undefined, 'the raw body is not scanned twice');
  assert.deepEqual(m.parts!.map((p) => [p.headers['content-type']?.[0], p.body.content, p.filename ?? null]), [
    ['text/plain', 'The contact list is attached.', null],
    ['text/csv; name="contacts.csv"', ATTACHMENT, 'contacts.csv'],
  ]);
  assert.equal(m.parts![1]!.body.content_encoding, 'base64');
  assert.equal(m.size, rec.data.length);
});

test('smtp (e): dot-stuffed lines are unstuffed, and a lone dot inside the body does not end the message', { skip }, async () => {
  const c = await capture();
  const { e, rec } = dataOf(c, 'dots');
  const crlf = DOTS_BODY.replace(/\n/g, '\r\n');
  // swaks doubled each leading dot on the wire (its transcript shows what it wrote)
  const sent = runConnections(c).get('dots')!.run.transcript.filter((t) => t.from === 'client').map((t) => (t.from === 'client' ? t.text : ''));
  for (const line of ['..hidden line', '..', '...two dots']) assert.ok(sent.includes(line), `swaks sent ${line}`);
  assert.ok(rec.data.toString().includes(crlf), 'the server got the lines unstuffed');
  assert.ok(e.smtp.message!.body.content!.startsWith(crlf), JSON.stringify(e.smtp.message!.body));
  assert.deepEqual(e.smtp.message!.body, expectedBody(rec.data.subarray(rec.data.indexOf('\r\n\r\n') + 4)));
  // QUIT after the message: the lone "." line was data, the final one ended it
  const conn = runConnections(c).get('dots')!.events;
  assert.deepEqual(conn.slice(-2).map((x) => x.smtp.command), ['DATA', 'QUIT']);
});

test('smtp (f): a body over 64 KiB is kept to the limit with its whole size', { skip }, async () => {
  const c = await capture();
  const { e, rec } = dataOf(c, 'big');
  const body = e.smtp.message!.body;
  const whole = rec.data.subarray(rec.data.indexOf('\r\n\r\n') + 4);
  assert.ok(whole.length > 100_000, `${whole.length}`);
  assert.equal(body.size, whole.length);
  assert.equal(body.truncated, true);
  assert.equal(Buffer.byteLength(body.content!), MAX_BODY);
  assert.equal(body.content, whole.subarray(0, MAX_BODY).toString('utf8'));
  // sizes after dot-unstuffing: swaks doubled the leading dot of every 97th line on the wire
  assert.equal(e.smtp.message!.size, rec.data.length);
  assert.ok(c.run.big.split('\n').filter((l) => l.startsWith('.')).length > 10);
});

test('smtp (g): smtplib: HELO, NOOP, VRFY, EXPN, HELP, RSET, a refused RCPT, encoded words and folded headers', { skip }, async () => {
  const c = await capture();
  const { run, events } = runConnections(c).get('session')!;
  assert.deepEqual(
    [run.py!.helo, run.py!.noop, run.py!.vrfy, run.py!.expn, run.py!.rset, run.py!.rcpt3, run.py!.data, run.py!.quit],
    [250, 250, 252, 502, 250, 550, 250, 221],
  );
  // smtplib writes its verbs in lower case: the events' are upper case
  assert.ok(run.transcript.some((t) => t.from === 'client' && t.text === 'noop'));
  assert.deepEqual(events.map((e) => e.smtp.command ?? '(greeting)'), [
    '(greeting)', 'HELO', 'NOOP', 'VRFY', 'EXPN', 'HELP', 'MAIL', 'RCPT', 'RSET', 'MAIL', 'RCPT', 'RCPT', 'DATA', 'QUIT',
  ]);
  const byCommand = (cmd: string) => events.filter((e) => e.smtp.command === cmd);
  assert.deepEqual(byCommand('VRFY').map((e) => [e.smtp.arguments, e.smtp.reply?.code, e.error]), [['bob@example.org', 252, undefined]]);
  assert.deepEqual(byCommand('EXPN').map((e) => [e.smtp.arguments, e.smtp.reply, e.error]), [['staff', { code: 502, text: 'EXPN not implemented' }, { type: '502' }]]);
  assert.match(byCommand('HELP')[0]!.smtp.reply!.text, /^Supported commands: .*\bVRFY\b/);
  // the transaction RSET discarded is not the envelope's
  const { e } = dataOf(c, 'session');
  assert.deepEqual(e.smtp.envelope, { mail_from: 'zoe@example.com', rcpt_to: ['bob@example.org'] });
  const h = e.smtp.message!.headers;
  assert.deepEqual(h.from, ['Zoë Müller <zoe@example.com>'], 'Q-encoded ISO-8859-1');
  assert.deepEqual(h.subject, ['Café au lait tomorrow'], 'two encoded words over a fold: the space between them dropped');
  assert.deepEqual(h['x-folded'], ['first part second part']);
  assert.deepEqual(h.to, [`Bob <bob@example.org>, nobody@${REFUSED_DOMAIN}`]);
  assert.equal(e.smtp.message!.body.content, 'Grüße, Zoë: see you at 10.\r\n');
});

test('smtp (h): STARTTLS: the events stop at the switch without the key log, and go on inside TLS with it', { skip }, async () => {
  const c = await capture();
  const { run, port, events } = runConnections(c).get('starttls')!;
  assert.equal(run.py!.tls_version, 'TLSv1.3');
  assert.ok(readFileSync(c.run.keylog, 'utf8').includes('CLIENT_TRAFFIC_SECRET_0'), 'the key log was written');

  // without the key log: greeting, EHLO, STARTTLS (220), then a TLS connection
  const plain = smtpOf(c.plain).filter((e) => e.client.port === port).sort(cmpStart);
  assert.deepEqual(plain.map((e) => [e.pano.kind, e.smtp.command ?? '(greeting)', e.smtp.reply?.code]), [
    ['message', '(greeting)', 220],
    ['exchange', 'EHLO', 250],
    ['exchange', 'STARTTLS', 220],
  ], showAll(plain));
  assert.deepEqual(plain[2]!.smtp.reply, { code: 220, text: 'Ready to start TLS' });
  const tls = c.plain.filter((e) => e.pano.protocol === 'tls' && (e.client as { port?: number } | undefined)?.port === port);
  assert.equal(tls.length, 1, 'a TLS event follows the switch');
  assert.equal(tls[0]!.pano.connection.id, plain[0]!.pano.connection.id);
  const plainText = JSON.stringify(c.plain);
  assert.ok(!plainText.includes('door code') && !plainText.includes('Inside TLS'), 'nothing of the message without the key log');

  // with it: the same three, then the session inside TLS, each marked decrypted
  assert.deepEqual(events.map((e) => [e.smtp.command ?? '(greeting)', e.smtp.reply?.code, e.tls?.decrypted ?? false]), [
    ['(greeting)', 220, false],
    ['EHLO', 250, false],
    ['STARTTLS', 220, false],
    ['EHLO', 250, true],
    ['AUTH', 235, true],
    ['MAIL', 250, true],
    ['RCPT', 250, true],
    ['DATA', 250, true],
    ['QUIT', 221, true],
  ]);
  // EHLO inside TLS no longer offers STARTTLS
  assert.ok(!events[3]!.smtp.reply!.text.split('\n').includes('STARTTLS'));
  assert.ok(events[1]!.smtp.reply!.text.split('\n').includes('STARTTLS'));
  // smtplib's MAIL carries SIZE=: in the arguments, not in the address
  assert.match(events[5]!.smtp.arguments!, /^FROM:<eve@example\.com> size=\d+$/);
  assert.equal(events[5]!.smtp.mail_from, 'eve@example.com');
  const { e, rec } = dataOf(c, 'starttls');
  assert.equal(rec.tls, true);
  assert.deepEqual(e.smtp.message!.headers.subject, ['Inside TLS']);
  assert.equal(e.smtp.message!.body.content, 'The door code is 4471.\r\n');
  assert.deepEqual(e.smtp.message, expectedMessage(rec.data));

  // the other connections read the same with or without the key log
  const strip = (list: SmtpEvent[]) => list.filter((x) => x.client.port !== port).map((x) => JSON.stringify({ ...x, pano: { ...x.pano, id: undefined, connection: undefined } }));
  assert.deepEqual(strip(smtpOf(c.plain)), strip(c.smtp));
});

test('smtp (i): DATA the connection ended in the middle of is unanswered', { skip }, async () => {
  const c = await capture();
  const { events } = runConnections(c).get('abandoned')!;
  const last = events.at(-1)!;
  assert.equal(last.pano.kind, 'unanswered', showAll(events));
  assert.equal(last.smtp.command, 'DATA');
  assert.equal(last.smtp.reply, undefined);
  assert.deepEqual(last.smtp.intermediate_reply, { code: 354, text: 'End data with <CR><LF>.<CR><LF>' });
  // the server never received it
  assert.equal(c.run.records.filter((r) => r.type === 'message' && r.mail_from === 'raw@example.com').length, 0);
});
