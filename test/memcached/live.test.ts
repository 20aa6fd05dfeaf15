// Real memcached traffic: memcached 1.6 (Debian) started once for this file
// on a loopback port (TCP only), driven by pymemcache over the text protocol
// (every storage command, retrieval of one and of several keys, gets/cas
// with both outcomes, incr/decr, touch, delete, a noreply set, a ~100 KB
// value over the 64 KiB body limit, a JSON value with an e-mail address,
// stats, version, flush_all, a CLIENT_ERROR), a raw socket speaking the
// meta commands (ms, mg, me, md, ma, mn; quiet ones whose answer memcached
// suppresses) and a text command answered with ERROR, and libmemcached-tools
// over the binary protocol and the text protocol (memccp, memccat of a key
// and of a missing one, memcrm, memcstat); captured with tcpdump, parsed, and
// checked against what the clients did and got back (memcachedScenario in
// test/helpers/memcached-server.ts).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { captureDuring } from '../helpers/loopback-capture.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';
import {
  MemcachedServer,
  memcachedMissing,
  memcachedScenario,
  expectedBody,
  MAX_BODY,
  type MemcachedEvent,
  type MemcachedScenarioResult,
  type MemcachedResponse,
  type Body,
} from '../helpers/memcached-server.js';
import type { PanoEvent } from '@panopticon/events';

const missing = memcachedMissing();
const skip = missing.length ? `missing ${missing.join(', ')}` : false;
let server: MemcachedServer | undefined;

before(async () => {
  if (!missing.length) server = await MemcachedServer.start();
});

after(async () => {
  await server?.stop();
});

interface Captured {
  run: MemcachedScenarioResult;
  /** every event of the capture, parsed as pano-parse does by default */
  events: PanoEvent[];
  /** the memcached events of that parse */
  mc: MemcachedEvent[];
  /**
   * The events of a parse told that the capture is memcached's (only the
   * memcached module), as tshark is told with -d: it also reads the
   * connections whose first command is a lone `get <key>`, which detection
   * leaves to Redis off memcached's port (docs/adr/0288-memcached.md).
   */
  only: MemcachedEvent[];
}
let captured: Promise<Captured> | undefined;

/** The scenario's traffic, captured and parsed once for the tests that read it. */
function capture(): Promise<Captured> {
  return (captured ??= (async () => {
    const s = server!;
    const file = join(s.dir, 'memcached.pcap');
    const run = await captureDuring(file, `tcp port ${s.port}`, () => memcachedScenario(s));
    const { events } = parseCaptureSync(file);
    assertValidEvents(events);
    const only = parseCaptureSync(file, { protocols: ['memcached'] }).events;
    assertValidEvents(only);
    return { run, events, mc: events.filter((e) => e.pano.protocol === 'memcached') as MemcachedEvent[], only: only as MemcachedEvent[] };
  })());
}

const show = (e: MemcachedEvent) =>
  `${e.pano.kind} ${e.memcached?.protocol} ${e.db?.operation?.name} ${JSON.stringify(e.memcached?.keys ?? [])} -> ${JSON.stringify(e.memcached?.response ?? null).slice(0, 120)}`;
const showAll = (list: MemcachedEvent[]) => list.map(show).join('\n  ');

/** The events of each client connection (by client port), each list in start order. */
function byConnection(mc: MemcachedEvent[]): Map<number, MemcachedEvent[]> {
  const out = new Map<number, MemcachedEvent[]>();
  for (const e of mc) {
    const list = out.get(e.client.port) ?? [];
    list.push(e);
    out.set(e.client.port, list);
  }
  for (const list of out.values()) list.sort((a, b) => cmpStart(a, b));
  return out;
}
const cmpStart = (a: PanoEvent, b: PanoEvent) => (BigInt(a.pano.start_ns) < BigInt(b.pano.start_ns) ? -1 : BigInt(a.pano.start_ns) > BigInt(b.pano.start_ns) ? 1 : 0);

