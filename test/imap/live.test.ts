// Real IMAP traffic: a private Dovecot 2.3 (Debian's dovecot-imapd) started
// once for this file on a loopback port (test/helpers/dovecot.ts: its own
// config, passwd-file and maildir in a temp dir, STARTTLS with a certificate
// made here), eve's INBOX seeded with five known messages (a plain one from
// Ivy Chen, one with lines starting with dots, a MIME multipart with a base64
// CSV attachment, one with RFC 2047 encoded From and Subject, and a ~100 KB
// one), driven by Python's imaplib and raw sockets
// (test/fixtures/imap/client.py, test/helpers/imap.ts): a whole session
// (CAPABILITY, ID, LOGIN, CREATE of a mailbox with a non-ASCII name, LIST,
// SELECT, SEARCH, UID SEARCH, FETCH of every message with its envelope and
// body, of header fields and of TEXT, UID STORE, STATUS, APPEND with a
// synchronising literal, EXAMINE, SELECT and DELETE of a mailbox that does not
// exist, NOOP, LOGOUT), a refused password, AUTHENTICATE PLAIN through a
// challenge and with SASL-IR, IDLE while another connection APPENDs, STARTTLS
// with the session going on inside TLS 1.3 (key log written), APPEND with a
// flag and a date and a UID FETCH of a message whose envelope strings Dovecot
// sends as literals, and a FETCH of the big message the client gives up
// mid-literal; captured with tcpdump,
// parsed, and checked against what each client sent and got back (its
// transcript), the exact bytes seeded in the maildir, what imaplib made of the
// responses, and the logins Dovecot logged. See imapScenario.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { captureDuring } from '../helpers/loopback-capture.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';
import { Dovecot, dovecotMissing, messageNumber, MESSAGES, EVE, WRONG_PASSWORD, GREETING, IVY, PLAIN_SUBJECT, PHONE, ATTACHMENT, ENCODED_SUBJECT_TEXT, ENCODED_FROM_TEXT, DOTS_LINES, NAMESPACES, QUOTA_ROOT, QUOTA_STORAGE_KB } from '../helpers/dovecot.js';
import {
  imapScenario,
  expectedFromImapTranscript,
  expectedImapGroup,
  expectedImapMessage,
  comparableImapGroup,
  comparableMessage,
  envelopeOfSeed,
  MAX_BODY,
  FOLDER,
  FOLDER_MUTF7,
  APPENDED,
  DRAFT_PHONE,
  IDLE_MESSAGE,
  QUOTED,
  QUOTED_NAME,
  QUOTED_SUBJECT,
  QUOTED_DATE,
  SEARCH_FROM,
  HEADERS_OF,
  TEXT_OF,
  MIME_FOLDER,
  MAX_SEARCH_IDS,
  MAX_STRUCTURE_PARTS,
  MAX_STRUCTURE_NESTING,
  type ExpectedImap,
  type ExpectedPart,
  type ImapConnName,
  type ImapEvent,
  type ImapRun,
  type ImapScenarioResult,
} from '../helpers/imap.js';
import type { PanoEvent } from '@panopticon/events';

const missing = dovecotMissing({ imap: true });
const skip = missing.length ? `missing ${missing.join(', ')}` : false;
let server: Dovecot | undefined;

before(async () => {
  if (!missing.length) server = await Dovecot.start({ imap: true });
});

after(async () => {
  await server?.stop();
});

interface Captured {
  run: ImapScenarioResult;
  file: string;
  /** every event of the capture, parsed with the STARTTLS session's key log */
  events: PanoEvent[];
  /** the imap events of that parse */
  imap: ImapEvent[];
  /** every event of the capture, parsed without the key log */
  plain: PanoEvent[];
}
let captured: Promise<Captured> | undefined;

/** The scenario's traffic, captured and parsed once for the tests that read it. */
function capture(): Promise<Captured> {
  return (captured ??= (async () => {
    const s = server!;
    const file = join(s.dir, 'imap.pcap');
    const run = await captureDuring(file, `tcp port ${s.imapPort}`, () => imapScenario(s));
    const { events } = parseCaptureSync(file, { parse: { tlsKeyLogs: [run.keylog] } });
    assertValidEvents(events);
    const plain = parseCaptureSync(file).events;
    assertValidEvents(plain);
    return { run, file, events, plain, imap: imapOf(events) };
  })());
}

const imapOf = (events: PanoEvent[]) => events.filter((e) => e.pano.protocol === 'imap') as ImapEvent[];

const show = (e: ImapEvent) =>
  `${e.pano.kind} ${e.imap?.greeting ? '(greeting)' : `${e.imap?.tag} ${e.imap?.command ?? '?'}`} ${e.imap?.arguments ?? ''} -> ${e.imap?.response?.status ?? '-'}${e.tls?.decrypted ? ' [tls]' : ''}`;
const showAll = (list: ImapEvent[]) => list.map(show).join('\n  ');
const showX = (x: ExpectedImap) => `${x.kind} ${x.greeting ? '(greeting)' : `${x.tag} ${x.command}`} ${x.arguments ?? ''} -> ${x.response?.status ?? '-'}${x.tls ? ' [tls]' : ''}`;

const cmpStart = (a: PanoEvent, b: PanoEvent) => (BigInt(a.pano.start_ns) < BigInt(b.pano.start_ns) ? -1 : BigInt(a.pano.start_ns) > BigInt(b.pano.start_ns) ? 1 : 0);

/** The events of each connection (by client port), each list in the order its commands started. */
function byPort(list: ImapEvent[]): Map<number, ImapEvent[]> {
  const out = new Map<number, ImapEvent[]>();
  for (const e of list) out.set(e.client.port, [...(out.get(e.client.port) ?? []), e]);
  for (const l of out.values()) l.sort(cmpStart);
  return out;
}

/** The connection of each run (the client told its port). */
function runConnections(c: Captured): Map<ImapConnName, { run: ImapRun; port: number; events: ImapEvent[] }> {
  const conns = byPort(c.imap);
  assert.deepEqual([...conns.keys()].sort(), c.run.runs.map((r) => r.port).sort(), `a connection per client run, got:\n  ${[...conns].map(([p, l]) => `${p}: ${showAll(l)}`).join('\n  ')}`);
  return new Map(c.run.runs.map((run) => [run.name, { run, port: run.port, events: conns.get(run.port)! }]));
}

