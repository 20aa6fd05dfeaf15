/**
 * LDAP (RFC 4511) over TCP. Detected from a first message's shape: a BER
 * SEQUENCE, an INTEGER message id, then an [APPLICATION n] protocol operation
 * (a request from the client, a response from the server). Ports 389, 636
 * (LDAP over TLS, read with a key log), 3268 and 3269 (Active Directory's
 * global catalog) are hints only.
 */
import type { Dir } from '@panopticon/flows';
import type { Detection, ProtocolModule } from '../types.js';
import { REQUESTS } from './constants.js';
import { LdapParser } from './parser.js';

/** Response operations: a server's first message (joined mid-session, or a Notice of Disconnection). */
const RESPONSES = new Set([0x61, 0x64, 0x65, 0x67, 0x69, 0x6b, 0x6d, 0x6f, 0x73, 0x78, 0x79]);

export function detectLdap(head: Buffer, _dir: Dir): Detection {
  if (head.length === 0) return 'more';
  if (head[0] !== 0x30) return null;
  if (head.length < 2) return 'more';
  let p = 2;
  const l = head[1]!;
  if (l === 0x80 || l > 0x84) return null;
  if (l & 0x80) p += l & 0x7f;
  if (head.length < p + 2) return 'more';
  // the message id: INTEGER of 1 to 4 bytes, not negative
  if (head[p] !== 0x02) return null;
  const n = head[p + 1]!;
  if (n < 1 || n > 4) return null;
  if (head.length < p + 2 + n + 1) return 'more';
  if (head[p + 2]! & 0x80) return null;
  const op = head[p + 2 + n]!;
  if (REQUESTS[op]) return { sender: 'client', confidence: 0.8 };
  if (RESPONSES.has(op)) return { sender: 'server', confidence: 0.8 };
  return null;
}

export const ldapModule: ProtocolModule = {
  name: 'ldap',
  transport: 'tcp',
  ports: [389, 636, 3268, 3269],
  detect: detectLdap,
  createStream: (ctx) => new LdapParser(ctx),
};
