/**
 * DNS parsers: one message per UDP datagram, and 2-byte length-prefixed
 * messages over TCP (RFC 1035 §4.2.2, RFC 7766: several per connection,
 * pipelined, answered in any order).
 */
import type { CloseReason } from '@panopticon/flows';
import type { DatagramParser, ParserContext, StreamParser } from '../types.js';
import { Dir } from '@panopticon/flows';
import { HEADER_LENGTH, plausibleHeader, tryDecodeMessage, type DnsMessage } from './message.js';
import { DnsSession } from './session.js';
import { CLOSE_FLAG } from '../close-flags.js';

const MDNS_PORT = 5353;


export function decodeCounted(ctx: ParserContext, msg: Buffer, mdns = false) {
  const m = tryDecodeMessage(msg, mdns);
  if (!m) ctx.count('dns.malformed');
  return m;
}

/**
 * The datagram detection last decoded, and its message. A resolver's clients
 * ask from a new port each time, so nearly every query starts a flow: it is
 * detected (decoded) and then handed to the new flow's parser, which takes the
 * message instead of decoding the same bytes again. Taken once: the message's
 * objects become the event's.
 */
let detectedPayload: Buffer | undefined;
let detectedMessage: DnsMessage | undefined;

export function rememberDetected(payload: Buffer, msg: DnsMessage): void {
  detectedPayload = payload;
  detectedMessage = msg;
}

function takeDetected(payload: Buffer): DnsMessage | undefined {
  if (detectedPayload !== payload) return undefined;
  const m = detectedMessage;
  detectedPayload = detectedMessage = undefined;
  return m;
}

/** A UDP flow's parser is its session: one object a flow, and a resolver's capture has a flow per query. */
export class DnsDatagramParser extends DnsSession implements DatagramParser {
  datagram(_dir: Dir, payload: Buffer, tsNs: bigint): void {
    this.expire(tsNs);
    // Multicast DNS (RFC 6762) is told by its port, either side's (a one-shot query asks from another port, §5.1).
    // Detection decoded without knowing the port: an mDNS message is decoded again, its classes read as RFC 6762 says.
    const mdns = this.ctx.conn.client.port === MDNS_PORT || this.ctx.conn.server.port === MDNS_PORT;
    const detected = takeDetected(payload);
    const msg = (mdns ? undefined : detected) ?? decodeCounted(this.ctx, payload, mdns);
    if (msg) this.message(msg, payload.length, tsNs);
  }

  tick(nowNs: bigint): void {
    this.expire(nowNs);
  }

  idle(): boolean {
    return !this.waiting();
  }

  close(reason: CloseReason, tsNs: bigint): void {
    this.endAll(CLOSE_FLAG[reason], tsNs);
  }
}

/** Per-direction reassembly state of length-prefixed messages. */
export class Framer {
  private buf: Buffer | undefined;
  /** Time of the first byte of the message being assembled. */
  firstNs = 0n;

  /** Appends and returns every complete message with the times its first and last bytes arrived (`tsNs`, this chunk's, is the last's). */
  push(chunk: Buffer, tsNs: bigint, out: (msg: Buffer, firstNs: bigint) => void): void {
    let data = chunk;
    if (this.buf) {
      data = Buffer.concat([this.buf, chunk]);
      this.buf = undefined;
    } else {
      this.firstNs = tsNs;
    }
    let pos = 0;
    while (data.length - pos >= 2) {
      const len = data.readUInt16BE(pos);
      if (data.length - pos - 2 < len) break;
      out(data.subarray(pos + 2, pos + 2 + len), this.firstNs);
      pos += 2 + len;
      this.firstNs = tsNs;
    }
    // At most one 64 KiB message is ever held, so this stays bounded by the format itself.
    if (pos < data.length) this.buf = Buffer.from(data.subarray(pos));
  }

  reset(): void {
    this.buf = undefined;
  }
}

