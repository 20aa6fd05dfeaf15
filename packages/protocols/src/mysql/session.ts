/**
 * One MySQL / MariaDB connection: the handshake (greeting, handshake
 * response, authentication exchange), then commands stitched in order with
 * their responses. A client packet with sequence id 0 starts a command; the
 * server's packets are read by a small state machine per command kind
 * (OK / ERR / result set with column definitions and rows / prepare reply /
 * field list). Capabilities from the handshake decide optional parts
 * (CLIENT_DEPRECATE_EOF, CLIENT_QUERY_ATTRIBUTES, session tracking); when the
 * connection was joined late they are unknown, and the parser tells the
 * variants apart from the packets themselves.
 */
import type { CloseReason, Dir } from '@panopticon/flows';
import { setOwn, type EventKind } from '@panopticon/events';
import type { ParserContext, StreamParser } from '../types.js';
import { Cap, Command, ExecFlag, Header, PROGRESS_REPORT_CODE, Status, commandName } from './constants.js';
import {
  type ColumnDef,
  PayloadReader,
  decodeColumnDef,
  decodeEof,
  decodeErr,
  decodeGreeting,
  decodeHandshakeResponse,
  decodeOk,
  decodePrepareOk,
  decodeProgress,
  decodeTextRow,
} from './decode.js';
import { MyFramer, type MyPacket } from './framer.js';
import { CompressedUnwrapper } from './compressed.js';
import { ValueBudget, decodeBinaryRow, paramBytes, readBinaryValue, textCell, type Value } from './values.js';
import { buildAttributes, columnKeys, type Cmd, type MyConnectionFacts } from './fields.js';
import { sqlRecord } from '../sql/record.js';
import { redactSqlSecrets } from '../sql/secrets.js';
import { CLOSE_FLAG } from '../close-flags.js';

/** Prepared statements remembered per connection; the oldest is forgotten past this. */
const MAX_STATEMENTS = 1024;
/** Column definitions kept per result set (all are counted). */
const MAX_COLUMNS_KEPT = 1024;
/** MariaDB's statement id meaning "the one prepared last" (pipelined prepare + execute). */
const LAST_PREPARED = 0xffffffff;
/** SERVER_STATUS_CURSOR_EXISTS: an execute opened a cursor, rows come with COM_STMT_FETCH. */
const CURSOR_EXISTS = 0x0040;
/** COM_STMT_EXECUTE without parameters: command(1) statement id(4) flags(1) iteration count(4). */
const EXECUTE_HEAD = 10;

interface Statement {
  id: number;
  text: string;
  truncated: boolean;
  params: number;
  /**
   * Parameter types (type | unsigned flag << 8) as last bound; undefined when
   * no binding was seen, or when client bytes were lost (a lost execute may have
   * bound others).
   */
  paramTypes?: number[];
  columns: ColumnDef[];
  /** Data sent with COM_STMT_SEND_LONG_DATA, per parameter, for the next execute. */
  longData?: Map<number, Buffer[]>;
  /**
   * Client bytes were lost since the last execute. A COM_STMT_SEND_LONG_DATA
   * among them leaves its parameter's value out of the next execute (the
   * server has it already), and without it the values after that one are
   * read from the wrong bytes.
   */
  longDataMaybeLost?: boolean;
}


type Phase = 'greeting' | 'handshake' | 'auth' | 'command';

export class MySession implements StreamParser {
  readonly facts: MyConnectionFacts = { mariadb: false };
  private readonly client: MyFramer;
  private readonly server: MyFramer;
  private phase: Phase;
  private handshake: Cmd | null = null;
  /** Negotiated capabilities, or null when the handshake was not seen. */
  private caps: number | null = null;
  private queue: Cmd[] = [];
  private readonly statements = new Map<number, Statement>();
  private lastPrepared: Statement | undefined;
  /** A definitions block ended without knowing whether an EOF packet follows (capabilities unknown). */
  private maybeTrailingEof = -1;
  private done = false;
  /** Per direction, when the compressed protocol is on: frames are unwrapped before packet framing. */
  private unwrap: [CompressedUnwrapper, CompressedUnwrapper] | null = null;
  private readonly limit: number;
  /** The client has sent bytes (so a greeting can no longer come first). */
  private clientSpoke = false;
  /** Server bytes were lost: the next server packet's sequence id cannot be expected. */
  private serverSeqUnknown = false;
  /** Resumed inside TLS: the login the client's first packet starts (see resumedInTls). */
  private loginInTls: { authPlugin: string | undefined } | undefined;
  /**
   * Server bytes were lost inside the reply to the head of the queue (not
   * compressed): the packets that follow are the rest of that reply until one
   * with sequence id 1 starts the next (see `cutReply`).
   */
  private replyCut = false;
  /** Sequence id of the last compressed frame in either direction, for checking the next; -1: none yet, or bytes lost since. */
  private lastFrameSeq = -1;

