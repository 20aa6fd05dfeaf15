/**
 * The dispatcher sits between flow tracking and the protocol parsers: it
 * detects each connection's protocol from the first bytes a side sent (port
 * hints first, content decides), fixes client/server roles when the content
 * says the ports guessed wrong, feeds the chosen parser, and turns the
 * parser's records into v1 events with the envelope filled in.
 */
import { Dir, type CloseReason, type Connection, type FlowSink } from '@panopticon/flows';
import { durationNs, isoFromDecimalNs, type EventSource, type PanoEvent } from '@panopticon/events';
import {
  defaultParseOptions,
  type DatagramParser,
  type ExchangeRecord,
  type HandoffInit,
  type ParseOptions,
  type ParserContext,
  type ProtocolModule,
  type StreamParser,
  type TunnelOptions,
} from './types.js';
import { PortHints } from './port-hints.js';
import { ConnectionIds } from './connection-ids.js';
import { TunnelStream } from './tunnel.js';
import { TlsKeyLog } from './tls/keylog.js';

/** Bytes a side may send while every candidate still says 'more'. */
const MAX_HEAD_BYTES = 8192;
/**
 * Unrecognised bytes of a side kept while waiting for the other side to be
 * recognised: responses often cannot be told apart on their own (Kafka,
 * binary protocols), but once the requests identify the protocol the parser
 * should see them (as responses without requests, when joined mid-way).
 */
const MAX_KEPT_BYTES = 64 * 1024;
/** Bytes per direction skipped looking for a recognisable message start before the connection is ignored. */
const MAX_SKIP_BYTES = 256 * 1024;
/** Datagrams of a UDP flow tried before it is ignored. */
const MAX_DATAGRAM_TRIES = 8;
/** Datagram parsers are ticked at most once per this much packet time. */
const TICK_EVERY_NS = 1_000_000_000n;

interface Pending {
  dir: Dir;
  bytes: Buffer;
  tsNs: bigint;
  /** No module recognised a message starting here: kept only for the other side's parser. */
  stale?: boolean;
}

/** What a connection needs while its protocol is being detected, and not after (ADR 0010). */
interface Detection {
  head: Pending[];
  /** Bytes of the current detection candidate per side (not stale). */
  headBytes: [number, number];
  /** Stale bytes kept per side. */
  kept: [number, number];
  skipped: [number, number];
}


export interface DispatcherOptions {
  /** Enabled protocol modules, in detection order. */
  modules: readonly ProtocolModule[];
  parse?: Partial<ParseOptions>;
  /** Provenance stamped on every event. */
  source: EventSource;
  /** Provenance of the packets of one interface, where it is not `source` (live capture: `tc` on that interface). */
  interfaceSource?(interfaceKey: number): EventSource | undefined;
  onEvent(ev: PanoEvent): void;
  /** Interface name for an interface key, when the capture names it. */
  interfaceName?(interfaceKey: number): string | undefined;
}

/** An exception thrown by `onEvent`, carried through the parser that emitted the event. */
class ConsumerError {
  constructor(readonly error: unknown) {}
}

/**
 * A tracked connection's state in the dispatcher, and what its parser sees of
 * it and of the dispatcher (the ParserContext). One object per connection, its
 * methods on the prototype, rather than closures and their context, or a
 * context object beside the state: a table holds tens of thousands of
 * connections, and a resolver's capture opens one per query (ADR 0010).
 */
class ConnState implements ParserContext {
  status: 'detecting' | 'parsing' | 'ignored' = 'detecting';
  module: ProtocolModule | undefined = undefined;
  stream: StreamParser | undefined = undefined;
  datagram: DatagramParser | undefined = undefined;
  /**
   * Set while a TCP connection's `status` is 'detecting'. UDP flows detect
   * datagram by datagram and keep nothing: no detection state (it was five
   * objects a flow).
   */
  det: Detection | undefined;
  /** Datagrams of a UDP flow no module recognised. */
  tries = 0;
  /**
   * A UDP flow that is another flow's connection on a new path (a QUIC client's new
   * address or port, found by a connection ID): its datagrams go to that flow's parser.
   */
  follows: ConnState | undefined = undefined;
  /** Flows whose datagrams this state's parser reads (its own and those that follow it): it closes with the last. */
  paths = 1;
  /** Events emitted, for their ids. */
  seq = 0;
  readonly options: ParseOptions;

