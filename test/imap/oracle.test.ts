// IMAP against tshark's IMAP dissector. The corpus has no IMAP capture: this
// file makes its own, with the traffic of the live test (imapScenario: a
// private Dovecot driven by Python's imaplib and raw sockets: a whole session,
// a refused password, AUTHENTICATE PLAIN through a challenge and with SASL-IR,
// IDLE while another connection APPENDs, an APPEND with a flag and a date and
// a UID FETCH of that message's envelope, STARTTLS with the key log written,
// a FETCH given up mid-literal), has tshark 4.0 read it (told the port is IMAP's
// with -d, given the key log) as PDML, and compares per connection, in order:
//  - the greeting line (tshark's first imap.line from the server) with the
//    greeting event's status, code and text;
//  - every command line (imap.request_tag, imap.request.command with
//    imap.request.command.uid, and the rest of imap.request as its
//    arguments) with the events' imap.tag, imap.command and imap.arguments;
//  - every tagged status line (imap.response_tag, imap.response.status, the
//    whole imap.response) with the events' imap.tag and imap.response;
//  - the user name of LOGIN (imap.request.username) with imap.username, and
//    the mailbox of SELECT, EXAMINE, CREATE, DELETE, STATUS and APPEND
//    (imap.request.folder, its quotes and modified UTF-7 undone here) with
//    imap.mailbox;
//  - the "+" challenges AUTHENTICATE got with imap.auth.steps;
//  - every literal a FETCH response carried, which tshark 4.0 hands to its
//    IMF dissector (dissect_imap_fetch): imf.from and imf.subject with the
//    From and Subject of the event's fetch entry (its message, its header
//    fields, or none for a TEXT section);
//  - the NAMESPACE, QUOTA, QUOTAROOT and ESEARCH lines tshark shows (it has
//    no field for them but imap.line), read here with a regular expression
//    or two (prefixes' modified UTF-7 undone), each with the tag of the
//    command it answers (the waiting one; an ESEARCH's own TAG), with the
//    events' imap.namespace, imap.quota, imap.quota_roots and imap.search of
//    that command;
//  - the attachments' file names in every BODYSTRUCTURE line tshark frames
//    whole (the values of "filename" and, RFC 2231 undone with
//    decodeURIComponent, "filename*"), message by message, with those of
//    the events' imap.fetch[].structure (a structure cut at the parts the
//    events keep: the first of them).
// The STARTTLS session is compared inside TLS too (both sides have the key
// log), and, without it, up to STARTTLS. Every event must pass the v1 schema.
//
// Left out or normalized, on purpose:
//  - tshark reads every line of a segment (it reassembles up to a line end),
//    but it does not frame the literals a client sends: the lines of APPEND's
//    message show as requests (tag "From:", command "Eve"), and so does a
//    password sent as a LITERAL+ literal. They are skipped here by the size
//    the line before announced ({n} or {n+}, counted with imap.line's size),
//    with the line that ends the command after the literal (empty here);
//  - AUTHENTICATE's answer to a "+" challenge (a request whose tag is the
//    base64) and IDLE's DONE (a request with tag DONE): not commands to pano
//    (RFC 9051 §6.2.2, RFC 2177), so not here either;
//  - LOGIN's password (imap.request.password; "11+" for a literal) and what
//    follows AUTHENTICATE's mechanism (SASL-IR's initial response):
//    credentials, which the events never keep (imap.arguments is LOGIN's user
//    name alone and AUTHENTICATE's mechanism). The passwords are checked
//    nowhere here, their absence by the live test;
//  - AUTHENTICATE's user name: tshark 4.0 reads no SASL (imap.request.username
//    is LOGIN's alone); the events' decoded one is the live test's;
//  - the ")" line that ends a FETCH response after its literal: tshark reads
//    the literal off for IMF and shows the ")" as a response with tag ")";
//  - a FETCH response with more than one literal: tshark 4.0 reads off only
//    the first literal after the "(" (dissect_imap_fetch) and reads the rest
//    of the logical line, its other literals included, as lines. Dovecot sends
//    the ENVELOPE strings that have quotes or 8-bit characters as literals
//    (the literals mode's UID FETCH): tshark hands the Subject's bytes to IMF
//    and shows " ((" and the From's name as responses. Such a response is
//    skipped up to the status of the command waiting, and its IMF block and
//    the event's fetched message are left out; which response was is
//    asserted (that UID FETCH alone). Its fields are the live test's;
//  - untagged responses ("* ..."): tshark adds no field to them but the line.
//    Only the greeting (the first) is compared; what the others said is the
//    live test's (against the client's transcript);
//  - imap.request.folder of SEARCH and UID SEARCH: tshark 4.0 takes their
//    first search key for a folder ("ALL", "FROM");
//  - the FETCH the client gave up mid-literal: tshark waits for the whole
//    literal and the ")" after it before it shows a FETCH line
//    (desegmenting), so it shows nothing of that response (no status came
//    either: the command is on both sides, without a response), and no IMF;
//    its partial message is the live test's;
//  - encoded words: imf.from and imf.subject are the header fields as sent,
//    decoded here (RFC 2047) with the live tests' decoder;
//  - the case of the verb: tshark shows it as written, the events upper-case
//    it (the contract); imaplib and client.py write upper case, so nothing
//    changes here;
//  - a literal inside BODYSTRUCTURE (the mime mode's attachment name in raw
//    UTF-8 with quotes): tshark 4.0 takes the size it announces for a literal
//    right after the first line of the segment, and shows the next FETCH line
//    from that many bytes in ("UCTURE ((..."). That response is skipped up to
//    the status of the command waiting, as the envelope literals above are
//    (its IMF block, file names and the event's fetched items left out), and
//    which response it was is asserted (the mime mode's UID FETCH).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { captureDuring } from '../helpers/loopback-capture.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';
import { tsharkAvailable, tsharkOutput } from '../helpers/tshark.js';
import { decodeEncodedWords } from '../helpers/smtp-server.js';
import { Dovecot, dovecotMissing, MESSAGES } from '../helpers/dovecot.js';
import { imapScenario, decodeMailbox, FOLDER, MAX_STRUCTURE_PARTS, type ImapEvent, type ImapScenarioResult } from '../helpers/imap.js';
import type { PanoEvent } from '@panopticon/events';

