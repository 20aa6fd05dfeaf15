// Real FTP traffic: a private pyftpdlib 1.5.7 (Debian's python3-pyftpdlib,
// TLS through python3-openssl) started once for this file on a loopback port
// (test/helpers/ftp-server.ts: its own temp dir, eve's home seeded with a CSV
// of names, email addresses and phone numbers and a ~200 KB log, passive
// ports from a reserved range so the capture filter can name them), driven
// by Python's ftplib (test/fixtures/ftp/client.py, its data connections
// opened there so each is known by its ports and bytes): a whole session
// (USER/PASS, FEAT, SYST, PWD, LIST, NLST, MLSD, RETR, MKD, CWD, STOR, APPE,
// SIZE, MDTM, RNFR/RNTO, CDUP, RETR in active mode after PORT, RETR after
// EPSV, NLST after EPRT, a refused RETR, a RETR over the 64 KiB body limit,
// DELE, RMD, QUIT), a refused login, and AUTH TLS with the session and its
// PROT P transfers going on inside TLS 1.3 (key log written); captured with
// tcpdump (the control port, the passive ports and the client's active
// ones), parsed, and checked against what the client sent and got back (its
// transcript), the bytes of each data connection, the files on disk and what
// the server recorded.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { captureDuring } from '../helpers/loopback-capture.js';
import { parseCaptureSync, assertValidEvents, type ParseResult } from '../helpers/parse.js';
import {
  FtpServer,
  ftpMissing,
  ftpScenario,
  expectedFromTranscript,
  expectedTransfer,
  transferEnds,
  splitCommand,
  MAX_BODY,
  EVE,
  WRONG_PASSWORD,
  GREETING,
  CONTACTS,
  CONTACTS_FILE,
  NOTE,
  APPENDED,
  BIG_FILE,
  MISSING_FILE,
  type ExpectedFtp,
  type FtpEvent,
  type FtpMode,
  type FtpRun,
  type FtpScenarioResult,
  type FtpTransfer,
} from '../helpers/ftp-server.js';
import type { PanoEvent } from '@panopticon/events';

const missing = ftpMissing();
const skip = missing.length ? `missing ${missing.join(', ')}` : false;
let server: FtpServer | undefined;

before(async () => {
  if (!missing.length) server = await FtpServer.start();
});

after(async () => {
  await server?.stop();
});

interface Captured {
  run: FtpScenarioResult;
  file: string;
  /** the parse with the AUTH TLS session's key log */
  withKeys: ParseResult;
  /** its ftp (control) events */
  ftp: FtpEvent[];
  /** its ftp-data events */
  data: FtpEvent[];
  /** the parse without the key log */
  plain: ParseResult;
}
let captured: Promise<Captured> | undefined;

/** The scenario's traffic, captured and parsed once for the tests that read it. */
function capture(): Promise<Captured> {
  return (captured ??= (async () => {
    const s = server!;
    const file = join(s.dir, 'ftp.pcap');
    const run = await captureDuring(file, s.captureFilter, () => ftpScenario(s));
    const withKeys = parseCaptureSync(file, { parse: { tlsKeyLogs: [run.keylog] } });
    assertValidEvents(withKeys.events);
    const plain = parseCaptureSync(file);
    assertValidEvents(plain.events);
    return { run, file, withKeys, plain, ftp: of(withKeys.events, 'ftp'), data: of(withKeys.events, 'ftp-data') };
  })());
}

const cmpStart = (a: PanoEvent, b: PanoEvent) => (BigInt(a.pano.start_ns) < BigInt(b.pano.start_ns) ? -1 : BigInt(a.pano.start_ns) > BigInt(b.pano.start_ns) ? 1 : 0);

/** The events of a protocol, in start order. */
const of = (events: PanoEvent[], protocol: 'ftp' | 'ftp-data') => (events.filter((e) => e.pano.protocol === protocol) as FtpEvent[]).sort(cmpStart);

