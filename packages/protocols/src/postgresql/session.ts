/**
 * One PostgreSQL connection: frames both directions, keeps the per-connection
 * state the protocol needs to make sense of later messages (prepared
 * statements and portals, the startup parameters), and stitches requests to
 * their responses strictly in order.
 *
 * Every client message that the server answers becomes a pending step in a
 * FIFO; server messages complete the step at the head. Simple queries end at
 * ReadyForQuery; extended-protocol Executes end at CommandComplete (or
 * EmptyQuery / PortalSuspended / ErrorResponse). After an ErrorResponse the
 * server skips everything up to the next Sync, and so does the stitcher.
 * Events: one per simple query, Execute, Parse not followed by an Execute in
 * the same batch, startup, SSL/GSS negotiation, CancelRequest, Terminate,
 * and NotificationResponse.
 */
import type { CloseReason, Dir } from '@panopticon/flows';
import { setOwn, type EventKind } from '@panopticon/events';
import type { ParserContext, StreamParser } from '../types.js';
import {
  AuthCode,
  Backend,
  Frontend,
  StartupCode,
  authMethodName,
  backendTypes,
  fixedLength,
  frontendTypes,
} from './constants.js';
import {
  type Column,
  type ErrorFields,
  decodeAuthentication,
  decodeBind,
  decodeCancelPid,
  decodeCopyResponse,
  decodeDataRow,
  decodeErrorFields,
  decodeExecute,
  decodeNotification,
  decodeParameterDescription,
  decodeParameterStatus,
  decodeParse,
  decodeRowDescription,
  decodeSaslMechanism,
  decodeTarget,
  decodeUntyped,
} from './decode.js';
import { ANSWER_BYTE, PgFramer, type PgMessage, UNTYPED } from './framer.js';
import { ValueBudget, renderValue, type Value } from './values.js';
import { TEXT_AS_LATIN1, UTF8_CODEC, canonicalEncoding, codecFor, type PgTextCodec } from './encoding.js';
import { buildAttributes, type Step } from './fields.js';
import { sqlRecord } from '../sql/record.js';
import { detectPostgresql } from './detect.js';
import { redactSqlSecrets } from '../sql/secrets.js';

/** Named statements / portals remembered per connection; the oldest is forgotten past this. */
const MAX_NAMED = 1024;
/** Notices kept per exchange. */
const MAX_NOTICES = 8;

export interface Statement {
  name: string;
  text: string;
  textTruncated: boolean;
  /** The text could not be decoded in the client encoding and is shown as latin1. */
  textAsLatin1: boolean;
  paramOids: number[];
  columns?: Column[];
  /** Column names from a Describe that could not be decoded in the client encoding. */
  columnsAsLatin1?: boolean;
}

export interface Portal {
  name: string;
  statement?: Statement;
  statementName: string;
  params?: Record<string, Value>;
  paramsTruncated: boolean;
  /** Some parameter could not be decoded in the client encoding and is shown as latin1. */
  paramsAsLatin1: boolean;
  resultFormats: number[];
  columns?: Column[];
  columnsAsLatin1?: boolean;
}

/** Connection facts that every event carries. */
export interface PgConnectionFacts {
  user?: string;
  database?: string;
  applicationName?: string;
  serverVersion?: string;
  backendPid?: number;
}

const closeFlag: Record<CloseReason, string> = {
  fin: 'closed',
  rst: 'reset',
  idle: 'timeout',
  evicted: 'evicted',
  end: 'eof',
};

export class PgSession implements StreamParser {
  readonly facts: PgConnectionFacts = {};
  private readonly client: PgFramer;
  private readonly server: PgFramer;
  private readonly statements = new Map<string, Statement>();
  private readonly portals = new Map<string, Portal>();
  private queue: Step[] = [];
  /** Server results that answer no request we saw (joined mid-connection). */
  private orphan: Step | null = null;
  /** An error was reported in an extended-protocol batch: the server ignores messages until Sync. */
  private discardUntilSync = false;
  /** The step whose COPY FROM STDIN runs: the server ignores Sync until the client's CopyDone or CopyFail. */
  private copyIn: Step | null = null;
  private done = false;
  private firstBytes = true;
  private readonly limit: number;
  /**
   * Bytes of the Parse/Bind/Describe/Close plumbing (and their answers) since the
   * last Execute: the next Execute's event counts them, as they were sent for it.
   */
  private batchRequestBytes = 0;
  private batchResponseBytes = 0;
  /**
   * The connection's client_encoding: UTF-8 until the StartupMessage or a
   * ParameterStatus says otherwise (a connection joined mid-stream stays
   * UTF-8 until the server reports a change).
   */
  private codec: PgTextCodec = UTF8_CODEC;