  constructor(
    private readonly d: Dispatcher,
    readonly conn: Connection,
  ) {
    this.options = d.parseOptions;
    this.det = conn.transport === 'tcp' ? { head: [], headBytes: [0, 0], kept: [0, 0], skipped: [0, 0] } : undefined;
  }

  emit(record: ExchangeRecord): void {
    this.d.emit(this, record);
  }

  count(name: string, n = 1): void {
    this.d.count(name, n);
  }

  abandon(reason: string): void {
    this.d.abandonConn(this, reason);
  }

  handoff(protocol: string, pending: Array<{ dir: Dir; bytes: Buffer; tsNs: bigint }> = [], init?: HandoffInit): boolean {
    return this.d.handoffConn(this, protocol, pending, init);
  }

  tunnel(port: number, decorate: (r: ExchangeRecord, protocol: string) => void, opts?: TunnelOptions): StreamParser {
    const known = opts?.create ?? (opts?.protocol === undefined ? undefined : this.d.tcpModule(opts.protocol));
    return new TunnelStream(this, this.d.tcpDetectionOrder(port), decorate, known, opts?.tls);
  }

  get tlsKeys(): TlsKeyLog {
    return this.d.tlsKeys;
  }

  connectionId(id: Buffer, toServer: boolean): void {
    this.d.addConnectionId(this, id, toServer);
  }

  expect(address: string, port: number, protocol: string, parser: (ctx: ParserContext) => StreamParser): void {
    this.d.addExpected(this.conn.lastNs, address, port, protocol, parser);
  }
}

/** A connection announced by another (ParserContext.expect), waiting to be opened. */
interface Expected {
  protocol: string;
  parser: (ctx: ParserContext) => StreamParser;
  expiresNs: bigint;
}

/** Connections announced and not yet opened, at most; and how long one is waited for (capture time). */
export const MAX_EXPECTED = 1024;
export const EXPECT_NS = 60_000_000_000n;

export class Dispatcher implements FlowSink {
  /**
   * Named counters (detections, anomalies reported by parsers, ignored bytes),
   * each a box, so that a count is one map lookup: a DNS exchange counts
   * three times, and a resolver's capture has a flow per exchange.
   */
  private readonly counters = new Map<string, { n: number }>();
  readonly parseOptions: ParseOptions;
  /** TLS secrets: the key log files given, and a capture's Decryption Secrets Blocks as they are read (`addText`). */
  readonly tlsKeys: TlsKeyLog;
  /** Swaps a connection's roles in the flow table; set by whoever owns the table. */
  flipRoles: (conn: Connection) => void = (conn) => {
    const c = conn.client;
    conn.client = conn.server;
    conn.server = c;
    conn.roleSource = 'protocol';
  };
  /**
   * Ends a UDP flow whose parser became idle on a tick (its last query timed
   * out) in the flow table; set by whoever owns the table. Without it such a
   * flow lasts to its idle timeout.
   */
  endFlow: (conn: Connection) => void = () => {};
  private readonly datagramStates = new Set<ConnState>();
  /** Connection IDs parsers saw issued, to find their connections on new paths. */
  private readonly connectionIds = new ConnectionIds<ConnState>();
  /** TCP connections whose parser has `tick` (DNS): their requests time out as a datagram flow's do. */
  private readonly timedStreams = new Set<ConnState>();
  private readonly tcpModules: ProtocolModule[];
  private readonly udpModules: ProtocolModule[];
  /** Detection order by the ports' hints, per transport. */
  private readonly tcpOrder: PortHints;
  private readonly udpOrder: PortHints;
  private nextTickNs = 0n;

  private readonly startCounters = new Map<ProtocolModule, string>();

  constructor(private readonly opts: DispatcherOptions) {
    this.parseOptions = { ...defaultParseOptions, ...opts.parse };
    this.tlsKeys = new TlsKeyLog(this.parseOptions.tlsKeyLogs);
    this.tcpModules = opts.modules.filter((m) => m.transport === 'tcp' && m.createStream);
    this.udpModules = opts.modules.filter((m) => m.transport === 'udp' && m.createDatagram);
    this.tcpOrder = new PortHints(this.tcpModules);
    this.udpOrder = new PortHints(this.udpModules);
  }

