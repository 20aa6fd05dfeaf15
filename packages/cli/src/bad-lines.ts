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
  /** Bad lines named or passed over by `name` (counted here or elsewhere): what the limit on messages counts. */
  private shown = 0;
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
    this.name(where, reason);
  }

  /**
   * Names a bad line counted elsewhere (an over-long line has a counter of
   * its own): fatal under `strict`, else said while under the limit.
   */
  name(where: string, reason: string): void {
    const why = terminalSafe(reason);
    if (this.strict) throw new UserError(`${where}: ${why}`);
    this.shown++;
    if (this.shown > BAD_LINES_SHOWN + 1) return;
    const more = this.shown > BAD_LINES_SHOWN ? ', and further bad lines only counted' : '';
    this.write(`${this.prog}: ${where}: ${why}; line skipped${more}\n`);
  }
}

/**
 * Text from the input (a quoted bad line) made safe for a terminal: control
 * characters (C0, DEL, C1) escaped as \xNN, so a binary or hostile line
 * cannot clear the screen, recolour it or hide text in a message.
 */
export function terminalSafe(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** Why JSON.parse refused a line, in one bounded line of V8's words ("Unexpected token 'H'", "Expected ',' or '}' after property value in JSON at position 6 ..."). */
export function jsonErrorReason(err: unknown): string {
  // V8 quotes the start of the line (`Unexpected token 'a', "alice.smit"... is not valid JSON`): the
  // input's own bytes, which may be the personal data pano-pii is there to keep off the terminal
  const first = String((err as Error)?.message ?? err)
    .split('\n')[0]!
    .replace(/, ".*"(?:\.\.\.)? is not valid JSON$/s, '');
  return `not JSON (${first.length > 120 ? first.slice(0, 119) + '…' : first})`;
}