  constructor(private readonly ctx: ParserContext) {
    const o = ctx.options;
    this.limit = o.maxBody + o.maxHeaderBytes;
    const window = Math.max(o.maxHeaderBytes, 4096);
    const midstream = ctx.conn.midstream;
    this.client = new PgFramer(
      midstream ? 'resync' : 'untyped',
      frontendTypes,
      fixedLength.frontend,
      { message: (m) => this.fromClient(m), damaged: (n) => this.damaged(n) },
      this.limit,
      window,
    );
    this.server = new PgFramer(
      midstream ? 'resync' : 'typed',
      backendTypes,
      fixedLength.backend,
      { message: (m) => this.fromServer(m), damaged: (n) => this.damaged(n) },
      this.limit,
      window,
    );
  }

  // ---- StreamParser --------------------------------------------------------

  data(dir: Dir, chunk: Buffer, tsNs: bigint): void {
    if (this.done) return;
    if (this.firstBytes) {
      this.firstBytes = false;
      // SYN missed but the connection is young: it opens with a startup-phase message
      if (dir === 0 && this.client.mode === 'resync' && isStartupPhase(chunk)) {
        this.client.mode = 'untyped';
        this.server.mode = 'typed';
      }
    }
    try {
      (dir === 0 ? this.client : this.server).push(chunk, tsNs);
    } catch (err) {
      // A decoder bug must not take the whole pipeline down: give this stream up and say why.
      this.ctx.count('postgresql.internal_error');
      this.stop(`postgresql: ${(err as Error).message}`);
    }
  }

  gap(dir: Dir, length: number, _tsNs: bigint): void {
    if (this.done) return;
    this.ctx.count('postgresql.gap_bytes', length);
    (dir === 0 ? this.client : this.server).lose();
    for (const s of this.queue) s.flags.add('gap');
    if (this.orphan) this.orphan.flags.add('gap');
  }

  end(_dir: Dir, _tsNs: bigint): void {
    // PostgreSQL never delimits a message by closing the stream.
  }

  close(reason: CloseReason, tsNs: bigint): void {
    if (this.done) return;
    this.done = true;
    for (const s of this.queue) {
      if (!producesEvent(s)) continue;
      s.flags.add(closeFlag[reason]);
      this.emit(s, 'unanswered', s.endNs ?? tsNs);
    }
    this.queue = [];
    if (this.orphan) this.emit(this.orphan, 'orphan_response', this.orphan.endNs ?? tsNs);
    this.orphan = null;
  }

  // ---- client → server -----------------------------------------------------

  private fromClient(m: PgMessage): void {
    if (m.type === UNTYPED) return this.untyped(m);
    if (m.truncated) this.ctx.count('postgresql.oversized_message');
    switch (m.type) {
      case Frontend.Query: return this.query(m);
      case Frontend.Parse: return this.parse(m);
      case Frontend.Bind: return this.bind(m);
      case Frontend.Describe: return this.describe(m);
      case Frontend.Execute: return this.execute(m);
      case Frontend.Close: return this.closeTarget(m);
      case Frontend.Sync: return this.sync(m);
      case Frontend.Flush: return;
      case Frontend.FunctionCall: return this.functionCall(m);
      case Frontend.Password: return this.password(m);
      case Frontend.CopyData:
      case Frontend.CopyDone:
      case Frontend.CopyFail: return this.copyFromClient(m);
      case Frontend.Terminate: return this.terminate(m);
      default:
        this.ctx.count('postgresql.unknown_message');
    }
  }

  private untyped(m: PgMessage): void {
    const { code, params } = decodeUntyped(m.body);
    if (code >> 16 === 3) {
      this.client.mode = 'typed';
      this.server.mode = 'typed';
      this.facts.user = params.user;
      this.facts.database = params.database ?? params.user;
      this.facts.applicationName = params.application_name;
      // the client speaks it from its first query on; the server's ParameterStatus confirms or corrects it
      if (params.client_encoding !== undefined) this.setEncoding(params.client_encoding);
      const s = this.step('startup', m);
      s.protocolVersion = `${code >> 16}.${code & 0xffff}`;
      return;
    }
    if (code === StartupCode.SSLRequest || code === StartupCode.GSSENCRequest) {
      this.step(code === StartupCode.SSLRequest ? 'ssl' : 'gssenc', m);
      this.server.mode = 'answer';
      return;
    }
    if (code === StartupCode.CancelRequest) {
      const s = this.newStep('cancel', m);
      s.cancelPid = decodeCancelPid(m.body);
      this.emit(s, 'message', m.endNs);
      return;
    }
    this.ctx.count('postgresql.unknown_startup_code');
    this.client.mode = 'typed';
  }

