/**
 * SMTP replay throughput: pano-parse beside tshark on the same capture, in
 * the same run.
 *
 * The capture: 100 submission connections (greeting, EHLO with a multi-line
 * reply), then 10,000 messages interleaved across them, each pipelined as
 * MAIL, two RCPTs and DATA, then a 2 KB message (From, To, Subject, Date,
 * Message-ID, a text body with a name and a phone number) and its 250.
 * Segmented at MSS 1448 with ACKs. Written as pcapng.
 *
 * Peers: `pano-parse FILE` and `tshark -r FILE -Y smtp -T fields` with the
 * command, parameter, reply code and the IMF fields the events carry.
 * Best of ROUNDS wall times; prints MB/s, packets/s, peak RSS and the ratio.
 *
 *   npm run bench -- smtp     (or: node --import tsx --conditions=source scripts/bench/smtp.ts [messages])
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { rand, report, timed, writeWorkload } from './support/tcp-workload.js';

const MESSAGES = Number(process.argv[2] ?? 10_000);
const CONNS = 100;
const ROUNDS = 3;
const root = resolve(import.meta.dirname, '../..');
const outDir = join(root, 'bench-out');
mkdirSync(outDir, { recursive: true });
const file = join(outDir, `smtp-${MESSAGES}.pcapng`);

const w = writeWorkload(file, CONNS, 587);
for (const k of w.conns) {
  w.send(k, 1, Buffer.from('220 mx.example.org ESMTP Postfix\r\n'));
  w.send(k, 0, Buffer.from(`EHLO app${k.index}.example.com\r\n`));
  w.send(k, 1, Buffer.from('250-mx.example.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 8BITMIME\r\n'));
}
for (let i = 0; i < MESSAGES; i++) {
  const k = w.conns[rand(CONNS)];
  const body = `Dear Customer ${i},\r\n\r\nyour order ${i} ships today. Questions? Call +1 415 555 ${String(1000 + (i % 9000))}.\r\n${'Lorem ipsum dolor sit amet. '.repeat(60)}\r\n`;
  const message = `From: Shop <orders@shop.example>\r\nTo: Customer ${i} <customer${i}@example.com>\r\nSubject: Your order ${i}\r\nDate: Mon, 30 Nov 2026 01:00:00 +0000\r\nMessage-ID: <${i}@shop.example>\r\n\r\n${body}`;
  w.send(k, 0, Buffer.from(`MAIL FROM:<orders@shop.example>\r\nRCPT TO:<customer${i}@example.com>\r\nRCPT TO:<archive@shop.example>\r\nDATA\r\n`));
  w.send(k, 1, Buffer.from('250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n'));
  w.send(k, 0, Buffer.from(`${message}.\r\n`));
  w.send(k, 1, Buffer.from(`250 2.0.0 Ok: queued as Q${i}\r\n`));
}
const gen = w.finish();
const mb = gen.bytes / 1e6;
console.log(`capture: ${file}: ${MESSAGES} messages, ${CONNS} connections, ${gen.packets} packets, ${mb.toFixed(1)} MB`);

const pano = timed(process.execPath, [join(root, 'bin/pano-parse'), file], ROUNDS);
// per connection: the greeting and EHLO; per message: MAIL, two RCPTs and DATA
if (pano.lines !== CONNS * 2 + MESSAGES * 4) throw new Error(`pano-parse emitted ${pano.lines} events, expected ${CONNS * 2 + MESSAGES * 4}`);
const fields = ['frame.time_epoch', 'ip.src', 'tcp.srcport', 'ip.dst', 'tcp.dstport', 'smtp.req.command', 'smtp.req.parameter', 'smtp.response.code', 'imf.from', 'imf.to', 'imf.subject'];
const tshark = timed('tshark', ['-r', file, '-Y', 'smtp', '-T', 'fields', ...fields.flatMap((f) => ['-e', f])], ROUNDS);
report(mb, gen.packets, pano, tshark, ROUNDS);
