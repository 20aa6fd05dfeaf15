/**
 * TLS (RFC 8446, RFC 5246): the handshake of an encrypted connection, read
 * for what it says in the clear (server name, versions, cipher, ALPN, and
 * before TLS 1.3 the certificate). Detected by a handshake record holding a
 * ClientHello (or, joined late, a ServerHello), or on a connection joined
 * after its handshake by its application data records; 443 and other TLS
 * ports are hints only.
 */
import type { Dir } from '@panopticon/flows';
import type { Detection, ProtocolModule } from '../types.js';
import { TlsStream } from './parser.js';

/** Longest TLS record payload: 2^14 bytes plus 2048 of expansion (RFC 5246 §6.2.3; TLS 1.3 allows 256). */
const MAX_RECORD = (1 << 14) + 2048;

const TLS_JOINED: Detection = { sender: 'unknown', confidence: 0.6 };

/**
 * A connection joined after its handshake: application data (23) or alert
 * (21: a connection seen only as it closes) records of a TLS version, back to
 * back. One record header is five bytes any stream
 * could begin with; records that end exactly where the next begins, or where
 * the packet ends, are TLS. Either side may send them.
 */
function detectApplicationData(head: Buffer): Detection {
  let off = 0;
  let whole = 0;
  while (head.length - off >= 5) {
    const type = head[off]!;
    if (type < 20 || type > 23 || head[off + 1] !== 3 || head[off + 2]! < 1 || head[off + 2]! > 3) return null;
    const length = head.readUInt16BE(off + 3);
    if (length === 0 || length > MAX_RECORD) return null;
    // a record longer than the packet (bulk transfers send 16 KiB records): TLS 1.2 and 1.3 label every
    // record 3.3, and a first record's header alone is taken only with that label
    if (head.length - off < 5 + length) return whole > 0 || (head[0] === 23 && head[off + 2] === 3) ? TLS_JOINED : 'more';
    off += 5 + length;
    whole++;
  }
  // a record header cut by the packet's end must still look like one
  const rest = head.length - off;
  if (rest > 0 && (head[off]! < 20 || head[off]! > 23)) return null;
  if (rest > 1 && head[off + 1] !== 3) return null;
  if (rest > 2 && (head[off + 2]! < 1 || head[off + 2]! > 3)) return null;
  return whole > 0 ? TLS_JOINED : 'more';
}

export function detectTls(head: Buffer, _dir: Dir): Detection {
  if (head.length === 0) return 'more';
  if (head[0] === 23 || head[0] === 21) return detectApplicationData(head);
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
  createStream: (ctx, init) => new TlsStream(ctx, init?.carried),
};
