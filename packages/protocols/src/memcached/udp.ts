/**
 * memcached over UDP (protocol.txt, "UDP protocol"): each datagram starts
 * with an 8-byte frame header (request id, sequence number, total datagrams
 * of the message, 2 reserved zero bytes), then the text or binary protocol as
 * over TCP. A request is one datagram; its answer may take several, which
 * share the request's id and are numbered from 0 (memcached may send it as
 * several such messages: a multi-key get's values, then END alone). Answers
 * are matched by id, not by order, so each request gets a parser of its own
 * (the TCP one), fed the request and then the answer's datagrams in
 * sequence; the answer ends where that parser says it does.
 *
 * memcached serves UDP only when started with -U (off by default since
 * 1.5.6: it was the amplifier of 2018's record DDoS attacks), which is also
 * why a capture holding it is worth reading.
 */
import type { CloseReason, Dir } from '@panopticon/flows';
import type { DatagramParser, ParserContext } from '../types.js';
import { MemcachedParser } from './parser.js';

export const FRAME_HEADER = 8;
/** Datagrams of one message at most (a `stats` answer takes a few; memcached's largest items take ~750). */
const MAX_DATAGRAMS = 1024;

interface Waiting {
  parser: MemcachedParser;
  startNs: bigint;
  /** The datagrams of the answer's current message: their total, the next one in sequence, those come early. */
  total: number;
  next: number;
  held: Map<number, Buffer>;
}

/** A frame header that can be memcached's: reserved bytes zero, a sequence number within its total. */
export function frame(d: Buffer): { id: number; seq: number; total: number } | undefined {
  if (d.length < FRAME_HEADER) return undefined;
  const seq = d.readUInt16BE(2);
  const total = d.readUInt16BE(4);
  if (total === 0 || seq >= total || d.readUInt16BE(6) !== 0) return undefined;
  return { id: d.readUInt16BE(0), seq, total };
}

export class MemcachedDatagramParser implements DatagramParser {
  /** Requests waiting for their answer, by request id, oldest first. */
  private readonly waiting = new Map<number, Waiting>();

  constructor(private readonly ctx: ParserContext) {}

  datagram(dir: Dir, payload: Buffer, tsNs: bigint): void {
    const f = frame(payload);
    if (!f) {
      this.ctx.count('memcached.malformed');
      return;
    }
    if (dir === 0) this.request(f.id, f.total, payload.subarray(FRAME_HEADER), tsNs);
    else this.answer(f.id, f.seq, f.total, payload.subarray(FRAME_HEADER), tsNs);
  }

  private request(id: number, total: number, body: Buffer, tsNs: bigint): void {
    if (total !== 1) {
      // memcached takes no request of several datagrams
      this.ctx.count('memcached.udp_multi_datagram_requests');
      return;
    }
    const old = this.waiting.get(id);
    if (old) {
      // the id used again: the earlier request's answer did not come
      this.waiting.delete(id);
      old.parser.close('idle', tsNs);
    }
    const parser = new MemcachedParser(this.ctx);
    parser.data(0, body, tsNs);
    parser.end(0, tsNs);
    if (parser.waiting === 0) return;
    if (this.waiting.size >= this.ctx.options.maxPending) {
      this.ctx.count('memcached.pending_overflow');
      const [oldest, w] = this.waiting.entries().next().value!;
      this.waiting.delete(oldest);
      w.parser.close('evicted', tsNs);
    }
    this.waiting.set(id, { parser, startNs: tsNs, total: 0, next: 0, held: new Map() });
  }

  private answer(id: number, seq: number, total: number, body: Buffer, tsNs: bigint): void {
    const w = this.waiting.get(id);
    if (!w) {
      this.ctx.count('memcached.udp_unmatched_datagrams');
      return;
    }
    if (total > MAX_DATAGRAMS) {
      this.ctx.count('memcached.malformed');
      return;
    }
    if (w.total !== 0 && total !== w.total) {
      // a message's first datagram, none of the held ones' message having come: those were stale copies
      if (seq === 0 && w.next === 0) w.held.clear();
      else {
        this.ctx.count('memcached.malformed');
        return;
      }
    }
    w.total = total;
    if (seq < w.next || w.held.has(seq)) return; // a duplicate
    // held (copied) until the datagrams before it have come
    if (seq > w.next) {
      w.held.set(seq, Buffer.from(body));
      return;
    }
    w.parser.data(1, body, tsNs);
    w.next++;
    for (let part = w.held.get(w.next); part !== undefined; part = w.held.get(w.next)) {
      w.held.delete(w.next++);
      w.parser.data(1, part, tsNs);
    }
    if (w.parser.waiting === 0) {
      this.waiting.delete(id);
      return;
    }
    // memcached sends an answer as several messages under one id (a get's values, then its END
    // alone): after a message's last datagram the next one starts again at 0
    if (w.next === total) {
      w.next = 0;
      w.total = 0;
    }
  }

  idle(): boolean {
    return this.waiting.size === 0;
  }

  /** Requests past the response timeout are unanswered (flag timeout); an answer with datagrams missing is counted. */
  tick(nowNs: bigint): void {
    const limit = this.ctx.options.responseTimeoutNs;
    for (const [id, w] of this.waiting) {
      if (nowNs - w.startNs < limit) break;
      this.waiting.delete(id);
      if (w.held.size > 0) this.ctx.count('memcached.udp_lost_datagrams');
      w.parser.close('idle', nowNs);
    }
  }

  close(reason: CloseReason, tsNs: bigint): void {
    for (const w of this.waiting.values()) w.parser.close(reason, tsNs);
    this.waiting.clear();
  }
}
