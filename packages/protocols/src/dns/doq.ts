/**
 * DNS over QUIC (RFC 9250), read from a QUIC connection's decrypted streams
 * when its ALPN says `doq`: each query on a client-initiated bidirectional
 * stream of its own, framed with a 2-byte length as over TCP (RFC 1035
 * §4.2.2), its answer on the same stream (a zone transfer's answers, several
 * messages). Each stream's bytes are put in order (OrderedStream), framed and
 * paired by a DNS session of its own, so a stream's event is what the same
 * exchange over TCP gives, with the stream's id (`quic.stream_id`) and the TLS
 * it was decrypted from. Bounded: streams tracked at once, and the bytes held
 * ahead of a hole per stream side and over the connection's streams.
 */
import { Dir, type CloseReason } from '@panopticon/flows';
import type { ExchangeRecord, ParserContext } from '../types.js';
import { OrderedStream, type AheadBudget } from '../quic/stream-order.js';
import { CLOSE_FLAG } from '../close-flags.js';
import { carriedContext } from '../carried-context.js';
import { DnsSession } from './session.js';
import { Framer, decodeCounted } from './parser.js';

/** Streams tracked at once; past it the oldest is ended as unanswered (flag `evicted`). */
const MAX_STREAMS = 256;
/** Streams already answered, remembered so that a late copy of their frames is not a new query. */
const MAX_FINISHED = 1024;

class DoqSide extends OrderedStream {
  readonly framer = new Framer();
}

class DoqStream {
  readonly sides: [DoqSide, DoqSide];
  readonly session: DnsSession;
  constructor(
    readonly id: number,
    ctx: ParserContext,
    /** When its first byte came, for the response timeout. */
    readonly firstNs: bigint,
    budget: AheadBudget,
  ) {
    this.sides = [new DoqSide(budget), new DoqSide(budget)];
    this.session = new DnsSession(ctx);
  }
}

export class DoqConnection {
  private readonly streams = new Map<number, DoqStream>();
  private readonly finished = new Set<number>();
  /** What this connection's streams hold ahead of holes, all of them together (bounded). */
  private readonly ahead: AheadBudget = { held: 0 };

  constructor(
    private readonly ctx: ParserContext,
    /** Marks each record with the TLS it was decrypted from. */
    private readonly decorate: (r: ExchangeRecord) => void,
  ) {}

  /** A STREAM frame's data (RFC 9000 §19.8), decrypted. */
  stream(dir: Dir, id: number, offset: number, data: Buffer, fin: boolean, tsNs: bigint): void {
    this.expire(tsNs);
    // RFC 9250 §4.2: DNS messages go on client-initiated bidirectional streams only
    if ((id & 0x03) !== 0) return void this.ctx.count('dns.doq_unexpected_streams');
    let s = this.streams.get(id);
    if (!s) {
      if (this.finished.has(id)) return;
      if (this.streams.size >= MAX_STREAMS) this.end(this.streams.values().next().value!, 'evicted', tsNs);
      s = new DoqStream(id, this.streamContext(id), tsNs, this.ahead);
      this.streams.set(id, s);
    }
    const stream = s;
    const side = stream.sides[dir]!;
    side.join(offset, data, fin, (bytes) => side.framer.push(bytes, tsNs, (msg, firstNs) => {
      const m = decodeCounted(this.ctx, msg);
      if (m) stream.session.message(m, msg.length + 2, firstNs === 0n ? tsNs : firstNs, tsNs);
    }), () => this.ctx.count('dns.doq_stream_overflows'));
    // answered (a transfer: up to its closing SOA), or the server ended its side
    if (!stream.session.waiting() && stream.sides[1]!.next > 0) this.forget(stream);
    else if (stream.sides[1]!.ended) this.end(stream, 'response_incomplete', tsNs);
  }

  /** RESET_STREAM (RFC 9000 §19.4): the stream's exchange is cut short. */
  reset(_dir: Dir, id: number, _code: number, tsNs: bigint): void {
    const s = this.streams.get(id);
    if (s) this.end(s, 'reset', tsNs);
  }

  close(reason: CloseReason, tsNs: bigint): void {
    for (const s of [...this.streams.values()]) this.end(s, CLOSE_FLAG[reason], tsNs);
  }

  /** Queries past the response timeout, oldest stream first, are unanswered (flag `timeout`). */
  private expire(nowNs: bigint): void {
    const limit = this.ctx.options.responseTimeoutNs;
    for (const s of this.streams.values()) {
      if (nowNs - s.firstNs <= limit) break;
      s.session.expire(nowNs);
      if (!s.session.waiting()) this.forget(s);
    }
  }

  private end(s: DoqStream, flag: string, tsNs: bigint): void {
    s.session.endAll(flag, tsNs);
    this.forget(s);
  }

  private forget(s: DoqStream): void {
    for (const side of s.sides) side.drop();
    this.streams.delete(s.id);
    if (this.finished.size >= MAX_FINISHED) this.finished.delete(this.finished.values().next().value!);
    this.finished.add(s.id);
  }

  /** The context a stream's DNS session emits through: its records marked with the stream and the TLS. */
  private streamContext(id: number): ParserContext {
    return carriedContext(
      this.ctx,
      (r) => {
        r.protocol = 'dns';
        r.attributes = { ...r.attributes, quic: { stream_id: id } };
        this.decorate(r);
      },
      { overTls: true },
    );
  }
}
