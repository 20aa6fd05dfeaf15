/**
 * A private FTP server per test file (pyftpdlib 1.5.7, Debian's
 * python3-pyftpdlib, with its TLS handler on python3-openssl:
 * test/fixtures/ftp/server.py) on 127.0.0.1, and the FTP client traffic the
 * FTP live and oracle tests share (ftpScenario: test/fixtures/ftp/client.py,
 * Python's ftplib, one control connection per mode), with what its
 * transcript says the events must be.
 *
 * Everything is in a temp dir: the server's script config, a self-signed
 * certificate (AUTH TLS), the one user's home (eve's: CONTACTS and the big
 * log seeded there), the server's records (logins and files sent or
 * received, with the client's control port, never a password) and the
 * capture.
 *
 * The data connections' ports are known in advance so that the capture
 * filter can name them (captureFilter): PASV and EPSV open one of
 * PASSIVE_PORTS ports of a range (pyftpdlib's passive_ports), and the client
 * listens for PORT and for EPRT on the two ports after them. The range is
 * below the kernel's ephemeral ports (ip_local_port_range starts at 32768),
 * so no connection gets one as its source port, and it is reserved across
 * test processes (a lock file per range, in the temp dir, naming the
 * process: the FTP live and oracle files may run at once, and one's data
 * ports in the other's capture would be connections nobody announced). A
 * lock whose process is gone is taken over.
 *
 * start() returns once pyftpdlib has logged the end of waitReady's probe
 * connection, whose greeting would otherwise, under load, land in the
 * capture started next. The server runs under setpriv --pdeathsig, so a test
 * process that dies without stopping it takes it along.
 */
import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PanoEvent } from '@panopticon/events';
import { freePort, tcpdumpAvailable } from './loopback-capture.js';
import { runClient, type ClientResult } from './client-process.js';
import { inTempDir, ServerProcess, sleep } from './server-process.js';
import { expectedBody, MAX_BODY, type Body } from './smtp-server.js';

export { MAX_BODY };

/** The Debian python with python3-pyftpdlib and python3-openssl (not whatever python3 the PATH finds first). */
export const PYTHON = '/usr/bin/python3';
export const OPENSSL = '/usr/bin/openssl';
const SETPRIV = '/usr/bin/setpriv';
export const FTP_SERVER = join(import.meta.dirname, '../fixtures/ftp/server.py');
export const FTP_CLIENT = join(import.meta.dirname, '../fixtures/ftp/client.py');

/** The greeting's text (server.py's banner). */
export const GREETING = 'pyftpdlib ready.';
/** The certificate's name. */
export const SERVER_NAME = 'ftp.example.test';

/** The account, and the password it is refused with. */
export const EVE = { user: 'eve', password: 's3cret-pass' };
export const WRONG_PASSWORD = 'not-her-pass';

/** How many ports PASV and EPSV choose from. */
export const PASSIVE_PORTS = 12;

/** What an FTP live test needs that is not installed (tcpdump included). */
export function ftpMissing(): string[] {
  const missing: string[] = [];
  if (!existsSync(PYTHON)) missing.push('python3');
  else {
    if (spawnSync(PYTHON, ['-c', 'import pyftpdlib.handlers'], { stdio: 'ignore' }).status !== 0) missing.push('python3-pyftpdlib');
    if (spawnSync(PYTHON, ['-c', 'import OpenSSL.SSL'], { stdio: 'ignore' }).status !== 0) missing.push('python3-openssl');
  }
  if (!existsSync(OPENSSL)) missing.push('openssl');
  if (!tcpdumpAvailable()) missing.push('tcpdump');
  return missing;
}

// ---------------------------------------------------------------------------
// The files

/** The CSV the server holds: names, email addresses and phone numbers. */
export const CONTACTS_FILE = 'contacts.csv';
export const CONTACTS = [
  'name,email,phone',
  'Ivy Chen,ivy.chen@example.org,+1 415 555 0142',
  'Oscar Diaz,oscar.diaz@example.net,+1 212 555 0199',
  'Zoë Müller,zoe.mueller@example.com,+49 30 5550 1234',
  '',
].join('\n');
/** The text file the client stores (STOR), then appends to (APPE). */
export const NOTE = 'Call Ivy back at +1 415 555 0142 about the invoices.\n';
export const APPENDED = 'Or write to ivy.chen@example.org before Friday.\n';
/** The ~200 KB file (over the 64 KiB body limit). */
export const BIG_FILE = 'backup.log';
/** A file that is not there: RETR is refused (550). */
export const MISSING_FILE = 'missing.txt';

