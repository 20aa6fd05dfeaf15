/**
 * Remaining bytes of values (parameters, row cells) one exchange may still
 * keep, so a wide result never costs more than `maxBody`; `cut` records that
 * something was shortened, for the event's `truncated` flag.
 */
export class ValueBudget {
  cut = false;
  constructor(public left: number) {}

  /** Takes at most what is left of the budget; marks `cut` when `n` did not fit. */
  take(n: number): number {
    if (n <= this.left) {
      this.left -= n;
      return n;
    }
    const got = this.left;
    this.left = 0;
    this.cut = true;
    return got;
  }
}

/** `\x`-prefixed hex (how psql and the mysql CLI show binary), cut to the budget. */
export function hexValue(v: Buffer, budget: ValueBudget): string {
  const want = v.length * 2 + 2;
  const n = budget.take(want);
  if (n >= want) return '\\x' + v.toString('hex');
  return '\\x' + v.toString('hex', 0, Math.max(0, (n - 2) >> 1));
}

/** UTF-8 text, cut to the budget. */
export function textValue(v: Buffer, budget: ValueBudget): string {
  const n = budget.take(v.length);
  return v.toString('utf8', 0, n);
}
