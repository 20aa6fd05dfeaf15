/**
 * In-kernel filters as given on the command line: ports, hosts or CIDRs
 * (IPv4 and IPv6), transport protocols. Each kind given must match; within a
 * kind any value matches, on source or destination.
 */
import { isIP } from 'node:net';

export interface HostPrefix {
  /** 4 or 16 bytes, network order, bits past the prefix cleared. */
  address: Buffer;
  prefixLength: number;
  text: string;
}

export interface Filters {
  ports: number[];
  hosts: HostPrefix[];
  protocols: ('tcp' | 'udp')[];
}

export const NO_FILTERS: Filters = { ports: [], hosts: [], protocols: [] };

/** A user mistake in a filter value; the message names the value. */
export class FilterError extends Error {}

export function parsePort(text: string): number {
  const n = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1 && n <= 65535)) throw new FilterError(`--port ${text}: not a port number (1-65535)`);
  return n;
}

export function parseHost(text: string): HostPrefix {
  const slash = text.indexOf('/');
  const addr = slash < 0 ? text : text.slice(0, slash);
  const family = isIP(addr);
  if (family === 0) throw new FilterError(`--host ${text}: not an IPv4 or IPv6 address or CIDR`);
  const bits = family === 4 ? 32 : 128;
  let prefixLength = bits;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    prefixLength = /^\d{1,3}$/.test(p) ? Number(p) : NaN;
    if (!(prefixLength >= 0 && prefixLength <= bits)) throw new FilterError(`--host ${text}: prefix length must be 0-${bits}`);
  }
  const address = family === 4 ? Buffer.from(addr.split('.').map(Number)) : ipv6Bytes(addr);
  for (let i = 0; i < address.length; i++) {
    const keep = Math.max(0, Math.min(8, prefixLength - i * 8));
    address[i] &= (0xff << (8 - keep)) & 0xff;
  }
  return { address, prefixLength, text };
}

export function parseProtocol(text: string): 'tcp' | 'udp' {
  const t = text.toLowerCase();
  if (t !== 'tcp' && t !== 'udp') throw new FilterError(`--proto ${text}: must be tcp or udp`);
  return t;
}

function ipv6Bytes(text: string): Buffer {
  let s = text;
  // An embedded dotted IPv4 tail (::ffff:1.2.3.4) becomes two hex groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4) {
    const b = v4[1].split('.').map(Number);
    s = s.slice(0, v4.index) + `${((b[0] << 8) | b[1]).toString(16)}:${((b[2] << 8) | b[3]).toString(16)}`;
  }
  const [head, tail] = s.includes('::') ? s.split('::') : [s, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}
