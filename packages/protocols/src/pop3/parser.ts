/**
 * One POP3 connection (RFC 1939, with CAPA and PIPELINING from RFC 2449,
 * SASL AUTH from RFC 5034 and STLS from RFC 2595). The server's greeting is a
 * message; every command is an exchange with its response, responses in order.
 * A +OK to RETR, TOP, CAPA, LIST or UIDL without a number (or AUTH without a
 * mechanism) goes on in lines up to one holding only ".", dot-stuffed as SMTP's
 * DATA is: the same reader unstuffs it, a retrieved message is parsed as
 * SMTP's message is, a listing into numbers and sizes or unique ids. AUTH runs
 * through its "+" challenges and the client's answers (counted, never kept:
 * only PLAIN's and LOGIN's user name is read); PASS's argument is never kept.
 * STLS answered +OK hands the connection to TLS, and with a key log the
 * session goes on inside it.
 */
import { sequential } from '@panopticon/events';
import type { CloseReason, Dir } from '@panopticon/flows';
import { CLOSE_FLAG } from '../close-flags.js';
import { commandRecord, queueCommand } from '../command-reply.js';
import { base64Text, saslUser } from '../sasl.js';
import { MessageCapture } from '../smtp/message.js';
import { SmtpReader } from '../smtp/reader.js';
import type { ParserContext, StreamParser } from '../types.js';
import { pop3Attributes, type ListingEntry, type Pop3Command, type Pop3Response } from './fields.js';

/** Header bytes of a retrieved message kept (the body gets maxBody). */
const MAX_HEADER = 64 * 1024;
/** Bytes of a listing, capability or mechanism response kept. */
const MAX_LIST_BYTES = 64 * 1024;
/** Entries of a listing, and lines of a capability list, kept; more are counted. */
const MAX_LISTING = 1000;
/** A number in a command or listing: RFC 1939 message numbers and octet counts, bounded to stay exact. */
const NUMBER = /^\d{1,15}$/;

/** The content of a multi-line +OK that is not a message: its lines, bounded. */
class LinesCapture {
  private chunks: Buffer[] = [];
  private size = 0;
  truncated = false;

  add(buf: Buffer, start: number, end: number): void {
    const room = MAX_LIST_BYTES - this.size;
    if (end - start > room) {
      this.truncated = true;
      end = start + Math.max(0, room);
    }
    if (end <= start) return;
    this.chunks.push(Buffer.from(buf.subarray(start, end)));
    this.size += end - start;
  }

  lines(): string[] {
    const text = Buffer.concat(this.chunks).toString('utf8');
    const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
    // the text ends with its last line's line end; a cut one ends inside a line, which is dropped
    lines.pop();
    return lines;
  }
}

/** A multi-line response being read: its command, its status line, and where its content goes. */
interface MultiLine {
  cmd: Pop3Command;
  resp: Pop3Response;
  message?: MessageCapture;
  lines?: LinesCapture;
}

export class Pop3Parser implements StreamParser {
  private readonly readers: [SmtpReader, SmtpReader];
  private readonly pending: Pop3Command[] = [];
  private greeted: boolean;
  /** AUTH waits for the client's answer to a "+" challenge. */
  private authAnswerDue = false;
  /** The multi-line response being read. */
  private multi: MultiLine | undefined;
  /** The rest of a multi-line response that lost bytes: not kept. */
  private discarding = false;

  static resumed(ctx: ParserContext): Pop3Parser {
    // inside TLS after STLS: no new greeting comes (RFC 2595 §4), the client goes on with its commands
    return new Pop3Parser(ctx, true);
  }

  constructor(
    private readonly ctx: ParserContext,
    greeted = false,
  ) {
    this.greeted = greeted || ctx.conn.midstream;
    this.readers = [
      new SmtpReader({
        line: (buf, start, end, tsNs) => this.clientLine(buf, start, end, tsNs),
        content: () => {},
        contentEnd: () => {},
        damaged: () => this.ctx.count('pop3.malformed'),
      }),
      new SmtpReader({
        line: (buf, start, end, tsNs) => this.serverLine(buf, start, end, tsNs),
        content: (buf, start, end) => this.content(buf, start, end),
        contentEnd: (tsNs) => this.contentEnd(tsNs),
        damaged: () => this.ctx.count('pop3.malformed'),
      }),
    ];
    if (ctx.conn.midstream) for (const r of this.readers) r.resync();
  }

  data(dir: Dir, chunk: Buffer, tsNs: bigint): void {
    this.readers[dir].push(chunk, tsNs);
  }

  gap(dir: Dir, length: number, _tsNs: bigint): void {
    this.ctx.count('pop3.gaps');
    const inContent = dir === 1 && this.readers[1].inData;
    this.readers[dir].gap(length);
    if (inContent && this.multi) {
      // the response lost bytes: what came before them is kept, flagged, and the rest (up to its "."
      // line, which the reader still finds) is passed over
      this.multi.cmd.flags.push('gap');
      this.finishContent(this.multi);
      this.discarding = true;
    }
  }

