/**
 * IMAP replay throughput: pano-parse beside tshark on the same capture, in
 * the same run.
 *
 * The capture: 100 client connections (greeting with capabilities, LOGIN,
 * SELECT INBOX with its untagged counts), then 10,000 messages fetched,
 * interleaved across them, each as `UID FETCH n (UID FLAGS RFC822.SIZE
 * ENVELOPE BODY.PEEK[])` answered with the envelope and the 2 KB message as a
 * literal, then `UID STORE n +FLAGS (\Seen)`. Segmented at MSS 1448 with
 * ACKs. Written as pcapng.
 *
 * Peers: `pano-parse FILE` and `tshark -r FILE -Y imap -T fields` with the
 * request tag, command and arguments, the response tag and status, and the
 * IMF fields the events carry (tshark dissects a fetched message as IMF).
 * Best of ROUNDS wall times; prints MB/s, packets/s, peak RSS and the ratio.
 *
 *   npm run bench -- imap     (or: node --import tsx --conditions=source scripts/bench/imap.ts [messages])
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
const file = join(outDir, `imap-${MESSAGES}.pcapng`);

const w = writeWorkload(file, CONNS, 143);
const tags = new Map<number, number>();
const tag = (k: { index: number }) => {
  const n = (tags.get(k.index) ?? 0) + 1;
  tags.set(k.index, n);
  return `A${String(n).padStart(4, '0')}`;
};
for (const k of w.conns) {
  w.send(k, 1, Buffer.from('* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ AUTH=PLAIN] Dovecot (Debian) ready.\r\n'));
  let t = tag(k);
  w.send(k, 0, Buffer.from(`${t} LOGIN user${k.index} "not-kept-anywhere"\r\n`));
  w.send(k, 1, Buffer.from(`${t} OK [CAPABILITY IMAP4rev1 SASL-IR IDLE MOVE] Logged in\r\n`));
  t = tag(k);
  w.send(k, 0, Buffer.from(`${t} SELECT INBOX\r\n`));
  w.send(k, 1, Buffer.from(`* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted.\r\n* 100 EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY 1700000000] UIDs valid\r\n* OK [UIDNEXT 101] Predicted next UID\r\n${t} OK [READ-WRITE] Select completed (0.001 + 0.000 secs).\r\n`));
}
for (let i = 0; i < MESSAGES; i++) {
  const k = w.conns[rand(CONNS)];
  const body = `Dear Customer ${i},\r\n\r\nyour order ${i} ships today. Questions? Call +1 415 555 ${String(1000 + (i % 9000))}.\r\n${'Lorem ipsum dolor sit amet. '.repeat(60)}\r\n`;
  const message = `From: Shop <orders@shop.example>\r\nTo: Customer ${i} <customer${i}@example.com>\r\nSubject: Your order ${i}\r\nDate: Mon, 30 Nov 2026 01:00:00 +0000\r\nMessage-ID: <${i}@shop.example>\r\n\r\n${body}`;
  const uid = 1 + (i % 100);
  let t = tag(k);
  w.send(k, 0, Buffer.from(`${t} UID FETCH ${uid} (UID FLAGS RFC822.SIZE ENVELOPE BODY.PEEK[])\r\n`));
  const envelope = `("Mon, 30 Nov 2026 01:00:00 +0000" "Your order ${i}" (("Shop" NIL "orders" "shop.example")) (("Shop" NIL "orders" "shop.example")) (("Shop" NIL "orders" "shop.example")) (("Customer ${i}" NIL "customer${i}" "example.com")) NIL NIL NIL "<${i}@shop.example>")`;
  w.send(k, 1, Buffer.from(`* ${uid} FETCH (UID ${uid} FLAGS () RFC822.SIZE ${message.length} ENVELOPE ${envelope} BODY[] {${message.length}}\r\n${message})\r\n${t} OK Fetch completed (0.001 + 0.000 secs).\r\n`));
  t = tag(k);
  w.send(k, 0, Buffer.from(`${t} UID STORE ${uid} +FLAGS (\\Seen)\r\n`));
  w.send(k, 1, Buffer.from(`* ${uid} FETCH (UID ${uid} FLAGS (\\Seen))\r\n${t} OK Store completed (0.001 + 0.000 secs).\r\n`));
}
const gen = w.finish();
const mb = gen.bytes / 1e6;
console.log(`capture: ${file}: ${MESSAGES} messages, ${CONNS} connections, ${gen.packets} packets, ${mb.toFixed(1)} MB`);

const pano = timed(process.execPath, [join(root, 'bin/pano-parse'), file], ROUNDS);
// per connection: the greeting, LOGIN and SELECT; per message: UID FETCH and UID STORE
if (pano.lines !== CONNS * 3 + MESSAGES * 2) throw new Error(`pano-parse emitted ${pano.lines} events, expected ${CONNS * 3 + MESSAGES * 2}`);
const fields = ['frame.time_epoch', 'ip.src', 'tcp.srcport', 'ip.dst', 'tcp.dstport', 'imap.request_tag', 'imap.request.command', 'imap.request', 'imap.response_tag', 'imap.response.status', 'imf.from', 'imf.to', 'imf.subject'];
const tshark = timed('tshark', ['-r', file, '-Y', 'imap', '-T', 'fields', ...fields.flatMap((f) => ['-e', f])], ROUNDS);
report(mb, gen.packets, pano, tshark, ROUNDS);
