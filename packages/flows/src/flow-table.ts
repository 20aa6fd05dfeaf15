/**
 * Connection tracking: maps L4 packets to connections, decides client and
 * server, reassembles TCP into two ordered streams and passes UDP datagrams
 * through, within hard bounds on connections and buffered bytes.
 *
 * The table is a Map kept in least-recently-active order (an entry is
 * re-inserted on every packet), so idle expiry and eviction both pop from
 * the front without scanning. It is keyed by a 52-bit fingerprint of the
 * tuple, checked against the tuple on every hit: building and hashing a text
 * key cost a new flow about 0.6 µs, and a resolver's capture opens a flow per
 * query (ADR 0011). A tuple whose fingerprint another tuple holds (about one
 * in 2^52 / flows tracked) is keyed by its text.
 */
import { IpProto, TcpFlag, type L4Packet } from '@panopticon/decode';
import { HalfStream, type StreamOutput } from './half-stream.js';
import {
  Dir,
  defaultFlowOptions,
  type CloseReason,
  type Connection,
  type FlowCounters,
  type FlowOptions,
  type FlowSink,
  type HoldPool,
  type Endpoint,
  type PlaintextChunk,
  type PlaintextEnd,
} from './types.js';

/**
 * A plaintext connection: one library connection (process + its SSL *) with
 * the tuple the capture gave it. Its bytes are in order already; the
 * process's own end is `local`, so the direction of a chunk is known from
 * who sent it whatever the roles are (they may flip on detection).
 */
interface PlainTracked {
  key: string;
  conn: Connection;
  local: Endpoint;
  remote: Endpoint;
  done: boolean;
  /** Whether the other end's view was found (each view pairs with one other at most). */
  paired: boolean;
}

/** Chunks of a library connection held until its tuple is known. */
interface Untied {
  chunks: PlaintextChunk[];
  bytes: number;
  /** Whether this table counts these chunks when they are dropped (see `countsUntiedLoss`). */
  counted: boolean;
}

/** Untied plaintext held per library connection, and library connections held at once. */
const MAX_UNTIED_BYTES = 256 * 1024;
const MAX_UNTIED_KEYS = 1024;

interface Tracked {
  /** Its key in the table: the tuple's fingerprint, or its text when another tuple holds that fingerprint. */
  key: number | string;
  /** IP protocol number (the cache compares it). */
  proto: number;
  conn: Connection;
  /** Packet time after which the next packet moves it to the back of the table. */
  touchDueNs: bigint;
  /** Indexed by Dir. Absent for UDP. */
  halves?: [HalfStream, HalfStream];
  /** Both halves have ended, or a RST was seen. */
  done: boolean;
}

export interface FlowTableOptions extends FlowOptions {
  /** Ports that are servers for some enabled protocol: a hint for deciding roles without a SYN. */
  serverPorts?: ReadonlySet<number>;
  /**
   * Whether dropped untied plaintext of process `pid` is counted here. With
   * several shards every shard holds a chunk that has no tuple yet (whichever
   * owns the tuple will need it): one of them counts its loss. Default: all.
   */
  countsUntiedLoss?: (pid: number) => boolean;
}

/** How long a closed connection's 4-tuple is remembered so late retransmissions don't open a phantom. */
const CLOSED_MEMORY_NS = 60n * 1_000_000_000n;
const CLOSED_MEMORY_MAX = 16384;
/**
 * How long a closed plaintext view is remembered for the other end's view to
 * name it (`mirrorOf`), and how many are. The server of a `Connection: close`
 * exchange reads, answers and frees its SSL * within microseconds, before the
 * client's SSL_write has even returned (the record that opens the client's
 * view). Short, because a later connection may reuse the tuple.
 */
const VIEW_MEMORY_NS = 5n * 1_000_000_000n;
const VIEW_MEMORY_MAX = 4096;
const TOUCH_EVERY_NS = 1_000_000_000n;
/**
 * Slots of the lookup cache. A server talks to thousands of client ports at
 * once (a resolver, a busy API): with 1024 slots, 5000 flows taking turns
 * evicted each other and half the packets built a string key. As many as the
 * default --max-connections (512 KB): with 16384, a capture of 25,000 DNS
 * client ports took 10.1-10.5 s a pass, with 65536 9.0 s (session 15).
 */
