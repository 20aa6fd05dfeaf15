/**
 * A QUIC connection's Initial packets (RFC 9000, RFC 9001): decrypted with
 * the keys any observer derives from the client's first Destination
 * Connection ID, their CRYPTO frames joined per side into the TLS handshake
 * they carry, and one event once the ServerHello is read: server name
 * (SNI), versions, cipher suites, ALPN offered, the QUIC version and the
 * connection IDs. Handshake and 1-RTT packets are encrypted with keys the
 * wire does not show; they are passed over. Bytes kept are bounded.
 *
 * With a TLS key log that holds the connection's secrets (keyed by the
 * ClientHello's random, as for TLS), the Handshake packets are opened too
 * (the server's ALPN answer and certificate join the event, which then
 * waits for the server's Finished), and so are the 1-RTT packets (key
 * updates followed): their STREAM frames go to HTTP/3 when ALPN says h3.
 */
import { Dir, type CloseReason } from '@panopticon/flows';
import type { DatagramParser, ParserContext } from '../types.js';
import { alertName } from '../tls/constants.js';
import { handshakeRecord, tlsAttributes } from '../tls/attributes.js';
import { HandshakeType, parseClientHello, parseServerHello, type ClientHello, type ServerHello } from '../tls/handshake.js';
import { Frame, transportErrorName, versionName, versionParams, type VersionParams } from './constants.js';
import { initialKeys, openInitial, openPacket, secretKeys, type InitialKeys, type PacketKeys } from './initial.js';
import { preferredAddressCid, readLongHeader, readVarint } from './packets.js';
import { CLOSE_FLAG } from '../close-flags.js';
import { expandLabel, suiteParams, type SuiteParams } from '../tls/decrypt.js';
import { KeyLabel, KeyWait, type TlsKeyLog } from '../tls/keylog.js';
import { parseCertificate, parseEncryptedExtensions, type CertificateInfo } from '../tls/handshake.js';
import { Http3Connection } from '../http3/connection.js';
import { DoqConnection } from '../dns/doq.js';

/** CRYPTO bytes kept per side, joined and waiting: a ClientHello with post-quantum key shares is a few KB. */
const MAX_CRYPTO = 64 * 1024;
/** Initial packets read per side before the handshake is given up as unreadable. */
const MAX_INITIALS = 64;
/** Handshake messages over this length are damage (a ClientHello or ServerHello is far smaller). */
const MAX_MESSAGE = 32 * 1024;


/** One side's CRYPTO stream at the Initial level: joined by offset, read as TLS handshake messages. */
class Side {
  /** Stream offset up to which bytes were joined. */
  joined = 0;
  /** Joined bytes not yet a whole handshake message. */
  held: Buffer | null = null;
  /** Segments ahead of `joined`, by offset, copied (the datagram's buffer is not ours to keep). */
  ahead = new Map<number, Buffer>();
  aheadBytes = 0;
  largestPn = -1;
  initials = 0;
  bytes = 0;
  startNs: bigint | undefined;
}

/** Thrown inside a packet's frames: the packet is damage, the rest of the connection is still read. */
class FrameError extends Error {}

/** A packet number space's protection for one side: Handshake keys, or 1-RTT keys with their secret (key updates derive from it). */
interface SpaceKeys {
  keys: PacketKeys;
  secret: Buffer;
  /** 1-RTT: the Key Phase bit these keys answer to (RFC 9001 §6). */
  phase: number;
  largestPn: number;
}

/** ALPN values whose streams are HTTP/3 (RFC 9114, and the drafts' h3-NN). */
const isH3 = (alpn: string | undefined): boolean => alpn !== undefined && /^h3(-\d+)?$/.test(alpn);
/** What reads a connection's decrypted STREAM frames (RFC 9000 §19.4, §19.8): HTTP/3, DNS over QUIC. */
interface StreamReader {
  stream(dir: Dir, id: number, offset: number, data: Buffer, fin: boolean, tsNs: bigint): void;
  reset(dir: Dir, id: number, code: number, tsNs: bigint): void;
  close(reason: CloseReason, tsNs: bigint): void;
}

/** ALPN values whose streams are DNS over QUIC (RFC 9250 §4.1.1, and the drafts' doq-iNN). */
const isDoq = (alpn: string | undefined): boolean => alpn !== undefined && /^doq(-i\d+)?$/.test(alpn);

/**
 * Where the second of several datagrams sent as one (segmentation offload)
 * starts: the first offset past a minimal packet with a short header's
 * first bit and `dcid` after it, or a long header with `dcid`; 0 when
 * there is none. (The second bit may be greased, RFC 9287.)
 */
function segmentSize(pkt: Buffer, dcid: Buffer, version: number): number {
  for (let p = 21; p + 1 + dcid.length + 20 <= pkt.length; p++) {
    if ((pkt[p]! & 0x80) === 0 && pkt.compare(dcid, 0, dcid.length, p + 1, p + 1 + dcid.length) === 0) return p;
    if ((pkt[p]! & 0x80) !== 0 && pkt.readUInt32BE(p + 1) === version && pkt[p + 5] === dcid.length && pkt.compare(dcid, 0, dcid.length, p + 6, p + 6 + dcid.length) === 0) return p;
  }
  return 0;
}

