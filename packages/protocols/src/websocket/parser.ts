/**
 * WebSocket (RFC 6455) after an HTTP/1.1 Upgrade: each side's frames read
 * (frames.ts), fragmented messages joined, control frames between their
 * fragments set aside, permessage-deflate undone (deflate.ts), and one
 * event of kind `message` per text or binary message and per close frame,
 * with who sent it. Pings and pongs are counted, not reported.
 *
 * A subprotocol that is itself a byte-stream protocol Panopticon reads
 * (MQTT over WebSockets: `mqtt`, `mqttv3.1`) is carried: the binary
 * messages of each side, joined, are that protocol's stream, and give its
 * events (marked `websocket.subprotocol`) instead of message events. NATS,
 * whose WebSocket clients name no subprotocol, is known by the server's
 * first binary message (its INFO) and carried from there (marked
 * `websocket.carried`).
 */
import { Dir, type CloseReason } from '@panopticon/flows';
import { BodyCapture, looksLikeText, type BodyView } from '../body.js';
import type { ExchangeRecord, HandoffInit, ParserContext, StreamParser } from '../types.js';
import { FrameReader, Opcode, unmask, type FrameHead, type FrameSink } from './frames.js';
import { MessageInflater, deflateParams } from './deflate.js';
import { CLOSE_FLAG } from '../close-flags.js';
import { carriedContext } from '../carried-context.js';
import { MqttParser } from '../mqtt/parser.js';
import { detectNats } from '../nats/index.js';
import { NatsParser } from '../nats/parser.js';

/** Subprotocols whose binary messages are a protocol's byte stream, and the parser of that protocol. */
const CARRIED: Array<[RegExp, string, (ctx: ParserContext) => StreamParser]> = [
  // OASIS MQTT 3.1.1 §6 and 5.0 §6: "mqtt"; the MQTT 3.1 era's "mqttv3.1"
  [/^mqtt(?:v3\.1)?$/i, 'mqtt', (ctx) => new MqttParser(ctx)],
];

/**
 * Protocols whose WebSocket clients name no subprotocol, known by the server's first binary message
 * instead: NATS (nats.ws, and nats-server's websocket listener) starts with the server's INFO.
 */
const CARRIED_BY_CONTENT: Array<[(head: Buffer) => boolean, string, (ctx: ParserContext) => StreamParser]> = [
  [(head) => detectNats(head, Dir.ToClient) !== null, 'nats', (ctx) => new NatsParser(ctx)],
];


/** Compressed payload bytes kept to decompress a message: past this its text is not shown (and the context is lost). */
const MAX_COMPRESSED = 1 << 20;
/** Bytes a compressed message may decompress to: a bound on a decompression bomb. */
const MAX_DECOMPRESSED = 8 << 20;

const OPCODE_NAMES: Record<number, string> = { [Opcode.Text]: 'text', [Opcode.Binary]: 'binary', [Opcode.Close]: 'close' };

/** A text or binary message being read, over one or more frames. */
interface Message {
  opcode: number;
  compressed: boolean;
  startNs: bigint;
  frames: number;
  /** Payload bytes on the wire (compressed, when it is). */
  payloadBytes: number;
  /** Frame bytes on the wire, headers included. */
  wireBytes: number;
  /** The payload unmasked, up to a bound: the message, or with compression what it is decompressed from. */
  kept: BodyCapture;
  /** An uncompressed binary message of a carried subprotocol: its payload goes to that protocol's parser as it comes. */
  carried?: true;
}

/** One side's frames: the message it is sending, and the frame being read. */
class Side implements FrameSink {
  readonly reader = new FrameReader(this);
  message: Message | null = null;
  private frame: FrameHead | null = null;
  /** A control frame's payload (at most 125 bytes), unmasked. */
  private control: Buffer[] = [];
  private frameStartNs = 0n;
  /** The side's stream lost bytes or broke the rules: nothing more is read from it. */
  stopped = false;

  constructor(
    private readonly ws: WebSocketStream,
    readonly sender: 'client' | 'server',
    readonly inflater: MessageInflater | undefined,
  ) {}

