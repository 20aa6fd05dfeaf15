/**
 * HTTP/1.1 replay throughput: pano-parse beside tshark on the same capture,
 * in the same run.
 *
 * The capture: 50,000 keep-alive request/response pairs over 400 concurrent
 * connections (125 exchanges each, interleaved the way a busy host's packets
 * are), realistic heads (browser-like request headers, server response
 * headers), JSON request bodies on a third of the requests, JSON responses
 * of 200 B to 12 KB, segmented at MSS 1448 with ACKs. Written as pcapng.
 *
 * Peers: `pano-parse FILE > /dev/null` and `tshark -r FILE -Y http -T fields`
 * with the fields pano-parse puts in every event (11 fields). Each is run
 * ROUNDS times; the best wall time counts. Prints MB/s, packets/s, peak RSS
 * and the ratio.
 *
 *   npm run bench -- http1          (or: node --import tsx --conditions=source scripts/bench/http1.ts [pairs])
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { rand, report, timed, writeWorkload } from './support/tcp-workload.js';
import { requestFor, responseFor } from './support/http1-messages.js';

const PAIRS = Number(process.argv[2] ?? 50_000);
const GENERATE_ONLY = process.argv.includes('--generate-only');
const CONNS = 400;
const ROUNDS = 3;
const root = resolve(import.meta.dirname, '../..');
const outDir = join(root, 'bench-out');
mkdirSync(outDir, { recursive: true });
const file = join(outDir, `http1-${PAIRS}.pcapng`);

function generate(): { packets: number; bytes: number } {
  const w = writeWorkload(file, CONNS, 80);
  for (let made = 0; made < PAIRS; made++) {
    const k = w.conns[rand(CONNS)];
    w.send(k, 0, requestFor(made));
    w.send(k, 1, responseFor(made));
  }
  return w.finish();
}

const gen = generate();
const mb = gen.bytes / 1e6;
console.log(`capture: ${file}: ${PAIRS} exchanges, ${CONNS} connections, ${gen.packets} packets, ${mb.toFixed(1)} MB`);
if (GENERATE_ONLY) process.exit(0);

// Untimed: the events must all be there. Timed: output to /dev/null, as tshark's would be.
const check = timed(process.execPath, [join(root, 'bin/pano-parse'), file], 1);
if (check.lines !== PAIRS) throw new Error(`pano-parse emitted ${check.lines} events, expected ${PAIRS}`);
const pano = timed(process.execPath, [join(root, 'bin/pano-parse'), file], ROUNDS, true);
const fields = ['frame.time_epoch', 'ip.src', 'tcp.srcport', 'ip.dst', 'tcp.dstport', 'http.request.method', 'http.request.uri', 'http.request.version', 'http.user_agent', 'http.response.code', 'http.content_type'];
const tshark = timed('tshark', ['-r', file, '-Y', 'http', '-T', 'fields', ...fields.flatMap((f) => ['-e', f])], ROUNDS, true);
report(mb, gen.packets, pano, tshark, ROUNDS);
