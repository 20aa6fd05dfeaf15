/**
 * Line output with batching, backpressure and a quiet end on a closed pipe.
 *
 * Lines are gathered into one string and written in batches (one write per
 * ~64 KiB, not per event). When the destination is slow, `drained()` lets the
 * producer wait instead of buffering without bound. When the reader of our
 * stdout goes away (`| head`), `closed` turns true and the command ends with
 * status 0 after flushing nothing more.
 */
import { openSync, createWriteStream, type WriteStream } from 'node:fs';

const BATCH = 256 * 1024;
/** Bytes handed to the stream and not yet flushed, beyond which producers should wait. */
const HIGH_WATER = 4 * 1024 * 1024;

export class LineOutput {
  /** Lines are UTF-8 encoded straight into this buffer: no string concatenation, one encode. */
  private batch = Buffer.allocUnsafe(BATCH);
  private used = 0;
  private stream: NodeJS.WritableStream;
  private queued = 0;
  closed = false;
  lines = 0;

  constructor(stream: NodeJS.WritableStream = process.stdout) {
    this.stream = stream;
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED') {
        this.closed = true;
        return;
      }
      this.closed = true;
      process.stderr.write(`output error: ${err.message}\n`);
      process.exitCode = 74; // EX_IOERR
    });
  }

  /**
   * A file created 0600 (events and logs are sensitive); `-` or undefined
   * means standard output. `append` keeps what the file holds.
   */
  static toPath(path: string | undefined, append = false): LineOutput {
    if (!path || path === '-') return new LineOutput(process.stdout);
    const fd = openSync(path, append ? 'a' : 'w', 0o600);
    return new LineOutput(createWriteStream('', { fd }) as WriteStream);
  }

  /** Writes one line (a newline is added). */
  line(text: string): void {
    if (this.closed) return;
    this.lines++;
    // A UTF-16 code unit encodes to at most 3 UTF-8 bytes.
    if (this.used + text.length * 3 + 1 > BATCH) {
      this.flushBatch();
      if (text.length * 3 + 1 > BATCH) {
        this.send(Buffer.from(text + '\n'));
        return;
      }
    }
    this.used += this.batch.write(text, this.used);
    this.batch[this.used++] = 0x0a;
  }

  /**
   * Writes `count` whole lines already encoded (each ending in a newline),
   * `bytes[start, end)`. Copied into the batch, with no view made, unless
   * large: then that view is written, so `bytes` must not be written again.
   */
  encodedLines(bytes: Buffer, start: number, end: number, count: number): void {
    if (this.closed) return;
    this.lines += count;
    const n = end - start;
    if (this.used + n > BATCH) {
      this.flushBatch();
      if (n > BATCH / 2) {
        this.send(bytes.subarray(start, end));
        return;
      }
    }
    this.used += bytes.copy(this.batch, this.used, start, end);
  }

  /** True when the producer should `await drained()` before making more. */
  get full(): boolean {
    return this.queued >= HIGH_WATER;
  }

  async drained(): Promise<void> {
    this.flushBatch();
    while (this.queued >= HIGH_WATER && !this.closed) {
      await new Promise<void>((resolve) => {
        const done = () => {
          this.stream.off('drain', done);
          this.stream.off('close', done);
          resolve();
        };
        this.stream.on('drain', done);
        this.stream.on('close', done);
      });
    }
  }

  flushBatch(): void {
    if (this.used === 0 || this.closed) {
      this.used = 0;
      return;
    }
    const chunk = this.batch.subarray(0, this.used);
    this.batch = Buffer.allocUnsafe(BATCH);
    this.used = 0;
    this.send(chunk);
  }

  private send(chunk: Buffer): void {
    const n = chunk.length;
    this.queued += n;
    this.stream.write(chunk, () => {
      this.queued -= n;
    });
  }

  /** Flushes and waits until everything written has left the process (or the pipe closed). */
  async end(): Promise<void> {
    this.flushBatch();
    if (this.closed) return;
    if (this.stream === process.stdout || this.stream === process.stderr) {
      if (this.queued > 0) {
        await new Promise<void>((resolve) => {
          const check = () => (this.queued <= 0 || this.closed ? resolve() : setTimeout(check, 5));
          check();
        });
      }
      return;
    }
    await new Promise<void>((resolve) => (this.stream as WriteStream).end(resolve));
  }
}
