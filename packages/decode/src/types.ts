/**
 * What the decoder hands to flow tracking: one transport-layer segment or
 * datagram, with its network addresses. No protocol knowledge above L4.
 */

export const IpProto = { ICMP: 1, TCP: 6, UDP: 17, ICMPV6: 58 } as const;

/** TCP flag bits as they sit in the header's 13th byte. */
export const TcpFlag = {
  FIN: 0x01,
  SYN: 0x02,
  RST: 0x04,
  PSH: 0x08,
  ACK: 0x10,
  URG: 0x20,
  ECE: 0x40,
  CWR: 0x80,
} as const;

export interface TcpInfo {
  /** Sequence and acknowledgement numbers, unsigned 32-bit. */
  seq: number;
  ack: number;
  flags: number;
  window: number;
}

export interface L4Packet {
  tsNs: bigint;
  interfaceKey: number;
  ipVersion: 4 | 6;
  /** Textual addresses: dotted quad, or RFC 5952 compressed IPv6. */
  srcAddr: string;
  dstAddr: string;
  /** IP protocol number of the transport (6 TCP, 17 UDP). */
  protocol: number;
  srcPort: number;
  dstPort: number;
  /** Present when protocol is TCP. */
  tcp?: TcpInfo;
  /** Transport payload as captured (a view, not a copy, unless reassembled from fragments). */
  payload: Buffer;
  /**
   * Payload bytes the IP/UDP lengths say exist but the capture does not hold
   * (snap length truncation). Flow tracking reports them as a gap.
   */
  missing: number;
  /** VLAN ids outermost first, when the frame carried 802.1Q/802.1ad tags. */
  vlan?: number[];
}

/** Counters every decoder keeps; reported by `--stats`. */
export interface DecodeCounters {
  packets: number;
  decoded: number;
  /** Link types or ethertypes we do not decode (not an error: ARP, LLDP, ...). */
  unsupported: number;
  /** Damaged headers skipped: too short, bad lengths, bad version. */
  malformed: number;
  /** Non-TCP/UDP transports (ICMP, ...) passed over. */
  otherTransport: number;
  fragments: number;
  reassembled: number;
  /** Fragment sets given up: timeout, bounds, a fragment that could not be used (snap length cut, damage). */
  fragmentsDropped: number;
  /**
   * Fragments that disagreed with what was already held: overlapping bytes
   * that differ (the first copy is kept), or a length contradicting the last
   * fragment (the fragment is ignored).
   */
  fragmentConflicts: number;
  /** Decoded packets whose payload the capture cut short (`missing` > 0). */
  truncated: number;
}
