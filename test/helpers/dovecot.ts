/**
 * A private Dovecot (Debian's dovecot-pop3d and dovecot-imapd, 2.3) per test
 * file: `dovecot -F -c CONF` with everything in a temp dir (config, base_dir,
 * state_dir, a self-signed certificate, the passwd-file of its users and their
 * maildirs, seeded with known messages), POP3 and, when asked, IMAP on free
 * ports of 127.0.0.1; and the POP3 client traffic the POP3 live and oracle
 * tests share (pop3Scenario: test/fixtures/pop3/client.py, one connection per
 * mode), with what its transcript says the events must be. The IMAP live and
 * oracle tests' traffic and transcripts are test/helpers/imap.ts's.
 *
 * Run as root (as the suite is, for tcpdump), which Dovecot allows for its
 * master; its other processes drop privileges, which is what the config has
 * to allow for:
 *  - auth runs as the `dovecot` user and reads the passwd-file itself: the
 *    temp dir (0700 from mkdtemp) is made 0711 and the passwd-file 0644, or
 *    every login fails `-ERR [SYS/TEMP]` ("missing +x perm: ..., dir owned by
 *    0:0 mode=0700" in the log);
 *  - the mail processes (pop3, imap) never run as root (the login succeeds,
 *    then "Couldn't drop privileges: Mail access not allowed for root" and
 *    `-ERR [SYS/TEMP]`): every user's mail is the `mail` user's and group's
 *    (Debian's uid/gid 8: mail_uid/mail_gid, first_valid_uid/gid lowered to
 *    them), their maildirs chowned to it;
 *  - the login processes (pop3-login, as dovenull, chrooted to base_dir/login)
 *    get their listeners from the master and need nothing else of the dir.
 * ssl = yes with an EC (P-256) certificate made here with openssl: no ssl_dh
 * is needed (ECDHE, TLS 1.3), and Dovecot does not complain without one.
 * With IMAP: the quota plugin (imap_quota for GETQUOTA and GETQUOTAROOT, a
 * maildir quota root with a storage rule) and three namespaces (NAMESPACES).
 * Refusals are quick: auth_failure_delay = 0 (a refused PASS takes 0.5 s, not
 * 1.5), and the auth penalty is off (anvil's anvil-auth-penalty listener has
 * mode 0, so it is not created and auth, finding no socket, quietly does
 * without): with it, the first login from 127.0.0.1 after a refused one waited
 * 4 s (login_trusted_networks does not lift it, and it adds [XCLIENT] to the
 * greeting).
 * Logs go to stderr (log_path = /dev/stderr, through the log process) and so
 * to ServerProcess.log; the login lines name the client's port (rport), so a
 * test can match each login Dovecot saw (logins()) to its connection.
 * start() returns once Dovecot has logged the end of waitReady's probe
 * connection, whose greeting would otherwise, under load, land in the capture
 * started next (tshark then reads a connection more). Stopping the master
 * (SIGTERM) stops its children first, within about a second; it is started
 * under setpriv --pdeathsig, so a test process that dies without stopping it
 * takes it along.
 *
 * Maildir files are written with CRLF line ends: Dovecot serves them as they
 * are (a file's size is then its POP3 size, and RETR gives exactly the bytes
 * written, dot-stuffed on the wire). UIDs are given in the order of the file
 * names' timestamps, so message n is MESSAGES[n-1]; pop3_uidl_format is
 * %08Xu%08Xv (UID and UIDVALIDITY, which Dovecot picks from the clock on
 * first access: the UIDL strings differ each run and are read from the
 * transcript).
 */
import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PanoEvent } from '@panopticon/events';
import { freePort, tcpdumpAvailable } from './loopback-capture.js';
import { runClient, type ClientResult } from './client-process.js';
import { inTempDir, ServerProcess, sleep } from './server-process.js';
import { expectedMessage, type SmtpMessage } from './smtp-server.js';

