/**
 * memcached, text and binary. Detected from a client's first command: a
 * binary request header (magic 0x80, a known opcode, lengths that add up), a
 * text storage command in its exact grammar (`set <key> <flags> <exptime>
 * <bytes>`), a meta command, or another command memcached has and Redis
 * has not (delete, gets, gat, stats, version, flush_all ...). A lone `get
 * <key>` is also a Redis inline command: the server's answer decides (see
 * loneGet). Joined mid-stream, a server's answer (VALUE, STAT, STORED,
 * END ...) says it too, less surely.
 */
import type { Dir } from '@panopticon/flows';
import type { Detection, ProtocolModule } from '../types.js';
import { BINARY_HEADER, OPCODES, REQUEST_MAGIC, RESPONSE_MAGIC } from './constants.js';
import { plausibleHeader } from './binary.js';
import { MemcachedParser } from './parser.js';
import { FRAME_HEADER, MemcachedDatagramParser, frame } from './udp.js';

/** A text command line as only memcached writes it. */
const MEMCACHED_ONLY = /^(?:(?:set|add|replace|append|prepend) \S{1,250} \d{1,10} -?\d{1,10} \d{1,10}(?: noreply)?|cas \S{1,250} \d{1,10} -?\d{1,10} \d{1,10} \d{1,20}(?: noreply)?|(?:gets|gat|gats|delete|incr|decr|touch|mg|ms|md|ma|me) \S[^\r\n]*|get \S+ \S[^\r\n]*|mn|stats(?: [^\r\n]*)?|version|verbosity \d+(?: noreply)?|flush_all(?: \d+)?(?: noreply)?|quit)\r?\n/;
/** An answer as only memcached writes it. */
const MEMCACHED_ANSWER = /^(?:VALUE \S{1,250} \d{1,10} \d{1,10}(?: \d{1,20})?|STAT \S+ [^\r\n]*|STORED|NOT_STORED|EXISTS|NOT_FOUND|DELETED|TOUCHED|END|VERSION \d[^\r\n]*)\r\n/;

export function detectMemcached(head: Buffer, _dir: Dir): Detection {
  if (head.length === 0) return 'more';
  const first = head[0]!;
  if (first === REQUEST_MAGIC || first === RESPONSE_MAGIC) {
    if (head.length < BINARY_HEADER) return 'more';
    if (!plausibleHeader(head, 0) || OPCODES[head[1]!] === undefined) return null;
    return { sender: first === REQUEST_MAGIC ? 'client' : 'server', confidence: 0.9 };
  }
  if (first < 0x61 || first > 0x7a) {
    if (first < 0x41 || first > 0x5a) return null;
    const text = head.toString('latin1', 0, Math.min(head.length, 512));
    if (MEMCACHED_ANSWER.test(text)) return { sender: 'server', confidence: 0.5 };
    return !text.includes('\n') && head.length < 512 ? 'more' : null;
  }
  const text = head.toString('latin1', 0, Math.min(head.length, 2048));
  if (MEMCACHED_ONLY.test(text)) return { sender: 'client', confidence: 0.8 };
  return !text.includes('\n') && head.length < 2048 ? 'more' : null;
}

/** A line only memcached's text protocol writes (Redis's inline detection leaves these alone). */
export function memcachedCommandLine(text: string): boolean {
  return MEMCACHED_ONLY.test(text);
}

/**
 * A first line that is a lone `get <key>`: memcached's and a Redis inline command alike. Both
 * modules wait on it (up to AMBIGUOUS_WAIT bytes of that side) for the other side's answer, which
 * tells them apart (`VALUE`/`END` or `$5`/`$-1`); past that, Redis (registered first) takes it.
 */
export function loneGet(head: Buffer): boolean {
  return /^get \S{1,250}\r?\n/.test(head.toString('latin1', 0, Math.min(head.length, 300)));
}
export const AMBIGUOUS_WAIT = 512;

export const memcachedModule: ProtocolModule = {
  name: 'memcached',
  transport: 'tcp',
  ports: [11211],
  detect: (head, dir) => {
    if (loneGet(head)) return head.length < AMBIGUOUS_WAIT ? 'more' : { sender: 'client', confidence: 0.5 };
    return detectMemcached(head, dir);
  },
  createStream: (ctx) => new MemcachedParser(ctx),
};

/** A datagram is memcached's when its frame header is and its payload is a request or answer only memcached writes. */
export function detectMemcachedDatagram(head: Buffer, dir: Dir): Detection {
  if (!frame(head) || head.length === FRAME_HEADER) return null;
  const body = head.subarray(FRAME_HEADER);
  // Redis has no UDP: a lone `get <key>` in a frame header is memcached's
  if (loneGet(body)) return { sender: 'client', confidence: 0.8 };
  const d = detectMemcached(body, dir);
  // a datagram is whole: one still waiting for more is not memcached's
  return d === 'more' ? null : d;
}

/** memcached over UDP (started with -U): the same events, each request matched to its answer by request id. */
export const memcachedUdpModule: ProtocolModule = {
  name: 'memcached',
  transport: 'udp',
  ports: [11211],
  detect: detectMemcachedDatagram,
  createDatagram: (ctx) => new MemcachedDatagramParser(ctx),
};