const missing = [...dovecotMissing({ imap: true }), ...(tsharkAvailable() ? [] : ['tshark'])];
const skip = missing.length ? `missing ${missing.join(', ')}` : false;
let server: Dovecot | undefined;
let file = '';
let run: ImapScenarioResult | undefined;

before(async () => {
  if (missing.length) return;
  server = await Dovecot.start({ imap: true });
  file = join(server.dir, 'imap.pcap');
  run = await captureDuring(file, `tcp port ${server.imapPort}`, () => imapScenario(server!));
});

after(async () => {
  await server?.stop();
});

/** One connection's IMAP, normalized the same way on both sides. */
interface Conn {
  /** "< * OK [code] text" */
  greeting: string[];
  /** "> tag COMMAND arguments" */
  commands: string[];
  /** "< tag STATUS [code] text" */
  responses: string[];
  /** LOGIN's user names */
  usernames: string[];
  /** "TAG COMMAND: mailbox", for the commands whose mailbox tshark reads */
  mailboxes: string[];
  challenges: number;
  /** "From | Subject" of each literal a FETCH response carried ("-" for none) */
  fetched: string[];
  /** "TAG KIND what it said" of each NAMESPACE, QUOTA, QUOTAROOT and ESEARCH answer */
  answers: string[];
  /** "TAG seq: name|name" of each FETCH response with a BODYSTRUCTURE: its attachments' file names */
  attachments: string[];
}

const newConn = (): Conn => ({ greeting: [], commands: [], responses: [], usernames: [], mailboxes: [], challenges: 0, fetched: [], answers: [], attachments: [] });

