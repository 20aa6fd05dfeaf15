/**
 * NDJSON input for the stages after pano-parse: one JSON value per line,
 * from files or standard input, with line numbers for errors. A bad line is
 * reported as `FILE:LINE: why` and skipped (or fatal with --strict).
 *
 * Hand-rolled rather than the `ndjson` package's transform stream: see
 * docs/adr/0003-ndjson-reader.md for the measurement.
 */
import { UserError, describeFsError, isErrno } from './errors.js';
import { openInput } from './input.js';
import { jsonErrorReason, terminalSafe } from './bad-lines.js';

export interface NdjsonLocation {
  file: string;
  line: number;
}

export interface NdjsonHandlers {
  /** One parsed record. */
  record(value: unknown, where: NdjsonLocation): void;
  /** A line that is not JSON (or not an object); the message names why. */
  bad?(where: NdjsonLocation, message: string): void;
  /** Awaited between input chunks: a producer whose output is full waits here. */
  pause?(): Promise<void> | undefined;
}

export interface NdjsonOptions {
  /** Longest line accepted (bytes); longer lines are bad lines. Default 64 MiB. */
  maxLine?: number;
  signal?: AbortSignal;
  /** Bad lines are fatal (UserError naming the line). */
  strict?: boolean;
}

export interface NdjsonStats {
  lines: number;
  records: number;
  bad: number;
}

/** Reads NDJSON from each input in turn (`-` is standard input). */
export async function readNdjson(inputs: string[], h: NdjsonHandlers, opts: NdjsonOptions = {}): Promise<NdjsonStats> {
  const stats: NdjsonStats = { lines: 0, records: 0, bad: 0 };
  for (const input of inputs.length ? inputs : ['-']) {
    if (opts.signal?.aborted) break;
    await readOne(input, h, opts, stats);
  }
  return stats;
}

async function readOne(input: string, h: NdjsonHandlers, opts: NdjsonOptions, stats: NdjsonStats): Promise<void> {
  const name = input === '-' ? 'stdin' : input;
  const maxLine = opts.maxLine ?? 64 * 1024 * 1024;
  let stream: NodeJS.ReadableStream & { destroy(): void };
  try {
    stream = input === '-' ? process.stdin : await openInput(input);
  } catch (err) {
    if (isErrno(err)) throw new UserError(describeFsError(err, input));
    throw err;
  }
  let carry = '';
  let line = 0;
  const where: NdjsonLocation = { file: name, line: 0 };
  const handle = (text: string) => {
    line++;
    stats.lines++;
    if (text.length === 0 || (text.length === 1 && text === '\r')) return;
    // a byte order mark before the first line (editors on Windows write one) is not part of the JSON
    if (line === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    where.line = line;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      // spaces or tabs alone: named as pano-graph and pano-export name them (only on this error path)
      bad(/^\s*$/.test(text) ? 'empty line' : jsonErrorReason(e));
      return;
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      bad('not a JSON object');
      return;
    }
    stats.records++;
    h.record(value, { file: name, line });
  };
  const bad = (message: string) => {
    stats.bad++;
    if (opts.strict) throw new UserError(`${name}:${line}: ${terminalSafe(message)}`);
    h.bad?.({ file: name, line }, message);
  };
  // A stop signal ends reading at once, even while waiting for input.
  const onAbort = () => stream.destroy();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    stream.setEncoding('utf8');
    // While `skipping`, the rest of an over-long line is discarded up to its newline.
    let skipping = false;
    for await (const chunk of stream as AsyncIterable<string>) {
      let start = 0;
      let nl = chunk.indexOf('\n');
      if (nl !== -1 && (carry || skipping)) {
        if (skipping) {
          skipping = false;
          line++;
          stats.lines++;
        } else {
          handle(carry + chunk.slice(0, nl));
        }
        carry = '';
        start = nl + 1;
        nl = chunk.indexOf('\n', start);
      }
      while (nl !== -1) {
        handle(chunk.slice(start, nl));
        start = nl + 1;
        nl = chunk.indexOf('\n', start);
      }
      if (start < chunk.length && !skipping) {
        carry += chunk.slice(start);
        if (carry.length > maxLine) {
          where.line = line + 1;
          stats.bad++;
          if (opts.strict) throw new UserError(`${name}:${line + 1}: line longer than ${maxLine} bytes`);
          h.bad?.({ file: name, line: line + 1 }, `line longer than ${maxLine} bytes`);
          carry = '';
          skipping = true;
        }
      }
      const p = h.pause?.();
      if (p) await p;
      if (opts.signal?.aborted) break;
    }
    // a tail cut by a stop (a signal, the reader gone) is an incomplete line, not a bad one: never passed on
    if (carry && !opts.signal?.aborted) handle(carry);
  } catch (err) {
    if (err instanceof UserError) throw err;
    if (opts.signal?.aborted) return; // stopped by a signal: what was read counts
    // a missing file, a directory, a socket, an I/O error: the input's fault, named
    if (isErrno(err)) throw new UserError(describeFsError(err, input));
    throw err;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    if (stream !== process.stdin) stream.destroy();
  }
}
