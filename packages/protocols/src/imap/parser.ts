/**
 * One IMAP connection (RFC 9051 and RFC 3501, with LITERAL+, IDLE, ID,
 * ENABLE, SASL-IR and STARTTLS). The server's greeting is a message; every
 * tagged command is an exchange that ends with the tagged status carrying its
 * tag (commands may be pipelined and complete in any order). The untagged
 * responses the server sends meanwhile belong to the oldest command waiting
 * that asks for them (an ESEARCH naming its tag to that one): capabilities, a
 * selected mailbox's counts, LIST and STATUS answers, SEARCH and ESEARCH
 * results, namespaces, quotas, and FETCH's messages, their MIME structure
 * (fetch-items.ts), and their bodies, which come as literals and are read as
 * they come into SMTP's message parser (header fields, body, MIME parts).
 * APPEND's message is read the same way. LOGIN's password and AUTHENTICATE's
 * answers are never kept (only the user name is read); STARTTLS answered OK
 * hands the connection to TLS, and with a key log the session goes on inside
 * it.
 */
import type { CloseReason, Dir } from '@panopticon/flows';
import { BodyCapture, bodyView } from '../body.js';
import { CLOSE_FLAG } from '../close-flags.js';
import { queueCommand } from '../command-reply.js';
import { base64Text, saslUser } from '../sasl.js';
import { MessageCapture } from '../smtp/message.js';
import type { ParserContext, StreamParser } from '../types.js';
import { esearchAnswer, esearchTag, MAX_LISTED, namespaceAnswer, quotaAnswer, quotaRootAnswer } from './answers.js';
import { bodyStructure, envelope } from './fetch-items.js';
import { imapAttributes, type FetchEntry, type ImapCommand, type ImapStatus } from './fields.js';
import { ImapReader } from './reader.js';
import { Atom, Captured, mailboxName, num, readValues, text, type Piece, type Value } from './values.js';

/** Header bytes of a message kept (the body gets maxBody). */
const MAX_HEADER = 64 * 1024;
/** A literal read as a string (a mailbox name, a subject with a line break): its first bytes kept. */
const MAX_STRING_LITERAL = 64 * 1024;
/** Messages of one FETCH kept, mailboxes of one LIST, ids of one SEARCH; more are counted. */
const MAX_FETCH = 100;
const MAX_MAILBOXES = 1000;
const MAX_SEARCH_IDS = 1000;
/** Arguments shown, in characters. */
const MAX_ARGS = 4096;
/**
 * Literals kept per logical line (each bounded by itself: a message's header block and maxBody, a
 * string's 64 KiB): past them a line's literals are counted, not kept, so that a line of thousands of
 * literals holds no more than a few dozen.
 */
const MAX_LINE_LITERALS = 32;

/** A status line: tag (or *), status, [code], text. */
const STATUS = /^(\S+) (OK|NO|BAD|BYE|PREAUTH)(?: \[([^\]]*)\])?(?: (.*))?$/i;
/** The fetch item a literal is the value of: a section (RFC 9051 §6.4.5) or RFC822's. */
const SECTION_ITEM = /(?:^|[ (])((?:BODY|BINARY)\[([^\]]*)\](?:<\d+>)?|RFC822(?:\.HEADER|\.TEXT)?)\s*$/i;

/** The commands that ask for each kind of untagged data response. */
const ANSWERS: Record<string, string[]> = {
  FETCH: ['FETCH', 'UID FETCH', 'STORE', 'UID STORE'],
  SEARCH: ['SEARCH', 'UID SEARCH'],
  ESEARCH: ['SEARCH', 'UID SEARCH'],
  LIST: ['LIST'],
  LSUB: ['LSUB'],
  STATUS: ['STATUS'],
  CAPABILITY: ['CAPABILITY'],
  ID: ['ID'],
  ENABLED: ['ENABLE'],
  FLAGS: ['SELECT', 'EXAMINE'],
  NAMESPACE: ['NAMESPACE'],
  QUOTA: ['GETQUOTA', 'GETQUOTAROOT', 'SETQUOTA'],
  QUOTAROOT: ['GETQUOTAROOT'],
};

