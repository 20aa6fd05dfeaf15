// MQTT over WebSockets (OASIS MQTT 3.1.1 §6): mosquitto's websockets listener
// on a loopback port and a python3-websockets client (Sec-WebSocket-Protocol
// mqtt) speaking packets built here: a CONNECT with a user name and password,
// a SUBSCRIBE, a QoS 1 PUBLISH split over two WebSocket messages, a QoS 0
// PUBLISH and a PINGREQ in one message, a DISCONNECT; the broker's answers
// and deliveries come back the same way. Captured with tcpdump; pano-parse
// must give the MQTT events those packets make (marked with the WebSocket
// subprotocol) instead of binary message events, and the same PUBLISH packets
// tshark reads from those messages' payloads.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { captureDuring } from '../helpers/loopback-capture.js';
import { Conversation } from '../helpers/synth.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';
import { tsharkFields } from '../helpers/tshark.js';
import { Mosquitto, mosquittoMissing } from '../helpers/mosquitto.js';
import { pkt, str, u16, u8 } from '../helpers/mqtt.js';

const CLIENT = join(import.meta.dirname, '../fixtures/mqtt/ws-client.py');
const hasWebsockets = existsSync('/usr/lib/python3/dist-packages/websockets/__init__.py');
const missing = [...mosquittoMissing(), ...['/usr/bin/python3', '/usr/bin/tshark'].filter((p) => !existsSync(p))];
const skip = missing.length ? `missing ${missing.join(', ')}` : !hasWebsockets ? 'missing python3-websockets' : false;
let broker: Mosquitto | undefined;

before(async () => {
  if (!skip) broker = await Mosquitto.start({ allowAnonymous: true, websockets: true });
});
after(async () => {
  await broker?.stop();
});

