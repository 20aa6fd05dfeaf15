/**
 * One LDAP connection (RFC 4511): requests and responses paired by message
 * id (operations may be outstanding at once and answered in any order). Every
 * request that has a response is an exchange that ends with its final
 * response; a search's exchange collects the entries and references returned
 * before its SearchResultDone. Unbind and Abandon are messages (no response
 * comes), and an abandoned operation is reported unanswered; the Notice of
 * Disconnection is a message. StartTLS answered with success hands the
 * connection to TLS, and with a key log the session goes on inside it. A
 * successful SASL bind whose mechanism can negotiate a security layer
 * (GSSAPI, GSS-SPNEGO, DIGEST-MD5) may wrap what follows: bytes that are not
 * LDAP after it end the parse of the connection, said once.
 */
import type { CloseReason, Dir } from '@panopticon/flows';
import { CLOSE_FLAG } from '../close-flags.js';
import type { ParserContext, StreamParser } from '../types.js';
import { BerError } from './ber.js';
import {
  ABANDON_REQUEST, BIND_REQUEST, BIND_RESPONSE, EXTENDED_REQUEST, EXTENDED_RESPONSE, FINAL_RESPONSES, INTERMEDIATE_RESPONSE,
  OID_NOTICE_OF_DISCONNECTION, OID_START_TLS, REQUESTS, SEARCH_RESULT_ENTRY, SEARCH_RESULT_REFERENCE,
} from './constants.js';
import { ldapAttributes, type LdapExchange } from './fields.js';
import { LdapFramer } from './framer.js';
import { decodeMessage, type LdapMessage } from './messages.js';

/** A message larger than this is skipped (counted, its exchange flagged): a search entry with a large photo. */
const MAX_MESSAGE = 2 * 1024 * 1024;
/** Entries of one search kept; more are counted (`ldap.entry_count`). */
const MAX_ENTRIES = 100;
/** References of one search kept. */
const MAX_REFERENCES = 100;
/** SASL mechanisms that can negotiate integrity or confidentiality, after which the stream may be wrapped. */
const SECURITY_LAYER = /^(?:GSSAPI|GSS-SPNEGO|DIGEST-MD5)$/i;

export class LdapParser implements StreamParser {
  private readonly framers: [LdapFramer, LdapFramer];
  /** Exchanges waiting for their final response, by message id, oldest first. */
  private readonly pending = new Map<number, LdapExchange>();
  /** A SASL bind that may have installed a security layer succeeded: non-LDAP bytes end the parse quietly. */
  private maybeWrapped = false;
  private stopped = false;

  static resumed(ctx: ParserContext): LdapParser {
    return new LdapParser(ctx);
  }

  constructor(private readonly ctx: ParserContext) {
    this.framers = [this.framer(0), this.framer(1)];
  }

  private framer(dir: Dir): LdapFramer {
    return new LdapFramer(
      {
        message: (buf, start, end, tsNs) => this.message(dir, buf, start, end, tsNs),
        oversized: (id, op, size) => this.oversized(dir, id, op, size),
        damaged: (_reason, bytes) => this.damaged(bytes),
      },
      MAX_MESSAGE,
    );
  }

  data(dir: Dir, chunk: Buffer, tsNs: bigint): void {
    if (this.stopped) return;
    this.framers[dir].push(chunk, tsNs);
  }

  gap(dir: Dir, length: number, _tsNs: bigint): void {
    this.ctx.count('ldap.gaps');
    this.framers[dir].gap(length);
    // a response side gap may have taken entries or a final response: every waiting exchange says so
    if (dir === 1) for (const x of this.pending.values()) if (!x.flags.includes('gap')) x.flags.push('gap');
  }

  end(_dir: Dir, _tsNs: bigint): void {}

  close(reason: CloseReason, _tsNs: bigint): void {
    const flag = CLOSE_FLAG[reason];
    for (const x of this.pending.values()) this.emit(x.request ? 'unanswered' : 'orphan_response', x, [flag]);
    this.pending.clear();
  }

  private damaged(bytes: number): void {
    if (this.maybeWrapped) {
      // after GSSAPI/DIGEST-MD5 with a security layer the stream is SASL-wrapped: nothing more to read
      this.stopped = true;
      this.ctx.abandon('SASL security layer');
      return;
    }
    this.ctx.count('ldap.malformed');
    this.ctx.count('ldap.skipped_bytes', bytes);
  }

  private oversized(dir: Dir, id: number, op: number, size: number): void {
    this.ctx.count('ldap.oversized_messages');
    this.ctx.count('ldap.skipped_bytes', size);
    const x = this.pending.get(id);
    if (!x) return;
    if (!x.flags.includes('oversized')) x.flags.push('oversized');
    if (dir === 1) {
      x.responseBytes += size;
      if (op === SEARCH_RESULT_ENTRY) x.entryCount++;
    } else x.requestBytes += size;
  }

