// SMTP against tshark's SMTP and IMF dissectors. The corpus has no SMTP
// capture: this file makes its own, with the traffic of the live test
// (smtpScenario: aiosmtpd driven by swaks, Python's smtplib with a STARTTLS
// session writing its key log, and a raw socket abandoning DATA), has tshark
// read it (told the port is SMTP's with -d, given the key log, base64 AUTH
// decoding on) as PDML, and compares per connection, in order:
//  - every command line tshark reads (smtp.req.command, smtp.req.parameter)
//    with the events' smtp.command and smtp.arguments;
//  - every reply line (smtp.response.code, smtp.rsp.parameter) with the
//    events' greeting, intermediate (354) and final replies, line by line
//    (smtp.reply.text is the lines' texts joined with \n);
//  - the From, To and Subject tshark's IMF dissector reads of each message
//    (imf.from, imf.to, imf.subject) with the DATA events' headers;
//  - the user names tshark decodes from AUTH (smtp.auth.username) with
//    smtp.auth.username, and the 334 challenges with smtp.auth.steps.
// The STARTTLS session is compared inside TLS too (both sides have the key
// log), and, without it, up to STARTTLS. Every event must pass the v1 schema.
//
// Left out or normalized, on purpose:
//  - the answers to AUTH's 334 challenges (LOGIN's user name and password
//    lines), and the credentials after PLAIN's mechanism: credentials, which
//    the events never keep (the spec gives AUTH's arguments as the mechanism
//    alone); tshark shows them as smtp.auth.username/password. The user
//    names are compared, decoded; the passwords nowhere.
//  - the 334 lines themselves: the events keep only their number
//    (smtp.auth.steps), compared with the 334 lines tshark reads;
//  - the case of the verb: tshark shows it as written (smtplib writes "mail",
//    "rcpt", "quit"), the events upper-case it (the spec);
//  - STARTTLS: tshark 4.0 reads it as the command "STAR" with the parameter
//    "TLS" (it takes four letters for a verb); read here as STARTTLS;
//  - header values: tshark 4.0's IMF dissector shows them as written, folded
//    and with RFC 2047 encoded words undecoded; they are unfolded (RFC 5322
//    §2.2.3) and decoded (RFC 2047, the white space between adjacent encoded
//    words dropped, §6.2) here with the live test's decoder before comparing;
//  - the message of the DATA the raw socket abandoned (unanswered): tshark
//    reads a message only once its final "." came, and this one has none.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { captureDuring } from '../helpers/loopback-capture.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';
import { tsharkAvailable, tsharkOutput } from '../helpers/tshark.js';
import { SmtpServer, smtpMissing, smtpScenario, decodeEncodedWords, type SmtpEvent, type SmtpScenarioResult } from '../helpers/smtp-server.js';

const missing = [...smtpMissing(), ...(tsharkAvailable() ? [] : ['tshark'])];
const skip = missing.length ? `missing ${missing.join(', ')}` : false;
let server: SmtpServer | undefined;
let file = '';
let run: SmtpScenarioResult | undefined;

before(async () => {
  if (missing.length) return;
  server = await SmtpServer.start({ tls: true, auth: true });
  file = join(server.dir, 'smtp.pcap');
  run = await captureDuring(file, `tcp port ${server.port}`, () => smtpScenario(server!));
});

after(async () => {
  await server?.stop();
});

// ---------------------------------------------------------------------------
// tshark's side

interface Field {
  name: string;
  show: string;
}
/** One connection's SMTP as tshark reads it, each list in capture order. */
interface Conn {
  /** "> VERB parameter" */
  commands: string[];
  /** "< code parameter", a line each (334 lines left out, counted) */
  replies: string[];
  challenges: number;
  usernames: string[];
  /** "from | to | subject" of each message */
  messages: string[];
}

