/**
 * One event → one span's shape: name, kind, exact start and end, attributes
 * and status. Attributes are the event's semantic-convention groups
 * flattened with dots (the envelope's design: no mapping table), plus a
 * few `pano.*` facts. Body contents, result rows, bound parameters, Redis
 * arguments and replies are left out, and `db.query.text` loses its
 * literals, unless asked for: they are payload, not telemetry, and may carry
 * personal data.
 */
import { SpanKind, SpanStatusCode, type Attributes, type AttributeValue, type HrTime } from '@opentelemetry/api';
import { at, errorOf, kindOf, nsOf, piiOf, protocolOf } from '@panopticon/graph';
import { setOwn } from '@panopticon/events';
import { sanitizeRedis, sanitizeSql } from './query-text.js';

export interface SpanShape {
  name: string;
  kind: SpanKind;
  startTime: HrTime;
  endTime: HrTime;
  attributes: Attributes;
  status: { code: SpanStatusCode; message?: string };
  /** the observed caller's span from a W3C traceparent header, when there is one */
  parent?: SpanParent;
  /** the contexts of the messages of a batch (Kafka records with different traceparents) */
  links?: SpanParent[];
}

export interface SpanParent {
  traceId: string;
  spanId: string;
  traceFlags: number;
}

/** Most links a batch span gets (one per distinct traceparent of its records). */
export const MAX_LINKS = 128;

export interface MappingOptions {
  /** keep `*.body.content`, `db.response.rows`, `db.query.parameter`, the literals of `db.query.text`, `redis.args`, `redis.response.value`, memcached keys and values, SMTP, POP3 and IMAP messages (and what IMAP fetched of them), LDAP entries, values and search filters, gRPC messages, Kafka record values, COPY and LOAD DATA LOCAL INFILE data, NOTIFY payloads and MySQL query attributes (default false) */
  includeContent?: boolean;
  /** keep the values of credential-bearing headers (default false: each value becomes `REDACTED`) */
  includeCredentials?: boolean;
  /** longest string attribute value; longer ones are cut (default 4096) */
  maxValueChars?: number;
}

const SKIP_GROUPS = new Set(['pano', 'pii']);
/**
 * Most attributes a span keeps: the tracer provider's span limit is set to it
 * (the SDK's default, 128, would cut silently at half), and what passes it is
 * counted by the SDK in the span's dropped_attributes_count.
 */
export const MAX_ATTRIBUTES = 256;
/** Most fields flattened from one event: bounds the work a hostile event costs (beyond, not even counted). */
const MAX_FLATTENED = 4 * MAX_ATTRIBUTES;

export function hrTimeFromNs(ns: bigint): HrTime {
  return [Number(ns / 1_000_000_000n), Number(ns % 1_000_000_000n)];
}

const TRACEPARENT_RE = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-.*)?$/;

/**
 * The parent from a W3C traceparent (version 00 layout; ff is invalid; all-zero ids are invalid;
 * upper-case hex is invalid too, §3.2.2: a receiver ignores such a header rather than fix it).
 */
export function parseTraceparent(value: unknown): SpanParent | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (typeof v !== 'string') return undefined;
  const m = TRACEPARENT_RE.exec(v.trim());
  if (!m || m[1] === 'ff') return undefined;
  if (m[1] === '00' && v.trim().length !== 55) return undefined;
  if (/^0+$/.test(m[2]!) || /^0+$/.test(m[3]!)) return undefined;
  return { traceId: m[2]!, spanId: m[3]!, traceFlags: parseInt(m[4]!, 16) };
}

/**
 * Payload, not telemetry: what is left out unless `--otlp-content`. `path`
 * names list elements without an index (`kafka.records.value.content`).
 */
