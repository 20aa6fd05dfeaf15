/**
 * Bounded payload keeping shared by the message-carrying protocols (Redis
 * values, Kafka record keys/values, AMQP bodies): the first `limit` bytes are
 * kept, the full size is always known, and a text view is offered only when
 * the kept bytes are valid UTF-8 (binary payloads carry their size alone).
 */
import { isUtf8 } from 'node:buffer';

export interface BodyView {
  size: number;
  content?: string;
  truncated?: boolean;
}

/** Collects up to `limit` bytes of a payload that may arrive in many pieces. */
export class KeptBytes {
  private parts: Buffer[] = [];
  private kept = 0;
  size = 0;

  constructor(private readonly limit: number) {}

  add(chunk: Buffer): void {
    this.size += chunk.length;
    const room = this.limit - this.kept;
    if (room <= 0) return;
    // Copy: the chunk is a view into a capture buffer we must not pin by the megabyte.
    const part = Buffer.from(chunk.subarray(0, Math.min(room, chunk.length)));
    this.parts.push(part);
    this.kept += part.length;
  }

  get truncated(): boolean {
    return this.size > this.kept;
  }

  bytes(): Buffer {
    if (this.parts.length !== 1) this.parts = [Buffer.concat(this.parts, this.kept)];
    return this.parts[0]!;
  }
}

/**
 * Text of a kept prefix. A cut in the middle of a multi-byte sequence is
 * tolerated at the end only (that is where truncation cuts).
 */
export function textOf(kept: Buffer, truncated: boolean): string | undefined {
  if (isUtf8(kept)) return kept.toString('utf8');
  if (truncated) {
    for (let cut = 1; cut <= 3 && cut < kept.length; cut++) {
      const head = kept.subarray(0, kept.length - cut);
      if (isUtf8(head)) return head.toString('utf8');
    }
  }
  return undefined;
}

export function bodyView(kept: Buffer, size: number): BodyView {
  const truncated = size > kept.length;
  const view: BodyView = { size };
  const content = textOf(kept, truncated);
  if (content !== undefined) view.content = content;
  if (truncated) view.truncated = true;
  return view;
}

/** JSON-safe integer: a number when exact, else its decimal string. */
export function safeInt(v: bigint): number | string {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
}
