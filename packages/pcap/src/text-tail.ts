/**
 * The whole lines a text file gained since it was last read: what a TLS
 * key log (SSLKEYLOGFILE) needs from its reader, who follows it while
 * clients append to it. A line not yet ended stays for the next read; a
 * file truncated below what was read is read again from its start; a path
 * that now names another file (deleted and written anew) is followed to
 * it. Bounded: a "line" longer than `maxLine` is skipped and counted.
 * Shared by pano-parse (key logs it decrypts with) and pano-capture (key
 * log lines it writes into the capture as Decryption Secrets Blocks).
 */
import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';

/** Bytes read at once. */
const READ_CHUNK = 1 << 20;

export class TextTail {
  private fd: number;
  private offset = 0;
  private partial = '';
  /** Lines over maxLine skipped. */
  overlong = 0;

  /** Opens `path` (throws the system's error, as openSync does). */
  constructor(
    readonly path: string,
    private readonly maxLine = 4096,
  ) {
    this.fd = openSync(path, 'r');
  }

  /** The complete lines appended since the last call, each with its newline, as latin1 text ('' when none). */
  read(): string {
    let size: number;
    try {
      const open = fstatSync(this.fd);
      size = open.size;
      const now = statSync(this.path, { throwIfNoEntry: false });
      if (now && (now.ino !== open.ino || now.dev !== open.dev)) {
        const fd = openSync(this.path, 'r');
        closeSync(this.fd);
        this.fd = fd;
        this.offset = 0;
        this.partial = '';
        size = fstatSync(fd).size;
      }
    } catch {
      return '';
    }
    if (size < this.offset) {
      this.offset = 0;
      this.partial = '';
    }
    let out = '';
    const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, Math.max(0, size - this.offset)));
    while (this.offset < size) {
      const n = readSync(this.fd, buf, 0, Math.min(buf.length, size - this.offset), this.offset);
      if (n <= 0) break;
      this.offset += n;
      const text = this.partial + buf.toString('latin1', 0, n);
      const last = text.lastIndexOf('\n');
      if (last < 0) {
        if (text.length > this.maxLine) {
          this.overlong++;
          this.partial = '';
        } else this.partial = text;
        continue;
      }
      out += text.slice(0, last + 1);
      this.partial = text.slice(last + 1);
    }
    return out;
  }

  close(): void {
    closeSync(this.fd);
  }
}
