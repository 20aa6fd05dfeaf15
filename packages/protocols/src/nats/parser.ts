/**
 * One NATS client connection (the client protocol of nats-server and its
 * clients, docs.nats.io "Client Protocol"): text operations, one per line,
 * PUB/HPUB and MSG/HMSG followed by a payload of the size their line gives.
 *
 * The server speaks first (INFO); the client's CONNECT is answered by +OK
 * (verbose), -ERR (refused), or the PONG to the PING clients send after it.
 * A published or delivered message is an event as it completes. One that
 * carries a reply subject waits for the message sent back to that subject
 * the other way on this connection: a requester's PUB and the MSG answering
 * it, or a responder's delivered MSG and its PUB in reply (JetStream's acks
 * too), are one exchange. PING/PONG are counted, as are verbose mode's +OK
 * acknowledgements, which name no operation.
 */
import type { CloseReason, Dir } from '@panopticon/flows';
import { sequential, setOwn } from '@panopticon/events';
import { BodyCapture } from '../body.js';
import { CLOSE_FLAG } from '../close-flags.js';
import { TextReader } from '../text-blocks.js';
import type { ParserContext, StreamParser } from '../types.js';
import { CLIENT_OPS, OPERATION_ERRORS, SERVER_OPS } from './constants.js';
import { controlAttributes, errorType, messageAttributes, settingsOf, type ConnectionFacts, type NatsControl, type NatsMessage, type Subscription } from './fields.js';

/** A header block longer than this is not read (counted); nats-server's own limit is its max_payload. */
const MAX_HEADERS = 64 * 1024;
/** Header fields kept per message. */
const MAX_HEADER_FIELDS = 256;
/** Subscriptions remembered per connection (sid → subject); past it the oldest is forgotten. */
const MAX_SUBSCRIPTIONS = 4096;
/** A TLS record's first byte when it carries a handshake message (ClientHello). */
const TLS_HANDSHAKE = 0x16;

/** A PUB/HPUB/MSG/HMSG line whose payload is being read. */
interface Announced {
  op: string;
  subject: string;
  reply?: string;
  sid?: string;
  headerBytes: number;
  startNs: bigint;
  lineBytes: number;
}

export class NatsParser implements StreamParser {
  private readonly readers: [TextReader, TextReader];
  private readonly facts: ConnectionFacts;
  /** Per direction, the message line whose payload comes next. */
  private readonly announced: [Announced | undefined, Announced | undefined] = [undefined, undefined];
  /** The CONNECT waiting for its answer, and whether a PING followed it. */
  private connect: NatsControl | undefined;
  private connectPinged = false;
  private verbose = false;
  private readonly subscriptions = new Map<string, Subscription>();
  /**
   * Messages waiting for the message sent back to their reply subject, per
   * direction (a client that asks its own service sends a request and gets it
   * delivered with the same reply subject), by reply subject, oldest first.
   */
  private readonly requests: [Map<string, NatsMessage>, Map<string, NatsMessage>] = [new Map(), new Map()];
  /** Joined mid-stream: a side's first line is taken only if it names an operation. */
  private readonly resyncing: [boolean, boolean];

  /** The session goes on inside TLS (the server's INFO came in the clear, then the client's handshake). */
  static resumed(ctx: ParserContext, clientId: string | undefined): NatsParser {
    const p = new NatsParser(ctx);
    p.facts.clientId = clientId;
    p.clientBytes = 1;
    return p;
  }

  /** Bytes the client has sent: before any, a TLS handshake is NATS's upgrade. */
  private clientBytes = 0;
  private infoSeen = false;

  constructor(private readonly ctx: ParserContext) {
    const hold = ctx.options.maxBody + MAX_HEADERS;
    this.readers = [new TextReader(this.sink(0), hold), new TextReader(this.sink(1), hold)];
    this.facts = { maxBody: ctx.options.maxBody };
    const mid = ctx.conn.midstream;
    this.resyncing = [mid, mid];
  }

