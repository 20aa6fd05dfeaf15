/**
 * LDAPMessage boundaries in one direction's byte stream: each message is one
 * BER SEQUENCE with a definite length (RFC 4511 §5.1), so its size is known
 * from its first few bytes. A message split across segments waits in a list
 * of pieces joined once it is whole (no copy per segment); one larger than
 * `maxMessage` is skipped and reported with what its first bytes say (its id
 * and operation), so a large search entry costs its count, not its bytes.
 */
import { BerError, elementSize } from './ber.js';

export interface FramerSink {
  /** A whole message, `buf[start, end)` (a view, valid during the call). */
  message(buf: Buffer, start: number, end: number, tsNs: bigint): void;
  /** A message too large to keep: its id and operation tag when its first bytes say them (else -1). */
  oversized(id: number, op: number, size: number): void;
  /** Bytes that are not an LDAP message's start, skipped to the end of the chunk. */
  damaged(reason: string, bytes: number): void;
}

const SEQUENCE = 0x30;

export class LdapFramer {
  /** Pieces of a message not yet whole, their total, and the message's size once known (-1). */
  private pieces: Buffer[] = [];
  private held = 0;
  private need = -1;
  /** Bytes of an oversized message still to skip. */
  private skipping = 0;

  constructor(
    private readonly sink: FramerSink,
    private readonly maxMessage: number,
  ) {}

  push(chunk: Buffer, tsNs: bigint): void {
    if (this.held === 0) {
      this.read(chunk, tsNs);
      return;
    }
    this.pieces.push(chunk);
    this.held += chunk.length;
    if (this.need < 0) {
      // the size was not known yet: the header is in the first few bytes, so this join is small
      const head = Buffer.concat(this.pieces);
      this.pieces = [head];
      try {
        this.need = elementSize(head, 0, head.length);
      } catch (e) {
        this.reset();
        this.sink.damaged((e as BerError).message, head.length);
        return;
      }
      if (this.need < 0) return;
      if (this.need > this.maxMessage) {
        // too large to keep: read from its start, which reports it and skips the rest
        this.reset();
        this.read(head, tsNs);
        return;
      }
    }
    if (this.held < this.need) return;
    const buf = this.pieces.length === 1 ? this.pieces[0]! : Buffer.concat(this.pieces, this.held);
    this.reset();
    this.read(buf, tsNs);
  }

  private read(buf: Buffer, tsNs: bigint): void {
    let off = 0;
    const end = buf.length;
    while (off < end) {
      if (this.skipping > 0) {
        const n = Math.min(this.skipping, end - off);
        this.skipping -= n;
        off += n;
        continue;
      }
      if (buf[off] !== SEQUENCE) {
        // lost: segments usually start at message boundaries, so the next chunk is tried afresh
        this.sink.damaged(`byte 0x${buf[off]!.toString(16)} where an LDAPMessage starts`, end - off);
        return;
      }
      let size: number;
      try {
        size = elementSize(buf, off, end);
      } catch (e) {
        this.sink.damaged((e as BerError).message, end - off);
        return;
      }
      if (size > this.maxMessage) {
        const { id, op } = peekIdAndOp(buf, off, end);
        this.sink.oversized(id, op, size);
        this.skipping = size;
        continue;
      }
      if (size < 0 || off + size > end) {
        // the rest of the message comes later: keep what is here (copied: the chunk is the capture's)
        const rest = Buffer.from(buf.subarray(off));
        this.pieces = [rest];
        this.held = rest.length;
        this.need = size;
        return;
      }
      this.sink.message(buf, off, off + size, tsNs);
      off += size;
    }
  }

  /** `length` bytes were lost: what was held is dropped; the next chunk is read as a message start. */
  gap(_length: number): void {
    this.reset();
    this.skipping = 0;
  }

  private reset(): void {
    this.pieces = [];
    this.held = 0;
    this.need = -1;
  }
}

/** An oversized message's id and operation tag, read from its first bytes where they are there. */
function peekIdAndOp(buf: Buffer, off: number, end: number): { id: number; op: number } {
  const none = { id: -1, op: -1 };
  // SEQUENCE header
  let p = off + 1;
  const l = buf[p++]!;
  if (l & 0x80) p += l & 0x7f;
  if (p + 2 > end || buf[p] !== 0x02) return none;
  const n = buf[p + 1]!;
  if (n < 1 || n > 4 || p + 2 + n >= end) return none;
  let id = 0;
  for (let i = 0; i < n; i++) id = id * 256 + buf[p + 2 + i]!;
  return { id, op: buf[p + 2 + n]! };
}
