/**
 * One MQTT connection (3.1, 3.1.1, 5.0). CONNECT is answered by CONNACK,
 * SUBSCRIBE by SUBACK and UNSUBSCRIBE by UNSUBACK (by packet id); a PUBLISH at
 * QoS 0 is a message, at QoS 1 it is answered by PUBACK and at QoS 2 by the
 * PUBREC → PUBREL → PUBCOMP flow, keyed by the publisher's packet id (each
 * side numbers its own publishes, so each direction has its own table).
 * DISCONNECT and AUTH are messages; PINGREQ/PINGRESP are counted.
 *
 * The protocol level comes from CONNECT; without it (joined mid-connection)
 * packets are read as 3.1.1 until one can only be 5.0 (an acknowledgement
 * longer than its packet id). v5 topic aliases are resolved per direction,
 * as the receiver of each side does.
 */
import type { CloseReason, Dir } from '@panopticon/flows';
import { BodyCapture } from '../body.js';
import { CLOSE_FLAG } from '../close-flags.js';
import { KeyedStitcher } from '../stitch.js';
import type { ParserContext, StreamParser } from '../types.js';
import { AUTH, CONNACK, CONNECT, DISCONNECT, PACKET_NAMES, PINGREQ, PINGRESP, PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL, SUBACK, SUBSCRIBE, UNSUBACK, UNSUBSCRIBE, VERSIONS, isFailure } from './constants.js';
import { decodePacket, MqttFormatError } from './decode.js';
import { orphanAttributes, packetAttributes, type MqttPacket } from './fields.js';
import { MqttPacketReader } from './packets.js';

/** Topic aliases remembered per direction; a v5 sender may set up to 65,535, each topic up to 64 KiB. */
const MAX_ALIASES = 1024;
/** Body bytes of a non-PUBLISH packet kept beyond maxBody: room for topics, properties and a will. */
const HEADER_ROOM = 64 * 1024;

/** A QoS 1 or 2 PUBLISH waiting for the end of its flow. */
interface Flow {
  publish: MqttPacket;
  /** The packets seen after it, by type name. */
  acks: string[];
  /** The last of them (PUBREC until PUBCOMP comes). */
  last?: MqttPacket;
}

export class MqttParser implements StreamParser {
  private readonly readers: [MqttPacketReader, MqttPacketReader];
  /** the protocol level of CONNECT (3, 4, 5), or undefined before one was seen */
  private level: number | undefined;
  /** packets proved the connection 5.0 without its CONNECT */
  private provedV5 = false;
  private clientId: string | undefined;
  private connect: MqttPacket | undefined;
  /** PUBLISH flows by the publisher's direction, keyed by packet id */
  private readonly flows: [KeyedStitcher<number, Flow>, KeyedStitcher<number, Flow>];
  /** SUBSCRIBE and UNSUBSCRIBE waiting for their acknowledgement, by packet id */
  private readonly requests: KeyedStitcher<number, MqttPacket>;
  /** topic aliases set by each direction's sender */
  private readonly aliases: [Map<number, string>, Map<number, string>] = [new Map(), new Map()];

  constructor(private readonly ctx: ParserContext) {
    const hold = ctx.options.maxBody + HEADER_ROOM;
    this.readers = [new MqttPacketReader(this.sink(0), hold), new MqttPacketReader(this.sink(1), hold)];
    if (ctx.conn.midstream) {
      this.readers[0].syncing = true;
      this.readers[1].syncing = true;
    }
    const max = ctx.options.maxPending;
    this.flows = [
      new KeyedStitcher(max, (f) => this.evicted(f.publish, f)),
      new KeyedStitcher(max, (f) => this.evicted(f.publish, f)),
    ];
    this.requests = new KeyedStitcher(max, (p) => this.evicted(p));
  }

  data(dir: Dir, chunk: Buffer, tsNs: bigint): void {
    this.readers[dir].push(chunk, tsNs);
  }

  gap(dir: Dir, _length: number, _tsNs: bigint): void {
    this.ctx.count('mqtt.gaps');
    this.readers[dir].resync();
  }

  end(_dir: Dir, _tsNs: bigint): void {}

  close(reason: CloseReason, _tsNs: bigint): void {
    const flag = CLOSE_FLAG[reason];
    if (this.connect) this.emit('unanswered', this.connect, undefined, [flag]);
    this.connect = undefined;
    for (const table of this.flows) {
      for (const [, f] of table.drain()) {
        // a QoS 2 message the receiver acknowledged (PUBREC) was delivered; only its release was not seen
        if (f.last) this.emit('exchange', f.publish, f.last, [flag], f.acks);
        else this.emit('unanswered', f.publish, undefined, [flag]);
      }
    }
    for (const [, p] of this.requests.drain()) this.emit('unanswered', p, undefined, [flag]);
  }