  frameStart(head: FrameHead, tsNs: bigint): void {
    this.frame = head;
    this.frameStartNs = tsNs;
    if ((this.sender === 'client') !== (head.mask !== -1)) this.ws.count('websocket.mask_violation');
    if (head.opcode >= Opcode.Close) {
      if (head.rsv1) return this.ws.damage(this, 'rsv1_control');
      this.control = [];
      return;
    }
    if (head.opcode === Opcode.Continuation) {
      if (!this.message) return this.ws.damage(this, 'continuation_outside_message');
      if (head.rsv1) return this.ws.damage(this, 'rsv1_continuation');
      this.message.frames++;
      this.message.wireBytes += head.wireBytes;
      this.message.payloadBytes += head.length;
      return;
    }
    if (this.message) return this.ws.damage(this, 'message_inside_message');
    if (head.rsv1 && !this.inflater) return this.ws.damage(this, 'rsv1_without_deflate');
    const max = head.rsv1 ? Math.max(this.ws.maxBody, MAX_COMPRESSED) : this.ws.maxBody;
    this.message = { opcode: head.opcode, compressed: head.rsv1, startNs: tsNs, frames: 1, payloadBytes: head.length, wireBytes: head.wireBytes, kept: new BodyCapture(max) };
    if (this.ws.carrying && head.opcode === Opcode.Binary && !head.rsv1) this.message.carried = true;
  }

  payload(buf: Buffer, start: number, end: number, offset: number): void {
    const f = this.frame!;
    if (f.opcode >= Opcode.Close) {
      this.control.push(f.mask === -1 ? Buffer.from(buf.subarray(start, end)) : unmask(buf, start, end, f.mask, offset));
      return;
    }
    if (this.message!.carried) {
      // a copy when unmasked (the client's frames), a view of the capture otherwise: the carried parser keeps what it needs
      this.ws.carry(this, f.mask === -1 ? buf.subarray(start, end) : unmask(buf, start, end, f.mask, offset), this.frameStartNs);
      return;
    }
    const kept = this.message!.kept;
    if (kept.truncated) {
      kept.add(buf.subarray(start, end)); // counted, not kept: no copy to unmask
      return;
    }
    kept.add(f.mask === -1 ? buf.subarray(start, end) : unmask(buf, start, end, f.mask, offset));
  }

  frameEnd(tsNs: bigint): void {
    const f = this.frame!;
    this.frame = null;
    if (f.opcode >= Opcode.Close) {
      const payload = this.control.length === 1 ? this.control[0]! : Buffer.concat(this.control);
      this.control = [];
      if (f.opcode === Opcode.Close) this.ws.emitClose(this, payload, f.wireBytes, this.frameStartNs, tsNs);
      else this.ws.count(f.opcode === Opcode.Ping ? 'websocket.pings' : 'websocket.pongs');
      return;
    }
    if (!f.fin) return;
    const m = this.message!;
    this.message = null;
    this.ws.emitMessage(this, m, tsNs, []);
  }

  damage(why: string): void {
    this.ws.damage(this, why);
  }
}

export class WebSocketStream implements StreamParser {
  private readonly sides: [Side, Side];
  readonly maxBody: number;
  /** The subprotocol the server chose (Sec-WebSocket-Protocol: graphql-ws, mqtt, ...). */
  private readonly subprotocol: string | undefined;
  /** The parser of the protocol the subprotocol carries (see CARRIED), fed the binary messages. */
  private carried: StreamParser | undefined;

  constructor(private readonly ctx: ParserContext, init?: HandoffInit) {
    this.maxBody = ctx.options.maxBody;
    this.subprotocol = init?.websocket?.protocol?.trim() || undefined;
    const carry = this.subprotocol === undefined ? undefined : CARRIED.find(([re]) => re.test(this.subprotocol!));
    if (carry) this.carryProtocol(carry[1], carry[2], { subprotocol: this.subprotocol });
    // without a subprotocol that names one, the server's first binary message may show a protocol
    this.probing = carry === undefined && this.subprotocol === undefined;
    const deflate = deflateParams(init?.websocket?.extensions);
    this.sides = [
      new Side(this, 'client', deflate ? new MessageInflater(!deflate.clientNoContextTakeover) : undefined),
      new Side(this, 'server', deflate ? new MessageInflater(!deflate.serverNoContextTakeover) : undefined),
    ];
  }