export function bigLog(): string {
  const lines: string[] = [];
  let size = 0;
  for (let i = 0; size < 200_000; i++) {
    const line = `${String(i).padStart(6, '0')} backup of /srv/share/projects/file-${i % 97}.dat: ok\n`;
    lines.push(line);
    size += line.length;
  }
  return lines.join('');
}

// ---------------------------------------------------------------------------
// Data ports reserved across test processes

/** Ranges of 16 ports from 20000 (below the ephemeral ports), one lock file each. */
const RANGE_BASE = 20_000;
const RANGE_SIZE = 16;
const RANGES = 700;
const LOCK_DIR = join(tmpdir(), `pano-ftp-ports-${process.getuid?.() ?? 0}`);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The lock file of a range, made for this process; false when a live process holds it. */
function lock(file: string): boolean {
  try {
    writeFileSync(file, String(process.pid), { flag: 'wx' });
    return true;
  } catch {
    const pid = Number(readFileSync(file, 'utf8'));
    if (pid > 0 && alive(pid)) return false;
    rmSync(file, { force: true });
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' });
      return true;
    } catch {
      return false;
    }
  }
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** A range of RANGE_SIZE ports nobody holds, reserved for this process until release(). */
async function reserveRange(): Promise<{ base: number; release: () => void }> {
  mkdirSync(LOCK_DIR, { recursive: true });
  const first = Math.floor(Math.random() * RANGES);
  for (let i = 0; i < RANGES; i++) {
    const base = RANGE_BASE + ((first + i) % RANGES) * RANGE_SIZE;
    const file = join(LOCK_DIR, String(base));
    if (!lock(file)) continue;
    const free = await Promise.all(Array.from({ length: RANGE_SIZE }, (_, k) => bindable(base + k)));
    if (free.every(Boolean)) return { base, release: () => rmSync(file, { force: true }) };
    rmSync(file, { force: true });
  }
  throw new Error('no free port range for the FTP data connections');
}

// ---------------------------------------------------------------------------
// The server

/** What the server recorded: a login (or a refused one), a file sent or received. */
export interface FtpRecord {
  type: 'login' | 'login_failed' | 'sent' | 'received' | 'incomplete_sent' | 'incomplete_received';
  /** the client's control port */
  peer_port: number;
  user?: string;
  /** the file's path on disk */
  file?: string;
}

export class FtpServer extends ServerProcess {
  private constructor(
    port: number,
    dir: string,
    proc: ChildProcess,
    /** the first port of the reserved range: PASSIVE_PORTS passive ports, then PORT's and EPRT's */
    readonly dataBase: number,
    private readonly release: () => void,
  ) {
    super(port, dir, proc, 'pyftpdlib');
  }

