/**
 * Push-based reader for classic pcap and pcapng streams.
 *
 * Chunks are pushed as they arrive; complete records are decoded in place and
 * handed to synchronous callbacks. Only a record that straddles two chunks is
 * copied (once, into a fresh buffer of exactly its size), so `Packet.data` is
 * always a view into memory that nobody writes to again. A consumer that
 * decodes each packet at once can take it as a reused `FrameRef` instead
 * (`onFrame`): no object and no Buffer view per packet.
 *
 * Damage inside the stream never throws: it is reported as a warning with the
 * byte offset, the reader scans forward (bounded) for the next record that
 * frames correctly, and the skipped bytes are counted. The only exception is
 * an input whose first bytes are not a pcap or pcapng magic at all.
 */
import { interfaceKey } from './types.js';
import type {
  CustomBlock,
  DecryptionSecrets,
  FrameRef,
  InterfaceInfo,
  InterfaceStatistics,
  Packet,
  ReaderStats,
  ReaderWarning,
} from './types.js';

export interface CaptureHandlers {
  onPacket?(p: Packet): void;
  /**
   * Called instead of `onPacket` when given: the packet where it sits in the
   * input, in one record the reader reuses for every packet (valid during
   * the call only).
   */
  onFrame?(f: FrameRef): void;
  onInterface?(i: InterfaceInfo): void;
  onStatistics?(s: InterfaceStatistics): void;
  onCustom?(b: CustomBlock): void;
  /** A pcapng Decryption Secrets Block (`type` SECRETS_TLS_KEY_LOG: NSS key log text), where it sits among the packets. */
  onSecrets?(s: DecryptionSecrets): void;
  onWarning?(w: ReaderWarning): void;
}

export interface ReaderOptions {
  /** Largest block or record accepted; anything claiming more is damage. Default 256 MiB. */
  maxBlockLength?: number;
  /** Bytes scanned for a plausible next record after damage before giving up. Default 16 MiB. */
  resyncLimit?: number;
}

/** The input is not a capture at all (thrown once, from the first push or from end). */
export class CaptureFormatError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
    this.name = 'CaptureFormatError';
  }
}

// Classic pcap magic numbers, as read in the writer's byte order.
const PCAP_MAGIC_MICRO = 0xa1b2c3d4;
const PCAP_MAGIC_NANO = 0xa1b23c4d;
// Alexey Kuznetsov's patched libpcap: 8 more bytes per record header.
const PCAP_MAGIC_MODIFIED = 0xa1b2cd34;
const PCAP_FILE_HEADER_LENGTH = 24;
const PCAP_RECORD_HEADER_LENGTH = 16;
const PCAP_MODIFIED_RECORD_HEADER_LENGTH = 24;
// What libpcap and Wireshark allow for a packet regardless of snaplen.
const PCAP_MAX_SNAPLEN = 262144;

// pcapng block types.
const BLOCK_SHB = 0x0a0d0d0a;
const BLOCK_IDB = 0x00000001;
const BLOCK_PB = 0x00000002; // obsolete Packet Block
const BLOCK_SPB = 0x00000003;
const BLOCK_NRB = 0x00000004;
const BLOCK_ISB = 0x00000005;
const BLOCK_EPB = 0x00000006;
const BLOCK_SYSTEMD_JOURNAL = 0x00000009;
const BLOCK_DSB = 0x0000000a;
const BLOCK_CUSTOM_COPY = 0x00000bad;
const BLOCK_CUSTOM_NOCOPY = 0x40000bad;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const BYTE_ORDER_MAGIC_SWAPPED = 0x4d3c2b1a;

// Smallest legal total length per block type (header, fixed fields, trailer).
const MIN_LENGTH: Record<number, number> = {
  [BLOCK_SHB]: 28,
  [BLOCK_IDB]: 20,
  [BLOCK_PB]: 32,
  [BLOCK_SPB]: 16,
  [BLOCK_NRB]: 12,
  [BLOCK_ISB]: 24,
  [BLOCK_EPB]: 32,
  [BLOCK_SYSTEMD_JOURNAL]: 12,
  [BLOCK_DSB]: 20,
  [BLOCK_CUSTOM_COPY]: 16,
  [BLOCK_CUSTOM_NOCOPY]: 16,
};

// Option codes.
const OPT_ENDOFOPT = 0;
const OPT_COMMENT = 1;
const IF_NAME = 2;
/** shb_userappl: the application that wrote the section. */
const SHB_USERAPPL = 4;
const IF_DESCRIPTION = 3;
const IF_TSRESOL = 9;
const IF_TSOFFSET = 14;
const EPB_FLAGS = 2; // also pack_flags of the obsolete Packet Block
const ISB_STARTTIME = 2;
const ISB_ENDTIME = 3;
const ISB_IFRECV = 4;
const ISB_IFDROP = 5;
const ISB_FILTERACCEPT = 6;
const ISB_OSDROP = 7;
const ISB_USRDELIV = 8;

