// Real POP3 traffic: a private Dovecot 2.3 (Debian's dovecot-pop3d) started
// once for this file on a loopback port (test/helpers/dovecot.ts: its own
// config, passwd-file and maildir in a temp dir, STLS with a certificate made
// here), eve's maildrop seeded with five known messages (a plain one from Ivy
// Chen, one with lines starting with dots, a MIME multipart with a base64 CSV
// attachment, one with RFC 2047 encoded From and Subject, and a ~100 KB one),
// driven by Python's poplib and raw sockets (test/fixtures/pop3/client.py): a
// whole session (CAPA, USER/PASS, STAT, LIST, UIDL, RETR of every message,
// TOP, NOOP, DELE, RSET, QUIT), a refused password, AUTH PLAIN with an
// initial response and AUTH LOGIN through its "+ " challenges, five commands
// pipelined in one write, STLS with the session going on inside TLS 1.3 (key
// log written), and a RETR of the big message the client gives up after the
// status line; captured with tcpdump, parsed, and checked against what each
// client sent and got back (its transcript), the exact bytes seeded in the
// maildrop, and the logins Dovecot logged. See pop3Scenario.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { captureDuring } from '../helpers/loopback-capture.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';
import {
  Dovecot,
  dovecotMissing,
  pop3Scenario,
  expectedFromTranscript,
  expectedPop3Message,
  messageNumber,
  MESSAGES,
  MAX_BODY,
  EVE,
  WRONG_PASSWORD,
  GREETING,
  IVY,
  PLAIN_SUBJECT,
  PHONE,
  ATTACHMENT,
  ENCODED_SUBJECT_TEXT,
  ENCODED_FROM_TEXT,
  DOTS_LINES,
  type ExpectedPop3,
  type Pop3Event,
  type Pop3Mode,
  type Pop3Run,
  type Pop3ScenarioResult,
} from '../helpers/dovecot.js';
import type { PanoEvent } from '@panopticon/events';

const missing = dovecotMissing();
const skip = missing.length ? `missing ${missing.join(', ')}` : false;
let server: Dovecot | undefined;

before(async () => {
  if (!missing.length) server = await Dovecot.start();
});

after(async () => {
  await server?.stop();
});

interface Captured {
  run: Pop3ScenarioResult;
  file: string;
  /** every event of the capture, parsed with the STLS session's key log */
  events: PanoEvent[];
  /** the pop3 events of that parse */
  pop3: Pop3Event[];
  /** every event of the capture, parsed without the key log */
  plain: PanoEvent[];
}
let captured: Promise<Captured> | undefined;

/** The scenario's traffic, captured and parsed once for the tests that read it. */
function capture(): Promise<Captured> {
  return (captured ??= (async () => {
    const s = server!;
    const file = join(s.dir, 'pop3.pcap');
    const run = await captureDuring(file, `tcp port ${s.port}`, () => pop3Scenario(s));
    const { events } = parseCaptureSync(file, { parse: { tlsKeyLogs: [run.keylog] } });
    assertValidEvents(events);
    const plain = parseCaptureSync(file).events;
    assertValidEvents(plain);
    return { run, file, events, plain, pop3: pop3Of(events) };
  })());
}

const pop3Of = (events: PanoEvent[]) => events.filter((e) => e.pano.protocol === 'pop3') as Pop3Event[];

const show = (e: Pop3Event) =>
  `${e.pano.kind} ${e.pop3?.greeting ? '(greeting)' : (e.pop3?.command ?? '?')} ${e.pop3?.arguments ?? ''} -> ${e.pop3?.response?.status ?? '-'}${e.tls?.decrypted ? ' [tls]' : ''}`;
const showAll = (list: Pop3Event[]) => list.map(show).join('\n  ');
const showX = (x: ExpectedPop3) => `${x.kind} ${x.greeting ? '(greeting)' : x.command} ${x.arguments ?? ''} -> ${x.response?.status ?? '-'}${x.tls ? ' [tls]' : ''}`;

const cmpStart = (a: PanoEvent, b: PanoEvent) => (BigInt(a.pano.start_ns) < BigInt(b.pano.start_ns) ? -1 : BigInt(a.pano.start_ns) > BigInt(b.pano.start_ns) ? 1 : 0);

