/**
 * Maps a finished PostgreSQL step to event attributes: OpenTelemetry `db.*`
 * names where semconv has them, the `postgresql` group for the rest.
 */
import { sqlOperation } from '../sql/operation.js';
import type { Column, ErrorFields } from './decode.js';
import type { PgConnectionFacts, Portal, Statement } from './session.js';
import type { Value, ValueBudget } from './values.js';
import { TEXT_AS_LATIN1, type PgTextCodec } from './encoding.js';

/** One request the stitcher is tracking, with what its response brought so far. */
export interface Step {
  op:
    | 'startup'
    | 'ssl'
    | 'gssenc'
    | 'cancel'
    | 'query'
    | 'parse'
    | 'bind'
    | 'describe'
    | 'execute'
    | 'close'
    | 'sync'
    | 'function'
    | 'terminate'
    | 'notification'
    | 'orphan';
  startNs: bigint;
  endNs?: bigint;
  requestBytes: number;
  responseBytes: number;
  flags: Set<string>;
  text?: string;
  statementName?: string;
  statement?: Statement;
  portal?: Portal;
  columns?: Column[];
  columnKeys?: string[];
  rows: Array<Record<string, Value>>;
  rowsCut?: boolean;
  rowBudget?: ValueBudget;
  returnedRows: number;
  tags: string[];
  emptyQuery?: boolean;
  suspended?: boolean;
  error?: ErrorFields;
  notices: ErrorFields[];
  copy?: {
    direction: 'in' | 'out' | 'both';
    format: 'text' | 'binary';
    messages: number;
    bytes: number;
    kept: Buffer[];
    keptBytes: number;
    failed: boolean;
    /** The server sent CopyDone: a binary COPY TO's last CopyData was its trailer. */
    serverDone?: boolean;
    /** COPY text is in the client encoding in force when the COPY began. */
    codec: PgTextCodec;
  };
  // startup and negotiation
  protocolVersion?: string;
  authMethod?: string;
  authOk?: boolean;
  saslOffered?: string[];
  saslMechanism?: string;
  awaitingSaslChoice?: boolean;
  negotiationAnswer?: string;
  cancelPid?: number;
  functionOid?: number;
  notification?: { pid: number; channel: string; payload: string };
}

/** The frontend message that opened each kind of step, as events name it. */
const messageName: Record<Step['op'], string> = {
  startup: 'StartupMessage',
  ssl: 'SSLRequest',
  gssenc: 'GSSENCRequest',
  cancel: 'CancelRequest',
  query: 'Query',
  parse: 'Parse',
  bind: 'Bind',
  describe: 'Describe',
  execute: 'Execute',
  close: 'Close',
  sync: 'Sync',
  function: 'FunctionCall',
  terminate: 'Terminate',
  notification: 'NotificationResponse',
  orphan: 'unknown',
};

/** `INSERT 0 1` → `INSERT`, `CREATE TABLE` → `CREATE TABLE`, `SELECT 3` → `SELECT`. */
export function tagOperation(tag: string): string {
  let end = tag.length;
  while (end > 0) {
    const sp = tag.lastIndexOf(' ', end - 1);
    const word = tag.slice(sp + 1, end);
    if (!/^\d+$/.test(word)) break;
    end = sp < 0 ? 0 : sp;
  }
  return tag.slice(0, end);
}

/** The row count a command tag reports (`INSERT 0 5` → 5), if any. */
export function tagRowCount(tag: string): number | undefined {
  const m = /\s(\d+)$/.exec(tag);
  return m ? Number(m[1]) : undefined;
}

/**
 * Rows a COPY TO sent: the count of its `COPY n` tag; without one (an error
 * cut it short), one per CopyData, which PostgreSQL sends one a row except
 * in binary format, where the header rides with the first row and the
 * trailer comes alone last (a COPY of no rows sends one message holding both).
 */
function copyOutRows(s: Step): number {
  for (let i = s.tags.length - 1; i >= 0; i--) {
    if (s.tags[i].startsWith('COPY ')) {
      const n = tagRowCount(s.tags[i]);
      if (n !== undefined) return n;
    }
  }
  const c = s.copy!;
  return c.format === 'binary' && c.serverDone ? Math.max(0, c.messages - 1) : c.messages;
}