  end(_dir: Dir, _tsNs: bigint): void {}

  close(reason: CloseReason, _tsNs: bigint): void {
    const flag = CLOSE_FLAG[reason];
    const m = this.multi;
    if (m) {
      // the connection ended inside a multi-line response: what came of it is reported, flagged
      this.multi = undefined;
      if (!this.discarding) this.finishContent(m);
      this.pending.shift();
      this.emit('exchange', m.cmd, m.resp, ['response_incomplete', flag]);
    }
    for (const c of this.pending.splice(0)) this.emit(c.verb === 'QUIT' ? 'message' : 'unanswered', c, undefined, [flag]);
  }

  // --- the client ----------------------------------------------------------

  private clientLine(buf: Buffer, start: number, end: number, tsNs: bigint): void {
    const line = buf.toString('utf8', start, end);
    const head = this.pending[0];
    if (this.authAnswerDue && head?.verb === 'AUTH') {
      // an answer to a "+" challenge: base64, a credential (or "*", cancelling); LOGIN's first is the user name
      this.authAnswerDue = false;
      head.bytes += end - start + 2;
      head.endNs = tsNs;
      const auth = head.auth!;
      if (auth.username === undefined) {
        if (auth.mechanism === 'LOGIN' && auth.steps === 1) auth.username = base64Text(line);
        else if (auth.mechanism === 'PLAIN') auth.username = saslUser('PLAIN', line, false);
        if (auth.username !== undefined) head.username = auth.username;
      }
      return;
    }
    const sp = line.indexOf(' ');
    const verb = (sp < 0 ? line : line.slice(0, sp)).toUpperCase();
    const args = sp < 0 ? '' : line.slice(sp + 1);
    const c: Pop3Command = { verb, args, startNs: tsNs, endNs: tsNs, bytes: end - start + 2, challengeBytes: 0, flags: [] };
    switch (verb) {
      case 'USER':
        c.username = args;
        break;
      case 'PASS':
        // the password: never kept
        c.args = '';
        break;
      case 'APOP': {
        // APOP <name> <digest>: the digest is MD5 of the greeting's timestamp and the secret
        const name = args.split(' ')[0] ?? '';
        c.args = name;
        c.username = name;
        break;
      }
      case 'AUTH': {
        // AUTH <mechanism> [initial-response]: only the mechanism is shown
        const [mechanism = '', initial] = args.split(' ');
        c.args = mechanism;
        if (mechanism) {
          c.auth = { mechanism: mechanism.toUpperCase(), steps: 0 };
          if (initial !== undefined && initial !== '=') c.auth.username = saslUser(c.auth.mechanism, initial, true);
          if (c.auth.username !== undefined) c.username = c.auth.username;
        }
        break;
      }
      case 'RETR':
      case 'TOP':
      case 'DELE':
      case 'LIST':
      case 'UIDL': {
        const n = args.split(' ')[0] ?? '';
        if (NUMBER.test(n)) c.messageNumber = Number(n);
        break;
      }
    }
    queueCommand(this.ctx, 'pop3', this.pending, c, (old) => this.emit('unanswered', old, undefined, ['evicted']));
  }

  // --- the server ----------------------------------------------------------

  private serverLine(buf: Buffer, start: number, end: number, tsNs: bigint): void {
    const line = buf.toString('utf8', start, end);
    const status = statusOf(line);
    if (status === undefined) {
      this.ctx.count('pop3.malformed_responses');
      return;
    }
    const bytes = end - start + 2;
    if (status === 'continue') {
      const head = this.pending[0];
      if (head?.verb === 'AUTH' && head.auth) {
        head.auth.steps++;
        head.challengeBytes += bytes;
        this.authAnswerDue = true;
        return;
      }
      this.ctx.count('pop3.malformed_responses');
      return;
    }
    const r: Pop3Response = { ok: status === 'ok', text: textOf(line), startNs: tsNs, endNs: tsNs, bytes };
    if (!this.greeted) {
      this.greeted = true;
      this.emit('message', undefined, r, []);
      return;
    }
    const c = this.pending[0];
    if (!c) {
      this.emit('orphan_response', undefined, r, []);
      return;
    }
    if (c.verb === 'AUTH') this.authAnswerDue = false;
    if (r.ok && multiLine(c)) {
      const m: MultiLine = { cmd: c, resp: r };
      if (c.verb === 'RETR' || c.verb === 'TOP') m.message = new MessageCapture(MAX_HEADER, this.ctx.options.maxBody);
      else m.lines = new LinesCapture();
      this.multi = m;
      this.readers[1].startData();
      return;
    }
    this.pending.shift();
    if (r.ok) this.singleLine(c, r);
    this.emit('exchange', c, r, []);
    if (c.verb === 'STLS' && r.ok) {
      this.pending.length = 0;
      this.ctx.handoff('tls', [], { carried: { name: 'pop3', parser: (ctx) => Pop3Parser.resumed(ctx) } });
    }
  }