const show = (e: FtpEvent) => {
  const f = e.ftp ?? {};
  if (f.transfer) return `${e.pano.kind} ftp-data ${f.transfer.command ?? '?'} ${f.transfer.path ?? ''} ${f.transfer.body.size}B${e.tls?.decrypted ? ' [tls]' : ''}`;
  return `${e.pano.kind} ${f.greeting ? '(greeting)' : (f.command ?? '?')} ${f.arguments ?? ''} -> ${f.preliminary_reply ? `${f.preliminary_reply.code} ` : ''}${f.reply?.code ?? '-'}${e.tls?.decrypted ? ' [tls]' : ''}`;
};
const showAll = (list: FtpEvent[]) => list.map(show).join('\n  ');
const showX = (x: ExpectedFtp) =>
  `${x.kind} ${x.greeting ? '(greeting)' : x.command} ${x.arguments ?? ''} -> ${x.preliminary_reply ? `${x.preliminary_reply.code} ` : ''}${x.reply?.code ?? '-'}${x.tls ? ' [tls]' : ''}`;

/** The control events of each connection (by client port). */
function byPort(list: FtpEvent[]): Map<number, FtpEvent[]> {
  const out = new Map<number, FtpEvent[]>();
  for (const e of list) out.set(e.client.port, [...(out.get(e.client.port) ?? []), e]);
  return out;
}

/** The control connection of each run (the client told its port). */
function runConnections(c: Captured): Map<FtpMode, { run: FtpRun; port: number; events: FtpEvent[] }> {
  const conns = byPort(c.ftp);
  assert.deepEqual([...conns.keys()].sort(), c.run.runs.map((r) => r.port).sort(), `a control connection per client run, got:\n  ${[...conns].map(([p, l]) => `${p}: ${showAll(l)}`).join('\n  ')}`);
  return new Map(c.run.runs.map((run) => [run.name, { run, port: run.port, events: conns.get(run.port)! }]));
}

const conn = (c: Captured, name: FtpMode) => runConnections(c).get(name)!;

/** The ftp-data event of a data connection (by its two ends), if any. */
const dataEvent = (list: FtpEvent[], t: FtpTransfer) => {
  const { client, server } = transferEnds(t);
  return list.filter((e) => e.client.port === client && e.server.port === server);
};

/** The transfers of a run that moved bytes (not refused). */
const moved = (run: FtpRun) => run.transfers.filter((t) => !t.refused);

/** The transfer of a run whose command is `command`, the n-th such. */
function transfer(run: FtpRun, command: string, n = 0): FtpTransfer {
  const t = run.transfers.filter((x) => x.command === command)[n];
  assert.ok(t, `${run.name}: no transfer ${command} #${n}`);
  return t;
}

/** Checks one control event against what the transcript says of its command and reply. */
function checkEvent(e: FtpEvent, x: ExpectedFtp, c: Captured, where: string): void {
  const f = e.ftp;
  const at = `${where}: ${show(e)}`;
  assert.equal(e.pano.protocol, 'ftp', at);
  assert.equal(e.network.protocol.name, 'ftp', at);
  assert.equal(e.server.port, c.run.port, at);
  assert.equal(e.pano.kind, x.kind, at);
  if (x.greeting) {
    assert.equal(f.greeting, true, at);
    assert.equal(f.command, undefined, `${at}: the greeting answers no command`);
  } else {
    assert.notEqual(f.greeting, true, at);
    assert.equal(f.command, x.command, `${at}: command`);
    if (x.command === 'PASS') assert.ok(!('arguments' in f), `${at}: PASS keeps no arguments`);
    else assert.equal(f.arguments, x.arguments, `${at}: arguments`);
  }
  assert.equal(f.username, x.username, `${at}: username`);
  assert.deepEqual(f.reply, x.reply, `${at}: reply`);
  assert.deepEqual(f.preliminary_reply, x.preliminary_reply, `${at}: preliminary_reply`);
  assert.deepEqual(f.data_connection, x.data_connection, `${at}: data_connection`);
  assert.equal(f.transfer, undefined, `${at}: a control event carries no transfer`);
  if (x.reply && x.reply.code >= 400) assert.deepEqual(e.error, { type: String(x.reply.code) }, `${at}: error`);
  else assert.equal(e.error, undefined, `${at}: no error`);
  if (x.tls) assert.equal(e.tls?.decrypted, true, `${at}: read inside TLS`);
  else assert.notEqual(e.tls?.decrypted, true, `${at}: sent in the clear`);
}

