/**
 * Builds protected QUIC long-header packets for tests: the sender's side of
 * RFC 9001 §5 (AEAD, then header protection). Checked against RFC 9001
 * Appendix A and RFC 9369 Appendix A, whose packets it reproduces byte for
 * byte (test/quic/initial.test.ts), so captures built with it are what a
 * real endpoint would send.
 */
import { createCipheriv } from 'node:crypto';
import { headerMask, type InitialKeys } from '../../packages/protocols/src/quic/initial.js';

export function varint(v: number): Buffer {
  if (v < 0x40) return Buffer.from([v]);
  if (v < 0x4000) return Buffer.from([0x40 | (v >> 8), v & 0xff]);
  if (v < 0x40000000) {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(0x80000000 + v);
    return b;
  }
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(v) | (3n << 62n));
  return b;
}

export interface LongPacketSpec {
  /** The type code as it goes on the wire (bits 4–5), for the version's numbering. */
  typeCode: number;
  version: number;
  dcid: Buffer;
  scid: Buffer;
  /** Initial packets only: the token (empty for a client's first). */
  token?: Buffer;
  packetNumber: number;
  /** Bytes of the packet number on the wire, 1–4. */
  pnLength: number;
  /** The frames; padded with PADDING frames to `padTo` bytes of packet when given. */
  frames: Buffer;
  padTo?: number;
}

/** The unprotected header of a long packet with `payloadLength` bytes of ciphertext and tag after the packet number. */
function header(s: LongPacketSpec, payloadLength: number): Buffer {
  const first = 0xc0 | (s.typeCode << 4) | (s.pnLength - 1);
  const parts = [Buffer.from([first]), Buffer.alloc(4), Buffer.from([s.dcid.length]), s.dcid, Buffer.from([s.scid.length]), s.scid];
  parts[1]!.writeUInt32BE(s.version);
  if (s.token !== undefined) parts.push(varint(s.token.length), s.token);
  parts.push(varint(s.pnLength + payloadLength));
  const pn = Buffer.alloc(s.pnLength);
  for (let i = 0; i < s.pnLength; i++) pn[s.pnLength - 1 - i] = Math.floor(s.packetNumber / 256 ** i) & 0xff;
  parts.push(pn);
  return Buffer.concat(parts);
}

/** A protected long-header packet (Initial, 0-RTT or Handshake) under `keys`. */
export function sealLong(keys: InitialKeys, s: LongPacketSpec): Buffer {
  let frames = s.frames;
  if (s.padTo !== undefined) {
    // the Length field's size depends on the payload's: pad with a 2-byte Length assumed, as real packets of this size have
    const bare = header(s, frames.length + 16).length + frames.length + 16;
    if (bare < s.padTo) frames = Buffer.concat([frames, Buffer.alloc(s.padTo - bare)]);
  }
  const head = header(s, frames.length + 16);
  const pnOffset = head.length - s.pnLength;
  const nonce = Buffer.from(keys.iv);
  for (let i = 0; i < 8; i++) nonce[nonce.length - 1 - i]! ^= Math.floor(s.packetNumber / 256 ** i) & 0xff;
  const c = createCipheriv('aes-128-gcm', keys.key, nonce);
  c.setAAD(head);
  const body = Buffer.concat([c.update(frames), c.final(), c.getAuthTag()]);
  const pkt = Buffer.concat([head, body]);
  const mask = headerMask(keys.hp, pkt.subarray(pnOffset + 4, pnOffset + 20));
  pkt[0] = pkt[0]! ^ (mask[0]! & 0x0f);
  for (let i = 0; i < s.pnLength; i++) pkt[pnOffset + i] = pkt[pnOffset + i]! ^ mask[1 + i]!;
  return pkt;
}

/** A CRYPTO frame. */
export function cryptoFrame(offset: number, data: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0x06]), varint(offset), varint(data.length), data]);
}

/** A TLS handshake message: type, 3-byte length, body. */
export function handshakeMessage(type: number, body: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h[0] = type;
  h.writeUIntBE(body.length, 1, 3);
  return Buffer.concat([h, body]);
}

export interface ShortPacketSpec {
  dcid: Buffer;
  packetNumber: number;
  pnLength: number;
  keyPhase: 0 | 1;
  frames: Buffer;
  /** Clear the fixed bit (0x40), as a sender greasing it does (RFC 9287). */
  greaseFixedBit?: boolean;
}

/** A protected short-header (1-RTT) packet under `keys` (AES-128-GCM). */
export function sealShort(keys: InitialKeys, s: ShortPacketSpec): Buffer {
  const pn = Buffer.alloc(s.pnLength);
  for (let i = 0; i < s.pnLength; i++) pn[s.pnLength - 1 - i] = Math.floor(s.packetNumber / 256 ** i) & 0xff;
  const first = (s.greaseFixedBit ? 0x00 : 0x40) | (s.keyPhase << 2) | (s.pnLength - 1);
  const head = Buffer.concat([Buffer.from([first]), s.dcid, pn]);
  // at least 4 bytes of packet number and payload before the 16-byte sample (RFC 9001 §5.4.2)
  const frames = s.frames.length + s.pnLength < 4 ? Buffer.concat([s.frames, Buffer.alloc(4 - s.pnLength - s.frames.length)]) : s.frames;
  const nonce = Buffer.from(keys.iv);
  for (let i = 0; i < 8; i++) nonce[nonce.length - 1 - i]! ^= Math.floor(s.packetNumber / 256 ** i) & 0xff;
  const c = createCipheriv('aes-128-gcm', keys.key, nonce);
  c.setAAD(head);
  const pkt = Buffer.concat([head, c.update(frames), c.final(), c.getAuthTag()]);
  const pnOffset = 1 + s.dcid.length;
  const mask = headerMask(keys.hp, pkt.subarray(pnOffset + 4, pnOffset + 20));
  pkt[0] = pkt[0]! ^ (mask[0]! & 0x1f);
  for (let i = 0; i < s.pnLength; i++) pkt[pnOffset + i] = pkt[pnOffset + i]! ^ mask[1 + i]!;
  return pkt;
}

/** A STREAM frame with offset, length and FIN as given (RFC 9000 §19.8). */
export function streamFrame(id: number, offset: number, data: Buffer, fin = false): Buffer {
  return Buffer.concat([Buffer.from([0x08 | 0x04 | 0x02 | (fin ? 1 : 0)]), varint(id), varint(offset), varint(data.length), data]);
}
