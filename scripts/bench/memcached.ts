/**
 * memcached replay throughput: pano-parse beside tshark on the same capture,
 * in the same run.
 *
 * The capture: 100 text-protocol connections, 30,000 cache round trips
 * interleaved across them: a `set` of a 300-byte JSON session under
 * `session:<n>` (STORED), then a `get` of it and of a key that misses
 * (VALUE, END). Segmented at MSS 1448 with ACKs. Written as pcapng.
 *
 * Peers: `pano-parse FILE` and `tshark -r FILE -Y memcache -T fields` with
 * the fields the events carry (command, key, flags, expiration, response).
 * Best of ROUNDS wall times; prints MB/s, packets/s, peak RSS and the ratio.
 *
 *   npm run bench -- memcached     (or: node --import tsx --conditions=source scripts/bench/memcached.ts [round trips])
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { rand, report, timed, writeWorkload } from './support/tcp-workload.js';

const TRIPS = Number(process.argv[2] ?? 30_000);
const CONNS = 100;
const ROUNDS = 3;
const root = resolve(import.meta.dirname, '../..');
const outDir = join(root, 'bench-out');
mkdirSync(outDir, { recursive: true });
const file = join(outDir, `memcached-${TRIPS}.pcapng`);

const w = writeWorkload(file, CONNS, 11211);
for (let i = 0; i < TRIPS; i++) {
  const k = w.conns[rand(CONNS)];
  const value = JSON.stringify({ user: i, email: `user${i}@example.com`, cart: [1, 2, 3], pad: 'z'.repeat(200) });
  w.send(k, 0, Buffer.from(`set session:${i} 0 3600 ${value.length}\r\n${value}\r\n`));
  w.send(k, 1, Buffer.from('STORED\r\n'));
  w.send(k, 0, Buffer.from(`get session:${i} session:none\r\n`));
  w.send(k, 1, Buffer.from(`VALUE session:${i} 0 ${value.length}\r\n${value}\r\nEND\r\n`));
}
const gen = w.finish();
const mb = gen.bytes / 1e6;
console.log(`capture: ${file}: ${TRIPS} round trips, ${CONNS} connections, ${gen.packets} packets, ${mb.toFixed(1)} MB`);

const pano = timed(process.execPath, [join(root, 'bin/pano-parse'), file], ROUNDS);
if (pano.lines !== TRIPS * 2) throw new Error(`pano-parse emitted ${pano.lines} events, expected ${TRIPS * 2}`);
const fields = ['frame.time_epoch', 'ip.src', 'tcp.srcport', 'ip.dst', 'tcp.dstport', 'memcache.command', 'memcache.key', 'memcache.flags', 'memcache.expiration', 'memcache.response'];
const tshark = timed('tshark', ['-r', file, '-Y', 'memcache', '-T', 'fields', ...fields.flatMap((f) => ['-e', f])], ROUNDS);
report(mb, gen.packets, pano, tshark, ROUNDS);