const RECENT_SLOTS = 65536;
/** Idle sweeps run at most once per this much packet time. */
const SWEEP_EVERY_NS = 1_000_000_000n;

/**
 * Where a half stream's bytes go: the sink, with the connection and the
 * direction. The half is addressed by role, and roles can flip
 * (`flipRoles`), so the direction is resolved at delivery time. One small
 * object per half rather than three closures and their context: a table
 * holds tens of thousands of connections (ADR 0010).
 */
class HalfOutput implements StreamOutput {
  half!: HalfStream;

  constructor(
    private readonly sink: FlowSink,
    private readonly t: Tracked,
  ) {}

  private dir(): Dir {
    return this.t.halves![0] === this.half ? Dir.ToServer : Dir.ToClient;
  }

  data(chunk: Buffer, tsNs: bigint): void {
    const d = this.dir();
    this.t.conn.bytes[d] += chunk.length;
    this.sink.data(this.t.conn, d, chunk, tsNs);
  }

  gap(length: number, tsNs: bigint): void {
    this.sink.gap(this.t.conn, this.dir(), length, tsNs);
  }

  end(tsNs: bigint): void {
    this.sink.end(this.t.conn, this.dir(), tsNs);
  }
}

export class FlowTable {
  readonly counters: FlowCounters = {
    connections: 0,
    udpFlows: 0,
    udpFlowsFinished: 0,
    evicted: 0,
    idleClosed: 0,
    retransmittedBytes: 0,
    outOfOrderSegments: 0,
    overlapBytes: 0,
    gapBytes: 0,
    gaps: 0,
    bufferTotalGaps: 0,
    ackedHoles: 0,
    plaintextConnections: 0,
    plaintextUntiedBytes: 0,
    plaintextEndedByLibrary: 0,
    plaintextEndedByExit: 0,
  };
  /** Plaintext connections (TLS uprobes), in least-recently-active order, keyed by origin, pid and handle. */
  private readonly plain = new Map<string, PlainTracked>();
  /** The same, by tuple as their process sees it (local end first): finds the other end's view of a connection. */
  private readonly plainByTuple = new Map<string, PlainTracked>();
  /** Views closed within VIEW_MEMORY_NS, by the same tuple text, oldest first: their connection id and close time. */
  private readonly closedViews = new Map<string, { id: number; closedNs: bigint }>();
  private readonly untied = new Map<string, Untied>();
  /** Out-of-order bytes held by all connections' directions, against maxBufferedTotal. */
  private readonly holdPool: HoldPool;
  private readonly table = new Map<number | string, Tracked>();
  /** Entries keyed by their text (their fingerprint was taken): while there are any, a fingerprint miss looks for the text too. */
  private textKeyed = 0;
  private readonly closed = new Map<string, bigint>();
  private readonly opts: FlowTableOptions;
  private nextId: number;
  private nextSweepNs = 0n;
  /**
   * A direct-mapped cache of recent lookups, indexed by the ports: most
   * packets belong to a connection seen moments ago, and the cache spares
   * hashing the address texts and a lookup in the table.
   */
  private readonly recent: Array<Tracked | undefined> = new Array(RECENT_SLOTS);
  private nowNs = 0n;

  constructor(
    private readonly sink: FlowSink,
    opts: Partial<FlowTableOptions> = {},
  ) {
    this.opts = { ...defaultFlowOptions, ...opts };
    // a table that holds no connection would evict forever before the first insert
    if (!(this.opts.maxConnections >= 1)) throw new RangeError(`maxConnections must be at least 1, not ${this.opts.maxConnections}`);
    this.holdPool = { held: 0, max: this.opts.maxBufferedTotal };
    this.nextId = this.opts.firstId;
  }

