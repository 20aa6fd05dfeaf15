/**
 * Progress on long runs, on stderr only when stderr is a terminal, redrawn at
 * most a few times a second.
 */
export class Progress {
  private last = 0;
  private readonly enabled: boolean;

  constructor(private readonly label: string, enabled = process.stderr.isTTY === true) {
    this.enabled = enabled;
  }

  update(text: () => string): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.last < 250) return;
    this.last = now;
    process.stderr.write(`\r\x1b[K${this.label}: ${text()}`);
  }

  done(): void {
    if (this.enabled && this.last) process.stderr.write('\r\x1b[K');
  }
}
