/**
 * HTTP/2 (and gRPC on it) over cleartext TCP or TLS plaintext. Detected by
 * the client connection preface, or, when the capture joined a connection
 * late, by a run of plausible frame headers.
 */
import type { Dir } from '@panopticon/flows';
import type { Detection, ProtocolModule } from '../types.js';
import { DEFAULT_MAX_FRAME_SIZE, FRAME_HEADER_LENGTH, Flag, FrameType, MAX_FRAME_LENGTH, PREFACE, Setting, chainedFrames } from './frames.js';
import { Http2Parser } from './parser.js';

/** Frames that must chain before bytes without a preface are called HTTP/2. */
const DETECT_FRAMES = 3;

export function detectHttp2(head: Buffer, _dir: Dir): Detection {
  const n = Math.min(head.length, PREFACE.length);
  if (PREFACE.compare(head, 0, n, 0, n) === 0) return n === PREFACE.length ? { sender: 'client' } : 'more';
  if (head.length < FRAME_HEADER_LENGTH) return 'more';
  const c = chainedFrames(head, 0, DETECT_FRAMES);
  if (c.count === 0) return null;
  if (c.count < DETECT_FRAMES) {
    if (!c.exhausted) return null;
    // Two whole frames filling what the side sent so far (a short mid-stream capture) are enough.
    if (!(c.count >= 2 && c.boundary)) return serverPreface(head) ? { sender: 'server', confidence: 0.7 } : 'more';
  }
  return { sender: senderHint(head), confidence: 0.7 };
}

/** Largest SETTINGS frame taken for a server preface: every identifier defined so far, twice over. */
const MAX_PREFACE_SETTINGS = 16;

/**
 * Whether the side's bytes open with a whole server connection preface (RFC
 * 9113 §3.4): a SETTINGS frame, not an ACK, on stream 0, each identifier one
 * the RFCs define with a value it allows. Servers that write it on accept,
 * before reading the client's preface (nghttpd, Go's net/http), send it alone
 * in the connection's first segment; waiting for more frames there gave the
 * connection to a later module whose check those bytes pass (a SETTINGS frame
 * reads as a Kafka Produce request: size 0x000604, api key 0, version 0),
 * with the roles swapped.
 */
function serverPreface(head: Buffer): boolean {
  if (head[3] !== FrameType.SETTINGS || head[4] !== 0 || head.readUInt32BE(5) !== 0) return false;
  const length = head.readUIntBE(0, 3);
  if (length % 6 !== 0 || length > MAX_PREFACE_SETTINGS * 6 || FRAME_HEADER_LENGTH + length > head.length) return false;
  for (let p = FRAME_HEADER_LENGTH; p < FRAME_HEADER_LENGTH + length; p += 6) {
    const value = head.readUInt32BE(p + 2);
    switch (head.readUInt16BE(p)) {
      case Setting.HEADER_TABLE_SIZE:
      case Setting.MAX_CONCURRENT_STREAMS:
      case Setting.MAX_HEADER_LIST_SIZE:
        break;
      case Setting.ENABLE_PUSH:
      case Setting.ENABLE_CONNECT_PROTOCOL:
      case Setting.NO_RFC7540_PRIORITIES:
        if (value > 1) return false;
        break;
      case Setting.INITIAL_WINDOW_SIZE:
        if (value > 0x7fffffff) return false;
        break;
      case Setting.MAX_FRAME_SIZE:
        if (value < DEFAULT_MAX_FRAME_SIZE || value > MAX_FRAME_LENGTH) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

/**
 * Who sent frames seen without the preface: a server preface, and
 * PUSH_PROMISE, only come from servers; the first field of a HEADERS block is usually a static-table
 * pseudo-header (`:method`/`:path`/`:scheme` from clients, `:status` from servers).
 */
function senderHint(head: Buffer): 'client' | 'server' | 'unknown' {
  // A side that opens with a server preface (nginx writes it with a WINDOW_UPDATE, before reading): a client
  // opens with the magic, and mid-connection a first-seen SETTINGS that is no ACK is rare from either side.
  if (serverPreface(head)) return 'server';
  let pos = 0;
  while (pos + FRAME_HEADER_LENGTH <= head.length) {
    const length = head.readUIntBE(pos, 3);
    const type = head[pos + 3];
    const flags = head[pos + 4];
    if (type === FrameType.PUSH_PROMISE) return 'server';
    if (type === FrameType.HEADERS) {
      let p = pos + FRAME_HEADER_LENGTH;
      if (flags & Flag.PADDED) p++;
      if (flags & Flag.PRIORITY) p += 5;
      const end = Math.min(head.length, pos + FRAME_HEADER_LENGTH + length);
      // a block may open with up to two dynamic table size updates (RFC 7541 §4.2), each a 5-bit
      // prefix integer that takes continuation bytes from 31 on (§5.1: 4096 is 3f e1 1f)
      for (let updates = 0; updates < 2 && p < end && (head[p] & 0xe0) === 0x20; updates++) {
        if ((head[p++] & 0x1f) === 0x1f) while (p < end && head[p++] & 0x80);
      }
      if (p < end) {
        const b = head[p];
        const index = b & 0x80 ? b & 0x7f : (b & 0xc0) === 0x40 ? b & 0x3f : b & 0x0f;
        if (index >= 2 && index <= 7) return 'client';
        if (index >= 8 && index <= 14) return 'server';
      }
    }
    pos += FRAME_HEADER_LENGTH + length;
  }
  return 'unknown';
}

export const http2Module: ProtocolModule = {
  name: 'http2',
  transport: 'tcp',
  // gRPC's conventional port (grpc.io's examples, grpcurl): a hint for roles when no SYN and no
  // head says them (a call joined mid-stream), where the lower port would often be the client's.
  // HTTP/2's own ports are TLS (443) or shared with HTTP/1.1's list.
  ports: [50051],
  detect: detectHttp2,
  createStream: (ctx, init) => new Http2Parser(ctx, init),
};
