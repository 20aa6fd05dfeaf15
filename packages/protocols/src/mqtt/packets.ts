/**
 * MQTT framing for one direction: a fixed header (type and flags in one byte,
 * then the remaining length as a variable byte integer of 1–4 bytes), then
 * that many bytes. Pushed chunks, it hands up each packet whole, read in
 * place when a chunk holds it (no copy) and kept in one buffer otherwise.
 * Only the first `hold` bytes of a packet's body are kept: PUBLISH payloads
 * may be up to 256 MiB, and what is past the payload bytes an event keeps is
 * only counted.
 *
 * Joined mid-stream (or after damage or a gap), it looks for a packet
 * boundary: a byte where a well-formed fixed header starts whose packet ends
 * where another well-formed one starts, or at the end of what arrived.
 */
import { Leftover } from '../lines.js';
import { FIXED_FLAGS, PUBLISH, PUBACK, PUBCOMP, PINGREQ, PINGRESP } from './constants.js';

export interface PacketSink {
  /**
   * A packet: its first byte, the kept prefix of its body (all of it unless
   * `length` is larger), the body's length, and the times of its first and last bytes.
   */
  packet(first: number, body: Buffer, length: number, startNs: bigint, endNs: bigint): void;
  /** The framing is broken here (a bad fixed header); bytes are skipped until a boundary is found. */
  damaged(reason: string): void;
  /** Bytes passed over while looking for a boundary. */
  skipped(bytes: number): void;
}

/** The largest remaining length MQTT can express (4 bytes of 7 bits). */
export const MAX_REMAINING = 268_435_455;
/** Bytes looked through for a packet boundary before the rest is only counted. */
const MAX_SYNC_SCAN = 64 * 1024;

/** Fixed-header check: a type, flags this type allows, and the offset after the remaining length (or -1 bad, -2 more). */
export function fixedHeader(buf: Buffer, off: number, end: number): { next: number; length: number } | -1 | -2 {
  if (off >= end) return -2;
  const first = buf[off]!;
  const type = first >> 4;
  const flags = first & 0x0f;
  const want = FIXED_FLAGS[type]!;
  if (want === -2) return -1;
  if (want === -1) {
    if ((flags & 0x06) === 0x06) return -1; // QoS 3
  } else if (flags !== want) return -1;
  let length = 0;
  let mult = 1;
  for (let i = 1; i <= 4; i++) {
    if (off + i >= end) return -2;
    const b = buf[off + i]!;
    length += (b & 0x7f) * mult;
    if ((b & 0x80) === 0) return { next: off + i + 1, length };
    mult *= 128;
  }
  return -1;
}

/** The body length a packet of this type may have: PUBACK..PUBCOMP at least 2, PINGs none, PUBLISH room for its topic length. */
function plausibleLength(buf: Buffer, first: number, next: number, length: number, end: number): boolean {
  const type = first >> 4;
  if (type === PINGREQ || type === PINGRESP) return length === 0;
  if (type >= PUBACK && type <= PUBCOMP) return length >= 2 && length < 256;
  if (type === PUBLISH) {
    if (length < 2) return false;
    if (next + 2 > end) return true;
    const topicLen = buf.readUInt16BE(next);
    return topicLen + 2 + ((first & 0x06) !== 0 ? 2 : 0) <= length;
  }
  return length >= 0;
}

export class MqttPacketReader {
  private readonly leftover = new Leftover();
  /** A packet whose body is being kept across chunks. */
  private first = 0;
  private length = 0;
  private got = 0;
  private held: Buffer | null = null;
  private heldLen = 0;
  private startNs = 0n;
  private collecting = false;
  /** Looking for a packet boundary (mid-stream start, damage, gap). */
  syncing = false;
  private scanned = 0;

  constructor(
    private readonly sink: PacketSink,
    /** Body bytes kept per packet. */
    private readonly hold: number,
  ) {}

  push(chunk: Buffer, tsNs: bigint): void {
    const buf = this.leftover.join(chunk);
    let off = 0;
    const end = buf.length;
    while (off < end) {
      if (this.collecting) {
        off = this.collect(buf, off, tsNs);
        continue;
      }
      if (this.syncing) {
        off = this.sync(buf, off);
        if (this.syncing) return;
        continue;
      }
      const h = fixedHeader(buf, off, end);
      if (h === -2) {
        this.leftover.keep(buf, off);
        return;
      }
      if (h === -1) {
        this.sink.damaged(`bad fixed header 0x${buf[off]!.toString(16).padStart(2, '0')}`);
        this.syncing = true;
        this.scanned = 0;
        continue;
      }
      const first = buf[off]!;
      if (h.next + h.length <= end) {
        // whole in this chunk: read in place
        const body = buf.subarray(h.next, h.next + Math.min(h.length, this.hold));
        off = h.next + h.length;
        this.sink.packet(first, body, h.length, tsNs, tsNs);
        continue;
      }
      this.first = first;
      this.length = h.length;
      this.got = 0;
      this.heldLen = 0;
      this.held = Buffer.allocUnsafe(Math.min(h.length, this.hold));
      this.startNs = tsNs;
      this.collecting = true;
      off = h.next;
    }
  }

  /** Bytes of a packet spread over chunks: the first `hold` kept, the rest counted. */
  private collect(buf: Buffer, off: number, tsNs: bigint): number {
    const take = Math.min(this.length - this.got, buf.length - off);
    const room = this.held!.length - this.heldLen;
    if (room > 0) this.heldLen += buf.copy(this.held!, this.heldLen, off, off + Math.min(room, take));
    this.got += take;
    off += take;
    if (this.got === this.length) {
      const body = this.held!.subarray(0, this.heldLen);
      this.held = null;
      this.collecting = false;
      this.sink.packet(this.first, body, this.length, this.startNs, tsNs);
    }
    return off;
  }

  /** Forget the packet in progress and any leftover; look for a boundary in what comes next. */
  resync(): void {
    this.leftover.clear();
    this.collecting = false;
    this.held = null;
    this.syncing = true;
    this.scanned = 0;
  }

  /**
   * The offset of the first packet boundary at or after `off`, leaving
   * `syncing` false once one is found. A candidate whose packet runs past the
   * data is kept as leftover until it can be checked.
   */
  private sync(buf: Buffer, off: number): number {
    const end = buf.length;
    const from = off;
    for (; off < end; off++) {
      if (this.scanned + (off - from) > MAX_SYNC_SCAN) {
        // nothing that frames: the rest of this direction is only counted
        this.sink.skipped(end - from);
        return end;
      }
      const h = fixedHeader(buf, off, end);
      if (h === -1) continue;
      if (h === -2) break;
      if (!plausibleLength(buf, buf[off]!, h.next, h.length, end)) continue;
      const after = h.next + h.length;
      if (after > end) {
        if (after - off > this.hold) continue; // too long to wait for: not believed
        break;
      }
      if (after < end) {
        const n = fixedHeader(buf, after, end);
        if (n === -1) continue;
        if (n !== -2 && !plausibleLength(buf, buf[after]!, n.next, n.length, end)) continue;
      }
      if (off > from) this.sink.skipped(off - from);
      this.syncing = false;
      return off;
    }
    if (off > from) this.sink.skipped(off - from);
    this.scanned += off - from;
    if (off < end) this.leftover.keep(buf, off);
    return end;
  }
}