function contentPath(path: string, key: string): boolean {
  switch (key) {
    case 'content':
      // bodies; a Kafka record's value; the rows of a COPY and the file of a LOAD DATA LOCAL INFILE
      return path.endsWith('.body.content') || path === 'kafka.records.value.content' || path === 'postgresql.copy.data.content' || path === 'mysql.local_infile.data.content';
    case 'rows':
      return path === 'db.response.rows';
    case 'messages':
      return path === 'grpc.request.messages' || path === 'grpc.response.messages';
    case 'parameter':
      return path === 'db.query.parameter';
    case 'args':
      return path === 'redis.args';
    case 'value':
      // a Redis reply's; a memcached storage command's data
      return path === 'redis.response.value' || path === 'memcached.value';
    case 'values':
      // the items a memcached retrieval returned
      return path === 'memcached.response.values';
    case 'keys':
      // a memcached command's keys name what is cached, often whose (`user:alice@example.com`)
      return path === 'memcached.keys';
    case 'message':
      // an e-mail's header fields and body, sent, retrieved or appended
      return path === 'smtp.message' || path === 'pop3.message' || path === 'imap.message' || path === 'imap.fetch.message';
    case 'entries':
    case 'attributes':
    case 'changes':
    case 'compare':
      // a directory's entries a search returned, and the values an add, modify or compare sent
      return path === 'ldap.entries' || path === 'ldap.attributes' || path === 'ldap.changes' || path === 'ldap.compare';
    case 'filter':
      // a search filter holds the values searched for (`(mail=ann@example.org)`)
      return path === 'ldap.search.filter';
    case 'envelope':
    case 'structure':
    case 'headers':
    case 'sections':
      // what IMAP fetched of a message: its envelope (names, addresses, subject), MIME structure
      // (attachments' file names), header fields, parts
      return path === 'imap.fetch.envelope' || path === 'imap.fetch.structure' || path === 'imap.fetch.headers' || path === 'imap.fetch.sections';
    case 'payload':
      // NOTIFY's payload: the statement that sent it leaves without it (`notify ch, ?`)
      return path === 'postgresql.notification.payload';
    case 'query_attributes':
      // values bound with a MySQL query beside its parameters (a user id, a tenant): parameters too
      return path === 'mysql.query_attributes';
    default:
      return false;
  }
}

/** What a credential's value becomes: the header stays visible, its value does not. */
export const REDACTED = 'REDACTED';

/** Keys whose object value is a map of header (or metadata) names: HTTP headers and trailers, AMQP and Kafka headers, MQTT 5 user properties. */
const HEADER_MAPS = new Set(['header', 'headers', 'trailer', 'trailers', 'metadata', 'user_properties']);

// Credential-bearing names, compared lower-cased: the standard ones (RFC 9110 Authorization and
// Proxy-Authorization, RFC 6265 Cookie and Set-Cookie, RFC 9449 DPoP), and any name with a part (split
// at - _ .) that says token, secret, password, session, credential, signature, auth or cookie, or that
// ends in key / apikey (X-API-Key, X-Goog-Api-Key, Ocp-Apim-Subscription-Key, X-Functions-Key …).
const CREDENTIAL_NAMES = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'set-cookie2', 'dpop']);
const CREDENTIAL_PART = /(?:^|[-_.])(?:auth|authorization|token|secret|password|passwd|passphrase|credentials?|session|sessionid|signature|cookie|apikey)(?:$|[-_.])|(?:^|[-_.])key$/;

/** Whether a header (metadata, message header) of this name carries a credential. */
export function isCredentialHeader(name: string): boolean {
  const n = name.toLowerCase();
  return CREDENTIAL_NAMES.has(n) || CREDENTIAL_PART.test(n);
}

/**
 * Query parameter names whose values OpenTelemetry's `url.query` convention
 * redacts by default (signed-URL keys), compared lower-cased; every name that
 * is a credential's as a header's is (`access_token`, `api_key`, `key`,
 * `X-Amz-Signature`, `X-Amz-Credential`, `password` …) too.
 */
const CREDENTIAL_QUERY_NAMES = new Set(['awsaccesskeyid', 'signature', 'sig', 'x-goog-signature']);

