/**
 * Packet → transport segment. One `Decoder` per input: it owns the fragment
 * table (fragments of one datagram may arrive across the whole capture) and
 * the counters. Runs per packet, so fields are read straight off the buffer
 * and nothing is allocated on the way except the result, its payload view and,
 * for new addresses, their text. A frame can be passed where it sits in the
 * reader's input (`decodeFrame`), so no view of the frame is made either.
 *
 * Checksums are not verified: captures taken on the sending host carry
 * checksums the NIC fills in later (offload), so they are routinely "wrong".
 */
import type { FrameRef, Packet } from '@panopticon/pcap';
import { IPv4Names, IPv6Names, formatIPv6 } from './address.js';
import { FragmentTable } from './fragments.js';
import { LinkLayer, Network } from './link.js';
import { IpProto, type DecodeCounters, type L4Packet, type TcpInfo } from './types.js';

export interface DecoderOptions {
  /** Datagrams being reassembled at once; the oldest is given up beyond this. */
  maxFragmentSets?: number;
  /** Bytes held for reassembly across all datagrams. */
  maxFragmentBytes?: number;
  /** A datagram not complete this long after its first fragment is given up. */
  fragmentTimeoutNs?: bigint;
}

export const DEFAULT_DECODER_OPTIONS: Readonly<Required<DecoderOptions>> = Object.freeze({
  maxFragmentSets: 8192,
  maxFragmentBytes: 64 * 1024 * 1024,
  fragmentTimeoutNs: 30_000_000_000n,
});

const IPV4_HEADER = 20;
const IPV6_HEADER = 40;
const TCP_HEADER = 20;
const UDP_HEADER = 8;

const IPV4_MF = 0x2000;
const IPV4_OFFSET_MASK = 0x1fff;

/** IPv6 next-header values the extension-header walk understands. */
const Ipv6Next = {
  HOP_BY_HOP: 0,
  ROUTING: 43,
  FRAGMENT: 44,
  ESP: 50,
  AH: 51,
  NO_NEXT: 59,
  DESTINATION: 60,
  MOBILITY: 135,
  HIP: 139,
  SHIM6: 140,
} as const;

const EMPTY = Buffer.alloc(0);

/** Result objects are made in one shape, filled by `transport` (a fresh one per `decode`, the decoder's own per `decodeFrame`). */
function emptyTcp(): TcpInfo {
  return { seq: 0, ack: 0, flags: 0, window: 0 };
}
function emptyResult(): L4Packet {
  return { tsNs: 0n, interfaceKey: 0, ipVersion: 4, srcAddr: '', dstAddr: '', protocol: 0, srcPort: 0, dstPort: 0, tcp: undefined, payload: EMPTY, missing: 0, vlan: undefined };
}

export class Decoder {
  readonly counters: DecodeCounters = {
    packets: 0,
    decoded: 0,
    unsupported: 0,
    malformed: 0,
    otherTransport: 0,
    fragments: 0,
    reassembled: 0,
    fragmentsDropped: 0,
    fragmentConflicts: 0,
    truncated: 0,
  };
  /**
   * Why the last packet decoded to null (a constant string: no allocation),
   * for `--strict` error messages and debugging. Empty after a success.
   */
  problem = '';
  /**
   * Length of the datagram payload (after the IPv4 header, or after the IPv6
   * fragment header) that the last `decode` call rebuilt from fragments, 0
   * when it completed none: lets callers report reassembly whatever the
   * datagram carried (ICMP included).
   */
  reassembledLength = 0;

  private readonly link = new LinkLayer();
  private readonly fragments: FragmentTable;
  private readonly v4Names = new IPv4Names();
  private readonly v6Names = new IPv6Names();

  // Per-packet state of the network layer, read by `transport`.
  private interfaceKey = 0;
  private tsNs = 0n;
  /**
   * Set during `decodeFrame`: the result goes into `frameResult` (and
   * `frameTcp`), filled again for every frame, as the reader does with its
   * FrameRef: a caller that decodes, tracks and drops each packet at once
   * makes no object per packet.
   */
  private reuse = false;
  private readonly frameTcp: TcpInfo = emptyTcp();
  private readonly frameResult: L4Packet = emptyResult();
  private ipVersion: 4 | 6 = 4;
  private addrBuf: Buffer = EMPTY;
  private addrOff = 0;