/** Where a literal's bytes go while it streams. */
type Sink =
  | { kind: 'message'; capture: MessageCapture; item: string; section: string }
  | { kind: 'body'; capture: BodyCapture; item: string; section: string }
  | { kind: 'string'; chunks: Buffer[]; size: number; kept: number }
  | { kind: 'discard'; size: number };

/** A logical line being read on one side. */
interface Line {
  pieces: Piece[];
  /** The literal being read, and its announced size. */
  sink?: Sink;
  literalSize: number;
  /** Literals of this line so far. */
  literals: number;
  bytes: number;
  startNs: bigint;
  /** Client side: the command this line is. */
  cmd?: ImapCommand;
}

export class ImapParser implements StreamParser {
  private readonly readers: [ImapReader, ImapReader];
  /** Commands sent and not yet answered with their tag, oldest first. */
  private readonly pending: ImapCommand[] = [];
  private greeted: boolean;
  private readonly lines: [Line | undefined, Line | undefined] = [undefined, undefined];
  /** AUTHENTICATE waits for the client's answer to a "+" challenge. */
  private authAnswerDue = false;

  static resumed(ctx: ParserContext): ImapParser {
    // inside TLS after STARTTLS: no new greeting comes (RFC 9051 §6.2.1), the client goes on with its commands
    return new ImapParser(ctx, true);
  }

  constructor(
    private readonly ctx: ParserContext,
    greeted = false,
  ) {
    this.greeted = greeted || ctx.conn.midstream;
    this.readers = [this.reader(0), this.reader(1)];
    if (ctx.conn.midstream) for (const r of this.readers) r.resync();
  }

  private reader(dir: Dir): ImapReader {
    return new ImapReader({
      text: (buf, start, end, literal, wire, tsNs) => this.text(dir, buf, start, end, literal, wire, tsNs),
      literal: (buf, start, end) => this.literal(dir, buf, start, end),
      literalEnd: () => this.literalEnd(dir),
      damaged: () => this.ctx.count('imap.malformed'),
    });
  }

  data(dir: Dir, chunk: Buffer, tsNs: bigint): void {
    this.readers[dir].push(chunk, tsNs);
  }

  gap(dir: Dir, length: number, tsNs: bigint): void {
    this.ctx.count('imap.gaps');
    const line = this.lines[dir];
    const cmd = dir === 0 ? line?.cmd : this.pending[0];
    if (line && cmd) flag(cmd, 'gap');
    // inside a literal the reader takes the lost bytes off its count (the capture misses them);
    // otherwise the line is broken and the reader skips to the next line
    this.readers[dir].gap(length, tsNs);
    if (!line || this.readers[dir].inLiteral) return;
    // the line ends here with what came of it: a fetched message is kept up to the gap
    this.lines[dir] = undefined;
    if (line.sink) line.pieces.push(this.finishSink(line.sink));
    if (dir === 0) this.clientLineEnd(line, tsNs);
    else this.serverLine(line, tsNs);
  }

  end(_dir: Dir, _tsNs: bigint): void {}

  close(reason: CloseReason, _tsNs: bigint): void {
    const flag = CLOSE_FLAG[reason];
    const server = this.lines[1];
    if (server && this.pending[0]) {
      // the connection ended inside a response line (a message being fetched): what came of it is kept
      if (server.sink) server.pieces.push(this.finishSink(server.sink));
      this.lines[1] = undefined;
      this.pending[0].flagsOut.push('response_incomplete');
      this.serverLine(server);
    }
    for (const c of this.pending.splice(0)) this.emit(c.verb === 'LOGOUT' ? 'message' : 'unanswered', c, undefined, [flag]);
  }

  // --- lines and literals ----------------------------------------------------