const DEFAULT_MAX_BLOCK = 256 * 1024 * 1024;
const DEFAULT_RESYNC_LIMIT = 16 * 1024 * 1024;
// A resync candidate must be complete to be checked; a bigger claim is not believed.
const RESYNC_MAX_CANDIDATE = 1024 * 1024;
// Consecutive records of one capture are rarely further apart than this.
const RESYNC_MAX_TIME_GAP_SECONDS = 7 * 86400;

const MODE_DETECT = 0;
const MODE_PCAP = 1;
const MODE_PCAPNG = 2;
const MODE_STOPPED = 3;

const TS_MULTIPLY = 0;
const TS_DIVIDE = 1;
const TS_POW2 = 2;

/** Per-interface timestamp conversion, precomputed when the IDB is read. */
class Interface {
  readonly kind: number;
  readonly factor: bigint; // multiplier, divisor or shift, by kind
  private readonly factorNumber: number;
  readonly offsetNs: bigint;

  constructor(
    readonly info: InterfaceInfo,
    readonly key: number,
  ) {
    const { base, exponent } = info.tsResol;
    this.offsetNs = info.tsOffsetSeconds * 1_000_000_000n;
    if (base === 2) {
      this.kind = TS_POW2;
      this.factor = BigInt(exponent);
    } else if (exponent <= 9) {
      this.kind = TS_MULTIPLY;
      this.factor = 10n ** BigInt(9 - exponent);
    } else {
      this.kind = TS_DIVIDE;
      this.factor = 10n ** BigInt(exponent - 9);
    }
    this.factorNumber = Number(this.factor);
  }

  /** `high` of the last timestamp converted by multiplication, and its part of the result: (high << 32) × factor + offset. */
  private lastHigh = -1;
  private highNs = 0n;

  /** Timestamp units (high and low 32 bits) to epoch nanoseconds, rounded down. */
  toNs(high: number, low: number): bigint {
    if (this.kind === TS_MULTIPLY) {
      if (high < 0x200000) {
        // Below 2^53 the double is exact, which spares two BigInt operations.
        return BigInt(high * 4294967296 + low) * this.factor + this.offsetNs;
      }
      // Nanosecond (or finer-than-µs) stamps are past 2^53: the high word
      // changes every few seconds, so its part is kept and only the low word
      // is converted per packet.
      if (high !== this.lastHigh) {
        this.lastHigh = high;
        this.highNs = (BigInt(high) << 32n) * this.factor + this.offsetNs;
      }
      const lowUnits = low * this.factorNumber;
      return this.highNs + (lowUnits <= Number.MAX_SAFE_INTEGER ? BigInt(lowUnits) : BigInt(low) * this.factor);
    }
    const units = (BigInt(high) << 32n) | BigInt(low);
    if (this.kind === TS_MULTIPLY) return units * this.factor + this.offsetNs;
    if (this.kind === TS_DIVIDE) return units / this.factor + this.offsetNs;
    return ((units * 1_000_000_000n) >> this.factor) + this.offsetNs;
  }
}

function pad4(n: number): number {
  return (n + 3) & ~3;
}

function knownBlockType(type: number): boolean {
  return MIN_LENGTH[type] !== undefined;
}

function optionString(buf: Buffer, start: number, end: number): string {
  // Some writers include a C string terminator although the spec does not.
  while (end > start && buf[end - 1] === 0) end--;
  return buf.toString('utf8', start, end);
}

export class CaptureReader {
  private readonly handlers: CaptureHandlers;
  private readonly maxBlockLength: number;
  private readonly resyncLimit: number;

  private mode = MODE_DETECT;
  /** Stream offset of the next byte not yet consumed. */
  private offset = 0;
  private ended = false;
  private atEnd = false;

  // A record cut by a chunk boundary: views into the chunks, joined once complete.
  private restParts: Buffer[] = [];
  private restLength = 0;
  private restNeed = 0;

  // Resynchronisation after damage.
  private resyncing = false;
  private resyncFrom = 0;
  private resyncSkipped = 0;
  private resyncAfterTruncation = false;

  // Byte order of the current pcap file or pcapng section.
  private le = true;

  // Classic pcap.
  private pcapInterface: Interface | null = null;
  private pcapRecordHeader = PCAP_RECORD_HEADER_LENGTH;
  private pcapNanos = false;
  private pcapSnapLimit = PCAP_MAX_SNAPLEN;
  /**
   * Seconds of the last record believed to carry the capture's time, the
   * anchor a resynchronisation candidate's time is checked against. Records
   * without data (a zero-filled region reads as a run of 16-byte records of
   * time 0) and a lone record far from it (a flipped bit) do not move it;
   * two records with data in a row that agree do (the clock really jumped).
   */
  private lastSeconds = -1;
  /** Seconds of the last record with data, believed or not. */
  private prevSeconds = -1;

