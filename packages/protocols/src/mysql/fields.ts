/**
 * Maps a finished MySQL command (or the handshake) to event attributes:
 * OpenTelemetry `db.*` names where semconv has them, the `mysql` group for
 * the rest. `db.system.name` is `mariadb` when the server's greeting says so
 * (semconv names the two systems apart), `mysql` otherwise.
 */
import { sqlOperation } from '../sql/operation.js';
import { typeName } from './constants.js';
import type { ColumnDef, ErrPacket, OkPacket, ProgressReport } from './decode.js';
import type { Value, ValueBudget } from './values.js';

/** One command the stitcher is tracking, with what its response brought so far. */
export interface Cmd {
  /** Command byte, or -1 for the connection handshake. */
  code: number;
  name: string;
  startNs: bigint;
  endNs?: bigint;
  requestBytes: number;
  responseBytes: number;
  flags: Set<string>;
  /** Sequence id of the last packet seen for this command (either side). */
  lastSeq: number;
  text?: string;
  statementId?: number;
  params?: Record<string, Value>;
  queryAttributes?: Record<string, Value>;
  schemaArg?: string;
  /** COM_FIELD_LIST's table */
  table?: string;
  /** Response reading state (see session.ts). */
  state: ResponseState;
  columnCount: number;
  columnsLeft: number;
  columns: ColumnDef[];
  columnKeys?: string[];
  paramsLeft: number;
  rows: Array<Record<string, Value>>;
  rowsCut?: boolean;
  budget?: ValueBudget;
  returnedRows: number;
  resultSets: number;
  ok?: OkPacket;
  /** Warning count of the EOF packet that ended the (last) result set (no CLIENT_DEPRECATE_EOF). */
  eofWarnings?: number;
  err?: ErrPacket;
  /** MariaDB progress reports received before the reply: how many, and the last. */
  progress?: { reports: number; last: ProgressReport };
  prepared?: { statementId: number; params: number; columns: number };
  statistics?: string;
  infile?: { name: string; size: number; kept: Buffer[]; keptBytes: number };
  // handshake
  user?: string;
  database?: string;
  authPlugin?: string;
  authSwitchedTo?: string;
  attributes?: Record<string, string>;
  tlsRequested?: boolean;
  /** The connection switched to the compressed protocol after the handshake. */
  compressed?: 'zlib' | 'zstd';
}

export type ResponseState =
  | 'first'
  | 'columns'
  | 'columnsEof'
  | 'rows'
  | 'prepareDefs'
  | 'fieldList'
  | 'single'
  | 'auth'
  | 'none';

export interface MyConnectionFacts {
  serverVersion?: string;
  connectionId?: number;
  serverCapabilities?: number;
  clientCapabilities?: number;
  user?: string;
  schema?: string;
  mariadb: boolean;
}

/** Most column definitions listed per result set. */
const MAX_COLUMNS_LISTED = 64;

export function buildAttributes(c: Cmd, facts: MyConnectionFacts): Record<string, unknown> {
  const db: Record<string, unknown> = { system: { name: facts.mariadb ? 'mariadb' : 'mysql' } };
  const namespace = c.code === -1 ? c.database : facts.schema;
  if (namespace) db.namespace = namespace;
  const my: Record<string, unknown> = { command: c.name };
  const user = c.user ?? facts.user;
  if (user !== undefined) my.user = user;

  const query: Record<string, unknown> = {};
  if (c.text !== undefined) query.text = c.text;
  if (c.params) query.parameter = c.params;
  if (Object.keys(query).length) db.query = query;
  const operation = c.text !== undefined ? sqlOperation(c.text) : undefined;
  if (operation) db.operation = { name: operation };

  const response: Record<string, unknown> = {};
  if (c.err) response.status_code = String(c.err.code);
  if (c.columnCount > 0 || c.returnedRows > 0) response.returned_rows = c.returnedRows;
  if (c.rows.length) response.rows = c.rows;
  if (Object.keys(response).length) db.response = response;

  if (c.statementId !== undefined) my.statement_id = c.statementId;
  if (c.prepared) my.prepared = { statement_id: c.prepared.statementId, params: c.prepared.params, columns: c.prepared.columns };
  if (c.queryAttributes) my.query_attributes = c.queryAttributes;
  if (c.schemaArg !== undefined) my.schema = c.schemaArg;
  if (c.table !== undefined) my.table = c.table;
  if (c.columns.length && c.code !== -1) {
    my.columns = c.columns.slice(0, MAX_COLUMNS_LISTED).map((d) => ({
      name: d.name,
      ...(d.table ? { table: d.table } : {}),
      type: typeName[d.type] ?? String(d.type),
    }));
  }
  if (c.resultSets > 1) my.result_sets = c.resultSets;
  if (c.ok) {
    my.affected_rows = c.ok.affectedRows;
    if (c.ok.lastInsertId) my.last_insert_id = c.ok.lastInsertId;
    if (c.ok.info) my.info = c.ok.info;
  }
  // the count of the packet that ended the command: an OK, or the EOF after the rows
  const warnings = c.eofWarnings ?? c.ok?.warnings;
  if (warnings) my.warnings = warnings;
  if (c.err) my.error = { code: c.err.code, ...(c.err.sqlState ? { sql_state: c.err.sqlState } : {}), message: c.err.message };
  if (c.progress) {
    const l = c.progress.last;
    my.progress = { reports: c.progress.reports, stage: l.stage, max_stage: l.maxStage, percent: l.percent, ...(l.state ? { state: l.state } : {}) };
  }
  if (c.statistics !== undefined) my.statistics = c.statistics;
  if (c.infile) {
    const content = Buffer.concat(c.infile.kept).toString('utf8');
    my.local_infile = { name: c.infile.name, data: { size: c.infile.size, content, ...(c.infile.keptBytes < c.infile.size ? { truncated: true } : {}) } };
  }
  if (c.code === -1) {
    if (facts.serverVersion !== undefined) my.server = { version: facts.serverVersion };
    if (facts.connectionId !== undefined) my.connection_id = facts.connectionId;
    if (facts.serverCapabilities !== undefined) my.server_capabilities = facts.serverCapabilities;
    if (facts.clientCapabilities !== undefined) my.client_capabilities = facts.clientCapabilities;
    const auth: Record<string, unknown> = { ok: c.ok !== undefined };
    if (c.authPlugin) auth.plugin = c.authPlugin;
    if (c.authSwitchedTo) auth.switched_to = c.authSwitchedTo;
    my.auth = auth;
    if (c.attributes) my.connection_attributes = c.attributes;
    if (c.tlsRequested) my.tls_requested = true;
    if (c.compressed) my.compression = c.compressed;
  }
  const out: Record<string, unknown> = { db, mysql: my };
  if (c.err) out.error = { type: String(c.err.code) };
  return out;
}

/** Keys for row objects: column names, suffixed where a name repeats. */
export function columnKeys(cols: ColumnDef[]): string[] {
  const seen = new Map<string, number>();
  return cols.map((c) => {
    const n = (seen.get(c.name) ?? 0) + 1;
    seen.set(c.name, n);
    return n === 1 ? c.name : `${c.name}_${n}`;
  });
}
