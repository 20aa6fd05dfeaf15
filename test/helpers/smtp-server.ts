/**
 * A throwaway SMTP server (aiosmtpd 1.4, in the Debian python) on a free
 * loopback port for tests driving it with real clients (swaks, Python's
 * smtplib, a raw socket), what the server recorded of each message, and the
 * client traffic the SMTP live and oracle tests share (smtpScenario).
 *
 * The server accepts every message (each recorded to a JSON-lines file: the
 * client's port, whether it came over TLS, the envelope and the message bytes
 * as received, dot-unstuffed) and answers DATA with `250 2.0.0 Ok: queued as
 * M0001` (numbered in order), so a test finds the record of each DATA from
 * the reply. It answers MAIL and RCPT with enhanced status codes and refuses
 * every recipient at @refused.example.test (550 5.1.1); it adds PIPELINING
 * and ENHANCEDSTATUSCODES to aiosmtpd's EHLO reply. With `tls` it offers
 * STARTTLS (a certificate made here with openssl); with `auth`, AUTH PLAIN and
 * LOGIN without TLS (auth_require_tls=False), accepting eve/s3cret-pass only
 * (every attempt recorded with its user name, never its password).
 */
import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import type { PanoEvent } from '@panopticon/events';
import { freePort, tcpdumpAvailable } from './loopback-capture.js';
import { runClient, type ClientResult } from './client-process.js';
import { inTempDir, ServerProcess } from './server-process.js';

/** The Debian python with python3-aiosmtpd (not whatever python3 the PATH finds first). */
export const PYTHON = '/usr/bin/python3';
export const SWAKS = '/usr/bin/swaks';
export const OPENSSL = '/usr/bin/openssl';

/** The server's name: in its greeting and first EHLO line. */
export const SERVER_NAME = 'mx.example.test';
export const GREETING = `${SERVER_NAME} Panopticon test MTA`;
/** The name swaks gives in EHLO; smtplib's is PY_HELO. */
export const SWAKS_HELO = 'client.example.test';
export const PY_HELO = 'py.example.test';
export const REFUSED_DOMAIN = 'refused.example.test';

/** The account the server accepts, and the one it refuses (wrong password). */
export const EVE = { user: 'eve', password: 's3cret-pass' };
export const MALLORY = { user: 'mallory', password: 'wr0ng-no' };

/** What an SMTP live test needs that is not installed (tcpdump and openssl included). */
export function smtpMissing(): string[] {
  const missing = [SWAKS, OPENSSL].filter((p) => !existsSync(p));
  if (!tcpdumpAvailable()) missing.push('tcpdump');
  if (!existsSync(PYTHON) || spawnSync(PYTHON, ['-c', 'import aiosmtpd, ssl; ssl.SSLContext.keylog_filename'], { stdio: 'ignore' }).status !== 0) missing.push('python3-aiosmtpd');
  return missing;
}

const SERVER_SCRIPT = String.raw`
import asyncio, base64, json, ssl, sys
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

cfg = json.loads(sys.argv[1])
USERS = {cfg['user'].encode(): cfg['password'].encode()}
count = 0

def record(obj):
    with open(cfg['record'], 'a') as f:
        f.write(json.dumps(obj) + '\n')

class Handler:
    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        return responses[:-1] + ['250-PIPELINING', '250-ENHANCEDSTATUSCODES', responses[-1]]

    async def handle_MAIL(self, server, session, envelope, address, options):
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return '250 2.1.0 Sender ok'

    async def handle_RCPT(self, server, session, envelope, address, options):
        if address.endswith('@' + cfg['refused']):
            return f'550 5.1.1 <{address}>: Recipient address rejected'
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return '250 2.1.5 Recipient ok'

    async def handle_DATA(self, server, session, envelope):
        global count
        count += 1
        mid = f'M{count:04d}'
        record({'type': 'message', 'id': mid, 'peer_port': session.peer[1], 'tls': session.ssl is not None,
                'mail_from': envelope.mail_from, 'rcpt_tos': envelope.rcpt_tos,
                'data': base64.b64encode(envelope.original_content).decode()})
        return f'250 2.0.0 Ok: queued as {mid}'

def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and USERS.get(auth_data.login) == auth_data.password
    login = auth_data.login.decode('utf-8', 'replace') if isinstance(auth_data, LoginPassword) else None
    record({'type': 'auth', 'peer_port': session.peer[1], 'mechanism': mechanism, 'login': login, 'success': ok})
    return AuthResult(success=ok, handled=False, auth_data=login if ok else None)

ctx = None
if cfg.get('cert'):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cfg['cert'], cfg['key'])
kw = dict(authenticator=authenticator, auth_require_tls=False) if cfg.get('auth') else {}

loop = asyncio.new_event_loop()
asyncio.set_event_loop(loop)
handler = Handler()
loop.run_until_complete(loop.create_server(
    lambda: SMTP(handler, hostname=cfg['hostname'], ident=cfg['ident'], tls_context=ctx, loop=loop, **kw),
    '127.0.0.1', cfg['port']))
print('ready', flush=True)
loop.run_forever()
`;

