/**
 * One FTP control connection (RFC 959, with RFC 2428's EPSV and EPRT, RFC
 * 2389's FEAT and RFC 4217's AUTH TLS). The greeting is a message; every
 * command is an exchange with its reply, replies in order; a transfer's
 * (RETR, STOR, LIST ...) runs from the command through its 150 to the final
 * 226 or failure. PASV's and EPSV's replies and PORT's and EPRT's arguments
 * announce where the data connection will be opened: the dispatcher gives
 * that connection to an FTP data parser (`data.ts`), which takes the transfer
 * it carries from this session (`claimTransfer`). PASS's and ACCT's arguments
 * are never kept. AUTH TLS answered 234 hands the connection to TLS, and with
 * a key log the session goes on inside it.
 */
import { sequential } from '@panopticon/events';
import type { CloseReason, Dir } from '@panopticon/flows';
import { CLOSE_FLAG } from '../close-flags.js';
import { commandRecord, queueCommand } from '../command-reply.js';
import { LineSplitter } from '../lines.js';
import type { ParserContext, StreamParser } from '../types.js';
import { FtpDataParser } from './data.js';
import { epsvPort, eprt, hostPort, type Endpoint } from './endpoints.js';

/** RFC 959 puts no limit on a line; servers cap theirs near 512 bytes. A longer one is damage. */
const MAX_LINE = 8 * 1024;
/** Lines of one reply kept (FEAT, HELP and STAT answers run long). */
const MAX_REPLY_LINES = 64;
/** Transfer commands waiting for their data connection to claim them. */
const MAX_UNCLAIMED = 16;

/** Commands that move data over a data connection, and which way. */
const TRANSFERS: Readonly<Record<string, 'download' | 'upload' | 'listing'>> = {
  RETR: 'download', STOR: 'upload', STOU: 'upload', APPE: 'upload', LIST: 'listing', NLST: 'listing', MLSD: 'listing',
};

export interface FtpReply {
  code: number;
  lines: string[];
  startNs: bigint;
  endNs: bigint;
  bytes: number;
}

export interface FtpCommand {
  verb: string;
  args: string;
  startNs: bigint;
  endNs: bigint;
  bytes: number;
  /** A transfer's 150/125 before its final reply. */
  preliminary?: FtpReply;
  /** Where the data connection will be: PASV/EPSV's reply, PORT/EPRT's argument. */
  dataEndpoint?: Endpoint & { mode: 'passive' | 'active' };
  /** A transfer command's entry among those waiting for their data connection. */
  transfer?: Transfer;
}

/** A transfer command as its data connection reports it. */
export interface Transfer {
  command: string;
  path?: string;
  direction: 'download' | 'upload' | 'listing';
}

export class FtpParser implements StreamParser {
  private readonly lines: [LineSplitter, LineSplitter];
  private readonly pending: FtpCommand[] = [];
  private reply: FtpReply | undefined;
  private greeted: boolean;
  /** Transfer commands sent, oldest first, not yet claimed by a data connection. */
  private readonly unclaimed: Transfer[] = [];

  static resumed(ctx: ParserContext): FtpParser {
    // inside TLS after AUTH TLS: no new greeting comes (RFC 4217 §4)
    return new FtpParser(ctx, true);
  }

  constructor(
    private readonly ctx: ParserContext,
    greeted = false,
  ) {
    this.greeted = greeted || ctx.conn.midstream;
    const damaged = () => this.ctx.count('ftp.malformed');
    this.lines = [new LineSplitter(MAX_LINE, damaged), new LineSplitter(MAX_LINE, damaged)];
    if (ctx.conn.midstream) for (const l of this.lines) l.skipLine();
  }

  data(dir: Dir, chunk: Buffer, tsNs: bigint): void {
    const l = this.lines[dir];
    const buf = l.join(chunk);
    let off = 0;
    while (off < buf.length) {
      const next = l.next(buf, off);
      if (next < 0) return;
      off = next;
      const line = buf.toString('utf8', l.start, l.end);
      const bytes = next - l.start;
      if (dir === 0) this.command(line, bytes, tsNs);
      else this.replyLine(line, bytes, tsNs);
    }
  }

  gap(dir: Dir, _length: number, _tsNs: bigint): void {
    this.ctx.count('ftp.gaps');
    this.lines[dir].skipLine();
    if (dir === 1) this.reply = undefined;
  }

  end(_dir: Dir, _tsNs: bigint): void {}

  close(reason: CloseReason, _tsNs: bigint): void {
    const flag = CLOSE_FLAG[reason];
    for (const c of this.pending.splice(0)) this.emit(c.verb === 'QUIT' ? 'message' : 'unanswered', c, undefined, [flag]);
  }

  /** The data connection's transfer: the oldest transfer command not claimed yet. */
  claimTransfer(): Transfer | undefined {
    return this.unclaimed.shift();
  }

  // --- the client ------------------------------------------------------------