const namespacesStr = (ns: Array<{ prefix: string; delimiter: string | null }>) => ns.map((n) => `${n.prefix}|${n.delimiter ?? 'NIL'}`).join(' ') || 'NIL';
/** A list of numbers as a sequence set's ranges (1:5,9). */
const ranges = (ids: number[]) => ids.reduce<Array<[number, number]>>((out, n) => (out.length && out.at(-1)![1] === n - 1 ? (out.at(-1)![1] = n, out) : [...out, [n, n]]), []).map(([a, b]) => (a === b ? `${a}` : `${a}:${b}`)).join(',');
/** An ESEARCH answer as compared: UID, MIN, MAX, COUNT (when the command asked for it) and ALL. */
const esearchStr = (tag: string, a: { uid?: boolean; min?: number; max?: number; count?: number; all?: string }, countAsked: boolean) =>
  `${tag} ESEARCH${a.uid ? ' UID' : ''}${a.min !== undefined ? ` MIN ${a.min}` : ''}${a.max !== undefined ? ` MAX ${a.max}` : ''}${countAsked ? ` COUNT ${a.count}` : ''}${a.all ? ` ALL ${a.all}` : ''}`;

/** The file names of a BODYSTRUCTURE line as tshark shows it: "filename" values as they are, "filename*" ones (charset''%XX) decoded. */
function lineFilenames(line: string): string[] {
  return [...line.matchAll(/"filename(\*?)" "((?:[^"\\]|\\.)*)"/gi)].map(([, star, v]) => (star ? decodeURIComponent(v!.replace(/^[^']*'[^']*'/, '')) : v!.replace(/\\(.)/g, '$1')));
}

/** A command line as compared: the verb upper-cased; no credentials (see the top of the file); a literal as {size}. */
function commandStr(tag: string, verb: string, args: string | undefined): string {
  const v = verb.toUpperCase();
  let a = args?.replace(/~?\{(\d+)\+?\}$/, '{$1}') || undefined;
  if (v === 'LOGIN' || v === 'AUTHENTICATE') a = a?.split(' ')[0];
  if (v === 'AUTHENTICATE') a = a?.toUpperCase();
  return `> ${tag} ${v}${a ? ` ${a}` : ''}`;
}

const MAILBOX_COMMANDS = new Set(['SELECT', 'EXAMINE', 'CREATE', 'DELETE', 'STATUS', 'APPEND']);

const fetchedStr = (from: string | undefined, subject: string | undefined) => `${from ?? '-'} | ${subject ?? '-'}`;

// ---------------------------------------------------------------------------
// tshark's side

