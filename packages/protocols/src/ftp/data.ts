/**
 * An FTP data connection (RFC 959 §3.2), announced on its control connection
 * (PASV, EPSV, PORT, EPRT) and handed here by the dispatcher: the bytes of one
 * transfer (a file retrieved or stored, or a listing), kept as a body up to
 * maxBody and reported as one message when the connection closes, with the
 * transfer command the control session sent for it. Under PROT P the data
 * connection is TLS: its first bytes go to TLS, with this parser to resume
 * inside it once a key log opens it.
 */
import type { CloseReason, Dir } from '@panopticon/flows';
import { BodyCapture, bodyView } from '../body.js';
import { CLOSE_FLAG } from '../close-flags.js';
import type { ParserContext, StreamParser } from '../types.js';

/** What the data connection asks of its control session (FtpParser). */
export interface DataSession {
  claimTransfer(): { command: string; path?: string; direction: 'download' | 'upload' | 'listing' } | undefined;
}

/** A TLS record header: handshake (22), version 3.x. */
function looksLikeTls(b: Buffer): boolean {
  return b.length >= 3 && b[0] === 0x16 && b[1] === 0x03 && b[2]! <= 0x04;
}

export class FtpDataParser implements StreamParser {
  private readonly body: BodyCapture;
  private firstNs: bigint | undefined;
  private lastNs = 0n;
  private started = false;

  constructor(
    private readonly ctx: ParserContext,
    private readonly session: DataSession | undefined,
    /** How the connection was announced: PASV or EPSV (passive), PORT or EPRT (active). */
    private readonly mode: 'passive' | 'active' | undefined,
    /** Inside TLS already (resumed after the handoff): no second look for a TLS start. */
    private readonly inTls = false,
  ) {
    this.body = new BodyCapture(ctx.options.maxBody);
  }

  data(dir: Dir, chunk: Buffer, tsNs: bigint): void {
    if (!this.started) {
      this.started = true;
      if (!this.inTls && looksLikeTls(chunk)) {
        // PROT P: the transfer is inside TLS; read it there when a key log opens it
        const { session, mode } = this;
        this.ctx.handoff('tls', [{ dir, bytes: chunk, tsNs }], { carried: { name: 'ftp-data', parser: (ctx) => new FtpDataParser(ctx, session, mode, true) } });
        return;
      }
    }
    this.firstNs ??= tsNs;
    this.lastNs = tsNs;
    this.body.add(chunk);
  }

  gap(_dir: Dir, length: number, tsNs: bigint): void {
    this.ctx.count('ftp-data.gaps');
    this.firstNs ??= tsNs;
    this.body.skip(length);
  }

  end(_dir: Dir, _tsNs: bigint): void {}

  close(reason: CloseReason, tsNs: bigint): void {
    const transfer = this.session?.claimTransfer();
    if (!transfer && this.body.size === 0) {
      // opened and closed with nothing: a refused transfer's connection, not an event
      this.ctx.count('ftp-data.empty_connections');
      return;
    }
    const body = bodyView(this.body, undefined, undefined, this.ctx.options.maxBody);
    const t: Record<string, unknown> = {};
    if (transfer) {
      t.command = transfer.command;
      if (transfer.path !== undefined) t.path = transfer.path;
      t.direction = transfer.direction;
    } else this.ctx.count('ftp-data.without_command');
    if (this.mode) t.mode = this.mode;
    t.body = body;
    const flags: string[] = [];
    if (body.truncated) flags.push('truncated');
    if (body.gap) flags.push('gap');
    // a transfer ends with its connection's FIN; a reset or the end of the capture cut it short
    if (reason !== 'fin') flags.push(CLOSE_FLAG[reason]);
    this.ctx.emit({
      kind: 'message',
      startNs: this.firstNs ?? tsNs,
      endNs: this.firstNs === undefined ? tsNs : this.lastNs,
      requestBytes: this.body.size,
      attributes: { ftp: { transfer: t }, network: { protocol: { name: 'ftp-data' } } },
      ...(flags.length ? { flags } : {}),
    });
  }
}
