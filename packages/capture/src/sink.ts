/**
 * Where pcapng blocks go: a file descriptor written with writev in batches.
 *
 * Writes never wait. A pipe or socket on standard output is made
 * non-blocking, and what a slow reader has not taken yet stays pending here:
 * the capture stops draining the kernel buffer while the sink is `full`, so
 * the kernel drops and counts packets instead of this process buffering them
 * without bound, and the event loop keeps running, so SIGINT/SIGTERM,
 * --duration and the interface checks still act while the reader is stalled
 * (a blocking write would hold the thread until the reader came back).
 * A closed reader (EPIPE) marks the sink closed; the capture then stops
 * quietly.
 */
import { closeSync, fchmodSync, fstatSync, openSync, writevSync } from 'node:fs';
import koffi from 'koffi';
import { cutBack } from '@panopticon/cli';

/** Pending bytes at which a flush is tried, and past which the sink is `full`. */
const FLUSH_AT = 1 << 20;
/** After the capture ends, a reader that takes nothing for this long is given up on. */
export const STALL_LIMIT_MS = 2000;

const F_GETFL = 3;
const F_SETFL = 4;
const O_NONBLOCK = 0o4000;
let fcntl: ((fd: number, cmd: number, ...args: unknown[]) => number) | undefined;

/** Sets O_NONBLOCK on a pipe or socket (node puts stdio back as it found it at exit). */
function makeNonBlocking(fd: number): void {
  const st = fstatSync(fd);
  if (!st.isFIFO() && !st.isSocket()) return; // files and devices never make a write wait for a reader
  fcntl ??= koffi.load('libc.so.6').func('int fcntl(int fd, int cmd, ...)') as (fd: number, cmd: number, ...args: unknown[]) => number;
  const flags = fcntl(fd, F_GETFL);
  if (flags >= 0 && !(flags & O_NONBLOCK)) fcntl(fd, F_SETFL, 'int', flags | O_NONBLOCK);
}

export class BlockSink {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Bytes of pending[0] already written (a short write stops inside a block). */
  private partial = 0;
  /** The last write found the pipe full: pushes leave the writing to the next flush instead of trying per block. */
  private waiting = false;
  closed = false;
  bytesWritten = 0;
  /** Set when writing failed for a reason other than a closed reader. */
  error: string | undefined;

  private constructor(
    private readonly fd: number,
    private readonly ownsFd: boolean,
    private readonly name: string,
  ) {}

  static stdout(): BlockSink {
    makeNonBlocking(1);
    return new BlockSink(1, false, 'standard output');
  }

  /** Creates or truncates FILE with mode 0600: a capture holds whatever crossed the wire. */
  static file(path: string): BlockSink {
    const fd = openSync(path, 'w', 0o600);
    // An existing file keeps its mode on open: tighten it. Only regular files:
    // `-w /dev/null` must not make the null device private.
    if (fstatSync(fd).isFile()) fchmodSync(fd, 0o600);
    return new BlockSink(fd, true, path);
  }

  /** The reader is behind by a megabyte or more: take nothing more from the kernel until it catches up. */
  get full(): boolean {
    return this.pendingBytes >= FLUSH_AT;
  }

  /** Bytes not yet taken by the reader. */
  get backlog(): number {
    return this.pendingBytes;
  }

  push(block: Buffer): void {
    if (this.closed) return;
    this.pending.push(block);
    this.pendingBytes += block.length;
    if (this.pendingBytes >= FLUSH_AT && !this.waiting) this.flush();
  }

  /** Writes what is pending as far as the reader takes it now; the rest stays pending (never waits). */
  flush(): void {
    this.waiting = false;
    while (!this.closed && this.pending.length > 0) {
      let n: number;
      try {
        // writev takes at most IOV_MAX (1024) buffers at once.
        n = writevSync(this.fd, this.pending.length > 1024 ? this.pending.slice(0, 1024) : this.pending);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN') {
          this.waiting = true; // a full pipe: the reader is behind
          return;
        }
        this.closed = true;
        if (code !== 'EPIPE') {
          this.error = `${this.name}: ${(e as Error).message}`;
          // a full disk: the part of a block that made it goes again, and the file ends with a whole block
          if (this.partial > 0 && this.ownsFd) cutBack(this.fd, this.bytesWritten - this.partial);
        }
        this.pending = [];
        this.pendingBytes = 0;
        return;
      }
      this.bytesWritten += n;
      this.pendingBytes -= n;
      let done = 0;
      while (n > 0) {
        const left = this.pending[done].length;
        if (n >= left) {
          n -= left;
          done++;
          this.partial = 0;
        } else {
          this.pending[done] = this.pending[done].subarray(n);
          this.partial += n;
          n = 0;
        }
      }
      if (done > 0) this.pending.splice(0, done);
    }
  }

  /**
   * Once the capture has ended: waits, on the event loop, until the reader has
   * taken what is pending. A reader that takes nothing for `stallMs` (stopped,
   * or stuck) is given up on: the rest is not written, and `error` says so.
   */
  async finish(stallMs = STALL_LIMIT_MS): Promise<void> {
    let lastWritten = this.bytesWritten;
    let since = performance.now();
    for (;;) {
      this.flush();
      if (this.closed || this.pendingBytes === 0) return;
      if (this.bytesWritten !== lastWritten) {
        lastWritten = this.bytesWritten;
        since = performance.now();
      } else if (performance.now() - since >= stallMs) {
        this.error = `${this.name}: the reader took nothing for ${stallMs / 1000} s after the capture ended; its last ${this.pendingBytes} bytes were not written`;
        this.pending = [];
        this.pendingBytes = 0;
        this.closed = true;
        return;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  close(): void {
    this.flush();
    if (this.ownsFd) {
      try {
        closeSync(this.fd);
      } catch {
        // already gone
      }
    }
    this.closed = true;
  }
}