const conn = (c: Captured, name: ImapConnName) => runConnections(c).get(name)!;

/** The seeded bytes of message n. */
const seed = (n: number) => MESSAGES[n - 1]!.data;

type EventMessage = NonNullable<ImapEvent['imap']['message']>;

/** The event's message against the one expected of `data`: size, headers, body, and each MIME part's decoded body and file name (as Python's email package reads them). */
function checkMessage(got: EventMessage | undefined, data: Buffer, at: string): void {
  assert.ok(got, `${at}: no message`);
  assert.deepEqual(comparableMessage(got), expectedImapMessage(data), `${at}: the message`);
}

/** Whether a message the event expects has a body over the limit (the event is then flagged truncated). */
const overLimit = (data: Buffer) => data.length - data.indexOf('\r\n\r\n') - 4 > MAX_BODY;

/**
 * The mime mode's APPENDed messages go past what SMTP's MIME reading keeps of a message's parts
 * (smtp/mime.ts: 64 parts, 4 levels, a message/rfc822 part read as one) where Python's email package
 * reads them all: their parts are not compared here (what this mode tests is their BODYSTRUCTURE,
 * test 12; SMTP's reading of parts and their RFC 2231 names is held to Python's in test/smtp), their
 * size, header fields and body are.
 */
const withoutParts = (g: Record<string, unknown>): Record<string, unknown> => {
  const m = g.message as { parts?: unknown } | undefined;
  if (!m?.parts) return g;
  const { parts, ...message } = m;
  return { ...g, message };
};

/** Checks one event against what the transcript says of its command and its responses. */
function checkEvent(e: ImapEvent, x: ExpectedImap, c: Captured, where: string): void {
  const at = `${where}: ${show(e)}`;
  assert.equal(e.pano.protocol, 'imap', at);
  assert.equal(e.network.protocol.name, 'imap', at);
  assert.equal(e.server.port, c.run.port, at);
  assert.equal(e.pano.kind, x.kind, at);
  // the whole imap group: every field the transcript gives, and no other (a fetch entry the client stopped reading is checked on its own)
  const partial = new Set((x.fetch ?? []).filter((f) => f.partial).map((f) => f.seq));
  const [got, want] = [comparableImapGroup(e.imap, (seq) => partial.has(seq)), expectedImapGroup(x)];
  if (where.startsWith('mime ')) assert.deepEqual(withoutParts(got), withoutParts(want), `${at}: imap`);
  else assert.deepEqual(got, want, `${at}: imap`);
  if (x.response?.status === 'NO' || x.response?.status === 'BAD') assert.deepEqual(e.error, { type: x.response.code?.split(' ')[0]!.toUpperCase() ?? x.response.status }, `${at}: error`);
  else assert.equal(e.error, undefined, `${at}: no error`);
  if (x.tls) assert.equal(e.tls?.decrypted, true, `${at}: read inside TLS`);
  else assert.notEqual(e.tls?.decrypted, true, `${at}: sent in the clear`);
  const flags = e.pano.flags ?? [];
  if (x.incomplete) {
    // pano-events(5): response_incomplete, with how the connection ended
    assert.ok(flags.includes('response_incomplete'), `${at}: ${JSON.stringify(flags)}`);
  } else {
    // a message over the body limit, a structure past the parts or levels kept
    const truncated = [x.message, ...(x.fetch ?? []).map((f) => f.message)].some((m) => m && overLimit(m)) || (x.fetch ?? []).some((f) => f.structureCut);
    assert.deepEqual(flags, truncated ? ['truncated'] : [], `${at}: flags`);
  }
}

function checkSequence(list: ImapEvent[], expected: ExpectedImap[], c: Captured, what: string): void {
  assert.deepEqual(list.map(show), expected.map(showX), `${what}: the events`);
  expected.forEach((x, i) => checkEvent(list[i]!, x, c, `${what} #${i}`));
}

/** The events of a connection with this command, in order. */
const commands = (events: ImapEvent[], verb: string) => events.filter((e) => e.imap.command === verb);
const one = (events: ImapEvent[], verb: string) => {
  const list = commands(events, verb);
  assert.equal(list.length, 1, `one ${verb}: ${showAll(events)}`);
  return list[0]!;
};

/** The numbers of the seeded messages whose From has `address`. */
const fromAddress = (address: string) => MESSAGES.map((m, i) => [m, i + 1] as const).filter(([m]) => m.data.toString('utf8').split('\r\n\r\n')[0]!.split('\r\n').some((l) => l.startsWith('From:') && l.includes(address))).map(([, n]) => n);

// ---------------------------------------------------------------------------

test('every IMAP connection parses into what its client sent and got back', { skip }, async () => {
  const c = await capture();
  assert.ok(c.imap.length > 0, 'no imap events');
  for (const e of c.imap) {
    assert.notEqual(e.pano.kind, 'orphan_response', show(e));
    assert.ok(!e.pano.flags?.includes('gap'), show(e));
  }
  for (const { run, events } of runConnections(c).values()) {
    checkSequence(events, expectedFromImapTranscript(run.transcript), c, run.name);
  }
  // Dovecot logged a login per connection, with the mechanism the client used (LOGIN is PLAIN to it); by name, as
  // idle's and idle-append's lines may come in either order
  const name = (rport: number) => c.run.runs.find((r) => r.port === rport)?.name ?? `?${rport}`;
  assert.deepEqual(
    c.run.logins.map((l) => [name(l.rport), l.user, l.method, l.ok, l.tls]).sort(),
    [
      ['plain', 'eve', 'PLAIN', true, false],
      ['refused', 'eve', 'PLAIN', false, false],
      ['auth-plain', 'eve', 'PLAIN', true, false],
      ['sasl-ir', 'eve', 'PLAIN', true, false],
      ['idle', 'eve', 'PLAIN', true, false],
      ['idle-append', 'eve', 'PLAIN', true, false],
      ['literals', 'eve', 'PLAIN', true, false],
      ['starttls', 'eve', 'PLAIN', true, true],
      ['abandoned', 'eve', 'PLAIN', true, false],
      ['mime', 'eve', 'PLAIN', true, false],
    ].sort(),
  );
});

