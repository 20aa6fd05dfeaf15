/**
 * A throwaway memcached on a free loopback port for tests driving it with
 * real clients (libmemcached-tools, pymemcache, a raw socket for the meta
 * commands), and the client traffic the memcached live and oracle tests
 * share (memcachedScenario).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import type { PanoEvent } from '@panopticon/events';
import { freePort } from './loopback-capture.js';
import { runClient, type ClientResult } from './client-process.js';
import { inTempDir, ServerProcess } from './server-process.js';

export const MEMCACHED = '/usr/bin/memcached';
/** The Debian python with python3-pymemcache (not whatever python3 the PATH finds first). */
export const PYTHON = '/usr/bin/python3';

export type MemcTool = 'memccp' | 'memccat' | 'memcrm' | 'memcstat' | 'memcflush' | 'memcexist' | 'memctouch';
const TOOLS: MemcTool[] = ['memccp', 'memccat', 'memcrm', 'memcstat'];
const toolPath = (tool: MemcTool) => `/usr/bin/${tool}`;

/** What a memcached live test needs that is not installed (tcpdump and pymemcache included). */
export function memcachedMissing(): string[] {
  const missing = [MEMCACHED, ...TOOLS.map(toolPath)].filter((p) => !existsSync(p));
  if (!existsSync('/usr/bin/tcpdump') && !existsSync('/usr/sbin/tcpdump')) missing.push('tcpdump');
  if (!existsSync(PYTHON) || spawnSync(PYTHON, ['-c', 'import pymemcache'], { stdio: 'ignore' }).status !== 0) missing.push('python3-pymemcache');
  return missing;
}

export type ToolResult = ClientResult;

/** Runs a libmemcached tool (memccp, memccat, ...) with `args`, killed after `timeoutMs`. */
export function runMemcTool(tool: MemcTool, args: string[], timeoutMs = 10_000, cwd?: string): Promise<ToolResult> {
  return runClient(toolPath(tool), args, timeoutMs, cwd);
}


export class MemcachedServer extends ServerProcess {
  private constructor(port: number, dir: string, proc: ChildProcess) {
    super(port, dir, proc, 'memcached');
  }

  /**
   * Starts memcached on a free port of 127.0.0.1, TCP only (`-U 0`), 64 MB,
   * `-u root` (memcached refuses to run as root without it), in a new temp
   * dir. Resolves once it accepts connections.
   */
  static async start(extra: string[] = []): Promise<MemcachedServer> {
    return inTempDir('pano-memcached-', async (dir) => {
      const port = await freePort();
      const proc = spawn(MEMCACHED, ['-l', '127.0.0.1', '-p', String(port), '-U', '0', '-m', '64', '-c', '64', '-t', '1', '-u', 'root', ...extra], {
        cwd: dir,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const server = new MemcachedServer(port, dir, proc);
      await server.waitReady();
      return server;
    });
  }

  /** `--servers=127.0.0.1:<port>` */
  get serversArg(): string {
    return `--servers=127.0.0.1:${this.port}`;
  }

  /** A libmemcached tool against this server (`--servers=...` first, `--binary` next when asked), run in the server's dir. */
  tool(tool: MemcTool, args: string[], opts: { binary?: boolean; timeoutMs?: number } = {}): Promise<ToolResult> {
    return runMemcTool(tool, [this.serversArg, ...(opts.binary ? ['--binary'] : []), ...args], opts.timeoutMs, this.dir);
  }


}

// ---------------------------------------------------------------------------
// A raw text-protocol connection, for the meta commands no installed client speaks

/**
 * One connection to memcached on which the caller writes request bytes and
 * reads whole responses: a line, plus `<size>` bytes of data and CRLF after
 * a `VA <size> ...` (meta) line, or up to END after VALUE/STAT lines.
 */
export class RawConnection {
  private buf = Buffer.alloc(0);
  private waiting: (() => void) | undefined;
  private closed = false;
  private error: Error | undefined;

  private constructor(private readonly sock: Socket) {
    sock.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.waiting?.();
    });
    sock.on('close', () => ((this.closed = true), this.waiting?.()));
    sock.on('error', (e) => ((this.error = e), this.waiting?.()));
  }

  static connect(port: number): Promise<RawConnection> {
    return new Promise((res, rej) => {
      const s = createConnection({ port, host: '127.0.0.1' });
      s.setNoDelay(true);
      s.once('connect', () => res(new RawConnection(s)));
      s.once('error', rej);
    });
  }

  /** The client's port: the connection, in the events. */
  get localPort(): number {
    return this.sock.localPort!;
  }

