/**
 * Frame builders for decoder tests: each writes the header layout of its RFC
 * / IEEE spec field by field, so the tests check the decoder against the
 * specs, not against itself. Checksums are left zero (the decoder ignores them).
 */
import type { Packet } from '@panopticon/pcap';

export function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

export function v4(addr: string): Buffer {
  return Buffer.from(addr.split('.').map(Number));
}

/** Parses full or `::`-compressed IPv6 text (no dotted tail) into 16 bytes. */
export function v6(addr: string): Buffer {
  const [head, tail] = addr.includes('::') ? addr.split('::') : [addr, undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const zeros = tail === undefined ? 0 : 8 - h.length - t.length;
  const words = [...h, ...Array(zeros).fill('0'), ...t].map((w) => parseInt(w, 16));
  if (words.length !== 8) throw new Error(`bad IPv6 literal ${addr}`);
  return Buffer.concat(words.map(u16));
}

export interface TcpOpts {
  sport?: number;
  dport?: number;
  seq?: number;
  ack?: number;
  flags?: number;
  window?: number;
  /** Option bytes (padded to a multiple of 4 by the caller). */
  options?: Buffer;
  payload?: Buffer;
}

/** RFC 9293 section 3.1 header. */
export function tcp(o: TcpOpts = {}): Buffer {
  const options = o.options ?? Buffer.alloc(0);
  if (options.length % 4) throw new Error('TCP options must be padded to 32 bits');
  const h = Buffer.alloc(20);
  h.writeUInt16BE(o.sport ?? 40000, 0);
  h.writeUInt16BE(o.dport ?? 80, 2);
  h.writeUInt32BE((o.seq ?? 1000) >>> 0, 4);
  h.writeUInt32BE((o.ack ?? 0) >>> 0, 8);
  h[12] = ((20 + options.length) / 4) << 4;
  h[13] = o.flags ?? 0x18;
  h.writeUInt16BE(o.window ?? 65535, 14);
  return Buffer.concat([h, options, o.payload ?? Buffer.alloc(0)]);
}

/** RFC 768 header; `length` overrides the computed UDP length field. */
export function udp(o: { sport?: number; dport?: number; payload?: Buffer; length?: number } = {}): Buffer {
  const payload = o.payload ?? Buffer.alloc(0);
  const h = Buffer.alloc(8);
  h.writeUInt16BE(o.sport ?? 5353, 0);
  h.writeUInt16BE(o.dport ?? 53, 2);
  h.writeUInt16BE(o.length ?? 8 + payload.length, 4);
  return Buffer.concat([h, payload]);
}

export interface Ipv4Opts {
  src?: string;
  dst?: string;
  proto?: number;
  id?: number;
  /** Fragment offset in bytes (must be a multiple of 8). */
  fragOffset?: number;
  more?: boolean;
  dontFragment?: boolean;
  /** Option bytes, a multiple of 4. */
  options?: Buffer;
  /** Overrides the computed total length field. */
  totalLength?: number;
  ihl?: number;
  version?: number;
}

/** RFC 791 section 3.1 header followed by `payload`. */
export function ipv4(payload: Buffer, o: Ipv4Opts = {}): Buffer {
  const options = o.options ?? Buffer.alloc(0);
  const h = Buffer.alloc(20);
  h[0] = ((o.version ?? 4) << 4) | (o.ihl ?? (20 + options.length) / 4);
  h.writeUInt16BE(o.totalLength ?? 20 + options.length + payload.length, 2);
  h.writeUInt16BE(o.id ?? 0x1234, 4);
  const fragOffset = o.fragOffset ?? 0;
  if (fragOffset % 8) throw new Error('fragment offset must be a multiple of 8');
  h.writeUInt16BE((o.dontFragment ? 0x4000 : 0) | (o.more ? 0x2000 : 0) | (fragOffset / 8), 6);
  h[8] = 64;
  h[9] = o.proto ?? 6;
  v4(o.src ?? '192.168.1.10').copy(h, 12);
  v4(o.dst ?? '10.0.0.1').copy(h, 16);
  return Buffer.concat([h, options, payload]);
}

/** An IPv6 extension header in the generic TLV layout (RFC 8200 section 4), padded to 8n bytes. */
export function ext6(next: number, body = Buffer.alloc(6)): Buffer {
  const total = Math.ceil((body.length + 2) / 8) * 8;
  const h = Buffer.alloc(total);
  h[0] = next;
  h[1] = total / 8 - 1;
  body.copy(h, 2);
  return h;
}

/** RFC 8200 section 4.5 fragment header. */
export function frag6(next: number, offset: number, more: boolean, id: number): Buffer {
  if (offset % 8) throw new Error('fragment offset must be a multiple of 8');
  const h = Buffer.alloc(8);
  h[0] = next;
  h.writeUInt16BE(offset | (more ? 1 : 0), 2);
  h.writeUInt32BE(id >>> 0, 4);
  return h;
}

/** RFC 8200 section 3 header; `next` is the first next-header value, `rest` the headers and payload. */
export function ipv6(next: number, rest: Buffer, o: { src?: string; dst?: string; payloadLength?: number; version?: number } = {}): Buffer {
  const h = Buffer.alloc(40);
  h[0] = (o.version ?? 6) << 4;
  h.writeUInt16BE(o.payloadLength ?? rest.length, 4);
  h[6] = next;
  h[7] = 64;
  v6(o.src ?? '2001:db8::1').copy(h, 8);
  v6(o.dst ?? '2001:db8::2').copy(h, 24);
  return Buffer.concat([h, rest]);
}

export interface EtherOpts {
  /** Tags outermost first: [tpid, vid]. */
  tags?: Array<[number, number]>;
}

/** Ethernet II (IEEE 802.3 clause 3 with an EtherType) with optional 802.1Q/802.1ad tags. */
export function ether(type: number, payload: Buffer, o: EtherOpts = {}): Buffer {
  const macs = Buffer.from('020000000001020000000002', 'hex');
  const tags = (o.tags ?? []).map(([tpid, vid]) => Buffer.concat([u16(tpid), u16(vid & 0x0fff)]));
  return Buffer.concat([macs, ...tags, u16(type), payload]);
}

/** Linux cooked capture v1 (LINKTYPE_LINUX_SLL): 16-byte header, protocol last. */
export function sll(protocol: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(16);
  h.writeUInt16BE(0, 0); // packet type: to us
  h.writeUInt16BE(1, 2); // ARPHRD_ETHER
  h.writeUInt16BE(6, 4);
  Buffer.from('020000000001', 'hex').copy(h, 6);
  h.writeUInt16BE(protocol, 14);
  return Buffer.concat([h, payload]);
}

/** Linux cooked capture v2 (LINKTYPE_LINUX_SLL2): 20-byte header, protocol first. */
export function sll2(protocol: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(20);
  h.writeUInt16BE(protocol, 0);
  h.writeUInt32BE(3, 4); // interface index
  h.writeUInt16BE(1, 8); // ARPHRD_ETHER
  h[10] = 4; // PACKET_OUTGOING
  h[11] = 6;
  Buffer.from('020000000001', 'hex').copy(h, 12);
  return Buffer.concat([h, payload]);
}

/** BSD loopback header: the address family in the given byte order. */
export function nullHeader(family: number, payload: Buffer, littleEndian: boolean): Buffer {
  const h = Buffer.alloc(4);
  if (littleEndian) h.writeUInt32LE(family);
  else h.writeUInt32BE(family);
  return Buffer.concat([h, payload]);
}

let nextTs = 1_700_000_000_000_000_000n;

export function packet(linkType: number, data: Buffer, o: { tsNs?: bigint; interfaceKey?: number; originalLength?: number } = {}): Packet {
  const tsNs = o.tsNs ?? (nextTs += 1000n);
  return {
    interfaceKey: o.interfaceKey ?? 0,
    linkType,
    tsNs,
    capturedLength: data.length,
    originalLength: o.originalLength ?? data.length,
    data,
    flags: 0,
    offset: 0,
  };
}

/** The first `n` bytes of a frame, as a snap length of `n` would capture it. */
export function snap(p: Packet, n: number): Packet {
  return { ...p, data: p.data.subarray(0, n), capturedLength: Math.min(n, p.data.length) };
}

/** A classic little-endian microsecond pcap file holding `frames` (for feeding tshark). */
export function pcapFile(linkType: number, frames: Buffer[]): Buffer {
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(262144, 16);
  header.writeUInt32LE(linkType, 20);
  const parts = [header];
  frames.forEach((f, i) => {
    const r = Buffer.alloc(16);
    r.writeUInt32LE(1_700_000_000, 0);
    r.writeUInt32LE(i, 4);
    r.writeUInt32LE(f.length, 8);
    r.writeUInt32LE(f.length, 12);
    parts.push(r, f);
  });
  return Buffer.concat(parts);
}
