// FTP against tshark's FTP and FTP-DATA dissectors. The corpus has no FTP
// capture: this file makes its own, with the traffic of the live test
// (ftpScenario: a private pyftpdlib driven by Python's ftplib: a whole
// session with transfers after PASV, PORT, EPSV and EPRT, a refused RETR and
// a ~200 KB one; a refused login; AUTH TLS with PROT P transfers, the key log
// written), has tshark 4.0 read it (told the control port is FTP's with -d,
// given the key log) as PDML, and compares:
//  - per control connection, in order: every command line (ftp.request.command
//    and ftp.request.arg) with the events' ftp.command and ftp.arguments;
//    every reply (ftp.response.code and ftp.response.arg, a multi-line one's
//    lines gathered up to its last) with ftp.reply and ftp.preliminary_reply;
//    and where each data connection was announced (ftp.passive.ip and
//    ftp.passive.port of a 227, ftp.epsv.port of a 229, ftp.active.cip and
//    ftp.active.port of PORT, ftp.eprt.ip and ftp.eprt.port of EPRT) with
//    ftp.data_connection;
//  - per data connection tshark follows from the control connection: the
//    command it links the connection to (ftp-data.command) with the event's
//    ftp.transfer command and path, and its setup (ftp-data.setup-method:
//    PASV and EPASV passive, PORT and EPRT active) with ftp.transfer.mode;
//  - per data connection, the bytes that went over it, as tshark follows the
//    stream (follow,tcp,raw; follow,tls,raw for the PROT P ones), with
//    ftp.transfer.body: its size, its content (the first 64 KiB), truncated
//    beyond.
// The AUTH TLS session is compared inside TLS too (both sides have the key
// log), and, without it, up to AUTH TLS. Every event must pass the v1 schema.
//
// Left out or normalized, on purpose:
//  - PASS's argument: a credential, which the events never keep (the spec);
//    tshark shows it. The live test checks that no password is in any event;
//  - tshark 4.0 parses only the first line of a segment (or of a TLS record)
//    as a command or a reply and shows the others as text lines: a multi-line
//    reply's middle lines (FEAT's) are such lines, and so would be the lines
//    of a segment carrying two replies. The other lines are split here as
//    tshark splits a first line (three digits, then a space or a hyphen) and
//    a multi-line reply gathered up to its last line (RFC 959 §4.2);
//  - the PORT transfer's data connection: tshark 4.0 sets up PORT's data
//    conversation with the server's end at port 20 (RFC 959's L-1), and
//    pyftpdlib connects from a port of its own (bound to port 0), so tshark
//    links nothing to it (EPRT's it sets up with any port, and links). Which
//    connection that is, and that tshark shows no ftp-data on it, is
//    asserted; its bytes are compared still (follow,tcp needs no link);
//  - the bytes tshark's ftp-data counts of a PROT P transfer are its TLS
//    records (tshark 4.0's FTP-DATA dissector does not hand a data connection
//    to TLS): those connections' bytes are followed in a second pass with
//    FTP-DATA disabled and their ports decoded as TLS (follow,tls,raw, the key
//    log given), which decrypts them;
//  - ftp.current-working-directory and ftp-data.current-working-directory:
//    tshark 4.0 takes any 257 reply for PWD's (MKD's '"/uploads" directory
//    created' makes it /uploads) and then adds CWD's argument to it
//    (/uploads/uploads); the events keep no working directory, and their path
//    is the command's argument, compared through ftp-data.command;
//  - the refused RETR's data connection carried no byte: tshark shows no
//    ftp-data for it and the events report none (asserted by the live test).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { captureDuring } from '../helpers/loopback-capture.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';
import { tsharkAvailable, tsharkOutput } from '../helpers/tshark.js';
import { FtpServer, ftpMissing, ftpScenario, toReply, MAX_BODY, type FtpEvent, type FtpScenarioResult } from '../helpers/ftp-server.js';
import type { PanoEvent } from '@panopticon/events';

const missing = [...ftpMissing(), ...(tsharkAvailable() ? [] : ['tshark'])];
const skip = missing.length ? `missing ${missing.join(', ')}` : false;
let server: FtpServer | undefined;
let file = '';
let run: FtpScenarioResult | undefined;