  /** The id the next connection gets: greater than every id given so far. */
  get nextConnectionId(): number {
    return this.nextId;
  }

  get size(): number {
    return this.table.size;
  }

  packet(p: L4Packet): void {
    this.advance(p.tsNs);
    if (p.protocol === IpProto.TCP && p.tcp) this.tcp(p);
    else if (p.protocol === IpProto.UDP) this.udp(p);
  }

  /**
   * Packet time moves on without a packet for this table (another shard's):
   * idle connections close exactly when they would have in one table.
   */
  advance(tsNs: bigint): void {
    if (tsNs > this.nowNs) this.nowNs = tsNs;
    // Deadlines are compared, not differences computed: each BigInt subtraction allocates.
    if (this.nowNs >= this.nextSweepNs) {
      this.expireIdle(this.nowNs);
      this.nextSweepNs = this.nowNs + SWEEP_EVERY_NS;
    }
  }

  /** The tracked entry of a connection still in the table. */
  private find(conn: Connection): Tracked | undefined {
    const proto = conn.transport === 'tcp' ? IpProto.TCP : IpProto.UDP;
    const t = this.table.get(fingerprint(proto, conn.client.address, conn.client.port, conn.server.address, conn.server.port));
    if (t?.conn === conn) return t;
    const text = this.textKeyed > 0 ? this.table.get(this.keyOf(conn)) : undefined;
    return text?.conn === conn ? text : undefined;
  }

  /**
   * A UDP flow its receiver is done with outside a datagram of its own (its
   * last request timed out): closed as one whose datagram said so.
   */
  finish(conn: Connection): void {
    const t = this.find(conn);
    if (t !== undefined && !t.halves) this.finishUdp(t, this.nowNs);
  }

  /** A UDP flow its receiver is done with: closed in order, and counted. */
  private finishUdp(t: Tracked, tsNs: bigint): void {
    this.counters.udpFlowsFinished++;
    this.close(t, 'fin', tsNs);
  }

  /** Swap client and server: the protocol knows better than the ports did. */
  flipRoles(conn: Connection): void {
    const t = this.find(conn);
    const c = conn.client;
    conn.client = conn.server;
    conn.server = c;
    conn.bytes = [conn.bytes[1], conn.bytes[0]];
    conn.roleSource = 'protocol';
    if (t?.halves) t.halves = [t.halves[1], t.halves[0]];
  }

  /** Close every connection (end of input): held bytes are delivered with gaps first. */
  closeAll(reason: CloseReason = 'end'): void {
    for (const t of [...this.table.values()]) this.close(t, reason, this.nowNs);
    for (const t of [...this.plain.values()]) this.closePlain(t, reason, this.nowNs);
    for (const u of this.untied.values()) this.lostUntied(u, u.bytes);
    this.untied.clear();
  }

  /**
   * A TLS library's plaintext (pano-capture --tls): a stream per library
   * connection (process and SSL *), separate from the packets of the same
   * tuple, which carry its ciphertext. Chunks without a tuple wait (bounded)
   * for a chunk of the same library connection that has one; a new tuple on
   * a handle (its memory reused for another connection) ends the old stream.
   */
  plaintext(c: PlaintextChunk): void {
    this.advance(c.tsNs);
    const key = plaintextKey(c.origin, c.pid, c.handle);
    let t = this.plain.get(key);
    if (!c.tuple) {
      if (t) return this.deliverPlain(t, c);
      let u = this.untied.get(key);
      if (!u) {
        if (this.untied.size >= MAX_UNTIED_KEYS) {
          const [oldKey, old] = this.untied.entries().next().value as [string, Untied];
          this.lostUntied(old, old.bytes);
          this.untied.delete(oldKey);
        }
        this.untied.set(key, (u = { chunks: [], bytes: 0, counted: this.opts.countsUntiedLoss?.(c.pid) ?? true }));
      }
      if (u.bytes + c.data.length > MAX_UNTIED_BYTES) {
        this.lostUntied(u, c.data.length);
        return;
      }
      u.chunks.push(c);
      u.bytes += c.data.length;
      return;
    }
    const { local, remote } = c.tuple;
    if (t && !(sameEndpoint(t.local, local) && sameEndpoint(t.remote, remote))) {
      this.closePlain(t, 'end', c.tsNs);
      t = undefined;
    }
    if (!t) t = this.openPlain(key, c);
    const u = this.untied.get(key);
    if (u) {
      this.untied.delete(key);
      for (const held of u.chunks) this.deliverPlain(t, held);
    }
    this.deliverPlain(t, c);
  }

