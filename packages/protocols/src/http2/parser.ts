/**
 * HTTP/2 connection parser for a passive observer (RFC 9113, RFC 7541).
 *
 * Each direction is a sequence of frames; header blocks (HEADERS or
 * PUSH_PROMISE plus CONTINUATION) are decoded with that direction's HPACK
 * decoder; streams are stitched by id into one event each. One small method
 * per frame type, like a pg-protocol parser.
 */
import { isUtf8 } from 'node:buffer';
import type { CloseReason, Dir } from '@panopticon/flows';
import type { ExchangeRecord, HandoffInit, ParserContext, StreamParser } from '../types.js';
import {
  DEFAULT_MAX_FRAME_SIZE,
  FRAME_HEADER_LENGTH,
  Flag,
  FrameType,
  PREFACE,
  Setting,
  chainedFrames,
  errorName,
} from './frames.js';
import { HpackDecoder, HpackError } from './hpack.js';
import { Http2Stream, type GoawayInfo, type MessageSide } from './stream.js';
import { StreamTunnels, acceptedTunnel } from './tunnels.js';
import { BodyCapture } from '../body.js';
import { CLOSE_FLAG } from '../close-flags.js';

const CLIENT: Dir = 0;
const SERVER: Dir = 1;
const EMPTY = Buffer.alloc(0);


/** Consecutive plausible frame headers required to trust a resynchronisation point. */
const SYNC_FRAMES = 2;
/** Unsynchronised bytes scanned per direction before the connection is given up. */
const MAX_UNSYNCED_BYTES = 256 * 1024;
/** SETTINGS frames awaiting their ACK that are remembered per direction (peers send one or two). */
const MAX_UNACKED_SETTINGS = 16;
/** Client PINGs remembered while streams wait for frames crossing their reset (the server's ACK releases them). */
const MAX_PINGS_AFTER_RESET = 16;
/** An unacknowledged SETTINGS frame that did not change SETTINGS_HEADER_TABLE_SIZE. */
const NO_TABLE_SIZE = -1;
/**
 * GOAWAY debug data kept per frame (bytes). Peers put a short reason there
 * ("too_many_pings", "graceful_stop", an error string); the frame may carry
 * up to the frame size, which events need not repeat.
 */
const MAX_GOAWAY_DEBUG_BYTES = 256;

/** Whether debug data reads as text: UTF-8 without control characters other than tab, CR, LF. */
function printable(bytes: Buffer): boolean {
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i];
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c === 0x7f) return false;
  }
  return isUtf8(bytes);
}

/** A GOAWAY frame's fields (§6.8) as events show them. */
function goawayInfo(dir: Dir, payload: Buffer): GoawayInfo {
  const info: GoawayInfo = {
    by: dir === CLIENT ? 'client' : 'server',
    errorCode: errorName(payload.readUInt32BE(4)),
    lastStreamId: payload.readUInt32BE(0) & 0x7fffffff,
  };
  const debug = payload.length - 8;
  if (debug > 0) {
    let end = 8 + Math.min(debug, MAX_GOAWAY_DEBUG_BYTES);
    // A cut inside a UTF-8 sequence would make long text look binary: cut before it.
    for (let n = 0; n < 3 && end < payload.length && (payload[end] & 0xc0) === 0x80; n++) end--;
    const kept = payload.subarray(8, end);
    info.debugData = printable(kept) ? kept.toString('utf8') : kept.toString('hex');
    info.debugSize = debug;
  }
  return info;
}

interface PendingBlock {
  streamId: number;
  /** HEADERS or PUSH_PROMISE */
  type: number;
  endStream: boolean;
  promisedId: number;
  parts: Buffer[];
  length: number;
  tooLarge: boolean;
}

class Direction {
  /** Bytes kept while resynchronising. */
  buf: Buffer | undefined;
  /** An incomplete frame's pieces, joined once when `need` bytes are there (no copy per segment). */
  parts: Buffer[] | undefined;
  partsLength = 0;
  need = 0;
  /** Time the first byte of the frame being assembled arrived. */
  frameNs = 0n;
  /** Which chunk (Http2Parser.arrivals) that byte came in: orders frames across the two sides. */
  frameSeq = 0;
  synced: boolean;
  unsyncedBytes = 0;
  /** Preface bytes still expected (client direction at connection start). */
  prefaceLeft: number;
  decoder: HpackDecoder;
  block: PendingBlock | undefined;
  /** Largest frame this direction may carry (the receiver's SETTINGS_MAX_FRAME_SIZE). */
  maxFrameSize = DEFAULT_MAX_FRAME_SIZE;
  /**
   * This side's SETTINGS frames the peer has not acknowledged yet, in order (§6.5.3: ACKs
   * come in the same order): the SETTINGS_HEADER_TABLE_SIZE each set, or NO_TABLE_SIZE.
   */
  pendingTableSizes: number[] = [];

  constructor(known: boolean, expectPreface: boolean, maxHeaderBytes: number) {
    this.synced = known;
    this.prefaceLeft = expectPreface ? PREFACE.length : 0;
    this.decoder = new HpackDecoder({ known, maxHeaderListBytes: maxHeaderBytes });
    // Mid-stream the peer's SETTINGS were missed: accept any size update the format allows.
    if (!known) this.decoder.setSettingsMaxSize(0xffffffff);
  }
}

