/**
 * One AMQP 0-9-1 connection. Methods are decoded per frame; synchronous
 * methods wait (per channel) for the method that answers them, from the other
 * side; content-carrying methods (publish, deliver, return, get-ok) wait for
 * their content header and body frames on the same channel. A close answers
 * every request still waiting on its channel: that is how the broker refuses
 * (e.g. 404 for a passive declare of a missing queue). A login is refused the
 * same way, but after its exchange is complete (start answered by start-ok),
 * so that exchange waits for the broker's next method to learn the verdict.
 */
import type { CloseReason, Dir } from '@panopticon/flows';
import { BodyCapture } from '../body.js';
import type { ExchangeRecord, ParserContext, StreamParser } from '../types.js';
import { AmqpDecodeError, AmqpReader, decodeArgs, decodeContentHeader, type ContentHeader } from './codec.js';
import { FRAME_HEADER, FRAME_HEARTBEAT, FRAME_HEARTBEAT_08, FRAME_METHOD, methodSpec, type MethodSpec } from './constants.js';
import { exchangeAttributes, messageAttributes } from './fields.js';
import { AmqpFrameReader } from './frames.js';
import { CLOSE_FLAG } from '../close-flags.js';

/** Consumers remembered per connection (tag → queue); the oldest is forgotten past this. */
const MAX_CONSUMERS = 1024;

/** Frame overhead: 7-byte header + frame end. */
const FRAME_OVERHEAD = 8;

export interface AmqpMethod {
  spec: MethodSpec;
  channel: number;
  dir: Dir;
  args: Record<string, unknown>;
  startNs: bigint;
  endNs: bigint;
  bytes: number;
  content?: AmqpContent;
  /** deliveries: the queue the consumer (by its tag) was consuming from */
  queue?: string;
}

export interface AmqpContent {
  header?: ContentHeader;
  body: BodyCapture;
  received: number;
  gap?: boolean;
}

/** A connection.start or connection.secure answered by the client: the credentials are sent, the verdict is not in yet. */
interface LoginStep {
  req: AmqpMethod;
  res: AmqpMethod;
}

/** Methods that offer SASL authentication; the client's -ok carries the credentials. */
const LOGIN_STEPS = new Set(['connection.start', 'connection.secure']);

interface ContentInProgress {
  method: AmqpMethod;
  /** basic.get waiting for this get-ok's content */
  request?: AmqpMethod;
}


export class AmqpParser implements StreamParser {
  private readonly readers: [AmqpFrameReader, AmqpFrameReader];
  /** synchronous requests waiting for their reply, per channel, oldest first */
  private readonly pending = new Map<number, AmqpMethod[]>();
  private pendingCount = 0;
  /** content being assembled, per direction and channel */
  private readonly contents: [Map<number, ContentInProgress>, Map<number, ContentInProgress>] = [new Map(), new Map()];
  private version: string | undefined;
  /** consumer tag → queue, learned from basic.consume / consume-ok (bounded) */
  private readonly consumers = new Map<string, string>();
  /** the last login step, until the broker's next method says whether it took the credentials */
  private login: LoginStep | undefined;

  constructor(private readonly ctx: ParserContext) {
    this.readers = [new AmqpFrameReader(this.sink(0)), new AmqpFrameReader(this.sink(1))];
    if (ctx.conn.midstream) {
      this.readers[0].syncing = true;
      this.readers[1].syncing = true;
    }
  }

  data(dir: Dir, chunk: Buffer, tsNs: bigint): void {
    this.readers[dir].push(chunk, tsNs);
  }

  gap(dir: Dir, length: number, tsNs: bigint): void {
    this.ctx.count('amqp.gaps');
    this.readers[dir].resync();
    // Content cut by the gap is emitted with what arrived; its size says what was expected.
    for (const [, c] of this.contents[dir]) {
      const content = c.method.content!;
      content.gap = true;
      content.body.gap = true;
      content.body.size += length;
      this.finishContent(dir, c, tsNs, ['gap']);
    }
    this.contents[dir].clear();
  }

  end(_dir: Dir, _tsNs: bigint): void {}

  close(reason: CloseReason, tsNs: bigint): void {
    const flag = CLOSE_FLAG[reason];
    // the connection ended before the broker's verdict (a broker without authentication_failure_close just hangs up)
    if (this.login) this.emitExchange('exchange', this.login.req, this.login.res, [flag]);
    this.login = undefined;
    for (const dir of [0, 1] as const) {
      for (const [, c] of this.contents[dir]) this.finishContent(dir, c, tsNs, [flag, 'truncated']);
      this.contents[dir].clear();
    }
    for (const [, list] of this.pending) for (const m of list) this.emitExchange('unanswered', m, undefined, [flag]);
    this.pending.clear();
    this.pendingCount = 0;
  }

