/**
 * PostgreSQL replay throughput: pano-parse beside tshark on the same capture,
 * in the same run.
 *
 * The capture: 200 connections, each opening with a StartupMessage and a
 * trust login, then 40,000 exchanges interleaved across them: half simple
 * queries returning 5 rows of 4 columns, half extended-protocol batches
 * (Parse, Bind with 2 parameters, Describe, Execute, Sync) returning 3 rows;
 * segmented at MSS 1448 with ACKs. Written as pcapng.
 *
 * Peers: `pano-parse FILE` and `tshark -r FILE -Y pgsql -T fields` with the
 * fields the events carry (message types, query text, command tag, SQLSTATE).
 * Best of ROUNDS wall times; prints MB/s, packets/s, peak RSS and the ratio.
 *
 *   npm run bench -- postgresql     (or: node --import tsx --conditions=source scripts/bench/postgresql.ts [exchanges])
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { be, fe } from '../../test/postgresql/pg-wire.js';
import { rand, report, timed, writeWorkload } from './support/tcp-workload.js';

const EXCHANGES = Number(process.argv[2] ?? 40_000);
const CONNS = 200;
const ROUNDS = 3;
const root = resolve(import.meta.dirname, '../..');
const outDir = join(root, 'bench-out');
mkdirSync(outDir, { recursive: true });
const file = join(outDir, `postgresql-${EXCHANGES}.pcapng`);

const w = writeWorkload(file, CONNS, 5432);
for (const k of w.conns) {
  w.send(k, 0, fe.startup({ user: 'shop', database: 'shop', application_name: `svc-${k.index % 8}` }));
  w.send(
    k,
    1,
    Buffer.concat([be.authOk(), be.parameterStatus('server_version', '15.8'), be.parameterStatus('client_encoding', 'UTF8'), be.backendKeyData(1000 + k.index, 42), be.ready()]),
  );
}
for (let i = 0; i < EXCHANGES; i++) {
  const k = w.conns[rand(CONNS)];
  if (i % 2 === 0) {
    w.send(k, 0, fe.query(`SELECT id, name, email, created FROM customers WHERE region = 'eu-${i % 7}' ORDER BY id LIMIT 5`));
    const rows = Array.from({ length: 5 }, (_, r) => be.dataRow([String(i * 5 + r), `Customer ${i}-${r}`, `c${i}.${r}@example.com`, '2026-11-20 10:00:00+00']));
    w.send(k, 1, Buffer.concat([be.rowDescription([{ name: 'id', oid: 23 }, { name: 'name' }, { name: 'email' }, { name: 'created', oid: 1184 }]), ...rows, be.commandComplete('SELECT 5'), be.ready()]));
  } else {
    w.send(
      k,
      0,
      Buffer.concat([fe.parse('', 'SELECT id, total, currency FROM orders WHERE customer_id = $1 AND status = $2'), fe.bind('', '', [String(i), 'paid']), fe.describe('P', ''), fe.execute(''), fe.sync()]),
    );
    const rows = Array.from({ length: 3 }, (_, r) => be.dataRow([String(i * 3 + r), `${(i % 997) + r}.50`, 'EUR']));
    w.send(k, 1, Buffer.concat([be.parseComplete(), be.bindComplete(), be.rowDescription([{ name: 'id', oid: 23 }, { name: 'total', oid: 1700 }, { name: 'currency' }]), ...rows, be.commandComplete('SELECT 3'), be.ready()]));
  }
}
const gen = w.finish();
const mb = gen.bytes / 1e6;
console.log(`capture: ${file}: ${EXCHANGES} exchanges, ${CONNS} connections, ${gen.packets} packets, ${mb.toFixed(1)} MB`);

const pano = timed(process.execPath, [join(root, 'bin/pano-parse'), file], ROUNDS);
if (pano.lines !== EXCHANGES + CONNS) throw new Error(`pano-parse emitted ${pano.lines} events, expected ${EXCHANGES + CONNS}`);
const fields = ['frame.time_epoch', 'ip.src', 'tcp.srcport', 'ip.dst', 'tcp.dstport', 'pgsql.type', 'pgsql.query', 'pgsql.tag', 'pgsql.code'];
const tshark = timed('tshark', ['-r', file, '-Y', 'pgsql', '-T', 'fields', ...fields.flatMap((f) => ['-e', f])], ROUNDS);
report(mb, gen.packets, pano, tshark, ROUNDS);
