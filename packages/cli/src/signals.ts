import { fstatSync, statSync } from 'node:fs';

/**
 * How long a stage reads on from a pipe after SIGINT/SIGTERM. Ctrl-C reaches
 * every stage of a pipeline at once: the stages upstream flush what is
 * complete and close their output, and that is only kept if this stage reads
 * it. Two seconds, then the stage stops whether or not the pipe closed.
 */
export const PIPE_GRACE_MS = 2000;

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

  /**
   * When reading `inputs` (`-` or none: standard input) stops: at once on a
   * signal when they are files or a terminal; when one is a pipe or a FIFO,
   * once the pipe ends or PIPE_GRACE_MS after the signal, whichever comes
   * first (see PIPE_GRACE_MS).
   */
  inputSignal(inputs: string[]): AbortSignal {
    if (!(inputs.length ? inputs : ['-']).some(isPipe)) return this.signal;
    const delayed = new AbortController();
    this.signal.addEventListener('abort', () => setTimeout(() => delayed.abort(), PIPE_GRACE_MS).unref(), { once: true });
    return delayed.signal;
  }
}

/**
 * Whether input `path` (`-`: standard input) is a pipe, a FIFO or a socket,
 * which brings its bytes as they are made, rather than a file (also one
 * redirected onto standard input).
 */
export function isPipe(path: string): boolean {
  try {
    const st = path === '-' ? fstatSync(0) : statSync(path);
    return st.isFIFO() || st.isSocket();
  } catch {
    return false;
  }
}

