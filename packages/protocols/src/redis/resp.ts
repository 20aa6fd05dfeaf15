/**
 * Incremental RESP2/RESP3 value reader for one direction of a connection.
 *
 * Pushed chunks, leftover kept only for an unfinished header line (bounded by
 * maxLine). Aggregates are tracked on an explicit stack and bulk payloads are
 * consumed as they stream by, so a 500 MB bulk string costs `maxBody` bytes of
 * memory, not 500 MB: the rest is counted and skipped.
 */
import { KeptBytes } from '../messaging/body.js';

export type RespType =
  | 'simple'
  | 'error'
  | 'integer'
  | 'bulk'
  | 'null'
  | 'array'
  | 'map'
  | 'set'
  | 'push'
  | 'double'
  | 'boolean'
  | 'big_number'
  | 'verbatim'
  | 'blob_error'
  | 'attribute'
  | 'inline';

export interface RespValue {
  type: RespType;
  /** simple, error, double, big_number: the line text. */
  text?: string;
  /** bulk, verbatim, blob_error: the kept prefix of the payload. */
  bytes?: Buffer;
  /** bulk-like: full payload length. */
  size?: number;
  int?: bigint;
  bool?: boolean;
  /** aggregates: declared element count (map/attribute: pairs). */
  length?: number;
  /** aggregates and inline commands: kept elements (maps: key, value, key, value ...). */
  items?: RespValue[];
  /** RESP3 attribute map that preceded this value. */
  attributes?: RespValue;
  /** aggregates: some value inside (at any depth) carries attributes, so readers must look inside for them */
  innerAttributes?: boolean;
  /** some bytes or elements of this value were not kept. */
  truncated?: boolean;
}

export interface RespMessage {
  value: RespValue;
  startNs: bigint;
  endNs: bigint;
  /** wire bytes of the whole top-level value */
  bytes: number;
}

export interface RespLimits {
  /** longest header / inline line accepted */
  maxLine: number;
  /** payload bytes kept per top-level message, over all its bulks */
  maxKeptBytes: number;
  /** elements kept per top-level message, over all its aggregates */
  maxKeptItems: number;
}

// RESP type bytes
const SIMPLE = 0x2b; // +
const ERROR = 0x2d; // -
const INTEGER = 0x3a; // :
const BULK = 0x24; // $
const ARRAY = 0x2a; // *
const NULL = 0x5f; // _
const DOUBLE = 0x2c; // ,
const BOOLEAN = 0x23; // #
const BLOB_ERROR = 0x21; // !
const VERBATIM = 0x3d; // =
const BIG_NUMBER = 0x28; // (
const MAP = 0x25; // %
const SET = 0x7e; // ~
const ATTRIBUTE = 0x7c; // |
const PUSH = 0x3e; // >
const CR = 0x0d;
const LF = 0x0a;

const MAX_DEPTH = 64;

export const RESP_TYPE_BYTES = new Set([
  SIMPLE, ERROR, INTEGER, BULK, ARRAY, NULL, DOUBLE, BOOLEAN, BLOB_ERROR, VERBATIM, BIG_NUMBER, MAP, SET, ATTRIBUTE, PUSH,
]);

export class RespProtocolError extends Error {}

interface Frame {
  value: RespValue;
  remaining: number;
}

interface BulkState {
  value: RespValue;
  remaining: number;
  crlf: number;
  kept: KeptBytes;
}

export class RespReader {
  private leftover: Buffer | null = null;
  private readonly stack: Frame[] = [];
  private bulk: BulkState | null = null;
  /** attribute maps waiting for the value they annotate, by nesting depth */
  private attrs: Array<RespValue | undefined> = [];
  private startNs: bigint | null = null;
  private bytes = 0;
  private keptBytes = 0;
  private keptItems = 0;
  /** true while looking for a message start after a gap, damage or mid-stream join */
  syncing = false;

  constructor(
    private readonly limits: RespLimits,
    /** client side: lines not starting with `*` are inline commands */
    private readonly inline: boolean,
    private readonly onMessage: (m: RespMessage) => void,
    private readonly onSkipped: (bytes: number) => void,
    private readonly onDamage: (reason: string) => void,
  ) {}

