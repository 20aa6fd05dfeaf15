/**
 * Deterministic damage for robustness tests: flips, truncations, insertions
 * and random cuts of a valid byte stream, from a seeded generator.
 */
export function seeded(seed: number): (n: number) => number {
  let s = seed >>> 0 || 1;
  return (n: number) => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) % n;
  };
}

/** A copy of `b` with a few bytes flipped, dropped or inserted. */
export function mutate(b: Buffer, rnd: (n: number) => number): Buffer {
  const out = Buffer.from(b);
  const edits = 1 + rnd(4);
  let cur = out;
  for (let i = 0; i < edits && cur.length > 0; i++) {
    const at = rnd(cur.length);
    switch (rnd(3)) {
      case 0:
        cur[at] = rnd(256);
        break;
      case 1:
        cur = Buffer.concat([cur.subarray(0, at), cur.subarray(at + 1 + rnd(8))]);
        break;
      default:
        cur = Buffer.concat([cur.subarray(0, at), Buffer.from([rnd(256), rnd(256)]), cur.subarray(at)]);
    }
  }
  return cur;
}

/** `b` cut into random pieces. */
export function cuts(b: Buffer, rnd: (n: number) => number): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off < b.length; ) {
    const n = 1 + rnd(64);
    out.push(b.subarray(off, off + n));
    off += n;
  }
  return out;
}
