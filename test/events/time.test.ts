// Event timestamps: ISO text with nine fraction digits, from a bigint or from
// its decimal text, both sharing one per-second cache.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isoFromDecimalNs, isoFromNs } from '../../packages/events/src/time.js';

/** The reference: Date for the seconds, the fraction padded by hand. */
function reference(ns: bigint): string {
  const s = ns / 1_000_000_000n;
  const frac = ns % 1_000_000_000n;
  return `${new Date(Number(s) * 1000).toISOString().slice(0, 19)}.${frac.toString().padStart(9, '0')}Z`;
}

test('isoFromNs and isoFromDecimalNs agree with Date across second boundaries, in any call order', () => {
  const times = [
    0n, 1n, 999_999_999n, 1_000_000_000n, 1_000_000_001n, 59_999_999_999n, 60_000_000_000n,
    1_700_000_000_000_000_000n, 1_700_000_000_999_999_999n, 1_700_000_001_000_000_000n, 1_700_000_000_000_000_007n,
    4_102_444_800_123_456_789n, 1_700_000_000_000_020_000n,
  ];
  for (let round = 0; round < 2; round++) {
    for (const ns of round ? [...times].reverse() : times) {
      assert.equal(isoFromNs(ns), reference(ns), String(ns));
      if (ns >= 1_000_000_000n) assert.equal(isoFromDecimalNs(ns.toString()), reference(ns), String(ns));
      // The bigint path after the text path for the same second, and the other way round.
      assert.equal(isoFromNs(ns), reference(ns), String(ns));
    }
  }
  assert.equal(isoFromNs(1_700_000_000_000_020_000n), '2023-11-14T22:13:20.000020000Z');
});
