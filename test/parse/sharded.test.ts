/**
 * Flow-sharded parsing (`pano-parse --workers N`): the same events as one
 * pipeline, checked against one pipeline over the whole corpus and over
 * synthetic traffic spread across many flows; the command's errors and
 * damage reports with workers (signals: cli.test.ts).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { ParsePipeline, ParseWorkers, ShardedPipeline, shardOf } from '@panopticon/parse';
import { PANO_PEN, PcapngWriter, encodeTlsEndRecord, encodeTlsRecord, type TlsRecord } from '@panopticon/pcap';
import type { L4Packet } from '@panopticon/decode';
import { corpusAvailable, corpusDir, corpusFiles, repoRoot } from '../helpers/corpus.js';
import { Conversation, pcapng, udpFrame, type Frame } from '../helpers/synth.js';

const skip = corpusAvailable() ? false : 'corpus not found at ../shared/corpus';
const bin = resolve(repoRoot, 'bin/pano-parse');
const tmp = mkdtempSync(join(tmpdir(), 'pano-parse-sharded-'));
const CHUNK = 64 * 1024;

type Stats = ReturnType<ParsePipeline['stats']>;

/** One pipeline's events, each with the position (frame) it was completed at. */
function single(bytes: Buffer): { lines: string[]; ords: number[]; stats: Stats } {
  const lines: string[] = [];
  const ords: number[] = [];
  const p: ParsePipeline = new ParsePipeline({
    source: { type: 'pcap', name: 'x' },
    onEvent: (e) => {
      lines.push(JSON.stringify(e));
      ords.push(p.ordinal);
    },
  });
  for (let o = 0; o < bytes.length; o += CHUNK) p.push(bytes.subarray(o, o + CHUNK));
  p.end();
  return { lines, ords, stats: p.stats() };
}

/**
 * The merged order is one pipeline's order, except among events completed
 * by the same frame (a burst of timeouts, the end of input), which come
 * worker by worker: compare position by position, each such run as a set.
 */
function assertSameOrder(many: string[], one: { lines: string[]; ords: number[] }, what: string): void {
  assert.equal(many.length, one.lines.length, `${what}: event count`);
  for (let i = 0; i < many.length; ) {
    let j = i + 1;
    while (j < many.length && one.ords[j] === one.ords[i]) j++;
    const got = many.slice(i, j).map(withoutIds).sort();
    const want = one.lines.slice(i, j).map(withoutIds).sort();
    assert.deepEqual(got, want, `${what}: events ${i}-${j - 1} (completed at frame ${one.ords[i]})`);
    i = j;
  }
}

async function sharded(bytes: Buffer, pool: ParseWorkers): Promise<{ lines: string[]; stats: Stats; calls: number }> {
  const parts: Buffer[] = [];
  let counted = 0;
  const p = new ShardedPipeline({
    pool,
    source: { type: 'pcap', name: 'x' },
    onLines: (batch, start, end, n) => {
      // a copy: the batch goes back to its worker after the call
      parts.push(Buffer.from(batch.subarray(start, end)));
      counted += n;
    },
  });
  for (let o = 0; o < bytes.length; o += CHUNK) await p.push(bytes.subarray(o, o + CHUNK));
  await p.end();
  const text = Buffer.concat(parts).toString('utf8');
  const lines = text === '' ? [] : text.slice(0, -1).split('\n');
  assert.equal(lines.length, counted, 'onLines counts the lines it hands over');
  assert.equal(p.events, counted);
  return { lines, stats: p.stats(), calls: parts.length };
}

/** Connection ids differ between runs by design (each worker has its own residue); the rest must not. */
function withoutIds(line: string): string {
  const e = JSON.parse(line);
  e.pano.id = e.pano.id.replace(/^\d+-/, '');
  if (e.pano.connection) delete e.pano.connection.id;
  // the other view's id: whether it is named is what must agree
  if (e.pano.connection?.mirror_of !== undefined) e.pano.connection.mirror_of = 'named';
  return JSON.stringify(e);
}