  constructor(private readonly ctx: ParserContext) {
    const o = ctx.options;
    const limit = o.maxBody + o.maxHeaderBytes;
    this.limit = limit;
    const midstream = ctx.conn.midstream;
    this.phase = midstream ? 'command' : 'greeting';
    const hooks = (fromClient: boolean) => ({
      packet: (p: MyPacket) => (fromClient ? this.fromClient(p) : this.fromServer(p)),
      damaged: (n: number) => ctx.count('mysql.resync_skipped_bytes', n),
      sequenceError: () => ctx.count('mysql.sequence_error'),
    });
    this.client = new MyFramer(true, hooks(true), limit, midstream);
    this.server = new MyFramer(false, hooks(false), limit, midstream);
  }

  // ---- StreamParser --------------------------------------------------------

  data(dir: Dir, chunk: Buffer, tsNs: bigint): void {
    if (this.done) return;
    if (dir === 0) this.clientSpoke = true;
    try {
      if (this.unwrap) this.unwrap[dir].push(chunk, tsNs);
      else (dir === 0 ? this.client : this.server).push(chunk, tsNs);
    } catch (err) {
      this.ctx.count('mysql.internal_error');
      this.stop(`mysql: ${(err as Error).message}`);
    }
  }

  gap(dir: Dir, length: number, _tsNs: bigint): void {
    if (this.done) return;
    this.ctx.count('mysql.gap_bytes', length);
    this.unwrap?.[dir].lose(length);
    this.innerLost(dir);
    if (dir === 0) {
      // a lost COM_STMT_EXECUTE may have bound new parameter types: the ones we saw are no longer known to be in force
      for (const st of this.statements.values()) {
        st.paramTypes = undefined;
        st.longDataMaybeLost = true;
      }
    }
    for (const c of this.queue) c.flags.add('gap');
    if (dir === 1 && this.queue.length) {
      // The rest of the head's response may be gone: stop reading it as structured data. Compressed,
      // a reply's first packet takes the id the frames reached (not 1), so there the next packet ends it.
      if (this.unwrap) this.queue[0].state = 'single';
      else this.replyCut = true;
    }
  }

  end(_dir: Dir, _tsNs: bigint): void {
    // MySQL never delimits a message by closing the stream.
  }

  close(reason: CloseReason, tsNs: bigint): void {
    if (this.done) return;
    this.done = true;
    const pending = this.handshake ? [this.handshake, ...this.queue] : this.queue;
    for (const c of pending) {
      c.flags.add(CLOSE_FLAG[reason]);
      // a cut reply's command is emitted as far as it got, as when the next reply begins (replyStarts)
      const cut = this.replyCut && c === this.queue[0] && c.responseBytes > 0;
      this.emit(c, cut ? 'exchange' : 'unanswered', c.endNs ?? tsNs);
    }
    this.queue = [];
    this.handshake = null;
  }

  // ---- client → server -----------------------------------------------------

  private fromClient(p: MyPacket): void {
    if (this.phase === 'handshake' || this.phase === 'auth') return this.handshakeFromClient(p);
    if (this.phase === 'greeting') {
      // no greeting seen, yet the client speaks: we joined after the handshake
      this.phase = 'command';
    }
    if (p.seq !== 0) {
      // LOCAL INFILE contents, or authentication data during COM_CHANGE_USER
      const head = this.queue[0];
      if (!head) {
        this.ctx.count('mysql.unexpected_client_packet');
        return;
      }
      head.requestBytes += p.wireLength;
      head.lastSeq = lastSeqOf(p);
      if (head.infile) this.keepInfile(head, p);
      return;
    }
    if (p.length === 0) {
      this.ctx.count('mysql.empty_command');
      return;
    }
    const code = p.payload[0];
    const c = this.newCmd(code, p);
    switch (code) {
      case Command.Query: return this.query(c, p);
      case Command.InitDb:
        c.schemaArg = p.payload.toString('utf8', 1);
        return this.enqueue(c, 'single');
      case Command.StmtPrepare:
        this.setText(c, p.payload.subarray(1), p.truncated);
        return this.enqueue(c, 'first');
      case Command.StmtExecute: return this.execute(c, p);
      case Command.StmtFetch: return this.fetch(c, p);
      case Command.StmtClose: return this.stmtClose(c, p);
      case Command.StmtSendLongData: return this.longData(p);
      case Command.FieldList:
        c.table = new PayloadReader(p.payload, 1).cstring();
        return this.enqueue(c, 'fieldList');
      case Command.ProcessInfo: // answered with a text result set, like a query
        return this.enqueue(c, 'first');
      case Command.Quit:
        return this.emit(c, 'message', p.endNs);
      case Command.ChangeUser: return this.changeUser(c, p);
      case Command.StmtReset: {
        // the server drops the statement's long data: the next execute carries every value
        const st = p.payload.length >= 5 ? this.statements.get(p.payload.readUInt32LE(1)) : undefined;
        if (st) st.longData = st.longDataMaybeLost = undefined;
        return this.enqueue(c, 'single');
      }
      case Command.Statistics:
      case Command.Ping:
      case Command.ResetConnection:
      case Command.SetOption:
      case Command.ProcessKill:
      case Command.Refresh:
      case Command.Shutdown:
      case Command.Debug:
      case Command.CreateDb:
      case Command.DropDb:
        return this.enqueue(c, 'single');
      default:
        if (commandName[code] === undefined) this.ctx.count('mysql.unknown_command');
        return this.enqueue(c, 'single');
    }
  }

