/**
 * One direction of an HTTP/1.x connection: finds message heads, frames
 * bodies (Content-Length, chunked with trailers, close-delimited), captures
 * them bounded, and resynchronises on the next start line after damage.
 * It knows nothing of the other direction: the connection decides how a
 * response body is framed (HEAD, 204, 304, CONNECT) through `bodyFor`.
 */
import type { CloseReason } from '@panopticon/flows';
import { BodyCapture } from '../body.js';
import { KNOWN_METHODS, findHeadEnd, looksLikeRequestLine, looksLikeStatusLine } from './head.js';

export type BodyFraming =
  | { kind: 'none' }
  | { kind: 'length'; length: number }
  | { kind: 'chunked' }
  | { kind: 'close' }
  /** the bytes after this head are no longer HTTP/1.x (CONNECT tunnel, Upgrade) */
  | { kind: 'switch' };

export interface MessageEnd {
  body: BodyCapture;
  trailers?: Buffer;
  /** Bytes on the wire for head + body. */
  wireBytes: number;
  endNs: bigint;
  gap: boolean;
  /** The message ended before its body did (connection closed). */
  incomplete: boolean;
  /** Of an incomplete message: what ended the connection or its side there (the sender's FIN, a reset, ...). */
  cutBy?: CloseReason;
}

export interface ReaderEvents {
  /** A head was parsed from buf[start, end): return how its body is framed, or null if the head is malformed. */
  head(buf: Buffer, start: number, end: number, startNs: bigint): BodyFraming | null;
  message(end: MessageEnd): void;
  /**
   * Body bytes as they are read (after transfer decoding), for a connection
   * that frames what they carry (gRPC-Web messages): the captured body is
   * bounded by --max-body, the counts must not be.
   */
  bodyData(chunk: Buffer): void;
  /** Body bytes were lost (a capture gap): what frames them is no longer known. */
  bodyGap(): void;
  /** Bytes after a `switch` head, in order. */
  switched(bytes: Buffer, tsNs: bigint): void;
  count(name: string, n?: number): void;
}

const enum Mode {
  Head,
  Body,
  Resync,
  Switched,
}

const enum Chunk {
  Size,
  Data,
  DataEnd,
  Trailer,
}

const LF = 0x0a;
/** Where a request or status line may begin, for resynchronisation. */
const REQUEST_START = new RegExp(`(?:${[...KNOWN_METHODS].map((m) => m.replace(/[-]/g, '\\-')).join('|')}) `, 'g');
const STATUS_START_ANYWHERE = /HTTP\/\d\.\d [1-9]\d\d/g;
/** Longest chunk-size line (with extensions) we accept. */
const MAX_CHUNK_LINE = 4096;

export class MessageReader {
  private mode = Mode.Head;
  private carry: Buffer | null = null;
  private framing: BodyFraming = { kind: 'none' };
  private remaining = 0;
  private chunk = Chunk.Size;
  private line: Buffer | null = null;
  private trailers: Buffer | null = null;
  private body: BodyCapture | null = null;
  private headBytes = 0;
  private gapSeen = false;
  private messageStartNs = 0n;
  private lastNs = 0n;

  constructor(
    private readonly side: 'request' | 'response',
    private readonly ev: ReaderEvents,
    private readonly maxBody: number,
    private readonly maxHead: number,
  ) {}

  /** True while a message's body is being read. */
  get inBody(): boolean {
    return this.mode === Mode.Body;
  }

  get bodyBytesSoFar(): number {
    return this.body?.size ?? 0;
  }

  push(chunk: Buffer, tsNs: bigint): void {
    this.lastNs = tsNs;
    // `buf` is the chunk, or (after a partial head was carried over) the carry
    // joined with the rest of the chunk; offsets are into `buf`.
    let buf = chunk;
    let off = 0;
    while (off < buf.length) {
      switch (this.mode) {
        case Mode.Head: {
          if (this.carry) {
            buf = Buffer.concat([this.carry, buf.subarray(off)]);
            off = 0;
            this.carry = null;
            off = this.readHead(buf, off, tsNs, false);
          } else {
            off = this.readHead(buf, off, tsNs, true);
          }
          break;
        }
        case Mode.Body:
          off = this.readBody(buf, off, tsNs);
          break;
        case Mode.Resync:
          off = this.resync(buf, off);
          break;
        case Mode.Switched:
          this.ev.switched(off === 0 ? buf : buf.subarray(off), tsNs);
          return;
      }
    }
  }

