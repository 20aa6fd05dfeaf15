/**
 * HPACK Huffman code (RFC 7541 Appendix B), decoder and encoder.
 *
 * The table is the RFC's, typed in as [code, bit length] per symbol 0..256
 * (256 is EOS). The code is canonical, so decoding needs only the lengths:
 * a 9-bit lookup table resolves the short (common) codes in one step, and the
 * canonical first-code-per-length arrays resolve the rest.
 */

// prettier-ignore
export const HUFFMAN_CODES: ReadonlyArray<readonly [number, number]> = [
  [0x1ff8, 13], [0x7fffd8, 23], [0xfffffe2, 28], [0xfffffe3, 28], [0xfffffe4, 28], [0xfffffe5, 28],
  [0xfffffe6, 28], [0xfffffe7, 28], [0xfffffe8, 28], [0xffffea, 24], [0x3ffffffc, 30], [0xfffffe9, 28],
  [0xfffffea, 28], [0x3ffffffd, 30], [0xfffffeb, 28], [0xfffffec, 28], [0xfffffed, 28], [0xfffffee, 28],
  [0xfffffef, 28], [0xffffff0, 28], [0xffffff1, 28], [0xffffff2, 28], [0x3ffffffe, 30], [0xffffff3, 28],
  [0xffffff4, 28], [0xffffff5, 28], [0xffffff6, 28], [0xffffff7, 28], [0xffffff8, 28], [0xffffff9, 28],
  [0xffffffa, 28], [0xffffffb, 28],
  // 32 ' ' .. 47 '/'
  [0x14, 6], [0x3f8, 10], [0x3f9, 10], [0xffa, 12], [0x1ff9, 13], [0x15, 6], [0xf8, 8], [0x7fa, 11],
  [0x3fa, 10], [0x3fb, 10], [0xf9, 8], [0x7fb, 11], [0xfa, 8], [0x16, 6], [0x17, 6], [0x18, 6],
  // 48 '0' .. 63 '?'
  [0x0, 5], [0x1, 5], [0x2, 5], [0x19, 6], [0x1a, 6], [0x1b, 6], [0x1c, 6], [0x1d, 6],
  [0x1e, 6], [0x1f, 6], [0x5c, 7], [0xfb, 8], [0x7ffc, 15], [0x20, 6], [0xffb, 12], [0x3fc, 10],
  // 64 '@' .. 79 'O'
  [0x1ffa, 13], [0x21, 6], [0x5d, 7], [0x5e, 7], [0x5f, 7], [0x60, 7], [0x61, 7], [0x62, 7],
  [0x63, 7], [0x64, 7], [0x65, 7], [0x66, 7], [0x67, 7], [0x68, 7], [0x69, 7], [0x6a, 7],
  // 80 'P' .. 95 '_'
  [0x6b, 7], [0x6c, 7], [0x6d, 7], [0x6e, 7], [0x6f, 7], [0x70, 7], [0x71, 7], [0x72, 7],
  [0xfc, 8], [0x73, 7], [0xfd, 8], [0x1ffb, 13], [0x7fff0, 19], [0x1ffc, 13], [0x3ffc, 14], [0x22, 6],
  // 96 '`' .. 111 'o'
  [0x7ffd, 15], [0x3, 5], [0x23, 6], [0x4, 5], [0x24, 6], [0x5, 5], [0x25, 6], [0x26, 6],
  [0x27, 6], [0x6, 5], [0x74, 7], [0x75, 7], [0x28, 6], [0x29, 6], [0x2a, 6], [0x7, 5],
  // 112 'p' .. 127
  [0x2b, 6], [0x76, 7], [0x2c, 6], [0x8, 5], [0x9, 5], [0x2d, 6], [0x77, 7], [0x78, 7],
  [0x79, 7], [0x7a, 7], [0x7b, 7], [0x7ffe, 15], [0x7fc, 11], [0x3ffd, 14], [0x1ffd, 13], [0xffffffc, 28],
  // 128 .. 143
  [0xfffe6, 20], [0x3fffd2, 22], [0xfffe7, 20], [0xfffe8, 20], [0x3fffd3, 22], [0x3fffd4, 22], [0x3fffd5, 22], [0x7fffd9, 23],
  [0x3fffd6, 22], [0x7fffda, 23], [0x7fffdb, 23], [0x7fffdc, 23], [0x7fffdd, 23], [0x7fffde, 23], [0xffffeb, 24], [0x7fffdf, 23],
  // 144 .. 159
  [0xffffec, 24], [0xffffed, 24], [0x3fffd7, 22], [0x7fffe0, 23], [0xffffee, 24], [0x7fffe1, 23], [0x7fffe2, 23], [0x7fffe3, 23],
  [0x7fffe4, 23], [0x1fffdc, 21], [0x3fffd8, 22], [0x7fffe5, 23], [0x3fffd9, 22], [0x7fffe6, 23], [0x7fffe7, 23], [0xffffef, 24],
  // 160 .. 175
  [0x3fffda, 22], [0x1fffdd, 21], [0xfffe9, 20], [0x3fffdb, 22], [0x3fffdc, 22], [0x7fffe8, 23], [0x7fffe9, 23], [0x1fffde, 21],
  [0x7fffea, 23], [0x3fffdd, 22], [0x3fffde, 22], [0xfffff0, 24], [0x1fffdf, 21], [0x3fffdf, 22], [0x7fffeb, 23], [0x7fffec, 23],
  // 176 .. 191
  [0x1fffe0, 21], [0x1fffe1, 21], [0x3fffe0, 22], [0x1fffe2, 21], [0x7fffed, 23], [0x3fffe1, 22], [0x7fffee, 23], [0x7fffef, 23],
  [0xfffea, 20], [0x3fffe2, 22], [0x3fffe3, 22], [0x3fffe4, 22], [0x7ffff0, 23], [0x3fffe5, 22], [0x3fffe6, 22], [0x7ffff1, 23],
  // 192 .. 207
  [0x3ffffe0, 26], [0x3ffffe1, 26], [0xfffeb, 20], [0x7fff1, 19], [0x3fffe7, 22], [0x7ffff2, 23], [0x3fffe8, 22], [0x1ffffec, 25],
  [0x3ffffe2, 26], [0x3ffffe3, 26], [0x3ffffe4, 26], [0x7ffffde, 27], [0x7ffffdf, 27], [0x3ffffe5, 26], [0xfffff1, 24], [0x1ffffed, 25],
  // 208 .. 223
  [0x7fff2, 19], [0x1fffe3, 21], [0x3ffffe6, 26], [0x7ffffe0, 27], [0x7ffffe1, 27], [0x3ffffe7, 26], [0x7ffffe2, 27], [0xfffff2, 24],
  [0x1fffe4, 21], [0x1fffe5, 21], [0x3ffffe8, 26], [0x3ffffe9, 26], [0xffffffd, 28], [0x7ffffe3, 27], [0x7ffffe4, 27], [0x7ffffe5, 27],
  // 224 .. 239
  [0xfffec, 20], [0xfffff3, 24], [0xfffed, 20], [0x1fffe6, 21], [0x3fffe9, 22], [0x1fffe7, 21], [0x1fffe8, 21], [0x7ffff3, 23],
  [0x3fffea, 22], [0x3fffeb, 22], [0x1ffffee, 25], [0x1ffffef, 25], [0xfffff4, 24], [0xfffff5, 24], [0x3ffffea, 26], [0x7ffff4, 23],
  // 240 .. 255
  [0x3ffffeb, 26], [0x7ffffe6, 27], [0x3ffffec, 26], [0x3ffffed, 26], [0x7ffffe7, 27], [0x7ffffe8, 27], [0x7ffffe9, 27], [0x7ffffea, 27],
  [0x7ffffeb, 27], [0xffffffe, 28], [0x7ffffec, 27], [0x7ffffed, 27], [0x7ffffee, 27], [0x7ffffef, 27], [0x7fffff0, 27], [0x3ffffee, 26],
  // 256 EOS
  [0x3fffffff, 30],
];

