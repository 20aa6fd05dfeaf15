/**
 * One Redis connection: commands from the client, replies from the server,
 * paired in order (Redis answers in order, pipelined or not), with the
 * exceptions that make Redis more than a FIFO:
 * - pub/sub: a (P|S)(UN)SUBSCRIBE gets one confirmation per channel, and
 *   delivered messages arrive unasked (RESP3 push, or RESP2 arrays while
 *   subscribed) and become `message` events of their own;
 * - MULTI/EXEC: queued commands get `QUEUED`, EXEC gets every result;
 * - MONITOR: the server streams one line per command it executes.
 */
import type { CloseReason, Dir } from '@panopticon/flows';
import { FifoStitcher } from '../stitch.js';
import type { ExchangeRecord, ParserContext, StreamParser } from '../types.js';
import { MESSAGE_REPLIES, SUBSCRIBE_COMMANDS, SUBSCRIBE_REPLIES } from './commands.js';
import { commandText, errorCode, redactSecrets, replySummary, toJson, valueText } from './fields.js';
import { RespReader, type RespMessage, type RespValue } from './resp.js';
import { CLOSE_FLAG } from '../close-flags.js';

/** Elements kept per message over all its aggregates. */
export const MAX_KEPT_ELEMENTS = 1024;

interface PendingCommand {
  name: string;
  words: string[];
  value: RespValue;
  startNs: bigint;
  endNs: bigint;
  bytes: number;
  /** replies still expected (pub/sub confirmations); 1 for everything else */
  expected: number;
  replies: RespMessage[];
  /** commands queued by MULTI, set on EXEC */
  transaction?: string[];
  inTransaction?: boolean;
  gap?: boolean;
}


export class RedisParser implements StreamParser {
  private readonly readers: [RespReader, RespReader];
  private readonly pending: FifoStitcher<PendingCommand>;
  private channels = new Set<string>();
  private patterns = new Set<string>();
  private shardChannels = new Set<string>();
  /** between MULTI and EXEC/DISCARD: the commands queued */
  private multi: string[] | null = null;
  private monitoring = false;
  private database: string | undefined;
  private protoVersion: string | undefined;
  /** a gap broke the request/reply alignment; flag exchanges until the queue drains */
  private misaligned = false;
  /** CLIENT REPLY OFF / SKIP in force */
  private repliesOff = false;
  private skipNext = false;
  /** replies owed to commands evicted from a full queue (deep pipelines) */
  private repliesToSkip = 0;

  constructor(private readonly ctx: ParserContext) {
    const o = ctx.options;
    const limits = { maxLine: o.maxHeaderBytes, maxKeptBytes: o.maxBody, maxKeptItems: MAX_KEPT_ELEMENTS };
    const skipped = (n: number) => ctx.count('redis.skipped_bytes', n);
    const damaged = (dir: Dir) => () => {
      ctx.count('redis.malformed');
      this.lostAlignment(dir);
    };
    this.readers = [
      new RespReader(limits, true, (m) => this.onCommand(m), skipped, damaged(0)),
      new RespReader(limits, false, (m) => this.onReply(m), skipped, damaged(1)),
    ];
    if (ctx.conn.midstream) {
      this.readers[0].syncing = true;
      this.readers[1].syncing = true;
    } else {
      this.database = '0';
    }
    this.pending = new FifoStitcher<PendingCommand>(o.maxPending, (p) => {
      ctx.count('redis.evicted');
      this.emitCommand('unanswered', p, undefined, ['evicted']);
      // Its reply will still come, first in line: skip it to stay aligned.
      this.repliesToSkip++;
    });
  }

  data(dir: Dir, chunk: Buffer, tsNs: bigint): void {
    this.readers[dir].push(chunk, tsNs);
  }

  gap(dir: Dir, _length: number, _tsNs: bigint): void {
    this.ctx.count('redis.gaps');
    this.readers[dir].resync();
    this.lostAlignment(dir);
  }

  end(_dir: Dir, _tsNs: bigint): void {}