  private text(dir: Dir, buf: Buffer, start: number, end: number, literal: number, bytes: number, tsNs: bigint): void {
    const piece = buf.toString('utf8', start, end);
    let line = this.lines[dir];
    if (!line) {
      line = { pieces: [], literalSize: -1, literals: 0, bytes: 0, startNs: tsNs };
      this.lines[dir] = line;
      if (dir === 0 && !this.clientLineStart(line, piece, literal, tsNs, bytes)) {
        this.lines[0] = undefined;
        return;
      }
    }
    line.pieces.push(piece);
    line.bytes += bytes;
    if (literal >= 0) {
      line.literalSize = literal;
      if (++line.literals > MAX_LINE_LITERALS) {
        this.ctx.count('imap.literals_dropped');
        line.sink = { kind: 'discard', size: 0 };
      } else line.sink = dir === 0 ? this.clientSink(line) : this.serverSink(piece);
      return;
    }
    this.lines[dir] = undefined;
    if (dir === 0) this.clientLineEnd(line, tsNs);
    else this.serverLine(line, tsNs);
  }

  private literal(dir: Dir, buf: Buffer, start: number, end: number): void {
    const line = this.lines[dir];
    if (!line?.sink) return;
    line.bytes += end - start;
    const s = line.sink;
    switch (s.kind) {
      case 'message':
        s.capture.add(buf, start, end);
        break;
      case 'body':
        s.capture.add(buf.subarray(start, end));
        break;
      case 'string': {
        s.size += end - start;
        const take = Math.min(end - start, MAX_STRING_LITERAL - s.kept);
        if (take > 0) {
          s.chunks.push(Buffer.from(buf.subarray(start, start + take)));
          s.kept += take;
        }
        break;
      }
      case 'discard':
        s.size += end - start;
        break;
    }
  }

  private literalEnd(dir: Dir): void {
    const line = this.lines[dir];
    if (!line?.sink) return;
    line.pieces.push(this.finishSink(line.sink));
    line.sink = undefined;
  }

  private finishSink(s: Sink): Piece {
    switch (s.kind) {
      case 'message':
        return new Captured(s.capture.size, { item: s.item, section: s.section, message: s.capture.parse() });
      case 'body':
        return new Captured(s.capture.size, { item: s.item, section: s.section, body: bodyView(s.capture, undefined, undefined, this.ctx.options.maxBody) });
      case 'string':
        return new Captured(s.size, Buffer.concat(s.chunks).toString('utf8'));
      case 'discard':
        return new Captured(s.size, undefined);
    }
  }

  // --- the client ------------------------------------------------------------

  /**
   * The first piece of a client line: an answer to an AUTHENTICATE challenge, IDLE's DONE, or a new
   * command (queued at once: a synchronising literal's "+" comes before the line ends). False when
   * the line is consumed here.
   */
  private clientLineStart(line: Line, piece: string, literal: number, tsNs: bigint, bytes: number): boolean {
    const head = this.pending[0];
    if (literal < 0 && this.authAnswerDue && head?.verb === 'AUTHENTICATE') {
      // a SASL answer: base64, a credential (or "*", cancelling); LOGIN's first is the user name
      this.authAnswerDue = false;
      head.bytes += bytes;
      head.endNs = tsNs;
      const auth = head.auth!;
      if (auth.username === undefined) {
        if (auth.mechanism === 'LOGIN' && auth.steps === 1) auth.username = base64Text(piece);
        else if (auth.mechanism === 'PLAIN') auth.username = saslUser('PLAIN', piece, false);
        if (auth.username !== undefined) head.username = auth.username;
      }
      return false;
    }
    const idle = this.pending.find((c) => c.verb === 'IDLE');
    if (literal < 0 && idle && piece.toUpperCase() === 'DONE') {
      idle.bytes += bytes;
      return false;
    }
    const sp = piece.indexOf(' ');
    const tag = sp < 0 ? piece : piece.slice(0, sp);
    const rest = sp < 0 ? '' : piece.slice(sp + 1);
    const m = /^(\S+)(?: (\S+))?/.exec(rest);
    let verb = (m?.[1] ?? '').toUpperCase();
    // UID FETCH, UID SEARCH ...: one command named with its prefix
    if (verb === 'UID' && m?.[2]) verb = `UID ${m[2].toUpperCase()}`;
    const cmd: ImapCommand = { tag, verb, args: '', startNs: tsNs, endNs: tsNs, bytes: 0, responseBytes: 0, flagsOut: [] };
    line.cmd = cmd;
    queueCommand(this.ctx, 'imap', this.pending, cmd, (old) => this.emit('unanswered', old, undefined, ['evicted']));
    return true;
  }