/** The events of each connection (by client port), each list in start order (stable: pipelined commands keep the parser's order). */
function byPort(list: Pop3Event[]): Map<number, Pop3Event[]> {
  const out = new Map<number, Pop3Event[]>();
  for (const e of list) out.set(e.client.port, [...(out.get(e.client.port) ?? []), e]);
  for (const l of out.values()) l.sort(cmpStart);
  return out;
}

/** The connection of each run (the client told its port). */
function runConnections(c: Captured): Map<Pop3Mode, { run: Pop3Run; port: number; events: Pop3Event[] }> {
  const conns = byPort(c.pop3);
  assert.deepEqual([...conns.keys()].sort(), c.run.runs.map((r) => r.port).sort(), `a connection per client run, got:\n  ${[...conns].map(([p, l]) => `${p}: ${showAll(l)}`).join('\n  ')}`);
  return new Map(c.run.runs.map((run) => [run.name, { run, port: run.port, events: conns.get(run.port)! }]));
}

const conn = (c: Captured, name: Pop3Mode) => runConnections(c).get(name)!;

/** The seeded bytes of message n. */
const seed = (n: number) => MESSAGES[n - 1]!.data;

/** The event's message against the one expected of `data`: size, headers, body, and each MIME part's decoded body and file name (as Python's email package reads them). */
function checkMessage(got: Pop3Event['pop3']['message'], data: Buffer, at: string): void {
  const want = expectedPop3Message(data);
  assert.ok(got, `${at}: no message`);
  assert.equal(got.size, want.size, `${at}: message size (dot-unstuffed)`);
  assert.deepEqual(got.headers, want.headers, `${at}: headers`);
  assert.deepEqual(got.body, want.body, `${at}: body`);
  assert.deepEqual(got.parts?.map((p) => (p.filename === undefined ? { body: p.body } : { body: p.body, filename: p.filename })), want.parts, `${at}: parts`);
}

/** Checks one event against what the transcript says of its command and response. */
function checkEvent(e: Pop3Event, x: ExpectedPop3, c: Captured, where: string): void {
  const p = e.pop3;
  const at = `${where}: ${show(e)}`;
  assert.equal(e.pano.protocol, 'pop3', at);
  assert.equal(e.network.protocol.name, 'pop3', at);
  assert.equal(e.server.port, c.run.port, at);
  assert.equal(e.pano.kind, x.kind, at);
  if (x.greeting) {
    assert.equal(p.greeting, true, at);
    assert.equal(p.command, undefined, `${at}: the greeting answers no command`);
  } else {
    assert.notEqual(p.greeting, true, at);
    assert.equal(p.command, x.command, `${at}: command`);
    if (x.command === 'PASS') assert.ok(!('arguments' in p), `${at}: PASS keeps no arguments`);
    // a command without arguments: absent (or empty)
    else assert.equal(p.arguments ?? '', x.arguments ?? '', `${at}: arguments`);
  }
  assert.deepEqual(p.response, x.response, `${at}: response`);
  assert.equal(p.username, x.username, `${at}: username`);
  assert.deepEqual(p.auth, x.auth, `${at}: auth`);
  assert.deepEqual(p.maildrop, x.maildrop, `${at}: maildrop`);
  assert.deepEqual(p.listing, x.listing, `${at}: listing`);
  assert.deepEqual(p.capabilities, x.capabilities, `${at}: capabilities`);
  assert.equal(p.message_number, x.message_number, `${at}: message_number`);
  if (x.response?.status === '-ERR') assert.deepEqual(e.error, { type: x.response.code ?? 'ERR' }, `${at}: error`);
  else assert.equal(e.error, undefined, `${at}: no error`);
  if (x.tls) assert.equal(e.tls?.decrypted, true, `${at}: read inside TLS`);
  else assert.notEqual(e.tls?.decrypted, true, `${at}: sent in the clear`);
  if (x.message && !x.incomplete) {
    // what the client got is what was seeded (message n of the maildrop; TOP n 0 its header block)
    const n = x.message_number!;
    const whole = seed(n);
    if (x.command === 'RETR') assert.ok(x.message.equals(whole), `${at}: the client got the seeded bytes of message ${n}`);
    else assert.ok(x.message.equals(whole.subarray(0, whole.indexOf('\r\n\r\n') + 4)), `${at}: TOP ${n} 0 is the header block and the blank line`);
    checkMessage(p.message, x.message, at);
    const truncated = x.message.length - x.message.indexOf('\r\n\r\n') - 4 > MAX_BODY;
    assert.equal(e.pano.flags?.includes('truncated') ?? false, truncated, `${at}: the truncated flag`);
  } else if (!x.incomplete) {
    assert.equal(p.message, undefined, `${at}: message`);
  }
}