  /**
   * The session as it goes on inside TLS (a key log opened it): the
   * greeting was read before the switch, the client's next packet is its
   * full handshake response, and the login it starts is an exchange of its
   * own.
   */
  static resumedInTls(ctx: ParserContext, facts: MyConnectionFacts, authPlugin: string | undefined): MySession {
    const s = new MySession(ctx);
    Object.assign(s.facts, facts);
    s.phase = 'handshake';
    s.loginInTls = { authPlugin };
    return s;
  }

  private handshakeFromClient(p: MyPacket): void {
    let h = this.handshake;
    if (!h && this.loginInTls) {
      h = this.handshake = this.newCmd(-1, p);
      h.requestBytes = 0;
      h.authPlugin = this.loginInTls.authPlugin;
      this.loginInTls = undefined;
    }
    if (!h) return;
    h.requestBytes += p.wireLength;
    h.lastSeq = lastSeqOf(p);
    if (this.phase === 'auth') return; // auth data (scrambles, passwords, keys): never decoded
    const r = decodeHandshakeResponse(p.payload);
    this.facts.clientCapabilities = r.capabilities;
    this.caps = (r.capabilities & (this.facts.serverCapabilities ?? 0xffffffff)) >>> 0;
    if (r.sslRequest) {
      h.tlsRequested = true;
      h.flags.add('tls');
      this.emit(h, 'exchange', p.endNs);
      this.handshake = null;
      // the session goes on in TLS: its handshake (the client's next bytes) is the tls parser's to read,
      // and what it carries (this login, then the commands) this session's, resumed, if a key log opens it
      this.done = true;
      this.queue = [];
      const facts = { ...this.facts };
      const authPlugin = h.authPlugin;
      this.ctx.handoff('tls', [], { carried: { name: 'mysql', parser: (ctx) => MySession.resumedInTls(ctx, facts, authPlugin) } });
      return;
    }
    h.user = r.user;
    this.facts.user = r.user;
    h.database = r.database;
    if (r.database) this.facts.schema = r.database;
    if (r.authPlugin) h.authPlugin = r.authPlugin;
    if (r.attributes) h.attributes = r.attributes;
    this.phase = 'auth';
  }

  private query(c: Cmd, p: MyPacket): void {
    let start = 1;
    if (this.hasQueryAttributes(p.payload)) {
      const r = new PayloadReader(p.payload, 1);
      const count = r.lenenc();
      r.lenenc(); // parameter set count, always 1
      if (count > 0) {
        const budget = new ValueBudget(this.ctx.options.maxBody);
        const values = this.readParams(r, count, undefined, budget, true);
        c.queryAttributes = values.named;
        if (budget.cut) c.flags.add('truncated');
      }
      start = r.pos;
    }
    this.setText(c, p.payload.subarray(start), p.truncated);
    this.enqueue(c, 'first');
  }

  /** With the capability known, it decides; joined late, a query starting with a count byte and 0x01 can only be attributes. */
  private hasQueryAttributes(payload: Buffer): boolean {
    if (this.caps !== null) return (this.caps & Cap.QueryAttributes) !== 0;
    return payload.length >= 3 && payload[1] < 0xfb && payload[2] === 0x01;
  }

  private execute(c: Cmd, p: MyPacket): void {
    const r = new PayloadReader(p.payload, 1);
    let id = r.u32();
    const flags = r.u8();
    r.u32(); // iteration count
    const st = id === LAST_PREPARED ? this.lastPrepared : this.statements.get(id);
    if (st) id = st.id;
    c.statementId = id;
    if (!st) {
      this.ctx.count('mysql.unknown_statement');
      // prepared before the capture: how many parameters, and of which types, is unknown, so none are read
      if (p.length > EXECUTE_HEAD && !(p.length === EXECUTE_HEAD + 1 && p.payload[EXECUTE_HEAD] === 0)) this.undecodableParams(c);
      return this.enqueue(c, 'first');
    }
    c.text = st.text;
    if (st.truncated) c.flags.add('truncated');
    const attrs = this.caps !== null && (this.caps & Cap.QueryAttributes) !== 0;
    let count = st.params;
    if (count > 0 || (attrs && flags & ExecFlag.ParameterCountAvailable)) {
      if (attrs) count = r.lenenc();
      if (count > 0) {
        const budget = new ValueBudget(this.ctx.options.maxBody);
        const values = this.readParams(r, count, st, budget, attrs);
        if (st.longDataMaybeLost) c.flags.add('gap');
        if (st.longDataMaybeLost && (r.short || (!values.undecodable && r.pos !== p.payload.length)) && !p.truncated) {
          // The values ran past the packet, or ended before it: a parameter sent as long data in the lost bytes is
          // missing from it, and which one cannot be told. None are shown.
          this.undecodableParams(c);
        } else {
          // with undecodable values left out, only known ones (NULLs) remain; none at all means no parameter field
          if (values.positional && Object.keys(values.positional).length) c.params = values.positional;
          if (values.named && Object.keys(values.named).length) c.queryAttributes = values.named;
          if (values.undecodable) this.undecodableParams(c);
          if (budget.cut || r.short || p.truncated) c.flags.add('truncated');
        }
      }
    }
    st.longDataMaybeLost = undefined;
    st.longData = undefined;
    c.columns = st.columns;
    this.enqueue(c, 'first');
  }

