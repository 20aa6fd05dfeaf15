/**
 * IP fragment reassembly, shared by IPv4 and IPv6.
 *
 * Each datagram being rebuilt keeps its received bytes as sorted,
 * non-overlapping pieces. A fragment that overlaps what is already held only
 * fills the holes (first copy wins, as in Linux and Windows since the
 * Teardrop-era fixes), and overlapping bytes that differ are counted as a
 * conflict. The table is bounded in datagrams and in bytes held; the oldest
 * datagram is given up first, and datagrams older than the timeout are given
 * up when time moves on. Everything given up is counted.
 */
import type { DecodeCounters } from './types.js';

/** Largest IP payload (IPv4 total length and IPv6 payload length are 16-bit). */
const MAX_DATAGRAM = 65535;

interface Piece {
  start: number;
  end: number;
  data: Buffer;
}

class Datagram {
  readonly pieces: Piece[] = [];
  /** Bytes held (sum of piece lengths). */
  held = 0;
  /** Length of the whole payload once the last fragment (MF=0) arrived, else -1. */
  total = -1;
  /** Transport (or next header) taken from the fragment at offset 0, else -1. */
  firstProto = -1;
  /**
   * Set when a fragment of this datagram could not be used (cut by the snap
   * length, or damaged): the datagram can never be rebuilt, so its data is
   * released and later fragments are absorbed until it times out.
   */
  failed = false;
  constructor(readonly firstNs: bigint) {}
}

export interface FragmentLimits {
  maxFragmentSets: number;
  maxFragmentBytes: number;
  fragmentTimeoutNs: bigint;
}

export class FragmentTable {
  private readonly sets = new Map<string, Datagram>();
  private bytes = 0;
  /** Transport protocol of the datagram `add` last completed. */
  completedProto = -1;
  /** Why the last fragment was refused (a constant string), for error reports. */
  problem = '';

  constructor(
    private readonly limits: FragmentLimits,
    private readonly counters: DecodeCounters,
  ) {}

  /** Datagrams currently being rebuilt. */
  get size(): number {
    return this.sets.size;
  }

  /** Bytes currently held for datagrams being rebuilt. */
  get heldBytes(): number {
    return this.bytes;
  }

  /**
   * Adds one fragment. `offset` is the byte offset of `data` in the
   * datagram's payload, `more` the MF flag, `proto` the transport (IPv4) or
   * the fragment header's next header (IPv6), used from the offset-0
   * fragment. `truncated` says the capture holds less than the fragment's
   * declared length. Returns the rebuilt payload when this fragment
   * completed the datagram (then `completedProto` says what it carries),
   * else null.
   */
  add(key: string, tsNs: bigint, offset: number, more: boolean, data: Buffer, proto: number, truncated: boolean): Buffer | null {
    this.counters.fragments++;
    this.expireOldest(tsNs);
    const end = offset + data.length;
    let set = this.sets.get(key);
    if (set === undefined) {
      set = new Datagram(tsNs);
      this.admit(key, set);
    }
    if (set.failed) return null;
    if (truncated) return this.fail(set, 'fragment cut by the snap length');
    if (end > MAX_DATAGRAM) return this.fail(set, 'fragment ends beyond the largest datagram');
    if (more && (data.length === 0 || (data.length & 7) !== 0)) {
      return this.fail(set, 'non-final fragment length not a multiple of 8');
    }
    if (!more) {
      if (set.total >= 0 && set.total !== end) return this.conflict('second last fragment with another length');
      const pieces = set.pieces;
      if (pieces.length && pieces[pieces.length - 1].end > end) return this.conflict('data beyond the last fragment');
      set.total = end;
    } else if (set.total >= 0 && end > set.total) {
      return this.conflict('fragment beyond the last fragment');
    }
    if (offset === 0) set.firstProto = proto;

    const added = this.fill(set, offset, end, data);
    if (added > 0) {
      this.bytes += added;
      if (this.bytes > this.limits.maxFragmentBytes && !this.makeRoom(set)) return null;
    }
    if (set.total < 0 || set.held !== set.total) return null;

    this.sets.delete(key);
    this.bytes -= set.held;
    this.counters.reassembled++;
    this.completedProto = set.firstProto;
    const out = Buffer.allocUnsafe(set.total);
    for (const piece of set.pieces) piece.data.copy(out, piece.start);
    return out;
  }

