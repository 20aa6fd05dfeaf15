/**
 * NATS (nats-server's client protocol). Detected from the server's INFO
 * (`INFO {"server_id":...}`), which it sends first, or a client's CONNECT
 * JSON; joined mid-connection, from a message line whose payload ends where
 * its size says (`PUB <subject> [reply] <size>`, `MSG <subject> <sid> ...`,
 * and their header forms). Port 4222 is a hint. Registered before Redis:
 * Redis has an inline INFO command.
 */
import type { Dir } from '@panopticon/flows';
import type { Detection, ProtocolModule } from '../types.js';
import { NatsParser } from './parser.js';

const INFO = /^INFO[ \t]+\{[^\r\n]*"server_id"[ \t]*:/;
const CONNECT = /^CONNECT[ \t]+\{[^\r\n]*"(?:verbose|lang|protocol)"[ \t]*:/i;
/** A message line: op, subject, [sid,] [reply,] sizes; the payload's end is checked below. */
const MESSAGE = /^(PUB|HPUB|MSG|HMSG)[ \t]+[^ \t\r\n]+(?:[ \t]+[^ \t\r\n]+)*?(?:[ \t]+(\d{1,10}))?[ \t]+(\d{1,10})\r\n/i;

export function detectNats(head: Buffer, _dir: Dir): Detection {
  if (head.length === 0) return 'more';
  const c = head[0]!;
  if (c !== 0x49 && c !== 0x43 && c !== 0x63 && c !== 0x50 && c !== 0x70 && c !== 0x4d && c !== 0x6d && c !== 0x48 && c !== 0x68) return null;
  const text = head.toString('latin1', 0, Math.min(head.length, 4096));
  if (INFO.test(text)) return { sender: 'server', confidence: 0.9 };
  if (CONNECT.test(text)) return { sender: 'client', confidence: 0.9 };
  const m = MESSAGE.exec(text);
  if (m) {
    const op = m[1]!.toUpperCase();
    if ((op === 'HPUB' || op === 'HMSG') && m[2] === undefined) return null;
    const total = Number(m[3]);
    const end = m[0].length + total;
    // the payload and its CRLF must be where the line says: then it is NATS, not a word that looks like it
    if (head.length < end + 2) return head.length < 4096 ? 'more' : null;
    if (head[end] !== 0x0d || head[end + 1] !== 0x0a) return null;
    return { sender: op === 'MSG' || op === 'HMSG' ? 'server' : 'client', confidence: 0.7 };
  }
  if (!text.includes('\n') && head.length < 4096 && /^(?:I|IN|INF|INFO(?:[ \t].*)?|C|CO|CON|CONN|CONNE|CONNEC|CONNECT(?:[ \t].*)?)$/is.test(text)) return 'more';
  return null;
}

export const natsModule: ProtocolModule = {
  name: 'nats',
  transport: 'tcp',
  ports: [4222],
  detect: detectNats,
  createStream: (ctx) => new NatsParser(ctx),
};