export const DOVECOT = '/usr/sbin/dovecot';
/** The Debian python (stdlib poplib, imaplib and ssl), not whatever python3 the PATH finds first. */
export const PYTHON = '/usr/bin/python3';
export const OPENSSL = '/usr/bin/openssl';
const SETPRIV = '/usr/bin/setpriv';
export const POP3_CLIENT = join(import.meta.dirname, '../fixtures/pop3/client.py');

/** The greeting Debian's Dovecot sends (login_greeting left at its default). */
export const GREETING = 'Dovecot (Debian) ready.';
/** The certificate's name. */
export const SERVER_NAME = 'pop.example.test';

/** The account the scenario logs in as, and the password it is refused with. */
export const EVE = { user: 'eve', password: 's3cret-pass' };
export const WRONG_PASSWORD = 'not-her-pass';

/** With IMAP: the quota root every user's mail is under, and its storage limit in KiB (1 GiB). */
export const QUOTA_ROOT = 'User quota';
export const QUOTA_STORAGE_KB = 1024 * 1024;
/**
 * With IMAP: the namespaces NAMESPACE lists (RFC 2342), all with the maildir++ delimiter: the
 * personal one (the user's mail, no prefix), other users' (a shared namespace) and a public one,
 * whose prefix has a non-ASCII letter (modified UTF-7 on the wire). Neither of the last two is
 * listed by LIST.
 */
export const NAMESPACES = { delimiter: '.', personal: '', other: 'Andere.', shared: 'Öffentlich.' };

/** What a Dovecot live test needs that is not installed (tcpdump included; the IMAP side when `imap`). */
export function dovecotMissing(opts: { imap?: boolean } = {}): string[] {
  const missing: string[] = [];
  if (!existsSync(DOVECOT)) missing.push('dovecot-core');
  if (!existsSync('/usr/lib/dovecot/pop3') || !existsSync('/usr/lib/dovecot/pop3-login')) missing.push('dovecot-pop3d');
  if (opts.imap && (!existsSync('/usr/lib/dovecot/imap') || !existsSync('/usr/lib/dovecot/imap-login'))) missing.push('dovecot-imapd');
  if (!existsSync(OPENSSL)) missing.push('openssl');
  if (!tcpdumpAvailable()) missing.push('tcpdump');
  if (!existsSync(PYTHON) || spawnSync(PYTHON, ['-c', 'import poplib, imaplib, ssl; ssl.SSLContext.keylog_filename'], { stdio: 'ignore' }).status !== 0) missing.push('python3');
  return missing;
}

// ---------------------------------------------------------------------------
// The messages every user's maildrop starts with (exact bytes, CRLF)

const crlf = (lines: string[]) => Buffer.from(lines.map((l) => `${l}\r\n`).join(''));

/** (1) A plain text message from a person, a phone number in its body. */
export const IVY = { name: 'Ivy Chen', address: 'ivy@example.org', header: 'Ivy Chen <ivy@example.org>' };
export const PLAIN_SUBJECT = 'Lunch on Thursday';
export const PHONE = '+1 415 555 0142';
/** (3) The CSV attached to the MIME message (base64 on the wire), an address in it. */
export const ATTACHMENT = 'name,email\nIvy Chen,ivy@example.org\nOscar Diaz,oscar.diaz@example.net\n';
/** (4) The Subject and From of the message with RFC 2047 encoded words. */
export const ENCODED_SUBJECT_TEXT = 'Grüße aus Zürich';
export const ENCODED_FROM_TEXT = 'Zoë Müller <zoe@example.com>';
/** (2) The body lines that start with a dot: Dovecot doubles the first dot of each on RETR. */
export const DOTS_LINES = ['Lines below start with a dot:', '.hidden line', '.', '..two dots', 'end of message'];

/** (5) A ~100 KB body of short lines (over the 64 KiB body limit), every 97th starting with a dot. */
function bigLines(): string[] {
  const lines: string[] = [];
  let size = 0;
  for (let i = 0; size < 100_000; i++) {
    const line = `${i % 97 === 0 ? '.' : ''}line ${String(i).padStart(5, '0')} of the server log export`;
    lines.push(line);
    size += line.length + 2;
  }
  return lines;
}

