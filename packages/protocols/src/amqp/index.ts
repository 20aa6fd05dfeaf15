/**
 * AMQP 0-9-1 (RabbitMQ). Detected from the client's protocol header
 * ("AMQP" 0 0 9 1) or, when the connection's start was not captured, from a
 * frame that is whole and well-formed (known method, frame end where the
 * size says).
 */
import type { Dir } from '@panopticon/flows';
import type { Detection, ProtocolModule } from '../types.js';
import { FRAME_METHOD } from './constants.js';
import { plausibleFrame } from './frames.js';
import { AmqpParser } from './parser.js';

const HEADER_PREFIX = Buffer.from('AMQP', 'latin1');

export function detectAmqp(head: Buffer, _dir: Dir): Detection {
  if (head.length === 0) return 'more';
  if (head[0] === 0x41) {
    const n = Math.min(head.length, 4);
    if (!head.subarray(0, n).equals(HEADER_PREFIX.subarray(0, n))) return null;
    if (head.length < 8) return 'more';
    // AMQP 0-9-1 is "AMQP\0\0\x09\x01"; 1.0 ("AMQP\0\1\0\0") is another protocol.
    return head[4] === 0 && head[5] === 0 && head[6] === 9 ? { sender: 'client', confidence: 1 } : null;
  }
  const v = plausibleFrame(head, 0);
  if (v === 'more') return head.length < 4096 ? 'more' : null;
  if (v === 'no' || head[0] !== FRAME_METHOD) return null;
  // connection.start comes from the server; otherwise the method tells little about the sender.
  const cls = head.readUInt16BE(7);
  const method = head.readUInt16BE(9);
  if (cls === 10 && method === 10) return { sender: 'server', confidence: 0.9 };
  return { sender: 'unknown', confidence: 0.6 };
}

export const amqpModule: ProtocolModule = {
  name: 'amqp',
  transport: 'tcp',
  ports: [5672],
  detect: detectAmqp,
  createStream: (ctx) => new AmqpParser(ctx),
};