function checkSequence(list: FtpEvent[], expected: ExpectedFtp[], c: Captured, what: string): void {
  assert.deepEqual(list.map(show), expected.map(showX), `${what}: the events`);
  expected.forEach((x, i) => checkEvent(list[i]!, x, c, `${what} #${i}`));
}

/** Checks the ftp-data event of a transfer: one, its transfer as the client's bytes say, marked inside TLS when it was. */
function checkTransfer(list: FtpEvent[], t: FtpTransfer, where: string): FtpEvent {
  const got = dataEvent(list, t);
  const at = `${where}: ${t.setup} ${t.command}`;
  assert.equal(got.length, 1, `${at}: one ftp-data event for the connection ${JSON.stringify(transferEnds(t))}, got:\n  ${showAll(list)}`);
  const e = got[0]!;
  assert.equal(e.pano.kind, 'message', at);
  assert.equal(e.network.protocol.name, 'ftp-data', at);
  assert.deepEqual(e.ftp.transfer, expectedTransfer(t), `${at}: transfer`);
  assert.equal(e.error, undefined, at);
  const flags = e.pano.flags ?? [];
  assert.equal(flags.includes('truncated'), t.data!.length > MAX_BODY, `${at}: the truncated flag: ${JSON.stringify(flags)}`);
  // ftplib and pyftpdlib end a clear transfer with a FIN each; under PROT P pyftpdlib closes after its
  // close_notify and resets the connection when ftplib's comes: the end of such a connection is a reset
  const ends = flags.filter((x) => x !== 'truncated');
  assert.ok(ends.length === 0 || (t.tls && ends.length === 1 && ends[0] === 'reset'), `${at}: flags ${JSON.stringify(flags)}`);
  if (t.tls) assert.equal(e.tls?.decrypted, true, `${at}: read inside TLS`);
  else assert.notEqual(e.tls?.decrypted, true, `${at}: sent in the clear`);
  return e;
}

// ---------------------------------------------------------------------------

test('every FTP control connection parses into what its client sent and got back', { skip }, async () => {
  const c = await capture();
  assert.ok(c.ftp.length > 0, 'no ftp events');
  for (const e of c.ftp) {
    assert.notEqual(e.pano.kind, 'orphan_response', show(e));
    assert.ok(!e.pano.flags?.includes('gap'), show(e));
  }
  for (const { run, events } of runConnections(c).values()) {
    checkSequence(events, expectedFromTranscript(run.transcript, '127.0.0.1'), c, run.name);
  }
  // the server saw the logins the events show, on the same connections
  assert.deepEqual(
    c.run.records.filter((r) => r.type.startsWith('login')).map((r) => [c.run.runs.find((x) => x.port === r.peer_port)?.name, r.type, r.user]),
    [['plain', 'login', 'eve'], ['refused', 'login_failed', 'eve'], ['tls', 'login', 'eve']],
  );
});

test('every data connection is one ftp-data event: its transfer command, path, direction, mode and bytes', { skip }, async () => {
  const c = await capture();
  for (const run of c.run.runs) {
    for (const t of moved(run)) checkTransfer(c.data, t, run.name);
  }
  // nothing else: every ftp-data event is a transfer's (the refused RETR's empty connection is none)
  const all = c.run.runs.flatMap(moved);
  assert.equal(c.data.length, all.length, `ftp-data events:\n  ${showAll(c.data)}`);
  assert.equal(c.withKeys.stats.protocols['ftp-data.empty_connections'], 1, "the refused RETR's connection is counted, not reported");
  // each data connection went where the exchange before its command announced it
  const { events } = conn(c, 'plain');
  let i = 0;
  for (const t of conn(c, 'plain').run.transfers) {
    const { verb, args } = splitCommand(t.command);
    i = events.findIndex((e, k) => k > i && e.ftp.command === verb && e.ftp.arguments === args);
    const setup = events[i - 1];
    assert.ok(setup?.ftp.data_connection, t.command);
    assert.equal(setup.ftp.command, t.setup, t.command);
    // passive: the client connected to the announced port; active: the server connected to the client's
    assert.equal(setup.ftp.data_connection!.port, t.setup === 'PASV' || t.setup === 'EPSV' ? t.server_port : t.client_port, t.command);
    assert.equal(setup.ftp.data_connection!.address, '127.0.0.1');
  }
});