function credentialParam(rawName: string): boolean {
  let name = rawName;
  try {
    name = decodeURIComponent(rawName.replace(/\+/g, ' '));
  } catch {
    // a malformed escape: the name as it is written
  }
  return isCredentialHeader(name) || CREDENTIAL_QUERY_NAMES.has(name.toLowerCase());
}

/**
 * A query string (`a=1&token=x`) with the value of each credential-named
 * parameter replaced by REDACTED, everything else as it was written.
 */
export function redactQuery(query: string): string {
  let changed = false;
  const parts = query.split('&').map((part) => {
    const eq = part.indexOf('=');
    if (eq <= 0 || eq === part.length - 1 || !credentialParam(part.slice(0, eq))) return part;
    changed = true;
    return `${part.slice(0, eq)}=${REDACTED}`;
  });
  return changed ? parts.join('&') : query;
}

/**
 * `url.full` as OpenTelemetry wants it exported: user name and password in
 * the authority become REDACTED:REDACTED, and the query is redacted as
 * `url.query` is.
 */
export function redactUrl(url: string): string {
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.exec(url);
  let out = url;
  if (scheme) {
    const from = scheme[0].length;
    const slash = url.slice(from).search(/[/?#]/);
    const authorityEnd = slash < 0 ? url.length : from + slash;
    const at = url.lastIndexOf('@', authorityEnd - 1);
    if (at >= from) out = `${url.slice(0, from)}${url.slice(from, at).includes(':') ? `${REDACTED}:${REDACTED}` : REDACTED}${url.slice(at)}`;
  }
  const q = out.indexOf('?');
  if (q < 0) return out;
  const hash = out.indexOf('#', q);
  const end = hash < 0 ? out.length : hash;
  return out.slice(0, q + 1) + redactQuery(out.slice(q + 1, end)) + out.slice(end);
}

function redactValue(v: unknown): unknown {
  if (v === null || v === undefined) return v;
  return Array.isArray(v) ? v.map((x) => (x === null || x === undefined ? x : REDACTED)) : REDACTED;
}

/**
 * Levels of nesting followed in an event. pano-parse's deepest are a few (a
 * header map, a list of records with their headers); an event from elsewhere
 * may nest thousands deep, past the stack of the recursion here and of
 * JSON.stringify: what lies deeper leaves as NESTING_CUT.
 */
export const MAX_NESTING = 64;
/** What stands, in an attribute's JSON text, for a value nested deeper than MAX_NESTING. */
export const NESTING_CUT = `<cut: nested deeper than ${MAX_NESTING} levels>`;

/**
 * A value as it may leave: content left out (undefined) unless asked for,
 * credential header values replaced. Used inside lists of records, which
 * become JSON text (`kafka.records` with each record's value and headers).
 */
function clean(path: string, key: string, v: unknown, opts: Required<MappingOptions>, inHeaders: boolean, depth = 0): unknown {
  if (!opts.includeContent && contentPath(path, key)) return undefined;
  if (inHeaders && !opts.includeCredentials && isCredentialHeader(key)) return redactValue(v);
  if (v !== null && typeof v === 'object' && depth >= MAX_NESTING) return NESTING_CUT;
  if (Array.isArray(v)) return v.map((x) => clean(path, key, x, opts, false, depth + 1));
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    const headers = HEADER_MAPS.has(key);
    for (const k in v as Record<string, unknown>) {
      const c = clean(`${path}.${k}`, k, (v as Record<string, unknown>)[k], opts, headers, depth + 1);
      // an entry named __proto__ (a Kafka header, an AMQP table key) assigned would set the prototype and vanish
      if (c !== undefined) setOwn(out, k, c);
    }
    return out;
  }
  return v;
}

interface FlattenState {
  out: Attributes;
  count: number;
  opts: Required<MappingOptions>;
  /** The event, for what a value's treatment depends on elsewhere in it (`db.system.name` for `db.query.text`). */
  event: Record<string, unknown>;
  /** header maps met while flattening: flattened after everything else, so the span limit cuts headers first */
  headerMaps: Array<{ prefix: string; map: Record<string, unknown> }>;
}

/** `db.query.text` without its literals (Redis and memcached: without their arguments), as it leaves unless content is asked for. */
function sanitizedQuery(text: string, e: Record<string, unknown>): string {
  const system = at(e, 'db.system.name');
  if (system === 'redis') {
    const args = at(e, 'redis.args');
    const count = at(e, 'redis.args_count');
    return sanitizeRedis(text, typeof count === 'number' ? count : Array.isArray(args) ? args.length : 0);
  }
  // memcached: the command stays, its keys and numbers go (`set ? ? ? ?`)
  if (system === 'memcached') return sanitizeRedis(text, text.trim().split(/ +/).length - 1);
  return sanitizeSql(text, typeof system === 'string' ? system : '');
}

function flatten(prefix: string, key: string, v: unknown, st: FlattenState, inHeaders = false, depth = 0): void {
  if (st.count >= MAX_FLATTENED || v === null || v === undefined) return;
  if (!st.opts.includeContent) {
    if (contentPath(prefix, key)) return;
    if (prefix === 'db.query.text' && typeof v === 'string') v = sanitizedQuery(v, st.event);
  }
  if (!st.opts.includeCredentials) {
    if (inHeaders && isCredentialHeader(key)) v = redactValue(v);
    else if (typeof v === 'string' && prefix === 'url.query') v = redactQuery(v);
    else if (typeof v === 'string' && prefix === 'url.full') v = redactUrl(v);
  }
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
      const json = JSON.stringify(clean(prefix, key, v, st.opts, inHeaders));
      st.out[prefix] = json.length > max ? json.slice(0, max) : json;
    }
    st.count++;
  } else if (typeof v === 'object') {
    if (HEADER_MAPS.has(key)) st.headerMaps.push({ prefix, map: v as Record<string, unknown> });
    else if (depth >= MAX_NESTING) {
      // this deep, an object is one attribute of JSON text, as a list of records is, its depths past the bound cut
      const json = JSON.stringify(clean(prefix, key, v, st.opts, inHeaders));
      st.out[prefix] = json.length > max ? json.slice(0, max) : json;
      st.count++;
    } else for (const k in v as Record<string, unknown>) flatten(prefix ? `${prefix}.${k}` : k, k, (v as Record<string, unknown>)[k], st, false, depth + 1);
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
  const opcode = s('websocket.opcode');
  if (opcode) return `WebSocket ${opcode}`;
  return s('db.system.name') ?? protocol;
}

