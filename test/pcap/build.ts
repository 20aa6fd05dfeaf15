/**
 * A deliberately naive, test-only encoder for hand-built pcap and pcapng
 * inputs in either byte order, written field by field from the specs
 * (draft-ietf-opsawg-pcapng, draft-ietf-opsawg-pcap) and independent of the
 * package's writer, so reader tests do not check the code against itself.
 */
export type Order = 'le' | 'be';

export const cat = (...parts: Buffer[]): Buffer => Buffer.concat(parts);
export const zeros = (n: number): Buffer => Buffer.alloc(n);
const pad = (n: number) => (4 - (n % 4)) % 4;

export function u8(v: number): Buffer {
  return Buffer.from([v]);
}
export function u16(o: Order, v: number): Buffer {
  const b = Buffer.alloc(2);
  if (o === 'le') b.writeUInt16LE(v);
  else b.writeUInt16BE(v);
  return b;
}
export function u32(o: Order, v: number): Buffer {
  const b = Buffer.alloc(4);
  if (o === 'le') b.writeUInt32LE(v >>> 0);
  else b.writeUInt32BE(v >>> 0);
  return b;
}
export function u64(o: Order, v: bigint): Buffer {
  const b = Buffer.alloc(8);
  if (o === 'le') b.writeBigUInt64LE(v);
  else b.writeBigUInt64BE(v);
  return b;
}
export function i64(o: Order, v: bigint): Buffer {
  const b = Buffer.alloc(8);
  if (o === 'le') b.writeBigInt64LE(v);
  else b.writeBigInt64BE(v);
  return b;
}
/** A 64-bit timestamp as pcapng stores it: high 32 bits, then low 32 bits. */
export function ts(o: Order, units: bigint): Buffer {
  return cat(u32(o, Number(units >> 32n)), u32(o, Number(units & 0xffffffffn)));
}
export function opt(o: Order, code: number, value: Buffer | string): Buffer {
  const v = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  return cat(u16(o, code), u16(o, v.length), v, zeros(pad(v.length)));
}
export function endOpt(): Buffer {
  return zeros(4);
}
/** Type, total length, body padded to 32 bits, total length again. */
export function block(o: Order, type: number, ...body: Buffer[]): Buffer {
  const b = cat(...body);
  const padded = cat(b, zeros(pad(b.length)));
  const total = 12 + padded.length;
  return cat(u32(o, type), u32(o, total), padded, u32(o, total));
}
export function shb(o: Order, ...options: Buffer[]): Buffer {
  return block(o, 0x0a0d0d0a, u32(o, 0x1a2b3c4d), u16(o, 1), u16(o, 0), i64(o, -1n), ...options);
}
export function idb(o: Order, linkType: number, snapLen: number, ...options: Buffer[]): Buffer {
  return block(o, 1, u16(o, linkType), u16(o, 0), u32(o, snapLen), ...options);
}
export function epb(o: Order, ifId: number, units: bigint, data: Buffer, origLen: number, ...options: Buffer[]): Buffer {
  return block(o, 6, u32(o, ifId), ts(o, units), u32(o, data.length), u32(o, origLen), data, zeros(pad(data.length)), ...options);
}
export function spb(o: Order, data: Buffer, origLen: number): Buffer {
  return block(o, 3, u32(o, origLen), data);
}
export function pb(o: Order, ifId: number, drops: number, units: bigint, data: Buffer, origLen: number, ...options: Buffer[]): Buffer {
  return block(o, 2, u16(o, ifId), u16(o, drops), ts(o, units), u32(o, data.length), u32(o, origLen), data, zeros(pad(data.length)), ...options);
}
export function isb(o: Order, ifId: number, units: bigint, ...options: Buffer[]): Buffer {
  return block(o, 5, u32(o, ifId), ts(o, units), ...options);
}
export function custom(o: Order, copyable: boolean, pen: number, data: Buffer): Buffer {
  return block(o, copyable ? 0x00000bad : 0x40000bad, u32(o, pen), data);
}

export function pcapHeader(o: Order, magic: number, snapLen: number, linkType: number): Buffer {
  return cat(u32(o, magic), u16(o, 2), u16(o, 4), u32(o, 0), u32(o, 0), u32(o, snapLen), u32(o, linkType));
}
export function pcapRecord(o: Order, sec: number, frac: number, data: Buffer, origLen: number, extra?: Buffer): Buffer {
  return cat(u32(o, sec), u32(o, frac), u32(o, data.length), u32(o, origLen), extra ?? zeros(0), data);
}
