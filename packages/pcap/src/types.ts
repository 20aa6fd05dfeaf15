/**
 * The records a capture reader yields and a pcapng writer takes.
 *
 * One `Packet` per Enhanced/Simple/pcap record. `data` is a view into a chunk
 * the reader allocated for this read; it is never reused by the reader, so a
 * consumer may keep a subarray of it without copying.
 */

/** LINKTYPE_* values (https://www.tcpdump.org/linktypes.html) the decoder understands. */
export const LinkType = {
  NULL: 0, // BSD loopback, host byte order family
  ETHERNET: 1,
  RAW: 101, // raw IPv4 or IPv6, version from the first nibble
  LOOP: 108, // OpenBSD loopback, network byte order family
  LINUX_SLL: 113,
  IPV4: 228,
  IPV6: 229,
  LINUX_SLL2: 276,
} as const;

/** pcapng epb_flags direction bits (bits 0-1). */
export const Direction = {
  UNKNOWN: 0,
  INBOUND: 1,
  OUTBOUND: 2,
} as const;

/**
 * The global key of interface `id` of section `section`: section × 65536 + id,
 * as `Packet.interfaceKey` carries it. Multiplication, not `section << 16`,
 * which turns negative from section 32768 and wraps to section 0 at 65536.
 */
export function interfaceKey(section: number, id: number): number {
  return section * 0x10000 + id;
}

export interface InterfaceInfo {
  /** Index of the interface within its section (pcapng) or 0 (pcap). */
  id: number;
  /** Section number, counting from 0, the interface belongs to. */
  section: number;
  linkType: number;
  snapLen: number;
  /** Byte offset in the input of the header or block that describes the interface. */
  offset?: number;
  name?: string;
  description?: string;
  /** The program that wrote its section (pcapng shb_userappl; pano-capture's output says `pano-capture`). */
  application?: string;
  /**
   * One timestamp unit is base^-exponent seconds (pcap: 10^-6 or 10^-9).
   * Nanoseconds per unit is not always an integer; keep the raw resolution.
   */
  tsResol: { base: 2 | 10; exponent: number };
  /** if_tsoffset, seconds, added to every timestamp. */
  tsOffsetSeconds: bigint;
}

export interface Packet {
  /** Global interface key: unique across sections of one input (`interfaceKey(section, id)`). */
  interfaceKey: number;
  linkType: number;
  /**
   * Wall-clock time, nanoseconds since the Unix epoch, exact (rounded down when
   * the resolution is finer). A pcapng Simple Packet Block has no timestamp: it
   * gets the latest one seen in the input (0 before any).
   */
  tsNs: bigint;
  capturedLength: number;
  originalLength: number;
  data: Buffer;
  /** epb_flags if present (direction in bits 0-1), else 0. */
  flags: number;
  /** Byte offset of the record's block in the input stream, for error messages. */
  offset: number;
}

/**
 * A packet where it sits in the reader's input: the captured frame is
 * `buf[start, end)`. The reader fills one record for every packet and the
 * bytes belong to the chunk pushed, so it is valid only during the handler
 * call: what is kept must be copied or viewed out of it.
 */
export interface FrameRef {
  interfaceKey: number;
  linkType: number;
  tsNs: bigint;
  capturedLength: number;
  originalLength: number;
  buf: Buffer;
  start: number;
  end: number;
  flags: number;
  offset: number;
}

export interface InterfaceStatistics {
  interfaceKey: number;
  tsNs: bigint;
  /** isb_ifrecv / isb_ifdrop / isb_filteraccept / isb_osdrop / isb_usrdeliv when present. */
  ifRecv?: bigint;
  ifDrop?: bigint;
  filterAccept?: bigint;
  osDrop?: bigint;
  usrDeliv?: bigint;
  /** isb_starttime / isb_endtime, converted like packet timestamps. */
  startNs?: bigint;
  endNs?: bigint;
  comment?: string;
  offset: number;
}

export interface CustomBlock {
  /** Private Enterprise Number. */
  pen: number;
  /**
   * The bytes after the PEN up to the block trailer. The layout of custom data
   * is private to the PEN owner, so the reader cannot tell where the data ends
   * and options (if any) begin: both are included, as is the padding to 32 bits.
   * Formats carried in custom blocks must therefore encode their own lengths.
   */
  data: Buffer;
  /** True for block type 0x00000BAD (may be copied), false for 0x40000BAD. */
  copyable: boolean;
  offset: number;
}

/** pcapng Decryption Secrets Block type of NSS key log text ("TLSK"). */
export const SECRETS_TLS_KEY_LOG = 0x544c534b;

export interface DecryptionSecrets {
  /** Secrets type: SECRETS_TLS_KEY_LOG, or another (WireGuard, ZigBee, …) the caller may not read. */
  type: number;
  data: Buffer;
  offset: number;
}

/** Damage the reader skipped over, with the byte offset where it was found. */
export interface ReaderWarning {
  offset: number;
  message: string;
}

/** Running counts of what a reader has seen; all damage is counted, not hidden. */
export interface ReaderStats {
  /** 'pcap' or 'pcapng' once the first bytes were recognised. */
  format?: 'pcap' | 'pcapng';
  /** Bytes pushed into the reader. */
  bytes: number;
  packets: number;
  /** pcapng blocks, or pcap file header plus records, that were framed correctly. */
  blocks: number;
  /** pcapng blocks of a type the reader does not interpret (skipped, per the spec). */
  unknownBlocks: number;
  warnings: number;
  /** Bytes skipped because of damage (resynchronisation, truncation, unreadable tail). */
  skippedBytes: number;
}
