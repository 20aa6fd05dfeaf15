/**
 * Where pcapng blocks go: a file descriptor written with writev in batches.
 *
 * Synchronous on purpose: while a slow reader keeps the pipe full, we stop
 * draining the kernel buffer, so the kernel drops and counts packets instead
 * of this process buffering them without bound. A closed reader (EPIPE)
 * marks the sink closed; the capture then stops quietly.
 */
import { closeSync, fchmodSync, fstatSync, openSync, writevSync } from 'node:fs';
import { cutBack } from '@panopticon/cli';

const FLUSH_AT = 1 << 20;

export class BlockSink {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
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

  push(block: Buffer): void {
    if (this.closed) return;
    this.pending.push(block);
    this.pendingBytes += block.length;
    if (this.pendingBytes >= FLUSH_AT) this.flush();
  }

  flush(): void {
    if (this.closed || this.pending.length === 0) return;
    const list = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    let first = 0;
    /** Bytes of the block at `first` already written (a short write stops inside a block). */
    let partial = 0;
    while (first < list.length) {
      let n: number;
      try {
        // writev takes at most IOV_MAX (1024) buffers at once.
        n = writevSync(this.fd, list.slice(first, first + 1024));
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN') {
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
          continue;
        }
        this.closed = true;
        if (code !== 'EPIPE') {
          this.error = `${this.name}: ${(e as Error).message}`;
          // a full disk: the part of a block that made it goes again, and the file ends with a whole block
          if (partial > 0 && this.ownsFd) cutBack(this.fd, this.bytesWritten - partial);
        }
        return;
      }
      this.bytesWritten += n;
      while (n > 0 && first < list.length) {
        if (n >= list[first].length) {
          n -= list[first].length;
          first++;
          partial = 0;
        } else {
          list[first] = list[first].subarray(n);
          partial += n;
          n = 0;
        }
      }
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