  /** `n` bytes are missing. Inside a counted body they are skipped; elsewhere framing is lost. */
  gap(n: number): void {
    this.gapSeen = true;
    if (this.mode === Mode.Body) this.ev.bodyGap();
    if (this.mode === Mode.Body && this.framing.kind === 'length' && n < this.remaining) {
      this.body!.skip(n);
      this.remaining -= n;
      return;
    }
    if (this.mode === Mode.Body && this.framing.kind === 'close') {
      this.body!.skip(n);
      return;
    }
    if (this.mode === Mode.Body && this.framing.kind === 'length') {
      // The hole runs past this body: the message is complete as far as we can know.
      this.body!.skip(this.remaining);
      this.finish(this.lastNs, false);
    } else if (this.mode === Mode.Body) {
      this.finish(this.lastNs, true);
    }
    if (this.mode !== Mode.Switched) {
      this.carry = null;
      this.mode = Mode.Resync;
      this.ev.count(`http.resync_after_gap`);
    }
  }

  /**
   * The sender closed its side (`cause`: its FIN, or the connection's end and why): a close-delimited
   * body ends here; anything else is incomplete.
   */
  end(tsNs: bigint, cause?: CloseReason): void {
    if (this.mode === Mode.Body) {
      this.finish(tsNs, this.framing.kind !== 'close', cause);
    } else if (this.mode === Mode.Head && this.carry && this.carry.length) {
      this.ev.count(`http.incomplete_${this.side}_head`);
      this.carry = null;
    }
  }

  /**
   * A head starting at `off` (`fresh`: not continued from an earlier chunk).
   * Returns where reading goes on in `buf`.
   */
  private readHead(buf: Buffer, off: number, tsNs: bigint, fresh: boolean): number {
    if (fresh) {
      // Tolerate stray CRLFs between messages (RFC 9112 §2.2).
      while (off < buf.length && (buf[off] === 0x0d || buf[off] === LF)) off++;
      if (off >= buf.length) return off;
      const c = buf[off];
      if (c < 0x41 || c > 0x5a) {
        // No method or "HTTP/" starts with this byte: not a message start.
        this.ev.count(`http.malformed_${this.side}_head`);
        this.mode = Mode.Resync;
        return off;
      }
      this.messageStartNs = tsNs;
    }
    const start = off;
    const end = findHeadEnd(buf, start);
    if (end === -1) {
      if (buf.length - start > this.maxHead) {
        this.ev.count(`http.${this.side}_head_too_large`);
        this.mode = Mode.Resync;
        return buf.length;
      }
      this.carry = Buffer.from(buf.subarray(start));
      return buf.length;
    }
    const headStart = this.messageStartNs;
    if (end - start > this.maxHead) {
      this.ev.count(`http.${this.side}_head_too_large`);
      this.mode = Mode.Resync;
      return end;
    }
    const framing = this.ev.head(buf, start, end, headStart);
    if (!framing) {
      this.ev.count(`http.malformed_${this.side}_head`);
      // Junk before a real message (a capture that began mid-body) ends up in
      // front of its head: look for a start line inside what was rejected.
      const lf = buf.indexOf(LF, start);
      this.mode = Mode.Resync;
      return lf === -1 || lf + 1 >= end ? end : lf + 1;
    }
    const next = end;
    this.headBytes = end - start;
    this.framing = framing;
    this.body = new BodyCapture(this.maxBody);
    switch (framing.kind) {
      case 'none':
        this.finish(tsNs, false);
        break;
      case 'switch':
        this.finish(tsNs, false);
        this.mode = Mode.Switched;
        break;
      case 'length':
        this.remaining = framing.length;
        this.mode = Mode.Body;
        if (framing.length === 0) this.finish(tsNs, false);
        break;
      case 'chunked':
        this.chunk = Chunk.Size;
        this.line = null;
        this.trailers = null;
        this.mode = Mode.Body;
        break;
      case 'close':
        this.mode = Mode.Body;
        break;
    }
    return next;
  }

  private readBody(chunk: Buffer, off: number, tsNs: bigint): number {
    const f = this.framing;
    if (f.kind === 'length') {
      const take = Math.min(this.remaining, chunk.length - off);
      const piece = chunk.subarray(off, off + take);
      this.body!.add(piece);
      this.ev.bodyData(piece);
      this.remaining -= take;
      if (this.remaining === 0) this.finish(tsNs, false);
      return off + take;
    }
    if (f.kind === 'close') {
      const piece = off === 0 ? chunk : chunk.subarray(off);
      this.body!.add(piece);
      this.ev.bodyData(piece);
      return chunk.length;
    }
    return this.readChunked(chunk, off, tsNs);
  }

