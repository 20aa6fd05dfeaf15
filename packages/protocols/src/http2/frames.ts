/**
 * HTTP/2 framing (RFC 9113 §4 and §6): frame codes, flags, and the checks
 * that tell a plausible frame header from arbitrary bytes.
 */

export const FRAME_HEADER_LENGTH = 9;
export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
/** The largest frame the 24-bit length allows; also the bound on bytes buffered per direction. */
export const MAX_FRAME_LENGTH = (1 << 24) - 1;
export const DEFAULT_MAX_FRAME_SIZE = 16384;

export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
  ALTSVC: 0xa,
  ORIGIN: 0xc,
  PRIORITY_UPDATE: 0x10,
} as const;

export const Flag = {
  END_STREAM: 0x1,
  ACK: 0x1,
  END_HEADERS: 0x4,
  PADDED: 0x8,
  PRIORITY: 0x20,
} as const;

export const Setting = {
  HEADER_TABLE_SIZE: 0x1,
  ENABLE_PUSH: 0x2,
  MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
  MAX_HEADER_LIST_SIZE: 0x6,
  /** RFC 8441. */
  ENABLE_CONNECT_PROTOCOL: 0x8,
  /** RFC 9218. */
  NO_RFC7540_PRIORITIES: 0x9,
} as const;

/** Error codes (§7), for RST_STREAM and GOAWAY. */
export const ERROR_NAMES = [
  'NO_ERROR', 'PROTOCOL_ERROR', 'INTERNAL_ERROR', 'FLOW_CONTROL_ERROR', 'SETTINGS_TIMEOUT', 'STREAM_CLOSED',
  'FRAME_SIZE_ERROR', 'REFUSED_STREAM', 'CANCEL', 'COMPRESSION_ERROR', 'CONNECT_ERROR', 'ENHANCE_YOUR_CALM',
  'INADEQUATE_SECURITY', 'HTTP_1_1_REQUIRED',
];
export function errorName(code: number): string {
  return ERROR_NAMES[code] ?? `0x${code.toString(16)}`;
}

/** Flags each core frame type defines; others must be zero in what a real peer sends. */
const VALID_FLAGS = [0x09, 0x2d, 0x00, 0x00, 0x01, 0x0c, 0x01, 0x00, 0x00, 0x04];

export interface FrameHeader {
  length: number;
  type: number;
  flags: number;
  streamId: number;
}

export function readFrameHeader(buf: Buffer, off: number): FrameHeader {
  return {
    length: buf.readUIntBE(off, 3),
    type: buf[off + 3],
    flags: buf[off + 4],
    streamId: buf.readUInt32BE(off + 5) & 0x7fffffff,
  };
}

/**
 * Whether 9 bytes look like a frame header a real peer would send: a core
 * frame type, only its defined flags, reserved bit clear, stream id zero
 * exactly for connection frames, and the fixed payload sizes. Used to detect
 * HTTP/2 without the preface and to resynchronise after a gap.
 */
export function plausibleFrameHeader(buf: Buffer, off: number, maxFrameSize = DEFAULT_MAX_FRAME_SIZE): boolean {
  const length = buf.readUIntBE(off, 3);
  const type = buf[off + 3];
  const flags = buf[off + 4];
  if (buf[off + 5] & 0x80) return false;
  const streamId = buf.readUInt32BE(off + 5) & 0x7fffffff;
  if (type > FrameType.CONTINUATION) return false;
  if (length > maxFrameSize) return false;
  if (flags & ~VALID_FLAGS[type]) return false;
  const connectionFrame = type === FrameType.SETTINGS || type === FrameType.PING || type === FrameType.GOAWAY;
  if (connectionFrame !== (streamId === 0) && type !== FrameType.WINDOW_UPDATE) return false;
  switch (type) {
    case FrameType.PRIORITY:
      return length === 5;
    case FrameType.RST_STREAM:
    case FrameType.WINDOW_UPDATE:
      return length === 4;
    case FrameType.SETTINGS:
      return flags & Flag.ACK ? length === 0 : length % 6 === 0;
    case FrameType.PING:
      return length === 8;
    case FrameType.GOAWAY:
      return length >= 8;
    case FrameType.PUSH_PROMISE:
      return length >= 4;
    default:
      return true;
  }
}

/**
 * Number of chained plausible frame headers starting at `off` (stopping at
 * `want`); `exhausted` when the buffer ran out before an implausible header,
 * `boundary` when the last counted frame ends exactly at the buffer's end,
 * `end` where the last counted frame ends (past the buffer's end when the
 * buffer ran out inside it: the bytes a caller must wait for).
 */
export function chainedFrames(
  buf: Buffer,
  off: number,
  want: number,
  maxFrameSize = DEFAULT_MAX_FRAME_SIZE,
): { count: number; exhausted: boolean; boundary: boolean; end: number } {
  let count = 0;
  let pos = off;
  while (count < want) {
    if (pos === buf.length) return { count, exhausted: true, boundary: count > 0, end: pos };
    if (pos + FRAME_HEADER_LENGTH > buf.length) return { count, exhausted: true, boundary: false, end: pos };
    if (!plausibleFrameHeader(buf, pos, maxFrameSize)) return { count, exhausted: false, boundary: false, end: pos };
    count++;
    pos += FRAME_HEADER_LENGTH + buf.readUIntBE(pos, 3);
    if (pos > buf.length) return { count, exhausted: true, boundary: false, end: pos };
  }
  return { count, exhausted: false, boundary: pos === buf.length, end: pos };
}