const base64Lines = (s: string) => Buffer.from(s).toString('base64').match(/.{1,76}/g)!;
const BOUNDARY = 'pano-boundary-3';

export interface SeedMessage {
  name: 'plain' | 'dots' | 'mime' | 'encoded' | 'big';
  data: Buffer;
}

/** The seeded messages, message n being MESSAGES[n - 1]. */
export const MESSAGES: SeedMessage[] = [
  {
    name: 'plain',
    data: crlf([
      `From: ${IVY.header}`,
      'To: Eve Adams <eve@example.com>',
      `Subject: ${PLAIN_SUBJECT}`,
      'Date: Mon, 13 Nov 2023 10:00:00 +0000',
      'Message-ID: <lunch-1@example.org>',
      '',
      'Hi Eve,',
      '',
      `Shall we meet at noon? Call me on ${PHONE} if plans change.`,
      '',
      'Ivy',
    ]),
  },
  {
    name: 'dots',
    data: crlf([`From: ${IVY.header}`, 'To: eve@example.com', 'Subject: Dots', 'Date: Mon, 13 Nov 2023 10:05:00 +0000', 'Message-ID: <dots-2@example.org>', '', ...DOTS_LINES]),
  },
  {
    name: 'mime',
    data: crlf([
      `From: ${IVY.header}`,
      'To: eve@example.com',
      'Subject: Contact list',
      'Date: Mon, 13 Nov 2023 10:10:00 +0000',
      'Message-ID: <csv-3@example.org>',
      'MIME-Version: 1.0',
      `Content-Type: multipart/mixed; boundary="${BOUNDARY}"`,
      '',
      'This is a multi-part message in MIME format.',
      `--${BOUNDARY}`,
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: 7bit',
      '',
      'The contact list is attached.',
      `--${BOUNDARY}`,
      'Content-Type: text/csv; name="contacts.csv"',
      'Content-Transfer-Encoding: base64',
      'Content-Disposition: attachment; filename="contacts.csv"',
      '',
      ...base64Lines(ATTACHMENT),
      `--${BOUNDARY}--`,
    ]),
  },
  {
    name: 'encoded',
    data: crlf([
      'From: =?ISO-8859-1?Q?Zo=EB_M=FCller?= <zoe@example.com>',
      'To: eve@example.com',
      `Subject: =?UTF-8?B?${Buffer.from(ENCODED_SUBJECT_TEXT).toString('base64')}?=`,
      'Date: Mon, 13 Nov 2023 10:15:00 +0000',
      'Message-ID: <greetings-4@example.com>',
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: 8bit',
      '',
      'Bis bald, Zoë.',
    ]),
  },
  {
    name: 'big',
    data: crlf([`From: ${IVY.header}`, 'To: eve@example.com', 'Subject: Server logs', 'Date: Mon, 13 Nov 2023 10:20:00 +0000', 'Message-ID: <logs-5@example.org>', '', ...bigLines()]),
  },
];

/** The number (1-based) of the seeded message named `name`. */
export const messageNumber = (name: SeedMessage['name']) => MESSAGES.findIndex((m) => m.name === name) + 1;

// ---------------------------------------------------------------------------
// The server

export interface DovecotUser {
  user: string;
  password: string;
  /** the maildrop's messages in order (default: none) */
  messages?: Buffer[];
}

export interface DovecotOptions {
  /** IMAP too, on its own free port (imapPort). */
  imap?: boolean;
  /** default: eve with MESSAGES */
  users?: DovecotUser[];
}

/** A login Dovecot logged: the client's port, the user, the mechanism, whether it succeeded, and whether over TLS. */
export interface LoginRecord {
  rport: number;
  user: string;
  method: string;
  ok: boolean;
  tls: boolean;
}

