/**
 * NATS replay throughput: pano-parse beside tshark on the same capture, in
 * the same run.
 *
 * The capture: 100 NATS connections (the server's INFO, CONNECT and PING
 * answered by PONG, a SUB to `orders.*.placed` and one to the connection's
 * reply inbox), then 30,000 messages interleaved across them: half a PUB of
 * a 300-byte JSON order and its delivery (MSG) to the subscriber on the same
 * connection, half a request (PUB with a reply subject) and the reply
 * delivered to the inbox, an exchange. Segmented at MSS 1448 with ACKs.
 * Written as pcapng.
 *
 * Peers: `pano-parse FILE`, and tshark, which has no NATS dissector (4.0):
 * `tshark -r FILE -Y tcp.len>0 -T fields` with the TCP fields each segment
 * has (stream, length, payload). It decodes frames to TCP and reads no
 * application protocol, so the ratio is against a floor of what any reading
 * of the capture costs tshark, not against a NATS parser.
 * Best of ROUNDS wall times; prints MB/s, packets/s, peak RSS and the ratio.
 *
 *   npm run bench -- nats     (or: node --import tsx --conditions=source scripts/bench/nats.ts [messages])
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { rand, report, timed, writeWorkload } from './support/tcp-workload.js';

const MESSAGES = Number(process.argv[2] ?? 30_000);
const CONNS = 100;
const ROUNDS = 3;
const root = resolve(import.meta.dirname, '../..');
const outDir = join(root, 'bench-out');
mkdirSync(outDir, { recursive: true });
const file = join(outDir, `nats-${MESSAGES}.pcapng`);

const w = writeWorkload(file, CONNS, 4222);
for (const k of w.conns) {
  w.send(k, 1, Buffer.from(`INFO {"server_id":"NBENCH","server_name":"bench","version":"2.9.10","proto":1,"headers":true,"max_payload":1048576,"client_id":${k.index}}\r\n`));
  w.send(k, 0, Buffer.from(`CONNECT {"verbose":false,"pedantic":false,"lang":"nats.js","version":"2.29.3","protocol":1,"name":"svc-${k.index}","headers":true}\r\nPING\r\n`));
  w.send(k, 1, Buffer.from('PONG\r\n'));
  w.send(k, 0, Buffer.from(`SUB orders.*.placed 1\r\nSUB _INBOX.c${k.index}.* 2\r\n`));
}
let requests = 0;
for (let i = 0; i < MESSAGES; i++) {
  const k = w.conns[rand(CONNS)];
  const body = JSON.stringify({ order: i, total: (i % 977) / 10, email: `buyer${i}@example.com`, pad: 'z'.repeat(200) });
  if (i % 2 === 0) {
    const subject = `orders.${i % 50}.placed`;
    w.send(k, 0, Buffer.from(`PUB ${subject} ${body.length}\r\n${body}\r\n`));
    w.send(k, 1, Buffer.from(`MSG ${subject} 1 ${body.length}\r\n${body}\r\n`));
  } else {
    requests++;
    const inbox = `_INBOX.c${k.index}.${i}`;
    const reply = `{"ok":true,"order":${i}}`;
    w.send(k, 0, Buffer.from(`PUB orders.lookup ${inbox} ${body.length}\r\n${body}\r\n`));
    w.send(k, 1, Buffer.from(`MSG ${inbox} 2 ${reply.length}\r\n${reply}\r\n`));
  }
}
const gen = w.finish();
const mb = gen.bytes / 1e6;
console.log(`capture: ${file}: ${MESSAGES} messages, ${CONNS} connections, ${gen.packets} packets, ${mb.toFixed(1)} MB`);

const pano = timed(process.execPath, [join(root, 'bin/pano-parse'), file], ROUNDS);
// per connection: INFO, CONNECT, two SUBs; per publish its delivery too; per request one exchange
const expected = CONNS * 4 + (MESSAGES - requests) * 2 + requests;
if (pano.lines !== expected) throw new Error(`pano-parse emitted ${pano.lines} events, expected ${expected}`);
const fields = ['frame.time_epoch', 'ip.src', 'tcp.srcport', 'ip.dst', 'tcp.dstport', 'tcp.stream', 'tcp.len', 'tcp.payload'];
const tshark = timed('tshark', ['-r', file, '-Y', 'tcp.len>0', '-T', 'fields', ...fields.flatMap((f) => ['-e', f])], ROUNDS);
report(mb, gen.packets, pano, tshark, ROUNDS);
console.log('(tshark has no NATS dissector: its row is TCP segments with their payloads, a floor, not a NATS parser)');
