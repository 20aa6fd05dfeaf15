/**
 * Hand-built frames for the classifier tests: Ethernet II + IPv4 (RFC 791) or
 * IPv6 (RFC 8200, with extension headers) + TCP (RFC 9293) or UDP (RFC 768).
 */
export const ETH_P_IP = 0x0800;
export const ETH_P_IPV6 = 0x86dd;
export const ETH_P_ARP = 0x0806;
export const TCP = 6;
export const UDP = 17;
export const ICMP = 1;

function ethernet(type: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(14);
  Buffer.from([0x02, 0, 0, 0, 0, 2]).copy(h, 0);
  Buffer.from([0x02, 0, 0, 0, 0, 1]).copy(h, 6);
  h.writeUInt16BE(type, 12);
  return Buffer.concat([h, payload]);
}

export function l4(proto: number, sport: number, dport: number, payload: Buffer): Buffer {
  if (proto === TCP) {
    const h = Buffer.alloc(20);
    h.writeUInt16BE(sport, 0);
    h.writeUInt16BE(dport, 2);
    h.writeUInt32BE(1, 4);
    h[12] = 5 << 4; // data offset
    h[13] = 0x18; // PSH|ACK
    h.writeUInt16BE(65535, 14);
    return Buffer.concat([h, payload]);
  }
  if (proto === UDP) {
    const h = Buffer.alloc(8);
    h.writeUInt16BE(sport, 0);
    h.writeUInt16BE(dport, 2);
    h.writeUInt16BE(8 + payload.length, 4);
    return Buffer.concat([h, payload]);
  }
  const h = Buffer.from([8, 0, 0, 0, 0, 1, 0, 1]); // ICMP echo request
  return Buffer.concat([h, payload]);
}

function checksum(b: Buffer): number {
  let sum = 0;
  for (let i = 0; i < b.length; i += 2) sum += (b[i] << 8) | (b[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

export function ipv4(o: { src: string; dst: string; proto: number; body: Buffer; fragOffset?: number; moreFragments?: boolean; options?: Buffer }): Buffer {
  const opts = o.options ?? Buffer.alloc(0);
  const h = Buffer.alloc(20 + opts.length);
  h[0] = 0x40 | ((20 + opts.length) / 4);
  h.writeUInt16BE(h.length + o.body.length, 2);
  h.writeUInt16BE(0x1234, 4);
  h.writeUInt16BE(((o.moreFragments ? 1 : 0) << 13) | ((o.fragOffset ?? 0) / 8), 6);
  h[8] = 64;
  h[9] = o.proto;
  Buffer.from(o.src.split('.').map(Number)).copy(h, 12);
  Buffer.from(o.dst.split('.').map(Number)).copy(h, 16);
  opts.copy(h, 20);
  h.writeUInt16BE(checksum(h), 10);
  return ethernet(ETH_P_IP, Buffer.concat([h, o.body]));
}

export function v6bytes(text: string): Buffer {
  const [head, tail] = text.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = text.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2));
  return b;
}

/** An extension header: next header, length in 8-octet units beyond the first, padding. */
export function ext(next: number, units = 0): Buffer {
  const b = Buffer.alloc(8 * (units + 1));
  b[0] = next;
  b[1] = units;
  return b;
}

export function fragmentHeader(next: number, offset: number, more: boolean): Buffer {
  const b = Buffer.alloc(8);
  b[0] = next;
  b.writeUInt16BE(offset | (more ? 1 : 0), 2); // offset is in bytes, a multiple of 8
  b.writeUInt32BE(0xabcd, 4);
  return b;
}

export function ipv6(o: { src: string; dst: string; next: number; body: Buffer }): Buffer {
  const h = Buffer.alloc(40);
  h.writeUInt32BE(0x60000000, 0);
  h.writeUInt16BE(o.body.length, 4);
  h[6] = o.next;
  h[7] = 64;
  v6bytes(o.src).copy(h, 8);
  v6bytes(o.dst).copy(h, 24);
  return ethernet(ETH_P_IPV6, Buffer.concat([h, o.body]));
}

export function arp(): Buffer {
  const b = Buffer.alloc(28);
  b.writeUInt16BE(1, 0);
  b.writeUInt16BE(ETH_P_IP, 2);
  b[4] = 6;
  b[5] = 4;
  b.writeUInt16BE(1, 6);
  return ethernet(ETH_P_ARP, b);
}
