/**
 * Feeds a capture file or a byte stream through a CaptureReader.
 *
 * Files are read into a fresh buffer per read (never reused), so packets stay
 * valid after their handler returns. Streams are pulled one chunk at a time and
 * each chunk is fully decoded before the next is requested, which is all the
 * backpressure synchronous handlers need.
 */
import { open } from 'node:fs/promises';
import { CaptureFormatError, CaptureReader, type CaptureHandlers, type ReaderOptions } from './reader.js';
import type { ReaderStats } from './types.js';

export interface ReadCaptureOptions extends ReaderOptions {
  /** Size of each read from a file. Default 1 MiB. */
  chunkSize?: number;
  /** Stops reading between chunks; what was read so far is counted, a record cut by the abort is not reported. */
  signal?: AbortSignal;
}

const DEFAULT_CHUNK = 1024 * 1024;

/**
 * Reads a whole capture (a file path, or a readable byte stream such as stdin)
 * and returns what was counted. Rejects with a CaptureFormatError naming the
 * input when it is not a pcap or pcapng capture at all; damage inside the
 * capture is reported through `onWarning` and counted instead.
 */
export async function readCapture(
  input: string | NodeJS.ReadableStream,
  handlers: CaptureHandlers,
  opts: ReadCaptureOptions = {},
): Promise<ReaderStats> {
  const reader = new CaptureReader(handlers, opts);
  const name = typeof input === 'string' ? input : 'input stream';
  try {
    if (typeof input === 'string') await pushFile(reader, input, opts);
    else await pushStream(reader, input, opts.signal);
    // An abort is not damage: a record cut by it is not reported as truncated.
    if (!opts.signal?.aborted) reader.end();
  } catch (err) {
    if (err instanceof CaptureFormatError) throw new CaptureFormatError(`${name}: ${err.message}`, err.offset);
    throw err;
  }
  return reader.stats;
}

async function pushFile(reader: CaptureReader, path: string, opts: ReadCaptureOptions): Promise<void> {
  const size = opts.chunkSize ?? DEFAULT_CHUNK;
  if (!(size > 0)) throw new RangeError(`readCapture: chunkSize must be positive, got ${size}`);
  const fh = await open(path, 'r');
  try {
    for (;;) {
      if (opts.signal?.aborted) return;
      // allocUnsafeSlow: a private ArrayBuffer per read, so packets may outlive the read.
      const buf = Buffer.allocUnsafeSlow(size);
      const { bytesRead } = await fh.read(buf, 0, size, null);
      if (bytesRead === 0) return;
      reader.push(bytesRead === size ? buf : buf.subarray(0, bytesRead));
    }
  } finally {
    await fh.close();
  }
}

async function pushStream(reader: CaptureReader, stream: NodeJS.ReadableStream, signal?: AbortSignal): Promise<void> {
  for await (const chunk of stream as AsyncIterable<Buffer | string>) {
    if (typeof chunk === 'string') {
      throw new TypeError('readCapture: the stream yields strings; do not set an encoding on a capture stream');
    }
    reader.push(chunk);
    if (signal?.aborted) return;
  }
}
