// POP3 against tshark's POP dissector. The corpus has no POP3 capture: this
// file makes its own, with the traffic of the live test (pop3Scenario: a
// private Dovecot driven by Python's poplib and raw sockets: a whole session,
// a refused password, AUTH PLAIN and LOGIN, five commands pipelined in one
// write, STLS with the key log written, a RETR given up mid-response), has
// tshark 4.0 read it (told the port is POP's with -d, given the key log) as
// PDML, and compares per connection, in order:
//  - every command line the client sent, as tshark splits it (the first line
//    of a segment: pop.request.command and pop.request.parameter), with the
//    events' pop3.command and pop3.arguments;
//  - every status line the server sent (the first line of a segment:
//    pop.response.indicator and pop.response.description), with the events'
//    pop3.response (the greeting first);
//  - the "+ " challenges AUTH got, with pop3.auth.steps;
//  - every multi-line response tshark shows whole (its lines up to the "."
//    line, pop.response.data): CAPA's lines with pop3.capabilities, LIST's and
//    UIDL's with pop3.listing, and for RETR and TOP the message's size after
//    dot-unstuffing and its From and Subject with pop3.message.
// The STLS session is compared inside TLS too (both sides have the key log),
// and, without it, up to STLS. Every event must pass the v1 schema.
//
// Left out or normalized, on purpose:
//  - tshark 4.0 parses only the first line of a segment as a command or a
//    status line and shows the rest as data lines (pop.request.data,
//    pop.response.data): the pipelined commands after STAT, and the responses
//    after STAT's, are such lines. They are split here as tshark splits a
//    first line (the verb up to the first space, the rest its parameter), and
//    a segment's response lines are framed by RFC 1939 (a +OK to CAPA, RETR,
//    TOP, LIST or UIDL without an argument goes on to a "." line) to find the
//    next status line;
//  - PASS's parameter and what follows AUTH's mechanism (PLAIN's initial
//    response), and the lines answering AUTH LOGIN's challenges (tshark shows
//    them as commands, "ZXZl"): credentials, which the events never keep (the
//    spec gives PASS no arguments, AUTH's arguments as the mechanism alone).
//    The user names are compared by the live test, the passwords nowhere;
//  - the challenges themselves: tshark 4.0 takes a server segment that does
//    not start with +OK or -ERR for RETR data ("S: DATA fragment") and shows
//    no field of it; they are counted here from the segments' bytes
//    (tcp.payload starting "+ ") and compared with pop3.auth.steps;
//  - the case of the verb: tshark shows it as written, the events upper-case
//    it (the spec); poplib writes upper case, so nothing changes here;
//  - messages tshark does not show whole: it shows the lines of a response's
//    first segment only (later segments of a RETR are "DATA fragment"s with
//    no fields), so a message longer than a segment (the ~100 KB one: its
//    RETR in the whole session and the one given up) is left out; which ones
//    are is asserted;
//  - tshark's IMF dissector: tshark 4.0 hands a RETR or TOP response to it
//    only when the message comes in segments after the one carrying the +OK
//    line and their lengths reach the octet count (response_is_continuation,
//    desegment_data); Dovecot writes the +OK line and the message in one
//    write, so it never does here (asserted: no imf.from or imf.subject in the
//    capture; what it does read as IMF is AUTH LOGIN's challenges, as above).
//    The From and Subject lines are read from the lines tshark's POP
//    dissector shows instead, unfolded (RFC 5322 §2.2.3) and decoded (RFC
//    2047) with the live tests' decoder.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { captureDuring } from '../helpers/loopback-capture.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';
import { tsharkAvailable, tsharkOutput } from '../helpers/tshark.js';
import { decodeEncodedWords } from '../helpers/smtp-server.js';
import { Dovecot, dovecotMissing, pop3Scenario, messageNumber, MESSAGES, unstuff, type Pop3Event, type Pop3ScenarioResult } from '../helpers/dovecot.js';

const missing = [...dovecotMissing(), ...(tsharkAvailable() ? [] : ['tshark'])];
const skip = missing.length ? `missing ${missing.join(', ')}` : false;
let server: Dovecot | undefined;
let file = '';
let run: Pop3ScenarioResult | undefined;

before(async () => {
  if (missing.length) return;
  server = await Dovecot.start();
  file = join(server.dir, 'pop3.pcap');
  run = await captureDuring(file, `tcp port ${server.port}`, () => pop3Scenario(server!));
});

after(async () => {
  await server?.stop();
});