const unxml = (s: string) =>
  s.replace(/&(#x[0-9a-f]+|#\d+|quot|amp|lt|gt|apos);/gi, (_, e: string) =>
    e[0] === '#' ? String.fromCodePoint(e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : Number(e.slice(1))) : ({ quot: '"', amp: '&', lt: '<', gt: '>', apos: "'" } as Record<string, string>)[e.toLowerCase()]!,
  );

/** A line tshark shows (imap.line): its text without the line end, its size on the wire, and the fields under it. */
interface TsharkLine {
  text: string;
  size: number;
  fields: Map<string, string>;
}

interface TsharkRead {
  conns: Map<number, Conn>;
  /** by client port: the FETCH lines announcing a literal, to pair with the IMF blocks */
  fetchLines: Map<number, number>;
  /** by client port: the tags of the commands whose FETCH response tshark misframes (see the top of the file) */
  misframed: Map<number, string[]>;
}

/** Every connection's IMAP in `file` as tshark reads it, by client port. */
async function tsharkConnections(file: string, port: number, keylog: string | undefined): Promise<TsharkRead> {
  const args = ['-d', `tcp.port==${port},imap`, ...(keylog ? ['-o', `tls.keylog_file:${keylog}`] : []), '-Y', 'imap || imf', '-T', 'pdml'];
  const pdml = await tsharkOutput(file, args);
  const conns = new Map<number, Conn>();
  const fetchLines = new Map<number, number>();
  const misframed = new Map<number, string[]>();
  interface State {
    greeted: boolean;
    /** commands waiting for their tagged status: tag, verb and arguments */
    waiting: Array<{ tag: string; verb: string; args: string }>;
    /** bytes of a client literal still to come, and whether the line that ends its command is still to come */
    literalLeft: number;
    continuation: boolean;
    answerDue: boolean;
    /** the last server line was a FETCH line whose literal tshark read off for IMF; the line after it is the rest of that line */
    afterFetchLiteral: boolean;
    /** inside the rest of a FETCH response tshark reads as lines (its index among the FETCH literals) */
    misframed?: number;
    /** indices of the IMF blocks of misframed responses, and the tags of their commands */
    leftOut: Array<{ index: number; tag?: string }>;
  }
  const states = new Map<number, State>();
  for (const packet of pdml.split('<packet>').slice(1)) {
    const src = Number(/name="tcp.srcport"[^>]*show="(\d+)"/.exec(packet)?.[1]);
    const dst = Number(/name="tcp.dstport"[^>]*show="(\d+)"/.exec(packet)?.[1]);
    const fromServer = src === port;
    const client = fromServer ? dst : src;
    const c = conns.get(client) ?? newConn();
    conns.set(client, c);
    const st = states.get(client) ?? { greeted: false, waiting: [], literalLeft: 0, continuation: false, answerDue: false, afterFetchLiteral: false, leftOut: [] };
    states.set(client, st);
    const lines: TsharkLine[] = [];
    const imf: Array<{ from?: string; subject?: string }> = [];
    let inImf = false;
    for (const [, proto, name, attrs] of packet.matchAll(/<proto name="([a-z0-9_.-]+)"|<field name="((?:imap|imf)\.[^"]*)"([^>]*?)\/?>/g)) {
      if (proto) {
        inImf = proto === 'imf';
        if (inImf) imf.push({});
        continue;
      }
      const show = unxml(/ show="([^"]*)"/.exec(attrs!)?.[1] ?? '');
      if (name === 'imap.line') lines.push({ text: show.replace(/\r?\n$/, ''), size: Number(/ size="(\d+)"/.exec(attrs!)?.[1]), fields: new Map() });
      else if (inImf && (name === 'imf.from' || name === 'imf.subject')) imf.at(-1)![name === 'imf.from' ? 'from' : 'subject'] = show;
      else if (name!.startsWith('imap.') && lines.length) lines.at(-1)!.fields.set(name!, show);
    }
    for (const block of imf) c.fetched.push(fetchedStr(block.from && decodeEncodedWords(block.from), block.subject && decodeEncodedWords(block.subject)));
    for (const line of lines) {
      const f = line.fields;
      if (!fromServer) {
        if (st.literalLeft > 0) {
          // a line of a literal the client sent (tshark does not frame them)
          st.literalLeft -= line.size;
          // the literal ended with this line's end: the next line ends the command; or it ended inside this line, which ended the command
          st.continuation = st.literalLeft === 0;
          if (st.literalLeft < 0) st.literalLeft = 0;
          continue;
        }
        if (st.continuation) {
          st.continuation = false;
          const m = /\{(\d+)\+?\}$/.exec(line.text);
          if (m) st.literalLeft = Number(m[1]);
          continue;
        }
        if (st.answerDue) {
          // an answer to AUTHENTICATE's challenge: not a command
          st.answerDue = false;
          continue;
        }
        if (line.text === 'DONE' && st.waiting.some((w) => w.verb === 'IDLE')) continue;
        const tag = f.get('imap.request_tag')!;
        const uid = f.get('imap.request.command.uid') === '1';
        const verb = `${uid ? 'UID ' : ''}${f.get('imap.request.command')!.toUpperCase()}`;
        // the arguments: what follows the tag and the command's words on the line
        const words = verb.split(' ').length;
        const args = line.text.split(' ').slice(1 + words).join(' ');
        st.waiting.push({ tag, verb, args });
        c.commands.push(commandStr(tag, verb, args));
        if (f.has('imap.request.username')) c.usernames.push(f.get('imap.request.username')!);
        const folder = f.get('imap.request.folder');
        if (folder !== undefined && MAILBOX_COMMANDS.has(verb)) c.mailboxes.push(`${tag} ${verb}: ${decodeMailbox(folder.replace(/^"(.*)"$/, '$1'))}`);
        const lit = /\{(\d+)\+?\}$/.exec(line.text);
        if (lit) st.literalLeft = Number(lit[1]);
        continue;
      }
      if (!st.greeted) {
        st.greeted = true;
        c.greeting.push(`< ${line.text}`);
        continue;
      }
      const tag = f.get('imap.response_tag');
      const afterFetchLiteral = st.afterFetchLiteral;
      st.afterFetchLiteral = false;
      if (st.misframed !== undefined) {
        // the rest of a misframed FETCH response, up to the status of a command waiting
        if (tag === undefined || !st.waiting.some((w) => w.tag === tag)) continue;
        st.leftOut.push({ index: st.misframed, tag });
        st.misframed = undefined;
      }
      if (line.text.startsWith('* ')) {
        if (/^\* \d+ FETCH .*\{\d+\}$/i.test(line.text)) {
          fetchLines.set(client, (fetchLines.get(client) ?? 0) + 1);
          st.afterFetchLiteral = true;
        }
        const answer = answerStr(line.text, st.waiting[0]);
        if (answer) c.answers.push(answer);
        const names = /^\* (\d+) FETCH .*BODYSTRUCTURE/i.test(line.text) ? lineFilenames(line.text) : [];
        if (names.length) c.attachments.push(`${st.waiting[0]?.tag} ${/^\* (\d+)/.exec(line.text)![1]}: ${names.join('|')}`);
        continue;
      }
      if (tag === ')') continue;
      if (afterFetchLiteral && !st.waiting.some((w) => w.tag === tag) && tag !== '+') {
        // the FETCH line goes on after the literal tshark read off: another literal in it (an envelope string,
        // a second section) is read as lines
        st.misframed = fetchLines.get(client)! - 1;
        continue;
      }
      if (tag === '+') {
        if (st.waiting[0]?.verb === 'AUTHENTICATE') {
          c.challenges++;
          st.answerDue = true;
        }
        continue;
      }
      const i = st.waiting.findIndex((w) => w.tag === tag);
      if (i < 0 && /\{\d+\}$/.test(line.text) && st.waiting.some((w) => w.verb.endsWith('FETCH'))) {
        // a FETCH line tshark begins inside (a literal in BODYSTRUCTURE, see the top of the file): the response is misframed
        fetchLines.set(client, (fetchLines.get(client) ?? 0) + 1);
        st.misframed = fetchLines.get(client)! - 1;
        continue;
      }
      if (i < 0) throw new Error(`connection ${client}: a status no command waits for: ${line.text}`);
      st.waiting.splice(i, 1);
      assert.equal(f.get('imap.response'), line.text, 'tshark: the response field is the line');
      c.responses.push(`< ${tag} ${f.get('imap.response.status')}${line.text.slice(`${tag} ${f.get('imap.response.status')}`.length)}`);
    }
  }
  for (const [client, st] of states) {
    if (!st.leftOut.length) continue;
    const c = conns.get(client)!;
    const drop = new Set(st.leftOut.map((l) => l.index));
    c.fetched = c.fetched.filter((_, i) => !drop.has(i));
    c.attachments = c.attachments.filter((a) => !st.leftOut.some((l) => a.startsWith(`${l.tag} `)));
    misframed.set(client, st.leftOut.map((l) => l.tag!));
    fetchLines.set(client, fetchLines.get(client)! - drop.size);
  }
  for (const [k, c] of conns) if (!c.commands.length && !c.greeting.length) conns.delete(k);
  return { conns, fetchLines, misframed };
}

