/**
 * Kafka replay throughput: pano-parse beside tshark on the same capture, in
 * the same run.
 *
 * The capture: 100 connections, 20,000 exchanges interleaved across them:
 * half Produce v3 requests carrying one uncompressed record batch of 5
 * records (key, 150-byte JSON value, one header) with their responses, half
 * Fetch v4 requests answered with a batch of 5 records. Segmented at MSS 1448
 * with ACKs. Written as pcapng.
 *
 * Peers: `pano-parse FILE` and `tshark -r FILE -Y kafka -T fields` with the
 * header fields the events carry (api key, version, correlation id, client id,
 * topic, partition, error). Best of ROUNDS wall times; prints MB/s, packets/s,
 * peak RSS and the ratio.
 *
 *   npm run bench -- kafka     (or: node --import tsx --conditions=source scripts/bench/kafka.ts [exchanges])
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { rand, report, timed, writeWorkload } from './support/tcp-workload.js';

const EXCHANGES = Number(process.argv[2] ?? 20_000);
const CONNS = 100;
const ROUNDS = 3;
const root = resolve(import.meta.dirname, '../..');
const outDir = join(root, 'bench-out');
mkdirSync(outDir, { recursive: true });
const file = join(outDir, `kafka-${EXCHANGES}.pcapng`);

const i8 = (n: number) => Buffer.from([n & 255]);
const i16 = (n: number) => { const b = Buffer.alloc(2); b.writeInt16BE(n); return b; };
const i32 = (n: number) => { const b = Buffer.alloc(4); b.writeInt32BE(n); return b; };
const i64 = (n: bigint) => { const b = Buffer.alloc(8); b.writeBigInt64BE(n); return b; };
const str = (s: string | null) => (s === null ? i16(-1) : Buffer.concat([i16(Buffer.byteLength(s)), Buffer.from(s)]));
const varint = (n: number) => { let u = n >= 0 ? n * 2 : -n * 2 - 1; const o: number[] = []; while (u >= 0x80) { o.push((u & 0x7f) | 0x80); u >>>= 7; } o.push(u); return Buffer.from(o); };
const vbytes = (s: string) => Buffer.concat([varint(Buffer.byteLength(s)), Buffer.from(s)]);
const sized = (b: Buffer) => Buffer.concat([i32(b.length), b]);

function batch(base: bigint, seed: number): Buffer {
  const records = Array.from({ length: 5 }, (_, j) => {
    const body = Buffer.concat([
      i8(0), varint(j), varint(j), vbytes(`order-${seed}-${j}`),
      vbytes(JSON.stringify({ order: seed, line: j, email: `buyer${seed}@example.com`, total: (seed % 997) + j, pad: 'y'.repeat(60) })),
      varint(1), vbytes('trace-id'), vbytes(`t-${seed}-${j}`),
    ]);
    return Buffer.concat([varint(body.length), body]);
  });
  const after = Buffer.concat([i32(0), i8(2), i32(0), i16(0), i32(4), i64(1763000000000n), i64(1763000000004n), i64(-1n), i16(-1), i32(-1), i32(5), ...records]);
  return Buffer.concat([i64(base), i32(after.length), after]);
}

const w = writeWorkload(file, CONNS, 9092);
const corr = new Array<number>(CONNS).fill(0);
const offsets = new Array<bigint>(CONNS).fill(0n);
for (let i = 0; i < EXCHANGES; i++) {
  const k = w.conns[rand(CONNS)];
  const c = ++corr[k.index];
  const topic = `orders-${k.index % 4}`;
  if (i % 2 === 0) {
    const records = batch(0n, i);
    w.send(k, 0, sized(Buffer.concat([i16(0), i16(3), i32(c), str('producer-1'), str(null), i16(1), i32(30000), i32(1), str(topic), i32(1), i32(0), i32(records.length), records])));
    w.send(k, 1, sized(Buffer.concat([i32(c), i32(1), str(topic), i32(1), i32(0), i16(0), i64(offsets[k.index]), i64(-1n), i32(0)])));
    offsets[k.index] += 5n;
  } else {
    w.send(k, 0, sized(Buffer.concat([i16(1), i16(4), i32(c), str('consumer-1'), i32(-1), i32(500), i32(1), i32(1 << 20), i8(0), i32(1), str(topic), i32(1), i32(0), i64(BigInt(i)), i32(1 << 20)])));
    const records = batch(BigInt(i), i);
    w.send(k, 1, sized(Buffer.concat([i32(c), i32(0), i32(1), str(topic), i32(1), i32(0), i16(0), i64(BigInt(i + 5)), i64(BigInt(i + 5)), i32(-1), i32(records.length), records])));
  }
}
const gen = w.finish();
const mb = gen.bytes / 1e6;
console.log(`capture: ${file}: ${EXCHANGES} exchanges, ${CONNS} connections, ${gen.packets} packets, ${mb.toFixed(1)} MB`);

const pano = timed(process.execPath, [join(root, 'bin/pano-parse'), file], ROUNDS);
if (pano.lines !== EXCHANGES) throw new Error(`pano-parse emitted ${pano.lines} events, expected ${EXCHANGES}`);
const fields = ['frame.time_epoch', 'ip.src', 'tcp.srcport', 'ip.dst', 'tcp.dstport', 'kafka.api_key', 'kafka.api_version', 'kafka.correlation_id', 'kafka.client_id', 'kafka.topic_name', 'kafka.partition_id', 'kafka.error'];
const tshark = timed('tshark', ['-r', file, '-Y', 'kafka', '-T', 'fields', ...fields.flatMap((f) => ['-e', f])], ROUNDS);
report(mb, gen.packets, pano, tshark, ROUNDS);