/** Each connection's events in order, as a sorted list: the same however connections are numbered. */
function perConnection(lines: string[]): string[] {
  const byConn = new Map<string, string[]>();
  for (const l of lines) {
    const pano = JSON.parse(l).pano;
    const id = `${pano.source.name} ${pano.connection?.id ?? 'none'}`;
    const list = byConn.get(id) ?? [];
    list.push(withoutIds(l));
    byConn.set(id, list);
  }
  return [...byConn.values()].map((l) => l.join('\n')).sort();
}

const bigintText = (_k: string, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v);

const pools = new Map<number, ParseWorkers>();
function pool(n: number): ParseWorkers {
  let p = pools.get(n);
  if (!p) pools.set(n, (p = new ParseWorkers(n)));
  return p;
}
after(async () => {
  for (const p of pools.values()) await p.close();
});

test('shardOf puts both directions of a flow in one shard and spreads flows across shards', () => {
  const counts = [0, 0, 0, 0];
  for (let i = 0; i < 4000; i++) {
    const p = { srcAddr: `10.0.${i % 7}.${(i * 13) % 250}`, dstAddr: '10.9.0.1', srcPort: 1024 + ((i * 7919) % 60000), dstPort: [53, 443, 5432][i % 3] } as L4Packet;
    const back = { ...p, srcAddr: p.dstAddr, dstAddr: p.srcAddr, srcPort: p.dstPort, dstPort: p.srcPort } as L4Packet;
    const s = shardOf(p, 4);
    assert.equal(shardOf(back, 4), s);
    counts[s]++;
  }
  for (const c of counts) assert.ok(c > 700 && c < 1300, `shard sizes ${counts}`);
});

test('every corpus capture: 2 and 3 workers write the same events in the same order, with the same counters', { skip }, async () => {
  for (const file of corpusFiles()) {
    const name = relative(corpusDir, file);
    const bytes = readFileSync(file);
    const one = single(bytes);
    for (const n of [2, 3]) {
      const many = await sharded(bytes, pool(n));
      assertSameOrder(many.lines, one, `${name}, ${n} workers`);
      // Within a connection the order is exact, and ids group events as one pipeline's do.
      assert.deepEqual(perConnection(many.lines), perConnection(one.lines), `${name}, ${n} workers`);
      assert.equal(JSON.stringify(many.stats, bigintText), JSON.stringify(one.stats, bigintText), `${name}, ${n} workers: counters`);
      const ids = new Set(many.lines.map((l) => JSON.parse(l).pano.id));
      assert.equal(ids.size, many.lines.length, `${name}, ${n} workers: event ids are unique`);
    }
  }
});

/** 400 DNS clients asking in turn, answers 0.3 ms later, every 7th query never answered. */
function manyFlowsCapture(): Buffer {
  const frames: Frame[] = [];
  const resolver = { addr: '10.53.0.1', port: 53 };
  let t = 1_700_000_000_000_000_000n;
  for (let q = 0; q < 3; q++) {
    for (let c = 0; c < 400; c++) {
      const client = { addr: `10.1.${c >> 8}.${(c & 0xff) + 1}`, port: 20000 + c };
      const id = (c * 3 + q) & 0xffff;
      const name = Buffer.from(`\x04host\x03${String(c).padStart(3, '0')}\x07example\x00`, 'latin1');
      const query = Buffer.concat([Buffer.from([id >> 8, id & 0xff, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]), name, Buffer.from([0, 1, 0, 1])]);
      t += 100_000n;
      frames.push({ tsNs: t, data: udpFrame(client, resolver, query) });
      if ((c + q) % 7 === 0) continue;
      const answer = Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, c & 0xff]);
      const response = Buffer.concat([Buffer.from([id >> 8, id & 0xff, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]), name, Buffer.from([0, 1, 0, 1]), answer]);
      frames.push({ tsNs: t + 300_000n, data: udpFrame(resolver, client, response) });
    }
    t += 20_000_000_000n; // past the 5 s response timeout: unanswered queries come out mid-stream
  }
  frames.sort((a, b) => (a.tsNs < b.tsNs ? -1 : a.tsNs > b.tsNs ? 1 : 0));
  return pcapng(frames);
}

