/**
 * One SMTP connection (RFC 5321, with PIPELINING, CHUNKING, AUTH and
 * STARTTLS). The server's greeting is a message; every command is an
 * exchange with its reply, replies in order (RFC 2920). DATA's exchange runs
 * from the command through the 354, the message and the final reply; AUTH's
 * through its 334 challenges and the client's answers to them (counted, never
 * kept: only PLAIN's and LOGIN's user name is read) to 235 or 5xx. A
 * transaction's MAIL FROM and RCPT TO are the envelope of the message that
 * ends it. STARTTLS answered 220 hands the connection to TLS, and with a key
 * log the session goes on inside it, as SMTP.
 */
import type { CloseReason, Dir } from '@panopticon/flows';
import { CLOSE_FLAG } from '../close-flags.js';
import { commandRecord, queueCommand } from '../command-reply.js';
import type { ParserContext, StreamParser } from '../types.js';
import { smtpAttributes, type SmtpCommand, type SmtpReply } from './fields.js';
import { MessageCapture } from './message.js';
import { SmtpReader } from './reader.js';
import { base64Text, saslUser } from '../sasl.js';

/** Header bytes of a message kept (the body gets maxBody). */
const MAX_HEADER = 64 * 1024;
/** Recipients kept per transaction; more are counted. */
const MAX_RCPT = 100;
/** Lines of one reply kept. */
const MAX_REPLY_LINES = 64;

export class SmtpParser implements StreamParser {
  private readonly readers: [SmtpReader, SmtpReader];
  private readonly pending: SmtpCommand[] = [];
  /** The reply being read: its lines so far. */
  private reply: SmtpReply | undefined;
  private greeted: boolean;
  /** The current transaction's envelope. */
  private mailFrom: string | undefined;
  private rcptTo: string[] = [];
  /** The message being sent (DATA, or BDAT chunks up to LAST). */
  private message: MessageCapture | undefined;
  /** AUTH waits for the client's answer to a 334. */
  private authAnswerDue = false;

  static resumed(ctx: ParserContext): SmtpParser {
    // inside TLS after STARTTLS: no new greeting comes (RFC 3207 §4.2), the client starts again with EHLO
    return new SmtpParser(ctx, true);
  }

  constructor(
    private readonly ctx: ParserContext,
    greeted = false,
  ) {
    this.greeted = greeted || ctx.conn.midstream;
    this.readers = [new SmtpReader(this.clientSink()), new SmtpReader(this.serverSink())];
    if (ctx.conn.midstream) for (const r of this.readers) r.resync();
  }

  data(dir: Dir, chunk: Buffer, tsNs: bigint): void {
    this.readers[dir].push(chunk, tsNs);
  }

  gap(dir: Dir, length: number, _tsNs: bigint): void {
    this.ctx.count('smtp.gaps');
    const inMessage = dir === 0 && this.readers[0].inData;
    this.readers[dir].gap(length);
    if (inMessage) {
      // the message lost bytes: its exchange is reported with what came before them, flagged, and
      // the rest of the message (up to its end, which the reader still finds) is passed over
      const cmd = this.messageCommand();
      if (cmd) cmd.flags.push('gap');
      this.message ??= new MessageCapture(MAX_HEADER, this.ctx.options.maxBody);
      this.finishMessage();
      this.discarding = true;
    }
    if (dir === 1) this.reply = undefined;
  }

  /** The rest of a message that lost bytes: not kept. */
  private discarding = false;

  end(_dir: Dir, _tsNs: bigint): void {}

  close(reason: CloseReason, _tsNs: bigint): void {
    if (this.message || this.readers[0].inData) {
      // the connection ended inside a message: what came of it is reported, flagged
      const cmd = this.messageCommand();
      if (cmd) cmd.flags.push('message_incomplete');
      this.message ??= new MessageCapture(MAX_HEADER, this.ctx.options.maxBody);
      this.finishMessage();
    }
    const flag = CLOSE_FLAG[reason];
    for (const c of this.pending.splice(0)) {
      if (c.message) c.envelope = this.envelope();
      this.emit(c.verb === 'QUIT' ? 'message' : 'unanswered', c, undefined, [flag]);
    }
  }

  // --- the client ----------------------------------------------------------