  count(name: string, n = 1): void {
    const c = this.counters.get(name);
    if (c === undefined) this.counters.set(name, { n });
    else c.n += n;
  }

  open(conn: Connection): void {
    const s = new ConnState(this, conn);
    conn.sinkState = s;
    if (this.expected.size > 0 && conn.transport === 'tcp') this.openExpected(s);
  }

  /** Connections other connections announced (an FTP data connection), by `address|port` of their listening side. */
  private readonly expected = new Map<string, Expected>();

  /** ParserContext.expect: the next connection to `address`:`port` is `protocol`'s. */
  addExpected(nowNs: bigint, address: string, port: number, protocol: string, parser: (ctx: ParserContext) => StreamParser): void {
    const key = `${address}|${port}`;
    this.expected.delete(key);
    if (this.expected.size >= MAX_EXPECTED) {
      // the oldest announcement goes: its connection, if it ever opens, is detected from its bytes
      this.expected.delete(this.expected.keys().next().value!);
      this.count('dispatch.expected_dropped');
    }
    this.expected.set(key, { protocol, parser, expiresNs: nowNs + EXPECT_NS });
  }

  /** A new connection another one announced is parsed by the announcer's parser, not detected. */
  private openExpected(s: ConnState): void {
    const c = s.conn;
    // the listening side: the server when the SYN was seen; either end when the roles are guessed
    let key = `${c.server.address}|${c.server.port}`;
    let e = this.expected.get(key);
    if (!e && c.roleSource !== 'syn') {
      key = `${c.client.address}|${c.client.port}`;
      e = this.expected.get(key);
      if (e) this.flipRoles(c);
    }
    if (!e) return;
    this.expected.delete(key);
    if (e.expiresNs < c.firstNs) {
      this.count('dispatch.expected_expired');
      return;
    }
    const m = this.tcpModule(e.protocol);
    if (!m) return;
    this.start(s, m, { carried: { name: e.protocol, parser: e.parser } });
  }

  data(conn: Connection, dir: Dir, chunk: Buffer, tsNs: bigint): void {
    const s = conn.sinkState as ConnState | undefined;
    if (!s) return;
    try {
      if (s.status === 'parsing') {
        s.stream!.data(dir, chunk, tsNs);
      } else if (s.status === 'detecting') {
        const d = s.det!;
        d.head.push({ dir, bytes: chunk, tsNs });
        d.headBytes[dir] += chunk.length;
        this.detectStream(s, dir);
      } else {
        this.count('dispatch.ignored_bytes', chunk.length);
      }
    } catch (e) {
      this.fault(s, e);
    }
  }

  gap(conn: Connection, dir: Dir, length: number, tsNs: bigint): void {
    const s = conn.sinkState as ConnState | undefined;
    if (!s) return;
    try {
      if (s.status === 'parsing') s.stream!.gap(dir, length, tsNs);
      else if (s.status === 'detecting') this.dropHead(s, dir);
    } catch (e) {
      this.fault(s, e);
    }
  }

  end(conn: Connection, dir: Dir, tsNs: bigint): void {
    const s = conn.sinkState as ConnState | undefined;
    if (s?.status !== 'parsing') return;
    try {
      s.stream!.end(dir, tsNs);
    } catch (e) {
      this.fault(s, e);
    }
  }

  close(conn: Connection, reason: CloseReason, tsNs: bigint): void {
    const flow = conn.sinkState as ConnState | undefined;
    if (!flow) return;
    conn.sinkState = undefined;
    // a connection on several paths ends with the last of them
    const s = flow.follows ?? flow;
    if (--s.paths > 0) return;
    this.connectionIds.forget(s);
    this.datagramStates.delete(s);
    this.timedStreams.delete(s);
    if (s.status === 'parsing') {
      try {
        if (s.stream) s.stream.close(reason, tsNs);
        else s.datagram?.close(reason, tsNs);
      } catch (e) {
        this.fault(s, e);
      }
    } else if (s.status === 'detecting' && s.det) {
      const d = s.det;
      const held = d.headBytes[0] + d.headBytes[1] + d.kept[0] + d.kept[1];
      if (held > 0) {
        this.count(`dispatch.unidentified_${conn.transport}_connections`);
        this.count('dispatch.ignored_bytes', held);
      }
    }
  }