/** What one request of the scenario must have become. */
interface Expect {
  op: string;
  /** db.query.text (text and meta); absent for binary */
  text?: string;
  keys?: string[];
  /** pano.kind (default exchange) */
  kind?: 'exchange' | 'message';
  flags?: number;
  exptime?: number;
  cas?: string;
  delta?: string;
  noreply?: boolean;
  meta_flags?: string[];
  value?: Body;
  returned_rows?: number;
  /** the response's fields compared one by one (those given) */
  response?: MemcachedResponse;
  /** error.type; absent means no error */
  error?: string;
  /** more checks */
  also?: (e: MemcachedEvent) => void;
}

/** Checks one event against what its request did and got back. */
function checkEvent(e: MemcachedEvent, x: Expect, protocol: 'text' | 'binary' | 'meta', what: string): void {
  const m = e.memcached;
  const where = `${what}: ${show(e)}`;
  assert.equal(e.db.operation?.name, x.op, where);
  assert.equal(m.protocol, protocol, where);
  assert.equal(e.pano.kind, x.kind ?? 'exchange', where);
  if (protocol === 'binary') assert.equal(e.db.query, undefined, `${where}: the binary protocol has no query text`);
  else assert.equal(e.db.query?.text, x.text, where);
  assert.deepEqual(m.keys ?? [], x.keys ?? [], where);
  for (const k of ['flags', 'exptime', 'cas', 'delta', 'noreply', 'value'] as const) {
    if (x[k] !== undefined) assert.deepEqual(m[k], x[k], `${where}: memcached.${k}`);
  }
  // a meta command without flags: [] or absent
  if (x.meta_flags !== undefined) assert.deepEqual(m.meta_flags ?? [], x.meta_flags, `${where}: memcached.meta_flags`);
  if (protocol !== 'meta') assert.equal(m.meta_flags, undefined, `${where}: meta_flags`);
  // (whether a quiet meta command is noreply too the spec leaves open)
  if (x.noreply === undefined && protocol !== 'meta') assert.equal(m.noreply, undefined, `${where}: noreply`);
  if (x.value === undefined) assert.equal(m.value, undefined, `${where}: value`);
  if (x.returned_rows !== undefined) assert.equal(e.db.response?.returned_rows, x.returned_rows, `${where}: returned_rows`);
  if (x.kind === 'message') {
    assert.equal(m.response, undefined, `${where}: no response`);
    assert.equal(e.pano.response_bytes ?? 0, 0, `${where}: no response bytes`);
  } else if (x.response) {
    assert.ok(m.response, `${where}: no response`);
    for (const [k, v] of Object.entries(x.response)) assert.deepEqual(m.response[k as keyof MemcachedResponse], v, `${where}: response.${k}`);
  }
  if (x.error) assert.deepEqual(e.error, { type: x.error }, where);
  else assert.equal(e.error, undefined, `${where}: no error`);
  if (x.value?.truncated || x.response?.values?.some((v) => v.value.truncated)) assert.ok(e.pano.flags?.includes('truncated'), `${where}: flags ${e.pano.flags}`);
  x.also?.(e);
}

function checkSequence(list: MemcachedEvent[], expected: Expect[], protocol: (x: Expect) => 'text' | 'binary' | 'meta', what: string): void {
  assert.deepEqual(list.map((e) => e.db?.operation?.name), expected.map((x) => x.op), `${what}:\n  ${showAll(list)}`);
  expected.forEach((x, i) => checkEvent(list[i]!, x, protocol(x), `${what} #${i} ${x.text ?? x.op}`));
}

const val = (key: string, flags: number, data: Buffer | string, cas?: string) => ({ key, flags, ...(cas === undefined ? {} : { cas }), value: expectedBody(data) });

// ---------------------------------------------------------------------------
// pymemcache: what PY_SCRIPT did, in order

