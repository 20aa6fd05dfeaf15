/**
 * Pairing requests with responses, bounded.
 *
 * In-order protocols (HTTP/1.1, Redis, PostgreSQL, MySQL) answer requests in
 * the order they were sent: a FIFO. Protocols with ids (DNS, Kafka, HTTP/2
 * streams, AMQP channels) answer by key. Both evict the oldest pending request
 * past `max`, handing it to `onEvict` so it is emitted as unanswered rather
 * than silently lost.
 */

export class FifoStitcher<T> {
  private items: T[] = [];
  private head = 0;

  constructor(
    private readonly max: number,
    private readonly onEvict: (item: T) => void,
  ) {}

  get size(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    if (this.size >= this.max) this.onEvict(this.shift()!);
    this.items.push(item);
  }

  peek(): T | undefined {
    return this.head < this.items.length ? this.items[this.head] : undefined;
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    (this.items as Array<T | undefined>)[this.head] = undefined;
    this.head++;
    if (this.head > 64 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  /** Remove and return everything pending, oldest first. */
  drain(): T[] {
    const out = this.items.slice(this.head);
    this.items = [];
    this.head = 0;
    return out;
  }
}

export class KeyedStitcher<K, T> {
  private readonly map = new Map<K, T>();

  constructor(
    private readonly max: number,
    private readonly onEvict: (item: T, key: K) => void,
  ) {}

  get size(): number {
    return this.map.size;
  }

  /** Add a pending request; a request already pending under the same key is evicted first. */
  set(key: K, item: T): void {
    const prior = this.map.get(key);
    if (prior !== undefined) {
      this.map.delete(key);
      this.onEvict(prior, key);
    }
    if (this.map.size >= this.max) {
      const [k, v] = this.map.entries().next().value as [K, T];
      this.map.delete(k);
      this.onEvict(v, k);
    }
    this.map.set(key, item);
  }

  get(key: K): T | undefined {
    return this.map.get(key);
  }

  take(key: K): T | undefined {
    const v = this.map.get(key);
    if (v !== undefined) this.map.delete(key);
    return v;
  }

  /** Entries oldest first; `expire` removes and returns those matching. */
  expire(pred: (item: T, key: K) => boolean): Array<[K, T]> {
    const out: Array<[K, T]> = [];
    for (const [k, v] of this.map) {
      if (pred(v, k)) out.push([k, v]);
    }
    for (const [k] of out) this.map.delete(k);
    return out;
  }

  drain(): Array<[K, T]> {
    const out = [...this.map.entries()];
    this.map.clear();
    return out;
  }
}
