/**
 * Link layers: find where the IP header starts in a frame, walking VLAN tags,
 * PPPoE session headers and MPLS label stacks on the way. Results go into the
 * fields of one reused object, so a frame costs no allocation unless it
 * carries VLAN tags (their ids are handed to flow tracking).
 */
import { LinkType } from '@panopticon/pcap';

export const EtherType = {
  IPV4: 0x0800,
  IPV6: 0x86dd,
  VLAN: 0x8100, // 802.1Q C-tag
  QINQ: 0x88a8, // 802.1ad S-tag
  QINQ_OLD_9100: 0x9100, // pre-standard S-tags still seen in the wild
  QINQ_OLD_9200: 0x9200,
  PPPOE_SESSION: 0x8864,
  MPLS_UNICAST: 0x8847,
  MPLS_MULTICAST: 0x8848,
} as const;

/** Smallest EtherType value; anything at or below 1500 is an 802.3 length. */
const ETHERTYPE_MIN = 0x0600;

const PPP_IPV4 = 0x0021;
const PPP_IPV6 = 0x0057;

/** BSD address families seen in DLT_NULL / DLT_LOOP headers. */
const AF_INET = 2;
const AF_INET6_BSD = 24; // NetBSD, OpenBSD, BSD/OS
const AF_INET6_FREEBSD = 28;
const AF_INET6_DARWIN = 30;

/** DLT_RAW as written by some libpcap builds instead of LINKTYPE_RAW (101). */
const DLT_RAW_COMMON = 12;
const DLT_RAW_OPENBSD = 14;

const ETHERNET_HEADER = 14;
const SLL_HEADER = 16;
const SLL2_HEADER = 20;
const NULL_HEADER = 4;
const VLAN_TAG = 4;
const PPPOE_HEADER = 8; // 6 bytes PPPoE + 2 bytes PPP protocol
const MPLS_LABEL = 4;
/** Tag and label stacks deeper than this are treated as damage, not walked. */
const MAX_STACK = 8;

/** What `LinkLayer.locate` found. */
export const Network = {
  MALFORMED: -1,
  UNSUPPORTED: 0,
  IPV4: 4,
  IPV6: 6,
} as const;
export type Network = (typeof Network)[keyof typeof Network];

/** The link types `locate` decodes; frames of any other are UNSUPPORTED. */
export const DECODED_LINK_TYPES: ReadonlySet<number> = new Set([
  LinkType.ETHERNET, LinkType.LINUX_SLL, LinkType.LINUX_SLL2, LinkType.NULL, LinkType.LOOP, LinkType.RAW, DLT_RAW_COMMON, DLT_RAW_OPENBSD, LinkType.IPV4, LinkType.IPV6,
]);

export class LinkLayer {
  /** Offset of the network header in the frame, when `locate` returned IPV4/IPV6. */
  offset = 0;
  /** VLAN ids, outermost first, or undefined when the frame had no tags. */
  vlan: number[] | undefined = undefined;
  /** Why the last frame was MALFORMED or UNSUPPORTED (a constant string). */
  problem = '';

  /**
   * The frame is `buf[start, end)`: offsets stay absolute in `buf`, so a
   * reader can hand over the frame where it sits in its input, without a
   * Buffer view per packet.
   */
  locate(linkType: number, buf: Buffer, start: number, end: number): Network {
    this.vlan = undefined;
    switch (linkType) {
      case LinkType.ETHERNET:
        if (end - start < ETHERNET_HEADER) return this.malformed('Ethernet header truncated');
        return this.etherType(buf, start + ETHERNET_HEADER, end, (buf[start + 12] << 8) | buf[start + 13]);
      case LinkType.LINUX_SLL:
        if (end - start < SLL_HEADER) return this.malformed('Linux SLL header truncated');
        return this.etherType(buf, start + SLL_HEADER, end, (buf[start + 14] << 8) | buf[start + 15]);
      case LinkType.LINUX_SLL2:
        if (end - start < SLL2_HEADER) return this.malformed('Linux SLL2 header truncated');
        return this.etherType(buf, start + SLL2_HEADER, end, (buf[start] << 8) | buf[start + 1]);
      case LinkType.NULL:
        return this.nullHeader(buf, start, end, false);
      case LinkType.LOOP:
        return this.nullHeader(buf, start, end, true);
      case LinkType.RAW:
      case DLT_RAW_COMMON:
      case DLT_RAW_OPENBSD:
        return this.rawIp(buf, start, end);
      case LinkType.IPV4:
        this.offset = start;
        return Network.IPV4;
      case LinkType.IPV6:
        this.offset = start;
        return Network.IPV6;
      default:
        return this.unsupported('link type not decoded');
    }
  }

