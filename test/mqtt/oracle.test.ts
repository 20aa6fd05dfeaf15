// MQTT against tshark's dissector. The corpus has no MQTT capture: this file
// makes its own, with the traffic of the live test (mqttScenario: mosquitto
// driven by mosquitto_sub/mosquitto_pub over MQTT 3.1, 3.1.1 and 5.0, a
// refused login included), and compares, per connection, every MQTT packet
// tshark reads (from its PDML, one <proto name="mqtt"> per packet, so several
// packets in one TCP segment stay apart) with the packets the events stand
// for: the CONNECT and its CONNACK, each PUBLISH (topic, QoS, flags, packet
// id, payload, v5 properties) and its PUBACK/PUBCOMP, SUBSCRIBE/SUBACK,
// UNSUBSCRIBE/UNSUBACK, DISCONNECT. Every event must pass the v1 schema.
//
// Left out of the comparison, on purpose:
//  - PUBREC and PUBREL: the middle of a QoS 2 flow; its event is the PUBLISH
//    ending at PUBCOMP, and the packet id compared there is theirs too.
//  - PINGREQ/PINGRESP: no events by design (none are sent anyway: the
//    clients' keep alive is 60 s and each run lasts milliseconds).
//  - the value of the v5 Correlation Data property (binary data: how the
//    event renders it is not specified; its text is compared as
//    messaging.message.conversation_id in the live test); its presence is.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { captureDuring } from '../helpers/loopback-capture.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';
import { tsharkAvailable, tsharkOutput } from '../helpers/tshark.js';
import { Mosquitto, mosquittoMissing, mqttScenario, SCENARIO_BROKER, type MqttVersion, type ScenarioResult } from '../helpers/mosquitto.js';
import type { MqttEvent } from '../helpers/mqtt.js';

const VERSIONS: MqttVersion[] = ['mqttv31', 'mqttv311', 'mqttv5'];
const missing = [...mosquittoMissing(), ...(tsharkAvailable() ? [] : ['tshark'])];
const skip = missing.length ? `missing ${missing.join(', ')}` : false;
let broker: Mosquitto | undefined;
const captures = new Map<MqttVersion, { file: string; run: ScenarioResult }>();

before(async () => {
  if (missing.length) return;
  broker = await Mosquitto.start(SCENARIO_BROKER);
  for (const version of VERSIONS) {
    const file = join(broker.dir, `${version}.pcap`);
    captures.set(version, { file, run: await captureDuring(file, `tcp port ${broker.port}`, () => mqttScenario(broker!, version)) });
  }
});

after(async () => {
  await broker?.stop();
});

/** The default body limit of the parse pipeline (64 KiB). */
const MAX_BODY = 64 * 1024;

// ---------------------------------------------------------------------------
// tshark's side

interface Field {
  name: string;
  showname: string;
  show: string;
  value: string;
}
interface Pdu {
  frame: number;
  /** the client's port: the connection */
  conn: number;
  fromBroker: boolean;
  fields: Field[];
}

const unxml = (s: string) =>
  s.replace(/&(#x[0-9a-f]+|#\d+|quot|amp|lt|gt|apos);/gi, (_, e: string) =>
    e[0] === '#' ? String.fromCodePoint(e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : Number(e.slice(1))) : ({ quot: '"', amp: '&', lt: '<', gt: '>', apos: "'" } as Record<string, string>)[e.toLowerCase()]!,
  );

/** Every MQTT packet tshark reads in `file`, in capture order. */
async function tsharkPdus(file: string, port: number): Promise<Pdu[]> {
  const pdml = await tsharkOutput(file, ['-d', `tcp.port==${port},mqtt`, '-Y', 'mqtt', '-T', 'pdml']);
  const out: Pdu[] = [];
  for (const packet of pdml.split('<packet>').slice(1)) {
    const frame = Number(/name="frame.number"[^>]*show="(\d+)"/.exec(packet)?.[1]);
    const src = Number(/name="tcp.srcport"[^>]*show="(\d+)"/.exec(packet)?.[1]);
    const dst = Number(/name="tcp.dstport"[^>]*show="(\d+)"/.exec(packet)?.[1]);
    for (const [proto] of packet.matchAll(/<proto name="mqtt"[\s\S]*?<\/proto>/g)) {
      const fields: Field[] = [];
      for (const m of proto.matchAll(/<field name="([^"]+)" showname="([^"]*)"[^>]*? show="([^"]*)"(?: value="([^"]*)")?/g)) {
        fields.push({ name: m[1]!, showname: unxml(m[2]!), show: unxml(m[3]!), value: m[4] ?? '' });
      }
      out.push({ frame, conn: src === port ? dst : src, fromBroker: src === port, fields });
    }
  }
  return out;
}