/** One connection's POP3, normalized the same way on both sides. */
interface Conn {
  /** "> VERB parameter" */
  commands: string[];
  /** "< +OK text", the greeting first */
  responses: string[];
  challenges: number;
  /** "#i VERB: what it listed", for the multi-line responses tshark shows whole (i: the command's index) */
  multi: string[];
}

const newConn = (): Conn => ({ commands: [], responses: [], challenges: 0, multi: [] });

/** A command line as compared: the verb upper-cased; no credentials (see the top of the file). */
function commandStr(verb: string, parameter: string | undefined): string {
  const v = verb.toUpperCase();
  let p = parameter || undefined;
  if (v === 'PASS') p = undefined;
  if (v === 'AUTH' || v === 'APOP') p = p?.split(' ')[0];
  return `> ${v}${p ? ` ${p}` : ''}`;
}

/** A message's size, From and Subject, from its (unstuffed) lines: the header fields unfolded, encoded words decoded. */
function messageStr(lines: string[]): string {
  const size = lines.reduce((n, l) => n + Buffer.byteLength(l) + 2, 0);
  const fields: string[] = [];
  for (const l of lines) {
    if (l === '') break;
    if (/^[ \t]/.test(l) && fields.length) fields[fields.length - 1] += l;
    else fields.push(l);
  }
  const header = (name: string) => {
    const f = fields.find((x) => x.toLowerCase().startsWith(`${name}:`));
    return f === undefined ? '-' : decodeEncodedWords(f.slice(name.length + 1).trim());
  };
  return `size=${size} | ${header('from')} | ${header('subject')}`;
}

const isMulti = (command: string) => /^> (CAPA|RETR|TOP|LIST|UIDL)$|^> (RETR|TOP) /.test(command);

function multiStr(i: number, command: string, lines: string[]): string {
  const verb = command.slice(2).split(' ')[0]!;
  return `#${i} ${verb}: ${verb === 'RETR' || verb === 'TOP' ? messageStr(lines) : lines.join(', ')}`;
}

// ---------------------------------------------------------------------------
// tshark's side

