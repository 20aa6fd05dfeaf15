/**
 * Pairs DNS queries with responses by transaction id (and question) within one
 * flow, and turns them into exchange records. Shared by the UDP and TCP
 * parsers; the flow itself already fixes the endpoints.
 *
 * Zone transfers (AXFR/IXFR) answer one query with many messages: those are
 * gathered until the closing SOA so that one transfer is one event.
 */
import type { ExchangeRecord, ParserContext } from '../types.js';
import type { DnsMessage, DnsRecord } from './message.js';
import { TYPE_NAMES, rcodeName } from './constants.js';

/** Records kept per section of one event; the counts are always whole. */
export const MAX_KEPT_RECORDS = 256;

interface PendingQuery {
  msg: DnsMessage;
  bytes: number;
  tsNs: bigint;
  /** Set once a zone transfer has started answering. */
  transfer?: Transfer;
}

/** A zone transfer's answers so far, over however many messages it takes. */
interface Transfer {
  answers: DnsRecord[];
  answerCount: number;
  /** Records past MAX_KEPT_RECORDS were counted, not kept. */
  cut: boolean;
  /** Serial of the opening SOA: the zone's version the transfer ends at; undefined when it was not an SOA. */
  serial: string | undefined;
  /** Where an IXFR is (RFC 1995 §4): `axfr` when answered with the whole zone, else in a deletions or additions part. */
  mode: 'start' | 'axfr' | 'deletions' | 'additions';
  soaSeen: number;
  bytes: number;
  lastNs: bigint;
  last: DnsMessage;
}

const XFR_TYPES = new Set([TYPE_NAMES[252], TYPE_NAMES[251]]);
/**
 * The pending list of a session with nothing pending: shared, never written.
 * A UDP flow ends once nothing is pending (ADR 0011), but a TCP connection
 * lives on between queries, and a list of its own would keep its grown
 * backing store.
 */
const NONE_PENDING: PendingQuery[] = [];

export class DnsSession {
  /** Pending queries in arrival order; ids repeat rarely, so a short linear search is cheapest. */
  private pending: PendingQuery[] = NONE_PENDING;

  constructor(protected readonly ctx: ParserContext) {}

  /**
   * One message, whose first byte came at `tsNs` and last at `endNs` (the
   * same for a datagram; over TCP a message may span segments). A query
   * starts at its first byte, an exchange ends at its response's last
   * (pano-events(5): start_ns, end_ns).
   */
  message(msg: DnsMessage, bytes: number, tsNs: bigint, endNs: bigint = tsNs): void {
    this.ctx.count(msg.response ? 'dns.responses' : 'dns.queries');
    if (!msg.response) return this.query(msg, bytes, tsNs);
    const idx = this.match(msg);
    if (idx < 0) {
      // A continuation of a finished transfer, or a query we never saw.
      this.ctx.count('dns.orphan_responses');
      this.ctx.emit(buildRecord('orphan_response', undefined, msg, 0, tsNs, endNs, [], bytes));
      return;
    }
    const q = this.pending[idx];
    // A transfer's first message opens with the zone's SOA (RFC 5936 §2.2, RFC 1995 §4); a first answer
    // without records (dnsmasq's to an IXFR it does not serve: NOERROR, the SOA in authority) is the whole reply.
    if (q.msg.questions.length && XFR_TYPES.has(q.msg.questions[0].type) && msg.rcode === 0 && (q.transfer || msg.answers.length)) {
      if (this.continueTransfer(q, msg, bytes, endNs)) this.remove(idx);
      return;
    }
    if (q.transfer) {
      // A server that cannot go on ends a transfer with an error RCODE (RFC 5936 §2.2): the records
      // already come are kept, the error is the event's, and the answer is short of its closing SOA.
      this.remove(idx);
      this.gather(q.transfer, msg, bytes, endNs, false);
      this.endTransfer(q, msg, endNs, ['response_incomplete']);
      return;
    }
    this.remove(idx);
    this.ctx.emit(buildRecord('exchange', q, msg, q.bytes, q.tsNs, endNs, [], bytes));
  }

  /** A query (or a zone transfer) waits for its response. */
  waiting(): boolean {
    return this.pending.length > 0;
  }

  /**
   * Emit queries older than the response timeout as unanswered, over UDP and
   * TCP alike. A zone transfer under way waits from its last message, not
   * its query: a large zone takes longer than the timeout to arrive. Queries
   * are pending in the order they came, so the scan stops at the first one
   * still in time that is not a transfer.
   */
  expire(nowNs: bigint): void {
    const limit = this.ctx.options.responseTimeoutNs;
    for (let i = 0; i < this.pending.length; ) {
      const q = this.pending[i];
      if (nowNs - (q.transfer ? q.transfer.lastNs : q.tsNs) > limit) {
        this.remove(i);
        this.flush(q, 'timeout');
      } else if (q.transfer) {
        i++;
      } else {
        break;
      }
    }
  }

