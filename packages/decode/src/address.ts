/**
 * Textual network addresses, built from header bytes without intermediate
 * objects: dotted quads for IPv4 and RFC 5952 text for IPv6, in exactly the
 * form tshark prints (`ip.src`, `ipv6.src`), so flows keyed on these strings
 * line up with what an analyst sees in Wireshark.
 */

/**
 * Texts are written into this buffer and read out once: the result is one
 * sequential string. Concatenation would give a rope (from 13 characters),
 * and one rope in an event keeps V8 14's JSON.stringify off its fast path
 * for the whole event (ADR 0007); addresses are in every event.
 */
const text = Buffer.alloc(64) as Buffer & { latin1Slice(start: number, end: number): string };
const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');

/** Writes byte value `v` in decimal at `at`; returns the offset after it. */
function putDecimal(v: number, at: number): number {
  if (v >= 100) text[at++] = 0x30 + ((v / 100) | 0);
  if (v >= 10) text[at++] = 0x30 + (((v / 10) | 0) % 10);
  text[at++] = 0x30 + (v % 10);
  return at;
}

/** Writes the dotted quad of the four bytes at `off` at `at`; returns the offset after it. */
function putIPv4(buf: Uint8Array, off: number, at: number): number {
  at = putDecimal(buf[off], at);
  text[at++] = 0x2e;
  at = putDecimal(buf[off + 1], at);
  text[at++] = 0x2e;
  at = putDecimal(buf[off + 2], at);
  text[at++] = 0x2e;
  return putDecimal(buf[off + 3], at);
}

/** Writes a 16-bit group in lowercase hex without leading zeros (RFC 5952 §4.1) at `at`. */
function putHex16(w: number, at: number): number {
  if (w >= 0x1000) text[at++] = HEX_DIGITS[w >>> 12];
  if (w >= 0x100) text[at++] = HEX_DIGITS[(w >>> 8) & 15];
  if (w >= 0x10) text[at++] = HEX_DIGITS[(w >>> 4) & 15];
  text[at++] = HEX_DIGITS[w & 15];
  return at;
}

/** Dotted quad of the four bytes at `off`. */
export function formatIPv4(buf: Uint8Array, off: number): string {
  return text.latin1Slice(0, putIPv4(buf, off, 0));
}

/**
 * Most traffic involves a few thousand IPv4 hosts at most, and a shared
 * string both saves the concatenation and makes later comparisons of the
 * address cheaper. Like IPv6Names, a direct-mapped cache (the address hashes
 * to one slot holding the last address seen there): fixed size, and a hit
 * is an array read, not a map lookup. 65536 slots (768 KB) by default: a
 * resolver's capture can hold tens of thousands of client addresses, and a
 * miss formats the address again.
 */
export class IPv4Names {
  private readonly keys: Int32Array;
  private readonly names: Array<string | undefined>;
  private readonly mask: number;
  constructor(slots = 65536) {
    if (slots & (slots - 1)) throw new RangeError('IPv4Names: slots must be a power of two');
    this.keys = new Int32Array(slots);
    this.names = new Array<string | undefined>(slots).fill(undefined);
    this.mask = slots - 1;
  }

  name(buf: Uint8Array, off: number): string {
    const key = (buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3];
    let h = Math.imul(key, 0x9e3779b1);
    h ^= h >>> 15;
    const slot = h & this.mask;
    const cached = this.names[slot];
    if (cached !== undefined && this.keys[slot] === key) return cached;
    this.keys[slot] = key;
    return (this.names[slot] = formatIPv4(buf, off));
  }
}

const words = new Uint16Array(8);

/**
 * RFC 5952 text of the sixteen bytes at `off`: lower-case hex, leading zeros
 * dropped, the longest run (first one on a tie) of two or more zero words
 * written as `::`. Like glibc's inet_ntop (which tshark uses), an address whose
 * first 80 bits are zero and whose next 16 are ffff (IPv4-mapped) or zero
 * (IPv4-compatible, when word 6 is non-zero) ends in a dotted quad.
 */
export function formatIPv6(buf: Uint8Array, off: number): string {
  let bestStart = -1;
  let bestLen = 0;
  let runStart = -1;
  for (let i = 0; i < 8; i++) {
    const w = (buf[off + 2 * i] << 8) | buf[off + 2 * i + 1];
    words[i] = w;
    if (w === 0) {
      if (runStart < 0) runStart = i;
      const len = i - runStart + 1;
      if (len > bestLen) {
        bestLen = len;
        bestStart = runStart;
      }
    } else {
      runStart = -1;
    }
  }
  if (bestLen < 2) bestStart = -1;
  let at = 0;
  if (bestStart === 0 && (bestLen === 6 || (bestLen === 5 && words[5] === 0xffff))) {
    // IPv4-compatible and IPv4-mapped addresses end in a dotted quad
    at = text.write(bestLen === 5 ? '::ffff:' : '::', 0, 'latin1');
    return text.latin1Slice(0, putIPv4(buf, off + 12, at));
  }
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      text[at++] = 0x3a;
      text[at++] = 0x3a;
      i += bestLen - 1;
      continue;
    }
    if (i > 0 && i !== bestStart + bestLen) text[at++] = 0x3a;
    at = putHex16(words[i], at);
  }
  return text.latin1Slice(0, at);
}

/**
 * Formatting IPv6 text costs far more than comparing 16 bytes, and the same
 * few thousand addresses recur, so texts are kept in a direct-mapped cache:
 * the address hashes to one slot, which holds the last address seen there.
 * Fixed size, no allocation on a hit.
 */
export class IPv6Names {
  private readonly keys: Int32Array;
  private readonly names: Array<string | undefined>;
  private readonly mask: number;
  constructor(slots = 4096) {
    if (slots & (slots - 1)) throw new RangeError('IPv6Names: slots must be a power of two');
    this.keys = new Int32Array(slots * 4);
    this.names = new Array<string | undefined>(slots).fill(undefined);
    this.mask = slots - 1;
  }

  name(buf: Uint8Array, off: number): string {
    const a = (buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3];
    const b = (buf[off + 4] << 24) | (buf[off + 5] << 16) | (buf[off + 6] << 8) | buf[off + 7];
    const c = (buf[off + 8] << 24) | (buf[off + 9] << 16) | (buf[off + 10] << 8) | buf[off + 11];
    const d = (buf[off + 12] << 24) | (buf[off + 13] << 16) | (buf[off + 14] << 8) | buf[off + 15];
    let h = Math.imul(a ^ (b >>> 7), 0x9e3779b1) ^ Math.imul(c ^ (d >>> 11), 0x85ebca6b) ^ d;
    h ^= h >>> 15;
    const slot = h & this.mask;
    const k = slot << 2;
    const keys = this.keys;
    const cached = this.names[slot];
    if (cached !== undefined && keys[k] === a && keys[k + 1] === b && keys[k + 2] === c && keys[k + 3] === d) return cached;
    keys[k] = a;
    keys[k + 1] = b;
    keys[k + 2] = c;
    keys[k + 3] = d;
    return (this.names[slot] = formatIPv6(buf, off));
  }
}