  constructor(options: DecoderOptions = {}) {
    const o = { ...DEFAULT_DECODER_OPTIONS, ...options };
    if (!Number.isInteger(o.maxFragmentSets) || o.maxFragmentSets < 1) {
      throw new RangeError(`maxFragmentSets must be a positive integer, got ${o.maxFragmentSets}`);
    }
    if (!Number.isInteger(o.maxFragmentBytes) || o.maxFragmentBytes < 1) {
      throw new RangeError(`maxFragmentBytes must be a positive integer, got ${o.maxFragmentBytes}`);
    }
    if (typeof o.fragmentTimeoutNs !== 'bigint' || o.fragmentTimeoutNs < 0n) {
      throw new RangeError(`fragmentTimeoutNs must be a non-negative bigint, got ${String(o.fragmentTimeoutNs)}`);
    }
    this.fragments = new FragmentTable(o, this.counters);
  }

  /**
   * Decodes one captured frame. Returns null when there is nothing for flow
   * tracking: a link or network type not decoded, damage, a fragment held
   * for reassembly, or a transport other than TCP/UDP (`counters` and
   * `problem` say which). Never throws on packet content.
   */
  decode(p: Packet): L4Packet | null {
    this.reuse = false;
    return this.decodeAt(p.linkType, p.interfaceKey, p.tsNs, p.data, 0, p.data.length);
  }

  /**
   * `decode` for a frame where it sits in the reader's input, `f.buf[f.start,
   * f.end)`. Nothing keeps `f` (the reader reuses it); the payload is a view
   * of `f.buf`, as it would be of `Packet.data`. The result and its `tcp` are
   * objects of the decoder, filled again by the next `decodeFrame`: keep
   * fields, not them.
   */
  decodeFrame(f: FrameRef): L4Packet | null {
    this.reuse = true;
    return this.decodeAt(f.linkType, f.interfaceKey, f.tsNs, f.buf, f.start, f.end);
  }

  private decodeAt(linkType: number, interfaceKey: number, tsNs: bigint, buf: Buffer, start: number, end: number): L4Packet | null {
    this.counters.packets++;
    this.problem = '';
    this.reassembledLength = 0;
    this.interfaceKey = interfaceKey;
    this.tsNs = tsNs;
    const net = this.link.locate(linkType, buf, start, end);
    if (net === Network.IPV4) return this.ipv4(buf, this.link.offset, end);
    if (net === Network.IPV6) return this.ipv6(buf, this.link.offset, end);
    this.problem = this.link.problem;
    if (net === Network.UNSUPPORTED) this.counters.unsupported++;
    else this.counters.malformed++;
    return null;
  }

  /** Gives up datagrams whose first fragment is older than the fragment timeout at `nowNs`. */
  expire(nowNs: bigint): void {
    this.fragments.expire(nowNs);
  }

  /** Gives up every datagram still being reassembled (end of input); they are counted as dropped. */
  flush(): void {
    this.fragments.clear();
  }

  /** Datagrams being reassembled and bytes held for them. */
  get fragmentState(): { sets: number; bytes: number } {
    return { sets: this.fragments.size, bytes: this.fragments.heldBytes };
  }

