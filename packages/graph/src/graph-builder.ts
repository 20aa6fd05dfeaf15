/**
 * Builds the service graph from events. State is kept per address (one
 * entry per IP seen) and per address-level edge (client address, server
 * address, protocol); names are applied when a snapshot is taken, so that
 * every address that resolved to the same name becomes one node and a DNS
 * answer seen after the traffic still names it. Both maps are capped; an
 * event that would grow a full map is counted and left out.
 */
import { LAST_NS, isoFromNs } from '@panopticon/events';
import { LatencySketch } from './latency-sketch.js';
import { NameCache, type NameCacheOptions } from './name-cache.js';
import { Identifiers } from './identifiers.js';
import { at, errorOf, isMirrorView, numberAt, piiOf, stringAt, type Direction } from './event-facts.js';
import type { GraphEdge, GraphNode, GraphSnapshot } from './snapshot.js';
import { GRAPH_FORMAT_VERSION } from './snapshot.js';

export interface GraphLimits {
  /** most distinct addresses (default 10,000) */
  maxAddresses?: number;
  /** most distinct address-level edges (default 50,000) */
  maxEdges?: number;
}

export interface GraphBuilderOptions extends GraphLimits {
  names?: NameCacheOptions;
  /** shared across windows so names learnt in one window still apply in the next */
  nameCache?: NameCache;
}

interface AddressState {
  address: string;
  /** name → order in which it was bound (higher = more recent) */
  names: Map<string, number>;
  ports: Set<number>;
  processes: Set<string>;
  protocols: Set<string>;
  served: number;
  made: number;
  /** the name list last bound (identity), to skip re-binding on every event */
  boundFrom?: string[];
}

interface EdgeState {
  client: string;
  server: string;
  protocol: string;
  requests: number;
  errors: number;
  unanswered: number;
  latency: LatencySketch;
  requestBytes: number;
  responseBytes: number;
  /** exact ns since the epoch as decimal strings (compared with nsBefore); undefined until an event with a time reaches the edge */
  firstNs: string | undefined;
  lastNs: string | undefined;
  pii: Record<Direction, Map<string, number>>;
}

export interface BuilderCounters {
  events: number;
  /** events without a client or server address */
  no_address: number;
  /** events left out because the address map was full */
  dropped_address_limit: number;
  /** events left out because the edge map was full */
  dropped_edge_limit: number;
  /** TLS plaintext events of the view captured second of a connection both ends of which were captured: not counted twice */
  mirror_views: number;
}

const MAX_PER_SET = 256;

const LAST_NS_TEXT = LAST_NS.toString();

/**
 * A canonical decimal ns string (no sign, no leading zeros) of a time up to
 * year 9999, else undefined: a later one (an event from elsewhere, a damaged
 * one) has no ISO text for the graph's first_seen/last_seen.
 */
function nsText(v: unknown): string | undefined {
  if (typeof v === 'string') {
    const n = v.length;
    if (n === 0 || n > LAST_NS_TEXT.length || (n > 1 && v.charCodeAt(0) === 48)) return undefined;
    for (let i = 0; i < n; i++) {
      const c = v.charCodeAt(i);
      if (c < 48 || c > 57) return undefined;
    }
    return n === LAST_NS_TEXT.length && v > LAST_NS_TEXT ? undefined : v;
  }
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return String(v);
  return undefined;
}

/** a < b for canonical decimal strings: shorter is smaller, else lexicographic. */
function nsBefore(a: string, b: string): boolean {
  return a.length !== b.length ? a.length < b.length : a < b;
}

function optional(s: string | undefined, ids: Identifiers): string | undefined {
  return s === undefined ? s : ids.bound(s);
}

function addBounded<T>(set: Set<T>, v: T): void {
  if (set.size < MAX_PER_SET || set.has(v)) set.add(v);
}

export class GraphBuilder {
  readonly names: NameCache;
  private readonly maxAddresses: number;
  private readonly maxEdges: number;
  private readonly addresses = new Map<string, AddressState>();
  private readonly edges = new Map<string, EdgeState>();
  private bindSeq = 0;
  readonly counters: BuilderCounters = { events: 0, no_address: 0, dropped_address_limit: 0, dropped_edge_limit: 0, mirror_views: 0 };
  /** addresses, process and protocol names of events cut to MAX_IDENTIFIER */
  private readonly identifiers = new Identifiers();

