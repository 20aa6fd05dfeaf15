/**
 * Enhanced Packet Blocks straight from kernel records into large output
 * chunks: one copy of the packet bytes, no per-packet allocation but the
 * returned view, and 64-bit timestamps added as two 32-bit halves instead of
 * BigInts. The bytes are exactly what PcapngWriter.enhancedPacket writes for
 * a nanosecond-resolution interface with epb_flags (a test holds them equal).
 */
import { MAX_SNAPLEN, RECORD, VLAN_OFFSET, VLAN_TAG_LEN } from './layout.js';

const BLOCK_EPB = 6;
const EPB_FLAGS = 2;
const CHUNK = 1 << 20;
const TWO32 = 0x100000000;

export class EpbEncoder {
  private chunk = Buffer.allocUnsafeSlow(CHUNK);
  private used = 0;
  /** Wall-clock time of the last block, ns, as a double (ordering only). */
  lastTs = 0;

  /** `snaplen`: the interfaces' snap length, which a frame with its VLAN tag put back must not pass. */
  constructor(private readonly snaplen = MAX_SNAPLEN) {}

  /**
   * Encodes kernel record `rec` (header + packet) as an EPB of interface
   * `interfaceId`, with `offHi:offLo` (REALTIME - MONOTONIC, ns, as u32 halves)
   * added to its monotonic timestamp. The returned view stays valid: chunks
   * are never reused.
   */
  encode(rec: Buffer, interfaceId: number, offHi: number, offLo: number): Buffer {
    const recLen = rec.readUInt32LE(RECORD.CAP_LEN);
    let capLen = recLen;
    let origLen = rec.readUInt32LE(RECORD.ORIG_LEN);
    // A VLAN tag the kernel held outside the bytes goes back after the MAC addresses, as libpcap
    // puts it back (and, like libpcap, only when the bytes reach that far); the snap length still holds.
    const tagged = rec[RECORD.VLAN_PRESENT] !== 0 && recLen >= VLAN_OFFSET;
    if (tagged) {
      capLen = Math.min(recLen + VLAN_TAG_LEN, this.snaplen);
      origLen += VLAN_TAG_LEN;
    }
    const padded = (capLen + 3) & ~3;
    const total = 28 + padded + 12 + 4; // header, data, epb_flags + opt_endofopt, trailing length
    if (this.used + total > this.chunk.length) {
      this.chunk = Buffer.allocUnsafeSlow(Math.max(CHUNK, total));
      this.used = 0;
    }
    const b = this.chunk;
    const at = this.used;
    let lo = rec.readUInt32LE(RECORD.TS_NS) + offLo;
    let hi = rec.readUInt32LE(RECORD.TS_NS + 4) + offHi;
    if (lo >= TWO32) {
      lo -= TWO32;
      hi += 1;
    }
    this.lastTs = hi * TWO32 + lo;
    b.writeUInt32LE(BLOCK_EPB, at);
    b.writeUInt32LE(total, at + 4);
    b.writeUInt32LE(interfaceId, at + 8);
    b.writeUInt32LE(hi >>> 0, at + 12);
    b.writeUInt32LE(lo, at + 16);
    b.writeUInt32LE(capLen, at + 20);
    b.writeUInt32LE(origLen, at + 24);
    if (tagged) {
      rec.copy(b, at + 28, RECORD.SIZE, RECORD.SIZE + VLAN_OFFSET);
      const tag = at + 28 + VLAN_OFFSET;
      b[tag] = rec[RECORD.VLAN_PROTO]; // network order already
      b[tag + 1] = rec[RECORD.VLAN_PROTO + 1];
      b.writeUInt16BE(rec.readUInt16LE(RECORD.VLAN_TCI), tag + 2);
      rec.copy(b, tag + VLAN_TAG_LEN, RECORD.SIZE + VLAN_OFFSET, RECORD.SIZE + capLen - VLAN_TAG_LEN);
    } else {
      rec.copy(b, at + 28, RECORD.SIZE, RECORD.SIZE + capLen);
    }
    let o = at + 28 + capLen;
    while (o < at + 28 + padded) b[o++] = 0;
    b.writeUInt16LE(EPB_FLAGS, o);
    b.writeUInt16LE(4, o + 2);
    b.writeUInt32LE(rec[RECORD.DIRECTION], o + 4);
    b.writeUInt32LE(0, o + 8); // opt_endofopt
    b.writeUInt32LE(total, o + 12);
    this.used = at + total;
    return b.subarray(at, at + total);
  }
}

/** Splits a non-negative 64-bit offset into u32 halves for EpbEncoder.encode. */
export function splitOffset(offset: bigint): [number, number] {
  if (offset < 0n) return [0, 0];
  return [Number(offset >> 32n), Number(offset & 0xffffffffn)];
}
