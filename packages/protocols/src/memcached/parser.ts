/**
 * One memcached connection, text or binary as its first byte says (memcached
 * serves both on one port and decides per connection the same way).
 *
 * Text: commands are answered in order. A storage command's data block
 * comes after its line; a retrieval's answer is VALUE blocks up to END, a
 * `stats` answer STAT lines up to END, anything else one line (or a meta
 * VA line and its data). `noreply` commands get no answer: messages. Meta
 * commands with the quiet flag `q` are answered only when something went
 * wrong; an `mn` (answered MN) says every quiet command before it is done,
 * and an answer carrying an opaque token (`O...`) goes to the command that
 * sent it.
 *
 * Binary: answers come in order too, and quiet opcodes (getq, setq ...) are
 * answered only on a hit or a failure; an answer's opaque and opcode name its
 * request, so the quiet requests passed over on the way were answered by
 * silence. A `stat` is answered by one packet per statistic and an empty one.
 */
import type { CloseReason, Dir } from '@panopticon/flows';
import { BodyCapture } from '../body.js';
import { CLOSE_FLAG } from '../close-flags.js';
import type { ParserContext, StreamParser } from '../types.js';
import { BinaryReader, type BinaryPacket } from './binary.js';
import { OPCODES, OP_ARITH, OP_EXPIRY, OP_GET, OP_SASL, OP_STAT, OP_STORE, QUIET, REQUEST_MAGIC, RESPONSE_MAGIC, RETRIEVAL, STATUSES, STORAGE, TEXT_COMMANDS } from './constants.js';
import { memcachedAttributes, type McRequest, type McResponse } from './fields.js';
import { TextReader } from '../text-blocks.js';

/** Statistics kept per `stats` answer; the rest are counted. */
const MAX_STATS = 1024;
/** Keys kept per request (a get may name hundreds). */
const MAX_KEYS = 256;
/** Bytes of a binary packet's body kept beyond maxBody: the extras and key. */
const KEY_ROOM = 512;

export class MemcachedParser implements StreamParser {
  private mode: 'text' | 'binary' | undefined;
  private text: [TextReader, TextReader] | undefined;
  private binary: [BinaryReader, BinaryReader] | undefined;
  private readonly pending: McRequest[] = [];
  /** A storage command whose data block is being read. */
  private storing: McRequest | undefined;
  /** The answer being read (VALUE blocks, STAT lines, binary stat packets). */
  private answer: McResponse | undefined;
  /** The VALUE or VA line whose data block is being read. */
  private valueLine: { key: string; flags: number; cas?: string } | 'va' | undefined;

  constructor(private readonly ctx: ParserContext) {}

  /** Requests waiting for their answer (over UDP, a request's parser lasts while this is not 0). */
  get waiting(): number {
    return this.pending.length;
  }

  data(dir: Dir, chunk: Buffer, tsNs: bigint): void {
    if (this.mode === undefined) this.start(chunk[0]!);
    if (this.text) this.text[dir].push(chunk, tsNs);
    else this.binary![dir].push(chunk, tsNs);
  }

  gap(dir: Dir, _length: number, _tsNs: bigint): void {
    this.ctx.count('memcached.gaps');
    if (this.text) this.text[dir].resync();
    else this.binary?.[dir].lose();
    if (dir === 0) this.storing = undefined;
    else {
      this.answer = undefined;
      this.valueLine = undefined;
    }
  }

  end(_dir: Dir, _tsNs: bigint): void {}

  close(reason: CloseReason, _tsNs: bigint): void {
    const flag = CLOSE_FLAG[reason];
    for (const r of this.pending.splice(0)) this.emit(r.quiet || r.op === 'quit' || r.op === 'quitq' ? 'message' : 'unanswered', r, undefined, r.quiet ? [] : [flag]);
  }

  private start(first: number): void {
    const hold = this.ctx.options.maxBody;
    if (first === REQUEST_MAGIC || first === RESPONSE_MAGIC) {
      this.mode = 'binary';
      this.binary = [new BinaryReader(this.binarySink(0), hold + KEY_ROOM), new BinaryReader(this.binarySink(1), hold + KEY_ROOM)];
      return;
    }
    this.mode = 'text';
    this.text = [new TextReader(this.requestSink(), hold), new TextReader(this.responseSink(), hold)];
    // joined mid-stream, the client's first line may be the tail of one: taken only if it names a command
    this.firstLine = this.ctx.conn.midstream;
  }