export interface SmtpServerOptions {
  /** Offer STARTTLS with a certificate for mx.example.test made here. */
  tls?: boolean;
  /** Offer AUTH PLAIN and LOGIN without TLS; eve/s3cret-pass is accepted, every other login refused. */
  auth?: boolean;
}

/** A message as the server received it. */
export interface MessageRecord {
  type: 'message';
  /** the id in the DATA reply ("queued as M0001") */
  id: string;
  /** the client's port: the connection */
  peer_port: number;
  /** sent after STARTTLS */
  tls: boolean;
  mail_from: string;
  rcpt_tos: string[];
  /** the message bytes, dot-unstuffed, up to (and with) the CRLF before the final dot */
  data: Buffer;
}
/** An AUTH attempt the server checked (its user name, never its password). */
export interface AuthRecord {
  type: 'auth';
  peer_port: number;
  mechanism: string;
  login: string | null;
  success: boolean;
}
export type SmtpRecord = MessageRecord | AuthRecord;

export class SmtpServer extends ServerProcess {
  private constructor(
    port: number,
    dir: string,
    proc: ChildProcess,
    /** the certificate and key (PEM) STARTTLS uses, when tls */
    readonly cert: { cert: string; key: string } | undefined,
  ) {
    super(port, dir, proc, 'aiosmtpd');
  }

  /** Starts aiosmtpd on a free port of 127.0.0.1 in a new temp dir; resolves once it accepts connections. */
  static async start(opts: SmtpServerOptions = {}): Promise<SmtpServer> {
    return inTempDir('pano-smtp-', async (dir) => {
      const port = await freePort();
      let cert: { cert: string; key: string } | undefined;
      if (opts.tls) {
        cert = { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') };
        execFileSync(OPENSSL, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '30',
          '-subj', `/CN=${SERVER_NAME}`, '-keyout', cert.key, '-out', cert.cert], { stdio: 'pipe' });
      }
      const script = join(dir, 'server.py');
      writeFileSync(script, SERVER_SCRIPT);
      const cfg = {
        port,
        record: join(dir, 'records.jsonl'),
        hostname: SERVER_NAME,
        ident: 'Panopticon test MTA',
        refused: REFUSED_DOMAIN,
        user: EVE.user,
        password: EVE.password,
        auth: opts.auth ?? false,
        ...(cert ?? {}),
      };
      const proc = spawn(PYTHON, [script, JSON.stringify(cfg)], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
      const server = new SmtpServer(port, dir, proc, cert);
      await server.waitReady((log) => log.includes('ready'), 400);
      return server;
    });
  }

  /** What the server recorded so far, in order. */
  records(): SmtpRecord[] {
    const file = join(this.dir, 'records.jsonl');
    if (!existsSync(file)) return [];
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l)
      .map((l) => {
        const r = JSON.parse(l);
        return r.type === 'message' ? { ...r, data: Buffer.from(r.data, 'base64') } : r;
      });
  }

  /** The messages the server received, in order. */
  messages(): MessageRecord[] {
    return this.records().filter((r): r is MessageRecord => r.type === 'message');
  }

  /** swaks against this server (`--server 127.0.0.1:<port> --helo client.example.test` first), run in the server's dir. */
  swaks(args: string[], timeoutMs = 10_000): Promise<ClientResult> {
    return runClient(SWAKS, ['--server', `127.0.0.1:${this.port}`, '--helo', SWAKS_HELO, '--timeout', '5', ...args], timeoutMs, this.dir);
  }


}

// ---------------------------------------------------------------------------
// Transcripts: what a client sent and got back, line by line

