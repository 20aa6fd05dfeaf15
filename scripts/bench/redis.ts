/**
 * Redis replay throughput: pano-parse beside tshark on the same capture, in
 * the same run.
 *
 * The capture: 200 connections, 40,000 commands interleaved across them in
 * pipelined bursts of 4 (SET with a 200-byte value, GET, HSET with two
 * fields, HGETALL answered with a 4-entry array), RESP2, segmented at MSS
 * 1448 with ACKs. Written as pcapng.
 *
 * Peers: `pano-parse FILE` and `tshark -r FILE -Y resp -T fields` with the
 * fields the events carry (bulk strings, simple strings, errors, integers).
 * Best of ROUNDS wall times; prints MB/s, packets/s, peak RSS and the ratio.
 *
 *   npm run bench -- redis     (or: node --import tsx --conditions=source scripts/bench/redis.ts [commands])
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { rand, report, timed, writeWorkload } from './support/tcp-workload.js';

const COMMANDS = Number(process.argv[2] ?? 40_000);
const CONNS = 200;
const ROUNDS = 3;
const root = resolve(import.meta.dirname, '../..');
const outDir = join(root, 'bench-out');
mkdirSync(outDir, { recursive: true });
const file = join(outDir, `redis-${COMMANDS}.pcapng`);

const bulk = (s: string) => `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
const cmd = (...a: string[]) => `*${a.length}\r\n${a.map(bulk).join('')}`;

const w = writeWorkload(file, CONNS, 6379);
for (let i = 0; i < COMMANDS; i += 4) {
  const k = w.conns[rand(CONNS)];
  const key = `user:${i}`;
  const value = JSON.stringify({ id: i, email: `u${i}@example.com`, name: `User ${i}`, pad: 'x'.repeat(120) });
  w.send(k, 0, Buffer.from(cmd('SET', key, value) + cmd('GET', key) + cmd('HSET', `h:${i}`, 'name', `User ${i}`, 'city', 'Paris') + cmd('HGETALL', `h:${i}`)));
  w.send(k, 1, Buffer.from(`+OK\r\n${bulk(value)}:2\r\n*4\r\n${bulk('name')}${bulk(`User ${i}`)}${bulk('city')}${bulk('Paris')}`));
}
const gen = w.finish();
const mb = gen.bytes / 1e6;
console.log(`capture: ${file}: ${COMMANDS} commands, ${CONNS} connections, ${gen.packets} packets, ${mb.toFixed(1)} MB`);

const pano = timed(process.execPath, [join(root, 'bin/pano-parse'), file], ROUNDS);
if (pano.lines !== COMMANDS) throw new Error(`pano-parse emitted ${pano.lines} events, expected ${COMMANDS}`);
const fields = ['frame.time_epoch', 'ip.src', 'tcp.srcport', 'ip.dst', 'tcp.dstport', 'resp.bulk_string.value', 'resp.string', 'resp.error', 'resp.integer'];
const tshark = timed('tshark', ['-r', file, '-Y', 'resp', '-T', 'fields', ...fields.flatMap((f) => ['-e', f])], ROUNDS);
report(mb, gen.packets, pano, tshark, ROUNDS);
