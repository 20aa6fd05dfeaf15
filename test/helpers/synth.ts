/**
 * Builds captures by hand: Ethernet/IPv4|IPv6/TCP|UDP frames and whole TCP
 * conversations written as pcapng with the project's writer. Checksums are
 * left zero (the decoder ignores them, as offload makes them unreliable).
 */
import { PcapngWriter, LinkType } from '@panopticon/pcap';

export interface Endpoint {
  addr: string;
  port: number;
}

function ipv4Bytes(a: string): number[] {
  return a.split('.').map(Number);
}

function ipv6Bytes(a: string): number[] {
  const [head, tail] = a.includes('::') ? a.split('::') : [a, ''];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  return groups.flatMap((g) => {
    const v = parseInt(g, 16);
    return [v >> 8, v & 0xff];
  });
}

export interface TcpSegmentSpec {
  src: Endpoint;
  dst: Endpoint;
  seq: number;
  ack?: number;
  flags: number; // TcpFlag bits
  payload?: Buffer;
  /** Bytes the IP header claims beyond the captured payload (snaplen truncation). */
  truncatedBy?: number;
}

export const F = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10 } as const;

/** Ethernet + IPv4/IPv6 + TCP frame. */
export function tcpFrame(s: TcpSegmentSpec): Buffer {
  const payload = s.payload ?? Buffer.alloc(0);
  const v6 = s.src.addr.includes(':');
  const tcp = Buffer.alloc(20);
  tcp.writeUInt16BE(s.src.port, 0);
  tcp.writeUInt16BE(s.dst.port, 2);
  tcp.writeUInt32BE(s.seq >>> 0, 4);
  tcp.writeUInt32BE((s.ack ?? 0) >>> 0, 8);
  tcp[12] = 5 << 4;
  tcp[13] = s.flags;
  tcp.writeUInt16BE(65535, 14);
  const l4len = tcp.length + payload.length + (s.truncatedBy ?? 0);
  let ip: Buffer;
  if (v6) {
    ip = Buffer.alloc(40);
    ip[0] = 0x60;
    ip.writeUInt16BE(l4len, 4);
    ip[6] = 6;
    ip[7] = 64;
    Buffer.from(ipv6Bytes(s.src.addr)).copy(ip, 8);
    Buffer.from(ipv6Bytes(s.dst.addr)).copy(ip, 24);
  } else {
    ip = Buffer.alloc(20);
    ip[0] = 0x45;
    ip.writeUInt16BE(20 + l4len, 2);
    ip[8] = 64;
    ip[9] = 6;
    Buffer.from(ipv4Bytes(s.src.addr)).copy(ip, 12);
    Buffer.from(ipv4Bytes(s.dst.addr)).copy(ip, 16);
  }
  const eth = Buffer.alloc(14);
  eth.writeUInt16BE(v6 ? 0x86dd : 0x0800, 12);
  return Buffer.concat([eth, ip, tcp, payload]);
}

/** Ethernet + IPv4/IPv6 + UDP frame. */
export function udpFrame(src: Endpoint, dst: Endpoint, payload: Buffer): Buffer {
  const v6 = src.addr.includes(':');
  const udp = Buffer.alloc(8);
  udp.writeUInt16BE(src.port, 0);
  udp.writeUInt16BE(dst.port, 2);
  udp.writeUInt16BE(8 + payload.length, 4);
  let ip: Buffer;
  if (v6) {
    ip = Buffer.alloc(40);
    ip[0] = 0x60;
    ip.writeUInt16BE(8 + payload.length, 4);
    ip[6] = 17;
    ip[7] = 64;
    Buffer.from(ipv6Bytes(src.addr)).copy(ip, 8);
    Buffer.from(ipv6Bytes(dst.addr)).copy(ip, 24);
  } else {
    ip = Buffer.alloc(20);
    ip[0] = 0x45;
    ip.writeUInt16BE(28 + payload.length, 2);
    ip[8] = 64;
    ip[9] = 17;
    Buffer.from(ipv4Bytes(src.addr)).copy(ip, 12);
    Buffer.from(ipv4Bytes(dst.addr)).copy(ip, 16);
  }
  const eth = Buffer.alloc(14);
  eth.writeUInt16BE(v6 ? 0x86dd : 0x0800, 12);
  return Buffer.concat([eth, ip, udp, payload]);
}