  // pcapng.
  private section = -1;
  /** shb_userappl of the current section, given to its interfaces. */
  private sectionApplication: string | undefined;
  private interfaces: Interface[] = [];
  private lastTsNs = 0n;
  private readonly frame: FrameRef = {
    interfaceKey: 0,
    linkType: 0,
    tsNs: 0n,
    capturedLength: 0,
    originalLength: 0,
    buf: Buffer.alloc(0),
    start: 0,
    end: 0,
    flags: 0,
    offset: 0,
  };

  private readonly counts: ReaderStats = {
    bytes: 0,
    packets: 0,
    blocks: 0,
    unknownBlocks: 0,
    warnings: 0,
    skippedBytes: 0,
  };

  constructor(handlers: CaptureHandlers, opts: ReaderOptions = {}) {
    this.handlers = handlers;
    this.maxBlockLength = opts.maxBlockLength ?? DEFAULT_MAX_BLOCK;
    this.resyncLimit = opts.resyncLimit ?? DEFAULT_RESYNC_LIMIT;
  }

  /** A snapshot of the counts so far. */
  get stats(): ReaderStats {
    return { ...this.counts };
  }

  /** Bytes held back for a record that continues in the next chunk (bounded by maxBlockLength). */
  get bufferedBytes(): number {
    return this.restLength;
  }

  /**
   * Feeds the next bytes of the stream. The chunk must not be modified by the
   * caller afterwards: packets are views into it.
   */
  push(chunk: Uint8Array): void {
    if (this.ended) throw new Error('CaptureReader: push() after end()');
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    this.counts.bytes += buf.length;
    if (this.mode === MODE_STOPPED) {
      this.counts.skippedBytes += buf.length;
      return;
    }
    let pos = 0;
    while (this.restLength > 0) {
      const want = this.restNeed - this.restLength;
      const avail = buf.length - pos;
      if (avail < want) {
        if (avail > 0) {
          this.restParts.push(buf.subarray(pos));
          this.restLength += avail;
        }
        return;
      }
      // While resynchronising, each byte may be a candidate that needs a whole
      // block's bytes: the rest of this chunk is joined too, so that the
      // candidates after this one are checked in place instead of each being
      // joined again (which cost a block's length, up to 1 MiB, per byte).
      const take = this.resyncing ? avail : want;
      this.restParts.push(buf.subarray(pos, pos + take));
      pos += take;
      const joined = Buffer.concat(this.restParts, this.restLength + take);
      this.restParts = [];
      this.restLength = 0;
      this.drain(joined, 0);
      if (this.mode === MODE_STOPPED) {
        this.counts.skippedBytes += buf.length - pos;
        return;
      }
    }
    if (pos < buf.length) this.drain(buf, pos);
  }

  /** Marks the end of input: reports a truncated last record and finishes. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.atEnd = true;
    if (this.mode === MODE_DETECT && this.restLength === 0 && this.counts.bytes === 0) {
      this.warn(0, 'empty input: no pcap or pcapng header');
      return;
    }
    if (this.restLength > 0) {
      const joined = Buffer.concat(this.restParts, this.restLength);
      this.restParts = [];
      this.restLength = 0;
      this.drain(joined, 0);
    }
    if (this.resyncing) {
      if (!this.resyncAfterTruncation) {
        this.warn(
          this.resyncFrom,
          `no valid record found after damage at offset ${this.resyncFrom}; skipped ${this.resyncSkipped} bytes to the end of input`,
        );
      }
      this.resyncing = false;
    }
  }

  // ---- framing -------------------------------------------------------------

  private drain(buf: Buffer, pos: number): void {
    const end = buf.length;
    while (pos < end) {
      if (this.mode === MODE_STOPPED) {
        this.counts.skippedBytes += end - pos;
        return;
      }
      const r = this.step(buf, pos, end);
      if (r < 0) {
        if (this.atEnd) {
          const n = this.truncatedAtEnd(buf, pos, end, -r);
          pos += n;
          this.offset += n;
          continue;
        }
        this.restParts = [buf.subarray(pos)];
        this.restLength = end - pos;
        this.restNeed = -r;
        return;
      }
      pos += r;
      this.offset += r;
    }
  }

  /**
   * One record at `pos`: returns the bytes consumed, 0 after a change of state
   * (call again), or minus the number of bytes needed from `pos` to proceed.
   */
  private step(buf: Buffer, pos: number, end: number): number {
    if (this.resyncing) {
      return this.mode === MODE_PCAP ? this.resyncPcap(buf, pos, end) : this.resyncPcapng(buf, pos, end);
    }
    switch (this.mode) {
      case MODE_PCAP:
        return this.pcapRecord(buf, pos, end);
      case MODE_PCAPNG:
        return this.pcapngBlock(buf, pos, end);
      default:
        return this.detect(buf, pos, end);
    }
  }