const one = (p: Pdu, name: string) => p.fields.find((x) => x.name === name)?.show;
const every = (p: Pdu, name: string) => p.fields.filter((x) => x.name === name).map((x) => x.show);
const num = (s: string | undefined) => (s === undefined ? undefined : Number(s));

/** "ID: Topic Alias Maximum (0x22)" → topic_alias_maximum (the spec's name in snake case). */
const propName = (showname: string) => showname.replace(/^ID: /, '').replace(/ \(0x[0-9a-f]+\)$/i, '').toLowerCase().replace(/[^a-z0-9]+/g, '_');

/** The packet's v5 properties by name, as tshark shows them (user properties as [key, value] pairs). */
function tsharkProperties(p: Pdu): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  let name = '';
  let key = '';
  for (const x of p.fields) {
    if (x.name === 'mqtt.will_properties') break; // none in this traffic (no will)
    if (x.name === 'mqtt.property_id') name = propName(x.showname);
    else if (!name) continue;
    else if (x.name === 'mqtt.prop_key') key = x.show;
    else if (x.name === 'mqtt.prop_value') ((out.user_properties ??= []) as Array<[string, string]>).push([key, x.show]);
    else if (x.name === 'mqtt.prop_number' || x.name === 'mqtt.property.max_qos' || x.name === 'mqtt.property.topic_alias') out[name] = Number(x.show);
    else if (x.name === 'mqtt.prop_string' || x.name === 'mqtt.property.content_type') out[name] = x.show;
  }
  return out;
}

/** The CONNECT's will (its properties are not compared: mosquitto_sub sends none). */
function tsharkWill(p: Pdu): ConnectView['will'] {
  const payload = Buffer.from(p.fields.find((x) => x.name === 'mqtt.willmsg')?.value ?? '', 'hex');
  return {
    topic: one(p, 'mqtt.willtopic')!,
    qos: Number(one(p, 'mqtt.conflag.qos')),
    retain: one(p, 'mqtt.conflag.retain') === '1',
    size: payload.length,
    content: payload.subarray(0, MAX_BODY).toString('utf8'),
  };
}

const VERSION_NAMES: Record<string, string> = { '3': '3.1', '4': '3.1.1', '5': '5.0' };

// ---------------------------------------------------------------------------
// The normalized packets both sides are compared as

const sha = (s: string | undefined) => (s === undefined ? '-' : createHash('sha1').update(s).digest('hex').slice(0, 12));
const dirOf = (fromBroker: boolean) => (fromBroker ? 'broker>client' : 'client>broker');

/**
 * Properties as one string. User properties are compared as [key, value]
 * pairs: tshark lists them in wire order, an event maps each key to its
 * values in order (ADR 0287), which is the same list when no key repeats
 * after another key came between (as here).
 */
function normProps(props: Record<string, unknown> | undefined): string {
  if (!props || Object.keys(props).length === 0) return '';
  const copy: Record<string, unknown> = { ...props };
  if ('correlation_data' in copy) copy.correlation_data = '<binary>';
  const user = copy.user_properties;
  if (user && !Array.isArray(user)) copy.user_properties = Object.entries(user as Record<string, unknown[]>).flatMap(([k, vs]) => vs.map((v) => [k, v]));
  return ' props=' + JSON.stringify(Object.fromEntries(Object.entries(copy).sort(([a], [b]) => (a < b ? -1 : 1))));
}

