/**
 * What the graph and the exporters need to know about one event, read from
 * the v1 envelope (docs/EVENTS.md): which protocol, whether the exchange
 * failed, what operation it was, and which personal-data types crossed in
 * which direction. One place, so the graph's error counts, the Prometheus
 * status classes and the OTLP span status always agree.
 */

type Obj = Record<string, unknown>;

function obj(v: unknown): Obj | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : undefined;
}

/** Value at a dotted path of nested objects (`http.response.status_code`). */
const splitPaths = new Map<string, string[]>();

export function at(event: Obj, path: string): unknown {
  // paths are a small fixed set of literals: split each once, not per event
  let keys = splitPaths.get(path);
  if (!keys) {
    keys = path.split('.');
    if (splitPaths.size < 1024) splitPaths.set(path, keys);
  }
  let cur: unknown = event;
  for (const key of keys) {
    const o = obj(cur);
    if (!o) return undefined;
    cur = o[key];
  }
  return cur;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

function num(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && /^-?\d+$/.test(v)) return Number(v);
  return undefined;
}

export function protocolOf(e: Obj): string {
  return str(at(e, 'pano.protocol')) ?? 'unknown';
}

/**
 * TLS plaintext seen from both ends (pano-events(5) `pano.connection.mirror_of`):
 * the view captured second repeats the exchanges of the first, so counts skip it.
 */
export function isMirrorView(e: Obj): boolean {
  return typeof at(e, 'pano.connection.mirror_of') === 'number';
}

export function kindOf(e: Obj): string {
  return str(at(e, 'pano.kind')) ?? 'exchange';
}

/**
 * Why the exchange failed, or undefined when it did not. `error.type` is the
 * envelope's own verdict; the protocol checks cover producers that only set
 * the protocol's status (HTTP ≥ 500, gRPC ≠ 0, DNS rcode ≠ NOERROR, a DB or
 * messaging error code).
 */
export function errorOf(e: Obj): string | undefined {
  const declared = at(e, 'error.type');
  if (declared !== undefined && declared !== null && declared !== '') return String(declared);
  const status = num(at(e, 'http.response.status_code'));
  if (status !== undefined && status >= 500) return String(status);
  const grpc = num(at(e, 'rpc.grpc.status_code'));
  if (grpc !== undefined && grpc !== 0) return String(grpc);
  const rcode = str(at(e, 'dns.response_code'));
  if (rcode !== undefined && rcode !== 'NOERROR') return rcode;
  return undefined;
}

/** A short operation name for labels: method, DB operation, RPC method, messaging operation, DNS type, WebSocket opcode. */
export function operationOf(e: Obj): string {
  return (
    str(at(e, 'http.request.method')) ??
    str(at(e, 'db.operation.name')) ??
    (str(at(e, 'rpc.method')) && str(at(e, 'rpc.service'))
      ? `${at(e, 'rpc.service')}/${at(e, 'rpc.method')}`
      : str(at(e, 'rpc.method'))) ??
    str(at(e, 'messaging.operation.name')) ??
    str(at(e, 'messaging.operation.type')) ??
    str(at(e, 'dns.question.type')) ??
    str(at(e, 'websocket.opcode')) ??
    // a TLS or QUIC handshake: its version, so deprecated ones (TLS 1.0, 1.1) stand out in metrics
    (str(at(e, 'tls.protocol.version')) ? `TLS ${at(e, 'tls.protocol.version')}` : undefined) ??
    ''
  );
}

/**
 * Status class for metrics: `1xx`…`5xx` for HTTP responses, `unanswered`
 * for requests that got none, `error` / `ok` for everything else.
 */
export function statusClassOf(e: Obj): string {
  const kind = kindOf(e);
  if (kind === 'unanswered') return 'unanswered';
  const status = num(at(e, 'http.response.status_code'));
  if (status !== undefined && status >= 100 && status < 600) return `${Math.floor(status / 100)}xx`;
  return errorOf(e) === undefined ? 'ok' : 'error';
}

export type Direction = 'client_to_server' | 'server_to_client';

export interface PiiFinding {
  type: string;
  direction: Direction;
  path: string;
}

const RESPONSE_SEGMENTS = new Set(['response', 'answers', 'authority', 'additional', 'rows', 'trailer']);
const RECEIVING_OPERATIONS = new Set(['receive', 'process', 'deliver']);

/**
 * Fields the server sent that no `response` segment marks, by their first two
 * segments (pano-events(5)): errors, notices and status text (a duplicate-key
 * error's detail quotes the value), what a server pushes unasked (LISTEN/NOTIFY
 * payloads), its OK-packet info, column definitions and version strings, and
 * the mail a POP3 or IMAP server hands out.
 */