function checkSequence(list: Pop3Event[], expected: ExpectedPop3[], c: Captured, what: string): void {
  assert.deepEqual(list.map(show), expected.map(showX), `${what}: the events`);
  expected.forEach((x, i) => checkEvent(list[i]!, x, c, `${what} #${i}`));
}

/** The events of a connection with this command, in order. */
const commands = (events: Pop3Event[], verb: string) => events.filter((e) => e.pop3.command === verb);

// ---------------------------------------------------------------------------

test('every POP3 connection parses into what its client sent and got back', { skip }, async () => {
  const c = await capture();
  assert.ok(c.pop3.length > 0, 'no pop3 events');
  for (const e of c.pop3) {
    assert.notEqual(e.pano.kind, 'orphan_response', show(e));
    assert.ok(!e.pano.flags?.includes('gap'), show(e));
  }
  for (const { run, events } of runConnections(c).values()) {
    checkSequence(events, expectedFromTranscript(run.transcript), c, run.name);
  }
  // Dovecot logged a login per run, with the mechanism the client used (USER/PASS is PLAIN to it)
  assert.deepEqual(
    c.run.logins.map((l) => [c.run.runs.find((r) => r.port === l.rport)?.name, l.user, l.method, l.ok, l.tls]),
    [
      ['plain', 'eve', 'PLAIN', true, false],
      ['refused', 'eve', 'PLAIN', false, false],
      ['auth-plain', 'eve', 'PLAIN', true, false],
      ['auth-login', 'eve', 'LOGIN', true, false],
      ['pipeline', 'eve', 'PLAIN', true, false],
      ['stls', 'eve', 'PLAIN', true, true],
      ['abandoned', 'eve', 'PLAIN', true, false],
    ],
  );
});

test('pop3 (1): a whole session: the greeting, CAPA, STAT, LIST, UIDL, every message by RETR, TOP, DELE undone by RSET', { skip }, async () => {
  const c = await capture();
  const { events } = conn(c, 'plain');
  assert.deepEqual(events.map((e) => e.pop3.command ?? '(greeting)'), [
    '(greeting)', 'CAPA', 'USER', 'PASS', 'STAT', 'LIST', 'LIST', 'UIDL', 'UIDL', 'RETR', 'RETR', 'RETR', 'RETR', 'RETR', 'TOP', 'NOOP', 'DELE', 'RSET', 'QUIT',
  ]);
  assert.equal(events[0]!.pano.kind, 'message');
  assert.deepEqual(events[0]!.pop3.response, { status: '+OK', text: GREETING });
  assert.deepEqual(events[1]!.pop3.capabilities, ['CAPA', 'TOP', 'UIDL', 'RESP-CODES', 'PIPELINING', 'AUTH-RESP-CODE', 'STLS', 'USER', 'SASL PLAIN LOGIN']);
  // the maildrop as seeded: its count and sizes are the files' (CRLF) sizes
  const sizes = MESSAGES.map((m) => m.data.length);
  assert.deepEqual(commands(events, 'STAT')[0]!.pop3.maildrop, { messages: MESSAGES.length, size: sizes.reduce((a, b) => a + b, 0) });
  assert.deepEqual(commands(events, 'LIST').map((e) => e.pop3.listing), [sizes.map((size, i) => ({ number: i + 1, size })), [{ number: 1, size: sizes[0] }]]);
  assert.equal(commands(events, 'LIST')[1]!.pop3.message_number, 1);
  // pop3_uidl_format %08Xu%08Xv: the UID in hex, then UIDVALIDITY, the same for all
  const uidl = commands(events, 'UIDL');
  const uids = uidl[0]!.pop3.listing!;
  assert.deepEqual(uids.map((u) => u.number), [1, 2, 3, 4, 5]);
  const validity = uids[0]!.uid!.slice(8);
  assert.deepEqual(uids.map((u) => u.uid), uids.map((u) => u.number.toString(16).padStart(8, '0') + validity));
  assert.deepEqual(uidl[1]!.pop3.listing, [uids[1]]);
  // each RETR gives the message seeded in the maildrop
  const retr = commands(events, 'RETR');
  assert.deepEqual(retr.map((e) => e.pop3.message_number), [1, 2, 3, 4, 5]);
  retr.forEach((e, i) => checkMessage(e.pop3.message, seed(i + 1), `RETR ${i + 1}`));
  assert.deepEqual(retr.map((e) => e.pop3.response?.text), sizes.map((s) => `${s} octets`));
  const m1 = retr[0]!.pop3.message!;
  assert.deepEqual(m1.headers.from, [IVY.header]);
  assert.deepEqual(m1.headers.subject, [PLAIN_SUBJECT]);
  assert.ok(m1.body.content!.includes(PHONE), JSON.stringify(m1.body));
  // TOP 1 0: the header block alone
  const top = commands(events, 'TOP')[0]!;
  assert.equal(top.pop3.arguments, '1 0');
  assert.equal(top.pop3.message_number, 1);
  assert.deepEqual(top.pop3.message!.headers, m1.headers);
  assert.deepEqual(top.pop3.message!.body, { size: 0 });
  assert.deepEqual(commands(events, 'DELE').map((e) => [e.pop3.message_number, e.pop3.response]), [[3, { status: '+OK', text: 'Marked to be deleted.' }]]);
  assert.deepEqual(events.at(-1)!.pop3.response, { status: '+OK', text: 'Logging out.' });
});

