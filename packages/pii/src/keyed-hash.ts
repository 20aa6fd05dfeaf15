/**
 * Keyed hashing of personal data. A plain hash of an email or a card number
 * is reversible by enumeration, so every stored or emitted digest is an
 * HMAC-SHA-256 under a key the operator holds (`--key-file`).
 */
import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** HMAC-SHA-256 of `value` under `key`, hex. The type is mixed in so equal strings of different types do not join. */
export function hmacHex(key: Buffer, type: string, value: string): string {
  return createHmac('sha256', key).update(type).update('\0').update(value).digest('hex');
}

/**
 * Read a key file: its raw bytes (trailing newline stripped), at least 16 bytes.
 * Without a file a random per-run key is used, so hashes join only within one run.
 */
export function loadKey(file: string | undefined): Buffer {
  if (file === undefined) return randomBytes(32);
  let buf = readFileSync(file);
  while (buf.length > 0 && (buf[buf.length - 1] === 0x0a || buf[buf.length - 1] === 0x0d)) buf = buf.subarray(0, buf.length - 1);
  if (buf.length < 16) throw new Error(`key file ${file}: ${buf.length} bytes, need at least 16`);
  return buf;
}