/** Key log labels of each side's handshake and first application traffic secrets. */
const HANDSHAKE_LABEL = [KeyLabel.ClientHandshake, KeyLabel.ServerHandshake];
const TRAFFIC_LABEL = [KeyLabel.ClientTraffic, KeyLabel.ServerTraffic];

export class QuicParser implements DatagramParser {
  private readonly sides = [new Side(), new Side()];
  private params: VersionParams | undefined;
  private version = 0;
  private keys: { client: InitialKeys; server: InitialKeys } | undefined;
  private originalDcid: Buffer | undefined;
  private clientCid: Buffer | undefined;
  private serverCid: Buffer | undefined;
  private serverVersions: string[] | undefined;
  private client: ClientHello | undefined;
  private server: ServerHello | undefined;
  private alert: string | undefined;
  private error: string | undefined;
  private readonly flags = new Set<string>();
  /** Nothing more is read. */
  private done = false;
  /** The handshake's event was emitted (with keys, reading goes on). */
  private reported = false;
  /** The key log given (`--tls-keylog`, a Decryption Secrets Block), if any. */
  private readonly keylog: TlsKeyLog | undefined;
  private suite: SuiteParams | undefined;
  /** Handshake and 1-RTT protection per side, once the key log gave them. */
  private readonly handshakeKeys: Array<SpaceKeys | undefined> = [undefined, undefined];
  private readonly appKeys: Array<SpaceKeys | undefined> = [undefined, undefined];
  /** Per side, its 1-RTT packets held while the key log lacks its traffic secret. */
  private readonly appAwait: Array<KeyWait<{ pkt: Buffer; tsNs: bigint }> | undefined> = [undefined, undefined];
  /** The CRYPTO streams of the Handshake packet number space (their offsets start again at 0). */
  private readonly handshakeSides = [new Side(), new Side()];
  private decrypting = false;
  private serverAlpn: string | undefined;
  /** What the server's EncryptedExtensions said of the client's 0-RTT packets; undefined while not read. */
  private earlyAnswer: 'accepted' | 'rejected' | undefined;
  /** The client's 0-RTT packets, held until that answer is read (bounded as other held packets). */
  private readonly earlyHeld: KeyWait<{ pkt: Buffer; pnOffset: number; tsNs: bigint }>;
  /** Some were past the bounds and dropped: the rest of them is not read either. */
  private earlyCut = false;
  /** 0-RTT protection (RFC 9001 §5.1, client_early_traffic_secret), once the server took the data and the log has the secret. */
  private earlyKeys: SpaceKeys | undefined;
  private certificate: CertificateInfo | undefined;
  /** What reads the decrypted streams, as ALPN chose: HTTP/3 or DNS over QUIC. */
  private streams: StreamReader | undefined;
  /** Datagrams after the ServerHello held while the key log may still get the connection's secrets. */
  private waiting: KeyWait<{ dir: Dir; payload: Buffer; tsNs: bigint }> | undefined;

  constructor(private readonly ctx: ParserContext) {
    this.keylog = ctx.tlsKeys?.active ? ctx.tlsKeys : undefined;
    this.earlyHeld = new KeyWait(this.keylog);
  }

  datagram(dir: Dir, payload: Buffer, tsNs: bigint): void {
    if (this.done) return;
    if (this.waiting) return this.hold(dir, payload, tsNs);
    const side = this.sides[dir === Dir.ToServer ? 0 : 1]!;
    let at = 0;
    // coalesced long-header packets (RFC 9000 §12.2); a short header, or padding after the last packet, ends them
    while (!this.done && at < payload.length && (payload[at]! & 0x80) !== 0) {
      const h = readLongHeader(payload, at, payload.length);
      if (!h) return this.damage('quic.malformed');
      if (h.version === 0) return this.versionNegotiation(dir, payload, h.rest);
      const params = versionParams(h.version);
      if (!params) {
        this.ctx.count('quic.unknown_version_packets');
        return;
      }
      if (h.typeCode === params.types.retry) return this.retry(dir, params, h.scid);
      let p = h.rest;
      if (h.typeCode === params.types.initial) {
        const token = readVarint(payload, p, payload.length);
        if (!token || token.next + token.value > payload.length) return this.damage('quic.malformed');
        p = token.next + token.value;
      }
      const length = readVarint(payload, p, payload.length);
      if (!length || length.next + length.value > payload.length) return this.damage('quic.malformed');
      const end = length.next + length.value;
      if (h.typeCode === params.types.initial) {
        side.startNs ??= tsNs;
        side.bytes += end - at;
        this.initial(dir, params, h.version, h.dcid, h.scid, payload.subarray(at, end), length.next - at, tsNs);
        // the ServerHello just read, and the key log lacks the secrets yet: the rest of the datagram waits with what follows
        if (this.waiting) {
          if (end < payload.length) this.hold(dir, payload.subarray(end), tsNs);
          return;
        }
      } else if (h.typeCode === params.types.handshake && this.decrypting) {
        side.bytes += end - at;
        this.handshakePacket(dir, payload.subarray(at, end), length.next - at, tsNs);
      } else if (h.typeCode === params.types.zeroRtt) {
        side.bytes += end - at;
        this.zeroRtt(dir, payload.subarray(at, end), length.next - at, tsNs);
      }
      at = end;
    }
    // a short-header (1-RTT) packet takes the rest of the datagram (RFC 9000 §12.2)
    // (its second bit may be greased, RFC 9287: only the first says which header it is)
    if (this.decrypting && !this.done && at < payload.length) {
      side.bytes += payload.length - at;
      this.shortPacket(dir, payload.subarray(at), tsNs);
    }
  }

