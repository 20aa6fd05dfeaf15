// FTP on hand-written sessions (RFC 959 with RFC 2428 EPSV/EPRT, RFC 2389 FEAT,
// RFC 4217 AUTH TLS and PROT P): the control connection's commands and
// replies (multi-line replies, transfers with their 150, refusals), the data
// connections it announces and what they carry, in the parser and through
// pano-parse (passive, active, an unannounced connection), whole and in
// pieces, damaged; detection beside SMTP's 220.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fakeContext } from '../helpers/fake-parser-context.js';
import { C, S, at, shape, runSession, sidesOf, damagedSessionsStayValid, resumedInside, type Side } from '../helpers/parser-session.js';
import { Conversation, pcapng } from '../helpers/synth.js';
import { assertValidEvents, parseCaptureSync } from '../helpers/parse.js';
import { FtpParser } from '../../packages/protocols/src/ftp/parser.js';
import { detectFtp } from '../../packages/protocols/src/ftp/index.js';
import { epsvPort, eprt, hostPort } from '../../packages/protocols/src/ftp/endpoints.js';

const run = (sides: Side[], step?: number) => runSession((ctx) => new FtpParser(ctx), sides, { step });

const CSV = 'name,email\r\nIvy Chen,ivy@example.org\r\n';

const session: Side[] = [
  [S, '220-Welcome to the example.org FTP service.\r\n220 (vsFTPd 3.0.3)\r\n'],
  [C, 'USER ivy\r\n'],
  [S, '331 Please specify the password.\r\n'],
  [C, 'PASS hunter2\r\n'],
  [S, '230 Login successful.\r\n'],
  [C, 'FEAT\r\n'],
  [S, '211-Features:\r\n EPRT\r\n EPSV\r\n MDTM\r\n PASV\r\n211 End\r\n'],
  [C, 'PASV\r\n'],
  [S, '227 Entering Passive Mode (10,0,0,2,195,80).\r\n'],
  [C, 'RETR contacts.csv\r\n'],
  [S, '150 Opening BINARY mode data connection for contacts.csv (38 bytes).\r\n226 Transfer complete.\r\n'],
  [C, 'EPSV\r\n'],
  [S, '229 Entering Extended Passive Mode (|||40001|)\r\n'],
  [C, 'RETR missing.txt\r\n'],
  [S, '550 Failed to open file.\r\n'],
  [C, 'PORT 10,0,0,1,156,64\r\n'],
  [S, '200 PORT command successful. Consider using PASV.\r\n'],
  [C, 'STOR notes.txt\r\n'],
  [S, '150 Ok to send data.\r\n226 Transfer complete.\r\n'],
  [C, 'QUIT\r\n'],
  [S, '221 Goodbye.\r\n'],
];

test('a session: a multi-line greeting and FEAT, USER/PASS, PASV, EPSV and PORT with their data connections, transfers with their 150, a refusal, QUIT', () => {
  const ctx = run(session);
  assert.deepEqual(ctx.records.map((r) => [r.kind, at(r, 'ftp.command') ?? null, at(r, 'ftp.reply.code')]), [
    ['message', null, 220], ['exchange', 'USER', 331], ['exchange', 'PASS', 230], ['exchange', 'FEAT', 211], ['exchange', 'PASV', 227],
    ['exchange', 'RETR', 226], ['exchange', 'EPSV', 229], ['exchange', 'RETR', 550], ['exchange', 'PORT', 200], ['exchange', 'STOR', 226], ['exchange', 'QUIT', 221],
  ]);
  const [greeting, user, pass, feat, pasv, retr, epsv, refused, port, stor] = ctx.records;
  assert.deepEqual(greeting!.attributes.ftp, { greeting: true, reply: { code: 220, text: 'Welcome to the example.org FTP service.\n(vsFTPd 3.0.3)' } });
  assert.deepEqual(user!.attributes.ftp, { command: 'USER', arguments: 'ivy', username: 'ivy', reply: { code: 331, text: 'Please specify the password.' } });
  assert.deepEqual(pass!.attributes.ftp, { command: 'PASS', reply: { code: 230, text: 'Login successful.' } });
  assert.doesNotMatch(JSON.stringify(ctx.records.map((r) => r.attributes)), /hunter2/);
  assert.equal(at(feat!, 'ftp.reply.text'), 'Features:\n EPRT\n EPSV\n MDTM\n PASV\nEnd');
  assert.deepEqual(at(pasv!, 'ftp.data_connection'), { address: '10.0.0.2', port: 195 * 256 + 80, mode: 'passive' });
  assert.deepEqual(at(retr!, 'ftp.preliminary_reply'), { code: 150, text: 'Opening BINARY mode data connection for contacts.csv (38 bytes).' });
  assert.equal(retr!.responseBytes, '150 Opening BINARY mode data connection for contacts.csv (38 bytes).\r\n226 Transfer complete.\r\n'.length);
  // EPSV names a port: the address is the control connection's server's
  assert.deepEqual(at(epsv!, 'ftp.data_connection'), { address: '127.0.0.1', port: 40001, mode: 'passive' });
  assert.deepEqual(refused!.attributes.error, { type: '550' });
  assert.deepEqual(at(port!, 'ftp.data_connection'), { address: '10.0.0.1', port: 156 * 256 + 64, mode: 'active' });
  assert.equal(at(stor!, 'ftp.arguments'), 'notes.txt');
  // each data connection was announced: PASV's address as given and as the control connection's server (clients that distrust it), EPSV's, PORT's
  assert.deepEqual(ctx.expects.map((e) => [e.address, e.port, e.protocol]), [
    ['10.0.0.2', 50000, 'ftp-data'], ['127.0.0.1', 50000, 'ftp-data'], ['127.0.0.1', 40001, 'ftp-data'], ['10.0.0.1', 40000, 'ftp-data'],
  ]);
  assertValidEvents(ctx.records.map((r) => ({ ...envelopeOf(r), ...r.attributes, network: { transport: 'tcp', type: 'ipv4', protocol: { name: 'ftp' } } })));
});