  /** Gives up every datagram whose first fragment is older than the timeout at `nowNs`. */
  expire(nowNs: bigint): void {
    const deadline = nowNs - this.limits.fragmentTimeoutNs;
    for (const [key, set] of this.sets) {
      if (set.firstNs <= deadline) this.drop(key, set);
    }
  }

  /** Gives up every datagram (end of input). Returns how many were given up. */
  clear(): number {
    let n = 0;
    for (const [key, set] of this.sets) {
      if (!set.failed) n++;
      this.drop(key, set);
    }
    return n;
  }

  /**
   * Copies the parts of [start, end) not yet held into the datagram (the
   * capture chunk behind `data` must not be pinned: the byte bound counts
   * what is really retained). Returns the number of bytes added.
   */
  private fill(set: Datagram, start: number, end: number, data: Buffer): number {
    const pieces = set.pieces;
    let cursor = start;
    let added = 0;
    let conflict = false;
    let i = 0;
    while (i < pieces.length && pieces[i].end <= cursor) i++;
    while (cursor < end) {
      const next = i < pieces.length ? pieces[i] : undefined;
      if (next === undefined || next.start >= end) {
        pieces.splice(i, 0, this.piece(data, start, cursor, end));
        added += end - cursor;
        break;
      }
      if (next.start > cursor) {
        pieces.splice(i, 0, this.piece(data, start, cursor, next.start));
        added += next.start - cursor;
        i++;
      }
      const overlapFrom = Math.max(cursor, next.start);
      const overlapTo = Math.min(end, next.end);
      if (
        !conflict &&
        data.compare(next.data, overlapFrom - next.start, overlapTo - next.start, overlapFrom - start, overlapTo - start) !== 0
      ) {
        conflict = true;
      }
      cursor = next.end;
      i++;
    }
    if (conflict) {
      this.counters.fragmentConflicts++;
      this.problem = 'overlapping fragments disagree (first copy kept)';
    }
    set.held += added;
    return added;
  }

  private piece(data: Buffer, dataStart: number, from: number, to: number): Piece {
    return { start: from, end: to, data: Buffer.from(data.subarray(from - dataStart, to - dataStart)) };
  }

  private admit(key: string, set: Datagram): void {
    while (this.sets.size >= this.limits.maxFragmentSets) this.dropOldest();
    this.sets.set(key, set);
  }

  /** Over the byte bound: give up the oldest other datagrams, then this one if still over. */
  private makeRoom(current: Datagram): boolean {
    for (const [key, set] of this.sets) {
      if (this.bytes <= this.limits.maxFragmentBytes) break;
      if (set !== current) this.drop(key, set);
    }
    if (this.bytes <= this.limits.maxFragmentBytes) return true;
    this.fail(current, 'fragment memory bound reached');
    return false;
  }

  /** Map iteration order is insertion order, so the first entry is the oldest datagram. */
  private dropOldest(): void {
    const first = this.sets.entries().next();
    if (!first.done) this.drop(first.value[0], first.value[1]);
  }

  /** Gives up the oldest datagrams while they are past the timeout; `expire` does the full sweep. */
  private expireOldest(nowNs: bigint): void {
    const deadline = nowNs - this.limits.fragmentTimeoutNs;
    for (const [key, set] of this.sets) {
      if (set.firstNs > deadline) break;
      this.drop(key, set);
    }
  }

  private drop(key: string, set: Datagram): void {
    this.sets.delete(key);
    if (!set.failed) this.counters.fragmentsDropped++;
    this.release(set);
  }

  private fail(set: Datagram, why: string): null {
    this.problem = why;
    if (!set.failed) {
      set.failed = true;
      this.counters.fragmentsDropped++;
      this.release(set);
    }
    return null;
  }

  private conflict(why: string): null {
    this.problem = why;
    this.counters.fragmentConflicts++;
    return null;
  }

  private release(set: Datagram): void {
    this.bytes -= set.held;
    set.held = 0;
    set.pieces.length = 0;
  }
}
