/**
 * Domain-name decoding (RFC 1035 §4.1.4) with compression pointers.
 *
 * Pointers may only point backwards, and the number of jumps is capped, so a
 * crafted message cannot make us loop or read forever.
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

/** Character codes of the name being decoded; escapes take at most 4 per octet. */
const scratch = new Uint16Array(MAX_NAME_LENGTH * 4);

export function readName(msg: Buffer, offset: number): DecodedName {
  let pos = offset;
  let end = -1;
  let jumps = 0;
  let wireLength = 0;
  let n = 0;
  for (;;) {
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
    if (wireLength > MAX_NAME_LENGTH) throw new DnsFormatError(pos, 'name longer than 255 bytes');
    if (n > 0) scratch[n++] = 0x2e;
    n = escapeLabel(msg, pos + 1, pos + 1 + len, n);
    pos += 1 + len;
  }
  if (n === 0) return { name: '.', end };
  return { name: String.fromCharCode.apply(null, scratch.subarray(0, n) as unknown as number[]), end };
}

/** Appends a label in presentation format (RFC 4343): dots and backslashes escaped, non-printables as \DDD. */
function escapeLabel(msg: Buffer, start: number, end: number, n: number): number {
  for (let i = start; i < end; i++) {
    const c = msg[i];
    if (c > 0x20 && c < 0x7f && c !== 0x2e && c !== 0x5c) {
      scratch[n++] = c;
    } else if (c === 0x2e || c === 0x5c) {
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
