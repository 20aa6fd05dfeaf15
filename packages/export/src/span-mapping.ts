/**
 * One event → one span's shape: name, kind, exact start and end, attributes
 * and status. Attributes are the event's semantic-convention groups
 * flattened with dots (the envelope's design: no mapping table), plus a
 * few `pano.*` facts. Body contents and result rows are left out unless
 * asked for: they are payload, not telemetry, and may carry personal data.
 */
import { SpanKind, SpanStatusCode, type Attributes, type AttributeValue, type HrTime } from '@opentelemetry/api';
import { at, errorOf, kindOf, nsOf, piiOf, protocolOf } from '@panopticon/graph';

export interface SpanShape {
  name: string;
  kind: SpanKind;
  startTime: HrTime;
  endTime: HrTime;
  attributes: Attributes;
  status: { code: SpanStatusCode; message?: string };
  /** the observed caller's span from a W3C traceparent header, when there is one */
  parent?: { traceId: string; spanId: string; traceFlags: number };
}

export interface MappingOptions {
  /** keep `*.body.content`, `db.response.rows` and message bodies (default false) */
  includeContent?: boolean;
  /** longest string attribute value; longer ones are cut (default 4096) */
  maxValueChars?: number;
}

const SKIP_GROUPS = new Set(['pano', 'pii']);
const MAX_ATTRIBUTES = 256;

export function hrTimeFromNs(ns: bigint): HrTime {
  return [Number(ns / 1_000_000_000n), Number(ns % 1_000_000_000n)];
}

const TRACEPARENT_RE = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-.*)?$/;

/** The parent from a W3C traceparent (version 00 layout; ff is invalid; all-zero ids are invalid). */
export function parseTraceparent(value: unknown): SpanShape['parent'] | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (typeof v !== 'string') return undefined;
  const m = TRACEPARENT_RE.exec(v.trim().toLowerCase());
  if (!m || m[1] === 'ff') return undefined;
  if (m[1] === '00' && v.trim().length !== 55) return undefined;
  if (/^0+$/.test(m[2]!) || /^0+$/.test(m[3]!)) return undefined;
  return { traceId: m[2]!, spanId: m[3]!, traceFlags: parseInt(m[4]!, 16) };
}

function contentPath(path: string, key: string): boolean {
  if (key === 'content') return path.endsWith('.body.content');
  if (key === 'rows') return path === 'db.response.rows';
  return key === 'messages' && path === 'grpc.messages';
}

interface FlattenState {
  out: Attributes;
  count: number;
  opts: Required<MappingOptions>;
}

function flatten(prefix: string, key: string, v: unknown, st: FlattenState): void {
  if (st.count >= MAX_ATTRIBUTES || v === null || v === undefined) return;
  if (!st.opts.includeContent && contentPath(prefix, key)) return;
  const max = st.opts.maxValueChars;
  if (typeof v === 'string') {
    st.out[prefix] = v.length > max ? v.slice(0, max) : v;
    st.count++;
  } else if (typeof v === 'number' || typeof v === 'boolean') {
    st.out[prefix] = v;
    st.count++;
  } else if (Array.isArray(v)) {
    if (v.every((x) => typeof x === 'string')) st.out[prefix] = v as string[];
    else if (v.every((x) => typeof x === 'number')) st.out[prefix] = v as number[];
    else if (v.every((x) => typeof x === 'boolean')) st.out[prefix] = v as boolean[];
    else {
      // lists of records (DNS answers …) have no attribute form: JSON text
      const json = JSON.stringify(v);
      st.out[prefix] = json.length > max ? json.slice(0, max) : json;
    }
    st.count++;
  } else if (typeof v === 'object') {
    for (const k in v as Record<string, unknown>) flatten(prefix ? `${prefix}.${k}` : k, k, (v as Record<string, unknown>)[k], st);
  }
}

function spanName(e: Record<string, unknown>, protocol: string): string {
  const s = (p: string) => {
    const v = at(e, p);
    return typeof v === 'string' && v ? v : undefined;
  };
  const method = s('http.request.method');
  if (method) return method;
  const rpcService = s('rpc.service');
  const rpcMethod = s('rpc.method');
  if (rpcService && rpcMethod) return `${rpcService}/${rpcMethod}`;
  const dbOp = s('db.operation.name');
  if (dbOp) return [dbOp, s('db.namespace')].filter(Boolean).join(' ');
  const msgOp = s('messaging.operation.name') ?? s('messaging.operation.type');
  if (msgOp) return [msgOp, s('messaging.destination.name')].filter(Boolean).join(' ');
  const qtype = s('dns.question.type');
  if (qtype) return `DNS ${qtype}`;
  return s('db.system.name') ?? protocol;
}

function spanKind(e: Record<string, unknown>, joined: boolean): SpanKind {
  if (kindOf(e) === 'message') {
    const op = at(e, 'messaging.operation.type');
    return op === 'receive' || op === 'process' ? SpanKind.CONSUMER : SpanKind.PRODUCER;
  }
  // joined to an observed caller span: this span is the server side of that call
  return joined ? SpanKind.SERVER : SpanKind.CLIENT;
}

export function spanShapeOf(e: Record<string, unknown>, options: MappingOptions = {}): SpanShape | undefined {
  const opts: Required<MappingOptions> = { includeContent: options.includeContent ?? false, maxValueChars: options.maxValueChars ?? 4096 };
  const start = nsOf(at(e, 'pano.start_ns'));
  if (start === undefined) return undefined;
  const end = nsOf(at(e, 'pano.end_ns')) ?? start;
  const protocol = protocolOf(e);
  const attributes: Attributes = {};
  const st: FlattenState = { out: attributes, count: 0, opts };
  for (const k in e) if (!SKIP_GROUPS.has(k)) flatten(k, k, e[k], st);
  const put = (k: string, v: AttributeValue | undefined) => {
    if (v !== undefined) attributes[k] = v;
  };
  put('pano.event.id', at(e, 'pano.id') as string | undefined);
  put('pano.protocol', protocol);
  put('pano.kind', kindOf(e));
  const flags = at(e, 'pano.flags');
  if (Array.isArray(flags) && flags.length) put('pano.flags', flags.filter((f) => typeof f === 'string'));
  put('pano.source.type', at(e, 'pano.source.type') as string | undefined);
  put('pano.source.name', at(e, 'pano.source.name') as string | undefined);
  put('pano.connection.id', at(e, 'pano.connection.id') as number | undefined);
  put('pano.request_bytes', at(e, 'pano.request_bytes') as number | undefined);
  put('pano.response_bytes', at(e, 'pano.response_bytes') as number | undefined);
  const pii = [...new Set(piiOf(e).map((f) => f.type))].sort();
  if (pii.length) put('pano.pii.types', pii);

  const parent = parseTraceparent(at(e, 'http.request.header.traceparent'));
  const err = errorOf(e);
  let status: SpanShape['status'] = { code: SpanStatusCode.UNSET };
  if (err !== undefined) status = { code: SpanStatusCode.ERROR, message: err };
  else if (kindOf(e) === 'unanswered') {
    const why = Array.isArray(flags) ? flags.find((f) => ['closed', 'eof', 'timeout', 'reset'].includes(f as string)) : undefined;
    status = { code: SpanStatusCode.ERROR, message: `unanswered${why ? `: ${why}` : ''}` };
  }
  return {
    name: spanName(e, protocol),
    kind: spanKind(e, parent !== undefined),
    startTime: hrTimeFromNs(start),
    endTime: hrTimeFromNs(end < start ? start : end),
    attributes,
    status,
    parent,
  };
}