  /** Where a literal the client sends goes: LOGIN's password nowhere, APPEND's message to the message parser. */
  private clientSink(line: Line): Sink {
    const cmd = line.cmd!;
    const { values } = readValues(line.pieces);
    // values: tag, verb, then the arguments so far
    const argsSoFar = values.length - (cmd.verb.startsWith('UID ') ? 3 : 2);
    if (cmd.verb === 'LOGIN' && argsSoFar >= 1) return { kind: 'discard', size: 0 };
    if (cmd.verb === 'APPEND' && argsSoFar >= 1) return { kind: 'message', capture: new MessageCapture(MAX_HEADER, this.ctx.options.maxBody), item: 'APPEND', section: '' };
    return { kind: 'string', chunks: [], size: 0, kept: 0 };
  }

  private clientLineEnd(line: Line, tsNs: bigint): void {
    const cmd = line.cmd!;
    cmd.bytes += line.bytes;
    cmd.endNs = tsNs;
    const { values } = readValues(line.pieces);
    const skip = cmd.verb.startsWith('UID ') ? 3 : 2;
    const args = values.slice(skip);
    switch (cmd.verb) {
      case 'LOGIN': {
        // LOGIN user password: the password is never kept
        const user = text(args[0]);
        if (user !== undefined) cmd.username = user;
        cmd.args = user ?? '';
        return;
      }
      case 'AUTHENTICATE': {
        // AUTHENTICATE mechanism [initial-response] (SASL-IR): only the mechanism is shown
        const mechanism = (text(args[0]) ?? '').toUpperCase();
        cmd.args = mechanism;
        cmd.auth = { mechanism, steps: 0 };
        const initial = text(args[1]);
        if (initial !== undefined && initial !== '=') cmd.auth.username = saslUser(mechanism, initial, true);
        if (cmd.auth.username !== undefined) cmd.username = cmd.auth.username;
        return;
      }
      case 'SELECT':
      case 'EXAMINE':
      case 'CREATE':
      case 'DELETE':
      case 'SUBSCRIBE':
      case 'UNSUBSCRIBE':
      case 'STATUS':
      case 'GETQUOTAROOT':
      case 'APPEND': {
        const name = text(args[0]);
        if (name !== undefined) cmd.mailbox = mailboxName(name);
        const message = args.find((a): a is Captured => a instanceof Captured && (a.value as { message?: unknown })?.message !== undefined);
        if (message) cmd.message = (message.value as { message: ImapCommand['message'] }).message;
        break;
      }
      case 'ID':
        if (Array.isArray(args[0])) cmd.clientId = pairs(args[0]);
        break;
      case 'SEARCH':
      case 'UID SEARCH':
        // SEARCH RETURN (MIN MAX ...) criteria: what an ESEARCH answer will hold (RFC 4731)
        if (text(args[0])?.toUpperCase() === 'RETURN' && Array.isArray(args[1])) cmd.searchReturn = atoms(args[1]).map((a) => a.toUpperCase());
        break;
    }
    cmd.args = showArgs(args);
  }

  // --- the server ------------------------------------------------------------

