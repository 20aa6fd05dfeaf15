/**
 * Timers for durations a Node timer cannot hold (pano-capture's --duration
 * and --stats-interval; MAX_TIMER_MS bounds pano-export's delays). setTimeout/setInterval take
 * at most 2^31-1 ms (24.8 days); a longer delay is silently set to 1 ms (with
 * a TimeoutOverflowWarning), so `--duration 600h` stopped at once. These arm
 * a Node timer for at most that long at a time and re-arm until the deadline,
 * measured on the monotonic clock (a wall-clock step does not move it).
 */

/** The longest delay one Node timer holds. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export interface LongTimer {
  cancel(): void;
}

/** Calls `fn` once, `ms` after now (any finite ms; below 1 ms counts as 1 ms, as with setTimeout). */
export function longTimeout(fn: () => void, ms: number, now: () => number = () => performance.now()): LongTimer {
  if (!Number.isFinite(ms)) throw new RangeError(`longTimeout: ${ms} ms is not a finite delay`);
  const deadline = now() + Math.max(1, ms);
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    const left = deadline - now();
    if (left <= 0) {
      timer = undefined;
      fn();
      return;
    }
    timer = setTimeout(arm, Math.min(Math.ceil(left), MAX_TIMER_MS));
  };
  arm();
  return {
    cancel() {
      if (timer) clearTimeout(timer);
      timer = undefined;
    },
  };
}

/**
 * Calls `fn` every `ms` (at least 1 ms). Each period is counted from the
 * previous deadline, not from when `fn` ran, so the calls do not drift; after
 * a stall longer than a period the missed calls are not made up.
 */
export function longInterval(fn: () => void, ms: number, now: () => number = () => performance.now()): LongTimer {
  if (!Number.isFinite(ms)) throw new RangeError(`longInterval: ${ms} ms is not a finite period`);
  const period = Math.max(1, ms);
  let deadline = now() + period;
  let timer: NodeJS.Timeout | undefined;
  let cancelled = false;
  const arm = () => {
    const left = deadline - now();
    if (left <= 0) {
      const t = now();
      // the first deadline after now, on the original grid
      deadline += period * (Math.floor((t - deadline) / period) + 1);
      fn();
      if (cancelled) return;
      timer = setTimeout(arm, Math.min(Math.ceil(deadline - now()), MAX_TIMER_MS));
      return;
    }
    timer = setTimeout(arm, Math.min(Math.ceil(left), MAX_TIMER_MS));
  };
  timer = setTimeout(arm, Math.min(Math.ceil(period), MAX_TIMER_MS));
  return {
    cancel() {
      cancelled = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
    },
  };
}