test('pop3 (2): dot-stuffed lines are unstuffed, and a lone ".." line does not end the message', { skip }, async () => {
  const c = await capture();
  const n = messageNumber('dots');
  const e = commands(conn(c, 'plain').events, 'RETR').find((x) => x.pop3.message_number === n)!;
  // Dovecot doubled each leading dot on the wire (the transcript has the lines as received)
  const got = conn(c, 'plain').run.transcript.find((t) => t.from === 'server' && t.line === `+OK ${seed(n).length} octets` && t.lines?.includes('..'));
  assert.ok(got && got.from === 'server', 'the RETR response as received');
  for (const line of ['..hidden line', '..', '...two dots']) assert.ok(got.lines!.includes(line), `sent as ${line}`);
  const body = DOTS_LINES.map((l) => `${l}\r\n`).join('');
  assert.equal(e.pop3.message!.body.content, body);
  assert.equal(e.pop3.message!.size, seed(n).length);
});

test('pop3 (3): a MIME message is read as its parts, the base64 CSV attachment decoded', { skip }, async () => {
  const c = await capture();
  const e = commands(conn(c, 'plain').events, 'RETR').find((x) => x.pop3.message_number === messageNumber('mime'))!;
  const m = e.pop3.message!;
  assert.match(m.headers['content-type']![0]!, /^multipart\/mixed; boundary="pano-boundary-3"$/);
  assert.equal(m.body.content, undefined, 'the raw body is not scanned twice');
  assert.deepEqual(m.parts!.map((p) => [p.headers?.['content-type']?.[0], p.body.content, p.filename ?? null]), [
    ['text/plain; charset=utf-8', 'The contact list is attached.', null],
    ['text/csv; name="contacts.csv"', ATTACHMENT, 'contacts.csv'],
  ]);
  assert.equal(m.parts![1]!.body.content_encoding, 'base64');
  // the address inside the attachment is in the event as text, not base64
  assert.ok(JSON.stringify(m.parts).includes('oscar.diaz@example.net'));
});

test('pop3 (4): RFC 2047 encoded From and Subject are decoded', { skip }, async () => {
  const c = await capture();
  const e = commands(conn(c, 'plain').events, 'RETR').find((x) => x.pop3.message_number === messageNumber('encoded'))!;
  assert.deepEqual(e.pop3.message!.headers.subject, [ENCODED_SUBJECT_TEXT]);
  assert.deepEqual(e.pop3.message!.headers.from, [ENCODED_FROM_TEXT]);
  assert.equal(e.pop3.message!.body.content, 'Bis bald, Zoë.\r\n');
});

test('pop3 (5): a message over 64 KiB is kept to the limit with its whole size, flagged truncated', { skip }, async () => {
  const c = await capture();
  const n = messageNumber('big');
  const e = commands(conn(c, 'plain').events, 'RETR').find((x) => x.pop3.message_number === n)!;
  const data = seed(n);
  const whole = data.subarray(data.indexOf('\r\n\r\n') + 4);
  assert.ok(whole.length > 100_000 - 300, `${whole.length}`);
  const body = e.pop3.message!.body;
  assert.equal(body.size, whole.length);
  assert.equal(body.truncated, true);
  assert.equal(body.content, whole.subarray(0, MAX_BODY).toString('utf8'));
  // the size after dot-unstuffing: every 97th line went with a doubled dot
  assert.equal(e.pop3.message!.size, data.length);
  assert.ok(e.pano.flags?.includes('truncated'), JSON.stringify(e.pano.flags));
});