interface ConnectView {
  clientId: string;
  protocolName: string;
  version: string;
  keepAlive: number;
  clean: boolean;
  username?: string;
  passwordSize?: number;
  will?: { topic: string; qos: number; retain: boolean; size: number; content?: string };
  props?: Record<string, unknown>;
}
const willStr = (w: ConnectView['will']) => (w ? `${w.topic}:qos=${w.qos}:retain=${w.retain}:size=${w.size}:${sha(w.content)}` : '-');
const connectStr = (c: ConnectView) =>
  `CONNECT ${c.clientId} ${c.protocolName} ${c.version} keep_alive=${c.keepAlive} clean=${c.clean} user=${c.username ?? '-'} password=${c.passwordSize ?? '-'} will=${willStr(c.will)}${normProps(c.props)}`;
const connackStr = (code: number, sp: boolean, props?: Record<string, unknown>) => `CONNACK ${code} session_present=${sp}${normProps(props)}`;

interface PublishView {
  fromBroker: boolean;
  topic: string;
  qos: number;
  retain: boolean;
  dup: boolean;
  packetId?: number;
  size: number;
  content?: string;
  truncated: boolean;
  props?: Record<string, unknown>;
}
const publishStr = (p: PublishView) =>
  `PUBLISH ${dirOf(p.fromBroker)} ${p.topic} qos=${p.qos} retain=${p.retain} dup=${p.dup} id=${p.packetId ?? '-'} size=${p.size} content=${sha(p.content)} truncated=${p.truncated}${normProps(p.props)}`;
const ackStr = (type: string, id: number | undefined, fromBroker: boolean, code: number) => `${type} ${id ?? '-'} ${dirOf(fromBroker)} rc=${code}`;

/** A tshark packet as a normalized string; undefined for those left out (see the top of the file). */
function fromTshark(p: Pdu): string | undefined {
  const type = Number(one(p, 'mqtt.msgtype'));
  const id = num(one(p, 'mqtt.msgid'));
  switch (type) {
    case 1: {
      const ver = one(p, 'mqtt.ver')!;
      return connectStr({
        clientId: one(p, 'mqtt.clientid') ?? '',
        protocolName: one(p, 'mqtt.protoname')!,
        version: VERSION_NAMES[ver] ?? ver,
        keepAlive: Number(one(p, 'mqtt.kalive')),
        clean: one(p, 'mqtt.conflag.cleansess') === '1',
        username: one(p, 'mqtt.username'),
        passwordSize: num(one(p, 'mqtt.passwd_len')),
        will: one(p, 'mqtt.conflag.willflag') === '1' ? tsharkWill(p) : undefined,
        props: tsharkProperties(p),
      });
    }
    case 2:
      return connackStr(Number(one(p, 'mqtt.conack.val') ?? one(p, 'mqtt.connack.reason_code')), one(p, 'mqtt.conack.flags.sp') === '1', tsharkProperties(p));
    case 3: {
      const payload = Buffer.from(p.fields.find((x) => x.name === 'mqtt.msg')?.value ?? '', 'hex');
      return publishStr({
        fromBroker: p.fromBroker,
        topic: one(p, 'mqtt.topic')!,
        qos: Number(one(p, 'mqtt.qos')),
        retain: one(p, 'mqtt.retain') === '1',
        dup: one(p, 'mqtt.dupflag') === '1',
        packetId: id,
        size: payload.length,
        // the event keeps the first 64 KiB, as text when it is (all of this traffic is)
        content: payload.subarray(0, MAX_BODY).toString('utf8'),
        truncated: payload.length > MAX_BODY,
        props: tsharkProperties(p),
      });
    }
    case 4:
      return ackStr('PUBACK', id, p.fromBroker, Number(one(p, 'mqtt.puback.reason_code') ?? 0));
    case 7:
      return ackStr('PUBCOMP', id, p.fromBroker, Number(one(p, 'mqtt.pubcomp.reason_code') ?? 0));
    case 8: {
      const qos = every(p, 'mqtt.sub.qos').concat(every(p, 'mqtt.subscription_options_qos'));
      return `SUBSCRIBE ${id} ${every(p, 'mqtt.topic').map((t, i) => `${t}:${qos[i]}`).join(',')}`;
    }
    case 9:
      return `SUBACK ${id} ${every(p, 'mqtt.suback.qos').concat(every(p, 'mqtt.suback.reason_code')).join(',')}`;
    case 10:
      return `UNSUBSCRIBE ${id} ${every(p, 'mqtt.topic').join(',')}`;
    case 11:
      return `UNSUBACK ${id} ${every(p, 'mqtt.unsuback.reason_code').join(',')}`;
    case 14:
      return `DISCONNECT ${dirOf(p.fromBroker)} rc=${Number(one(p, 'mqtt.disconnect.reason_code') ?? 0)}`;
    case 15:
      return `AUTH ${dirOf(p.fromBroker)} rc=${Number(one(p, 'mqtt.auth.reason_code') ?? 0)}`;
    default:
      return undefined; // 5 PUBREC, 6 PUBREL, 12 PINGREQ, 13 PINGRESP
  }
}