test('ftp (1): the whole session: FEAT, SYST, PWD, MKD, CWD, SIZE, MDTM, RNFR/RNTO, CDUP, DELE, RMD as pyftpdlib answered them', { skip }, async () => {
  const c = await capture();
  const { events } = conn(c, 'plain');
  assert.deepEqual(events.filter((e) => e.ftp.command !== 'TYPE' && !['PASV', 'EPSV', 'PORT', 'EPRT'].includes(e.ftp.command!)).map((e) => e.ftp.command ?? '(greeting)'), [
    '(greeting)', 'USER', 'PASS', 'FEAT', 'SYST', 'PWD', 'LIST', 'NLST', 'MLSD', 'RETR', 'MKD', 'CWD', 'STOR', 'APPE', 'SIZE', 'MDTM', 'RNFR', 'RNTO',
    'LIST', 'CDUP', 'RETR', 'RETR', 'NLST', 'RETR', 'RETR', 'DELE', 'RMD', 'QUIT',
  ]);
  const one = (verb: string, n = 0) => events.filter((e) => e.ftp.command === verb)[n]!;
  assert.deepEqual(events[0]!.ftp.reply, { code: 220, text: GREETING });
  assert.deepEqual([one('USER').ftp.username, one('USER').ftp.reply?.code, one('PASS').ftp.reply], ['eve', 331, { code: 230, text: 'Login successful.' }]);
  // FEAT's multi-line reply: the first and last lines' texts, the feature lines as sent (with their space)
  const feat = one('FEAT').ftp.reply!;
  assert.equal(feat.code, 211);
  const lines = feat.text.split('\n');
  assert.equal(lines[0], 'Features supported:');
  assert.equal(lines.at(-1), 'End FEAT.');
  for (const f of [' AUTH TLS', ' EPRT', ' EPSV', ' MDTM', ' SIZE', ' UTF8', ' PBSZ', ' PROT']) assert.ok(lines.includes(f), `FEAT: ${f}`);
  assert.ok(lines.some((l) => l.startsWith(' MLST type*;')), feat.text);
  assert.deepEqual(one('SYST').ftp.reply, { code: 215, text: 'UNIX Type: L8' });
  assert.deepEqual(one('PWD').ftp.reply, { code: 257, text: '"/" is the current directory.' });
  assert.deepEqual([one('MKD').ftp.arguments, one('MKD').ftp.reply], ['uploads', { code: 257, text: '"/uploads" directory created.' }]);
  assert.deepEqual([one('CWD').ftp.arguments, one('CWD').ftp.reply], ['uploads', { code: 250, text: '"/uploads" is the current directory.' }]);
  // SIZE after STOR and APPE: the two uploads' bytes
  assert.deepEqual([one('SIZE').ftp.arguments, one('SIZE').ftp.reply], ['note.txt', { code: 213, text: String(NOTE.length + APPENDED.length) }]);
  assert.match(one('MDTM').ftp.reply!.text, /^\d{14}$/);
  assert.deepEqual([one('RNFR').ftp.arguments, one('RNFR').ftp.reply?.code, one('RNTO').ftp.arguments, one('RNTO').ftp.reply?.code], ['note.txt', 350, 'memo.txt', 250]);
  assert.deepEqual(one('CDUP').ftp.reply, { code: 250, text: '"/" is the current directory.' });
  assert.deepEqual([one('DELE').ftp.arguments, one('DELE').ftp.reply?.code, one('RMD').ftp.arguments, one('RMD').ftp.reply?.code], ['uploads/memo.txt', 250, 'uploads', 250]);
  assert.deepEqual([events.at(-1)!.pano.kind, events.at(-1)!.ftp.reply], ['exchange', { code: 221, text: 'Goodbye.' }]);
  // every transfer command went through its 150 or 125 (pyftpdlib's 125 when the data connection was there first) to 226
  for (const e of events.filter((x) => ['LIST', 'NLST', 'MLSD', 'STOR', 'APPE'].includes(x.ftp.command!) || (x.ftp.command === 'RETR' && x.ftp.arguments !== MISSING_FILE))) {
    assert.ok([125, 150].includes(e.ftp.preliminary_reply?.code ?? 0), show(e));
    assert.deepEqual(e.ftp.reply, { code: 226, text: 'Transfer complete.' }, show(e));
  }
  // PORT and EPRT: pyftpdlib connects at once and says so
  for (const verb of ['PORT', 'EPRT']) assert.deepEqual(one(verb).ftp.reply, { code: 200, text: 'Active data connection established.' });
  assert.match(one('EPSV').ftp.reply!.text, /^Entering extended passive mode \(\|\|\|\d+\|\)\.$/);
});

