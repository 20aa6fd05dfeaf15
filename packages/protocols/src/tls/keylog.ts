/**
 * TLS secrets from NSS key log text (SSLKEYLOGFILE, as OpenSSL, GnuTLS,
 * BoringSSL, Go, Node.js, curl and browsers write it; and a pcapng Decryption
 * Secrets Block carries it): `LABEL <client random, 64 hex> <secret, hex>`
 * lines, keyed by the ClientHello's random. `CLIENT_RANDOM` is a TLS 1.2
 * master secret; `CLIENT_HANDSHAKE_TRAFFIC_SECRET`, `SERVER_…` and
 * `CLIENT_TRAFFIC_SECRET_0`, `SERVER_…` are TLS 1.3's.
 *
 * A file is followed: a client writes its line as its handshake ends, while
 * `pano-capture | pano-parse --tls-keylog FILE` is already reading, so a
 * random not found yet makes the store read what the file gained since.
 * Bounded: past MAX_CONNECTIONS randoms the oldest are forgotten (counted).
 */
import { TextTail } from '@panopticon/pcap';

/** Client randoms kept (each with its few secrets, ~200 bytes). */
const MAX_CONNECTIONS = 262_144;
/** Bytes of records (or datagrams) held over all connections while their secrets may still come. */
const MAX_HELD = 64 * 1024 * 1024;
/** How long (capture time) a connection's records wait for its secrets: a client writes them within its handshake. */
const KEY_WAIT_NS = 10_000_000_000n;
/** Bytes one connection (or one side) holds while it waits. */
const MAX_WAITING = 256 * 1024;
/** Longest line taken: a label, 64 hex digits and a secret of up to 128 bytes. */
const MAX_LINE = 512;

/** The labels a decryption uses (NSS key log format). */
export const KeyLabel = {
  MasterSecret: 'CLIENT_RANDOM',
  /** TLS 1.3 0-RTT: the client's records before its handshake's (RFC 8446 §7.1, client_early_traffic_secret). */
  ClientEarly: 'CLIENT_EARLY_TRAFFIC_SECRET',
  ClientHandshake: 'CLIENT_HANDSHAKE_TRAFFIC_SECRET',
  ServerHandshake: 'SERVER_HANDSHAKE_TRAFFIC_SECRET',
  ClientTraffic: 'CLIENT_TRAFFIC_SECRET_0',
  ServerTraffic: 'SERVER_TRAFFIC_SECRET_0',
} as const;

const LINE = /^([A-Z0-9_]{1,64}) ([0-9a-fA-F]{64}) ([0-9a-fA-F]{2,256})$/;

/** A key log file could not be read: its path and the system's reason. */
export class KeyLogError extends Error {}

function openTail(path: string): TextTail {
  try {
    return new TextTail(path, MAX_LINE);
  } catch (e) {
    throw new KeyLogError(`${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
}

export class TlsKeyLog {
  private readonly secrets = new Map<string, Map<string, Buffer>>();
  private readonly files: TextTail[] = [];
  /** Lines that were not key log lines (comments excepted). */
  private badLines = 0;
  /** Client randoms forgotten past the bound. */
  forgotten = 0;
  /** Bytes held now, over all connections, waiting for their secrets. */
  private held = 0;

  /** Opens each file (throws KeyLogError naming it) and reads what it holds now. */
  constructor(paths: readonly string[] = []) {
    for (const path of paths) {
      const f = openTail(path);
      this.files.push(f);
      this.addText(f.read());
    }
  }

  /** Throws KeyLogError naming the first of `paths` that cannot be opened; reads nothing (a command's check before its pipelines start). */
  static check(paths: readonly string[]): void {
    for (const path of paths) openTail(path).close();
  }

  /** Lines that were not key log lines (comments excepted), and lines too long to be one. */
  get malformedLines(): number {
    let n = this.badLines;
    for (const f of this.files) n += f.overlong;
    return n;
  }

  /** Whether any secret could come: a file is followed, or lines were added. */
  get active(): boolean {
    return this.files.length > 0 || this.secrets.size > 0;
  }

  get size(): number {
    return this.secrets.size;
  }

  /** Key log text (a Decryption Secrets Block's, or a file's); lines ending without a newline are taken whole. */
  addText(text: string): void {
    let start = 0;
    while (start < text.length) {
      let nl = text.indexOf('\n', start);
      if (nl < 0) nl = text.length;
      this.addLine(text.slice(start, nl));
      start = nl + 1;
    }
  }

  /** The secret `label` of the connection whose ClientHello random is `random`; a miss reads what followed files gained. */
  get(random: Buffer, label: string): Buffer | undefined {
    const key = random.toString('hex');
    let s = this.secrets.get(key)?.get(label);
    if (s === undefined && this.files.length) {
      for (const f of this.files) this.addText(f.read());
      s = this.secrets.get(key)?.get(label);
    }
    return s;
  }

  /**
   * Whether `n` more bytes, at `nowNs`, may wait for a connection's secrets
   * beside the `heldBytes` it holds since `firstNs`: within 256 KiB a
   * connection, KEY_WAIT_NS of capture time, and the budget shared by every
   * connection, of which they are then taken (given back with releaseHold).
   * False: that connection stops waiting.
   */
  reserveHold(heldBytes: number, firstNs: bigint, n: number, nowNs: bigint): boolean {
    if (heldBytes + n > MAX_WAITING || nowNs - firstNs > KEY_WAIT_NS || this.held + n > MAX_HELD) return false;
    this.held += n;
    return true;
  }

  releaseHold(n: number): void {
    this.held -= n;
  }

  close(): void {
    for (const f of this.files) f.close();
    this.files.length = 0;
  }

  private addLine(raw: string): void {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.length === 0 || line.startsWith('#')) return;
    const m = LINE.exec(line);
    if (!m || m[3]!.length % 2 !== 0) {
      this.badLines++;
      return;
    }
    const key = m[2]!.toLowerCase();
    let entry = this.secrets.get(key);
    if (!entry) {
      if (this.secrets.size >= MAX_CONNECTIONS) {
        this.secrets.delete(this.secrets.keys().next().value!);
        this.forgotten++;
      }
      this.secrets.set(key, (entry = new Map()));
    }
    entry.set(m[1]!, Buffer.from(m[3]!, 'hex'));
  }
}

/**
 * What waits for secrets a key log may still get: records or packets in the
 * order they came, their bytes taken from the log's shared budget within its
 * bounds (reserveHold). Without a key log nothing can wait.
 */
export class KeyWait<T extends { tsNs: bigint }> {
  items: T[] = [];
  private bytes = 0;

  constructor(private readonly keys: TlsKeyLog | undefined) {}

  /** Holds `item` of `n` bytes; false, holding nothing, past the bounds. */
  add(item: T, n: number): boolean {
    if (!this.keys?.reserveHold(this.bytes, this.items[0]?.tsNs ?? item.tsNs, n, item.tsNs)) return false;
    this.items.push(item);
    this.bytes += n;
    return true;
  }

  /** Everything held, let go (to be opened, or given up): its bytes go back to the budget. */
  take(): T[] {
    const items = this.items;
    this.keys?.releaseHold(this.bytes);
    this.items = [];
    this.bytes = 0;
    return items;
  }
}
