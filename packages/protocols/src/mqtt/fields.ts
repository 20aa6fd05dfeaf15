/**
 * MQTT packets → event fields: semconv `messaging.*` (system `mqtt`, the
 * topic as destination, the client identifier, the payload as the message
 * body) and the `mqtt` group (packet type and id, QoS, flags, properties,
 * CONNECT's session settings and will, subscriptions, the answering packet).
 */
import { BodyCapture, bodyView } from '../body.js';
import { AUTH, CONNACK, CONNECT, DISCONNECT, PACKET_NAMES, PUBACK, PUBCOMP, PUBLISH, PUBREC, SUBACK, SUBSCRIBE, UNSUBACK, UNSUBSCRIBE, isFailure, reasonName } from './constants.js';
import type { Decoded } from './decode.js';

/** A decoded packet with where and when it was. */
export interface MqttPacket extends Decoded {
  type: number;
  flags: number;
  dir: 0 | 1;
  startNs: bigint;
  endNs: bigint;
  /** Bytes on the wire, fixed header included. */
  size: number;
  /** PUBLISH: the topic after resolving a topic alias (`topic` may be empty), if known. */
  destination?: string;
  /** PUBLISH: an empty topic whose alias was never seen set. */
  aliasUnknown?: boolean;
  /** PUBLISH and a CONNECT's will: the payload's kept bytes and size. */
  payload?: BodyCapture;
}

export interface Fields {
  attributes: Record<string, unknown>;
  flags: string[];
}

const OPERATIONS: Record<number, string> = { [CONNECT]: 'connect', [PUBLISH]: 'publish', [SUBSCRIBE]: 'subscribe', [UNSUBSCRIBE]: 'unsubscribe', [DISCONNECT]: 'disconnect', [AUTH]: 'auth' };

function payloadView(body: BodyCapture, contentType: unknown, maxBody: number): Record<string, unknown> {
  return bodyView(body, typeof contentType === 'string' ? contentType : undefined, undefined, maxBody) as unknown as Record<string, unknown>;
}

function requestGroup(p: MqttPacket, maxBody: number): Record<string, unknown> {
  const g: Record<string, unknown> = { packet_type: PACKET_NAMES[p.type] };
  if (p.packetId !== undefined) g.packet_id = p.packetId;
  if (p.type === PUBLISH) {
    g.qos = (p.flags >> 1) & 3;
    if (p.flags & 0x01) g.retain = true;
    if (p.flags & 0x08) g.dup = true;
  }
  const c = p.connect;
  if (c) {
    const connect: Record<string, unknown> = { protocol_name: c.protocol_name };
    connect[c.level === 5 ? 'clean_start' : 'clean_session'] = c.clean;
    connect.keep_alive = c.keep_alive;
    if (c.username !== undefined) connect.username = c.username;
    if (c.passwordSize !== undefined) connect.password = { size: c.passwordSize };
    if (c.will) {
      const body = new BodyCapture(maxBody);
      body.add(c.will.payload);
      const will: Record<string, unknown> = { topic: c.will.topic, qos: c.will.qos, retain: c.will.retain, body: payloadView(body, c.will.properties?.content_type, maxBody) };
      if (c.will.properties) will.properties = c.will.properties;
      connect.will = will;
    }
    g.connect = connect;
    if (c.properties) g.properties = c.properties;
  }
  if (p.properties) g.properties = p.properties;
  if (p.subscriptions) g.subscriptions = p.subscriptions;
  if (p.filters) g.topic_filters = p.filters;
  if (p.reasonCode !== undefined) {
    g.reason_code = p.reasonCode;
    g.reason_name = reasonName(p.type, p.reasonCode, true);
  }
  return g;
}

function responseGroup(r: MqttPacket, v5: boolean): Record<string, unknown> {
  const g: Record<string, unknown> = { packet_type: PACKET_NAMES[r.type] };
  if (r.type === CONNACK) g.session_present = r.sessionPresent;
  if (r.reasonCode !== undefined) {
    g.reason_code = r.reasonCode;
    g.reason_name = reasonName(r.type, r.reasonCode, v5);
  }
  if (r.reasonCodes) {
    g.reason_codes = r.reasonCodes;
    g.reason_names = r.reasonCodes.map((c) => reasonName(r.type, c, v5));
  }
  if (r.properties) g.properties = r.properties;
  return g;
}

