/**
 * Is this PostgreSQL? From the first bytes one side sent:
 * - a client's untyped first message (StartupMessage v3, SSLRequest,
 *   GSSENCRequest, CancelRequest): length and code leave no doubt;
 * - otherwise (joined mid-connection) two consecutive well-framed messages of
 *   one direction's message set, or one that ends exactly where the bytes end.
 *   Client messages are tried first, then server ones; the answer says which.
 */
import type { Detection } from '../types.js';
import { StartupCode, backendTypes, fixedLength, frontendTypes } from './constants.js';

/** Query and Close (client), CommandComplete (server, the same byte as Close): their bodies end with a NUL. */
const nulTerminated = new Set<number>([0x51 /* Q */, 0x43 /* C */]);

const untypedCodes = new Set<number>([StartupCode.SSLRequest, StartupCode.GSSENCRequest, StartupCode.CancelRequest]);

/** Longest message believed while detecting by framing (a few large DataRows aside, real traffic is far below). */
const MAX_DETECT_LENGTH = 1 << 24;

export function detectPostgresql(head: Buffer): Detection {
  if (head.length < 8) {
    if (head.length >= 4 && head.readInt32BE(0) >= 8 && head.readInt32BE(0) <= 10000) return 'more';
    return head.length < 5 ? 'more' : framing(head);
  }
  const len = head.readInt32BE(0);
  const code = head.readInt32BE(4);
  if (len >= 8 && len <= 10000) {
    if (code === StartupCode.Protocol3 || (code >> 16 === 3 && (code & 0xffff) < 16)) {
      // startup parameters are NUL-terminated pairs ending in an extra NUL
      if (head.length >= len) return head[len - 1] === 0 ? { sender: 'client', confidence: 1 } : null;
      return { sender: 'client', confidence: 0.9 };
    }
    if (untypedCodes.has(code)) {
      if (code === StartupCode.CancelRequest ? len === 16 : len === 8) return { sender: 'client', confidence: 1 };
      return null;
    }
  }
  return framing(head);
}

function framing(head: Buffer): Detection {
  const client = chain(head, frontendTypes, fixedLength.frontend);
  if (client === true) return { sender: 'client', confidence: 0.6 };
  const server = chain(head, backendTypes, fixedLength.backend);
  if (server === true) return { sender: 'server', confidence: 0.6 };
  if (client === 'more' || server === 'more') return 'more';
  return null;
}

/** true: framing holds (two messages, or one ending exactly at the end); 'more': too few bytes; false: not framed. */
function chain(head: Buffer, types: Uint8Array, fixed: Map<number, number>): boolean | 'more' {
  let off = 0;
  for (let n = 0; n < 2; n++) {
    if (head.length - off < 5) return n > 0 && off === head.length ? true : 'more';
    const type = head[off];
    const len = head.readUInt32BE(off + 1);
    if (types[type] !== 1 || len < 4 || len > MAX_DETECT_LENGTH) return false;
    const f = fixed.get(type);
    if (f !== undefined && f !== len) return false;
    // messages made of strings end in the strings' NUL terminator
    if (nulTerminated.has(type) && off + len < head.length && head[off + len] !== 0) return false;
    off += 1 + len;
    if (off === head.length) return true;
    if (off > head.length) return 'more';
  }
  return true;
}
