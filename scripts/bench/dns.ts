/**
 * DNS parsing throughput: the whole pano-parse pipeline (pcapng reader →
 * decoder → UDP flows → DNS decode, query/response stitching → events
 * written as pano-parse writes them, UTF-8 NDJSON, to a discarding stream)
 * in-process, beside `tshark -T fields` extracting id,
 * name, type, rcode and answer count from the same file in the same run.
 * Prints the ratio of pano's best of 5 warm runs to tshark's best of 3, the
 * runs interleaved (`interleavedRounds`).
 *
 * Workloads: 5000 client ports each asking 10 questions (A, AAAA, CNAME
 * chains, MX, TXT, NXDOMAIN) of one resolver, with name compression as
 * resolvers answer, and an EDNS OPT record in every message; then the same
 * 50,000 questions each from a port of its own, as stub resolvers that
 * randomise the source port ask them (glibc opens a socket per query): a
 * flow per exchange, which costs pano-parse a connection each and tshark
 * nothing more.
 *
 *   node --import tsx --conditions=source scripts/bench/dns.ts [clients] [queries]
 *   (given: that one workload only)
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ParsePipeline } from '@panopticon/parse';
import { discardingOutput, feedAsRead, interleavedRounds, timedPeer } from './event-sink.js';
import { pcapng, udpFrame, type Frame } from '../../test/helpers/synth.js';

const WORKLOADS: Array<[clients: number, queries: number]> = process.argv[2]
  ? [[Number(process.argv[2]), Number(process.argv[3] ?? 10)]]
  : [[5000, 10], [50000, 1]];
const ROUNDS = 5;
const TSHARK_RUNS = 3;
/** Worker threads for the flow-sharded figures: one per core of the 2-core machines this runs on. */
const WORKERS = 2;

function name(n: string): Buffer {
  return Buffer.concat([...n.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])), Buffer.from([0])]);
}
function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}
function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}
const OPT = Buffer.concat([Buffer.from([0]), u16(41), u16(1232), u32(0), u16(0)]);
function header(id: number, flags: number, qd: number, an: number, ar: number): Buffer {
  return Buffer.concat([u16(id), u16(flags), u16(qd), u16(an), u16(0), u16(ar)]);
}
/** An answer owned by the question name (pointer to offset 12). */
function rr(type: number, ttl: number, rdata: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0xc0, 12]), u16(type), u16(1), u32(ttl), u16(rdata.length), rdata]);
}

function exchange(id: number, i: number): [Buffer, Buffer] {
  const host = `host${i % 977}.svc${i % 13}.example.com`;
  const kind = i % 6;
  const qtype = [1, 28, 1, 15, 16, 1][kind];
  const q = Buffer.concat([header(id, 0x0120, 1, 0, 1), name(host), u16(qtype), u16(1), OPT]);
  const question = Buffer.concat([name(host), u16(qtype), u16(1)]);
  let answers: Buffer[] = [];
  let rcode = 0;
  switch (kind) {
    case 0: answers = [rr(1, 300, Buffer.from([10, 0, i & 0xff, (i >> 8) & 0xff]))]; break;
    case 1: answers = [rr(28, 300, Buffer.from(`fd000000000000000000000000${(i & 0xffff).toString(16).padStart(4, '0')}01`.slice(0, 32), 'hex'))]; break;
    case 2: answers = [rr(5, 60, Buffer.concat([Buffer.from([4]), Buffer.from('edge'), Buffer.from([0xc0, 12])])), rr(1, 60, Buffer.from([192, 0, 2, i & 0xff]))]; break;
    case 3: answers = [rr(15, 3600, Buffer.concat([u16(10), Buffer.from([4]), Buffer.from('mail'), Buffer.from([0xc0, 12])]))]; break;
    case 4: answers = [rr(16, 300, Buffer.concat([Buffer.from([30]), Buffer.from('v=spf1 include:_spf.example ~a')]))]; break;
    default: rcode = 3;
  }
  const r = Buffer.concat([header(id, 0x8180 | rcode, 1, answers.length, 1), question, ...answers, OPT]);
  return [q, r];
}