function pymemcacheExpected(run: MemcachedScenarioResult): Expect[] {
  const r = run.py.results as Record<string, any>;
  // what pymemcache got back, so a change of client or server shows here first
  assert.deepEqual(
    [r.set_flags, r.add_existing, r.replace_missing, r.get_hit, r.get_miss, r.get_many, r.cas_ok, r.cas_exists, r.get_appended, r.incr, r.decr, r.incr_missing, r.touch, r.touch_missing, r.delete, r.delete_missing, r.get_quiet, r.get_big, r.get_json, r.version, r.flush_all],
    [true, false, false, 'hello world', null, { 'py:a': 'alpha', 'py:b': 'beta' }, true, false, 'head-alpha2-tail', 15, 12, null, true, false, true, false, 'shh', [run.big.length, true], run.json, '1.6.18', true],
  );
  const cas = String(r.gets[1]);
  assert.match(cas, /^\d+$/);
  const big = run.big;
  const store = (op: string, key: string, data: string | Buffer, status: string, o: { flags?: number; exptime?: number; cas?: string; noreply?: boolean } = {}): Expect => {
    const size = Buffer.byteLength(data);
    const text = `${op} ${key} ${o.flags ?? 0} ${o.exptime ?? 0} ${size}${o.cas ? ` ${o.cas}` : ''}${o.noreply ? ' noreply' : ''}`;
    return {
      op,
      text,
      keys: [key],
      flags: o.flags ?? 0,
      exptime: o.exptime ?? 0,
      cas: o.cas,
      noreply: o.noreply,
      value: expectedBody(data),
      ...(o.noreply ? { kind: 'message' as const } : { response: { status } }),
    };
  };
  const get = (keys: string[], values: ReturnType<typeof val>[], op = 'get'): Expect => ({
    op,
    text: `${op} ${keys.join(' ')}`,
    keys,
    returned_rows: values.length,
    response: { status: 'END', ...(values.length ? { values } : {}) },
    also: values.length ? undefined : (e) => assert.deepEqual(e.memcached.response?.values ?? [], [], 'a miss returns no values'),
  });
  const CLIENT_ERROR = 'cannot increment or decrement non-numeric value';
  assert.ok(String(r.incr_text).includes(CLIENT_ERROR), `pymemcache saw ${r.incr_text}`);
  return [
    store('set', 'py:flags', 'hello world', 'STORED', { flags: 5, exptime: 300 }),
    store('add', 'py:flags', 'other', 'NOT_STORED'),
    store('replace', 'py:missing', 'other', 'NOT_STORED'),
    get(['py:flags'], [val('py:flags', 5, 'hello world')]),
    get(['py:missing'], []),
    store('set', 'py:a', 'alpha', 'STORED'),
    store('set', 'py:b', 'beta', 'STORED'),
    get(['py:a', 'py:b', 'py:nope'], [val('py:a', 0, 'alpha'), val('py:b', 0, 'beta')]),
    get(['py:a'], [val('py:a', 0, 'alpha', cas)], 'gets'),
    store('cas', 'py:a', 'alpha2', 'STORED', { cas }),
    store('cas', 'py:a', 'alpha3', 'EXISTS', { cas }),
    store('append', 'py:a', '-tail', 'STORED'),
    store('prepend', 'py:a', 'head-', 'STORED'),
    get(['py:a'], [val('py:a', 0, 'head-alpha2-tail')]),
    store('set', 'py:counter', '10', 'STORED'),
    { op: 'incr', text: 'incr py:counter 5', keys: ['py:counter'], delta: '5', response: { number: '15' } },
    { op: 'decr', text: 'decr py:counter 3', keys: ['py:counter'], delta: '3', response: { number: '12' } },
    { op: 'incr', text: 'incr py:nocounter 1', keys: ['py:nocounter'], delta: '1', response: { status: 'NOT_FOUND' } },
    { op: 'touch', text: 'touch py:a 60', keys: ['py:a'], exptime: 60, response: { status: 'TOUCHED' } },
    { op: 'touch', text: 'touch py:missing 60', keys: ['py:missing'], exptime: 60, response: { status: 'NOT_FOUND' } },
    { op: 'delete', text: 'delete py:b', keys: ['py:b'], response: { status: 'DELETED' } },
    { op: 'delete', text: 'delete py:b', keys: ['py:b'], response: { status: 'NOT_FOUND' } },
    // noreply: a message; the get after it is answered, and paired with its own response
    store('set', 'py:quiet', 'shh', '', { noreply: true }),
    get(['py:quiet'], [val('py:quiet', 0, 'shh')]),
    // ~100 KB each way: over the 64 KiB limit, kept cut, its size whole
    store('set', 'py:big', big, 'STORED'),
    get(['py:big'], [val('py:big', 0, big)]),
    {
      ...store('set', 'py:json', run.json, 'STORED'),
      also: (e) => assert.equal(JSON.parse(e.memcached.value!.content!).email, 'bob@example.com'),
    },
    get(['py:json'], [val('py:json', 0, run.json)]),
    {
      op: 'stats',
      text: 'stats',
      also: (e) => {
        const st = e.memcached.response?.stats;
        assert.ok(st, `stats: ${show(e)}`);
        assert.equal(Object.keys(st).length, r.stats.count, 'every STAT line');
        assert.equal(st.pid, String(r.stats.pid));
        assert.equal(st.version, r.stats.version);
      },
    },
    { op: 'version', text: 'version', response: { version: '1.6.18' } },
    { op: 'flush_all', text: 'flush_all 0', response: { status: 'OK' } },
    store('set', 'py:text', 'abc', 'STORED'),
    { op: 'incr', text: 'incr py:text 1', keys: ['py:text'], delta: '1', response: { status: 'CLIENT_ERROR', message: CLIENT_ERROR }, error: 'CLIENT_ERROR' },
  ];
}

