/**
 * Encoders for pcapng blocks and classic pcap records.
 *
 * Every method returns one freshly allocated Buffer holding exactly one block
 * (little-endian, options padded to 32 bits and closed by opt_endofopt), so a
 * caller can write it to any sink; nothing here does I/O.
 */

const BLOCK_SHB = 0x0a0d0d0a;
const BLOCK_IDB = 0x00000001;
const BLOCK_ISB = 0x00000005;
const BLOCK_EPB = 0x00000006;
const BLOCK_DSB = 0x0000000a;
const BLOCK_CUSTOM_COPY = 0x00000bad;
const BLOCK_CUSTOM_NOCOPY = 0x40000bad;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;

const OPT_COMMENT = 1;
const SHB_HARDWARE = 2;
const SHB_OS = 3;
const SHB_USERAPPL = 4;
const IF_NAME = 2;
const IF_DESCRIPTION = 3;
const IF_TSRESOL = 9;
const EPB_FLAGS = 2;
const ISB_STARTTIME = 2;
const ISB_ENDTIME = 3;
const ISB_IFRECV = 4;
const ISB_IFDROP = 5;
const ISB_FILTERACCEPT = 6;
const ISB_OSDROP = 7;
const ISB_USRDELIV = 8;

const PCAP_MAGIC_MICRO = 0xa1b2c3d4;
const PCAP_MAGIC_NANO = 0xa1b23c4d;

const MAX_OPTION_LENGTH = 0xffff;

export interface SectionHeaderOptions {
  application?: string;
  os?: string;
  hardware?: string;
  comment?: string;
}

export interface InterfaceDescriptionOptions {
  linkType: number;
  snapLen: number;
  name?: string;
  description?: string;
  /** Nanosecond timestamps (if_tsresol = 9). Default true; false keeps pcapng's default microseconds. */
  tsResolNs?: boolean;
}

export interface EnhancedPacketOptions {
  interfaceId: number;
  tsNs: bigint;
  data: Uint8Array;
  /** Length on the wire; defaults to the captured length. */
  originalLength?: number;
  /** epb_flags (direction in bits 0-1, see `Direction`); omitted when undefined. */
  flags?: number;
  comment?: string;
}

export interface InterfaceStatisticsOptions {
  interfaceId: number;
  tsNs: bigint;
  ifRecv?: bigint;
  ifDrop?: bigint;
  osDrop?: bigint;
  filterAccept?: bigint;
  usrDeliv?: bigint;
  startNs?: bigint;
  endNs?: bigint;
  comment?: string;
}

export interface CustomBlockOptions {
  /** Private Enterprise Number of the data's owner. */
  pen: number;
  /** Padded with zeros to 32 bits; readers get the padding back, so encode your own length. */
  data: Uint8Array;
  /** Block type 0x00000BAD (tools may copy it to new files) or 0x40000BAD (they must not). */
  copyable: boolean;
}

/** An option is its code, its value length and how to write the value. */
interface Option {
  code: number;
  length: number;
  write(buf: Buffer, at: number): void;
}

function pad4(n: number): number {
  return (n + 3) & ~3;
}

function stringOption(code: number, value: string | undefined, out: Option[]): void {
  if (value === undefined) return;
  const length = Buffer.byteLength(value, 'utf8');
  if (length > MAX_OPTION_LENGTH) throw new RangeError(`pcapng option ${code} is ${length} bytes; the limit is 65535`);
  out.push({ code, length, write: (buf, at) => void buf.write(value, at, length, 'utf8') });
}

function u64Option(code: number, value: bigint | undefined, out: Option[]): void {
  if (value === undefined) return;
  out.push({ code, length: 8, write: (buf, at) => void buf.writeBigUInt64LE(value, at) });
}

function optionsLength(opts: Option[]): number {
  let n = 0;
  for (const o of opts) n += 4 + pad4(o.length);
  return n === 0 ? 0 : n + 4; // opt_endofopt
}

function writeOptions(buf: Buffer, at: number, opts: Option[]): number {
  if (opts.length === 0) return at;
  for (const o of opts) {
    buf.writeUInt16LE(o.code, at);
    buf.writeUInt16LE(o.length, at + 2);
    o.write(buf, at + 4);
    const padded = pad4(o.length);
    buf.fill(0, at + 4 + o.length, at + 4 + padded);
    at += 4 + padded;
  }
  buf.writeUInt32LE(0, at);
  return at + 4;
}

/** Builds a block from fixed fields already laid out by `body`, then its options. */
function encodeBlock(type: number, bodyLength: number, body: (buf: Buffer, at: number) => void, opts: Option[]): Buffer {
  const total = 8 + pad4(bodyLength) + optionsLength(opts) + 4;
  const buf = Buffer.allocUnsafe(total);
  buf.writeUInt32LE(type, 0);
  buf.writeUInt32LE(total, 4);
  body(buf, 8);
  buf.fill(0, 8 + bodyLength, 8 + pad4(bodyLength));
  writeOptions(buf, 8 + pad4(bodyLength), opts);
  buf.writeUInt32LE(total, total - 4);
  return buf;
}

