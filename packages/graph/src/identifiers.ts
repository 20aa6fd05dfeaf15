/**
 * The bound on the texts the graph keys and keeps: addresses, names, process
 * and protocol names. No real one comes near it (a DNS name in presentation
 * format, every byte a `\DDD`, is at most 1,020 characters; a Unix socket
 * path 108 bytes), but an event from elsewhere may hold any text there, up to
 * the line limit, and ten thousand nodes of megabytes each are not bounded
 * memory. A longer text keeps its start and a hash of the whole, so it stays
 * its own node, the same in every event that names it.
 */
import { createHash } from 'node:crypto';

export const MAX_IDENTIFIER = 1024;

export class Identifiers {
  /** texts cut */
  cut = 0;

  bound(s: string): string {
    if (s.length <= MAX_IDENTIFIER) return s;
    this.cut++;
    return cutWithHash(s, MAX_IDENTIFIER);
  }
}

/** `s` cut to at most `max` characters: its start, then its length and the first 16 hex digits of its SHA-256. */
export function cutWithHash(s: string, max: number): string {
  if (s.length <= max) return s;
  return `${s.slice(0, max - 96)}…(${s.length} characters, sha256 ${createHash('sha256').update(s).digest('hex').slice(0, 16)})`;
}