  private initial(dir: Dir, params: VersionParams, version: number, dcid: Buffer, scid: Buffer, pkt: Buffer, pnOffset: number, tsNs: bigint): void {
    if (dir === Dir.ToServer) {
      if (this.keys === undefined || version !== this.version) {
        // the client's first Initial, or its first in another version after a Version Negotiation
        if (this.keys !== undefined) this.restart();
        this.params = params;
        this.version = version;
        this.keys = initialKeys(params, dcid);
        this.originalDcid = Buffer.from(dcid);
        this.clientCid = Buffer.from(scid);
        // the IDs each side chose for itself: a packet to the other side on a new path carries one
        this.ctx.connectionId?.(this.clientCid, false);
      }
    } else {
      // a server's Initial is protected with the keys of the client's DCID; without them it cannot be read
      if (this.keys === undefined || version !== this.version) {
        this.ctx.count('quic.undecryptable_packets');
        return;
      }
      if (this.serverCid === undefined) {
        this.serverCid = Buffer.from(scid);
        this.ctx.connectionId?.(this.serverCid, true);
      }
    }
    const side = this.sides[dir === Dir.ToServer ? 0 : 1]!;
    if (++side.initials > MAX_INITIALS) return this.give('quic.unfinished_handshakes');
    const opened = openInitial(dir === Dir.ToServer ? this.keys.client : this.keys.server, pkt, pnOffset, side.largestPn);
    if (!opened) {
      this.ctx.count('quic.undecryptable_packets');
      return;
    }
    if (opened.packetNumber > side.largestPn) side.largestPn = opened.packetNumber;
    try {
      this.frames(side, opened.payload);
    } catch (e) {
      if (!(e instanceof FrameError)) throw e;
      this.ctx.count('quic.malformed');
      this.flags.add('malformed');
    }
    this.messages(dir, side, tsNs);
    // a CONNECTION_CLOSE in the clear ends the handshake (a TLS alert, a refusal): nothing more will be readable
    if (this.flags.has('connection_close')) this.finish(tsNs);
  }

  /**
   * The frames of a packet (RFC 9000 §19): CRYPTO kept, ACK, PING and
   * PADDING passed, CONNECTION_CLOSE read; in 1-RTT packets (`dir` given)
   * STREAM data goes to HTTP/3 and the other frames are passed over.
   */
  private frames(side: Side | undefined, f: Buffer, app?: { dir: Dir; tsNs: bigint }): void {
    let at = 0;
    const varint = (): number => {
      const v = readVarint(f, at, f.length);
      if (!v) throw new FrameError('frame runs past its packet');
      at = v.next;
      return v.value;
    };
    while (at < f.length) {
      const type = varint();
      switch (type) {
        case Frame.Padding:
          while (at < f.length && f[at] === 0) at++;
          break;
        case Frame.Ping:
          break;
        case Frame.Ack:
        case Frame.AckEcn: {
          varint(); // largest acknowledged
          varint(); // delay
          const ranges = varint();
          varint(); // first range
          for (let i = 0; i < ranges; i++) {
            varint(); // gap
            varint(); // range length
          }
          if (type === Frame.AckEcn) for (let i = 0; i < 3; i++) varint();
          break;
        }
        case Frame.Crypto: {
          const offset = varint();
          const length = varint();
          if (at + length > f.length) throw new FrameError('CRYPTO data runs past its packet');
          // in 1-RTT packets (no side given): NewSessionTicket and the like, not read
          if (side) this.crypto(side, offset, f.subarray(at, at + length));
          at += length;
          break;
        }
        case Frame.ConnectionClose: {
          const code = varint();
          varint(); // the frame type that caused it
          const reason = varint();
          if (at + reason > f.length) throw new FrameError('reason phrase runs past its packet');
          at += reason;
          // 0x0100–0x01ff: a TLS alert the handshake raised (RFC 9001 §4.8)
          if (code >= 0x100 && code <= 0x1ff) this.alert = alertName(code - 0x100);
          else this.error = transportErrorName(code);
          this.flags.add('connection_close');
          break;
        }
        default:
          // no other frame may be in an Initial or Handshake packet (RFC 9000 §12.4)
          if (!app) throw new FrameError(`frame type 0x${type.toString(16)} in an Initial or Handshake packet`);
          at = this.appFrame(type, f, at, app.dir, app.tsNs);
      }
    }
  }