test('many interleaved flows: the merged output is in the same order as one pipeline, timeouts included', async () => {
  const bytes = manyFlowsCapture();
  const one = single(bytes);
  const unanswered = one.lines.filter((l) => JSON.parse(l).pano.kind === 'unanswered').length;
  assert.equal(one.lines.length, 1200);
  assert.ok(unanswered > 150, `${unanswered} unanswered`);
  for (const n of [2, 3, 4]) {
    const many = await sharded(bytes, pool(n));
    assertSameOrder(many.lines, one, `${n} workers`);
    assert.deepEqual(perConnection(many.lines), perConnection(one.lines), `${n} workers`);
    // Workers take turns: the merge really interleaves their batches.
    assert.ok(many.calls > n, `${many.calls} writes for ${n} workers`);
    assert.equal(JSON.stringify(many.stats, bigintText), JSON.stringify(one.stats, bigintText));
  }
});

test('a worker set serves one input after another, and refuses two at once', async () => {
  const bytes = manyFlowsCapture();
  const workers = new ParseWorkers(2);
  try {
    const first = await sharded(bytes, workers);
    const busy = new ShardedPipeline({ pool: workers, source: { type: 'pcap', name: 'x' }, onLines: () => {} });
    assert.throws(() => new ShardedPipeline({ pool: workers, source: { type: 'pcap', name: 'y' }, onLines: () => {} }), /in use/);
    await busy.end();
    const second = await sharded(bytes, workers);
    assert.deepEqual(second.lines, first.lines);
  } finally {
    await workers.close();
  }
});

test('abort while pushes are waiting on slow workers: every call settles and what was pushed is parsed', { timeout: 30_000 }, async () => {
  const bytes = manyFlowsCapture();
  const parts: Buffer[] = [];
  const p = new ShardedPipeline({ pool: pool(2), source: { type: 'pcap', name: 'x' }, onLines: (b, start, end) => parts.push(Buffer.from(b.subarray(start, end))) });
  // Not awaited: past the fourth chunk ahead, pushes wait for the workers.
  const pushes: Promise<void>[] = [];
  for (let o = 0; o < bytes.length; o += 4096) pushes.push(p.push(bytes.subarray(o, o + 4096)));
  await Promise.all([...pushes, p.abort()]);
  const lines = Buffer.concat(parts).toString('utf8').trim().split('\n');
  assert.equal(lines.length, single(bytes).lines.length);
});

test('damage inside the input: a capture error from the workers is the same error, and the workers stop', async () => {
  const workers = new ParseWorkers(2);
  const p = new ShardedPipeline({ pool: workers, source: { type: 'pcap', name: 'x' }, onLines: () => {} });
  await assert.rejects(
    (async () => {
      await p.push(Buffer.from('hello, this is not a capture\n'));
      await p.end();
    })(),
    (e: Error & { offset?: number }) => e.name === 'CaptureFormatError' && e.offset === 0 && /magic/i.test(e.message),
  );
  assert.equal(workers.broken, true);
});

function run(args: string[], input?: Buffer) {
  return spawnSync(process.execPath, [bin, ...args], { input, encoding: 'utf8', maxBuffer: 64 << 20 });
}

