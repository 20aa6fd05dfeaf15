/**
 * Tamper-evident audit log: append-only JSONL, one record per line, each
 * record carrying the hash of the one before it (a hash chain), with
 * checkpoints that may be signed with Ed25519.
 *
 * Line format (byte-exact, so verification never depends on re-serialising):
 *
 *   {"seq":N,"time":"…","prev":"<64 hex>","kind":"…",…fields…,"hash":"<64 hex>"}
 *
 * `hash` = SHA-256 over the line's bytes up to (not including) `,"hash":…`
 * followed by `}` — i.e. the JSON of the record without its hash. Because
 * `prev` is inside what is hashed, editing, deleting, inserting or reordering
 * any record breaks the chain at that point.
 *
 * Checkpoints (`kind: "checkpoint"`) are written every `checkpointEvery`
 * records and when the writer closes (`final: true`). With a signing key the
 * checkpoint carries `sigv: 2`, `key` and last (before `hash`) `sig`, an
 * Ed25519 signature over `pano-audit-checkpoint:v2\n` followed by the
 * record's bytes up to `,"sig":…` closed with `}`: the whole checkpoint (seq,
 * time, prev, which commits to the chain before it, final, key) is signed, so
 * a log cut at a periodic checkpoint cannot be passed off as ended by turning
 * its `final` to true. Checkpoints written before v2 (no `sigv`) were signed
 * over `pano-audit-checkpoint:v1:<seq>:<prev>` only, which does not cover
 * `final`: they still verify, but with a public key a log that ends with
 * one verifies only given its expected head. A v2 signature is no valid v1 signature (the
 * messages differ), so stripping `sigv` from a v2 checkpoint does not help a
 * forger. A log whose last line is not a final checkpoint was truncated (or
 * its writer died before closing); see docs/PII.md for what truncation at an
 * earlier session's final checkpoint needs (an externally kept head hash).
 *
 * One writer at a time: `open` takes a lock file `<log>.lock` (the log's
 * resolved path plus `.lock`) holding the writer's pid, host and process start
 * time, and `close`/`abandon` (or the process's exit) remove it. A second
 * writer is refused while the holder lives; a lock left by a dead process
 * (kill -9), or by a pid since reused by another process, is taken over.
 *
 * Never put raw personal data in a record: callers store keyed hashes only.
 */
import { closeSync, existsSync, fchmodSync, fstatSync, linkSync, openSync, readFileSync, readSync, realpathSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import { writeWholeLines } from '@panopticon/cli';
import { lockExclusive } from './file-lock.js';
import { createHash, createPrivateKey, createPublicKey, randomBytes, sign, verify, type KeyObject } from 'node:crypto';

export const AUDIT_GENESIS = '0'.repeat(64);
const HASH_SUFFIX_RE = /,"hash":"([0-9a-f]{64})"\}$/;
/** A v2 checkpoint's signature: the last field before the hash (what precedes it is what was signed). */
const SIG_SUFFIX_RE = /,"sig":"([A-Za-z0-9+/]*={0,2})","hash":"[0-9a-f]{64}"\}$/;
/** The checkpoint signature format written now (field `sigv`). */
const SIG_VERSION = 2;
const RESERVED = new Set(['seq', 'time', 'prev', 'kind', 'hash']);

/** JSON primitive values allowed in an audit record's own fields. */
export type AuditValue = string | number | boolean | null;

/** What a caller appends: a kind plus flat fields (never raw personal data). */
export interface AuditEntry {
  /** e.g. `finding` (pano-pii), `export` (pano-export). Not `checkpoint`. */
  kind: string;
  [field: string]: AuditValue;
}

export interface AuditLogOptions {
  /** Ed25519 private key (KeyObject or PEM text) to sign checkpoints. */
  signKey?: KeyObject | string;
  /** Write a checkpoint after this many records (default 1000; 0 = only on close). */
  checkpointEvery?: number;
  /** Clock for record times (ISO-8601); injectable for deterministic tests. */
  now?: () => string;
}