  /** Damage is reported through `onDamage`, then the reader resynchronises by itself. */
  push(chunk: Buffer, tsNs: bigint): void {
    let buf = chunk;
    if (this.leftover) {
      buf = Buffer.concat([this.leftover, chunk]);
      this.leftover = null;
    }
    let off = 0;
    while (off < buf.length) {
      if (this.syncing) {
        off = this.sync(buf, off);
        if (this.syncing) return;
        continue;
      }
      try {
        if (this.bulk) {
          off = this.consumeBulk(buf, off, tsNs);
          continue;
        }
        if (this.startNs === null) this.startNs = tsNs;
        const nl = buf.indexOf(LF, off);
        if (nl < 0) {
          if (buf.length - off > this.limits.maxLine) {
            off = buf.length;
            throw new RespProtocolError(`line longer than ${this.limits.maxLine} bytes`);
          }
          this.leftover = buf.subarray(off);
          return;
        }
        const start = off;
        off = nl + 1;
        if (nl - start > this.limits.maxLine) throw new RespProtocolError(`line longer than ${this.limits.maxLine} bytes`);
        const end = nl > start && buf[nl - 1] === CR ? nl - 1 : nl;
        this.bytes += nl + 1 - start;
        this.line(buf, start, end, tsNs);
      } catch (err) {
        if (!(err instanceof RespProtocolError)) throw err;
        // Drop the message in progress and carry on from the next plausible start.
        this.onDamage(err.message);
        this.resync();
      }
    }
  }

  /** Drop the message in progress and look for the next message start. */
  resync(): void {
    this.leftover = null;
    this.stack.length = 0;
    this.bulk = null;
    this.attrs = [];
    this.resetMessage();
    this.syncing = true;
  }

  private resetMessage(): void {
    this.startNs = null;
    this.bytes = 0;
    this.keptBytes = 0;
    this.keptItems = 0;
  }

  private line(buf: Buffer, s: number, e: number, tsNs: bigint): void {
    const topLevel = this.stack.length === 0 && this.attrs.length === 0;
    if (topLevel && s === e) {
      // Redis ignores empty lines between inline commands; some servers and
      // proxies also end replies with a stray newline. Neither is a message.
      this.resetMessage();
      return;
    }
    if (this.inline && topLevel && buf[s] !== ARRAY) {
      this.complete(inlineCommand(buf, s, e), tsNs);
      return;
    }
    const type = buf[s];
    switch (type) {
      case SIMPLE:
        return this.complete({ type: 'simple', text: buf.toString('utf8', s + 1, e) }, tsNs);
      case ERROR:
        return this.complete({ type: 'error', text: buf.toString('utf8', s + 1, e) }, tsNs);
      case INTEGER:
        return this.complete({ type: 'integer', int: parseBigInt(buf, s + 1, e) }, tsNs);
      case DOUBLE:
        return this.complete({ type: 'double', text: buf.toString('latin1', s + 1, e) }, tsNs);
      case BIG_NUMBER:
        parseBigInt(buf, s + 1, e);
        return this.complete({ type: 'big_number', text: buf.toString('latin1', s + 1, e) }, tsNs);
      case BOOLEAN: {
        if (e - s !== 2 || (buf[s + 1] !== 0x74 && buf[s + 1] !== 0x66)) throw new RespProtocolError('bad boolean');
        return this.complete({ type: 'boolean', bool: buf[s + 1] === 0x74 }, tsNs);
      }
      case NULL:
        return this.complete({ type: 'null' }, tsNs);
      case BULK:
      case VERBATIM:
      case BLOB_ERROR: {
        const n = parseLength(buf, s + 1, e);
        if (n === -1 && type === BULK) return this.complete({ type: 'null' }, tsNs);
        if (n < 0) throw new RespProtocolError('negative bulk length');
        const value: RespValue = { type: type === BULK ? 'bulk' : type === VERBATIM ? 'verbatim' : 'blob_error', size: n };
        const room = Math.max(0, this.limits.maxKeptBytes - this.keptBytes);
        this.bulk = { value, remaining: n, crlf: 2, kept: new KeptBytes(room) };
        return;
      }
      case ARRAY:
      case SET:
      case PUSH:
      case MAP:
      case ATTRIBUTE: {
        const n = parseLength(buf, s + 1, e);
        if (n === -1 && (type === ARRAY || type === SET || type === PUSH)) return this.complete({ type: 'null' }, tsNs);
        if (n < 0) throw new RespProtocolError('negative aggregate length');
        const kind: RespType =
          type === ARRAY ? 'array' : type === SET ? 'set' : type === PUSH ? 'push' : type === MAP ? 'map' : 'attribute';
        const value: RespValue = { type: kind, length: n, items: [] };
        const elements = kind === 'map' || kind === 'attribute' ? n * 2 : n;
        if (elements === 0) return this.complete(value, tsNs);
        if (this.stack.length >= MAX_DEPTH) throw new RespProtocolError(`aggregates nested deeper than ${MAX_DEPTH}`);
        this.stack.push({ value, remaining: elements });
        return;
      }
      default:
        throw new RespProtocolError(`unknown type byte 0x${(type ?? 0).toString(16).padStart(2, '0')}`);
    }
  }

