/**
 * Cuts one direction of a PostgreSQL connection into messages.
 *
 * Typed messages are `type(1) length(4, includes itself) body`; the very first
 * client messages are untyped (`length(4) code(4) ...`: StartupMessage,
 * SSLRequest, GSSENCRequest, CancelRequest), and the server answers SSLRequest /
 * GSSENCRequest with one bare byte. The session tells the framer which of these
 * to expect. Chunks are pushed as they come; bytes of an incomplete message are
 * kept (bounded) until the rest arrives. A message longer than `limit` is
 * handed up as its first `limit` bytes, and the rest is skipped as it streams
 * by, so no message is ever buffered whole beyond the limit.
 *
 * When the start of the stream was not seen (or bytes were lost), the framer
 * scans for a position where a plausible type byte and length are followed by
 * another plausible header (or by the end of what was received) and resumes
 * there; the scan is bounded by `resyncWindow`.
 */
/** Pseudo types for the messages that have no type byte. */
export const UNTYPED = -1;
export const ANSWER_BYTE = -2;

/** Longest untyped startup-phase message accepted (PostgreSQL itself allows 10000). */
const MAX_STARTUP_LENGTH = 10000;
/** Messages claimed longer than this are not believed while resynchronising. */
const MAX_PLAUSIBLE_LENGTH = 1 << 30;

export type FrameMode = 'typed' | 'untyped' | 'answer' | 'resync';

export interface PgMessage {
  /** Type byte, or UNTYPED / ANSWER_BYTE. */
  type: number;
  /** Body after the length field (for UNTYPED: starting at the 4-byte code); at most `limit` bytes. */
  body: Buffer;
  /** Bytes the message occupies on the wire (type byte and length included). */
  wireLength: number;
  /** The body was longer than `limit` and was cut. */
  truncated: boolean;
  startNs: bigint;
  endNs: bigint;
}

export interface FramerHooks {
  message(msg: PgMessage): void;
  /** Framing damage: `skipped` bytes could not be framed. */
  damaged(skipped: number): void;
}

export class PgFramer {
  mode: FrameMode;
  private leftover: Buffer | null = null;
  private leftoverNs = 0n;
  /** Bytes of an oversized message still to be discarded. */
  private skipping = 0;
  /** Chunks received after `leftover` while fewer than `need` bytes are at hand (joined once, not per chunk). */
  private waiting: Buffer[] = [];
  private waitingLen = 0;
  /** Bytes, from the start of `leftover`, needed before framing can move on. */
  private need = 0;

  constructor(
    mode: FrameMode,
    private readonly types: Uint8Array,
    private readonly fixed: Map<number, number>,
    private readonly hooks: FramerHooks,
    private readonly limit: number,
    private readonly resyncWindow: number,
  ) {
    this.mode = mode;
  }

  /** Lost bytes: whatever was half-received is useless, find the next message boundary. */
  lose(): void {
    if (this.leftover) this.hooks.damaged(this.leftover.length + this.waitingLen);
    this.leftover = null;
    this.waiting = [];
    this.waitingLen = 0;
    this.skipping = 0;
    this.mode = 'resync';
  }