  /** Where a literal the server sends goes: a fetched section to the message or body parser, anything else into a string. */
  private serverSink(piece: string): Sink {
    const first = this.lines[1]!.pieces[0] as string;
    const head = this.owner(first);
    const m = SECTION_ITEM.exec(piece);
    if (m && head && /^\* \d+ FETCH /i.test(first)) {
      if ((head.fetch?.length ?? 0) >= MAX_FETCH) return { kind: 'discard', size: 0 };
      const item = m[1]!.toUpperCase();
      const section = sectionOf(item);
      if (section === '' || (section.startsWith('HEADER') && !section.includes('<'))) return { kind: 'message', capture: new MessageCapture(MAX_HEADER, this.ctx.options.maxBody), item, section };
      return { kind: 'body', capture: new BodyCapture(this.ctx.options.maxBody), item, section };
    }
    return { kind: 'string', chunks: [], size: 0, kept: 0 };
  }

  private serverLine(line: Line, tsNs: bigint = line.startNs): void {
    const first = typeof line.pieces[0] === 'string' ? line.pieces[0] : '';
    if (first.startsWith('+')) {
      this.continuation(line);
      return;
    }
    if (first.startsWith('* ')) {
      this.untagged(line, first, tsNs);
      return;
    }
    const st = STATUS.exec(first);
    if (!st) {
      this.ctx.count('imap.malformed_responses');
      return;
    }
    const status = this.status(st, line, tsNs);
    const i = this.pending.findIndex((c) => c.tag === st[1]);
    if (i < 0) {
      if (status.status === 'OK' || status.status === 'NO' || status.status === 'BAD') this.emit('orphan_response', undefined, status, []);
      else this.ctx.count('imap.malformed_responses');
      return;
    }
    const [c] = this.pending.splice(i, 1);
    if (c!.verb === 'AUTHENTICATE') this.authAnswerDue = false;
    if (status.code?.toUpperCase().startsWith('CAPABILITY ')) c!.capabilities = status.code.split(' ').slice(1);
    this.emit('exchange', c!, status, []);
    if (c!.verb === 'STARTTLS' && status.status === 'OK') {
      this.pending.length = 0;
      this.ctx.handoff('tls', [], { carried: { name: 'imap', parser: (ctx) => ImapParser.resumed(ctx) } });
    }
  }

  private status(st: RegExpExecArray, line: Line, tsNs: bigint): ImapStatus {
    const s: ImapStatus = { status: st[2]!.toUpperCase(), text: st[4] ?? '', startNs: line.startNs, endNs: tsNs, bytes: line.bytes };
    if (st[3] !== undefined) s.code = st[3];
    return s;
  }

  /** "+": a synchronising literal's go-ahead, an AUTHENTICATE challenge, IDLE's start. */
  private continuation(line: Line): void {
    // the command it answers: one whose line is still being sent, or the oldest waiting
    const c = this.lines[0]?.cmd ?? this.pending[this.pending.length - 1];
    if (!c) {
      this.ctx.count('imap.malformed_responses');
      return;
    }
    c.responseBytes += line.bytes;
    if (c.verb === 'AUTHENTICATE' && c.auth && this.lines[0]?.cmd !== c) {
      c.auth.steps++;
      this.authAnswerDue = true;
    }
  }

  /**
   * The command an untagged response belongs to: the one an ESEARCH names by its tag, else the
   * oldest waiting one that asks for that kind of answer (FETCH's for a FETCH or STORE, SEARCH's
   * for a SEARCH ...; an untagged ESEARCH for one with RETURN options, SEARCH for one without,
   * when there is one), so that pipelined commands each get their own; else the oldest waiting.
   */
  private owner(first: string): ImapCommand | undefined {
    const m = /^\* (?:\d+ )?([A-Za-z]+)/.exec(first);
    const kind = m?.[1]!.toUpperCase();
    if (kind === 'ESEARCH' || kind === 'SEARCH') {
      const tag = kind === 'ESEARCH' ? esearchTag(first) : undefined;
      const named = tag === undefined ? undefined : this.pending.find((c) => c.tag === tag);
      const asked = named ?? this.pending.find((c) => ANSWERS.SEARCH!.includes(c.verb) && (c.searchReturn !== undefined) === (kind === 'ESEARCH'));
      if (asked) return asked;
    }
    const verbs = kind ? ANSWERS[kind] : undefined;
    if (verbs) for (const c of this.pending) if (verbs.includes(c.verb)) return c;
    return this.pending[0];
  }