  /**
   * Parameter block of COM_STMT_EXECUTE / query attributes: NULL bitmap,
   * new-params-bound flag, types (and names with query attributes), values.
   * The first `st.params` values are the statement's placeholders; any beyond
   * are named query attributes.
   */
  private readParams(
    r: PayloadReader,
    count: number,
    st: Statement | undefined,
    budget: ValueBudget,
    withNames: boolean,
  ): { positional?: Record<string, Value>; named?: Record<string, Value>; undecodable: boolean } {
    const nulls = r.bytes((count + 7) >> 3);
    const bound = r.u8();
    const names: string[] = [];
    let types: number[] | undefined;
    if (bound === 1) {
      types = [];
      for (let i = 0; i < count && !r.short; i++) {
        types.push(r.u16());
        if (withNames) names.push(r.lenencString());
      }
      if (st) st.paramTypes = types;
    } else {
      // new-params-bound 0: the types of the last execute apply. Unseen, the values cannot
      // even be told apart (their lengths depend on the types), so only NULLs (from the bitmap) are known.
      types = st?.paramTypes;
    }
    const placeholders = st?.params ?? 0;
    const positional: Record<string, Value> = {};
    const named: Record<string, Value> = {};
    let undecodable = false;
    for (let i = 0; i < count && (!types || !r.short); i++) {
      let v: Value;
      const long = st?.longData?.get(i);
      if (nulls[i >> 3] & (1 << (i & 7))) v = null;
      else if (!types) {
        undecodable = true;
        continue;
      } else if (long) v = paramBytes(Buffer.concat(long), (types[i] ?? 0xfd) & 0xff, budget);
      else {
        const t = types[i] ?? 0xfd;
        v = readBinaryValue(r, t & 0xff, (t & 0x8000) !== 0, undefined, budget);
      }
      if (i < placeholders) positional[String(i)] = v;
      else named[names[i] || String(i)] = v;
    }
    return { positional: placeholders > 0 ? positional : undefined, named: count > placeholders ? named : undefined, undecodable };
  }

  /** Parameters were sent but cannot be decoded without guessing: left out, flagged, counted (never guessed). */
  private undecodableParams(c: Cmd): void {
    c.flags.add('undecodable');
    this.ctx.count('mysql.undecodable_parameters');
  }

  private fetch(c: Cmd, p: MyPacket): void {
    // a command too short to name its statement names none (a statement id is never negative)
    const id = p.payload.length >= 5 ? p.payload.readUInt32LE(1) : undefined;
    const st = id === undefined ? undefined : this.statements.get(id);
    c.statementId = id;
    if (st) {
      c.text = st.text;
      c.columns = st.columns;
      c.columnCount = st.columns.length;
      c.columnKeys = columnKeys(st.columns);
    }
    this.enqueue(c, 'rows');
  }

  private stmtClose(c: Cmd, p: MyPacket): void {
    const id = p.payload.length >= 5 ? p.payload.readUInt32LE(1) : undefined;
    c.statementId = id;
    const st = id === undefined ? undefined : this.statements.get(id);
    if (st) c.text = st.text;
    if (id !== undefined) this.statements.delete(id);
    this.emit(c, 'message', p.endNs);
  }

  /** COM_STMT_SEND_LONG_DATA: no reply; the data becomes the parameter's value at the next execute. */
  private longData(p: MyPacket): void {
    const r = new PayloadReader(p.payload, 1);
    const st = this.statements.get(r.u32());
    const param = r.u16();
    if (!st) {
      this.ctx.count('mysql.unknown_statement');
      return;
    }
    st.longData ??= new Map();
    const parts = st.longData.get(param) ?? [];
    const have = parts.reduce((n, b) => n + b.length, 0);
    const room = this.ctx.options.maxBody - have;
    if (room > 0) parts.push(Buffer.from(p.payload.subarray(r.pos, r.pos + room)));
    st.longData.set(param, parts);
  }

  // ---- server → client -----------------------------------------------------