  data(dir: Dir, chunk: Buffer, tsNs: bigint): void {
    const side = this.sides[dir === Dir.ToServer ? 0 : 1];
    if (!side.stopped) side.reader.push(chunk, tsNs);
  }

  get carrying(): boolean {
    return this.carried !== undefined;
  }

  /** The server's first binary message is still to be looked at for a protocol it starts (CARRIED_BY_CONTENT). */
  private probing: boolean;

  /** From here on each side's binary messages are `name`'s byte stream, read by the parser `create` makes. */
  private carryProtocol(name: string, create: (ctx: ParserContext) => StreamParser, websocket: Record<string, unknown>): void {
    const sub = carriedContext(this.ctx, (r) => {
      r.protocol = name;
      r.attributes = { ...r.attributes, websocket };
    }, {
      // the carried protocol gave up: the messages are reported as messages again
      abandon: () => (this.carried = undefined),
    });
    this.carried = create(sub);
    this.ctx.count(`websocket.carried_${name}`);
  }

  /**
   * The server's first binary message (whole, decompressed if it was): when it starts a protocol
   * clients carry without naming a subprotocol, that protocol reads it and every binary message after.
   */
  private probe(side: Side, m: Message, bytes: Buffer | undefined, whole: boolean): boolean {
    if (!this.probing || side.sender !== 'server' || m.opcode !== Opcode.Binary) return false;
    this.probing = false;
    if (!bytes || !whole) return false;
    const found = CARRIED_BY_CONTENT.find(([test]) => test(bytes));
    if (!found) return false;
    this.carryProtocol(found[1], found[2], { carried: found[1] });
    this.ctx.count('websocket.carried_messages');
    this.carried!.data(Dir.ToClient, bytes, m.startNs);
    return true;
  }

  /** Payload bytes of `side`'s carried message, in order, for the carried protocol. */
  carry(side: Side, bytes: Buffer, tsNs: bigint): void {
    this.carried?.data(side.sender === 'client' ? Dir.ToServer : Dir.ToClient, bytes, tsNs);
  }

  /** Frames carry no marker to find the next one by: a side that lost bytes is read no further. */
  gap(dir: Dir, length: number, tsNs: bigint): void {
    const side = this.sides[dir === Dir.ToServer ? 0 : 1];
    if (side.stopped) return;
    this.ctx.count('websocket.gap_bytes', length);
    this.stop(side, ['gap', 'message_incomplete'], tsNs);
    this.carried?.gap(dir, length, tsNs);
  }

  end(_dir: Dir, _tsNs: bigint): void {}

  close(reason: CloseReason, tsNs: bigint): void {
    for (const side of this.sides) if (!side.stopped) this.stop(side, [CLOSE_FLAG[reason], 'message_incomplete'], tsNs);
    this.carried?.close(reason, tsNs);
  }

  count(name: string): void {
    this.ctx.count(name);
  }

  /** The side broke RFC 6455's framing (`why`): what it had sent is reported, then the connection is given up. */
  damage(side: Side, why: string): void {
    this.ctx.count('websocket.malformed');
    this.ctx.count(`websocket.malformed.${why}`);
    this.stop(side, ['malformed', 'message_incomplete'], undefined);
    const other = this.sides[side === this.sides[0] ? 1 : 0];
    if (!other.stopped) this.stop(other, ['malformed', 'message_incomplete'], undefined);
    this.ctx.abandon('malformed');
  }

  /** Stops reading `side`; a message it was sending goes out with `flags`. */
  private stop(side: Side, flags: string[], tsNs: bigint | undefined): void {
    side.stopped = true;
    side.reader.broken = true;
    side.inflater?.lose();
    const m = side.message;
    side.message = null;
    if (m) this.emitMessage(side, m, tsNs ?? m.startNs, flags);
  }

