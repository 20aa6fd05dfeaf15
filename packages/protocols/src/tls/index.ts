/**
 * TLS (RFC 8446, RFC 5246): the handshake of an encrypted connection, read
 * for what it says in the clear (server name, versions, cipher, ALPN, and
 * before TLS 1.3 the certificate). Detected by a handshake record holding a
 * ClientHello (or, joined late, a ServerHello); 443 and other TLS ports are
 * hints only.
 */
import type { Dir } from '@panopticon/flows';
import type { Detection, ProtocolModule } from '../types.js';
import { TlsStream } from './parser.js';

export function detectTls(head: Buffer, _dir: Dir): Detection {
  if (head.length === 0) return 'more';
  if (head[0] !== 22) return null;
  if (head.length < 6) return head.length < 2 || head[1] === 3 ? 'more' : null;
  // a handshake record (22) of a TLS version (3.x), at most 2^14 + 2048 bytes, opening a ClientHello or a ServerHello
  if (head[1] !== 3 || head[2]! > 4 || head.readUInt16BE(3) > (1 << 14) + 2048) return null;
  if (head[5] === 1) return { sender: 'client' };
  if (head[5] === 2) return { sender: 'server', confidence: 0.8 };
  return null;
}

export const tlsModule: ProtocolModule = {
  name: 'tls',
  transport: 'tcp',
  ports: [443, 8443, 853, 993, 995, 465, 636, 5671, 6697],
  detect: detectTls,
  createStream: (ctx) => new TlsStream(ctx),
};
