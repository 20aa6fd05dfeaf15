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
import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';

/** Client randoms kept (each with its few secrets, ~200 bytes). */
const MAX_CONNECTIONS = 262_144;
/** Longest line taken: a label, 64 hex digits and a secret of up to 128 bytes. */
const MAX_LINE = 512;
/** Bytes read from a followed file at once. */
const READ_CHUNK = 1 << 20;

/** The labels a decryption uses (NSS key log format). */
export const KeyLabel = {
  MasterSecret: 'CLIENT_RANDOM',
  ClientHandshake: 'CLIENT_HANDSHAKE_TRAFFIC_SECRET',
  ServerHandshake: 'SERVER_HANDSHAKE_TRAFFIC_SECRET',
  ClientTraffic: 'CLIENT_TRAFFIC_SECRET_0',
  ServerTraffic: 'SERVER_TRAFFIC_SECRET_0',
} as const;

const LINE = /^([A-Z0-9_]{1,64}) ([0-9a-fA-F]{64}) ([0-9a-fA-F]{2,256})$/;

/** A key log file could not be read: its path and the system's reason. */
export class KeyLogError extends Error {}

class FollowedFile {
  offset = 0;
  /** A line not yet ended by a newline (the writer is mid-line). */
  partial = '';
  constructor(readonly path: string, public fd: number) {}
}

export class TlsKeyLog {
  private readonly secrets = new Map<string, Map<string, Buffer>>();
  private readonly files: FollowedFile[] = [];
  /** Lines that were not key log lines (comments excepted). */
  malformedLines = 0;
  /** Client randoms forgotten past the bound. */
  forgotten = 0;

  /** Opens each file (throws KeyLogError naming it) and reads what it holds now. */
  constructor(paths: readonly string[] = []) {
    for (const path of paths) {
      let fd: number;
      try {
        fd = openSync(path, 'r');
      } catch (e) {
        throw new KeyLogError(`${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
      }
      const f = new FollowedFile(path, fd);
      this.files.push(f);
      this.readMore(f);
    }
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
      for (const f of this.files) this.readMore(f);
      s = this.secrets.get(key)?.get(label);
    }
    return s;
  }

  close(): void {
    for (const f of this.files) closeSync(f.fd);
    this.files.length = 0;
  }

  private addLine(raw: string): void {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.length === 0 || line.startsWith('#')) return;
    const m = LINE.exec(line);
    if (!m || m[3]!.length % 2 !== 0) {
      this.malformedLines++;
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

  private readMore(f: FollowedFile): void {
    let size: number;
    try {
      const open = fstatSync(f.fd);
      size = open.size;
      // the path now names another file (deleted and written anew by the next client): follow that one
      const now = statSync(f.path, { throwIfNoEntry: false });
      if (now && (now.ino !== open.ino || now.dev !== open.dev)) {
        const fd = openSync(f.path, 'r');
        closeSync(f.fd);
        f.fd = fd;
        f.offset = 0;
        f.partial = '';
        size = fstatSync(fd).size;
      }
    } catch {
      return;
    }
    // truncated and rewritten (a new session of the writer): read it again from the start
    if (size < f.offset) {
      f.offset = 0;
      f.partial = '';
    }
    const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, Math.max(0, size - f.offset)));
    while (f.offset < size) {
      const n = readSync(f.fd, buf, 0, Math.min(buf.length, size - f.offset), f.offset);
      if (n <= 0) break;
      f.offset += n;
      const text = f.partial + buf.toString('latin1', 0, n);
      const last = text.lastIndexOf('\n');
      if (last < 0) {
        // no key log line is this long: a file of something else, not held without bound
        if (text.length > MAX_LINE) {
          this.malformedLines++;
          f.partial = '';
        } else f.partial = text;
        continue;
      }
      this.addText(text.slice(0, last));
      f.partial = text.slice(last + 1);
    }
  }
}
