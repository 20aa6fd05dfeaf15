/**
 * Framing of memcached's binary protocol for one direction: a 24-byte header
 * (magic, opcode, key length, extras length, data type, vbucket or status,
 * total body length, opaque, CAS), then the body: extras, key, value. The
 * header is checked (magic, lengths that add up); the body's first `hold`
 * bytes are kept and the rest counted. A bad header is damage: the rest of
 * this direction is only counted, since the framing has no marker to find
 * the next header by.
 */
import { BINARY_HEADER, REQUEST_MAGIC, RESPONSE_MAGIC } from './constants.js';

export interface BinaryPacket {
  magic: number;
  opcode: number;
  keyLength: number;
  extrasLength: number;
  /** vbucket id (requests) or status (responses). */
  status: number;
  totalBody: number;
  opaque: number;
  cas: bigint;
  /** The kept body: extras, key and the value's first bytes. */
  body: Buffer;
  startNs: bigint;
  endNs: bigint;
}

export interface BinarySink {
  packet(p: BinaryPacket): void;
  damaged(reason: string): void;
  skipped(bytes: number): void;
}

/** A header that frames: the magic, and extras and key within the body. */
export function plausibleHeader(buf: Buffer, off: number): boolean {
  const magic = buf[off]!;
  if (magic !== REQUEST_MAGIC && magic !== RESPONSE_MAGIC) return false;
  const keyLength = buf.readUInt16BE(off + 2);
  const extras = buf[off + 4]!;
  const dataType = buf[off + 5]!;
  const total = buf.readUInt32BE(off + 8);
  return dataType === 0 && extras + keyLength <= total && keyLength <= 250 && extras <= 20;
}

export class BinaryReader {
  private header = Buffer.alloc(BINARY_HEADER);
  private headerLen = 0;
  private packetInProgress: BinaryPacket | null = null;
  private remaining = 0;
  private held: Buffer | null = null;
  private heldLen = 0;
  /** The framing was lost: everything else is counted. */
  broken = false;

  constructor(
    private readonly sink: BinarySink,
    private readonly hold: number,
  ) {}

  push(chunk: Buffer, tsNs: bigint): void {
    let off = 0;
    const end = chunk.length;
    while (off < end) {
      if (this.broken) {
        this.sink.skipped(end - off);
        return;
      }
      if (this.packetInProgress) {
        off = this.bodyBytes(chunk, off, tsNs);
        continue;
      }
      const take = Math.min(BINARY_HEADER - this.headerLen, end - off);
      chunk.copy(this.header, this.headerLen, off, off + take);
      this.headerLen += take;
      off += take;
      if (this.headerLen < BINARY_HEADER) return;
      this.headerLen = 0;
      const h = this.header;
      if (!plausibleHeader(h, 0)) {
        this.sink.damaged(`bad binary header (magic 0x${h[0]!.toString(16)})`);
        this.broken = true;
        continue;
      }
      const total = h.readUInt32BE(8);
      this.packetInProgress = {
        magic: h[0]!, opcode: h[1]!, keyLength: h.readUInt16BE(2), extrasLength: h[4]!, status: h.readUInt16BE(6),
        totalBody: total, opaque: h.readUInt32BE(12), cas: h.readBigUInt64BE(16), body: EMPTY, startNs: tsNs, endNs: tsNs,
      };
      this.remaining = total;
      this.held = total > 0 ? Buffer.allocUnsafe(Math.min(total, this.hold)) : null;
      this.heldLen = 0;
      if (total === 0) this.finish(tsNs);
    }
  }

  private bodyBytes(buf: Buffer, off: number, tsNs: bigint): number {
    const take = Math.min(this.remaining, buf.length - off);
    const room = (this.held?.length ?? 0) - this.heldLen;
    if (room > 0) this.heldLen += buf.copy(this.held!, this.heldLen, off, off + Math.min(room, take));
    this.remaining -= take;
    if (this.remaining === 0) this.finish(tsNs);
    return off + take;
  }

  private finish(tsNs: bigint): void {
    const p = this.packetInProgress!;
    p.body = this.held ? this.held.subarray(0, this.heldLen) : EMPTY;
    p.endNs = tsNs;
    this.packetInProgress = null;
    this.held = null;
    this.sink.packet(p);
  }

  /** A gap: the framing cannot be found again. */
  lose(): void {
    this.broken = true;
    this.packetInProgress = null;
    this.held = null;
  }
}

const EMPTY = Buffer.alloc(0);
