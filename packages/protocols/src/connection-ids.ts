/**
 * Connection IDs by which a datagram connection is known whatever its
 * addresses. A QUIC connection survives a change of the client's address or
 * port (RFC 9000 §9: a phone moving networks, a NAT rebinding), and its
 * packets then arrive on a flow of another 5-tuple: what ties them to the
 * connection is the Destination Connection ID each carries, one the
 * receiving endpoint issued. Parsers tell the dispatcher the IDs they see
 * issued (`ParserContext.connectionId`); a new flow whose datagram carries
 * one is the same connection on a new path.
 *
 * Bounded: each connection keeps its last MAX_PER_OWNER IDs (a long
 * connection retires and issues them as it goes), and the table holds at
 * most MAX_IDS (past it, IDs are not taken and counted by the caller).
 */

/** IDs shorter than this are not taken: too short to tell one connection from a stray datagram. */
export const MIN_ID_LENGTH = 4;
/** Connection IDs are at most 20 bytes long in QUIC versions 1 and 2 (RFC 9000 §17.2). */
const MAX_ID_LENGTH = 20;
const MAX_PER_OWNER = 16;
const MAX_IDS = 65536;

export interface PathEntry<T> {
  owner: T;
  /** Datagrams carrying this ID are sent to the server (the server issued it). */
  toServer: boolean;
}

/**
 * What `byLength` (per ID length, ID as latin1 text → value) has for a
 * datagram's first packet's Destination Connection ID: a long header states
 * the ID's length; a short header's ID is tried at each length in the table.
 * The fixed bit is not asked for: a peer may grease it (RFC 9287).
 */
export function byDestinationId<V>(byLength: Map<number, Map<string, V>>, payload: Buffer): V | undefined {
  if (payload.length < 1 + MIN_ID_LENGTH) return undefined;
  if (payload[0]! & 0x80) {
    if (payload.length < 6) return undefined;
    const length = payload[5]!;
    if (6 + length > payload.length) return undefined;
    return byLength.get(length)?.get(payload.toString('latin1', 6, 6 + length));
  }
  for (const [length, ids] of byLength) {
    if (1 + length > payload.length) continue;
    const hit = ids.get(payload.toString('latin1', 1, 1 + length));
    if (hit !== undefined) return hit;
  }
  return undefined;
}

export class ConnectionIds<T extends object> {
  /** Per ID length, the IDs of that length (as latin1 text) and whose they are. */
  private readonly byLength = new Map<number, Map<string, PathEntry<T>>>();
  /** Per owner, its IDs' keys, oldest first. */
  private readonly owned = new WeakMap<T, Array<{ length: number; key: string }>>();
  size = 0;

  /** Takes `id` as one of `owner`'s; false when the table is full (nothing taken). */
  add(owner: T, id: Buffer, toServer: boolean): boolean {
    if (id.length < MIN_ID_LENGTH || id.length > MAX_ID_LENGTH) return true;
    const key = id.toString('latin1');
    const known = this.byLength.get(id.length)?.get(key);
    if (known?.owner === owner) return true;
    // another connection's (one whose end was not seen): the newest one to issue it has it
    if (known) this.disown(known.owner, id.length, key);
    let list = this.owned.get(owner);
    if (!list) this.owned.set(owner, (list = []));
    if (list.length >= MAX_PER_OWNER) this.remove(list.shift()!);
    if (this.size >= MAX_IDS) return false;
    let ids = this.byLength.get(id.length);
    if (!ids) this.byLength.set(id.length, (ids = new Map()));
    ids.set(key, { owner, toServer });
    this.size++;
    list.push({ length: id.length, key });
    return true;
  }

  /** Whose connection a datagram belongs to by its first packet's Destination Connection ID (`byDestinationId`). */
  find(payload: Buffer): PathEntry<T> | undefined {
    return this.size === 0 ? undefined : byDestinationId(this.byLength, payload);
  }

  /** Drops every ID of `owner` (its connection ended). */
  forget(owner: T): void {
    const list = this.owned.get(owner);
    if (!list) return;
    for (const k of list) this.remove(k);
    this.owned.delete(owner);
  }

  private remove(k: { length: number; key: string }): void {
    const ids = this.byLength.get(k.length);
    if (!ids?.delete(k.key)) return;
    this.size--;
    if (ids.size === 0) this.byLength.delete(k.length);
  }

  private disown(owner: T, length: number, key: string): void {
    const list = this.owned.get(owner);
    const i = list ? list.findIndex((k) => k.length === length && k.key === key) : -1;
    if (i >= 0) list!.splice(i, 1);
    this.remove({ length, key });
  }
}