  /**
   * The end of library connections (pano-capture --tls): one connection
   * object freed (`handle` given), or every one of a process that exited.
   * Their streams close now, not when they go idle; untied chunks waiting for
   * them are dropped and counted.
   */
  plaintextEnd(e: PlaintextEnd): void {
    this.advance(e.tsNs);
    if (e.handle !== undefined) {
      const key = plaintextKey(e.origin, e.pid, e.handle);
      const t = this.plain.get(key);
      if (t) {
        this.counters.plaintextEndedByLibrary++;
        this.closePlain(t, 'end', e.tsNs);
      }
      this.dropUntied(key);
      return;
    }
    for (const t of [...this.plain.values()]) {
      if (t.conn.process?.pid !== e.pid) continue;
      this.counters.plaintextEndedByExit++;
      this.closePlain(t, 'end', e.tsNs);
    }
    const prefix = `|${e.pid}|`;
    for (const key of [...this.untied.keys()]) if (key.includes(prefix)) this.dropUntied(key);
  }

  /**
   * A chunk of a library connection whose tuple another shard owns (flow-sharded
   * parsing): that shard takes the connection. Here, a stream the handle had
   * with another tuple ends (as `plaintext` ends it on a new tuple), and the
   * chunks held untied for it go uncounted: the owner holds the same ones.
   */
  plaintextElsewhere(c: PlaintextChunk): void {
    this.advance(c.tsNs);
    const key = plaintextKey(c.origin, c.pid, c.handle);
    const t = this.plain.get(key);
    if (t) this.closePlain(t, 'end', c.tsNs);
    this.untied.delete(key);
  }

  private dropUntied(key: string): void {
    const u = this.untied.get(key);
    if (!u) return;
    this.lostUntied(u, u.bytes);
    this.untied.delete(key);
  }

  private lostUntied(u: Untied, bytes: number): void {
    if (u.counted) this.counters.plaintextUntiedBytes += bytes;
  }

  private openPlain(key: string, c: PlaintextChunk): PlainTracked {
    while (this.plain.size >= this.opts.maxConnections) {
      this.counters.evicted++;
      this.closePlain(this.plain.values().next().value as PlainTracked, 'evicted', c.tsNs);
    }
    const { ipVersion, local, remote } = c.tuple!;
    // The library knows which end connected; without that, roles as for packets
    // without a SYN (server port hints, then the lower port), which detection may flip.
    const sender = c.sent ? local : remote;
    const receiver = c.sent ? remote : local;
    const senderIsClient = c.role ? (c.role === 'client') === c.sent : this.guessSenderIsClient({ srcPort: sender.port, dstPort: receiver.port } as L4Packet);
    const id = this.nextId;
    this.nextId += this.opts.idStep;
    const conn: Connection = {
      id,
      transport: 'tcp',
      ipVersion,
      client: senderIsClient ? { ...sender } : { ...receiver },
      server: senderIsClient ? { ...receiver } : { ...sender },
      roleSource: c.role ? 'library' : 'port',
      interfaceKey: -1,
      firstNs: c.tsNs,
      lastNs: c.tsNs,
      bytes: [0, 0],
      midstream: false,
      process: { pid: c.pid, tid: c.tid, comm: c.comm },
      origin: c.origin,
      sinkState: undefined,
    };
    conn.processEnd = { ...local };
    const t: PlainTracked = { key, conn, local: { ...local }, remote: { ...remote }, done: false, paired: false };
    this.counters.plaintextConnections++;
    this.plain.set(key, t);
    // both ends on this host, both captured: the second view names the first, open or just closed
    const other = tupleText(remote, local);
    const open = this.plainByTuple.get(other);
    const closed = this.closedViews.get(other);
    if (open && !open.paired) {
      open.paired = t.paired = true;
      conn.mirrorOf = open.conn.id;
    } else if (closed && c.tsNs - closed.closedNs <= VIEW_MEMORY_NS) {
      this.closedViews.delete(other);
      t.paired = true;
      conn.mirrorOf = closed.id;
    }
    const own = tupleText(local, remote);
    this.plainByTuple.set(own, t);
    this.closedViews.delete(own);
    this.sink.open(conn);
    return t;
  }