function build(CLIENTS: number, QUERIES: number): Buffer {
  const frames: Frame[] = [];
  const resolver = { addr: '10.53.0.1', port: 53 };
  let t = 1_700_000_000_000_000_000n;
  for (let q = 0; q < QUERIES; q++) {
    for (let c = 0; c < CLIENTS; c++) {
      const client = { addr: `10.1.${(c >> 8) & 0xff}.${(c & 0xff) + 1}`, port: 20000 + (c % 40000) };
      const [qb, rb] = exchange((c * 31 + q * 7) & 0xffff, c * QUERIES + q);
      t += 20_000n;
      frames.push({ tsNs: t, data: udpFrame(client, resolver, qb) });
      frames.push({ tsNs: t + 350_000n, data: udpFrame(resolver, client, rb) });
    }
  }
  frames.sort((a, b) => (a.tsNs < b.tsNs ? -1 : a.tsNs > b.tsNs ? 1 : 0));
  return pcapng(frames);
}

async function pano(bytes: Buffer): Promise<{ ns: number; events: number }> {
  let events = 0;
  const t0 = process.hrtime.bigint();
  const { out, bytes: outBytes } = discardingOutput();
  const p = new ParsePipeline({
    source: { type: 'pcap', name: 'bench.pcapng' },
    onEvent: (ev) => {
      events++;
      out.line(JSON.stringify(ev));
    },
  });
  await feedAsRead(p, bytes);
  p.end();
  if (outBytes() === 0) throw new Error('no output');
  const malformed = p.stats().protocols['dns.malformed'] ?? 0;
  if (malformed) throw new Error(`benchmark data has ${malformed} malformed DNS messages`);
  return { ns: Number(process.hrtime.bigint() - t0), events };
}

/** tshark's wall time over `path`, its output in a file beside it; one line per packet. */
function tshark(path: string, packets: number): number {
  const r = timedPeer('tshark', ['-n', '-r', path, '-T', 'fields', '-e', 'dns.id', '-e', 'dns.qry.name', '-e', 'dns.qry.type', '-e', 'dns.flags.rcode', '-e', 'dns.count.answers'], `${path}.tshark.txt`);
  if (r.lines !== packets) throw new Error(`tshark printed ${r.lines} lines, not one per packet`);
  return r.ns;
}

const dir = mkdtempSync(join(tmpdir(), 'pano-bench-dns-'));
try {
  for (const [clients, queries] of WORKLOADS) {
    const bytes = build(clients, queries);
    const exchanges = clients * queries;
    const file = join(dir, 'dns.pcapng');
    writeFileSync(file, bytes);
    if (process.env.PANO_BENCH_KEEP) writeFileSync(process.env.PANO_BENCH_KEEP, bytes);
    const mb = bytes.length / 1e6;
    console.log(`capture: ${clients} client ports x ${queries} ${queries === 1 ? 'query' : 'queries'} over UDP (${queries === 1 ? "a flow per exchange" : `${queries} exchanges a flow`}), ${mb.toFixed(1)} MB`);
    const f = await interleavedRounds({ bytes, rounds: ROUNDS, peerRuns: TSHARK_RUNS, workers: WORKERS, expectEvents: exchanges, oneThread: () => pano(bytes), peer: () => tshark(file, 2 * exchanges) });
    const t = Math.min(...f.peerNs);
    console.log(`pano-parse (in-process, NDJSON written):   ${(f.bestNs / 1e6).toFixed(0)} ms (CPU ${(f.cpuNs / 1e6).toFixed(0)} ms a round), ${(mb / (f.bestNs / 1e9)).toFixed(1)} MB/s, ${Math.round(f.events / (f.bestNs / 1e9))} exchanges/s`);
    console.log(`tshark -T fields (5 fields):               ${(t / 1e6).toFixed(0)} ms (best of ${TSHARK_RUNS}: ${f.peerNs.map((x) => (x / 1e6).toFixed(0)).join(', ')} ms), ${(mb / (t / 1e9)).toFixed(1)} MB/s`);
    console.log(`pano-parse first (cold) run: ${(f.coldNs / 1e6).toFixed(0)} ms; ratio cold: ${(t / f.coldNs).toFixed(1)}x`);
    console.log(`ratio pano/tshark: ${(t / f.bestNs).toFixed(1)}x`);
    console.log(`pano-parse --workers ${WORKERS} (in-process, NDJSON written): ${(f.shardedBestNs / 1e6).toFixed(0)} ms (CPU ${(f.shardedCpuNs / 1e6).toFixed(0)} ms a round, all threads), ${(mb / (f.shardedBestNs / 1e9)).toFixed(1)} MB/s; first run (workers started): ${(f.shardedColdNs / 1e6).toFixed(0)} ms, ratio cold ${(t / f.shardedColdNs).toFixed(1)}x`);
    console.log(`ratio pano --workers ${WORKERS}/tshark: ${(t / f.shardedBestNs).toFixed(1)}x`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