  push(chunk: Buffer, tsNs: bigint): void {
    if (this.skipping > 0) {
      const n = Math.min(this.skipping, chunk.length);
      this.skipping -= n;
      if (n === chunk.length) return;
      chunk = chunk.subarray(n);
    }
    let data = chunk;
    let carried = 0;
    if (this.leftover) {
      if (this.leftover.length + this.waitingLen + chunk.length < this.need) {
        this.waiting.push(Buffer.from(chunk)); // a copy: a view would pin the capture buffer
        this.waitingLen += chunk.length;
        return;
      }
      carried = this.leftover.length + this.waitingLen;
      data = Buffer.concat([this.leftover, ...this.waiting, chunk]);
      this.leftover = null;
      this.waiting = [];
      this.waitingLen = 0;
    }
    this.need = 0;
    const firstNs = carried > 0 ? this.leftoverNs : tsNs;
    let off = 0;
    while (off < data.length) {
      const startNs = off < carried ? firstNs : tsNs;
      if (this.mode === 'resync') {
        const found = this.resync(data, off);
        if (found < 0) {
          // need more bytes to judge the candidate at -found-1
          off = -found - 1;
          this.need = 0;
          break;
        }
        off = found;
        this.mode = 'typed';
        continue;
      }
      if (this.mode === 'answer') {
        this.mode = 'typed';
        this.hooks.message({ type: ANSWER_BYTE, body: data.subarray(off, off + 1), wireLength: 1, truncated: false, startNs, endNs: tsNs });
        off += 1;
        continue;
      }
      if (this.mode === 'untyped') {
        if (data.length - off < 4) {
          this.need = 4;
          break;
        }
        const len = data.readInt32BE(off);
        if (len < 8 || len > MAX_STARTUP_LENGTH) {
          // not a startup-phase message after all (or the stream began later): typed framing decides
          this.mode = 'typed';
          continue;
        }
        if (data.length - off < len) {
          this.need = len;
          break;
        }
        this.hooks.message({ type: -1, body: data.subarray(off + 4, off + len), wireLength: len, truncated: false, startNs, endNs: tsNs });
        off += len;
        continue;
      }
      // typed
      if (data.length - off < 5) {
        this.need = 5;
        break;
      }
      const type = data[off];
      const len = data.readUInt32BE(off + 1);
      if (!this.plausible(type, len)) {
        this.mode = 'resync';
        continue;
      }
      const bodyLen = len - 4;
      if (bodyLen > this.limit) {
        if (data.length - off - 5 < this.limit) {
          this.need = 5 + this.limit;
          break;
        }
        const have = data.length - off - 5;
        this.hooks.message({ type, body: data.subarray(off + 5, off + 5 + this.limit), wireLength: len + 1, truncated: true, startNs, endNs: tsNs });
        if (have >= bodyLen) {
          off += 5 + bodyLen;
          continue;
        }
        this.skipping = bodyLen - have;
        off = data.length;
        break;
      }
      if (data.length - off - 5 < bodyLen) {
        this.need = 5 + bodyLen;
        break;
      }
      this.hooks.message({ type, body: data.subarray(off + 5, off + 5 + bodyLen), wireLength: len + 1, truncated: false, startNs, endNs: tsNs });
      off += 5 + bodyLen;
    }
    if (off < data.length) {
      // Keep a copy of what is left (a view would pin the capture buffer), unless it is our own concatenation.
      this.leftover = carried > 0 ? data.subarray(off) : Buffer.from(data.subarray(off));
      this.leftoverNs = off < carried ? firstNs : tsNs;
    }
  }

  private plausible(type: number, len: number): boolean {
    if (this.types[type] !== 1 || len < 4 || len > MAX_PLAUSIBLE_LENGTH) return false;
    const fixed = this.fixed.get(type);
    return fixed === undefined || fixed === len;
  }

  /**
   * Index of the next believable message start at or after `from`, or
   * `-(i+1)` when the candidate at `i` cannot be judged until more bytes come.
   */
  private resync(data: Buffer, from: number): number {
    const end = data.length;
    for (let i = from; i + 5 <= end; i++) {
      const len = data.readUInt32BE(i + 1);
      if (!this.plausible(data[i], len)) continue;
      const next = i + 1 + len;
      if (next === end) return this.skipTo(from, i);
      if (next + 5 <= end) {
        if (this.plausible(data[next], data.readUInt32BE(next + 1))) return this.skipTo(from, i);
        continue;
      }
      // the candidate runs past what we have: wait, unless waiting would exceed the window
      if (end - i < this.resyncWindow && len <= this.resyncWindow) return -(this.skipTo(from, i) + 1);
    }
    // every position before the last 4 bytes is ruled out for good
    const keep = Math.max(from, end - 4);
    return -(this.skipTo(from, keep) + 1);
  }

  private skipTo(from: number, to: number): number {
    if (to > from) this.hooks.damaged(to - from);
    return to;
  }
}