  private message(dir: Dir, buf: Buffer, start: number, end: number, tsNs: bigint): void {
    let m: LdapMessage;
    try {
      m = decodeMessage(buf, start, end);
    } catch (e) {
      if (!(e instanceof BerError)) throw e;
      this.ctx.count('ldap.malformed_messages');
      return;
    }
    this.maybeWrapped = false;
    if (dir === 0) this.request(m, end - start, tsNs);
    else this.response(m, end - start, tsNs);
  }

  private request(m: LdapMessage, bytes: number, tsNs: bigint): void {
    const op = REQUESTS[m.op];
    if (!op) {
      this.ctx.count('ldap.unexpected_messages');
      return;
    }
    const x: LdapExchange = { id: m.id, request: m, entries: [], entryCount: 0, references: [], startNs: tsNs, endNs: tsNs, requestBytes: bytes, responseBytes: 0, flags: [] };
    if (!op.answered) {
      this.emit('message', x, []);
      if (m.op === ABANDON_REQUEST && m.abandonId !== undefined) {
        const gone = this.pending.get(m.abandonId);
        if (gone) {
          this.pending.delete(m.abandonId);
          this.emit('unanswered', gone, ['abandoned']);
        }
      }
      return;
    }
    const before = this.pending.get(m.id);
    if (before) {
      // a message id in use again before its answer: the first is reported as it is
      this.pending.delete(m.id);
      this.emit(before.request ? 'unanswered' : 'orphan_response', before, ['id_reused']);
    }
    if (this.pending.size >= this.ctx.options.maxPending) {
      this.ctx.count('ldap.pending_overflow');
      const [oldest] = this.pending.values();
      this.pending.delete(oldest!.id);
      this.emit('unanswered', oldest!, ['evicted']);
    }
    this.pending.set(m.id, x);
  }

  private response(m: LdapMessage, bytes: number, tsNs: bigint): void {
    if (m.id === 0 && m.op === EXTENDED_RESPONSE) {
      // unsolicited: the Notice of Disconnection (RFC 4511 §4.4.1)
      const x: LdapExchange = { id: 0, entries: [], entryCount: 0, references: [], final: m, startNs: tsNs, endNs: tsNs, requestBytes: 0, responseBytes: bytes, flags: [] };
      this.emit('message', x, m.responseName === OID_NOTICE_OF_DISCONNECTION ? [] : ['unsolicited']);
      return;
    }
    let x = this.pending.get(m.id);
    if (!x) {
      // its request was not seen (joined mid-session): what comes for it is gathered all the same
      x = { id: m.id, entries: [], entryCount: 0, references: [], startNs: tsNs, endNs: tsNs, requestBytes: 0, responseBytes: 0, flags: [] };
      this.pending.set(m.id, x);
    }
    x.responseBytes += bytes;
    x.endNs = tsNs;
    if ((m.valuesDropped || m.valuesCut) && !x.flags.includes('truncated')) x.flags.push('truncated');
    switch (m.op) {
      case SEARCH_RESULT_ENTRY:
        x.entryCount++;
        if (x.entries.length < MAX_ENTRIES) x.entries.push({ dn: m.dn!, attributes: m.attributes! });
        else this.ctx.count('ldap.entries_dropped');
        return;
      case SEARCH_RESULT_REFERENCE:
        for (const r of m.references ?? []) if (x.references.length < MAX_REFERENCES) x.references.push(r);
        return;
      case INTERMEDIATE_RESPONSE:
        return;
    }
    if (!FINAL_RESPONSES.has(m.op)) {
      this.ctx.count('ldap.unexpected_messages');
      return;
    }
    x.final = m;
    this.pending.delete(m.id);
    this.emit(x.request ? 'exchange' : 'orphan_response', x, []);
    const q = x.request;
    const ok = m.result?.code === 0;
    if (q?.op === BIND_REQUEST && m.op === BIND_RESPONSE && ok && q.bind?.mechanism && SECURITY_LAYER.test(q.bind.mechanism)) this.maybeWrapped = true;
    if (q?.op === EXTENDED_REQUEST && q.extended?.oid === OID_START_TLS && ok) {
      this.pending.clear();
      this.stopped = true;
      this.ctx.handoff('tls', [], { carried: { name: 'ldap', parser: (ctx) => LdapParser.resumed(ctx) } });
    }
  }

  private emit(kind: 'exchange' | 'message' | 'unanswered' | 'orphan_response', x: LdapExchange, flags: string[]): void {
    const f = ldapAttributes(x);
    const all = [...new Set([...flags, ...x.flags, ...f.flags])];
    this.ctx.emit({
      kind,
      startNs: x.startNs,
      endNs: x.endNs,
      ...(x.request ? { requestBytes: x.requestBytes } : {}),
      ...(x.final || x.responseBytes ? { responseBytes: x.responseBytes } : {}),
      attributes: f.attributes,
      ...(all.length ? { flags: all } : {}),
    });
  }
}