/** Bytes searched for a message start after a gap before the oldest are dropped: two largest messages with their prefixes. */
const MAX_RESYNC_BYTES = 2 * (2 + 0xffff);

export class DnsStreamParser implements StreamParser {
  private readonly session: DnsSession;
  private readonly framers = [new Framer(), new Framer()];
  /**
   * After a gap the length prefix is lost: bytes of that direction are held
   * here (bounded) until a message start is found again.
   */
  private readonly resyncing: [Buffer | undefined, Buffer | undefined] = [undefined, undefined];

  constructor(private readonly ctx: ParserContext) {
    this.session = new DnsSession(ctx);
  }

  data(dir: Dir, chunk: Buffer, tsNs: bigint): void {
    // as a datagram does: a response after its query's timeout is an orphan, however often ticks come
    this.session.expire(tsNs);
    if (this.resyncing[dir]) {
      const found = this.resync(dir, chunk);
      if (!found) return;
      chunk = found;
    }
    this.framers[dir].push(chunk, tsNs, (msg, firstNs) => {
      const m = decodeCounted(this.ctx, msg);
      // A response's last byte ends its exchange: with the first, a message over several segments ended where it began.
      if (m) this.session.message(m, msg.length + 2, firstNs === 0n ? tsNs : firstNs, tsNs);
    });
  }

  gap(dir: Dir, length: number, _tsNs: bigint): void {
    this.framers[dir].reset();
    // Bytes held from before this gap cannot join those after it.
    const held = this.resyncing[dir];
    if (held?.length) this.ctx.count('dns.skipped_bytes', held.length);
    this.resyncing[dir] = EMPTY;
    this.ctx.count('dns.gap_bytes', length);
  }

  end(_dir: Dir, _tsNs: bigint): void {}

  /**
   * A query over TCP times out as one over UDP does, not only when the
   * connection ends: a connection kept open for more queries may end minutes
   * later, or not within the capture.
   */
  tick(nowNs: bigint): void {
    this.session.expire(nowNs);
  }

  close(reason: CloseReason, tsNs: bigint): void {
    for (const held of this.resyncing) if (held?.length) this.ctx.count('dns.skipped_bytes', held.length);
    this.session.endAll(CLOSE_FLAG[reason], tsNs);
  }

  /**
   * Looks for the first offset where a length prefix is followed by a whole
   * message that decodes and goes the way of this direction (queries to the
   * server, responses to the client), and returns the bytes from there; the
   * bytes before it are skipped and counted. A plausible start whose message
   * is not complete yet stops the search until more bytes come.
   */
  private resync(dir: Dir, chunk: Buffer): Buffer | undefined {
    const held = this.resyncing[dir]!;
    let data = held.length ? Buffer.concat([held, chunk]) : chunk;
    const wantResponse = dir === Dir.ToClient;
    let p = 0;
    for (; p + 2 + HEADER_LENGTH <= data.length; p++) {
      const len = (data[p] << 8) | data[p + 1];
      if (!plausibleHeader(data, p + 2, len)) continue;
      if (((data[p + 4] & 0x80) !== 0) !== wantResponse) continue;
      if (p + 2 + len > data.length) break; // wait for the rest of this candidate
      if (!tryDecodeMessage(data.subarray(p + 2, p + 2 + len))) continue;
      if (p) this.ctx.count('dns.skipped_bytes', p);
      this.ctx.count('dns.resyncs');
      this.resyncing[dir] = undefined;
      return data.subarray(p);
    }
    // Nothing yet: keep the bytes from `p` on (a candidate or the last few bytes), bounded.
    if (p) this.ctx.count('dns.skipped_bytes', p);
    data = data.subarray(p);
    if (data.length > MAX_RESYNC_BYTES) {
      this.ctx.count('dns.skipped_bytes', data.length - MAX_RESYNC_BYTES);
      data = data.subarray(data.length - MAX_RESYNC_BYTES);
    }
    this.resyncing[dir] = Buffer.from(data);
    return undefined;
  }
}

const EMPTY = Buffer.alloc(0);