  private sink(dir: Dir) {
    return {
      protocolHeader: (header: Buffer) => {
        // "AMQP" 0 0 9 1; a server answers with its own header only to refuse the version.
        this.version = `${header[5]}-${header[6]}-${header[7]}`;
        if (dir === 1) this.ctx.count('amqp.version_refused');
      },
      frame: (type: number, channel: number, payload: Buffer, startNs: bigint, endNs: bigint) => {
        if (type === FRAME_METHOD) this.onMethod(dir, channel, payload, startNs, endNs);
        else if (type === FRAME_HEADER) this.onContentHeader(dir, channel, payload, endNs);
        else if (type === FRAME_HEARTBEAT || type === FRAME_HEARTBEAT_08) this.ctx.count('amqp.heartbeats');
      },
      bodyChunk: (channel: number, chunk: Buffer) => {
        const c = this.contents[dir].get(channel);
        if (!c || !c.method.content!.header) {
          this.ctx.count('amqp.unexpected_body_bytes', chunk.length);
          return;
        }
        const content = c.method.content!;
        content.body.add(chunk);
        content.received += chunk.length;
        c.method.bytes += chunk.length;
      },
      bodyEnd: (channel: number, tsNs: bigint) => {
        const c = this.contents[dir].get(channel);
        if (!c || !c.method.content!.header) return;
        c.method.bytes += FRAME_OVERHEAD;
        c.method.endNs = tsNs;
        if (c.method.content!.received >= c.method.content!.header.bodySize) {
          this.contents[dir].delete(channel);
          this.finishContent(dir, c, tsNs);
        }
      },
      damaged: (reason: string) => {
        void reason;
        this.ctx.count('amqp.malformed');
      },
      skipped: (n: number) => this.ctx.count('amqp.skipped_bytes', n),
    };
  }

  private onMethod(dir: Dir, channel: number, payload: Buffer, startNs: bigint, endNs: bigint): void {
    if (payload.length < 4) {
      this.ctx.count('amqp.malformed');
      return;
    }
    const spec = methodSpec(payload.readUInt16BE(0), payload.readUInt16BE(2));
    if (!spec) {
      this.ctx.count('amqp.unknown_method');
      return;
    }
    let args: Record<string, unknown>;
    try {
      args = decodeArgs(new AmqpReader(payload, 4), spec.args);
    } catch (err) {
      if (!(err instanceof AmqpDecodeError)) throw err;
      this.ctx.count('amqp.malformed');
      return;
    }
    const m: AmqpMethod = { spec, channel, dir, args, startNs, endNs, bytes: payload.length + FRAME_OVERHEAD };
    if (this.login && dir === this.login.req.dir) this.settleLogin(m);
    const unfinished = this.contents[dir].get(channel);
    if (unfinished) {
      // A new method before the content was complete: what we had is all there is.
      this.contents[dir].delete(channel);
      this.ctx.count('amqp.incomplete_content');
      this.finishContent(dir, unfinished, endNs, ['truncated']);
    }
    if (spec.name === 'connection.close' || spec.name === 'channel.close') this.answerWithClose(m);
    const request = this.takeRequestFor(m);
    if (spec.name === 'basic.deliver') m.queue = this.consumers.get(args.consumer_tag as string);
    if (request?.spec.name === 'basic.consume') this.learnConsumer(request, m);
    if (spec.content) {
      m.content = { body: new BodyCapture(this.ctx.options.maxBody), received: 0 };
      this.contents[dir].set(channel, { method: m, request });
      return;
    }
    if (request) {
      if (LOGIN_STEPS.has(request.spec.name)) {
        this.settleLogin(undefined);
        this.login = { req: request, res: m };
      } else this.emitExchange('exchange', request, m);
      return;
    }
    if (spec.replies && !(spec.noWait && args[spec.noWait] === true)) {
      this.addPending(m);
      return;
    }
    this.emitMessage(m);
  }

  private onContentHeader(dir: Dir, channel: number, payload: Buffer, endNs: bigint): void {
    const c = this.contents[dir].get(channel);
    if (!c || c.method.content!.header) {
      this.ctx.count('amqp.unexpected_header');
      return;
    }
    try {
      c.method.content!.header = decodeContentHeader(new AmqpReader(payload, 0));
    } catch (err) {
      if (!(err instanceof AmqpDecodeError)) throw err;
      this.ctx.count('amqp.malformed');
      this.contents[dir].delete(channel);
      return;
    }
    c.method.bytes += payload.length + FRAME_OVERHEAD;
    c.method.endNs = endNs;
    if (c.method.content!.header!.bodySize === 0) {
      this.contents[dir].delete(channel);
      this.finishContent(dir, c, endNs);
    }
  }