  /** texts of this graph's events cut to MAX_IDENTIFIER (the name cache counts its own) */
  get cutIdentifiers(): number {
    return this.identifiers.cut;
  }
  /** the shared name cache's counts when this graph began: a window reports only its own */
  private readonly namesExpiredBefore: number;
  private readonly namesEvictedBefore: number;
  private readonly namesCutBefore: number;

  constructor(opts: GraphBuilderOptions = {}) {
    this.names = opts.nameCache ?? new NameCache(opts.names);
    this.namesExpiredBefore = this.names.expired;
    this.namesEvictedBefore = this.names.evicted;
    this.namesCutBefore = this.names.identifiers.cut;
    this.maxAddresses = opts.maxAddresses ?? 10_000;
    this.maxEdges = opts.maxEdges ?? 50_000;
  }

  get empty(): boolean {
    return this.counters.events === 0;
  }

  add(e: Record<string, unknown>): void {
    this.counters.events++;
    // hot path: read the envelope's fields directly, keep times as their exact decimal strings
    const pano = (e.pano ?? {}) as Record<string, unknown>;
    const protocol = typeof pano.protocol === 'string' && pano.protocol ? this.identifiers.bound(pano.protocol) : 'unknown';
    const startNs = nsText(pano.start_ns);
    const endNs = nsText(pano.end_ns) ?? startNs;
    const first = startNs ?? endNs;
    // names are looked up as of the exchange's start: that is when its traffic was new (a
    // stream opened just after the lookup and held for hours is still the name's traffic);
    // an event without a time takes the names as they are (0 never outlives a TTL)
    const nowNs = first === undefined ? 0 : Number(first);
    // any event with a dns group names addresses: DNS itself, and DNS over HTTPS on an http or
    // http2 exchange (ADR 0202: the same group, so no DoH case here); so does a TLS handshake's SNI
    if (e.dns !== undefined || e.tls !== undefined) {
      for (const r of this.names.learn(e)) {
        const st = this.addresses.get(r.address);
        if (st) this.bind(st, this.names.lookup(r.address, nowNs) ?? r.names);
      }
    }
    const ids = this.identifiers;
    const clientAddr = optional(stringAt(e, 'client.address'), ids);
    const serverAddr = optional(stringAt(e, 'server.address'), ids);
    if (!clientAddr || !serverAddr) {
      this.counters.no_address++;
      return;
    }
    const edgeKey = `${clientAddr}\u0000${serverAddr}\u0000${protocol}`;
    const newAddresses = (this.addresses.has(clientAddr) ? 0 : 1) + (this.addresses.has(serverAddr) || serverAddr === clientAddr ? 0 : 1);
    if (newAddresses > 0 && this.addresses.size + newAddresses > this.maxAddresses) {
      this.counters.dropped_address_limit++;
      return;
    }
    let edge = this.edges.get(edgeKey);
    if (!edge && this.edges.size >= this.maxEdges) {
      this.counters.dropped_edge_limit++;
      return;
    }
    const client = this.address(clientAddr, nowNs);
    const server = this.address(serverAddr, nowNs);
    // the process is the end whose calls gave the event: the client's, unless a TLS server's view says otherwise
    const proc = optional(stringAt(e, 'process.executable.name'), ids);
    if (proc) addBounded(at(e, 'pano.connection.view') === 'server' ? server.processes : client.processes, proc);
    // the other end's view of exchanges already counted: its process is all it adds
    if (isMirrorView(e)) {
      this.counters.mirror_views++;
      return;
    }
    client.made++;
    server.served++;
    addBounded(client.protocols, protocol);
    addBounded(server.protocols, protocol);
    const port = numberAt(e, 'server.port');
    if (port !== undefined) addBounded(server.ports, port);

    if (!edge) {
      edge = {
        client: clientAddr,
        server: serverAddr,
        protocol,
        requests: 0,
        errors: 0,
        unanswered: 0,
        latency: new LatencySketch(),
        requestBytes: 0,
        responseBytes: 0,
        firstNs: first,
        lastNs: endNs,
        pii: { client_to_server: new Map(), server_to_client: new Map() },
      };
      this.edges.set(edgeKey, edge);
    }
    edge.requests++;
    const kind = typeof pano.kind === 'string' ? pano.kind : 'exchange';
    if (kind === 'unanswered') edge.unanswered++;
    if (errorOf(e) !== undefined) edge.errors++;
    if (kind === 'exchange' && typeof pano.duration_ns === 'number' && pano.duration_ns >= 0) edge.latency.add(pano.duration_ns);
    if (typeof pano.request_bytes === 'number') edge.requestBytes += pano.request_bytes;
    if (typeof pano.response_bytes === 'number') edge.responseBytes += pano.response_bytes;
    // an event without a time says nothing of when the edge was seen (it is not 1970)
    if (first !== undefined && (edge.firstNs === undefined || nsBefore(first, edge.firstNs))) edge.firstNs = first;
    if (endNs !== undefined && (edge.lastNs === undefined || nsBefore(edge.lastNs, endNs))) edge.lastNs = endNs;
    if (Array.isArray(e.pii)) {
      for (const f of piiOf(e)) {
        const m = edge.pii[f.direction];
        if (m.size < MAX_PER_SET || m.has(f.type)) m.set(f.type, (m.get(f.type) ?? 0) + 1);
      }
    }
  }