  private query(m: PgMessage): void {
    const s = this.step('query', m);
    this.setText(s, m.body, m.truncated);
  }

  private parse(m: PgMessage): void {
    if (this.discarding()) return;
    const before = this.codec.fallbacks;
    const p = decodeParse(m.body, this.codec);
    const st: Statement = { name: p.name, text: '', textTruncated: false, textAsLatin1: false, paramOids: p.paramOids };
    const s = this.step('parse', m);
    this.setText(s, p.query, m.truncated);
    this.flagFallback(s, before);
    st.text = s.text ?? '';
    st.textTruncated = s.flags.has('truncated');
    st.textAsLatin1 = s.flags.has(TEXT_AS_LATIN1);
    s.statementName = p.name;
    remember(this.statements, p.name, st, this.ctx, 'postgresql.statements_forgotten');
  }

  private bind(m: PgMessage): void {
    if (this.discarding()) return;
    const before = this.codec.fallbacks;
    const b = decodeBind(m.body, this.codec);
    const statement = this.statements.get(b.statement);
    if (!statement) this.ctx.count('postgresql.unknown_statement');
    const budget = new ValueBudget(this.ctx.options.maxBody);
    const params: Record<string, Value> = {};
    for (let i = 0; i < b.values.length; i++) {
      const format = b.paramFormats.length === 0 ? 0 : b.paramFormats[b.paramFormats.length === 1 ? 0 : i] ?? 0;
      params[String(i)] = renderValue(b.values[i], statement?.paramOids[i] ?? 0, format, budget, this.codec);
    }
    const portal: Portal = {
      name: b.portal,
      statement,
      statementName: b.statement,
      params: b.values.length > 0 ? params : undefined,
      paramsTruncated: budget.cut || b.short || m.truncated,
      paramsAsLatin1: this.codec.fallbacks !== before,
      resultFormats: b.resultFormats,
    };
    remember(this.portals, b.portal, portal, this.ctx, 'postgresql.portals_forgotten');
    const s = this.step('bind', m);
    s.portal = portal;
  }

  private describe(m: PgMessage): void {
    if (this.discarding()) return;
    const t = decodeTarget(m.body, this.codec);
    const s = this.step('describe', m);
    if (t.kind === 'P') s.portal = this.portals.get(t.name);
    else s.statement = this.statements.get(t.name);
  }

  private execute(m: PgMessage): void {
    if (this.discarding()) return;
    const e = decodeExecute(m.body, this.codec);
    const s = this.step('execute', m);
    const portal = this.portals.get(e.portal);
    if (!portal) this.ctx.count('postgresql.unknown_portal');
    s.portal = portal;
    s.statementName = portal?.statementName;
    const st = portal?.statement;
    if (st) {
      s.text = st.text;
      if (st.textTruncated) s.flags.add('truncated');
      if (st.textAsLatin1) s.flags.add(TEXT_AS_LATIN1);
    }
    if (portal?.paramsTruncated) s.flags.add('truncated');
    if (portal?.paramsAsLatin1) s.flags.add(TEXT_AS_LATIN1);
  }

  private closeTarget(m: PgMessage): void {
    if (this.discarding()) return;
    const t = decodeTarget(m.body, this.codec);
    if (t.kind === 'P') this.portals.delete(t.name);
    else this.statements.delete(t.name);
    this.step('close', m);
  }

  private sync(m: PgMessage): void {
    if (this.copyIn) {
      // read in copy-in mode: the server ignores it and sends no ReadyForQuery for it
      this.ctx.count('postgresql.sync_in_copy');
      this.copyIn.requestBytes += m.wireLength;
      return;
    }
    this.discardUntilSync = false;
    this.step('sync', m);
  }

  private functionCall(m: PgMessage): void {
    const s = this.step('function', m);
    s.functionOid = m.body.length >= 4 ? m.body.readUInt32BE(0) : undefined;
  }

  /** Password / SASL / GSS responses: counted toward the startup exchange, never decoded beyond the SASL mechanism name. */
  private password(m: PgMessage): void {
    const s = this.queue[0];
    if (!s || s.op !== 'startup') {
      this.ctx.count('postgresql.unexpected_password_message');
      return;
    }
    s.requestBytes += m.wireLength;
    if (s.awaitingSaslChoice) {
      s.saslMechanism = decodeSaslMechanism(m.body);
      s.awaitingSaslChoice = false;
    }
  }

