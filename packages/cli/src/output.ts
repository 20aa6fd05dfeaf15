/**
 * Line output with batching, backpressure and a quiet end on a closed pipe.
 *
 * Lines are gathered into one buffer and written in batches (one write per
 * 256 KiB, not per event), and whatever is gathered goes out once the event
 * loop comes round (the input went quiet, or the next chunk is awaited): a
 * live stream's events are not held back until a batch fills. When the destination is slow, `drained()` lets the
 * producer wait instead of buffering without bound. When the reader of our
 * stdout goes away (`| head`), `closed` turns true and the command ends with
 * status 0 after flushing nothing more.
 */
import { openSync, createWriteStream, fchmodSync, fstatSync, WriteStream } from 'node:fs';
import { UserError, describeFsError, noteOutputFailure, programName } from './errors.js';

const BATCH = 256 * 1024;
/** Bytes handed to the stream and not yet flushed, beyond which producers should wait. */
const HIGH_WATER = 4 * 1024 * 1024;
/** Written batches kept to fill again. */
const MAX_SPARE = 4;

export class LineOutput {
  /** Lines are UTF-8 encoded straight into this buffer: no string concatenation, one encode. */
  private batch: Buffer = Buffer.allocUnsafe(BATCH);
  private used = 0;
  /**
   * Batches the stream has finished writing, to fill again: a fresh 256 KiB
   * per batch is external memory, which V8 answers with full GCs. It showed
   * on pano-parse --workers' main thread (ADR 0006); one thread's run of
   * pano-parse has 2–3 either way.
   */
  private spare: Buffer[] = [];
  private stream: NodeJS.WritableStream;
  /** Whether the stream is done with a chunk once its write callback has run (see the constructor). */
  private readonly reuseWritten: boolean;
  private queued = 0;
  closed = false;
  lines = 0;

  /**
   * `reuseWritten`: the stream has let go of a chunk when it calls the write
   * callback, so the batch may be filled again. True of files and standard
   * output (the bytes are in the kernel by then), and the default for them;
   * false for other streams, which may keep chunks (a PassThrough queues
   * them for its reader). `name`: what a write error calls the destination
   * (a file's path; standard output by default).
   */
  constructor(stream: NodeJS.WritableStream = process.stdout, opts: { reuseWritten?: boolean; name?: string } = {}) {
    const name = opts.name ?? 'standard output';
    this.stream = stream;
    this.reuseWritten = opts.reuseWritten ?? (stream === process.stdout || stream === process.stderr || stream instanceof WriteStream);
    // a closed or failed stream may never call back the writes in flight: whoever waits is let go
    stream.on('close', () => this.wake());
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED') {
        this.closed = true;
        this.wake();
        return;
      }
      // Nothing more can be written: the command ends as on a closed pipe, but says so and fails.
      this.closed = true;
      this.wake();
      process.stderr.write(`${programName()}: ${describeFsError(err, name)}\n`);
      noteOutputFailure();
    });
  }

  /**
   * A file created 0600 (events and logs are sensitive); `-` or undefined
   * means standard output. `append` keeps what the file holds.
   */
  static toPath(path: string | undefined, append = false, option = '-o'): LineOutput {
    if (!path || path === '-') return new LineOutput(process.stdout);
    let fd: number;
    try {
      fd = openSync(path, append ? 'a' : 'w', 0o600);
    } catch (e) {
      // a directory, a missing directory, no permission: the user's to fix, named with the option
      throw new UserError(`${option} ${describeFsError(e, path)}`);
    }
    // the mode applies to a file the open creates; one that was there keeps its own: tighten it
    // (regular files only: `-o /dev/null` must stay as it is)
    if (fstatSync(fd).isFile()) fchmodSync(fd, 0o600);
    return new LineOutput(createWriteStream('', { fd }) as WriteStream, { name: path });
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
    if (!this.flushQueued) this.queueFlush();
  }

  /** Whether a flush of the batch waits for the event loop to come round. */
  private flushQueued = false;

  /**
   * Flushes the batch after what runs now: all the lines one input chunk
   * makes go out together, and none waits for more input to fill the batch
   * (`pano-capture | pano-parse | pano-pii` showed nothing until 256 KiB of
   * events had gathered, and a Ctrl-C then found them still held).
   */
  private queueFlush(): void {
    this.flushQueued = true;
    setImmediate(() => {
      this.flushQueued = false;
      this.flushBatch();
    });
  }

  /**
   * Writes `count` whole lines already encoded (each ending in a newline),
   * `bytes[start, end)`. Always copied, so the caller may fill `bytes` again
   * at once; a run larger than the batch is copied batch by batch.
   */
  encodedLines(bytes: Buffer, start: number, end: number, count: number): void {
    if (this.closed) return;
    this.lines += count;
    // whole runs stay in one write when they fit one
    if (this.used + (end - start) > BATCH) this.flushBatch();
    while (start < end) {
      const n = Math.min(end - start, BATCH - this.used);
      this.used += bytes.copy(this.batch, this.used, start, start + n);
      start += n;
      if (this.used === BATCH) this.flushBatch();
    }
    if (this.used > 0 && !this.flushQueued) this.queueFlush();
  }

  /** True when the producer should `await drained()` before making more. */
  get full(): boolean {
    return this.queued >= HIGH_WATER;
  }

  /**
   * Waits until what was handed to the stream is under the high-water mark
   * again. Woken by the writes' own callbacks, not by 'drain': a stream that
   * writes synchronously (standard output on a regular file, `> out.jsonl`)
   * never emits 'drain', and waiting for it left an unsettled promise that
   * ended the process (status 13) with the rest of the output unwritten.
   */
  async drained(): Promise<void> {
    this.flushBatch();
    while (this.queued >= HIGH_WATER && !this.closed) {
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
  }

  /** Producers waiting in `drained()`. */
  private waiting: Array<() => void> = [];

  private wake(): void {
    if (this.waiting.length === 0) return;
    const w = this.waiting;
    this.waiting = [];
    for (const resolve of w) resolve();
  }

  flushBatch(): void {
    if (this.used === 0 || this.closed) {
      this.used = 0;
      return;
    }
    const full = this.batch;
    this.batch = this.spare.pop() ?? Buffer.allocUnsafe(BATCH);
    const chunk = full.subarray(0, this.used);
    this.used = 0;
    this.send(chunk, this.reuseWritten ? full : undefined);
  }

  /** `reuse`: the batch `chunk` is part of, to fill again once the stream is done with it. */
  private send(chunk: Buffer, reuse?: Buffer): void {
    const n = chunk.length;
    this.queued += n;
    this.stream.write(chunk, () => {
      this.queued -= n;
      if (reuse !== undefined && this.spare.length < MAX_SPARE) this.spare.push(reuse);
      if (this.queued < HIGH_WATER) this.wake();
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
