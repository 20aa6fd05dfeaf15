/**
 * The stages after pano-parse, in-process, as their commands wire them, for
 * the structural event fuzzing (test/pii/fuzz-events.test.ts,
 * scripts/fuzz-events.ts): one NDJSON line through pano-pii (no redaction;
 * --redact mask, hash, drop; --audit; optionally --model), then the line and
 * each of pano-pii's outputs through pano-graph (every format, --window) and
 * pano-export (OTLP spans with and without content, Prometheus metrics, the
 * audit log). Each run returns the problems it saw: a stage that threw, an
 * output that is not one JSON object, a prototype of the built-in objects
 * changed, and under --redact a planted value left in the output while its
 * annotation says it was found.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditLog, EventScanner, verifyAudit, type RedactMode, type SpanModel } from '@panopticon/pii';
import { DEFAULT_MAX_LINE_BYTES, GraphBuilder, NameCache, parseEventLine, renderDot, renderHtml, renderMermaid, startNsOf } from '@panopticon/graph';
import { AuditSink, MetricsSink, OtlpSink, spanShapeOf } from '@panopticon/export';
import type { EventMutant } from './event-mutants.js';

const KEY = Buffer.alloc(32, 7);
const MODES: Array<RedactMode | undefined> = [undefined, 'mask', 'hash', 'drop'];
const PROTOTYPES: Array<[string, object]> = [
  ['Object.prototype', Object.prototype],
  ['Array.prototype', Array.prototype],
  ['Function.prototype', Function.prototype],
  ['String.prototype', String.prototype],
  ['Number.prototype', Number.prototype],
];

type ProtoState = Array<Map<string | symbol, unknown>>;

/** Every own property of the built-in prototypes, with its value or accessors. */
function protoState(): ProtoState {
  return PROTOTYPES.map(([, p]) => {
    const m = new Map<string | symbol, unknown>();
    for (const k of Reflect.ownKeys(p)) {
      const d = Object.getOwnPropertyDescriptor(p, k)!;
      m.set(k, d.get ?? d.set ?? d.value);
    }
    return m;
  });
}

function protoChanges(before: ProtoState): string[] {
  const now = protoState();
  const out: string[] = [];
  PROTOTYPES.forEach(([name, proto], i) => {
    for (const [k, v] of now[i]!) if (!before[i]!.has(k) || before[i]!.get(k) !== v) out.push(`${name}.${String(k)}`);
    for (const k of before[i]!.keys()) if (!now[i]!.has(k)) out.push(`${name}.${String(k)} deleted`);
    // undo, so one mutant's damage is not reported again for every later one
    for (const k of Reflect.ownKeys(proto)) if (!before[i]!.has(k)) delete (proto as Record<string | symbol, unknown>)[k];
  });
  return out;
}

/** The first lines of an error's stack, on one line. */
function brief(e: unknown): string {
  return String((e as Error)?.stack ?? e).split('\n').slice(0, 8).join(' | ');
}

/** The problem with a stage's output line, if any: pano-pii writes one JSON object per line. */
function badLine(text: unknown): string | undefined {
  if (typeof text !== 'string') return `output is ${typeof text}`;
  if (/[\n\r]/.test(text)) return 'output line holds a line break';
  try {
    const v = JSON.parse(text);
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return 'output is not a JSON object';
  } catch (e) {
    return `output is not JSON (${(e as Error).message.slice(0, 100)})`;
  }
  return undefined;
}

export interface StagesOptions {
  /** also run pano-pii with this model (slower: give it to a subset) */
  model?: SpanModel;
  /** an OTLP/HTTP collector for pano-export's spans (else spans are mapped, not sent) */
  otlpUrl?: string;
}

export class EventStages {
  private readonly dir = mkdtempSync(join(tmpdir(), 'pano-fuzz-events-'));
  private readonly scanners = MODES.map((redact) => new EventScanner({ redact, key: KEY }));
  private readonly auditScanner = new EventScanner({ key: KEY, hashValues: true });
  private readonly modelScanner?: EventScanner;
  private readonly piiAudit = AuditLog.open(join(this.dir, 'pii-audit.log'), { checkpointEvery: 100 });
  private readonly exportAudit = new AuditSink(join(this.dir, 'export-audit.log'), 'jsonl', { checkpointEvery: 100 });
  private readonly metrics = new MetricsSink({ eventsIn: () => 0, parseFailures: () => 0, dropped: () => [], queueDepths: () => [] });
  private readonly otlp?: OtlpSink;
  private readonly names = new NameCache({ ttlNs: 3_600_000_000_000n, maxAddresses: 1000 });
  private readonly protos = protoState();
  /** mutants whose line is not a JSON object: bad lines for every stage, not run further */
  badLines = 0;

  constructor(private readonly opts: StagesOptions = {}) {
    if (opts.model) this.modelScanner = new EventScanner({ key: KEY, model: opts.model });
    if (opts.otlpUrl) this.otlp = new OtlpSink({ url: opts.otlpUrl, maxQueue: 1_000_000, maxBatch: 256, delayMs: 200, flushTimeoutMs: 20_000 });
  }

