/** Redacting parsed events in every --redact mode, for tests that grep the result for planted values. */
import { EventScanner, type RedactMode } from '@panopticon/pii';
import { assertValidEvents } from './parse.js';

/**
 * For each mode, copies of `events` redacted by one EventScanner, checked against the event schema,
 * as one JSON text: what a reader of pano-pii's output could find in them.
 */
export function redactedTexts(events: ReadonlyArray<Record<string, unknown>>, key: Buffer): Array<[RedactMode, string]> {
  return (['mask', 'hash', 'drop'] as RedactMode[]).map((mode) => {
    const red = new EventScanner({ key, redact: mode });
    const out = events.map((ev) => {
      const copy = structuredClone(ev);
      red.finish(red.collect(copy));
      return copy;
    });
    assertValidEvents(out);
    return [mode, JSON.stringify(out)];
  });
}
