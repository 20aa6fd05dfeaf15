/** How a finished SQL step (query, Execute, command) becomes an exchange record. */
import type { EventKind } from '@panopticon/events';
import type { ExchangeRecord } from '../types.js';

/** What PostgreSQL's Step and MySQL's Cmd have in common. */
export interface SqlStep {
  startNs: bigint;
  requestBytes: number;
  responseBytes: number;
  flags: Set<string>;
  rowsCut?: boolean;
}

export function sqlRecord(s: SqlStep, kind: EventKind, endNs: bigint, midstream: boolean, attributes: Record<string, unknown>): ExchangeRecord {
  if (s.rowsCut) s.flags.add('truncated');
  if (midstream) s.flags.add('midstream');
  return {
    kind,
    startNs: s.startNs,
    endNs: endNs < s.startNs ? s.startNs : endNs,
    requestBytes: s.requestBytes || undefined,
    responseBytes: s.responseBytes || undefined,
    flags: s.flags.size ? [...s.flags].sort() : undefined,
    attributes,
  };
}