export const EOS = 256;
const MAX_BITS = 30;
const FAST_BITS = 9;

export class HuffmanError extends Error {}

/** Canonical decoding tables, built once from the code lengths. */
const firstCode = new Int32Array(MAX_BITS + 2);
const firstIndex = new Int32Array(MAX_BITS + 2);
const countPerLength = new Int32Array(MAX_BITS + 2);
const symbolsByCode: number[] = [];
/** For each FAST_BITS-bit prefix: symbol << 5 | length, or -1 when the code is longer. */
const fast = new Int32Array(1 << FAST_BITS).fill(-1);

(function build() {
  for (const [, len] of HUFFMAN_CODES) countPerLength[len]++;
  const order = HUFFMAN_CODES.map((c, sym) => ({ sym, code: c[0], len: c[1] })).sort((a, b) => a.len - b.len || a.code - b.code);
  for (const e of order) symbolsByCode.push(e.sym);
  let idx = 0;
  for (let len = 1; len <= MAX_BITS; len++) {
    firstIndex[len] = idx;
    firstCode[len] = countPerLength[len] ? order[idx].code : 0;
    idx += countPerLength[len];
  }
  for (const e of order) {
    if (e.len > FAST_BITS) break;
    const shift = FAST_BITS - e.len;
    const base = e.code << shift;
    for (let i = 0; i < 1 << shift; i++) fast[base + i] = (e.sym << 5) | e.len;
  }
})();