  /**
   * The flow is over at `nowNs`: every query still pending is unanswered (or
   * a transfer cut short), flagged `timeout` when its time was up before
   * the end, whether or not a tick came between, else with `flag`.
   */
  endAll(flag: string, nowNs: bigint): void {
    this.expire(nowNs);
    for (const q of this.pending) this.flush(q, flag);
    this.pending = NONE_PENDING;
  }

  private query(msg: DnsMessage, bytes: number, tsNs: bigint): void {
    if (this.pending.length >= this.ctx.options.maxPending) {
      this.ctx.count('dns.pending_overflow');
      this.flush(this.pending.shift()!, 'overflow');
    }
    // Most flows wait for one query at a time: a list of exactly one, where `[]` and a push reserve 17 slots.
    if (this.pending === NONE_PENDING) this.pending = [{ msg, bytes, tsNs }];
    else this.pending.push({ msg, bytes, tsNs });
  }

  private flush(q: PendingQuery, flag: string): void {
    if (q.transfer) {
      // started but short of its closing SOA: the records gathered are not the zone, and the flag says so
      // beside why it ended (as an error RCODE part way does), so the event is not taken for a whole zone
      this.endTransfer(q, q.transfer.last, q.transfer.lastNs, [flag, 'response_incomplete']);
      return;
    }
    this.ctx.count('dns.unanswered');
    this.ctx.emit(buildRecord('unanswered', q, undefined, q.bytes, q.tsNs, q.tsNs, [flag]));
  }

  /** Drops pending entry `idx`; usually the oldest, and `shift` makes no array the way `splice` does. */
  private remove(idx: number): void {
    if (idx === 0) this.pending.shift();
    else this.pending.splice(idx, 1);
    if (this.pending.length === 0) this.pending = NONE_PENDING;
  }

  /**
   * The pending query a response answers: same id and same question (RFC 5452
   * §9.1, as resolvers check it). A response asking another question is no
   * answer to the query (a forged or stray one), and the query's own answer
   * may still come; it is an orphan.
   */
  private match(resp: DnsMessage): number {
    for (let i = 0; i < this.pending.length; i++) {
      const q = this.pending[i].msg;
      if (q.id === resp.id && sameQuestion(q, resp)) return i;
    }
    return -1;
  }

  /** True when the transfer is complete (the closing SOA arrived); `tsNs` is this message's last byte. */
  private continueTransfer(q: PendingQuery, msg: DnsMessage, bytes: number, tsNs: bigint): boolean {
    const t = (q.transfer ??= { answers: [], answerCount: 0, cut: false, serial: undefined, mode: 'start', soaSeen: 0, bytes: 0, lastNs: tsNs, last: msg });
    const done = this.gather(t, msg, bytes, tsNs, q.msg.questions[0].type === 'IXFR');
    // a one-record IXFR answer means "you are up to date"
    if (!done && !(t.answerCount === 1 && q.msg.questions[0].type === 'IXFR')) return false;
    this.endTransfer(q, msg, tsNs, []);
    return true;
  }

  /** Adds a message's records to a transfer; true when one of them is its closing SOA. */
  private gather(t: Transfer, msg: DnsMessage, bytes: number, tsNs: bigint, ixfr: boolean): boolean {
    let done = false;
    for (const rr of msg.answers) {
      if (t.answers.length < MAX_KEPT_RECORDS) t.answers.push(rr);
      else t.cut = true;
      if (!done) done = transferStep(t, rr, ixfr);
      t.answerCount++;
    }
    t.bytes += bytes;
    t.lastNs = tsNs;
    t.last = msg;
    return done;
  }

  /**
   * The transfer's event, ended by `msg`, its last message (gathered): the
   * records of all its messages, under the header, rcode and other sections
   * of the last.
   */
  private endTransfer(q: PendingQuery, msg: DnsMessage, tsNs: bigint, flags: string[]): void {
    const t = q.transfer!;
    if (t.cut) flags.push('truncated');
    const merged = { ...msg, answers: t.answers };
    this.ctx.emit(buildRecord('exchange', q, merged, q.bytes, q.tsNs, tsNs, flags, t.bytes, t.answerCount));
  }
}

/** Serial of an SOA record's presentation text (`mname rname serial refresh retry expire minimum`). */
function soaSerial(rr: DnsRecord): string | undefined {
  const parts = rr.data.split(' ');
  return parts.length >= 7 ? parts[parts.length - 5] : undefined;
}

/**
 * One record of a transfer (the `answerCount`-th); true when it is the last.
 * AXFR (RFC 5936) ends with the SOA it started with. So does IXFR (RFC 1995
 * §4), but an incremental answer also holds that SOA inside: after the
 * opening SOA, each change is an SOA opening its deletions (the old version)
 * and an SOA opening its additions (the new one), the last change's
 * additions under the final version's SOA. The closing SOA is the final
 * version's SOA seen while in an additions part (or anywhere in an answer of
 * the whole zone).
 */