// ---------------------------------------------------------------------------
// the raw connection: META_REQUESTS one by one, META_QUIET in one write, TEXT_ERROR

/** The flag tokens of a meta response line ("VA 5 f7 t60" → ["f7", "t60"]). */
function responseFlags(received: string): string[] {
  const line = received.slice(0, received.indexOf('\r\n'));
  const [code, ...rest] = line.split(' ');
  return code === 'VA' ? rest.slice(1) : rest;
}

function rawExpected(run: MemcachedScenarioResult): Expect[] {
  const steps = run.raw.steps;
  const got = steps.map((s) => s.received);
  assert.deepEqual(got.map((g) => g.slice(0, 2)), ['HD', 'VA', 'EN', 'ME', 'HD', 'NF', 'VA', 'VA', 'HD', 'NF', 'MN', 'MN', 'ER'], JSON.stringify(got));
  const mgHit = steps[1]!.received;
  assert.match(mgHit, /^VA 5 f7 t(59|60)\r\nhello\r\n$/);
  const meta = (text: string, status: string, o: Partial<Expect> = {}): Expect => {
    const [op, key, ...rest] = text.split(' ');
    // ms's token after the key is the data's size, not a flag
    const flags = op === 'ms' ? rest.slice(1) : rest;
    return { op: op!, text, keys: key && op !== 'mn' ? [key] : [], meta_flags: op === 'mn' ? undefined : flags, ...o, response: { status, ...o.response } };
  };
  // the value of `ma ... v`: a VA response's data, as the values of a retrieval or as a number (the spec leaves it open)
  const counter = (n: string) => (e: MemcachedEvent) => {
    const r = e.memcached.response!;
    assert.ok(r.number === n || r.values?.[0]?.value.content === n, `ma value ${n}: ${JSON.stringify(r)}`);
  };
  return [
    meta('ms mt:key 5 T60 F7', 'HD', { value: expectedBody('hello') }),
    meta('mg mt:key v f t', 'VA', {
      returned_rows: 1,
      response: { meta_flags: responseFlags(mgHit) },
      // the item mg got: its client flags are those the f flag returned (f7), not unknown
      also: (e) => assert.deepEqual(e.memcached.response?.values?.map((v) => [v.key, v.flags, v.value]), [['mt:key', 7, expectedBody('hello')]], `the item mg got: ${show(e)}`),
    }),
    meta('mg mt:missing v', 'EN', { returned_rows: 0 }),
    meta('me mt:key', 'ME'),
    meta('md mt:key', 'HD'),
    meta('md mt:key', 'NF'),
    meta('ma mt:counter N0 J13 v', 'VA', { also: counter('13') }),
    meta('ma mt:counter D5 v', 'VA', { also: counter('18') }),
    meta('ma mt:counter MD D3', 'HD'),
    meta('ma mt:nocounter', 'NF'),
    meta('mn', 'MN'),
    // quiet: memcached suppresses HD and EN; the mn after them is what answers
    { op: 'ms', text: 'ms mt:quiet 2 q', keys: ['mt:quiet'], meta_flags: ['q'], value: expectedBody('hi'), kind: 'message' },
    { op: 'mg', text: 'mg mt:missing v q', keys: ['mt:missing'], meta_flags: ['v', 'q'], kind: 'message' },
    meta('mn', 'MN'),
    // a text get without a key: ERROR
    { op: 'get', text: 'get', keys: [], response: { status: 'ERROR' }, error: 'ERROR' },
  ];
}