  data(dir: Dir, chunk: Buffer, tsNs: bigint): void {
    if (dir === 0 && this.clientBytes === 0) {
      // a server requiring TLS sends INFO in the clear and the client's TLS handshake follows (no STARTTLS word)
      if (this.infoSeen && chunk[0] === TLS_HANDSHAKE) {
        const clientId = this.facts.clientId;
        this.ctx.handoff('tls', [{ dir, bytes: chunk, tsNs }], { carried: { name: 'nats', parser: (ctx) => NatsParser.resumed(ctx, clientId) } });
        return;
      }
      this.clientBytes += chunk.length;
    }
    this.readers[dir].push(chunk, tsNs);
  }

  gap(dir: Dir, _length: number, _tsNs: bigint): void {
    this.ctx.count('nats.gaps');
    this.readers[dir].resync();
    this.announced[dir] = undefined;
    this.resyncing[dir] = true;
  }

  end(_dir: Dir, _tsNs: bigint): void {}

  close(reason: CloseReason, _tsNs: bigint): void {
    const flag = CLOSE_FLAG[reason];
    if (this.connect) {
      // without verbose mode and a PING after it, nothing answers a CONNECT
      const waited = this.verbose || this.connectPinged;
      this.emitControl(waited ? 'unanswered' : 'message', this.connect, undefined, waited ? [flag] : []);
      this.connect = undefined;
    }
    const left = [...this.requests[0].values(), ...this.requests[1].values()].sort((a, b) => (a.startNs < b.startNs ? -1 : a.startNs > b.startNs ? 1 : 0));
    for (const m of left) this.unanswered(m, [flag]);
    this.requests[0].clear();
    this.requests[1].clear();
  }

  private sink(dir: Dir) {
    return {
      line: (buf: Buffer, start: number, end: number, tsNs: bigint) => this.line(dir, buf, start, end, tsNs),
      data: (block: BodyCapture, clean: boolean, tsNs: bigint) => this.payload(dir, block, clean, tsNs),
      damaged: () => this.ctx.count('nats.malformed'),
    };
  }

  // --- lines ---------------------------------------------------------------

  /** One operation line; returns the payload bytes that follow it, or -1. */
  private line(dir: Dir, buf: Buffer, start: number, end: number, tsNs: bigint): number {
    if (end === start) return -1;
    // the operation: the first word, read from the bytes (an operation is at most 7 characters)
    let sp = start;
    while (sp < end && buf[sp] !== SP && buf[sp] !== TAB) sp++;
    const op = sp - start <= 7 ? buf.toString('latin1', start, sp).toUpperCase() : '';
    const known = dir === 0 ? CLIENT_OPS : SERVER_OPS;
    if (!known.has(op)) {
      // joined mid-stream, a line may be the tail of a payload: skipped until one names an operation
      this.ctx.count(this.resyncing[dir] ? 'nats.skipped_bytes' : 'nats.malformed', this.resyncing[dir] ? end - start + 2 : 1);
      return -1;
    }
    this.resyncing[dir] = false;
    const bytes = end - start + 2;
    switch (op) {
      case 'PUB':
      case 'MSG':
      case 'HPUB':
      case 'HMSG':
        return this.messageLine(dir, op, words(buf, sp, end), tsNs, bytes);
      case 'CONNECT':
        return this.connectLine(rest(buf, sp, end), tsNs, bytes);
      case 'INFO':
        return this.infoLine(rest(buf, sp, end), tsNs, bytes);
      case 'SUB':
        return this.subLine(words(buf, sp, end), tsNs, bytes);
      case 'UNSUB':
        return this.unsubLine(words(buf, sp, end), tsNs, bytes);
      case 'PING':
        if (dir === 0 && this.connect) this.connectPinged = true;
        this.ctx.count('nats.pings');
        return -1;
      case 'PONG':
        if (dir === 1 && this.connect && this.connectPinged) this.answerConnect({ op, dir, startNs: tsNs, endNs: tsNs, bytes });
        else this.ctx.count('nats.pongs');
        return -1;
      case '+OK':
        if (this.connect) this.answerConnect({ op, dir, startNs: tsNs, endNs: tsNs, bytes });
        else this.ctx.count('nats.oks');
        return -1;
      default:
        return this.errLine(rest(buf, sp, end), tsNs, bytes);
    }
  }

