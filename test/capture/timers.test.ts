/**
 * Timers past Node's 2^31-1 ms limit (--duration 600h, --stats-interval 600h):
 * a plain setTimeout fires after 1 ms there. Node's own mock timers move the
 * clock (Date.now, which the timers are given as their clock) and fire the
 * timers that are due, so weeks pass in a moment. (A tick sets the clock to
 * its end before it fires what is due: the tests tick in steps as fine as
 * what they check.)
 */
import { describe, it, beforeEach, afterEach, mock } from 'node:test';
import assert from 'node:assert/strict';
import { longInterval, longTimeout, MAX_TIMER_MS } from '@panopticon/cli';

const HOUR = 3600_000;
const now = () => Date.now();

describe('long timers', () => {
  /** Every delay handed to setTimeout: a real Node timer given more than MAX_TIMER_MS fires after 1 ms (the mock does not). */
  let delays: number[];
  beforeEach(() => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 });
    delays = [];
    const mocked = globalThis.setTimeout;
    mock.method(globalThis, 'setTimeout', (fn: () => void, ms: number) => {
      delays.push(ms);
      return mocked(fn, ms);
    });
  });
  afterEach(() => {
    mock.restoreAll();
    mock.timers.reset();
    assert.ok(Math.max(...delays) <= MAX_TIMER_MS, `no Node timer longer than ${MAX_TIMER_MS} ms (got ${Math.max(...delays)})`);
  });

  it('longTimeout(600h) fires once, at 600h, not before (setTimeout would fire after 1 ms)', () => {
    let fired = 0;
    longTimeout(() => fired++, 600 * HOUR, now);
    mock.timers.tick(1);
    assert.equal(fired, 0);
    mock.timers.tick(MAX_TIMER_MS);
    assert.equal(fired, 0, 'still waiting after the first Node timer ran out');
    mock.timers.tick(600 * HOUR - MAX_TIMER_MS - 2);
    assert.equal(fired, 0, '1 ms before the deadline');
    mock.timers.tick(1);
    assert.equal(fired, 1, 'at the deadline');
    mock.timers.tick(10_000 * HOUR);
    assert.equal(fired, 1, 'once');
  });

  it('longTimeout at the limit and just past it', () => {
    for (const ms of [MAX_TIMER_MS, MAX_TIMER_MS + 1, 2147484_000]) {
      let fired = 0;
      longTimeout(() => fired++, ms, now);
      mock.timers.tick(ms - 1);
      assert.equal(fired, 0, `${ms}: not 1 ms early`);
      mock.timers.tick(1);
      assert.equal(fired, 1, `${ms}: on time`);
    }
  });

  it('a cancelled longTimeout never fires, also after re-arming', () => {
    let fired = 0;
    const t = longTimeout(() => fired++, 100 * 24 * HOUR, now);
    mock.timers.tick(MAX_TIMER_MS + 10);
    t.cancel();
    mock.timers.tick(200 * 24 * HOUR);
    assert.equal(fired, 0);
  });

  it('longInterval(600h) fires every 600h (setInterval would fire every millisecond)', () => {
    const at: number[] = [];
    const t = longInterval(() => at.push(Date.now()), 600 * HOUR, now);
    for (let i = 0; i < 2000; i++) mock.timers.tick(HOUR);
    assert.deepEqual(at, [600 * HOUR, 1200 * HOUR, 1800 * HOUR]);
    t.cancel();
    mock.timers.tick(10_000 * HOUR);
    assert.equal(at.length, 3, 'nothing after cancel');
  });

  it('longInterval with short periods keeps to its grid', () => {
    const at: number[] = [];
    const t = longInterval(() => at.push(Date.now()), 200, now);
    for (let i = 0; i < 1000; i++) mock.timers.tick(1);
    t.cancel();
    assert.deepEqual(at, [200, 400, 600, 800, 1000]);
  });
});
