// memcached against tshark's dissector. The corpus has no memcached capture:
// this file makes its own, with the traffic of the live test
// (memcachedScenario: memcached driven by pymemcache over the text protocol,
// a raw socket speaking the meta commands, libmemcached-tools over the binary
// and the text protocol), and compares, per connection and in order, every
// memcached PDU tshark reads (from its PDML, one <proto name="memcache"> per
// PDU, so the binary STAT responses sharing a TCP segment stay apart) with
// the requests and responses the events stand for. Every event must pass the
// v1 schema.
//
// Text protocol, compared: each command tshark names (memcache.command) with
// its keys, flags, exptime, cas unique, noreply, the data of a storage
// command (size, and its first 64 KiB as the event keeps them), incr/decr's
// amount; each response line tshark names (memcache.response), each VALUE
// item (key, flags, size, data), the VERSION, and the STAT lines as one map.
// Binary protocol, compared: opcode, key, extras flags and expiration, the
// value; the response's opcode and status, its key, flags and value (a
// GETK's item), a VERSION's version, the STAT responses as one map.
//
// Left out of the comparison, on purpose (tshark 4.0's memcache dissector
// shows an empty "Memcache Protocol" for them; checked below where the
// traffic allows, so a tshark that learns them makes this test say so):
//  - the meta commands (ms, mg, me, md, ma, mn) and their responses (HD, VA,
//    EN, NF, ME, MN): tshark 4.0 knows no meta command;
//  - `touch` and its TOUCHED: not in tshark 4.0's command list (a touch's
//    NOT_FOUND is compared: tshark reads it as a generic response line);
//  - incr/decr's numeric result, and the ERROR and CLIENT_ERROR lines:
//    tshark shows no field for those lines;
//  - flush_all's delay: the spec gives the event no field for it;
//  - the data of a gets response: tshark 4.0 reads the VALUE line with its
//    cas unique and shows no memcache.value after it (key, flags, size and
//    cas are compared);
//  - the body of a binary error response (status other than no_error):
//    memcached's error text or the key, for which the spec has no field;
//    the status itself is compared;
//  - the cas of binary requests and responses: 0 in every request here, and
//    the spec gives a binary response's cas no field outside a GETK's item;
//  - the binary STAT list's last, empty response (its end marker).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { captureDuring } from '../helpers/loopback-capture.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';
import { tsharkAvailable, tsharkOutput } from '../helpers/tshark.js';
import {
  MemcachedServer,
  memcachedMissing,
  memcachedScenario,
  MAX_BODY,
  BINARY_OPCODES,
  BINARY_STATUSES,
  type Body,
  type MemcachedEvent,
  type MemcachedScenarioResult,
} from '../helpers/memcached-server.js';

const missing = [...memcachedMissing(), ...(tsharkAvailable() ? [] : ['tshark'])];
const skip = missing.length ? `missing ${missing.join(', ')}` : false;
let server: MemcachedServer | undefined;
let file = '';
let run: MemcachedScenarioResult | undefined;

before(async () => {
  if (missing.length) return;
  server = await MemcachedServer.start();
  file = join(server.dir, 'memcached.pcap');
  run = await captureDuring(file, `tcp port ${server.port}`, () => memcachedScenario(server!));
});

after(async () => {
  await server?.stop();
});

// ---------------------------------------------------------------------------
// tshark's side

interface Field {
  name: string;
  show: string;
  /** the field's bytes, hex */
  value: string;
}
interface Pdu {
  frame: number;
  /** the client's port: the connection */
  conn: number;
  fromServer: boolean;
  fields: Field[];
}