  /** The stream ended inside a record: report it, then look inside it for later records. */
  private truncatedAtEnd(buf: Buffer, pos: number, end: number, need: number): number {
    const has = end - pos;
    if (this.mode === MODE_DETECT) {
      this.warn(this.offset, `input ends after ${has} bytes, inside the file header (needs ${need} bytes)`);
      this.counts.skippedBytes += has;
      return has;
    }
    this.warn(this.offset, `truncated record at offset ${this.offset} (needs ${need} bytes, has ${has})`);
    // A damaged length field also looks like truncation; later records may still be inside.
    this.startResync(true);
    return this.skip(this.mode === MODE_PCAP ? 1 : 4, end - pos);
  }

  private startResync(afterTruncation: boolean): void {
    this.resyncing = true;
    this.resyncFrom = this.offset;
    this.resyncSkipped = 0;
    this.resyncAfterTruncation = afterTruncation;
  }

  /** Skips damaged bytes during resynchronisation; stops the reader past the limit. */
  private skip(n: number, available: number): number {
    if (n > available) n = available;
    this.resyncSkipped += n;
    this.counts.skippedBytes += n;
    if (this.resyncSkipped > this.resyncLimit) {
      this.warn(
        this.resyncFrom,
        `no valid record within ${this.resyncLimit} bytes after damage at offset ${this.resyncFrom}; reading stopped`,
      );
      this.resyncing = false;
      this.mode = MODE_STOPPED;
    }
    return n;
  }

  private resynced(): number {
    this.resyncing = false;
    {
      this.warn(
        this.offset,
        `resynchronised at offset ${this.offset} after skipping ${this.resyncSkipped} bytes from offset ${this.resyncFrom}`,
      );
    }
    return 0;
  }

  private warn(offset: number, message: string): void {
    this.counts.warnings++;
    this.handlers.onWarning?.({ offset, message });
  }

  /**
   * Callers have checked the block lies inside `buf`, so the bytes are read
   * directly: `readUInt32LE`'s own bounds checks (a JS wrapper on Node.js 26)
   * were 2.5 % of the DNS benchmark, for eight reads per packet.
   */
  private u32(buf: Buffer, o: number): number {
    return this.le
      ? (buf[o] | (buf[o + 1] << 8) | (buf[o + 2] << 16)) + buf[o + 3] * 0x1000000
      : buf[o] * 0x1000000 + ((buf[o + 1] << 16) | (buf[o + 2] << 8) | buf[o + 3]);
  }

  private u16(buf: Buffer, o: number): number {
    return this.le ? buf.readUInt16LE(o) : buf.readUInt16BE(o);
  }

  private detect(buf: Buffer, pos: number, end: number): number {
    if (end - pos < 4) return -4;
    const magic = buf.readUInt32LE(pos);
    if (magic === BLOCK_SHB) {
      this.mode = MODE_PCAPNG;
      this.counts.format = 'pcapng';
      return 0;
    }
    const asLe = magic;
    const asBe = buf.readUInt32BE(pos);
    const isPcap = (m: number) => m === PCAP_MAGIC_MICRO || m === PCAP_MAGIC_NANO || m === PCAP_MAGIC_MODIFIED;
    if (!isPcap(asLe) && !isPcap(asBe)) {
      this.mode = MODE_STOPPED;
      this.counts.skippedBytes += end - pos;
      throw new CaptureFormatError(
        `not a pcap or pcapng file (magic 0x${buf.toString('hex', pos, pos + 4)} at offset ${this.offset})`,
        this.offset,
      );
    }
    if (end - pos < PCAP_FILE_HEADER_LENGTH) return -PCAP_FILE_HEADER_LENGTH;
    this.le = isPcap(asLe);
    const m = this.le ? asLe : asBe;
    this.pcapNanos = m === PCAP_MAGIC_NANO;
    this.pcapRecordHeader = m === PCAP_MAGIC_MODIFIED ? PCAP_MODIFIED_RECORD_HEADER_LENGTH : PCAP_RECORD_HEADER_LENGTH;
    const major = this.u16(buf, pos + 4);
    const minor = this.u16(buf, pos + 6);
    if (major !== 2) this.warn(this.offset, `unexpected pcap version ${major}.${minor} at offset ${this.offset + 4}; reading as 2.4`);
    const snapLen = this.u32(buf, pos + 16);
    // Upper bits of the link type field carry FCS information, not the type.
    const linkType = this.u32(buf, pos + 20) & 0xffff;
    this.pcapSnapLimit = Math.min(this.maxBlockLength, Math.max(PCAP_MAX_SNAPLEN, snapLen * 2));
    const info: InterfaceInfo = {
      id: 0,
      section: 0,
      linkType,
      snapLen,
      offset: this.offset,
      tsResol: { base: 10, exponent: this.pcapNanos ? 9 : 6 },
      tsOffsetSeconds: 0n,
    };
    this.pcapInterface = new Interface(info, 0);
    this.mode = MODE_PCAP;
    this.counts.format = 'pcap';
    this.counts.blocks++;
    this.handlers.onInterface?.(info);
    return PCAP_FILE_HEADER_LENGTH;
  }