/** A user's uid and gid from /etc/passwd. */
function account(name: string): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${name}:`));
  if (!line) throw new Error(`no ${name} user in /etc/passwd`);
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

/** The user every user's mail belongs to (see the top of the file). */
const MAIL_USER = 'mail';

export class Dovecot extends ServerProcess {
  /** The IMAP listener's port (DovecotOptions.imap), else 0. */
  imapPort = 0;

  private constructor(
    port: number,
    dir: string,
    proc: ChildProcess,
    /** the certificate and key (PEM) STLS/STARTTLS use */
    readonly cert: { cert: string; key: string },
    readonly users: DovecotUser[],
  ) {
    super(port, dir, proc, 'dovecot');
  }

  /** Starts Dovecot with its own config in a new temp dir; resolves once POP3 accepts connections. */
  static async start(opts: DovecotOptions = {}): Promise<Dovecot> {
    return inTempDir('pano-dovecot-', async (dir) => {
      chmodSync(dir, 0o711);
      const port = await freePort();
      const imapPort = opts.imap ? await freePort() : 0;
      const users = opts.users ?? [{ ...EVE, messages: MESSAGES.map((m) => m.data) }];
      const cert = { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') };
      execFileSync(OPENSSL, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '30',
        '-subj', `/CN=${SERVER_NAME}`, '-keyout', cert.key, '-out', cert.cert], { stdio: 'pipe' });

      const passwd = join(dir, 'passwd');
      // name:{scheme}password:uid:gid:gecos:home:shell:extra; uid/gid from mail_uid/mail_gid
      writeFileSync(passwd, users.map((u) => `${u.user}:{PLAIN}${u.password}::::::\n`).join(''));
      chmodSync(passwd, 0o644);
      const mail = account(MAIL_USER);
      for (const u of users) seedMaildir(join(dir, 'mail'), u.user, u.messages ?? [], mail);

      const conf = [
        `base_dir = ${join(dir, 'run')}`,
        `state_dir = ${join(dir, 'state')}`,
        'listen = 127.0.0.1',
        `protocols = pop3${opts.imap ? ' imap' : ''}`,
        'log_path = /dev/stderr',
        'login_log_format_elements = user=<%u> method=%m rip=%r rport=%{rport} lip=%l mpid=%e %c session=<%{session}>',
        'ssl = yes',
        `ssl_cert = <${cert.cert}`,
        `ssl_key = <${cert.key}`,
        'disable_plaintext_auth = no',
        'auth_mechanisms = plain login',
        'auth_failure_delay = 0',
        'passdb {',
        '  driver = passwd-file',
        `  args = scheme=PLAIN username_format=%u ${passwd}`,
        '}',
        'userdb {',
        '  driver = passwd-file',
        `  args = username_format=%u ${passwd}`,
        '}',
        `mail_location = maildir:${join(dir, 'mail')}/%u/Maildir`,
        `mail_uid = ${MAIL_USER}`,
        `mail_gid = ${MAIL_USER}`,
        `first_valid_uid = ${mail.uid}`,
        `first_valid_gid = ${mail.gid}`,
        'pop3_uidl_format = %08Xu%08Xv',
        'service anvil {',
        '  unix_listener anvil-auth-penalty {',
        '    mode = 0',
        '  }',
        '}',
        'service pop3-login {',
        '  inet_listener pop3 {',
        `    port = ${port}`,
        '  }',
        '  inet_listener pop3s {',
        '    port = 0',
        '  }',
        '}',
      ];
      if (opts.imap) {
        conf.push('service imap-login {', '  inet_listener imap {', `    port = ${imapPort}`, '  }', '  inet_listener imaps {', '    port = 0', '  }', '}');
        // QUOTA, GETQUOTAROOT and GETQUOTA (RFC 9208): the quota plugin with a maildir++ storage limit, imap_quota for IMAP
        conf.push('mail_plugins = $mail_plugins quota', 'protocol imap {', '  mail_plugins = $mail_plugins imap_quota', '}');
        conf.push('plugin {', `  quota = maildir:${QUOTA_ROOT}`, `  quota_rule = *:storage=${QUOTA_STORAGE_KB}K`, '}');
        // the namespaces: the default inbox one written out (the others replace it otherwise), others' and a public one
        conf.push('namespace inbox {', '  inbox = yes', `  separator = ${NAMESPACES.delimiter}`, `  prefix = ${NAMESPACES.personal}`, '}');
        conf.push('namespace users {', '  type = shared', `  separator = ${NAMESPACES.delimiter}`, `  prefix = ${NAMESPACES.other}%%u${NAMESPACES.delimiter}`);
        conf.push(`  location = maildir:${join(dir, 'mail')}/%%u/Maildir`, '  list = no', '  subscriptions = no', '}');
        conf.push('namespace public {', '  type = public', `  separator = ${NAMESPACES.delimiter}`, `  prefix = ${NAMESPACES.shared}`);
        conf.push(`  location = maildir:${join(dir, 'public')}`, '  list = no', '  subscriptions = no', '}');
      }
      const file = join(dir, 'dovecot.conf');
      writeFileSync(file, conf.join('\n') + '\n');
      // setpriv (util-linux) execs Dovecot with a parent-death signal: a test process that dies
      // without stopping it (killed, crashed) takes the master, and so its children, with it
      const argv = [DOVECOT, '-F', '-c', file];
      const proc = existsSync(SETPRIV)
        ? spawn(SETPRIV, ['--pdeathsig', 'TERM', ...argv], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
        : spawn(argv[0]!, argv.slice(1), { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
      const server = new Dovecot(port, dir, proc, cert, users);
      server.imapPort = imapPort;
      await server.waitReady((log) => log.includes('starting up for'), 400);
      // waitReady's probe (a connection opened and closed at once) still gets a greeting, later under
      // load: once Dovecot logs its end, none of it can land in a capture started next
      try {
        await server.waitLog(/-login: Info: .*\(no auth attempts/);
      } catch (e) {
        await server.stop();
        throw e;
      }
      return server;
    });
  }

  /** The maildir of `user`. */
  maildir(user: string): string {
    return join(this.dir, 'mail', user, 'Maildir');
  }

  /** The logins Dovecot logged so far (pop3-login and imap-login), in order; a login's line comes a little after it (waitLogins). */
  logins(): LoginRecord[] {
    const out: LoginRecord[] = [];
    for (const line of this.log.split('\n')) {
      const m = /-login: Info: (Login|Disconnected: .*\(auth failed.*?\)): user=<([^>]*)>, method=(\S+), rip=\S+, rport=(\d+), lip=\S+,(.*)$/.exec(line);
      if (!m) continue;
      out.push({ rport: Number(m[4]), user: m[2]!, method: m[3]!.replace(/,$/, ''), ok: m[1] === 'Login', tls: /\bTLS\b/.test(m[5]!) });
    }
    return out;
  }

  /** Waits until the log matches `what` (throws after `timeoutMs`). */
  async waitLog(what: RegExp, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!what.test(this.log)) {
      if (this.process.exitCode !== null) throw new Error(`dovecot exited while waiting for ${what}: ${this.log.slice(-2000)}`);
      if (Date.now() > deadline) throw new Error(`dovecot did not log ${what}: ${this.log.slice(-2000)}`);
      await sleep(10);
    }
  }

  /** Waits (5 s at most) until Dovecot has logged `n` logins; returns them. */
  async waitLogins(n: number, timeoutMs = 5_000): Promise<LoginRecord[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const got = this.logins();
      if (got.length >= n) return got;
      if (Date.now() > deadline) throw new Error(`dovecot logged ${got.length} logins, wanted ${n}: ${this.log.slice(-3000)}`);
      await sleep(20);
    }
  }
}

/** `root`/`user`/Maildir holding `messages` in new/ (named so that their UIDs follow their order), all `owner`'s. */
function seedMaildir(root: string, user: string, messages: Buffer[], owner: { uid: number; gid: number }): void {
  const maildir = join(root, user, 'Maildir');
  const own = (p: string) => chownSync(p, owner.uid, owner.gid);
  for (const sub of ['new', 'cur', 'tmp']) mkdirSync(join(maildir, sub), { recursive: true });
  for (const p of [root, join(root, user), maildir, ...['new', 'cur', 'tmp'].map((sub) => join(maildir, sub))]) own(p);
  messages.forEach((m, i) => {
    const file = join(maildir, 'new', `${1_700_000_001 + i}.M${i + 1}P100.pano,S=${m.length}`);
    writeFileSync(file, m);
    own(file);
  });
}

// ---------------------------------------------------------------------------
// Transcripts: what the client sent and got back

/**
 * One line the client sent, or one response it got: its first line, and for a
 * multi-line one its lines as received (dot-stuffed, without the final "."); an
 * AUTH challenge is a response whose line starts with "+ ". `partial`: the
 * client closed the connection after the status line, before the rest came.
 */
export type Pop3Item =
  | { from: 'client'; text: string; tls: boolean }
  | { from: 'server'; line: string; lines?: string[]; partial?: boolean; tls: boolean };

export interface Pop3Response {
  status: '+OK' | '-ERR';
  text: string;
  code?: string;
}

/** What one POP3 event of a connection must hold, in order. */
/** The `pop3` fields an event and its expectation share (and name alike). */
interface Pop3Shared {
  greeting?: boolean;
  command?: string;
  arguments?: string;
  username?: string;
  auth?: { mechanism: string; username?: string; steps: number };
  response?: Pop3Response;
  maildrop?: { messages: number; size: number };
  listing?: Array<{ number: number; size?: number; uid?: string }>;
  capabilities?: string[];
  message_number?: number;
}

export interface ExpectedPop3 extends Pop3Shared {
  kind: 'message' | 'exchange' | 'unanswered';
  /** RETR/TOP: the message's bytes, dot-unstuffed, as the client got them */
  message?: Buffer;
  /** the connection ended inside the response (the client gave up) */
  incomplete?: boolean;
  /** sent inside TLS */
  tls: boolean;
}

/** A status line as the contract reads it: the status, the text after it and one space, and the RFC 2449 code in brackets at its start. */
export function toResponse(line: string): Pop3Response {
  const m = /^(\+OK|-ERR)(?: (.*))?$/.exec(line);
  if (!m) throw new Error(`not a status line: ${line}`);
  const text = m[2] ?? '';
  const code = /^\[([^\]]+)\]/.exec(text)?.[1];
  return code === undefined ? { status: m[1] as Pop3Response['status'], text } : { status: m[1] as Pop3Response['status'], text, code };
}

/** The lines of a multi-line response, dot-unstuffed. */
export const unstuff = (lines: string[]) => lines.map((l) => (l.startsWith('.') ? l.slice(1) : l));

const b64 = (s: string) => Buffer.from(s, 'base64').toString('utf8');
const NUMBERED = new Set(['RETR', 'TOP', 'DELE', 'LIST', 'UIDL']);

/**
 * The POP3 events a connection's transcript must give, in order: the
 * greeting, then every command with its response (responses answer commands
 * in the order sent, pipelined or not). A "+ " line answers AUTH with a
 * challenge (a step), and the line the client sends after it is an answer,
 * not a command. Commands left without a response at the end are unanswered
 * (QUIT a message), a response the client gave up in the middle of incomplete.
 */
export function expectedFromTranscript(items: Pop3Item[]): ExpectedPop3[] {
  const out: ExpectedPop3[] = [];
  const queue: Array<ExpectedPop3 & { answers: string[]; initial?: string }> = [];
  let greeted = false;
  let authAnswer = false;
  const finish = (p: ExpectedPop3 & { answers: string[]; initial?: string }): ExpectedPop3 => {
    const { answers, initial, ...x } = p;
    if (x.command === 'AUTH') {
      // the user name: PLAIN's authcid (authzid NUL authcid NUL password), LOGIN's first answer
      const mechanism = x.auth!.mechanism;
      const first = initial ?? answers[0];
      let username: string | undefined;
      if (first !== undefined && mechanism === 'PLAIN') username = b64(first).split('\0')[1];
      else if (first !== undefined && mechanism === 'LOGIN') username = b64(first);
      x.auth = { mechanism, ...(username === undefined ? {} : { username }), steps: x.auth!.steps };
      if (username !== undefined) x.username = username;
    }
    return x;
  };
  for (const item of items) {
    if (item.from === 'server') {
      if (!greeted) {
        greeted = true;
        out.push({ kind: 'message', greeting: true, response: toResponse(item.line), tls: item.tls });
        continue;
      }
      const head = queue[0];
      if (!head) throw new Error(`a response no command asked for: ${item.line}`);
      if (head.command === 'AUTH' && (item.line === '+' || item.line.startsWith('+ '))) {
        head.auth!.steps++;
        authAnswer = true;
        continue;
      }
      authAnswer = false;
      queue.shift();
      const response = toResponse(item.line);
      head.response = response;
      if (item.partial) head.incomplete = true;
      if (response.status === '+OK') {
        const lines = item.lines && unstuff(item.lines);
        const arg = head.arguments;
        switch (head.command) {
          case 'STAT': {
            const m = /^(\d+) (\d+)/.exec(response.text)!;
            head.maildrop = { messages: Number(m[1]), size: Number(m[2]) };
            break;
          }
          case 'LIST':
          case 'UIDL': {
            // LIST/UIDL n answer on the status line, without an argument in lines
            const entries = arg === undefined ? lines! : [response.text];
            head.listing = entries.map((l) => {
              const [n, v] = l.split(' ');
              return head.command === 'LIST' ? { number: Number(n), size: Number(v) } : { number: Number(n), uid: v! };
            });
            break;
          }
          case 'CAPA':
            head.capabilities = lines!;
            break;
          case 'RETR':
          case 'TOP':
            head.message = Buffer.from((lines ?? []).map((l) => `${l}\r\n`).join(''));
            break;
        }
      }
      out.push(finish(head));
      continue;
    }
    if (authAnswer) {
      authAnswer = false;
      queue[0]!.answers.push(item.text);
      continue;
    }
    const m = /^(\S+)(?: (.*))?$/.exec(item.text)!;
    const command = m[1]!.toUpperCase();
    const args = m[2] === '' ? undefined : m[2];
    const x: ExpectedPop3 & { answers: string[]; initial?: string } = { kind: 'exchange', command, tls: item.tls, answers: [] };
    if (command === 'PASS') {
      // never kept
    } else if (command === 'AUTH') {
      const [mechanism, initial] = (args ?? '').split(' ');
      x.arguments = mechanism;
      x.auth = { mechanism: mechanism!.toUpperCase(), steps: 0 };
      if (initial !== undefined) x.initial = initial;
    } else if (command === 'APOP') {
      x.arguments = args?.split(' ')[0];
      x.username = x.arguments;
    } else if (args !== undefined) {
      x.arguments = args;
    }
    if (command === 'USER' && args !== undefined) x.username = args;
    if (NUMBERED.has(command) && args !== undefined && /^\d+$/.test(args.split(' ')[0]!)) x.message_number = Number(args.split(' ')[0]);
    queue.push(x);
  }
  for (const p of queue) out.push({ ...finish(p), kind: p.command === 'QUIT' ? 'message' : 'unanswered' });
  return out;
}

// ---------------------------------------------------------------------------
// A message as the event must give it

/** The default body limit of the parse pipeline (64 KiB). */
export { MAX_BODY } from './smtp-server.js';
export type Pop3Message = SmtpMessage;

/**
 * The message an event must give of `data` (the bytes RETR or TOP returned,
 * dot-unstuffed): as smtp.message is read (expectedMessage in smtp-server.ts),
 * except that an empty body (TOP n 0) is its size alone, as the body reader
 * gives it.
 */
export function expectedPop3Message(data: Buffer): Pop3Message {
  const m = expectedMessage(data);
  if (m.body.size === 0) m.body = { size: 0 };
  return m;
}

// ---------------------------------------------------------------------------
// The client traffic of the POP3 live and oracle tests

export type Pop3Mode = 'plain' | 'refused' | 'auth-plain' | 'auth-login' | 'pipeline' | 'stls' | 'abandoned';

export interface Pop3Run {
  name: Pop3Mode;
  result: ClientResult;
  transcript: Pop3Item[];
  /** the client's port */
  port: number;
  /** what client.py printed */
  py: Record<string, any>;
}

export interface Pop3ScenarioResult {
  port: number;
  /** one connection each, in the order they ran */
  runs: Pop3Run[];
  /** the logins Dovecot logged, one per run */
  logins: LoginRecord[];
  /** the TLS key log of the STLS session (NSS format) */
  keylog: string;
}

/** The modes pop3Scenario runs, in order (see client.py). */
export const POP3_MODES: Pop3Mode[] = ['plain', 'refused', 'auth-plain', 'auth-login', 'pipeline', 'stls', 'abandoned'];

/** Runs client.py in `mode` against `server`. */
export async function runPop3Client(server: Dovecot, mode: Pop3Mode, keylog: string): Promise<Pop3Run> {
  const cfg = { user: EVE.user, password: EVE.password, wrong: WRONG_PASSWORD, keylog, messages: MESSAGES.length, big: messageNumber('big') };
  const result = await runClient(PYTHON, [POP3_CLIENT, mode, String(server.port), JSON.stringify(cfg)], 20_000, server.dir);
  if (result.code !== 0) throw new Error(`client.py ${mode}: exit ${result.code}${result.timedOut ? ' (timed out)' : ''}: ${result.stderr.trim()}\n${result.stdout.slice(-2000)}\n${server.log.slice(-2000)}`);
  const py = JSON.parse(result.stdout) as Record<string, any>;
  return { name: mode, result, transcript: py.log, port: py.port, py };
}

/**
 * Drives the traffic of the live and oracle tests against `server` (eve's
 * maildrop MESSAGES), one connection at a time, while the caller captures
 * (client.py's modes, in order):
 *  (1) plain: CAPA, USER/PASS, STAT, LIST, LIST 1, UIDL, UIDL 2, RETR of each
 *      message, TOP 1 0, NOOP, DELE 3, RSET, QUIT (so nothing is deleted);
 *  (2) refused: USER, PASS wrong (-ERR [AUTH]), QUIT;
 *  (3) auth-plain: AUTH PLAIN with an initial response, STAT, QUIT;
 *  (4) auth-login: AUTH LOGIN, two "+ " challenges, STAT, QUIT;
 *  (5) pipeline: USER/PASS, then STAT, LIST, UIDL, LIST 99 (-ERR), RETR 2 in
 *      one write, QUIT;
 *  (6) stls: CAPA, STLS, then inside TLS 1.3 (key log written) CAPA,
 *      USER/PASS, STAT, RETR 1, QUIT;
 *  (7) abandoned: USER/PASS, RETR of the big message, the connection closed
 *      after the status line (a 4 KiB receive window: the message's end never
 *      reaches the wire).
 */
export async function pop3Scenario(server: Dovecot, modes: Pop3Mode[] = POP3_MODES): Promise<Pop3ScenarioResult> {
  const keylog = join(server.dir, 'keys.log');
  const before = server.logins().length;
  const runs: Pop3Run[] = [];
  for (const mode of modes) runs.push(await runPop3Client(server, mode, keylog));
  const logins = (await server.waitLogins(before + runs.length)).slice(before);
  return { port: server.port, runs, logins, keylog };
}

// ---------------------------------------------------------------------------
// The typed view of a POP3 event the live and oracle tests read

export interface Pop3Fields {
  client: { port: number };
  server: { port: number };
  network: { protocol: { name: string } };
  pop3: Pop3Shared & { message?: Pop3Message };
  tls?: { decrypted?: boolean };
  error?: { type: string };
}

export type Pop3Event = PanoEvent & Pop3Fields;