const unxml = (s: string) =>
  s.replace(/&(#x[0-9a-f]+|#\d+|quot|amp|lt|gt|apos);/gi, (_, e: string) =>
    e[0] === '#' ? String.fromCodePoint(e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : Number(e.slice(1))) : ({ quot: '"', amp: '&', lt: '<', gt: '>', apos: "'" } as Record<string, string>)[e.toLowerCase()]!,
  );

/** A header value as the events give it: unfolded, encoded words decoded, trimmed. */
const headerValue = (raw: string | undefined) => (raw === undefined ? '-' : decodeEncodedWords(raw.replace(/\r?\n(?=[ \t])/g, '').trim()));
const messageStr = (from: string | undefined, to: string | undefined, subject: string | undefined) => `${headerValue(from)} | ${headerValue(to)} | ${headerValue(subject)}`;

/** Every connection's SMTP in `file` as tshark reads it, by client port. */
async function tsharkConnections(file: string, port: number, keylog: string | undefined): Promise<Map<number, Conn>> {
  const args = ['-d', `tcp.port==${port},smtp`, '-o', 'smtp.decryption:TRUE', ...(keylog ? ['-o', `tls.keylog_file:${keylog}`] : []), '-Y', 'smtp || imf', '-T', 'pdml'];
  const pdml = await tsharkOutput(file, args);
  const out = new Map<number, Conn>();
  /** by client port: the server's last reply was a 334 */
  const challenged = new Map<number, boolean>();
  for (const packet of pdml.split('<packet>').slice(1)) {
    const src = Number(/name="tcp.srcport"[^>]*show="(\d+)"/.exec(packet)?.[1]);
    const dst = Number(/name="tcp.dstport"[^>]*show="(\d+)"/.exec(packet)?.[1]);
    const fromServer = src === port;
    const client = fromServer ? dst : src;
    const c = out.get(client) ?? { commands: [], replies: [], challenges: 0, usernames: [], messages: [] };
    out.set(client, c);
    const fields: Field[] = [];
    // show values may span lines (a command line's CRLF, a folded header)
    for (const [, name, attrs] of packet.matchAll(/<field name="((?:smtp|imf)\.[^"]*)"([^>]*?)\/?>/g)) {
      fields.push({ name: name!, show: unxml(/ show="([^"]*)"/.exec(attrs!)?.[1] ?? '') });
    }
    // a client packet after a 334 answers it (LOGIN's user name or password): not a command
    const answering = !fromServer && (challenged.get(client) ?? false);
    if (!fromServer) challenged.set(client, false);
    let cmd: { command: string; parameter?: string } | undefined;
    const flush = () => {
      if (!cmd) return;
      let verb = cmd.command.toUpperCase();
      let parameter = cmd.parameter;
      if (verb === 'STAR' && parameter === 'TLS') [verb, parameter] = ['STARTTLS', undefined];
      // AUTH: the mechanism alone (see the top of the file)
      if (verb === 'AUTH') parameter = parameter?.split(' ')[0];
      if (!answering) c.commands.push(`> ${verb}${parameter ? ` ${parameter}` : ''}`);
      cmd = undefined;
    };
    let imf: Record<string, string> | undefined;
    let reply: { code: string; parameter: string } | undefined;
    const flushReply = () => {
      if (!reply) return;
      if (reply.code === '334') c.challenges++;
      else c.replies.push(`< ${reply.code} ${reply.parameter}`);
      challenged.set(client, reply.code === '334');
      reply = undefined;
    };
    for (const f of fields) {
      switch (f.name) {
        case 'smtp.command_line':
          flush();
          cmd = { command: '' };
          break;
        case 'smtp.req.command':
          if (cmd) cmd.command = f.show;
          break;
        case 'smtp.req.parameter':
          if (cmd) cmd.parameter = f.show;
          break;
        case 'smtp.auth.username':
          c.usernames.push(f.show);
          break;
        case 'smtp.response':
          flushReply();
          reply = { code: '', parameter: '' };
          break;
        case 'smtp.response.code':
          if (reply) reply.code = f.show;
          break;
        case 'smtp.rsp.parameter':
          if (reply) reply.parameter = f.show;
          break;
        case 'imf.from':
        case 'imf.to':
        case 'imf.subject':
          (imf ??= {})[f.name] ??= f.show;
          break;
      }
    }
    flush();
    flushReply();
    if (imf) c.messages.push(messageStr(imf['imf.from'], imf['imf.to'], imf['imf.subject']));
  }
  for (const [k, c] of out) if (!c.commands.length && !c.replies.length && !c.messages.length) out.delete(k);
  return out;
}

// ---------------------------------------------------------------------------
// The events' side, normalized the same way

function eventConnections(smtp: SmtpEvent[]): Map<number, Conn> {
  const sorted = [...smtp].sort((a, b) => (BigInt(a.pano.start_ns) < BigInt(b.pano.start_ns) ? -1 : BigInt(a.pano.start_ns) > BigInt(b.pano.start_ns) ? 1 : 0));
  const out = new Map<number, Conn>();
  for (const e of sorted) {
    const c = out.get(e.client.port) ?? { commands: [], replies: [], challenges: 0, usernames: [], messages: [] };
    out.set(e.client.port, c);
    const s = e.smtp;
    if (!s.greeting) c.commands.push(`> ${s.command}${s.arguments ? ` ${s.arguments}` : ''}`);
    for (const r of [s.intermediate_reply, s.reply]) if (r) for (const line of r.text.split('\n')) c.replies.push(`< ${r.code} ${line}`);
    if (s.auth) {
      c.challenges += s.auth.steps;
      if (s.auth.username !== undefined) c.usernames.push(s.auth.username);
    }
    // the abandoned DATA's message: see the top of the file
    if (s.message && e.pano.kind !== 'unanswered') {
      const h = s.message.headers;
      c.messages.push(messageStr(h.from?.[0], h.to?.[0], h.subject?.[0]));
    }
  }
  return out;
}

function compare(theirs: Map<number, Conn>, ours: Map<number, Conn>, what: string): void {
  assert.deepEqual([...ours.keys()].sort(), [...theirs.keys()].sort(), `${what}: connections`);
  for (const [port, t] of theirs) assert.deepEqual(ours.get(port), t, `${what}: connection ${port}`);
}

test('smtp oracle: commands, replies, messages and AUTH against tshark, inside STARTTLS with the key log', { skip }, async () => {
  const r = run!;
  const theirs = await tsharkConnections(file, r.port, r.keylog);
  const { events } = parseCaptureSync(file, { parse: { tlsKeyLogs: [r.keylog] } });
  assertValidEvents(events);
  const smtp = events.filter((e) => e.pano.protocol === 'smtp') as SmtpEvent[];
  assert.ok(smtp.length > 0, 'no smtp events');
  assert.equal(theirs.size, r.runs.length, 'tshark reads a connection per client run');

  // what the normalization rests on is in tshark's reading, so a tshark that changes shows here first
  const all = [...theirs.values()];
  assert.ok(all.some((c) => c.commands.includes('> STARTTLS')), 'STARTTLS (read by tshark 4.0 as STAR TLS)');
  assert.ok(all.some((c) => c.commands.some((x) => /^> MAIL FROM:<eve@example\.com> size=\d+$/.test(x))), 'smtplib inside TLS');
  assert.ok(all.some((c) => c.messages.includes('ann.lee@example.com | bob@example.org | Grüße von Zoë')), 'the encoded Subject, decoded');
  assert.ok(all.some((c) => c.messages.includes('Zoë Müller <zoe@example.com> | Bob <bob@example.org>, nobody@refused.example.test | Café au lait tomorrow')), 'Q words and a fold');
  assert.deepEqual(all.map((c) => c.usernames).filter((u) => u.length), [['eve'], ['eve'], ['mallory'], ['eve']], 'the user names tshark decodes');
  assert.equal(all.reduce((n, c) => n + c.challenges, 0), 4, 'two LOGIN exchanges of two 334s each');
  assert.equal(all.reduce((n, c) => n + c.messages.length, 0), r.records.filter((x) => x.type === 'message').length, 'a message per DATA the server took');

  compare(theirs, eventConnections(smtp), 'with the key log');
});

test('smtp oracle: without the key log, both stop at STARTTLS', { skip }, async () => {
  const r = run!;
  const theirs = await tsharkConnections(file, r.port, undefined);
  const { events } = parseCaptureSync(file);
  assertValidEvents(events);
  const smtp = events.filter((e) => e.pano.protocol === 'smtp') as SmtpEvent[];
  const starttls = r.runs.find((x) => x.name === 'starttls')!.port!;
  const t = theirs.get(starttls);
  assert.ok(t, 'tshark reads the STARTTLS connection');
  assert.deepEqual(t.commands, ['> EHLO py.example.test', '> STARTTLS']);
  assert.equal(t.messages.length, 0);
  compare(theirs, eventConnections(smtp), 'without the key log');
});
