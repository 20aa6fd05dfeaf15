/**
 * A private nats-server per test file (Debian's nats-server 2.9) on a free
 * loopback port, its config in a temp dir: two users (ann; bob, who may not
 * publish to secret.>) and any nkey users asked for, JetStream with its
 * store in that dir, and the protocol trace on (debug and trace to standard
 * error, which ServerProcess keeps). The trace logs every operation the
 * server reads (`<<- [PUB subj reply 5]`, then `<<- MSG_PAYLOAD: ["hello"]`)
 * and writes (`->> [MSG subj 1 5]`, `->> [OK]`, `->> [-ERR text]`), each with
 * the client's address and port and the connection's cid (the client_id of
 * its INFO): the record of what went over each connection that a live test
 * checks the events against (natsTrace).
 *
 * Also: a raw-socket client for what the nats client will not send (verbose
 * mode), and the TCP segments of a capture, to cut a connection's start off
 * (a parser joining mid-stream).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import { CaptureReader, PcapWriter, type Packet } from '@panopticon/pcap';
import { Decoder } from '@panopticon/decode';
import { freePort, tcpdumpAvailable } from './loopback-capture.js';
import { inTempDir, ServerProcess, sleep } from './server-process.js';

export const NATS_SERVER = '/usr/sbin/nats-server';

/** The users of the server's config: ann may do anything, bob may not publish to secret.>. */
export const ANN = { user: 'ann', pass: 's3cret' };
export const BOB = { user: 'bob', pass: 'b0b' };
/** The subjects bob may not publish to. */
export const BOB_DENIED = 'secret.>';

/** What a NATS live test needs that is not installed (tcpdump included). */
export function natsMissing(): string[] {
  const missing = existsSync(NATS_SERVER) ? [] : ['nats-server'];
  if (!tcpdumpAvailable()) missing.push('tcpdump');
  return missing;
}

export interface NatsServerOptions {
  /** The server's max_payload (bytes); its default is 1 MiB. */
  maxPayload?: number;
  /** JetStream on, its store in the server's dir (default true). */
  jetstream?: boolean;
  /** Public keys of users who sign the server's nonce (nkeys): the server then puts a nonce in every INFO. */
  nkeys?: string[];
  /** A websocket listener (no TLS) on this port of 127.0.0.1 too. */
  websocketPort?: number;
}

/** One operation of the server's protocol trace. */
export interface TraceOp {
  /** The client's port: its connection in a capture. */
  port: number;
  /** The connection's id, as its INFO gave it (client_id). */
  cid: number;
  /** `in`: the server read it (`<<-`); `out`: the server wrote it (`->>`). */
  dir: 'in' | 'out';
  /** As traced: CONNECT, PUB, HPUB, SUB, UNSUB, PING, PONG, MSG, HMSG, OK (for +OK), -ERR. */
  op: string;
  /** The rest of the line as traced, after the operation and one space (an -ERR's text without its quotes). */
  args: string;
  /** PUB, HPUB: the payload (header block and body) the server read after the line. */
  payload?: string;
}

/** A client connection as the trace shows it: its CONNECT's JSON (the password "[REDACTED]") and every operation. */
export interface TraceConnection {
  port: number;
  cid: number;
  connect?: Record<string, unknown>;
  ops: TraceOp[];
}

const TRACE = /^\[\d+\] \S+ \S+ \[TRC\] [\d.]+:(\d+) - cid:(\d+) - (?:"[^"]*" - )?(<<-|->>) (.*)$/;

/**
 * The operations of a nats-server trace (`trace: true`, `logtime: true`),
 * client connections only (the server's internal clients, `ACCOUNT - <<- ...`,
 * and `<->` subscription bookkeeping left out), in the order logged.
 */