  private copyFromClient(m: PgMessage): void {
    const s = this.queue[0];
    if (!s || !s.copy || s.copy.direction !== 'in') {
      this.ctx.count('postgresql.unexpected_copy_data');
      return;
    }
    s.requestBytes += m.wireLength;
    if (m.type === Frontend.CopyData) this.keepCopyData(s, m);
    else {
      this.copyIn = null;
      if (m.type === Frontend.CopyFail) s.copy.failed = true;
    }
  }

  private terminate(m: PgMessage): void {
    this.emit(this.newStep('terminate', m), 'message', m.endNs);
  }

  // ---- server → client -----------------------------------------------------

  private fromServer(m: PgMessage): void {
    if (m.type === ANSWER_BYTE) return this.answer(m);
    switch (m.type) {
      case Backend.Authentication: return this.authentication(m);
      case Backend.ParameterStatus: return this.parameterStatus(m);
      case Backend.BackendKeyData:
        this.facts.backendPid = m.body.readInt32BE(0);
        return this.touchStartup(m);
      case Backend.NegotiateProtocolVersion: return this.touchStartup(m);
      case Backend.ParseComplete: return this.parseComplete(m);
      case Backend.BindComplete: return this.simpleAck(m, 'bind');
      case Backend.CloseComplete: return this.simpleAck(m, 'close');
      case Backend.ParameterDescription: return this.parameterDescription(m);
      case Backend.NoData: return this.describeDone(m, undefined);
      case Backend.RowDescription: return this.rowDescription(m);
      case Backend.DataRow: return this.dataRow(m);
      case Backend.CommandComplete: return this.commandComplete(m, m.body.toString('utf8', 0, Math.max(0, m.body.length - 1)));
      case Backend.EmptyQueryResponse: return this.commandComplete(m, undefined);
      case Backend.PortalSuspended: return this.portalSuspended(m);
      case Backend.ErrorResponse: return this.errorResponse(m);
      case Backend.NoticeResponse: return this.notice(m);
      case Backend.NotificationResponse: return this.notification(m);
      case Backend.ReadyForQuery: return this.readyForQuery(m);
      case Backend.CopyInResponse:
      case Backend.CopyOutResponse:
      case Backend.CopyBothResponse: return this.copyResponse(m);
      case Backend.CopyData: return this.copyFromServer(m);
      case Backend.CopyDone: return this.copyDoneFromServer(m);
      case Backend.FunctionCallResponse: return this.touchResult(m);
      default:
        this.ctx.count('postgresql.unknown_message');
    }
  }

  /** The single byte answering SSLRequest ('S' / 'N') or GSSENCRequest ('G' / 'N'). */
  private answer(m: PgMessage): void {
    const s = this.take(['ssl', 'gssenc']);
    const byte = String.fromCharCode(m.body[0]);
    if (!s) {
      this.ctx.count('postgresql.unexpected_answer');
      return;
    }
    this.queue.shift();
    this.respond(s, m);
    s.negotiationAnswer = byte;
    if ((s.op === 'ssl' && byte === 'S') || (s.op === 'gssenc' && byte === 'G')) {
      s.flags.add(s.op === 'ssl' ? 'tls' : 'undecodable');
      this.emit(s, 'exchange', m.endNs);
      if (s.op === 'ssl') this.handOverTls();
      else this.stop('gss-encrypted');
      return;
    }
    this.emit(s, 'exchange', m.endNs);
    // refused: the client goes on with a StartupMessage (or another request) in plain text
    this.client.mode = 'untyped';
  }

  private authentication(m: PgMessage): void {
    const s = this.take(['startup']);
    if (!s) return this.touchOrphan(m);
    this.respond(s, m);
    const a = decodeAuthentication(m.body);
    if (a.code === AuthCode.Ok) {
      s.authOk = true;
      if (!s.authMethod) s.authMethod = 'trust';
      return;
    }
    const name = authMethodName[a.code];
    if (name) s.authMethod = name;
    if (a.code === AuthCode.SASL) {
      s.saslOffered = a.mechanisms;
      s.awaitingSaslChoice = true;
    }
  }

  private parameterStatus(m: PgMessage): void {
    const [name, value] = decodeParameterStatus(m.body);
    if (name === 'client_encoding') this.setEncoding(value);
    else if (name === 'server_version') this.facts.serverVersion = value;
    else if (name === 'application_name') this.facts.applicationName = value || undefined;
    this.touchStartup(m);
  }

  private touchStartup(m: PgMessage): void {
    const s = this.queue[0];
    if (s && s.op === 'startup') this.respond(s, m);
  }

