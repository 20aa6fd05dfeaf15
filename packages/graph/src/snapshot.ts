/**
 * The graph's JSON shape (`--format json`), versioned: `version` changes
 * only on an incompatible change. Documented in man/pano-graph.1.
 */

export const GRAPH_FORMAT_VERSION = 1;

export interface GraphNode {
  /** the node's current name, else its address */
  id: string;
  /** what to print: same as id */
  label: string;
  /** every DNS name bound to the node's addresses, the current one last */
  names: string[];
  addresses: string[];
  /** ports the node was seen serving */
  ports: number[];
  /** process names of events the node made (when the source knew them) */
  processes: string[];
  protocols: string[];
  requests_served: number;
  requests_made: number;
}

export interface GraphEdge {
  /** `<source> -> <target> (<protocol>)` */
  id: string;
  /** client node id */
  source: string;
  /** server node id */
  target: string;
  protocol: string;
  /** events on the edge: exchanges, one-way messages, unanswered requests, orphan responses */
  requests: number;
  errors: number;
  unanswered: number;
  /** over exchanges only; nearest-rank percentiles within 1 % */
  latency_ns: { samples: number; p50: number | null; p95: number | null; p99: number | null };
  bytes: { client_to_server: number; server_to_client: number };
  /** null when no event of the edge had a time */
  first_seen_ns: string | null;
  last_seen_ns: string | null;
  first_seen: string | null;
  last_seen: string | null;
  /** personal-data findings by type, per direction */
  pii: { client_to_server: Record<string, number>; server_to_client: Record<string, number> };
  pii_types: string[];
}

export interface GraphSnapshot {
  format: 'pano-graph';
  version: number;
  /** for `--window` snapshots: the window's bounds in ns since the epoch; else null */
  window: { start_ns: string; end_ns: string } | null;
  nodes: GraphNode[];
  edges: GraphEdge[];
  counts: Record<string, number>;
}