// ---------------------------------------------------------------------------
// libmemcached-tools: one connection each, in order

/** memcstat's output: "\tname: value" per stat. */
function memcstatOutput(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of stdout.matchAll(/^\t([^:\s]+): ?(.*)$/gm)) out[m[1]!] = m[2]!;
  return out;
}

function toolExpected(run: MemcachedScenarioResult, i: number): { protocol: 'text' | 'binary'; expected: Expect[] } {
  const t = run.tools[i]!;
  const key = t.key!;
  const bin = t.binary;
  const ok = bin ? 'no_error' : undefined;
  // libmemcached ends each run with quit: answered in the binary protocol; in the text
  // protocol memcached closes the connection without a word, which is quit's answer:
  // a message, as a noreply command is, not unanswered (docs/adr/0288-memcached.md)
  const quit: Expect = bin ? { op: 'quit', response: { status: 'no_error' } } : { op: 'quit', text: 'quit', kind: 'message' };
  const file = t.tool === 'memccp' || (t.tool === 'memccat' && t.result.code === 0) ? run.files[key] : undefined;
  let expected: Expect[];
  switch (t.tool) {
    case 'memccp':
      expected = [{ op: 'set', text: bin ? undefined : `set ${key} 9 600 ${Buffer.byteLength(file!)}`, keys: [key], flags: 9, exptime: 600, value: expectedBody(file!), response: { status: bin ? 'no_error' : 'STORED' } }];
      break;
    case 'memccat': {
      const values = file === undefined ? [] : [val(key, 9, file)];
      assert.equal(t.result.stdout, file === undefined ? '' : `${file}\n`, 'what memccat printed');
      expected = [
        {
          op: bin ? 'getk' : 'get',
          text: bin ? undefined : `get ${key}`,
          keys: [key],
          returned_rows: values.length,
          // binary: the key_not_found status is an outcome, not an error
          response: bin ? { status: values.length ? 'no_error' : 'key_not_found' } : { status: 'END' },
          also: (e) =>
            assert.deepEqual(
              (e.memcached.response?.values ?? []).map((v) => ({ ...v, cas: undefined })),
              values.map((v) => ({ ...v, cas: undefined })),
              `values of ${show(e)}`,
            ),
        },
      ];
      break;
    }
    case 'memcrm':
      expected = [{ op: 'delete', text: bin ? undefined : `delete ${key}`, keys: [key], response: { status: bin ? 'no_error' : 'DELETED' } }];
      break;
    case 'memcstat': {
      const printed = memcstatOutput(t.result.stdout);
      assert.equal(printed.version, '1.6.18', t.result.stdout.slice(0, 300));
      expected = [
        { op: 'version', text: bin ? undefined : 'version', response: { version: '1.6.18', ...(ok ? { status: ok } : {}) } },
        {
          op: bin ? 'stat' : 'stats',
          // libmemcached writes `stats \r\n`, with the space
          text: bin ? undefined : 'stats ',
          // every stat memcstat printed, as it got it
          also: (e) => assert.deepEqual(e.memcached.response?.stats, printed, `stats of ${show(e)}`),
        },
      ];
      break;
    }
    default:
      throw new Error(`no expectation for ${t.tool}`);
  }
  return { protocol: bin ? 'binary' : 'text', expected: [...expected, quit] };
}

// ---------------------------------------------------------------------------

