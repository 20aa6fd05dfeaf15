/**
 * DTLS (RFC 6347, RFC 9147): the handshake of a datagram TLS association
 * (WebRTC's DTLS-SRTP, VPNs, CoAP), read for what it shows in the clear, as
 * the TLS module reads TLS's. Detected by a handshake record of epoch 0 whose
 * first fragment is a ClientHello (or, joined late, a ServerHello or
 * HelloVerifyRequest); the ports are hints only.
 */
import type { Detection, ProtocolModule } from '../types.js';
import { DtlsParser } from './parser.js';

export function detectDtls(head: Buffer): Detection {
  // record header (13 bytes) then a handshake fragment header (12 bytes)
  if (head.length < 25 || head[0] !== 22 || head[1] !== 0xfe || (head[2] !== 0xff && head[2] !== 0xfd && head[2] !== 0xfc)) return null;
  if (head.readUInt16BE(3) !== 0) return null; // epoch 0: the cleartext handshake
  const recordLength = head.readUInt16BE(11);
  if (13 + recordLength > head.length || recordLength < 12) return null;
  const length = head.readUIntBE(14, 3);
  const fragOffset = head.readUIntBE(19, 3);
  const fragLength = head.readUIntBE(22, 3);
  if (fragOffset + fragLength > length || 12 + fragLength > recordLength) return null;
  const type = head[13];
  if (type === 1) return { sender: 'client' };
  if (type === 2 || type === 3) return { sender: 'server', confidence: 0.8 };
  return null;
}

export const dtlsModule: ProtocolModule = {
  name: 'dtls',
  transport: 'udp',
  // CoAP over DTLS, OpenConnect and Cisco AnyConnect, DTLS-SRTP's usual TURN ports, syslog over DTLS
  ports: [5684, 443, 3478, 5349, 6514, 4433],
  detect: (head) => detectDtls(head),
  createDatagram: (ctx) => new DtlsParser(ctx),
};