const SERVER_FIELDS = new Set([
  'postgresql.error',
  'postgresql.notices',
  'postgresql.notification',
  'postgresql.command_tag',
  'postgresql.command_tags',
  'postgresql.server_version',
  'mysql.error',
  'mysql.info',
  'mysql.server',
  'mysql.columns',
  'mysql.statistics',
  'grpc.status_message',
  // mail: an SMTP server's replies (a refused recipient's address), what a POP3 or IMAP server
  // sends of a mailbox (retrieved and fetched messages, listings, mailbox names, its ID),
  // a directory's entries
  'smtp.reply',
  'smtp.intermediate_reply',
  'pop3.message',
  'pop3.listing',
  'pop3.capabilities',
  'imap.fetch',
  'imap.mailboxes',
  'imap.status',
  'imap.search',
  'imap.namespace',
  'imap.quota',
  'imap.quota_roots',
  'imap.server_id',
  'imap.bye',
  // LDAP: the entries and referrals a search returned
  'ldap.entries',
  'ldap.references',
  // FTP: the server's replies (a refused file's name)
  'ftp.reply',
  'ftp.preliminary_reply',
  // NATS: the server's INFO (the client's address as it saw it) and -ERR texts (a denied subject)
  'nats.info',
  'nats.error',
]);

/**
 * Which way a finding's bytes travelled, from its path in the event: a
 * response part (`http.response.*`, `db.response.rows`, `dns.answers`) or a
 * field only the server sends (`postgresql.error`, `mysql.error` …) went
 * server → client; so did everything of a message that was received (the
 * delivery, its properties and body), the data of a COPY TO STDOUT, the
 * records of a Kafka Fetch, and a WebSocket message the server sent; everything else (request line, headers, body,
 * query text, parameters) went client → server.
 */
export function directionOfPath(path: string, e: Obj): Direction {
  // only the field's place in the event decides, not keys inside a body (`…content$.response`)
  const field = path.split('$')[0]!;
  const segments = field.split(/[./[\]]+/).filter(Boolean).slice(0, 3);
  // a NATS delivery answered on its connection (a responder's): its reply went back to the server
  if (segments[0] === 'nats' && segments[1] === 'response' && at(e, 'messaging.operation.type') === 'receive') return 'client_to_server';
  for (const s of segments) if (RESPONSE_SEGMENTS.has(s)) return 'server_to_client';
  if (SERVER_FIELDS.has(`${segments[0]}.${segments[1]}`)) return 'server_to_client';
  const op = str(at(e, 'messaging.operation.type'));
  const receiving = op !== undefined && RECEIVING_OPERATIONS.has(op);
  // a received message is the server's from its method to its body; an exchange that receives
  // (a Kafka Fetch) got its messages and records in the response
  // (an MQTT PUBLISH the broker delivered at QoS 1 or 2: its properties too)
  if (receiving && (kindOf(e) === 'message' || segments[0] === 'messaging' || segments[0] === 'mqtt' || segments[0] === 'nats' || (segments[0] === 'kafka' && segments[1] === 'records'))) return 'server_to_client';
  // COPY TO STDOUT: the data came from the server (FROM STDIN, and BOTH, stay as sent by the client)
  if (segments[0] === 'postgresql' && segments[1] === 'copy' && at(e, 'postgresql.copy.direction') === 'out') return 'server_to_client';
  // a WebSocket message says which side sent it
  if (segments[0] === 'websocket' && at(e, 'websocket.sender') === 'server') return 'server_to_client';
  // an FTP data connection: a download's bytes come from the FTP server, which listens in passive mode
  // (the connection's server) and connects in active mode (the connection's client); an upload's the other way
  if (segments[0] === 'ftp' && segments[1] === 'transfer') {
    const fromFtpServer = at(e, 'ftp.transfer.direction') !== 'upload';
    const ftpServerListens = at(e, 'ftp.transfer.mode') !== 'active';
    return fromFtpServer === ftpServerListens ? 'server_to_client' : 'client_to_server';
  }
  return 'client_to_server';
}

/** The `pii` annotations added by pano-pii, with their direction. Malformed entries are ignored. */
export function piiOf(e: Obj): PiiFinding[] {
  const list = e.pii;
  if (!Array.isArray(list)) return [];
  const out: PiiFinding[] = [];
  for (const item of list) {
    const f = obj(item);
    const type = f && str(f.type);
    if (!f || !type) continue;
    const path = str(f.path) ?? '';
    out.push({ type, path, direction: directionOfPath(path, e) });
  }
  return out;
}

/** ns since the epoch as bigint, or undefined when absent or not a decimal string. */
export function nsOf(v: unknown): bigint | undefined {
  if (typeof v === 'string' && /^\d{1,30}$/.test(v)) return BigInt(v);
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  return undefined;
}

export function startNsOf(e: Obj): bigint | undefined {
  return nsOf(at(e, 'pano.start_ns'));
}

export function endNsOf(e: Obj): bigint | undefined {
  return nsOf(at(e, 'pano.end_ns'));
}

export function numberAt(e: Obj, path: string): number | undefined {
  return num(at(e, path));
}

export function stringAt(e: Obj, path: string): string | undefined {
  return str(at(e, path));
}