  /** A frame only 1-RTT packets carry, at `at` after its type; returns where the next frame starts. */
  private appFrame(type: number, f: Buffer, start: number, dir: Dir, tsNs: bigint): number {
    let at = start;
    const varint = (): number => {
      const v = readVarint(f, at, f.length);
      if (!v) throw new FrameError('frame runs past its packet');
      at = v.next;
      return v.value;
    };
    const skip = (n: number): void => {
      if (at + n > f.length) throw new FrameError('frame runs past its packet');
      at += n;
    };
    if (type >= 0x08 && type <= 0x0f) {
      // STREAM: OFF, LEN and FIN bits (§19.8)
      const id = varint();
      const offset = type & 0x04 ? varint() : 0;
      const length = type & 0x02 ? varint() : f.length - at;
      skip(length);
      this.streamData(dir, id, offset, f.subarray(at - length, at), (type & 0x01) !== 0, tsNs);
      return at;
    }
    switch (type) {
      case 0x04: { // RESET_STREAM
        const id = varint();
        const code = varint();
        varint(); // final size
        this.streams?.reset(dir, id, code, tsNs);
        return at;
      }
      case 0x05: // STOP_SENDING
      case 0x11: // MAX_STREAM_DATA
      case 0x15: // STREAM_DATA_BLOCKED
        varint();
        varint();
        return at;
      case 0x07: // NEW_TOKEN
        skip(varint());
        return at;
      case 0x10: // MAX_DATA
      case 0x12: // MAX_STREAMS (bidi)
      case 0x13: // MAX_STREAMS (uni)
      case 0x14: // DATA_BLOCKED
      case 0x16: // STREAMS_BLOCKED (bidi)
      case 0x17: // STREAMS_BLOCKED (uni)
      case 0x19: // RETIRE_CONNECTION_ID
        varint();
        return at;
      case 0x18: { // NEW_CONNECTION_ID: sequence, retire prior to, length, id, reset token
        varint();
        varint();
        skip(1);
        const len = f[at - 1]!;
        if (len < 1 || len > 20) throw new FrameError('NEW_CONNECTION_ID length out of range');
        skip(len + 16);
        // an ID its sender will take packets on, after a migration (RFC 9000 §5.1.1, §9.5)
        this.ctx.connectionId?.(f.subarray(at - 16 - len, at - 16), dir === Dir.ToClient);
        return at;
      }
      case 0x1a: // PATH_CHALLENGE
      case 0x1b: // PATH_RESPONSE
        skip(8);
        return at;
      case 0x1d: { // CONNECTION_CLOSE of the application (HTTP/3's H3_* codes)
        const code = varint();
        skip(varint());
        if (code !== 0x100) this.error ??= `0x${code.toString(16)}`; // H3_NO_ERROR is a clean close
        this.flags.add('connection_close');
        return at;
      }
      case 0x1e: // HANDSHAKE_DONE
        return at;
      case 0x30: // DATAGRAM to the packet's end
        return f.length;
      case 0x31: // DATAGRAM with its length
        skip(varint());
        return at;
      default:
        throw new FrameError(`frame type 0x${type.toString(16)} unknown`);
    }
  }

  /** STREAM data of a 1-RTT packet: HTTP/3's or DNS's when ALPN chose them, else counted. */
  private streamData(dir: Dir, id: number, offset: number, data: Buffer, fin: boolean, tsNs: bigint): void {
    if (!this.streams) {
      const alpn = this.server?.alpn ?? this.serverAlpn;
      const Reader = isH3(alpn) ? Http3Connection : isDoq(alpn) ? DoqConnection : undefined;
      if (!Reader) return void this.ctx.count('quic.stream_bytes_not_read', data.length);
      const version = '1.3';
      const cipher = this.server!.cipher;
      // each record read from the streams is marked with the TLS they were decrypted from
      this.streams = new Reader(this.ctx, (r) => {
        r.attributes = { ...r.attributes, tls: { protocol: { name: 'tls', version }, cipher, established: true, decrypted: true } };
      });
    }
    this.streams.stream(dir, id, offset, data, fin, tsNs);
  }