/** Whether a SEARCH's arguments ask ESEARCH for COUNT. */
const countAsked = (args: string | undefined) => /RETURN \([^)]*\bCOUNT\b/i.test(args ?? '');

/** A NAMESPACE, QUOTA, QUOTAROOT or ESEARCH line as compared, with the tag of the command it answers (`waiting`, or the TAG an ESEARCH names). */
function answerStr(line: string, waiting: { tag: string; args: string } | undefined): string | undefined {
  const unquote = (v: string) => v.replace(/^"(.*)"$/, '$1');
  let m = /^\* NAMESPACE (NIL|\(\(.*?\)\)) (NIL|\(\(.*?\)\)) (NIL|\(\(.*?\)\))$/i.exec(line);
  if (m) {
    const kind = (g: string) => [...g.matchAll(/\("([^"]*)" (?:"([^"]*)"|NIL)\)/g)].map(([, prefix, delimiter]) => ({ prefix: decodeMailbox(prefix!), delimiter: delimiter ?? null }));
    return `${waiting?.tag} NAMESPACE ${[m[1]!, m[2]!, m[3]!].map((g) => namespacesStr(kind(g))).join(' / ')}`;
  }
  m = /^\* QUOTAROOT ("[^"]*"|\S+)((?: (?:"[^"]*"|\S+))*)$/i.exec(line);
  if (m) return `${waiting?.tag} QUOTAROOT ${decodeMailbox(unquote(m[1]!))}: ${[...m[2]!.matchAll(/"([^"]*)"|(\S+)/g)].map(([, q, a]) => q ?? a).join(' ')}`;
  m = /^\* QUOTA ("[^"]*"|\S+) \((.*)\)$/i.exec(line);
  if (m) {
    const words = m[2]!.split(' ');
    const resources = words.filter((_, i) => i % 3 === 0).map((name, i) => `${name.toUpperCase()} ${words[3 * i + 1]}/${words[3 * i + 2]}`);
    return `${waiting?.tag} QUOTA ${unquote(m[1]!)}: ${resources.join(' ')}`;
  }
  m = /^\* ESEARCH(?: \(TAG "([^"]*)"\))?( UID)?((?: \S+ \S+)*)$/i.exec(line);
  if (m) {
    const items = new Map([...m[3]!.matchAll(/ (\S+) (\S+)/g)].map(([, k, v]) => [k!.toUpperCase(), v!]));
    const num = (k: string) => (items.has(k) ? Number(items.get(k)) : undefined);
    return esearchStr(m[1] ?? waiting!.tag, { uid: m[2] !== undefined, min: num('MIN'), max: num('MAX'), count: num('COUNT'), all: items.get('ALL') }, countAsked(waiting?.args));
  }
  return undefined;
}