  /** True when the flow's parser has no request left unanswered: the flow is over (ADR 0011). */
  datagram(conn: Connection, dir: Dir, payload: Buffer, tsNs: bigint): boolean {
    const s = conn.sinkState as ConnState | undefined;
    // this flow's own expiry is answered by the return value, after its datagram
    this.maybeTick(tsNs, s);
    if (!s) return false;
    try {
      this.datagramTo(s, conn, dir, payload, tsNs);
      const p = s.follows ?? s;
      return p.status === 'parsing' && p.datagram!.idle?.() === true;
    } catch (e) {
      this.fault(s.follows ?? s, e);
      return false;
    }
  }

  private datagramTo(s: ConnState, conn: Connection, dir: Dir, payload: Buffer, tsNs: bigint): void {
    if (s.follows) {
      if (s.follows.status === 'parsing') s.follows.datagram!.datagram(dir, payload, tsNs);
      else this.count('dispatch.ignored_bytes', payload.length);
      return;
    }
    if (s.status === 'parsing') {
      s.datagram!.datagram(dir, payload, tsNs);
      return;
    }
    if (s.status === 'ignored') {
      this.count('dispatch.ignored_bytes', payload.length);
      return;
    }
    const moved = this.connectionIds.find(payload);
    if (moved && moved.owner.status === 'parsing') {
      // the same connection on a new path: this flow's roles are the connection's
      if (moved.toServer !== (dir === Dir.ToServer)) {
        this.flipRoles(conn);
        dir = (1 - dir) as Dir;
      }
      s.follows = moved.owner;
      s.status = 'parsing';
      moved.owner.paths++;
      this.count('dispatch.followed_paths');
      moved.owner.datagram!.datagram(dir, payload, tsNs);
      return;
    }
    for (const m of this.udpOrder.order(conn.server.port, conn.client.port)) {
      const r = m.detect(payload, dir);
      if (r !== null && r !== 'more') {
        if (this.mustFlip(conn, dir, r.sender)) {
          this.flipRoles(conn);
          dir = (1 - dir) as Dir;
        }
        this.start(s, m);
        s.datagram!.datagram(dir, payload, tsNs);
        return;
      }
    }
    this.count('dispatch.ignored_bytes', payload.length);
    if (++s.tries >= MAX_DATAGRAM_TRIES) {
      s.status = 'ignored';
      this.count('dispatch.unidentified_udp_flows');
    }
  }

  /**
   * Expire what waits on time in datagram protocols (and in stream parsers
   * with `tick`); called as packet time advances and at the end. A flow
   * whose parser is idle after it (its last query timed out) is ended,
   * except `delivering`, the flow whose datagram is being delivered: the
   * table ends that one on the datagram's return. A TCP connection goes on.
   */
  tick(nowNs: bigint, delivering?: ConnState): void {
    let idle: ConnState[] | undefined;
    for (const s of this.datagramStates) {
      try {
        const d = s.datagram!;
        if (d.tick === undefined) continue;
        d.tick(nowNs);
        if (s !== delivering && d.idle?.() === true) (idle ??= []).push(s);
      } catch (e) {
        this.fault(s, e);
      }
    }
    // after the loop: ending a flow takes its state out of the set
    if (idle) for (const s of idle) if (s.conn.sinkState === s) this.endFlow(s.conn);
    for (const s of this.timedStreams) {
      try {
        s.stream!.tick!(nowNs);
      } catch (e) {
        this.fault(s, e);
      }
    }
  }

