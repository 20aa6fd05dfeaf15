/**
 * `--otlp URL`: one span per event through the OpenTelemetry SDK
 * (BasicTracerProvider) and the OTLP/HTTP protobuf exporter. The span
 * processor is our own bounded batcher rather than BatchSpanProcessor,
 * because the pipe must never wait on the collector and every span that
 * does not reach it has to be counted: a full queue drops the newest span
 * (counted), a batch the exporter gives up on after its retries with
 * back-off is counted as failed, and what is still queued when the flush
 * deadline passes at exit is counted as lost.
 */
import { ROOT_CONTEXT, trace, TraceFlags, type Context } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { BasicTracerProvider, AlwaysOnSampler, type ReadableSpan, type SpanExporter, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MAX_TIMER_MS } from '@panopticon/cli';
import { MAX_ATTRIBUTES, spanShapeOf, type MappingOptions } from './span-mapping.js';
import type { Sink } from './sink.js';


export interface BatcherOptions {
  maxQueue?: number;
  maxBatch?: number;
  /** ms between batch exports when the batch is not full */
  delayMs?: number;
}

export class BoundedBatchProcessor implements SpanProcessor {
  private queue: ReadableSpan[] = [];
  private inFlight: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly maxQueue: number;
  private readonly maxBatch: number;
  private readonly delayMs: number;
  private closed = false;
  /** set at shutdown while a batch was still being sent: that batch is counted lost */
  private abandoned = false;
  private inFlightSpans = 0;
  sent = 0;
  failed = 0;
  droppedQueueFull = 0;
  lostAtExit = 0;
  /** of lostAtExit: the spans of the batch still being sent when the flush deadline passed */
  abandonedInFlight = 0;
  batches = 0;
  failedBatches = 0;
  lastError: string | undefined;

  constructor(private readonly exporter: SpanExporter, opts: BatcherOptions = {}) {
    this.maxQueue = opts.maxQueue ?? 8192;
    this.maxBatch = opts.maxBatch ?? 512;
    this.delayMs = opts.delayMs ?? 1000;
  }

  get depth(): number {
    return this.queue.length;
  }

  onStart(): void {}

  onEnd(span: ReadableSpan): void {
    if (this.closed) {
      this.lostAtExit++;
      return;
    }
    if (this.queue.length >= this.maxQueue) {
      this.droppedQueueFull++;
      return;
    }
    this.queue.push(span);
    if (this.queue.length >= this.maxBatch) this.kick();
    else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.kick();
      }, this.delayMs);
      this.timer.unref();
    }
  }

  /** Start one export if none is running; chains itself while full batches wait. */
  private kick(): void {
    if (this.inFlight || this.queue.length === 0 || this.abandoned) return;
    const batch = this.queue.splice(0, this.maxBatch);
    this.batches++;
    this.inFlightSpans = batch.length;
    this.inFlight = new Promise<void>((resolve) => {
      this.exporter.export(batch, (res: ExportResult) => {
        // a batch given up at exit was counted lost then: a late answer changes nothing
        if (this.abandoned) return resolve();
        if (res.code === ExportResultCode.SUCCESS) this.sent += batch.length;
        else {
          this.failed += batch.length;
          this.failedBatches++;
          this.lastError = res.error?.message?.split('\n')[0];
        }
        resolve();
      });
    }).then(() => {
      this.inFlight = undefined;
      this.inFlightSpans = 0;
      if (this.abandoned) return;
      if (this.queue.length >= this.maxBatch || (this.closed && this.queue.length > 0)) this.kick();
      else if (this.queue.length > 0 && !this.timer) {
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.kick();
        }, this.delayMs);
        this.timer.unref();
      }
    });
  }

  /** Export everything queued, waiting at most `deadlineMs`; what is left is counted lost by shutdown(). */
  async drain(deadlineMs: number): Promise<void> {
    const until = Date.now() + deadlineMs;
    while ((this.queue.length > 0 || this.inFlight) && Date.now() < until && !this.abandoned) {
      if (!this.inFlight) this.kick();
      // never more than a timer can hold (a longer one fires at once, and this would spin)
      const wait = Math.min(MAX_TIMER_MS, Math.max(0, until - Date.now()));
      let t: NodeJS.Timeout | undefined;
      await Promise.race([this.inFlight, new Promise<void>((r) => (t = setTimeout(r, wait)))]);
      clearTimeout(t);
    }
  }

  async forceFlush(): Promise<void> {
    await this.drain(30_000);
  }

  /**
   * Stop taking spans; count what is queued, and the batch still being sent,
   * as lost at exit; wait for the exporter to close for at most `deadlineMs`
   * (its pending request is left behind, its answer ignored).
   */
  async shutdown(deadlineMs = 0): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.lostAtExit += this.queue.length;
    this.queue = [];
    if (this.inFlight) {
      this.abandoned = true;
      this.lostAtExit += this.inFlightSpans;
      this.abandonedInFlight = this.inFlightSpans;
    }
    let t: NodeJS.Timeout | undefined;
    const exporterClosed = this.abandoned ? Promise.resolve() : this.exporter.shutdown().catch(() => undefined);
    await Promise.race([exporterClosed, new Promise<void>((r) => (t = setTimeout(r, Math.min(MAX_TIMER_MS, Math.max(0, deadlineMs)))))]);
    clearTimeout(t);
  }
}