  // ---- classic pcap ----------------------------------------------------------

  private pcapRecord(buf: Buffer, pos: number, end: number): number {
    const hdr = this.pcapRecordHeader;
    if (end - pos < hdr) return -hdr;
    // Bytes a1 b2 (or b2 a1 at +2) open every pcap file header: two compares per record.
    if ((buf[pos + 2] === 0xb2 && buf[pos + 3] === 0xa1) || (buf[pos] === 0xa1 && buf[pos + 1] === 0xb2)) {
      const r = this.joinedPcapHeader(buf, pos, end);
      if (r <= 0) return r;
    }
    const caplen = this.u32(buf, pos + 8);
    if (caplen > this.pcapSnapLimit) {
      this.warn(
        this.offset,
        `pcap record at offset ${this.offset} claims ${caplen} captured bytes (limit ${this.pcapSnapLimit}); scanning for the next record`,
      );
      this.startResync(false);
      return this.skip(1, end - pos);
    }
    const total = hdr + caplen;
    if (end - pos < total) return -total;
    const sec = this.u32(buf, pos);
    const frac = this.u32(buf, pos + 4);
    const iface = this.pcapInterface!;
    if (caplen !== 0) {
      const d = sec - this.lastSeconds;
      if (d <= RESYNC_MAX_TIME_GAP_SECONDS && d >= -RESYNC_MAX_TIME_GAP_SECONDS) this.lastSeconds = sec;
      else if (this.lastSeconds < 0 || Math.abs(sec - this.prevSeconds) <= RESYNC_MAX_TIME_GAP_SECONDS) this.lastSeconds = sec;
      this.prevSeconds = sec;
    }
    this.counts.blocks++;
    this.counts.packets++;
    this.deliver(
      0,
      iface.info.linkType,
      BigInt(sec) * 1_000_000_000n + BigInt(this.pcapNanos ? frac : frac * 1000),
      caplen,
      this.u32(buf, pos + 12),
      buf,
      pos + hdr,
      0,
    );
    return total;
  }

  /**
   * Another pcap file's header where a record should start: files joined end
   * to end (`cat a.pcap b.pcap`, a `tcpdump -w -` restarted into the same
   * pipe). Its records follow in its own byte order, resolution and link
   * type, and their times may be far from ours, which resynchronisation
   * would never believe: so it is read as a new file (0), with a warning.
   * 1 when these bytes are not a file header, minus the bytes needed.
   */
  private joinedPcapHeader(buf: Buffer, pos: number, end: number): number {
    if (end - pos < PCAP_FILE_HEADER_LENGTH) return this.atEnd ? 1 : -PCAP_FILE_HEADER_LENGTH;
    const asLe = buf.readUInt32LE(pos);
    const asBe = buf.readUInt32BE(pos);
    const isPcap = (m: number) => m === PCAP_MAGIC_MICRO || m === PCAP_MAGIC_NANO || m === PCAP_MAGIC_MODIFIED;
    const le = isPcap(asLe);
    if (!le && !isPcap(asBe)) return 1;
    if ((le ? buf.readUInt16LE(pos + 4) : buf.readUInt16BE(pos + 4)) !== 2) return 1;
    this.warn(this.offset, `another pcap file header at offset ${this.offset} (files joined end to end); reading on as a new file`);
    this.mode = MODE_DETECT;
    this.lastSeconds = -1;
    this.prevSeconds = -1;
    return 0;
  }

  private plausiblePcapHeader(buf: Buffer, pos: number): boolean {
    const sec = this.u32(buf, pos);
    const frac = this.u32(buf, pos + 4);
    const caplen = this.u32(buf, pos + 8);
    const origlen = this.u32(buf, pos + 12);
    if (frac >= (this.pcapNanos ? 1_000_000_000 : 1_000_000)) return false;
    if (caplen > this.pcapSnapLimit || caplen > origlen || origlen > Math.max(this.pcapSnapLimit, 16 * 1024 * 1024)) {
      return false;
    }
    return this.lastSeconds < 0 || Math.abs(sec - this.lastSeconds) <= RESYNC_MAX_TIME_GAP_SECONDS;
  }

  /** A record header is believed when it is sane and so is the one after it (or the input ends right there). */
  private resyncPcap(buf: Buffer, pos: number, end: number): number {
    const hdr = this.pcapRecordHeader;
    const avail = end - pos;
    if (avail < hdr) return this.atEnd ? this.skip(avail, avail) : -hdr;
    if ((buf[pos + 2] === 0xb2 && buf[pos + 3] === 0xa1) || (buf[pos] === 0xa1 && buf[pos + 1] === 0xb2)) {
      const r = this.joinedPcapHeader(buf, pos, end);
      if (r === 0) return this.resynced();
      if (r < 0) return r;
    }
    if (!this.plausiblePcapHeader(buf, pos)) return this.skip(1, avail);
    const total = hdr + this.u32(buf, pos + 8);
    if (avail < total + hdr) {
      if (!this.atEnd) return -(total + hdr);
      return avail === total ? this.resynced() : this.skip(1, avail);
    }
    return this.plausiblePcapHeader(buf, pos + total) ? this.resynced() : this.skip(1, avail);
  }