  private fromServer(p: MyPacket): void {
    const seqKnown = !this.serverSeqUnknown;
    this.serverSeqUnknown = false;
    if (this.phase === 'greeting') return this.greeting(p);
    if (this.phase === 'handshake' || this.phase === 'auth') return this.handshakeFromServer(p);
    const first = p.length > 0 ? p.payload[0] : -1;
    if (this.maybeTrailingEof >= 0) {
      const expected = (this.maybeTrailingEof + 1) & 0xff;
      this.maybeTrailingEof = -1;
      if (first === Header.Eof && p.length === 5 && p.seq === expected) return;
    }
    let c = this.queue[0];
    if (!c) {
      if (p.seq === 0 && first === 10 && !this.clientSpoke) {
        // the SYN was missed but the connection is young: this is its greeting
        this.client.resyncing = false;
        this.phase = 'greeting';
        return this.greeting(p);
      }
      this.ctx.count('mysql.unmatched_response');
      this.replyCut = false;
      return;
    }
    // An id 1 right after an id 0 of the cut reply is that reply wrapping past 255 packets, not the next one.
    if (this.replyCut && p.seq === 1 && !(seqKnown && c.lastSeq === 0)) c = this.replyStarts(c);
    if (!seqKnown || (this.unwrap && c.responseBytes === 0)) {
      // Not checked: after lost bytes the packets in between are gone, and with them the id to expect.
      // Compressed, a reply's first packet takes the id the frames reached (MariaDB answers a request
      // sent in two frames from 2), which clients do not check; the frames' own ids are checked instead.
    } else if (p.seq !== ((c.lastSeq + 1) & 0xff)) this.ctx.count('mysql.sequence_error');
    c.lastSeq = lastSeqOf(p);
    c.responseBytes += p.wireLength;
    c.endNs = p.endNs;
    if (p.truncated) this.ctx.count('mysql.oversized_packet');
    if (first === Header.Err && p.length >= 3 && p.payload.readUInt16LE(1) === PROGRESS_REPORT_CODE) return this.progressReport(c, p);
    if (this.replyCut) return this.cutReply(c, p, first);
    switch (c.state) {
      case 'first': return this.firstResponse(c, p, first);
      case 'columns': return this.columnDef(c, p, first);
      case 'columnsEof': return this.columnsEof(c, p, first);
      case 'rows': return this.row(c, p, first);
      case 'prepareDefs': return this.prepareDef(c, p, first);
      case 'fieldList': return this.fieldListDef(c, p, first);
      case 'auth': return this.changeUserReply(c, p, first);
      case 'single':
      default: return this.singleReply(c, p, first);
    }
  }

  /**
   * A MariaDB progress report (ERR with code 0xFFFF) while the command runs
   * (ALTER TABLE, LOAD DATA, ...): not its reply, which still follows. No
   * other packet can begin with 0xFF 0xFF 0xFF (rows, definitions and counts
   * never start with 0xFF), so it is told apart wherever it comes.
   */
  private progressReport(c: Cmd, p: MyPacket): void {
    const last = decodeProgress(p.payload);
    c.progress = { reports: (c.progress?.reports ?? 0) + 1, last };
    this.ctx.count('mysql.progress_reports');
  }

  /**
   * After lost server bytes, a packet with sequence id 1 begins a reply.
   * Alone in the queue, the cut command takes it (read as a one-packet
   * reply). With others waiting, the newest takes it: a client that waits
   * for each reply before its next command (as MySQL clients do) sent the
   * newest once every reply before its own was complete, so those replies
   * ended in the lost bytes, and their commands are emitted as far as they
   * got. A pipelining client's reply would be the oldest's; then its later
   * replies find no command and are counted unmatched, where giving this one
   * to the oldest would put every later reply of a one-at-a-time client on
   * the command before its own, for as long as the connection lasts.
   * Returns the command the packet belongs to.
   */
  private replyStarts(c: Cmd): Cmd {
    this.replyCut = false;
    if (this.queue.length < 2) {
      c.state = 'single';
      return c;
    }
    while (this.queue.length > 1) {
      const lost = this.queue.shift()!;
      lost.state = 'none';
      this.emit(lost, lost.responseBytes ? 'exchange' : 'unanswered', lost.endNs ?? lost.startNs);
    }
    return this.queue[0];
  }

  /**
   * A packet of the rest of a cut reply (sequence id not 1): counted on its
   * command, not read as structure, since the packets before it are gone. An
   * ERR ends the command; so does the OK that ends a result set when
   * CLIENT_DEPRECATE_EOF is on (0xFE then appears nowhere else), unless more
   * result sets follow. Without it, an EOF may end column definitions as
   * well as rows: the command ends when the next reply begins, or with the
   * connection.
   */
  private cutReply(c: Cmd, p: MyPacket, first: number): void {
    if (first === Header.Err) {
      this.replyCut = false;
      return this.errEnd(c, p);
    }
    // (0xFE starts a row too when its first value is 16 MiB or more: such a packet is 0xFFFFFF long, as in `row`)
    if (first === Header.Eof && p.length < 0xffffff && this.caps !== null && this.caps & Cap.DeprecateEof && !(this.okFrom(c, p).status & Status.MoreResultsExist)) {
      this.replyCut = false;
      this.finish(c, p);
    }
  }

  private greeting(p: MyPacket): void {
    const h = this.newCmd(-1, p);
    h.requestBytes = 0;
    h.responseBytes = p.wireLength;
    h.endNs = p.endNs;
    h.lastSeq = lastSeqOf(p);
    if (p.payload[0] === Header.Err) {
      // refused before any handshake ("Host ... is not allowed to connect")
      h.err = decodeErr(p.payload);
      this.phase = 'command';
      this.emit(h, 'message', p.endNs);
      return;
    }
    if (p.payload[0] !== 10) {
      // not a greeting: we must have joined later than it
      this.phase = 'command';
      this.fromServer(p);
      return;
    }
    const g = decodeGreeting(p.payload);
    this.facts.serverVersion = g.serverVersion;
    this.facts.connectionId = g.connectionId;
    this.facts.serverCapabilities = g.capabilities;
    this.facts.mariadb = /mariadb/i.test(g.serverVersion);
    h.authPlugin = g.authPlugin;
    this.handshake = h;
    this.phase = 'handshake';
  }