export class Http2Parser implements StreamParser {
  private readonly dirs: [Direction, Direction];
  private readonly streams = new Map<number, Http2Stream>();
  /** Recently finished stream ids (bounded), so late frames on them do not open new streams. */
  private readonly closed = new Set<number>();
  /** CONNECT streams the server accepted (RFC 9113 §8.5, RFC 8441): their DATA goes to a parser each. */
  private readonly tunnels: StreamTunnels;
  /**
   * Streams the client reset (RST_STREAM) before the server ended them, in the order of the
   * resets. The server may have sent its end before it read the reset: frames crossing it on
   * the wire (gRPC's trailers with grpc-status 4 or 1 when the deadline passed at both ends) are
   * still the stream's (RFC 9113 §5.4.2: the sender of RST_STREAM must expect them). Such a
   * stream is emitted once, when the server has ended it too (END_STREAM, its own RST_STREAM),
   * when the server shows it read past the reset (it answered a stream the client opened after
   * it, or acknowledged a PING or SETTINGS frame sent after it), or at the connection's end; it stays among `streams`, so
   * counts against their limit, and is the first let go when the limit is reached. `at`: the
   * highest stream id the client had opened when it reset this one; `seq`: the reset's number.
   */
  private readonly lingering = new Map<number, { at: number; seq: number }>();
  private resets = 0;
  /** The highest stream id a client HEADERS opened. */
  private lastClientStream = 0;
  /** Client PINGs sent while streams linger: payload (hex) → the number of resets before it. */
  private readonly pingsAfterReset = new Map<string, number>();
  /**
   * Per client SETTINGS frame not yet acknowledged, in order (as pendingTableSizes): the number
   * of resets before it. The server acknowledges SETTINGS in the order it reads them (RFC 9113
   * §6.5.3), so its ACK of one sent after a reset shows it read that reset, as a PING's ACK does.
   */
  private readonly settingsAfterResets: number[] = [];
  private readonly midstream: boolean;
  /** The last GOAWAY each side sent: it refuses the other side's streams above its last-stream-id. */
  private readonly goaway: [GoawayInfo | undefined, GoawayInfo | undefined] = [undefined, undefined];
  /** Chunks received, both sides: the capture's order, which timestamps (equal, or stepping back) may not give. */
  private arrivals = 0;

  constructor(
    private readonly ctx: ParserContext,
    init?: HandoffInit,
  ) {
    this.midstream = ctx.conn.midstream && !init;
    this.tunnels = new StreamTunnels(ctx, (id) => this.markClosed(id));
    const known = !this.midstream;
    const maxHeader = ctx.options.maxHeaderBytes;
    this.dirs = [new Direction(known, known, maxHeader), new Direction(known, false, maxHeader)];
    const up = init?.upgradedRequest;
    if (up) {
      // RFC 9113 §3.2 (RFC 7540 §3.2): the upgraded request is stream 1, half-closed by the client.
      const s = new Http2Stream(1, ctx.options);
      s.upgraded = up;
      // The 101 (and a 100 Continue before it) answered it over HTTP/1.1: interim responses of this stream.
      s.interim = up.interim.slice();
      s.requestSeen = true;
      s.req.ended = true;
      this.streams.set(1, s);
      this.lastClientStream = 1;
      this.upgradeSettings(up.headers['http2-settings']?.[0]);
    }
  }

  /**
   * The upgraded request's HTTP2-Settings (RFC 7540 §3.2.1): the client's first SETTINGS, base64url,
   * which the 101 acknowledges (no SETTINGS ACK follows). The server may encode stream 1's response
   * with the client's SETTINGS_HEADER_TABLE_SIZE at once, in the 101's own segment, before the
   * client's SETTINGS frame (which repeats it) is on the wire: hyper-h2 opens that block with a size
   * update to it, which the default bound (4096) rejected, losing the response head and the table.
   */
  private upgradeSettings(value: string | undefined): void {
    if (!value) return;
    // Bounded by the HTTP/1.1 head's size; characters outside base64url are skipped by the decoder.
    const payload = Buffer.from(value, 'base64url');
    const server = this.dirs[SERVER];
    for (let p = 0; p + 6 <= payload.length; p += 6) {
      const id = payload.readUInt16BE(p);
      const v = payload.readUInt32BE(p + 2);
      if (id === Setting.HEADER_TABLE_SIZE) server.decoder.setSettingsMaxSize(v);
      else if (id === Setting.MAX_FRAME_SIZE && v >= DEFAULT_MAX_FRAME_SIZE && v < 1 << 24) server.maxFrameSize = v;
    }
  }

  data(dir: Dir, chunk: Buffer, tsNs: bigint): void {
    this.feed(dir, chunk, tsNs, ++this.arrivals);
  }

