/**
 * AMQP 0-9-1 replay throughput: pano-parse beside tshark on the same capture,
 * in the same run.
 *
 * The capture: 100 connections (protocol header, start/tune/open, channel.open),
 * then 30,000 messages interleaved across them: basic.publish with
 * properties (content type, a 2-entry headers table, message id) and a
 * 300-byte JSON body, the broker's basic.deliver of it to a consumer on the
 * same connection, and the consumer's basic.ack. Segmented at MSS 1448 with
 * ACKs. Written as pcapng.
 *
 * Peers: `pano-parse FILE` and `tshark -r FILE -Y amqp -T fields` with the
 * fields the events carry (channel, class, method, exchange, routing key,
 * delivery tag). Best of ROUNDS wall times; prints MB/s, packets/s, peak RSS
 * and the ratio.
 *
 *   npm run bench -- amqp     (or: node --import tsx --conditions=source scripts/bench/amqp.ts [messages])
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
const file = join(outDir, `amqp-${MESSAGES}.pcapng`);

const u8 = (n: number) => Buffer.from([n]);
const u16 = (n: number) => { const b = Buffer.alloc(2); b.writeUInt16BE(n); return b; };
const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
const u64 = (n: bigint) => { const b = Buffer.alloc(8); b.writeBigUInt64BE(n); return b; };
const shortstr = (s: string) => Buffer.concat([u8(Buffer.byteLength(s)), Buffer.from(s)]);
const longstr = (b: Buffer | string) => { const x = Buffer.from(b); return Buffer.concat([u32(x.length), x]); };
const frame = (type: number, ch: number, p: Buffer) => Buffer.concat([u8(type), u16(ch), u32(p.length), p, u8(0xce)]);
const method = (ch: number, cls: number, m: number, ...a: Buffer[]) => frame(1, ch, Buffer.concat([u16(cls), u16(m), ...a]));
const table = (entries: Array<[string, string]>) => longstr(Buffer.concat(entries.map(([k, v]) => Buffer.concat([shortstr(k), Buffer.from('S'), longstr(v)]))));

function content(body: Buffer, msgId: string): Buffer {
  const flags = (1 << 15) | (1 << 13) | (1 << 7);
  const props = Buffer.concat([shortstr('application/json'), table([['tenant', 'acme'], ['trace-id', msgId]]), shortstr(msgId)]);
  return Buffer.concat([frame(2, 1, Buffer.concat([u16(60), u16(0), u64(BigInt(body.length)), u16(flags), props])), frame(3, 1, body)]);
}

const w = writeWorkload(file, CONNS, 5672);
for (const k of w.conns) {
  w.send(k, 0, Buffer.from('AMQP\x00\x00\x09\x01', 'latin1'));
  w.send(k, 1, method(0, 10, 10, u8(0), u8(9), table([['product', 'RabbitMQ']]), longstr('PLAIN'), longstr('en_US')));
  w.send(k, 0, method(0, 10, 11, table([['product', 'bench']]), shortstr('PLAIN'), longstr('\0guest\0guest'), shortstr('en_US')));
  w.send(k, 1, method(0, 10, 30, u16(2047), u32(131072), u16(60)));
  w.send(k, 0, Buffer.concat([method(0, 10, 31, u16(2047), u32(131072), u16(60)), method(0, 10, 40, shortstr('/'), shortstr(''), u8(0))]));
  w.send(k, 1, method(0, 10, 41, shortstr('')));
  w.send(k, 0, method(1, 20, 10, shortstr('')));
  w.send(k, 1, method(1, 20, 11, longstr('')));
}
const tags = new Array<bigint>(CONNS).fill(0n);
for (let i = 0; i < MESSAGES; i++) {
  const k = w.conns[rand(CONNS)];
  const body = Buffer.from(JSON.stringify({ order: i, email: `buyer${i}@example.com`, lines: [1, 2, 3], pad: 'z'.repeat(200) }));
  const id = `m-${i}`;
  w.send(k, 0, Buffer.concat([method(1, 60, 40, u16(0), shortstr('orders'), shortstr(`eu.${i % 5}`), u8(0)), content(body, id)]));
  const tag = ++tags[k.index];
  w.send(k, 1, Buffer.concat([method(1, 60, 60, shortstr('ctag-1'), u64(tag), u8(0), shortstr('orders'), shortstr(`eu.${i % 5}`)), content(body, id)]));
  w.send(k, 0, method(1, 60, 80, u64(tag), u8(0)));
}
const gen = w.finish();
const mb = gen.bytes / 1e6;
console.log(`capture: ${file}: ${MESSAGES} messages, ${CONNS} connections, ${gen.packets} packets, ${mb.toFixed(1)} MB`);

const pano = timed(process.execPath, [join(root, 'bin/pano-parse'), file], ROUNDS);
// per connection: start, tune, open, channel.open exchanges; per message: publish, deliver, ack
if (pano.lines !== CONNS * 4 + MESSAGES * 3) throw new Error(`pano-parse emitted ${pano.lines} events, expected ${CONNS * 4 + MESSAGES * 3}`);
const fields = ['frame.time_epoch', 'ip.src', 'tcp.srcport', 'ip.dst', 'tcp.dstport', 'amqp.channel', 'amqp.method.class', 'amqp.method.method', 'amqp.method.arguments.exchange', 'amqp.method.arguments.routing_key', 'amqp.method.arguments.delivery_tag'];
const tshark = timed('tshark', ['-r', file, '-Y', 'amqp', '-T', 'fields', ...fields.flatMap((f) => ['-e', f])], ROUNDS);
report(mb, gen.packets, pano, tshark, ROUNDS);