  private parseComplete(m: PgMessage): void {
    const s = this.take(['parse']);
    if (!s) return this.touchOrphan(m);
    this.queue.shift();
    this.respond(s, m);
    // A Parse whose statement runs in this batch is reported by its Execute; otherwise by itself.
    if (!this.executeAhead()) this.emit(s, 'exchange', m.endNs);
  }

  private simpleAck(m: PgMessage, op: 'bind' | 'close'): void {
    const s = this.take([op]);
    if (!s) return this.touchOrphan(m);
    this.queue.shift();
    this.respond(s, m);
  }

  private parameterDescription(m: PgMessage): void {
    const s = this.take(['describe']);
    if (!s) return this.touchOrphan(m);
    this.respond(s, m);
    if (s.statement) s.statement.paramOids = decodeParameterDescription(m.body);
  }

  private describeDone(m: PgMessage, columns: Column[] | undefined, asLatin1 = false): void {
    const s = this.take(['describe']);
    if (!s) return this.touchOrphan(m);
    this.queue.shift();
    this.respond(s, m);
    if (s.statement) {
      s.statement.columns = columns;
      s.statement.columnsAsLatin1 = asLatin1;
    }
    if (s.portal) {
      s.portal.columns = columns;
      s.portal.columnsAsLatin1 = asLatin1;
    }
  }

  private rowDescription(m: PgMessage): void {
    const head = this.queue[0];
    const before = this.codec.fallbacks;
    const columns = decodeRowDescription(m.body, this.codec);
    // names kept for a later Execute's rows: the flag goes with them to the event that shows them
    if (head && head.op === 'describe') return this.describeDone(m, columns, this.codec.fallbacks !== before);
    const s = this.resultTarget(m);
    this.flagFallback(s, before);
    s.columns = columns;
    s.columnKeys = undefined;
  }

  private dataRow(m: PgMessage): void {
    const s = this.resultTarget(m);
    s.returnedRows++;
    if (s.rows.length >= this.ctx.options.maxRows) {
      s.rowsCut = true;
      return;
    }
    const cols = this.columnsOf(s);
    if (!s.columnKeys && !s.columns && (s.portal?.columns ? s.portal.columnsAsLatin1 : s.portal?.statement?.columnsAsLatin1)) s.flags.add(TEXT_AS_LATIN1);
    const keys = (s.columnKeys ??= columnKeys(cols));
    const values = decodeDataRow(m.body);
    const budget = (s.rowBudget ??= new ValueBudget(this.ctx.options.maxBody));
    const before = this.codec.fallbacks;
    const row: Record<string, Value> = {};
    for (let i = 0; i < values.length; i++) {
      const col = cols?.[i];
      const format = this.formatOf(s, i, col);
      // a column named `__proto__` is defined, not assigned: assigned, it set no property and was lost
      setOwn(row, keys[i] ?? String(i), renderValue(values[i], col?.typeOid ?? 0, format, budget, this.codec));
    }
    this.flagFallback(s, before);
    if (m.truncated || budget.cut) s.flags.add('truncated');
    s.rows.push(row);
  }

  private commandComplete(m: PgMessage, tag: string | undefined): void {
    const s = this.resultTarget(m);
    if (this.copyIn === s) this.copyIn = null;
    if (tag !== undefined) s.tags.push(tag);
    else s.emptyQuery = true;
    if (s.op === 'execute') {
      this.queue.shift();
      this.emit(s, 'exchange', m.endNs);
    }
  }

  private portalSuspended(m: PgMessage): void {
    const s = this.resultTarget(m);
    s.suspended = true;
    if (s.op === 'execute') {
      this.queue.shift();
      this.emit(s, 'exchange', m.endNs);
    }
  }

