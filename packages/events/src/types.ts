/**
 * The v1 event envelope: one JSON object per NDJSON line, one line per
 * completed exchange (request + response), one-way message, or request whose
 * response never came.
 *
 * Everything outside `pano` is nested OpenTelemetry semantic-convention
 * attributes: flattening the object with dots gives the semconv names
 * (`http.request.method`, `server.address`, `db.query.text`, ...).
 * `pano` holds what semconv has no name for: identity, timing, provenance.
 * The JSON Schema is `packages/events/schema/event.v1.json`; the prose is
 * `man/pano-events.5`.
 */

export const EVENT_SCHEMA_VERSION = 1;

/** What kind of record the line is. */
export type EventKind =
  /** a request and its response */
  | 'exchange'
  /** a one-way message (publish, deliver, pub/sub push, server push) */
  | 'message'
  /** a request whose response never came (connection closed, input ended, timeout) */
  | 'unanswered'
  /** a response whose request was not captured (joined mid-connection) */
  | 'orphan_response';

/** Where the bytes came from. */
export interface EventSource {
  /** `pcap` (a file replay), `tc` (live TC hook), `tls` (TLS library uprobe). */
  type: 'pcap' | 'tc' | 'tls';
  /** File name for `pcap`; interface name for `tc` when known. */
  name?: string;
  /** TLS library for `tls`: `openssl`, `go`, ... */
  library?: string;
}

export interface PanoEnvelope {
  /** Envelope version; bumped on incompatible change. */
  v: 1;
  /** Deterministic id: `<connection id>-<sequence within connection>`, unique within one run. */
  id: string;
  kind: EventKind;
  /** Protocol module that produced the event (`http`, `dns`, `postgresql`, ...). */
  protocol: string;
  /** First byte of the request (or message), ns since epoch, as a decimal string (exact). */
  start_ns: string;
  /** Last byte of the response (or message), ns since epoch, decimal string. */
  end_ns: string;
  /** end - start in ns (exact integer; JSON number is safe below 104 days). */
  duration_ns: number;
  /** ISO-8601 UTC rendering of start_ns with nanoseconds, for people. */
  time: string;
  source: EventSource;
  connection: {
    id: number;
    /** how client/server roles were decided: `syn`, `protocol`, `port` or `library` (TLS plaintext: the process connected or accepted) */
    roles: 'syn' | 'protocol' | 'port' | 'library';
    /** true when the connection's start was not captured */
    midstream?: boolean;
    /** TLS plaintext: whose view this is, the end of the process that made the calls */
    view?: 'client' | 'server';
    /** TLS plaintext with both ends on the host: this view repeats the exchanges of connection `mirror_of`, the other end's view, captured first */
    mirror_of?: number;
  };
  /** Payload bytes of the request and of the response as seen on the wire. */
  request_bytes?: number;
  response_bytes?: number;
  /**
   * Conditions worth knowing: `gap` (bytes missing inside the exchange),
   * `truncated` (a body longer than the kept limit), `closed` (connection
   * closed before the response), `eof` (input ended before the response),
   * `timeout`, `reset`, `undecodable` ...
   */
  flags?: string[];
}

/** A finished event as written: `pano` plus nested semantic-convention groups. */
export interface PanoEvent {
  pano: PanoEnvelope;
  client?: { address?: string; port?: number };
  server?: { address?: string; port?: number };
  network?: {
    transport?: 'tcp' | 'udp';
    type?: 'ipv4' | 'ipv6';
    protocol?: { name?: string; version?: string };
    interface?: { name?: string };
  };
  process?: { pid?: number; executable?: { name?: string }; thread?: { id?: number } };
  error?: { type?: string };
  /** Protocol groups: http, url, user_agent, db, messaging, rpc, dns, ... */
  [group: string]: unknown;
}