export function natsTrace(log: string): TraceOp[] {
  const ops: TraceOp[] = [];
  for (const line of log.split('\n')) {
    const m = TRACE.exec(line);
    if (!m) continue;
    const [, port, cid, arrow, rest] = m;
    if (rest!.startsWith('MSG_PAYLOAD: ')) {
      const last = ops.findLast((o) => o.cid === Number(cid) && o.dir === 'in');
      if (last) last.payload = (goQuoted(rest!.slice('MSG_PAYLOAD: '.length)) as string[])[0];
      continue;
    }
    const inner = /^\[(.*)\]$/.exec(rest!)?.[1];
    if (inner === undefined) continue;
    const sp = inner.indexOf(' ');
    ops.push({ port: Number(port), cid: Number(cid), dir: arrow === '<<-' ? 'in' : 'out', op: sp < 0 ? inner : inner.slice(0, sp), args: sp < 0 ? '' : inner.slice(sp + 1) });
  }
  return ops;
}

/** The client connections of a trace, by cid. */
export function traceConnections(ops: TraceOp[]): Map<number, TraceConnection> {
  const out = new Map<number, TraceConnection>();
  for (const o of ops) {
    let c = out.get(o.cid);
    if (!c) out.set(o.cid, (c = { port: o.port, cid: o.cid, ops: [] }));
    c.ops.push(o);
    if (o.op === 'CONNECT') c.connect = JSON.parse(o.args) as Record<string, unknown>;
  }
  return out;
}

/** A Go %q literal (as nats-server traces payloads) as JavaScript: JSON but for \xHH, \a and \v. */
function goQuoted(text: string): unknown {
  return JSON.parse(text.replace(/\\(x[0-9a-fA-F]{2}|.)/g, (all, e: string) => (e[0] === 'x' ? `\\u00${e.slice(1)}` : e === 'a' ? '\\u0007' : e === 'v' ? '\\u000b' : all)));
}

/** The bytes of a traced operation's line on the wire, CRLF included (-ERR's text is quoted there, `+OK` written in full). */
export function wireLineBytes(o: TraceOp): number {
  const line = o.op === '-ERR' ? `-ERR '${o.args}'` : o.op === 'OK' ? '+OK' : o.args === '' ? o.op : `${o.op} ${o.args}`;
  return Buffer.byteLength(line) + 2;
}

/** The bytes of a traced PUB, MSG ... on the wire: its line, its payload (the line's last number) and the CRLF after it. */
export function wireMessageBytes(o: TraceOp): number {
  return wireLineBytes(o) + Number(o.args.split(' ').at(-1)) + 2;
}

export class NatsServer extends ServerProcess {
  private constructor(port: number, dir: string, proc: ChildProcess) {
    super(port, dir, proc, 'nats-server');
  }