/** The first failing reason code of the answer (or of a DISCONNECT or AUTH itself), by name. */
function failure(p: MqttPacket, v5: boolean): string | undefined {
  if (p.reasonCode !== undefined && isFailure(p.type, p.reasonCode, v5)) return reasonName(p.type, p.reasonCode, v5);
  if (p.reasonCodes && (p.type === SUBACK || (p.type === UNSUBACK && v5))) {
    for (const c of p.reasonCodes) if (isFailure(p.type, c, v5)) return reasonName(p.type, c, v5);
  }
  return undefined;
}

/**
 * The event of `req` (answered by `res`, the last packet of its flow, when it
 * was). `acks`: the packets of a QoS 2 flow after the PUBLISH, by type name.
 */
export function packetAttributes(req: MqttPacket, res: MqttPacket | undefined, ctx: { version: string | undefined; v5: boolean; clientId: string | undefined; maxBody: number; acks?: string[] }): Fields {
  const flags: string[] = [];
  const operation: Record<string, unknown> = { name: OPERATIONS[req.type] ?? PACKET_NAMES[req.type].toLowerCase() };
  if (req.type === PUBLISH) operation.type = req.dir === 0 ? 'send' : 'receive';
  const messaging: Record<string, unknown> = { system: 'mqtt', operation };
  if (req.type === PUBLISH) {
    if (req.destination !== undefined) messaging.destination = { name: req.destination };
    else if (req.aliasUnknown) flags.push('topic_alias_unknown');
  } else if (req.subscriptions?.length === 1) messaging.destination = { name: req.subscriptions[0]!.filter };
  else if (req.filters?.length === 1) messaging.destination = { name: req.filters[0]! };
  const clientId = req.connect ? req.connect.client_id || (res?.properties?.assigned_client_identifier as string | undefined) : ctx.clientId;
  if (clientId) messaging.client = { id: clientId };
  if (req.payload) {
    const message: Record<string, unknown> = { body: payloadView(req.payload, req.properties?.content_type, ctx.maxBody) };
    const corr = req.properties?.correlation_data;
    if (typeof corr === 'string') message.conversation_id = corr;
    messaging.message = message;
    if (req.payload.truncated) flags.push('truncated');
  }
  const mqtt = requestGroup(req, ctx.maxBody);
  if (res) {
    mqtt.response = responseGroup(res, ctx.v5);
    if (ctx.acks && ctx.acks.length > 1) mqtt.acks = ctx.acks;
  }
  const attributes: Record<string, unknown> = { messaging, mqtt };
  const err = (res && failure(res, ctx.v5)) ?? (req.reasonCode !== undefined && req.type !== PUBLISH ? failure(req, ctx.v5) : undefined);
  if (err) attributes.error = { type: err };
  attributes.network = ctx.version === undefined ? { protocol: { name: 'mqtt' } } : { protocol: { name: 'mqtt', version: ctx.version } };
  return { attributes, flags };
}

const ANSWERS: Record<number, string> = { [CONNACK]: 'connect', [SUBACK]: 'subscribe', [UNSUBACK]: 'unsubscribe', [PUBACK]: 'publish', [PUBREC]: 'publish', [PUBCOMP]: 'publish' };

/** An answer whose request was not seen (joined mid-connection): the operation it answers and its codes. */
export function orphanAttributes(res: MqttPacket, ctx: { version: string | undefined; v5: boolean; clientId: string | undefined }): Fields {
  const messaging: Record<string, unknown> = { system: 'mqtt', operation: { name: ANSWERS[res.type] ?? PACKET_NAMES[res.type].toLowerCase() } };
  if (ctx.clientId) messaging.client = { id: ctx.clientId };
  const mqtt: Record<string, unknown> = {};
  if (res.packetId !== undefined) mqtt.packet_id = res.packetId;
  mqtt.response = responseGroup(res, ctx.v5);
  const attributes: Record<string, unknown> = { messaging, mqtt };
  const err = failure(res, ctx.v5);
  if (err) attributes.error = { type: err };
  attributes.network = ctx.version === undefined ? { protocol: { name: 'mqtt' } } : { protocol: { name: 'mqtt', version: ctx.version } };
  return { attributes, flags: [] };
}