  private handshakeFromServer(p: MyPacket): void {
    const h = this.handshake;
    if (!h) return;
    h.responseBytes += p.wireLength;
    h.endNs = p.endNs;
    h.lastSeq = lastSeqOf(p);
    const first = p.payload[0];
    if (first === Header.Ok && this.phase === 'auth') {
      h.ok = decodeOk(p.payload, this.caps ?? 0);
      if (h.ok.schema) this.facts.schema = h.ok.schema;
      this.finishHandshake(h, p);
    } else if (first === Header.Err) {
      h.err = decodeErr(p.payload);
      this.finishHandshake(h, p);
    } else if (first === Header.Eof && p.length > 1) {
      // AuthSwitchRequest: plugin name, then plugin data (a scramble: not read)
      h.authSwitchedTo = new PayloadReader(p.payload, 1).cstring();
    }
    // 0x01 AuthMoreData (caching_sha2 fast-auth result, public keys): nothing to report
  }

  private finishHandshake(h: Cmd, p: MyPacket): void {
    this.handshake = null;
    this.phase = 'command';
    const caps = h.ok !== undefined && this.caps !== null ? this.caps : 0;
    if (caps & Cap.ZstdCompression) {
      // zstd-compressed frames are not unwrapped: report and stop rather than misread
      h.compressed = 'zstd';
      h.flags.add('undecodable');
      this.emit(h, 'exchange', p.endNs);
      this.stop('compressed');
      return;
    }
    if (caps & Cap.Compress) {
      h.compressed = 'zlib';
      this.unwrap = [this.unwrapper(0), this.unwrapper(1)];
    }
    this.emit(h, 'exchange', p.endNs);
  }

  private unwrapper(dir: Dir): CompressedUnwrapper {
    return new CompressedUnwrapper(
      {
        bytes: (chunk, ts) => (dir === 0 ? this.client : this.server).push(chunk, ts),
        lost: (n) => {
          if (n > 0) this.ctx.count('mysql.gap_bytes', n);
          this.innerLost(dir);
        },
        damaged: () => this.ctx.count('mysql.compressed_damaged'),
        frame: (seq) => this.frame(dir, seq),
        skipped: (n) => this.ctx.count('mysql.resync_skipped_bytes', n),
      },
      this.limit,
    );
  }

  /** Bytes of the packet stream of `dir` are gone (a gap, or a compressed frame that could not be read). */
  private innerLost(dir: Dir): void {
    (dir === 0 ? this.client : this.server).lose();
    if (dir === 1) this.serverSeqUnknown = true;
    this.lastFrameSeq = -1;
  }

  /**
   * Compressed frames number on across both directions: a request's frames
   * from 0, the reply's frames from the next id. A client frame 0 starts a
   * command; a server frame 1 may start the reply to a pipelined one.
   */
  private frame(dir: Dir, seq: number): void {
    const last = this.lastFrameSeq;
    this.lastFrameSeq = seq;
    if (last < 0 || seq === ((last + 1) & 0xff) || seq === (dir === 0 ? 0 : 1)) return;
    this.ctx.count('mysql.sequence_error');
  }

  /** First reply packet of a query / execute: OK, ERR, LOCAL INFILE request, or a result set's column count. */
  private firstResponse(c: Cmd, p: MyPacket, first: number): void {
    if (first === Header.Ok && c.code === Command.StmtPrepare) return this.prepareOk(c, p);
    if (first === Header.Ok) return this.okEnd(c, p);
    if (first === Header.Err) return this.errEnd(c, p);
    if (first === Header.LocalInfile && c.code === Command.Query) {
      c.infile = { name: p.payload.toString('utf8', 1), size: 0, kept: [], keptBytes: 0 };
      return; // the client sends the file, then the server answers OK / ERR
    }
    if (first === Header.Eof && p.length < 9) return this.okEnd(c, p); // pre-4.1 style end
    const r = new PayloadReader(p.payload);
    const n = r.lenenc();
    const metadataFollows = this.caps !== null && this.caps & Cap.OptionalResultsetMetadata ? r.u8() === 1 : true;
    c.resultSets++;
    c.columnCount = n;
    c.columnsLeft = metadataFollows ? n : 0;
    c.columns = metadataFollows ? [] : c.columns;
    c.columnKeys = undefined;
    c.state = c.columnsLeft > 0 ? 'columns' : this.afterDefs();
  }

  private columnDef(c: Cmd, p: MyPacket, first: number): void {
    if (first === Header.Err) return this.errEnd(c, p);
    if (c.columns.length < MAX_COLUMNS_KEPT) c.columns.push(decodeColumnDef(p.payload));
    if (--c.columnsLeft === 0) {
      c.columnKeys = columnKeys(c.columns);
      c.state = this.afterDefs();
    }
  }

  /** After definitions: an EOF packet unless CLIENT_DEPRECATE_EOF; joined late, the next packet tells. */
  private afterDefs(): 'columnsEof' | 'rows' {
    return this.caps !== null && this.caps & Cap.DeprecateEof ? 'rows' : 'columnsEof';
  }

