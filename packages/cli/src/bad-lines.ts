/**
 * How the event-reading stages (pano-pii, pano-graph, pano-export) deal with
 * bad input lines: under `--strict` the first ends the run; otherwise each is
 * skipped, the first few are named on stderr with where and why, and then one
 * note says the rest are only counted. A corrupted stream must not become a
 * stream of errors, and the count in `--stats` and at exit is what tells how
 * many there were.
 */
import { UserError } from './errors.js';

/** Bad lines named on stderr before the rest are only counted. */
export const BAD_LINES_SHOWN = 10;

export class BadLines {
  /** Bad lines seen so far, named or not. */
  count = 0;
  private readonly strict: boolean;
  private readonly write: (text: string) => void;

  constructor(
    private readonly prog: string,
    opts: { strict?: boolean; write?: (text: string) => void } = {},
  ) {
    this.strict = opts.strict ?? false;
    this.write = opts.write ?? ((text) => void process.stderr.write(text));
  }

  /**
   * Counts one bad line at `where` (`FILE:LINE`, `stdin:LINE`). Under `strict`
   * it is fatal (UserError, exit 2, as every command's bad input is: ADR
   * 0008); otherwise it is named while under the limit.
   */
  report(where: string, reason: string): void {
    this.count++;
    if (this.strict) throw new UserError(`${where}: ${reason}`);
    if (this.count > BAD_LINES_SHOWN + 1) return;
    const more = this.count > BAD_LINES_SHOWN ? ', and further bad lines only counted' : '';
    this.write(`${this.prog}: ${where}: ${reason}; line skipped${more}\n`);
  }
}