  private get v5(): boolean {
    return this.level === 5 || (this.level === undefined && this.provedV5);
  }

  private get version(): string | undefined {
    if (this.level !== undefined) return VERSIONS[this.level];
    return this.provedV5 ? '5.0' : undefined;
  }

  private sink(dir: Dir) {
    return {
      packet: (first: number, body: Buffer, length: number, startNs: bigint, endNs: bigint) => this.packet(dir, first, body, length, startNs, endNs),
      damaged: (reason: string) => {
        this.ctx.count('mqtt.malformed');
        if (process.env.PANO_DEBUG) console.error(`mqtt: ${reason}`);
      },
      skipped: (n: number) => this.ctx.count('mqtt.skipped_bytes', n),
    };
  }

  private packet(dir: Dir, first: number, body: Buffer, length: number, startNs: bigint, endNs: bigint): void {
    const type = first >> 4;
    const flags = first & 0x0f;
    if (type === PINGREQ || type === PINGRESP) {
      this.ctx.count('mqtt.pings');
      return;
    }
    // without CONNECT, an acknowledgement longer than its packet id, a CONNACK with properties or a
    // DISCONNECT with a body is 5.0
    if (this.level === undefined && !this.provedV5 && ((type >= PUBACK && type <= PUBCOMP && length > 2) || (type === CONNACK && length > 2) || (type === DISCONNECT && length > 0) || type === AUTH)) this.provedV5 = true;
    let level = type === CONNECT ? undefined : this.level;
    let p: MqttPacket;
    try {
      const d = decodePacket(type, flags, body, length, type === CONNECT ? false : this.v5);
      if (d.connect) level = d.connect.level;
      p = { ...d, type, flags, dir, startNs, endNs, size: length + headerSize(length) };
    } catch (e) {
      if (!(e instanceof MqttFormatError)) throw e;
      this.ctx.count('mqtt.malformed');
      if (process.env.PANO_DEBUG) console.error(`mqtt: ${PACKET_NAMES[type]}: ${e.message}`);
      return;
    }
    switch (type) {
      case CONNECT: return this.onConnect(p, level!);
      case CONNACK: return this.onConnack(p);
      case PUBLISH: return this.onPublish(p, body, length);
      case PUBACK: case PUBCOMP: return this.onFlowEnd(p);
      case PUBREC: return this.onPubrec(p);
      case PUBREL: return this.onPubrel(p);
      case SUBSCRIBE: case UNSUBSCRIBE: return this.onRequest(p);
      case SUBACK: case UNSUBACK: return this.onRequestAck(p);
      case DISCONNECT: case AUTH: return this.emit('message', p, undefined, []);
    }
  }

  private onConnect(p: MqttPacket, level: number): void {
    if (p.dir !== 0) this.ctx.count('mqtt.connect_from_server');
    if (this.connect) this.emit('unanswered', this.connect, undefined, []);
    this.level = level;
    this.clientId = p.connect!.client_id || undefined;
    this.connect = p;
  }

  private onConnack(p: MqttPacket): void {
    const req = this.connect;
    this.connect = undefined;
    const assigned = p.properties?.assigned_client_identifier;
    if (typeof assigned === 'string' && !this.clientId) this.clientId = assigned;
    if (!req) {
      this.emit('orphan_response', p, undefined, []);
      return;
    }
    this.emit('exchange', req, p, []);
  }

  private onPublish(p: MqttPacket, body: Buffer, length: number): void {
    const qos = (p.flags >> 1) & 3;
    const payload = new BodyCapture(this.ctx.options.maxBody);
    const kept = body.subarray(p.payloadAt!, Math.min(body.length, p.payloadAt! + this.ctx.options.maxBody));
    // A flow waiting for its acknowledgement must not pin the capture's buffer: copied. At QoS 0 the
    // event is made now, and the view is let go with it.
    payload.add(qos === 0 ? kept : Buffer.from(kept));
    const beyond = length - p.payloadAt! - payload.size;
    if (beyond > 0) {
      payload.size += beyond;
      payload.truncated = true;
    }
    p.payload = payload;
    this.resolveTopic(p);
    if (qos === 0) {
      this.emit('message', p, undefined, []);
      return;
    }
    this.flows[p.dir].set(p.packetId!, { publish: p, acks: [] });
  }