  private untagged(line: Line, first: string, tsNs: bigint): void {
    const st = STATUS.exec(first);
    const c = this.owner(first);
    if (st && line.pieces.length === 1) {
      const status = this.status(st, line, tsNs);
      const code = status.code?.toUpperCase() ?? '';
      const caps = code.startsWith('CAPABILITY ') ? status.code!.split(' ').slice(1) : undefined;
      if (!this.greeted) {
        this.greeted = true;
        this.emit('message', undefined, status, [], true, caps);
        return;
      }
      if (!c) {
        // unsolicited: a BYE before the server closes, an alert
        this.emit('message', undefined, status, [], false, caps);
        return;
      }
      c.responseBytes += line.bytes;
      if (caps) c.capabilities = caps;
      const n = Number(code.split(' ')[1]);
      if (code.startsWith('UIDVALIDITY ') && Number.isSafeInteger(n)) c.uidvalidity = n;
      else if (code.startsWith('UIDNEXT ') && Number.isSafeInteger(n)) c.uidnext = n;
      if (status.status === 'BYE') c.bye = status.text;
      return;
    }
    if (!c) {
      this.ctx.count('imap.unsolicited_responses');
      return;
    }
    c.responseBytes += line.bytes;
    const { values, cut } = readValues(line.pieces);
    if (cut) flag(c, 'truncated');
    // values[0] is "*"
    const a = text(values[1])?.toUpperCase();
    const n = num(values[1]);
    if (n !== undefined) {
      const what = text(values[2])?.toUpperCase();
      if (what === 'EXISTS') c.exists = n;
      else if (what === 'RECENT') c.recent = n;
      else if (what === 'EXPUNGE') c.expunged = (c.expunged ?? 0) + 1;
      else if (what === 'FETCH' && Array.isArray(values[3])) this.fetched(c, n, values[3]);
      return;
    }
    switch (a) {
      case 'CAPABILITY':
        c.capabilities = values.slice(2).map(text).filter((s): s is string => s !== undefined);
        break;
      case 'FLAGS':
        if (Array.isArray(values[2])) c.flags = atoms(values[2]);
        break;
      case 'LIST':
      case 'LSUB': {
        const name = text(values[4]);
        if (name === undefined) break;
        c.mailboxes ??= [];
        if (c.mailboxes.length >= MAX_MAILBOXES) {
          this.ctx.count('imap.mailboxes_dropped');
          break;
        }
        c.mailboxes.push({ name: mailboxName(name), delimiter: text(values[3]) ?? null, attributes: Array.isArray(values[2]) ? atoms(values[2]) : [] });
        break;
      }
      case 'STATUS': {
        const name = text(values[2]);
        if (name === undefined || !Array.isArray(values[3])) break;
        const items: Record<string, number> = {};
        const list = values[3];
        for (let i = 0; i + 1 < list.length; i += 2) {
          const k = text(list[i]);
          const v = num(list[i + 1]);
          if (k !== undefined && v !== undefined && /^[A-Z-]+$/i.test(k)) items[k.toUpperCase()] = v;
        }
        c.status = { mailbox: mailboxName(name), items };
        break;
      }
      case 'SEARCH': {
        const ids: number[] = [];
        let count = 0;
        for (const v of values.slice(2)) {
          const id = num(v);
          if (id === undefined) continue;
          count++;
          if (ids.length < MAX_SEARCH_IDS) ids.push(id);
        }
        c.search = { count: (c.search?.count ?? 0) + count, ids: [...(c.search?.ids ?? []), ...ids].slice(0, MAX_SEARCH_IDS) };
        break;
      }
      case 'ESEARCH':
        this.esearch(c, values);
        break;
      case 'NAMESPACE': {
        const { namespace, dropped } = namespaceAnswer(values);
        c.namespace = namespace;
        if (dropped) this.ctx.count('imap.namespaces_dropped', dropped);
        break;
      }
      case 'QUOTA': {
        const { quota, dropped } = quotaAnswer(values);
        if (!quota) break;
        c.quota ??= [];
        if (c.quota.length < MAX_LISTED) c.quota.push(quota);
        else this.ctx.count('imap.quota_dropped');
        if (dropped) this.ctx.count('imap.quota_dropped', dropped);
        break;
      }
      case 'QUOTAROOT': {
        const { quotaRoots, dropped } = quotaRootAnswer(values);
        if (quotaRoots) c.quotaRoots = quotaRoots;
        if (dropped) this.ctx.count('imap.quota_dropped', dropped);
        break;
      }
      case 'ENABLED':
        c.enabled = values.slice(2).map(text).filter((s): s is string => s !== undefined);
        break;
      case 'ID':
        if (Array.isArray(values[2])) c.serverId = pairs(values[2]);
        break;
      default:
        this.ctx.count('imap.untagged_other');
    }
  }