const unxml = (s: string) =>
  s.replace(/&(#x[0-9a-f]+|#\d+|quot|amp|lt|gt|apos);/gi, (_, e: string) =>
    e[0] === '#' ? String.fromCodePoint(e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : Number(e.slice(1))) : ({ quot: '"', amp: '&', lt: '<', gt: '>', apos: "'" } as Record<string, string>)[e.toLowerCase()]!,
  );
const hexLine = (hex: string) => Buffer.from(hex, 'hex').toString('utf8').replace(/\r?\n$/, '');

/** One POP block tshark shows (a segment, or a TLS record inside one): its first line parsed, the others as lines; none for a continuation. */
interface Block {
  first?: { verb: string; parameter?: string };
  lines: string[];
}

interface TsharkRead {
  conns: Map<number, Conn>;
  /** imf.from and imf.subject fields anywhere in the capture */
  imf: string[];
  /** by client port: the commands whose multi-line responses tshark does not show whole */
  partial: Map<number, string[]>;
}

/** Every connection's POP3 in `file` as tshark reads it, by client port. */
async function tsharkConnections(file: string, port: number, keylog: string | undefined): Promise<TsharkRead> {
  const args = ['-d', `tcp.port==${port},pop`, ...(keylog ? ['-o', `tls.keylog_file:${keylog}`] : []), '-Y', 'pop || imf', '-T', 'pdml'];
  const pdml = await tsharkOutput(file, args);
  const conns = new Map<number, Conn>();
  const partial = new Map<number, string[]>();
  const imf: string[] = [];
  interface State {
    greeted: boolean;
    /** indices of the commands waiting for a response */
    waiting: number[];
    answerDue: boolean;
    multi?: { i: number; lines: string[]; whole: boolean };
  }
  const states = new Map<number, State>();
  for (const packet of pdml.split('<packet>').slice(1)) {
    const src = Number(/name="tcp.srcport"[^>]*show="(\d+)"/.exec(packet)?.[1]);
    const dst = Number(/name="tcp.dstport"[^>]*show="(\d+)"/.exec(packet)?.[1]);
    const payload = /name="tcp.payload"[^>]*value="([0-9a-f]*)"/.exec(packet)?.[1] ?? '';
    const fromServer = src === port;
    const client = fromServer ? dst : src;
    const c = conns.get(client) ?? newConn();
    conns.set(client, c);
    const st = states.get(client) ?? { greeted: false, waiting: [], answerDue: false };
    states.set(client, st);
    const blocks: Block[] = [];
    let field: 'first' | undefined;
    for (const [, proto, name, attrs] of packet.matchAll(/<proto name="(pop)"|<field name="((?:pop|imf)\.[^"]*)"([^>]*?)\/?>/g)) {
      if (proto) {
        blocks.push({ lines: [] });
        continue;
      }
      const show = unxml(/ show="([^"]*)"/.exec(attrs!)?.[1] ?? '');
      const value = / value="([0-9a-f]*)"/.exec(attrs!)?.[1] ?? '';
      const b = blocks.at(-1);
      switch (name) {
        case 'imf.from':
        case 'imf.subject':
          imf.push(`${name}: ${show}`);
          break;
        case 'pop.request':
        case 'pop.response':
          if (b) b.first = { verb: '' };
          field = 'first';
          break;
        case 'pop.request.command':
        case 'pop.response.indicator':
          if (b?.first && field === 'first') b.first.verb = show;
          break;
        case 'pop.request.parameter':
        case 'pop.response.description':
          if (b?.first && field === 'first') b.first.parameter = show;
          break;
        case 'pop.request.data':
        case 'pop.response.data':
          field = undefined;
          b?.lines.push(hexLine(value));
          break;
      }
    }
    const endMulti = () => {
      const m = st.multi!;
      st.multi = undefined;
      const command = c.commands[m.i]!;
      if (m.whole) c.multi.push(multiStr(m.i, command, unstuff(m.lines)));
      else partial.set(client, [...(partial.get(client) ?? []), `#${m.i} ${command.slice(2)}`]);
    };
    for (const b of blocks) {
      if (!fromServer) {
        const lines = b.first ? [{ verb: b.first.verb, parameter: b.first.parameter }, ...b.lines.map((l) => ({ verb: l.split(' ')[0]!, parameter: l.includes(' ') ? l.slice(l.indexOf(' ') + 1) : undefined }))] : [];
        for (const l of lines) {
          // an answer to a challenge (LOGIN's user name or password): not a command
          if (st.answerDue) {
            st.answerDue = false;
            continue;
          }
          st.waiting.push(c.commands.length);
          c.commands.push(commandStr(l.verb, l.parameter));
        }
        continue;
      }
      if (!b.first) {
        // a continuation ("DATA fragment"): an AUTH challenge, or more of a multi-line response
        const head = st.waiting[0] === undefined ? undefined : c.commands[st.waiting[0]];
        const text = Buffer.from(payload, 'hex').toString('latin1');
        if (head?.startsWith('> AUTH') && /^\+( |\r\n)/.test(text)) {
          c.challenges++;
          st.answerDue = true;
        } else if (st.multi) st.multi.whole = false;
        continue;
      }
      // a segment tshark reads as a response: one still open ended unseen
      if (st.multi) {
        st.multi.whole = false;
        endMulti();
      }
      for (const line of [`${b.first.verb}${b.first.parameter ? ` ${b.first.parameter}` : ''}`, ...b.lines]) {
        if (st.multi) {
          if (line === '.') endMulti();
          else st.multi.lines.push(line);
          continue;
        }
        if (!st.greeted) {
          st.greeted = true;
          c.responses.push(`< ${line}`);
          continue;
        }
        const i = st.waiting.shift();
        if (i === undefined) throw new Error(`connection ${client}: a response no command asked for: ${line}`);
        c.responses.push(`< ${line}`);
        if (line.startsWith('+OK') && isMulti(c.commands[i]!)) st.multi = { i, lines: [], whole: true };
      }
    }
  }
  for (const [client, st] of states) {
    if (st.multi) {
      const m = st.multi;
      partial.set(client, [...(partial.get(client) ?? []), `#${m.i} ${conns.get(client)!.commands[m.i]!.slice(2)}`]);
    }
  }
  for (const [k, c] of conns) if (!c.commands.length && !c.responses.length) conns.delete(k);
  return { conns, imf, partial };
}

// ---------------------------------------------------------------------------
// The events' side, normalized the same way

function eventConnections(pop3: Pop3Event[]): Map<number, Conn> {
  const sorted = [...pop3].sort((a, b) => (BigInt(a.pano.start_ns) < BigInt(b.pano.start_ns) ? -1 : BigInt(a.pano.start_ns) > BigInt(b.pano.start_ns) ? 1 : 0));
  const out = new Map<number, Conn>();
  for (const e of sorted) {
    const c = out.get(e.client.port) ?? newConn();
    out.set(e.client.port, c);
    const p = e.pop3;
    const r = p.response;
    if (p.greeting) {
      if (r) c.responses.push(`< ${r.status}${r.text ? ` ${r.text}` : ''}`);
      continue;
    }
    const i = c.commands.length;
    const command = commandStr(p.command!, p.arguments);
    c.commands.push(command);
    if (r) c.responses.push(`< ${r.status}${r.text ? ` ${r.text}` : ''}`);
    if (p.auth) c.challenges += p.auth.steps;
    if (r?.status === '+OK' && isMulti(command)) {
      const verb = p.command!;
      if (p.message) c.multi.push(`#${i} ${verb}: size=${p.message.size} | ${p.message.headers.from?.[0] ?? '-'} | ${p.message.headers.subject?.[0] ?? '-'}`);
      else if (p.capabilities) c.multi.push(`#${i} ${verb}: ${p.capabilities.join(', ')}`);
      else if (p.listing) c.multi.push(`#${i} ${verb}: ${p.listing.map((l) => `${l.number} ${verb === 'LIST' ? l.size : l.uid}`).join(', ')}`);
    }
  }
  return out;
}