  /** Handshake keys from the key log, once the ServerHello named the suite; false when the log does not have them. */
  /**
   * Handshake keys from the key log, once the ServerHello named the suite:
   * `started`, `waiting` (the log may still get them: a followed file is
   * written as the client's handshake goes on), or `never` (no log, a
   * suite not opened here).
   */
  private startDecrypting(): 'started' | 'waiting' | 'never' {
    const c = this.client;
    const s = this.server;
    const suite = s && suiteParams(s.cipherCode);
    // QUIC never uses TLS_AES_128_CCM_8_SHA256 (RFC 9001 §5.3): its 8-byte tag has no packet format here
    if (!this.keylog || !c || !s || !suite?.tls13 || suite.tagLength !== 16) {
      if (this.keylog && s) {
        this.ctx.count('quic.cipher_not_decrypted');
        this.flags.add('cipher_not_decrypted');
      }
      return 'never';
    }
    const secrets = HANDSHAKE_LABEL.map((l) => this.keylog!.get(c.random, l));
    if (!secrets[0] || !secrets[1]) return 'waiting';
    this.suite = suite;
    secrets.forEach((secret, i) => (this.handshakeKeys[i] = this.space(secret!)));
    this.decrypting = true;
    this.ctx.count('quic.decrypted_connections');
    return 'started';
  }

  /**
   * A datagram after the ServerHello while the key log lacks the
   * connection's secrets: held (bounded) and tried again with each one;
   * replayed in order once the secrets come, else the handshake is
   * reported as without a key log, flagged keys_missing.
   */
  private hold(dir: Dir, payload: Buffer, tsNs: bigint): void {
    // bounded per connection, over all connections (the key log's budget) and in capture time
    if (!this.waiting!.add({ dir, payload: Buffer.from(payload), tsNs }, payload.length)) return this.keysMissing(tsNs);
    const now = this.startDecrypting();
    if (now === 'started') {
      const held = this.waiting!.take();
      this.waiting = undefined;
      for (const d of held) this.datagram(d.dir, d.payload, d.tsNs);
    } else if (now === 'never') this.keysMissing(tsNs);
  }

  /** Held datagrams let go, their bytes back in the key log's shared budget. */
  private dropWaiting(): void {
    this.waiting?.take();
    this.waiting = undefined;
  }

  private keysMissing(tsNs: bigint | undefined): void {
    this.dropWaiting();
    this.ctx.count('quic.keys_missing');
    this.flags.add('keys_missing');
    this.finish(tsNs);
  }

  /** A packet number space's protection from one of the key log's secrets. */
  private space(secret: Buffer): SpaceKeys {
    return { keys: secretKeys(this.params!, this.suite!, secret), secret, phase: 0, largestPn: -1 };
  }

  /** A Handshake packet (RFC 9000 §17.2.4): its CRYPTO frames carry the rest of the TLS handshake. */
  private handshakePacket(dir: Dir, pkt: Buffer, pnOffset: number, tsNs: bigint): void {
    const i = dir === Dir.ToServer ? 0 : 1;
    const k = this.handshakeKeys[i]!;
    const opened = openPacket(k.keys, pkt, pnOffset, k.largestPn, true);
    if (!opened) return void this.ctx.count('quic.undecryptable_packets');
    if (opened.packetNumber > k.largestPn) k.largestPn = opened.packetNumber;
    this.ctx.count('quic.decrypted_packets');
    const side = this.handshakeSides[i]!;
    try {
      this.frames(side, opened.payload);
    } catch (e) {
      if (!(e instanceof FrameError)) throw e;
      this.ctx.count('quic.malformed');
    }
    this.handshakeMessages(dir, side, tsNs);
  }

  /** The encrypted handshake's messages: EncryptedExtensions (ALPN), Certificate, and each side's Finished (its 1-RTT keys follow). */
  private handshakeMessages(dir: Dir, side: Side, tsNs: bigint): void {
    let buf = side.held;
    while (buf !== null && buf.length >= 4 && !this.done) {
      const type = buf[0]!;
      const length = buf.readUIntBE(1, 3);
      if (length > MAX_CRYPTO) return this.damage('quic.malformed');
      if (buf.length < 4 + length) break;
      try {
        if (dir === Dir.ToClient && type === HandshakeType.EncryptedExtensions) {
          const ee = parseEncryptedExtensions(buf, 4, 4 + length);
          this.serverAlpn = ee.alpn;
          // a server that asks to be reached at another address: the client's packets there carry this ID (RFC 9000 §9.6)
          const preferred = ee.quicParameters && preferredAddressCid(ee.quicParameters);
          if (preferred) this.ctx.connectionId?.(preferred, true);
          this.settleEarly(ee.earlyData ? 'accepted' : 'rejected');
        }
        else if (dir === Dir.ToClient && type === HandshakeType.Certificate) this.certificate = parseCertificate(buf, 4, 4 + length, true);
        else if (type === HandshakeType.Finished) this.sideFinished(dir, tsNs);
      } catch (e) {
        if (!(e instanceof RangeError)) throw e;
        this.ctx.count('quic.malformed');
        this.flags.add('malformed');
      }
      buf = buf.length === 4 + length ? null : buf.subarray(4 + length);
    }
    side.held = buf;
  }