  /**
   * A parser threw: a bug met by unusual input. As a dissector exception is
   * in Wireshark, it costs that connection its parsing, not the run: the
   * parser is dropped (its unfinished exchanges with it), the fault counted
   * as `<protocol>.parser_faults` and named at exit. PANO_DEBUG=1 lets it
   * through, stack and all. An exception of the event consumer is not the
   * parser's and goes on as it was.
   */
  private fault(s: ConnState, e: unknown): void {
    if (e instanceof ConsumerError) throw e.error;
    if (process.env.PANO_DEBUG) throw e;
    this.count(`${s.module?.name ?? 'dispatch'}.parser_faults`);
    s.status = 'ignored';
    s.stream = undefined;
    s.datagram = undefined;
    s.det = undefined;
    this.connectionIds.forget(s);
    this.datagramStates.delete(s);
    this.timedStreams.delete(s);
  }

  /** Named counters as a plain object, sorted, for `--stats`. */
  stats(): Record<string, number> {
    // what the key log skipped or forgot, beside what the parsers counted
    if (this.tlsKeys.malformedLines) this.counters.set('tls.keylog_malformed_lines', { n: this.tlsKeys.malformedLines });
    if (this.tlsKeys.forgotten) this.counters.set('tls.keylog_forgotten', { n: this.tlsKeys.forgotten });
    return Object.fromEntries([...this.counters.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, c]) => [k, c.n]));
  }

  /**
   * Packet time seen by the flow table without a datagram for us (a TCP
   * packet, TLS plaintext, another shard's datagram): tick as one dispatcher
   * would have.
   */
  advance(nowNs: bigint): void {
    this.maybeTick(nowNs);
  }

  private maybeTick(nowNs: bigint, delivering?: ConnState): void {
    if (nowNs < this.nextTickNs) return;
    this.nextTickNs = nowNs + TICK_EVERY_NS;
    this.tick(nowNs, delivering);
  }

  /** The enabled TCP module called `name`, if any. */
  tcpModule(name: string): ProtocolModule | undefined {
    return this.tcpModules.find((m) => m.name === name);
  }

  /** TCP modules in detection order for a tunnel to `port` (the port hints it). */
  tcpDetectionOrder(port: number): readonly ProtocolModule[] {
    return this.tcpOrder.order(port, port);
  }

  private detectStream(s: ConnState, dir: Dir): void {
    const d = s.det!;
    const parts: Buffer[] = [];
    for (const p of d.head) if (p.dir === dir && !p.stale) parts.push(p.bytes);
    const head = parts.length === 1 ? parts[0] : Buffer.concat(parts);
    let waiting = false;
    for (const m of this.tcpOrder.order(s.conn.server.port, s.conn.client.port)) {
      const r = m.detect(head, dir);
      if (r === 'more') {
        waiting = true;
      } else if (r !== null) {
        this.startDetected(s, m, dir, r.sender);
        return;
      }
    }
    if (waiting && d.headBytes[dir] < MAX_HEAD_BYTES) return;
    // Nothing recognises these bytes as a message start. Packets usually begin
    // at message boundaries, so try again at the next chunk; keep these (bounded)
    // in case the other side identifies the protocol.
    this.staleHead(s, dir);
  }

  /**
   * Start `m` on a connection whose `dir` side was recognised: replay that
   * side from the recognised message on, and the other side whole (a parser
   * joined mid-way copes with responses whose requests it never saw).
   */
  private startDetected(s: ConnState, m: ProtocolModule, dir: Dir, sender: 'client' | 'server' | 'unknown'): void {
    let replay = s.det!.head;
    s.det = undefined;
    let dropped = 0;
    replay = replay.filter((p) => {
      if (p.dir === dir && p.stale) {
        dropped += p.bytes.length;
        return false;
      }
      return true;
    });
    if (dropped) this.count('dispatch.ignored_bytes', dropped);
    if (this.mustFlip(s.conn, dir, sender)) {
      this.flipRoles(s.conn);
      for (const p of replay) p.dir = (1 - p.dir) as Dir;
    }
    this.start(s, m);
    for (const p of replay) {
      if (s.status !== 'parsing') break;
      s.stream!.data(p.dir, p.bytes, p.tsNs);
    }
  }

  private staleHead(s: ConnState, dir: Dir): void {
    const d = s.det!;
    const n = d.headBytes[dir];
    for (const p of d.head) if (p.dir === dir) p.stale = true;
    d.headBytes[dir] = 0;
    d.kept[dir] += n;
    d.skipped[dir] += n;
    // Past the bound, the oldest kept bytes of this side go.
    while (d.kept[dir] > MAX_KEPT_BYTES) {
      const i = d.head.findIndex((p) => p.dir === dir);
      const [p] = d.head.splice(i, 1);
      d.kept[dir] -= p.bytes.length;
      this.count('dispatch.ignored_bytes', p.bytes.length);
    }
    if (d.skipped[dir] > MAX_SKIP_BYTES) this.giveUp(s);
  }

  /** A gap on a side being detected: its bytes cannot be joined to what follows. */
  private dropHead(s: ConnState, dir: Dir): void {
    const d = s.det!;
    let dropped = 0;
    d.head = d.head.filter((p) => {
      if (p.dir !== dir) return true;
      dropped += p.bytes.length;
      return false;
    });
    d.skipped[dir] += d.headBytes[dir];
    d.headBytes[dir] = 0;
    d.kept[dir] = 0;
    this.count('dispatch.ignored_bytes', dropped);
    if (d.skipped[dir] > MAX_SKIP_BYTES) this.giveUp(s);
  }

  private giveUp(s: ConnState): void {
    let n = 0;
    for (const p of s.det!.head) n += p.bytes.length;
    this.count('dispatch.ignored_bytes', n);
    s.status = 'ignored';
    s.det = undefined;
    this.count(`dispatch.unidentified_${s.conn.transport}_connections`);
  }

  private mustFlip(conn: Connection, dir: Dir, sender: 'client' | 'server' | 'unknown'): boolean {
    if (sender === 'unknown' || conn.roleSource === 'syn' || conn.roleSource === 'library') return false;
    return (sender === 'client') !== (dir === Dir.ToServer);
  }

  private start(s: ConnState, m: ProtocolModule, init?: HandoffInit): void {
    s.module = m;
    s.status = 'parsing';
    s.det = undefined;
    this.count(this.startCounter(m, s.conn.transport));
    if (m.transport === 'tcp') {
      s.stream = m.createStream!(s, init);
      // a handoff replaces the parser: the set follows the one now in place
      if (s.stream.tick) this.timedStreams.add(s);
      else this.timedStreams.delete(s);
    } else {
      s.datagram = m.createDatagram!(s);
      this.datagramStates.add(s);
    }
  }

  /** `dispatch.<protocol>_connections|flows`, made once per module, not once per connection. */
  private startCounter(m: ProtocolModule, transport: Connection['transport']): string {
    let name = this.startCounters.get(m);
    if (name === undefined) this.startCounters.set(m, (name = `dispatch.${m.name}_${transport === 'tcp' ? 'connections' : 'flows'}`));
    return name;
  }

  /** `ParserContext.connectionId` of a datagram parser: `id` names its connection on any path. */
  addConnectionId(s: ConnState, id: Buffer, toServer: boolean): void {
    if (!this.connectionIds.add(s, id, toServer)) this.count('dispatch.connection_ids_dropped');
  }

  /** `ParserContext.abandon` of a connection's parser (the ParserContext method of its ConnState calls it). */
  abandonConn(s: ConnState, reason: string): void {
    this.count(`${s.module?.name ?? 'dispatch'}.abandoned.${reason}`);
    s.status = 'ignored';
    s.stream = undefined;
    s.datagram = undefined;
    this.connectionIds.forget(s);
    this.datagramStates.delete(s);
    this.timedStreams.delete(s);
  }

  /** `ParserContext.handoff` of a connection's parser (the ParserContext method of its ConnState calls it). */
  handoffConn(s: ConnState, protocol: string, pending: Array<{ dir: Dir; bytes: Buffer; tsNs: bigint }>, init: HandoffInit | undefined): boolean {
    if (protocol === '' && s.conn.transport === 'tcp') {
      // the rest is whatever protocol its bytes say (a CONNECT tunnel): detected as a new connection's are
      s.status = 'detecting';
      s.module = undefined;
      s.stream = undefined;
      this.timedStreams.delete(s);
      s.det = { head: [], headBytes: [0, 0], kept: [0, 0], skipped: [0, 0] };
      for (const p of pending) this.data(s.conn, p.dir, p.bytes, p.tsNs);
      return true;
    }
    const m = this.opts.modules.find((x) => x.name === protocol && x.transport === s.conn.transport);
    if (!m) {
      this.count(`${s.module?.name ?? 'dispatch'}.handoff_unavailable.${protocol}`);
      s.status = 'ignored';
      s.stream = undefined;
      this.timedStreams.delete(s);
      return false;
    }
    this.start(s, m, init);
    for (const p of pending) {
      if (s.status !== 'parsing' || s.module !== m) break;
      s.stream!.data(p.dir, p.bytes, p.tsNs);
    }
    return true;
  }

  /** An exchange record of a connection's parser, as an event (the ParserContext method of its ConnState calls it). */
  /** A TLS plaintext connection's envelope: whose view the events are, and the other end's view when that was captured first. */
  private plaintextConnection(c: Connection): PanoEvent['pano']['connection'] {
    const e = c.processEnd!;
    const view = e.port === c.client.port && e.address === c.client.address ? 'client' : 'server';
    return c.mirrorOf === undefined ? { id: c.id, roles: c.roleSource, view } : { id: c.id, roles: c.roleSource, view, mirror_of: c.mirrorOf };
  }

  emit(s: ConnState, rec: ExchangeRecord): void {
    const c = s.conn;
    s.seq++;
    const attrs = rec.attributes;
    const start = rec.startNs.toString();
    const pano: PanoEvent['pano'] = {
      v: 1,
      id: `${c.id}-${s.seq}`,
      kind: rec.kind,
      protocol: rec.protocol ?? s.module!.name,
      start_ns: start,
      end_ns: rec.endNs.toString(),
      duration_ns: durationNs(rec.startNs, rec.endNs),
      // The ISO time is cut from the decimal text already made (no BigInt division).
      time: isoFromDecimalNs(start.padStart(10, '0')),
      source: c.origin ? { type: 'tls', library: c.origin } : (this.opts.interfaceSource?.(c.interfaceKey) ?? this.opts.source),
      connection: c.processEnd ? this.plaintextConnection(c) : c.midstream ? { id: c.id, roles: c.roleSource, midstream: true } : { id: c.id, roles: c.roleSource },
    };
    if (rec.requestBytes !== undefined) pano.request_bytes = rec.requestBytes;
    if (rec.responseBytes !== undefined) pano.response_bytes = rec.responseBytes;
    if (rec.flags && rec.flags.length) pano.flags = [...new Set(rec.flags)];
    // Field order is that of `{ pano, client, server, ...attrs, network }`: the
    // parser's attributes in their order, `network` where the parser put it (or
    // last). Copied by a loop, not spread into a literal: a spread in the middle
    // of a literal is a generic runtime copy, and this runs for every event.
    const ev = {
      pano,
      client: { address: c.client.address, port: c.client.port },
      server: { address: c.server.address, port: c.server.port },
    } as PanoEvent;
    const out = ev as unknown as Record<string, unknown>;
    let networkPlaced = false;
    for (const k in attrs) {
      if (k === 'network') {
        out.network = this.network(c, attrs.network as Record<string, unknown> | undefined);
        networkPlaced = true;
      } else {
        out[k] = attrs[k];
      }
    }
    if (!networkPlaced) out.network = this.network(c, undefined);
    if (c.process) {
      ev.process = {
        pid: c.process.pid,
        ...(c.process.comm ? { executable: { name: c.process.comm } } : {}),
        ...(c.process.tid !== undefined ? { thread: { id: c.process.tid } } : {}),
      };
    }
    try {
      this.opts.onEvent(ev);
    } catch (e) {
      // through the parser's frames to `fault`, which hands it on as it came
      throw new ConsumerError(e);
    }
  }

  /** `{ transport, type, ...parserNetwork, interface? }`, built by assignment in that order. */
  private network(c: Connection, net: Record<string, unknown> | undefined): PanoEvent['network'] {
    const n: Record<string, unknown> = { transport: c.transport, type: c.ipVersion === 4 ? 'ipv4' : 'ipv6' };
    if (net) for (const k in net) n[k] = net[k];
    const ifName = this.opts.interfaceName?.(c.interfaceKey);
    if (ifName) n.interface = { name: ifName };
    return n as PanoEvent['network'];
  }
}