const unxml = (s: string) =>
  s.replace(/&(#x[0-9a-f]+|#\d+|quot|amp|lt|gt|apos);/gi, (_, e: string) =>
    e[0] === '#' ? String.fromCodePoint(e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : Number(e.slice(1))) : ({ quot: '"', amp: '&', lt: '<', gt: '>', apos: "'" } as Record<string, string>)[e.toLowerCase()]!,
  );

/** Every memcache PDU tshark reads in `file`, in capture order, empty ones included. */
async function tsharkPdus(file: string, port: number): Promise<Pdu[]> {
  const pdml = await tsharkOutput(file, ['-d', `tcp.port==${port},memcache`, '-Y', 'memcache', '-T', 'pdml']);
  const out: Pdu[] = [];
  for (const packet of pdml.split('<packet>').slice(1)) {
    const frame = Number(/name="frame.number"[^>]*show="(\d+)"/.exec(packet)?.[1]);
    const src = Number(/name="tcp.srcport"[^>]*show="(\d+)"/.exec(packet)?.[1]);
    const dst = Number(/name="tcp.dstport"[^>]*show="(\d+)"/.exec(packet)?.[1]);
    // a PDU without fields is a self-closing <proto .../>
    for (const [proto] of packet.matchAll(/<proto name="memcache"(?:[^>]*\/>|[\s\S]*?<\/proto>)/g)) {
      const fields: Field[] = [];
      for (const [, attrs] of proto.matchAll(/<field ([^>]*?)\/?>/g)) {
        const a: Record<string, string> = {};
        for (const m of attrs!.matchAll(/(\w+)="([^"]*)"/g)) a[m[1]!] = m[2]!;
        if (a.name?.startsWith('memcache.')) fields.push({ name: a.name, show: unxml(a.show ?? ''), value: a.value ?? '' });
      }
      out.push({ frame, conn: src === port ? dst : src, fromServer: src === port, fields });
    }
  }
  return out;
}

const one = (p: Pdu, name: string) => p.fields.find((x) => x.name === name)?.show;
const every = (p: Pdu, name: string) => p.fields.filter((x) => x.name === name).map((x) => x.show);
const bytesOf = (f: Field | undefined) => (f ? Buffer.from(f.value, 'hex') : undefined);

// ---------------------------------------------------------------------------
// The normalized PDUs both sides are compared as

const sha = (s: string | undefined) => (s === undefined ? '-' : createHash('sha1').update(s).digest('hex').slice(0, 12));
/** A value as size, hash of what the event keeps of it (its first 64 KiB as text) and whether it was cut. */
const bodyStr = (b: Body | undefined) => (b ? `${b.size}:${sha(b.content)}${b.truncated ? ':truncated' : ''}` : '-');
const bodyOf = (data: Buffer | undefined): Body | undefined => {
  if (!data) return undefined;
  const b: Body = { size: data.length, content: data.subarray(0, MAX_BODY).toString('utf8') };
  if (data.length > MAX_BODY) b.truncated = true;
  return b;
};
const statsStr = (m: Record<string, string> | undefined) => JSON.stringify(Object.entries(m ?? {}).sort(([a], [b]) => (a < b ? -1 : 1)));

/** The text commands tshark 4.0 names (memcache.command); touch and the meta commands are not among them. */
const TSHARK_TEXT_COMMANDS = new Set(['get', 'gets', 'set', 'add', 'replace', 'append', 'prepend', 'cas', 'incr', 'decr', 'delete', 'stats', 'flush_all', 'version', 'verbosity', 'quit']);
/** The response lines tshark 4.0 names (memcache.response); not TOUCHED, ERROR, CLIENT_ERROR, nor incr/decr's number. */
const TSHARK_TEXT_RESPONSES = new Set(['STORED', 'NOT_STORED', 'EXISTS', 'NOT_FOUND', 'DELETED', 'OK', 'END']);
const STORAGE = new Set(['set', 'add', 'replace', 'append', 'prepend', 'cas']);

interface TextRequest {
  command: string;
  keys: string[];
  flags?: number;
  exptime?: number;
  cas?: string;
  noreply: boolean;
  value?: Body;
  delta?: string;
}
function textRequestStr(r: TextRequest): string {
  if (STORAGE.has(r.command)) return `> ${r.command} ${r.keys.join(',')} flags=${r.flags} exptime=${r.exptime} cas=${r.cas ?? '-'} noreply=${r.noreply} value=${bodyStr(r.value)}`;
  if (r.command === 'incr' || r.command === 'decr') return `> ${r.command} ${r.keys.join(',')} delta=${r.delta} noreply=${r.noreply}`;
  return `> ${r.command} ${r.keys.join(',')} noreply=${r.noreply}`;
}
/** A VALUE item; the data only where tshark shows it (not after a cas unique, see the top of the file). */
const valueStr = (key: string, flags: number, size: number, cas: string | undefined, data: string) => `< VALUE ${key} flags=${flags} size=${size} cas=${cas ?? '-'}${cas === undefined ? ` data=${data}` : ''}`;

const BINARY_NAMES = Object.fromEntries(Object.entries(BINARY_OPCODES).map(([k, v]) => [v, k]));
const binRequestStr = (op: number, key: string, flags: number | undefined, exptime: number | undefined, value: Body | undefined) =>
  `> ${BINARY_NAMES[op] ?? op} key=${key} flags=${flags ?? '-'} exptime=${exptime ?? '-'} value=${bodyStr(value)}`;
const binResponseStr = (op: number, status: number, key: string, flags: number | undefined, value: Body | undefined) =>
  status === 0 ? `< ${BINARY_NAMES[op] ?? op} status=0 key=${key} flags=${flags ?? '-'} value=${bodyStr(value)}` : `< ${BINARY_NAMES[op] ?? op} status=${status}`;

/** tshark's PDUs of one connection as normalized strings, in order; the empty ones (see the top of the file) left out. */
function fromTshark(pdus: Pdu[]): string[] {
  const out: string[] = [];
  let stats: Record<string, string> | undefined;
  let binStats: Record<string, string> | undefined;
  const flush = () => {
    if (stats) out.push(`< STATS ${statsStr(stats)}`);
    if (binStats) out.push(`< stat status=0 stats=${statsStr(binStats)}`);
    stats = binStats = undefined;
  };
  for (const p of pdus) {
    const magic = one(p, 'memcache.magic');
    if (magic !== undefined) {
      // binary
      const op = Number(one(p, 'memcache.opcode'));
      const key = one(p, 'memcache.key') ?? '';
      const flagsShow = one(p, 'memcache.extras.flags');
      const flags = flagsShow === undefined ? undefined : Number(flagsShow);
      const exp = one(p, 'memcache.extras.expiration');
      const value = bodyOf(bytesOf(p.fields.find((x) => x.name === 'memcache.value')));
      if (!p.fromServer) {
        flush();
        out.push(binRequestStr(op, key, flags, exp === undefined ? undefined : Number(exp), value));
        continue;
      }
      const status = Number(one(p, 'memcache.status'));
      if (op === BINARY_OPCODES.stat && status === 0) {
        // one response per stat, an empty key ends the list
        binStats ??= {};
        if (key) binStats[key] = value?.content ?? '';
        else flush();
        continue;
      }
      flush();
      if (op === BINARY_OPCODES.version && status === 0) out.push(`< version status=0 version=${value?.content}`);
      else out.push(binResponseStr(op, status, key, flags, value));
      continue;
    }
    if (p.fields.length === 0) continue;
    if (!p.fromServer) {
      flush();
      const command = one(p, 'memcache.command')!;
      const f = one(p, 'memcache.flags');
      const e = one(p, 'memcache.expiration');
      const storage = STORAGE.has(command);
      out.push(
        textRequestStr({
          command,
          keys: every(p, 'memcache.key'),
          flags: f === undefined ? undefined : Number(f),
          exptime: e === undefined ? undefined : Number(e),
          cas: storage && command === 'cas' ? one(p, 'memcache.cas') : undefined,
          noreply: one(p, 'memcache.noreply') === 'noreply',
          value: storage ? bodyOf(bytesOf(p.fields.find((x) => x.name === 'memcache.value'))) : undefined,
          delta: command === 'incr' || command === 'decr' ? one(p, 'memcache.value') : undefined,
        }),
      );
      continue;
    }
    // a response: VALUE items, STAT lines, VERSION, or one response line
    const names = every(p, 'memcache.name');
    if (names.length) {
      const values = every(p, 'memcache.name_value');
      stats ??= {};
      names.forEach((n, i) => (stats![n] = values[i] ?? ''));
      continue;
    }
    flush();
    const keys = every(p, 'memcache.key');
    if (keys.length) {
      // one VALUE item after another: each has key, flags, value length, then cas or data
      let item: { key: string; flags?: number; size?: number; cas?: string; data?: string } | undefined;
      const items: NonNullable<typeof item>[] = [];
      for (const x of p.fields) {
        if (x.name === 'memcache.key') items.push((item = { key: x.show }));
        else if (!item) continue;
        else if (x.name === 'memcache.flags') item.flags = Number(x.show);
        else if (x.name === 'memcache.value.length') item.size = Number(x.show);
        else if (x.name === 'memcache.cas') item.cas = x.show;
        else if (x.name === 'memcache.value') item.data = bodyStr(bodyOf(Buffer.from(x.value, 'hex')));
      }
      for (const i of items) out.push(valueStr(i.key, i.flags!, i.size!, i.cas, i.data ?? '-'));
      continue;
    }
    const version = one(p, 'memcache.version');
    if (version !== undefined) {
      out.push(`< VERSION ${version}`);
      continue;
    }
    const response = one(p, 'memcache.response');
    // the END of a VALUE list tshark read as a PDU of its own (it does when the
    // VALUE was reassembled from several segments) is the list's, not a response
    if (response === 'END' && out.at(-1)?.startsWith('< VALUE ')) continue;
    if (response !== undefined) out.push(`< ${response}`);
  }
  flush();
  return out;
}

/** The PDUs an event stands for, normalized like tshark's, those tshark does not read left out. */
function fromEvent(e: MemcachedEvent): string[] {
  const m = e.memcached;
  const op = e.db.operation?.name ?? '?';
  const r = m.response;
  const out: string[] = [];
  if (m.protocol === 'binary') {
    const code = BINARY_OPCODES[op] ?? -1;
    out.push(binRequestStr(code, m.keys?.[0] ?? '', m.flags, m.exptime, m.value));
    if (!r) return out;
    const status = r.status === undefined ? -1 : (BINARY_STATUSES[r.status] ?? -1);
    if (code === BINARY_OPCODES.stat && status === 0) out.push(`< stat status=0 stats=${statsStr(r.stats)}`);
    else if (code === BINARY_OPCODES.version && status === 0) out.push(`< version status=0 version=${r.version}`);
    else {
      const v = r.values?.[0];
      out.push(binResponseStr(code, status, v?.key ?? '', v?.flags, v?.value));
    }
    return out;
  }
  if (m.protocol !== 'text') return out; // meta: see the top of the file
  // touch: its request is left out, a NOT_FOUND answer to it is not (see the top of the file)
  if (TSHARK_TEXT_COMMANDS.has(op)) {
    out.push(
      textRequestStr({
        command: op,
        keys: m.keys ?? [],
        flags: m.flags,
        exptime: m.exptime,
        cas: op === 'cas' ? m.cas : undefined,
        noreply: m.noreply === true,
        value: STORAGE.has(op) ? m.value : undefined,
        delta: m.delta,
      }),
    );
  }
  if (!r) return out;
  if (r.values?.length) for (const v of r.values) out.push(valueStr(v.key, v.flags, v.value.size, op === 'gets' ? v.cas : undefined, bodyStr(v.value)));
  else if (r.stats) out.push(`< STATS ${statsStr(r.stats)}`);
  else if (r.version !== undefined) out.push(`< VERSION ${r.version}`);
  else if (r.status !== undefined && TSHARK_TEXT_RESPONSES.has(r.status)) out.push(`< ${r.status}`);
  return out;
}

/** The events' PDUs by connection, each connection's events in start order. */
function eventPdus(mc: MemcachedEvent[]): Map<number, string[]> {
  const out = new Map<number, string[]>();
  const sorted = [...mc].sort((a, b) => (BigInt(a.pano.start_ns) < BigInt(b.pano.start_ns) ? -1 : BigInt(a.pano.start_ns) > BigInt(b.pano.start_ns) ? 1 : 0));
  for (const e of sorted) {
    const s = fromEvent(e);
    if (s.length) out.set(e.client.port, [...(out.get(e.client.port) ?? []), ...s]);
  }
  return out;
}

function tsharkByConnection(pdus: Pdu[]): Map<number, string[]> {
  const conns = new Map<number, Pdu[]>();
  for (const p of pdus) conns.set(p.conn, [...(conns.get(p.conn) ?? []), p]);
  const out = new Map<number, string[]>();
  for (const [conn, list] of conns) {
    const s = fromTshark(list);
    if (s.length) out.set(conn, s);
  }
  return out;
}

test('memcached oracle: pymemcache, meta and libmemcached-tools traffic against tshark', { skip }, async () => {
  const r = run!;
  const pdus = await tsharkPdus(file, r.port);
  // tshark is told the port is memcached's (-d); pano-parse finds it by content (a connection that opens
  // with a lone `get <key>`, memccat's over the text protocol, by the server's answer: ADR 0288)
  const { events } = parseCaptureSync(file);
  assertValidEvents(events);
  const mc = events.filter((e) => e.pano.protocol === 'memcached') as MemcachedEvent[];
  assert.equal(mc.length, events.length);
  assert.ok(pdus.length > 0, 'tshark read no memcache');
  assert.ok(mc.length > 0, 'no memcached events');

  // what is left out is what tshark cannot read: on the raw connection it names only the text get
  const rawNamed = pdus.filter((p) => p.conn === r.raw.port && p.fields.length > 0);
  assert.deepEqual(rawNamed.map((p) => one(p, 'memcache.command')), ['get'], 'tshark 4.0 reads no meta command (if it does now, compare them)');
  // ...and on pymemcache's, neither touch (two requests, one TOUCHED) nor the numbers, nor CLIENT_ERROR
  const pyEmpty = pdus.filter((p) => p.conn === r.py.port && p.fields.length === 0);
  assert.deepEqual(
    [pyEmpty.filter((p) => !p.fromServer).length, pyEmpty.filter((p) => p.fromServer).length],
    [2, 4],
    'empty PDUs: touch ×2 → TOUCHED, incr → 15, decr → 12, CLIENT_ERROR',
  );

  // binary requests: one event each
  const binRequests = pdus.filter((p) => one(p, 'memcache.magic') === '128');
  assert.equal(mc.filter((e) => e.memcached.protocol === 'binary').length, binRequests.length, 'an event per binary request');
  // text storage values as tshark reads them (the big one, over the limit, included)
  const tValues = pdus
    .filter((p) => !p.fromServer && STORAGE.has(one(p, 'memcache.command') ?? ''))
    .map((p) => `${p.conn} ${one(p, 'memcache.command')} ${every(p, 'memcache.key').join(',')} ${bodyStr(bodyOf(bytesOf(p.fields.find((x) => x.name === 'memcache.value'))))}`);
  const eValues = mc
    .filter((e) => e.memcached.protocol === 'text' && STORAGE.has(e.db.operation?.name ?? ''))
    .map((e) => `${e.client.port} ${e.db.operation?.name} ${(e.memcached.keys ?? []).join(',')} ${bodyStr(e.memcached.value)}`);
  assert.deepEqual(eValues.sort(), tValues.sort(), 'storage values');
  assert.ok(tValues.some((s) => s.includes(':truncated')), 'the big value is in the capture');

  // and every PDU, per connection, in order
  const theirs = tsharkByConnection(pdus);
  const ours = eventPdus(mc);
  assert.deepEqual([...ours.keys()].sort(), [...theirs.keys()].sort(), 'connections');
  for (const [conn, list] of theirs) assert.deepEqual(ours.get(conn), list, `connection ${conn}`);
});