  /** The next request line is the first of a connection joined mid-stream. */
  private firstLine = false;

  // --- text: requests ------------------------------------------------------

  private requestSink() {
    return {
      line: (buf: Buffer, start: number, end: number, tsNs: bigint) => this.requestLine(buf, start, end, tsNs),
      data: (block: BodyCapture, clean: boolean, tsNs: bigint) => {
        const r = this.storing;
        this.storing = undefined;
        if (!r) return;
        if (!clean) this.ctx.count('memcached.malformed');
        // copied: the request waits for its answer, and must not pin the capture's buffers
        const kept = new BodyCapture(this.ctx.options.maxBody);
        kept.add(Buffer.from(block.bytes()));
        kept.size = block.size;
        kept.truncated = block.truncated;
        r.value = kept;
        r.endNs = tsNs;
        r.bytes += block.size + 2;
        this.queue(r);
      },
      damaged: () => this.ctx.count('memcached.malformed'),
    };
  }

  private requestLine(buf: Buffer, start: number, end: number, tsNs: bigint): number {
    if (end === start) return -1;
    const line = buf.toString('utf8', start, end);
    const t = line.split(' ').filter((x) => x !== '');
    const cmd = t[0] ?? '';
    if (this.firstLine) {
      this.firstLine = false;
      if (!TEXT_COMMANDS.has(cmd)) {
        this.ctx.count('memcached.skipped_bytes', end - start + 2);
        return -1;
      }
    }
    const meta = cmd.length === 2 && cmd[0] === 'm';
    const r: McRequest = { protocol: meta ? 'meta' : 'text', op: cmd, line, keys: [], startNs: tsNs, endNs: tsNs, bytes: end - start + 2 };
    if (STORAGE.has(cmd)) {
      // <cmd> <key> <flags> <exptime> <bytes> [<cas unique>] [noreply]
      const bytes = decimal(t[4]);
      if (t.length < 5 || bytes < 0) return this.badRequest(r);
      r.keys = [t[1]!];
      r.flags = count(t[2]);
      r.exptime = integer(t[3]);
      let i = 5;
      if (cmd === 'cas') r.cas = t[i++];
      if (t[i] === 'noreply') r.noreply = true;
      this.storing = r;
      return bytes;
    }
    if (meta) return this.metaLine(r, t);
    if (RETRIEVAL.has(cmd)) {
      // get|gets <key>*, gat|gats <exptime> <key>*
      const from = cmd.startsWith('gat') ? 2 : 1;
      if (from === 2) r.exptime = integer(t[1]);
      r.keys = t.slice(from, from + MAX_KEYS);
    } else if (cmd === 'delete' || cmd === 'incr' || cmd === 'decr' || cmd === 'touch') {
      r.keys = t[1] ? [t[1]] : [];
      if (cmd === 'incr' || cmd === 'decr') r.delta = t[2];
      if (cmd === 'touch') r.exptime = integer(t[2]);
      if (t[t.length - 1] === 'noreply') r.noreply = true;
    } else if ((cmd === 'flush_all' || cmd === 'verbosity') && t[t.length - 1] === 'noreply') {
      r.noreply = true;
    }
    this.queue(r);
    return -1;
  }

  /** `<mg|ms|md|ma> <key> <flag>*`, `mn`, `me <key>`; `ms` is followed by its data block. */
  private metaLine(r: McRequest, t: string[]): number {
    const cmd = r.op;
    if (cmd === 'mn') {
      this.queue(r);
      return -1;
    }
    if (t.length < 2) return this.badRequest(r);
    r.keys = [t[1]!];
    let from = 2;
    let bytes = -1;
    if (cmd === 'ms') {
      bytes = decimal(t[2]);
      if (bytes < 0) return this.badRequest(r);
      from = 3;
    }
    const flags = t.slice(from);
    if (flags.length) r.metaFlags = flags;
    for (const f of flags) {
      if (f === 'q') r.quiet = true;
      else if (f[0] === 'O') r.opaque = f.slice(1);
      // base64-encoded key (`b`): the key as sent stays in keys
    }
    if (cmd === 'ms') {
      this.storing = r;
      return bytes;
    }
    this.queue(r);
    return -1;
  }

  /** A command line that does not parse as its command's: still a request, answered (ERROR or CLIENT_ERROR) in turn. */
  private badRequest(r: McRequest): number {
    this.ctx.count('memcached.malformed_commands');
    this.queue(r);
    return -1;
  }