  /** Starts pyftpdlib in a new temp dir, eve's home seeded; resolves once it accepts connections. */
  static async start(): Promise<FtpServer> {
    return inTempDir('pano-ftp-', async (dir) => {
      const { base, release } = await reserveRange();
      try {
        const port = await freePort();
        const cert = { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') };
        execFileSync(OPENSSL, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '30',
          '-subj', `/CN=${SERVER_NAME}`, '-keyout', cert.key, '-out', cert.cert], { stdio: 'pipe' });
        const root = join(dir, 'home');
        mkdirSync(root);
        writeFileSync(join(root, CONTACTS_FILE), CONTACTS);
        writeFileSync(join(root, BIG_FILE), bigLog());
        const cfg = {
          port,
          root,
          user: EVE.user,
          password: EVE.password,
          passive_ports: Array.from({ length: PASSIVE_PORTS }, (_, i) => base + i),
          ...cert,
          record: join(dir, 'records.jsonl'),
        };
        const argv = [PYTHON, FTP_SERVER, JSON.stringify(cfg)];
        const proc = existsSync(SETPRIV)
          ? spawn(SETPRIV, ['--pdeathsig', 'TERM', ...argv], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
          : spawn(argv[0]!, argv.slice(1), { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
        const server = new FtpServer(port, dir, proc, base, release);
        await server.waitReady((log) => log.includes('ready'), 400);
        // waitReady's probe (opened and closed at once) is greeted, later under load: once its end is
        // logged, none of it can land in a capture started next
        try {
          await server.waitLog(/FTP session closed/);
        } catch (e) {
          await server.stop();
          throw e;
        }
        return server;
      } catch (e) {
        release();
        throw e;
      }
    });
  }

  /** The ports PASV and EPSV may open. */
  get passivePorts(): number[] {
    return Array.from({ length: PASSIVE_PORTS }, (_, i) => this.dataBase + i);
  }

  /** The ports the client listens on for PORT and for EPRT. */
  get activePorts(): [number, number] {
    return [this.dataBase + PASSIVE_PORTS, this.dataBase + PASSIVE_PORTS + 1];
  }

  /** The control connection and every data connection: the control port, the passive ports and the client's active ones. */
  get captureFilter(): string {
    return `tcp and (port ${this.port} or portrange ${this.dataBase}-${this.dataBase + PASSIVE_PORTS + 1})`;
  }

  /** eve's home. */
  get root(): string {
    return join(this.dir, 'home');
  }

  /** Waits until the log matches `what` (throws after `timeoutMs`). */
  async waitLog(what: RegExp, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!what.test(this.log)) {
      if (this.process.exitCode !== null) throw new Error(`pyftpdlib exited while waiting for ${what}: ${this.log.slice(-2000)}`);
      if (Date.now() > deadline) throw new Error(`pyftpdlib did not log ${what}: ${this.log.slice(-2000)}`);
      await sleep(10);
    }
  }

  /** What the server recorded so far, in order. */
  records(): FtpRecord[] {
    const file = join(this.dir, 'records.jsonl');
    if (!existsSync(file)) return [];
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l)
      .map((l) => JSON.parse(l) as FtpRecord);
  }

  /** Stops the server, removes its dir and gives its port range back. */
  override async stop(): Promise<void> {
    try {
      await super.stop();
    } finally {
      this.release();
    }
  }
}

// ---------------------------------------------------------------------------
// Transcripts: what the client sent and got back, and each data connection

/** One line the client sent, or one reply it got: its lines as received (the first and the last starting with the code). */
export type FtpItem = { from: 'client'; text: string; tls: boolean } | { from: 'server'; lines: string[]; tls: boolean };

/** How a data connection was set up. */
export type Setup = 'PASV' | 'EPSV' | 'PORT' | 'EPRT';

/** One data connection the client opened or accepted, and what went over it. */
export interface FtpTransfer {
  /** the transfer command as sent ("RETR contacts.csv") */
  command: string;
  setup: Setup;
  /** the client's end (for PORT and EPRT its listening port) */
  client_port?: number;
  /** the server's end (for PASV and EPSV the passive port) */
  server_port?: number;
  /** the bytes that went over it (absent when refused) */
  data?: Buffer;
  /** inside TLS (PROT P) */
  tls: boolean;
  /** the command was refused: no byte went over the connection */
  refused?: boolean;
}

export interface Reply {
  code: number;
  text: string;
}

/** A reply's code and text as the events give it: the lines' texts joined with newlines (the first and the last without their code). */
export function toReply(lines: string[]): Reply {
  const code = Number(lines[0]!.slice(0, 3));
  const last = lines.length - 1;
  const text = lines.map((l, i) => (i === 0 || (i === last && l.startsWith(String(code))) ? l.slice(4) : l)).join('\n');
  return { code, text };
}

/** Commands that move data over a data connection, and which way. */
export const TRANSFERS: Readonly<Record<string, 'download' | 'upload' | 'listing'>> = {
  RETR: 'download', STOR: 'upload', STOU: 'upload', APPE: 'upload', LIST: 'listing', NLST: 'listing', MLSD: 'listing',
};

/** A command line's verb (upper-cased) and the rest. */
export function splitCommand(text: string): { verb: string; args?: string } {
  const sp = text.indexOf(' ');
  const verb = (sp < 0 ? text : text.slice(0, sp)).toUpperCase();
  const args = sp < 0 ? undefined : text.slice(sp + 1);
  return { verb, ...(args ? { args } : {}) };
}

/** Where a data connection will be, as ftp.data_connection must give it. */
export interface DataConnection {
  address: string;
  port: number;
  mode: 'passive' | 'active';
}

/** PASV's reply or PORT's argument: `h1,h2,h3,h4,p1,p2`. */
export function hostPort(text: string): { address: string; port: number } {
  const m = /(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)/.exec(text);
  if (!m) throw new Error(`no h1,h2,h3,h4,p1,p2 in ${text}`);
  return { address: m.slice(1, 5).join('.'), port: Number(m[5]) * 256 + Number(m[6]) };
}

/** What one FTP control event of a connection must hold, in order. */
/** The `ftp` fields a control event and its expectation share (and name alike). */
interface FtpShared {
  greeting?: boolean;
  command?: string;
  arguments?: string;
  username?: string;
  reply?: Reply;
  preliminary_reply?: Reply;
  data_connection?: DataConnection;
}

export interface ExpectedFtp extends FtpShared {
  kind: 'message' | 'exchange' | 'unanswered';
  /** sent inside TLS (after AUTH TLS) */
  tls: boolean;
}

/**
 * The FTP control events a connection's transcript must give, in order: the
 * greeting, then every command with its reply (in order); a transfer
 * command's 1xx is its preliminary reply. PASS keeps no arguments; USER's is
 * the username; PASV's and EPSV's replies and PORT's and EPRT's arguments are
 * the data connection (EPSV's address the control connection's server's,
 * `server`). Commands left without a reply are unanswered (QUIT a message).
 */
export function expectedFromTranscript(items: FtpItem[], server: string): ExpectedFtp[] {
  const out: ExpectedFtp[] = [];
  const queue: ExpectedFtp[] = [];
  let greeted = false;
  for (const item of items) {
    if (item.from === 'server') {
      const reply = toReply(item.lines);
      if (!greeted) {
        greeted = true;
        out.push({ kind: 'message', greeting: true, reply, tls: item.tls });
        continue;
      }
      const head = queue[0];
      if (!head) throw new Error(`a reply no command asked for: ${item.lines.join(' | ')}`);
      if (reply.code < 200 && TRANSFERS[head.command!]) {
        head.preliminary_reply = reply;
        continue;
      }
      queue.shift();
      head.reply = reply;
      if (head.command === 'PASV' && reply.code === 227) head.data_connection = { ...hostPort(reply.text), mode: 'passive' };
      if (head.command === 'EPSV' && reply.code === 229) head.data_connection = { address: server, port: Number(/\(\|\|\|(\d+)\|\)/.exec(reply.text)![1]), mode: 'passive' };
      out.push(head);
      continue;
    }
    const { verb, args } = splitCommand(item.text);
    const x: ExpectedFtp = { kind: 'exchange', command: verb, tls: item.tls };
    if (verb !== 'PASS' && verb !== 'ACCT' && args !== undefined) x.arguments = args;
    if (verb === 'USER' && args !== undefined) x.username = args;
    if (verb === 'PORT') x.data_connection = { ...hostPort(args!), mode: 'active' };
    if (verb === 'EPRT') {
      const [, af, address, port] = args!.split(args![0]!);
      if (af !== '1') throw new Error(`EPRT ${args}: not IPv4`);
      x.data_connection = { address: address!, port: Number(port), mode: 'active' };
    }
    queue.push(x);
  }
  for (const x of queue) out.push({ ...x, kind: x.command === 'QUIT' ? 'message' : 'unanswered' });
  return out;
}

/** What a data connection's ftp-data event must hold. */
export interface ExpectedTransfer {
  command: string;
  path?: string;
  direction: 'download' | 'upload' | 'listing';
  mode: 'passive' | 'active';
  body: Body;
}

/** The ftp.transfer a data connection's event must give. */
export function expectedTransfer(t: FtpTransfer): ExpectedTransfer {
  const { verb, args } = splitCommand(t.command);
  const direction = TRANSFERS[verb];
  if (!direction || !t.data) throw new Error(`not a transfer: ${t.command}`);
  return {
    command: verb,
    ...(args === undefined ? {} : { path: args }),
    direction,
    mode: t.setup === 'PASV' || t.setup === 'EPSV' ? 'passive' : 'active',
    body: expectedBody(t.data),
  };
}

/** The two ends of a data connection as its event gives them (client, server): for PORT and EPRT the server connects to the client. */
export function transferEnds(t: FtpTransfer): { client: number; server: number } {
  return t.setup === 'PASV' || t.setup === 'EPSV' ? { client: t.client_port!, server: t.server_port! } : { client: t.server_port!, server: t.client_port! };
}

// ---------------------------------------------------------------------------
// The client traffic of the FTP live and oracle tests

export type FtpMode = 'plain' | 'refused' | 'tls';

export interface FtpRun {
  name: FtpMode;
  result: ClientResult;
  transcript: FtpItem[];
  transfers: FtpTransfer[];
  /** the client's control port */
  port: number;
  /** what client.py printed */
  py: Record<string, any>;
}

export interface FtpScenarioResult {
  port: number;
  /** one control connection each, in the order they ran */
  runs: FtpRun[];
  /** what the server recorded (logins, files sent and received) */
  records: FtpRecord[];
  /** the TLS key log of the AUTH TLS session (NSS format) */
  keylog: string;
  /** the big file's bytes */
  big: Buffer;
}

/** The modes ftpScenario runs, in order (see client.py). */
export const FTP_MODES: FtpMode[] = ['plain', 'refused', 'tls'];

/** Runs client.py in `mode` against `server`. */
export async function runFtpClient(server: FtpServer, mode: FtpMode, keylog: string): Promise<FtpRun> {
  const cfg = {
    user: EVE.user,
    password: EVE.password,
    wrong: WRONG_PASSWORD,
    keylog,
    files: { contacts: CONTACTS_FILE, big: BIG_FILE, missing: MISSING_FILE },
    note: Buffer.from(NOTE).toString('base64'),
    appended: Buffer.from(APPENDED).toString('base64'),
    active_ports: server.activePorts,
  };
  const result = await runClient(PYTHON, [FTP_CLIENT, mode, String(server.port), JSON.stringify(cfg)], 20_000, server.dir);
  if (result.code !== 0) throw new Error(`client.py ${mode}: exit ${result.code}${result.timedOut ? ' (timed out)' : ''}: ${result.stderr.trim()}\n${result.stdout.slice(-2000)}\n${server.log.slice(-2000)}`);
  const py = JSON.parse(result.stdout) as Record<string, any>;
  const transfers = (py.transfers as Array<Omit<FtpTransfer, 'data'> & { data?: string }>).map(({ data, ...t }): FtpTransfer => (data === undefined ? t : { ...t, data: Buffer.from(data, 'base64') }));
  return { name: mode, result, transcript: py.log, transfers, port: py.port, py };
}

/**
 * Drives the traffic of the live and oracle tests against `server`, one
 * control connection at a time, while the caller captures (client.py's
 * modes, in order):
 *  (1) plain: USER/PASS, FEAT, SYST, PWD, LIST, NLST, MLSD, RETR of CONTACTS
 *      (each after TYPE and PASV), MKD, CWD, STOR of NOTE, APPE of APPENDED,
 *      SIZE, MDTM, RNFR/RNTO, LIST of a path, CDUP, RETR in active mode
 *      (PORT), RETR after EPSV, NLST after EPRT, RETR of a missing file (550),
 *      RETR of the ~200 KB file, DELE, RMD, QUIT;
 *  (2) refused: USER, PASS wrong (530), QUIT;
 *  (3) tls: AUTH TLS, then inside TLS 1.3 (key log written) USER/PASS, PBSZ,
 *      PROT P, LIST and RETR of CONTACTS over TLS data connections, QUIT.
 */
export async function ftpScenario(server: FtpServer, modes: FtpMode[] = FTP_MODES): Promise<FtpScenarioResult> {
  const keylog = join(server.dir, 'keys.log');
  const runs: FtpRun[] = [];
  for (const mode of modes) runs.push(await runFtpClient(server, mode, keylog));
  // with every passive port taken, pyftpdlib would take one from the kernel: outside the capture filter
  if (server.log.includes("Can't find a valid passive port")) throw new Error(`pyftpdlib left the passive port range: ${server.log.slice(-2000)}`);
  // pyftpdlib records a login or a transfer in the step that answers it, before it reads the next
  // command: all are recorded once QUIT is answered
  return { port: server.port, runs, records: server.records(), keylog, big: readFileSync(join(server.root, BIG_FILE)) };
}

// ---------------------------------------------------------------------------
// The typed view of an FTP event the live and oracle tests read

export interface FtpFields {
  client: { address: string; port: number };
  server: { address: string; port: number };
  network: { protocol: { name: string } };
  ftp: FtpShared & { transfer?: { command?: string; path?: string; direction?: string; mode?: string; body: Body } };
  tls?: { decrypted?: boolean };
  error?: { type: string };
}

export type FtpEvent = PanoEvent & FtpFields;