  private clientSink() {
    return {
      line: (buf: Buffer, start: number, end: number, tsNs: bigint) => this.clientLine(buf, start, end, tsNs),
      content: (buf: Buffer, start: number, end: number, _tsNs: bigint) => {
        if (this.discarding) return;
        this.message ??= new MessageCapture(MAX_HEADER, this.ctx.options.maxBody);
        this.message.add(buf, start, end);
        const cmd = this.pending[this.pending.length - 1];
        if (cmd) cmd.bytes += end - start;
      },
      contentEnd: (tsNs: bigint) => {
        if (this.discarding) {
          this.discarding = false;
          return;
        }
        const cmd = this.pending[this.pending.length - 1];
        if (cmd) cmd.endNs = tsNs;
        // a BDAT chunk that is not the LAST one ends nothing but itself
        if (cmd?.verb === 'BDAT' && !cmd.last) return;
        if (cmd?.verb === 'DATA') cmd.bytes += 3;
        this.finishMessage();
      },
      damaged: () => this.ctx.count('smtp.malformed'),
    };
  }

  private clientLine(buf: Buffer, start: number, end: number, tsNs: bigint): void {
    const line = buf.toString('utf8', start, end);
    const head = this.pending[0];
    if (this.authAnswerDue && head?.verb === 'AUTH') {
      // an answer to a 334: base64, a credential; LOGIN's first is the user name
      this.authAnswerDue = false;
      head.bytes += end - start + 2;
      head.endNs = tsNs;
      const auth = head.auth;
      if (auth && auth.username === undefined) {
        if (auth.mechanism === 'LOGIN' && auth.steps === 1) auth.username = base64Text(line);
        else if (auth.mechanism === 'PLAIN') auth.username = saslUser('PLAIN', line, false);
      }
      return;
    }
    const sp = line.indexOf(' ');
    const verb = (sp < 0 ? line : line.slice(0, sp)).toUpperCase();
    const args = sp < 0 ? '' : line.slice(sp + 1);
    const c: SmtpCommand = { verb, args, startNs: tsNs, endNs: tsNs, bytes: end - start + 2, flags: [] };
    switch (verb) {
      case 'MAIL':
        c.mailFrom = address(args);
        break;
      case 'RCPT':
        c.rcptTo = address(args);
        break;
      case 'AUTH': {
        // AUTH <mechanism> [initial-response]: only the mechanism is shown
        const [mechanism = '', initial] = args.split(' ');
        c.args = mechanism;
        c.auth = { mechanism: mechanism.toUpperCase(), steps: 0 };
        if (initial !== undefined && initial !== '=') c.auth.username = saslUser(c.auth.mechanism, initial, true);
        break;
      }
      case 'DATA':
        this.readers[0].startData();
        break;
      case 'BDAT': {
        // BDAT <size> [LAST]: the chunk follows the line at once
        const [size, last] = args.split(' ');
        const n = /^\d{1,10}$/.test(size ?? '') ? Number(size) : -1;
        if (last?.toUpperCase() === 'LAST') c.last = true;
        this.queue(c);
        if (n > 0) this.readers[0].startChunk(n);
        else if (n === 0 && c.last) {
          // a zero-size LAST chunk ends the message at once
          this.message ??= new MessageCapture(MAX_HEADER, this.ctx.options.maxBody);
          this.finishMessage();
        }
        return;
      }
    }
    this.queue(c);
  }

  private envelope(): { mail_from?: string; rcpt_to: string[] } {
    return this.mailFrom === undefined ? { rcpt_to: [...this.rcptTo] } : { mail_from: this.mailFrom, rcpt_to: [...this.rcptTo] };
  }

  private queue(c: SmtpCommand): void {
    queueCommand(this.ctx, 'smtp', this.pending, c, (old) => this.emit('unanswered', old, undefined, ['evicted']));
  }

  /** The message ended: it goes to its DATA or BDAT command, which waits for the final reply. */
  private finishMessage(): void {
    const m = this.message;
    this.message = undefined;
    if (!m) return;
    const cmd = this.messageCommand();
    if (cmd) cmd.message = m.parse();
  }

