/**
 * QUIC packet headers (RFC 9000 §17, RFC 8999 for the version-independent
 * parts): the long-header packets coalesced in one datagram, read without
 * copying. Only what the Initial phase needs is decoded; the rest of a
 * datagram (a short-header packet) is left alone.
 */

/** A variable-length integer (RFC 9000 §16) at `at`: its value and the offset after it, or undefined past `end`. */
export function readVarint(b: Buffer, at: number, end: number): { value: number; next: number } | undefined {
  if (at >= end) return undefined;
  const first = b[at]!;
  const len = 1 << (first >> 6);
  if (at + len > end) return undefined;
  let value = first & 0x3f;
  // 8-byte values above 2^53 lose precision; no length or offset this parser trusts comes near them
  for (let i = 1; i < len; i++) value = value * 256 + b[at + i]!;
  return { value, next: at + len };
}

export interface LongHeader {
  /** The type code (bits 4–5 of the first byte), before the version says what it means. */
  typeCode: number;
  version: number;
  dcid: Buffer;
  scid: Buffer;
  /** Where the type-specific part starts (an Initial's token length, a Retry's token, a Version Negotiation's list). */
  rest: number;
}

/**
 * The version-independent long header at `at` (RFC 8999 §5.1), or undefined
 * when the bytes cannot be one. Connection IDs are at most 20 bytes in the
 * versions read here, 255 in any version.
 */
export function readLongHeader(b: Buffer, at: number, end: number): LongHeader | undefined {
  if (end - at < 7 || (b[at]! & 0x80) === 0) return undefined;
  const version = b.readUInt32BE(at + 1);
  const dcidLen = b[at + 5]!;
  const scidAt = at + 6 + dcidLen;
  if (scidAt >= end) return undefined;
  const scidLen = b[scidAt]!;
  const rest = scidAt + 1 + scidLen;
  if (rest > end) return undefined;
  return { typeCode: (b[at]! >> 4) & 0x03, version, dcid: b.subarray(at + 6, at + 6 + dcidLen), scid: b.subarray(scidAt + 1, rest), rest };
}

/** The preferred_address transport parameter's id (RFC 9000 §18.2). */
const PREFERRED_ADDRESS = 0x0d;

/**
 * The connection ID of the server's preferred address (RFC 9000 §9.6,
 * §18.2: IPv4 address and port, IPv6 address and port, then the ID), from
 * its transport parameters; undefined when there is none or they do not
 * read. A client that moves to that address sends this ID there.
 */
export function preferredAddressCid(params: Buffer): Buffer | undefined {
  for (let at = 0; at < params.length; ) {
    const id = readVarint(params, at, params.length);
    if (!id) return undefined;
    const length = readVarint(params, id.next, params.length);
    if (!length || length.next + length.value > params.length) return undefined;
    if (id.value === PREFERRED_ADDRESS) {
      const cidAt = length.next + 4 + 2 + 16 + 2;
      const end = length.next + length.value;
      if (cidAt >= end) return undefined;
      const cidLength = params[cidAt]!;
      return cidAt + 1 + cidLength <= end ? params.subarray(cidAt + 1, cidAt + 1 + cidLength) : undefined;
    }
    at = length.next + length.value;
  }
  return undefined;
}
