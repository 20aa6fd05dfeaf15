/**
 * A byte stream carried inside another protocol's connection (an HTTP/2
 * CONNECT stream to host:port, RFC 9113 §8.5): its protocol is detected from
 * its first bytes as a connection's is (modules the target port hints
 * first), and that protocol's parser is fed what follows. Its events are the
 * inner protocol's, marked by the carrier (`decorate`). A tunnel whose start
 * no module recognises is ignored and counted: there is no message boundary
 * to look for further in. A gap while detecting (bytes the carrier could not
 * read) is passed on in its place once a parser starts; a direction is
 * detected from what came after its last gap.
 */
import type { CloseReason, Dir } from '@panopticon/flows';
import type { ExchangeRecord, ParserContext, ProtocolModule, StreamParser } from './types.js';
import { carriedContext } from './carried-context.js';

/** Bytes per direction held while no module has recognised the tunnel's start. */
const MAX_HEAD_BYTES = 8192;
const EMPTY = Buffer.alloc(0);

export class TunnelStream implements StreamParser {
  private parser: StreamParser | undefined;
  private state: 'detecting' | 'parsing' | 'ignored' = 'detecting';
  /** What came while detecting, in order: bytes, or a gap of `gap` bytes. */
  private held: Array<{ dir: Dir; bytes: Buffer; tsNs: bigint; gap?: number }> = [];
  private readonly heldBytes = [0, 0];

  constructor(
    private readonly ctx: ParserContext,
    private readonly order: readonly ProtocolModule[],
    private readonly decorate: (r: ExchangeRecord, protocol: string) => void,
    /** The carried protocol's module when the carrier knows it, or the carried parser's maker: started at once, nothing detected. */
    known?: ProtocolModule | { name: string; parser: (ctx: ParserContext) => StreamParser },
    /** The carrier is TLS (ParserContext.overTls). */
    private readonly overTls = false,
  ) {
    if (known) this.start(known);
  }

  data(dir: Dir, chunk: Buffer, tsNs: bigint): void {
    if (this.state === 'parsing') return this.parser!.data(dir, chunk, tsNs);
    if (this.state === 'ignored') return void this.ctx.count('tunnel.ignored_bytes', chunk.length);
    this.held.push({ dir, bytes: Buffer.from(chunk), tsNs });
    this.heldBytes[dir] += chunk.length;
    const parts: Buffer[] = [];
    for (const h of this.held) {
      if (h.dir !== dir) continue;
      if (h.gap !== undefined) parts.length = 0;
      else parts.push(h.bytes);
    }
    const head = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    let waiting = false;
    for (const m of this.order) {
      if (!m.createStream) continue;
      const r = m.detect(head, dir);
      if (r === 'more') waiting = true;
      else if (r !== null) return this.start(m);
    }
    if (waiting && this.heldBytes[dir]! < MAX_HEAD_BYTES) return;
    this.ignore();
  }

  private start(m: ProtocolModule | { name: string; parser: (ctx: ParserContext) => StreamParser }): void {
    const sub = carriedContext(this.ctx, (r) => this.decorate(r, m.name), {
      overTls: this.overTls || this.ctx.overTls,
      // the inner protocol gave up: the rest of the tunnel is skipped, the carrier goes on
      abandon: () => {
        this.parser = undefined;
        this.state = 'ignored';
      },
    });
    this.ctx.count(`tunnel.${m.name}`);
    this.parser = 'parser' in m ? m.parser(sub) : m.createStream!(sub);
    this.state = 'parsing';
    const held = this.held;
    this.held = [];
    for (const h of held) {
      if (this.state !== 'parsing') break;
      if (h.gap !== undefined) this.parser.gap(h.dir, h.gap, h.tsNs);
      else this.parser.data(h.dir, h.bytes, h.tsNs);
    }
  }

  private ignore(): void {
    this.state = 'ignored';
    this.ctx.count('tunnel.unidentified');
    this.ctx.count('tunnel.ignored_bytes', this.heldBytes[0]! + this.heldBytes[1]!);
    this.held = [];
  }

  gap(dir: Dir, length: number, tsNs: bigint): void {
    if (this.state === 'parsing') return this.parser!.gap(dir, length, tsNs);
    if (this.state === 'detecting') this.held.push({ dir, bytes: EMPTY, tsNs, gap: length });
  }

  end(dir: Dir, tsNs: bigint): void {
    if (this.state === 'parsing') this.parser!.end(dir, tsNs);
  }

  close(reason: CloseReason, tsNs: bigint): void {
    if (this.state === 'parsing') this.parser!.close(reason, tsNs);
    else if (this.state === 'detecting' && this.held.length) this.ignore();
  }
}