  /** `seq`: the chunk's arrival number; held bytes fed again keep theirs. */
  private feed(dir: Dir, chunk: Buffer, tsNs: bigint, seq: number): void {
    const d = this.dirs[dir];
    if (d.prefaceLeft > 0) {
      chunk = this.consumePreface(d, chunk);
      if (chunk.length === 0) return;
    }
    let buf = chunk;
    if (d.parts) {
      d.parts.push(chunk);
      d.partsLength += chunk.length;
      if (d.partsLength < d.need) return;
      buf = Buffer.concat(d.parts, d.partsLength);
      d.parts = undefined;
    } else if (d.buf) {
      buf = Buffer.concat([d.buf, chunk]);
      d.buf = undefined;
    } else {
      d.frameNs = tsNs;
      d.frameSeq = seq;
    }
    let pos = 0;
    if (!d.synced) {
      pos = this.findSync(d, buf);
      if (pos < 0) return;
    }
    while (buf.length - pos >= FRAME_HEADER_LENGTH) {
      const length = buf.readUIntBE(pos, 3);
      if (buf.length - pos - FRAME_HEADER_LENGTH < length) break;
      const type = buf[pos + 3];
      const flags = buf[pos + 4];
      const streamId = buf.readUInt32BE(pos + 5) & 0x7fffffff;
      const payload = buf.subarray(pos + FRAME_HEADER_LENGTH, pos + FRAME_HEADER_LENGTH + length);
      pos += FRAME_HEADER_LENGTH + length;
      this.frame(dir, type, flags, streamId, payload, d.frameNs);
      d.frameNs = tsNs;
      d.frameSeq = seq;
      if (!d.synced) return; // the frame handler lost sync (bad frame): the rest waits for findSync
    }
    if (pos < buf.length) {
      // Bounded: at most one frame (≤ 2^24 + 9 bytes by the format) is held.
      const rest = buf.subarray(pos);
      d.parts = [rest];
      d.partsLength = rest.length;
      d.need = rest.length >= FRAME_HEADER_LENGTH ? FRAME_HEADER_LENGTH + rest.readUIntBE(0, 3) : FRAME_HEADER_LENGTH;
    }
  }

  gap(dir: Dir, length: number, _tsNs: bigint): void {
    const d = this.dirs[dir];
    this.takeHeldFrames(dir);
    this.ctx.count('http2.gap_bytes', length);
    d.buf = undefined;
    d.parts = undefined;
    d.prefaceLeft = 0;
    d.block = undefined;
    d.synced = false;
    d.unsyncedBytes = 0;
    // Insertions may have been lost with the bytes: this side's table is no longer known.
    d.decoder = new HpackDecoder({ known: false, maxHeaderListBytes: this.ctx.options.maxHeaderBytes });
    d.decoder.setSettingsMaxSize(0xffffffff);
    for (const s of this.streams.values()) {
      const side = dir === CLIENT ? s.req : s.res;
      if (!side.ended) {
        s.flags.add('gap');
        side.body.skip(0);
        side.grpc?.framer.gap();
      }
    }
  }

  end(dir: Dir, _tsNs: bigint): void {
    this.takeHeldFrames(dir);
  }

  close(reason: CloseReason, tsNs: bigint): void {
    this.takeHeldFrames(CLIENT);
    this.takeHeldFrames(SERVER);
    this.tunnels.closeAll(reason, tsNs);
    const flag = CLOSE_FLAG[reason];
    for (const s of [...this.streams.values()]) this.finishIncomplete(s, flag);
    this.streams.clear();
    this.lingering.clear();
    this.pingsAfterReset.clear();
    this.settingsAfterResets.length = 0;
  }

  // --- framing ---

  private consumePreface(d: Direction, chunk: Buffer): Buffer {
    const at = PREFACE.length - d.prefaceLeft;
    const n = Math.min(d.prefaceLeft, chunk.length);
    if (PREFACE.compare(chunk, 0, n, at, at + n) !== 0) {
      // Not the preface after all: treat the connection as joined without it,
      // so neither side's HPACK table can be assumed known.
      this.ctx.count('http2.bad_preface');
      d.prefaceLeft = 0;
      d.synced = false;
      for (const x of this.dirs) {
        x.decoder = new HpackDecoder({ known: false, maxHeaderListBytes: this.ctx.options.maxHeaderBytes });
        x.decoder.setSettingsMaxSize(0xffffffff);
      }
      return chunk;
    }
    d.prefaceLeft -= n;
    return chunk.subarray(n);
  }

  /** Offset of the first point where frames chain plausibly, or -1 (bytes kept or dropped, bounded). */
  private findSync(d: Direction, buf: Buffer): number {
    // The client's magic where a side's bytes begin (a connection whose start came without its SYN: TLS
    // plaintext, or a capture begun mid-handshake) is not a frame: the scan starts after it. Read as frame
    // headers, its bytes can pass once the server allowed large frames (nginx: SETTINGS_MAX_FRAME_SIZE
    // 2^24-1): at offset 22, a DATA frame of 854,528 bytes, which the scan then waited for.
    const start = d.unsyncedBytes === 0 && buf.length >= PREFACE.length && PREFACE.compare(buf, 0, PREFACE.length) === 0 ? PREFACE.length : 0;
    for (let off = start; off + FRAME_HEADER_LENGTH <= buf.length; off++) {
      const c = chainedFrames(buf, off, SYNC_FRAMES, d.maxFrameSize);
      if (c.count >= SYNC_FRAMES || (c.count >= 1 && c.exhausted && off === start && d.unsyncedBytes === 0)) {
        if (c.count < SYNC_FRAMES) {
          // One plausible frame, not yet followed: wait for more bytes before trusting it.
          this.holdUnsynced(d, buf, c.end);
          return -1;
        }
        d.synced = true;
        this.ctx.count('http2.resync_skipped_bytes', off);
        return off;
      }
      if (c.count >= 1 && c.exhausted) {
        // Plausible so far but the buffer ended: keep from here and wait.
        d.unsyncedBytes += off;
        // skipped for good, whatever the held bytes turn out to be: counted now, as later rounds see only what is held
        this.ctx.count('http2.resync_skipped_bytes', off);
        this.holdUnsynced(d, buf.subarray(off), c.end - off);
        this.boundUnsynced(d);
        return -1;
      }
    }
    const keep = Math.min(buf.length, FRAME_HEADER_LENGTH - 1);
    d.unsyncedBytes += buf.length - keep;
    this.ctx.count('http2.resync_skipped_bytes', buf.length - keep);
    d.buf = keep ? buf.subarray(buf.length - keep) : undefined;
    this.boundUnsynced(d);
    return -1;
  }