/**
 * Decodes `length` Huffman-coded bytes at `offset` to a latin1 string (header
 * values are octets; latin1 keeps them one-to-one). Throws HuffmanError on EOS,
 * on padding longer than 7 bits, or padding that is not the EOS prefix (§5.2).
 */
export function huffmanDecode(buf: Buffer, offset: number, length: number): string {
  // Each symbol is at least 5 bits.
  const max = Math.ceil((length * 8) / 5);
  if (scratch.length < max) scratch = Buffer.allocUnsafe(Math.max(max, scratch.length * 2)) as Latin1Buffer;
  const out = scratch;
  let n = 0;
  // Bit window: integer operations while it holds ≤ 32 bits (the fast path,
  // codes ≤ FAST_BITS); the rare long codes refill past 32 bits with double
  // arithmetic (≤ 38 bits, exact) and leave ≤ 28 bits behind.
  let acc = 0;
  let bits = 0;
  let pos = offset;
  const end = offset + length;
  for (;;) {
    while (bits <= 24 && pos < end) {
      acc = ((acc << 8) | buf[pos++]) >>> 0;
      bits += 8;
    }
    if (bits === 0) break;
    if (bits >= FAST_BITS) {
      const hit = fast[(acc >>> (bits - FAST_BITS)) & ((1 << FAST_BITS) - 1)];
      if (hit >= 0) {
        out[n++] = hit >> 5;
        bits -= hit & 31;
        acc = (acc & ((1 << bits) - 1)) >>> 0;
        continue;
      }
    }
    // Slow path: walk the canonical lengths.
    while (bits < MAX_BITS && pos < end) {
      acc = acc * 256 + buf[pos++];
      bits += 8;
    }
    let code = 0;
    let len = 0;
    let sym = -1;
    while (len < bits) {
      len++;
      code = Math.floor(acc / 2 ** (bits - len)) & 0x7fffffff;
      const rel = code - firstCode[len];
      if (countPerLength[len] && rel >= 0 && rel < countPerLength[len]) {
        sym = symbolsByCode[firstIndex[len] + rel];
        break;
      }
    }
    if (sym < 0) {
      // What remains is shorter than any code: it must be padding, at most 7 one-bits.
      if (bits > 7 || acc !== 2 ** bits - 1) throw new HuffmanError('invalid Huffman padding');
      break;
    }
    if (sym === EOS) throw new HuffmanError('EOS symbol inside a Huffman string');
    out[n++] = sym;
    bits -= len;
    acc = acc % 2 ** bits;
  }
  return out.latin1Slice(0, n);
}

/** Buffer#latin1Slice (not in Node's typings): the text without `toString`'s encoding dispatch. */
type Latin1Buffer = Buffer & { latin1Slice(start: number, end: number): string };
/** Output of `huffmanDecode`, reused (grown when a longer string comes): no buffer per header string. */
let scratch = Buffer.allocUnsafe(4096) as Latin1Buffer;

/** Huffman-encodes a latin1 string (used to build test data and benchmark captures). */
export function huffmanEncode(s: string): Buffer {
  const bytes = Buffer.from(s, 'latin1');
  let totalBits = 0;
  for (const b of bytes) totalBits += HUFFMAN_CODES[b][1];
  const out = Buffer.alloc(Math.ceil(totalBits / 8));
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (const b of bytes) {
    const [code, len] = HUFFMAN_CODES[b];
    acc = acc * 2 ** len + code;
    bits += len;
    while (bits >= 8) {
      bits -= 8;
      out[o++] = Math.floor(acc / 2 ** bits) & 0xff;
      acc = acc % 2 ** bits;
    }
  }
  if (bits > 0) out[o++] = ((acc << (8 - bits)) | ((1 << (8 - bits)) - 1)) & 0xff;
  return out;
}

export function huffmanEncodedLength(s: string): number {
  let totalBits = 0;
  for (let i = 0; i < s.length; i++) totalBits += HUFFMAN_CODES[s.charCodeAt(i) & 0xff][1];
  return Math.ceil(totalBits / 8);
}