/** The tools' connections (client ports), in the order they ran (by their first event). */
function toolConnections(run: MemcachedScenarioResult, conns: Map<number, MemcachedEvent[]>): number[] {
  return [...conns.entries()]
    .filter(([port]) => port !== run.py.port && port !== run.raw.port)
    .sort(([, a], [, b]) => cmpStart(a[0]!, b[0]!))
    .map(([port]) => port);
}

test('pymemcache, meta commands and libmemcached-tools against memcached parse into what the clients did', { skip }, async () => {
  const { run, only: mc } = await capture();
  const all = showAll(mc);
  assert.ok(mc.length > 0, 'no memcached events');
  assert.ok(mc.every((e) => e.pano.protocol === 'memcached'));

  for (const e of mc) {
    assert.equal(e.network.protocol.name, 'memcached', show(e));
    assert.equal(e.db.system.name, 'memcached', show(e));
    assert.equal(e.server.port, run.port, show(e));
    assert.notEqual(e.pano.kind, 'orphan_response', show(e));
    // every request was answered or expects no answer
    assert.notEqual(e.pano.kind, 'unanswered', show(e));
    assert.ok(!e.pano.flags?.includes('gap'), show(e));
  }

  const conns = byConnection(mc);
  // one connection for pymemcache, one raw, one per libmemcached run
  assert.equal(conns.size, 2 + run.tools.length, all);

  const py = conns.get(run.py.port);
  assert.ok(py, `no events on pymemcache's connection ${run.py.port}:\n  ${all}`);
  checkSequence(py, pymemcacheExpected(run), () => 'text', 'pymemcache');

  const raw = conns.get(run.raw.port);
  assert.ok(raw, `no events on the raw connection ${run.raw.port}:\n  ${all}`);
  checkSequence(raw, rawExpected(run), (x) => (x.op.length === 2 && x.op.startsWith('m') ? 'meta' : 'text'), 'raw');

  const toolConns = toolConnections(run, conns).map((port) => conns.get(port)!);
  run.tools.forEach((t, i) => {
    const { protocol, expected } = toolExpected(run, i);
    checkSequence(toolConns[i]!, expected, () => protocol, `${t.tool}${t.binary ? ' --binary' : ''} ${t.args.join(' ')}`);
  });

  // and nothing else
  assert.equal(mc.length, py.length + raw.length + toolConns.reduce((n, l) => n + l.length, 0));
});

test('memcached detected without being told the port, the lone-get connections by the server\'s answer', { skip }, async () => {
  const { run, mc, only } = await capture();
  const conns = byConnection(only);
  const toolPorts = toolConnections(run, conns);
  // memccat over the text protocol opens with a lone `get <key>`, a Redis inline command as much as
  // memcached's: detection waits for the server's answer (VALUE/END), which says memcached (ADR 0288)
  const loneGet = new Set(run.tools.flatMap((t, i) => (t.tool === 'memccat' && !t.binary ? [toolPorts[i]!] : [])));
  assert.equal(loneGet.size, 2);
  assert.notEqual(run.port, 11211);
  for (const port of loneGet) {
    const first = conns.get(port)![0]!;
    assert.match(first.db.query!.text, /^get \S+$/, show(first));
    assert.ok(mc.some((e) => e.client.port === port), `connection ${port} is memcached's`);
  }
  // every connection's events are the same whether or not detection was told the protocol
  const strip = (list: PanoEvent[]) => list.map((e) => JSON.stringify({ ...e, pano: { ...e.pano, id: undefined, connection: undefined } }));
  assert.deepEqual(strip(mc), strip(only));
});

test('memcached: the big value is kept to the body limit with its whole size', { skip }, async () => {
  const { only: mc } = await capture();
  const set = mc.find((e) => e.db.operation?.name === 'set' && e.memcached.keys?.[0] === 'py:big');
  assert.ok(set, 'no set of py:big');
  assert.equal(set.memcached.value!.size, 100_000);
  assert.equal(set.memcached.value!.truncated, true);
  assert.equal(Buffer.byteLength(set.memcached.value!.content!), MAX_BODY);
  // the request bytes on the wire are all there: the command line, the value, two CRLFs
  assert.equal(set.pano.request_bytes, Buffer.byteLength(`set py:big 0 0 100000\r\n`) + 100_000 + 2);
});