/** The envelope a record gets (the dispatcher's job), for validating it alone. */
function envelopeOf(r: { kind: string }) {
  return {
    pano: { v: 1, id: '1-1', kind: r.kind, protocol: 'ftp', start_ns: '1', end_ns: '1', duration_ns: 0, time: '1970-01-01T00:00:00.000000001Z', source: { type: 'pcap', name: 'x' }, connection: { id: 1, roles: 'syn' } },
    client: { address: '127.0.0.1', port: 1 },
    server: { address: '127.0.0.1', port: 2 },
  };
}

test('fed in pieces of 1 and 7 bytes, the session gives the same records', () => {
  const whole = shape(run(session).records);
  for (const n of [1, 7]) assert.deepEqual(shape(run(session, n).records), whole, `pieces of ${n}`);
});

test('a data connection reports the transfer its control session sent for it; one that carried nothing for a refused command is no event', () => {
  const ctx = run(session);
  const data = (i: number, bytes: string, close: 'fin' | 'rst' = 'fin') => {
    const d = fakeContext();
    const p = ctx.expects[i]!.parser(d);
    if (bytes) p.data(S, Buffer.from(bytes), 1n);
    p.close(close, 2n);
    return d;
  };
  // the first data connection (PASV) carries RETR contacts.csv; the refused RETR claims none; the next (PORT) is STOR's
  const retr = data(0, CSV);
  assert.deepEqual(retr.records[0]!.attributes, { ftp: { transfer: { command: 'RETR', path: 'contacts.csv', direction: 'download', mode: 'passive', body: { size: CSV.length, content: CSV } } }, network: { protocol: { name: 'ftp-data' } } });
  assert.equal(retr.records[0]!.kind, 'message');
  const stor = data(3, 'see you at noon\n', 'rst');
  assert.deepEqual([at(stor.records[0]!, 'ftp.transfer.command'), at(stor.records[0]!, 'ftp.transfer.mode')], ['STOR', 'active']);
  assert.deepEqual(stor.records[0]!.flags, ['reset']);
  const none = data(2, '');
  assert.equal(none.records.length, 0);
  assert.equal(none.counts.get('ftp-data.empty_connections'), 1);
});

