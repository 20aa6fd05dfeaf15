/**
 * Event strings as the JSON fast path wants them.
 *
 * V8 14 (Node.js 26) serialises plain objects more than twice as fast as
 * before, but only while every string it meets is sequential (one piece of
 * memory). A string built with `+` or a template literal is a rope, and a
 * slice of another string is a view into it; from 13 characters on V8 keeps
 * both that way, and one such string anywhere in an event sends the whole
 * event down the old path (ADR 0007). `sequential` copies the text into a
 * sequential string: a write and a read of a scratch buffer, far cheaper
 * than the slow path it saves. Call it where event strings are made by
 * concatenation or slicing; Buffer decodes (`latin1Slice`, `toString`) are
 * sequential already.
 */

/** Below this length V8 copies concatenations and slices, so they are sequential already. */
const MIN_VIEW_LENGTH = 13;
const SCRATCH = 8192;

type TextBuffer = Buffer & {
  latin1Write(s: string, offset: number, length: number): number;
  latin1Slice(start: number, end: number): string;
  ucs2Write(s: string, offset: number, length: number): number;
  ucs2Slice(start: number, end: number): string;
};
const scratch = Buffer.allocUnsafe(SCRATCH) as TextBuffer;

/**
 * The same text as a sequential string: one byte per character when every
 * code unit is below 256, as V8 would store it, else two (lossless: UTF-16
 * code units are copied as they are, lone surrogates too).
 */
export function sequential(s: string): string {
  const n = s.length;
  if (n < MIN_VIEW_LENGTH) return s;
  // texts longer than the scratch buffer (long bodies, queries) get a buffer of their own
  const buf = 2 * n > SCRATCH ? (Buffer.allocUnsafe(2 * n) as TextBuffer) : scratch;
  for (let i = 0; i < n; i++) {
    if (s.charCodeAt(i) > 0xff) {
      buf.ucs2Write(s, 0, 2 * n);
      return buf.ucs2Slice(0, 2 * n);
    }
  }
  buf.latin1Write(s, 0, n);
  return buf.latin1Slice(0, n);
}