  private queue(r: McRequest): void {
    // text: noreply commands and quit are not answered (binary quit is; quitq is quiet)
    if (r.protocol !== 'binary' && (r.noreply || r.op === 'quit')) {
      this.emit('message', r, undefined, []);
      return;
    }
    if (this.pending.length >= this.ctx.options.maxPending) {
      this.ctx.count('memcached.pending_overflow');
      const old = this.pending.shift()!;
      this.emit(old.quiet ? 'message' : 'unanswered', old, undefined, ['evicted']);
    }
    this.pending.push(r);
  }

  // --- text: responses -----------------------------------------------------

  private responseSink() {
    return {
      line: (buf: Buffer, start: number, end: number, tsNs: bigint) => this.responseLine(buf, start, end, tsNs),
      data: (block: BodyCapture, clean: boolean, tsNs: bigint) => {
        if (!clean) this.ctx.count('memcached.malformed');
        const a = this.answer;
        const v = this.valueLine;
        this.valueLine = undefined;
        if (!a || !v) return;
        a.bytes += block.size + 2;
        a.endNs = tsNs;
        // a VALUE block waits for END, in this chunk or a later one: copied
        const kept = new BodyCapture(this.ctx.options.maxBody);
        kept.add(Buffer.from(block.bytes()));
        kept.size = block.size;
        kept.truncated = block.truncated;
        if (v === 'va') {
          // its key is the mg's (finishAnswer); its client flags, the `f` token's
          const f = a.metaFlags?.find((x) => x[0] === 'f');
          a.values.push({ key: '', flags: (f === undefined ? undefined : count(f.slice(1))) ?? 0, value: kept });
          this.finishAnswer();
        } else {
          a.values.push({ ...v, value: kept });
        }
      },
      damaged: () => this.ctx.count('memcached.malformed'),
    };
  }

  private responseLine(buf: Buffer, start: number, end: number, tsNs: bigint): number {
    const a = (this.answer ??= { values: [], startNs: tsNs, endNs: tsNs, bytes: 0 });
    a.bytes += end - start + 2;
    a.endNs = tsNs;
    const line = buf.toString('utf8', start, end);
    const sp = line.indexOf(' ');
    const word = sp < 0 ? line : line.slice(0, sp);
    const rest = sp < 0 ? '' : line.slice(sp + 1);
    if (word === 'VALUE') {
      // VALUE <key> <flags> <bytes> [<cas unique>]
      const t = rest.split(' ');
      const bytes = decimal(t[2]);
      if (bytes < 0) {
        this.ctx.count('memcached.malformed');
        return -1;
      }
      this.valueLine = t[3] === undefined ? { key: t[0]!, flags: count(t[1]) ?? 0 } : { key: t[0]!, flags: count(t[1]) ?? 0, cas: t[3] };
      return bytes;
    }
    if (word === 'STAT') {
      const s = (a.stats ??= {});
      const at = rest.indexOf(' ');
      if (Object.keys(s).length < MAX_STATS) s[at < 0 ? rest : rest.slice(0, at)] = at < 0 ? '' : rest.slice(at + 1);
      else this.ctx.count('memcached.stats_dropped');
      return -1;
    }
    if (word === 'VA') {
      // VA <datalen> <flag>*: the value follows, and ends the answer
      const t = rest.split(' ');
      const bytes = decimal(t[0]);
      a.status = 'VA';
      if (t.length > 1) a.metaFlags = t.slice(1).filter((x) => x !== '');
      a.opaque = opaqueOf(a.metaFlags);
      if (bytes < 0) {
        this.finishAnswer();
        return -1;
      }
      this.valueLine = 'va';
      return bytes;
    }
    if (word === 'CLIENT_ERROR' || word === 'SERVER_ERROR') {
      a.status = word;
      a.message = rest;
    } else if (word === 'VERSION') {
      a.status = word;
      a.version = rest;
    } else if (/^\d+$/.test(word)) {
      a.number = word;
    } else if (word.length === 2 && (word === 'HD' || word === 'EN' || word === 'NF' || word === 'NS' || word === 'EX' || word === 'MN' || word === 'ME')) {
      a.status = word;
      // ME <key> <name>=<value>*: the debug facts after the key
      const tokens = rest.split(' ').filter((x) => x !== '');
      if (word === 'ME') tokens.shift();
      if (tokens.length) a.metaFlags = tokens;
      a.opaque = opaqueOf(a.metaFlags);
    } else {
      a.status = word;
    }
    this.finishAnswer();
    return -1;
  }