  /**
   * A 0-RTT packet (RFC 9000 §17.2.3): the client's first application data,
   * under its early secret. With a key log it waits for the server's
   * EncryptedExtensions: taken, it is opened and its STREAM frames read as
   * 1-RTT ones are (the two share a packet number space and streams);
   * refused, it is counted, as every 0-RTT packet is without keys.
   */
  private zeroRtt(dir: Dir, pkt: Buffer, pnOffset: number, tsNs: bigint): void {
    if (dir !== Dir.ToServer || !this.keylog || !this.client?.earlyData) return void this.ctx.count('quic.early_data_packets');
    if (this.earlyKeys) return this.openEarly(pkt, pnOffset, tsNs);
    if (this.earlyAnswer !== undefined || this.earlyCut) return void this.ctx.count('quic.early_data_packets');
    if (this.earlyHeld.add({ pkt: Buffer.from(pkt), pnOffset, tsNs }, pkt.length)) return;
    this.ctx.count('quic.early_data_packets', this.earlyHeld.take().length + 1);
    this.earlyCut = true;
  }

  /** The server's answer to 0-RTT, from its EncryptedExtensions: the held packets opened (taken, secret logged) or counted. */
  private settleEarly(answer: 'accepted' | 'rejected'): void {
    this.earlyAnswer = answer;
    if (answer === 'accepted' && this.client?.earlyData && !this.earlyCut) {
      const secret = this.keylog!.get(this.client.random, KeyLabel.ClientEarly);
      if (secret) this.earlyKeys = this.space(secret);
      else {
        // what the client sent first is not read: HTTP/3 finds its streams' starts missing
        this.ctx.count('quic.keys_missing');
        this.flags.add('keys_missing');
      }
    }
    for (const h of this.earlyHeld.take()) {
      if (this.earlyKeys && !this.done) this.openEarly(h.pkt, h.pnOffset, h.tsNs);
      else this.ctx.count('quic.early_data_packets');
    }
  }

  /** 0-RTT packets still held when reading ends (no answer will be read): counted, let go. */
  private giveUpEarly(): void {
    const held = this.earlyHeld.take().length;
    if (held) this.ctx.count('quic.early_data_packets', held);
  }

  /** One 0-RTT packet opened with the early keys; its frames read as a 1-RTT packet's. */
  private openEarly(pkt: Buffer, pnOffset: number, tsNs: bigint): void {
    const k = this.earlyKeys!;
    const opened = openPacket(k.keys, pkt, pnOffset, k.largestPn, true);
    if (!opened) return void this.ctx.count('quic.undecryptable_packets');
    if (opened.packetNumber > k.largestPn) k.largestPn = opened.packetNumber;
    this.ctx.count('quic.decrypted_packets');
    this.ctx.count('quic.early_data_decrypted');
    try {
      this.frames(undefined, opened.payload, { dir: Dir.ToServer, tsNs });
    } catch (e) {
      if (!(e instanceof FrameError)) throw e;
      this.ctx.count('quic.malformed');
    }
  }

  /** A side's Finished: its 1-RTT packets are under its first traffic secret; the server's ends what the event waits for. */
  private sideFinished(dir: Dir, tsNs: bigint): void {
    const i = dir === Dir.ToServer ? 0 : 1;
    const secret = this.keylog!.get(this.client!.random, TRAFFIC_LABEL[i]!);
    if (secret) this.appKeys[i] = this.space(secret);
    // not logged yet (a client logs each secret as its handshake reaches it): the side's 1-RTT packets wait for it
    else this.appAwait[i] = new KeyWait(this.keylog);
    // the handshake's event, unless the server's secret is awaited: then when it comes or is given up
    if (dir === Dir.ToClient && secret) this.finish(tsNs);
  }

  /** A 1-RTT packet of a side waiting for its traffic secret: held, bounded as datagrams before the first keys are. */
  private holdShort(dir: Dir, pkt: Buffer, tsNs: bigint): void {
    const i = dir === Dir.ToServer ? 0 : 1;
    const a = this.appAwait[i]!;
    if (!a.add({ pkt: Buffer.from(pkt), tsNs }, pkt.length)) {
      this.dropAwait(i);
      this.ctx.count('quic.keys_missing');
      this.flags.add('keys_missing');
      if (dir === Dir.ToClient) this.finish(tsNs);
      return;
    }
    const secret = this.keylog!.get(this.client!.random, TRAFFIC_LABEL[i]!);
    if (!secret) return;
    this.appKeys[i] = this.space(secret);
    const held = a.take();
    this.appAwait[i] = undefined;
    if (dir === Dir.ToClient) this.finish(held[0]!.tsNs);
    for (const h of held) this.shortPacket(dir, h.pkt, h.tsNs);
  }

  private dropAwait(i: number): void {
    this.appAwait[i]?.take();
    this.appAwait[i] = undefined;
  }