  /** The length of the first whole response in the buffer, or 0 when it is not all there yet. */
  private complete(): number {
    const eol = this.buf.indexOf('\r\n');
    if (eol < 0) return 0;
    const line = this.buf.subarray(0, eol).toString('latin1');
    const va = /^VA (\d+)/.exec(line);
    if (va) {
      const end = eol + 2 + Number(va[1]) + 2;
      return this.buf.length >= end ? end : 0;
    }
    if (/^(VALUE|STAT) /.test(line)) {
      // a text retrieval or stats: up to END (values here hold no "\r\nEND\r\n")
      const i = this.buf.indexOf('\r\nEND\r\n');
      return i < 0 ? 0 : i + 7;
    }
    return eol + 2;
  }

  /** Writes `data`, then reads `responses` whole responses; resolves with their bytes as latin1 text. */
  async request(data: string | Buffer, responses = 1, timeoutMs = 5_000): Promise<string> {
    this.sock.write(data);
    let out = '';
    const deadline = Date.now() + timeoutMs;
    for (let i = 0; i < responses; i++) {
      for (;;) {
        const n = this.complete();
        if (n) {
          out += this.buf.subarray(0, n).toString('latin1');
          this.buf = this.buf.subarray(n);
          break;
        }
        if (this.error) throw this.error;
        if (this.closed) throw new Error(`connection closed; got ${JSON.stringify(out + this.buf.toString('latin1'))}`);
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no whole response to ${JSON.stringify(String(data).slice(0, 80))}; got ${JSON.stringify(out + this.buf.toString('latin1'))}`);
        await new Promise<void>((r) => {
          const t = setTimeout(r, left);
          this.waiting = () => (clearTimeout(t), r());
        });
        this.waiting = undefined;
      }
    }
    return out;
  }

  /** Bytes received and not read by a request (there must be none at the end). */
  get unread(): string {
    return this.buf.toString('latin1');
  }

  /** Ends the connection (FIN) and waits until it is closed. */
  async close(): Promise<void> {
    if (this.closed) return;
    const done = new Promise((r) => this.sock.once('close', r));
    this.sock.end();
    await done;
  }
}

// ---------------------------------------------------------------------------
// The client traffic of the memcached live and oracle tests

/** The ~100 KB text value: bigger than the parser's 64 KiB body limit, not one repeated byte. */
export function bigValue(): Buffer {
  let s = '';
  for (let i = 0; s.length < 100_000; i++) s += `line ${String(i).padStart(6, '0')} of the big memcached value\n`;
  return Buffer.from(s.slice(0, 100_000));
}

export const JSON_VALUE = JSON.stringify({ user: 'bob', email: 'bob@example.com', plan: 'pro' });

/**
 * The pymemcache session, one connection, text protocol, in this order; the
 * script prints a JSON object: the client's port and each step's result.
 * pymemcache's default_noreply is True: every storage command, touch,
 * delete and flush_all that must be answered passes noreply=False; `quiet`
 * is the one that does not. The non-numeric incr is last: pymemcache
 * closes its socket on CLIENT_ERROR.
 */
export const PY_SCRIPT = String.raw`
import json, sys
from pymemcache.client.base import Client
from pymemcache.exceptions import MemcacheClientError

port, big_path, json_value = int(sys.argv[1]), sys.argv[2], sys.argv[3]
big = open(big_path, 'rb').read()
c = Client(('127.0.0.1', port), connect_timeout=5, timeout=5)

def s(v):
    if isinstance(v, bytes):
        return v.decode('utf-8')
    if isinstance(v, tuple):
        return [s(x) for x in v]
    if isinstance(v, dict):
        return {s(k): s(x) for k, x in v.items()}
    return v

r = {}
r['set_flags'] = c.set('py:flags', b'hello world', expire=300, noreply=False, flags=5)
r['port'] = c.sock.getsockname()[1]
r['add_existing'] = c.add('py:flags', b'other', noreply=False)
r['replace_missing'] = c.replace('py:missing', b'other', noreply=False)
r['get_hit'] = s(c.get('py:flags'))
r['get_miss'] = s(c.get('py:missing'))
r['set_a'] = c.set('py:a', b'alpha', noreply=False)
r['set_b'] = c.set('py:b', b'beta', noreply=False)
r['get_many'] = s(c.get_many(['py:a', 'py:b', 'py:nope']))
value, cas = c.gets('py:a')
r['gets'] = [s(value), s(cas)]
r['cas_ok'] = c.cas('py:a', b'alpha2', cas, noreply=False)
r['cas_exists'] = c.cas('py:a', b'alpha3', cas, noreply=False)
r['append'] = c.append('py:a', b'-tail', noreply=False)
r['prepend'] = c.prepend('py:a', b'head-', noreply=False)
r['get_appended'] = s(c.get('py:a'))
r['set_counter'] = c.set('py:counter', b'10', noreply=False)
r['incr'] = c.incr('py:counter', 5)
r['decr'] = c.decr('py:counter', 3)
r['incr_missing'] = c.incr('py:nocounter', 1)
r['touch'] = c.touch('py:a', 60, noreply=False)
r['touch_missing'] = c.touch('py:missing', 60, noreply=False)
r['delete'] = c.delete('py:b', noreply=False)
r['delete_missing'] = c.delete('py:b', noreply=False)
r['set_quiet'] = c.set('py:quiet', b'shh', noreply=True)
r['get_quiet'] = s(c.get('py:quiet'))
r['set_big'] = c.set('py:big', big, noreply=False)
got = c.get('py:big')
r['get_big'] = [len(got), got == big]
r['set_json'] = c.set('py:json', json_value.encode(), noreply=False)
r['get_json'] = s(c.get('py:json'))
st = c.stats()
r['stats'] = {'pid': st[b'pid'], 'version': s(st[b'version']), 'count': len(st)}
r['version'] = s(c.version())
r['flush_all'] = c.flush_all(noreply=False)
r['set_text'] = c.set('py:text', b'abc', noreply=False)
try:
    c.incr('py:text', 1)
    r['incr_text'] = 'no error'
except MemcacheClientError as e:
    r['incr_text'] = str(e)
c.close()
print(json.dumps(r))
`;

/** A meta (or raw text) request on the raw connection and the response bytes it got. */
export interface RawStep {
  /** the request bytes as written (latin1) */
  sent: string;
  /** what came back for it (several requests in one write: one response for all, see `quiet`) */
  received: string;
}

export interface ToolRun {
  tool: MemcTool;
  binary: boolean;
  args: string[];
  /** the key it names (memccp: the file's base name) */
  key?: string;
  result: ToolResult;
}

export interface MemcachedScenarioResult {
  /** the server's port */
  port: number;
  py: { port: number; results: Record<string, unknown> };
  raw: { port: number; steps: RawStep[] };
  /** the libmemcached runs, in order, one connection each */
  tools: ToolRun[];
  big: Buffer;
  json: string;
  /** the files memccp copied: key → content */
  files: Record<string, string>;
}

/** The meta requests of the raw connection, answered one by one. */
export const META_REQUESTS = [
  'ms mt:key 5 T60 F7\r\nhello\r\n',
  'mg mt:key v f t\r\n',
  'mg mt:missing v\r\n',
  'me mt:key\r\n',
  'md mt:key\r\n',
  'md mt:key\r\n',
  'ma mt:counter N0 J13 v\r\n',
  'ma mt:counter D5 v\r\n',
  'ma mt:counter MD D3\r\n',
  'ma mt:nocounter\r\n',
  'mn\r\n',
];
/** Then, in one write: a quiet ms (HD suppressed), a quiet mg miss (EN suppressed), and mn: one MN back. */
export const META_QUIET = 'ms mt:quiet 2 q\r\nhi\r\nmg mt:missing v q\r\nmn\r\n';
/** Then a text command memcached answers with ERROR (a get without a key). */
export const TEXT_ERROR = 'get\r\n';

function check(r: ToolResult, what: string, code = 0): void {
  if (r.code !== code) throw new Error(`${what}: exit ${r.code}${r.timedOut ? ' (timed out)' : ''}, wanted ${code}: ${r.stderr.trim()}`);
}

/**
 * Drives the traffic of the live and oracle tests against `server`, while
 * the caller captures, one connection at a time:
 *  - pymemcache over the text protocol (PY_SCRIPT);
 *  - a raw socket: the meta commands (META_REQUESTS, META_QUIET) and a text
 *    command answered with ERROR (TEXT_ERROR);
 *  - libmemcached-tools over the binary protocol (--binary), then the same
 *    over the text protocol: memccp a file (with flags and an expiry),
 *    memccat it, memccat a missing key, memcrm it, memcstat.
 */
export async function memcachedScenario(server: MemcachedServer): Promise<MemcachedScenarioResult> {
  const big = bigValue();
  const bigFile = join(server.dir, 'big.bin');
  writeFileSync(bigFile, big);
  const script = join(server.dir, 'client.py');
  writeFileSync(script, PY_SCRIPT);
  const py = await runClient(PYTHON, [script, String(server.port), bigFile, JSON_VALUE], 15_000);
  check(py, 'pymemcache');
  const results = JSON.parse(py.stdout) as Record<string, unknown>;

  const conn = await RawConnection.connect(server.port);
  const steps: RawStep[] = [];
  for (const req of META_REQUESTS) steps.push({ sent: req, received: await conn.request(req) });
  steps.push({ sent: META_QUIET, received: await conn.request(META_QUIET) });
  steps.push({ sent: TEXT_ERROR, received: await conn.request(TEXT_ERROR) });
  const rawPort = conn.localPort;
  if (conn.unread) throw new Error(`unexpected bytes from memcached: ${JSON.stringify(conn.unread)}`);
  await conn.close();

  const files: Record<string, string> = {};
  const tools: ToolRun[] = [];
  for (const binary of [true, false]) {
    const name = binary ? 'bin-file.txt' : 'text-file.txt';
    files[name] = `copied by memccp over the ${binary ? 'binary' : 'text'} protocol\n`;
    writeFileSync(join(server.dir, name), files[name]);
    const missing = binary ? 'bin-missing' : 'text-missing';
    const runs: Array<[MemcTool, string[], string | undefined, number]> = [
      ['memccp', ['--flags=9', '--expire=600', name], name, 0],
      ['memccat', [name], name, 0],
      ['memccat', [missing], missing, 1],
      ['memcrm', [name], name, 0],
      ['memcstat', [], undefined, 0],
    ];
    for (const [tool, args, key, code] of runs) {
      const result = await server.tool(tool, args, { binary });
      check(result, `${tool}${binary ? ' --binary' : ''} ${args.join(' ')}`, code);
      tools.push({ tool, binary, args, key, result });
    }
  }
  return { port: server.port, py: { port: results.port as number, results }, raw: { port: rawPort, steps }, tools, big, json: JSON_VALUE, files };
}

// ---------------------------------------------------------------------------
// The typed view of a memcached event the live and oracle tests read

/** The default body limit of the parse pipeline (64 KiB). */
export const MAX_BODY = 64 * 1024;

export interface Body {
  size: number;
  content?: string;
  truncated?: boolean;
}

/** The body an event keeps of `data` under the default limit (text data only, as all of this traffic is). */
export function expectedBody(data: Buffer | string): Body {
  const b = Buffer.from(data);
  const body: Body = { size: b.length, content: b.subarray(0, MAX_BODY).toString('utf8') };
  if (b.length > MAX_BODY) body.truncated = true;
  return body;
}

export interface MemcachedResponse {
  status?: string;
  message?: string;
  values?: Array<{ key: string; flags: number; cas?: string; value: Body }>;
  number?: string;
  stats?: Record<string, string>;
  version?: string;
  meta_flags?: string[];
}

export interface MemcachedFields {
  client: { port: number };
  server: { port: number };
  network: { protocol: { name: string } };
  db: {
    system: { name: string };
    operation?: { name: string };
    query?: { text: string };
    response?: { returned_rows?: number };
  };
  memcached: {
    protocol: 'text' | 'binary' | 'meta';
    keys?: string[];
    flags?: number;
    exptime?: number;
    cas?: string;
    noreply?: boolean;
    delta?: string;
    meta_flags?: string[];
    value?: Body;
    response?: MemcachedResponse;
  };
  error?: { type: string };
}

export type MemcachedEvent = PanoEvent & MemcachedFields;

/** The binary protocol's opcodes by the name an event gives them (memcached's protocol_binary.h, lower case). */
export const BINARY_OPCODES: Record<string, number> = {
  get: 0x00, set: 0x01, add: 0x02, replace: 0x03, delete: 0x04, increment: 0x05, decrement: 0x06, quit: 0x07,
  flush: 0x08, getq: 0x09, noop: 0x0a, version: 0x0b, getk: 0x0c, getkq: 0x0d, append: 0x0e, prepend: 0x0f,
  stat: 0x10, setq: 0x11, addq: 0x12, replaceq: 0x13, deleteq: 0x14, incrementq: 0x15, decrementq: 0x16,
  quitq: 0x17, flushq: 0x18, appendq: 0x19, prependq: 0x1a, touch: 0x1c, gat: 0x1d, gatq: 0x1e,
  sasl_list_mechs: 0x20, sasl_auth: 0x21, sasl_step: 0x22, gatk: 0x23, gatkq: 0x24,
};

/** The binary protocol's response statuses by the name an event gives them. */
export const BINARY_STATUSES: Record<string, number> = {
  no_error: 0x00, key_not_found: 0x01, key_exists: 0x02, value_too_large: 0x03, invalid_arguments: 0x04,
  item_not_stored: 0x05, non_numeric: 0x06, auth_error: 0x20, auth_continue: 0x21, unknown_command: 0x81, out_of_memory: 0x82,
};
