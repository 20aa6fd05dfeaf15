/**
 * Kafka framing for one direction: a 4-byte big-endian size, then the
 * message. Messages up to `maxWhole` bytes are handed up whole; larger ones
 * hand up their first `maxWhole` bytes (enough for the header and the first
 * records) and the rest streams past uncounted in memory.
 *
 * There are no sync markers in Kafka: after a gap (or when joining mid-stream)
 * the framer tries each offset with `plausible`, which knows what a request
 * header or a response to a pending request looks like.
 */

export interface KafkaFrame {
  /** the message bytes kept (all of them, or the first maxWhole) */
  bytes: Buffer;
  /** declared message size */
  size: number;
  startNs: bigint;
  endNs: bigint;
}

export type Plausible = (buf: Buffer, off: number) => 'yes' | 'no' | 'more';

/** Sizes beyond this are damage, not messages (brokers cap requests at 100 MiB by default). */
export const MAX_FRAME = 1 << 30;

export class KafkaFramer {
  private head = Buffer.alloc(4);
  private headLen = 0;
  private size = -1;
  private parts: Buffer[] = [];
  private kept = 0;
  private seen = 0;
  private startNs = 0n;
  private leftover: Buffer | null = null;
  syncing = false;

  constructor(
    private readonly maxWhole: number,
    private readonly onFrame: (f: KafkaFrame) => void,
    private readonly plausible: Plausible,
    private readonly onSkipped: (n: number) => void,
    private readonly onDamage: (reason: string) => void,
  ) {}

  push(chunk: Buffer, tsNs: bigint): void {
    let buf = chunk;
    if (this.leftover) {
      buf = Buffer.concat([this.leftover, chunk]);
      this.leftover = null;
    }
    let off = 0;
    while (off < buf.length) {
      if (this.syncing) {
        off = this.sync(buf, off);
        if (this.syncing) return;
      }
      if (this.size < 0) {
        if (this.headLen === 0) this.startNs = tsNs;
        const n = Math.min(4 - this.headLen, buf.length - off);
        buf.copy(this.head, this.headLen, off, off + n);
        this.headLen += n;
        off += n;
        if (this.headLen < 4) return;
        const size = this.head.readInt32BE(0);
        if (size < 4 || size > MAX_FRAME) {
          this.onDamage(`message size ${size}`);
          this.reset();
          this.syncing = true;
          continue;
        }
        this.size = size;
      }
      const n = Math.min(this.size - this.seen, buf.length - off);
      const keep = Math.min(n, this.maxWhole - this.kept);
      if (keep > 0) {
        this.parts.push(buf.subarray(off, off + keep));
        this.kept += keep;
      }
      this.seen += n;
      off += n;
      if (this.seen === this.size) {
        const bytes = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.kept);
        const frame: KafkaFrame = { bytes, size: this.size, startNs: this.startNs, endNs: tsNs };
        this.reset();
        this.onFrame(frame);
      }
    }
  }

  /** Forget the message in progress and look for the next plausible one. */
  resync(): void {
    this.reset();
    this.leftover = null;
    this.syncing = true;
  }

  private reset(): void {
    this.headLen = 0;
    this.size = -1;
    this.parts = [];
    this.kept = 0;
    this.seen = 0;
  }

  private sync(buf: Buffer, off: number): number {
    const start = off;
    for (; off < buf.length; off++) {
      const v = this.plausible(buf, off);
      if (v === 'yes') {
        this.syncing = false;
        break;
      }
      if (v === 'more') {
        // keep the undecided tail; it is short (a header's worth)
        this.leftover = Buffer.from(buf.subarray(off));
        if (off > start) this.onSkipped(off - start);
        return buf.length;
      }
    }
    if (off > start) this.onSkipped(off - start);
    return off;
  }
}