  private readChunked(chunk: Buffer, off: number, tsNs: bigint): number {
    while (off < chunk.length) {
      switch (this.chunk) {
        case Chunk.Size: {
          const line = this.takeLine(chunk, off);
          if (!line) return chunk.length;
          off = line.next;
          const text = line.text;
          const semi = text.indexOf(';');
          const hex = (semi === -1 ? text : text.slice(0, semi)).trim();
          if (!/^[0-9a-fA-F]{1,8}$/.test(hex)) {
            this.ev.count('http.bad_chunk_size');
            this.finish(tsNs, true);
            this.mode = Mode.Resync;
            return off;
          }
          this.headBytes += line.raw;
          this.remaining = parseInt(hex, 16);
          this.chunk = this.remaining === 0 ? Chunk.Trailer : Chunk.Data;
          break;
        }
        case Chunk.Data: {
          const take = Math.min(this.remaining, chunk.length - off);
          const piece = chunk.subarray(off, off + take);
          this.body!.add(piece);
          this.ev.bodyData(piece);
          this.remaining -= take;
          off += take;
          if (this.remaining === 0) this.chunk = Chunk.DataEnd;
          break;
        }
        case Chunk.DataEnd: {
          const line = this.takeLine(chunk, off);
          if (!line) return chunk.length;
          off = line.next;
          this.headBytes += line.raw;
          if (line.text !== '') this.ev.count('http.bad_chunk_terminator');
          this.chunk = Chunk.Size;
          break;
        }
        case Chunk.Trailer: {
          const line = this.takeLine(chunk, off);
          if (!line) return chunk.length;
          off = line.next;
          this.headBytes += line.raw;
          if (line.text === '') {
            this.finish(tsNs, false);
            return off;
          }
          const t = Buffer.from(line.text + '\r\n', 'latin1');
          this.trailers = this.trailers ? Buffer.concat([this.trailers, t]) : t;
          if (this.trailers.length > this.maxHead) {
            this.ev.count('http.trailers_too_large');
            this.finish(tsNs, true);
            this.mode = Mode.Resync;
            return off;
          }
          break;
        }
      }
    }
    return off;
  }

  /** One CRLF-terminated line, possibly spanning chunks (bounded). */
  private takeLine(chunk: Buffer, off: number): { text: string; next: number; raw: number } | null {
    const lf = chunk.indexOf(LF, off);
    if (lf === -1) {
      const part = chunk.subarray(off);
      this.line = this.line ? Buffer.concat([this.line, part]) : Buffer.from(part);
      if (this.line.length > MAX_CHUNK_LINE) {
        this.ev.count('http.chunk_line_too_long');
        this.line = null;
        this.mode = Mode.Resync;
      }
      return null;
    }
    let bytes = chunk.subarray(off, lf);
    if (this.line) {
      bytes = Buffer.concat([this.line, bytes]);
      this.line = null;
    }
    let text = bytes.toString('latin1');
    const raw = bytes.length + 1;
    if (text.endsWith('\r')) text = text.slice(0, -1);
    return { text, next: lf + 1, raw };
  }

  private finish(tsNs: bigint, incomplete: boolean, cause?: CloseReason): void {
    const body = this.body ?? new BodyCapture(0);
    const trailers = this.trailers ?? undefined;
    const gap = this.gapSeen;
    const wireBytes = this.headBytes + body.size;
    this.body = null;
    this.trailers = null;
    this.gapSeen = false;
    if (this.mode !== Mode.Switched) this.mode = this.switchAfter ? Mode.Switched : Mode.Head;
    this.switchAfter = false;
    this.ev.message({ body, trailers, wireBytes, endNs: tsNs, gap, incomplete, cutBy: incomplete ? cause : undefined });
  }

  /**
   * Skip to the next start line of this side. The start line is looked for
   * anywhere, not only after a newline: after damage (or bytes of another
   * protocol, as before a SOCKS or TLS-less proxy hand-over) the junk need not
   * end with one.
   */
  private resync(chunk: Buffer, off: number): number {
    const text = chunk.toString('latin1', off);
    const re = this.side === 'request' ? REQUEST_START : STATUS_START_ANYWHERE;
    const test = this.side === 'request' ? looksLikeRequestLine : looksLikeStatusLine;
    re.lastIndex = 0;
    for (let m = re.exec(text); m; m = re.exec(text)) {
      const lf = text.indexOf('\n', m.index);
      if (lf === -1) {
        // A start line cut by the chunk end: keep it for the next chunk.
        this.mode = Mode.Head;
        return off + m.index;
      }
      if (test(text.slice(m.index, lf))) {
        this.ev.count(`http.resynced_${this.side}`);
        this.mode = Mode.Head;
        return off + m.index;
      }
      re.lastIndex = m.index + 1;
    }
    return chunk.length;
  }

  /** Set by switchAfterMessage: the bytes after the message being read are another protocol's. */
  private switchAfter = false;

  /** The message being read is the last of this side: what follows it goes to `switched` (an upgrade answered before the request's body was read). */
  switchAfterMessage(): void {
    this.switchAfter = true;
  }

  /** Bytes the caller set aside while waiting for an upgrade decision are replayed through here. */
  resume(): void {
    if (this.mode === Mode.Switched) this.mode = Mode.Head;
  }
}
