/**
 * Which shard a QUIC datagram belongs to with `pano-parse --workers`, beyond
 * its flow's tuple: a connection that moves to another client address or
 * port (a NAT rebinding) keeps sending the connection IDs its endpoints chose
 * in the clear, in their long headers' Source Connection IDs, and goes on in
 * the shard where it started, whose parser knows it (ADR 0286). Every worker
 * sees every frame in the same order and learns the same IDs, so all of them
 * make the same choice, and the other workers leave the datagram alone as they
 * leave any other shard's. IDs issued later, encrypted (NEW_CONNECTION_ID, a
 * server's preferred address), only the connection's own worker reads: a path
 * that moves to them is followed only when its tuple falls to that worker.
 */
import { MIN_ID_LENGTH, byDestinationId } from '../connection-ids.js';
import { versionParams } from './constants.js';
import { readLongHeader } from './packets.js';

/** IDs remembered; past it the oldest are forgotten (a connection that moves after that is not followed across shards). */
const MAX_IDS = 65536;

export class QuicShardIds {
  /** Per ID length, the ID (latin1 text) → the shard of the connection that chose it, oldest first. */
  private readonly byLength = new Map<number, Map<string, number>>();
  private readonly order: Array<{ length: number; key: string }> = [];
  private head = 0;

  /**
   * The shard of a UDP datagram whose tuple gives `tupleShard`: that of the
   * connection whose ID it is sent to, when one is known. A long header's
   * Source Connection ID is remembered for the shard chosen.
   */
  shardOf(payload: Buffer, tupleShard: number): number {
    const shard = this.known(payload) ?? tupleShard;
    // a QUIC long header (its version one of QUIC's: a DNS response may start with the same bit; the
    // versions read here start 0x00, 0x6b or 0xff, which spares most other datagrams the lookup)
    if (payload.length >= 7 && payload[0]! & 0x80 && (payload[1] === 0 || payload[1] === 0x6b || payload[1] === 0xff) && versionParams(payload.readUInt32BE(1))) {
      const h = readLongHeader(payload, 0, payload.length);
      if (h && h.scid.length >= MIN_ID_LENGTH) this.learn(h.scid, shard);
    }
    return shard;
  }

  private known(payload: Buffer): number | undefined {
    return this.order.length === this.head ? undefined : byDestinationId(this.byLength, payload);
  }

  private learn(id: Buffer, shard: number): void {
    let ids = this.byLength.get(id.length);
    const key = id.toString('latin1');
    if (ids?.has(key)) return;
    if (this.order.length - this.head >= MAX_IDS) {
      const old = this.order[this.head++]!;
      this.byLength.get(old.length)?.delete(old.key);
      if (this.head > MAX_IDS) {
        this.order.splice(0, this.head);
        this.head = 0;
      }
    }
    if (!ids) this.byLength.set(id.length, (ids = new Map()));
    ids.set(key, shard);
    this.order.push({ length: id.length, key });
  }
}