  /**
   * `PUB <subject> [reply] <size>`, `HPUB <subject> [reply] <hdr> <total>`,
   * `MSG <subject> <sid> [reply] <size>`, `HMSG <subject> <sid> [reply] <hdr> <total>`.
   */
  private messageLine(dir: Dir, op: string, t: string[], tsNs: bigint, lineBytes: number): number {
    const fromServer = op === 'MSG' || op === 'HMSG';
    const withHeaders = op === 'HPUB' || op === 'HMSG';
    const sizes = withHeaders ? 2 : 1;
    const named = fromServer ? 2 : 1;
    if (t.length !== named + sizes && t.length !== named + sizes + 1) return this.malformed();
    const total = size(t[t.length - 1]);
    const headerBytes = withHeaders ? size(t[t.length - 2]) : 0;
    if (total < 0 || headerBytes < 0 || headerBytes > total) return this.malformed();
    const a: Announced = { op, subject: t[0]!, headerBytes, startNs: tsNs, lineBytes };
    if (fromServer) a.sid = t[1];
    if (t.length === named + sizes + 1) a.reply = t[named];
    this.announced[dir] = a;
    return total;
  }

  private connectLine(rest: string, tsNs: bigint, bytes: number): number {
    const json = object(rest);
    if (!json) return this.malformed();
    if (this.connect) this.emitControl('message', this.connect, undefined, []);
    this.verbose = json.verbose === true;
    this.connect = { op: 'CONNECT', dir: 0, startNs: tsNs, endNs: tsNs, bytes, settings: settingsOf(json, true) };
    this.connectPinged = false;
    return -1;
  }

  private infoLine(rest: string, tsNs: bigint, bytes: number): number {
    const json = object(rest);
    if (!json) return this.malformed();
    if (typeof json.client_id === 'number' || typeof json.client_id === 'string') this.facts.clientId = String(json.client_id);
    this.infoSeen = true;
    this.emitControl('message', { op: 'INFO', dir: 1, startNs: tsNs, endNs: tsNs, bytes, settings: settingsOf(json, false) }, undefined, []);
    return -1;
  }

  /** `SUB <subject> [queue group] <sid>` */
  private subLine(t: string[], tsNs: bigint, bytes: number): number {
    if (t.length !== 2 && t.length !== 3) return this.malformed();
    const sid = t[t.length - 1]!;
    const sub: Subscription = t.length === 3 ? { subject: t[0]!, queue: t[1]! } : { subject: t[0]! };
    this.subscriptions.delete(sid);
    if (this.subscriptions.size >= MAX_SUBSCRIPTIONS) {
      this.subscriptions.delete(this.subscriptions.keys().next().value!);
      this.ctx.count('nats.subscriptions_forgotten');
    }
    this.subscriptions.set(sid, sub);
    this.emitControl('message', { op: 'SUB', dir: 0, startNs: tsNs, endNs: tsNs, bytes, subject: sub.subject, queue: sub.queue, sid }, undefined, []);
    return -1;
  }

  /** `UNSUB <sid> [max_msgs]` */
  private unsubLine(t: string[], tsNs: bigint, bytes: number): number {
    if (t.length !== 1 && t.length !== 2) return this.malformed();
    const sid = t[0]!;
    const max = t.length === 2 ? size(t[1]) : undefined;
    if (max !== undefined && max < 0) return this.malformed();
    const sub = this.subscriptions.get(sid);
    // with a maximum the subscription still delivers up to it (a request's inbox: UNSUB <sid> 1)
    if (max === undefined) this.subscriptions.delete(sid);
    this.emitControl('message', { op: 'UNSUB', dir: 0, startNs: tsNs, endNs: tsNs, bytes, subject: sub?.subject, queue: sub?.queue, sid, maxMsgs: max }, undefined, []);
    return -1;
  }

