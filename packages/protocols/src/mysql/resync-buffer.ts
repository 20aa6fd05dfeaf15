/**
 * The bytes a resynchronising scan holds back: the packet framer and the
 * compressed-frame unwrapper both scan for a believable header after lost
 * bytes, and when the end of the received bytes leaves a candidate undecided
 * they keep the tail from it and scan again with the next chunk joined on.
 * One class so that holding, joining and dropping stay the same in both.
 *
 * Held bytes are a copy (a view would pin the capture buffer). Chunks that
 * arrive while fewer than `need` bytes are held are queued and joined once
 * enough are there, not once per chunk, so waiting for a long frame does not
 * copy it again with every chunk. The holder bounds `need`.
 */
export class ResyncBuffer {
  private held: Buffer | null = null;
  private waiting: Buffer[] = [];
  private waitingLen = 0;
  private need = 0;

  /** Bytes held. */
  get length(): number {
    return (this.held?.length ?? 0) + this.waitingLen;
  }

  /**
   * The held bytes followed by `chunk`, ready to scan (then nothing is held),
   * or null while that is still fewer than the bytes needed (the chunk is kept).
   */
  join(chunk: Buffer): Buffer | null {
    const held = this.held;
    if (held === null) return chunk;
    if (held.length + this.waitingLen + chunk.length < this.need) {
      this.waiting.push(Buffer.from(chunk));
      this.waitingLen += chunk.length;
      return null;
    }
    const data = Buffer.concat([held, ...this.waiting, chunk]);
    this.drop();
    return data;
  }

  /** Holds `data` from offset `from` on, until at least `need` bytes are held (0: until the next chunk). */
  hold(data: Buffer, from: number, need = 0): void {
    this.held = Buffer.from(data.subarray(from));
    this.need = need;
  }

  /** Forgets the held bytes; returns how many there were. */
  drop(): number {
    const n = this.length;
    this.held = null;
    this.waiting = [];
    this.waitingLen = 0;
    return n;
  }
}