  private deliverPlain(t: PlainTracked, c: PlaintextChunk): void {
    const conn = t.conn;
    conn.lastNs = c.tsNs;
    // least recently active first, for idle expiry and eviction
    this.plain.delete(t.key);
    this.plain.set(t.key, t);
    const localIsClient = sameEndpoint(conn.client, t.local);
    const d: Dir = c.sent === localIsClient ? Dir.ToServer : Dir.ToClient;
    if (c.data.length > 0) {
      conn.bytes[d] += c.data.length;
      this.sink.data(conn, d, c.data, c.tsNs);
    }
    if (c.missing > 0 && !t.done) {
      this.counters.gaps++;
      this.counters.gapBytes += c.missing;
      this.sink.gap(conn, d, c.missing, c.tsNs);
    }
  }

  private closePlain(t: PlainTracked, reason: CloseReason, tsNs: bigint): void {
    if (t.done) return;
    t.done = true;
    this.plain.delete(t.key);
    const tuple = tupleText(t.local, t.remote);
    if (this.plainByTuple.get(tuple) === t) {
      this.plainByTuple.delete(tuple);
    }
    // a view still alone: the other end's may open yet (see VIEW_MEMORY_NS)
    if (!t.paired) {
      if (this.closedViews.size >= VIEW_MEMORY_MAX) this.closedViews.delete(this.closedViews.keys().next().value!);
      this.closedViews.set(tuple, { id: t.conn.id, closedNs: tsNs });
    }
    this.sink.close(t.conn, reason, tsNs);
  }

  /** Close connections idle for longer than the idle timeout, as of `nowNs`. */
  expireIdle(nowNs: bigint): void {
    const limit = nowNs - this.opts.idleTimeoutNs;
    for (const t of this.table.values()) {
      if (t.conn.lastNs >= limit) break;
      this.counters.idleClosed++;
      this.close(t, 'idle', nowNs);
    }
    for (const t of this.plain.values()) {
      if (t.conn.lastNs >= limit) break;
      this.counters.idleClosed++;
      this.closePlain(t, 'idle', nowNs);
    }
    for (const [k, ts] of this.closed) {
      if (ts >= nowNs - CLOSED_MEMORY_NS) break;
      this.closed.delete(k);
    }
    for (const [k, v] of this.closedViews) {
      if (v.closedNs >= nowNs - VIEW_MEMORY_NS) break;
      this.closedViews.delete(k);
    }
  }

  /** The fingerprint of the packet last passed to `lookup`, or -1 when the cache answered it. */
  private lookedUpFp = -1;
  /** No entry holds `lookedUpFp`: a new connection can take it. */
  private lookedUpFpFree = false;

  /** The tracked connection of a packet, if any (cache first, then the table); sets `lookedUpFp`. */
  private lookup(p: L4Packet): Tracked | undefined {
    const slot = (p.srcPort ^ p.dstPort ^ p.protocol) & (RECENT_SLOTS - 1);
    const c = this.recent[slot];
    if (c !== undefined && !c.done && c.proto === p.protocol && sameTuple(c.conn, p)) {
      this.lookedUpFp = -1;
      return c;
    }
    const fp = fingerprint(p.protocol, p.srcAddr, p.srcPort, p.dstAddr, p.dstPort);
    this.lookedUpFp = fp;
    let t = this.table.get(fp);
    this.lookedUpFpFree = t === undefined;
    if (t !== undefined && (t.proto !== p.protocol || !sameTuple(t.conn, p))) t = undefined;
    if (t === undefined && this.textKeyed > 0) t = this.table.get(flowKey(p));
    if (t !== undefined) this.recent[slot] = t;
    return t;
  }