  /**
   * Keep `held` while findSync waits for more bytes. When a frame runs past
   * its end (`end` > its length), nothing can be decided before the frame's
   * last byte: the pieces are gathered as an incomplete frame's are and
   * joined once, instead of `held` being copied again with each segment
   * (quadratic: a 12 MB DATA frame after a gap in 16 KB segments took 2.9 s).
   * Otherwise it stays in `buf`, where takeHeldFrames and takeConfirmedByPeer
   * look for a frame held whole.
   */
  private holdUnsynced(d: Direction, held: Buffer, end: number): void {
    if (end <= held.length) {
      d.buf = held;
      return;
    }
    d.parts = [held];
    d.partsLength = held.length;
    d.need = end;
  }

  /**
   * Frames findSync holds while it waits for a second one to confirm the
   * resynchronisation point: when no more bytes will come to confirm them (a
   * gap, the side's end), they are taken if they start where the bytes after
   * the gap (or the join) started and end exactly where those bytes ended,
   * which arbitrary bytes practically never do. A lone trailers frame after a
   * lost segment carries the gRPC status. The other side's frame on the same
   * stream takes them too (takeConfirmedByPeer).
   */
  private takeHeldFrames(dir: Dir): void {
    const d = this.dirs[dir];
    const held = d.buf;
    if (d.synced || !held || d.unsyncedBytes !== 0) return;
    if (!chainedFrames(held, 0, SYNC_FRAMES, d.maxFrameSize).boundary) return;
    this.ctx.count('http2.resync_held_frames');
    d.buf = undefined;
    d.synced = true;
    this.feed(dir, held, d.frameNs, d.frameSeq);
  }

  /**
   * A frame from `dir` on a stream the other side holds its lone unconfirmed
   * frame for (findSync waiting for a second one), a frame that came after
   * the held one: it confirms the held frame as a following frame would, and
   * the held frame is read first, in the order the capture saw them. A GET
   * joined mid-connection is one HEADERS frame in its own segment; its
   * response ended the stream before the client's next segment confirmed the
   * HEADERS, which then found the stream closed. The held bytes must still
   * start where the side's bytes after the join or gap did and end where the
   * frame does (takeHeldFrames): arbitrary bytes practically never do that
   * and name the very stream the other side is on. A held frame that came
   * later waits: both sides may hold one (a 204 is one HEADERS segment too),
   * and the earlier must not be read after the later.
   */
  private takeConfirmedByPeer(dir: Dir, streamId: number): void {
    const other: Dir = dir === CLIENT ? SERVER : CLIENT;
    const o = this.dirs[other];
    const held = o.buf;
    if (o.synced || !held || held.length < FRAME_HEADER_LENGTH || o.frameSeq > this.dirs[dir].frameSeq) return;
    if ((held.readUInt32BE(5) & 0x7fffffff) !== streamId) return;
    this.takeHeldFrames(other);
  }

  private boundUnsynced(d: Direction): void {
    if (d.unsyncedBytes > MAX_UNSYNCED_BYTES) {
      this.ctx.count('http2.unsynced_bytes', d.unsyncedBytes);
      this.ctx.abandon('http2_lost_sync');
    }
  }

  private frame(dir: Dir, type: number, flags: number, streamId: number, payload: Buffer, tsNs: bigint): void {
    const d = this.dirs[dir];
    this.ctx.count('http2.frames');
    // Only a side still looking for frame boundaries keeps `buf`: one test per frame otherwise.
    if (streamId !== 0 && this.dirs[1 - dir].buf) this.takeConfirmedByPeer(dir, streamId);
    // A server frame on a stream the client opened after resetting others: the server read those resets.
    if (dir === SERVER && streamId % 2 === 1 && this.lingering.size) this.releaseLingering((l) => l.at < streamId);
    if (d.block && type !== FrameType.CONTINUATION) {
      // §6.10: nothing may interleave a header block. Drop it; its HPACK effects are unknown now.
      this.ctx.count('http2.interrupted_header_block');
      this.loseHeaderState(d, d.block.streamId);
    }
    switch (type) {
      case FrameType.DATA:
        return this.onData(dir, flags, streamId, payload, tsNs);
      case FrameType.HEADERS:
        return this.onHeaders(dir, flags, streamId, payload, tsNs);
      case FrameType.PRIORITY:
        return;
      case FrameType.RST_STREAM:
        return this.onRstStream(dir, streamId, payload, tsNs);
      case FrameType.SETTINGS:
        return this.onSettings(dir, flags, payload);
      case FrameType.PUSH_PROMISE:
        return this.onPushPromise(dir, flags, streamId, payload, tsNs);
      case FrameType.PING:
        return this.onPing(dir, flags, payload);
      case FrameType.WINDOW_UPDATE:
        return;
      case FrameType.GOAWAY:
        return this.onGoaway(dir, payload);
      case FrameType.CONTINUATION:
        return this.onContinuation(dir, flags, streamId, payload, tsNs);
      default:
        // §5.5: unknown frame types are ignored.
        this.ctx.count('http2.unknown_frames');
    }
  }