  /**
   * `* ESEARCH ...`: what SEARCH RETURN (or an IMAP4rev2 server's SEARCH) found. A command that asked
   * for no RETURN options asked for ALL (RFC 9051 §6.4.4).
   */
  private esearch(c: ImapCommand, values: Value[]): void {
    const r = c.searchReturn;
    c.search = esearchAnswer(values, !r || r.length === 0 || r.includes('ALL'), MAX_SEARCH_IDS);
  }

  /** `* n FETCH (...)`: the message's items, in one entry per message number. */
  private fetched(c: ImapCommand, seq: number, items: Value[]): void {
    c.fetch ??= [];
    let e = c.fetch.find((f) => f.seq === seq);
    if (!e) {
      if (c.fetch.length >= MAX_FETCH) {
        this.ctx.count('imap.fetch_dropped');
        flag(c, 'truncated');
        return;
      }
      e = { seq };
      c.fetch.push(e);
    }
    for (let i = 0; i + 1 < items.length; i += 2) {
      const name = text(items[i])?.toUpperCase();
      const v = items[i + 1];
      if (name === undefined) continue;
      switch (name) {
        case 'UID':
          e.uid = num(v);
          break;
        case 'FLAGS':
          if (Array.isArray(v)) e.flags = atoms(v);
          break;
        case 'RFC822.SIZE':
          e.size = num(v);
          break;
        case 'INTERNALDATE':
          if (typeof v === 'string') e.internal_date = v;
          break;
        case 'ENVELOPE':
          if (Array.isArray(v)) e.envelope = envelope(v);
          break;
        case 'BODY':
        case 'BODYSTRUCTURE':
          // BODY is BODYSTRUCTURE without the extension data: the latter is kept when both came
          if (name === 'BODYSTRUCTURE' || !e.structure) this.structure(c, e, v);
          break;
        default:
          if (/^(?:BODY|BINARY)\[|^RFC822(?:\.HEADER|\.TEXT)?$/.test(name)) this.section(e, name, v);
      }
    }
  }

  /** BODYSTRUCTURE's or BODY's value: the message's parts; a structure cut short at a limit flags the event, damage is counted. */
  private structure(c: ImapCommand, e: FetchEntry, v: Value): void {
    const s = bodyStructure(v);
    if (s.parts.length) e.structure = s.parts;
    if (s.malformed) this.ctx.count('imap.malformed_structures');
    if (s.cut) {
      this.ctx.count('imap.structures_truncated');
      flag(c, 'truncated');
    }
  }

  /** A section's value: a literal read while it came, or (a short one) a quoted string, or NIL. */
  private section(e: FetchEntry, name: string, v: Value): void {
    let got = v instanceof Captured ? (v.value as { section: string; message?: FetchEntry['message']; body?: NonNullable<FetchEntry['sections']>[number]['body'] } | undefined) : undefined;
    if (typeof v === 'string') {
      // a section sent as a quoted string: read as the literal would have been
      const section = sectionOf(name);
      const bytes = Buffer.from(v, 'utf8');
      if (section === '' || (section.startsWith('HEADER') && !section.includes('<'))) {
        const cap = new MessageCapture(MAX_HEADER, this.ctx.options.maxBody);
        cap.add(bytes, 0, bytes.length);
        got = { section, message: cap.parse() };
      } else {
        const body = new BodyCapture(this.ctx.options.maxBody);
        body.add(bytes);
        got = { section, body: bodyView(body, undefined, undefined, this.ctx.options.maxBody) };
      }
    }
    if (!got) return;
    if (got.message) {
      if (got.section === '') e.message = got.message;
      else e.headers = { ...(e.headers ?? {}), ...got.message.headers };
    } else if (got.body) (e.sections ??= []).push({ section: got.section, body: got.body });
  }

  // --- events ----------------------------------------------------------------

  private emit(kind: 'exchange' | 'message' | 'unanswered' | 'orphan_response', c: ImapCommand | undefined, s: ImapStatus | undefined, flags: string[], greeting = false, capabilities?: string[]): void {
    const f = imapAttributes(c, s, greeting, capabilities);
    const all = [...flags, ...(c?.flagsOut ?? []), ...f.flags];
    const start = c?.startNs ?? s!.startNs;
    this.ctx.emit({
      kind,
      startNs: start,
      endNs: s ? s.endNs : c!.endNs,
      ...(c ? { requestBytes: c.bytes } : {}),
      ...(s || c?.responseBytes ? { responseBytes: (s?.bytes ?? 0) + (c?.responseBytes ?? 0) } : {}),
      attributes: f.attributes,
      ...(all.length ? { flags: all } : {}),
    });
  }
}

/**
 * The section a fetch item names: `BODY[1.2]` 1.2, `RFC822` the whole message (''), `RFC822.HEADER`
 * HEADER, `RFC822.TEXT` TEXT; a partial fetch keeps its origin (`BODY[]<0>` is `<0>`, a fragment,
 * read as a body, not as a message).
 */
function sectionOf(item: string): string {
  const m = /\[([^\]]*)\](<\d+>)?/.exec(item);
  if (m) return (m[1]! + (m[2] ?? '')).toUpperCase();
  return item === 'RFC822' ? '' : item === 'RFC822.HEADER' ? 'HEADER' : 'TEXT';
}

