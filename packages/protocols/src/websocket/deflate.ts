/**
 * permessage-deflate (RFC 7692): what the handshake agreed, and each
 * direction's decompressor. A compressed message is raw DEFLATE ending in an
 * empty stored block whose last four bytes (00 00 ff ff) the sender removed
 * (§7.2.1). Unless the sender promised "no context takeover", each message
 * may refer back into the uncompressed bytes of the messages before it, up
 * to the LZ77 window: the decompressor keeps the last 32 KiB it produced and
 * hands them to zlib as the preset dictionary of the next message, which is
 * what that window is. Synchronous, so the parser stays a push parser.
 */
import * as zlib from 'node:zlib';

/** What the 101's Sec-WebSocket-Extensions said about permessage-deflate, or undefined when it was not agreed. */
export interface DeflateParams {
  /** The server (or client) resets its compression context after each message: no back-references across them. */
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
}

/** The server's answer (RFC 7692 §5): the first extension offer named permessage-deflate, with its parameters. */
export function deflateParams(extensions: string | undefined): DeflateParams | undefined {
  if (!extensions) return undefined;
  for (const ext of extensions.split(',')) {
    const [name, ...params] = ext.split(';').map((s) => s.trim().toLowerCase());
    if (name !== 'permessage-deflate') continue;
    const keys = params.map((p) => p.split('=')[0]!.trim());
    return { serverNoContextTakeover: keys.includes('server_no_context_takeover'), clientNoContextTakeover: keys.includes('client_no_context_takeover') };
  }
  return undefined;
}

/** The LZ77 window of DEFLATE: the farthest a back-reference reaches. */
const WINDOW = 32 * 1024;
const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

export type Inflation = { bytes: Buffer; cut: boolean } | { error: string };

export class MessageInflater {
  private window: Buffer | undefined;
  /** An earlier message could not be decompressed whole: the window, and so every later message, is unknown. */
  lost = false;

  constructor(private readonly takeover: boolean) {}

  /**
   * The message `compressed` (its whole payload) decompressed, at most `maxOut` bytes. A message
   * past `maxOut` is cut, and with context takeover the window is then lost (its last bytes were
   * never made). After a loss every message fails: its back-references point into the unknown.
   */
  inflate(compressed: Buffer, maxOut: number): Inflation {
    if (this.lost) return { error: 'an earlier message could not be decompressed (context takeover)' };
    let out: Buffer;
    try {
      out = zlib.inflateRawSync(Buffer.concat([compressed, TAIL]), {
        finishFlush: zlib.constants.Z_SYNC_FLUSH,
        maxOutputLength: maxOut + 1,
        ...(this.takeover && this.window ? { dictionary: this.window } : {}),
      });
    } catch (e) {
      if (this.takeover) this.lost = true;
      const err = e as NodeJS.ErrnoException;
      return { error: err.code === 'ERR_BUFFER_TOO_LARGE' ? `larger than ${maxOut} bytes` : err.message.split('\n')[0]! };
    }
    const cut = out.length > maxOut;
    if (cut) {
      if (this.takeover) this.lost = true;
      out = out.subarray(0, maxOut);
    } else if (this.takeover) {
      this.remember(out);
    }
    return { bytes: out, cut };
  }

  /** A gap in the stream: a message went by unseen, and the window with it. */
  lose(): void {
    if (this.takeover) this.lost = true;
  }

  private remember(out: Buffer): void {
    if (out.length >= WINDOW) this.window = Buffer.from(out.subarray(out.length - WINDOW));
    else if (!this.window) this.window = Buffer.from(out);
    else {
      const keep = Math.min(this.window.length, WINDOW - out.length);
      this.window = Buffer.concat([this.window.subarray(this.window.length - keep), out]);
    }
  }
}