  private consumeBulk(buf: Buffer, off: number, tsNs: bigint): number {
    const b = this.bulk!;
    if (b.remaining > 0) {
      const n = Math.min(b.remaining, buf.length - off);
      b.kept.add(buf.subarray(off, off + n));
      b.remaining -= n;
      this.bytes += n;
      off += n;
    }
    while (b.remaining === 0 && b.crlf > 0 && off < buf.length) {
      const want = b.crlf === 2 ? CR : LF;
      if (buf[off] !== want) {
        if (b.crlf === 2) off++; // do not loop on the same byte: resync starts after it
        throw new RespProtocolError('bulk payload not followed by CRLF');
      }
      b.crlf--;
      off++;
      this.bytes++;
    }
    if (b.remaining === 0 && b.crlf === 0) {
      const v = b.value;
      v.bytes = b.kept.bytes();
      this.keptBytes += v.bytes.length;
      if (b.kept.truncated) v.truncated = true;
      this.bulk = null;
      this.complete(v, tsNs);
    }
    return off;
  }

  private complete(v: RespValue, tsNs: bigint): void {
    for (;;) {
      const depth = this.stack.length;
      if (v.type === 'attribute') {
        // An attribute is neither a message nor an element of its own: it
        // annotates the value that follows it at the same depth. Two in a row
        // both describe that value: their pairs are merged.
        const prev = this.attrs[depth];
        if (prev) mergeAttributes(prev, v);
        else this.attrs[depth] = v;
        return;
      }
      const attr = this.attrs[depth];
      if (attr) {
        v.attributes = attr;
        this.attrs[depth] = undefined;
        while (this.attrs.length && this.attrs[this.attrs.length - 1] === undefined) this.attrs.pop();
        // mark the open aggregates (at most MAX_DEPTH) so that readers of the whole reply know to look inside
        for (let i = 0; i < depth; i++) this.stack[i]!.value.innerAttributes = true;
      }
      if (depth === 0) {
        const msg: RespMessage = { value: v, startNs: this.startNs ?? tsNs, endNs: tsNs, bytes: this.bytes };
        this.resetMessage();
        this.onMessage(msg);
        return;
      }
      const top = this.stack[depth - 1]!;
      if (this.keptItems < this.limits.maxKeptItems) {
        top.value.items!.push(v);
        this.keptItems++;
      } else {
        top.value.truncated = true;
      }
      if (v.truncated) top.value.truncated = true;
      if (--top.remaining > 0) return;
      this.stack.pop();
      v = top.value;
    }
  }

  /** Skip to the next line that plausibly starts a message. */
  private sync(buf: Buffer, off: number): number {
    const start = off;
    while (off < buf.length) {
      const verdict = this.inline ? looksLikeCommandStart(buf, off) : looksLikeReplyStart(buf, off);
      if (verdict === 'yes') {
        this.syncing = false;
        break;
      }
      if (verdict === 'more') {
        if (buf.length - off <= this.limits.maxLine) {
          this.leftover = buf.subarray(off);
          if (off > start) this.onSkipped(off - start);
          return buf.length;
        }
      }
      const nl = buf.indexOf(LF, off);
      if (nl < 0) {
        off = buf.length;
        break;
      }
      off = nl + 1;
    }
    if (off > start) this.onSkipped(off - start);
    return off;
  }
}

function mergeAttributes(into: RespValue, more: RespValue): void {
  into.items!.push(...more.items!);
  into.length! += more.length!;
  if (more.truncated) into.truncated = true;
  if (more.innerAttributes) into.innerAttributes = true;
}

function parseLength(buf: Buffer, s: number, e: number): number {
  let neg = false;
  let i = s;
  if (buf[i] === 0x2d) {
    neg = true;
    i++;
  }
  if (i >= e || e - i > 10) throw new RespProtocolError('bad length');
  let n = 0;
  for (; i < e; i++) {
    const d = buf[i]! - 0x30;
    if (d < 0 || d > 9) throw new RespProtocolError('bad length');
    n = n * 10 + d;
  }
  return neg ? -n : n;
}

