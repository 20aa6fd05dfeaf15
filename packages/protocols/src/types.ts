/**
 * The contract between the dispatcher and a protocol module.
 *
 * A module detects its protocol from the first bytes a side sent (ports are
 * only a hint), and creates one parser per connection. A parser is pushed
 * chunks per direction, keeps its own leftover bytes (bounded), does no I/O,
 * and hands completed exchanges to `ctx.emit`. It never throws past its own
 * boundary: on damage it resynchronises, or calls `ctx.abandon`.
 */
import type { BodyCapture } from './body.js';
import type { CloseReason, Connection, Dir } from '@panopticon/flows';
import type { EventKind } from '@panopticon/events';
import type { TlsKeyLog } from './tls/keylog.js';

export interface ParseOptions {
  /** Body / value / payload bytes kept per message (default 64 KiB); sizes are always reported whole. */
  maxBody: number;
  /** Header block bytes accepted before a message is declared malformed (default 64 KiB). */
  maxHeaderBytes: number;
  /** Result rows kept per query (default 20). */
  maxRows: number;
  /** Requests waiting for a response per connection before the oldest is emitted unanswered (default 1024). */
  maxPending: number;
  /** A request unanswered this long is emitted as unanswered (ns; datagram protocols, and DNS over TCP; default 5 s). */
  responseTimeoutNs: bigint;
  /** `.proto` files or directories for decoding gRPC messages by schema (`--proto`); absent: wire-format decode. */
  protoPaths?: string[];
  /** NSS key log files (`--tls-keylog`), followed as they grow: TLS records of the connections they name are decrypted. */
  tlsKeyLogs?: string[];
}

export const defaultParseOptions: ParseOptions = {
  maxBody: 64 * 1024,
  maxHeaderBytes: 64 * 1024,
  maxRows: 20,
  maxPending: 1024,
  responseTimeoutNs: 5_000_000_000n,
};

/** What a parser hands up; the dispatcher adds the envelope (ids, endpoints, source, times). */
export interface ExchangeRecord {
  kind: EventKind;
  /**
   * The protocol of this record when it is not the parser's own: one carried
   * inside it (WebSocket over an HTTP/2 stream). `pano.protocol` says it.
   */
  protocol?: string;
  /** First byte of the request (or message). */
  startNs: bigint;
  /** Last byte of the response (or message); equals startNs for a one-packet message. */
  endNs: bigint;
  requestBytes?: number;
  responseBytes?: number;
  /** See PanoEnvelope.flags. */
  flags?: string[];
  /**
   * Nested OpenTelemetry semantic-convention groups for this protocol, e.g.
   * `{ http: { request: { method: 'GET' } }, url: { path: '/' } }`.
   * `network.protocol.name/version` may be set here; the dispatcher merges
   * its own `network` fields.
   */
  attributes: Record<string, unknown>;
}

export interface ParserContext {
  readonly conn: Connection;
  readonly options: ParseOptions;
  emit(record: ExchangeRecord): void;
  /** Count a named anomaly or fact (`http.malformed`, `dns.unanswered`); reported by `--stats`. */
  count(name: string, n?: number): void;
  /** Give up on this connection's stream (lost sync beyond repair, or TLS); the rest is skipped and counted. */
  abandon(reason: string): void;
  /**
   * Hand the rest of the stream to another protocol (HTTP Upgrade: h2c, websocket), or with
   * `protocol` '' to whichever one its bytes are, detected as a new connection's (a CONNECT tunnel).
   * `pending` are bytes already received but not consumed, per direction, in order.
   * False when that protocol's parser is not enabled: nothing took the stream over.
   */
  handoff(protocol: string, pending?: Array<{ dir: Dir; bytes: Buffer; tsNs: bigint }>, init?: HandoffInit): boolean;
  /**
   * A parser for a byte stream this connection carries (an HTTP/2 CONNECT
   * stream to `port`), whose protocol is detected from its first bytes;
   * `decorate` marks each of its records as carried (the stream id). Absent
   * where no dispatcher stands behind the context (unit tests).
   */
  tunnel?(port: number, decorate: (r: ExchangeRecord, protocol: string) => void, opts?: TunnelOptions): StreamParser;
  /** TLS secrets (key log files, a capture's Decryption Secrets Blocks); absent where no dispatcher stands behind the context. */
  readonly tlsKeys?: TlsKeyLog;
  /** The bytes were TLS on the wire (decrypted, or a TLS library's plaintext): an HTTP request's scheme is https. */
  readonly overTls?: boolean;
  /**
   * A datagram parser saw connection ID `id` issued (QUIC): a datagram of another flow whose
   * destination connection ID it is belongs to this connection, on a new path, and is given to
   * this parser (`toServer`: such datagrams are sent to the server). Absent where no dispatcher
   * stands behind the context.
   */
  connectionId?(id: Buffer, toServer: boolean): void;
  /**
   * A TCP connection this one announced (an FTP data connection, after PASV, EPSV, PORT or EPRT):
   * the next one opened to `address`:`port` within a minute of capture time is `protocol`'s, parsed
   * by `parser` instead of being detected from its bytes. Absent where no dispatcher stands behind
   * the context.
   */
  expect?(address: string, port: number, protocol: string, parser: (ctx: ParserContext) => StreamParser): void;
}