  private errorResponse(m: PgMessage): void {
    const before = this.codec.fallbacks;
    const err = decodeErrorFields(m.body, this.codec);
    const latin1 = this.codec.fallbacks !== before;
    this.copyIn = null;
    const head = this.queue[0];
    // FATAL/PANIC end the session: no ReadyForQuery follows, the server closes the connection
    const ending = err.severity === 'FATAL' || err.severity === 'PANIC';
    if (!head) {
      // FATAL/PANIC arrive unasked (administrator shutdown); anything else answers a request we did not see.
      const s = this.orphanStep(m);
      s.error = err;
      if (latin1) s.flags.add(TEXT_AS_LATIN1);
      const unasked = ending;
      this.orphan = null;
      this.emit(s, unasked ? 'message' : 'orphan_response', m.endNs);
      return;
    }
    if (head.op === 'query' || head.op === 'function' || head.op === 'sync') {
      this.respond(head, m);
      head.error ??= err;
      if (latin1) head.flags.add(TEXT_AS_LATIN1);
      if (ending) {
        // answered, by the error: not a request left unanswered when the connection closes
        this.queue.shift();
        this.emit(head, 'exchange', m.endNs);
      }
      return;
    }
    if (head.op === 'startup' || head.op === 'ssl' || head.op === 'gssenc') {
      // authentication and startup failures are FATAL: the server closes the connection next
      this.queue.shift();
      this.respond(head, m);
      head.error = err;
      if (latin1) head.flags.add(TEXT_AS_LATIN1);
      this.emit(head, 'exchange', m.endNs);
      return;
    }
    // Extended protocol: the failing step is the head; the server skips to the next Sync.
    // Report the error on the batch's Execute (what the application ran), else on the step itself.
    let target = head;
    let syncAt = this.queue.length;
    for (let i = 0; i < this.queue.length; i++) {
      const s = this.queue[i];
      if (s.op === 'sync') {
        syncAt = i;
        break;
      }
      if (s.op === 'execute' && target.op !== 'execute') target = s;
    }
    const skipped = this.queue.splice(0, syncAt);
    for (const s of skipped) if (s !== target) this.ctx.count('postgresql.skipped_after_error');
    if (target !== head) target.requestBytes += head.requestBytes;
    this.respond(target, m);
    target.error = err;
    if (latin1) target.flags.add(TEXT_AS_LATIN1);
    this.emit(target, 'exchange', m.endNs);
    // no Sync sent yet (the client used Flush): what it sends before its Sync is skipped too
    if (this.queue.length === 0) this.discardUntilSync = true;
  }

  private notice(m: PgMessage): void {
    const s = this.queue[0] ?? this.orphan;
    if (!s) {
      this.ctx.count('postgresql.unattached_notice');
      return;
    }
    this.respond(s, m);
    if (s.notices.length < MAX_NOTICES) {
      const before = this.codec.fallbacks;
      s.notices.push(decodeErrorFields(m.body, this.codec));
      this.flagFallback(s, before);
    } else this.ctx.count('postgresql.notices_dropped');
  }

  private notification(m: PgMessage): void {
    const s = this.newStep('notification', m);
    // the server sent it: its bytes are the response side's, as graph and metrics count directions
    s.requestBytes = 0;
    s.responseBytes = m.wireLength;
    const before = this.codec.fallbacks;
    s.notification = decodeNotification(m.body, this.codec);
    this.flagFallback(s, before);
    this.emit(s, 'message', m.endNs);
  }

  private readyForQuery(m: PgMessage): void {
    // The step that ends here is the oldest query, function call, Sync or startup.
    let at = -1;
    for (let i = 0; i < this.queue.length; i++) {
      const op = this.queue[i].op;
      if (op === 'query' || op === 'sync' || op === 'startup' || op === 'function') {
        at = i;
        break;
      }
    }
    if (at < 0) {
      if (this.orphan) {
        this.respond(this.orphan, m);
        this.emit(this.orphan, 'orphan_response', m.endNs);
        this.orphan = null;
      } else if (this.queue.length === 0) {
        this.ctx.count('postgresql.orphan_ready_for_query');
      }
      return;
    }
    for (const s of this.queue.splice(0, at)) {
      // steps the server never answered: only possible when bytes were lost or we joined late
      this.ctx.count('postgresql.unanswered_step');
      if (producesEvent(s)) {
        s.flags.add('gap');
        this.emit(s, 'unanswered', m.endNs);
      }
    }
    const s = this.queue.shift()!;
    this.respond(s, m);
    this.batchResponseBytes = 0;
    if (this.orphan) {
      this.emit(this.orphan, 'orphan_response', this.orphan.endNs ?? m.endNs);
      this.orphan = null;
    }
    if (s.op === 'sync' && !s.error) return;
    this.emit(s, 'exchange', m.endNs);
  }

  private copyResponse(m: PgMessage): void {
    const s = this.resultTarget(m);
    const r = decodeCopyResponse(m.body);
    const direction = m.type === Backend.CopyInResponse ? 'in' : m.type === Backend.CopyOutResponse ? 'out' : 'both';
    s.copy = { direction, format: r.format === 1 ? 'binary' : 'text', messages: 0, bytes: 0, kept: [], keptBytes: 0, failed: false, codec: this.codec };
    if (direction === 'in') this.enterCopyIn(s);
  }

