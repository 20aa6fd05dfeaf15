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