export interface Frame {
  tsNs: bigint;
  data: Buffer;
  /** Original length when the frame was cut (snaplen). */
  originalLength?: number;
}

/** A pcapng file (one Ethernet interface) holding the frames; `application` names its writer (shb_userappl). */
export function pcapng(frames: Frame[], snapLen = 262144, opts: { application?: string; interfaceName?: string } = {}): Buffer {
  const w = new PcapngWriter();
  const parts = [w.sectionHeader({ application: opts.application ?? 'panopticon tests' })];
  const idb = w.interfaceDescription({ linkType: LinkType.ETHERNET, snapLen, name: opts.interfaceName ?? 'synth0' });
  parts.push(idb.block);
  for (const f of frames) {
    parts.push(w.enhancedPacket({ interfaceId: idb.id, tsNs: f.tsNs, data: f.data, originalLength: f.originalLength ?? f.data.length }));
  }
  return Buffer.concat(parts);
}

/**
 * A TCP conversation scripted as a list of sends. Sequence numbers and ACKs
 * are tracked; each send becomes one segment (or several, with `mss`).
 */
export class Conversation {
  readonly frames: Frame[] = [];
  private seq: [number, number];
  private t: bigint;

  constructor(
    readonly client: Endpoint,
    readonly server: Endpoint,
    opts: { isn?: [number, number]; startNs?: bigint } = {},
  ) {
    this.seq = opts.isn ?? [1000, 5000];
    this.t = opts.startNs ?? 1_700_000_000_000_000_000n;
  }

  private tick(): bigint {
    this.t += 1_000_000n; // 1 ms between packets
    return this.t;
  }

  handshake(): this {
    const [c, s] = this.seq;
    this.frames.push({ tsNs: this.tick(), data: tcpFrame({ src: this.client, dst: this.server, seq: c, flags: F.SYN }) });
    this.frames.push({ tsNs: this.tick(), data: tcpFrame({ src: this.server, dst: this.client, seq: s, ack: c + 1, flags: F.SYN | F.ACK }) });
    this.seq = [c + 1, s + 1];
    this.frames.push({ tsNs: this.tick(), data: tcpFrame({ src: this.client, dst: this.server, seq: c + 1, ack: s + 1, flags: F.ACK }) });
    return this;
  }

  /** Segments of `data` from one side (0 client, 1 server), `mss` bytes each. */
  segments(side: 0 | 1, data: Buffer | string, mss = 1460): Frame[] {
    const buf = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
    const out: Frame[] = [];
    const [src, dst] = side === 0 ? [this.client, this.server] : [this.server, this.client];
    for (let off = 0; off < buf.length; off += mss) {
      const payload = buf.subarray(off, Math.min(buf.length, off + mss));
      out.push({
        tsNs: this.tick(),
        data: tcpFrame({ src, dst, seq: this.seq[side], ack: this.seq[1 - side], flags: F.ACK | F.PSH, payload }),
      });
      this.seq[side] = (this.seq[side] + payload.length) >>> 0;
    }
    return out;
  }

  send(side: 0 | 1, data: Buffer | string, mss?: number): this {
    this.frames.push(...this.segments(side, data, mss));
    return this;
  }

  fin(side: 0 | 1): this {
    const [src, dst] = side === 0 ? [this.client, this.server] : [this.server, this.client];
    this.frames.push({ tsNs: this.tick(), data: tcpFrame({ src, dst, seq: this.seq[side], ack: this.seq[1 - side], flags: F.FIN | F.ACK }) });
    this.seq[side] = (this.seq[side] + 1) >>> 0;
    return this;
  }

  close(): this {
    return this.fin(0).fin(1);
  }

  /** Lets `ns` of capture time pass before the next packet. */
  wait(ns: bigint): this {
    this.t += ns;
    return this;
  }

  rst(side: 0 | 1): this {
    const [src, dst] = side === 0 ? [this.client, this.server] : [this.server, this.client];
    this.frames.push({ tsNs: this.tick(), data: tcpFrame({ src, dst, seq: this.seq[side], flags: F.RST }) });
    return this;
  }

  pcapng(): Buffer {
    return pcapng(this.frames);
  }
}