  /**
   * COPY FROM STDIN began. A Sync the client sent after the COPY's Execute (libpq sends
   * Parse/Bind/Describe/Execute/Sync at once) reaches the server in copy-in mode and is
   * ignored; the client sends another after CopyDone. Those Syncs are no steps.
   */
  private enterCopyIn(s: Step): void {
    this.copyIn = s;
    const at = this.queue.indexOf(s);
    if (at < 0) return;
    for (let i = this.queue.length - 1; i > at; i--) {
      const q = this.queue[i];
      if (q.op !== 'sync') continue;
      this.queue.splice(i, 1);
      s.requestBytes += q.requestBytes;
      this.ctx.count('postgresql.sync_in_copy');
    }
  }

  private copyFromServer(m: PgMessage): void {
    const s = this.resultTarget(m);
    if (!s.copy) s.copy = { direction: 'out', format: 'text', messages: 0, bytes: 0, kept: [], keptBytes: 0, failed: false, codec: this.codec };
    this.keepCopyData(s, m);
  }

  private copyDoneFromServer(m: PgMessage): void {
    const s = this.resultTarget(m);
    if (s.copy) s.copy.serverDone = true;
  }

  private touchResult(m: PgMessage): void {
    this.resultTarget(m);
  }

  // ---- stitching helpers ---------------------------------------------------

  private newStep(op: Step['op'], m: PgMessage): Step {
    return {
      op,
      startNs: m.startNs,
      requestBytes: m.wireLength,
      responseBytes: 0,
      flags: new Set(),
      rows: [],
      returnedRows: 0,
      tags: [],
      notices: [],
    };
  }

  /** A new pending step at the tail of the queue (bounded: the oldest is given up as unanswered). */
  private step(op: Step['op'], m: PgMessage): Step {
    const s = this.newStep(op, m);
    if (this.queue.length >= this.ctx.options.maxPending) {
      const old = this.queue.shift()!;
      this.ctx.count('postgresql.pending_overflow');
      if (producesEvent(old)) {
        old.flags.add('overflow');
        this.emit(old, 'unanswered', m.startNs);
      }
    }
    this.queue.push(s);
    if (op === 'parse' || op === 'bind' || op === 'describe' || op === 'close') {
      this.batchRequestBytes += m.wireLength;
    } else if (op === 'execute') {
      s.requestBytes += this.batchRequestBytes;
      this.batchRequestBytes = 0;
    } else {
      this.batchRequestBytes = 0;
    }
    return s;
  }

  /** While the server skips to Sync after an error, messages before the Sync get no answer. */
  private discarding(): boolean {
    if (!this.discardUntilSync) return false;
    this.ctx.count('postgresql.skipped_after_error');
    return true;
  }

  /**
   * The oldest pending step of one of `ops` in the current batch. Steps before
   * it that never got their answer (possible only after loss or a late join)
   * are dropped and counted.
   */
  private take(ops: Array<Step['op']>): Step | undefined {
    for (let i = 0; i < this.queue.length; i++) {
      const s = this.queue[i];
      if (ops.includes(s.op)) {
        if (i > 0) {
          this.queue.splice(0, i);
          this.ctx.count('postgresql.unanswered_step', i);
        }
        return s;
      }
      if (s.op === 'sync' || s.op === 'query') return undefined;
    }
    return undefined;
  }

  /** Where result messages (rows, tags, COPY) go: the running query or Execute, else an orphan. */
  private resultTarget(m: PgMessage): Step {
    const head = this.queue[0];
    if (head && (head.op === 'query' || head.op === 'function' || head.op === 'execute')) {
      this.respond(head, m);
      return head;
    }
    const s = this.take(['execute']);
    if (s) {
      this.respond(s, m);
      return s;
    }
    return this.orphanStep(m);
  }

  private orphanStep(m: PgMessage): Step {
    if (!this.orphan) {
      this.orphan = this.newStep('orphan', m);
      this.orphan.requestBytes = 0;
    }
    this.respond(this.orphan, m);
    return this.orphan;
  }

  private touchOrphan(m: PgMessage): void {
    this.ctx.count('postgresql.unmatched_response');
    if (this.orphan) this.respond(this.orphan, m);
  }

  private respond(s: Step, m: PgMessage): void {
    if (s.op === 'parse' || s.op === 'bind' || s.op === 'describe' || s.op === 'close') {
      this.batchResponseBytes += m.wireLength;
    } else if (s.op === 'execute' && this.batchResponseBytes) {
      s.responseBytes += this.batchResponseBytes;
      this.batchResponseBytes = 0;
    }
    s.responseBytes += m.wireLength;
    s.endNs = m.endNs;
    if (m.truncated) s.flags.add('truncated');
  }

  /** Whether an Execute is pending in the current batch (before the next Sync). */
  private executeAhead(): boolean {
    for (const s of this.queue) {
      if (s.op === 'execute') return true;
      if (s.op === 'sync' || s.op === 'query') return false;
    }
    return false;
  }