test('ftp (2): the transfers are the files on disk: downloads, uploads, listings, passive and active', { skip }, async () => {
  const c = await capture();
  const run = conn(c, 'plain').run;
  const event = (command: string, n = 0) => checkTransfer(c.data, transfer(run, command, n), 'plain');
  // the CSV downloaded in passive (PASV) and active (PORT) mode: the file's bytes
  for (const [n, setup, mode] of [[0, 'PASV', 'passive'], [1, 'PORT', 'active']] as const) {
    const t = transfer(run, `RETR ${CONTACTS_FILE}`, n);
    assert.equal(t.setup, setup);
    assert.deepEqual(t.data, readFileSync(join(server!.root, CONTACTS_FILE)));
    assert.deepEqual(event(`RETR ${CONTACTS_FILE}`, n).ftp.transfer, { command: 'RETR', path: CONTACTS_FILE, direction: 'download', mode, body: { size: Buffer.byteLength(CONTACTS), content: CONTACTS } });
  }
  // the uploads: STOR's and APPE's bytes, and the file they made, downloaded after EPSV
  assert.deepEqual(event('STOR note.txt').ftp.transfer, { command: 'STOR', path: 'note.txt', direction: 'upload', mode: 'passive', body: { size: NOTE.length, content: NOTE } });
  assert.deepEqual(event('APPE note.txt').ftp.transfer, { command: 'APPE', path: 'note.txt', direction: 'upload', mode: 'passive', body: { size: APPENDED.length, content: APPENDED } });
  const memo = transfer(run, 'RETR uploads/memo.txt');
  assert.equal(memo.setup, 'EPSV');
  assert.equal(memo.data!.toString(), NOTE + APPENDED);
  assert.deepEqual(event('RETR uploads/memo.txt').ftp.transfer!.body, { size: NOTE.length + APPENDED.length, content: NOTE + APPENDED });
  // the listings: the directory's names as text (what pano-pii scans); NLST after EPRT is active
  const list = event('LIST').ftp.transfer!;
  assert.deepEqual([list.command, list.path, list.direction, list.mode], ['LIST', undefined, 'listing', 'passive']);
  for (const name of [CONTACTS_FILE, BIG_FILE]) assert.ok(list.body.content!.includes(name), list.body.content);
  assert.deepEqual(event('NLST').ftp.transfer!.body.content!.split('\r\n').filter((l) => l).sort(), [BIG_FILE, CONTACTS_FILE].sort());
  assert.match(event('MLSD').ftp.transfer!.body.content!, new RegExp(`type=file;[^\\r]* ${CONTACTS_FILE.replace('.', '\\.')}\\r\\n`));
  assert.match(event('LIST /uploads').ftp.transfer!.body.content!, /memo\.txt\r\n$/);
  assert.deepEqual(event('NLST uploads').ftp.transfer, { command: 'NLST', path: 'uploads', direction: 'listing', mode: 'active', body: { size: 10, content: 'memo.txt\r\n' } });
  // the server sent and received the same files
  assert.deepEqual(
    c.run.records.filter((r) => r.peer_port === run.port && !r.type.startsWith('login')).map((r) => [r.type, r.file!.slice(server!.root.length)]),
    [['sent', `/${CONTACTS_FILE}`], ['received', '/uploads/note.txt'], ['received', '/uploads/note.txt'], ['sent', `/${CONTACTS_FILE}`], ['sent', '/uploads/memo.txt'], ['sent', `/${BIG_FILE}`]],
  );
});

