/**
 * Writes that leave a file whole: the files the stages keep (JSONL, the
 * audit log, a capture) end with a complete line, record or block even when
 * the disk fills in the middle of one (ADR 0008).
 */
import { fstatSync, ftruncateSync, writeSync } from 'node:fs';

/** Cuts a regular file back to `size` bytes; a device or pipe cannot be, and is left as it is. */
export function cutBack(fd: number, size: number): void {
  try {
    if (fstatSync(fd).isFile()) ftruncateSync(fd, size);
  } catch {
    // the write already failed; this was a courtesy
  }
}

/**
 * Appends `buf` (whole lines) to `fd`, whose whole lines take `size` bytes.
 * A short write (the disk filling up) is followed by the rest, or by the
 * error that says why not; then the part of a line that made it is cut off
 * again and the error is thrown.
 */
export function writeWholeLines(fd: number, buf: Buffer, size: number): void {
  let off = 0;
  try {
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
  } catch (e) {
    if (off > 0) cutBack(fd, size + buf.lastIndexOf(0x0a, off - 1) + 1);
    throw e;
  }
}
