/**
 * POP3 (RFC 1939; CAPA and PIPELINING, RFC 2449; AUTH, RFC 5034; STLS, RFC
 * 2595). Detected from the server's greeting ("+OK" and text: Redis answers
 * a bare "+OK", never one with text, and its errors start "-ERR" as POP3's do,
 * so -ERR decides nothing) or, joined mid-session, from a client command no
 * other protocol here sends (CAPA, STLS, APOP with its digest, UIDL, RETR or
 * TOP with a message number). USER and STAT are FTP's as well, and an FTP
 * session read as POP3 would mislabel its PASS line, so they do not decide.
 * Ports 110 and 995 (POP3 over TLS, read with a key log) are hints only.
 */
import type { Dir } from '@panopticon/flows';
import type { Detection, ProtocolModule } from '../types.js';
import { Pop3Parser } from './parser.js';

const GREETING = /^\+OK [^\r\n]+\r?\n/i;
const CLIENT = /^(?:CAPA|STLS|UIDL(?: \d{1,15})?|RETR \d{1,15}|TOP \d{1,15} \d{1,15}|APOP \S+ [0-9a-f]{32})\r?\n/i;

export function detectPop3(head: Buffer, _dir: Dir): Detection {
  if (head.length === 0) return 'more';
  const text = head.toString('latin1', 0, Math.min(head.length, 512));
  if (text.charCodeAt(0) === 0x2b /* + */) {
    if (GREETING.test(text)) return { sender: 'server', confidence: 0.8 };
    // "+OK" and no line end yet
    return /^\+(?:O(?:K(?: [^\r\n]*)?)?)?$/i.test(text) && head.length < 512 ? 'more' : null;
  }
  if (CLIENT.test(text)) return { sender: 'client', confidence: 0.7 };
  return null;
}

export const pop3Module: ProtocolModule = {
  name: 'pop3',
  transport: 'tcp',
  ports: [110, 995],
  detect: detectPop3,
  createStream: (ctx) => new Pop3Parser(ctx),
};