  /** The IPv4 header at `off`; the frame's captured bytes end at `end`. */
  private ipv4(buf: Buffer, off: number, end: number): L4Packet | null {
    const captured = end - off;
    if (captured < IPV4_HEADER) return this.malformed('IPv4 header truncated');
    const vihl = buf[off];
    if (vihl >> 4 !== 4) return this.malformed('IPv4 version is not 4');
    const headerLen = (vihl & 0x0f) << 2;
    if (headerLen < IPV4_HEADER) return this.malformed('IPv4 header length below 20');
    if (headerLen > captured) return this.malformed('IPv4 options truncated');
    let totalLen = (buf[off + 2] << 8) | buf[off + 3];
    // A zero total length is what TCP segmentation offload leaves in
    // captures taken on the sending host: the frame itself is the datagram.
    if (totalLen === 0) totalLen = captured;
    if (totalLen < headerLen) return this.malformed('IPv4 total length below header length');
    // Frames longer than the datagram carry link padding: trim it. Shorter
    // ones were cut by the snap length: keep what is there, count the rest.
    const declaredEnd = off + totalLen;
    const capturedEnd = totalLen <= captured ? declaredEnd : end;
    const proto = buf[off + 9];
    this.ipVersion = 4;
    this.addrBuf = buf;
    this.addrOff = off + 12;

    const frag = (buf[off + 6] << 8) | buf[off + 7];
    if ((frag & (IPV4_MF | IPV4_OFFSET_MASK)) === 0) {
      return this.transport(proto, buf, off + headerLen, capturedEnd, declaredEnd);
    }
    const key = `4 ${this.interfaceKey} ${buf.readUInt32BE(off + 12)} ${buf.readUInt32BE(off + 16)} ${proto} ${(buf[off + 4] << 8) | buf[off + 5]}`;
    const whole = this.fragments.add(
      key,
      this.tsNs,
      (frag & IPV4_OFFSET_MASK) << 3,
      (frag & IPV4_MF) !== 0,
      buf.subarray(off + headerLen, capturedEnd),
      proto,
      capturedEnd < declaredEnd,
    );
    if (whole === null) {
      this.problem = this.fragments.problem || 'fragment held for reassembly';
      return null;
    }
    this.reassembledLength = whole.length;
    return this.transport(proto, whole, 0, whole.length, whole.length);
  }

  private ipv6(buf: Buffer, off: number, frameEnd: number): L4Packet | null {
    const captured = frameEnd - off;
    if (captured < IPV6_HEADER) return this.malformed('IPv6 header truncated');
    if (buf[off] >> 4 !== 6) return this.malformed('IPv6 version is not 6');
    const payloadLen = (buf[off + 4] << 8) | buf[off + 5];
    let next = buf[off + 6];
    if (payloadLen === 0 && next === Ipv6Next.HOP_BY_HOP) return this.unsupported('IPv6 jumbogram');
    const declaredEnd = off + IPV6_HEADER + payloadLen;
    let capturedEnd = declaredEnd <= frameEnd ? declaredEnd : frameEnd;
    let end = declaredEnd;
    this.ipVersion = 6;
    this.addrBuf = buf;
    this.addrOff = off + 8;

    let pos = off + IPV6_HEADER;
    let reassembled = false;
    for (;;) {
      switch (next) {
        case IpProto.TCP:
        case IpProto.UDP:
          return this.transport(next, buf, pos, capturedEnd, end);
        case Ipv6Next.HOP_BY_HOP:
        case Ipv6Next.ROUTING:
        case Ipv6Next.DESTINATION:
        case Ipv6Next.MOBILITY:
        case Ipv6Next.HIP:
        case Ipv6Next.SHIM6: {
          if (pos + 2 > capturedEnd) return this.malformed('IPv6 extension header truncated');
          next = buf[pos];
          pos += (buf[pos + 1] + 1) << 3;
          if (pos > capturedEnd) return this.malformed('IPv6 extension header truncated');
          continue;
        }
        case Ipv6Next.AH: {
          if (pos + 2 > capturedEnd) return this.malformed('IPv6 AH header truncated');
          next = buf[pos];
          pos += (buf[pos + 1] + 2) << 2;
          if (pos > capturedEnd) return this.malformed('IPv6 AH header truncated');
          continue;
        }
        case Ipv6Next.FRAGMENT: {
          if (pos + 8 > capturedEnd) return this.malformed('IPv6 fragment header truncated');
          const fragNext = buf[pos];
          const offsetAndFlags = (buf[pos + 2] << 8) | buf[pos + 3];
          const fragOffset = offsetAndFlags & 0xfff8;
          const more = (offsetAndFlags & 1) !== 0;
          // An atomic fragment (offset 0, no more) is a whole datagram (RFC 6946).
          if (fragOffset === 0 && !more) {
            next = fragNext;
            pos += 8;
            continue;
          }
          if (reassembled) return this.malformed('IPv6 fragment header inside a reassembled datagram');
          const key = `6 ${this.interfaceKey} ${formatIPv6(buf, off + 8)} ${formatIPv6(buf, off + 24)} ${buf.readUInt32BE(pos + 4)}`;
          const whole = this.fragments.add(
            key,
            this.tsNs,
            fragOffset,
            more,
            buf.subarray(pos + 8, capturedEnd),
            fragNext,
            capturedEnd < end,
          );
          if (whole === null) {
            this.problem = this.fragments.problem || 'fragment held for reassembly';
            return null;
          }
          // The fragmentable part may start with more extension headers.
          reassembled = true;
          this.reassembledLength = whole.length;
          next = this.fragments.completedProto;
          buf = whole;
          pos = 0;
          capturedEnd = end = whole.length;
          continue;
        }
        default:
          // ICMPv6, ESP (opaque), No Next Header and anything else.
          this.counters.otherTransport++;
          this.problem = 'transport is not TCP or UDP';
          return null;
      }
    }
  }