// ---------------------------------------------------------------------------
// The events' side, normalized the same way

const statusLine = (prefix: string, r: NonNullable<ImapEvent['imap']['response']>) => `< ${prefix} ${r.status}${r.code !== undefined ? ` [${r.code}]` : ''}${r.text ? ` ${r.text}` : ''}`;

/** The events' connections; `leftOut`: by client port, the tags of the commands whose fetched messages are not compared. */
function eventConnections(imap: ImapEvent[], leftOut: Map<number, string[]> = new Map()): Map<number, Conn> {
  const sorted = [...imap].sort((a, b) => (BigInt(a.pano.start_ns) < BigInt(b.pano.start_ns) ? -1 : BigInt(a.pano.start_ns) > BigInt(b.pano.start_ns) ? 1 : 0));
  const out = new Map<number, Conn>();
  for (const e of sorted) {
    const c = out.get(e.client.port) ?? newConn();
    out.set(e.client.port, c);
    const p = e.imap;
    if (p.greeting) {
      c.greeting.push(statusLine('*', p.response!));
      continue;
    }
    c.commands.push(commandStr(p.tag!, p.command!, p.arguments));
    if (p.response) c.responses.push(statusLine(p.tag!, p.response));
    if (p.command === 'LOGIN' && p.username !== undefined) c.usernames.push(p.username);
    if (MAILBOX_COMMANDS.has(p.command!) && p.mailbox !== undefined) c.mailboxes.push(`${p.tag} ${p.command}: ${p.mailbox}`);
    if (p.auth) c.challenges += p.auth.steps;
    if (p.namespace) c.answers.push(`${p.tag} NAMESPACE ${[p.namespace.personal, p.namespace.other, p.namespace.shared].map(namespacesStr).join(' / ')}`);
    if (p.quota_roots) c.answers.push(`${p.tag} QUOTAROOT ${p.quota_roots.mailbox}: ${p.quota_roots.roots.join(' ')}`);
    for (const q of p.quota ?? []) c.answers.push(`${p.tag} QUOTA ${q.root}: ${q.resources.map((r) => `${r.name} ${r.usage}/${r.limit}`).join(' ')}`);
    // Dovecot answers SEARCH with RETURN options with ESEARCH (RFC 4731), any other with SEARCH
    if (p.search && /^RETURN /i.test(p.arguments ?? '')) c.answers.push(esearchStr(p.tag!, { ...p.search, all: p.search.all ?? ranges(p.search.ids ?? []) }, countAsked(p.arguments)));
    // a FETCH the client gave up: tshark shows nothing of it (see the top of the file)
    if (e.pano.flags?.includes('response_incomplete')) continue;
    if (leftOut.get(e.client.port)?.includes(p.tag!)) continue;
    for (const f of p.fetch ?? []) {
      const names = (f.structure ?? []).flatMap((part) => part.disposition?.parameters?.filename ?? []);
      // a structure cut at the parts kept (flagged truncated): its names are the first of the line's
      const cut = e.pano.flags?.includes('truncated') && f.structure?.length === MAX_STRUCTURE_PARTS;
      if (names.length) c.attachments.push(`${p.tag} ${f.seq}: ${names.join('|')}${cut ? '|…' : ''}`);
      if (f.message) c.fetched.push(fetchedStr(f.message.headers.from?.[0], f.message.headers.subject?.[0]));
      else if (f.headers) c.fetched.push(fetchedStr(f.headers.from?.[0], f.headers.subject?.[0]));
      else if (f.sections) c.fetched.push(fetchedStr(undefined, undefined));
    }
  }
  return out;
}