  /** Runs one mutant through every stage; the problems seen, each one line. */
  async run(m: EventMutant, opts: { model?: boolean } = {}): Promise<string[]> {
    const problems: string[] = [];
    // one error met by several stages (the mutant and each of pano-pii's outputs) is one problem, naming them all
    const threw = new Map<string, { names: Set<string>; at: number }>();
    const stage = async (name: string, f: () => unknown): Promise<void> => {
      try {
        await f();
      } catch (e) {
        const what = brief(e);
        const t = threw.get(what) ?? { names: new Set<string>(), at: problems.push('') - 1 };
        threw.set(what, t);
        t.names.add(name);
        problems[t.at] = `THREW ${[...t.names].join(', ')}: ${what}`;
      }
    };
    // longer than the commands' line limit (64 MiB): a bad line for each of them
    if (m.line.length > DEFAULT_MAX_LINE_BYTES) {
      this.badLines++;
      return problems;
    }
    let value: unknown;
    try {
      value = JSON.parse(m.line);
    } catch {
      value = undefined;
    }
    const lines = [m.line];
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      const scanners: Array<[string, EventScanner, RedactMode | undefined]> = this.scanners.map((s, i) => [`pano-pii${MODES[i] ? ' --redact ' + MODES[i] : ''}`, s, MODES[i]]);
      scanners.push(['pano-pii --audit', this.auditScanner, undefined]);
      if (opts.model && this.modelScanner) scanners.push(['pano-pii --model', this.modelScanner, undefined]);
      for (const [name, scanner, mode] of scanners) {
        await stage(name, async () => {
          const p = scanner.collect(JSON.parse(m.line));
          await scanner.scoreCandidates([p]);
          const found = scanner.finish(p);
          let out: string;
          try {
            out = JSON.stringify(p.event);
          } catch (e) {
            // too deep to write out: pano-pii names, skips and counts the line (test/pii/deep-events.test.ts)
            if (e instanceof RangeError) return;
            throw e;
          }
          if (scanner === this.auditScanner) {
            for (const f of found) this.piiAudit.append({ kind: 'finding', event: 'fuzz', type: f.type, path: f.path, start: f.start, end: f.end, value_hash: f.valueHash ?? null, detector: f.detector, confidence: f.confidence });
            this.piiAudit.flush();
          }
          const why = badLine(out);
          if (why) problems.push(`OUTPUT ${name}: ${why}`);
          else {
            lines.push(out);
            if (mode && m.planted) problems.push(...leaks(out, m, name));
          }
        });
      }
    } else this.badLines++;

    const graph = new GraphBuilder({ maxAddresses: 1000, maxEdges: 1000, nameCache: this.names });
    for (const text of lines) {
      const { event } = parseEventLine(text);
      if (!event) continue;
      await stage('pano-graph', () => graph.add(event));
      await stage('pano-graph --window', () => {
        const s = startNsOf(event);
        if (s !== undefined) void (s / 60_000_000_000n);
      });
      await stage('pano-export --otlp', () => spanShapeOf(event));
      await stage('pano-export --otlp --otlp-content --otlp-credentials', () => spanShapeOf(event, { includeContent: true, includeCredentials: true }));
      if (this.otlp) await stage('pano-export --otlp (SDK)', () => this.otlp!.accept(event));
      await stage('pano-export --prometheus', () => this.metrics.accept(event));
      await stage('pano-export --audit', () => this.exportAudit.accept(event));
    }
    await stage('pano-graph snapshot', () => {
      const g = graph.snapshot({ extraCounts: { bad_lines: 0 } });
      const json = JSON.stringify(g);
      const why = badLine(json);
      if (why) problems.push(`OUTPUT pano-graph -f json: ${why}`);
      renderDot(g);
      renderMermaid(g);
      renderHtml(g);
    });
    await stage('pano-export --prometheus /metrics', () => this.metrics.registry.metrics());
    const changed = protoChanges(this.protos);
    if (changed.length) problems.push(`PROTOTYPE changed: ${changed.join(', ')}`);
    return problems;
  }

  /** Ends the run: closes the audit logs and checks them, and the spans sent. Problems as for `run`. */
  async close(): Promise<string[]> {
    const problems: string[] = [];
    this.piiAudit.close();
    await this.exportAudit.close();
    for (const f of ['pii-audit.log', 'export-audit.log']) {
      const r = verifyAudit(join(this.dir, f));
      if (!r.ok) problems.push(`AUDIT ${f}: line ${r.error?.line}: ${r.error?.reason}`);
    }
    if (this.otlp) {
      await this.otlp.close();
      const p = this.otlp.processor;
      if (p.failed || p.lostAtExit) problems.push(`OTLP: ${p.failed} spans failed, ${p.lostAtExit} lost at exit (${p.lastError ?? 'no error'})`);
    }
    rmSync(this.dir, { recursive: true, force: true });
    return problems;
  }
}

/** A planted value still in `out` though an annotation at its field says it was found there. */
function leaks(out: string, m: EventMutant, name: string): string[] {
  const { planted } = m;
  if (!planted || !out.includes(planted.value)) return [];
  const pii = (JSON.parse(out) as { pii?: unknown }).pii;
  if (!Array.isArray(pii)) return [];
  const hit = pii.find((f) => f && f.type === planted.type && typeof f.path === 'string' && (f.path === planted.path || f.path.startsWith(planted.path + '$')));
  return hit ? [`LEAK ${name}: planted ${planted.type} at ${planted.path} annotated (${JSON.stringify(hit)}) but still in the output`] : [];
}
