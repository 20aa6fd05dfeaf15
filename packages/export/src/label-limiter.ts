/**
 * Keeps Prometheus label cardinality bounded: each label accepts its first
 * N distinct values; later ones become `other` and are counted. Values are
 * also cut to a fixed length, so a garbage method or a long address cannot
 * blow up the series count or the exposition size.
 */
export const OVERFLOW_VALUE = 'other';
const MAX_VALUE_CHARS = 80;

export class LabelLimiter {
  private readonly seen = new Map<string, Set<string>>();
  readonly overflow = new Map<string, number>();

  constructor(private readonly limits: Record<string, number>, private readonly defaultLimit = 100) {}

  value(label: string, raw: string): string {
    const v = raw.length > MAX_VALUE_CHARS ? raw.slice(0, MAX_VALUE_CHARS) : raw;
    let set = this.seen.get(label);
    if (!set) {
      set = new Set();
      this.seen.set(label, set);
    }
    if (set.has(v)) return v;
    if (set.size >= (this.limits[label] ?? this.defaultLimit)) {
      this.overflow.set(label, (this.overflow.get(label) ?? 0) + 1);
      return OVERFLOW_VALUE;
    }
    set.add(v);
    return v;
  }
}