test('ftp (3): a refused RETR: 550, its code the error type; its empty data connection reported by no event', { skip }, async () => {
  const c = await capture();
  const { run, events } = conn(c, 'plain');
  const t = transfer(run, `RETR ${MISSING_FILE}`);
  assert.equal(t.refused, true);
  const e = events.find((x) => x.ftp.command === 'RETR' && x.ftp.arguments === MISSING_FILE)!;
  assert.deepEqual([e.pano.kind, e.ftp.reply, e.ftp.preliminary_reply, e.error], ['exchange', { code: 550, text: 'No such file or directory.' }, undefined, { type: '550' }]);
  // the client had opened the passive connection (ftplib connects before it sends RETR), then closed it
  assert.ok(t.client_port && t.server_port, 'the refused transfer had its connection');
  assert.equal(events[events.indexOf(e) - 1]!.ftp.data_connection?.port, t.server_port);
  for (const { events: list } of [c.withKeys, c.plain]) {
    const onConn = list.filter((x) => (x.client as { port?: number } | undefined)?.port === t.client_port && (x.server as { port?: number } | undefined)?.port === t.server_port);
    assert.deepEqual(onConn.map((x) => x.pano.protocol), [], 'no event of the empty connection');
  }
  for (const { stats } of [c.withKeys, c.plain]) assert.equal(stats.protocols['ftp-data.empty_connections'], 1);
  assert.equal(c.withKeys.stats.protocols['ftp-data.without_command'] ?? 0, 0, 'every ftp-data event has its command');
});

test('ftp (4): a file over 64 KiB is kept to the limit with its whole size, flagged truncated', { skip }, async () => {
  const c = await capture();
  const t = transfer(conn(c, 'plain').run, `RETR ${BIG_FILE}`);
  assert.deepEqual(t.data, c.run.big, 'the client got the file');
  assert.ok(c.run.big.length > 200_000, `${c.run.big.length}`);
  const e = checkTransfer(c.data, t, 'plain');
  const body = e.ftp.transfer!.body;
  assert.equal(body.size, c.run.big.length);
  assert.equal(body.truncated, true);
  assert.equal(body.content, c.run.big.subarray(0, MAX_BODY).toString('utf8'));
  assert.deepEqual(e.pano.flags, ['truncated']);
});

test('ftp (5): a refused login: 530, its code the error type; no password anywhere', { skip }, async () => {
  const c = await capture();
  const { events } = conn(c, 'refused');
  assert.deepEqual(events.map((e) => [e.ftp.command ?? '(greeting)', e.ftp.arguments, e.ftp.username, e.ftp.reply, e.error]), [
    ['(greeting)', undefined, undefined, { code: 220, text: GREETING }, undefined],
    ['USER', 'eve', 'eve', { code: 331, text: 'Username ok, send password.' }, undefined],
    ['PASS', undefined, undefined, { code: 530, text: 'Authentication failed.' }, { type: '530' }],
    ['QUIT', undefined, undefined, { code: 221, text: 'Goodbye.' }, undefined],
  ]);
  // the transcripts sent both passwords on the wire (in the clear, or inside TLS) ...
  const sent = c.run.runs.flatMap((r) => r.transcript.filter((i) => i.from === 'client').map((i) => (i.from === 'client' ? i.text : '')));
  assert.ok(sent.includes(`PASS ${EVE.password}`) && sent.includes(`PASS ${WRONG_PASSWORD}`));
  // ... and neither is in any event of either parse
  for (const [what, list] of [['with the key log', c.withKeys.events], ['without', c.plain.events]] as const) {
    const text = JSON.stringify(list);
    for (const secret of [EVE.password, WRONG_PASSWORD]) assert.ok(!text.includes(secret), `${what}: ${secret} in the events`);
  }
});

