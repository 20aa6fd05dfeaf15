/**
 * memcached requests and responses → event fields: semconv `db.*` (system
 * memcached, the operation, the text command line, the values returned) and
 * the `memcached` group (protocol, keys, item flags and times, the stored
 * value, the response's status, values, counters and statistics).
 */
import { bodyView, type BodyCapture } from '../body.js';
import { OUTCOMES } from './constants.js';

export interface McValue {
  key: string;
  flags: number;
  cas?: string;
  value: BodyCapture;
}

export interface McRequest {
  protocol: 'text' | 'meta' | 'binary';
  op: string;
  /** The text command line (text and meta). */
  line?: string;
  keys: string[];
  flags?: number;
  exptime?: number;
  cas?: string;
  delta?: string;
  initial?: string;
  noreply?: true;
  /** No answer comes when it went well (meta `q`, binary quiet opcodes). */
  quiet?: boolean;
  metaFlags?: string[];
  /** The meta opaque token (`O...`), or the binary opaque. */
  opaque?: string | number;
  opcode?: number;
  value?: BodyCapture;
  /** SASL authentication data: its size only. */
  authSize?: number;
  startNs: bigint;
  endNs: bigint;
  bytes: number;
}

export interface McResponse {
  status?: string;
  /** Binary status code. */
  statusCode?: number;
  message?: string;
  values: McValue[];
  stats?: Record<string, string>;
  number?: string;
  version?: string;
  metaFlags?: string[];
  opaque?: string | number;
  opcode?: number;
  startNs: bigint;
  endNs: bigint;
  bytes: number;
}

export interface Fields {
  attributes: Record<string, unknown>;
  flags: string[];
}

function body(b: BodyCapture, maxBody: number, flags: string[]): Record<string, unknown> {
  const v = bodyView(b, undefined, undefined, maxBody) as unknown as Record<string, unknown>;
  if (v.truncated && !flags.includes('truncated')) flags.push('truncated');
  return v;
}

function responseGroup(r: McResponse, maxBody: number, flags: string[]): Record<string, unknown> {
  const g: Record<string, unknown> = {};
  if (r.status !== undefined) g.status = r.status;
  if (r.message) g.message = r.message;
  if (r.values.length) g.values = r.values.map((v) => (v.cas === undefined ? { key: v.key, flags: v.flags, value: body(v.value, maxBody, flags) } : { key: v.key, flags: v.flags, cas: v.cas, value: body(v.value, maxBody, flags) }));
  if (r.number !== undefined) g.number = r.number;
  if (r.stats) g.stats = r.stats;
  if (r.version !== undefined) g.version = r.version;
  if (r.metaFlags?.length) g.meta_flags = r.metaFlags;
  return g;
}

/** Items a retrieval returned: its VALUE blocks; for `mg`, one on a hit (VA, or HD without the value asked for). */
function returnedRows(req: McRequest, res: McResponse): number | undefined {
  if (req.op === 'mg') return res.status === 'EN' ? 0 : res.status === 'VA' || res.status === 'HD' ? 1 : undefined;
  if (RETRIEVALS.has(req.op)) return res.values.length;
  return undefined;
}

/** Retrieval operations, text and binary. */
const RETRIEVALS = new Set(['get', 'gets', 'gat', 'gats', 'getq', 'getk', 'getkq', 'gatq', 'gatk', 'gatkq']);

/** A failure, by name: ERROR, CLIENT_ERROR, SERVER_ERROR, or a binary status that is not an outcome. */
function failure(r: McResponse | undefined): string | undefined {
  if (!r) return undefined;
  if (r.statusCode !== undefined) return OUTCOMES.has(r.statusCode) ? undefined : r.status;
  return r.status === 'ERROR' || r.status === 'CLIENT_ERROR' || r.status === 'SERVER_ERROR' ? r.status : undefined;
}

/** The event of `req` answered by `res` (or of an answer alone, `req` undefined). */
export function memcachedAttributes(req: McRequest | undefined, res: McResponse | undefined, maxBody: number): Fields {
  const flags: string[] = [];
  const db: Record<string, unknown> = { system: { name: 'memcached' } };
  const mc: Record<string, unknown> = {};
  if (req) {
    db.operation = { name: req.op };
    if (req.line !== undefined) db.query = { text: req.line };
    mc.protocol = req.protocol;
    if (req.keys.length) mc.keys = req.keys;
    if (req.flags !== undefined) mc.flags = req.flags;
    if (req.exptime !== undefined) mc.exptime = req.exptime;
    if (req.cas !== undefined) mc.cas = req.cas;
    if (req.delta !== undefined) mc.delta = req.delta;
    if (req.initial !== undefined) mc.initial = req.initial;
    if (req.noreply) mc.noreply = true;
    if (req.metaFlags?.length) mc.meta_flags = req.metaFlags;
    if (req.value) mc.value = body(req.value, maxBody, flags);
    if (req.authSize !== undefined) mc.auth_data = { size: req.authSize };
  }
  if (res) {
    mc.response = responseGroup(res, maxBody, flags);
    const rows = req ? returnedRows(req, res) : undefined;
    if (rows !== undefined) db.response = { returned_rows: rows };
  }
  const attributes: Record<string, unknown> = { db, memcached: mc };
  const err = failure(res);
  if (err) attributes.error = { type: err };
  attributes.network = { protocol: { name: 'memcached' } };
  return { attributes, flags };
}