  /**
   * A 1-RTT packet (RFC 9000 §17.3) to the datagram's end. A sender using
   * UDP segmentation offload hands the kernel several datagrams at once,
   * and a capture on loopback or at TC sees them as one: when the whole
   * does not open, it is cut where the next packet with the same
   * Destination Connection ID starts, every segment but the last as long
   * as the first.
   */
  private shortPacket(dir: Dir, pkt: Buffer, tsNs: bigint): void {
    const i = dir === Dir.ToServer ? 0 : 1;
    if (!this.appKeys[i]) {
      if (this.appAwait[i]) return this.holdShort(dir, pkt, tsNs);
      return void this.ctx.count('quic.undecryptable_packets');
    }
    // the Destination Connection ID is one the peer issued, of the length it chose (RFC 9000 §17.3.1); the
    // packets of one offloaded send share it, whichever of the peer's IDs it is now
    const dcidLength = (dir === Dir.ToServer ? this.serverCid : this.clientCid)?.length ?? 0;
    if (this.openShort(dir, pkt, dcidLength, tsNs)) return;
    const dcid = pkt.subarray(1, 1 + dcidLength);
    let size = dcid.length > 0 ? segmentSize(pkt, dcid, this.version) : 0;
    if (size === 0) return void this.ctx.count('quic.undecryptable_packets');
    this.ctx.count('quic.segmented_datagrams');
    // the first segment may be shorter (long-header packets came before this one in it): each boundary is found anew
    for (let rest = pkt; rest.length > 0; rest = rest.subarray(size), size = segmentSize(rest, dcid, this.version) || rest.length) {
      const seg = rest.subarray(0, size);
      // a segment may open with long-header packets of its own (a Handshake before 1-RTT data)
      if ((seg[0]! & 0x80) !== 0) this.datagram(dir, seg, tsNs);
      else if (!this.openShort(dir, seg, dcid.length, tsNs)) this.ctx.count('quic.undecryptable_packets');
    }
  }

  /** Opens one 1-RTT packet with the side's keys, or the next generation's when its Key Phase flipped; false when neither opens it. */
  private openShort(dir: Dir, pkt: Buffer, dcidLength: number, tsNs: bigint): boolean {
    const k = this.appKeys[dir === Dir.ToServer ? 0 : 1]!;
    const kp = { bit: 0 };
    let opened = openPacket(k.keys, pkt, 1 + dcidLength, k.largestPn, false, kp);
    if (!opened && kp.bit !== k.phase) {
      // a key update (RFC 9001 §6): the next secret, the same header protection key
      const s = this.suite!;
      const secret = expandLabel(k.secret, this.params!.labels.ku, s.hash === 'sha384' ? 48 : 32, s.hash);
      const keys = { ...secretKeys(this.params!, s, secret), hp: k.keys.hp, ecb: k.keys.ecb };
      opened = openPacket(keys, pkt, 1 + dcidLength, k.largestPn, false, kp);
      if (opened) {
        k.keys = keys;
        k.secret = secret;
        k.phase = kp.bit;
        this.ctx.count('quic.key_updates');
      }
    }
    if (!opened) return false;
    if (opened.packetNumber > k.largestPn) k.largestPn = opened.packetNumber;
    this.ctx.count('quic.decrypted_packets');
    try {
      this.frames(undefined, opened.payload, { dir, tsNs });
    } catch (e) {
      if (!(e instanceof FrameError)) throw e;
      this.ctx.count('quic.malformed');
    }
    return true;
  }

  /** CRYPTO data at `offset`: joined when it meets what came before, else kept (bounded) until it does. */
  private crypto(side: Side, offset: number, data: Buffer): void {
    const end = offset + data.length;
    if (end <= side.joined) return; // a retransmission of bytes already joined
    if (offset > side.joined) {
      if (side.ahead.has(offset) || data.length === 0) return;
      if (side.aheadBytes + data.length > MAX_CRYPTO) return this.give('quic.crypto_overflows');
      side.ahead.set(offset, Buffer.from(data));
      side.aheadBytes += data.length;
      return;
    }
    this.join(side, data.subarray(side.joined - offset));
    // segments that now meet the joined bytes
    for (let moved = true; moved && side.ahead.size > 0; ) {
      moved = false;
      for (const [o, d] of side.ahead) {
        if (o > side.joined) continue;
        side.ahead.delete(o);
        side.aheadBytes -= d.length;
        if (o + d.length > side.joined) this.join(side, d.subarray(side.joined - o));
        moved = true;
      }
    }
  }

  private join(side: Side, data: Buffer): void {
    side.joined += data.length;
    side.held = side.held ? Buffer.concat([side.held, data]) : Buffer.from(data);
    if (side.held.length > MAX_CRYPTO) this.give('quic.crypto_overflows');
  }

  /** Whole handshake messages of the joined bytes: the hellos are read; the ServerHello ends what can be read. */
  private messages(dir: Dir, side: Side, tsNs: bigint): void {
    let buf = side.held;
    while (!this.done && buf !== null && buf.length >= 4) {
      const type = buf[0]!;
      const length = buf.readUIntBE(1, 3);
      if (length > MAX_MESSAGE) return this.damage('quic.malformed');
      if (buf.length < 4 + length) break;
      try {
        if (dir === Dir.ToServer && type === HandshakeType.ClientHello) this.client = parseClientHello(buf, 4, 4 + length, 'q');
        else if (dir === Dir.ToClient && type === HandshakeType.ServerHello) {
          const hello = parseServerHello(buf, 4, 4 + length);
          if (hello.retry) this.flags.add('hello_retry');
          else this.server = hello;
        }
      } catch (e) {
        if (!(e instanceof RangeError)) throw e;
        return this.damage('quic.malformed');
      }
      buf = buf.length === 4 + length ? null : buf.subarray(4 + length);
      // the rest of the server's handshake is in Handshake packets, under keys the wire does not show
      // (unless a key log has them: the event then waits for the server's Finished)
      if (this.server) {
        if (this.decrypting) break;
        const start = this.startDecrypting();
        if (start === 'waiting') this.waiting = new KeyWait(this.keylog);
        if (start === 'never') return this.finish(tsNs);
        break;
      }
    }
    side.held = buf;
  }