function sha256Hex(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

/** What a checkpoint without `sigv` (written before v2) was signed over: seq and prev, not `final`. */
function checkpointMessageV1(seq: number, prev: string): Buffer {
  return Buffer.from(`pano-audit-checkpoint:v1:${seq}:${prev}`);
}

/** What a v2 checkpoint is signed over: the record's JSON without `sig` and `hash` (its exact bytes). */
function checkpointMessageV2(unsignedJson: string): Buffer {
  return Buffer.from(`pano-audit-checkpoint:v2\n${unsignedJson}`);
}

/** Short fingerprint of an Ed25519 public key (first 16 hex of SHA-256 of its SPKI DER). */
export function keyFingerprint(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return createHash('sha256').update(pub.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16);
}

/** Seal a record body: returns the full line (with trailing newline) and its hash. */
function seal(body: Record<string, AuditValue>): { line: string; hash: string } {
  const json = JSON.stringify(body);
  const hash = sha256Hex(json);
  return { line: json.slice(0, -1) + `,"hash":"${hash}"}\n`, hash };
}

/** How far back from its end an existing log is read to find its last record (records are far shorter). */
const MAX_TAIL = 1 << 20;

/**
 * The last line of the `size` bytes of `fd` (without its newline), and
 * whether the file ends with one; read from the end, so a long log is never
 * read whole.
 */
function readLastLine(fd: number, size: number, file: string): { line: string; complete: boolean } {
  for (let want = Math.min(size, 64 * 1024); ; want = Math.min(size, want * 4)) {
    const buf = Buffer.allocUnsafe(want);
    const got = readSync(fd, buf, 0, want, size - want);
    const tail = buf.subarray(0, got);
    const complete = tail[tail.length - 1] === 0x0a;
    const end = complete ? tail.length - 1 : tail.length;
    const nl = tail.lastIndexOf(0x0a, end - 1);
    if (nl >= 0 || want === size) return { line: tail.toString('utf8', nl + 1, end), complete };
    if (want >= MAX_TAIL) throw new Error(`audit: ${file}: last line is longer than ${MAX_TAIL} bytes: not an audit log`);
  }
}

/** What a writer's lock file holds (JSON, one line). */
interface LockOwner {
  pid: number;
  host: string;
  /** Start time of the process (field 22 of /proc/PID/stat), telling a reused pid from the holder. */
  start: string | null;
  nonce: string;
}

/** Start time of a process in clock ticks since boot (Linux /proc), or null when it cannot be read; 'Z' for a zombie. */
function processStart(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // after "pid (comm) ": field 3 (state) is the first, field 22 (starttime) the 20th
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[0] === 'Z' ? 'Z' : (rest[19] ?? null);
  } catch {
    return null;
  }
}