  private columnsEof(c: Cmd, p: MyPacket, first: number): void {
    if (first === Header.Eof && p.length === 5) {
      const eof = decodeEof(p.payload);
      c.state = 'rows';
      if (eof.status & CURSOR_EXISTS) this.finish(c, p);
      return;
    }
    if (first === Header.Err) return this.errEnd(c, p);
    // no EOF: CLIENT_DEPRECATE_EOF is on; this packet is already a row or the end
    c.state = 'rows';
    this.row(c, p, first);
  }

  private row(c: Cmd, p: MyPacket, first: number): void {
    if (first === Header.Eof && p.length < 0xffffff) {
      // end of rows: EOF (5 bytes) or, under CLIENT_DEPRECATE_EOF, an OK with the 0xFE header
      const status = p.length <= 5 ? this.eofFrom(c, p) : this.okFrom(c, p).status;
      if (status & Status.MoreResultsExist) {
        c.state = 'first';
        return;
      }
      return this.finish(c, p);
    }
    if (first === Header.Err) return this.errEnd(c, p);
    c.returnedRows++;
    if (c.rows.length >= this.ctx.options.maxRows) {
      c.rowsCut = true;
      return;
    }
    const budget = (c.budget ??= new ValueBudget(this.ctx.options.maxBody));
    const keys = (c.columnKeys ??= columnKeys(c.columns));
    const binary = c.code === Command.StmtExecute || c.code === Command.StmtFetch;
    const row: Record<string, Value> = {};
    if (binary) {
      const values = decodeBinaryRow(p.payload, c.columns, budget);
      // a column named `__proto__` is defined, not assigned: assigned, it set no property and was lost
      values.forEach((v, i) => setOwn(row, keys[i] ?? String(i), v));
    } else {
      const cells = decodeTextRow(p.payload, c.columnCount);
      cells.forEach((v, i) => {
        const d = c.columns[i];
        setOwn(row, keys[i] ?? String(i), textCell(v, d?.type ?? 0xfd, d?.charset ?? 33, budget));
      });
    }
    if (budget.cut || p.truncated) c.flags.add('truncated');
    c.rows.push(row);
  }

  private prepareOk(c: Cmd, p: MyPacket): void {
    const ok = decodePrepareOk(p.payload);
    const st: Statement = { id: ok.statementId, text: c.text ?? '', truncated: c.flags.has('truncated'), params: ok.params, columns: [] };
    this.statements.delete(st.id);
    this.statements.set(st.id, st);
    if (this.statements.size > MAX_STATEMENTS) {
      this.statements.delete(this.statements.keys().next().value as number);
      this.ctx.count('mysql.statements_forgotten');
    }
    this.lastPrepared = st;
    c.statementId = ok.statementId;
    c.prepared = { statementId: ok.statementId, params: ok.params, columns: ok.columns };
    c.paramsLeft = ok.params;
    c.columnsLeft = ok.columns;
    if (ok.params + ok.columns === 0) return this.finish(c, p);
    c.state = 'prepareDefs';
  }

  /** Parameter then column definitions of a prepare reply, each block followed by EOF unless CLIENT_DEPRECATE_EOF. */
  private prepareDef(c: Cmd, p: MyPacket, first: number): void {
    if (first === Header.Eof && p.length === 5) {
      if (c.paramsLeft === 0 && c.columnsLeft === 0) this.finish(c, p);
      return;
    }
    if (c.paramsLeft > 0) c.paramsLeft--;
    else if (c.columnsLeft > 0) {
      c.columnsLeft--;
      const def = decodeColumnDef(p.payload);
      if (c.columns.length < MAX_COLUMNS_KEPT) c.columns.push(def);
      const st = this.statements.get(c.statementId!);
      if (st && st.columns.length < MAX_COLUMNS_KEPT) st.columns.push(def);
    }
    if (c.paramsLeft === 0 && c.columnsLeft === 0) {
      if (this.caps !== null && this.caps & Cap.DeprecateEof) return this.finish(c, p);
      if (this.caps === null) {
        // joined late: an EOF may or may not follow; swallow it if it does
        this.maybeTrailingEof = lastSeqOf(p);
        return this.finish(c, p);
      }
    }
  }

  private fieldListDef(c: Cmd, p: MyPacket, first: number): void {
    if (first === Header.Err) return this.errEnd(c, p);
    if (first === Header.Eof && p.length < 0xffffff) {
      if (p.length > 5) this.okFrom(c, p); // CLIENT_DEPRECATE_EOF: an OK ends the list
      return this.finish(c, p);
    }
    if (c.columns.length < MAX_COLUMNS_KEPT) c.columns.push(decodeColumnDef(p.payload));
  }

  /**
   * COM_CHANGE_USER: user, auth response (1-byte length with
   * CLIENT_SECURE_CONNECTION, else NUL-terminated; never read), schema, then
   * charset, plugin and attributes.
   */
  private changeUser(c: Cmd, p: MyPacket): void {
    const r = new PayloadReader(p.payload, 1);
    c.user = r.cstring();
    if (this.caps === null || this.caps & Cap.SecureConnection) r.skip(r.u8());
    else r.cstring();
    const schema = r.short ? '' : r.cstring();
    if (schema) c.schemaArg = schema;
    this.enqueue(c, 'auth');
  }

