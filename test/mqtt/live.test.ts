// Real MQTT traffic: mosquitto (Debian) started once for this file on a
// loopback port with its config in a temp dir, driven by mosquitto_sub and
// mosquitto_pub over MQTT 3.1.1, 5.0 and (once, reduced) 3.1: a subscriber
// with two filters that drops one again, QoS 0/1/2 publishes with a user
// name and password, a JSON message with an e-mail address, a retained
// message and a late subscriber (with a will) that gets it, v5 publish
// properties, a ~200 KB message (over the 64 KiB body limit), and a login
// the broker refuses; captured with tcpdump, parsed, and checked against what the
// clients did and saw (see mqttScenario in test/helpers/mosquitto.ts).
//
// One broker for the refused login too: mosquitto checks the password of a
// client that gives a user name even with anonymous clients allowed (the
// subscribers connect without one), and 2.0.11 refuses a wrong one with
// CONNACK 5 (3.x) / 0x87 (5.0), "not authorized", as its log and the
// clients' exit codes show.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { captureDuring } from '../helpers/loopback-capture.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';
import {
  Mosquitto,
  mosquittoMissing,
  mqttScenario,
  SCENARIO_BROKER,
  SCENARIO_PASSWORD,
  SCENARIO_USER,
  SCENARIO_WRONG_PASSWORD,
  type MqttVersion,
  type ScenarioResult,
} from '../helpers/mosquitto.js';
import type { PanoEvent } from '@panopticon/events';
import type { Body, MqttEvent } from '../helpers/mqtt.js';

const missing = mosquittoMissing();
const skip = missing.length ? `missing ${missing.join(', ')}` : false;
let broker: Mosquitto | undefined;

before(async () => {
  if (!missing.length) broker = await Mosquitto.start(SCENARIO_BROKER);
});

after(async () => {
  await broker?.stop();
});

/** The default body limit of the parse pipeline (64 KiB). */
const MAX_BODY = 64 * 1024;

const f = (e: PanoEvent) => e as unknown as MqttEvent;

interface Captured {
  run: ScenarioResult;
  events: PanoEvent[];
  mqtt: MqttEvent[];
}
const captured = new Map<MqttVersion, Promise<Captured>>();

/** The version's traffic, captured and parsed once for the tests that read it. */
function capture(version: MqttVersion): Promise<Captured> {
  let p = captured.get(version);
  if (!p) captured.set(version, (p = captureScenario(version)));
  return p;
}

async function captureScenario(version: MqttVersion): Promise<Captured> {
  const b = broker!;
  const file = join(b.dir, `${version}.pcap`);
  const run = await captureDuring(file, `tcp port ${b.port}`, () => mqttScenario(b, version));
  const { events } = parseCaptureSync(file);
  assertValidEvents(events);
  return { run, events, mqtt: events.filter((e) => e.pano.protocol === 'mqtt').map(f) };
}

/** The events of each client connection (by client port), each list in emission order. */
function byConnection(mqtt: MqttEvent[]): Map<number, MqttEvent[]> {
  const out = new Map<number, MqttEvent[]>();
  for (const e of mqtt) {
    const list = out.get(e.client.port) ?? [];
    list.push(e);
    out.set(e.client.port, list);
  }
  return out;
}

const show = (e: MqttEvent) => `${e.pano.kind} ${e.mqtt?.packet_type} ${e.messaging?.operation?.name}/${e.messaging?.operation?.type ?? ''} ${e.messaging?.destination?.name ?? ''} ${e.messaging?.client?.id ?? ''}`;

/** The expected body of a payload under the default limit. */
function expectedBody(payload: Buffer): Body {
  const body: Body = { size: payload.length, content: payload.subarray(0, MAX_BODY).toString('utf8') };
  if (payload.length > MAX_BODY) body.truncated = true;
  return body;
}