/** One line a client sent, or one whole reply (all its lines) it got; `tls` when inside TLS. */
export type TranscriptItem =
  | { from: 'client'; text: string; tls: boolean }
  | { from: 'server'; code: number; lines: string[]; tls: boolean };

/**
 * swaks's transcript (its standard output) as items: ` -> ` / ` ~> ` lines
 * sent (in clear / in TLS), `<-  `, `<** `, `<~  `, `<~* ` lines received
 * (`NNN-text` lines gathered up to the `NNN text` one); `===` and `***`
 * lines are swaks's own. The message's lines are sent lines too (or, with
 * -n, one "N lines sent" line).
 */
export function swaksTranscript(stdout: string): TranscriptItem[] {
  const out: TranscriptItem[] = [];
  let reply: { code: number; lines: string[]; tls: boolean } | undefined;
  // (the message's lines keep their CR in swaks's output)
  for (const line of stdout.split('\n').map((l) => l.replace(/\r$/, ''))) {
    const sent = /^ ([-~])> ?(.*)$/.exec(line);
    if (sent) {
      out.push({ from: 'client', text: sent[2]!, tls: sent[1] === '~' });
      continue;
    }
    const got = /^<([-*~])([ *]) ?(\d{3})([- ]?)(.*)$/.exec(line);
    if (got) {
      const tls = got[1] === '~';
      reply ??= { code: Number(got[3]), lines: [], tls };
      reply.lines.push(got[5]!);
      if (got[4] !== '-') {
        out.push({ from: 'server', ...reply });
        reply = undefined;
      }
    }
  }
  if (reply) throw new Error(`swaks transcript ends inside a reply: ${JSON.stringify(reply)}`);
  return out;
}

// ---------------------------------------------------------------------------
// What an event must say, derived from a transcript

export interface Reply {
  code: number;
  enhanced_status?: string;
  text: string;
}

/** What one SMTP event of a connection must hold, in order. */
export interface ExpectedSmtp {
  kind: 'message' | 'exchange' | 'unanswered';
  greeting?: boolean;
  /** the command line as sent */
  line?: string;
  command?: string;
  arguments?: string;
  reply?: Reply;
  intermediate?: Reply;
  auth?: { mechanism: string; username?: string; steps: number };
  mail_from?: string;
  rcpt_to?: string;
  /** DATA: the transaction's accepted sender and recipients, as the client saw them */
  envelope?: { mail_from: string; rcpt_to: string[] };
  /** DATA: the id of the server's record of the message ("queued as M0001") */
  queued?: string;
  /** sent inside TLS */
  tls: boolean;
}

const ENHANCED = /^([245]\.\d{1,3}\.\d{1,3})(?: |$)/;

/**
 * A reply as the spec gives it: the code, the RFC 3463 enhanced status code
 * at the start of its text (when there is one), and the lines' texts (each
 * line after "NNN-" or "NNN ", the enhanced status code left in) joined
 * with \n.
 */
export function toReply(code: number, lines: string[]): Reply {
  const enhanced = ENHANCED.exec(lines[0] ?? '')?.[1];
  const text = lines.join('\n');
  return enhanced ? { code, enhanced_status: enhanced, text } : { code, text };
}

const b64 = (s: string) => Buffer.from(s, 'base64').toString('utf8');
const addr = (args: string, keyword: 'FROM' | 'TO') => new RegExp(`^${keyword}:\\s*<([^>]*)>`, 'i').exec(args)?.[1];

/**
 * The SMTP events a connection's transcript must give, in order: the
 * greeting, then every command with its reply (replies answer commands in
 * the order sent, pipelined or not): DATA's 354 is its intermediate reply and
 * what the client sends after it the message, up to the next reply; a 334 to
 * AUTH is a step, and the line the client sends after it an answer, not a
 * command. Commands left without a reply at the end are unanswered.
 */