  private finishAnswer(): void {
    const a = this.answer!;
    this.answer = undefined;
    // an answer that began before the oldest command waiting was sent is not its answer (joined
    // mid-stream: the tail of one to a command before the capture)
    const req = this.pending.length && a.startNs < this.pending[0]!.startNs ? undefined : this.takeRequest(a);
    if (!req) {
      this.emit('orphan_response', undefined, a, []);
      return;
    }
    if (a.values.length === 1 && a.values[0]!.key === '') {
      // an mg's value is its key's item; an ma's is the counter's new value
      if (req.op === 'mg') a.values[0]!.key = req.keys[0] ?? '';
      else if (req.op === 'ma') a.number = a.values.pop()!.value.bytes().toString('latin1').trim();
    }
    this.emit('exchange', req, a, []);
  }

  /**
   * The request an answer is for: the oldest one, except that quiet meta commands answered by silence
   * are passed over, when an answer names another by its opaque token, or is the MN of an `mn` after
   * them.
   */
  private takeRequest(a: McResponse): McRequest | undefined {
    const p = this.pending;
    if (a.opaque !== undefined) {
      const i = p.findIndex((r) => r.opaque === a.opaque);
      if (i >= 0) {
        this.silent(i);
        return p.shift();
      }
    }
    if (a.status === 'MN') {
      const i = p.findIndex((r) => r.op === 'mn');
      if (i >= 0) {
        this.silent(i);
        return p.shift();
      }
    }
    return p.shift();
  }

  /** The first `n` pending requests were quiet and answered by silence: messages. */
  private silent(n: number): void {
    for (const r of this.pending.splice(0, n)) this.emit(r.quiet ? 'message' : 'unanswered', r, undefined, r.quiet ? [] : ['out_of_order']);
  }

  // --- binary --------------------------------------------------------------

  private binarySink(dir: Dir) {
    return {
      packet: (p: BinaryPacket) => (dir === 0 ? this.binaryRequest(p) : this.binaryResponse(p)),
      damaged: () => this.ctx.count('memcached.malformed'),
      skipped: (n: number) => this.ctx.count('memcached.skipped_bytes', n),
    };
  }

  private binaryRequest(p: BinaryPacket): void {
    if (p.magic !== REQUEST_MAGIC) {
      this.ctx.count('memcached.malformed');
      return;
    }
    const op = OPCODES[p.opcode] ?? `0x${p.opcode.toString(16).padStart(2, '0')}`;
    const { extras, key, value, valueSize } = parts(p);
    const r: McRequest = { protocol: 'binary', op, keys: key.length ? [key.toString('utf8')] : [], opcode: p.opcode, opaque: p.opaque, startNs: p.startNs, endNs: p.endNs, bytes: 24 + p.totalBody };
    if (QUIET.has(p.opcode)) r.quiet = true;
    if (OP_STORE.has(p.opcode) && extras.length >= 8) {
      r.flags = extras.readUInt32BE(0);
      r.exptime = extras.readUInt32BE(4);
    } else if (OP_ARITH.has(p.opcode) && extras.length >= 20) {
      r.delta = extras.readBigUInt64BE(0).toString();
      r.initial = extras.readBigUInt64BE(8).toString();
      r.exptime = extras.readUInt32BE(16);
    } else if ((OP_EXPIRY.has(p.opcode) || p.opcode === 0x08 || p.opcode === 0x18) && extras.length >= 4) {
      r.exptime = extras.readUInt32BE(0);
    }
    if (p.cas !== 0n) r.cas = p.cas.toString();
    if (OP_SASL.has(p.opcode)) r.authSize = valueSize;
    else if (valueSize > 0) {
      const kept = new BodyCapture(this.ctx.options.maxBody);
      kept.add(Buffer.from(value.subarray(0, this.ctx.options.maxBody)));
      kept.size = valueSize;
      kept.truncated = valueSize > kept.bytes().length;
      r.value = kept;
    }
    this.queue(r);
  }