  private command(line: string, bytes: number, tsNs: bigint): void {
    const sp = line.indexOf(' ');
    const verb = (sp < 0 ? line : line.slice(0, sp)).toUpperCase();
    let args = sp < 0 ? '' : line.slice(sp + 1);
    // credentials: the password and the account are never kept
    if (verb === 'PASS' || verb === 'ACCT') args = '';
    const c: FtpCommand = { verb, args, startNs: tsNs, endNs: tsNs, bytes };
    const direction = TRANSFERS[verb];
    if (direction) {
      if (this.unclaimed.length >= MAX_UNCLAIMED) {
        this.unclaimed.shift();
        this.ctx.count('ftp.transfers_unclaimed');
      }
      c.transfer = args ? { command: verb, path: args, direction } : { command: verb, direction };
      this.unclaimed.push(c.transfer);
    }
    if (verb === 'PORT' || verb === 'EPRT') {
      // active mode: the server will connect to the address the client names
      const e = verb === 'PORT' ? hostPort(args) : eprt(args);
      if (e) {
        c.dataEndpoint = { ...e, mode: 'active' };
        this.announce(e, 'active');
      } else this.ctx.count('ftp.malformed_endpoints');
    }
    queueCommand(this.ctx, 'ftp', this.pending, c, (old) => this.emit('unanswered', old, undefined, ['evicted']));
  }

  // --- the server ------------------------------------------------------------

  private replyLine(line: string, bytes: number, tsNs: bigint): void {
    const r = this.reply;
    if (r) {
      // inside a multi-line reply: it ends at a line starting with its code and a space (RFC 959 §4.2)
      r.bytes += bytes;
      r.endNs = tsNs;
      const last = line.length >= 3 && line.startsWith(String(r.code)) && (line.length === 3 || line[3] === ' ');
      if (r.lines.length < MAX_REPLY_LINES) r.lines.push(last ? line.slice(4) : line);
      if (!last) return;
      this.reply = undefined;
      this.onReply(r);
      return;
    }
    const m = /^([1-5]\d\d)([ -]?)(.*)$/.exec(line);
    if (!m) {
      this.ctx.count('ftp.malformed_replies');
      return;
    }
    const reply: FtpReply = { code: Number(m[1]), lines: [m[3]!], startNs: tsNs, endNs: tsNs, bytes };
    if (m[2] === '-') {
      this.reply = reply;
      return;
    }
    this.onReply(reply);
  }

  private onReply(r: FtpReply): void {
    if (!this.greeted) {
      // 120 (ready in n minutes) comes before the 220
      if (r.code !== 120) this.greeted = true;
      this.emit('message', undefined, r, []);
      return;
    }
    const c = this.pending[0];
    if (!c) {
      this.emit('orphan_response', undefined, r, []);
      return;
    }
    if (r.code < 200 && TRANSFERS[c.verb]) {
      // 150/125: the transfer starts; its final reply ends the exchange
      c.preliminary ??= r;
      return;
    }
    this.pending.shift();
    this.afterReply(c, r);
    this.emit('exchange', c, r, []);
    if (c.verb === 'AUTH' && r.code === 234) {
      this.pending.length = 0;
      this.ctx.handoff('tls', [], { carried: { name: 'ftp', parser: (ctx) => FtpParser.resumed(ctx) } });
    }
  }

  /** What a reply changes: where the data connection will be, and whether a refused transfer still waits for one. */
  private afterReply(c: FtpCommand, r: FtpReply): void {
    const text = r.lines.join(' ');
    if (r.code === 227 && c.verb === 'PASV') {
      const e = hostPort(text);
      if (e) {
        c.dataEndpoint = { ...e, mode: 'passive' };
        this.announce(e, 'passive');
        // clients that distrust the announced address (Python's ftplib, curl) use the control connection's
        const server = this.ctx.conn.server.address;
        if (server !== e.address) this.announce({ address: server, port: e.port }, 'passive');
      } else this.ctx.count('ftp.malformed_endpoints');
    } else if (r.code === 229 && c.verb === 'EPSV') {
      const port = epsvPort(text);
      if (port !== undefined) {
        const e = { address: this.ctx.conn.server.address, port };
        c.dataEndpoint = { ...e, mode: 'passive' };
        this.announce(e, 'passive');
      } else this.ctx.count('ftp.malformed_endpoints');
    } else if (r.code >= 400 && c.transfer && !c.preliminary) {
      // a refused transfer opens no data connection: its command is not waiting for one
      const i = this.unclaimed.indexOf(c.transfer);
      if (i >= 0) this.unclaimed.splice(i, 1);
    }
  }

  private announce(e: Endpoint, mode: 'passive' | 'active'): void {
    this.ctx.expect?.(e.address, e.port, 'ftp-data', (ctx) => new FtpDataParser(ctx, this, mode));
  }

  // --- events ----------------------------------------------------------------

  private emit(kind: 'exchange' | 'message' | 'unanswered' | 'orphan_response', c: FtpCommand | undefined, r: FtpReply | undefined, flags: string[]): void {
    const ftp: Record<string, unknown> = {};
    if (kind === 'message' && !c) ftp.greeting = true;
    if (c) {
      ftp.command = c.verb;
      if (c.args) ftp.arguments = sequential(c.args);
      if (c.verb === 'USER' && c.args) ftp.username = sequential(c.args);
      if (c.dataEndpoint) ftp.data_connection = c.dataEndpoint;
      if (c.preliminary) ftp.preliminary_reply = replyGroup(c.preliminary);
    }
    if (r) ftp.reply = replyGroup(r);
    const attributes: Record<string, unknown> = { ftp };
    if (r && r.code >= 400) attributes.error = { type: String(r.code) };
    attributes.network = { protocol: { name: 'ftp' } };
    this.ctx.emit(commandRecord(kind, c, r, attributes, flags, c?.preliminary?.bytes));
  }
}

function replyGroup(r: FtpReply): Record<string, unknown> {
  return { code: r.code, text: sequential(r.lines.join('\n')) };
}
