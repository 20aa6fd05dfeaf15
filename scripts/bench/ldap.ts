/**
 * LDAP replay throughput: pano-parse beside tshark on the same capture, in
 * the same run.
 *
 * The capture: 100 application connections, each binding as its service
 * account, then 10,000 lookups interleaved across them: a subtree search
 * `(&(objectClass=inetOrgPerson)(|(uid=u<i>)(mail=u<i>@example.org)))` for
 * cn, sn, mail, telephoneNumber, postalAddress and title, answered with one
 * entry and SearchResultDone; every tenth followed by a bind as the user
 * found (a login check) and its result. Segmented at MSS 1448 with ACKs.
 * Written as pcapng.
 *
 * Peers: `pano-parse FILE` and `tshark -r FILE -Y ldap -T fields` with the
 * message id, operation, result code, base, filter, entry name and attribute
 * types. Best of ROUNDS wall times; prints MB/s, packets/s, peak RSS and the
 * ratio.
 *
 *   npm run bench -- ldap     (or: node --import tsx --conditions=source scripts/bench/ldap.ts [searches])
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { rand, report, timed, writeWorkload } from './support/tcp-workload.js';

const SEARCHES = Number(process.argv[2] ?? 10_000);
const CONNS = 100;
const ROUNDS = 3;
const root = resolve(import.meta.dirname, '../..');
const outDir = join(root, 'bench-out');
mkdirSync(outDir, { recursive: true });
const file = join(outDir, `ldap-${SEARCHES}.pcapng`);

function tlv(tag: number, ...contents: Array<Buffer | string>): Buffer {
  const body = Buffer.concat(contents.map((c) => (typeof c === 'string' ? Buffer.from(c, 'utf8') : c)));
  const n = body.length;
  const len = n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), len, body]);
}
const int = (v: number, tag = 0x02) => tlv(tag, v < 0x80 ? Buffer.from([v]) : v < 0x8000 ? Buffer.from([v >> 8, v & 0xff]) : Buffer.from([0, v >> 16, (v >> 8) & 0xff, v & 0xff]));
const str = (s: string, tag = 0x04) => tlv(tag, s);
const seq = (...c: Buffer[]) => tlv(0x30, ...c);
const attr = (type: string, ...values: string[]) => seq(str(type), tlv(0x31, ...values.map((v) => str(v))));
const msg = (id: number, op: Buffer) => seq(int(id), op);
const ok = (tag: number) => tlv(tag, int(0, 0x0a), str(''), str(''));

const w = writeWorkload(file, CONNS, 389);
const ids = new Map<number, number>();
const nextId = (k: { index: number }) => {
  const n = (ids.get(k.index) ?? 0) + 1;
  ids.set(k.index, n);
  return n;
};
let events = 0;
for (const k of w.conns) {
  const id = nextId(k);
  w.send(k, 0, msg(id, tlv(0x60, int(3), str(`cn=app${k.index},ou=services,dc=example,dc=org`), str('service-secret', 0x80))));
  w.send(k, 1, msg(id, ok(0x61)));
  events++;
}
for (let i = 0; i < SEARCHES; i++) {
  const k = w.conns[rand(CONNS)];
  const id = nextId(k);
  const filter = tlv(0xa0, tlv(0xa3, str('objectClass'), str('inetOrgPerson')), tlv(0xa1, tlv(0xa3, str('uid'), str(`u${i}`)), tlv(0xa3, str('mail'), str(`u${i}@example.org`))));
  w.send(k, 0, msg(id, tlv(0x63, str('ou=people,dc=example,dc=org'), int(2, 0x0a), int(0, 0x0a), int(1), int(0), tlv(0x01, Buffer.from([0])), filter, seq(...['cn', 'sn', 'mail', 'telephoneNumber', 'postalAddress', 'title'].map((a) => str(a))))));
  const dn = `uid=u${i},ou=people,dc=example,dc=org`;
  const entry = msg(id, tlv(0x64, str(dn), seq(attr('cn', `User Number ${i}`), attr('sn', 'Number'), attr('mail', `u${i}@example.org`), attr('telephoneNumber', `+1 415 555 ${String(1000 + (i % 9000))}`), attr('postalAddress', `${100 + (i % 900)} Market Street$San Francisco, CA 94105`), attr('title', 'Engineer'))));
  w.send(k, 1, Buffer.concat([entry, msg(id, ok(0x65))]));
  events++;
  if (i % 10 === 0) {
    const bid = nextId(k);
    w.send(k, 0, msg(bid, tlv(0x60, int(3), str(dn), str(`user-password-${i}`, 0x80))));
    w.send(k, 1, msg(bid, i % 30 === 0 ? tlv(0x61, int(49, 0x0a), str(''), str('')) : ok(0x61)));
    events++;
  }
}
const gen = w.finish();
const mb = gen.bytes / 1e6;
console.log(`capture: ${file}: ${SEARCHES} searches, ${CONNS} connections, ${gen.packets} packets, ${mb.toFixed(1)} MB`);

const pano = timed(process.execPath, [join(root, 'bin/pano-parse'), file], ROUNDS);
if (pano.lines !== events) throw new Error(`pano-parse emitted ${pano.lines} events, expected ${events}`);
const fields = ['frame.time_epoch', 'ip.src', 'tcp.srcport', 'ip.dst', 'tcp.dstport', 'ldap.messageID', 'ldap.protocolOp', 'ldap.resultCode', 'ldap.baseObject', 'ldap.filter', 'ldap.objectName', 'ldap.type'];
const tshark = timed('tshark', ['-r', file, '-Y', 'ldap', '-T', 'fields', ...fields.flatMap((f) => ['-e', f])], ROUNDS);
report(mb, gen.packets, pano, tshark, ROUNDS);