test('imap (1): a whole session: greeting, CAPABILITY, ID, LOGIN, CREATE, LIST, SELECT, SEARCH, FETCH, STORE, STATUS, APPEND, EXAMINE, refusals, NOOP, LOGOUT', { skip }, async () => {
  const c = await capture();
  const { run, events } = conn(c, 'plain');
  const py = run.py.results;
  assert.deepEqual(events.map((e) => e.imap.command ?? '(greeting)'), [
    '(greeting)', 'CAPABILITY', 'ID', 'LOGIN', 'CREATE', 'LIST', 'SELECT', 'SEARCH', 'UID SEARCH', 'FETCH', 'FETCH', 'FETCH', 'UID STORE', 'STATUS', 'APPEND', 'EXAMINE', 'SELECT', 'DELETE', 'NOOP', 'LOGOUT',
  ]);
  // imaplib's tags: a prefix and a counter
  const tags = events.slice(1).map((e) => e.imap.tag!);
  assert.deepEqual(tags, tags.map((_, i) => `${tags[0]!.slice(0, -1)}${i}`));
  const greeting = events[0]!;
  assert.equal(greeting.pano.kind, 'message');
  assert.equal(greeting.imap.greeting, true);
  assert.equal(greeting.imap.response?.text, GREETING);
  // the greeting's CAPABILITY code and the CAPABILITY command's answer list the same before login (imaplib upper-cases them)
  assert.deepEqual(greeting.imap.capabilities, events[1]!.imap.capabilities);
  assert.deepEqual(events[1]!.imap.capabilities!.map((s) => s.toUpperCase()), py.capabilities);
  for (const cap of ['IMAP4rev1', 'SASL-IR', 'ID', 'IDLE', 'LITERAL+', 'STARTTLS', 'AUTH=PLAIN']) assert.ok(greeting.imap.capabilities!.includes(cap), cap);
  const id = one(events, 'ID');
  assert.deepEqual([id.imap.arguments, id.imap.client_id, id.imap.server_id], ['("name" "pano-test" "version" "1.0")', { name: 'pano-test', version: '1.0' }, { name: 'Dovecot' }]);
  // LOGIN: the user name alone; after it, the capabilities grow
  const login = one(events, 'LOGIN');
  assert.deepEqual([login.imap.arguments, login.imap.username, login.imap.response?.status], [EVE.user, EVE.user, 'OK']);
  assert.ok(login.imap.capabilities!.length > greeting.imap.capabilities!.length && login.imap.capabilities!.includes('MOVE'));
  // the mailbox with a non-ASCII name: modified UTF-7 on the wire, decoded in the events
  const create = one(events, 'CREATE');
  assert.deepEqual([create.imap.arguments, create.imap.mailbox], [`"${FOLDER_MUTF7}"`, FOLDER]);
  assert.equal(run.py.folder_mutf7, FOLDER_MUTF7);
  const list = one(events, 'LIST');
  assert.equal(list.imap.arguments, '"" "*"');
  assert.ok(py.list.includes(`(\\HasNoChildren) "." ${FOLDER_MUTF7}`), 'LIST sent the name encoded');
  assert.deepEqual(list.imap.mailboxes!.map((m) => m.name).sort(), [FOLDER, 'INBOX'].sort());
  assert.deepEqual(list.imap.mailboxes!.map((m) => [m.delimiter, m.attributes]), py.list.map(() => ['.', ['\\HasNoChildren']]));
  // SELECT INBOX: what the seeded maildir holds, all recent at this first look
  const select = commands(events, 'SELECT')[0]!;
  assert.equal(select.imap.mailbox, 'INBOX');
  assert.deepEqual([select.imap.exists, select.imap.recent, select.imap.uidnext], [MESSAGES.length, MESSAGES.length, MESSAGES.length + 1]);
  assert.equal(String(select.imap.exists), py.select);
  assert.deepEqual(select.imap.flags, ['\\Answered', '\\Flagged', '\\Deleted', '\\Seen', '\\Draft']);
  assert.ok(select.imap.uidvalidity! > 1_600_000_000, `${select.imap.uidvalidity}`);
  assert.deepEqual(select.imap.response, { status: 'OK', code: 'READ-WRITE', text: select.imap.response!.text });
  // SEARCH ALL: every message; UID SEARCH FROM: the UIDs (here the numbers) of Ivy's
  const all = one(events, 'SEARCH');
  assert.deepEqual(all.imap.search, { count: MESSAGES.length, ids: MESSAGES.map((_, i) => i + 1) });
  assert.deepEqual(all.imap.search!.ids.map(String), py.search);
  const byFrom = one(events, 'UID SEARCH');
  assert.equal(byFrom.imap.arguments, `FROM "${SEARCH_FROM}"`);
  assert.deepEqual(byFrom.imap.search!.ids, fromAddress(SEARCH_FROM));
  assert.deepEqual(byFrom.imap.search!.ids.map(String), py.uid_search);
  // UID STORE: the flags the untagged FETCH gave back
  const store = one(events, 'UID STORE');
  assert.equal(store.imap.arguments, '1 +FLAGS (\\Seen)');
  assert.deepEqual(store.imap.fetch, [{ seq: 1, uid: 1, flags: ['\\Seen', '\\Recent'] }]);
  // STATUS on the selected mailbox (Dovecot answers it with a CLIENTBUG code, an OK)
  const status = one(events, 'STATUS');
  assert.equal(status.imap.mailbox, 'INBOX');
  assert.deepEqual(status.imap.status, { mailbox: 'INBOX', items: { MESSAGES: MESSAGES.length, UIDNEXT: MESSAGES.length + 1, UNSEEN: MESSAGES.length - 1 } });
  assert.equal(`INBOX (MESSAGES ${MESSAGES.length} UIDNEXT ${MESSAGES.length + 1} UNSEEN ${MESSAGES.length - 1})`, py.status);
  assert.equal(status.imap.response?.code, 'CLIENTBUG');
  assert.equal(status.error, undefined);
  // SELECT of a mailbox that does not exist: Dovecot 2.3 gives no code (error.type NO); DELETE of it gives NONEXISTENT
  const [, nosuch] = commands(events, 'SELECT');
  assert.deepEqual([nosuch!.imap.mailbox, nosuch!.imap.response?.status, nosuch!.imap.response?.code, nosuch!.error], ['Nonexistent', 'NO', undefined, { type: 'NO' }]);
  assert.match(nosuch!.imap.response!.text, /^Mailbox doesn't exist: Nonexistent/);
  const del = one(events, 'DELETE');
  assert.deepEqual([del.imap.mailbox, del.imap.response?.code, del.error], ['Nonexistent', 'NONEXISTENT', { type: 'NONEXISTENT' }]);
  assert.equal(one(events, 'NOOP').imap.response?.status, 'OK');
  const logout = events.at(-1)!;
  assert.deepEqual([logout.pano.kind, logout.imap.bye, logout.imap.response?.status], ['exchange', 'Logging out', 'OK']);
});

test('imap (2): FETCH 1:* gives every seeded message: uid, flags, size, envelope and the message itself', { skip }, async () => {
  const c = await capture();
  const { run, events } = conn(c, 'plain');
  const fetch = commands(events, 'FETCH')[0]!;
  assert.equal(fetch.imap.arguments, '1:* (UID FLAGS RFC822.SIZE ENVELOPE BODY.PEEK[])');
  const entries = fetch.imap.fetch!;
  assert.deepEqual(entries.map((f) => [f.seq, f.uid, f.flags, f.size]), MESSAGES.map((m, i) => [i + 1, i + 1, ['\\Recent'], m.data.length]));
  // what imaplib read: the literal of each, its size the seeded file's
  assert.deepEqual(run.py.results.fetch.map((f: { size: number }) => f.size), MESSAGES.map((m) => m.data.length));
  entries.forEach((f, i) => {
    const n = i + 1;
    assert.deepEqual(f.envelope, envelopeOfSeed(n), `envelope of ${n}: from the seeded header fields`);
    checkMessage(f.message, seed(n), `message ${n}`);
  });
  // the plain one, its phone number in the body
  const m1 = entries[0]!.message!;
  assert.deepEqual([m1.headers.from, m1.headers.subject], [[IVY.header], [PLAIN_SUBJECT]]);
  assert.ok(m1.body.content!.includes(PHONE));
  // dots are not special in IMAP: the lines come as they are
  assert.equal(entries[messageNumber('dots') - 1]!.message!.body.content, DOTS_LINES.map((l) => `${l}\r\n`).join(''));
  // the MIME one: its parts, the base64 CSV decoded
  const mime = entries[messageNumber('mime') - 1]!.message!;
  assert.equal(mime.body.content, undefined, 'the raw body is not scanned twice');
  assert.deepEqual(mime.parts!.map((p) => [p.headers?.['content-type']?.[0], p.body.content, p.filename ?? null]), [
    ['text/plain; charset=utf-8', 'The contact list is attached.', null],
    ['text/csv; name="contacts.csv"', ATTACHMENT, 'contacts.csv'],
  ]);
  assert.equal(mime.parts![1]!.body.content_encoding, 'base64');
  // the encoded words: in the envelope as Dovecot sent them (raw), decoded in the event
  const enc = entries[messageNumber('encoded') - 1]!;
  assert.ok(run.py.results.fetch[messageNumber('encoded') - 1].line.includes('"=?UTF-8?B?'), 'the envelope subject went encoded');
  assert.deepEqual([enc.envelope!.subject, enc.envelope!.from], [ENCODED_SUBJECT_TEXT, [ENCODED_FROM_TEXT]]);
  assert.deepEqual([enc.message!.headers.subject, enc.message!.headers.from], [[ENCODED_SUBJECT_TEXT], [ENCODED_FROM_TEXT]]);
  // the big one: kept to the limit with its whole size, and the event flagged
  const big = entries[messageNumber('big') - 1]!.message!;
  const data = seed(messageNumber('big'));
  const body = data.subarray(data.indexOf('\r\n\r\n') + 4);
  assert.deepEqual([big.size, big.body.size, big.body.truncated, big.body.content], [data.length, body.length, true, body.subarray(0, MAX_BODY).toString('utf8')]);
  assert.deepEqual(fetch.pano.flags, ['truncated']);
});

test('imap (3): FETCH of HEADER.FIELDS gives those header fields, FETCH of TEXT the body as a section', { skip }, async () => {
  const c = await capture();
  const [, headers, text] = commands(conn(c, 'plain').events, 'FETCH');
  assert.equal(headers!.imap.arguments, `${HEADERS_OF} (BODY.PEEK[HEADER.FIELDS (FROM SUBJECT)])`);
  assert.deepEqual(headers!.imap.fetch, [{ seq: HEADERS_OF, headers: { from: [ENCODED_FROM_TEXT], subject: [ENCODED_SUBJECT_TEXT] } }]);
  assert.equal(text!.imap.arguments, `${TEXT_OF} (BODY.PEEK[TEXT])`);
  const data = seed(TEXT_OF);
  const body = data.subarray(data.indexOf('\r\n\r\n') + 4).toString('utf8');
  assert.deepEqual(text!.imap.fetch, [{ seq: TEXT_OF, sections: [{ section: 'TEXT', body: { size: Buffer.byteLength(body), content: body } }] }]);
});

test('imap (4): APPEND with a synchronising literal to the non-ASCII mailbox: the message parsed, EXAMINE then sees it', { skip }, async () => {
  const c = await capture();
  const { run, events } = conn(c, 'plain');
  // imaplib waited for the go-ahead before sending the literal
  const seq = run.transcript.map((t) => ('line' in t ? `${t.from}: ${t.line}` : `${t.from}: {literal}`));
  const at = seq.findIndex((l) => / APPEND /.test(l));
  assert.deepEqual(seq.slice(at, at + 4), [`client: ${events.find((e) => e.imap.command === 'APPEND')!.imap.tag} APPEND "${FOLDER_MUTF7}" (\\Draft) {${APPENDED.length}}`, 'server: + OK', 'client: {literal}', 'client: ']);
  const append = one(events, 'APPEND');
  assert.deepEqual([append.imap.mailbox, append.imap.arguments], [FOLDER, `"${FOLDER_MUTF7}" (\\Draft) {${APPENDED.length}}`]);
  checkMessage(append.imap.message, APPENDED, 'APPEND');
  assert.ok(append.imap.message!.body.content!.includes(DRAFT_PHONE));
  assert.match(append.imap.response!.code!, /^APPENDUID \d+ 1$/);
  const examine = one(events, 'EXAMINE');
  assert.deepEqual([examine.imap.mailbox, examine.imap.exists, examine.imap.recent, examine.imap.uidnext, examine.imap.response?.code], [FOLDER, 1, 1, 2, 'READ-ONLY']);
  assert.equal(examine.imap.uidvalidity, Number(append.imap.response!.code!.split(' ')[1]));
  assert.equal(run.py.results.examine, '1');
});

test('imap (5): a refused password: NO [AUTHENTICATIONFAILED], its code the error type; no password anywhere', { skip }, async () => {
  const c = await capture();
  const { events } = conn(c, 'refused');
  assert.deepEqual(events.map((e) => [e.imap.command ?? '(greeting)', e.imap.arguments, e.imap.username, e.imap.response?.status, e.imap.response?.code, e.error]), [
    ['(greeting)', undefined, undefined, 'OK', events[0]!.imap.response?.code, undefined],
    ['CAPABILITY', undefined, undefined, 'OK', undefined, undefined],
    ['LOGIN', EVE.user, EVE.user, 'NO', 'AUTHENTICATIONFAILED', { type: 'AUTHENTICATIONFAILED' }],
    ['LOGOUT', undefined, undefined, 'OK', undefined, undefined],
  ]);
  assert.equal(events[2]!.imap.response?.text, 'Authentication failed.');
  // neither password (quoted or a literal), nor its base64, nor PLAIN's answer or initial response, in any event of either parse
  const plainResponse = Buffer.from(`\0${EVE.user}\0${EVE.password}`).toString('base64');
  for (const [what, list] of [['with the key log', c.events], ['without', c.plain]] as const) {
    const text = JSON.stringify(list);
    for (const secret of [EVE.password, WRONG_PASSWORD, Buffer.from(EVE.password).toString('base64'), plainResponse]) {
      assert.ok(!text.includes(secret), `${what}: ${secret} in the events`);
    }
  }
});

test('imap (6): AUTHENTICATE PLAIN through a "+" challenge and with SASL-IR: the user name decoded, the answer nowhere', { skip }, async () => {
  const c = await capture();
  const auth = (name: ImapConnName) => one(conn(c, name).events, 'AUTHENTICATE');
  const challenged = auth('auth-plain');
  assert.deepEqual(conn(c, 'auth-plain').run.py.results.challenges, [''], 'one empty challenge');
  assert.deepEqual([challenged.imap.arguments, challenged.imap.auth, challenged.imap.username, challenged.imap.response?.status], ['PLAIN', { mechanism: 'PLAIN', username: EVE.user, steps: 1 }, EVE.user, 'OK']);
  // the answer is not a command: AUTHENTICATE, STATUS, LOGOUT
  assert.deepEqual(conn(c, 'auth-plain').events.map((e) => e.imap.command ?? '(greeting)'), ['(greeting)', 'CAPABILITY', 'AUTHENTICATE', 'STATUS', 'LOGOUT']);
  assert.deepEqual(one(conn(c, 'auth-plain').events, 'STATUS').imap.status, { mailbox: 'INBOX', items: { MESSAGES: MESSAGES.length } });
  // SASL-IR, advertised in the greeting: the initial response in the command, no challenge
  const sasl = conn(c, 'sasl-ir');
  assert.ok(sasl.run.py.greeting_capabilities.includes('SASL-IR'));
  assert.ok(sasl.run.transcript.some((t) => 'line' in t && t.line.startsWith('s1 AUTHENTICATE PLAIN ')));
  const ir = auth('sasl-ir');
  assert.deepEqual([ir.imap.arguments, ir.imap.auth, ir.imap.username], ['PLAIN', { mechanism: 'PLAIN', username: EVE.user, steps: 0 }, EVE.user]);
  // Dovecot's OK carries the capabilities after login in its code
  assert.ok(ir.imap.response!.code!.startsWith('CAPABILITY ') && ir.imap.capabilities!.includes('MOVE'));
});

test('imap (7): IDLE carries the EXISTS a message APPENDed on another connection brought; DONE is not a command', { skip }, async () => {
  const c = await capture();
  const { run, events } = conn(c, 'idle');
  assert.deepEqual(events.map((e) => e.imap.command ?? '(greeting)'), ['(greeting)', 'LOGIN', 'SELECT', 'IDLE', 'LOGOUT']);
  // LOGIN with the password a LITERAL+ literal: the user name alone
  const login = one(events, 'LOGIN');
  assert.ok(run.transcript.some((t) => 'line' in t && t.line === `i1 LOGIN ${EVE.user} {${EVE.password.length}+}`));
  assert.deepEqual([login.imap.arguments, login.imap.username], [EVE.user, EVE.user]);
  const before = one(events, 'SELECT').imap.exists!;
  const idle = one(events, 'IDLE');
  assert.deepEqual([idle.imap.tag, idle.imap.arguments, idle.imap.exists, idle.imap.response?.status], ['i3', undefined, before + 1, 'OK']);
  assert.equal(idle.imap.exists, run.py.results.exists);
  // the other connection's APPEND, while the first idled
  const appender = conn(c, 'idle-append');
  const append = one(appender.events, 'APPEND');
  assert.deepEqual([append.imap.mailbox, append.imap.arguments], ['INBOX', `INBOX {${IDLE_MESSAGE.length}}`]);
  checkMessage(append.imap.message, IDLE_MESSAGE, 'APPEND while idling');
  assert.match(append.imap.response!.code!, new RegExp(`^APPENDUID ${one(events, 'SELECT').imap.uidvalidity} ${before + 1}$`));
  assert.ok(BigInt(append.pano.start_ns) > BigInt(idle.pano.start_ns) && BigInt(append.pano.end_ns) < BigInt(idle.pano.end_ns), 'appended while the IDLE ran');
});

test('imap (8): STARTTLS: the events stop at the switch without the key log, and go on inside TLS with it', { skip }, async () => {
  const c = await capture();
  const { run, port, events } = conn(c, 'starttls');
  assert.equal(run.py.tls_version, 'TLSv1.3');
  assert.ok(readFileSync(c.run.keylog, 'utf8').includes('CLIENT_TRAFFIC_SECRET_0'), 'the key log was written');

  // without the key log: greeting, CAPABILITY, STARTTLS, then a TLS connection
  const plain = byPort(imapOf(c.plain)).get(port) ?? [];
  assert.deepEqual(plain.map((e) => [e.pano.kind, e.imap.command ?? '(greeting)', e.imap.response?.status]), [
    ['message', '(greeting)', 'OK'],
    ['exchange', 'CAPABILITY', 'OK'],
    ['exchange', 'STARTTLS', 'OK'],
  ], showAll(plain));
  assert.deepEqual(plain[2]!.imap.response, { status: 'OK', text: 'Begin TLS negotiation now.' });
  const tls = c.plain.filter((e) => e.pano.protocol === 'tls' && (e.client as { port?: number } | undefined)?.port === port);
  assert.equal(tls.length, 1, 'a TLS event follows the switch');
  assert.equal(tls[0]!.pano.connection.id, plain[0]!.pano.connection.id);

  // with it: the same three, then the session inside TLS (no second greeting), each marked decrypted
  assert.deepEqual(events.map((e) => [e.imap.command ?? '(greeting)', e.imap.response?.status, e.tls?.decrypted ?? false]), [
    ['(greeting)', 'OK', false],
    ['CAPABILITY', 'OK', false],
    ['STARTTLS', 'OK', false],
    ['CAPABILITY', 'OK', true],
    ['LOGIN', 'OK', true],
    ['SELECT', 'OK', true],
    ['FETCH', 'OK', true],
    ['LOGOUT', 'OK', true],
  ]);
  // CAPABILITY inside TLS no longer offers STARTTLS
  assert.ok(events[1]!.imap.capabilities!.includes('STARTTLS'));
  assert.ok(!events[3]!.imap.capabilities!.includes('STARTTLS'));
  const fetch = one(events, 'FETCH');
  assert.equal(fetch.imap.fetch!.length, 1);
  checkMessage(fetch.imap.fetch![0]!.message, seed(1), 'FETCH 1 inside TLS');
  assert.ok(!JSON.stringify([...plain, ...tls]).includes(PLAIN_SUBJECT), 'nothing of the message inside TLS without the key log');

  // the other connections read the same with or without the key log
  const strip = (list: ImapEvent[]) => list.filter((x) => x.client.port !== port).map((x) => JSON.stringify({ ...x, pano: { ...x.pano, id: undefined, connection: undefined } }));
  assert.deepEqual(strip(imapOf(c.plain)), strip(c.imap));
});

test('imap (9): a FETCH the client closed the connection in the middle of the literal: what came of the message, unanswered, flagged response_incomplete', { skip }, async () => {
  const c = await capture();
  const { run, events } = conn(c, 'abandoned');
  const n = messageNumber('big');
  const last = events.at(-1)!;
  assert.deepEqual([last.imap.tag, last.imap.command, last.imap.arguments], ['x3', 'FETCH', `${n} (BODY.PEEK[])`], showAll(events));
  // no tagged status came: unanswered, flagged as pano-events(5) says, with how the connection ended
  // (the client's close with the server still sending is a RST, or a FIN and then a RST)
  assert.equal(last.pano.kind, 'unanswered');
  assert.equal(last.imap.response, undefined);
  const flags = last.pano.flags ?? [];
  assert.ok(flags.length === 2 && flags.includes('response_incomplete') && flags.some((f) => ['reset', 'closed'].includes(f)), JSON.stringify(flags));
  const [entry] = last.imap.fetch ?? [];
  assert.ok(entry?.message, 'what came of the message');
  assert.equal(entry.seq, n);
  // Dovecot wrote what the 4 KiB window let through, the client read part of it: far from the 100 KB
  assert.ok(run.py.received > 0 && run.py.received < 20_000, `${run.py.received}`);
  const m = entry.message;
  assert.ok(m.size >= run.py.received && m.size < seed(n).length / 2, `${m.size}`);
  assert.deepEqual(m.headers, expectedImapMessage(seed(n)).headers);
  const whole = seed(n).subarray(seed(n).indexOf('\r\n\r\n') + 4).toString('utf8');
  assert.ok(m.body.content && whole.startsWith(m.body.content), 'the body kept is the start of the message');
});

test('imap (10): request_bytes and response_bytes are the bytes each side sent for the command, literals and their markers included', { skip }, async () => {
  const c = await capture();
  // pano-events(5): the bytes on the wire. A command's: its lines with their literals (APPEND's message, a LITERAL+
  // password), AUTHENTICATE's answers and IDLE's DONE; its response's: the go-ahead, challenges and untagged lines
  // credited to it and its tagged status; the greeting's: its line. Not the response of the FETCH given up (the
  // client read less of it than came)
  const wrong: string[] = [];
  for (const { run, events } of runConnections(c).values()) {
    const expected = expectedFromImapTranscript(run.transcript);
    assert.equal(events.length, expected.length, run.name);
    expected.forEach((x, i) => {
      const e = events[i]!;
      const got = [e.pano.request_bytes ?? 0, x.incomplete ? 0 : (e.pano.response_bytes ?? 0)];
      const want = [x.request_bytes, x.incomplete ? 0 : x.response_bytes];
      if (got[0] !== want[0] || got[1] !== want[1]) wrong.push(`${run.name}: ${show(e)}: request/response bytes ${got.join('/')}, on the wire ${want.join('/')}`);
    });
  }
  assert.deepEqual(wrong, []);
});

test('imap (11): APPEND with a flag and a date, then UID FETCH of its envelope, whose strings with quotes or 8-bit characters came as literals', { skip }, async () => {
  const c = await capture();
  const { run, events } = conn(c, 'literals');
  assert.deepEqual(events.map((e) => e.imap.command ?? '(greeting)'), ['(greeting)', 'CAPABILITY', 'LOGIN', 'APPEND', 'SELECT', 'UID FETCH', 'LOGOUT']);
  const uid = run.py.uid as number;
  const append = one(events, 'APPEND');
  assert.deepEqual([append.imap.mailbox, append.imap.arguments], ['INBOX', `INBOX (\\Seen) "${QUOTED_DATE}" {${QUOTED.length}}`]);
  checkMessage(append.imap.message, QUOTED, 'APPEND');
  assert.match(append.imap.response!.code!, new RegExp(`^APPENDUID ${one(events, 'SELECT').imap.uidvalidity} ${uid}$`));
  // Dovecot sent the name and the subject as literals inside the ENVELOPE
  const literals = run.transcript.filter((t) => 'literal' in t && t.from === 'server').map((t) => Buffer.from((t as { literal: string }).literal, 'base64').toString('utf8'));
  assert.ok(literals.includes(QUOTED_SUBJECT) && literals.includes(QUOTED_NAME), JSON.stringify(literals));
  const fetch = one(events, 'UID FETCH');
  assert.equal(fetch.imap.arguments, `${uid} (INTERNALDATE ENVELOPE BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY.PEEK[1])`);
  const [entry, ...more] = fetch.imap.fetch!;
  assert.deepEqual(more, []);
  const body = QUOTED.subarray(QUOTED.indexOf('\r\n\r\n') + 4);
  const from = [`${QUOTED_NAME} <eve@example.com>`];
  assert.deepEqual({ ...entry, internal_date: undefined }, {
    seq: one(events, 'SELECT').imap.exists,
    uid,
    internal_date: undefined,
    envelope: { date: 'Mon, 13 Nov 2023 11:30:00 +0100', subject: QUOTED_SUBJECT, from, sender: from, reply_to: from, to: ['Ivy Chen <ivy@example.org>'], message_id: '<noon-7@example.com>' },
    headers: { subject: [QUOTED_SUBJECT] },
    sections: [{ section: '1', body: { size: body.length, content: body.toString('utf8') } }],
  });
  // the date APPEND gave, as Dovecot gives it back (the same instant, in its own zone)
  const instant = (d: string) => Date.parse(d.replace(/^(\d+)-(\w+)-/, '$1 $2 '));
  assert.equal(instant(entry!.internal_date!), instant(QUOTED_DATE));
});

/** A part as client.py's Python (the email package) read it from the message it built, with its depth. */
type PythonPart = Omit<ExpectedPart, 'size' | 'lines'> & { depth: number; size?: number; lines?: number };

/** The parts of a Python reading the events keep: the first MAX_STRUCTURE_PARTS, up to the first one nested deeper than MAX_STRUCTURE_NESTING (pano-events(5)). */
function keptParts(parts: PythonPart[]): { kept: PythonPart[]; cut: boolean } {
  const kept: PythonPart[] = [];
  for (const p of parts) {
    if (p.depth > MAX_STRUCTURE_NESTING || kept.length >= MAX_STRUCTURE_PARTS) return { kept, cut: true };
    kept.push(p);
  }
  return { kept, cut: false };
}

test('imap (12): BODYSTRUCTURE of MIME messages the email package built, against its own reading of them; BODY; NAMESPACE; GETQUOTAROOT and GETQUOTA; ESEARCH', { skip }, async () => {
  const c = await capture();
  const { run, events } = conn(c, 'mime');
  const py = run.py.results as {
    namespace: string;
    messages: Array<{ name: string; uid: number; size: number; data: string; structure: PythonPart[] }>;
    esearch: Record<string, string[]>;
    archive_messages: number;
    archive_search: number;
  };
  assert.deepEqual(events.map((e) => e.imap.command ?? '(greeting)'), [
    '(greeting)', 'CAPABILITY', 'LOGIN', 'NAMESPACE', 'CREATE', 'GETQUOTAROOT', ...py.messages.map(() => 'APPEND'), 'GETQUOTAROOT', 'SELECT', 'UID FETCH', 'UID FETCH', 'FETCH',
    'UID SEARCH', 'SEARCH', 'SEARCH', 'CREATE', 'COPY', 'SELECT', ...Array(Math.log2(py.archive_messages / py.messages.length)).fill('COPY'), 'SEARCH', 'SEARCH', 'SELECT', 'DELETE', 'GETQUOTA', 'LOGOUT',
  ]);
  // NAMESPACE: the namespaces Dovecot's config has, the public one's prefix modified UTF-7 on the wire
  const ns = one(events, 'NAMESPACE').imap.namespace;
  const d = NAMESPACES.delimiter;
  assert.deepEqual(ns, { personal: [{ prefix: NAMESPACES.personal, delimiter: d }], other: [{ prefix: NAMESPACES.other, delimiter: d }], shared: [{ prefix: NAMESPACES.shared, delimiter: d }] });
  assert.ok(py.namespace.includes('"&ANY-ffentlich."') && !py.namespace.includes(NAMESPACES.shared), py.namespace);
  // GETQUOTAROOT before and after the APPENDs: the root of the config, its limit, the usage grown by what was appended (KiB)
  const [before, after] = commands(events, 'GETQUOTAROOT');
  for (const e of [before!, after!]) {
    assert.equal(e.imap.mailbox, MIME_FOLDER);
    assert.deepEqual(e.imap.quota_roots, { mailbox: MIME_FOLDER, roots: [QUOTA_ROOT] });
    assert.deepEqual(e.imap.quota!.map((q) => [q.root, q.resources.map((r) => [r.name, r.limit])]), [[QUOTA_ROOT, [['STORAGE', QUOTA_STORAGE_KB]]]]);
  }
  const usage = (e: ImapEvent) => e.imap.quota![0]!.resources[0]!.usage;
  const appended = py.messages.reduce((n, m) => n + m.size, 0);
  assert.ok(Math.abs(usage(after!) - usage(before!) - appended / 1024) <= 1, `usage ${usage(before!)} -> ${usage(after!)}, appended ${appended} bytes`);
  assert.deepEqual(one(events, 'GETQUOTA').imap.quota, after!.imap.quota, 'the archive deleted, the usage is back');
  // each APPEND's message as SMTP's: its size, header fields and body (its parts: see withoutParts)
  const appends = commands(events, 'APPEND');
  py.messages.forEach((m, i) => {
    const { parts, ...want } = expectedImapMessage(Buffer.from(m.data, 'base64'));
    const { parts: got, ...message } = comparableMessage(appends[i]!.imap.message!);
    assert.deepEqual(message, want, `APPEND ${m.name}`);
    assert.equal(got === undefined, parts === undefined, `APPEND ${m.name}: a MIME message`);
  });

  // BODYSTRUCTURE: every message's parts as Python's email package reads the message, to the parts and levels kept
  const [fetch, again] = commands(events, 'UID FETCH') as [ImapEvent, ImapEvent];
  assert.equal(fetch.imap.arguments, '1:* (BODYSTRUCTURE)');
  const entries = fetch.imap.fetch!;
  assert.deepEqual(entries.map((f) => f.uid), py.messages.map((m) => m.uid));
  let anyCut = false;
  py.messages.forEach((m, i) => {
    const got = entries[i]!.structure!;
    const { kept, cut } = keptParts(m.structure);
    anyCut ||= cut;
    assert.deepEqual(got.map((p) => p.part), kept.map((p) => p.part), `${m.name}: the parts`);
    kept.forEach(({ depth, ...want }, k) => {
      const part = got[k]!;
      // Python cannot say a message/rfc822 part's size and lines (it keeps no bytes of it): those are the transcript's (test 1)
      const isMessage = want.type === 'message';
      const { size, lines, ...rest } = part;
      assert.deepEqual(isMessage ? rest : part, want, `${m.name}: part ${want.part} (depth ${depth})`);
      if (isMessage) assert.ok(Number.isInteger(size) && Number.isInteger(lines), `${m.name}: part ${want.part}: size and lines`);
    });
  });
  const byName = (name: string) => entries[py.messages.findIndex((m) => m.name === name)]!.structure!;
  assert.equal(byName('wide').length, MAX_STRUCTURE_PARTS);
  assert.equal(byName('deep').length, MAX_STRUCTURE_NESTING);
  assert.ok(anyCut);
  assert.deepEqual(fetch.pano.flags, ['truncated']);
  // the same again, but the utf8 message
  const others = py.messages.map((m, i) => [m, entries[i]!] as const).filter(([m]) => m.name !== 'utf8');
  assert.equal(again.imap.arguments, `${others.map(([m]) => m.uid).join(',')} (BODYSTRUCTURE)`);
  assert.deepEqual(again.imap.fetch!.map(({ seq, ...rest }) => rest), others.map(([, { seq, ...rest }]) => rest));
  // the attachments' names, decoded: RFC 2231 (Dovecot joins the continuations Python wrote), RFC 2047 (turned into RFC 2231 by
  // Dovecot in the disposition, kept in the type's parameters), and raw UTF-8 with quotes, which came as a literal
  const filenames = entries.flatMap((f) => f.structure!.map((p) => p.disposition?.parameters?.filename).filter((x) => x !== undefined));
  for (const name of ['Kontoauszug März 2024 für Eve Adams und Ivy Chen.pdf', 'Übersicht Q1.zip', 'Überweisung "März".pdf', 'kontakte.csv', 'zoe.png']) assert.ok(filenames.includes(name), name);
  const wire = run.transcript.filter((t) => t.from === 'server').map((t) => ('line' in t ? t.line : Buffer.from(t.literal, 'base64').toString('utf8')));
  assert.ok(wire.some((l) => l.includes(`("filename*" "utf-8''Kontoauszug%20M%C3%A4rz`)));
  assert.ok(wire.some((l) => l.includes('("name" "=?utf-8?B?')));
  assert.ok(wire.includes('Überweisung "März".pdf'), 'a literal inside BODYSTRUCTURE');
  assert.ok(byName('attachments').some((p) => p.description === 'Foto von Zoë') && wire.some((l) => l.includes('"Foto von =?utf-8?q?Zo=C3=AB?="')));

  // BODY: BODYSTRUCTURE without the extension data (a multipart's parameters among it)
  const body = commands(events, 'FETCH').find((e) => e.imap.arguments === '1 (BODY)')!;
  const bare = (p: ExpectedPart): ExpectedPart => {
    const { md5, disposition, language, location, parameters, ...rest } = p;
    return p.type === 'multipart' || !parameters ? rest : { ...rest, parameters };
  };
  assert.deepEqual(body.imap.fetch, [{ seq: 1, structure: entries[0]!.structure!.map(bare) }]);

  // ESEARCH, each to the command whose tag it names: what imaplib got, and what the mailbox holds
  const [all, none, from, archive, plainSearch] = [one(events, 'UID SEARCH'), ...commands(events, 'SEARCH')];
  const uids = py.messages.map((m) => m.uid);
  assert.deepEqual(all!.imap.search, { uid: true, min: Math.min(...uids), max: Math.max(...uids), count: uids.length, ids: uids });
  assert.deepEqual(py.esearch.all, [`(TAG "${all!.imap.tag}") UID MIN 1 MAX ${uids.length} ALL 1:${uids.length} COUNT ${uids.length}`]);
  assert.deepEqual([none!.imap.search, py.esearch.none], [{ count: 0, ids: [] }, [`(TAG "${none!.imap.tag}")`]]);
  const fromEve = py.messages.map((m, i) => [m, i + 1] as const).filter(([m]) => /^From: Eve Adams <eve@example\.com>\r$/m.test(Buffer.from(m.data, 'base64').toString('utf8').split('\r\n\r\n')[0]!)).map(([, n]) => n);
  assert.deepEqual(from!.imap.search, { min: fromEve[0], count: fromEve.length });
  // more than are kept: the first MAX_SEARCH_IDS, the set as sent, COUNT; SEARCH's answer of the same, its count
  assert.ok(py.archive_messages > MAX_SEARCH_IDS);
  assert.deepEqual(archive!.imap.search, { count: py.archive_messages, ids: Array.from({ length: MAX_SEARCH_IDS }, (_, i) => i + 1), all: `1:${py.archive_messages}` });
  assert.deepEqual(py.esearch.archive, [`(TAG "${archive!.imap.tag}") ALL 1:${py.archive_messages} COUNT ${py.archive_messages}`]);
  assert.deepEqual([plainSearch!.imap.arguments, plainSearch!.imap.search!.count, plainSearch!.imap.search!.ids!.length], ['ALL', py.archive_search, MAX_SEARCH_IDS]);
  assert.equal(py.archive_search, py.archive_messages);
});