export function buildAttributes(s: Step, facts: PgConnectionFacts): Record<string, unknown> {
  const db: Record<string, unknown> = { system: { name: 'postgresql' } };
  if (facts.database !== undefined) db.namespace = facts.database;
  const pg: Record<string, unknown> = { message: messageName[s.op] };
  if (facts.user !== undefined) pg.user = facts.user;
  if (facts.applicationName !== undefined) pg.application_name = facts.applicationName;

  const query: Record<string, unknown> = {};
  if (s.text !== undefined) query.text = s.text;
  const params = s.op === 'execute' ? s.portal?.params : undefined;
  if (params) query.parameter = params;
  if (Object.keys(query).length) db.query = query;

  const operation = s.tags.length ? tagOperation(s.tags[0]) : s.text !== undefined ? sqlOperation(s.text) : undefined;
  if (operation) db.operation = { name: operation };

  const response: Record<string, unknown> = {};
  if (s.error?.code) response.status_code = s.error.code;
  const returnsRows = s.rows.length > 0 || s.returnedRows > 0 || s.columns !== undefined || s.portal?.columns !== undefined;
  if (s.copy?.direction === 'out') response.returned_rows = copyOutRows(s);
  else if (returnsRows || s.tags.some((t) => t.startsWith('SELECT ') || t.startsWith('FETCH '))) response.returned_rows = s.returnedRows;
  if (s.rows.length) response.rows = s.rows;
  if (Object.keys(response).length) db.response = response;

  if (s.statementName !== undefined && s.statementName !== '') pg.statement = { name: s.statementName };
  if (s.op === 'execute' && s.portal && s.portal.name !== '') pg.portal = { name: s.portal.name };
  if (s.tags.length) {
    pg.command_tag = s.tags[s.tags.length - 1];
    if (s.tags.length > 1) pg.command_tags = s.tags;
    const count = tagRowCount(s.tags[s.tags.length - 1]);
    if (count !== undefined) pg.row_count = count;
  }
  if (s.emptyQuery) pg.empty_query = true;
  if (s.suspended) pg.portal_suspended = true;
  if (s.error) pg.error = compact(s.error);
  if (s.notices.length) pg.notices = s.notices.map(compact);
  if (s.copy) {
    const data = Buffer.concat(s.copy.kept);
    const codec = s.copy.codec;
    const before = codec.fallbacks;
    const content = s.copy.format === 'text' ? codec.decode(data, 0, data.length, s.copy.keptBytes < s.copy.bytes) : undefined;
    // read by sqlRecord after the attributes are built
    if (codec.fallbacks !== before) s.flags.add(TEXT_AS_LATIN1);
    const copy: Record<string, unknown> = {
      direction: s.copy.direction,
      format: s.copy.format,
      messages: s.copy.messages,
      data: { size: s.copy.bytes, ...(content !== undefined ? { content } : {}) },
    };
    if (s.copy.keptBytes < s.copy.bytes) (copy.data as Record<string, unknown>).truncated = true;
    if (s.copy.failed) copy.failed = true;
    pg.copy = copy;
  }
  switch (s.op) {
    case 'startup': {
      if (s.protocolVersion) pg.protocol_version = s.protocolVersion;
      const auth: Record<string, unknown> = {};
      if (s.authMethod) auth.method = s.authMethod;
      if (s.saslOffered) auth.sasl_mechanisms = s.saslOffered;
      if (s.saslMechanism) auth.sasl_mechanism = s.saslMechanism;
      auth.ok = s.authOk === true;
      pg.auth = auth;
      if (facts.serverVersion) pg.server_version = facts.serverVersion;
      if (facts.backendPid !== undefined) pg.backend_pid = facts.backendPid;
      break;
    }
    case 'ssl':
    case 'gssenc':
      if (s.negotiationAnswer) pg.negotiation = { answer: s.negotiationAnswer };
      break;
    case 'cancel':
      pg.cancel = { backend_pid: s.cancelPid };
      break;
    case 'function':
      if (s.functionOid !== undefined) pg.function_oid = s.functionOid;
      break;
    case 'notification':
      pg.notification = s.notification;
      break;
    default:
      break;
  }
  const out: Record<string, unknown> = { db, postgresql: pg };
  if (s.error?.code) out.error = { type: s.error.code };
  return out;
}

function compact(e: ErrorFields): Record<string, string> {
  const o: Record<string, string> = {};
  for (const [k, v] of Object.entries(e)) if (v !== undefined) o[k] = v;
  return o;
}