/**
 * The trace context an event carries: an HTTP request's traceparent header
 * (the caller's span: this span is the server side of that call), or a
 * message's (AMQP headers property, MQTT 5 user property, NATS header, Kafka record headers: the context the
 * producer put in, which the message's spans continue, as OpenTelemetry's
 * messaging conventions do). A Kafka exchange whose records carry several
 * contexts is a batch: linked to each rather than a child of one.
 */
function contextOf(e: Record<string, unknown>): { parent?: SpanParent; links?: SpanParent[]; viaHttp: boolean } {
  const http = parseTraceparent(at(e, 'http.request.header.traceparent'));
  if (http) return { parent: http, viaHttp: true };
  const amqp = parseTraceparent(at(e, 'amqp.properties.headers.traceparent') ?? at(e, 'amqp.response.properties.headers.traceparent'));
  if (amqp) return { parent: amqp, viaHttp: false };
  // MQTT 5 carries it as a user property (the W3C trace context MQTT binding)
  const mqtt = parseTraceparent(at(e, 'mqtt.properties.user_properties.traceparent'));
  if (mqtt) return { parent: mqtt, viaHttp: false };
  // NATS carries it as a message header (OpenTelemetry's NATS instrumentations)
  const nats = parseTraceparent(at(e, 'nats.headers.traceparent'));
  if (nats) return { parent: nats, viaHttp: false };
  const records = at(e, 'kafka.records');
  if (!Array.isArray(records)) return { viaHttp: false };
  const seen = new Map<string, SpanParent>();
  for (const r of records) {
    const headers = (r as { headers?: unknown } | null)?.headers;
    if (!headers || typeof headers !== 'object') continue;
    const p = parseTraceparent((headers as Record<string, unknown>).traceparent);
    if (p && seen.size < MAX_LINKS) seen.set(`${p.traceId}-${p.spanId}`, p);
  }
  if (seen.size === 0) return { viaHttp: false };
  if (seen.size === 1) return { parent: [...seen.values()][0], viaHttp: false };
  return { links: [...seen.values()], viaHttp: false };
}