before(async () => {
  if (missing.length) return;
  server = await FtpServer.start();
  file = join(server.dir, 'ftp.pcap');
  run = await captureDuring(file, server.captureFilter, () => ftpScenario(server!));
});

after(async () => {
  await server?.stop();
});

/** One control connection's FTP, normalized the same way on both sides. */
interface Control {
  /** "> VERB arguments" */
  commands: string[];
  /** "< code text" (the text's lines joined with newlines), the greeting first */
  replies: string[];
  /** "PASV 127.0.0.1:port", "EPSV :port", "PORT 127.0.0.1:port", "EPRT 127.0.0.1:port" */
  endpoints: string[];
}

/** One data connection: the transfer command tshark links to it, and how it was set up. */
interface DataLink {
  /** "RETR contacts.csv" */
  command: string;
  mode: 'passive' | 'active';
}

/** A connection's two ports, the lower first (tshark does not say which end listened). */
const pair = (a: number, b: number) => (a < b ? `${a}|${b}` : `${b}|${a}`);

/** A command line as compared: the verb upper-cased; no password (see the top of the file). */
function commandStr(verb: string, args: string | undefined): string {
  const v = verb.toUpperCase();
  const a = v === 'PASS' || v === 'ACCT' ? undefined : args || undefined;
  return `> ${v}${a ? ` ${a}` : ''}`;
}

const replyStr = (r: { code: number; text: string }) => `< ${r.code} ${r.text}`;

// ---------------------------------------------------------------------------
// tshark's side