  /** The key a new connection of `p` gets: the fingerprint `lookup` made, unless another tuple holds it. */
  private newKey(p: L4Packet): number | string {
    // Free when the lookup found no entry there (closes since only free more). When
    // the cache answered, a SYN reusing the tuple closed what it found: no fingerprint yet.
    const fp = this.lookedUpFp >= 0 ? this.lookedUpFp : fingerprint(p.protocol, p.srcAddr, p.srcPort, p.dstAddr, p.dstPort);
    if ((this.lookedUpFp >= 0 && this.lookedUpFpFree) || !this.table.has(fp)) return fp;
    this.textKeyed++;
    return flowKey(p);
  }

  private tcp(p: L4Packet): void {
    const tcp = p.tcp!;
    let t = this.lookup(p);
    const syn = (tcp.flags & TcpFlag.SYN) !== 0;
    const ack = (tcp.flags & TcpFlag.ACK) !== 0;
    if (t && syn && !ack && t.halves) {
      // A SYN on a tuple we track is either a retransmission of the one that opened it,
      // or port reuse after a close we did not see: then the old connection is over.
      const fromClient = t.conn.client.address === p.srcAddr && t.conn.client.port === p.srcPort;
      if (!(fromClient && t.halves[Dir.ToServer].isn === tcp.seq)) {
        this.close(t, 'end', p.tsNs);
        t = undefined;
      }
    }
    if (!t) {
      const payloadLess = p.payload.length === 0 && p.missing === 0 && !syn;
      if (payloadLess) return; // a bare ACK/FIN/RST for nothing we know: no phantom connections
      if (this.closed.size > 0) {
        const text = flowKey(p);
        if (!syn && this.closed.has(text)) {
          this.counters.retransmittedBytes += p.payload.length;
          return;
        }
        this.closed.delete(text);
      }
      t = this.open(p, syn ? (ack ? 'server' : 'client') : undefined);
    } else {
      this.touch(t, p.tsNs);
    }
    const conn = t.conn;
    conn.lastNs = p.tsNs;
    const dir = this.dirOf(conn, p);
    const half = t.halves![dir];
    // before this packet's own data: a response is delivered after the query its ack says arrived
    if (ack) t.halves![1 - dir].acked(tcp.ack, p.tsNs);
    if (syn) half.syn(tcp.seq);
    const seq = syn ? (tcp.seq + 1) >>> 0 : tcp.seq;
    if (p.payload.length > 0 || p.missing > 0 || (tcp.flags & TcpFlag.FIN) !== 0) {
      half.segment(seq, p.payload, p.missing, (tcp.flags & TcpFlag.FIN) !== 0, p.tsNs);
    }
    if ((tcp.flags & TcpFlag.RST) !== 0) {
      this.close(t, 'rst', p.tsNs);
      return;
    }
    if (t.halves![0].ended && t.halves![1].ended) this.close(t, 'fin', p.tsNs);
  }

  private udp(p: L4Packet): void {
    let t = this.lookup(p);
    if (!t) t = this.open(p, undefined);
    else this.touch(t, p.tsNs);
    const conn = t.conn;
    conn.lastNs = p.tsNs;
    const dir = this.dirOf(conn, p);
    conn.bytes[dir] += p.payload.length;
    // Every exchange answered: keeping the flow would only hold memory until
    // the idle timeout (a resolver's client asks from a new port each time).
    if (this.sink.datagram(conn, dir, p.payload, p.tsNs) === true) this.finishUdp(t, p.tsNs);
  }