function spanKind(e: Record<string, unknown>, joined: boolean): SpanKind {
  // An MQTT PUBLISH at QoS 1 or 2 is an exchange only because delivery is acknowledged: it is still
  // a message sent or received, not a call.
  if (kindOf(e) === 'message' || (at(e, 'messaging.system') === 'mqtt' && at(e, 'mqtt.packet_type') === 'PUBLISH')) {
    const op = at(e, 'messaging.operation.type');
    return op === 'receive' || op === 'process' ? SpanKind.CONSUMER : SpanKind.PRODUCER;
  }
  // a NATS request handed to a responder and its reply: the responder's side of a call
  if (at(e, 'messaging.system') === 'nats' && at(e, 'messaging.operation.type') === 'receive') return SpanKind.SERVER;
  // TLS plaintext says whose view it is; otherwise, joined to an observed caller span, this span is the server side of that call
  const view = at(e, 'pano.connection.view');
  if (view === 'server' || view === 'client') return view === 'server' ? SpanKind.SERVER : SpanKind.CLIENT;
  return joined ? SpanKind.SERVER : SpanKind.CLIENT;
}

export function spanShapeOf(e: Record<string, unknown>, options: MappingOptions = {}): SpanShape | undefined {
  const opts: Required<MappingOptions> = { includeContent: options.includeContent ?? false, includeCredentials: options.includeCredentials ?? false, maxValueChars: options.maxValueChars ?? 4096 };
  const start = nsOf(at(e, 'pano.start_ns'));
  if (start === undefined) return undefined;
  const end = nsOf(at(e, 'pano.end_ns')) ?? start;
  const protocol = protocolOf(e);
  // in the order they matter when the span limit cuts (the SDK keeps the first ones set): the
  // envelope's facts (event id, protocol, PII types), the event's fields, then its headers
  const attributes: Attributes = {};
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
  const st: FlattenState = { out: attributes, count: 0, opts, event: e, headerMaps: [] };
  for (const k in e) if (!SKIP_GROUPS.has(k)) flatten(k, k, e[k], st);
  for (const { prefix, map } of st.headerMaps) for (const k in map) flatten(`${prefix}.${k}`, k, map[k], st, true);

  const { parent, links, viaHttp } = contextOf(e);
  const err = errorOf(e);
  let status: SpanShape['status'] = { code: SpanStatusCode.UNSET };
  if (err !== undefined) status = { code: SpanStatusCode.ERROR, message: err };
  else if (kindOf(e) === 'unanswered') {
    const why = Array.isArray(flags) ? flags.find((f) => ['closed', 'eof', 'timeout', 'reset'].includes(f as string)) : undefined;
    status = { code: SpanStatusCode.ERROR, message: `unanswered${why ? `: ${why}` : ''}` };
  }
  return {
    name: spanName(e, protocol),
    kind: spanKind(e, viaHttp),
    startTime: hrTimeFromNs(start),
    endTime: hrTimeFromNs(end < start ? start : end),
    attributes,
    status,
    parent,
    ...(links ? { links } : {}),
  };
}
