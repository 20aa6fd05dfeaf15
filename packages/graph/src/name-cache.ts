/**
 * Names learnt from DNS answers seen in the stream, and from the server name a
 * TLS client sent (SNI) for the address it connected to: address → the names
 * that resolved to it, most recent last. Time is the stream's own (event
 * ns), so a replay names nodes the same way on every run. Entries expire a
 * fixed time after they were last confirmed and the map is capped; both
 * bound memory on long-running pipes, and evictions are counted.
 */
import { at } from './event-facts.js';
import { Identifiers } from './identifiers.js';

export interface NameCacheOptions {
  /** how long an answer names its address, in ns of stream time (default 1 h) */
  ttlNs?: bigint | number;
  /** most addresses kept (default 100,000) */
  maxAddresses?: number;
}

interface Entry {
  /** names in the order last seen; the last one is the current name */
  names: string[];
  /** stream time in ns as a double: sub-µs error is irrelevant at TTL scale, and it avoids BigInt per event */
  seenNs: number;
}

const MAX_NAMES_PER_ADDRESS = 32;

/** Lower-case, no trailing dot: `WWW.Example.COM.` and `www.example.com` are one name. */
export function normalizeName(name: string): string {
  const n = name.toLowerCase();
  return n.endsWith('.') && n.length > 1 ? n.slice(0, -1) : n;
}

export interface Resolution {
  address: string;
  /** every name on the way from the question to the address (question first) */
  names: string[];
}

/**
 * The address records of one DNS event, each with the name the client asked
 * for (the question) followed by the CNAME chain that led to the address; or
 * for a TLS handshake, the server's address with the name its client sent.
 */
export function resolutionsOf(e: Record<string, unknown>, ids = new Identifiers()): Resolution[] {
  // a TLS client names the server it reached (SNI): the name of the address it connected to
  const sni = at(e, 'tls.client.server_name');
  const server = at(e, 'server.address');
  if (typeof sni === 'string' && sni.length > 0 && typeof server === 'string' && server.length > 0) {
    return [{ address: ids.bound(server), names: [ids.bound(normalizeName(sni))] }];
  }
  const answers = at(e, 'dns.answers');
  if (!Array.isArray(answers)) return [];
  const question = at(e, 'dns.question.name');
  const cnames = new Map<string, string>();
  const records: Array<{ name: string; data: string }> = [];
  for (const a of answers) {
    if (a === null || typeof a !== 'object') continue;
    const { name, type, data } = a as { name?: unknown; type?: unknown; data?: unknown };
    if (typeof name !== 'string' || typeof data !== 'string') continue;
    if (type === 'CNAME') cnames.set(ids.bound(normalizeName(name)), ids.bound(normalizeName(data)));
    else if (type === 'A' || type === 'AAAA') records.push({ name: ids.bound(normalizeName(name)), data: ids.bound(data) });
  }
  const out: Resolution[] = [];
  for (const r of records) {
    const names: string[] = [];
    if (typeof question === 'string' && question.length > 0) {
      // follow the chain from the question; it names the address only if it reaches the record
      let cur = ids.bound(normalizeName(question));
      const chain = [cur];
      for (let i = 0; i < 16 && cur !== r.name && cnames.has(cur); i++) {
        cur = cnames.get(cur)!;
        chain.push(cur);
      }
      if (cur === r.name) names.push(...chain);
    }
    if (names.length === 0) names.push(r.name);
    out.push({ address: r.data, names });
  }
  return out;
}

export class NameCache {
  private readonly ttlNs: number;
  private readonly maxAddresses: number;
  private readonly entries = new Map<string, Entry>();
  expired = 0;
  evicted = 0;
  /** names and addresses of answers cut to MAX_IDENTIFIER */
  readonly identifiers = new Identifiers();

  constructor(opts: NameCacheOptions = {}) {
    this.ttlNs = Number(opts.ttlNs ?? 3_600_000_000_000);
    this.maxAddresses = opts.maxAddresses ?? 100_000;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Learn from a DNS event's answers or a TLS handshake's server name; returns the resolutions it held. */
  learn(e: Record<string, unknown>): Resolution[] {
    const res = resolutionsOf(e, this.identifiers);
    if (res.length === 0) return res;
    const now = Number(at(e, 'pano.end_ns') ?? at(e, 'pano.start_ns') ?? 0) || 0;
    for (const r of res) {
      const entry = this.entries.get(r.address);
      if (entry) this.entries.delete(r.address); // re-insert: Map order is recency order
      const names = entry ? entry.names.filter((n) => !r.names.includes(n)) : [];
      // chain is question-first; the question is the name people used, so it goes last (= current)
      names.push(...[...r.names].reverse());
      while (names.length > MAX_NAMES_PER_ADDRESS) names.shift();
      this.entries.set(r.address, { names, seenNs: now });
      if (this.entries.size > this.maxAddresses) {
        const oldest = this.entries.keys().next().value as string;
        this.entries.delete(oldest);
        this.evicted++;
      }
    }
    return res;
  }

  /** Names for an address at stream time `nowNs` (current name last), or undefined. */
  lookup(address: string, nowNs: number): string[] | undefined {
    const entry = this.entries.get(address);
    if (!entry) return undefined;
    if (nowNs - entry.seenNs > this.ttlNs) {
      this.entries.delete(address);
      this.expired++;
      return undefined;
    }
    return entry.names;
  }
}