export function expectedFromTranscript(items: TranscriptItem[]): ExpectedSmtp[] {
  const out: ExpectedSmtp[] = [];
  const queue: Array<ExpectedSmtp & { answers: string[] }> = [];
  let greeted = false;
  let inData = false;
  let authAnswer = false;
  let tx: { mail_from: string; rcpt_to: string[] } | undefined;
  const finish = (p: ExpectedSmtp & { answers: string[] }) => {
    const { answers, ...x } = p;
    if (x.command === 'AUTH') {
      const [mechanism = '', initial] = (x.arguments ?? '').split(' ');
      // the user name: PLAIN's authcid (authzid NUL authcid NUL password), LOGIN's first answer
      let username: string | undefined;
      if (mechanism.toUpperCase() === 'PLAIN') username = (initial ?? answers[0]) === undefined ? undefined : b64(initial ?? answers[0]!).split('\0')[1];
      else if (mechanism.toUpperCase() === 'LOGIN') username = (initial ?? answers[0]) === undefined ? undefined : b64(initial ?? answers[0]!);
      x.auth = { mechanism: mechanism.toUpperCase(), ...(username === undefined ? {} : { username }), steps: x.auth!.steps };
      // only the mechanism: never the credentials
      x.arguments = mechanism;
    }
    return x;
  };
  for (const item of items) {
    if (item.from === 'server') {
      const reply = toReply(item.code, item.lines);
      if (!greeted) {
        greeted = true;
        out.push({ kind: 'message', greeting: true, reply, tls: item.tls });
        continue;
      }
      inData = false;
      const head = queue[0];
      if (!head) throw new Error(`a reply no command asked for: ${item.code} ${item.lines.join(' | ')}`);
      if (head.command === 'DATA' && item.code === 354 && !head.intermediate) {
        head.intermediate = reply;
        inData = true;
        continue;
      }
      if (head.command === 'AUTH' && item.code === 334) {
        head.auth!.steps++;
        authAnswer = true;
        continue;
      }
      authAnswer = false;
      queue.shift();
      head.reply = reply;
      // the transaction, as the server's replies built it
      const ok = item.code >= 200 && item.code < 300;
      switch (head.command) {
        case 'MAIL':
          if (ok) tx = { mail_from: head.mail_from!, rcpt_to: [] };
          break;
        case 'RCPT':
          if (ok && tx) tx.rcpt_to.push(head.rcpt_to!);
          break;
        case 'DATA':
          if (tx) head.envelope = tx;
          head.queued = /queued as (\S+)/.exec(reply.text)?.[1];
          tx = undefined;
          break;
        case 'RSET':
        case 'EHLO':
        case 'HELO':
        case 'STARTTLS':
          tx = undefined;
          break;
      }
      out.push(finish(head));
      continue;
    }
    if (inData) continue; // the message
    if (authAnswer) {
      authAnswer = false;
      queue[0]!.answers.push(item.text);
      continue;
    }
    const m = /^(\S+)(?: (.*))?$/.exec(item.text)!;
    const command = m[1]!.toUpperCase();
    const args = m[2];
    const x: ExpectedSmtp & { answers: string[] } = { kind: 'exchange', line: item.text, command, tls: item.tls, answers: [] };
    if (args !== undefined && args !== '') x.arguments = args;
    if (command === 'MAIL') x.mail_from = addr(args ?? '', 'FROM');
    if (command === 'RCPT') x.rcpt_to = addr(args ?? '', 'TO');
    if (command === 'AUTH') x.auth = { mechanism: '', steps: 0 };
    queue.push(x);
  }
  for (const p of queue) out.push({ ...finish(p), kind: 'unanswered' });
  return out;
}

// ---------------------------------------------------------------------------
// A message as the event must give it

/** The default body limit of the parse pipeline (64 KiB). */
export const MAX_BODY = 64 * 1024;

export interface Body {
  size: number;
  content?: string;
  truncated?: boolean;
}
export interface SmtpPart {
  headers?: Record<string, string[]>;
  body: Body & { content_encoding?: string };
  filename?: string;
}
export interface SmtpMessage {
  size: number;
  headers: Record<string, string[]>;
  body: Body;
  parts?: SmtpPart[];
}

/**
 * A MIME message's leaf parts as Python's email package reads them (an independent reading): each
 * part's decoded payload (its size; its text in its charset for text/* parts), transfer encoding and
 * file name. Undefined for a plain message without a transfer encoding.
 */