test('pop3 (6): a refused password: -ERR [AUTH], its code the error type; no password anywhere', { skip }, async () => {
  const c = await capture();
  const { events } = conn(c, 'refused');
  assert.deepEqual(events.map((e) => [e.pop3.command ?? '(greeting)', e.pop3.arguments, e.pop3.username, e.pop3.response, e.error]), [
    ['(greeting)', undefined, undefined, { status: '+OK', text: GREETING }, undefined],
    ['USER', 'eve', 'eve', { status: '+OK', text: '' }, undefined],
    ['PASS', undefined, undefined, { status: '-ERR', text: '[AUTH] Authentication failed.', code: 'AUTH' }, { type: 'AUTH' }],
    ['QUIT', undefined, undefined, { status: '+OK', text: 'Logging out' }, undefined],
  ]);
  // neither password, nor its base64, nor PLAIN's initial response, nor LOGIN's answers, in any event of either parse
  const plainResponse = Buffer.from(`\0${EVE.user}\0${EVE.password}`).toString('base64');
  for (const [what, list] of [['with the key log', c.events], ['without', c.plain]] as const) {
    const text = JSON.stringify(list);
    for (const secret of [EVE.password, WRONG_PASSWORD, Buffer.from(EVE.password).toString('base64'), plainResponse]) {
      assert.ok(!text.includes(secret), `${what}: ${secret} in the events`);
    }
  }
});

test('pop3 (7): AUTH PLAIN with an initial response and AUTH LOGIN through two challenges, the user names decoded', { skip }, async () => {
  const c = await capture();
  const auth = (name: Pop3Mode) => commands(conn(c, name).events, 'AUTH').map((e) => [e.pop3.arguments, e.pop3.auth, e.pop3.username, e.pop3.response, e.error]);
  assert.deepEqual(auth('auth-plain'), [['PLAIN', { mechanism: 'PLAIN', username: 'eve', steps: 0 }, 'eve', { status: '+OK', text: 'Logged in.' }, undefined]]);
  assert.deepEqual(auth('auth-login'), [['LOGIN', { mechanism: 'LOGIN', username: 'eve', steps: 2 }, 'eve', { status: '+OK', text: 'Logged in.' }, undefined]]);
  // the answers to the challenges are not commands: AUTH, STAT, QUIT
  assert.deepEqual(conn(c, 'auth-login').events.map((e) => e.pop3.command ?? '(greeting)'), ['(greeting)', 'AUTH', 'STAT', 'QUIT']);
  for (const name of ['auth-plain', 'auth-login'] as const) {
    assert.deepEqual(commands(conn(c, name).events, 'STAT')[0]!.pop3.maildrop?.messages, MESSAGES.length, `${name}: logged in`);
  }
});

test('pop3 (8): five commands pipelined in one write are answered in order, a -ERR among them without a code', { skip }, async () => {
  const c = await capture();
  const { run, events } = conn(c, 'pipeline');
  // the client wrote the five before reading a response
  const seq = run.transcript.map((t) => (t.from === 'client' ? `> ${t.text}` : `< ${t.line}`));
  const at = seq.indexOf('> STAT');
  assert.deepEqual(seq.slice(at, at + 6), ['> STAT', '> LIST', '> UIDL', '> LIST 99', '> RETR 2', `< +OK ${MESSAGES.length} ${MESSAGES.reduce((a, m) => a + m.data.length, 0)}`]);
  assert.deepEqual(
    events.slice(3, 8).map((e) => [e.pop3.command, e.pop3.arguments, e.pop3.response?.status, e.pop3.message_number, e.error]),
    [
      ['STAT', undefined, '+OK', undefined, undefined],
      ['LIST', undefined, '+OK', undefined, undefined],
      ['UIDL', undefined, '+OK', undefined, undefined],
      ['LIST', '99', '-ERR', 99, { type: 'ERR' }],
      ['RETR', '2', '+OK', 2, undefined],
    ],
  );
  assert.deepEqual(events[6]!.pop3.response, { status: '-ERR', text: "There's no message 99." });
  assert.equal(events[6]!.pop3.listing, undefined);
  checkMessage(events[7]!.pop3.message, seed(2), 'pipelined RETR 2');
});

