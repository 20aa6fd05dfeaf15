/**
 * MQTT replay throughput: pano-parse beside tshark on the same capture, in
 * the same run.
 *
 * The capture: 100 MQTT 5.0 connections (CONNECT with a session expiry,
 * CONNACK, SUBSCRIBE to `site/+/meter`, SUBACK), then 30,000 messages
 * interleaved across them: a QoS 1 PUBLISH of a 300-byte JSON reading (a
 * content type and a user property), the broker's PUBACK, the broker's
 * delivery of it to the subscriber on the same connection and the client's
 * PUBACK. Segmented at MSS 1448 with ACKs. Written as pcapng.
 *
 * Peers: `pano-parse FILE` and `tshark -r FILE -Y mqtt -T fields` with the
 * fields the events carry (packet type, client id, topic, packet id, QoS).
 * Best of ROUNDS wall times; prints MB/s, packets/s, peak RSS and the ratio.
 *
 *   npm run bench -- mqtt     (or: node --import tsx --conditions=source scripts/bench/mqtt.ts [messages])
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { rand, report, timed, writeWorkload } from './support/tcp-workload.js';
import { pkt, props, str, u16, u32, u8 } from '../../test/helpers/mqtt.js';

const MESSAGES = Number(process.argv[2] ?? 30_000);
const CONNS = 100;
const ROUNDS = 3;
const root = resolve(import.meta.dirname, '../..');
const outDir = join(root, 'bench-out');
mkdirSync(outDir, { recursive: true });
const file = join(outDir, `mqtt-${MESSAGES}.pcapng`);


const w = writeWorkload(file, CONNS, 1883);
for (const k of w.conns) {
  w.send(k, 0, pkt(0x10, str('MQTT'), u8(5), u8(0x02), u16(60), props(u8(0x11), u32(3600)), str(`meter-${k.index}`)));
  w.send(k, 1, pkt(0x20, u8(0), u8(0), props(u8(0x22), u16(10))));
  w.send(k, 0, pkt(0x82, u16(1), props(), str('site/+/meter'), u8(1)));
  w.send(k, 1, pkt(0x90, u16(1), props(), u8(1)));
}
const ids = new Array<number>(CONNS).fill(1);
const publishProps = props(u8(0x03), str('application/json'), u8(0x26), str('tenant'), str('acme'));
for (let i = 0; i < MESSAGES; i++) {
  const k = w.conns[rand(CONNS)];
  const body = Buffer.from(JSON.stringify({ reading: i, kwh: (i % 977) / 10, owner: `owner${i}@example.com`, pad: 'z'.repeat(200) }));
  const topic = `site/${i % 50}/meter`;
  const id = (ids[k.index] = (ids[k.index] % 65535) + 1);
  w.send(k, 0, pkt(0x32, str(topic), u16(id), publishProps, body));
  w.send(k, 1, pkt(0x40, u16(id)));
  w.send(k, 1, pkt(0x32, str(topic), u16(id), publishProps, body));
  w.send(k, 0, pkt(0x40, u16(id)));
}
const gen = w.finish();
const mb = gen.bytes / 1e6;
console.log(`capture: ${file}: ${MESSAGES} messages, ${CONNS} connections, ${gen.packets} packets, ${mb.toFixed(1)} MB`);

const pano = timed(process.execPath, [join(root, 'bin/pano-parse'), file], ROUNDS);
// per connection: the connect and subscribe exchanges; per message: the publish and its delivery
if (pano.lines !== CONNS * 2 + MESSAGES * 2) throw new Error(`pano-parse emitted ${pano.lines} events, expected ${CONNS * 2 + MESSAGES * 2}`);
const fields = ['frame.time_epoch', 'ip.src', 'tcp.srcport', 'ip.dst', 'tcp.dstport', 'mqtt.msgtype', 'mqtt.clientid', 'mqtt.topic', 'mqtt.msgid', 'mqtt.qos'];
const tshark = timed('tshark', ['-r', file, '-Y', 'mqtt', '-T', 'fields', ...fields.flatMap((f) => ['-e', f])], ROUNDS);
report(mb, gen.packets, pano, tshark, ROUNDS);