  close(reason: CloseReason, _tsNs: bigint): void {
    for (const p of this.pending.drain()) {
      if (p.replies.length > 0) this.emitCommand('exchange', p, p.replies[p.replies.length - 1], ['closed']);
      else this.emitCommand('unanswered', p, undefined, [CLOSE_FLAG[reason]]);
    }
  }

  /**
   * Replies lost (server side) or commands lost (client side): what is
   * pending can no longer be paired with certainty.
   */
  private lostAlignment(dir: Dir): void {
    this.repliesToSkip = 0;
    if (dir === 1) {
      for (const p of this.pending.drain()) this.emitCommand('unanswered', p, undefined, ['gap']);
    }
    this.misaligned = true;
  }

  private onCommand(m: RespMessage): void {
    const v = m.value;
    const words = (v.items ?? []).map(valueText);
    if (v.type !== 'array' && v.type !== 'inline') {
      this.ctx.count('redis.malformed');
      return;
    }
    const name = (words[0] ?? '').toUpperCase();
    if (redactSecrets(words) > 0) this.ctx.count('redis.redacted_secrets');
    const p: PendingCommand = { name, words, value: v, startNs: m.startNs, endNs: m.endNs, bytes: m.bytes, expected: 1, replies: [] };
    if (this.misaligned) p.gap = true;
    if (this.noReply(name, words)) {
      // CLIENT REPLY OFF/SKIP: the server will not answer this one; it is one-way.
      this.emitCommand('message', p, undefined);
      return;
    }
    if (SUBSCRIBE_COMMANDS.has(name)) {
      const targets = words.length - 1;
      const current = name === 'UNSUBSCRIBE' ? this.channels : name === 'PUNSUBSCRIBE' ? this.patterns : this.shardChannels;
      // With no arguments an unsubscribe confirms each current subscription, or once when there is none.
      p.expected = targets > 0 ? targets : name.endsWith('UNSUBSCRIBE') ? Math.max(1, current.size) : 1;
    }
    if (this.multi) {
      if (name === 'EXEC') {
        p.transaction = this.multi;
        this.multi = null;
      } else if (name === 'DISCARD') {
        this.multi = null;
      } else if (name !== 'MULTI') {
        p.inTransaction = true;
        this.multi.push(name);
      }
    } else if (name === 'MULTI') {
      this.multi = [];
    }
    this.pending.push(p);
  }

  private onReply(m: RespMessage): void {
    const v = m.value;
    const head = v.type === 'push' || (v.type === 'array' && this.resp2PubSub()) ? firstWord(v) : undefined;
    if (head !== undefined && MESSAGE_REPLIES.has(head)) return this.emitPubSubMessage(head, m);
    if (head !== undefined && SUBSCRIBE_REPLIES.has(head)) return this.onSubscribeReply(head, m);
    if (v.type === 'push') return this.emitPush(m);
    if (this.monitoring && v.type === 'simple' && this.pending.size === 0) return this.emitMonitorLine(m);
    if (this.repliesToSkip > 0) {
      this.repliesToSkip--;
      this.ctx.count('redis.evicted_replies');
      return;
    }
    const p = this.pending.shift();
    if (!p) {
      this.emitOrphan(m);
      return;
    }
    p.replies.push(m);
    this.afterReply(p, v);
    this.emitCommand('exchange', p, m);
    if (this.pending.size === 0) this.misaligned = false;
  }

  /**
   * CLIENT REPLY OFF silences the server until CLIENT REPLY ON (which is
   * answered); CLIENT REPLY SKIP silences it for itself and the next command.
   */
  private noReply(name: string, words: string[]): boolean {
    if (name === 'CLIENT' && (words[1] ?? '').toUpperCase() === 'REPLY') {
      const mode = (words[2] ?? '').toUpperCase();
      if (mode === 'ON') {
        this.repliesOff = false;
        this.skipNext = false;
        return false;
      }
      if (mode === 'OFF') {
        this.repliesOff = true;
        return true;
      }
      if (mode === 'SKIP') {
        if (!this.repliesOff) this.skipNext = true;
        return true;
      }
    }
    if (this.repliesOff) return true;
    if (this.skipNext) {
      this.skipNext = false;
      return true;
    }
    return false;
  }