function compare(theirs: TsharkRead, ours: Map<number, Conn>, what: string): void {
  assert.deepEqual([...ours.keys()].sort(), [...theirs.conns.keys()].sort(), `${what}: connections`);
  for (const [port, t] of theirs.conns) {
    assert.equal(t.fetched.length, theirs.fetchLines.get(port) ?? 0, `${what}: connection ${port}: an IMF block per FETCH line with a literal`);
    const o = ours.get(port)!;
    o.attachments = o.attachments.map((a, i) => {
      if (!a.endsWith('|…')) return a;
      assert.ok(t.attachments[i]?.startsWith(a.slice(0, -1)), `${what}: connection ${port}: ${a} against ${t.attachments[i]}`);
      return t.attachments[i]!;
    });
    for (const x of [o, t]) x.answers.sort();
    assert.deepEqual(o, t, `${what}: connection ${port}`);
  }
}

const imapOf = (events: PanoEvent[]) => events.filter((e) => e.pano.protocol === 'imap') as ImapEvent[];

test('imap oracle: greeting, commands, tagged responses, user names, mailboxes, challenges and fetched messages against tshark, inside STARTTLS with the key log', { skip }, async () => {
  const r = run!;
  const theirs = await tsharkConnections(file, r.port, r.keylog);
  const { events } = parseCaptureSync(file, { parse: { tlsKeyLogs: [r.keylog] } });
  assertValidEvents(events);
  const imap = imapOf(events);
  assert.ok(imap.length > 0, 'no imap events');
  assert.equal(theirs.conns.size, r.runs.length, 'tshark reads a connection per client connection');
  const conn = (name: string) => theirs.conns.get(r.runs.find((x) => x.name === name)!.port)!;

  // what the normalization rests on is in tshark's reading, so a tshark that changes shows here first
  const plain = conn('plain');
  assert.ok(plain.commands.some((x) => x.includes(' APPEND ')) && !plain.commands.some((x) => x.includes('From:')), "APPEND's literal lines skipped");
  assert.ok(plain.mailboxes.includes(`${plain.commands.find((x) => x.includes(' CREATE '))!.split(' ')[1]} CREATE: ${FOLDER}`), 'the folder name decoded');
  assert.equal(conn('auth-plain').challenges, 1, "AUTHENTICATE's challenge");
  assert.deepEqual(conn('idle').commands.map((x) => x.split(' ').slice(1, 3).join(' ')), ['i1 LOGIN', 'i2 SELECT', 'i3 IDLE', 'i4 LOGOUT'], 'the LITERAL+ password and DONE skipped');
  assert.ok(conn('starttls').commands.at(-1)!.endsWith(' LOGOUT') && conn('starttls').commands.some((x) => x.endsWith(' STARTTLS')), 'read on inside TLS');
  // every FETCH literal went to IMF: FETCH 1:* (one per message), HEADER.FIELDS, TEXT, and inside TLS FETCH 1
  assert.equal(plain.fetched.length, MESSAGES.length + 2);
  assert.ok(plain.fetched.includes('Zoë Müller <zoe@example.com> | Grüße aus Zürich'), 'the encoded words, decoded');
  assert.deepEqual(conn('starttls').fetched, [plain.fetched[0]]);
  assert.deepEqual(conn('abandoned').fetched, [], 'nothing of the FETCH given up');
  // the responses tshark misframes: the UID FETCH of the message with literals in its envelope, and the one of the
  // mime mode's BODYSTRUCTUREs, one with a literal
  const uidFetch = (name: string) => [r.runs.find((x) => x.name === name)!.port, [conn(name).commands.find((x) => / UID FETCH /.test(x))!.split(' ')[1]!]];
  assert.deepEqual([...theirs.misframed].sort(), [uidFetch('literals'), uidFetch('mime')].sort());
  // what tshark shows of the mime mode's answers: NAMESPACE, quotas, ESEARCHes, file names (the BODY FETCH has none)
  const mime = conn('mime');
  assert.deepEqual(mime.answers.map((a) => a.split(' ')[1]).sort(), ['ESEARCH', 'ESEARCH', 'ESEARCH', 'ESEARCH', 'NAMESPACE', 'QUOTA', 'QUOTA', 'QUOTA', 'QUOTAROOT', 'QUOTAROOT']);
  assert.ok(mime.answers.some((a) => a.endsWith(' NAMESPACE |. / Andere.|. / Öffentlich.|.')), 'the public prefix decoded');
  // the BODYSTRUCTUREs fetched again without the literal: the attachments message's names and the wide one's
  assert.deepEqual(mime.attachments.map((a) => a.split(' ')[1]), ['1:', '4:'], JSON.stringify(mime.attachments));
  assert.ok(mime.attachments[0]!.includes('|Übersicht Q1.zip|') && mime.attachments[1]!.endsWith('|part-119.bin'), JSON.stringify(mime.attachments));
  assert.ok(conn('literals').commands.some((x) => / APPEND INBOX \(\\Seen\) "[^"]+" \{\d+\}$/.test(x)), 'APPEND with a flag and a date, its literal skipped');
  assert.equal(conn('abandoned').responses.length, 2, 'LOGIN and SELECT answered, the FETCH not');

  compare(theirs, eventConnections(imap, theirs.misframed), 'with the key log');
});

test('imap oracle: without the key log, both stop at STARTTLS', { skip }, async () => {
  const r = run!;
  const theirs = await tsharkConnections(file, r.port, undefined);
  const { events } = parseCaptureSync(file);
  assertValidEvents(events);
  const port = r.runs.find((x) => x.name === 'starttls')!.port;
  const t = theirs.conns.get(port);
  assert.ok(t, 'tshark reads the STARTTLS connection');
  assert.deepEqual(t.commands.map((x) => x.split(' ')[2]), ['CAPABILITY', 'STARTTLS']);
  assert.equal(t.responses.length, 2);
  assert.equal(t.responses.at(-1)!.replace(/^< \S+ /, ''), 'OK Begin TLS negotiation now.');
  compare(theirs, eventConnections(imapOf(events), theirs.misframed), 'without the key log');
});