  /** A Version Negotiation packet (RFC 9000 §17.2.1): the versions the server speaks; the client may start again in one. */
  private versionNegotiation(dir: Dir, b: Buffer, at: number): void {
    if (dir !== Dir.ToClient) return this.damage('quic.malformed');
    const versions: string[] = [];
    for (; at + 4 <= b.length && versions.length < 64; at += 4) versions.push(versionName(b.readUInt32BE(at)));
    this.serverVersions = versions;
    this.flags.add('version_negotiation');
  }

  /** A Retry (RFC 9000 §17.2.5): the client starts again toward the Retry's Source Connection ID, whose keys protect what follows. */
  private retry(dir: Dir, params: VersionParams, scid: Buffer): void {
    if (dir !== Dir.ToClient || this.keys === undefined) return;
    this.flags.add('retry');
    this.keys = initialKeys(params, scid);
  }

  /** Another version after a Version Negotiation: the handshake read so far was for a connection that never was. */
  private restart(): void {
    for (let i = 0; i < 2; i++) this.sides[i] = Object.assign(new Side(), { startNs: this.sides[i]!.startNs, bytes: this.sides[i]!.bytes });
    this.client = undefined;
    this.server = undefined;
    this.serverCid = undefined;
  }

  private damage(counter: string): void {
    this.ctx.count(counter);
    this.flags.add('malformed');
    this.finish(undefined);
    this.done = true;
  }

  /** Stop reading: what was read is reported. */
  private give(counter: string): void {
    this.ctx.count(counter);
    this.flags.add('incomplete');
    this.finish(undefined);
    this.done = true;
  }

  close(reason: CloseReason, tsNs: bigint): void {
    this.giveUpEarly();
    // a side's traffic secret never came: its handshake was whole, and its event comes before the streams' last ones
    let awaited = false;
    for (const i of [0, 1]) {
      if (!this.appAwait[i]) continue;
      awaited = true;
      this.dropAwait(i);
      this.ctx.count('quic.keys_missing');
      this.flags.add('keys_missing');
    }
    if (awaited) this.finish(tsNs);
    this.streams?.close(reason, tsNs);
    this.streams = undefined;
    if (this.done) return;
    if (this.waiting) this.keysMissing(tsNs);
    if (!this.reported) this.flags.add(CLOSE_FLAG[reason]);
    this.finish(tsNs);
    this.done = true;
  }

  /** One event for the connection's handshake, once; without keys to read on, nothing more is read. */
  private finish(tsNs: bigint | undefined): void {
    if (this.reported) return;
    this.reported = true;
    if (!this.decrypting) {
      this.done = true;
      this.giveUpEarly();
    }
    for (const s of this.sides) {
      s.held = null;
      s.ahead.clear();
    }
    const c = this.client;
    const s = this.server;
    if (!c && !s) {
      this.ctx.count('quic.unread_handshakes');
      return;
    }
    const server = s && this.serverAlpn !== undefined && s.alpn === undefined ? { ...s, alpn: this.serverAlpn } : s;
    const earlyAnswer = c?.earlyData ? this.earlyAnswer : undefined;
    const seen = { client: c, server, certificate: this.certificate, alert: this.alert, malformed: this.flags.has('malformed'), earlyAnswer };
    const tls = tlsAttributes(seen);
    if (this.decrypting) tls.decrypted = true;
    if (this.error !== undefined && this.error !== 'NO_ERROR') tls.established = false;
    const quic: Record<string, unknown> = {};
    if (this.originalDcid) quic.original_destination_connection_id = this.originalDcid.toString('hex');
    if (this.clientCid) quic.client_connection_id = this.clientCid.toString('hex');
    if (this.serverCid) quic.server_connection_id = this.serverCid.toString('hex');
    if (this.serverVersions) quic.server_versions = this.serverVersions;
    const attributes: Record<string, unknown> = { tls, quic, network: { protocol: { name: 'quic', version: this.params!.name } } };
    const error = this.alert ?? (this.error !== 'NO_ERROR' ? this.error : undefined);
    if (error !== undefined) attributes.error = { type: error };
    this.ctx.count('quic.handshakes');
    this.ctx.emit(handshakeRecord(seen, this.sides[0]!, this.sides[1]!, tsNs, this.flags, attributes));
  }
}
