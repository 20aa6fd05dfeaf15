/**
 * gRPC-Web (grpc/doc/PROTOCOL-WEB.md) on top of the gRPC framing: the
 * content types that select it, the base64 text encoding of the -text
 * variants, and the trailer frame's `name: value\r\n` block.
 */
import { isUtf8 } from 'node:buffer';
import { setOwn } from '@panopticon/events';

/** How one side's body is framed. */
export const GrpcWire = {
  /** application/grpc: length-prefixed messages; status in HTTP/2 trailers. */
  NATIVE: 0,
  /** application/grpc-web: the same frames, and a last frame with flag 0x80 holding the trailers. */
  WEB: 1,
  /** application/grpc-web-text: the WEB stream, base64-encoded. */
  WEB_TEXT: 2,
} as const;
export type GrpcWire = (typeof GrpcWire)[keyof typeof GrpcWire];

/**
 * The wire format a content-type names, or undefined for one that is not gRPC.
 * `+proto`, `+json`, ... and parameters may follow the type; the -text
 * encoding may also be named `application/grpc-web-text-base64` (the spec's
 * "text encoding may be specified").
 */
export function grpcWire(ct: string | undefined): GrpcWire | undefined {
  if (ct === undefined) return undefined;
  // the usual value, asked of both sides of every call: no regex for it
  if (ct === 'application/grpc') return GrpcWire.NATIVE;
  const m = /^\s*application\/grpc(-web(-text(?:-base64)?)?)?(?:[+;\s]|$)/i.exec(ct);
  if (!m) return undefined;
  return m[2] ? GrpcWire.WEB_TEXT : m[1] ? GrpcWire.WEB : GrpcWire.NATIVE;
}

/** Base64 value of each byte, -1 for bytes that are not in the alphabet (both alphabets: + / and - _). */
const B64 = new Int8Array(256).fill(-1);
for (let i = 0; i < 64; i++) B64['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.charCodeAt(i)] = i;
B64[0x2d] = 62; // -
B64[0x5f] = 63; // _
const PAD = 0x3d; // =

/**
 * Incremental base64 decoder for grpc-web-text bodies. A server base64-encodes
 * each flush on its own, so the body is several padded base64 texts end to end
 * (`AAAAAAUK...==AAAA...`), cut anywhere by the transport: padding ends a
 * quantum, and decoding goes on with a fresh one. Line breaks and spaces are
 * skipped. One output buffer per pushed chunk, none per byte.
 */
export class Base64Stream {
  /** Bits of the quantum being read, and how many characters it has (0-3). */
  private acc = 0;
  private have = 0;
  /** A byte outside the alphabet, or a lone character before padding: the rest is not trusted. */
  invalid = false;

  decode(text: Buffer): Buffer {
    const out = Buffer.allocUnsafe(Math.floor(((this.have + text.length) * 3) / 4));
    let o = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text[i];
      const v = B64[c];
      if (v >= 0) {
        this.acc = (this.acc << 6) | v;
        if (++this.have === 4) {
          out[o++] = this.acc >>> 16;
          out[o++] = (this.acc >>> 8) & 0xff;
          out[o++] = this.acc & 0xff;
          this.acc = 0;
          this.have = 0;
        }
      } else if (c === PAD) {
        // "xx==" is one byte, "xxx=" two; the second '=' of a pair finds have === 0.
        if (this.have === 2) out[o++] = (this.acc >>> 4) & 0xff;
        else if (this.have === 3) {
          out[o++] = (this.acc >>> 10) & 0xff;
          out[o++] = (this.acc >>> 2) & 0xff;
        } else if (this.have === 1) return this.fail(out, o);
        this.acc = 0;
        this.have = 0;
      } else if (c !== 0x0d && c !== 0x0a && c !== 0x20 && c !== 0x09) {
        return this.fail(out, o);
      }
    }
    return out.subarray(0, o);
  }

  private fail(out: Buffer, o: number): Buffer {
    this.invalid = true;
    return out.subarray(0, o);
  }
}

/** Trailer fields kept from a grpc-web trailer frame (bytes): as many as a header block. */
export const MAX_WEB_TRAILER_BYTES = 16 * 1024;

/**
 * The trailer frame's payload: HTTP/1-style `name: value` lines, CRLF
 * separated (without a final empty line). Names are lower-cased (the spec
 * asks senders for lower case; some send mixed case).
 */
export function parseTrailerBlock(block: Buffer): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  const text = block.toString('latin1');
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    const lineEnd = end > start && text.charCodeAt(end - 1) === 0x0d ? end - 1 : end;
    // The colon is looked for in this line only: indexOf(':', start) ran on to the next colon in
    // the block, once per line, quadratic in a block of lines without one (a decompressed trailer
    // frame can be --max-body x 32 bytes).
    let colon = start;
    while (colon < lineEnd && text.charCodeAt(colon) !== 0x3a) colon++;
    if (colon > start && colon < lineEnd) {
      const name = text.slice(start, colon).trim().toLowerCase();
      const value = text.slice(colon + 1, lineEnd).trim();
      // UTF-8 text when the octets are UTF-8, else latin1, as HTTP/2 fields are read (never U+FFFD).
      const octets = Buffer.from(value, 'latin1');
      const v = isUtf8(octets) ? octets.toString('utf8') : value;
      // Names come off the wire: `constructor` or `toString` find Object.prototype's members (never
      // an array), and `__proto__` must be defined, not assigned (see setOwn).
      const values = out[name];
      if (Array.isArray(values)) values.push(v);
      else setOwn(out, name, [v]);
    }
    start = end + 1;
  }
  return out;
}