test('PROT P: a data connection that starts with TLS goes to TLS with the FTP data parser to resume; AUTH TLS hands the control connection over', () => {
  const ctx = run([
    [S, '220 ProFTPD Server ready.\r\n'],
    [C, 'AUTH TLS\r\n'],
    [S, '234 AUTH TLS successful\r\n'],
  ]);
  const { inner, parser } = resumedInside(ctx, 'ftp');
  const sides: Side[] = [[C, 'PBSZ 0\r\n'], [S, '200 PBSZ 0 successful\r\n'], [C, 'PROT P\r\n'], [S, '200 Protection set to Private\r\n'], [C, 'PASV\r\n'], [S, '227 Entering Passive Mode (127,0,0,1,200,1).\r\n']];
  for (const [dir, s] of sides) parser.data(dir, Buffer.from(s as string), 1n);
  assert.deepEqual(inner.records.map((r) => at(r, 'ftp.command')), ['PBSZ', 'PROT', 'PASV']);
  const d = fakeContext();
  const p = inner.expects[0]!.parser(d);
  p.data(C, Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5]), 3n);
  assert.deepEqual(d.handoffs.map((h) => [h.protocol, h.init?.carried?.name]), [['tls', 'ftp-data']]);
  assert.equal(d.records.length, 0);
});

test('through pano-parse: passive and active data connections are found from their announcements and carry their files; an unannounced one is not FTP', () => {
  const client = { addr: '10.0.0.1', port: 51000 };
  const server = { addr: '10.0.0.2', port: 21 };
  const ctl = new Conversation(client, server).handshake();
  const frames = [];
  const say = (side: 0 | 1, s: string) => frames.push(...ctl.segments(side, s));
  ctl.frames.length = 0;
  frames.push(...new Conversation(client, server).handshake().frames);
  say(S, '220 (vsFTPd 3.0.3)\r\n');
  say(C, 'USER ivy\r\n');
  say(S, '331 Please specify the password.\r\n');
  say(C, 'PASS hunter2\r\n');
  say(S, '230 Login successful.\r\n');
  say(C, 'PASV\r\n');
  say(S, '227 Entering Passive Mode (10,0,0,2,195,80).\r\n');
  // the data connection, opened to the announced port, then the command
  const passive = new Conversation({ addr: '10.0.0.1', port: 51001 }, { addr: '10.0.0.2', port: 50000 }).handshake();
  frames.push(...passive.frames);
  say(C, 'RETR contacts.csv\r\n');
  say(S, '150 Opening BINARY mode data connection.\r\n');
  frames.push(...passive.segments(S, CSV));
  passive.frames.length = 0;
  passive.close();
  frames.push(...passive.frames);
  say(S, '226 Transfer complete.\r\n');
  // active: the server connects from port 20 to the port the client named
  say(C, 'PORT 10,0,0,1,156,64\r\n');
  say(S, '200 PORT command successful.\r\n');
  say(C, 'STOR notes.txt\r\n');
  const active = new Conversation({ addr: '10.0.0.2', port: 20 }, { addr: '10.0.0.1', port: 40000 }).handshake();
  frames.push(...active.frames);
  say(S, '150 Ok to send data.\r\n');
  frames.push(...active.segments(S, 'Call me: +1 415 555 2671\n'));
  active.frames.length = 0;
  active.close();
  frames.push(...active.frames);
  say(S, '226 Transfer complete.\r\n');
  // a connection no one announced, to another port: detected from its bytes (none match)
  const stray = new Conversation({ addr: '10.0.0.1', port: 51002 }, { addr: '10.0.0.2', port: 50001 }).handshake();
  frames.push(...stray.frames, ...stray.segments(S, CSV));
  say(C, 'QUIT\r\n');
  say(S, '221 Goodbye.\r\n');
  const { events, stats } = parseCaptureSync(pcapng(frames));
  assertValidEvents(events);
  const data = events.filter((e) => e.pano.protocol === 'ftp-data') as unknown as Array<{ ftp: { transfer: Record<string, unknown> }; server: { port: number } }>;
  assert.deepEqual(data.map((e) => [e.server.port, e.ftp.transfer.command, e.ftp.transfer.path, e.ftp.transfer.mode, (e.ftp.transfer.body as { content: string }).content]), [
    [50000, 'RETR', 'contacts.csv', 'passive', CSV],
    [40000, 'STOR', 'notes.txt', 'active', 'Call me: +1 415 555 2671\n'],
  ]);
  assert.equal(events.filter((e) => e.pano.protocol === 'ftp').length, 8);
  assert.equal(stats.protocols['dispatch.ftp-data_connections'], 2);
  assert.equal(stats.protocols['dispatch.unidentified_tcp_connections'], 1);
});

test('random damage never throws, and what is read stays within the schema', () => {
  const { client, server } = sidesOf(session);
  damagedSessionsStayValid((ctx) => new FtpParser(ctx), client, server, 'ftp', { seed: 21, maxPiece: 40, interleave: 'server' });
});