  /** Strips padding (§6.1) and, for HEADERS, the priority fields; undefined when the lengths are inconsistent. */
  private unpad(flags: number, payload: Buffer, priority: boolean): Buffer | undefined {
    let start = 0;
    let end = payload.length;
    if (flags & Flag.PADDED) {
      if (payload.length < 1) return undefined;
      const pad = payload[0];
      start = 1;
      end -= pad;
    }
    if (priority && flags & Flag.PRIORITY) start += 5;
    if (end < start) return undefined;
    // Most frames carry neither padding nor priority: the payload itself, not a new view of all of it.
    return start === 0 && end === payload.length ? payload : payload.subarray(start, end);
  }

  // --- frame handlers ---

  private onData(dir: Dir, flags: number, streamId: number, payload: Buffer, tsNs: bigint): void {
    if (this.tunnels.has(streamId)) return this.tunnelData(dir, flags, streamId, payload, tsNs);
    const s = this.stream(streamId, dir, false);
    if (!s) return;
    const side = dir === CLIENT ? s.req : s.res;
    side.touch(tsNs, FRAME_HEADER_LENGTH + payload.length);
    side.dataSeen = true;
    const body = this.unpad(flags, payload, false);
    if (!body) {
      this.ctx.count('http2.bad_padding');
      s.flags.add('malformed');
    } else if (body.length) {
      s.data(side, body);
    }
    if (flags & Flag.END_STREAM) this.endSide(s, dir);
  }

  /** DATA on an accepted CONNECT stream: the carried protocol's bytes, to that stream's parser. */
  private tunnelData(dir: Dir, flags: number, streamId: number, payload: Buffer, tsNs: bigint): void {
    const body = this.unpad(flags, payload, false);
    if (!body) {
      this.ctx.count('http2.bad_padding');
      return this.tunnels.end(streamId, 'rst', tsNs);
    }
    this.tunnels.data(streamId, dir, body, (flags & Flag.END_STREAM) !== 0, tsNs);
  }

  private onHeaders(dir: Dir, flags: number, streamId: number, payload: Buffer, tsNs: bigint): void {
    const fragment = this.unpad(flags, payload, true);
    if (streamId === 0 || !fragment) {
      this.ctx.count('http2.malformed_headers');
      this.loseHeaderState(this.dirs[dir], streamId);
      return;
    }
    const s = this.tunnels.has(streamId) ? undefined : this.stream(streamId, dir, true);
    if (s) (dir === CLIENT ? s.req : s.res).touch(tsNs, FRAME_HEADER_LENGTH + payload.length);
    this.startBlock(dir, streamId, FrameType.HEADERS, (flags & Flag.END_STREAM) !== 0, 0, fragment, flags, tsNs);
  }

  private onPushPromise(dir: Dir, flags: number, streamId: number, payload: Buffer, tsNs: bigint): void {
    const rest = this.unpad(flags, payload, false);
    if (dir !== SERVER || !rest || rest.length < 4) {
      this.ctx.count('http2.malformed_push_promise');
      this.loseHeaderState(this.dirs[dir], streamId);
      return;
    }
    const promisedId = rest.readUInt32BE(0) & 0x7fffffff;
    const parent = this.streams.get(streamId);
    if (parent) parent.res.touch(tsNs, FRAME_HEADER_LENGTH + payload.length);
    this.ctx.count('http2.push_promises');
    this.startBlock(dir, streamId, FrameType.PUSH_PROMISE, false, promisedId, rest.subarray(4), flags, tsNs);
  }

  private onContinuation(dir: Dir, flags: number, streamId: number, payload: Buffer, tsNs: bigint): void {
    const d = this.dirs[dir];
    const b = d.block;
    if (!b || b.streamId !== streamId) {
      this.ctx.count('http2.orphan_continuation');
      this.loseHeaderState(d, streamId);
      return;
    }
    const s = this.streams.get(streamId);
    if (s) (dir === CLIENT ? s.req : s.res).touch(tsNs, FRAME_HEADER_LENGTH + payload.length);
    this.appendBlock(d, payload);
    if (flags & Flag.END_HEADERS) this.finishBlock(dir, tsNs);
  }

