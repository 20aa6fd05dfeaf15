/**
 * Cuts one direction of a MySQL connection into logical packets.
 *
 * Every packet is `length(3, LE) sequence-id(1) payload`; a payload of
 * exactly 0xFFFFFF bytes is continued by the next packet (16 MiB splits), and
 * the pieces form one logical payload. Payload bytes stream through: at most
 * `limit` bytes of a logical payload are kept (views of the pushed chunks, no
 * copy in the common one-packet case), the rest is only counted, so a huge
 * row or blob never sits in memory whole.
 *
 * After a gap, or when the connection was joined late, the framer scans for a
 * believable header: from the client a command packet (sequence 0, known
 * command byte), from the server a packet followed by one with the next
 * sequence id; either way, or one ending exactly where the received bytes
 * end (a sender flushes whole packets). At most 4 bytes are held while scanning.
 */
import { MAX_PACKET_PAYLOAD, commandName } from './constants.js';
import { ResyncBuffer } from './resync-buffer.js';

export interface MyPacket {
  /** Sequence id of the first packet. */
  seq: number;
  /** The logical payload, at most `limit` bytes. */
  payload: Buffer;
  /** Full logical payload length. */
  length: number;
  /** Bytes on the wire, headers included. */
  wireLength: number;
  /** Physical packets the payload came in. */
  packets: number;
  truncated: boolean;
  startNs: bigint;
  endNs: bigint;
}

export interface MyFramerHooks {
  packet(p: MyPacket): void;
  damaged(skipped: number): void;
  /** A continuation packet did not carry the next sequence id. */
  sequenceError(): void;
}

export class MyFramer {
  resyncing: boolean;
  private readonly header = Buffer.alloc(4);
  private headerHave = 0;
  /** Payload bytes of the current physical packet still to come. */
  private packetLeft = 0;
  private packetLen = 0;
  private inMessage = false;
  private seq = 0;
  private lastSeq = 0;
  private parts: Buffer[] = [];
  private kept = 0;
  private length = 0;
  private wire = 0;
  private packets = 0;
  private startNs = 0n;
  private readingPayload = false;
  /** Bytes held while deciding where a message starts (resynchronising). */
  private readonly scan = new ResyncBuffer();

  constructor(
    private readonly fromClient: boolean,
    private readonly hooks: MyFramerHooks,
    private readonly limit: number,
    resyncing: boolean,
  ) {
    this.resyncing = resyncing;
  }

  /** Bytes were lost: drop the half-read message and look for the next header. */
  lose(): void {
    // bytes held by a scan go too: joined to what follows the gap they could make a header across it
    const dropped = this.headerHave + this.kept + this.scan.drop();
    if (dropped) this.hooks.damaged(dropped);
    this.reset();
    this.resyncing = true;
  }

  push(chunk: Buffer, tsNs: bigint): void {
    if (this.resyncing) {
      const data = this.scan.join(chunk);
      if (data === null) return; // not reached: nothing more than the next chunk is waited for
      const at = this.resync(data);
      if (at < 0) {
        this.scan.hold(data, -at - 1);
        return;
      }
      this.resyncing = false;
      chunk = data.subarray(at);
    }
    let off = 0;
    while (off < chunk.length) {
      if (!this.readingPayload) {
        // header, possibly split across chunks
        if (this.headerHave === 0 && chunk.length - off >= 4) {
          this.startPacket(chunk.readUIntLE(off, 3), chunk[off + 3], tsNs);
          off += 4;
        } else {
          const n = Math.min(4 - this.headerHave, chunk.length - off);
          chunk.copy(this.header, this.headerHave, off, off + n);
          this.headerHave += n;
          off += n;
          if (this.headerHave < 4) break;
          this.headerHave = 0;
          this.startPacket(this.header.readUIntLE(0, 3), this.header[3], tsNs);
        }
        // fast path: a whole single-packet message in this chunk is handed up as a view
        if (this.packets === 1 && this.packetLen < MAX_PACKET_PAYLOAD && this.packetLen <= this.limit && chunk.length - off >= this.packetLen) {
          const payload = chunk.subarray(off, off + this.packetLen);
          off += this.packetLen;
          this.finish(payload, tsNs);
          continue;
        }
        if (this.packetLen === 0) {
          this.endPacket(tsNs);
          continue;
        }
      }
      const n = Math.min(this.packetLeft, chunk.length - off);
      const keep = Math.min(n, this.limit - this.kept);
      if (keep > 0) {
        this.parts.push(chunk.subarray(off, off + keep));
        this.kept += keep;
      }
      this.packetLeft -= n;
      off += n;
      if (this.packetLeft === 0) this.endPacket(tsNs);
    }
  }

  private startPacket(len: number, seq: number, tsNs: bigint): void {
    if (!this.inMessage) {
      this.inMessage = true;
      this.seq = seq;
      this.startNs = tsNs;
    } else if (seq !== ((this.lastSeq + 1) & 0xff)) {
      this.hooks.sequenceError();
    }
    this.lastSeq = seq;
    this.packets++;
    this.packetLen = len;
    this.packetLeft = len;
    this.length += len;
    this.wire += 4 + len;
    this.readingPayload = len > 0;
  }

  private endPacket(tsNs: bigint): void {
    this.readingPayload = false;
    if (this.packetLen === MAX_PACKET_PAYLOAD) return; // continued by the next packet
    const payload = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.kept);
    this.finish(payload, tsNs);
  }

  private finish(payload: Buffer, tsNs: bigint): void {
    const p: MyPacket = {
      seq: this.seq,
      payload,
      length: this.length,
      wireLength: this.wire,
      packets: this.packets,
      truncated: payload.length < this.length,
      startNs: this.startNs,
      endNs: tsNs,
    };
    this.reset();
    this.hooks.packet(p);
  }

  private reset(): void {
    this.inMessage = false;
    this.readingPayload = false;
    this.headerHave = 0;
    this.packetLeft = 0;
    this.packetLen = 0;
    this.parts = [];
    this.kept = 0;
    this.length = 0;
    this.wire = 0;
    this.packets = 0;
  }

  /** Where a believable packet starts in `data`, or `-(i+1)` to wait for more bytes from `i`. */
  private resync(data: Buffer): number {
    const end = data.length;
    for (let i = 0; i + 5 <= end; i++) {
      const len = data.readUIntLE(i, 3);
      const seq = data[i + 3];
      if (len === 0) continue;
      if (this.fromClient && (seq !== 0 || commandName[data[i + 4]] === undefined)) continue;
      const next = i + 4 + len;
      if (next === end) return this.skip(i);
      if (next + 4 <= end) {
        const nseq = data[next + 3];
        if (this.fromClient ? nseq === 0 && next + 4 < end && commandName[data[next + 4]] !== undefined : nseq === ((seq + 1) & 0xff)) return this.skip(i);
        continue;
      }
      // A candidate running past the received bytes cannot be checked; believing it could
      // swallow megabytes on a wrong guess, so it is passed over: packets usually start a chunk.
    }
    const keep = Math.max(0, end - 4);
    return -(this.skip(keep) + 1);
  }

  private skip(n: number): number {
    if (n > 0) this.hooks.damaged(n);
    return n;
  }
}