export interface TunnelOptions {
  /** The carried protocol when the carrier knows it (TLS's ALPN): its parser starts at once, if enabled. */
  protocol?: string;
  /** The carried stream's parser, made by the carrier's creator (a session that switched to TLS, resumed): named `name`. */
  create?: { name: string; parser: (ctx: ParserContext) => StreamParser };
  /** The carrier is TLS (ParserContext.overTls for the carried protocol). */
  tls?: boolean;
}

/**
 * What the protocol handing a stream over knows that the next one needs.
 * For `Upgrade: h2c` (RFC 7540 §3.2), HTTP/1.1 passes the upgraded request:
 * HTTP/2 answers it on stream 1 and must pair that response with it.
 */
export interface HandoffInit {
  /**
   * For a switch to TLS (a MySQL SSL request): the parser of what the TLS
   * connection carries once a key log opens it, the switching session
   * resumed where it switched (its first bytes in TLS are not a start any
   * detection knows). Named `name` in events.
   */
  carried?: { name: string; parser: (ctx: ParserContext) => StreamParser };
  /** For `Upgrade: websocket` (RFC 6455 §4.2.2): the 101's Sec-WebSocket-Extensions and Sec-WebSocket-Protocol. */
  websocket?: { extensions?: string; protocol?: string };
  upgradedRequest?: {
    method: string;
    /** request-target as sent: path and query */
    target: string;
    authority?: string;
    headers: Record<string, string[]>;
    startNs: bigint;
    requestBytes: number;
    /** The request's body (a POST may be upgraded; RFC 9113 §3.2 ends it before the switch). */
    body?: BodyCapture;
    /**
     * The HTTP/1.1 responses to it: the 1xx ones before the 101 (100 Continue) and the 101
     * itself, which is informational too (RFC 9110 §15.2). The upgraded request gets no
     * HTTP/1.1 event of its own: stream 1's event carries it once, with these as its interim.
     */
    interim: Array<{ status_code: number; header: Record<string, string[]> }>;
    /** Wire bytes of the 101 response (head; it has no body). */
    responseBytes: number;
    /** When the 101 response ended. */
    responseEndNs: bigint;
  };
}

export interface StreamParser {
  data(dir: Dir, chunk: Buffer, tsNs: bigint): void;
  /** `length` bytes are missing in `dir`: resynchronise or abandon; never glue across. */
  gap(dir: Dir, length: number, tsNs: bigint): void;
  /** `dir` finished sending (FIN): close-delimited bodies end here. */
  end(dir: Dir, tsNs: bigint): void;
  /** The connection is over: emit pending requests as `unanswered` with flag `closed`/`eof`/... */
  close(reason: CloseReason, tsNs: bigint): void;
  /**
   * Time has moved on (from packet timestamps): expire requests past
   * `responseTimeoutNs`. Only a protocol whose requests time out as they do
   * over UDP has it (DNS): the others wait for the connection's end.
   */
  tick?(nowNs: bigint): void;
}

export interface DatagramParser {
  datagram(dir: Dir, payload: Buffer, tsNs: bigint): void;
  /**
   * True when no request waits for its response: nothing a later datagram
   * could complete. A request/response protocol says so, and its flow ends
   * after the datagram that answered the last request (ADR 0011); without
   * this method a flow lasts until its idle timeout.
   */
  idle?(): boolean;
  /** Time has moved on (from packet timestamps): expire requests past `responseTimeoutNs`. */
  tick?(nowNs: bigint): void;
  close(reason: CloseReason, tsNs: bigint): void;
}

/**
 * Result of looking at the first bytes one side sent.
 * - `null`: not this protocol
 * - `'more'`: cannot tell yet, give me more bytes (the dispatcher bounds this)
 * - `{ sender }`: it is this protocol, and the bytes came from the `client` or `server`
 *   (or `unknown`), which lets the dispatcher fix the roles when no SYN was seen.
 */
export type Detection = null | 'more' | { sender: 'client' | 'server' | 'unknown'; confidence?: number };

export interface ProtocolModule {
  /** Registry name, used by `--protocols` and in `pano.protocol`. */
  readonly name: string;
  readonly transport: 'tcp' | 'udp';
  /** Ports the protocol is usually served on: a hint, tried first and used when detection cannot decide. */
  readonly ports: readonly number[];
  detect(head: Buffer, dir: Dir): Detection;
  /** `init` is set when another protocol hands the stream over (see ParserContext.handoff). */
  createStream?(ctx: ParserContext, init?: HandoffInit): StreamParser;
  createDatagram?(ctx: ParserContext): DatagramParser;
}