  /** Follows an EtherType chain (tags, PPPoE, MPLS) starting at `off` to an IP header. */
  private etherType(buf: Buffer, off: number, end: number, type: number): Network {
    for (let depth = 0; depth <= MAX_STACK; depth++) {
      switch (type) {
        case EtherType.IPV4:
          this.offset = off;
          return Network.IPV4;
        case EtherType.IPV6:
          this.offset = off;
          return Network.IPV6;
        case EtherType.VLAN:
        case EtherType.QINQ:
        case EtherType.QINQ_OLD_9100:
        case EtherType.QINQ_OLD_9200:
          if (off + VLAN_TAG > end) return this.malformed('VLAN tag truncated');
          (this.vlan ??= []).push(((buf[off] << 8) | buf[off + 1]) & 0x0fff);
          type = (buf[off + 2] << 8) | buf[off + 3];
          off += VLAN_TAG;
          continue;
        case EtherType.PPPOE_SESSION:
          return this.pppoe(buf, off, end);
        case EtherType.MPLS_UNICAST:
        case EtherType.MPLS_MULTICAST:
          return this.mpls(buf, off, end);
        default:
          return this.unsupported(type < ETHERTYPE_MIN ? '802.3 length frame' : 'EtherType not decoded');
      }
    }
    return this.malformed('VLAN tag stack too deep');
  }

  private pppoe(buf: Buffer, off: number, end: number): Network {
    if (off + PPPOE_HEADER > end) return this.malformed('PPPoE header truncated');
    if (buf[off] !== 0x11 || buf[off + 1] !== 0) return this.malformed('PPPoE session header invalid');
    const proto = (buf[off + 6] << 8) | buf[off + 7];
    this.offset = off + PPPOE_HEADER;
    if (proto === PPP_IPV4) return Network.IPV4;
    if (proto === PPP_IPV6) return Network.IPV6;
    return this.unsupported('PPP protocol not decoded');
  }

  /** MPLS has no payload type: after the bottom-of-stack label, the IP version nibble decides. */
  private mpls(buf: Buffer, off: number, end: number): Network {
    for (let depth = 0; depth < MAX_STACK; depth++) {
      if (off + MPLS_LABEL > end) return this.malformed('MPLS label truncated');
      const bottom = buf[off + 2] & 1;
      off += MPLS_LABEL;
      if (bottom) return this.rawIp(buf, off, end);
    }
    return this.malformed('MPLS label stack too deep');
  }

  private rawIp(buf: Buffer, off: number, end: number): Network {
    if (off >= end) return this.malformed('raw IP frame empty');
    this.offset = off;
    const version = buf[off] >> 4;
    if (version === 4) return Network.IPV4;
    if (version === 6) return Network.IPV6;
    return this.unsupported('raw frame is neither IPv4 nor IPv6');
  }

  /**
   * DLT_NULL holds the family in the capturing host's byte order, DLT_LOOP in
   * network order. Families fit in one byte, so a value with high bits set
   * was written in the other order.
   */
  private nullHeader(buf: Buffer, start: number, end: number, networkOrder: boolean): Network {
    if (end - start < NULL_HEADER) return this.malformed('loopback header truncated');
    let family = networkOrder ? buf.readUInt32BE(start) : buf.readUInt32LE(start);
    if (!networkOrder && family > 0xffff) family = buf.readUInt32BE(start);
    this.offset = start + NULL_HEADER;
    switch (family) {
      case AF_INET:
        return Network.IPV4;
      case AF_INET6_BSD:
      case AF_INET6_FREEBSD:
      case AF_INET6_DARWIN:
        return Network.IPV6;
      default:
        return this.unsupported('loopback address family not decoded');
    }
  }

  private malformed(why: string): Network {
    this.problem = why;
    return Network.MALFORMED;
  }

  private unsupported(why: string): Network {
    this.problem = why;
    return Network.UNSUPPORTED;
  }
}