test('data connection endpoints: PASV and PORT host-port, EPSV, EPRT', () => {
  assert.deepEqual(hostPort('Entering Passive Mode (192,168,1,20,4,1).'), { address: '192.168.1.20', port: 1025 });
  assert.deepEqual(hostPort('=127,0,0,1,200,10'), { address: '127.0.0.1', port: 51210 });
  assert.equal(hostPort('(300,0,0,1,1,1)'), undefined);
  assert.equal(hostPort('(10,0,0,1,0,0)'), undefined);
  assert.equal(epsvPort('Entering Extended Passive Mode (|||6446|)'), 6446);
  assert.equal(epsvPort('Entering Extended Passive Mode (!!!6446!)'), 6446);
  assert.equal(epsvPort('(|||0|)'), undefined);
  assert.deepEqual(eprt('|1|132.235.1.2|6275|'), { address: '132.235.1.2', port: 6275 });
  assert.deepEqual(eprt('|2|1080::8:800:200C:417A|5282|'), { address: '1080::8:800:200c:417a', port: 5282 });
  assert.equal(eprt('|3|x|1|'), undefined);
  assert.equal(eprt('|1|1.2.3.4|99999|'), undefined);
});

test('detection: a greeting that names FTP or a known server, not SMTP\'s; a client that logs in', () => {
  const d = (s: string) => detectFtp(Buffer.from(s), 0);
  assert.deepEqual(d('220 (vsFTPd 3.0.3)\r\n'), { sender: 'server', confidence: 0.9 });
  assert.deepEqual(d('220 ProFTPD Server (Debian) [::ffff:10.0.0.2]\r\n'), { sender: 'server', confidence: 0.9 });
  assert.deepEqual(d('220-FileZilla Server 1.7.0\r\n220 Please visit https://filezilla-project.org/\r\n'), { sender: 'server', confidence: 0.9 });
  assert.equal(d('220 mx.example.org ESMTP Postfix\r\n'), null);
  assert.equal(d('220 (vsFTPd'), 'more');
  assert.deepEqual(d('USER anonymous\r\nPASS guest@\r\n'), { sender: 'client', confidence: 0.7 });
  assert.equal(d('USER anonymous\r\n'), 'more');
  assert.deepEqual(d('AUTH TLS\r\n'), { sender: 'client', confidence: 0.7 });
  assert.equal(d('EHLO x\r\n'), null);
});

test('through pano-parse: an announcement waits a minute of capture time; a data connection seen without its SYN is still found, its roles set by the announcement', () => {
  const client = { addr: '10.0.0.1', port: 51000 };
  const server = { addr: '10.0.0.2', port: 21 };
  const ctl = new Conversation(client, server).handshake();
  const frames = [...ctl.frames];
  const say = (side: 0 | 1, s: string) => frames.push(...ctl.segments(side, s));
  say(S, '220 (vsFTPd 3.0.3)\r\n');
  say(C, 'PASV\r\n');
  say(S, '227 Entering Passive Mode (10,0,0,2,195,80).\r\n');
  // no SYN captured: the first packet seen is the file, from the listening side
  const late = new Conversation({ addr: '10.0.0.1', port: 51001 }, { addr: '10.0.0.2', port: 50000 });
  say(C, 'RETR a.csv\r\n');
  say(S, '150 Opening BINARY mode data connection.\r\n');
  frames.push(...late.segments(S, CSV));
  say(S, '226 Transfer complete.\r\n');
  say(C, 'PASV\r\n');
  say(S, '227 Entering Passive Mode (10,0,0,2,195,81).\r\n');
  say(C, 'RETR b.csv\r\n');
  // opened two minutes later: the announcement is gone
  const expired = new Conversation({ addr: '10.0.0.1', port: 51002 }, { addr: '10.0.0.2', port: 50001 }, { startNs: 1_700_000_120_000_000_000n }).handshake();
  frames.push(...expired.frames, ...expired.segments(S, CSV));
  const { events, stats } = parseCaptureSync(pcapng(frames));
  const data = events.filter((e) => e.pano.protocol === 'ftp-data') as unknown as Array<{ ftp: { transfer: Record<string, unknown> }; server: { port: number } }>;
  assert.deepEqual(data.map((e) => [e.server.port, e.ftp.transfer.path]), [[50000, 'a.csv']]);
  assert.equal(stats.protocols['dispatch.expected_expired'], 1);
});
