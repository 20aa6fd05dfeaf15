/**
 * A mergeable latency sketch with bounded relative error (logarithmic
 * buckets, the DDSketch idea): every value v > 0 lands in bucket
 * ceil(log_γ v) with γ = (1+α)/(1−α), so a quantile read back is within α
 * of a true sample. Merging is adding bucket counts, which is what lets the
 * graph re-group address-level edges into named nodes at output time.
 * Memory is bounded by the value range: ~1,400 buckets cover 1 ns to a day
 * at α = 1 %, and the bucket count is capped anyway.
 */

export const DEFAULT_RELATIVE_ACCURACY = 0.01;
const MAX_BUCKETS = 4096;

export class LatencySketch {
  private readonly gamma: number;
  private readonly logGamma: number;
  private readonly buckets = new Map<number, number>();
  private zeros = 0;
  count = 0;
  min = Infinity;
  max = -Infinity;
  /** values that could not get a bucket of their own once the cap was reached (merged into the nearest) */
  collapsed = 0;

  constructor(readonly alpha = DEFAULT_RELATIVE_ACCURACY) {
    this.gamma = (1 + alpha) / (1 - alpha);
    this.logGamma = Math.log(this.gamma);
  }

  add(value: number, times = 1): void {
    if (!(value >= 0) || times <= 0) return;
    this.count += times;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
    if (value === 0) {
      this.zeros += times;
      return;
    }
    this.addToBucket(Math.ceil(Math.log(value) / this.logGamma), times);
  }

  private addToBucket(index: number, times: number): void {
    const had = this.buckets.get(index);
    if (had !== undefined) {
      this.buckets.set(index, had + times);
      return;
    }
    if (this.buckets.size >= MAX_BUCKETS) {
      // keep the bound: fold into the nearest existing bucket
      let nearest = index;
      let best = Infinity;
      for (const k of this.buckets.keys()) {
        const d = Math.abs(k - index);
        if (d < best) {
          best = d;
          nearest = k;
        }
      }
      this.collapsed += times;
      this.buckets.set(nearest, (this.buckets.get(nearest) ?? 0) + times);
      return;
    }
    this.buckets.set(index, times);
  }

  merge(other: LatencySketch): void {
    if (other.count === 0) return;
    this.count += other.count;
    this.zeros += other.zeros;
    this.collapsed += other.collapsed;
    if (other.min < this.min) this.min = other.min;
    if (other.max > this.max) this.max = other.max;
    for (const [k, n] of other.buckets) this.addToBucket(k, n);
  }

  /**
   * Nearest-rank quantile: the smallest sample with at least q·n samples at
   * or below it, estimated as its bucket's midpoint and clamped to the
   * exact min and max (so one sample reads back exactly).
   */
  quantile(q: number): number | undefined {
    if (this.count === 0) return undefined;
    const rank = Math.max(1, Math.ceil(q * this.count));
    // the first and last ranks are the exact extremes
    if (rank === 1) return this.min;
    if (rank >= this.count) return this.max;
    if (rank <= this.zeros) return 0;
    let seen = this.zeros;
    const keys = [...this.buckets.keys()].sort((a, b) => a - b);
    for (const k of keys) {
      seen += this.buckets.get(k)!;
      if (seen >= rank) {
        const estimate = (2 * Math.pow(this.gamma, k)) / (this.gamma + 1);
        return Math.min(this.max, Math.max(this.min, estimate));
      }
    }
    return this.max;
  }
}