test('ftp (6): AUTH TLS: the events stop at the switch without the key log, and go on inside TLS with it, the PROT P transfers too', { skip }, async () => {
  const c = await capture();
  const { run, port, events } = conn(c, 'tls');
  assert.equal(run.py.tls_version, 'TLSv1.3');
  assert.ok(readFileSync(c.run.keylog, 'utf8').includes('CLIENT_TRAFFIC_SECRET_0'), 'the key log was written');
  const tlsTransfers = moved(run);
  assert.deepEqual(tlsTransfers.map((t) => [t.command, t.setup, t.tls]), [['LIST', 'PASV', true], [`RETR ${CONTACTS_FILE}`, 'PASV', true]]);

  // without the key log: greeting, AUTH TLS (234), then a TLS connection; no transfer read
  const plainFtp = of(c.plain.events, 'ftp').filter((e) => e.client.port === port);
  assert.deepEqual(plainFtp.map((e) => [e.pano.kind, e.ftp.command ?? '(greeting)', e.ftp.arguments, e.ftp.reply?.code]), [
    ['message', '(greeting)', undefined, 220],
    ['exchange', 'AUTH', 'TLS', 234],
  ], showAll(plainFtp));
  assert.deepEqual(plainFtp[1]!.ftp.reply, { code: 234, text: 'AUTH TLS successful.' });
  const tlsOf = (list: PanoEvent[], p: number) => list.filter((e) => e.pano.protocol === 'tls' && ((e.client as { port?: number } | undefined)?.port === p || (e.server as { port?: number } | undefined)?.port === p));
  const tls = tlsOf(c.plain.events, port);
  assert.equal(tls.length, 1, 'a TLS event follows the switch');
  assert.equal(tls[0]!.pano.connection.id, plainFtp[0]!.pano.connection.id);
  const plainData = of(c.plain.events, 'ftp-data');
  for (const t of tlsTransfers) {
    const { client, server: sport } = transferEnds(t);
    assert.equal(plainData.filter((e) => e.client.port === client && e.server.port === sport).length, 0, `${t.command}: no ftp-data event without the key log`);
    const onConn = c.plain.events.filter((e) => (e.client as { port?: number } | undefined)?.port === client && (e.server as { port?: number } | undefined)?.port === sport);
    assert.ok(onConn.length > 0 && onConn.every((e) => e.pano.protocol === 'tls'), `${t.command}: only TLS read of the connection: ${onConn.map((e) => e.pano.protocol)}`);
  }
  assert.equal(plainData.length, c.run.runs.flatMap(moved).filter((t) => !t.tls).length, 'the transfers in the clear, read the same');

  // with it: the same two, then the session inside TLS, each marked decrypted
  assert.deepEqual(events.map((e) => [e.ftp.command ?? '(greeting)', e.ftp.reply?.code, e.tls?.decrypted ?? false]), [
    ['(greeting)', 220, false],
    ['AUTH', 234, false],
    ['USER', 331, true],
    ['PASS', 230, true],
    ['PBSZ', 200, true],
    ['PROT', 200, true],
    ['TYPE', 200, true],
    ['PASV', 227, true],
    ['LIST', 226, true],
    ['TYPE', 200, true],
    ['PASV', 227, true],
    ['RETR', 226, true],
    ['QUIT', 221, true],
  ]);
  assert.deepEqual(events[5]!.ftp.arguments, 'P');
  // the PROT P transfers, read inside their own TLS connections: the listing and the CSV
  const [list, retr] = tlsTransfers.map((t) => checkTransfer(c.data, t, 'tls'));
  assert.ok(list!.ftp.transfer!.body.content!.includes(CONTACTS_FILE), JSON.stringify(list!.ftp.transfer));
  assert.deepEqual(retr!.ftp.transfer!.body, { size: Buffer.byteLength(CONTACTS), content: CONTACTS });

  // the other connections read the same with or without the key log
  const ends = (client: number, sport: number) => `${client}|${sport}`;
  const tlsConns = new Set([ends(port, c.run.port), ...tlsTransfers.map((t) => ends(transferEnds(t).client, transferEnds(t).server))]);
  const strip = (list: FtpEvent[]) =>
    list.filter((x) => !tlsConns.has(ends(x.client.port, x.server.port))).map((x) => JSON.stringify({ ...x, pano: { ...x.pano, id: undefined, connection: undefined } }));
  assert.deepEqual(strip([...of(c.plain.events, 'ftp'), ...plainData]), strip([...c.ftp, ...c.data]));
});
