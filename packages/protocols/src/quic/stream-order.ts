/**
 * One direction of one QUIC stream put back in order (RFC 9000 §2.2): STREAM
 * frames come in any order, overlap when retransmitted, and carry their
 * offset; the bytes are handed on in order, each once. Shared by what is
 * read from QUIC's streams (HTTP/3, DNS over QUIC).
 */

/** Bytes held per stream side ahead of a hole (out-of-order STREAM frames). */
const MAX_AHEAD = 256 * 1024;
/**
 * Bytes held ahead of holes by all the streams of one connection: without it
 * the bound was the side's times the streams tracked (HTTP/3: 1,024 streams,
 * two sides, 512 MiB a connection).
 */
export const MAX_CONNECTION_AHEAD = 16 * 1024 * 1024;

/** What one connection's streams hold ahead of holes (`OrderedStream`s share it). */
export interface AheadBudget {
  held: number;
}

export class OrderedStream {
  /** The offset of the next byte to hand on. */
  next = 0;
  ahead = new Map<number, Buffer>();
  aheadBytes = 0;
  finAt: number | undefined;
  /** Every byte up to the FIN was handed on. */
  ended = false;
  /** Given up (a hole past the bound, damage): nothing more is read. */
  lost = false;

  constructor(private readonly budget: AheadBudget = { held: 0 }) {}

  /**
   * A STREAM frame's `data` at `offset` (`fin`: the side ends after it):
   * what comes in order now goes to `deliver`. Past the bound of bytes held
   * ahead of a hole the side is lost and `overflow` is called.
   */
  join(offset: number, data: Buffer, fin: boolean, deliver: (b: Buffer) => void, overflow: () => void): void {
    if (this.lost) return;
    if (fin) this.finAt = offset + data.length;
    const end = offset + data.length;
    if (end > this.next) {
      if (offset > this.next) {
        // the longest piece seen at an offset is kept: a shorter one held first (an empty frame, a
        // retransmission cut differently) must not hide the rest
        const held = this.ahead.get(offset);
        if (held === undefined || held.length < data.length) {
          const more = data.length - (held?.length ?? 0);
          if (this.aheadBytes + more > MAX_AHEAD || this.budget.held + more > MAX_CONNECTION_AHEAD) {
            this.drop();
            this.lost = true;
            return overflow();
          }
          this.ahead.set(offset, Buffer.from(data));
          this.aheadBytes += more;
          this.budget.held += more;
        }
      } else {
        // bytes before `next` were delivered already (a retransmission overlapping them)
        const from = this.next - offset;
        this.next = end;
        deliver(data.subarray(from));
        for (let moved = true; moved && this.ahead.size; ) {
          moved = false;
          for (const [o, d] of this.ahead) {
            if (o > this.next) continue;
            this.ahead.delete(o);
            this.aheadBytes -= d.length;
            this.budget.held -= d.length;
            if (o + d.length > this.next) {
              const from = this.next - o;
              this.next = o + d.length;
              deliver(d.subarray(from));
            }
            moved = true;
          }
        }
      }
    }
    if (this.finAt !== undefined && this.next >= this.finAt) this.ended = true;
  }

  /** Lets go of the bytes held ahead of a hole (the stream is over, or given up): the connection's budget gets them back. */
  drop(): void {
    this.budget.held -= this.aheadBytes;
    this.aheadBytes = 0;
    this.ahead.clear();
  }
}