  /** The DATA or BDAT command a message being sent belongs to: the last one waiting. */
  private messageCommand(): SmtpCommand | undefined {
    for (let i = this.pending.length - 1; i >= 0; i--) {
      const c = this.pending[i]!;
      if (c.verb === 'DATA' || c.verb === 'BDAT') return c;
    }
    return undefined;
  }

  // --- the server ----------------------------------------------------------

  private serverSink() {
    return {
      line: (buf: Buffer, start: number, end: number, tsNs: bigint) => this.serverLine(buf, start, end, tsNs),
      content: () => {},
      contentEnd: () => {},
      damaged: () => this.ctx.count('smtp.malformed'),
    };
  }

  private serverLine(buf: Buffer, start: number, end: number, tsNs: bigint): void {
    const line = buf.toString('utf8', start, end);
    const m = /^(\d{3})([ -]?)(.*)$/.exec(line);
    if (!m) {
      this.ctx.count('smtp.malformed_replies');
      return;
    }
    const r = (this.reply ??= { code: Number(m[1]), lines: [], startNs: tsNs, endNs: tsNs, bytes: 0 });
    r.bytes += end - start + 2;
    r.endNs = tsNs;
    if (r.lines.length < MAX_REPLY_LINES) r.lines.push(m[3]!);
    if (m[2] === '-') return;
    this.reply = undefined;
    this.onReply(r);
  }

  private onReply(r: SmtpReply): void {
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
    if (c.verb === 'DATA' && r.code === 354 && !c.intermediate) {
      c.intermediate = r;
      return;
    }
    // DATA refused (no valid recipients ...): no message follows
    if (c.verb === 'DATA' && !c.intermediate) this.readers[0].cancelData();
    if (c.verb === 'AUTH' && r.code === 334) {
      c.auth!.steps++;
      this.authAnswerDue = true;
      return;
    }
    this.pending.shift();
    if (c.verb === 'AUTH') this.authAnswerDue = false;
    // the envelope as the replies before this one left it (pipelined MAIL and RCPT are answered first)
    if (c.message) c.envelope = this.envelope();
    this.emit('exchange', c, r, []);
    this.afterReply(c, r);
  }

  /** What a reply changes: the transaction's envelope, and STARTTLS's switch. */
  private afterReply(c: SmtpCommand, r: SmtpReply): void {
    const ok = r.code >= 200 && r.code < 300;
    switch (c.verb) {
      case 'MAIL':
        if (ok) {
          this.mailFrom = c.mailFrom;
          this.rcptTo = [];
        }
        break;
      case 'RCPT':
        if (ok && c.rcptTo !== undefined) {
          if (this.rcptTo.length < MAX_RCPT) this.rcptTo.push(c.rcptTo);
          else this.ctx.count('smtp.recipients_dropped');
        }
        break;
      case 'DATA':
      case 'RSET':
      case 'EHLO':
      case 'HELO':
        if (c.verb !== 'DATA' || c.intermediate) {
          this.mailFrom = undefined;
          this.rcptTo = [];
        }
        break;
      case 'BDAT':
        if (c.last) {
          this.mailFrom = undefined;
          this.rcptTo = [];
        }
        break;
      case 'STARTTLS':
        if (r.code === 220) {
          this.pending.length = 0;
          this.ctx.handoff('tls', [], { carried: { name: 'smtp', parser: (ctx) => SmtpParser.resumed(ctx) } });
        }
        break;
    }
  }

  // --- events --------------------------------------------------------------

  private emit(kind: 'exchange' | 'message' | 'unanswered' | 'orphan_response', c: SmtpCommand | undefined, r: SmtpReply | undefined, flags: string[]): void {
    const f = smtpAttributes(c, r, kind === 'message' && !c);
    this.ctx.emit(commandRecord(kind, c, r, f.attributes, [...flags, ...(c?.flags ?? []), ...f.flags], c?.intermediate?.bytes));
  }
}

/** The address of `FROM:<a@b> SIZE=10` or `TO:<a@b>` (angle brackets, or a bare address as lax clients write it). */
function address(args: string): string | undefined {
  const m = /^(?:FROM|TO)\s*:\s*(?:<([^>]*)>|(\S+))/i.exec(args);
  if (!m) return undefined;
  return m[1] ?? m[2];
}