  // ---- pcapng ----------------------------------------------------------------

  private pcapngBlock(buf: Buffer, pos: number, end: number): number {
    const avail = end - pos;
    if (avail < 12) return -12;
    const typeLe = buf.readUInt32LE(pos);
    let type: number;
    if (typeLe === BLOCK_SHB) {
      const bom = buf.readUInt32LE(pos + 8);
      if (bom !== BYTE_ORDER_MAGIC && bom !== BYTE_ORDER_MAGIC_SWAPPED) {
        return this.damage(buf, pos, end, `section header at offset ${this.offset} has a bad byte-order magic 0x${buf.toString('hex', pos + 8, pos + 12)}`);
      }
      this.le = bom === BYTE_ORDER_MAGIC;
      type = BLOCK_SHB;
    } else {
      if (this.section < 0) {
        return this.damage(buf, pos, end, `pcapng block at offset ${this.offset} before any section header`);
      }
      type = this.le ? typeLe : buf.readUInt32BE(pos);
    }
    const len = this.u32(buf, pos + 4);
    if (len % 4 !== 0 || len < 12 || len > this.maxBlockLength) {
      return this.damage(buf, pos, end, `pcapng block at offset ${this.offset} has an impossible length ${len}`);
    }
    if (avail < len) return -len;
    const trailer = this.u32(buf, pos + len - 4);
    if (trailer !== len) {
      return this.damage(
        buf,
        pos,
        end,
        `pcapng block at offset ${this.offset}: trailing length ${trailer} does not match leading length ${len}`,
      );
    }
    this.counts.blocks++;
    const min = MIN_LENGTH[type];
    if (min === undefined) {
      this.counts.unknownBlocks++;
      return len;
    }
    if (len < min) {
      this.warn(this.offset, `pcapng block type 0x${type.toString(16)} at offset ${this.offset} is too short (${len} bytes); skipped`);
      return len;
    }
    switch (type) {
      case BLOCK_EPB:
        this.enhancedPacket(buf, pos, len);
        break;
      case BLOCK_SHB:
        this.sectionHeader(buf, pos, len);
        break;
      case BLOCK_IDB:
        this.interfaceDescription(buf, pos, len);
        break;
      case BLOCK_SPB:
        this.simplePacket(buf, pos, len);
        break;
      case BLOCK_PB:
        this.obsoletePacket(buf, pos, len);
        break;
      case BLOCK_ISB:
        this.interfaceStatistics(buf, pos, len);
        break;
      case BLOCK_CUSTOM_COPY:
      case BLOCK_CUSTOM_NOCOPY:
        this.custom(buf, pos, len, type === BLOCK_CUSTOM_COPY);
        break;
      case BLOCK_DSB:
        this.secrets(buf, pos, len);
        break;
      default:
        // Name resolution, journal entries: valid, not needed here.
        break;
    }
    return len;
  }

  private damage(buf: Buffer, pos: number, end: number, message: string): number {
    this.warn(this.offset, `${message}; scanning for the next block`);
    this.startResync(false);
    return this.skip(1, end - pos);
  }

  /** A block is believed when its type is known and both its length fields agree. */
  private resyncPcapng(buf: Buffer, pos: number, end: number): number {
    const avail = end - pos;
    if (avail < 12) return this.atEnd ? this.skip(avail, avail) : -12;
    let le = this.le;
    let type = le ? buf.readUInt32LE(pos) : buf.readUInt32BE(pos);
    if (buf.readUInt32LE(pos) === BLOCK_SHB) {
      const bom = buf.readUInt32LE(pos + 8);
      if (bom !== BYTE_ORDER_MAGIC && bom !== BYTE_ORDER_MAGIC_SWAPPED) return this.skip(1, avail);
      le = bom === BYTE_ORDER_MAGIC;
      type = BLOCK_SHB;
    } else if (this.section < 0 || !knownBlockType(type)) {
      return this.skip(1, avail);
    }
    const len = le ? buf.readUInt32LE(pos + 4) : buf.readUInt32BE(pos + 4);
    if (len % 4 !== 0 || len < MIN_LENGTH[type] || len > RESYNC_MAX_CANDIDATE || len > this.maxBlockLength) {
      return this.skip(1, avail);
    }
    if (avail < len) return this.atEnd ? this.skip(1, avail) : -len;
    const trailer = le ? buf.readUInt32LE(pos + len - 4) : buf.readUInt32BE(pos + len - 4);
    return trailer === len ? this.resynced() : this.skip(1, avail);
  }