  /**
   * `-ERR '<text>'`: it answers a waiting CONNECT, or is an event of its own:
   * one about a later operation (a permissions violation, a payload over
   * max_payload ...) says the server took the CONNECT, which, without verbose
   * mode or a PING after it, nothing else will answer.
   */
  private errLine(rest: string, tsNs: bigint, bytes: number): number {
    const text = sequential(rest.replace(/^'(.*)'$/s, '$1'));
    const err: NatsControl = { op: '-ERR', dir: 1, startNs: tsNs, endNs: tsNs, bytes, error: text };
    const c = this.connect;
    if (c && !OPERATION_ERRORS.has(errorType(text))) {
      this.answerConnect(err);
      return -1;
    }
    if (c && !this.verbose && !this.connectPinged) {
      this.connect = undefined;
      this.emitControl('message', c, undefined, []);
    }
    this.emitControl('message', err, undefined, []);
    return -1;
  }

  private malformed(): number {
    this.ctx.count('nats.malformed');
    return -1;
  }

  // --- payloads --------------------------------------------------------------

  private payload(dir: Dir, block: BodyCapture, clean: boolean, tsNs: bigint): void {
    const a = this.announced[dir];
    this.announced[dir] = undefined;
    if (!a) return;
    if (!clean) this.ctx.count('nats.malformed');
    const m: NatsMessage = {
      op: a.op,
      dir,
      subject: a.subject,
      body: new BodyCapture(this.ctx.options.maxBody),
      startNs: a.startNs,
      endNs: tsNs,
      bytes: a.lineBytes + block.size + 2,
    };
    if (a.sid !== undefined) {
      m.sid = a.sid;
      const sub = this.subscriptions.get(a.sid);
      if (sub) m.subscription = sub;
    }
    if (a.reply !== undefined) m.reply = a.reply;
    // copied: a message may wait for its reply, and must not pin the capture's buffers
    const kept = block.bytes();
    if (a.headerBytes > 0) {
      if (a.headerBytes <= kept.length) this.headers(m, kept.subarray(0, a.headerBytes));
      else this.ctx.count('nats.headers_unread');
    }
    m.body.add(Buffer.from(kept.subarray(Math.min(a.headerBytes, kept.length))));
    m.body.size = block.size - a.headerBytes;
    m.body.truncated = m.body.size > m.body.bytes().length;
    this.message(m);
  }

  /** `NATS/1.0[ <status>[ <description>]]` then `Name: value` lines (RFC 822 style, as HTTP/1's). */
  private headers(m: NatsMessage, b: Buffer): void {
    const lines = b.toString('utf8').split('\r\n');
    const first = /^NATS\/1\.0(?:[ \t]+(\d{3})(?:[ \t]+(.*))?)?$/.exec(lines[0]!.trim());
    if (!first) {
      this.ctx.count('nats.malformed_headers');
      return;
    }
    if (first[1]) m.status = Number(first[1]);
    if (first[2]) m.description = sequential(first[2].trim());
    const headers: Record<string, string[]> = {};
    let n = 0;
    for (let i = 1; i < lines.length; i++) {
      const l = lines[i]!;
      if (l === '') continue;
      const colon = l.indexOf(':');
      if (colon <= 0) {
        this.ctx.count('nats.malformed_headers');
        continue;
      }
      if (++n > MAX_HEADER_FIELDS) {
        this.ctx.count('nats.header_fields_dropped');
        break;
      }
      // own strings, not slices of the block: see words()
      const name = sequential(l.slice(0, colon).trim());
      const value = sequential(l.slice(colon + 1).trim());
      const list = Object.hasOwn(headers, name) ? headers[name] : undefined;
      if (Array.isArray(list)) list.push(value);
      else setOwn(headers, name, [value]);
    }
    if (n > 0) m.headers = headers;
  }

