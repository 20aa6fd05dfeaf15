/**
 * Bounded body capture and the text view downstream stages scan.
 * Shared by every protocol that carries payloads (HTTP/1.1, HTTP/2, messaging).
 */
import { isUtf8 } from 'node:buffer';
import * as zlib from 'node:zlib';

/** Keeps the first `max` bytes of a body (as views, copied once at the end) and counts the rest. */
export class BodyCapture {
  /** Bytes of the body seen on the wire (including skipped ones). */
  size = 0;
  truncated = false;
  /** Some of the body was lost (capture gap). */
  gap = false;
  private parts: Buffer[] = [];
  private kept = 0;

  constructor(private readonly max: number) {}

  add(chunk: Buffer): void {
    this.size += chunk.length;
    const room = this.max - this.kept;
    if (room <= 0) {
      if (chunk.length) this.truncated = true;
      return;
    }
    const take = chunk.length <= room ? chunk : chunk.subarray(0, room);
    if (take.length < chunk.length) this.truncated = true;
    this.parts.push(take);
    this.kept += take.length;
  }

  /** `n` body bytes were never captured. */
  skip(n: number): void {
    this.size += n;
    this.gap = true;
    // What we keep must stay contiguous: nothing after the hole is kept.
    this.kept = this.max;
    this.truncated = true;
  }

  bytes(): Buffer {
    if (this.parts.length === 1) return this.parts[0];
    return Buffer.concat(this.parts);
  }
}

export interface BodyView {
  size: number;
  content?: string;
  truncated?: true;
  /** Bytes of the body were lost in capture (a gap); `size` counts them. */
  gap?: true;
  content_encoding?: string;
  decode_error?: string;
}

const TEXTUAL = /^(text\/|application\/(json|xml|javascript|x-www-form-urlencoded|graphql|x-ndjson|ld\+json|problem\+json|soap\+xml|x-yaml|yaml|csv|sql)|[^;]*\+(json|xml)\b|multipart\/form-data|message\/)/i;

/** Output allowed from one decompression attempt; larger outputs retry on a shorter prefix of the input. */
const MAX_INFLATE_FACTOR = 32;

export interface Inflated {
  bytes: Buffer;
  /**
   * The whole output was past the attempt's bound (a decompression bomb): `bytes` is what a
   * shorter prefix of the input gave, and more lies beyond it, even when `bytes` is short.
   */
  partial: boolean;
}

/**
 * Undoes a content coding (gzip, deflate, br) with the output bounded: at
 * most max(maxOut x 32, 1 MiB) bytes, so that a body a little past `maxOut`
 * still gives `maxOut` bytes to cut, and a bomb gives a prefix. Callers cut
 * the output to what they keep. Shared by HTTP bodies and gRPC messages.
 */
export function inflate(raw: Buffer, encoding: string, maxOut: number): Inflated {
  const cap = Math.max(maxOut * MAX_INFLATE_FACTOR, 1 << 20);
  let input = raw;
  for (;;) {
    try {
      return { bytes: inflateOnce(input, encoding, cap), partial: input !== raw };
    } catch (e) {
      // A decompression bomb: decode a shorter prefix, which bounds the output.
      if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' && input.length > 16) {
        input = input.subarray(0, input.length >> 1);
        continue;
      }
      throw e;
    }
  }
}

function inflateOnce(input: Buffer, encoding: string, cap: number): Buffer {
  switch (encoding) {
    case 'gzip':
    case 'x-gzip':
      return zlib.gunzipSync(input, { finishFlush: zlib.constants.Z_SYNC_FLUSH, maxOutputLength: cap });
    case 'deflate':
      // "deflate" is zlib-wrapped per RFC 9110, but raw deflate is common in the wild.
      try {
        return zlib.inflateSync(input, { finishFlush: zlib.constants.Z_SYNC_FLUSH, maxOutputLength: cap });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw e;
        return zlib.inflateRawSync(input, { finishFlush: zlib.constants.Z_SYNC_FLUSH, maxOutputLength: cap });
      }
    case 'br':
      return zlib.brotliDecompressSync(input, {
        finishFlush: zlib.constants.BROTLI_OPERATION_FLUSH,
        maxOutputLength: cap,
      });
    default:
      throw new Error(`unsupported content-encoding ${encoding}`);
  }
}

/**
 * The view of a body kept in events: size always; `content` as text when the
 * body is text-like (after undoing Content-Encoding), up to `max` characters' bytes.
 */
export function bodyView(body: BodyCapture, contentType: string | undefined, contentEncoding: string | undefined, max: number): BodyView {
  const view: BodyView = { size: body.size };
  if (body.truncated) view.truncated = true;
  if (body.gap) view.gap = true;
  if (body.size === 0) return view;
  let raw = body.bytes();
  const enc = contentEncoding?.trim().toLowerCase();
  if (enc && enc !== 'identity') {
    view.content_encoding = enc;
    try {
      const out = inflate(raw, enc, max);
      raw = out.bytes;
      // A bomb's prefix can be shorter than max and still be cut.
      if (out.partial) view.truncated = true;
      if (raw.length > max) {
        raw = raw.subarray(0, max);
        view.truncated = true;
      }
    } catch (e) {
      view.decode_error = (e as Error).message.split('\n')[0];
      return view;
    }
  }
  const textual = contentType ? TEXTUAL.test(contentType) : false;
  if (textual || looksLikeText(raw)) {
    view.content = raw.toString('utf8');
  }
  return view;
}

/** Valid UTF-8 without control bytes other than whitespace: safe to show as text. */
export function looksLikeText(buf: Buffer): boolean {
  if (buf.length === 0) return false;
  // A cut at the keep limit can split a multi-byte character: ignore up to 3 trailing bytes.
  let end = buf.length;
  if (!isUtf8(buf)) {
    let ok = false;
    for (let k = 1; k <= 3 && end - k > 0; k++) {
      if (isUtf8(buf.subarray(0, end - k))) {
        end -= k;
        ok = true;
        break;
      }
    }
    if (!ok) return false;
  }
  for (let i = 0; i < end; i++) {
    const c = buf[i];
    if (c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return false;
    if (c === 0x7f) return false;
  }
  return true;
}