  private sectionHeader(buf: Buffer, pos: number, len: number): void {
    this.section++;
    this.interfaces = [];
    this.sectionApplication = undefined;
    const major = this.u16(buf, pos + 12);
    const minor = this.u16(buf, pos + 14);
    if (major !== 1) {
      this.warn(this.offset, `section header at offset ${this.offset} has unsupported version ${major}.${minor}; reading it as 1.0`);
    }
    this.eachOption(buf, pos + 24, pos + len - 4, 'section header', (code, v, olen) => {
      if (code === SHB_USERAPPL) this.sectionApplication = optionString(buf, v, v + olen);
    });
  }

  /**
   * `each(code, value offset, value length)` for the options in [o, end) of
   * a block that is not a packet, up to opt_endofopt; an option running past
   * the block ends them, with a warning naming the block (`what`).
   */
  private eachOption(buf: Buffer, o: number, end: number, what: string, each: (code: number, v: number, olen: number) => void): void {
    while (o + 4 <= end) {
      const code = this.u16(buf, o);
      const olen = this.u16(buf, o + 2);
      const v = o + 4;
      if (code === OPT_ENDOFOPT) return;
      if (v + olen > end) {
        this.warn(this.offset, `${what} at offset ${this.offset}: option ${code} overruns the block; rest ignored`);
        return;
      }
      each(code, v, olen);
      o = v + pad4(olen);
    }
  }

  private interfaceDescription(buf: Buffer, pos: number, len: number): void {
    const id = this.interfaces.length;
    const info: InterfaceInfo = {
      id,
      section: this.section,
      linkType: this.u16(buf, pos + 8),
      snapLen: this.u32(buf, pos + 12),
      offset: this.offset,
      tsResol: { base: 10, exponent: 6 },
      tsOffsetSeconds: 0n,
    };
    if (this.sectionApplication !== undefined) info.application = this.sectionApplication;
    this.eachOption(buf, pos + 16, pos + len - 4, 'interface description', (code, v, olen) => {
      if (code === IF_NAME) info.name = optionString(buf, v, v + olen);
      else if (code === IF_DESCRIPTION) info.description = optionString(buf, v, v + olen);
      else if (code === IF_TSRESOL && olen >= 1) {
        const r = buf[v];
        info.tsResol = r & 0x80 ? { base: 2, exponent: r & 0x7f } : { base: 10, exponent: r };
      } else if (code === IF_TSOFFSET && olen >= 8) {
        info.tsOffsetSeconds = this.le ? buf.readBigInt64LE(v) : buf.readBigInt64BE(v);
      }
    });
    if (id > 0xffff) {
      this.warn(this.offset, `interface description at offset ${this.offset}: more than 65536 interfaces in one section; ignored`);
      return;
    }
    const iface = new Interface(info, interfaceKey(this.section, id));
    this.interfaces.push(iface);
    this.handlers.onInterface?.(info);
  }

  private interfaceFor(id: number, what: string): Interface | undefined {
    const iface = this.interfaces[id];
    if (iface === undefined) {
      this.warn(this.offset, `${what} at offset ${this.offset} refers to unknown interface ${id}; skipped`);
    }
    return iface;
  }

  /** epb_flags / pack_flags among the options in [o, end), else 0. */
  private packetFlags(buf: Buffer, o: number, end: number): number {
    while (o + 4 <= end) {
      const code = this.u16(buf, o);
      const olen = this.u16(buf, o + 2);
      if (code === OPT_ENDOFOPT || o + 4 + olen > end) return 0;
      if (code === EPB_FLAGS && olen === 4) return this.u32(buf, o + 4);
      o += 4 + pad4(olen);
    }
    return 0;
  }

  private emitPacket(
    buf: Buffer,
    iface: Interface,
    high: number,
    low: number,
    dataStart: number,
    caplen: number,
    origlen: number,
    optEnd: number,
  ): void {
    const optStart = dataStart + pad4(caplen);
    const flags = optStart < optEnd ? this.packetFlags(buf, optStart, optEnd) : 0;
    const tsNs = iface.toNs(high, low);
    this.lastTsNs = tsNs;
    this.counts.packets++;
    this.deliver(iface.key, iface.info.linkType, tsNs, caplen, origlen, buf, dataStart, flags);
  }

  /** One packet, `caplen` bytes at `start`, to `onFrame` (the reused record) or else `onPacket` (an object and a view). */
  private deliver(
    interfaceKey: number,
    linkType: number,
    tsNs: bigint,
    caplen: number,
    origlen: number,
    buf: Buffer,
    start: number,
    flags: number,
  ): void {
    const h = this.handlers;
    if (h.onFrame !== undefined) {
      const f = this.frame;
      f.interfaceKey = interfaceKey;
      f.linkType = linkType;
      f.tsNs = tsNs;
      f.capturedLength = caplen;
      f.originalLength = origlen;
      f.buf = buf;
      f.start = start;
      f.end = start + caplen;
      f.flags = flags;
      f.offset = this.offset;
      h.onFrame(f);
      return;
    }
    h.onPacket?.({
      interfaceKey,
      linkType,
      tsNs,
      capturedLength: caplen,
      originalLength: origlen,
      data: buf.subarray(start, start + caplen),
      flags,
      offset: this.offset,
    });
  }

