/**
 * MQTT packet bodies → plain objects, one small function per packet type.
 * Every read is bounds-checked against the kept body (a cut PUBLISH keeps its
 * variable header; a property list or topic that runs past what was kept or
 * past the packet is a format error). v5 (`v5`) adds reason codes and
 * properties to most packets.
 */
import { setOwn } from '@panopticon/events';
import { PropType, PROPERTIES, CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, DISCONNECT, AUTH } from './constants.js';

export class MqttFormatError extends Error {
  constructor(readonly offset: number, message: string) {
    super(`${message} at byte ${offset}`);
  }
}

/**
 * Properties as an event shows them; binary values are text when they are, else `{ base64 }`;
 * secrets `{ size }`; user properties each name with the list of its values.
 */
export type Properties = Record<string, unknown>;

export interface ConnectInfo {
  protocol_name: string;
  /** The protocol level byte: 3 (3.1), 4 (3.1.1), 5 (5.0). */
  level: number;
  clean: boolean;
  keep_alive: number;
  client_id: string;
  username?: string;
  /** Only the size of a password is ever kept. */
  passwordSize?: number;
  will?: { topic: string; qos: number; retain: boolean; payload: Buffer; payloadSize: number; properties?: Properties };
  properties?: Properties;
}

export interface Subscription {
  filter: string;
  qos: number;
  no_local?: true;
  retain_as_published?: true;
  retain_handling?: number;
}

/** What a packet holds besides its type: the fields its type has. */
export interface Decoded {
  packetId?: number;
  reasonCode?: number;
  reasonCodes?: number[];
  properties?: Properties;
  sessionPresent?: boolean;
  connect?: ConnectInfo;
  topic?: string;
  /** PUBLISH: offset of the payload in the body (its bytes are the rest of the packet). */
  payloadAt?: number;
  subscriptions?: Subscription[];
  filters?: string[];
}

class Reader {
  constructor(
    readonly buf: Buffer,
    public off: number,
    /** The end of what may be read: the kept body, or less (a property list's end). */
    public end: number,
  ) {}

  need(n: number, what: string): void {
    if (this.off + n > this.end) throw new MqttFormatError(this.off, `${what} runs past the packet`);
  }

  u8(what: string): number {
    this.need(1, what);
    return this.buf[this.off++]!;
  }

  u16(what: string): number {
    this.need(2, what);
    const v = this.buf.readUInt16BE(this.off);
    this.off += 2;
    return v;
  }

  u32(what: string): number {
    this.need(4, what);
    const v = this.buf.readUInt32BE(this.off);
    this.off += 4;
    return v;
  }

  varint(what: string): number {
    let v = 0;
    let mult = 1;
    for (let i = 0; i < 4; i++) {
      const b = this.u8(what);
      v += (b & 0x7f) * mult;
      if ((b & 0x80) === 0) return v;
      mult *= 128;
    }
    throw new MqttFormatError(this.off, `${what}: variable byte integer longer than 4 bytes`);
  }

  /** A length-prefixed UTF-8 string (§1.5.4). */
  utf8(what: string): string {
    const n = this.u16(what);
    this.need(n, what);
    const s = this.buf.toString('utf8', this.off, this.off + n);
    this.off += n;
    return s;
  }

  /** Length-prefixed binary data (§1.5.6), a view. */
  binary(what: string): Buffer {
    const n = this.u16(what);
    this.need(n, what);
    const b = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    return b;
  }
}

/** Printable UTF-8 text, as correlation data usually is; other bytes are shown as base64. */
function binaryValue(b: Buffer): unknown {
  const s = b.toString('utf8');
  // eslint-disable-next-line no-control-regex
  return Buffer.byteLength(s) === b.length && !/[\u0000-\u0008\u000e-\u001f\u007f\ufffd]/.test(s) ? s : { base64: b.toString('base64') };
}