  emitMessage(side: Side, m: Message, endNs: bigint, flags: string[]): void {
    if (m.carried) {
      // its bytes went to the carried protocol as they came; a message cut short leaves that stream a hole
      this.ctx.count('websocket.carried_messages');
      return;
    }
    const carried = this.carried !== undefined && m.opcode === Opcode.Binary;
    // as an HTTP body: `size` the payload bytes on the wire, `content` the text after undoing the compression
    const body: BodyView = { size: m.payloadBytes };
    const kept = m.kept;
    /** The message's own size: its payload's, or what it decompressed to (unknown when it did not). */
    let size: number | undefined = m.payloadBytes;
    let bytes: Buffer | undefined = kept.bytes();
    if (m.compressed) {
      body.content_encoding = 'permessage-deflate';
      size = undefined;
      if (kept.truncated || flags.length) {
        // not the whole compressed payload: nothing to decompress, and the context is gone with it
        side.inflater!.lose();
        body.decode_error = kept.truncated ? `compressed message past the ${Math.max(this.maxBody, MAX_COMPRESSED)} bytes kept` : 'compressed message incomplete';
        if (kept.truncated) body.truncated = true;
        bytes = undefined;
      } else {
        const r = side.inflater!.inflate(bytes, MAX_DECOMPRESSED);
        if ('error' in r) {
          body.decode_error = r.error;
          bytes = undefined;
          this.ctx.count('websocket.undecodable');
          flags = [...flags, 'undecodable'];
        } else {
          bytes = r.bytes;
          if (r.cut) body.truncated = true;
          else size = r.bytes.length;
        }
      }
    } else if (kept.truncated) {
      body.truncated = true;
    }
    if (!carried && this.probe(side, m, bytes, !body.truncated && !flags.length)) return;
    if (carried) {
      // a compressed binary message of the carried protocol: its stream goes on with what it decompressed to
      this.ctx.count('websocket.carried_messages');
      const dir = side.sender === 'client' ? Dir.ToServer : Dir.ToClient;
      if (bytes && !body.truncated && !flags.length) this.carried!.data(dir, bytes, m.startNs);
      else this.carried!.gap(dir, size ?? m.payloadBytes, endNs);
      return;
    }
    if (bytes && bytes.length > this.maxBody) {
      bytes = bytes.subarray(0, this.maxBody);
      body.truncated = true;
    }
    if (bytes && bytes.length && (m.opcode === Opcode.Text || looksLikeText(bytes))) body.content = bytes.toString('utf8');
    // as an HTTP body cut at --max-body: the event says so too
    if (body.truncated && !flags.includes('truncated')) flags = [...flags, 'truncated'];
    const message: Record<string, unknown> = size === undefined ? { body } : { size, body };
    this.ctx.count(`websocket.${OPCODE_NAMES[m.opcode]}_messages`);
    this.emit(side, OPCODE_NAMES[m.opcode]!, m.frames, 'message', message, m.startNs, endNs, m.wireBytes, flags);
  }

  emitClose(side: Side, payload: Buffer, wireBytes: number, startNs: bigint, endNs: bigint): void {
    const close: Record<string, unknown> = {};
    // §5.5.1: a body is a 2-byte status code, then a UTF-8 reason
    if (payload.length >= 2) close.code = payload.readUInt16BE(0);
    if (payload.length > 2) close.reason = payload.toString('utf8', 2);
    const flags: string[] = [];
    if (payload.length === 1) flags.push('malformed');
    this.ctx.count('websocket.close_frames');
    this.emit(side, 'close', 1, 'close', close, startNs, endNs, wireBytes, flags);
  }

  /** A message event: its `websocket` group is the sender, opcode, frames, subprotocol, then `message` or `close`. */
  private emit(side: Side, opcode: string, frames: number, key: 'message' | 'close', value: Record<string, unknown>, startNs: bigint, endNs: bigint, wireBytes: number, flags: string[]): void {
    const websocket: Record<string, unknown> = { sender: side.sender, opcode, frames };
    if (this.subprotocol) websocket.subprotocol = this.subprotocol;
    websocket[key] = value;
    const record: ExchangeRecord = {
      kind: 'message',
      startNs,
      endNs,
      flags: flags.length ? flags : undefined,
      attributes: { websocket, network: { protocol: { name: 'websocket' } } },
    };
    if (side.sender === 'client') record.requestBytes = wireBytes;
    else record.responseBytes = wireBytes;
    this.ctx.emit(record);
  }
}
