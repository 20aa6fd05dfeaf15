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

/** A sink's file could not be written (a full disk, an I/O error): the run ends, and says where. */
export class FileWriteError extends Error {
  constructor(
    readonly file: string,
    readonly error: NodeJS.ErrnoException,
  ) {
    super(`${file}: ${error.message}`);
    this.name = 'FileWriteError';
  }
}
