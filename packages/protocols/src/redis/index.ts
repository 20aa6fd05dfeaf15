/**
 * Redis (RESP2 and RESP3). Detected by content: a command array whose first
 * element is a Redis command name, an inline command line, or (server side,
 * weakly) a well-formed reply header.
 */
import type { Dir } from '@panopticon/flows';
import type { Detection, ProtocolModule } from '../types.js';
import { isRedisCommand } from './commands.js';
import { RedisParser } from './parser.js';
import { looksLikeCommandStart, looksLikeReplyStart } from './resp.js';
import { AMBIGUOUS_WAIT, loneGet, memcachedCommandLine } from '../memcached/index.js';

export function detectRedis(head: Buffer, _dir: Dir): Detection {
  if (head.length === 0) return 'more';
  const first = head[0]!;
  if (first === 0x2a /* * */) {
    const start = looksLikeCommandStart(head, 0);
    if (start === 'more') return 'more';
    if (start === 'yes') {
      // *N\r\n$L\r\nNAME\r\n
      const lenEnd = head.indexOf('\r\n', head.indexOf('$'));
      if (lenEnd < 0) return head.length < 64 ? 'more' : null;
      const len = Number(head.toString('latin1', head.indexOf('$') + 1, lenEnd));
      if (!Number.isInteger(len) || len <= 0 || len > 64) return null;
      if (head.length < lenEnd + 2 + len) return 'more';
      const name = head.toString('latin1', lenEnd + 2, lenEnd + 2 + len);
      return isRedisCommand(name) ? { sender: 'client', confidence: 0.9 } : null;
    }
  }
  // Inline command: a command word then space or end of line.
  if ((first | 0x20) >= 0x61 && (first | 0x20) <= 0x7a) {
    const text = head.toString('latin1', 0, Math.min(head.length, 256));
    // `GET /path HTTP/1.1` starts like a Redis inline GET.
    if (/^[A-Z]+ \S+ HTTP\/\d/.test(text)) return null;
    const m = /^([A-Za-z][A-Za-z_.-]{0,30})( |\r?\n)/.exec(text);
    if (m) {
      if (!isRedisCommand(m[1]!)) return null;
      // memcached's text protocol shares GET, SET, INCR, DECR and TOUCH: its grammar is not Redis's,
      // and a lone `get <key>` is both: the server's answer decides
      if (memcachedCommandLine(text)) return null;
      if (loneGet(head)) return head.length < AMBIGUOUS_WAIT ? 'more' : { sender: 'client', confidence: 0.6 };
      if (m[2] === ' ' && !text.includes('\n')) return head.length < 256 ? 'more' : null;
      return { sender: 'client', confidence: 0.6 };
    }
    return head.length < 40 && !/[^A-Za-z_.-]/.test(head.toString('latin1')) ? 'more' : null;
  }
  const reply = looksLikeReplyStart(head, 0);
  if (reply === 'more') return head.length < 64 ? 'more' : null;
  // A lone reply header is weak evidence: low confidence.
  return reply === 'yes' ? { sender: 'server', confidence: 0.3 } : null;
}

export const redisModule: ProtocolModule = {
  name: 'redis',
  transport: 'tcp',
  ports: [6379, 6380, 26379],
  detect: detectRedis,
  createStream: (ctx) => new RedisParser(ctx),
};
