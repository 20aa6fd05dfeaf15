/**
 * Opening a named input. A FIFO (`mkfifo`, or `<(cmd)`, which is /dev/fd/N)
 * becomes a pipe socket that the event loop polls, like standard input; any
 * other path a file stream. A file stream reads in a thread, and on a FIFO
 * whose writer is quiet that read waits until it writes or closes:
 * destroying the stream, and even exiting, waits with it (exiting joins the
 * thread pool), so SIGINT and SIGTERM were not acted on. A socket is
 * destroyed at once.
 */
import { constants, createReadStream, openSync, statSync } from 'node:fs';
import { Socket } from 'node:net';
import type { Readable } from 'node:stream';

/** `path` as a pipe socket when it is a FIFO, else undefined (a regular file, or a path that is not there). */
export async function openFifo(path: string): Promise<Readable | undefined> {
  let fifo = false;
  try {
    fifo = statSync(path).isFIFO();
  } catch {
    return undefined; // whoever opens it next reports what is wrong with the path
  }
  if (!fifo) return undefined;
  // A blocking open waits for a writer, in a thread that exiting would wait for too: a signal before
  // the writer came was not acted on. Opened non-blocking it returns at once, and the event loop's poll
  // reports nothing until a writer has come: neither data nor the end of a writer that never was.
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  return new Socket({ fd, readable: true, writable: false });
}

/** `path` for reading: a pipe socket for a FIFO, else a file stream. */
export async function openInput(path: string): Promise<Readable> {
  return (await openFifo(path)) ?? createReadStream(path);
}