  /** State a reply changes: selected database, protocol version, MONITOR mode. */
  private afterReply(p: PendingCommand, v: RespValue): void {
    if (v.type === 'error') return;
    if (p.name === 'SELECT' && p.words[1] !== undefined && !p.inTransaction) this.database = p.words[1];
    else if (p.name === 'HELLO' && (v.type === 'map' || v.type === 'array')) {
      const reply = toJson(v) as Record<string, unknown> | unknown[];
      const proto = Array.isArray(reply) ? reply[reply.indexOf('proto') + 1] : reply.proto;
      if (proto === 2 || proto === 3) this.protoVersion = String(proto);
    } else if (p.name === 'MONITOR') this.monitoring = true;
    else if (p.name === 'RESET') {
      this.channels.clear();
      this.patterns.clear();
      this.shardChannels.clear();
      this.monitoring = false;
      this.multi = null;
      this.database = '0';
    }
  }

  /**
   * While subscribed (or subscribing), RESP2 sends pub/sub traffic as plain
   * arrays. RESP3 sends it only as pushes, and a subscribed RESP3 client may
   * run any command: an array reply there (LRANGE of `message a b`) is a reply.
   */
  private resp2PubSub(): boolean {
    if (this.protoVersion === '3') return false;
    if (this.channels.size || this.patterns.size || this.shardChannels.size) return true;
    const p = this.pending.peek();
    return p !== undefined && SUBSCRIBE_COMMANDS.has(p.name);
  }

  private onSubscribeReply(kind: string, m: RespMessage): void {
    const items = m.value.items ?? [];
    const target = items[1] && items[1].type !== 'null' ? valueText(items[1]) : undefined;
    const set = kind.startsWith('p') ? this.patterns : kind.startsWith('s') && kind !== 'subscribe' ? this.shardChannels : this.channels;
    if (target !== undefined) {
      if (kind.includes('unsubscribe')) set.delete(target);
      else set.add(target);
    }
    const p = this.pending.peek();
    if (!p || !SUBSCRIBE_COMMANDS.has(p.name)) {
      // Redis also pushes unsubscribe confirmations unasked (e.g. a shard channel moved).
      this.emitOrphan(m);
      return;
    }
    p.replies.push(m);
    if (p.replies.length < p.expected) return;
    this.pending.shift();
    this.emitCommand('exchange', p, m);
  }

  private emitCommand(kind: ExchangeRecord['kind'], p: PendingCommand, reply: RespMessage | undefined, extraFlags: string[] = []): void {
    const o = this.ctx.options;
    const flags = new Set(extraFlags);
    if (p.gap) flags.add('gap');
    const query = commandText(p.words, o.maxBody);
    if (query.truncated || p.value.truncated) flags.add('truncated');
    const redis: Record<string, unknown> = { args: p.words.slice(1) };
    if ((p.value.length ?? 0) !== p.words.length) redis.args_count = Math.max(0, (p.value.length ?? 0) - 1);
    if (p.value.type === 'inline') redis.inline = true;
    if (p.inTransaction) redis.in_transaction = true;
    if (p.transaction) redis.transaction = { commands: p.transaction };
    const db: Record<string, unknown> = {
      system: { name: 'redis' },
      operation: { name: p.name },
      query: { text: query.text },
    };
    if (this.database !== undefined) db.namespace = this.database;
    const attributes: Record<string, unknown> = { db, redis };
    let responseBytes: number | undefined;
    if (reply) {
      responseBytes = 0;
      for (const r of p.replies) responseBytes += r.bytes;
      if (p.replies.length > 1) {
        redis.response = { type: 'confirmations', value: p.replies.map((r) => toJson(r.value)), length: p.replies.length };
      } else {
        redis.response = replySummary(reply.value);
        if (reply.value.truncated) flags.add('truncated');
      }
      const code = errorCode(reply.value);
      if (code) {
        db.response = { status_code: code };
        attributes.error = { type: code };
      }
    }
    attributes.network = { protocol: { name: 'redis', ...(this.protoVersion ? { version: this.protoVersion } : {}) } };
    const rec: ExchangeRecord = {
      kind,
      startNs: p.startNs,
      endNs: reply ? reply.endNs : p.endNs,
      requestBytes: p.bytes,
      attributes,
    };
    if (responseBytes !== undefined) rec.responseBytes = responseBytes;
    if (flags.size) rec.flags = [...flags];
    this.ctx.emit(rec);
  }

