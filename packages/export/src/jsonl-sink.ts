/**
 * `--jsonl FILE`: events appended as NDJSON to a file created 0600, with
 * optional size rotation (FILE → FILE.1 → … → FILE.N, the oldest dropped)
 * and rotation on SIGHUP. Lines are buffered and written whole with
 * synchronous writes, and rotation happens only between lines, so a file
 * never holds a partial line and no complete line is lost on rotation or at
 * a signal (close() flushes the buffer).
 */
import { closeSync, existsSync, fchmodSync, fstatSync, openSync, renameSync } from 'node:fs';
import { writeWholeLines } from '@panopticon/cli';
import { FileWriteError, type Sink } from './sink.js';

export interface JsonlOptions {
  /** rotate before a line would take the file past this many bytes (0 = never) */
  rotateBytes?: number;
  /** rotated files kept (FILE.1 … FILE.N); default 5 */
  keep?: number;
  /** buffered bytes before a write (default 64 KiB) */
  bufferBytes?: number;
}

export class JsonlSink implements Sink {
  readonly name = 'jsonl';
  private fd: number;
  private size: number;
  private pending: string[] = [];
  private pendingBytes = 0;
  private readonly rotateBytes: number;
  private readonly keep: number;
  private readonly bufferBytes: number;
  private timer: NodeJS.Timeout;
  /** Set once a write failed: nothing more is written, and accept and close throw it. */
  private failure: FileWriteError | undefined;
  lines = 0;
  rotations = 0;
  /** rotated files deleted because more than `keep` existed */
  filesDiscarded = 0;

  constructor(readonly path: string, opts: JsonlOptions = {}) {
    this.rotateBytes = opts.rotateBytes ?? 0;
    this.keep = Math.max(1, opts.keep ?? 5);
    this.bufferBytes = opts.bufferBytes ?? 64 * 1024;
    this.fd = this.open();
    this.size = fstatSync(this.fd).size;
    // bound how stale the file can be when input is slow; a failure here is kept for the next accept to throw
    this.timer = setInterval(() => {
      try {
        this.flush();
      } catch {
        clearInterval(this.timer);
      }
    }, 250);
    this.timer.unref();
  }

  private open(): number {
    const fd = openSync(this.path, 'a', 0o600);
    // a file that already existed keeps its mode on open: tighten it too
    // (regular files only: a device such as /dev/null must stay as it is)
    if (fstatSync(fd).isFile()) fchmodSync(fd, 0o600);
    return fd;
  }

  accept(_event: Record<string, unknown>, line: string): void {
    if (this.failure) throw this.failure;
    const bytes = Buffer.byteLength(line) + 1;
    if (this.rotateBytes > 0 && this.size + this.pendingBytes > 0 && this.size + this.pendingBytes + bytes > this.rotateBytes) {
      this.flush();
      this.rotate();
      if (this.failure) throw this.failure;
    }
    this.pending.push(line, '\n');
    this.pendingBytes += bytes;
    this.lines++;
    if (this.pendingBytes >= this.bufferBytes) this.flush();
  }

  flush(): void {
    if (this.failure) throw this.failure;
    if (this.pendingBytes === 0) return;
    const buf = Buffer.from(this.pending.join(''));
    try {
      writeWholeLines(this.fd, buf, this.size);
    } catch (e) {
      throw (this.failure = new FileWriteError(this.path, e as NodeJS.ErrnoException));
    }
    this.size += buf.length;
    this.pending = [];
    this.pendingBytes = 0;
  }

  /**
   * Close the current file, shift FILE.i → FILE.i+1, FILE → FILE.1, open a
   * fresh FILE. A failure (on SIGHUP, between two lines) is kept for the next
   * accept to throw, and ends the run there.
   */
  rotate(): void {
    try {
      this.rotateFiles();
    } catch (e) {
      this.failure ??= e instanceof FileWriteError ? e : new FileWriteError(this.path, e as NodeJS.ErrnoException);
    }
  }

  private rotateFiles(): void {
    this.flush();
    if (this.size === 0) return;
    closeSync(this.fd);
    if (existsSync(`${this.path}.${this.keep}`)) this.filesDiscarded++;
    for (let i = this.keep - 1; i >= 1; i--) {
      if (existsSync(`${this.path}.${i}`)) renameSync(`${this.path}.${i}`, `${this.path}.${i + 1}`);
    }
    renameSync(this.path, `${this.path}.1`);
    this.fd = this.open();
    this.size = 0;
    this.rotations++;
  }

  state(): Record<string, unknown> {
    return { path: this.path, lines: this.lines, buffered_bytes: this.pendingBytes, file_bytes: this.size, rotations: this.rotations, files_discarded: this.filesDiscarded };
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    try {
      this.flush();
    } finally {
      try {
        closeSync(this.fd);
      } catch {
        // already closed by a rotation that failed
      }
    }
  }
}
