/**
 * MySQL replay throughput: pano-parse beside tshark on the same capture, in
 * the same run.
 *
 * The capture: 200 connections, each with a greeting, a handshake response
 * and OK (CLIENT_DEPRECATE_EOF), and one COM_STMT_PREPARE; then 40,000
 * exchanges interleaved across them: half COM_QUERY returning 5 text rows of
 * 4 columns, half COM_STMT_EXECUTE with 2 typed parameters returning 3
 * binary rows; segmented at MSS 1448 with ACKs. Written as pcapng.
 *
 * Peers: `pano-parse FILE` and `tshark -r FILE -Y mysql -T fields` with the
 * fields the events carry (command, query text, affected rows, error code).
 * Best of ROUNDS wall times; prints MB/s, packets/s, peak RSS and the ratio.
 *
 *   npm run bench -- mysql          (or: node --import tsx --conditions=source scripts/bench/mysql.ts [exchanges])
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { BASE_CAPS, CAP, cmd, columnDef, greeting, handshakeResponse, lenenc, lstr, ok, packet, prepareOk, resultSet, u32 } from '../../test/mysql/my-wire.js';
import { rand, report, timed, writeWorkload } from './support/tcp-workload.js';

const EXCHANGES = Number(process.argv[2] ?? 40_000);
const CONNS = 200;
const ROUNDS = 3;
const root = resolve(import.meta.dirname, '../..');
const outDir = join(root, 'bench-out');
mkdirSync(outDir, { recursive: true });
const file = join(outDir, `mysql-${EXCHANGES}.pcapng`);

const caps = BASE_CAPS | CAP.DEPRECATE_EOF;
const stmtSql = 'SELECT id, total, currency FROM orders WHERE customer_id = ? AND status = ?';
const w = writeWorkload(file, CONNS, 3306);
for (const k of w.conns) {
  w.send(k, 1, greeting('8.0.36', caps, 100 + k.index));
  w.send(k, 0, handshakeResponse(caps, 'shop', Buffer.alloc(20, 7), 'shop', 'mysql_native_password', { _client_name: 'libmysql', program_name: `svc-${k.index % 8}` }));
  w.send(k, 1, ok(2));
  w.send(k, 0, cmd.prepare(stmtSql));
  w.send(k, 1, Buffer.concat([prepareOk(1, 1, 3, 2), columnDef(2, { name: '?' }), columnDef(3, { name: '?' }), columnDef(4, { name: 'id', type: 0x03, charset: 63 }), columnDef(5, { name: 'total', type: 0xf6, charset: 63 }), columnDef(6, { name: 'currency' })]));
}
const colsBin = [columnDef(2, { name: 'id', type: 0x03, charset: 63 }), columnDef(3, { name: 'total', type: 0xf6, charset: 63 }), columnDef(4, { name: 'currency' })];
for (let i = 0; i < EXCHANGES; i++) {
  const k = w.conns[rand(CONNS)];
  if (i % 2 === 0) {
    w.send(k, 0, cmd.query(`SELECT id, name, email, created FROM customers WHERE region = 'eu-${i % 7}' ORDER BY id LIMIT 5`));
    const rows = Array.from({ length: 5 }, (_, r) => [String(i * 5 + r), `Customer ${i}-${r}`, `c${i}.${r}@example.com`, '2026-11-20 10:00:00']);
    w.send(k, 1, resultSet(1, [{ name: 'id', type: 0x03, charset: 63 }, { name: 'name' }, { name: 'email' }, { name: 'created', type: 0x0c, charset: 63 }], rows, true).bytes);
  } else {
    w.send(k, 0, cmd.execute(1, [[0x03, false, u32(i)], [0xfd, false, lstr('paid')]]));
    const rows = Array.from({ length: 3 }, (_, r) => packet(5 + r, Buffer.from([0x00, 0x00]), u32(i * 3 + r), lstr(`${(i % 997) + r}.50`), lstr('EUR')));
    w.send(k, 1, Buffer.concat([packet(1, lenenc(3)), ...colsBin, ...rows, ok(8, 0, 0, 2, 0, 0xfe)]));
  }
}
const gen = w.finish();
const mb = gen.bytes / 1e6;
console.log(`capture: ${file}: ${EXCHANGES} exchanges, ${CONNS} connections, ${gen.packets} packets, ${mb.toFixed(1)} MB`);

const pano = timed(process.execPath, [join(root, 'bin/pano-parse'), file], ROUNDS);
const expected = EXCHANGES + 2 * CONNS;
if (pano.lines !== expected) throw new Error(`pano-parse emitted ${pano.lines} events, expected ${expected}`);
const fields = ['frame.time_epoch', 'ip.src', 'tcp.srcport', 'ip.dst', 'tcp.dstport', 'mysql.command', 'mysql.query', 'mysql.affected_rows', 'mysql.error_code'];
const tshark = timed('tshark', ['-r', file, '-Y', 'mysql', '-T', 'fields', ...fields.flatMap((f) => ['-e', f])], ROUNDS);
report(mb, gen.packets, pano, tshark, ROUNDS);
