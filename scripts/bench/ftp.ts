/**
 * FTP replay throughput: pano-parse beside tshark on the same capture, in
 * the same run.
 *
 * The capture: 100 client sessions (greeting, USER, PASS, TYPE I), then 5,000
 * file downloads interleaved across them, each as PASV and its 227, a data
 * connection opened to the announced port, RETR with its 150, the file (a
 * 6 KB CSV of names, addresses and phone numbers) on the data connection,
 * its close, and 226. Segmented at MSS 1448 with ACKs. Written as pcapng.
 *
 * Peers: `pano-parse FILE` and `tshark -r FILE -Y 'ftp || ftp-data' -T
 * fields` with the command, argument, reply code and text, the passive
 * endpoint, and ftp-data's command and setup frame (tshark follows PASV into
 * ftp-data as pano-parse does). Best of ROUNDS wall times; prints MB/s,
 * packets/s, peak RSS and the ratio.
 *
 *   npm run bench -- ftp     (or: node --import tsx --conditions=source scripts/bench/ftp.ts [files])
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { rand, report, timed, writeWorkload } from './support/tcp-workload.js';

const FILES = Number(process.argv[2] ?? 5_000);
const CONNS = 100;
const ROUNDS = 3;
const root = resolve(import.meta.dirname, '../..');
const outDir = join(root, 'bench-out');
mkdirSync(outDir, { recursive: true });
const file = join(outDir, `ftp-${FILES}.pcapng`);

const w = writeWorkload(file, CONNS, 21);
for (const k of w.conns) {
  w.send(k, 1, Buffer.from('220 (vsFTPd 3.0.3)\r\n'));
  w.send(k, 0, Buffer.from(`USER user${k.index}\r\n`));
  w.send(k, 1, Buffer.from('331 Please specify the password.\r\n'));
  w.send(k, 0, Buffer.from('PASS not-kept-anywhere\r\n'));
  w.send(k, 1, Buffer.from('230 Login successful.\r\n'));
  w.send(k, 0, Buffer.from('TYPE I\r\n'));
  w.send(k, 1, Buffer.from('200 Switching to Binary mode.\r\n'));
}
const rows = (i: number) =>
  ['name,email,phone,city'].concat(Array.from({ length: 100 }, (_, r) => `Customer ${i}-${r},c${i}.${r}@example.com,+1 415 555 ${String(1000 + ((i + r) % 9000))},San Francisco`)).join('\n') + '\n';
for (let i = 0; i < FILES; i++) {
  const k = w.conns[rand(CONNS)];
  const port = 40000 + (i % 20000);
  w.send(k, 0, Buffer.from('PASV\r\n'));
  w.send(k, 1, Buffer.from(`227 Entering Passive Mode (10,9,0,2,${port >> 8},${port & 255}).\r\n`));
  const data = w.connect({ addr: k.c.addr, port: 50000 + (i % 10000) }, { addr: k.s.addr, port });
  w.send(k, 0, Buffer.from(`RETR export-${i}.csv\r\n`));
  const csv = Buffer.from(rows(i));
  w.send(k, 1, Buffer.from(`150 Opening BINARY mode data connection for export-${i}.csv (${csv.length} bytes).\r\n`));
  w.send(data, 1, csv);
  w.close(data);
  w.send(k, 1, Buffer.from('226 Transfer complete.\r\n'));
}
const gen = w.finish();
const mb = gen.bytes / 1e6;
console.log(`capture: ${file}: ${FILES} files, ${CONNS} sessions, ${gen.packets} packets, ${mb.toFixed(1)} MB`);

const pano = timed(process.execPath, [join(root, 'bin/pano-parse'), file], ROUNDS);
// per session: the greeting, USER, PASS, TYPE; per file: PASV, RETR and the data connection's transfer
if (pano.lines !== CONNS * 4 + FILES * 3) throw new Error(`pano-parse emitted ${pano.lines} events, expected ${CONNS * 4 + FILES * 3}`);
const fields = ['frame.time_epoch', 'ip.src', 'tcp.srcport', 'ip.dst', 'tcp.dstport', 'ftp.request.command', 'ftp.request.arg', 'ftp.response.code', 'ftp.response.arg', 'ftp.passive.ip', 'ftp.passive.port', 'ftp-data.command', 'ftp-data.setup-frame'];
const tshark = timed('tshark', ['-r', file, '-Y', 'ftp || ftp-data', '-T', 'fields', ...fields.flatMap((f) => ['-e', f])], ROUNDS);
report(mb, gen.packets, pano, tshark, ROUNDS);