  private finishContent(_dir: Dir, c: ContentInProgress, tsNs: bigint, flags: string[] = []): void {
    c.method.endNs = tsNs > c.method.endNs ? tsNs : c.method.endNs;
    if (c.request) this.emitExchange('exchange', c.request, c.method, flags);
    else this.emitMessage(c.method, flags);
  }

  /**
   * The broker's next method after the credentials: connection.close refuses
   * them (403 ACCESS_REFUSED, with authentication_failure_close), anything
   * else (tune, another secure challenge) means the step went through. The
   * close is reported on the login exchange and, as any close, on its own.
   */
  private settleLogin(next: AmqpMethod | undefined): void {
    const step = this.login;
    if (!step) return;
    this.login = undefined;
    this.emitExchange('exchange', step.req, step.res, [], next?.spec.name === 'connection.close' ? next : undefined);
  }

  private learnConsumer(consume: AmqpMethod, ok: AmqpMethod): void {
    const tag = (ok.args.consumer_tag as string) || (consume.args.consumer_tag as string);
    if (!tag) return;
    if (this.consumers.size >= MAX_CONSUMERS) this.consumers.delete(this.consumers.keys().next().value as string);
    this.consumers.set(tag, consume.args.queue as string);
  }

  /** The oldest request on this channel, from the other side, that `m` answers. */
  private takeRequestFor(m: AmqpMethod): AmqpMethod | undefined {
    const list = this.pending.get(m.channel);
    if (!list) return undefined;
    const i = list.findIndex((r) => r.dir !== m.dir && r.spec.replies!.includes(m.spec.name));
    if (i < 0) return undefined;
    const [r] = list.splice(i, 1);
    this.pendingCount--;
    if (list.length === 0) this.pending.delete(m.channel);
    return r;
  }

  /** A close from one side answers what the other side was waiting for on that channel (or on all, for the connection). */
  private answerWithClose(close: AmqpMethod): void {
    for (const [channel, list] of [...this.pending]) {
      if (close.channel !== 0 && channel !== close.channel) continue;
      const keep: AmqpMethod[] = [];
      for (const r of list) {
        if (r.dir !== close.dir && !r.spec.name.endsWith('.close')) {
          this.pendingCount--;
          this.emitExchange('exchange', r, close);
        } else keep.push(r);
      }
      if (keep.length) this.pending.set(channel, keep);
      else this.pending.delete(channel);
    }
  }

  private addPending(m: AmqpMethod): void {
    if (this.pendingCount >= this.ctx.options.maxPending) {
      const [channel, list] = this.pending.entries().next().value as [number, AmqpMethod[]];
      const oldest = list.shift()!;
      if (list.length === 0) this.pending.delete(channel);
      this.pendingCount--;
      this.ctx.count('amqp.evicted');
      this.emitExchange('unanswered', oldest, undefined, ['evicted']);
    }
    const list = this.pending.get(m.channel) ?? [];
    list.push(m);
    this.pending.set(m.channel, list);
    this.pendingCount++;
  }

  /** `refusal`: a close that refused the exchange after its answer (a login); its bytes stay with its own event. */
  private emitExchange(kind: ExchangeRecord['kind'], req: AmqpMethod, res: AmqpMethod | undefined, extraFlags: string[] = [], refusal?: AmqpMethod): void {
    const { attributes, flags } = exchangeAttributes(req, res, this.ctx.options.maxBody, this.version, refusal);
    const all = new Set([...extraFlags, ...flags]);
    let endNs = res && res.endNs > req.endNs ? res.endNs : req.endNs;
    if (refusal && refusal.endNs > endNs) endNs = refusal.endNs;
    const rec: ExchangeRecord = { kind, startNs: req.startNs, endNs, attributes };
    // bytes per role: the requester may be the server (connection.start, server-initiated close)
    const clientBytes = (req.dir === 0 ? req.bytes : 0) + (res && res.dir === 0 ? res.bytes : 0);
    const serverBytes = (req.dir === 1 ? req.bytes : 0) + (res && res.dir === 1 ? res.bytes : 0);
    if (clientBytes) rec.requestBytes = clientBytes;
    if (serverBytes) rec.responseBytes = serverBytes;
    if (all.size) rec.flags = [...all];
    this.ctx.emit(rec);
  }

  private emitMessage(m: AmqpMethod, extraFlags: string[] = []): void {
    const { attributes, flags } = messageAttributes(m, this.ctx.options.maxBody, this.version);
    const all = new Set([...extraFlags, ...flags]);
    const rec: ExchangeRecord = { kind: 'message', startNs: m.startNs, endNs: m.endNs, attributes };
    if (m.dir === 0) rec.requestBytes = m.bytes;
    else rec.responseBytes = m.bytes;
    if (all.size) rec.flags = [...all];
    this.ctx.emit(rec);
  }
}