function parseBigInt(buf: Buffer, s: number, e: number): bigint {
  const text = buf.toString('latin1', s, e);
  if (!/^[-+]?[0-9]+$/.test(text)) throw new RespProtocolError('bad integer');
  return BigInt(text);
}

/**
 * Split an inline command the way redis-server does (sdssplitargs): spaces
 * separate, double quotes take \-escapes (\n, \xHH ...), single quotes take \'.
 */
export function inlineCommand(buf: Buffer, s: number, e: number): RespValue {
  const line = buf.toString('latin1', s, e);
  const items: RespValue[] = [];
  let i = 0;
  while (i < line.length) {
    while (i < line.length && (line[i] === ' ' || line[i] === '\t')) i++;
    if (i >= line.length) break;
    const bytes: number[] = [];
    const q = line[i];
    if (q === '"' || q === "'") {
      i++;
      while (i < line.length && line[i] !== q) {
        if (line[i] === '\\' && i + 1 < line.length) {
          const c = line[i + 1]!;
          if (q === '"' && c === 'x' && /^[0-9a-fA-F]{2}$/.test(line.slice(i + 2, i + 4))) {
            bytes.push(parseInt(line.slice(i + 2, i + 4), 16));
            i += 4;
            continue;
          }
          const esc = q === '"' ? ({ n: 10, r: 13, t: 9, b: 8, a: 7 } as Record<string, number>)[c] : undefined;
          bytes.push(esc ?? c.charCodeAt(0));
          i += 2;
          continue;
        }
        bytes.push(line.charCodeAt(i));
        i++;
      }
      i++;
    } else {
      while (i < line.length && line[i] !== ' ' && line[i] !== '\t') bytes.push(line.charCodeAt(i++));
    }
    const b = Buffer.from(bytes);
    items.push({ type: 'bulk', bytes: b, size: b.length });
  }
  return { type: 'inline', length: items.length, items };
}

/** `*<n>\r\n$` at off: a command array. */
export function looksLikeCommandStart(buf: Buffer, off: number): 'yes' | 'no' | 'more' {
  if (buf[off] !== ARRAY) return 'no';
  let i = off + 1;
  let digits = 0;
  while (i < buf.length && buf[i]! >= 0x30 && buf[i]! <= 0x39) {
    i++;
    digits++;
  }
  if (i >= buf.length) return digits > 10 ? 'no' : 'more';
  if (digits === 0 || digits > 10 || buf[i] !== CR) return 'no';
  if (i + 2 >= buf.length) return 'more';
  return buf[i + 1] === LF && buf[i + 2] === BULK ? 'yes' : 'no';
}

/** A header line that is valid for its type byte, at off. */
export function looksLikeReplyStart(buf: Buffer, off: number): 'yes' | 'no' | 'more' {
  const type = buf[off]!;
  if (!RESP_TYPE_BYTES.has(type)) return 'no';
  const nl = buf.indexOf(LF, off);
  if (nl < 0) return buf.length - off > 64 && type !== SIMPLE && type !== ERROR ? 'no' : 'more';
  if (nl === off || buf[nl - 1] !== CR) return 'no';
  const body = buf.toString('latin1', off + 1, nl - 1);
  switch (type) {
    case ERROR:
      // an error's text starts with its kind in capitals (ERR, WRONGTYPE, MOVED, NOAUTH ...): a line
      // that merely starts with '-' (a file listing's `-rw-r--r--`, a diff) is not one
      return /^[A-Z][A-Z0-9_]*(?: |$)/.test(body) ? 'yes' : 'no';
    case SIMPLE:
      // "+OK " and text is POP3's greeting or answer: Redis's simple strings are a bare OK, PONG,
      // QUEUED, or text that does not start with "OK "
      return body.startsWith('OK ') ? 'no' : 'yes';
    case DOUBLE:
      return body.length > 0 ? 'yes' : 'no';
    case NULL:
      return body === '' ? 'yes' : 'no';
    case BOOLEAN:
      return body === 't' || body === 'f' ? 'yes' : 'no';
    case INTEGER:
    case BIG_NUMBER:
      return /^-?[0-9]{1,40}$/.test(body) ? 'yes' : 'no';
    default:
      return /^(-1|[0-9]{1,10})$/.test(body) ? 'yes' : 'no';
  }
}
