/**
 * Process plumbing shared by the graph and export commands until
 * @panopticon/cli offers it: one-line fatal errors, a closed stdout pipe
 * ending the command quietly with status 0, SIGINT/SIGTERM turned into an
 * abort of the input (so what is complete is still written), and writes
 * that respect back-pressure.
 */
import { once } from 'node:events';
import type { Writable } from 'node:stream';

export class UsageError extends Error {}

export function fail(prog: string, message: string, code = 1): never {
  process.stderr.write(`${prog}: ${message}\n`);
  process.exit(code);
}

/** `| head` closing our stdout is a normal end, not an error. */
export function quietOnEpipe(stream: Writable = process.stdout): void {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  });
}

/** An AbortController fired by the first SIGINT or SIGTERM; a second one exits at once. */
export function abortOnSignals(onSignal?: (sig: NodeJS.Signals) => void): AbortController {
  const ac = new AbortController();
  const handler = (sig: NodeJS.Signals) => {
    if (ac.signal.aborted) process.exit(130);
    onSignal?.(sig);
    ac.abort();
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return ac;
}

export async function writeAll(stream: Writable, text: string): Promise<void> {
  if (!stream.write(text)) await once(stream, 'drain');
}