  private enhancedPacket(buf: Buffer, pos: number, len: number): void {
    const iface = this.interfaceFor(this.u32(buf, pos + 8), 'enhanced packet block');
    if (iface === undefined) return;
    const caplen = this.u32(buf, pos + 20);
    if (caplen > len - 32) {
      this.warn(this.offset, `enhanced packet block at offset ${this.offset}: captured length ${caplen} exceeds the block; skipped`);
      return;
    }
    this.emitPacket(buf, iface, this.u32(buf, pos + 12), this.u32(buf, pos + 16), pos + 28, caplen, this.u32(buf, pos + 24), pos + len - 4);
  }

  private obsoletePacket(buf: Buffer, pos: number, len: number): void {
    const iface = this.interfaceFor(this.u16(buf, pos + 8), 'packet block');
    if (iface === undefined) return;
    const caplen = this.u32(buf, pos + 20);
    if (caplen > len - 32) {
      this.warn(this.offset, `packet block at offset ${this.offset}: captured length ${caplen} exceeds the block; skipped`);
      return;
    }
    this.emitPacket(buf, iface, this.u32(buf, pos + 12), this.u32(buf, pos + 16), pos + 28, caplen, this.u32(buf, pos + 24), pos + len - 4);
  }

  /**
   * A Simple Packet Block carries no timestamp: it gets the latest timestamp
   * seen in the stream (0 before any), so time never runs backwards for
   * consumers that age state by packet time.
   */
  private simplePacket(buf: Buffer, pos: number, len: number): void {
    const iface = this.interfaceFor(0, 'simple packet block');
    if (iface === undefined) return;
    const origlen = this.u32(buf, pos + 8);
    let caplen = Math.min(origlen, len - 16);
    if (iface.info.snapLen > 0 && caplen > iface.info.snapLen) caplen = iface.info.snapLen;
    this.counts.packets++;
    this.deliver(iface.key, iface.info.linkType, this.lastTsNs, caplen, origlen, buf, pos + 12, 0);
  }

  private timestampOption(buf: Buffer, v: number, iface: Interface): bigint {
    return iface.toNs(this.u32(buf, v), this.u32(buf, v + 4));
  }

  private u64(buf: Buffer, v: number): bigint {
    return this.le ? buf.readBigUInt64LE(v) : buf.readBigUInt64BE(v);
  }

  private interfaceStatistics(buf: Buffer, pos: number, len: number): void {
    const iface = this.interfaceFor(this.u32(buf, pos + 8), 'interface statistics block');
    if (iface === undefined) return;
    const s: InterfaceStatistics = {
      interfaceKey: iface.key,
      tsNs: iface.toNs(this.u32(buf, pos + 12), this.u32(buf, pos + 16)),
      offset: this.offset,
    };
    this.eachOption(buf, pos + 20, pos + len - 4, 'interface statistics block', (code, v, olen) => {
      if (code === OPT_COMMENT) s.comment = optionString(buf, v, v + olen);
      else if (olen === 8) {
        switch (code) {
          case ISB_STARTTIME:
            s.startNs = this.timestampOption(buf, v, iface);
            break;
          case ISB_ENDTIME:
            s.endNs = this.timestampOption(buf, v, iface);
            break;
          case ISB_IFRECV:
            s.ifRecv = this.u64(buf, v);
            break;
          case ISB_IFDROP:
            s.ifDrop = this.u64(buf, v);
            break;
          case ISB_FILTERACCEPT:
            s.filterAccept = this.u64(buf, v);
            break;
          case ISB_OSDROP:
            s.osDrop = this.u64(buf, v);
            break;
          case ISB_USRDELIV:
            s.usrDeliv = this.u64(buf, v);
            break;
        }
      }
    });
    this.handlers.onStatistics?.(s);
  }

  /** Decryption Secrets Block: secrets type, secrets length, the secrets, padding, options. */
  private secrets(buf: Buffer, pos: number, len: number): void {
    if (!this.handlers.onSecrets) return;
    const type = this.u32(buf, pos + 8);
    const length = this.u32(buf, pos + 12);
    if (16 + length + 4 > len) {
      this.warn(this.offset, `pcapng decryption secrets block at offset ${this.offset}: secrets length ${length} runs past the block (${len} bytes); skipped`);
      return;
    }
    this.handlers.onSecrets({ type, data: buf.subarray(pos + 16, pos + 16 + length), offset: this.offset });
  }

  private custom(buf: Buffer, pos: number, len: number, copyable: boolean): void {
    this.handlers.onCustom?.({
      pen: this.u32(buf, pos + 8),
      data: buf.subarray(pos + 12, pos + len - 4),
      copyable,
      offset: this.offset,
    });
  }
}