const PY_MIME = `
import email, email.policy, json, sys
msg = email.message_from_bytes(sys.stdin.buffer.read(), policy=email.policy.compat32)
if not msg.is_multipart() and (msg.get('content-transfer-encoding') or '').strip().lower() not in ('base64', 'quoted-printable'):
    print('null'); sys.exit(0)
out = []
for part in msg.walk():
    if part.is_multipart():
        continue
    data = part.get_payload(decode=True) or b''
    cte = (part.get('content-transfer-encoding') or '').strip().lower()
    p = {'body': {'size': len(data)}}
    if cte in ('base64', 'quoted-printable'):
        p['body']['content_encoding'] = cte
    if part.get_content_maintype() in ('text', 'message'):
        p['body']['content'] = data.decode(part.get_content_charset() or 'utf-8', 'replace')
    name = part.get_filename()
    if name is not None:
        p['filename'] = name
    out.append(p)
print(json.dumps(out))
`;
export function pythonParts(data: Buffer): SmtpPart[] | undefined {
  const r = spawnSync('/usr/bin/python3', ['-c', PY_MIME], { input: data, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`python email: ${r.stderr}`);
  return JSON.parse(r.stdout) ?? undefined;
}

/** RFC 2047: encoded words decoded, the white space between two adjacent ones dropped. */
export function decodeEncodedWords(value: string): string {
  const word = /=\?([^?\s]+)\?([BbQq])\?([^?\s]*)\?=/;
  const adjacent = new RegExp(`(${word.source})\\s+(?=${word.source})`, 'g');
  return value.replace(adjacent, '$1').replace(new RegExp(word.source, 'g'), (_, charset: string, enc: string, text: string) => {
    const bytes =
      enc.toUpperCase() === 'B'
        ? Buffer.from(text, 'base64')
        : Buffer.from(text.replace(/_/g, ' ').replace(/=([0-9A-Fa-f]{2})/g, (__, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1');
    return new TextDecoder(charset.split('*')[0]!.toLowerCase()).decode(bytes);
  });
}

/** The message an event must give of `data` (the bytes the server received). */
export function expectedMessage(data: Buffer): SmtpMessage {
  const end = data.indexOf('\r\n\r\n');
  const headerBlock = end < 0 ? data : data.subarray(0, end);
  const body = end < 0 ? Buffer.alloc(0) : data.subarray(end + 4);
  // unfolded: a line starting with white space continues the one before (its CRLF dropped)
  const fields: string[] = [];
  for (const line of headerBlock.toString('utf8').split('\r\n')) {
    if (/^[ \t]/.test(line) && fields.length) fields[fields.length - 1] += line;
    else fields.push(line);
  }
  const headers: Record<string, string[]> = {};
  for (const f of fields) {
    const colon = f.indexOf(':');
    if (colon <= 0) continue;
    const name = f.slice(0, colon).trim().toLowerCase();
    (headers[name] ??= []).push(decodeEncodedWords(f.slice(colon + 1).trim()));
  }
  // a MIME message: its parts as Python reads them, and the body as its size alone
  const parts = pythonParts(data);
  if (parts) return { size: data.length, headers, body: { size: body.length }, parts };
  return { size: data.length, headers, body: expectedBody(body) };
}

/** The body an event keeps of `data` under the default limit (text, as all of this traffic is). */
export function expectedBody(data: Buffer): Body {
  const body: Body = { size: data.length, content: data.subarray(0, MAX_BODY).toString('utf8') };
  if (data.length > MAX_BODY) body.truncated = true;
  return body;
}

// ---------------------------------------------------------------------------
// The client traffic of the SMTP live and oracle tests

/** The Python smtplib sessions: each item sent and each reply got logged, then printed as JSON. */
const PY_CLIENT = String.raw`
import json, smtplib, ssl, sys
mode, port, files = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
log = []

class Recording(smtplib.SMTP):
    def send(self, s):
        b = s.encode(self.command_encoding) if isinstance(s, str) else s
        log.append({'from': 'client', 'text': b.decode('utf-8', 'replace').removesuffix('\r\n'), 'tls': isinstance(self.sock, ssl.SSLSocket)})
        return super().send(s)
    def getreply(self):
        code, msg = super().getreply()
        log.append({'from': 'server', 'code': code, 'lines': msg.decode('utf-8', 'replace').split('\n'), 'tls': isinstance(self.sock, ssl.SSLSocket)})
        return code, msg

out = {}
s = Recording('127.0.0.1', port, local_hostname=files['helo'], timeout=5)
out['port'] = s.sock.getsockname()[1]
if mode == 'session':
    msg = open(files['message'], 'rb').read()
    out['helo'] = s.helo()[0]
    out['noop'] = s.noop()[0]
    out['vrfy'] = s.verify('bob@example.org')[0]
    out['expn'] = s.expn('staff')[0]
    out['help'] = s.help().decode()
    out['mail1'] = s.mail('first@example.com')[0]
    out['rcpt1'] = s.rcpt('bob@example.org')[0]
    out['rset'] = s.rset()[0]
    out['mail2'] = s.mail('zoe@example.com')[0]
    out['rcpt2'] = s.rcpt('bob@example.org')[0]
    out['rcpt3'] = s.rcpt('nobody@' + files['refused'])[0]
    out['data'] = s.data(msg)[0]
    out['quit'] = s.quit()[0]
elif mode == 'starttls':
    msg = open(files['message'], 'rb').read()
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.keylog_filename = files['keylog']
    out['ehlo'] = s.ehlo()[0]
    out['starttls'] = s.starttls(context=ctx)[0]
    out['tls_version'] = s.sock.version()
    out['ehlo2'] = s.ehlo()[0]
    out['login'] = s.login(files['user'], files['password'])[0]
    out['refused'] = s.sendmail('eve@example.com', ['bob@example.org'], msg)
    out['quit'] = s.quit()[0]
out['log'] = log
print(json.dumps(out))
`;

/** (a) A plain message: a display name in From, two recipients, a phone number in the body. */
export const PLAIN = {
  from: 'ann.lee@example.com',
  to: ['bob@example.org', 'carol@example.net'],
  fromHeader: 'Ann Lee <ann.lee@example.com>',
  subject: 'Quarterly numbers',
  body: 'Please call me back at +1 415 555 0100 before Friday.',
};
/** (d) The Subject as an RFC 2047 encoded word (UTF-8, B), and the attachment. */
export const GREETING_SUBJECT = 'Grüße von Zoë';
export const ENCODED_SUBJECT = `=?UTF-8?B?${Buffer.from(GREETING_SUBJECT).toString('base64')}?=`;
export const ATTACHMENT = 'name,phone\nAnn Lee,+1 415 555 0100\nBob Roe,+1 212 555 0199\n';
/** (e) Lines that start with a dot: swaks doubles the first dot of each on the wire. */
export const DOTS_BODY = 'Lines below start with a dot:\n.hidden line\n.\n..two dots\nend of message\n';
/** (g) The smtplib session's message: Q-encoded ISO-8859-1 in From, a folded Subject of two encoded words, a folded header, 8-bit UTF-8 body. */
export const SESSION_MESSAGE = [
  'From: =?ISO-8859-1?Q?Zo=EB_M=FCller?= <zoe@example.com>',
  'To: Bob <bob@example.org>, nobody@refused.example.test',
  'Subject: =?UTF-8?Q?Caf=C3=A9?=',
  ' =?UTF-8?Q?_au_lait?= tomorrow',
  'X-Folded: first part',
  ' second part',
  'Content-Type: text/plain; charset=utf-8',
  'Content-Transfer-Encoding: 8bit',
  '',
  'Grüße, Zoë: see you at 10.',
  '',
].join('\r\n');
/** (h) The message sent inside TLS. */
export const TLS_MESSAGE = ['From: Eve <eve@example.com>', 'To: bob@example.org', 'Subject: Inside TLS', '', 'The door code is 4471.', ''].join('\r\n');

/** (f) A ~100 KB body of short lines (over the 64 KiB body limit), every 97th line starting with a dot. */
export function bigBody(): string {
  const lines: string[] = [];
  let size = 0;
  for (let i = 0; size < 100_000; i++) {
    const line = `${i % 97 === 0 ? '.' : ''}line ${String(i).padStart(5, '0')} of the big message body`;
    lines.push(line);
    size += line.length + 2;
  }
  return lines.join('\n') + '\n';
}

export interface SmtpRun {
  name: string;
  client: 'swaks' | 'smtplib' | 'socket';
  args: string[];
  result: ClientResult;
  transcript: TranscriptItem[];
  /** the client's port, where the client tells it (smtplib, the socket) */
  port?: number;
  /** what the smtplib script returned */
  py?: Record<string, any>;
}

export interface SmtpScenarioResult {
  port: number;
  /** one connection each, in the order they ran */
  runs: SmtpRun[];
  records: SmtpRecord[];
  /** the TLS key log of the STARTTLS session (NSS format) */
  keylog: string;
  big: string;
}

function check(r: ClientResult, what: string, code = 0): void {
  if (r.code !== code) throw new Error(`${what}: exit ${r.code}${r.timedOut ? ' (timed out)' : ''}, wanted ${code}: ${r.stderr.trim()}\n${r.stdout.slice(-2000)}`);
}

/**
 * A raw connection that gives up in the middle of DATA: EHLO, MAIL, RCPT,
 * DATA, part of a message, then FIN. aiosmtpd never answers the DATA (its
 * final dot never came): the DATA is unanswered.
 */
async function abandonedData(port: number): Promise<{ port: number; transcript: TranscriptItem[] }> {
  const sock: Socket = createConnection({ port, host: '127.0.0.1' });
  await new Promise<void>((res, rej) => sock.once('connect', res).once('error', rej));
  const transcript: TranscriptItem[] = [];
  let buf = '';
  let waiting: (() => void) | undefined;
  let closed = false;
  sock.on('data', (d) => ((buf += d.toString('latin1')), waiting?.()));
  sock.on('close', () => ((closed = true), waiting?.()));
  const reply = async () => {
    const deadline = Date.now() + 5_000;
    for (;;) {
      const m = /^((?:\d{3}-[^\r]*\r\n)*)(\d{3}) ([^\r]*)\r\n/.exec(buf);
      if (m) {
        buf = buf.slice(m[0].length);
        const lines = m[0].split('\r\n').filter((l) => l).map((l) => l.slice(4));
        transcript.push({ from: 'server', code: Number(m[2]), lines, tls: false });
        return Number(m[2]);
      }
      if (closed || Date.now() > deadline) throw new Error(`no reply; got ${JSON.stringify(buf)}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 100);
        waiting = () => (clearTimeout(t), r());
      });
    }
  };
  const send = (line: string) => {
    transcript.push({ from: 'client', text: line, tls: false });
    sock.write(`${line}\r\n`);
  };
  await reply();
  for (const [line, code] of [['EHLO raw.example.test', 250], ['MAIL FROM:<raw@example.com>', 250], ['RCPT TO:<bob@example.org>', 250], ['DATA', 354]] as const) {
    send(line);
    const got = await reply();
    if (got !== code) throw new Error(`${line}: ${got}`);
  }
  const partial = 'Subject: never finished\r\n\r\nThis message has no end';
  transcript.push({ from: 'client', text: partial, tls: false });
  const local = sock.localPort!;
  await new Promise<void>((r) => sock.end(partial, () => r()));
  if (!closed) await new Promise((r) => sock.once('close', r));
  if (buf) throw new Error(`unexpected bytes after DATA: ${JSON.stringify(buf)}`);
  return { port: local, transcript };
}

/**
 * Drives the traffic of the live and oracle tests against `server` (started
 * with tls and auth), one connection at a time, while the caller captures:
 *  (a) swaks: a plain message (PLAIN);
 *  (b) swaks --pipeline: MAIL, two RCPT (one refused) and DATA in one write;
 *  (c) swaks AUTH PLAIN as eve (and a message), AUTH LOGIN as eve, AUTH LOGIN
 *      as mallory (refused: 535, swaks exits 28);
 *  (d) swaks: a multipart message with a CSV attachment and an RFC 2047 Subject;
 *  (e) swaks: a body whose lines start with dots (DOTS_BODY);
 *  (f) swaks: a ~100 KB body (bigBody), its transcript cut short with -n;
 *  (g) smtplib: HELO, NOOP, VRFY, EXPN (502), HELP, MAIL, RCPT, RSET, MAIL,
 *      RCPT, RCPT refused, DATA (SESSION_MESSAGE), QUIT, in lower case as
 *      smtplib writes them;
 *  (h) smtplib: EHLO, STARTTLS, then inside TLS (key log written) EHLO, AUTH
 *      PLAIN as eve, MAIL with SIZE=, RCPT, DATA (TLS_MESSAGE), QUIT;
 *  (i) a raw socket that ends the connection in the middle of DATA.
 */
export async function smtpScenario(server: SmtpServer): Promise<SmtpScenarioResult> {
  const dir = server.dir;
  const big = bigBody();
  writeFileSync(join(dir, 'big.txt'), big);
  writeFileSync(join(dir, 'dots.txt'), DOTS_BODY);
  writeFileSync(join(dir, 'contacts.csv'), ATTACHMENT);
  writeFileSync(join(dir, 'session.eml'), SESSION_MESSAGE);
  writeFileSync(join(dir, 'tls.eml'), TLS_MESSAGE);
  writeFileSync(join(dir, 'client.py'), PY_CLIENT);
  const keylog = join(dir, 'keys.log');
  const runs: SmtpRun[] = [];

  const swaks = async (name: string, args: string[], code = 0) => {
    const result = await server.swaks(args);
    check(result, `swaks ${name}`, code);
    runs.push({ name, client: 'swaks', args, result, transcript: swaksTranscript(result.stdout) });
  };
  await swaks('plain', ['--from', PLAIN.from, '--to', PLAIN.to.join(','), '--header', `From: ${PLAIN.fromHeader}`, '--header', `Subject: ${PLAIN.subject}`, '--body', PLAIN.body]);
  await swaks('pipeline', ['--pipeline', '--from', 'pipe@example.com', '--to', `bob@example.org,nobody@${REFUSED_DOMAIN}`, '--header', 'Subject: Pipelined', '--body', 'Sent with PIPELINING.']);
  await swaks('auth-plain', ['--auth', 'PLAIN', '--auth-user', EVE.user, '--auth-password', EVE.password, '--from', 'eve@example.com', '--to', 'bob@example.org', '--header', 'Subject: After AUTH PLAIN', '--body', 'Authenticated with PLAIN.']);
  await swaks('auth-login', ['--auth', 'LOGIN', '--auth-user', EVE.user, '--auth-password', EVE.password, '--from', 'eve@example.com', '--to', 'bob@example.org', '--quit-after', 'AUTH']);
  // swaks exits 28 when no authentication succeeded
  await swaks('auth-refused', ['--auth', 'LOGIN', '--auth-user', MALLORY.user, '--auth-password', MALLORY.password, '--from', 'mallory@example.com', '--to', 'bob@example.org'], 28);
  await swaks('attachment', ['--from', PLAIN.from, '--to', 'bob@example.org', '--header', `Subject: ${ENCODED_SUBJECT}`, '--body', 'The contact list is attached.', '--attach-type', 'text/csv', '--attach-name', 'contacts.csv', '--attach', '@contacts.csv']);
  await swaks('dots', ['--from', 'dots@example.com', '--to', 'bob@example.org', '--header', 'Subject: Dots', '--body', '@dots.txt']);
  await swaks('big', ['-n', '--from', 'big@example.com', '--to', 'bob@example.org', '--header', 'Subject: A big one', '--body', '@big.txt']);

  const python = async (name: string, mode: string, files: Record<string, string>) => {
    const args = [join(dir, 'client.py'), mode, String(server.port), JSON.stringify({ helo: PY_HELO, refused: REFUSED_DOMAIN, ...files })];
    const result = await runClient(PYTHON, args, 15_000, dir);
    check(result, `smtplib ${name}`);
    const py = JSON.parse(result.stdout) as Record<string, any>;
    runs.push({ name, client: 'smtplib', args, result, transcript: py.log, port: py.port, py });
  };
  await python('session', 'session', { message: join(dir, 'session.eml') });
  await python('starttls', 'starttls', { message: join(dir, 'tls.eml'), keylog, user: EVE.user, password: EVE.password });

  const raw = await abandonedData(server.port);
  runs.push({ name: 'abandoned', client: 'socket', args: [], result: { code: 0, stdout: '', stderr: '', timedOut: false }, transcript: raw.transcript, port: raw.port });

  // the server records a message before it answers DATA, so the records are complete here
  return { port: server.port, runs, records: server.records(), keylog, big };
}

// ---------------------------------------------------------------------------
// The typed view of an SMTP event the live and oracle tests read

export interface SmtpFields {
  client: { port: number };
  server: { port: number };
  network: { protocol: { name: string } };
  smtp: {
    greeting?: boolean;
    command?: string;
    arguments?: string;
    reply?: Reply;
    intermediate_reply?: Reply;
    mail_from?: string;
    rcpt_to?: string;
    envelope?: { mail_from: string; rcpt_to: string[] };
    message?: SmtpMessage;
    auth?: { mechanism: string; username?: string; steps: number };
  };
  tls?: { decrypted?: boolean };
  error?: { type: string };
}

export type SmtpEvent = PanoEvent & SmtpFields;