  /**
   * TCP or UDP header at `start`. `capturedEnd` is where the captured bytes of
   * the datagram end, `declaredEnd` where its IP length says it ends.
   */
  private transport(proto: number, buf: Buffer, start: number, capturedEnd: number, declaredEnd: number): L4Packet | null {
    let payload: Buffer;
    let missing: number;
    let tcp: L4Packet['tcp'];
    if (proto === IpProto.TCP) {
      if (capturedEnd - start < TCP_HEADER) return this.malformed('TCP header truncated');
      const headerLen = (buf[start + 12] >> 4) << 2;
      if (headerLen < TCP_HEADER) return this.malformed('TCP data offset below 5');
      const payloadStart = start + headerLen;
      if (payloadStart > declaredEnd) return this.malformed('TCP data offset beyond the segment');
      payload = payloadStart < capturedEnd ? buf.subarray(payloadStart, capturedEnd) : EMPTY;
      missing = declaredEnd - payloadStart - payload.length;
      tcp = this.reuse ? this.frameTcp : emptyTcp();
      tcp.seq = buf.readUInt32BE(start + 4);
      tcp.ack = buf.readUInt32BE(start + 8);
      tcp.flags = buf[start + 13];
      tcp.window = (buf[start + 14] << 8) | buf[start + 15];
    } else if (proto === IpProto.UDP) {
      if (capturedEnd - start < UDP_HEADER) return this.malformed('UDP header truncated');
      const udpLen = (buf[start + 4] << 8) | buf[start + 5];
      if (udpLen < UDP_HEADER) return this.malformed('UDP length below 8');
      const udpEnd = start + udpLen;
      if (udpEnd > declaredEnd) return this.malformed('UDP length beyond the IP datagram');
      const payloadEnd = udpEnd < capturedEnd ? udpEnd : capturedEnd;
      payload = buf.subarray(start + UDP_HEADER, payloadEnd);
      missing = udpEnd - payloadEnd;
      tcp = undefined;
    } else {
      this.counters.otherTransport++;
      this.problem = 'transport is not TCP or UDP';
      return null;
    }
    const addrBuf = this.addrBuf;
    const addrOff = this.addrOff;
    let srcAddr: string;
    let dstAddr: string;
    if (this.ipVersion === 4) {
      srcAddr = this.v4Names.name(addrBuf, addrOff);
      dstAddr = this.v4Names.name(addrBuf, addrOff + 4);
    } else {
      srcAddr = this.v6Names.name(addrBuf, addrOff);
      dstAddr = this.v6Names.name(addrBuf, addrOff + 16);
    }
    this.counters.decoded++;
    if (missing > 0) this.counters.truncated++;
    const r = this.reuse ? this.frameResult : emptyResult();
    r.tsNs = this.tsNs;
    r.interfaceKey = this.interfaceKey;
    r.ipVersion = this.ipVersion;
    r.srcAddr = srcAddr;
    r.dstAddr = dstAddr;
    r.protocol = proto;
    r.srcPort = (buf[start] << 8) | buf[start + 1];
    r.dstPort = (buf[start + 2] << 8) | buf[start + 3];
    r.tcp = tcp;
    r.payload = payload;
    r.missing = missing;
    r.vlan = this.link.vlan;
    return r;
  }

  private malformed(why: string): null {
    this.counters.malformed++;
    this.problem = why;
    return null;
  }

  private unsupported(why: string): null {
    this.counters.unsupported++;
    this.problem = why;
    return null;
  }
}