export interface OtlpOptions extends MappingOptions, BatcherOptions {
  url: string;
  serviceName?: string;
  /** per export request, retries included (ms, default 10 s) */
  timeoutMs?: number;
  /** how long close() waits for queued spans (ms, default 5 s) */
  flushTimeoutMs?: number;
  headers?: Record<string, string>;
}

/** `http://host:4318` → `http://host:4318/v1/traces`; a URL with a path is used as given. */
export function tracesUrl(text: string): string {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new Error(`invalid URL "${text}" (use e.g. http://127.0.0.1:4318)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`URL "${text}" is not http or https`);
  if (u.pathname === '/' || u.pathname === '') u.pathname = '/v1/traces';
  return u.toString();
}

export class OtlpSink implements Sink {
  readonly name = 'otlp';
  readonly processor: BoundedBatchProcessor;
  private readonly provider: BasicTracerProvider;
  private readonly tracer;
  private readonly mapping: MappingOptions;
  private readonly flushTimeoutMs: number;
  spans = 0;
  unmappable = 0;
  joined = 0;
  linked = 0;

  constructor(opts: OtlpOptions) {
    const exporter = new OTLPTraceExporter({ url: tracesUrl(opts.url), timeoutMillis: opts.timeoutMs ?? 10_000, headers: opts.headers });
    this.processor = new BoundedBatchProcessor(exporter, opts);
    this.provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': opts.serviceName ?? 'panopticon' }),
      sampler: new AlwaysOnSampler(),
      spanLimits: { attributeCountLimit: MAX_ATTRIBUTES },
      spanProcessors: [this.processor],
    });
    this.tracer = this.provider.getTracer('pano-export', '0.1.0');
    this.mapping = { includeContent: opts.includeContent, includeCredentials: opts.includeCredentials, maxValueChars: opts.maxValueChars };
    this.flushTimeoutMs = opts.flushTimeoutMs ?? 5_000;
  }

  accept(e: Record<string, unknown>): void {
    const shape = spanShapeOf(e, this.mapping);
    if (!shape) {
      this.unmappable++;
      return;
    }
    let ctx: Context = ROOT_CONTEXT;
    if (shape.parent) {
      ctx = trace.setSpanContext(ROOT_CONTEXT, { traceId: shape.parent.traceId, spanId: shape.parent.spanId, traceFlags: shape.parent.traceFlags & TraceFlags.SAMPLED ? TraceFlags.SAMPLED : TraceFlags.NONE, isRemote: true });
      this.joined++;
    }
    // attributes set after start: passed to startSpan the SDK would validate them twice (for the
    // sampler, then on the span), and the always-on sampler does not look at them
    const links = shape.links?.map((l) => ({ context: { traceId: l.traceId, spanId: l.spanId, traceFlags: l.traceFlags & TraceFlags.SAMPLED ? TraceFlags.SAMPLED : TraceFlags.NONE, isRemote: true } }));
    if (links) this.linked++;
    const span = this.tracer.startSpan(shape.name, { kind: shape.kind, startTime: shape.startTime, links }, ctx);
    span.setAttributes(shape.attributes);
    span.setStatus(shape.status);
    span.end(shape.endTime);
    this.spans++;
  }

  state(): Record<string, unknown> {
    const p = this.processor;
    return {
      spans: this.spans,
      joined_traces: this.joined,
      linked_batches: this.linked,
      unmappable: this.unmappable,
      queue_depth: p.depth,
      sent: p.sent,
      batches: p.batches,
      failed: p.failed,
      failed_batches: p.failedBatches,
      dropped_queue_full: p.droppedQueueFull,
      lost_at_exit: p.lostAtExit,
      last_error: p.lastError ?? null,
    };
  }

  /** Spans that did not reach the collector (queue full, export failed, left at exit). */
  get lost(): number {
    const p = this.processor;
    return p.failed + p.droppedQueueFull + p.lostAtExit;
  }

  /**
   * Bounded by the flush timeout as a whole: queued spans are sent until it
   * runs out; then what is still queued or being sent is counted lost and the
   * exporter is left to its pending request (the process exits without it).
   */
  async close(): Promise<void> {
    const until = Date.now() + this.flushTimeoutMs;
    await this.processor.drain(this.flushTimeoutMs);
    // the provider's shutdown would wait for the exporter without a bound: shut the processor down ourselves
    await this.processor.shutdown(Math.max(0, until - Date.now()));
  }
}