// ---------------------------------------------------------------------------
// The events' side

/**
 * The packets an event stands for, normalized like tshark's. A reason code
 * the event leaves out is read as 0 (success): MQTT 3.x PUBACK/PUBCOMP have
 * none, and v5 ones may omit it on the wire (as mosquitto does) when it is 0.
 */
function fromEvent(e: MqttEvent): string[] {
  const m = e.mqtt;
  const r = m.response;
  switch (m.packet_type) {
    case 'CONNECT': {
      const c = m.connect!;
      const out = [
        connectStr({
          clientId: e.messaging.client?.id ?? '',
          protocolName: c.protocol_name,
          version: e.network.protocol.version,
          keepAlive: c.keep_alive,
          clean: (c.clean_session ?? c.clean_start) === true,
          username: c.username,
          passwordSize: c.password?.size,
          will: c.will && { topic: c.will.topic, qos: c.will.qos, retain: c.will.retain, size: c.will.body.size, content: c.will.body.content },
          // the CONNECT's own properties are mqtt.properties
          props: m.properties,
        }),
      ];
      if (r) out.push(connackStr(r.reason_code ?? 0, r.session_present === true, r.properties));
      return out;
    }
    case 'PUBLISH': {
      const fromBroker = e.messaging.operation.type === 'receive';
      const body = e.messaging.message?.body;
      const out = [
        publishStr({
          fromBroker,
          topic: e.messaging.destination?.name ?? '',
          qos: m.qos ?? -1,
          retain: m.retain === true,
          dup: m.dup === true,
          packetId: m.packet_id,
          size: body?.size ?? 0,
          content: body?.content,
          truncated: body?.truncated === true,
          props: m.properties,
        }),
      ];
      if (r) out.push(ackStr(r.packet_type, m.packet_id, !fromBroker, r.reason_code ?? 0));
      return out;
    }
    case 'SUBSCRIBE': {
      const out = [`SUBSCRIBE ${m.packet_id} ${(m.subscriptions ?? []).map((s) => `${s.filter}:${s.qos}`).join(',')}`];
      if (r) out.push(`${r.packet_type} ${m.packet_id} ${(r.reason_codes ?? []).join(',')}`);
      return out;
    }
    case 'UNSUBSCRIBE': {
      const out = [`UNSUBSCRIBE ${m.packet_id} ${(m.topic_filters ?? []).join(',')}`];
      if (r) out.push(`${r.packet_type} ${m.packet_id} ${(r.reason_codes ?? []).join(',')}`);
      return out;
    }
    case 'DISCONNECT':
    case 'AUTH':
      // one-way: sent by the client when the event has request bytes, else by the broker
      return [`${m.packet_type} ${dirOf(e.pano.request_bytes === undefined)} rc=${(m as { reason_code?: number }).reason_code ?? r?.reason_code ?? 0}`];
    default:
      return [`unexpected ${m.packet_type}`];
  }
}

function group<T>(items: T[], key: (x: T) => number, strs: (x: T) => string[]): Map<number, string[]> {
  const out = new Map<number, string[]>();
  for (const x of items) {
    const s = strs(x);
    if (s.length) out.set(key(x), [...(out.get(key(x)) ?? []), ...s]);
  }
  for (const [k, v] of out) out.set(k, v.sort());
  return out;
}

