/**
 * Domain-name decoding (RFC 1035 §4.1.4) with compression pointers.
 *
 * Pointers may only point backwards, and the number of jumps is capped, so a
 * crafted message cannot make us loop or read forever.
 *
 * Runs several times per message (question, every owner name, names inside
 * RDATA), so it allocates nothing but the result string: the labels are
 * written as presentation text into one scratch buffer, read out once (a
 * sequential string, ADR 0007). Within one message the names decoded are
 * remembered by the offset of their first label: an owner name is almost
 * always a pointer to the question, and then the question's text is reused
 * without reading the labels again. A pointer into the middle of a name, or
 * after labels of its own, is read label by label: joining remembered texts
 * made ropes and slices that cost more to make sequential than the bytes
 * cost to read again (session 14: 79 → 61 ms for the benchmark's 100,000
 * messages).
 */

/** A name's wire size is ≤ 255 bytes, so more than 127 labels/jumps is impossible in a valid message. */
const MAX_JUMPS = 127;
const MAX_NAME_LENGTH = 255;

export class DnsFormatError extends Error {
  constructor(readonly offset: number, message: string) {
    super(`${message} at byte ${offset}`);
  }
}

export interface DecodedName {
  name: string;
  /** Offset just after the name at its original position (pointers followed elsewhere do not move it). */
  end: number;
}

/**
 * Characters of the name being decoded. Escaped presentation text is ASCII
 * only (anything else becomes \DDD), so one byte per character, ≤ 4 per octet.
 */
const scratch = Buffer.alloc(MAX_NAME_LENGTH * 4);
/** Buffer#latin1Slice: the text of bytes without the encoding dispatch of `toString` (not in Node's typings). */
const text = scratch as Buffer & { latin1Slice(start: number, end: number): string };

/** Names of one message remembered for pointers; more than this are decoded afresh. */
const MAX_REMEMBERED = 32;
/** The message whose names are remembered (set by `beginMessage`, cleared by `endMessage`). */
let memoMsg: Buffer | undefined;
let memoCount = 0;
/** Per remembered name: the offset of its first label, its text, and the jumps from there to its end. */
const memoOffset = new Int32Array(MAX_REMEMBERED);
const memoText: string[] = new Array<string>(MAX_REMEMBERED).fill('');
const memoJumps = new Int32Array(MAX_REMEMBERED);

/** Remember names decoded from `msg` until `endMessage` (the caller must not change `msg` meanwhile). */
export function beginMessage(msg: Buffer): void {
  memoMsg = msg;
  memoCount = 0;
}

export function endMessage(): void {
  memoMsg = undefined;
  memoCount = 0;
}

/** Offset just after the name last read by `readNameText`. */
export let nameEnd = 0;

export function readName(msg: Buffer, offset: number): DecodedName {
  const name = readNameText(msg, offset);
  return { name, end: nameEnd };
}

/** The name at `offset` in presentation format; `nameEnd` is set to the offset after it. */
export function readNameText(msg: Buffer, offset: number): string {
  const memo = memoMsg === msg;
  let pos = offset;
  let end = -1;
  let jumps = 0;
  let wireLength = 0;
  let n = 0;
  /** Where the first label was read (after any pointers that led to it), or -1, and the jumps before it. */
  let first = -1;
  let jumpsBefore = 0;
  for (;;) {
    if (n === 0 && memo && memoCount > 0) {
      // No label yet: the whole name may be one decoded before (same checks, same text).
      const i = remembered(pos);
      if (i >= 0 && jumps + memoJumps[i] <= MAX_JUMPS) {
        nameEnd = end < 0 ? endOfName(msg, pos) : end;
        return memoText[i];
      }
    }
    if (pos >= msg.length) throw new DnsFormatError(pos, 'name runs past the message end');
    const len = msg[pos];
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (pos + 1 >= msg.length) throw new DnsFormatError(pos, 'truncated compression pointer');
      const target = ((len & 0x3f) << 8) | msg[pos + 1];
      // Only backwards pointers are legal; forward or self pointers are how loops are built.
      if (target >= pos) throw new DnsFormatError(pos, 'compression pointer does not point backwards');
      if (++jumps > MAX_JUMPS) throw new DnsFormatError(pos, 'too many compression pointers');
      if (end < 0) end = pos + 2;
      pos = target;
      continue;
    }
    if (kind !== 0) throw new DnsFormatError(pos, `reserved label type 0x${kind.toString(16)}`);
    if (len === 0) {
      if (end < 0) end = pos + 1;
      break;
    }
    if (pos + 1 + len > msg.length) throw new DnsFormatError(pos, 'label runs past the message end');
    wireLength += len + 1;
    // the root label's length byte counts too (RFC 1035 §3.1, as BIND and dnspython read it)
    if (wireLength >= MAX_NAME_LENGTH) throw new DnsFormatError(pos, 'name longer than 255 bytes');
    if (n > 0) scratch[n++] = 0x2e;
    else {
      first = pos;
      jumpsBefore = jumps;
    }
    n = escapeLabel(msg, pos + 1, pos + 1 + len, n);
    pos += 1 + len;
  }
  nameEnd = end;
  const name = n === 0 ? '.' : text.latin1Slice(0, n);
  if (memo && first >= 0 && memoCount < MAX_REMEMBERED) {
    const k = memoCount++;
    memoOffset[k] = first;
    memoText[k] = name;
    memoJumps[k] = jumps - jumpsBefore;
  }
  return name;
}

/** Index of the remembered name whose first label is at `offset`, or -1. */
function remembered(offset: number): number {
  for (let i = 0; i < memoCount; i++) if (memoOffset[i] === offset) return i;
  return -1;
}

/** Where a name already known to be well formed ends, read from `pos` without following pointers. */
function endOfName(msg: Buffer, pos: number): number {
  for (;;) {
    const len = msg[pos];
    if ((len & 0xc0) === 0xc0) return pos + 2;
    if (len === 0) return pos + 1;
    pos += 1 + len;
  }
}

/**
 * How each byte of a label is written in presentation format (RFC 1035 §5.1,
 * RFC 4343), as dig writes it: 0 as is; 1 after a backslash (`.` and `\`,
 * and the characters zone files treat specially: `"` `(` `)` `;` `@` `$`);
 * 2 as \DDD (space, controls, bytes past ASCII).
 */
const LABEL_ESCAPE = new Uint8Array(256).fill(2);
for (let c = 0x21; c < 0x7f; c++) LABEL_ESCAPE[c] = 0;
for (const c of '.\\"();@$') LABEL_ESCAPE[c.charCodeAt(0)] = 1;

/** Appends a label in presentation format. */
function escapeLabel(msg: Buffer, start: number, end: number, n: number): number {
  for (let i = start; i < end; i++) {
    const c = msg[i];
    const e = LABEL_ESCAPE[c];
    if (e === 0) {
      scratch[n++] = c;
    } else if (e === 1) {
      scratch[n++] = 0x5c;
      scratch[n++] = c;
    } else {
      scratch[n++] = 0x5c;
      scratch[n++] = 0x30 + Math.floor(c / 100);
      scratch[n++] = 0x30 + (Math.floor(c / 10) % 10);
      scratch[n++] = 0x30 + (c % 10);
    }
  }
  return n;
}
