/**
 * QUIC Initial packet protection (RFC 9001 §5): keys every observer can
 * derive from the Destination Connection ID of the client's first Initial,
 * so the handshake's first flight (ClientHello, ServerHello) is readable,
 * as Wireshark reads it. Pure functions over node:crypto; nothing here is
 * secret, and nothing after the Initial packets is readable this way.
 */
import { createCipheriv, createDecipheriv, createHmac, type Cipher } from 'node:crypto';
import type { VersionParams } from './constants.js';
import { expandLabel, suiteParams, type SuiteParams } from '../tls/decrypt.js';

/** One direction's packet protection (RFC 9001 §5): the AEAD and its key and IV, and the header protection key. */
export interface PacketKeys {
  bulk: 'aes-128-gcm' | 'aes-256-gcm' | 'aes-128-ccm' | 'chacha20-poly1305';
  key: Buffer;
  iv: Buffer;
  hp: Buffer;
  /**
   * AES header protection's cipher, made once: ECB keeps no state between
   * blocks, so one object masks every packet (creating a cipher per packet
   * was a sixth of the time of reading decrypted HTTP/3).
   */
  ecb?: Cipher;
}

/** Initial keys: always AES-128-GCM (RFC 9001 §5.2). */
export type InitialKeys = PacketKeys;

/**
 * The keys derived last: detection derives a connection's keys from its first
 * Initial, and its parser asks for the same ones right after.
 */
let last: { params: VersionParams; dcid: Buffer; keys: { client: InitialKeys; server: InitialKeys } } | undefined;

/** The client's and the server's Initial keys for a connection whose client first wrote to `dcid`. */
export function initialKeys(params: VersionParams, dcid: Buffer): { client: InitialKeys; server: InitialKeys } {
  if (last !== undefined && last.params === params && last.dcid.equals(dcid)) return last.keys;
  const keys = deriveKeys(params, dcid);
  last = { params, dcid: Buffer.from(dcid), keys };
  return keys;
}

/** Initial packets are protected as TLS_AES_128_GCM_SHA256 would protect them (RFC 9001 §5.2). */
const INITIAL_SUITE = suiteParams(0x1301)!;

function deriveKeys(params: VersionParams, dcid: Buffer): { client: InitialKeys; server: InitialKeys } {
  const initialSecret = createHmac('sha256', params.salt).update(dcid).digest();
  const keys = (label: string): InitialKeys => secretKeys(params, INITIAL_SUITE, expandLabel(initialSecret, label, 32));
  return { client: keys('client in'), server: keys('server in') };
}

/** A packet protection secret's key, IV and header protection key (RFC 9001 §5.1), by the version's labels and the suite. */
export function secretKeys(params: VersionParams, suite: SuiteParams, secret: Buffer): PacketKeys {
  const l = params.labels;
  return { bulk: suite.bulk as PacketKeys['bulk'], key: expandLabel(secret, l.key, suite.keyLength, suite.hash), iv: expandLabel(secret, l.iv, 12, suite.hash), hp: expandLabel(secret, l.hp, suite.keyLength, suite.hash) };
}

/** The 5-byte header protection mask (RFC 9001 §5.4.3 AES, §5.4.4 ChaCha20: the sample is its counter and nonce). */
export function headerMask(hp: Buffer, sample: Buffer, bulk: PacketKeys['bulk'] = 'aes-128-gcm'): Buffer {
  if (bulk === 'chacha20-poly1305') return createCipheriv('chacha20', hp, sample).update(Buffer.alloc(5));
  return ecbCipher(hp).update(sample).subarray(0, 5);
}

function ecbCipher(hp: Buffer): Cipher {
  const c = createCipheriv(hp.length === 32 ? 'aes-256-ecb' : 'aes-128-ecb', hp, null);
  c.setAutoPadding(false);
  return c;
}

