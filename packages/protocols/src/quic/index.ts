/**
 * QUIC (RFC 9000; v2, RFC 9369; the last drafts): the TLS handshake of a
 * QUIC connection, read from its Initial packets, whose keys are derived
 * from what the client's first packet shows. HTTP/3 and every other
 * protocol over QUIC is encrypted past that point. Detected by a client
 * Initial that decrypts: a long header of a known version in a datagram of
 * at least 1200 bytes (RFC 9000 §14.1); 443 is a hint only.
 */
import type { Detection, ProtocolModule } from '../types.js';
import { versionParams } from './constants.js';
import { initialKeys, openInitial } from './initial.js';
import { readLongHeader, readVarint } from './packets.js';
import { QuicParser } from './parser.js';

/** A client's Initial datagram is padded to at least this (RFC 9000 §14.1). */
const MIN_CLIENT_DATAGRAM = 1200;

export function detectQuic(head: Buffer): Detection {
  if (head.length < MIN_CLIENT_DATAGRAM || (head[0]! & 0x80) === 0) return null;
  const h = readLongHeader(head, 0, head.length);
  if (!h) return null;
  const params = versionParams(h.version);
  // a client's first Destination Connection ID is at least 8 bytes (RFC 9000 §7.2), at most 20 in these versions
  if (!params || h.typeCode !== params.types.initial || h.dcid.length < 8 || h.dcid.length > 20 || h.scid.length > 20) return null;
  const token = readVarint(head, h.rest, head.length);
  if (!token) return null;
  const length = readVarint(head, token.next + token.value, head.length);
  if (!length || length.next + length.value > head.length) return null;
  // only a packet that authenticates under the keys of its own DCID is taken for QUIC
  const opened = openInitial(initialKeys(params, h.dcid).client, head.subarray(0, length.next + length.value), length.next, -1);
  return opened ? { sender: 'client' } : null;
}

export const quicModule: ProtocolModule = {
  name: 'quic',
  transport: 'udp',
  ports: [443, 784, 853, 8443],
  detect: (head) => detectQuic(head),
  createDatagram: (ctx) => new QuicParser(ctx),
};