function transferStep(t: Transfer, rr: DnsRecord, ixfr: boolean): boolean {
  const soa = rr.type === 'SOA';
  if (soa) t.soaSeen++;
  const serial = soa ? soaSerial(rr) : undefined;
  if (t.answerCount === 0) {
    t.serial = serial;
    return false;
  }
  // not told by serials (the opening record was no SOA, or its data undecodable): the second SOA ends it
  if (t.serial === undefined || (soa && serial === undefined)) return t.soaSeen >= 2;
  if (t.mode === 'start') t.mode = ixfr && soa && serial !== t.serial ? 'deletions' : 'axfr';
  else if (soa && t.mode !== 'axfr') {
    if (t.mode === 'deletions') t.mode = 'additions';
    else if (serial === t.serial) return true;
    else t.mode = 'deletions';
    return false;
  }
  return soa && serial === t.serial && t.mode === 'axfr';
}

function sameQuestion(q: DnsMessage, r: DnsMessage): boolean {
  if (r.questions.length === 0 || q.questions.length === 0) return true;
  const a = q.questions[0];
  const b = r.questions[0];
  // Names are compared without case (RFC 4343); a response almost always echoes the query's spelling.
  return a.type === b.type && (a.name === b.name || a.name.toLowerCase() === b.name.toLowerCase());
}

function section(records: DnsRecord[], flags: string[]): DnsRecord[] {
  if (records.length <= MAX_KEPT_RECORDS) return records;
  if (!flags.includes('truncated')) flags.push('truncated');
  return records.slice(0, MAX_KEPT_RECORDS);
}

function buildRecord(
  kind: ExchangeRecord['kind'],
  q: PendingQuery | undefined,
  r: DnsMessage | undefined,
  requestBytes: number,
  startNs: bigint,
  endNs: bigint,
  flags: string[],
  responseBytes?: number,
  answerCount?: number,
): ExchangeRecord {
  const dns = dnsAttributes(q?.msg, r, flags, answerCount);
  const attributes: Record<string, unknown> = { dns, network: { protocol: { name: 'dns' } } };
  if (r && r.rcode !== 0) attributes.error = { type: rcodeName(r.rcode) };
  return {
    kind,
    startNs,
    endNs,
    requestBytes: q ? requestBytes : undefined,
    responseBytes,
    flags: flags.length ? flags : undefined,
    attributes,
  };
}

function responseFlags(r: DnsMessage, flags: string[]): void {
  if (r.flags.includes('TC')) flags.push('dns_truncated');
  if (r.rawRecords) flags.push('undecodable');
}

/**
 * The `dns` attribute group of a query and its response (either may be
 * missing); also what DNS over HTTPS exchanges carry. Adds the event flags
 * the response calls for to `flags`.
 */
export function dnsAttributes(q: DnsMessage | undefined, r: DnsMessage | undefined, flags: string[], answerCount?: number): Record<string, unknown> {
  const head = (r ?? q!);
  const question = (q?.questions[0] ?? r?.questions[0]);
  const edns = r?.edns ?? q?.edns;
  // The options a client sent (its subnet, cookie, padding) are its own data, not echoed in the response's OPT record.
  const queryEdns = r?.edns && q?.edns?.options ? q.edns : undefined;
  const queryRecords = q !== undefined && (q.answers.length > 0 || q.authority.length > 0 || q.additional.length > 0);
  if (r && question && edns && queryEdns === undefined && !queryRecords && !(q && q.questions.length > 1) && !r.authority.length && !r.additional.length && r.answers.length <= MAX_KEPT_RECORDS) {
    // The usual answer, built as one literal (same fields, same order as below).
    const dns = { id: head.id, opcode: head.opcode, flags: head.flags, question, response_code: rcodeName(r.rcode), answer_count: answerCount ?? r.answers.length, answers: r.answers, edns };
    responseFlags(r, flags);
    return dns;
  }
  const dns: Record<string, unknown> = { id: head.id, opcode: head.opcode, flags: head.flags };
  if (question) dns.question = question;
  if (q && q.questions.length > 1) dns.question_count = q.questions.length;
  if (r) {
    dns.response_code = rcodeName(r.rcode);
    dns.answer_count = answerCount ?? r.answers.length;
    dns.answers = section(r.answers, flags);
    if (r.authority.length) dns.authority = section(r.authority, flags);
    if (r.additional.length) dns.additional = section(r.additional, flags);
    responseFlags(r, flags);
  }
  if (queryRecords) {
    // What the request carried in its own record sections: an UPDATE's prerequisites and updates (RFC 2136
    // §2.4, §2.5), a NOTIFY's new SOA (RFC 1996 §3.7), an mDNS query's known answers and probe records
    // (RFC 6762 §7.1, §8.2), a TSIG or SIG(0) signature. A response hardly ever echoes them.
    if (q.answers.length) dns.query_answers = section(q.answers, flags);
    if (q.authority.length) dns.query_authority = section(q.authority, flags);
    if (q.additional.length) dns.query_additional = section(q.additional, flags);
    if (q.rawRecords && !flags.includes('undecodable')) flags.push('undecodable');
  }
  if (edns) dns.edns = edns;
  if (queryEdns) dns.query_edns = queryEdns;
  return dns;
}