  private changeUserReply(c: Cmd, p: MyPacket, first: number): void {
    if (first === Header.Ok) {
      // the session is the new user's, in the schema it named (none if it named none); the server
      // dropped the old session's prepared statements with the rest of its state
      this.facts.user = c.user;
      this.facts.schema = c.schemaArg;
      this.statements.clear();
      this.lastPrepared = undefined;
      return this.okEnd(c, p);
    }
    if (first === Header.Err) return this.errEnd(c, p);
    if (first === Header.Eof && p.length > 1) c.authSwitchedTo = new PayloadReader(p.payload, 1).cstring();
  }

  private singleReply(c: Cmd, p: MyPacket, first: number): void {
    if (first === Header.Ok && c.code !== Command.Statistics) return this.okEnd(c, p);
    if (first === Header.Err) return this.errEnd(c, p);
    if (c.code === Command.Statistics) c.statistics = p.payload.toString('utf8');
    this.finish(c, p);
  }

  /** The EOF that ends rows: its warning count is the statement's; returns the status flags. */
  private eofFrom(c: Cmd, p: MyPacket): number {
    const eof = decodeEof(p.payload);
    c.eofWarnings = eof.warnings;
    return eof.status;
  }

  private okFrom(c: Cmd, p: MyPacket) {
    const ok = decodeOk(p.payload, this.caps ?? 0);
    c.ok = ok;
    c.eofWarnings = undefined;
    if (ok.schema) this.facts.schema = ok.schema;
    return ok;
  }

  private okEnd(c: Cmd, p: MyPacket): void {
    const ok = this.okFrom(c, p);
    if (c.code === Command.InitDb && c.schemaArg !== undefined) this.facts.schema = c.schemaArg;
    if (c.code === Command.ResetConnection) {
      // the server closed the session's prepared statements (user and schema stay)
      this.statements.clear();
      this.lastPrepared = undefined;
    }
    if (ok.status & Status.MoreResultsExist && (c.code === Command.Query || c.code === Command.StmtExecute)) {
      c.state = 'first';
      return;
    }
    this.finish(c, p);
  }

  private errEnd(c: Cmd, p: MyPacket): void {
    c.err = decodeErr(p.payload);
    this.finish(c, p);
  }

  private finish(c: Cmd, p: MyPacket): void {
    c.state = 'none';
    const i = this.queue.indexOf(c);
    if (i >= 0) this.queue.splice(i, 1);
    this.emit(c, 'exchange', p.endNs);
  }

  // ---- helpers -------------------------------------------------------------

  private newCmd(code: number, p: MyPacket): Cmd {
    return {
      code,
      name: code === -1 ? 'handshake' : commandName[code] ?? `COM_0x${code.toString(16).padStart(2, '0')}`,
      startNs: p.startNs,
      requestBytes: p.wireLength,
      responseBytes: 0,
      flags: new Set(),
      lastSeq: lastSeqOf(p),
      state: 'first',
      columnCount: 0,
      columnsLeft: 0,
      columns: [],
      paramsLeft: 0,
      rows: [],
      returnedRows: 0,
      resultSets: 0,
    };
  }

  private enqueue(c: Cmd, state: Cmd['state']): void {
    c.state = state;
    this.maybeTrailingEof = -1;
    if (this.queue.length >= this.ctx.options.maxPending) {
      const old = this.queue.shift()!;
      this.ctx.count('mysql.pending_overflow');
      old.flags.add('overflow');
      this.emit(old, 'unanswered', c.startNs);
    }
    this.queue.push(c);
  }

  private keepInfile(c: Cmd, p: MyPacket): void {
    const f = c.infile!;
    f.size += p.length;
    const room = this.ctx.options.maxBody - f.keptBytes;
    if (room > 0 && p.length > 0) {
      const part = p.payload.subarray(0, room);
      f.kept.push(Buffer.from(part));
      f.keptBytes += part.length;
    }
    if (f.keptBytes < f.size || p.truncated) c.flags.add('truncated');
  }

  private setText(c: Cmd, b: Buffer, cut: boolean): void {
    const max = this.ctx.options.maxBody;
    if (b.length > max || cut) c.flags.add('truncated');
    const { text, redacted } = redactSqlSecrets(b.toString('utf8', 0, Math.min(b.length, max)));
    if (redacted) this.ctx.count('mysql.password_redacted');
    c.text = text;
  }

  private emit(c: Cmd, kind: EventKind, endNs: bigint): void {
    this.ctx.emit(sqlRecord(c, kind, endNs, this.ctx.conn.midstream, buildAttributes(c, this.facts)));
  }

  private stop(reason: string): void {
    this.done = true;
    this.queue = [];
    this.ctx.abandon(reason);
  }
}

/** Sequence id of the last physical packet of a (possibly multi-packet) payload. */
function lastSeqOf(p: MyPacket): number {
  return (p.seq + p.packets - 1) & 0xff;
}