/**
 * The full packet number from its `bits`-bit truncation, the one nearest
 * the next expected (RFC 9000 §A.3). Initial packet numbers stay far below
 * 2^53, so Number arithmetic is exact.
 */
export function decodePacketNumber(largest: number, truncated: number, bits: number): number {
  const expected = largest + 1;
  const win = 2 ** bits;
  const half = win / 2;
  const candidate = Math.floor(expected / win) * win + truncated;
  if (candidate <= expected - half && candidate < 2 ** 62 - win) return candidate + win;
  if (candidate > expected + half && candidate >= win) return candidate - win;
  return candidate;
}

export interface OpenedPacket {
  packetNumber: number;
  /** The decrypted frames. */
  payload: Buffer;
}

/** An Initial packet opened: see openPacket. */
export function openInitial(keys: InitialKeys, pkt: Buffer, pnOffset: number, largest: number): OpenedPacket | undefined {
  return openPacket(keys, pkt, pnOffset, largest, true);
}

/**
 * Removes header protection from the packet `pkt` (a long header's first
 * byte to the end of its Length, or a short-header packet to the datagram's
 * end) whose packet number starts at `pnOffset`, and decrypts its payload.
 * Undefined when the packet is too short to sample or fails
 * authentication: not these keys, or damaged. `pkt` is not modified.
 * `keyPhase` receives a short header's Key Phase bit.
 */
export function openPacket(keys: PacketKeys, pkt: Buffer, pnOffset: number, largest: number, long: boolean, keyPhase?: { bit: number }): OpenedPacket | undefined {
  if (pnOffset + 4 + 16 > pkt.length) return undefined;
  const sample = pkt.subarray(pnOffset + 4, pnOffset + 20);
  const mask = keys.bulk === 'chacha20-poly1305' ? headerMask(keys.hp, sample, keys.bulk) : (keys.ecb ??= ecbCipher(keys.hp)).update(sample);
  // long headers protect the low 4 bits of the first byte, short headers 5 (the Key Phase bit among them)
  const first = pkt[0]! ^ (mask[0]! & (long ? 0x0f : 0x1f));
  if (keyPhase) keyPhase.bit = (first >> 2) & 1;
  const pnLength = (first & 0x03) + 1;
  if (pnOffset + pnLength + 16 > pkt.length) return undefined;
  const header = Buffer.from(pkt.subarray(0, pnOffset + pnLength));
  header[0] = first;
  let truncated = 0;
  for (let i = 0; i < pnLength; i++) {
    const b = pkt[pnOffset + i]! ^ mask[1 + i]!;
    header[pnOffset + i] = b;
    truncated = truncated * 256 + b;
  }
  const packetNumber = decodePacketNumber(largest, truncated, pnLength * 8);
  const nonce = Buffer.from(keys.iv);
  // the packet number, left-padded to the IV's length, XORed into its last bytes
  let pn = packetNumber;
  for (let i = nonce.length - 1; i >= nonce.length - 8 && pn > 0; i--) {
    nonce[i] = nonce[i]! ^ (pn % 256);
    pn = Math.floor(pn / 256);
  }
  const body = pkt.subarray(pnOffset + pnLength, pkt.length - 16);
  try {
    const d = createDecipheriv(keys.bulk as 'aes-128-gcm', keys.key, nonce, { authTagLength: 16 });
    d.setAuthTag(pkt.subarray(pkt.length - 16));
    // AES-CCM (TLS_AES_128_CCM_SHA256, RFC 9001 §5.3) authenticates the length first: node:crypto wants it with the header
    if (keys.bulk === 'aes-128-ccm') (d as unknown as { setAAD(b: Buffer, o: { plaintextLength: number }): void }).setAAD(header, { plaintextLength: body.length });
    else d.setAAD(header);
    // an AEAD's final() gives no bytes, only the tag's verdict: no concat of the two
    const payload = d.update(body);
    d.final();
    return { packetNumber, payload };
  } catch {
    return undefined;
  }
}