for (const version of VERSIONS) {
  test(`mqtt oracle: mosquitto traffic over ${version} against tshark`, { skip }, async () => {
    const { file, run } = captures.get(version)!;
    const port = broker!.port;
    const pdus = await tsharkPdus(file, port);
    const { events } = parseCaptureSync(file);
    assertValidEvents(events);
    const mqtt = events.filter((e) => e.pano.protocol === 'mqtt') as unknown as MqttEvent[];
    assert.ok(pdus.length > 0, 'tshark read no MQTT');
    assert.ok(mqtt.length > 0, 'no mqtt events');
    const type = (p: Pdu) => Number(one(p, 'mqtt.msgtype'));

    // PUBLISH packets: (direction, topic, QoS, payload) as a multiset
    const tPub = pdus.filter((p) => type(p) === 3).map((p) => {
      const payload = Buffer.from(p.fields.find((x) => x.name === 'mqtt.msg')?.value ?? '', 'hex');
      return `${dirOf(p.fromBroker)} ${one(p, 'mqtt.topic')} qos=${one(p, 'mqtt.qos')} size=${payload.length} ${sha(payload.subarray(0, MAX_BODY).toString('utf8'))}`;
    });
    const ePub = mqtt.filter((e) => e.mqtt.packet_type === 'PUBLISH').map((e) => `${dirOf(e.messaging.operation.type === 'receive')} ${e.messaging.destination?.name} qos=${e.mqtt.qos} size=${e.messaging.message?.body?.size} ${sha(e.messaging.message?.body?.content)}`);
    assert.deepEqual(ePub.sort(), tPub.sort(), 'PUBLISH packets');
    // what the scenario sent is all there: each publish once to the broker, and each delivered once to subclient
    assert.equal(tPub.length, 2 * run.publishes.length + run.late.length);

    // CONNECT client ids, CONNACK return codes (by connection)
    const tConnect = pdus.filter((p) => type(p) === 1).map((p) => `${p.conn} ${one(p, 'mqtt.clientid')}`);
    const eConnect = mqtt.filter((e) => e.mqtt.packet_type === 'CONNECT').map((e) => `${e.client.port} ${e.messaging.client?.id}`);
    assert.deepEqual(eConnect.sort(), tConnect.sort(), 'CONNECT client ids');
    const tConnack = pdus.filter((p) => type(p) === 2).map((p) => `${p.conn} ${one(p, 'mqtt.conack.val') ?? one(p, 'mqtt.connack.reason_code')}`);
    const eConnack = mqtt.filter((e) => e.mqtt.response?.packet_type === 'CONNACK').map((e) => `${e.client.port} ${e.mqtt.response!.reason_code ?? 0}`);
    assert.deepEqual(eConnack.sort(), tConnack.sort(), 'CONNACK return codes');
    assert.ok(tConnack.some((s) => s.endsWith(version === 'mqttv5' ? ' 135' : ' 5')), 'the refused login is in the capture');

    // SUBSCRIBE packet ids and filters
    const tSub = pdus.filter((p) => type(p) === 8).map((p) => `${p.conn} ${one(p, 'mqtt.msgid')} ${every(p, 'mqtt.topic').join(',')}`);
    const eSub = mqtt.filter((e) => e.mqtt.packet_type === 'SUBSCRIBE').map((e) => `${e.client.port} ${e.mqtt.packet_id} ${(e.mqtt.subscriptions ?? []).map((s) => s.filter).join(',')}`);
    assert.deepEqual(eSub.sort(), tSub.sort(), 'SUBSCRIBE packet ids and filters');

    // and every packet, per connection
    const theirs = group(pdus, (p) => p.conn, (p) => {
      const s = fromTshark(p);
      return s === undefined ? [] : [s];
    });
    const ours = group(mqtt, (e) => e.client.port, fromEvent);
    assert.deepEqual(ours, theirs);
    // what was left out of that comparison is there: QoS 2 inner steps, and no pings
    const counts = (t: number) => pdus.filter((p) => type(p) === t).length;
    assert.equal(counts(5), counts(7), 'a PUBREC for each PUBCOMP');
    assert.equal(counts(6), counts(7), 'a PUBREL for each PUBCOMP');
    assert.equal(counts(12) + counts(13), 0, 'no pings');
  });
}
