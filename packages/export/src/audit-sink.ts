/**
 * `--audit FILE`: the personal-data findings that passed through this stage,
 * written to the tamper-evident audit log of @panopticon/pii (the same
 * AuditLog writer as `pano-pii --audit`, so `pano-pii verify-audit` checks
 * either). Records are `kind: "export"`: which finding (event id, type,
 * path, offsets, detector, confidence) left the pipe and through which
 * sinks. Raw values never reach this stage's records: pano-pii's keyed hash
 * is not carried in events, and the value itself may already be redacted.
 */
import { AuditLog, type AuditLogOptions } from '@panopticon/pii';
import { at } from '@panopticon/graph';
import type { Sink } from './sink.js';

export class AuditSink implements Sink {
  readonly name = 'audit';
  private readonly log: AuditLog;
  findings = 0;
  events = 0;

  /** `sinks` names where the events go (e.g. `jsonl,otlp`), recorded with each finding. */
  constructor(file: string, private readonly sinks: string, opts: AuditLogOptions = {}) {
    this.log = AuditLog.open(file, opts);
  }

  accept(e: Record<string, unknown>): void {
    const list = e.pii;
    if (!Array.isArray(list) || list.length === 0) return;
    this.events++;
    const id = at(e, 'pano.id');
    const protocol = at(e, 'pano.protocol');
    for (const item of list) {
      if (item === null || typeof item !== 'object') continue;
      const f = item as Record<string, unknown>;
      if (typeof f.type !== 'string') continue;
      const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
      const str = (v: unknown) => (typeof v === 'string' ? v : null);
      this.log.append({
        kind: 'export',
        event: str(id),
        protocol: str(protocol),
        type: f.type,
        path: str(f.path),
        start: num(f.start),
        end: num(f.end),
        detector: str(f.detector),
        confidence: num(f.confidence),
        validator: str(f.validator),
        sinks: this.sinks,
      });
      this.findings++;
    }
  }

  state(): Record<string, unknown> {
    return { file: this.log.file, events_with_pii: this.events, findings: this.findings, records: this.log.records, head: this.log.headHash };
  }

  async close(): Promise<void> {
    this.log.close();
  }
}