  private address(addr: string, nowNs: number): AddressState {
    let st = this.addresses.get(addr);
    if (!st) {
      st = { address: addr, names: new Map(), ports: new Set(), processes: new Set(), protocols: new Set(), served: 0, made: 0 };
      this.addresses.set(addr, st);
    }
    const names = this.names.lookup(addr, nowNs);
    if (names) this.bind(st, names);
    return st;
  }

  /** Bind names (current last) to an address, unless that exact list is already its latest binding. */
  private bind(st: AddressState, names: string[]): void {
    // the cache hands out the same array until the address is re-resolved
    if (st.boundFrom === names) return;
    for (const n of names) {
      if (st.names.size >= MAX_PER_SET && !st.names.has(n)) continue;
      st.names.set(n, ++this.bindSeq);
    }
    st.boundFrom = names;
  }

  private currentName(st: AddressState): string | undefined {
    let best: string | undefined;
    let max = -1;
    for (const [n, v] of st.names) if (v > max) {
      max = v;
      best = n;
    }
    return best;
  }

  /** The graph as it stands, grouped into named nodes. */
  snapshot(opts: SnapshotOptions = {}): GraphSnapshot {
    const nodeOf = new Map<string, string>();
    const nodes = new Map<string, NodeAcc>();
    for (const st of this.addresses.values()) {
      const name = this.currentName(st);
      const id = name ?? st.address;
      nodeOf.set(st.address, id);
      let n = nodes.get(id);
      if (!n) {
        n = { id, name, names: new Map(), addresses: new Set(), ports: new Set(), processes: new Set(), protocols: new Set(), served: 0, made: 0 };
        nodes.set(id, n);
      }
      for (const [nm, seq] of st.names) n.names.set(nm, Math.max(seq, n.names.get(nm) ?? -1));
      n.addresses.add(st.address);
      for (const p of st.ports) n.ports.add(p);
      for (const p of st.processes) n.processes.add(p);
      for (const p of st.protocols) n.protocols.add(p);
      n.served += st.served;
      n.made += st.made;
    }
    const merged = new Map<string, EdgeState & { source: string; target: string }>();
    for (const e of this.edges.values()) {
      const source = nodeOf.get(e.client)!;
      const target = nodeOf.get(e.server)!;
      const id = `${source} -> ${target} (${e.protocol})`;
      const m = merged.get(id);
      if (!m) {
        const copy = { ...e, source, target, latency: new LatencySketch(), pii: { client_to_server: new Map(e.pii.client_to_server), server_to_client: new Map(e.pii.server_to_client) } };
        copy.latency.merge(e.latency);
        merged.set(id, copy);
        continue;
      }
      m.requests += e.requests;
      m.errors += e.errors;
      m.unanswered += e.unanswered;
      m.latency.merge(e.latency);
      m.requestBytes += e.requestBytes;
      m.responseBytes += e.responseBytes;
      if (e.firstNs !== undefined && (m.firstNs === undefined || nsBefore(e.firstNs, m.firstNs))) m.firstNs = e.firstNs;
      if (e.lastNs !== undefined && (m.lastNs === undefined || nsBefore(m.lastNs, e.lastNs))) m.lastNs = e.lastNs;
      for (const dir of ['client_to_server', 'server_to_client'] as const) {
        for (const [t, c] of e.pii[dir]) m.pii[dir].set(t, (m.pii[dir].get(t) ?? 0) + c);
      }
    }
    let edges: GraphEdge[] = [...merged.entries()].map(([id, e]) => edgeOut(id, e));
    edges.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const totalEdges = edges.length;
    if (opts.minRequests !== undefined) edges = edges.filter((e) => e.requests >= opts.minRequests!);
    if (opts.top !== undefined && edges.length > opts.top) {
      const keep = new Set(
        [...edges].sort((a, b) => b.requests - a.requests || (a.id < b.id ? -1 : 1)).slice(0, opts.top).map((e) => e.id),
      );
      edges = edges.filter((e) => keep.has(e.id));
    }
    const filtered = edges.length !== totalEdges;
    const used = new Set<string>();
    for (const e of edges) {
      used.add(e.source);
      used.add(e.target);
    }
    let nodeList: GraphNode[] = [...nodes.values()].map(nodeOut);
    const totalNodes = nodeList.length;
    if (filtered) nodeList = nodeList.filter((n) => used.has(n.id));
    nodeList.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return {
      format: 'pano-graph',
      version: GRAPH_FORMAT_VERSION,
      window: opts.window ?? null,
      nodes: nodeList,
      edges,
      counts: {
        events: this.counters.events,
        no_address: this.counters.no_address,
        dropped_address_limit: this.counters.dropped_address_limit,
        dropped_edge_limit: this.counters.dropped_edge_limit,
        mirror_views: this.counters.mirror_views,
        names_expired: this.names.expired - this.namesExpiredBefore,
        names_evicted: this.names.evicted - this.namesEvictedBefore,
        cut_identifiers: this.identifiers.cut + this.names.identifiers.cut - this.namesCutBefore,
        hidden_nodes: totalNodes - nodeList.length,
        hidden_edges: totalEdges - edges.length,
        ...(opts.extraCounts ?? {}),
      },
    };
  }
}

