/**
 * Connection tracking output: two ordered byte streams per TCP connection,
 * datagrams per UDP flow. Parsers above this never see packets.
 */

/** Direction within a connection, from the point of view of its roles. */
export const Dir = {
  /** client → server */
  ToServer: 0,
  /** server → client */
  ToClient: 1,
} as const;
export type Dir = 0 | 1;

export interface Endpoint {
  address: string;
  port: number;
}

/** How the client/server roles of a connection were decided. */
export type RoleSource = 'syn' | 'protocol' | 'port' | 'library';

export interface Connection {
  /** Monotonic id within one run; deterministic for the same input. */
  id: number;
  transport: 'tcp' | 'udp';
  ipVersion: 4 | 6;
  client: Endpoint;
  server: Endpoint;
  roleSource: RoleSource;
  interfaceKey: number;
  /** Time of the first packet seen, ns since epoch. */
  firstNs: bigint;
  lastNs: bigint;
  /** Payload bytes delivered per direction (ToServer, ToClient). */
  bytes: [number, number];
  /** True when the connection's start (SYN) was not captured. */
  midstream: boolean;
  /** Process that owns the connection, when the source knows (TLS uprobes). */
  process?: { pid: number; tid?: number; comm?: string };
  /** TLS plaintext: the process's own end of the connection (client or server, whatever the roles say). */
  processEnd?: Endpoint;
  /**
   * TLS plaintext: when both ends are processes of this host whose plaintext
   * was captured, each gives its own events of the same exchanges; the view
   * opened second names the first (set when it opens, so all of its events
   * say so, and only one of the two does).
   */
  mirrorOf?: number;
  /** Where its bytes came from: packets ('tc' / 'pcap') or a TLS library ('tls:openssl'). */
  origin?: string;
  /**
   * The sink's own state for this connection (the dispatcher keeps its
   * parser here), so that it comes with every packet instead of from a map
   * lookup per packet. The flow table never reads it.
   */
  sinkState?: unknown;
}

/**
 * 'fin': an orderly end (TCP: both sides sent FIN; UDP: the receiver said the
 * flow is over); 'rst': a TCP reset; 'idle': the idle timeout; 'evicted': the
 * connection bound; 'end': the end of input.
 */
export type CloseReason = 'fin' | 'rst' | 'idle' | 'evicted' | 'end';

/**
 * Receiver of reassembled streams. `data` chunks are views into capture
 * buffers; a receiver that keeps bytes past the call must copy what it keeps
 * (or keep the view: capture buffers are never reused).
 */
export interface FlowSink {
  open(conn: Connection): void;
  data(conn: Connection, dir: Dir, chunk: Buffer, tsNs: bigint): void;
  /** `length` bytes in `dir` were never seen (loss, snap length, buffer bound). */
  gap(conn: Connection, dir: Dir, length: number, tsNs: bigint): void;
  /** One side finished sending (FIN). */
  end(conn: Connection, dir: Dir, tsNs: bigint): void;
  close(conn: Connection, reason: CloseReason, tsNs: bigint): void;
  /**
   * One UDP datagram (UDP "connections" are flows keyed by 5-tuple with an
   * idle timeout). Returns true when the receiver is done with the flow: a
   * request/response protocol has no request waiting for its response. The
   * flow then closes ('fin'), and the next datagram on its ports opens a new
   * one (ADR 0011).
   */
  datagram(conn: Connection, dir: Dir, payload: Buffer, tsNs: bigint): boolean | void;
}

export interface FlowOptions {
  /** Connections tracked at once; the least recently active is evicted past this. */
  maxConnections: number;
  /** Out-of-order bytes buffered per direction before the hole is declared a gap. */
  maxBufferedBytes: number;
  /**
   * Out-of-order bytes buffered over all connections: past it, the direction
   * adding more declares its hole a gap, as at its own bound. Without it the
   * bound was maxBufferedBytes × 2 × maxConnections (512 GiB by default): 64 MiB by default.
   */
  maxBufferedTotal: number;
  /** A connection idle this long is closed (ns). */
  idleTimeoutNs: bigint;
  /**
   * Connection ids are firstId, firstId + idStep, ...: flow-sharded parsing
   * (one table per worker) gives each table its own residue so ids stay
   * unique across the run.
   */
  firstId: number;
  idStep: number;
}

export const defaultFlowOptions: FlowOptions = {
  maxConnections: 65536,
  maxBufferedBytes: 4 * 1024 * 1024,
  maxBufferedTotal: 64 * 1024 * 1024,
  idleTimeoutNs: 300n * 1_000_000_000n,
  firstId: 1,
  idStep: 1,
};

export interface FlowCounters {
  connections: number;
  udpFlows: number;
  /** UDP flows closed because their receiver was done with them (every exchange answered). */
  udpFlowsFinished: number;
  evicted: number;
  idleClosed: number;
  retransmittedBytes: number;
  outOfOrderSegments: number;
  overlapBytes: number;
  gapBytes: number;
  gaps: number;
  /** Holes declared gaps because the out-of-order bytes of all connections reached maxBufferedTotal. */
  bufferTotalGaps: number;
  /** Holes declared gaps because the other side acknowledged past them (the capture missed bytes it received). */
  ackedHoles: number;
  /** Plaintext connections opened from a TLS library's chunks (pano-capture --tls). */
  plaintextConnections: number;
  /** Plaintext bytes never tied to a connection (no tuple came for their library connection), dropped. */
  plaintextUntiedBytes: number;
  /** Plaintext connections closed because their library freed the connection object (SSL_free). */
  plaintextEndedByLibrary: number;
  /** Plaintext connections closed because their process exited. */
  plaintextEndedByExit: number;
}

/**
 * What a TLS library moved in one call, seen from the process that made it
 * (pano-capture --tls, pano-frames(5) TLS plaintext record). Chunks of one
 * library connection arrive in order: they are already a stream.
 */
export interface PlaintextChunk {
  tsNs: bigint;
  /** Library name, the connections' `origin` ('openssl'). */
  origin: string;
  pid: number;
  tid: number;
  comm: string;
  /** The library's connection object in that process (the SSL * address). */
  handle: bigint;
  /** true: the process sent these bytes; false: it received them. */
  sent: boolean;
  /** The process's end as its library knows it (it connected or accepted); undefined when the capture did not see which. */
  role?: 'client' | 'server';
  /** The connection, seen from the process; undefined when the capture could not tell. */
  tuple?: { ipVersion: 4 | 6; local: Endpoint; remote: Endpoint };
  data: Buffer;
  /** Bytes of the call after `data` that were not captured (a call larger than the capture's bound). */
  missing: number;
}

/**
 * The end of TLS library connections (pano-frames(5) TLS end record): the
 * connection object `handle` of process `pid` was freed, or, without a
 * handle, the process exited and all of its connections are over.
 */
export interface PlaintextEnd {
  tsNs: bigint;
  origin: string;
  pid: number;
  handle?: bigint;
}

/** Out-of-order bytes held by every direction of one flow table, against their common bound. */
export interface HoldPool {
  held: number;
  readonly max: number;
}