  private onRstStream(dir: Dir, streamId: number, payload: Buffer, tsNs: bigint): void {
    if (this.tunnels.has(streamId)) {
      this.ctx.count('http2.rst_stream');
      return this.tunnels.end(streamId, 'rst', tsNs);
    }
    const s = this.streams.get(streamId);
    if (!s) {
      if (this.closed.has(streamId)) this.ctx.count('http2.frames_on_closed_streams');
      return;
    }
    if (payload.length !== 4) return;
    if (this.lingering.has(streamId)) {
      // The client reset it already and sends nothing more on it; the server's reset crossed the client's.
      if (dir === CLIENT) return void this.ctx.count('http2.frames_on_closed_streams');
      s.res.touch(tsNs, FRAME_HEADER_LENGTH + payload.length);
      this.ctx.count('http2.rst_stream');
      return this.finishIncomplete(s, 'reset');
    }
    s.resetBy = { side: dir === CLIENT ? 'client' : 'server', code: errorName(payload.readUInt32BE(0)) };
    (dir === CLIENT ? s.req : s.res).touch(tsNs, FRAME_HEADER_LENGTH + payload.length);
    this.ctx.count('http2.rst_stream');
    if (dir === CLIENT && !s.res.ended) {
      // The server's frames sent before it read the reset are still to come: see `lingering`. (The
      // other way, a client's request frames crossing a server's reset add only body bytes, and the
      // client answers nothing that would show it read the reset: that stream ends here.)
      this.lingering.set(s.id, { at: this.lastClientStream, seq: ++this.resets });
      return;
    }
    this.finishIncomplete(s, 'reset');
  }

  private onPing(dir: Dir, flags: number, payload: Buffer): void {
    if (!this.lingering.size || payload.length !== 8) return;
    const key = payload.toString('hex');
    if (dir === CLIENT && !(flags & Flag.ACK)) {
      if (this.pingsAfterReset.size >= MAX_PINGS_AFTER_RESET) this.pingsAfterReset.delete(this.pingsAfterReset.keys().next().value as string);
      this.pingsAfterReset.set(key, this.resets);
    } else if (dir === SERVER && flags & Flag.ACK) {
      // The server answered a PING the client sent after those resets: it read them.
      const before = this.pingsAfterReset.get(key);
      if (before === undefined) return;
      this.pingsAfterReset.delete(key);
      this.releaseLingering((l) => l.seq <= before);
    }
  }

  /** Emits the lingering streams, oldest reset first, while `read` says the server has read their reset. */
  private releaseLingering(read: (l: { at: number; seq: number }) => boolean): void {
    // `at` and `seq` only grow with the resets' order: the first that is not read ends the scan.
    for (const [id, l] of this.lingering) {
      if (!read(l)) return;
      const s = this.streams.get(id);
      this.lingering.delete(id);
      if (s) this.finishIncomplete(s, 'reset');
    }
  }

  private onSettings(dir: Dir, flags: number, payload: Buffer): void {
    const other = this.dirs[1 - dir];
    if (flags & Flag.ACK) {
      // The acknowledging side now uses the table size the other side announced (§6.5.3).
      const d = this.dirs[dir];
      const size = other.pendingTableSizes.shift();
      if (size !== undefined && size !== NO_TABLE_SIZE) d.decoder.setSettingsMaxSize(size);
      if (dir === SERVER) {
        const before = this.settingsAfterResets.shift();
        if (before !== undefined && this.lingering.size) this.releaseLingering((l) => l.seq <= before);
      }
      return;
    }
    let tableSize = NO_TABLE_SIZE;
    for (let p = 0; p + 6 <= payload.length; p += 6) {
      const id = payload.readUInt16BE(p);
      const value = payload.readUInt32BE(p + 2);
      if (id === Setting.HEADER_TABLE_SIZE) {
        // `dir` decodes what the other side sends: that decoder's bound. Until the ACK the
        // encoder may still use the old size, so the bound is the larger of both meanwhile.
        const dec = other.decoder;
        if (value > dec.settingsMaxSize || !this.dirs[dir].synced) dec.setSettingsMaxSize(value);
        tableSize = value;
      } else if (id === Setting.MAX_FRAME_SIZE && value >= DEFAULT_MAX_FRAME_SIZE && value < 1 << 24) {
        other.maxFrameSize = value;
      }
    }
    // One entry per SETTINGS frame, so each ACK settles the frame it answers.
    const pending = this.dirs[dir].pendingTableSizes;
    if (pending.length >= MAX_UNACKED_SETTINGS) {
      // Never acknowledged (a one-sided capture): the oldest is forgotten, its bound stays raised.
      this.ctx.count('http2.unacked_settings_dropped');
      pending.shift();
      if (dir === CLIENT) this.settingsAfterResets.shift();
    }
    pending.push(tableSize);
    if (dir === CLIENT) this.settingsAfterResets.push(this.resets);
  }

  private onGoaway(dir: Dir, payload: Buffer): void {
    if (payload.length < 8) return;
    const info = goawayInfo(dir, payload);
    this.ctx.count('http2.goaway');
    this.goaway[dir] = info;
    for (const s of [...this.streams.values()]) {
      if (refusedBy(info, s)) {
        // Streams the sender never processed: those the other side initiated above `last`.
        // An earlier GOAWAY that refused it too (a repeat: last-stream-id never grows, §6.8) is
        // kept for its reason. One that did not is replaced: the other side's, or the first step
        // of a graceful shutdown (last-stream-id 2^31-1, refusing nothing), whose second step is
        // the one that refuses.
        if (!s.goaway || !refusedBy(s.goaway, s)) s.goaway = info;
        this.finishIncomplete(s, 'goaway');
      } else if (!this.lingering.has(s.id)) {
        // A stream still open learns that the connection is going away, so that one the
        // connection's end cuts later says why. The first GOAWAY is kept: it carries the
        // reason; the ones peers send as they close (the other side's, a repeat) do not.
        s.goaway ??= info;
      }
    }
  }