  /** A whole message: the reply to a waiting one, a request that waits, or an event now. */
  private message(m: NatsMessage): void {
    const answered = this.requests[1 - m.dir]!;
    const req = answered.get(m.subject);
    if (req) {
      answered.delete(m.subject);
      this.emitMessage('exchange', req, m, []);
      return;
    }
    if (m.reply !== undefined) {
      const mine = this.requests[m.dir];
      const old = mine.get(m.reply);
      if (old) {
        mine.delete(m.reply);
        this.unanswered(old, ['superseded']);
      }
      if (this.requests[0].size + this.requests[1].size >= this.ctx.options.maxPending) {
        this.ctx.count('nats.pending_overflow');
        this.evictOldest();
      }
      mine.set(m.reply, m);
      return;
    }
    this.emitMessage('message', m, undefined, []);
  }

  /** The request waiting longest, of either direction, is reported without its reply (flag evicted). */
  private evictOldest(): void {
    const a = this.requests[0].entries().next().value;
    const b = this.requests[1].entries().next().value;
    const [dir, [key, oldest]] = !b || (a && a[1].startNs <= b[1].startNs) ? [0, a!] : [1, b];
    this.requests[dir]!.delete(key);
    this.unanswered(oldest, ['evicted']);
  }

  /**
   * A message whose reply did not come on this connection. A requester's
   * publish expected one: unanswered. A delivery with a reply subject is a
   * message: its subscriber may leave it unanswered (another member of a
   * queue group answers, a JetStream consumer that does not acknowledge).
   */
  private unanswered(m: NatsMessage, flags: string[]): void {
    this.emitMessage(m.dir === 0 ? 'unanswered' : 'message', m, undefined, m.dir === 0 ? flags : []);
  }

  private answerConnect(answer: NatsControl): void {
    const c = this.connect!;
    this.connect = undefined;
    this.emitControl('exchange', c, answer, []);
  }

  // --- events ----------------------------------------------------------------

  private emitMessage(kind: 'exchange' | 'message' | 'unanswered', m: NatsMessage, res: NatsMessage | undefined, flags: string[]): void {
    const f = messageAttributes(m, res, this.facts);
    for (const x of flags) f.flags.push(x);
    this.ctx.emit({
      kind,
      startNs: m.startNs,
      endNs: res ? res.endNs : m.endNs,
      requestBytes: m.bytes,
      ...(res ? { responseBytes: res.bytes } : {}),
      attributes: f.attributes,
      ...(f.flags.length ? { flags: f.flags } : {}),
    });
  }

  private emitControl(kind: 'exchange' | 'message' | 'unanswered', c: NatsControl, answer: NatsControl | undefined, flags: string[]): void {
    this.ctx.emit({
      kind,
      startNs: c.startNs,
      endNs: answer ? answer.endNs : c.endNs,
      requestBytes: c.bytes,
      ...(answer ? { responseBytes: answer.bytes } : {}),
      attributes: controlAttributes(c, answer, this.facts),
      ...(flags.length ? { flags } : {}),
    });
  }
}

const SP = 0x20;
const TAB = 0x09;

/**
 * The words of a line from `from` to `end`, split at spaces and tabs, each a string of its own made
 * from the bytes: a slice of one line string would keep the whole line alive in every event holding
 * it, and keep those events off JSON.stringify's fast path (ADR 0007).
 */
function words(buf: Buffer, from: number, end: number): string[] {
  const out: string[] = [];
  let i = from;
  while (i < end) {
    while (i < end && (buf[i] === SP || buf[i] === TAB)) i++;
    if (i === end) break;
    const w = i;
    while (i < end && buf[i] !== SP && buf[i] !== TAB) i++;
    out.push(buf.toString('utf8', w, i));
  }
  return out;
}

/** The rest of a line after its operation, trimmed. */
function rest(buf: Buffer, from: number, end: number): string {
  return buf.toString('utf8', from, end).trim();
}

/** A decimal size or count; -1 when it is not one. */
function size(s: string | undefined): number {
  if (s === undefined || !/^\d{1,10}$/.test(s)) return -1;
  return Number(s);
}

/** INFO's or CONNECT's JSON object, or undefined. */
function object(text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