/** Flags the command's event with `f`, once. */
function flag(c: ImapCommand, f: string): void {
  if (!c.flagsOut.includes(f)) c.flagsOut.push(f);
}

/** The atoms and strings of a list (flags, capabilities, mailbox attributes). */
function atoms(list: Value[]): string[] {
  const out: string[] = [];
  for (const v of list) {
    const t = text(v);
    if (t !== undefined) out.push(t);
  }
  return out;
}

/** ID's parameter list: field, value, field, value (RFC 2971). */
function pairs(list: Value[]): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (let i = 0; i + 1 < list.length && i < 60; i += 2) {
    const k = text(list[i]);
    if (k === undefined || k === '__proto__') continue;
    const v = list[i + 1];
    out[k.toLowerCase()] = v === null ? null : (text(v) ?? null);
  }
  return out;
}

/** A command's arguments as text: strings quoted, a literal read elsewhere shown as its size; bounded. */
function showArgs(args: Value[]): string {
  let s = '';
  const put = (v: Value): void => {
    if (s.length > MAX_ARGS) return;
    if (s && !s.endsWith('(')) s += ' ';
    if (v === null) s += 'NIL';
    else if (v instanceof Atom) s += v.v;
    else if (typeof v === 'string') s += JSON.stringify(v);
    else if (v instanceof Captured) s += `{${v.size}}`;
    else {
      s += '(';
      for (const x of v) put(x);
      s += ')';
    }
  };
  for (const a of args) put(a);
  return s.length > MAX_ARGS ? s.slice(0, MAX_ARGS) : s;
}

