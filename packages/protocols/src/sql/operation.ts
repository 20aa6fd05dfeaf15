/**
 * The operation name of a SQL text for `db.operation.name`: its first keyword,
 * upper-cased, after leading blanks, comments and parentheses. Shared by the
 * SQL wire protocols; it is a label, not a parser, so it never looks further.
 */
export function sqlOperation(text: string): string | undefined {
  let i = 0;
  const n = Math.min(text.length, 4096);
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x28 /* ( */ || c === 0x3b /* ; */) {
      i++;
    } else if (c === 0x2d && text.charCodeAt(i + 1) === 0x2d) {
      const nl = text.indexOf('\n', i);
      if (nl < 0) return undefined;
      i = nl + 1;
    } else if (c === 0x2f && text.charCodeAt(i + 1) === 0x2a) {
      const close = text.indexOf('*/', i + 2);
      if (close < 0) return undefined;
      i = close + 2;
    } else if (c === 0x23 /* MySQL # comment */) {
      const nl = text.indexOf('\n', i);
      if (nl < 0) return undefined;
      i = nl + 1;
    } else {
      break;
    }
  }
  let j = i;
  while (j < n) {
    const c = text.charCodeAt(j) | 0x20;
    if (c < 0x61 || c > 0x7a) break;
    j++;
  }
  return j > i ? text.slice(i, j).toUpperCase() : undefined;
}