  /** The topic of a PUBLISH, through the v5 topic alias its sender set (or sets now). */
  private resolveTopic(p: MqttPacket): void {
    const alias = p.properties?.topic_alias;
    const table = this.aliases[p.dir];
    if (typeof alias !== 'number') {
      p.destination = p.topic;
      return;
    }
    if (p.topic) {
      if (!table.has(alias) && table.size >= MAX_ALIASES) {
        this.ctx.count('mqtt.topic_aliases_dropped');
        p.destination = p.topic;
        return;
      }
      table.set(alias, p.topic!);
      p.destination = p.topic;
      return;
    }
    const topic = table.get(alias);
    if (topic !== undefined) p.destination = topic;
    else {
      p.aliasUnknown = true;
      this.ctx.count('mqtt.topic_alias_unknown');
    }
  }

  /** PUBACK (QoS 1) or PUBCOMP (QoS 2) from the receiver: the flow of the other side's publish ends. */
  private onFlowEnd(p: MqttPacket): void {
    const table = this.flows[(1 - p.dir) as Dir];
    const f = table.take(p.packetId!);
    if (!f) {
      this.ctx.count('mqtt.unmatched_acks');
      return;
    }
    f.acks.push(PACKET_NAMES[p.type]);
    this.emit('exchange', f.publish, p, [], f.acks);
  }

  /** PUBREC: the receiver has the message; a failure reason ends the flow here (5.0 §4.3.3). */
  private onPubrec(p: MqttPacket): void {
    const table = this.flows[(1 - p.dir) as Dir];
    const f = table.get(p.packetId!);
    if (!f) {
      this.ctx.count('mqtt.unmatched_acks');
      return;
    }
    f.acks.push('PUBREC');
    f.last = p;
    if (p.reasonCode !== undefined && isFailure(PUBREC, p.reasonCode, true)) {
      table.take(p.packetId!);
      this.emit('exchange', f.publish, p, [], f.acks);
    }
  }

  /** PUBREL from the publisher: the flow goes on to PUBCOMP. */
  private onPubrel(p: MqttPacket): void {
    const f = this.flows[p.dir].get(p.packetId!);
    if (!f) {
      this.ctx.count('mqtt.unmatched_acks');
      return;
    }
    f.acks.push('PUBREL');
  }

  private onRequest(p: MqttPacket): void {
    if (p.dir !== 0) this.ctx.count('mqtt.requests_from_server');
    this.requests.set(p.packetId!, p);
  }

  private onRequestAck(p: MqttPacket): void {
    const req = this.requests.get(p.packetId!);
    // a SUBACK answers a SUBSCRIBE, an UNSUBACK an UNSUBSCRIBE
    if (!req || req.type !== (p.type === SUBACK ? SUBSCRIBE : UNSUBSCRIBE)) {
      this.emit('orphan_response', p, undefined, []);
      return;
    }
    this.requests.take(p.packetId!);
    this.emit('exchange', req, p, []);
  }

  /** A request pushed out of its table (past maxPending, or its packet id reused before an answer). */
  private evicted(p: MqttPacket, f?: Flow): void {
    this.ctx.count('mqtt.unanswered_evicted');
    if (f?.last) this.emit('exchange', p, f.last, ['evicted'], f.acks);
    else this.emit('unanswered', p, undefined, ['evicted']);
  }

  private emit(kind: 'exchange' | 'message' | 'unanswered' | 'orphan_response', req: MqttPacket, res: MqttPacket | undefined, flags: string[], acks?: string[]): void {
    if (kind === 'orphan_response') {
      const o = orphanAttributes(req, { version: this.version, v5: this.v5, clientId: this.clientId });
      this.ctx.emit({ kind, startNs: req.startNs, endNs: req.endNs, responseBytes: req.size, attributes: o.attributes });
      return;
    }
    const fields = packetAttributes(req, res, { version: this.version, v5: this.v5, clientId: this.clientId, maxBody: this.ctx.options.maxBody, acks });
    const all = [...flags, ...fields.flags];
    this.ctx.emit({
      kind,
      startNs: req.startNs,
      endNs: res ? res.endNs : req.endNs,
      requestBytes: req.size,
      ...(res ? { responseBytes: res.size } : {}),
      attributes: fields.attributes,
      ...(all.length ? { flags: all } : {}),
    });
  }
}

/** Bytes of a fixed header whose remaining length is `length`. */
function headerSize(length: number): number {
  return length < 128 ? 2 : length < 16384 ? 3 : length < 2097152 ? 4 : 5;
}