  private columnsOf(s: Step): Column[] | undefined {
    return s.columns ?? s.portal?.columns ?? s.portal?.statement?.columns;
  }

  /**
   * A column's format: RowDescription says it for simple queries; for Execute, Bind's result
   * formats decide (even when the columns were described before the capture began).
   */
  private formatOf(s: Step, i: number, col: Column | undefined): number {
    if (s.op !== 'execute' || !s.portal) return col?.format ?? 0;
    const f = s.portal.resultFormats;
    return f.length === 0 ? 0 : (f.length === 1 ? f[0] : f[i]) ?? 0;
  }

  private keepCopyData(s: Step, m: PgMessage): void {
    const c = s.copy!;
    c.messages++;
    c.bytes += m.wireLength - 5;
    const room = this.ctx.options.maxBody - c.keptBytes;
    if (room <= 0) {
      s.flags.add('truncated');
      return;
    }
    const part = m.body.length > room ? m.body.subarray(0, room) : m.body;
    if (part.length < m.wireLength - 5) s.flags.add('truncated');
    c.kept.push(Buffer.from(part));
    c.keptBytes += part.length;
  }

  private setText(s: Step, body: Buffer, cut: boolean): void {
    // Query text is NUL-terminated; a cut body has no terminator.
    let end = body.indexOf(0);
    if (end < 0) end = body.length;
    const max = this.ctx.options.maxBody;
    if (end > max || cut) s.flags.add('truncated');
    const before = this.codec.fallbacks;
    const { text, redacted } = redactSqlSecrets(this.codec.decode(body, 0, Math.min(end, max), end > max || cut));
    this.flagFallback(s, before);
    if (redacted) this.ctx.count('postgresql.password_redacted');
    s.text = text;
  }

  /**
   * A client_encoding named by the StartupMessage or reported by the server.
   * A name PostgreSQL would not accept is ignored (the server refuses it, and
   * its ParameterStatus says what is in force).
   */
  private setEncoding(name: string): void {
    const canonical = canonicalEncoding(name);
    if (canonical === undefined) {
      this.ctx.count('postgresql.unknown_client_encoding');
      return;
    }
    if (canonical === this.codec.name) return;
    this.codec = codecFor(canonical);
    this.ctx.count('postgresql.client_encoding_changes');
  }

  /** Flags `s` when text decoded since the codec's fallback count was `before` had to be shown as latin1. */
  private flagFallback(s: Step, before: number): void {
    if (this.codec.fallbacks !== before) s.flags.add(TEXT_AS_LATIN1);
  }

  private damaged(skipped: number): void {
    this.ctx.count('postgresql.resync_skipped_bytes', skipped);
  }

  private emit(s: Step, kind: EventKind, endNs: bigint): void {
    this.ctx.emit(sqlRecord(s, kind, endNs, this.ctx.conn.midstream, buildAttributes(s, this.facts)));
  }

  private stop(reason: string): void {
    this.done = true;
    this.queue = [];
    this.orphan = null;
    this.ctx.abandon(reason);
  }

  /** The session goes on in TLS (the server answered the SSLRequest 'S'): its handshake is the tls parser's to read. */
  private handOverTls(): void {
    this.done = true;
    this.queue = [];
    this.orphan = null;
    this.ctx.handoff('tls');
  }
}

function isStartupPhase(chunk: Buffer): boolean {
  const d = detectPostgresql(chunk);
  return d !== null && d !== 'more' && d.sender === 'client' && d.confidence === 1;
}

/** Only these steps are worth an event when they go unanswered; Bind/Describe/Close/Sync are plumbing. */
function producesEvent(s: Step): boolean {
  return s.op === 'query' || s.op === 'execute' || s.op === 'parse' || s.op === 'startup' || s.op === 'function' || s.op === 'ssl' || s.op === 'gssenc';
}

/** Keys for row objects: column names, with a suffix where a name repeats (`?column?`, `?column?_2`). */
function columnKeys(cols: Column[] | undefined): string[] {
  if (!cols) return [];
  const seen = new Map<string, number>();
  return cols.map((c) => {
    const n = (seen.get(c.name) ?? 0) + 1;
    seen.set(c.name, n);
    return n === 1 ? c.name : `${c.name}_${n}`;
  });
}

function remember<T>(map: Map<string, T>, name: string, value: T, ctx: ParserContext, counter: string): void {
  map.delete(name);
  map.set(name, value);
  if (map.size > MAX_NAMED) {
    const oldest = map.keys().next().value as string;
    map.delete(oldest);
    ctx.count(counter);
  }
}

export type { ErrorFields };
