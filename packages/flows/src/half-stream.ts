/**
 * One direction of a TCP connection: turns segments (in any order, with
 * retransmissions and overlaps) into an ordered byte stream with explicit gaps.
 *
 * Sequence numbers are compared with 32-bit wrap-around arithmetic. In-order
 * segments are delivered without copying; out-of-order ones are held up to a
 * byte bound, per direction and over all directions of the table, past which
 * the hole before them is declared a gap rather than waited for. Held
 * segments are copies: a view would keep its whole capture read buffer
 * (1 MiB) alive, and segments of many connections interleaved in a capture
 * kept every buffer of the file, far past the bound (1 GB for 200
 * connections holding 4 MiB each, whatever the bound).
 */
import type { FlowCounters, HoldPool } from './types.js';

/** Signed distance a - b in 32-bit sequence space. */
export function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}

interface HeldSegment {
  seq: number;
  data: Buffer;
  /** Bytes after `data` that the capture did not hold (snap length). */
  missing: number;
  tsNs: bigint;
}

export interface StreamOutput {
  data(chunk: Buffer, tsNs: bigint): void;
  gap(length: number, tsNs: bigint): void;
  end(tsNs: bigint): void;
}

/** Frozen: a segment pushed on it by mistake throws instead of landing in every half. */
const NO_SEGMENTS: HeldSegment[] = Object.freeze([]) as unknown as HeldSegment[];

export class HalfStream {
  /** Next sequence number expected; undefined until the first segment. */
  private next: number | undefined;
  /** Out-of-order segments, by sequence; the shared empty list until the first (most halves never hold one). */
  private held: HeldSegment[] = NO_SEGMENTS;
  private heldBytes = 0;
  private finSeq: number | undefined;
  ended = false;

  constructor(
    private readonly out: StreamOutput,
    private readonly counters: FlowCounters,
    private readonly maxHeldBytes: number,
    private readonly pool: HoldPool = { held: 0, max: Infinity },
  ) {}

  get started(): boolean {
    return this.next !== undefined;
  }

  /** Initial sequence number from this side's SYN, if one was seen. */
  isn: number | undefined;

  /** A SYN fixes the initial sequence number: data starts at isn + 1. */
  syn(isn: number): void {
    if (this.next === undefined) {
      this.isn = isn;
      this.next = (isn + 1) >>> 0;
    }
  }

  /**
   * A segment carrying `payload` at `seq`, of which `missing` further bytes
   * were not captured (snap length), optionally with FIN.
   */
  segment(seq: number, payload: Buffer, missing: number, fin: boolean, tsNs: bigint): void {
    if (this.ended) {
      if (payload.length > 0) this.counters.retransmittedBytes += payload.length;
      return;
    }
    if (this.next === undefined) this.next = seq >>> 0; // joined mid-stream: take it from here
    const total = payload.length + missing;
    if (fin) {
      const f = (seq + total) >>> 0;
      if (this.finSeq === undefined || seqDiff(f, this.finSeq) < 0) this.finSeq = f;
    }
    if (total > 0) {
      const rel = seqDiff(seq, this.next);
      if (rel > 0) {
        this.hold(seq, payload, missing, tsNs);
      } else {
        this.accept(seq, payload, missing, tsNs);
        this.drain();
      }
    }
    this.checkFin(tsNs);
  }

  /**
   * The other side acknowledged everything before `ack`. Bytes it received
   * that the capture missed are never sent again, so a hole that ack covers,
   * before a segment held past it, is a gap now: not at the byte bound or at
   * the close, which on a kept-open connection held every later message
   * (a DNS query lost, the next ones' responses all came first). A hole the
   * ack does not cover yet may still be retransmitted and is waited for.
   * Nothing is done for a half that holds nothing: most of them.
   */
  acked(ack: number, tsNs: bigint): void {
    while (this.held.length > 0 && seqDiff(ack, this.held[0].seq) >= 0) {
      this.counters.ackedHoles++;
      this.skipToFirstHeld(tsNs);
    }
  }

  /** Deliver what is held, with gaps for the holes, then end. Used at close. */
  flush(tsNs: bigint): void {
    while (this.held.length > 0) this.skipToFirstHeld(tsNs);
    if (!this.ended && this.finSeq !== undefined && this.next !== undefined) {
      const hole = seqDiff(this.finSeq, this.next);
      if (hole > 0) this.emitGap(hole, tsNs);
      this.ended = true;
      this.out.end(tsNs);
    }
  }

  private accept(seq: number, payload: Buffer, missing: number, tsNs: bigint): void {
    const next = this.next!;
    const overlap = -seqDiff(seq, next);
    const total = payload.length + missing;
    if (overlap >= total) {
      this.counters.retransmittedBytes += payload.length;
      return;
    }
    if (overlap > 0) {
      this.counters.overlapBytes += Math.min(overlap, payload.length);
    }
    let fresh = payload;
    let freshMissing = missing;
    if (overlap > 0) {
      if (overlap >= payload.length) {
        freshMissing = total - overlap;
        fresh = payload.subarray(payload.length);
      } else {
        fresh = payload.subarray(overlap);
      }
    }
    if (fresh.length > 0) this.out.data(fresh, tsNs);
    if (freshMissing > 0) this.emitGap(freshMissing, tsNs);
    this.next = (next + fresh.length + freshMissing) >>> 0;
  }

  private hold(seq: number, payload: Buffer, missing: number, tsNs: bigint): void {
    this.counters.outOfOrderSegments++;
    // Keep held segments sorted by sequence; new ones usually go last.
    if (this.held === NO_SEGMENTS) this.held = [];
    let i = this.held.length;
    while (i > 0 && seqDiff(this.held[i - 1].seq, seq) > 0) i--;
    this.held.splice(i, 0, { seq, data: Buffer.from(payload), missing, tsNs });
    this.heldBytes += payload.length;
    this.pool.held += payload.length;
    while (this.heldBytes > this.maxHeldBytes && this.held.length > 0) this.skipToFirstHeld(tsNs);
    if (this.pool.held > this.pool.max && this.held.length > 0) {
      this.counters.bufferTotalGaps++;
      while (this.pool.held > this.pool.max && this.held.length > 0) this.skipToFirstHeld(tsNs);
    }
  }

  /** Give up waiting for the hole before the first held segment. */
  private skipToFirstHeld(tsNs: bigint): void {
    const first = this.held[0];
    const hole = seqDiff(first.seq, this.next!);
    if (hole > 0) {
      this.emitGap(hole, tsNs);
      this.next = first.seq;
    }
    this.drain();
  }

  private drain(): void {
    while (this.held.length > 0) {
      const h = this.held[0];
      if (seqDiff(h.seq, this.next!) > 0) return;
      this.held.shift();
      this.heldBytes -= h.data.length;
      this.pool.held -= h.data.length;
      this.accept(h.seq, h.data, h.missing, h.tsNs);
    }
  }

  private checkFin(tsNs: bigint): void {
    if (this.finSeq !== undefined && this.next !== undefined && seqDiff(this.next, this.finSeq) >= 0 && !this.ended) {
      this.ended = true;
      this.out.end(tsNs);
    }
  }

  private emitGap(length: number, tsNs: bigint): void {
    this.counters.gaps++;
    this.counters.gapBytes += length;
    this.out.gap(length, tsNs);
  }
}