test('pop3 (9): STLS: the events stop at the switch without the key log, and go on inside TLS with it', { skip }, async () => {
  const c = await capture();
  const { run, port, events } = conn(c, 'stls');
  assert.equal(run.py.tls_version, 'TLSv1.3');
  assert.ok(readFileSync(c.run.keylog, 'utf8').includes('CLIENT_TRAFFIC_SECRET_0'), 'the key log was written');

  // without the key log: greeting, CAPA, STLS, then a TLS connection
  const plain = (byPort(pop3Of(c.plain)).get(port) ?? []);
  assert.deepEqual(plain.map((e) => [e.pano.kind, e.pop3.command ?? '(greeting)', e.pop3.response?.status]), [
    ['message', '(greeting)', '+OK'],
    ['exchange', 'CAPA', '+OK'],
    ['exchange', 'STLS', '+OK'],
  ], showAll(plain));
  assert.deepEqual(plain[2]!.pop3.response, { status: '+OK', text: 'Begin TLS negotiation now.' });
  const tls = c.plain.filter((e) => e.pano.protocol === 'tls' && (e.client as { port?: number } | undefined)?.port === port);
  assert.equal(tls.length, 1, 'a TLS event follows the switch');
  assert.equal(tls[0]!.pano.connection.id, plain[0]!.pano.connection.id);

  // with it: the same three, then the session inside TLS (no second greeting), each marked decrypted
  assert.deepEqual(events.map((e) => [e.pop3.command ?? '(greeting)', e.pop3.response?.status, e.tls?.decrypted ?? false]), [
    ['(greeting)', '+OK', false],
    ['CAPA', '+OK', false],
    ['STLS', '+OK', false],
    ['CAPA', '+OK', true],
    ['USER', '+OK', true],
    ['PASS', '+OK', true],
    ['STAT', '+OK', true],
    ['RETR', '+OK', true],
    ['QUIT', '+OK', true],
  ]);
  // CAPA inside TLS no longer offers STLS
  assert.ok(events[1]!.pop3.capabilities!.includes('STLS'));
  assert.ok(!events[3]!.pop3.capabilities!.includes('STLS'));
  checkMessage(events[7]!.pop3.message, seed(1), 'RETR 1 inside TLS');
  assert.ok(!JSON.stringify([...plain, ...tls]).includes(PLAIN_SUBJECT), 'nothing of the message inside TLS without the key log');

  // the other connections read the same with or without the key log
  const strip = (list: Pop3Event[]) => list.filter((x) => x.client.port !== port).map((x) => JSON.stringify({ ...x, pano: { ...x.pano, id: undefined, connection: undefined } }));
  assert.deepEqual(strip(pop3Of(c.plain)), strip(c.pop3));
});

test('pop3 (10): a RETR the client closed the connection in the middle of: what came of the message, flagged response_incomplete', { skip }, async () => {
  const c = await capture();
  const { run, events } = conn(c, 'abandoned');
  const n = messageNumber('big');
  const last = events.at(-1)!;
  assert.equal(last.pop3.command, 'RETR', showAll(events));
  assert.equal(last.pop3.message_number, n);
  // the status line came: an exchange, its response the +OK, the message cut by the connection's end
  assert.equal(last.pano.kind, 'exchange', showAll(events));
  assert.deepEqual(last.pop3.response, { status: '+OK', text: `${seed(n).length} octets` });
  // flagged as pano-events(5) says (response_incomplete) and with how the connection ended: the client's
  // close with the server still sending is a RST (or a FIN and then a RST)
  const flags = last.pano.flags ?? [];
  assert.equal(flags[0], 'response_incomplete', JSON.stringify(flags));
  assert.ok(flags.length === 2 && ['reset', 'closed'].includes(flags[1]!), JSON.stringify(flags));
  const m = last.pop3.message;
  assert.ok(m, 'what came of the message');
  // Dovecot wrote what the 4 KiB window let through, the client read part of it: far from the 100 KB
  assert.ok(run.py.received > 0 && run.py.received < 20_000, `${run.py.received}`);
  assert.ok(m.size > 0 && m.size < seed(n).length / 2, `${m.size}`);
  assert.deepEqual(m.headers, expectedPop3Message(seed(n)).headers);
  const whole = seed(n).subarray(seed(n).indexOf('\r\n\r\n') + 4).toString('utf8');
  assert.ok(m.body.content && whole.startsWith(m.body.content), 'the body kept is the start of the message');
});