const unxml = (s: string) =>
  s.replace(/&(#x[0-9a-f]+|#\d+|quot|amp|lt|gt|apos);/gi, (_, e: string) =>
    e[0] === '#' ? String.fromCodePoint(e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : Number(e.slice(1))) : ({ quot: '"', amp: '&', lt: '<', gt: '>', apos: "'" } as Record<string, string>)[e.toLowerCase()]!,
  );

interface TsharkRead {
  /** by client port */
  control: Map<number, Control>;
  /** by the connection's ports (pair) */
  data: Map<string, DataLink>;
  /** tshark's byte count of each data connection (its ftp-data's sizes), by pair */
  dataBytes: Map<string, number>;
}

/** Every FTP control and data connection in `file` as tshark reads it. */
async function tsharkRead(file: string, port: number, keylog: string | undefined): Promise<TsharkRead> {
  const args = ['-d', `tcp.port==${port},ftp`, ...(keylog ? ['-o', `tls.keylog_file:${keylog}`] : []), '-Y', 'ftp || ftp-data', '-T', 'pdml'];
  const pdml = await tsharkOutput(file, args);
  const control = new Map<number, Control>();
  const data = new Map<string, DataLink>();
  const dataBytes = new Map<string, number>();
  /** a multi-line reply still open, by client port */
  const open = new Map<number, string[]>();
  const field = (text: string, name: string) => {
    const m = new RegExp(`<field name="${name.replace(/\./g, '\\.')}"[^>]* show="([^"]*)"`).exec(text);
    return m ? unxml(m[1]!) : undefined;
  };
  for (const packet of pdml.split('<packet>').slice(1)) {
    const src = Number(field(packet, 'tcp.srcport'));
    const dst = Number(field(packet, 'tcp.dstport'));
    if (packet.includes('<proto name="ftp-data"')) {
      const key = pair(src, dst);
      const method = field(packet, 'ftp-data.setup-method')!;
      const link: DataLink = { command: field(packet, 'ftp-data.command')!, mode: method === 'PASV' || method === 'EPASV' ? 'passive' : 'active' };
      const before = data.get(key);
      if (before) assert.deepEqual(link, before, `tshark links the connection ${key} to one command`);
      data.set(key, link);
      for (const [, size] of packet.matchAll(/<proto name="ftp-data"[^>]* size="(\d+)"/g)) dataBytes.set(key, (dataBytes.get(key) ?? 0) + Number(size));
    }
    // each ftp proto: a segment, or a TLS record inside one
    for (const [, body] of packet.matchAll(/<proto name="ftp" [^>]*>([\s\S]*?)<\/proto>/g)) {
      const fromServer = src === port;
      const client = fromServer ? dst : src;
      const c = control.get(client) ?? { commands: [], replies: [], endpoints: [] };
      control.set(client, c);
      // the lines: each a text item with its bytes; the first one's parts are tshark's fields
      const lines = [...body!.matchAll(/<field name="" show="[^"]*" size="\d+" pos="\d+" value="([0-9a-f]*)"/g)].map(([, hex]) => Buffer.from(hex!, 'hex').toString('utf8').replace(/\r?\n$/, ''));
      if (!lines.length) continue;
      if (!fromServer) {
        const verb = field(body!, 'ftp.request.command')!;
        const arg = field(body!, 'ftp.request.arg');
        assert.equal(lines[0], arg === undefined ? verb : `${verb} ${arg}`, 'the first line as tshark splits it');
        c.commands.push(commandStr(verb, arg));
        // more lines in the segment: split as tshark splits the first (ftplib writes a command a segment)
        for (const l of lines.slice(1)) c.commands.push(commandStr(l.split(' ')[0]!, l.includes(' ') ? l.slice(l.indexOf(' ') + 1) : undefined));
        const cip = field(body!, 'ftp.active.cip');
        const eprt = field(body!, 'ftp.eprt.ip');
        if (cip) c.endpoints.push(`PORT ${cip}:${field(body!, 'ftp.active.port')}`);
        if (eprt) c.endpoints.push(`EPRT ${eprt}:${field(body!, 'ftp.eprt.port')}`);
        continue;
      }
      const code = field(body!, 'ftp.response.code');
      if (code !== undefined) {
        // tshark's reading of the first line: its code and text
        assert.equal(lines[0]!.slice(0, 3), code, 'the reply code as tshark reads it');
        assert.equal(lines[0]!.slice(4), field(body!, 'ftp.response.arg') ?? '', 'the reply text as tshark reads it');
        const pasv = field(body!, 'ftp.passive.ip');
        const epsv = field(body!, 'ftp.epsv.port');
        if (pasv) c.endpoints.push(`PASV ${pasv}:${field(body!, 'ftp.passive.port')}`);
        if (epsv) c.endpoints.push(`EPSV :${epsv}`);
      }
      // the reply lines, gathered up to a multi-line reply's last line
      for (const l of lines) {
        const gathered = open.get(client);
        if (gathered) {
          gathered.push(l);
          if (/^\d{3}( |$)/.test(l) && l.startsWith(gathered[0]!.slice(0, 3))) {
            open.delete(client);
            c.replies.push(replyStr(toReply(gathered)));
          }
          continue;
        }
        const m = /^(\d{3})([ -]?)/.exec(l);
        if (!m) throw new Error(`connection ${client}: a reply line outside a reply: ${l}`);
        if (m[2] === '-') open.set(client, [l]);
        else c.replies.push(replyStr(toReply([l])));
      }
    }
  }
  assert.deepEqual([...open.keys()], [], 'no reply left open');
  for (const [k, c] of control) if (!c.commands.length && !c.replies.length) control.delete(k);
  return { control, data, dataBytes };
}

/** The streams of the capture: by pair, tshark's stream index and its client (the SYN's sender) and server ports. */
async function tsharkStreams(file: string): Promise<Map<string, { stream: number; client: number; server: number }>> {
  const out = await tsharkOutput(file, ['-Y', 'tcp.flags.syn==1 && tcp.flags.ack==0', '-T', 'fields', '-e', 'tcp.stream', '-e', 'tcp.srcport', '-e', 'tcp.dstport']);
  const streams = new Map<string, { stream: number; client: number; server: number }>();
  for (const line of out.split('\n').filter((l) => l)) {
    const [stream, src, dst] = line.split('\t').map(Number);
    streams.set(pair(src!, dst!), { stream: stream!, client: src!, server: dst! });
  }
  return streams;
}

/**
 * The bytes of each stream as tshark follows it: follow,tcp,raw for those in the clear, follow,tls,raw
 * (FTP-DATA disabled, their server ports decoded as TLS, the key log given) for `tls`. A data
 * connection's bytes go one way: both sides' are put together.
 */
async function tsharkFollow(file: string, plain: number[], tls: Array<{ stream: number; server: number }>, keylog: string): Promise<Map<number, Buffer>> {
  const args = ['--disable-protocol', 'ftp-data', ...tls.flatMap((t) => ['-d', `tcp.port==${t.server},tls`]), '-o', `tls.keylog_file:${keylog}`, '-q',
    ...plain.flatMap((s) => ['-z', `follow,tcp,raw,${s}`]), ...tls.flatMap((t) => ['-z', `follow,tls,raw,${t.stream}`])];
  const out = await tsharkOutput(file, args);
  const bytes = new Map<number, Buffer>();
  for (const block of out.split(/^={60,}$/m)) {
    const m = /^Filter: tcp\.stream eq (\d+)$/m.exec(block);
    if (!m) continue;
    const hex = block.split('\n').filter((l) => /^\t?[0-9a-f]+$/.test(l)).map((l) => l.trim()).join('');
    bytes.set(Number(m[1]), Buffer.from(hex, 'hex'));
  }
  return bytes;
}

// ---------------------------------------------------------------------------
// The events' side, normalized the same way

const cmpStart = (a: PanoEvent, b: PanoEvent) => (BigInt(a.pano.start_ns) < BigInt(b.pano.start_ns) ? -1 : BigInt(a.pano.start_ns) > BigInt(b.pano.start_ns) ? 1 : 0);

function eventControl(ftp: FtpEvent[]): Map<number, Control> {
  const out = new Map<number, Control>();
  for (const e of [...ftp].sort(cmpStart)) {
    const c = out.get(e.client.port) ?? { commands: [], replies: [], endpoints: [] };
    out.set(e.client.port, c);
    const f = e.ftp;
    if (!f.greeting) c.commands.push(commandStr(f.command!, f.arguments));
    if (f.preliminary_reply) c.replies.push(replyStr(f.preliminary_reply));
    if (f.reply) c.replies.push(replyStr(f.reply));
    const d = f.data_connection;
    if (d) c.endpoints.push(`${f.command} ${f.command === 'EPSV' ? '' : d.address}:${d.port}`);
  }
  return out;
}

const eventData = (data: FtpEvent[]) =>
  new Map(data.map((e) => [pair(e.client.port, e.server.port), { command: `${e.ftp.transfer!.command}${e.ftp.transfer!.path ? ` ${e.ftp.transfer!.path}` : ''}`, mode: e.ftp.transfer!.mode } as DataLink]));

const of = (events: PanoEvent[], protocol: string) => events.filter((e) => e.pano.protocol === protocol) as FtpEvent[];

/** The connection of the PORT transfer (see the top of the file): by pair. */
function portTransfer(r: FtpScenarioResult): string {
  const t = r.runs.flatMap((x) => x.transfers).filter((x) => x.setup === 'PORT');
  assert.equal(t.length, 1, 'one transfer after PORT');
  return pair(t[0]!.client_port!, t[0]!.server_port!);
}

// ---------------------------------------------------------------------------

test('ftp oracle: commands, replies, data connections and the bytes of each against tshark, inside AUTH TLS with the key log', { skip }, async () => {
  const r = run!;
  const [theirs, streams] = await Promise.all([tsharkRead(file, r.port, r.keylog), tsharkStreams(file)]);
  const { events } = parseCaptureSync(file, { parse: { tlsKeyLogs: [r.keylog] } });
  assertValidEvents(events);
  const ftp = of(events, 'ftp');
  const data = of(events, 'ftp-data');
  assert.ok(ftp.length > 0 && data.length > 0, 'no ftp or ftp-data events');
  assert.equal(theirs.control.size, r.runs.length, 'tshark reads a control connection per client run');
  const byName = (name: string) => theirs.control.get(r.runs.find((x) => x.name === name)!.port)!;

  // what the normalization rests on is in tshark's reading, so a tshark that changes shows here first
  assert.ok(byName('plain').replies.some((x) => x.startsWith('< 211 Features supported:\n AUTH SSL\n AUTH TLS\n') && x.endsWith('\nEnd FEAT.')), "FEAT's reply gathered");
  assert.deepEqual(byName('plain').endpoints.map((x) => x.split(' ')[0]), ['PASV', 'PASV', 'PASV', 'PASV', 'PASV', 'PASV', 'PASV', 'PORT', 'EPSV', 'EPRT', 'PASV', 'PASV']);
  assert.ok(byName('tls').commands.includes('> PROT P') && byName('tls').commands.at(-1) === '> QUIT', 'read on inside TLS');
  const port = portTransfer(r);
  assert.ok(!theirs.data.has(port), 'tshark links nothing to the PORT transfer');
  assert.ok(![streams.get(port)!.client, streams.get(port)!.server].includes(20), 'pyftpdlib connected from a port of its own');
  assert.deepEqual([...theirs.data.values()].filter((d) => d.mode === 'active').map((d) => d.command), ['NLST uploads'], "EPRT's is linked");

  // the control connections
  const ours = eventControl(ftp);
  assert.deepEqual([...ours.keys()].sort(), [...theirs.control.keys()].sort(), 'control connections');
  for (const [p, t] of theirs.control) assert.deepEqual(ours.get(p), t, `control connection ${p}`);

  // the data connections tshark links, and what it links them to
  const ourData = eventData(data);
  assert.deepEqual([...ourData.keys()].filter((k) => k !== port).sort(), [...theirs.data.keys()].sort(), 'data connections');
  for (const [k, link] of theirs.data) assert.deepEqual(ourData.get(k), link, `data connection ${k}`);

  // the bytes of every data connection, the PORT one's and the PROT P ones' included
  const tls = r.runs.flatMap((x) => x.transfers).filter((t) => t.tls && !t.refused).map((t) => streams.get(pair(t.client_port!, t.server_port!))!);
  assert.equal(tls.length, 2, 'the PROT P transfers');
  const plainStreams = [...ourData.keys()].map((k) => streams.get(k)!).filter((s) => !tls.includes(s));
  const followed = await tsharkFollow(file, plainStreams.map((s) => s.stream), tls, r.keylog);
  for (const e of data) {
    const k = pair(e.client.port, e.server.port);
    const bytes = followed.get(streams.get(k)!.stream);
    assert.ok(bytes, `tshark followed ${k}`);
    const body = e.ftp.transfer!.body;
    const at = `data connection ${k} (${ourData.get(k)!.command})`;
    assert.equal(body.size, bytes.length, `${at}: size`);
    assert.equal(body.content, bytes.subarray(0, MAX_BODY).toString('utf8'), `${at}: content`);
    assert.equal(body.truncated ?? false, bytes.length > MAX_BODY, `${at}: truncated`);
    // in the clear, tshark's ftp-data counts the same bytes
    if (theirs.dataBytes.has(k) && !tls.some((t) => pair(t.client, t.server) === k)) assert.equal(theirs.dataBytes.get(k), bytes.length, `${at}: tshark's ftp-data bytes`);
  }
  assert.ok(data.some((e) => e.ftp.transfer!.body.truncated), 'the big one is among them');
});

test('ftp oracle: without the key log, both stop at AUTH TLS and read no PROT P transfer', { skip }, async () => {
  const r = run!;
  const theirs = await tsharkRead(file, r.port, undefined);
  const { events } = parseCaptureSync(file);
  assertValidEvents(events);
  const tlsRun = r.runs.find((x) => x.name === 'tls')!;
  const t = theirs.control.get(tlsRun.port);
  assert.ok(t, 'tshark reads the AUTH TLS connection');
  assert.deepEqual(t, { commands: ['> AUTH TLS'], replies: ['< 220 pyftpdlib ready.', '< 234 AUTH TLS successful.'], endpoints: [] });
  const ours = eventControl(of(events, 'ftp'));
  assert.deepEqual([...ours.keys()].sort(), [...theirs.control.keys()].sort(), 'control connections');
  for (const [p, c] of theirs.control) assert.deepEqual(ours.get(p), c, `control connection ${p}`);
  // the PROT P connections are neither side's ftp-data: their announcements were inside TLS
  const port = portTransfer(r);
  const ourData = eventData(of(events, 'ftp-data'));
  assert.deepEqual([...ourData.keys()].filter((k) => k !== port).sort(), [...theirs.data.keys()].sort(), 'data connections');
  for (const [k, link] of theirs.data) assert.deepEqual(ourData.get(k), link, `data connection ${k}`);
  for (const x of tlsRun.transfers) assert.ok(!theirs.data.has(pair(x.client_port!, x.server_port!)) && !ourData.has(pair(x.client_port!, x.server_port!)), x.command);
});