  private open(p: L4Packet, synSender: 'client' | 'server' | undefined): Tracked {
    while (this.table.size >= this.opts.maxConnections) {
      const oldest = this.table.values().next().value as Tracked;
      this.counters.evicted++;
      this.close(oldest, 'evicted', p.tsNs);
    }
    const key = this.newKey(p);
    const src = { address: p.srcAddr, port: p.srcPort };
    const dst = { address: p.dstAddr, port: p.dstPort };
    let senderIsClient: boolean;
    let roleSource: Connection['roleSource'];
    if (synSender) {
      senderIsClient = synSender === 'client';
      roleSource = 'syn';
    } else {
      senderIsClient = this.guessSenderIsClient(p);
      roleSource = 'port';
    }
    const isTcp = p.protocol === IpProto.TCP;
    const id = this.nextId;
    this.nextId += this.opts.idStep;
    const conn: Connection = {
      id,
      transport: isTcp ? 'tcp' : 'udp',
      ipVersion: p.ipVersion,
      client: senderIsClient ? src : dst,
      server: senderIsClient ? dst : src,
      roleSource,
      interfaceKey: p.interfaceKey,
      firstNs: p.tsNs,
      lastNs: p.tsNs,
      bytes: [0, 0],
      midstream: isTcp && !synSender,
      sinkState: undefined,
    };
    // every field in the literal, halves too: one set later would move to a property array of its own
    const t: Tracked = { key, proto: p.protocol, conn, done: false, touchDueNs: p.tsNs + TOUCH_EVERY_NS, halves: undefined };
    if (isTcp) {
      this.counters.connections++;
      t.halves = [this.half(t), this.half(t)];
    } else {
      this.counters.udpFlows++;
    }
    this.table.set(key, t);
    // The reply usually comes next: let it find the flow in the cache.
    this.recent[(p.srcPort ^ p.dstPort ^ p.protocol) & (RECENT_SLOTS - 1)] = t;
    this.sink.open(conn);
    return t;
  }

  private half(t: Tracked): HalfStream {
    const out = new HalfOutput(this.sink, t);
    return (out.half = new HalfStream(out, this.counters, this.opts.maxBufferedBytes, this.holdPool));
  }

  private close(t: Tracked, reason: CloseReason, tsNs: bigint): void {
    // closed before: its key may be another connection's by now
    if (t.done) return;
    t.done = true;
    this.table.delete(t.key);
    if (typeof t.key === 'string') this.textKeyed--;
    if (t.halves) {
      t.halves[0].flush(tsNs);
      t.halves[1].flush(tsNs);
      // Only an orderly end (FIN, RST) is remembered: after an idle close or an
      // eviction, more data on the tuple is the same conversation going on, and
      // is tracked again as a connection joined mid-way.
      if (reason === 'fin' || reason === 'rst') {
        const text = this.keyOf(t.conn);
        this.closed.delete(text);
        this.closed.set(text, tsNs);
        if (this.closed.size > CLOSED_MEMORY_MAX) this.closed.delete(this.closed.keys().next().value as string);
      }
    }
    // A closed flow is not kept alive by the cache.
    const slot = (t.conn.client.port ^ t.conn.server.port ^ t.proto) & (RECENT_SLOTS - 1);
    if (this.recent[slot] === t) this.recent[slot] = undefined;
    this.sink.close(t.conn, reason, tsNs);
  }

  /**
   * Move to the back of the recency order. Done at most once per second of
   * packet time per connection: the order is then exact to a second, which
   * is all idle expiry and eviction need, and most packets skip two map
   * operations.
   */
  private touch(t: Tracked, nowNs: bigint): void {
    if (nowNs < t.touchDueNs) return;
    t.touchDueNs = nowNs + TOUCH_EVERY_NS;
    this.table.delete(t.key);
    this.table.set(t.key, t);
  }

  private dirOf(conn: Connection, p: L4Packet): Dir {
    return conn.client.port === p.srcPort && conn.client.address === p.srcAddr ? Dir.ToServer : Dir.ToClient;
  }

  private keyOf(conn: Connection): string {
    return tupleKey(conn.transport === 'tcp' ? IpProto.TCP : IpProto.UDP, conn.client.address, conn.client.port, conn.server.address, conn.server.port);
  }