function checkTimestamp(tsNs: bigint, what: string): void {
  if (tsNs < 0n || tsNs >= 1n << 64n) throw new RangeError(`${what}: timestamp ${tsNs} ns is outside 0..2^64-1`);
}

/**
 * pcapng block encoder. Keeps the interfaces of the current section so that
 * timestamps are written in each interface's resolution.
 */
export class PcapngWriter {
  /** Nanosecond resolution per interface id of the current section. */
  private nanos: boolean[] = [];

  /** Starts a new section; interface ids start again from 0. */
  sectionHeader(opts: SectionHeaderOptions = {}): Buffer {
    this.nanos = [];
    const options: Option[] = [];
    stringOption(OPT_COMMENT, opts.comment, options);
    stringOption(SHB_HARDWARE, opts.hardware, options);
    stringOption(SHB_OS, opts.os, options);
    stringOption(SHB_USERAPPL, opts.application, options);
    return encodeBlock(
      BLOCK_SHB,
      16,
      (buf, at) => {
        buf.writeUInt32LE(BYTE_ORDER_MAGIC, at);
        buf.writeUInt16LE(1, at + 4);
        buf.writeUInt16LE(0, at + 6);
        buf.writeBigInt64LE(-1n, at + 8); // section length not known in a stream
      },
      options,
    );
  }

  /** Describes the next interface; `id` is what packets of this interface must name. */
  interfaceDescription(opts: InterfaceDescriptionOptions): { id: number; block: Buffer } {
    const nanos = opts.tsResolNs ?? true;
    const options: Option[] = [];
    stringOption(IF_NAME, opts.name, options);
    stringOption(IF_DESCRIPTION, opts.description, options);
    if (nanos) options.push({ code: IF_TSRESOL, length: 1, write: (buf, at) => void buf.writeUInt8(9, at) });
    const block = encodeBlock(
      BLOCK_IDB,
      8,
      (buf, at) => {
        buf.writeUInt16LE(opts.linkType, at);
        buf.writeUInt16LE(0, at + 2);
        buf.writeUInt32LE(opts.snapLen, at + 4);
      },
      options,
    );
    this.nanos.push(nanos);
    return { id: this.nanos.length - 1, block };
  }

  /** The hot path: written field by field, without option objects. */
  enhancedPacket(opts: EnhancedPacketOptions): Buffer {
    const nanos = this.nanos[opts.interfaceId];
    if (nanos === undefined) throw new RangeError(`enhancedPacket: interface ${opts.interfaceId} was not described in this section`);
    checkTimestamp(opts.tsNs, 'enhancedPacket');
    const data = opts.data;
    const caplen = data.length;
    const dataPadded = pad4(caplen);
    const commentLength = opts.comment === undefined ? -1 : Buffer.byteLength(opts.comment, 'utf8');
    if (commentLength > MAX_OPTION_LENGTH) throw new RangeError(`enhancedPacket: comment is ${commentLength} bytes; the limit is 65535`);
    let optsLength = 0;
    if (opts.flags !== undefined) optsLength += 8;
    if (commentLength >= 0) optsLength += 4 + pad4(commentLength);
    if (optsLength > 0) optsLength += 4;
    const total = 32 + dataPadded + optsLength;
    const units = nanos ? opts.tsNs : opts.tsNs / 1000n;
    const buf = Buffer.allocUnsafe(total);
    buf.writeUInt32LE(BLOCK_EPB, 0);
    buf.writeUInt32LE(total, 4);
    buf.writeUInt32LE(opts.interfaceId, 8);
    buf.writeUInt32LE(Number(units >> 32n), 12);
    buf.writeUInt32LE(Number(units & 0xffffffffn), 16);
    buf.writeUInt32LE(caplen, 20);
    buf.writeUInt32LE(opts.originalLength ?? caplen, 24);
    buf.set(data, 28);
    let at = 28 + caplen;
    while (at < 28 + dataPadded) buf[at++] = 0;
    if (opts.flags !== undefined) {
      buf.writeUInt16LE(EPB_FLAGS, at);
      buf.writeUInt16LE(4, at + 2);
      buf.writeUInt32LE(opts.flags >>> 0, at + 4);
      at += 8;
    }
    if (commentLength >= 0) {
      buf.writeUInt16LE(OPT_COMMENT, at);
      buf.writeUInt16LE(commentLength, at + 2);
      buf.write(opts.comment!, at + 4, commentLength, 'utf8');
      buf.fill(0, at + 4 + commentLength, at + 4 + pad4(commentLength));
      at += 4 + pad4(commentLength);
    }
    if (optsLength > 0) {
      buf.writeUInt32LE(0, at);
      at += 4;
    }
    buf.writeUInt32LE(total, at);
    return buf;
  }