  // --- header blocks ---

  private startBlock(dir: Dir, streamId: number, type: number, endStream: boolean, promisedId: number, fragment: Buffer, flags: number, tsNs: bigint): void {
    const d = this.dirs[dir];
    d.block = { streamId, type, endStream, promisedId, parts: [], length: 0, tooLarge: false };
    this.appendBlock(d, fragment);
    if (flags & Flag.END_HEADERS) this.finishBlock(dir, tsNs);
  }

  private appendBlock(d: Direction, fragment: Buffer): void {
    const b = d.block!;
    b.length += fragment.length;
    if (b.length > this.ctx.options.maxHeaderBytes) {
      b.tooLarge = true;
      b.parts = [];
      return;
    }
    if (!b.tooLarge) b.parts.push(fragment);
  }

  private finishBlock(dir: Dir, tsNs: bigint): void {
    const d = this.dirs[dir];
    const b = d.block!;
    d.block = undefined;
    if (b.tooLarge) {
      this.ctx.count('http2.header_block_too_large');
      this.loseHeaderState(d, b.streamId);
      return;
    }
    const block = b.parts.length === 1 ? b.parts[0] : Buffer.concat(b.parts);
    let decoded;
    try {
      decoded = d.decoder.decode(block);
    } catch (err) {
      if (!(err instanceof HpackError)) throw err;
      this.ctx.count('http2.hpack_errors');
      this.loseHeaderState(d, b.streamId);
      return;
    }
    if (b.type === FrameType.PUSH_PROMISE) {
      this.promise(b.streamId, b.promisedId, decoded.headers, decoded.missing > 0, tsNs);
      return;
    }
    if (this.tunnels.has(b.streamId)) {
      // a trailer block on a tunnel: only its END_STREAM matters
      if (b.endStream) this.tunnels.data(b.streamId, dir, EMPTY, true, tsNs);
      return;
    }
    const s = this.stream(b.streamId, dir, true, false);
    if (!s) return;
    if (decoded.missing > 0) {
      s.flags.add('undecodable');
      this.ctx.count('http2.undecodable_header_blocks');
    }
    if (dir === CLIENT) s.requestHeaders(decoded.headers, decoded.missing === 0);
    else s.responseHeaders(decoded.headers, decoded.missing === 0);
    const tunnel = dir !== CLIENT ? acceptedTunnel(s) : undefined;
    if (tunnel !== undefined && this.openTunnel(s, tunnel, b.endStream, tsNs)) return;
    if (b.endStream) this.endSide(s, dir);
  }

  /**
   * The server accepted a CONNECT (a tunnel, or WebSocket by RFC 8441): the
   * CONNECT is an exchange of its own, reported now (as HTTP/1.1 reports its
   * 101 or 200), and the stream's DATA frames from here on are the carried
   * protocol's. False when nothing reads that protocol: the stream stays HTTP.
   */
  private openTunnel(s: Http2Stream, kind: 'websocket' | 'bytes', endStream: boolean, tsNs: bigint): boolean {
    if (!this.tunnels.canOpen(kind)) return false;
    // what the client sent before the server accepted (clients need not wait) is the carried protocol's, not a body
    const early = s.req.body;
    this.streams.delete(s.id);
    s.req.body = new BodyCapture(this.ctx.options.maxBody);
    this.ctx.count('http2.streams');
    this.ctx.emit(s.record('exchange', this.ctx.options));
    this.tunnels.open(s, kind, tsNs, early);
    if (endStream) this.tunnels.data(s.id, SERVER, EMPTY, true, tsNs);
    return true;
  }

  /** A header block could not be decoded at all: its table insertions are lost, so the table is unknown from here. */
  private loseHeaderState(d: Direction, streamId: number): void {
    d.block = undefined;
    d.decoder = new HpackDecoder({ known: false, maxHeaderListBytes: this.ctx.options.maxHeaderBytes });
    d.decoder.setSettingsMaxSize(0xffffffff);
    this.streams.get(streamId)?.flags.add('undecodable');
  }

  private promise(parentId: number, promisedId: number, headers: Array<[string, string]>, missing: boolean, tsNs: bigint): void {
    // §6.6: a PUSH_PROMISE belongs to a stream the client opened; on stream 0 it is a connection error.
    // Its header block was still decoded above, as the sender's HPACK table took its insertions.
    if (parentId === 0 || promisedId === 0 || promisedId % 2 !== 0) {
      this.ctx.count('http2.malformed_push_promise');
      return;
    }
    const s = new Http2Stream(promisedId, this.ctx.options);
    s.promisedBy = parentId;
    s.requestHeaders(headers);
    s.req.ended = true;
    s.req.firstNs = tsNs;
    s.req.lastNs = tsNs;
    if (missing) s.flags.add('undecodable');
    this.afterGoaway(s);
    this.track(s);
  }

