/**
 * `--prometheus`: the traffic as prom-client metrics in a registry of the
 * stage's own (no global state), plus the stage's health. Label values go
 * through a LabelLimiter; URL paths are never labels (the operation is the
 * method, DB operation, RPC method …), which is what keeps HTTP bounded.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { at, errorOf, isMirrorView, kindOf, operationOf, piiOf, protocolOf, statusClassOf } from '@panopticon/graph';
import { LabelLimiter } from './label-limiter.js';
import type { Sink } from './sink.js';

export interface StageHealth {
  eventsIn(): number;
  parseFailures(): number;
  /** dropped counts by sink and reason */
  dropped(): Array<{ sink: string; reason: string; count: number }>;
  queueDepths(): Array<{ sink: string; depth: number }>;
}

export interface MetricsOptions {
  /** distinct values kept per label before `other` (default: server 200, operation 100, error_type 50, pii_type 100) */
  labelLimits?: Record<string, number>;
}

const DURATION_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

function serverOf(e: Record<string, unknown>): string {
  const addr = at(e, 'server.address');
  const port = at(e, 'server.port');
  if (typeof addr !== 'string') return '';
  const host = addr.includes(':') ? `[${addr}]` : addr;
  return typeof port === 'number' ? `${host}:${port}` : host;
}

/**
 * A count or duration a metric can take: JSON text such as `1e999` parses to
 * Infinity, which prom-client refuses with a throw (an event from elsewhere
 * must not end the run); such a value is left out, as a missing one is.
 */
function finiteCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0;
}

export class MetricsSink implements Sink {
  readonly name = 'prometheus';
  readonly registry = new Registry();
  private readonly limiter: LabelLimiter;
  private readonly requests: Counter<string>;
  private readonly duration: Histogram<string>;
  private readonly errors: Counter<string>;
  private readonly bytes: Counter<string>;
  private readonly pii: Counter<string>;
  accepted = 0;

  constructor(health: StageHealth, opts: MetricsOptions = {}) {
    this.limiter = new LabelLimiter({ protocol: 50, server: 200, operation: 100, status_class: 20, error_type: 50, pii_type: 100, ...opts.labelLimits });
    const registers = [this.registry];
    this.requests = new Counter({ name: 'pano_requests_total', help: 'Observed exchanges, messages and unanswered requests', labelNames: ['protocol', 'server', 'operation', 'status_class'], registers });
    this.duration = new Histogram({ name: 'pano_request_duration_seconds', help: 'Duration of answered exchanges, from the captured request and response times', labelNames: ['protocol', 'server'], buckets: DURATION_BUCKETS, registers });
    this.errors = new Counter({ name: 'pano_errors_total', help: 'Exchanges that failed (HTTP >= 500, gRPC status != 0, DNS rcode != NOERROR, DB/messaging errors)', labelNames: ['protocol', 'server', 'error_type'], registers });
    this.bytes = new Counter({ name: 'pano_bytes_total', help: 'Payload bytes seen on the wire', labelNames: ['protocol', 'server', 'direction'], registers });
    this.pii = new Counter({ name: 'pano_pii_findings_total', help: 'Personal-data findings reported by pano-pii', labelNames: ['pii_type', 'protocol', 'direction'], registers });
    // Running totals are counters (`_total`), so rate() and increase() apply; each is read from
    // its source when scraped, as a counter set to the source's total.
    const total = (counter: Counter<string>, value: number, labels?: Record<string, string>) => {
      if (labels) {
        counter.remove(labels);
        counter.inc(labels, value);
      } else {
        counter.reset();
        counter.inc(value);
      }
    };
    new Counter({
      name: 'pano_export_events_in_total',
      help: 'Events read by pano-export',
      registers,
      collect() {
        total(this, health.eventsIn());
      },
    });
    new Counter({
      name: 'pano_export_parse_failures_total',
      help: 'Input lines that were not events',
      registers,
      collect() {
        total(this, health.parseFailures());
      },
    });
    new Counter({
      name: 'pano_export_dropped_total',
      help: 'Events or spans dropped by a sink, by reason',
      labelNames: ['sink', 'reason'],
      registers,
      collect() {
        for (const d of health.dropped()) total(this, d.count, { sink: d.sink, reason: d.reason });
      },
    });
    new Gauge({
      name: 'pano_export_queue_depth',
      help: 'Items waiting in a sink queue',
      labelNames: ['sink'],
      registers,
      collect() {
        for (const q of health.queueDepths()) this.set({ sink: q.sink }, q.depth);
      },
    });
    const limiter = this.limiter;
    new Counter({
      name: 'pano_export_label_overflow_total',
      help: 'Label values replaced by "other" to bound cardinality',
      labelNames: ['label'],
      registers,
      collect() {
        for (const [label, n] of limiter.overflow) total(this, n, { label });
      },
    });
  }

  accept(e: Record<string, unknown>): void {
    this.accepted++;
    // the same exchanges as the other end's view, which is counted (pano-events(5))
    if (isMirrorView(e)) return;
    const L = this.limiter;
    const protocol = L.value('protocol', protocolOf(e));
    const server = L.value('server', serverOf(e));
    this.requests.inc({ protocol, server, operation: L.value('operation', operationOf(e)), status_class: L.value('status_class', statusClassOf(e)) });
    if (kindOf(e) === 'exchange') {
      const d = at(e, 'pano.duration_ns');
      if (finiteCount(d)) this.duration.observe({ protocol, server }, d / 1e9);
    }
    const err = errorOf(e);
    if (err !== undefined) this.errors.inc({ protocol, server, error_type: L.value('error_type', err) });
    const rq = at(e, 'pano.request_bytes');
    const rs = at(e, 'pano.response_bytes');
    if (finiteCount(rq) && rq > 0) this.bytes.inc({ protocol, server, direction: 'client_to_server' }, rq);
    if (finiteCount(rs) && rs > 0) this.bytes.inc({ protocol, server, direction: 'server_to_client' }, rs);
    for (const f of piiOf(e)) this.pii.inc({ pii_type: L.value('pii_type', f.type), protocol, direction: f.direction });
  }

  state(): Record<string, unknown> {
    return { events: this.accepted, label_overflow: Object.fromEntries(this.limiter.overflow) };
  }

  async close(): Promise<void> {}
}
