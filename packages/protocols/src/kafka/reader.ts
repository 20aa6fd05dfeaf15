/**
 * Cursor over one Kafka message (already framed, so bounded). `flexible`
 * switches strings, bytes and arrays to their compact forms (unsigned varint
 * length + 1) the way KIP-482 versions do.
 */

import { sequential } from '@panopticon/events';

export class KafkaRangeError extends Error {}

export class KafkaReader {
  off: number;

  constructor(
    readonly buf: Buffer,
    off = 0,
    public flexible = false,
  ) {
    this.off = off;
  }

  get remaining(): number {
    return this.buf.length - this.off;
  }

  private need(n: number): void {
    if (n < 0 || this.off < 0 || this.off + n > this.buf.length) throw new KafkaRangeError(`need ${n} bytes at offset ${this.off}, have ${this.buf.length - this.off}`);
  }

  int8(): number {
    this.need(1);
    return this.buf.readInt8(this.off++);
  }

  int16(): number {
    this.need(2);
    const v = this.buf.readInt16BE(this.off);
    this.off += 2;
    return v;
  }

  int32(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.off);
    this.off += 4;
    return v;
  }

  uint32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.off);
    this.off += 4;
    return v;
  }

  int64(): bigint {
    this.need(8);
    const v = this.buf.readBigInt64BE(this.off);
    this.off += 8;
    return v;
  }

  bool(): boolean {
    return this.int8() !== 0;
  }

  uuid(): string {
    this.need(16);
    const h = this.buf.toString('hex', this.off, this.off + 16);
    this.off += 16;
    return sequential(`${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`);
  }

  uvarint(): number {
    let v = 0;
    let shift = 0;
    for (;;) {
      this.need(1);
      const b = this.buf[this.off++]!;
      v += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return v;
      shift += 7;
      if (shift > 28) throw new KafkaRangeError(`varint longer than 5 bytes at offset ${this.off}`);
    }
  }

  /** zigzag varint (record fields) */
  varint(): number {
    const u = this.uvarint();
    return u % 2 === 0 ? u / 2 : -(u + 1) / 2;
  }

  /** zigzag varlong (record timestamps) */
  varlong(): bigint {
    let v = 0n;
    let shift = 0n;
    for (;;) {
      this.need(1);
      const b = this.buf[this.off++]!;
      v |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) break;
      shift += 7n;
      if (shift > 63n) throw new KafkaRangeError(`varlong longer than 10 bytes at offset ${this.off}`);
    }
    return (v >> 1n) ^ -(v & 1n);
  }

  /** Length of a string/bytes field; -1 is null. */
  private length(int32: boolean): number {
    if (this.flexible) return this.uvarint() - 1;
    return int32 ? this.int32() : this.int16();
  }

  string(): string | null {
    const n = this.length(false);
    if (n < 0) return null;
    this.need(n);
    const s = this.buf.toString('utf8', this.off, this.off + n);
    this.off += n;
    return s;
  }

  /** A view of the bytes (no copy). */
  bytes(): Buffer | null {
    const n = this.length(true);
    if (n < 0) return null;
    this.need(n);
    const b = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    return b;
  }

  /**
   * A bytes field that may run past the end of a message kept only in part
   * (oversized messages): what is there, and the declared length.
   */
  bytesPrefix(): { bytes: Buffer; declared: number } | null {
    const n = this.length(true);
    if (n < 0) return null;
    const take = Math.min(n, this.remaining);
    const b = this.buf.subarray(this.off, this.off + take);
    this.off += take;
    return { bytes: b, declared: n };
  }

  /** Element count of an array; -1 is null. */
  arrayLength(): number {
    const n = this.flexible ? this.uvarint() - 1 : this.int32();
    // every element takes at least one byte: a larger count is damage, not a big array
    if (n > this.remaining) throw new KafkaRangeError(`array of ${n} elements with ${this.remaining} bytes left at offset ${this.off}`);
    return n;
  }

  /** Skip a tagged-field section (flexible versions). */
  taggedFields(): void {
    if (!this.flexible) return;
    const count = this.uvarint();
    for (let i = 0; i < count; i++) {
      this.uvarint(); // tag
      const size = this.uvarint();
      this.need(size);
      this.off += size;
    }
  }

  skip(n: number): void {
    this.need(n);
    this.off += n;
  }
}