  /**
   * A stream opened after the peer's GOAWAY (a HEADERS that crossed it on the
   * wire): a stream above its last-stream-id is never processed (§6.8); if it
   * stays unanswered, its event says so when it ends.
   */
  private afterGoaway(s: Http2Stream): void {
    const g = this.goaway[s.id % 2 === 1 ? SERVER : CLIENT];
    if (g) s.goaway = g;
  }

  // --- streams ---

  /**
   * The stream a frame belongs to; created for new ids, undefined for closed
   * ones. `late` is false where the frame was already looked up (a header
   * block, once complete), so a late frame is counted once.
   */
  private stream(id: number, dir: Dir, isHeaders: boolean, late = true): Http2Stream | undefined {
    if (id === 0) return undefined;
    const s = this.streams.get(id);
    if (s) {
      if (dir === SERVER || !this.lingering.has(id)) return s;
      // The client reset it: anything more from the client on it is a late frame (§6.4).
      if (late) this.ctx.count('http2.frames_on_closed_streams');
      return undefined;
    }
    const odd = id % 2 === 1;
    if (this.closed.has(id)) {
      // Late frames on a finished stream (a client END_STREAM after the response, a RST): dropped.
      if (late) this.ctx.count('http2.frames_on_closed_streams');
      return undefined;
    }
    const n = new Http2Stream(id, this.ctx.options);
    // A stream whose first frame is not the client's HEADERS began before the capture did.
    if (!(isHeaders && dir === CLIENT && odd)) n.flags.add('midstream');
    else if (id > this.lastClientStream) this.lastClientStream = id;
    this.afterGoaway(n);
    this.track(n);
    return n;
  }

  private track(s: Http2Stream): void {
    if (this.streams.size >= this.ctx.options.maxPending) {
      const reset = this.lingering.keys().next();
      if (!reset.done) {
        // A reset stream waiting only for frames that may cross its reset goes first: it is over.
        this.finishIncomplete(this.streams.get(reset.value)!, 'reset');
      } else {
        const oldest = this.streams.values().next().value as Http2Stream;
        this.ctx.count('http2.stream_overflow');
        this.finishIncomplete(oldest, 'overflow');
      }
    }
    this.streams.set(s.id, s);
  }

  private endSide(s: Http2Stream, dir: Dir): void {
    const side: MessageSide = dir === CLIENT ? s.req : s.res;
    side.ended = true;
    side.grpc?.framer.end();
    // The response ending closes the exchange; a client still sending after that is ignored.
    if (dir === SERVER) {
      if (this.lingering.has(s.id)) this.finishIncomplete(s, 'reset');
      else this.finish(s);
    }
  }

  private forget(s: Http2Stream): void {
    this.streams.delete(s.id);
    this.markClosed(s.id);
  }

  /** Frames on `id` from now on are late ones (bounded: the oldest closed ids are forgotten). */
  private markClosed(id: number): void {
    this.closed.add(id);
    if (this.closed.size > this.ctx.options.maxPending) this.closed.delete(this.closed.values().next().value as number);
  }

  private finish(s: Http2Stream): void {
    this.forget(s);
    if (!s.identified) {
      // Nothing identifiable (body bytes of a stream that began before the capture).
      this.ctx.count('http2.unidentified_streams');
      return;
    }
    let kind: ExchangeRecord['kind'] = 'exchange';
    if (s.promisedBy !== undefined) kind = 'message';
    else if (!s.requestSeen) kind = 'orphan_response';
    if (!s.req.ended && s.requestSeen && s.promisedBy === undefined) s.flags.add('incomplete');
    this.ctx.count('http2.streams');
    this.ctx.emit(s.record(kind, this.ctx.options));
  }

  /** Reset, refused by GOAWAY, or the connection ended: emit what the stream got. */
  private finishIncomplete(s: Http2Stream, flag: string): void {
    // A stream the client reset is reported as reset, whatever ended the wait for the server's frames.
    if (this.lingering.delete(s.id)) flag = 'reset';
    this.forget(s);
    if (!s.req.ended) s.req.grpc?.framer.end();
    if (!s.res.ended) s.res.grpc?.framer.end();
    let kind: ExchangeRecord['kind'];
    if (s.promisedBy !== undefined) kind = 'message';
    else if (!s.requestSeen) {
      if (!s.identified) {
        // Nothing identifiable (body bytes of a stream that began before the capture).
        this.ctx.count('http2.unidentified_streams');
        return;
      }
      kind = 'orphan_response';
    } else kind = s.answered ? 'exchange' : 'unanswered';
    if (kind === 'unanswered') this.ctx.count('http2.unanswered');
    this.ctx.count('http2.streams');
    const flags = [flag];
    if (flag !== 'goaway' && s.goaway && refusedBy(s.goaway, s)) flags.push('goaway');
    if (kind === 'exchange' && !s.res.ended) flags.push('incomplete');
    this.ctx.emit(s.record(kind, this.ctx.options, flags));
  }
}

/** Whether a GOAWAY refused the stream: initiated by the other side, above its last-stream-id, and never answered. */
function refusedBy(g: GoawayInfo, s: Http2Stream): boolean {
  // Clients initiate odd streams, servers (push) even ones.
  const peerParity = g.by === 'server' ? 1 : 0;
  return s.id > g.lastStreamId && s.id % 2 === peerParity && !s.answered;
}