/** Whether the writer that left a lock may still be writing (true when that cannot be told: another host). */
function lockHolderAlive(owner: LockOwner): boolean {
  if (owner.host !== hostname()) return true;
  try {
    process.kill(owner.pid, 0);
  } catch (e) {
    // EPERM: it exists, as another user's process
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  const start = processStart(owner.pid);
  if (start === 'Z') return false;
  // the pid is taken, but by a later process than the one that wrote the lock (after a reboot, or pid reuse)
  if (start !== null && owner.start !== null && start !== owner.start) return false;
  return true;
}

function parseLock(text: string): LockOwner | undefined {
  try {
    const o = JSON.parse(text) as Partial<LockOwner>;
    if (Number.isSafeInteger(o.pid) && o.pid! > 0 && typeof o.host === 'string' && typeof o.nonce === 'string') {
      return { pid: o.pid!, host: o.host, start: typeof o.start === 'string' ? o.start : null, nonce: o.nonce };
    }
  } catch {
    // not a lock this code wrote
  }
  return undefined;
}

function readOr(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** How old a takeover marker (`.lock.steal`) must be to count as left by a killed process. */
const STEAL_STALE_MS = 10_000;

/**
 * The lock that keeps a second writer off an audit log (two writers would
 * interleave their records and break the chain). A file `<log>.lock`,
 * created whole and atomically (written aside, then hard-linked into place,
 * which fails when it exists), holding pid, host, process start time and a
 * random nonce. An existing lock whose holder is dead (or whose pid now
 * belongs to a later process) is stale: it is removed under a short-lived
 * `<log>.lock.steal` marker, so two writers finding the same stale lock
 * cannot both take it, and the lock is tried again.
 */
class WriterLock {
  private released = false;
  private readonly onExit = () => this.release();

  private constructor(
    readonly path: string,
    private readonly text: string,
  ) {
    process.on('exit', this.onExit);
  }

  static acquire(logFile: string): WriterLock {
    let base: string;
    try {
      base = realpathSync(logFile);
    } catch {
      base = resolve(logFile);
    }
    const path = `${base}.lock`;
    const owner: LockOwner = { pid: process.pid, host: hostname(), start: processStart(process.pid), nonce: randomBytes(8).toString('hex') };
    const text = JSON.stringify(owner) + '\n';
    const aside = `${path}.${process.pid}.${owner.nonce}`;
    const fail = (e: unknown): never => {
      const err = e as NodeJS.ErrnoException;
      // A directory that takes no new files (`/proc`, `/sys`) answers ENOENT too, for a log that exists:
      // `--audit /proc/version: no such file or directory` would be untrue. Without a code, the commands
      // print the message as it is.
      if (err.code === 'ENOENT' && existsSync(logFile)) throw new Error(`audit: ${logFile}: cannot take its writer lock: no file can be created in ${dirname(base)}`);
      // a missing or read-only directory is the log's problem as much as the lock's: said of the log, as
      // opening it would (the commands turn the code and path into `--audit FILE: no such file or directory`)
      if (err.code) throw Object.assign(new Error(`audit: ${logFile}: cannot take the writer lock ${path}: ${err.code}`), { code: err.code, path: logFile, syscall: err.syscall });
      throw new Error(`audit: ${logFile}: cannot take the writer lock ${path}: ${err.message}`);
    };
    try {
      writeFileSync(aside, text, { mode: 0o600, flag: 'wx' });
    } catch (e) {
      fail(e);
    }
    try {
      for (let tries = 0; ; tries++) {
        try {
          linkSync(aside, path);
          return new WriterLock(path, text);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST') fail(e);
        }
        const held = readOr(path);
        if (held === undefined) continue; // released meanwhile
        const holder = parseLock(held);
        if (holder && lockHolderAlive(holder)) {
          const where = holder.host === hostname() ? '' : ` on host ${holder.host}`;
          throw new Error(`audit: ${logFile}: another writer (pid ${holder.pid}${where}) has the log open (lock ${path}); one writer at a time, or the records interleave${where ? '; remove the lock if that writer is gone' : ''}`);
        }
        if (!holder && tries === 0) {
          // a lock file that is not (yet) whole JSON: not one this code writes, but give a writer a moment
          Atomics.wait(WAIT, 0, 0, 50);
          continue;
        }
        if (tries >= 5) throw new Error(`audit: ${logFile}: could not take over the stale writer lock ${path}; remove it if no writer runs`);
        try {
          WriterLock.removeStale(path, held, aside);
        } catch (e) {
          fail(e);
        }
      }
    } finally {
      try {
        unlinkSync(aside);
      } catch {
        // gone already
      }
    }
  }

  /** Remove the lock at `path` if it still holds `stale`, under the takeover marker. */
  private static removeStale(path: string, stale: string, aside: string): void {
    const steal = `${path}.steal`;
    try {
      linkSync(aside, steal);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      // another writer is taking it over right now, or one was killed doing so
      try {
        if (Date.now() - statSync(steal).mtimeMs > STEAL_STALE_MS) unlinkSync(steal);
      } catch {
        // gone meanwhile
      }
      Atomics.wait(WAIT, 0, 0, 20);
      return;
    }
    try {
      if (readOr(path) === stale) unlinkSync(path);
    } finally {
      unlinkSync(steal);
    }
  }

  /** Remove the lock if it is still this writer's. Idempotent. */
  release(): void {
    if (this.released) return;
    this.released = true;
    process.off('exit', this.onExit);
    try {
      if (readOr(this.path) === this.text) unlinkSync(this.path);
    } catch {
      // nothing to do: a lock that cannot be removed is stale once this process is gone
    }
  }
}

/** Writing the audit log failed (a full disk, an I/O error): the log ends with what was written before. */
export class AuditWriteError extends Error {
  constructor(
    readonly file: string,
    readonly error: NodeJS.ErrnoException,
  ) {
    super(`audit: ${file}: ${error.message}`);
    this.name = 'AuditWriteError';
  }
}

export class AuditLog {
  readonly file: string;
  private fd: number;
  private seq: number;
  private head: string;
  private pending: string[] = [];
  private sinceCheckpoint = 0;
  private readonly signKey?: KeyObject;
  private readonly every: number;
  private readonly now: () => string;
  private closed = false;
  private failed = false;
  /** Bytes of whole records in the file. */
  private size: number;
  private readonly lock: WriterLock;

  private constructor(file: string, fd: number, lock: WriterLock, size: number, seq: number, head: string, opts: AuditLogOptions) {
    this.file = file;
    this.fd = fd;
    this.lock = lock;
    this.size = size;
    this.seq = seq;
    this.head = head;
    this.every = opts.checkpointEvery ?? 1000;
    this.now = opts.now ?? (() => new Date().toISOString());
    if (opts.signKey !== undefined) {
      this.signKey = typeof opts.signKey === 'string' ? createPrivateKey(opts.signKey) : opts.signKey;
      if (this.signKey.asymmetricKeyType !== 'ed25519') throw new Error(`audit: signing key is ${this.signKey.asymmetricKeyType}, expected ed25519`);
    }
  }

  /**
   * Open (creating with mode 0600) or continue an audit log. An existing log
   * continues its chain from its last record; a log whose last line is
   * incomplete or unparsable is refused (verify it first). A log another
   * writer has open (its lock file `<log>.lock` held by a live process) is
   * refused too; see WriterLock.
   */
  static open(file: string, opts: AuditLogOptions = {}): AuditLog {
    let seq = 0;
    let head = AUDIT_GENESIS;
    // a device or a pipe is refused before a lock is made beside it (and /dev/zero would be read forever)
    let existing;
    try {
      existing = statSync(file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    if (existing && !existing.isFile()) throw new Error(`audit: ${file}: ${existing.isDirectory() ? 'is a directory' : 'not a regular file'}`);
    // the lock first, then the last record: what another writer appended before it let go is read
    const lock = WriterLock.acquire(file);
    let fd: number;
    try {
      // read and append: the chain goes on from the last record the file holds
      fd = openSync(file, 'a+', 0o600);
    } catch (e) {
      lock.release();
      throw e;
    }
    let size: number;
    try {
      const st = fstatSync(fd);
      size = st.size;
      // a device or a pipe has no last record to continue from (and /dev/zero would be read forever)
      if (!st.isFile()) throw new Error(`audit: ${file}: not a regular file`);
      // the lock file guards the name; this guards the file under any other name (a hard link)
      if (lockExclusive(fd) === 'busy') throw new Error(`audit: ${file}: another writer has this log open under another name (a hard link or another mount); one writer at a time, or the records interleave`);
      if (st.size > 0) {
        const { line, complete } = readLastLine(fd, st.size, file);
        if (!complete) throw new Error(`audit: ${file}: last line is incomplete (truncated write); run verify-audit`);
        const m = HASH_SUFFIX_RE.exec(line);
        let rec: { seq?: unknown } | undefined;
        try { rec = JSON.parse(line); } catch { rec = undefined; }
        if (!m || !rec || typeof rec.seq !== 'number') throw new Error(`audit: ${file}: last line is not an audit record; run verify-audit`);
        seq = rec.seq + 1;
        head = m[1]!;
      }
      if ((st.mode & 0o077) !== 0 && seq === 0) fchmodSync(fd, 0o600);
    } catch (e) {
      closeSync(fd);
      lock.release();
      throw e;
    }
    let log: AuditLog;
    try {
      log = new AuditLog(file, fd, lock, size, seq, head, opts);
    } catch (e) {
      closeSync(fd);
      lock.release();
      throw e;
    }
    log.writeRecord({ kind: 'open', writer: 'pano-audit/1' });
    return log;
  }

  /** Hash of the newest record (the chain head); keep it elsewhere to detect truncation across sessions. */
  get headHash(): string {
    return this.head;
  }

  /** Number of records written so far (including open/checkpoint records). */
  get records(): number {
    return this.seq;
  }

  /** Append one record; checkpoints follow automatically every `checkpointEvery` records. */
  append(entry: AuditEntry): string {
    if (entry.kind === 'checkpoint' || entry.kind === 'open') throw new Error(`audit: kind "${entry.kind}" is reserved`);
    const hash = this.writeRecord(entry);
    if (this.every > 0 && ++this.sinceCheckpoint >= this.every) this.checkpoint(false);
    return hash;
  }

  /** Write a checkpoint now (signed when a key was given). */
  checkpoint(final = false): string {
    const fields: Record<string, AuditValue> = { kind: 'checkpoint', final };
    if (this.signKey) {
      fields.sigv = SIG_VERSION;
      fields.key = keyFingerprint(this.signKey);
    }
    this.sinceCheckpoint = 0;
    return this.writeRecord(fields, this.signKey);
  }

  /** Push buffered records to the file; throws AuditWriteError when it cannot (and the log takes no more). */
  flush(): void {
    if (this.pending.length === 0) return;
    if (this.failed) throw new Error('audit: log failed to write before');
    const buf = Buffer.from(this.pending.join(''));
    this.pending = [];
    try {
      // on failure the log ends with its last whole record: verify-audit reports it cut short
      // after that record, and a later run can continue its chain
      writeWholeLines(this.fd, buf, this.size);
    } catch (e) {
      this.failed = true;
      throw new AuditWriteError(this.file, e as NodeJS.ErrnoException);
    }
    this.size += buf.length;
  }

  /** Final checkpoint, flush, close (only close, after a failed write: see `abandon`). Idempotent. */
  close(): void {
    if (this.closed) return;
    if (this.failed) return this.abandon();
    this.checkpoint(true);
    this.flush();
    closeSync(this.fd);
    this.closed = true;
    this.lock.release();
  }

  /**
   * Close without the final checkpoint, after a write failed: nothing more
   * is written, and the log stays as the failure left it (verify-audit
   * reports where it ends). Idempotent.
   */
  abandon(): void {
    if (this.closed) return;
    this.pending = [];
    closeSync(this.fd);
    this.closed = true;
    this.lock.release();
  }

  /** Append a record; with `signKey`, signed (v2): `sig` over the record's JSON before it, the last field before `hash`. */
  private writeRecord(fields: Record<string, AuditValue>, signKey?: KeyObject): string {
    if (this.closed) throw new Error('audit: log is closed');
    const body: Record<string, AuditValue> = { seq: this.seq, time: this.now(), prev: this.head, kind: fields.kind ?? null };
    for (const k of Object.keys(fields)) {
      if (RESERVED.has(k)) continue;
      body[k] = fields[k]!;
    }
    if (signKey) body.sig = sign(null, checkpointMessageV2(JSON.stringify(body)), signKey).toString('base64');
    const { line, hash } = seal(body);
    this.pending.push(line);
    if (this.pending.length >= 256) this.flush();
    this.seq++;
    this.head = hash;
    return hash;
  }
}

export interface VerifyOptions {
  /** Ed25519 public key (KeyObject or PEM); when given every checkpoint must carry a valid signature by it. */
  publicKey?: KeyObject | string;
  /** Expected head hash (kept elsewhere, either case); catches truncation at an earlier final checkpoint. */
  expectHead?: string;
}

export interface VerifyResult {
  ok: boolean;
  /** Records that verified (all of them when ok). */
  records: number;
  checkpoints: number;
  signedCheckpoints: number;
  /**
   * Signed checkpoints in the format before v2 (no `sigv`), whose signature
   * (checked with a public key) covers seq and prev but not `final`. With a
   * public key, a log that ends with one verifies only with `expectHead`: a
   * cut at a periodic checkpoint, its `final` turned true, would look the same.
   */
  oldFormatCheckpoints: number;
  /** Hash of the last good record. */
  head: string;
  /** First problem: 1-based line number, the record's seq when readable, what was wrong. */
  error?: { line: number; seq?: number; reason: string };
}

/** Longest record line verify-audit takes; records are a few hundred bytes, and a line is held whole. */
const MAX_RECORD_LINE = 1 << 20;
const READ_CHUNK = 1 << 20;

/**
 * Verify a whole audit log (file path, or its text when `isText`). A file is
 * read in chunks, one record at a time, so a log of any size verifies in
 * bounded memory (a string holds at most 512 MiB in V8: a long-running
 * pipe's log outgrows that).
 */
export function verifyAudit(fileOrText: string | number, opts: VerifyOptions & { isText?: boolean } = {}): VerifyResult {
  const chain = new ChainVerifier(opts);
  if (opts.isText && typeof fileOrText === 'string') {
    if (fileOrText.length === 0) return chain.end();
    const lines = fileOrText.split('\n');
    const complete = fileOrText.endsWith('\n');
    if (complete) lines.pop();
    for (let i = 0; i < lines.length; i++) {
      if (i === lines.length - 1 && !complete) return chain.fail(i + 1, 'incomplete last line (truncated)');
      if (!chain.line(lines[i]!)) return chain.result;
    }
    return chain.end();
  }
  // a pipe is fine (`verify-audit <(ssh host cat audit.log)`); a device like /dev/zero would be read forever
  // (a number is a descriptor already open, standard input: read, never closed here)
  const given = typeof fileOrText === 'number';
  if ((given ? fstatSync(fileOrText) : statSync(fileOrText)).isCharacterDevice()) throw new Error('a device, not an audit log');
  const fd = given ? fileOrText : openSync(fileOrText, 'r');
  try {
    let carry = Buffer.alloc(0);
    const chunk = Buffer.allocUnsafe(READ_CHUNK);
    for (;;) {
      const got = readWaiting(fd, chunk);
      if (got === 0) break;
      const data = carry.length ? Buffer.concat([carry, chunk.subarray(0, got)]) : chunk.subarray(0, got);
      let from = 0;
      for (let nl = data.indexOf(0x0a, from); nl >= 0; nl = data.indexOf(0x0a, from)) {
        if (!chain.line(data.toString('utf8', from, nl))) return chain.result;
        from = nl + 1;
      }
      if (data.length - from > MAX_RECORD_LINE) return chain.fail(chain.lines + 1, `line longer than ${MAX_RECORD_LINE} bytes (not an audit record)`);
      // the bytes after the last newline wait for the next chunk (copied: `chunk` is read into again)
      carry = Buffer.from(data.subarray(from));
    }
    if (carry.length > 0) return chain.fail(chain.lines + 1, 'incomplete last line (truncated)');
    return chain.end();
  } finally {
    if (!given) closeSync(fd);
  }
}

/** readSync that waits on a descriptor left non-blocking (standard input from a pipe may be). */
function readWaiting(fd: number, into: Buffer): number {
  for (;;) {
    try {
      return readSync(fd, into, 0, into.length, null);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      Atomics.wait(WAIT, 0, 0, 5);
    }
  }
}
const WAIT = new Int32Array(new SharedArrayBuffer(4));

/** The checks of verify-audit, fed one record line at a time. */
class ChainVerifier {
  readonly result: VerifyResult = { ok: false, records: 0, checkpoints: 0, signedCheckpoints: 0, oldFormatCheckpoints: 0, head: AUDIT_GENESIS };
  /** Lines taken so far. */
  lines = 0;
  private readonly pub: KeyObject | undefined;
  private readonly fp: string | undefined;
  private prevHash = AUDIT_GENESIS;
  private expectSeq = -1;
  private lastKind = '';
  private lastFinal = false;
  /** The last checkpoint's signature was verified in the old format (not covering `final`). */
  private lastOldFormat = false;

  constructor(private readonly opts: VerifyOptions) {
    this.pub = opts.publicKey === undefined ? undefined : typeof opts.publicKey === 'string' ? createPublicKey(opts.publicKey) : opts.publicKey;
    this.fp = this.pub ? keyFingerprint(this.pub) : undefined;
  }

  fail(line: number, reason: string, seq?: number): VerifyResult {
    this.result.error = seq === undefined ? { line, reason } : { line, seq, reason };
    return this.result;
  }

  /** Checks the next record line (without its newline); false when it failed (see `result.error`). */
  line(line: string): boolean {
    const lineNo = ++this.lines;
    const res = this.result;
    const m = HASH_SUFFIX_RE.exec(line);
    let rec: Record<string, unknown>;
    try {
      rec = JSON.parse(line);
    } catch {
      this.fail(lineNo, 'not valid JSON');
      return false;
    }
    const seq = typeof rec.seq === 'number' ? rec.seq : undefined;
    const problem = this.problem(line, lineNo, rec, m, seq);
    if (problem !== undefined) {
      this.fail(lineNo, problem, seq);
      return false;
    }
    if (rec.kind === 'checkpoint') {
      res.checkpoints++;
      if (typeof rec.sig === 'string') res.signedCheckpoints++;
      this.lastOldFormat = this.pub !== undefined && typeof rec.sig === 'string' && rec.sigv === undefined;
      if (this.lastOldFormat) res.oldFormatCheckpoints++;
      this.lastFinal = rec.final === true;
    }
    this.lastKind = String(rec.kind);
    this.prevHash = m![1]!;
    this.expectSeq = seq! + 1;
    res.records++;
    res.head = this.prevHash;
    return true;
  }

  /** What is wrong with one record, or undefined. */
  private problem(line: string, lineNo: number, rec: Record<string, unknown>, m: RegExpExecArray | null, seq: number | undefined): string | undefined {
    if (!m) return 'no hash field at end of record';
    const body = line.slice(0, m.index) + '}';
    if (sha256Hex(body) !== m[1]) return 'record hash mismatch (record edited)';
    if (seq === undefined) return 'missing seq';
    if (this.expectSeq === -1) {
      if (rec.prev !== AUDIT_GENESIS && seq === 0) return 'first record does not start the chain';
      if (seq !== 0) return `log starts at seq ${seq}, expected 0 (head deleted)`;
    } else if (seq !== this.expectSeq) {
      return `seq ${seq} where ${this.expectSeq} was expected (record deleted, inserted or reordered)`;
    }
    if (rec.prev !== this.prevHash) return 'prev hash does not match the previous record (chain broken)';
    if (lineNo === 1 && rec.kind !== 'open') return 'first record is not an open record';
    // a later session starts where the one before closed: records cut off before a final checkpoint, and a
    // session that then appended, would otherwise pass (the cut hidden inside the log, not at its end)
    if (lineNo > 1 && rec.kind === 'open' && !(this.lastKind === 'checkpoint' && this.lastFinal)) {
      return 'a new session starts where the one before did not end with a final checkpoint (records cut off, or its writer was killed)';
    }
    if (rec.kind === 'checkpoint') {
      if (typeof rec.sig === 'string') {
        if (this.pub) {
          if (rec.key !== this.fp) return `checkpoint signed by key ${String(rec.key)}, expected ${this.fp}`;
          let message: Buffer;
          if (rec.sigv === undefined) {
            // written before v2: the signature covers seq and prev, not final (a v2 signature is never valid here)
            message = checkpointMessageV1(seq, this.prevHash);
          } else if (rec.sigv === SIG_VERSION) {
            const s = SIG_SUFFIX_RE.exec(line);
            if (!s || s[1] !== rec.sig) return 'checkpoint signature is not the last field before the hash (sigv 2)';
            message = checkpointMessageV2(line.slice(0, s.index) + '}');
          } else {
            return `checkpoint signature format sigv ${JSON.stringify(rec.sigv)} is unknown (this verifier knows 2, and none for the old format)`;
          }
          if (!verify(null, message, this.pub, Buffer.from(rec.sig, 'base64'))) return 'bad checkpoint signature';
        }
      } else if (this.pub) {
        return 'checkpoint is not signed but a public key was given';
      }
    }
    return undefined;
  }

  /** The end of the log: it must close with a final checkpoint (and the expected head). */
  end(): VerifyResult {
    if (this.lines === 0) return this.fail(1, 'empty log (no records)');
    if (this.lastKind !== 'checkpoint' || !this.lastFinal) {
      return this.fail(this.lines, 'log does not end with a final checkpoint (truncated, or the writer did not close)');
    }
    if (this.opts.expectHead !== undefined && this.opts.expectHead.toLowerCase() !== this.prevHash) {
      return this.fail(this.lines, `head ${this.prevHash} differs from the expected ${this.opts.expectHead} (records missing at the end)`);
    }
    // the old format signs seq and prev only: this "final" could be a periodic checkpoint's, turned true after a cut
    if (this.lastOldFormat && this.opts.expectHead === undefined) {
      return this.fail(this.lines, 'log ends with a checkpoint in the old signature format (no sigv), whose signature does not cover "final": a log cut at a periodic checkpoint would look the same; pass the head kept elsewhere (--head) to verify it', this.expectSeq - 1);
    }
    this.result.ok = true;
    return this.result;
  }
}

/** Keyed hash of a value for audit records and hash redaction (HMAC-SHA-256, hex). */
export { hmacHex } from './keyed-hash.js';
