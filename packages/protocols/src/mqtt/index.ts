/**
 * MQTT 3.1, 3.1.1 and 5.0 (OASIS; brokers such as Mosquitto, EMQX, HiveMQ,
 * AWS IoT). Detected from the client's CONNECT (protocol name `MQTT` or
 * `MQIsdp` with its level), or, joined mid-connection, from bytes that are
 * whole well-formed packets back to back, one of them a PUBLISH or SUBSCRIBE
 * whose topic is text: a lone short packet (`40 02 00 01`, a PUBACK) is
 * too little to tell MQTT from other binary protocols. Ports 1883 (and 8883,
 * MQTT over TLS, read with a key log) are hints only.
 */
import type { Dir } from '@panopticon/flows';
import type { Detection, ProtocolModule } from '../types.js';
import { CONNACK, CONNECT, PINGREQ, PUBLISH, SUBACK, SUBSCRIBE, UNSUBSCRIBE } from './constants.js';
import { decodePacket, MqttFormatError } from './decode.js';
import { fixedHeader } from './packets.js';
import { MqttParser } from './parser.js';

/** A mid-stream head is judged on at most this many bytes of whole packets. */
const MAX_DETECT = 16 * 1024;

/** CONNECT's start: protocol name and level (3.1.1 §3.1.2.1–2; 3.1's `MQIsdp` level 3). */
function connectStart(head: Buffer, at: number): Detection {
  const want = [0x00, 0x04, 0x4d, 0x51, 0x54, 0x54]; // \0\4MQTT
  const old = [0x00, 0x06, 0x4d, 0x51, 0x49, 0x73, 0x64, 0x70]; // \0\6MQIsdp
  const name = head[at + 1] === 0x06 ? old : want;
  for (let i = 0; i < name.length; i++) {
    if (at + i >= head.length) return 'more';
    if (head[at + i] !== name[i]) return null;
  }
  const levelAt = at + name.length;
  if (levelAt >= head.length) return 'more';
  const level = head[levelAt]!;
  const ok = name === old ? level === 3 : level === 4 || level === 5;
  return ok ? { sender: 'client', confidence: 1 } : null;
}

/** Printable text: what a topic is. */
function textTopic(t: string | undefined): boolean {
  // eslint-disable-next-line no-control-regex
  return t !== undefined && t.length > 0 && !/[\u0000-\u001f\u007f\ufffd]/.test(t);
}

export function detectMqtt(head: Buffer, _dir: Dir): Detection {
  if (head.length === 0) return 'more';
  const h = fixedHeader(head, 0, head.length);
  if (h === -2) return 'more';
  if (h === -1) return null;
  if (head[0]! >> 4 === CONNECT) return connectStart(head, h.next);
  // Mid-stream: whole packets to the end of the head, each decoding cleanly (as 3.1.1 or 5.0).
  let off = 0;
  let sender: 'client' | 'server' | 'unknown' = 'unknown';
  let topical = false;
  let packets = 0;
  while (off < head.length) {
    const f = fixedHeader(head, off, head.length);
    if (f === -1) return null;
    if (f === -2 || f.next + f.length > head.length) return packets === 0 && head.length < MAX_DETECT ? 'more' : topical ? { sender, confidence: 0.5 } : null;
    const type = head[off]! >> 4;
    const flags = head[off]! & 0x0f;
    const body = head.subarray(f.next, f.next + f.length);
    let d;
    try {
      d = decodePacket(type, flags, body, f.length, false);
    } catch (e) {
      if (!(e instanceof MqttFormatError)) throw e;
      try {
        d = decodePacket(type, flags, body, f.length, true);
      } catch (e2) {
        if (!(e2 instanceof MqttFormatError)) throw e2;
        return null;
      }
    }
    if (type === PUBLISH && textTopic(d.topic)) topical = true;
    if ((type === SUBSCRIBE || type === UNSUBSCRIBE) && (d.subscriptions ?? d.filters ?? []).every((s) => textTopic(typeof s === 'string' ? s : s.filter))) topical = true;
    if (type === SUBSCRIBE || type === UNSUBSCRIBE || type === PINGREQ) sender = 'client';
    else if (type === CONNACK || type === SUBACK) sender = 'server';
    packets++;
    off = f.next + f.length;
  }
  return topical ? { sender, confidence: 0.5 } : null;
}

export const mqttModule: ProtocolModule = {
  name: 'mqtt',
  transport: 'tcp',
  ports: [1883, 8883],
  detect: detectMqtt,
  createStream: (ctx) => new MqttParser(ctx),
};
