// MQTT over TLS read with a key log: mosquitto with a TLS listener on a
// loopback port (a certificate made here), a Node.js TLS client writing its
// secrets as NSS key log lines ('keylog' events) and speaking MQTT 3.1.1 and
// 5.0 packets built by hand (CONNECT with a user name and password, a QoS 1
// PUBLISH of a JSON document, DISCONNECT), captured with tcpdump. Without
// the key log the connection is TLS and nothing more; with it, the MQTT
// inside gives the events the client's packets and the broker's answers say,
// each marked tls.decrypted, and the password still only by its size.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { captureDuring } from '../helpers/loopback-capture.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';
import { Mosquitto, mosquittoMissing } from '../helpers/mosquitto.js';
import { pkt, str, u16 } from '../helpers/mqtt.js';

const missing = [...mosquittoMissing(), ...['/usr/bin/openssl'].filter((p) => !existsSync(p))];
const skip = missing.length ? `missing ${missing.join(', ')}` : false;
const dir = mkdtempSync(join(tmpdir(), 'pano-mqtt-tls-'));
const keylog = join(dir, 'keys.log');
let broker: Mosquitto | undefined;


before(async () => {
  if (skip) return;
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '30',
    '-subj', '/CN=broker.example.test', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'pipe' });
  broker = await Mosquitto.start({ allowAnonymous: true, tls: { certfile: join(dir, 'cert.pem'), keyfile: join(dir, 'key.pem') } });
});

after(async () => {
  await broker?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** One MQTT session over TLS: sends each packet after the broker answered the one before, where it answers. */
async function session(level: 4 | 5, clientId: string, topic: string, payload: string): Promise<void> {
  const v5 = level === 5;
  const props = v5 ? [Buffer.from([0])] : [];
  const socket = connect({ host: '127.0.0.1', port: broker!.port, rejectUnauthorized: false, servername: 'broker.example.test' });
  socket.on('keylog', (line) => appendFileSync(keylog, line));
  const got: Buffer[] = [];
  let waiting: ((b: Buffer) => void) | undefined;
  socket.on('data', (d: Buffer) => {
    got.push(d);
    waiting?.(d);
  });
  const next = () => new Promise<Buffer>((resolve) => (waiting = resolve));
  await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
  let answer = next();
  socket.write(pkt(0x10, str('MQTT'), Buffer.from([level, 0xc2]), u16(30), ...props, str(clientId), str('carol'), str('tls-pass-9')));
  assert.equal((await answer)[0], 0x20, 'CONNACK');
  answer = next();
  socket.write(pkt(0x32, str(topic), u16(7), ...props, Buffer.from(payload)));
  assert.equal((await answer)[0], 0x40, 'PUBACK');
  socket.end(pkt(0xe0, ...(v5 ? [Buffer.from([0])] : [])));
  await new Promise((r) => socket.once('close', r));
}

test('MQTT 3.1.1 and 5.0 over TLS: read with the key log, TLS alone without it', { skip }, async () => {
  const file = join(dir, 'mqtt-tls.pcap');
  const doc = '{"patient":"Jane Roe","email":"jane.roe@example.org"}';
  await captureDuring(file, `tcp port ${broker!.port}`, async () => {
    await session(4, 'meter-311', 'clinic/room-4', doc);
    await session(5, 'meter-5', 'clinic/room-5', doc);
  });
  const plain = parseCaptureSync(file);
  assert.equal(plain.events.filter((e) => e.pano.protocol === 'mqtt').length, 0);
  assert.equal(plain.events.filter((e) => e.pano.protocol === 'tls').length, 2);

  const { events } = parseCaptureSync(file, { parse: { tlsKeyLogs: [keylog] } });
  assertValidEvents(events);
  const mqtt = events.filter((e) => e.pano.protocol === 'mqtt') as unknown as Array<Record<string, any>>;
  assert.deepEqual(mqtt.map((e) => [e.messaging.client.id, e.mqtt.packet_type, e.pano.kind]), [
    ['meter-311', 'CONNECT', 'exchange'], ['meter-311', 'PUBLISH', 'exchange'], ['meter-311', 'DISCONNECT', 'message'],
    ['meter-5', 'CONNECT', 'exchange'], ['meter-5', 'PUBLISH', 'exchange'], ['meter-5', 'DISCONNECT', 'message'],
  ]);
  for (const e of mqtt) assert.equal(e.tls?.decrypted, true);
  const [c311, p311, , c5, p5] = mqtt;
  assert.deepEqual([c311!.network.protocol.version, c5!.network.protocol.version], ['3.1.1', '5.0']);
  for (const c of [c311!, c5!]) {
    assert.equal(c.mqtt.connect.username, 'carol');
    assert.deepEqual(c.mqtt.connect.password, { size: 10 });
    assert.equal(c.mqtt.response.reason_code, 0);
  }
  for (const [p, topic] of [[p311!, 'clinic/room-4'], [p5!, 'clinic/room-5']] as const) {
    assert.equal(p.messaging.destination.name, topic);
    assert.deepEqual(p.messaging.message.body, { size: doc.length, content: doc });
    assert.equal(p.mqtt.packet_id, 7);
    assert.equal(p.mqtt.response.packet_type, 'PUBACK');
  }
  assert.ok(!JSON.stringify(events).includes('tls-pass-9'));
  assert.ok(readFileSync(keylog, 'utf8').includes('CLIENT_TRAFFIC_SECRET_0'));
});