  interfaceStatistics(opts: InterfaceStatisticsOptions): Buffer {
    const nanos = this.nanos[opts.interfaceId];
    if (nanos === undefined) throw new RangeError(`interfaceStatistics: interface ${opts.interfaceId} was not described in this section`);
    const units = (ns: bigint, what: string) => {
      checkTimestamp(ns, what);
      return nanos ? ns : ns / 1000n;
    };
    const timestampOption = (code: number, ns: bigint | undefined, out: Option[]) => {
      if (ns === undefined) return;
      const u = units(ns, 'interfaceStatistics');
      out.push({
        code,
        length: 8,
        write: (buf, at) => {
          buf.writeUInt32LE(Number(u >> 32n), at);
          buf.writeUInt32LE(Number(u & 0xffffffffn), at + 4);
        },
      });
    };
    const options: Option[] = [];
    stringOption(OPT_COMMENT, opts.comment, options);
    timestampOption(ISB_STARTTIME, opts.startNs, options);
    timestampOption(ISB_ENDTIME, opts.endNs, options);
    u64Option(ISB_IFRECV, opts.ifRecv, options);
    u64Option(ISB_IFDROP, opts.ifDrop, options);
    u64Option(ISB_FILTERACCEPT, opts.filterAccept, options);
    u64Option(ISB_OSDROP, opts.osDrop, options);
    u64Option(ISB_USRDELIV, opts.usrDeliv, options);
    const ts = units(opts.tsNs, 'interfaceStatistics');
    return encodeBlock(
      BLOCK_ISB,
      12,
      (buf, at) => {
        buf.writeUInt32LE(opts.interfaceId, at);
        buf.writeUInt32LE(Number(ts >> 32n), at + 4);
        buf.writeUInt32LE(Number(ts & 0xffffffffn), at + 8);
      },
      options,
    );
  }

  /** A Decryption Secrets Block (`type` SECRETS_TLS_KEY_LOG: NSS key log lines), before the packets its secrets open. */
  decryptionSecrets(type: number, data: Buffer): Buffer {
    return encodeBlock(
      BLOCK_DSB,
      8 + data.length,
      (buf, at) => {
        buf.writeUInt32LE(type >>> 0, at);
        buf.writeUInt32LE(data.length, at + 4);
        buf.set(data, at + 8);
      },
      [],
    );
  }

  custom(opts: CustomBlockOptions): Buffer {
    return encodeBlock(
      opts.copyable ? BLOCK_CUSTOM_COPY : BLOCK_CUSTOM_NOCOPY,
      4 + opts.data.length,
      (buf, at) => {
        buf.writeUInt32LE(opts.pen >>> 0, at);
        buf.set(opts.data, at + 4);
      },
      [],
    );
  }
}

export interface PcapWriterOptions {
  /** 'ns' (magic a1b23c4d, the default) or 'us' (a1b2c3d4). */
  resolution?: 'ns' | 'us';
  /** Write big-endian instead of little-endian (for tests of readers). */
  bigEndian?: boolean;
}

/** Classic pcap encoder: one file header, then one record per packet. */
export class PcapWriter {
  private readonly nanos: boolean;
  private readonly be: boolean;

  constructor(opts: PcapWriterOptions = {}) {
    this.nanos = (opts.resolution ?? 'ns') === 'ns';
    this.be = opts.bigEndian ?? false;
  }

  header(opts: { linkType: number; snapLen: number }): Buffer {
    const buf = Buffer.alloc(24);
    this.u32(buf, this.nanos ? PCAP_MAGIC_NANO : PCAP_MAGIC_MICRO, 0);
    this.u16(buf, 2, 4);
    this.u16(buf, 4, 6);
    // thiszone and sigfigs stay 0, as every modern writer leaves them.
    this.u32(buf, opts.snapLen, 16);
    this.u32(buf, opts.linkType, 20);
    return buf;
  }

  packet(opts: { tsNs: bigint; data: Uint8Array; originalLength?: number }): Buffer {
    checkTimestamp(opts.tsNs, 'PcapWriter.packet');
    const seconds = opts.tsNs / 1_000_000_000n;
    if (seconds > 0xffffffffn) throw new RangeError(`PcapWriter.packet: timestamp ${opts.tsNs} ns is past 2106`);
    const frac = Number(opts.tsNs % 1_000_000_000n);
    const buf = Buffer.allocUnsafe(16 + opts.data.length);
    this.u32(buf, Number(seconds), 0);
    this.u32(buf, this.nanos ? frac : Math.floor(frac / 1000), 4);
    this.u32(buf, opts.data.length, 8);
    this.u32(buf, opts.originalLength ?? opts.data.length, 12);
    buf.set(opts.data, 16);
    return buf;
  }

  private u32(buf: Buffer, v: number, at: number): void {
    if (this.be) buf.writeUInt32BE(v >>> 0, at);
    else buf.writeUInt32LE(v >>> 0, at);
  }

  private u16(buf: Buffer, v: number, at: number): void {
    if (this.be) buf.writeUInt16BE(v, at);
    else buf.writeUInt16LE(v, at);
  }
}
