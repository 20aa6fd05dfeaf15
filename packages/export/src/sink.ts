/** What every sink offers the fan-out: take an event, report its state, close cleanly. */
export interface Sink {
  readonly name: string;
  /** `line` is the event's original NDJSON text, passed on byte for byte where a sink copies it. */
  accept(event: Record<string, unknown>, line: string): void;
  /** figures for /debug/state and the exit summary */
  state(): Record<string, unknown>;
  /** flush what is complete and release resources */
  close(): Promise<void>;
}
