import { createReadStream, open, statSync } from 'node:fs';
import { Socket } from 'node:net';
import type { Readable } from 'node:stream';

/**
 * SIGINT/SIGTERM end a command cleanly: the input stops being read, what is
 * complete is flushed, and the command exits. A second signal exits at once.
 */
export class StopSignal {
  readonly controller = new AbortController();
  private received: NodeJS.Signals | null = null;

  constructor(signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM']) {
    for (const s of signals) {
      process.on(s, () => {
        if (this.received) process.exit(128 + (s === 'SIGINT' ? 2 : 15));
        this.received = s;
        this.controller.abort();
      });
    }
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get stopped(): boolean {
    return this.received !== null;
  }
}

/**
 * A named input for reading: a FIFO (`mkfifo`, or `<(cmd)`, which is
 * /dev/fd/N) becomes a pipe socket that the event loop polls, like standard
 * input; any other path a file stream. A file stream reads in a thread, and
 * on a FIFO whose writer is quiet that read waits until it writes or closes:
 * destroying the stream, and even exiting, waits with it, so SIGINT and
 * SIGTERM were not acted on. A socket is destroyed at once.
 */
export async function openInput(path: string): Promise<Readable> {
  let fifo = false;
  try {
    fifo = statSync(path).isFIFO();
  } catch {
    // the file stream reports what is wrong with the path, as before
  }
  if (!fifo) return createReadStream(path);
  // opening waits for a writer (in a thread, as a FIFO's open does); the pipe handle then reads without one
  const fd = await new Promise<number>((resolve, reject) => open(path, 'r', (err, fd) => (err ? reject(err) : resolve(fd))));
  return new Socket({ fd, readable: true, writable: false });
}