  private emitOrphan(m: RespMessage): void {
    const redis: Record<string, unknown> = { response: replySummary(m.value) };
    const db: Record<string, unknown> = { system: { name: 'redis' } };
    const attributes: Record<string, unknown> = { db, redis, network: { protocol: { name: 'redis' } } };
    const code = errorCode(m.value);
    if (code) {
      db.response = { status_code: code };
      attributes.error = { type: code };
    }
    const flags: string[] = [];
    if (this.misaligned) flags.push('gap');
    if (this.ctx.conn.midstream) flags.push('midstream');
    if (m.value.truncated) flags.push('truncated');
    this.ctx.emit({ kind: 'orphan_response', startNs: m.startNs, endNs: m.endNs, responseBytes: m.bytes, attributes, ...(flags.length ? { flags } : {}) });
  }

  /** A delivered pub/sub message: `message channel payload` / `pmessage pattern channel payload`. */
  private emitPubSubMessage(kind: string, m: RespMessage): void {
    const items = m.value.items ?? [];
    const hasPattern = kind === 'pmessage';
    const channel = items[hasPattern ? 2 : 1];
    const payload = items[hasPattern ? 3 : 2];
    const pubsub: Record<string, unknown> = { kind };
    if (hasPattern && items[1]) pubsub.pattern = valueText(items[1]);
    const messaging: Record<string, unknown> = {
      system: 'redis',
      operation: { type: 'receive', name: kind },
    };
    if (channel) {
      pubsub.channel = valueText(channel);
      messaging.destination = { name: pubsub.channel };
    }
    const flags: string[] = [];
    if (payload) {
      const body: Record<string, unknown> = { size: payload.size ?? valueText(payload).length };
      const text = toJson(payload);
      if (typeof text === 'string') body.content = text;
      if (payload.truncated) {
        body.truncated = true;
        flags.push('truncated');
      }
      messaging.message = { body };
    }
    this.ctx.emit({
      kind: 'message',
      startNs: m.startNs,
      endNs: m.endNs,
      responseBytes: m.bytes,
      attributes: { db: { system: { name: 'redis' } }, messaging, redis: { pubsub }, network: { protocol: { name: 'redis' } } },
      ...(flags.length ? { flags } : {}),
    });
  }

  /** RESP3 out-of-band data that is not pub/sub (client-side caching `invalidate` ...). */
  private emitPush(m: RespMessage): void {
    this.ctx.emit({
      kind: 'message',
      startNs: m.startNs,
      endNs: m.endNs,
      responseBytes: m.bytes,
      attributes: { db: { system: { name: 'redis' } }, redis: { push: replySummary(m.value) }, network: { protocol: { name: 'redis', version: '3' } } },
      ...(m.value.truncated ? { flags: ['truncated'] } : {}),
    });
  }

  private emitMonitorLine(m: RespMessage): void {
    this.ctx.emit({
      kind: 'message',
      startNs: m.startNs,
      endNs: m.endNs,
      responseBytes: m.bytes,
      attributes: { db: { system: { name: 'redis' } }, redis: { monitor: m.value.text ?? '' }, network: { protocol: { name: 'redis' } } },
    });
  }
}

function firstWord(v: RespValue): string | undefined {
  const first = v.items?.[0];
  if (!first || (first.type !== 'bulk' && first.type !== 'simple')) return undefined;
  return valueText(first).toLowerCase();
}