function checkScenario(run: ScenarioResult, events: PanoEvent[], mqtt: MqttEvent[]): void {
  const v5 = run.version === 'mqttv5';
  const all = mqtt.map(show).join('\n  ');
  assert.ok(mqtt.length > 0, 'no mqtt events');

  // the password goes as its size only, the refused one too
  const json = JSON.stringify(events);
  assert.ok(!json.includes(SCENARIO_PASSWORD), 'the password appears in the events');
  assert.ok(!json.includes(SCENARIO_WRONG_PASSWORD), 'the wrong password appears in the events');

  for (const e of mqtt) {
    assert.equal(e.messaging.system, 'mqtt', show(e));
    assert.equal(e.network.protocol.name, 'mqtt');
    assert.equal(e.network.protocol.version, run.protocolVersion, show(e));
    assert.notEqual(e.pano.kind, 'orphan_response', show(e));
    assert.ok(['connect', 'publish', 'subscribe', 'unsubscribe', 'disconnect'].includes(e.messaging.operation.name), show(e));
  }
  // PINGREQ/PINGRESP are no events (and none happen: keep alive is 60 s); neither are PUBREC/PUBREL
  assert.ok(mqtt.every((e) => !['PINGREQ', 'PINGRESP', 'PUBREC', 'PUBREL', 'PUBACK', 'PUBCOMP', 'CONNACK', 'SUBACK', 'UNSUBACK'].includes(e.mqtt.packet_type)), all);

  // one connection per client run: each has its CONNECT, and its id on every event
  const conns = byConnection(mqtt);
  const ids: string[] = [];
  for (const [port, list] of conns) {
    const connects = list.filter((e) => e.mqtt.packet_type === 'CONNECT');
    assert.equal(connects.length, 1, `connection ${port}: ${list.map(show).join('; ')}`);
    const id = connects[0]!.messaging.client?.id;
    assert.ok(id, `connection ${port} has no client id`);
    ids.push(id);
    for (const e of list) assert.equal(e.messaging.client?.id, id, `every event of ${id}'s connection carries its id: ${show(e)}`);
  }
  const pubs = run.publishes.length;
  assert.deepEqual(ids.sort(), ['badclient', 'latesub', ...Array(pubs).fill('pubclient'), 'subclient'].sort());
  const connOf = (id: string) => [...conns.values()].filter((l) => l[0]!.messaging.client!.id === id);
  const connectOf = (list: MqttEvent[]) => list.find((e) => e.mqtt.packet_type === 'CONNECT')!;

  // CONNECT + CONNACK: one exchange; the user name as given, the password as its size
  for (const e of mqtt.filter((x) => x.mqtt.packet_type === 'CONNECT')) {
    assert.equal(e.pano.kind, 'exchange', show(e));
    assert.equal(e.messaging.operation.name, 'connect');
    const c = e.mqtt.connect!;
    assert.equal(c.protocol_name, run.version === 'mqttv31' ? 'MQIsdp' : 'MQTT');
    assert.equal(c.keep_alive, 60);
    if (v5) assert.equal(c.clean_start, true);
    else assert.equal(c.clean_session, true);
    // latesub's will, as mosquitto_sub was given it
    const id0 = e.messaging.client!.id;
    if (id0 === 'latesub') {
      const w = c.will!;
      assert.deepEqual([w.topic, w.qos, w.retain], [run.will.topic, run.will.qos, run.will.retain]);
      assert.deepEqual(w.body, expectedBody(run.will.payload));
    } else assert.equal(c.will, undefined, id0);
    assert.equal(e.mqtt.response!.packet_type, 'CONNACK');
    assert.ok(!e.mqtt.response!.session_present, 'a clean session is never present');
    const id = e.messaging.client!.id;
    if (id === 'pubclient' || id === 'badclient') {
      assert.equal(c.username, SCENARIO_USER);
      assert.deepEqual(c.password, { size: Buffer.byteLength(id === 'pubclient' ? SCENARIO_PASSWORD : SCENARIO_WRONG_PASSWORD) });
    } else {
      assert.equal(c.username, undefined, id);
      assert.equal(c.password, undefined, id);
    }
    if (id !== 'badclient') {
      assert.equal(e.error, undefined, show(e));
      assert.ok((e.mqtt.response!.reason_code ?? 0) === 0, `accepted: ${JSON.stringify(e.mqtt.response)}`);
    }
  }

  // the refused login: CONNACK 5 (3.x) / 0x87 (5.0), and nothing after it
  const [bad] = connOf('badclient');
  assert.ok(bad, all);
  assert.deepEqual(bad.map((e) => e.mqtt.packet_type), ['CONNECT'], bad.map(show).join('; '));
  const refusal = bad[0]!;
  assert.match(run.refused.stderr, /not author/i, 'mosquitto_pub saw the refusal');
  assert.deepEqual(refusal.error, { type: 'not_authorized' });
  assert.equal(refusal.mqtt.response!.reason_code, v5 ? 0x87 : 5);
  assert.equal(refusal.mqtt.response!.reason_name, 'not_authorized');

  // every publish of pubclient, each on its own connection (with alice's login) then DISCONNECT
  const pubConns = connOf('pubclient');
  for (const p of run.publishes) {
    const what = `publish ${p.topic}`;
    const conn = pubConns.find((l) => l.some((e) => e.messaging.destination?.name === p.topic));
    assert.ok(conn, `${what} missing:\n  ${all}`);
    assert.equal(connectOf(conn).mqtt.connect!.username, SCENARIO_USER, what);
    assert.deepEqual(conn.map((e) => e.messaging.operation.name).sort(), ['connect', 'disconnect', 'publish'], what);
    const e = conn.find((x) => x.messaging.operation.name === 'publish')!;
    assert.equal(e.mqtt.packet_type, 'PUBLISH');
    assert.equal(e.messaging.operation.type, 'send', what);
    assert.equal(e.messaging.client!.id, 'pubclient');
    assert.equal(e.mqtt.qos, p.qos, what);
    assert.equal(e.mqtt.retain, p.retain ? true : undefined, what);
    assert.equal(e.mqtt.dup, undefined, what);
    if (p.qos === 0) {
      assert.equal(e.pano.kind, 'message', what);
      assert.equal(e.mqtt.packet_id, undefined, what);
      assert.equal(e.mqtt.response, undefined, what);
    } else {
      assert.equal(e.pano.kind, 'exchange', what);
      assert.equal(typeof e.mqtt.packet_id, 'number', what);
      assert.equal(e.mqtt.response!.packet_type, p.qos === 1 ? 'PUBACK' : 'PUBCOMP', what);
    }
    assert.deepEqual(e.messaging.message!.body, expectedBody(p.payload), what);
    if (p.payload.length > MAX_BODY) assert.ok(e.pano.flags?.includes('truncated'), `${what}: flags ${e.pano.flags}`);
    const disconnect = conn.find((x) => x.messaging.operation.name === 'disconnect')!;
    assert.equal(disconnect.pano.kind, 'message');
    assert.equal(disconnect.mqtt.packet_type, 'DISCONNECT');
  }
  // the JSON with an e-mail address, as text
  const jsonPub = run.publishes.find((p) => p.payload.includes('@example.com'))!;
  const jsonEvent = mqtt.find((e) => e.messaging.destination?.name === jsonPub.topic && e.messaging.operation.type === 'send')!;
  assert.equal(JSON.parse(jsonEvent.messaging.message!.body!.content!).email, 'bob@example.com');

  // v5 properties of the publish, and the same forwarded by the broker (it must, MQTT 5 §3.3.2.3)
  if (v5) {
    const props = run.publishes.find((p) => p.properties)!;
    const sent = mqtt.filter((e) => e.messaging.destination?.name === props.topic);
    assert.deepEqual(sent.map((e) => e.messaging.operation.type).sort(), ['receive', 'send']);
    for (const e of sent) {
      const pr = e.mqtt.properties!;
      assert.ok(pr, `${show(e)} has no properties`);
      assert.equal(pr.content_type, 'application/json');
      assert.equal(pr.response_topic, 'rt');
      assert.deepEqual(JSON.parse(JSON.stringify(pr.user_properties)), { k: ['v'] });
      assert.ok('correlation_data' in pr, `correlation_data: ${JSON.stringify(pr)}`);
      assert.equal(e.messaging.message!.conversation_id, 'abc');
    }
    // the other publishes have none
    const plain = mqtt.find((e) => e.messaging.destination?.name === `${run.base}/q1` && e.messaging.operation.type === 'send')!;
    assert.equal(plain.mqtt.properties?.content_type, undefined);
  }

  // subclient: SUBSCRIBE (two filters) + SUBACK, UNSUBSCRIBE + UNSUBACK, each delivery, DISCONNECT
  const [sub] = connOf('subclient');
  assert.ok(sub, all);
  const subscribe = sub.filter((e) => e.messaging.operation.name === 'subscribe');
  assert.equal(subscribe.length, 1, sub.map(show).join('; '));
  const s = subscribe[0]!;
  assert.equal(s.pano.kind, 'exchange');
  assert.equal(s.mqtt.packet_type, 'SUBSCRIBE');
  assert.equal(typeof s.mqtt.packet_id, 'number');
  assert.deepEqual(s.mqtt.subscriptions!.map((x) => [x.filter, x.qos]), run.filters.map((t) => [t, run.subscribeQos]));
  assert.equal(s.messaging.destination, undefined, 'two filters: no one destination');
  assert.equal(s.mqtt.response!.packet_type, 'SUBACK');
  assert.deepEqual(s.mqtt.response!.reason_codes, run.filters.map(() => run.subscribeQos), 'granted QoS 1 for each');

  const unsubscribe = sub.filter((e) => e.messaging.operation.name === 'unsubscribe');
  assert.equal(unsubscribe.length, 1, sub.map(show).join('; '));
  const u = unsubscribe[0]!;
  assert.equal(u.pano.kind, 'exchange');
  assert.equal(u.mqtt.packet_type, 'UNSUBSCRIBE');
  assert.equal(typeof u.mqtt.packet_id, 'number');
  assert.notEqual(u.mqtt.packet_id, s.mqtt.packet_id);
  assert.deepEqual(u.mqtt.topic_filters, [run.unsubscribed]);
  assert.equal(u.messaging.destination!.name, run.unsubscribed);
  assert.equal(u.mqtt.response!.packet_type, 'UNSUBACK');
  if (v5) assert.deepEqual(u.mqtt.response!.reason_codes, [0]);

  // what subclient received, in order: topic, QoS (capped at its subscription's 1), retain, size, content
  assert.equal(run.delivered.length, run.publishes.length, 'mosquitto_sub got every message');
  const received = sub.filter((e) => e.messaging.operation.name === 'publish').sort((a, b) => (BigInt(a.pano.start_ns) < BigInt(b.pano.start_ns) ? -1 : 1));
  assert.deepEqual(
    received.map((e) => [e.messaging.destination!.name, e.mqtt.qos, e.mqtt.retain ?? false, e.messaging.message!.body!.size]),
    run.delivered.map((d) => [d.topic, d.qos, d.retain, d.size]),
  );
  for (const e of received) {
    const p = run.publishes.find((x) => x.topic === e.messaging.destination!.name)!;
    assert.equal(e.messaging.operation.type, 'receive', show(e));
    assert.equal(e.messaging.client!.id, 'subclient');
    assert.deepEqual(e.messaging.message!.body, expectedBody(p.payload), show(e));
    if (e.mqtt.qos === 0) assert.equal(e.pano.kind, 'message', show(e));
    else {
      assert.equal(e.pano.kind, 'exchange', show(e));
      assert.equal(e.mqtt.response!.packet_type, 'PUBACK', show(e));
      assert.equal(typeof e.mqtt.packet_id, 'number');
    }
  }
  assert.deepEqual(sub.filter((e) => e.messaging.operation.name === 'disconnect').map((e) => e.pano.kind), ['message']);
  assert.equal(sub.length, 1 + 1 + 1 + run.publishes.length + 1, sub.map(show).join('; '));

  // latesub: one filter (so a destination), then the retained message with retain set
  const [late] = connOf('latesub');
  assert.ok(late, all);
  const retained = run.publishes.find((p) => p.retain)!;
  const lateSub = late.find((e) => e.messaging.operation.name === 'subscribe')!;
  assert.equal(lateSub.messaging.destination!.name, retained.topic);
  assert.deepEqual(lateSub.mqtt.subscriptions!.map((x) => [x.filter, x.qos]), [[retained.topic, 1]]);
  assert.deepEqual(run.late, [{ topic: retained.topic, qos: 1, retain: true, size: retained.payload.length }]);
  const lateMsg = late.filter((e) => e.messaging.operation.name === 'publish');
  assert.equal(lateMsg.length, 1, late.map(show).join('; '));
  assert.equal(lateMsg[0]!.messaging.operation.type, 'receive');
  assert.equal(lateMsg[0]!.mqtt.retain, true);
  assert.equal(lateMsg[0]!.mqtt.qos, 1);
  assert.equal(lateMsg[0]!.messaging.message!.body!.content, retained.payload.toString());

  // and nothing else
  const expected = 1 /* bad */ + pubs * 3 + sub.length + 4 /* latesub: connect, subscribe, publish, disconnect */;
  assert.equal(mqtt.length, expected, all);
}

for (const version of ['mqttv311', 'mqttv5', 'mqttv31'] as const) {
  test(`mosquitto_sub/mosquitto_pub over ${version} against mosquitto parse into what the clients did`, { skip }, async () => {
    const { run, events, mqtt } = await capture(version);
    checkScenario(run, events, mqtt);
  });
}