/** A v5 property list (§2.2.2): its length, then identifier/value pairs. */
function properties(r: Reader): Properties | undefined {
  const len = r.varint('property length');
  r.need(len, 'properties');
  const end = r.off + len;
  const outer = r.end;
  r.end = end;
  const out: Properties = {};
  let any = false;
  while (r.off < end) {
    const id = r.varint('property identifier');
    const spec = PROPERTIES[id];
    if (!spec) throw new MqttFormatError(r.off, `unknown property 0x${id.toString(16)}`);
    const [name, type] = spec;
    let v: unknown;
    switch (type) {
      case PropType.Byte: v = r.u8(name); break;
      case PropType.U16: v = r.u16(name); break;
      case PropType.U32: v = r.u32(name); break;
      case PropType.VarInt: v = r.varint(name); break;
      case PropType.Utf8: v = r.utf8(name); break;
      case PropType.Binary: {
        const b = r.binary(name);
        // authentication data is a credential: its size only
        v = name === 'authentication_data' ? { size: b.length } : binaryValue(b);
        break;
      }
      case PropType.Pair: {
        const k = r.utf8(name);
        const val = r.utf8(name);
        // each name → its values in order, as HTTP and Kafka headers are (ADR 0278). A plain object,
        // not a prototype-less one: that is a dictionary, which takes every event holding it off
        // JSON.stringify's fast path (2.5x slower on the MQTT benchmark); an own-array check and setOwn
        // keep `__proto__` and `constructor` names like any other.
        const user = (out.user_properties ??= {}) as Record<string, string[]>;
        const seen = user[k];
        if (Array.isArray(seen)) seen.push(val);
        else setOwn(user, k, [val]);
        any = true;
        continue;
      }
    }
    any = true;
    // a subscription identifier may repeat on a PUBLISH (one per matching subscription)
    if (name === 'subscription_identifier') ((out.subscription_identifiers ??= []) as number[]).push(v as number);
    else out[name] = v;
  }
  r.end = outer;
  return any ? out : undefined;
}

function connect(r: Reader): Decoded {
  const protocolName = r.utf8('protocol name');
  const level = r.u8('protocol level');
  if (level < 3 || level > 5) throw new MqttFormatError(r.off - 1, `protocol level ${level}`);
  const flags = r.u8('connect flags');
  // the reserved bit set, or a will QoS of 3, is a malformed CONNECT (3.1.1 §3.1.2.3, §3.1.2.6)
  if ((flags & 0x01) !== 0 || (flags & 0x18) === 0x18) throw new MqttFormatError(r.off - 1, `connect flags 0x${flags.toString(16)}`);
  const keepAlive = r.u16('keep alive');
  const v5 = level === 5;
  const info: ConnectInfo = { protocol_name: protocolName, level, clean: (flags & 0x02) !== 0, keep_alive: keepAlive, client_id: '' };
  if (v5) {
    const p = properties(r);
    if (p) info.properties = p;
  }
  info.client_id = r.utf8('client identifier');
  if (flags & 0x04) {
    const willProps = v5 ? properties(r) : undefined;
    const topic = r.utf8('will topic');
    const payload = r.binary('will payload');
    info.will = { topic, qos: (flags >> 3) & 3, retain: (flags & 0x20) !== 0, payload, payloadSize: payload.length };
    if (willProps) info.will.properties = willProps;
  }
  if (flags & 0x80) info.username = r.utf8('user name');
  if (flags & 0x40) info.passwordSize = r.binary('password').length;
  return { connect: info };
}

function connack(r: Reader, v5: boolean): Decoded {
  const ack = r.u8('acknowledge flags');
  const d: Decoded = { sessionPresent: (ack & 1) !== 0, reasonCode: r.u8('return code') };
  if (v5 && r.off < r.end) d.properties = properties(r);
  return d;
}

function publish(r: Reader, flags: number, v5: boolean): Decoded {
  const d: Decoded = { topic: r.utf8('topic name') };
  if (flags & 0x06) d.packetId = r.u16('packet identifier');
  if (v5) d.properties = properties(r);
  d.payloadAt = r.off;
  return d;
}

/** PUBACK, PUBREC, PUBREL, PUBCOMP: a packet id, and in v5 a reason code and properties when the packet is longer. */
function ack(r: Reader, v5: boolean): Decoded {
  const d: Decoded = { packetId: r.u16('packet identifier') };
  if (v5 && r.off < r.end) {
    d.reasonCode = r.u8('reason code');
    if (r.off < r.end) d.properties = properties(r);
  }
  return d;
}