  /** No SYN: the side on a known server port, else the lower port, is the server. */
  private guessSenderIsClient(p: L4Packet): boolean {
    const hints = this.opts.serverPorts;
    if (hints) {
      const dstKnown = hints.has(p.dstPort);
      const srcKnown = hints.has(p.srcPort);
      if (dstKnown !== srcKnown) return dstKnown;
    }
    if (p.dstPort < 1024 !== p.srcPort < 1024) return p.dstPort < 1024;
    return p.dstPort <= p.srcPort;
  }
}

function tupleText(local: Endpoint, remote: Endpoint): string {
  return `${local.address} ${local.port} ${remote.address} ${remote.port}`;
}

function sameEndpoint(a: Endpoint, b: Endpoint): boolean {
  return a.port === b.port && a.address === b.address;
}

/** Both directions of `p` are `conn`'s tuple (the caller checked the protocol). */
function sameTuple(k: Connection, p: L4Packet): boolean {
  return (
    (k.client.port === p.srcPort && k.server.port === p.dstPort && k.client.address === p.srcAddr && k.server.address === p.dstAddr) ||
    (k.client.port === p.dstPort && k.server.port === p.srcPort && k.client.address === p.dstAddr && k.server.address === p.srcAddr)
  );
}

/** Two 32-bit hashes of the endpoint last passed to `hashEndpoint` (FNV-1a lanes with different primes). */
let laneA = 0;
let laneB = 0;

/** 64 bits of an endpoint, in `laneA` and `laneB`: the address text, the port as the seed. */
function hashEndpoint(addr: string, port: number): void {
  let a = 0x811c9dc5 ^ port;
  let b = 0x01000193 ^ (port << 16);
  for (let i = 0; i < addr.length; i++) {
    const c = addr.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
  }
  laneA = a >>> 0;
  laneB = b >>> 0;
}

/**
 * A 52-bit fingerprint of a tuple, the same for both directions: not unique
 * (the table checks the tuple on a hit), but a number, which a Map hashes
 * without a string being built. Each endpoint is hashed to 64 bits, in two
 * lanes that each give 26 bits of the result: with one 32-bit hash an
 * endpoint, the clients of one server collided as 32-bit hashes do (65,536
 * clients: a collision in 7 runs of 20).
 */
export function fingerprint(proto: number, a: string, ap: number, b: string, bp: number): number {
  hashEndpoint(a, ap);
  const a1 = laneA;
  const a2 = laneB;
  hashEndpoint(b, bp);
  const b1 = laneA;
  const b2 = laneB;
  // order the endpoints by their hashes, so both directions give the same fingerprint
  const aFirst = a1 < b1 || (a1 === b1 && a2 <= b2);
  const lo1 = aFirst ? a1 : b1;
  const hi1 = aFirst ? b1 : a1;
  const lo2 = aFirst ? a2 : b2;
  const hi2 = aFirst ? b2 : a2;
  let x = Math.imul(lo1 ^ (proto << 24), 0x9e3779b1) ^ hi1;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x ^= x >>> 13;
  let y = Math.imul(lo2 ^ proto, 0xc2b2ae35) ^ hi2;
  y = Math.imul(y ^ (y >>> 16), 0x27d4eb2f);
  y ^= y >>> 15;
  return (x >>> 6) * 0x4000000 + (y >>> 6);
}

/** A library connection's key: library, process and its connection object (the SSL *). */
export function plaintextKey(origin: string, pid: number, handle: bigint): string {
  return `${origin}|${pid}|${handle}`;
}

function tupleKey(proto: number, a: string, ap: number, b: string, bp: number): string {
  // Order-independent: the same key for both directions.
  return a < b || (a === b && ap <= bp) ? `${proto} ${a} ${ap} ${b} ${bp}` : `${proto} ${b} ${bp} ${a} ${ap}`;
}

export function flowKey(p: L4Packet): string {
  return tupleKey(p.protocol, p.srcAddr, p.srcPort, p.dstAddr, p.dstPort);
}