  /**
   * Starts nats-server with its own config in a new temp dir (see the file's
   * comment). Resolves once it accepts connections and has logged the end of
   * waitReady's probe connection, which would otherwise, under load, land in
   * a capture started next.
   */
  static async start(opts: NatsServerOptions = {}): Promise<NatsServer> {
    return inTempDir('pano-nats-', async (dir) => {
      const port = await freePort();
      const user = (u: { user: string; pass: string }, extra = '') => `    { user: "${u.user}", password: "${u.pass}"${extra} }`;
      const conf = [
        `listen: "127.0.0.1:${port}"`,
        'server_name: "pano-nats"',
        'debug: true',
        'trace: true',
        'logtime: true',
        'authorization {',
        '  users = [',
        user(ANN),
        user(BOB, `, permissions: { publish: { deny: ["${BOB_DENIED}"] } }`),
        ...(opts.nkeys ?? []).map((k) => `    { nkey: "${k}" }`),
        '  ]',
        '}',
      ];
      if (opts.maxPayload !== undefined) conf.push(`max_payload: ${opts.maxPayload}`);
      if (opts.websocketPort !== undefined) conf.push(`websocket { listen: "127.0.0.1:${opts.websocketPort}", no_tls: true }`);
      if (opts.jetstream ?? true) conf.push(`jetstream { store_dir: "${join(dir, 'js')}", max_memory_store: 64MB, max_file_store: 64MB }`);
      const file = join(dir, 'nats.conf');
      writeFileSync(file, conf.join('\n') + '\n');
      const proc = spawn(NATS_SERVER, ['-c', file], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
      const server = new NatsServer(port, dir, proc);
      await server.waitReady((log) => log.includes('Server is ready'));
      await server.untilLogged(/Client connection closed/);
      return server;
    });
  }

  /** `127.0.0.1:<port>`, as the nats client's `servers` option takes it. */
  get url(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** The trace logged so far. */
  trace(): TraceOp[] {
    return natsTrace(this.log);
  }

  /** The traced connection whose CONNECT gave this name (waits until it is traced). */
  async connectionNamed(name: string): Promise<TraceConnection> {
    await this.untilLogged(`"name":${JSON.stringify(name)}`);
    return [...traceConnections(this.trace()).values()].find((c) => c.connect?.name === name)!;
  }

  /** Waits until the server logged the end of connection `cid` (after `from` in its log). */
  async waitClosed(cid: number, from = 0): Promise<void> {
    await this.untilLogged(new RegExp(` - cid:${cid} - .*Client connection closed`), from);
  }
}

// ---------------------------------------------------------------------------
// A client on a raw socket: what it writes goes as written

export class RawNatsConnection {
  private text = '';
  private consumed = 0;
  private ended = false;

  private constructor(private readonly sock: Socket) {
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => (this.text += d));
    sock.on('close', () => (this.ended = true));
    sock.on('error', () => (this.ended = true));
  }

  static connect(port: number): Promise<RawNatsConnection> {
    return new Promise((resolve, reject) => {
      const sock = createConnection({ port, host: '127.0.0.1' }, () => resolve(new RawNatsConnection(sock)));
      sock.once('error', reject);
    });
  }

  get localPort(): number {
    return this.sock.localPort!;
  }

  write(text: string): void {
    this.sock.write(text, 'latin1');
  }

  /** Waits until what the server sent, past what an earlier expect took, matches `re`; takes it up to the match's end. */
  async expect(re: RegExp, timeoutMs = 5_000): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = re.exec(this.text.slice(this.consumed));
      if (m) {
        this.consumed += m.index + m[0].length;
        return m;
      }
      if (this.ended || Date.now() > deadline) throw new Error(`no ${re} from the server${this.ended ? ' (closed)' : ''}; got ${JSON.stringify(this.text.slice(this.consumed))}`);
      await sleep(5);
    }
  }

  /** Ends the connection and waits until it is closed. */
  async close(): Promise<void> {
    if (this.ended) return;
    const closed = new Promise((r) => this.sock.once('close', r));
    this.sock.end();
    await closed;
  }
}

// ---------------------------------------------------------------------------
// Cutting a capture

/** A TCP segment with data in a capture: its packet and where it goes. */
export interface CaptureSegment {
  packet: Packet;
  srcPort: number;
  dstPort: number;
  /** The TCP sequence number of its first byte. */
  seq: number;
  payload: Buffer;
}

/** Every TCP packet of a capture (with data or not), in order. */
export function captureSegments(file: string): CaptureSegment[] {
  const out: CaptureSegment[] = [];
  const decoder = new Decoder();
  const reader = new CaptureReader({
    onPacket: (p) => {
      const l4 = decoder.decode(p);
      if (l4?.tcp) out.push({ packet: p, srcPort: l4.srcPort, dstPort: l4.dstPort, seq: l4.tcp.seq, payload: l4.payload });
    },
  });
  reader.push(readFileSync(file));
  reader.end();
  return out;
}

/** Writes `segments`' packets as a pcap file. */
export function writeSegments(file: string, segments: CaptureSegment[]): void {
  const w = new PcapWriter();
  const linkType = segments[0]?.packet.linkType ?? 1;
  writeFileSync(file, Buffer.concat([w.header({ linkType, snapLen: 262144 }), ...segments.map((s) => w.packet({ tsNs: s.packet.tsNs, data: s.packet.data, originalLength: s.packet.originalLength }))]));
}