function subscribe(r: Reader, v5: boolean): Decoded {
  const d: Decoded = { packetId: r.u16('packet identifier') };
  if (v5) d.properties = properties(r);
  const subs: Subscription[] = [];
  while (r.off < r.end) {
    const filter = r.utf8('topic filter');
    const opts = r.u8('subscription options');
    // QoS 3, retain handling 3 and the reserved bits are malformed (3.1.1 §3.8.3.1, 5.0 §3.8.3.1)
    if ((opts & 3) === 3 || (opts & (v5 ? 0xc0 : 0xfc)) !== 0 || (opts & 0x30) === 0x30) throw new MqttFormatError(r.off - 1, `subscription options 0x${opts.toString(16)}`);
    const s: Subscription = { filter, qos: opts & 3 };
    if (v5) {
      if (opts & 0x04) s.no_local = true;
      if (opts & 0x08) s.retain_as_published = true;
      if (opts & 0x30) s.retain_handling = (opts >> 4) & 3;
    }
    subs.push(s);
  }
  if (subs.length === 0) throw new MqttFormatError(r.off, 'SUBSCRIBE without a topic filter');
  d.subscriptions = subs;
  return d;
}

/** SUBACK and UNSUBACK: a packet id, v5 properties, then one reason code per filter (3.1.1's UNSUBACK has none). */
function suback(r: Reader, v5: boolean): Decoded {
  const d: Decoded = { packetId: r.u16('packet identifier') };
  if (v5) d.properties = properties(r);
  const codes: number[] = [];
  while (r.off < r.end) codes.push(r.u8('reason code'));
  if (codes.length) d.reasonCodes = codes;
  return d;
}

function unsubscribe(r: Reader, v5: boolean): Decoded {
  const d: Decoded = { packetId: r.u16('packet identifier') };
  if (v5) d.properties = properties(r);
  const filters: string[] = [];
  while (r.off < r.end) filters.push(r.utf8('topic filter'));
  if (filters.length === 0) throw new MqttFormatError(r.off, 'UNSUBSCRIBE without a topic filter');
  d.filters = filters;
  return d;
}

/** DISCONNECT and AUTH (v5): an optional reason code and properties. */
function reasonOnly(r: Reader, v5: boolean): Decoded {
  const d: Decoded = {};
  if (v5 && r.off < r.end) {
    d.reasonCode = r.u8('reason code');
    if (r.off < r.end) d.properties = properties(r);
  }
  return d;
}

/** Properties and reason codes undefined by a v5 decode are dropped, so an event has no empty groups. */
function clean(d: Decoded): Decoded {
  if (d.properties === undefined) delete d.properties;
  return d;
}

/**
 * The fields of a packet of `type` whose kept body is `body` (`length` bytes
 * on the wire). Throws MqttFormatError on a malformed body.
 */
export function decodePacket(type: number, flags: number, body: Buffer, length: number, v5: boolean): Decoded {
  // Fields are read from what was kept; for a whole packet that is the packet.
  const r = new Reader(body, 0, body.length);
  let d: Decoded;
  switch (type) {
    case CONNECT: d = connect(r); break;
    case CONNACK: d = connack(r, v5); break;
    case PUBLISH: return clean(publish(r, flags, v5));
    case PUBACK: case PUBREC: case PUBREL: case PUBCOMP: d = ack(r, v5); break;
    case SUBSCRIBE: d = subscribe(r, v5); break;
    case SUBACK: case UNSUBACK: d = suback(r, v5); break;
    case UNSUBSCRIBE: d = unsubscribe(r, v5); break;
    case DISCONNECT: case AUTH: d = reasonOnly(r, v5); break;
    default: return {};
  }
  // Only PUBLISH (its payload) may be longer than what was kept; elsewhere the fields end with the packet.
  if (body.length < length) throw new MqttFormatError(body.length, `${length}-byte packet of type ${type} is too large to read`);
  if (r.off !== body.length) throw new MqttFormatError(r.off, `${body.length - r.off} bytes after the packet's fields`);
  return clean(d);
}