export interface SnapshotOptions {
  /** keep only the N edges with the most requests */
  top?: number;
  /** keep only edges with at least this many requests */
  minRequests?: number;
  window?: { start_ns: string; end_ns: string } | null;
  /** input-side counts (bad lines …) to report with the graph */
  extraCounts?: Record<string, number>;
}

interface NodeAcc {
  id: string;
  name?: string;
  names: Map<string, number>;
  addresses: Set<string>;
  ports: Set<number>;
  processes: Set<string>;
  protocols: Set<string>;
  served: number;
  made: number;
}

const sorted = (s: Iterable<string>) => [...s].sort();

function nodeOut(n: NodeAcc): GraphNode {
  return {
    id: n.id,
    label: n.name ?? n.id,
    // all names, the current one last
    names: [...n.names.entries()].sort((a, b) => a[1] - b[1]).map(([nm]) => nm),
    addresses: sorted(n.addresses),
    ports: [...n.ports].sort((a, b) => a - b),
    processes: sorted(n.processes),
    protocols: sorted(n.protocols),
    requests_served: n.served,
    requests_made: n.made,
  };
}

function piiOut(m: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of sorted(m.keys())) out[k] = m.get(k)!;
  return out;
}

function edgeOut(id: string, e: EdgeState & { source: string; target: string }): GraphEdge {
  const q = (p: number) => {
    const v = e.latency.quantile(p);
    return v === undefined ? null : Math.round(v);
  };
  const c2s = piiOut(e.pii.client_to_server);
  const s2c = piiOut(e.pii.server_to_client);
  return {
    id,
    source: e.source,
    target: e.target,
    protocol: e.protocol,
    requests: e.requests,
    errors: e.errors,
    unanswered: e.unanswered,
    latency_ns: { samples: e.latency.count, p50: q(0.5), p95: q(0.95), p99: q(0.99) },
    bytes: { client_to_server: e.requestBytes, server_to_client: e.responseBytes },
    first_seen_ns: e.firstNs ?? null,
    last_seen_ns: e.lastNs ?? null,
    first_seen: e.firstNs === undefined ? null : isoFromNs(BigInt(e.firstNs)),
    last_seen: e.lastNs === undefined ? null : isoFromNs(BigInt(e.lastNs)),
    pii: { client_to_server: c2s, server_to_client: s2c },
    pii_types: sorted(new Set([...Object.keys(c2s), ...Object.keys(s2c)])),
  };
}