test('pano-parse -w 2: same events as without, several files on one set of workers', { skip }, () => {
  const a = join(corpusDir, 'http2/arkime-http2-nghttp2.pcap');
  const b = join(corpusDir, 'dns/tcpdump-dns_udp.pcap');
  const one = run([a, b]);
  const two = run(['-w', '2', '--stats', a, b]);
  assert.equal(two.status, 0, two.stderr);
  assert.equal(one.status, 0, one.stderr);
  const lines = (s: string) => s.trim().split('\n');
  assert.deepEqual(perConnection(lines(two.stdout)), perConnection(lines(one.stdout)));
  assert.match(two.stderr, /events\.written\s+\d+/);
});

test('pano-parse --workers: bad counts are one-line errors', () => {
  for (const bad of ['0', 'two', '65']) {
    const r = run(['--workers', bad, '-']);
    assert.equal(r.status, 2, bad);
    assert.equal(r.stderr.split('\n').length, 2, r.stderr);
    assert.match(r.stderr, /--workers/);
  }
});

test('pano-parse -w 2 on bad input: the same one-line errors and damage reports as one thread', { skip }, () => {
  const junk = join(tmp, 'text.pcap');
  writeFileSync(junk, 'hello, this is not a capture\n');
  const r = run(['-w', '2', junk]);
  assert.equal(r.status, 2);
  assert.equal(r.stderr, run([junk]).stderr);

  const bytes = readFileSync(join(corpusDir, 'http1/zeek-methods.pcap'));
  const cut = join(tmp, 'cut.pcap');
  writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length * 0.6) + 7));
  const damaged = run(['-w', '2', cut]);
  const damaged1 = run([cut]);
  assert.equal(damaged.status, 0, damaged.stderr);
  assert.equal(damaged.stderr, damaged1.stderr);
  assert.equal(damaged.stdout.trim().split('\n').length, damaged1.stdout.trim().split('\n').length);
  const strict = run(['-w', '2', '--strict', cut]);
  assert.equal(strict.status, 2);
  assert.match(strict.stderr, /^pano-parse: .*cut\.pcap: offset \d+: [^\n]*\n$/);
  // fatal damage: the events completed before it still come out, the same as with one thread
  const strict1 = run(['--strict', cut]);
  assert.equal(strict1.status, 2);
  const exchanges = (out: string) => out.trim().split('\n').filter(Boolean).map((l) => { const e = JSON.parse(l); return `${e.pano.start_ns} ${e.client.port} ${e.url?.path}`; });
  assert.ok(exchanges(strict1.stdout).length > 0, 'events before the damage are written');
  assert.deepEqual(exchanges(strict.stdout), exchanges(strict1.stdout));
});

test('pano-parse --strict, damage mid-file: every event completed before it is written, by one thread and by -w 2 alike', { skip }, () => {
  // a long capture (many output batches) with one block's length broken half-way through
  const c = new Conversation({ addr: '10.9.0.1', port: 41000 }, { addr: '10.9.0.2', port: 80 }).handshake();
  for (let i = 0; i < 3000; i++) c.send(0, `GET /item/${i} HTTP/1.1\r\nHost: x\r\n\r\n`).send(1, `HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok`);
  const bytes = pcapng(c.frames);
  const mid = bytes.indexOf(Buffer.from([6, 0, 0, 0]), bytes.length >> 1);
  bytes.writeUInt32LE(3, mid + 4);
  const file = join(tmp, 'mid-damage.pcapng');
  writeFileSync(file, bytes);
  const one = run(['--strict', file]);
  const two = run(['-w', '2', '--strict', file]);
  assert.equal(one.status, 2);
  assert.equal(two.status, 2);
  const paths = (out: string) => out.trim().split('\n').map((l) => JSON.parse(l).url.path as string);
  const p1 = paths(one.stdout);
  // the damaged block is the frame after the last complete exchange's response, or within the next one
  assert.ok(p1.length > 1400 && p1.length < 1600, `${p1.length} exchanges before the damage`);
  assert.deepEqual(p1, Array.from({ length: p1.length }, (_, i) => `/item/${i}`));
  assert.deepEqual(paths(two.stdout), p1);
});

