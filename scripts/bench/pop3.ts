/**
 * POP3 replay throughput: pano-parse beside tshark on the same capture, in
 * the same run.
 *
 * The capture: 100 mail fetcher connections (greeting, CAPA, USER and PASS,
 * STAT, UIDL listing 100 messages), then 10,000 messages retrieved,
 * interleaved across them, each as RETR with its 2 KB message (From, To,
 * Subject, Date, Message-ID, a text body with a name and a phone number, a
 * line that starts with "." and is stuffed) and then DELE. Segmented at MSS
 * 1448 with ACKs. Written as pcapng.
 *
 * Peers: `pano-parse FILE` and `tshark -r FILE -Y pop -T fields` with the
 * command, parameter, response indicator and description, and the IMF fields
 * the events carry. Best of ROUNDS wall times; prints MB/s, packets/s, peak
 * RSS and the ratio.
 *
 *   npm run bench -- pop3     (or: node --import tsx --conditions=source scripts/bench/pop3.ts [messages])
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
const file = join(outDir, `pop3-${MESSAGES}.pcapng`);

const w = writeWorkload(file, CONNS, 110);
const uidl = Array.from({ length: 100 }, (_, i) => `${i + 1} 000000${String(i).padStart(2, '0')}5f3a1c2b\r\n`).join('');
for (const k of w.conns) {
  w.send(k, 1, Buffer.from('+OK Dovecot (Debian) ready.\r\n'));
  w.send(k, 0, Buffer.from('CAPA\r\n'));
  w.send(k, 1, Buffer.from('+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\nUSER\r\nSASL PLAIN LOGIN\r\n.\r\n'));
  w.send(k, 0, Buffer.from(`USER user${k.index}\r\n`));
  w.send(k, 1, Buffer.from('+OK\r\n'));
  w.send(k, 0, Buffer.from('PASS not-kept-anywhere\r\n'));
  w.send(k, 1, Buffer.from('+OK Logged in.\r\n'));
  w.send(k, 0, Buffer.from('STAT\r\nUIDL\r\n'));
  w.send(k, 1, Buffer.from(`+OK 100 204800\r\n+OK\r\n${uidl}.\r\n`));
}
for (let i = 0; i < MESSAGES; i++) {
  const k = w.conns[rand(CONNS)];
  const body = `Dear Customer ${i},\r\n\r\nyour order ${i} ships today. Questions? Call +1 415 555 ${String(1000 + (i % 9000))}.\r\n..signature\r\n${'Lorem ipsum dolor sit amet. '.repeat(60)}\r\n`;
  const message = `From: Shop <orders@shop.example>\r\nTo: Customer ${i} <customer${i}@example.com>\r\nSubject: Your order ${i}\r\nDate: Mon, 30 Nov 2026 01:00:00 +0000\r\nMessage-ID: <${i}@shop.example>\r\n\r\n${body}`;
  const n = 1 + (i % 100);
  w.send(k, 0, Buffer.from(`RETR ${n}\r\n`));
  w.send(k, 1, Buffer.from(`+OK ${message.length - 1} octets\r\n${message}.\r\n`));
  w.send(k, 0, Buffer.from(`DELE ${n}\r\n`));
  w.send(k, 1, Buffer.from('+OK Marked to be deleted.\r\n'));
}
const gen = w.finish();
const mb = gen.bytes / 1e6;
console.log(`capture: ${file}: ${MESSAGES} messages, ${CONNS} connections, ${gen.packets} packets, ${mb.toFixed(1)} MB`);

const pano = timed(process.execPath, [join(root, 'bin/pano-parse'), file], ROUNDS);
// per connection: the greeting, CAPA, USER, PASS, STAT and UIDL; per message: RETR and DELE
if (pano.lines !== CONNS * 6 + MESSAGES * 2) throw new Error(`pano-parse emitted ${pano.lines} events, expected ${CONNS * 6 + MESSAGES * 2}`);
const fields = ['frame.time_epoch', 'ip.src', 'tcp.srcport', 'ip.dst', 'tcp.dstport', 'pop.request.command', 'pop.request.parameter', 'pop.response.indicator', 'pop.response.description', 'imf.from', 'imf.to', 'imf.subject'];
const tshark = timed('tshark', ['-r', file, '-Y', 'pop', '-T', 'fields', ...fields.flatMap((f) => ['-e', f])], ROUNDS);
report(mb, gen.packets, pano, tshark, ROUNDS);