  private binaryResponse(p: BinaryPacket): void {
    if (p.magic !== RESPONSE_MAGIC) {
      this.ctx.count('memcached.malformed');
      return;
    }
    const { extras, key, value, valueSize } = parts(p);
    const status = STATUSES[p.status] ?? `0x${p.status.toString(16).padStart(4, '0')}`;
    if (p.opcode === OP_STAT && key.length > 0 && p.status === 0) {
      // one packet per statistic, then an empty one ends the answer
      const a = (this.answer ??= { values: [], startNs: p.startNs, endNs: p.endNs, bytes: 0, stats: {} });
      a.bytes += 24 + p.totalBody;
      a.endNs = p.endNs;
      const s = (a.stats ??= {});
      if (Object.keys(s).length < MAX_STATS) s[key.toString('utf8')] = value.toString('utf8');
      else this.ctx.count('memcached.stats_dropped');
      return;
    }
    const a: McResponse = p.opcode === OP_STAT && this.answer ? this.answer : { values: [], startNs: p.startNs, endNs: p.endNs, bytes: 0 };
    this.answer = undefined;
    a.bytes += 24 + p.totalBody;
    a.endNs = p.endNs;
    a.status = status;
    a.statusCode = p.status;
    a.opcode = p.opcode;
    a.opaque = p.opaque;
    if (p.status !== 0) {
      if (valueSize) a.message = value.toString('utf8');
    } else if (OP_GET.has(p.opcode)) {
      const kept = new BodyCapture(this.ctx.options.maxBody);
      kept.add(value.subarray(0, this.ctx.options.maxBody));
      kept.size = valueSize;
      kept.truncated = valueSize > kept.bytes().length;
      a.values.push({ key: key.toString('utf8'), flags: extras.length >= 4 ? extras.readUInt32BE(0) : 0, cas: p.cas.toString(), value: kept });
    } else if (OP_ARITH.has(p.opcode) && value.length === 8) {
      a.number = value.readBigUInt64BE(0).toString();
    } else if (p.opcode === 0x0b) {
      a.version = value.toString('utf8');
    }
    // the request: its opaque and opcode (their quiet variants' answers use the quiet opcode); quiet ones
    // passed over were answered by silence
    const i = this.pending.findIndex((r) => r.opaque === p.opaque && r.opcode === p.opcode);
    if (i >= 0) {
      this.silent(i);
      const req = this.pending.shift()!;
      // a key-less getk answer names the key it found; a get's answer had none to name
      if (a.values[0] && !a.values[0].key) a.values[0].key = req.keys[0] ?? '';
      this.emit('exchange', req, a, []);
      return;
    }
    this.emit('orphan_response', undefined, a, []);
  }

  // --- events --------------------------------------------------------------

  private emit(kind: 'exchange' | 'message' | 'unanswered' | 'orphan_response', req: McRequest | undefined, res: McResponse | undefined, flags: string[]): void {
    const f = memcachedAttributes(req, res, this.ctx.options.maxBody);
    const all = [...flags, ...f.flags];
    const first = req ?? res!;
    this.ctx.emit({
      kind,
      startNs: first.startNs,
      endNs: res ? res.endNs : first.endNs,
      ...(req ? { requestBytes: req.bytes } : {}),
      ...(res ? { responseBytes: res.bytes } : {}),
      attributes: f.attributes,
      ...(all.length ? { flags: all } : {}),
    });
  }
}

/** A decimal count (a data block's length, flags), or -1. */
function decimal(s: string | undefined): number {
  if (s === undefined || !/^\d{1,10}$/.test(s)) return -1;
  const n = Number(s);
  return n <= 0x7fffffff ? n : -1;
}

/** A non-negative count as sent (flags), or undefined. */
function count(s: string | undefined): number | undefined {
  return s !== undefined && /^\d{1,10}$/.test(s) && Number(s) <= 0xffffffff ? Number(s) : undefined;
}

/** An integer as sent (an expiration time may be negative), or undefined. */
function integer(s: string | undefined): number | undefined {
  return s !== undefined && /^-?\d{1,10}$/.test(s) ? Number(s) : undefined;
}

/** The opaque token (`O123`) among a meta command's or answer's flags. */
function opaqueOf(flags: string[] | undefined): string | undefined {
  const o = flags?.find((f) => f[0] === 'O');
  return o === undefined ? undefined : o.slice(1);
}

/** A binary packet's extras, key and value (the value as kept, and its size on the wire). */
function parts(p: BinaryPacket): { extras: Buffer; key: Buffer; value: Buffer; valueSize: number } {
  const b = p.body;
  const keyEnd = p.extrasLength + p.keyLength;
  return {
    extras: b.subarray(0, Math.min(b.length, p.extrasLength)),
    key: b.subarray(Math.min(b.length, p.extrasLength), Math.min(b.length, keyEnd)),
    value: b.subarray(Math.min(b.length, keyEnd)),
    valueSize: p.totalBody - keyEnd,
  };
}