/**
 * pano-capture --tls on a host running both ends: for each of six HTTP/1.1
 * connections, the client process's library calls and the server's (one
 * server process, clients of even pids: split by process, the two views of
 * a connection fell into different shards). One client's first write comes
 * before its socket was found (no tuple); one process writes only such
 * records (lost, counted once); SSL_free ends the server's connections and
 * the clients exit.
 */
function bothViewsCapture(): Buffer {
  const w = new PcapngWriter();
  const blocks: Buffer[] = [w.sectionHeader({ application: 'pano-capture' })];
  let t = 1_795_000_000_000_000_000n;
  const lo = Buffer.alloc(16);
  lo.set([127, 0, 0, 1]);
  const rec = (over: Partial<TlsRecord> & Pick<TlsRecord, 'pid' | 'ssl' | 'direction' | 'data'>): void => {
    t += 1_000_000n;
    const r: TlsRecord = { tsNs: t, tid: over.pid, ipVersion: 4, localAddress: lo, localPort: 0, remoteAddress: lo, remotePort: 0, length: over.data.length, comm: 'x', library: 'openssl', role: 0, ...over };
    blocks.push(w.custom({ pen: PANO_PEN, copyable: true, data: encodeTlsRecord(r) }));
  };
  const SERVER = 2001;
  for (let i = 0; i < 6; i++) {
    const client = 3000 + 2 * i;
    const port = 50000 + 7 * i;
    const req = Buffer.from(`GET /item/${i} HTTP/1.1\r\nHost: shop\r\n\r\n`);
    const res = Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n${i}!`);
    const c = { pid: client, ssl: 0x1000n + BigInt(i), role: 1 as const, comm: 'curl', localPort: port, remotePort: 8443 };
    const s = { pid: SERVER, ssl: 0x9000n + BigInt(i), role: 2 as const, comm: 'nginx', localPort: 8443, remotePort: port };
    if (i === 2) rec({ ...c, ipVersion: 0, direction: 2, data: req.subarray(0, 10) });
    rec({ ...c, direction: 2, data: i === 2 ? req.subarray(10) : req });
    rec({ ...s, direction: 1, data: req });
    rec({ ...s, direction: 2, data: res });
    rec({ ...c, direction: 1, data: res });
  }
  rec({ pid: 4001, ssl: 0x7000n, ipVersion: 0, direction: 2, data: Buffer.from('never tied') });
  for (let i = 0; i < 6; i++) {
    t += 1_000_000n;
    blocks.push(w.custom({ pen: PANO_PEN, copyable: true, data: encodeTlsEndRecord({ tsNs: t, pid: SERVER, reason: 1, ssl: 0x9000n + BigInt(i), library: 'openssl' }) }));
    t += 1_000_000n;
    blocks.push(w.custom({ pen: PANO_PEN, copyable: true, data: encodeTlsEndRecord({ tsNs: t, pid: 3000 + 2 * i, reason: 2, ssl: 0n, library: 'openssl' }) }));
  }
  return Buffer.concat(blocks);
}

test('TLS plaintext of both ends: with workers, both views of a connection meet (mirror_of), as in one pipeline', async () => {
  const bytes = bothViewsCapture();
  const one = single(bytes);
  const conns = one.lines.map((l) => JSON.parse(l).pano.connection);
  assert.equal(one.lines.length, 12);
  assert.equal(conns.filter((c) => c.mirror_of !== undefined).length, 6, 'one view of each connection names the other');
  assert.equal(one.stats.flows.plaintextUntiedBytes, 'never tied'.length);
  assert.equal(one.stats.flows.plaintextEndedByLibrary, 6);
  assert.equal(one.stats.flows.plaintextEndedByExit, 6);
  for (const n of [2, 3]) {
    const many = await sharded(bytes, pool(n));
    assertSameOrder(many.lines, one, `${n} workers`);
    assert.deepEqual(perConnection(many.lines), perConnection(one.lines), `${n} workers`);
    assert.equal(JSON.stringify(many.stats, bigintText), JSON.stringify(one.stats, bigintText), `${n} workers: counters`);
  }
});

test('pano-parse -w 2 and -w 3 on FTP: every data connection is parsed in its control connection\'s worker, found as one thread finds it, whatever shard its own tuple gives', () => {
  const client = { addr: '10.0.0.1', port: 51000 };
  const server = { addr: '10.0.0.2', port: 21 };
  const ctl = new Conversation(client, server).handshake();
  const frames: Frame[] = [...ctl.frames];
  const say = (side: 0 | 1, s: string) => frames.push(...ctl.segments(side, s));
  say(1, '220 (vsFTPd 3.0.3)\r\n');
  const transfers = 24;
  const dataTuples: Array<[string, number, string, number]> = [];
  for (let i = 0; i < transfers; i++) {
    const port = 50000 + 13 * i;
    const mode = i % 4;
    let data: Conversation;
    if (mode < 2) {
      // passive: PASV answered 227 (every other one coalesced behind the TYPE reply in one segment), or EPSV answered 229
      say(0, mode === 0 ? 'TYPE I\r\nPASV\r\n' : 'EPSV\r\n');
      say(1, mode === 0 ? `200 Switching to Binary mode.\r\n227 Entering Passive Mode (10,0,0,2,${port >> 8},${port & 255}).\r\n` : `229 Entering Extended Passive Mode (|||${port}|)\r\n`);
      data = new Conversation({ addr: '10.0.0.1', port: 52000 + 7 * i }, { addr: '10.0.0.2', port });
    } else {
      // active: the server connects from port 20 to where PORT or EPRT said
      say(0, mode === 2 ? `PORT 10,0,0,1,${port >> 8},${port & 255}\r\n` : `EPRT |1|10.0.0.1|${port}|\r\n`);
      say(1, '200 PORT command successful.\r\n');
      data = new Conversation({ addr: '10.0.0.2', port: 20 }, { addr: '10.0.0.1', port });
    }
    dataTuples.push([data.client.addr, data.client.port, data.server.addr, data.server.port]);
    say(0, `RETR f${i}.txt\r\n`);
    say(1, '150 Opening data connection.\r\n');
    data.handshake();
    frames.push(...data.frames);
    data.frames.length = 0;
    frames.push(...data.segments(mode < 2 ? 1 : 0, `file ${i}\n`));
    data.close();
    frames.push(...data.frames);
    say(1, '226 Transfer complete.\r\n');
  }
  const file = join(tmp, 'ftp.pcapng');
  writeFileSync(file, pcapng(frames));
  const run = (args: string[]): string[] => {
    const r = spawnSync(process.execPath, [bin, ...args, file], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
    return r.stdout.split('\n').filter(Boolean).map(withoutIds).sort();
  };
  const one = run([]);
  const files = one.filter((l) => l.includes('"ftp-data"')).map((l) => JSON.parse(l).ftp.transfer.path);
  assert.deepEqual(files.sort(), Array.from({ length: transfers }, (_, i) => `f${i}.txt`).sort(), 'one thread: every transfer');
  const mine = shardOf({ srcAddr: client.addr, srcPort: client.port, dstAddr: server.addr, dstPort: server.port } as L4Packet, 2);
  const away = dataTuples.filter(([a, ap, b, bp]) => shardOf({ srcAddr: a, srcPort: ap, dstAddr: b, dstPort: bp } as L4Packet, 2) !== mine).length;
  assert.ok(away > 0, `some data connections' own tuples fall to the other worker of two (${away} of ${transfers})`);
  for (const w of ['2', '3']) assert.deepEqual(run(['-w', w]), one, `${w} workers: the events of one thread`);
});
