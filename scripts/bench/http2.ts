/**
 * HTTP/2 + gRPC parsing throughput: the whole pano-parse pipeline (pcapng
 * reader → decoder → TCP reassembly → HTTP/2 frames, HPACK, stream stitching,
 * gRPC framing and wire decode → events written as pano-parse writes them,
 * UTF-8 NDJSON, to a discarding stream) in-process,
 * beside `tshark -T fields` extracting stream id, :path, :status and
 * grpc-status from the same file in the same run. Prints the ratio of pano's
 * best of 5 warm runs to tshark's best of 3, the runs
 * interleaved (`interleavedRounds`).
 *
 * Workload: 200 cleartext h2 connections on port 50051, 100 unary gRPC calls
 * each (request and response messages of 60-400 bytes of protobuf with
 * strings), HPACK with Huffman and dynamic-table reuse as real stacks do.
 *
 *   node --import tsx --conditions=source scripts/bench/http2.ts [connections] [calls]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ParsePipeline } from '@panopticon/parse';
import { discardingOutput, feedAsRead, interleavedRounds, timedPeer } from './event-sink.js';
import { HpackEncoder } from '../../packages/protocols/src/http2/hpack.js';
import { Conversation, pcapng, type Frame } from '../../test/helpers/synth.js';
import { PREFACE, frame, grpcMessage, pbField, settings } from '../../test/helpers/http2-frames.js';

const CONNECTIONS = Number(process.argv[2] ?? 200);
const CALLS = Number(process.argv[3] ?? 100);
const ROUNDS = 5;
const TSHARK_RUNS = 3;
/** Worker threads for the flow-sharded figures: one per core of the 2-core machines this runs on. */
const WORKERS = 2;

let seed = 7;
function rand(n: number): number {
  seed = (seed * 1103515245 + 12345) >>> 0;
  return (seed >>> 8) % n;
}
const words = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet'];
function text(n: number): string {
  let s = '';
  while (s.length < n) s += words[rand(words.length)] + ' ';
  return s.slice(0, n);
}

function build(): Buffer {
  const frames: Frame[] = [];
  for (let c = 0; c < CONNECTIONS; c++) {
    const conv = new Conversation({ addr: `10.0.${c >> 8}.${(c & 0xff) + 1}`, port: 40000 + c }, { addr: '10.9.0.1', port: 50051 }, { startNs: 1_700_000_000_000_000_000n + BigInt(c) * 1_000_000_000n });
    conv.handshake();
    const ce = new HpackEncoder();
    const se = new HpackEncoder();
    conv.send(0, Buffer.concat([PREFACE, settings([[4, 4194304]])]));
    conv.send(1, Buffer.concat([settings([[3, 100]]), settings([], true)]));
    for (let i = 0; i < CALLS; i++) {
      const id = 1 + 2 * i;
      const method = ['GetUser', 'ListOrders', 'UpdateProfile'][i % 3];
      const req = Buffer.concat([pbField(1, 1000 + i), pbField(2, text(20 + rand(200))), pbField(3, Buffer.concat([pbField(1, text(30)), pbField(2, rand(1000))]))]);
      const res = Buffer.concat([pbField(1, 1000 + i), pbField(2, `user${i}@example.test`), pbField(4, text(40 + rand(300)))]);
      conv.send(0, Buffer.concat([
        frame(1, 4, id, ce.encode([[':method', 'POST'], [':scheme', 'http'], [':path', `/shop.v1.Users/${method}`], [':authority', '10.9.0.1:50051'], ['content-type', 'application/grpc'], ['te', 'trailers'], ['grpc-timeout', '5S'], ['user-agent', 'grpc-go/1.60.0'], ['x-request-id', `${c}-${i}`]])),
        frame(0, 1, id, grpcMessage(req)),
      ]));
      conv.send(1, Buffer.concat([
        frame(1, 4, id, se.encode([[':status', '200'], ['content-type', 'application/grpc']])),
        frame(0, 0, id, grpcMessage(res)),
        frame(1, 5, id, se.encode([['grpc-status', i % 17 === 0 ? '5' : '0'], ['grpc-message', i % 17 === 0 ? 'not found' : '']])),
      ]));
    }
    conv.close();
    frames.push(...conv.frames);
  }
  frames.sort((a, b) => (a.tsNs < b.tsNs ? -1 : a.tsNs > b.tsNs ? 1 : 0));
  return pcapng(frames);
}

async function pano(bytes: Buffer): Promise<{ ns: number; events: number; outBytes: number }> {
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
  const written = outBytes();
  return { ns: Number(process.hrtime.bigint() - t0), events, outBytes: written };
}

/** tshark's wall time over `path`, its output in a file beside it. */
function tshark(path: string): number {
  return timedPeer('tshark', ['-n', '-r', path, '-d', 'tcp.port==50051,http2', '-T', 'fields', '-e', 'http2.streamid', '-e', 'http2.headers.path', '-e', 'http2.headers.status', '-e', 'grpc.message_length'], `${path}.tshark.txt`).ns;
}

const dir = mkdtempSync(join(tmpdir(), 'pano-bench-h2-'));
try {
  const bytes = build();
  const file = join(dir, 'grpc.pcapng');
  writeFileSync(file, bytes);
  if (process.env.PANO_BENCH_KEEP) writeFileSync(process.env.PANO_BENCH_KEEP, bytes);
  const mb = bytes.length / 1e6;
  console.log(`capture: ${CONNECTIONS} connections x ${CALLS} gRPC calls, ${mb.toFixed(1)} MB`);
  const f = await interleavedRounds({ bytes, rounds: ROUNDS, peerRuns: TSHARK_RUNS, workers: WORKERS, expectEvents: CONNECTIONS * CALLS, oneThread: () => pano(bytes), peer: () => tshark(file) });
  const t = Math.min(...f.peerNs);
  const panoMBs = mb / (f.bestNs / 1e9);
  const tsharkMBs = mb / (t / 1e9);
  console.log(`pano-parse (in-process, NDJSON written):   ${(f.bestNs / 1e6).toFixed(0)} ms (CPU ${(f.cpuNs / 1e6).toFixed(0)} ms a round), ${panoMBs.toFixed(1)} MB/s, ${Math.round(f.events / (f.bestNs / 1e9))} events/s`);
  console.log(`tshark -T fields (4 fields):               ${(t / 1e6).toFixed(0)} ms (best of ${TSHARK_RUNS}: ${f.peerNs.map((x) => (x / 1e6).toFixed(0)).join(', ')} ms), ${tsharkMBs.toFixed(1)} MB/s`);
  console.log(`pano-parse first (cold) run: ${(f.coldNs / 1e6).toFixed(0)} ms; ratio cold: ${(t / f.coldNs).toFixed(1)}x`);
  console.log(`ratio pano/tshark: ${(t / f.bestNs).toFixed(1)}x`);
  console.log(`pano-parse --workers ${WORKERS} (in-process, NDJSON written): ${(f.shardedBestNs / 1e6).toFixed(0)} ms (CPU ${(f.shardedCpuNs / 1e6).toFixed(0)} ms a round, all threads), ${(mb / (f.shardedBestNs / 1e9)).toFixed(1)} MB/s; first run (workers started): ${(f.shardedColdNs / 1e6).toFixed(0)} ms, ratio cold ${(t / f.shardedColdNs).toFixed(1)}x`);
  console.log(`ratio pano --workers ${WORKERS}/tshark: ${(t / f.shardedBestNs).toFixed(1)}x`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
