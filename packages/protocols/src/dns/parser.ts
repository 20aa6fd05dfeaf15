/**
 * DNS parsers: one message per UDP datagram, and 2-byte length-prefixed
 * messages over TCP (RFC 1035 §4.2.2, RFC 7766: several per connection,
 * pipelined, answered in any order).
 */
import type { CloseReason, Dir } from '@panopticon/flows';
import type { DatagramParser, ParserContext, StreamParser } from '../types.js';
import { DnsFormatError } from './names.js';
import { decodeMessage } from './message.js';
import { DnsSession } from './session.js';

const closeFlag: Record<CloseReason, string> = { fin: 'closed', rst: 'reset', idle: 'timeout', evicted: 'evicted', end: 'eof' };

function decodeCounted(ctx: ParserContext, msg: Buffer) {
  try {
    return decodeMessage(msg);
  } catch (err) {
    if (!(err instanceof DnsFormatError) && !(err instanceof RangeError)) throw err;
    ctx.count('dns.malformed');
    return undefined;
  }
}

export class DnsDatagramParser implements DatagramParser {
  private readonly session: DnsSession;

  constructor(private readonly ctx: ParserContext) {
    this.session = new DnsSession(ctx);
  }

  datagram(_dir: Dir, payload: Buffer, tsNs: bigint): void {
    this.session.expire(tsNs);
    const msg = decodeCounted(this.ctx, payload);
    if (msg) this.session.message(msg, payload.length, tsNs);
  }

  tick(nowNs: bigint): void {
    this.session.expire(nowNs);
  }

  close(reason: CloseReason, _tsNs: bigint): void {
    this.session.close(closeFlag[reason]);
  }
}

/** Per-direction reassembly state of length-prefixed messages. */
class Framer {
  private buf: Buffer | undefined;
  /** Time of the first byte of the message being assembled. */
  firstNs = 0n;

  /** Appends and returns every complete message with the time its first byte arrived. */
  push(chunk: Buffer, tsNs: bigint, out: (msg: Buffer, tsNs: bigint) => void): void {
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

export class DnsStreamParser implements StreamParser {
  private readonly session: DnsSession;
  private readonly framers = [new Framer(), new Framer()];
  /** After a gap the length prefix is lost; the direction is skipped until the connection ends. */
  private readonly lost = [false, false];

  constructor(private readonly ctx: ParserContext) {
    this.session = new DnsSession(ctx);
  }

  data(dir: Dir, chunk: Buffer, tsNs: bigint): void {
    if (this.lost[dir]) {
      this.ctx.count('dns.skipped_bytes', chunk.length);
      return;
    }
    this.framers[dir].push(chunk, tsNs, (msg, firstNs) => {
      const m = decodeCounted(this.ctx, msg);
      if (m) this.session.message(m, msg.length + 2, firstNs === 0n ? tsNs : firstNs);
    });
  }

  gap(dir: Dir, length: number, _tsNs: bigint): void {
    // Without the length prefix there is no reliable way back into a TCP DNS stream.
    this.framers[dir].reset();
    this.lost[dir] = true;
    this.ctx.count('dns.gap_bytes', length);
  }

  end(_dir: Dir, _tsNs: bigint): void {}

  close(reason: CloseReason, _tsNs: bigint): void {
    this.session.close(closeFlag[reason]);
  }
}
