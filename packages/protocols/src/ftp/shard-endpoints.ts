/**
 * Which shard an FTP data connection belongs to with `pano-parse --workers`:
 * its control connection's, whose parser announced it (ParserContext.expect)
 * and alone can give it to `ftp-data`. Flows are shared out by addresses and
 * ports, and a data connection's are not its control connection's, so
 * without this it lands there only by chance (ADR 0293).
 *
 * Every worker sees every frame in the same order, so every worker reads the
 * announcements in the control connection's segments the same way (a 227
 * reply's `h1,h2,h3,h4,p1,p2`, a 229 reply's `(|||port|)`, a PORT or EPRT
 * command), remembers them with the control connection's shard, and sends
 * the connection that opens to an announced endpoint (its SYN, or its SYN-ACK
 * when the SYN was not captured) to that shard for as long as it lasts: all
 * of them make the same choice, and the other workers leave its packets alone
 * as they leave any other shard's.
 *
 * The reading is looser than the FTP parser's (any line of a short segment
 * that looks like an announcement, whatever the connection): one read where
 * there was none only moves a connection to another worker, which parses it
 * as well. What it cannot read, the data connection's own worker cannot
 * either: an announcement split between segments, one inside TLS (AUTH TLS),
 * a data connection whose handshake was not captured. Those land by their
 * tuple, as before.
 */
import { TcpFlag, type L4Packet } from '@panopticon/decode';
import { EXPECT_NS, MAX_EXPECTED } from '../dispatcher.js';
import { eprt, epsvPort, hostPort, type Endpoint } from './endpoints.js';

/** Segments longer than this are not read: announcements are short lines of a control connection. */
const MAX_SEGMENT = 1024;
/** Data connections followed to their control connection's shard; past it the oldest is forgotten. */
const MAX_PINNED = 65536;

const LF = 0x0a;

interface Announced {
  shard: number;
  expiresNs: bigint;
}

export class FtpShardEndpoints {
  /** `address|port` of a listening side announced and not yet connected to → the announcer's shard. */
  private readonly announced = new Map<string, Announced>();
  /** Data connections opened to an announced endpoint, by their endpoints (either order) → shard. */
  private readonly pinned = new Map<string, number>();

  /** The shard of TCP packet `p`, whose tuple gives `tupleShard`. */
  shardOf(p: L4Packet, tupleShard: number): number {
    let shard = tupleShard;
    let key: string | undefined;
    let pinned = false;
    if (this.pinned.size > 0) {
      key = flowKey(p);
      const s = this.pinned.get(key);
      if (s !== undefined) {
        shard = s;
        pinned = true;
      }
    }
    const flags = p.tcp?.flags ?? 0;
    // a retransmitted SYN of a pinned connection keeps its shard
    if (flags & TcpFlag.SYN && !pinned && this.announced.size > 0) shard = this.connect(p, flags, key ?? flowKey(p), shard);
    const n = p.payload.length;
    if (n >= 6 && n <= MAX_SEGMENT) this.read(p, shard);
    return shard;
  }

  /** A handshake packet: to an announced endpoint, the connection follows its announcer. */
  private connect(p: L4Packet, flags: number, key: string, shard: number): number {
    // a SYN goes to the listening side; a SYN-ACK comes from it
    const listening = flags & TcpFlag.ACK ? `${p.srcAddr}|${p.srcPort}` : `${p.dstAddr}|${p.dstPort}`;
    const a = this.announced.get(listening);
    if (a === undefined) return shard;
    this.announced.delete(listening);
    if (a.expiresNs < p.tsNs) return shard;
    if (this.pinned.size >= MAX_PINNED) this.pinned.delete(this.pinned.keys().next().value!);
    this.pinned.set(key, a.shard);
    return a.shard;
  }

  /** The announcements among the lines of a short segment (shard: its connection's). */
  private read(p: L4Packet, shard: number): void {
    const b = p.payload;
    for (let at = 0; at + 6 <= b.length; ) {
      const lf = b.indexOf(LF, at);
      const end = lf < 0 ? b.length : lf;
      const c = b[at]!;
      if (c === 0x32 /* 2 */ || c === 0x50 /* P */ || c === 0x70 || c === 0x45 /* E */ || c === 0x65) this.line(p, at, end, shard);
      if (lf < 0) break;
      at = lf + 1;
    }
  }

  private line(p: L4Packet, at: number, end: number, shard: number): void {
    const text = p.payload.toString('latin1', at, end);
    const head = text.slice(0, 5).toUpperCase();
    if (head.startsWith('227 ')) {
      // PASV's reply; a client that distrusts the address connects to the control connection's server
      const e = hostPort(text);
      if (!e) return;
      this.announce(e, shard, p.tsNs);
      if (e.address !== p.srcAddr) this.announce({ address: p.srcAddr, port: e.port }, shard, p.tsNs);
    } else if (head.startsWith('229 ')) {
      const port = epsvPort(text);
      if (port !== undefined) this.announce({ address: p.srcAddr, port }, shard, p.tsNs);
    } else if (head === 'PORT ') {
      const e = hostPort(text.slice(5));
      if (e) this.announce(e, shard, p.tsNs);
    } else if (head === 'EPRT ') {
      const e = eprt(text.slice(5).trim());
      if (e) this.announce(e, shard, p.tsNs);
    }
  }

  private announce(e: Endpoint, shard: number, tsNs: bigint): void {
    const key = `${e.address}|${e.port}`;
    this.announced.delete(key);
    if (this.announced.size >= MAX_EXPECTED) this.announced.delete(this.announced.keys().next().value!);
    this.announced.set(key, { shard, expiresNs: tsNs + EXPECT_NS });
  }
}

/** A TCP connection's endpoints, the same text from either direction. */
function flowKey(p: L4Packet): string {
  const a = `${p.srcAddr}|${p.srcPort}`;
  const b = `${p.dstAddr}|${p.dstPort}`;
  return a < b ? `${a}|${b}` : `${b}|${a}`;
}
