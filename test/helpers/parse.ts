/** Runs the whole parse pipeline in-process on a capture and returns its events. */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { ParsePipeline, type PipelineOptions } from '@panopticon/parse';
import { validateEvent, type PanoEvent } from '@panopticon/events';
import type { ReaderWarning } from '@panopticon/pcap';

export { validateEvent };

export interface ParseResult {
  events: PanoEvent[];
  warnings: ReaderWarning[];
  stats: ReturnType<ParsePipeline['stats']>;
}

export type ParseCaptureOptions = Partial<Omit<PipelineOptions, 'onEvent' | 'source'>> & { chunkSize?: number };

/** Parse a capture file (or bytes) and collect events, warnings and counters. */
export function parseCaptureSync(input: string | Buffer, opts: ParseCaptureOptions = {}): ParseResult {
  const events: PanoEvent[] = [];
  const warnings: ReaderWarning[] = [];
  const bytes = typeof input === 'string' ? readFileSync(input) : input;
  const p = new ParsePipeline({
    ...opts,
    source: { type: 'pcap', name: typeof input === 'string' ? basename(input) : 'buffer' },
    onEvent: (ev) => events.push(JSON.parse(JSON.stringify(ev))),
    onWarning: (w) => warnings.push(w),
  });
  const step = opts.chunkSize ?? bytes.length;
  for (let i = 0; i < bytes.length; i += step) p.push(bytes.subarray(i, Math.min(bytes.length, i + step)));
  p.end();
  return { events, warnings, stats: p.stats() };
}

/** Events of a capture file. */
export async function parseCapture(file: string, opts: ParseCaptureOptions = {}): Promise<PanoEvent[]> {
  return parseCaptureSync(file, opts).events;
}

/** Throws with the schema errors of the first invalid event. */
export function assertValidEvents(events: unknown[]): void {
  for (const ev of events) {
    const errs = validateEvent(ev);
    if (errs.length) throw new Error(`event fails the v1 schema: ${errs.join('; ')}\n${JSON.stringify(ev).slice(0, 2000)}`);
  }
}