  /** What a one-line +OK says beyond its text: STAT's count and size, LIST n's size, UIDL n's id. */
  private singleLine(c: Pop3Command, r: Pop3Response): void {
    const [a = '', b = ''] = r.text.split(' ');
    if (c.verb === 'STAT' && NUMBER.test(a) && NUMBER.test(b)) c.maildrop = { messages: Number(a), size: Number(b) };
    else if ((c.verb === 'LIST' || c.verb === 'UIDL') && c.messageNumber !== undefined) {
      const e = entry(c.verb, a, b);
      if (e) c.listing = [e];
    }
  }

  private content(buf: Buffer, start: number, end: number): void {
    const m = this.multi;
    if (!m) return;
    m.resp.bytes += end - start;
    if (this.discarding) return;
    if (m.message) m.message.add(buf, start, end);
    else m.lines!.add(buf, start, end);
  }

  private contentEnd(tsNs: bigint): void {
    const m = this.multi;
    this.multi = undefined;
    if (!m) return;
    m.resp.endNs = tsNs;
    m.resp.bytes += 3;
    if (this.discarding) this.discarding = false;
    else this.finishContent(m);
    this.pending.shift();
    this.emit('exchange', m.cmd, m.resp, []);
  }

  /** A multi-line response's content, parsed by what its command asked for. */
  private finishContent(m: MultiLine): void {
    const c = m.cmd;
    if (m.message) {
      c.message = m.message.parse();
      return;
    }
    const cap = m.lines!;
    if (cap.truncated) c.flags.push('truncated');
    const lines = cap.lines();
    if (c.verb === 'LIST' || c.verb === 'UIDL') {
      const listing: ListingEntry[] = [];
      for (const l of lines) {
        const [a = '', b = ''] = l.split(' ');
        const e = entry(c.verb, a, b);
        if (!e) {
          this.ctx.count('pop3.malformed_listing_lines');
          continue;
        }
        if (listing.length < MAX_LISTING) listing.push(e);
        else {
          this.ctx.count('pop3.listing_dropped');
          if (!c.flags.includes('truncated')) c.flags.push('truncated');
        }
      }
      c.listing = listing;
      return;
    }
    if (lines.length > MAX_LISTING) {
      this.ctx.count('pop3.listing_dropped', lines.length - MAX_LISTING);
      if (!c.flags.includes('truncated')) c.flags.push('truncated');
      lines.length = MAX_LISTING;
    }
    // CAPA lists capabilities; AUTH without a mechanism lists the mechanisms (as Dovecot and Outlook do)
    c.capabilities = lines;
  }

  // --- events --------------------------------------------------------------

  private emit(kind: 'exchange' | 'message' | 'unanswered' | 'orphan_response', c: Pop3Command | undefined, r: Pop3Response | undefined, flags: string[]): void {
    const f = pop3Attributes(c, r, kind === 'message' && !c);
    this.ctx.emit(commandRecord(kind, c, r, f.attributes, [...flags, ...(c?.flags ?? []), ...f.flags], c?.challengeBytes));
  }
}

/** +OK, -ERR, or a SASL challenge ("+" alone or "+ " and base64); undefined for anything else. */
function statusOf(line: string): 'ok' | 'err' | 'continue' | undefined {
  const c = line.charCodeAt(0);
  if (c === 0x2b /* + */) {
    if (line.length === 1 || line.charCodeAt(1) === 0x20) return 'continue';
    if ((line.charCodeAt(1) | 0x20) === 0x6f && (line.charCodeAt(2) | 0x20) === 0x6b && (line.length === 3 || line.charCodeAt(3) === 0x20)) return 'ok';
    return undefined;
  }
  if (c === 0x2d /* - */ && /^-ERR(?: |$)/i.test(line)) return 'err';
  return undefined;
}

/** A status line's text: after "+OK" or "-ERR" and one space. */
function textOf(line: string): string {
  const sp = line.indexOf(' ');
  return sp < 0 ? '' : line.slice(sp + 1);
}

/** Whether a +OK to `c` goes on in lines up to ".": RFC 1939 §5-7, RFC 2449 §5 (CAPA). */
function multiLine(c: Pop3Command): boolean {
  switch (c.verb) {
    case 'RETR':
    case 'TOP':
    case 'CAPA':
      return true;
    case 'LIST':
    case 'UIDL':
      return c.args === '';
    case 'AUTH':
      return c.args === '';
    default:
      return false;
  }
}

/** One listing line: LIST's "n octets", UIDL's "n unique-id" (RFC 1939 §7: 0x21-0x7E, up to 70 characters). */
function entry(verb: string, a: string, b: string): ListingEntry | undefined {
  if (!NUMBER.test(a) || !b) return undefined;
  if (verb === 'LIST') return NUMBER.test(b) ? { number: Number(a), size: Number(b) } : undefined;
  // its own string, not a slice of the line (ADR 0007)
  return { number: Number(a), uid: sequential(b) };
}
