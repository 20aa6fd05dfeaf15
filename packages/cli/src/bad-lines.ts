/**
 * How the event-reading stages (pano-pii, pano-graph, pano-export) report
 * bad input lines when they skip them: the first few are named on stderr
 * with where and why, then one note says the rest are only counted. A
 * corrupted stream must not become a stream of errors, and the count in
 * `--stats` and at exit is what tells how many there were.
 */

/** Bad lines named on stderr before the rest are only counted. */
export const BAD_LINES_SHOWN = 10;

export class BadLines {
  /** Bad lines seen so far, named or not. */
  count = 0;

  constructor(
    private readonly prog: string,
    private readonly write: (text: string) => void = (text) => void process.stderr.write(text),
  ) {}

  /** Counts one skipped line at `where` (`FILE:LINE`, `stdin:LINE`), naming it while under the limit. */
  skipped(where: string, reason: string): void {
    this.count++;
    if (this.count > BAD_LINES_SHOWN + 1) return;
    const more = this.count > BAD_LINES_SHOWN ? ', and further bad lines only counted' : '';
    this.write(`${this.prog}: ${where}: ${reason}; line skipped${more}\n`);
  }
}