test('MQTT over WebSockets: the packets inside binary messages give MQTT events, a packet split over two messages and two packets in one included; tshark agrees', { skip }, async () => {
  const b = broker!;
  const doc = '{"driver":"Ola Nordmann","email":"ola.nordmann@example.no"}';
  const publish = pkt(0x32, str('ws/trip'), u16(5), Buffer.from(doc));
  const half = publish.length >> 1;
  const steps = [
    `send:${pkt(0x10, str('MQTT'), u8(4), u8(0xc2), u16(30), str('ws-311'), str('dora'), str('ws-pass-1')).toString('hex')}`, 'recv',
    `send:${pkt(0x82, u16(1), str('ws/#'), u8(0)).toString('hex')}`, 'recv',
    // the PUBLISH in two messages: the broker answers PUBACK and delivers it back (QoS 0)
    `send:${publish.subarray(0, half).toString('hex')}`, `send:${publish.subarray(half).toString('hex')}`, 'recv', 'recv',
    // a QoS 0 PUBLISH and a PINGREQ in one message: the delivery and the PINGRESP come back
    `send:${Buffer.concat([pkt(0x30, str('ws/note'), Buffer.from('plain text')), pkt(0xc0)]).toString('hex')}`, 'recv', 'recv',
    `send:${pkt(0xe0).toString('hex')}`,
  ];
  const file = join(b.dir, 'mqtt-ws.pcap');
  const ran = await captureDuring(file, `tcp port ${b.wsPort}`, async () => {
    const r = spawnSync('/usr/bin/python3', [CLIENT, String(b.wsPort), 'none', ...steps], { encoding: 'utf8', timeout: 20_000 });
    await b.waitLog('Client ws-311 disconnected');
    return r;
  });
  assert.equal(ran.status, 0, ran.stderr);
  assert.match(ran.stdout, /^subprotocol mqtt$/m);

  const { events, stats } = parseCaptureSync(file);
  assertValidEvents(events);
  const all = events as any[];
  assert.equal(all[0].http.response.status_code, 101);
  assert.deepEqual(all[0].http.response.header['sec-websocket-protocol'], ['mqtt']);
  // no binary message events, their bytes were MQTT's: the close frames (each side's) stay WebSocket's
  assert.deepEqual(all.filter((e) => e.pano.protocol === 'websocket').map((e) => e.websocket.opcode), all.filter((e) => e.websocket?.close).map(() => 'close'));
  assert.ok(all.some((e) => e.websocket?.close), 'the client closed the WebSocket');
  assert.equal(stats.protocols['websocket.carried_mqtt'], 1);
  const mqtt = all.filter((e) => e.pano.protocol === 'mqtt');
  for (const e of mqtt) {
    assert.deepEqual(e.websocket, { subprotocol: 'mqtt' });
    assert.equal(e.messaging.client.id, 'ws-311');
    assert.equal(e.pano.connection.id, all[0].pano.connection.id);
  }
  const brief = mqtt.map((e) => [e.mqtt.packet_type, e.pano.kind, e.messaging.operation.type ?? '', e.messaging.destination?.name ?? '']);
  // the broker's delivery of a publish may come before or after its PUBACK ends the publish's event
  const sorted = (l: string[][]) => [...l].sort((x, y) => (x.join() < y.join() ? -1 : 1));
  assert.deepEqual(sorted(brief), sorted([
    ['CONNECT', 'exchange', '', ''],
    ['SUBSCRIBE', 'exchange', '', 'ws/#'],
    ['PUBLISH', 'exchange', 'send', 'ws/trip'],
    ['PUBLISH', 'message', 'receive', 'ws/trip'],
    ['PUBLISH', 'message', 'send', 'ws/note'],
    ['PUBLISH', 'message', 'receive', 'ws/note'],
    ['DISCONNECT', 'message', '', ''],
  ]));
  const connect = mqtt.find((e) => e.mqtt.packet_type === 'CONNECT');
  assert.equal(connect.mqtt.connect.username, 'dora');
  assert.deepEqual(connect.mqtt.connect.password, { size: 9 });
  assert.ok(!JSON.stringify(events).includes('ws-pass-1'));
  const sent = mqtt.find((e) => e.messaging.destination?.name === 'ws/trip' && e.messaging.operation.type === 'send');
  assert.deepEqual(sent.messaging.message.body, { size: doc.length, content: doc });
  assert.equal(sent.mqtt.packet_id, 5);
  assert.equal(sent.mqtt.response.packet_type, 'PUBACK');
  assert.equal(stats.protocols['mqtt.pings'], 2);

  // The oracle: tshark 4.0 hands no WebSocket subprotocol to its MQTT dissector, so its WebSocket
  // dissector unmasks each binary message's payload, those payloads in capture order make a plain TCP
  // stream on port 1883, and its MQTT dissector reads that: the same PUBLISH packets, topics and payloads.
  const payloads = tsharkFields(file, ['tcp.srcport', 'data.data'], 'websocket.opcode == 2', ['-d', `tcp.port==${b.wsPort},http`]);
  assert.ok(payloads.length >= 10, `${payloads.length} binary messages`);
  const plain = new Conversation({ addr: '127.0.0.1', port: 50000 }, { addr: '127.0.0.1', port: 1883 }).handshake();
  for (const [src, hex] of payloads) plain.send(Number(src) === b.wsPort ? 1 : 0, Buffer.from(hex!.replace(/:/g, ''), 'hex'));
  plain.close();
  const replay = join(b.dir, 'mqtt-ws-payloads.pcapng');
  writeFileSync(replay, plain.pcapng());
  const oracle = tsharkFields(replay, ['tcp.srcport', 'mqtt.topic', 'mqtt.msg'], 'mqtt.msgtype == 3');
  const fromTshark = oracle.map(([src, topic, msg]) => [src === '1883' ? 'receive' : 'send', topic!, Buffer.from(msg!.replace(/:/g, ''), 'hex').toString()]);
  const fromPano = mqtt.filter((e) => e.mqtt.packet_type === 'PUBLISH').map((e) => [e.messaging.operation.type, e.messaging.destination.name, e.messaging.message.body.content]);
  assert.deepEqual(sorted(fromPano), sorted(fromTshark));
  assert.equal(fromTshark.length, 4);
});
