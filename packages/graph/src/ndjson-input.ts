/**
 * NDJSON input for the graph and export stages: reads stdin or named files
 * as raw chunks, splits on LF on the Buffer (no per-byte work), and yields
 * one record per line with where it came from, so a bad line can be named
 * by file and line number. Lines longer than the bound are skipped whole
 * and counted rather than buffered without limit.
 */
import type { Readable } from 'node:stream';
import { describeFsError, isErrno, jsonErrorReason, openInput } from '@panopticon/cli';

export interface InputLine {
  /** the line's text without its trailing newline (and without a CR before it) */
  text: string;
  /** `-` for stdin, else the file name */
  source: string;
  /** 1-based line number within its source */
  lineNo: number;
  /** the line was longer than `maxLineBytes`: skipped (`text` is empty), counted in `oversized`, yielded to be named */
  oversized?: true;
}

export interface InputCounters {
  lines: number;
  bytes: number;
  /** lines longer than `maxLineBytes`, skipped */
  oversized: number;
  /** a final line without a newline at the end of its source (still yielded) */
  unterminated: number;
}

export interface InputOptions {
  maxLineBytes?: number;
  /** stops reading when aborted; lines already split are still yielded */
  signal?: AbortSignal;
}

const LF = 0x0a;
const CR = 0x0d;
export const DEFAULT_MAX_LINE_BYTES = 64 * 1024 * 1024;

async function open(source: string): Promise<Readable> {
  if (source === '-') return process.stdin;
  try {
    return await openInput(source);
  } catch (err) {
    throw inputError(source, err);
  }
}

/** A failure to open or read `source`, as the one line the user sees. */
function inputError(source: string, err: unknown): InputError {
  if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new InputError(`${source}: no such file`);
  return new InputError(isErrno(err) ? describeFsError(err, source) : `${source}: ${(err as Error).message}`);
}

/**
 * Every line of every source, in order, but blank ones (empty, or a lone CR): a
 * blank line is neither an event nor damage, as pano-pii's reader has it. They
 * are still counted and numbered. Errors opening a file reject with a one-line message.
 */
export async function* readLines(
  sources: string[],
  counters: InputCounters,
  opts: InputOptions = {},
): AsyncGenerator<InputLine> {
  const max = opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  for (const source of sources.length ? sources : ['-']) {
    const stream = await open(source);
    let lineNo = 0;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let skipping = false;
    const emit = (buf: Buffer): InputLine | undefined => {
      let end = buf.length;
      if (end > 0 && buf[end - 1] === CR) end--;
      // a byte order mark before the first line (editors on Windows write one) is not part of the JSON
      const from = lineNo === 1 && end >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf ? 3 : 0;
      return end === from ? undefined : { text: buf.toString('utf8', from, end), source, lineNo };
    };
    const tooLong = (): InputLine => ({ text: '', source, lineNo, oversized: true });
    const onAbort = () => stream.destroy();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        counters.bytes += chunk.length;
        let start = 0;
        for (;;) {
          const nl = chunk.indexOf(LF, start);
          if (nl < 0) break;
          lineNo++;
          counters.lines++;
          if (skipping || pendingBytes + (nl - start) > max) {
            counters.oversized++;
            skipping = false;
            pending = [];
            pendingBytes = 0;
            yield tooLong();
          } else if (pendingBytes === 0) {
            const l = emit(chunk.subarray(start, nl));
            if (l) yield l;
          } else {
            pending.push(chunk.subarray(start, nl));
            const line = Buffer.concat(pending);
            pending = [];
            pendingBytes = 0;
            const l = emit(line);
            if (l) yield l;
          }
          start = nl + 1;
        }
        if (start < chunk.length && !skipping) {
          if (pendingBytes + (chunk.length - start) > max) {
            skipping = true;
            pending = [];
            pendingBytes = 0;
          } else {
            // copy: the stream may reuse or keep the chunk alive otherwise
            pending.push(Buffer.from(chunk.subarray(start)));
            pendingBytes += chunk.length - start;
          }
        }
      }
    } catch (err) {
      if (opts.signal?.aborted) return;
      throw inputError(source, err);
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
    }
    if (opts.signal?.aborted) {
      // an unterminated tail at a signal is an incomplete line: never passed on
      return;
    }
    if (skipping) {
      lineNo++;
      counters.lines++;
      counters.oversized++;
      yield tooLong();
    } else if (pendingBytes > 0) {
      lineNo++;
      counters.lines++;
      counters.unterminated++;
      const l = emit(Buffer.concat(pending));
      if (l) yield l;
    }
  }
}

/** A user-facing input problem: printed as one line, never with a stack. */
export class InputError extends Error {}

/** Where a line came from, as diagnostics name it: `FILE:LINE`, `stdin:LINE`. */
export function lineWhere(line: InputLine): string {
  return `${line.source === '-' ? 'stdin' : line.source}:${line.lineNo}`;
}

/** Parse one line as a JSON object; returns a one-line reason instead of throwing. */
export function parseEventLine(text: string): { event: Record<string, unknown>; error?: undefined } | { event?: undefined; error: string } {
  if (text.length === 0 || /^\s*$/.test(text)) return { error: 'empty line' };
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    return { error: jsonErrorReason(err) };
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return { error: 'not a JSON object' };
  const pano = (v as { pano?: unknown }).pano;
  if (pano === null || typeof pano !== 'object') return { error: 'no "pano" envelope' };
  return { event: v as Record<string, unknown> };
}