/** Compares tshark's reading with the events', leaving out the multi-line responses tshark does not show whole. */
function compare(theirs: TsharkRead, ours: Map<number, Conn>, what: string): void {
  assert.deepEqual([...ours.keys()].sort(), [...theirs.conns.keys()].sort(), `${what}: connections`);
  for (const [port, t] of theirs.conns) {
    const o = ours.get(port)!;
    const left = new Set((theirs.partial.get(port) ?? []).map((x) => x.split(' ')[0]));
    assert.deepEqual({ ...o, multi: o.multi.filter((m) => !left.has(m.split(' ')[0])) }, t, `${what}: connection ${port}`);
  }
}

const pop3Of = (events: Awaited<ReturnType<typeof parseCaptureSync>>['events']) => events.filter((e) => e.pano.protocol === 'pop3') as Pop3Event[];

test('pop3 oracle: commands, responses, challenges and multi-line responses against tshark, inside STLS with the key log', { skip }, async () => {
  const r = run!;
  const theirs = await tsharkConnections(file, r.port, r.keylog);
  const { events } = parseCaptureSync(file, { parse: { tlsKeyLogs: [r.keylog] } });
  assertValidEvents(events);
  const pop3 = pop3Of(events);
  assert.ok(pop3.length > 0, 'no pop3 events');
  assert.equal(theirs.conns.size, r.runs.length, 'tshark reads a connection per client run');
  const conn = (name: string) => theirs.conns.get(r.runs.find((x) => x.name === name)!.port)!;

  // what the normalization rests on is in tshark's reading, so a tshark that changes shows here first
  assert.deepEqual(theirs.imf, [], 'tshark 4.0 reads no RETR of Dovecot as IMF');
  const big = messageNumber('big');
  const partial = [...theirs.partial].map(([p, l]) => [r.runs.find((x) => x.port === p)?.name, l]);
  assert.deepEqual(partial, [['plain', [`#12 RETR ${big}`]], ['abandoned', [`#2 RETR ${big}`]]], 'the messages tshark shows part of: the big one');
  assert.equal(conn('auth-login').challenges, 2, "LOGIN's two challenges");
  assert.deepEqual(conn('pipeline').commands.slice(2), ['> STAT', '> LIST', '> UIDL', '> LIST 99', '> RETR 2', '> QUIT'], 'the pipelined lines');
  assert.ok(conn('pipeline').responses.includes("< -ERR There's no message 99."));
  assert.ok(conn('stls').commands.includes('> STLS') && conn('stls').commands.at(-1) === '> QUIT', 'read on inside TLS');
  // every message but the big one, whole, with its From and Subject as tshark's lines give them
  const retrs = conn('plain').multi.filter((m) => / RETR: /.test(m));
  assert.equal(retrs.length, MESSAGES.length - 1);
  assert.ok(retrs.some((m) => m.endsWith('| Zoë Müller <zoe@example.com> | Grüße aus Zürich')), 'the encoded words, decoded');
  assert.ok(conn('plain').multi.some((m) => m.startsWith('#13 TOP: size=')), 'TOP 1 0');

  compare(theirs, eventConnections(pop3), 'with the key log');
});

test('pop3 oracle: without the key log, both stop at STLS', { skip }, async () => {
  const r = run!;
  const theirs = await tsharkConnections(file, r.port, undefined);
  const { events } = parseCaptureSync(file);
  assertValidEvents(events);
  const stls = r.runs.find((x) => x.name === 'stls')!.port;
  const t = theirs.conns.get(stls);
  assert.ok(t, 'tshark reads the STLS connection');
  assert.deepEqual(t.commands, ['> CAPA', '> STLS']);
  assert.equal(t.responses.length, 3);
  assert.equal(t.responses.at(-1), '< +OK Begin TLS negotiation now.');
  compare(theirs, eventConnections(pop3Of(events)), 'without the key log');
});
