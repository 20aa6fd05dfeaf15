/**
 * Streams that stop being HTTP once the server accepts them (RFC 9113
 * §8.5, RFC 8441): a CONNECT stream carries a byte stream to host:port,
 * whose protocol is detected as a connection's is (TLS, HTTP/1.1, ...), and
 * an extended CONNECT for WebSocket (`:protocol websocket`) carries
 * WebSocket frames. Each such stream gets a parser of its own; its events
 * are that protocol's, with the HTTP/2 stream id beside them.
 */
import type { CloseReason, Dir } from '@panopticon/flows';
import type { ExchangeRecord, ParserContext, StreamParser } from '../types.js';
import type { BodyCapture } from '../body.js';
import { WebSocketStream } from '../websocket/parser.js';
import { carriedContext } from '../carried-context.js';
import type { Http2Stream } from './stream.js';

const CLIENT: Dir = 0;

/** What an accepted CONNECT stream carries: WebSocket frames, a byte stream, or (other `:protocol`s) nothing we read. */
export function acceptedTunnel(s: Http2Stream): 'websocket' | 'bytes' | undefined {
  const req = s.req.pseudo;
  const status = s.res.pseudo[':status'];
  if (req[':method'] !== 'CONNECT' || status === undefined || status.length !== 3 || status[0] !== '2') return undefined;
  const protocol = req[':protocol'];
  if (protocol === undefined) return 'bytes';
  return protocol.toLowerCase() === 'websocket' ? 'websocket' : undefined;
}

/** The port of a CONNECT's `:authority` (host:port, [v6]:port), a hint for detection. */
function portOf(authority: string | undefined): number {
  const m = authority ? /:(\d{1,5})$/.exec(authority) : null;
  const port = m ? Number(m[1]) : 0;
  return port <= 65535 ? port : 0;
}

/** One accepted stream: its parser, and which sides ended the stream. */
class Tunnel {
  readonly ended = [false, false];
  constructor(readonly parser: StreamParser) {}
}

/** The tunnelled streams of one HTTP/2 connection, bounded. */
export class StreamTunnels {
  private readonly tunnels = new Map<number, Tunnel>();

  constructor(
    private readonly ctx: ParserContext,
    /** Called when a tunnel's stream is over (ended, reset, given up), to treat later frames on it as late ones. */
    private readonly onClosed: (streamId: number) => void,
  ) {}

  has(streamId: number): boolean {
    return this.tunnels.has(streamId);
  }

  /** Whether a tunnel of `kind` can be read here (a byte stream needs the dispatcher's detection). */
  canOpen(kind: 'websocket' | 'bytes'): boolean {
    return kind === 'websocket' || this.ctx.tunnel !== undefined;
  }

  /**
   * The server accepted `s`: its DATA frames from now on belong to the
   * carried protocol, and so do the client's bytes that came before
   * (`early`). Only after `canOpen`.
   */
  open(s: Http2Stream, kind: 'websocket' | 'bytes', tsNs: bigint, early: BodyCapture): void {
    const id = s.id;
    const mark = (r: ExchangeRecord, protocol: string): void => {
      r.protocol = protocol;
      // a protocol with its own http2 group (HTTP/2 inside the tunnel) keeps it
      if (r.attributes.http2 === undefined) r.attributes = { ...r.attributes, http2: { stream_id: id } };
    };
    let parser: StreamParser;
    if (kind === 'bytes') {
      parser = this.ctx.tunnel!(portOf(s.req.pseudo[':authority']), mark);
    } else {
      const h = s.res.headers ?? {};
      const sub = carriedContext(this.ctx, (r) => mark(r, 'websocket'), {
        // RFC 6455 framing broken: this stream is given up, the connection's other streams go on
        abandon: () => {
          this.tunnels.delete(id);
          this.onClosed(id);
        },
      });
      parser = new WebSocketStream(sub, { websocket: { extensions: h['sec-websocket-extensions']?.join(', '), protocol: h['sec-websocket-protocol']?.[0] } });
    }
    if (this.tunnels.size >= this.ctx.options.maxPending) {
      const oldest = this.tunnels.keys().next().value as number;
      this.ctx.count('http2.tunnel_overflow');
      this.end(oldest, 'evicted', tsNs);
    }
    this.tunnels.set(id, new Tunnel(parser));
    this.ctx.count(kind === 'websocket' ? 'http2.websocket_streams' : 'http2.connect_tunnels');
    if (early.size === 0) return;
    const kept = early.bytes();
    if (kept.length) parser.data(CLIENT, kept, s.req.firstNs);
    // more than --max-body of them, or a hole: that side cannot be followed
    if (early.size > kept.length) parser.gap(CLIENT, early.size - kept.length, tsNs);
  }

  /** A DATA frame's payload on a tunnel; `endStream` when it carried END_STREAM. */
  data(streamId: number, dir: Dir, payload: Buffer, endStream: boolean, tsNs: bigint): void {
    const t = this.tunnels.get(streamId)!;
    if (payload.length) t.parser.data(dir, payload, tsNs);
    if (!endStream || !this.tunnels.has(streamId)) return;
    t.ended[dir] = true;
    t.parser.end(dir, tsNs);
    if (t.ended[0] && t.ended[1]) this.end(streamId, 'fin', tsNs);
  }

  /** The tunnel's stream is over: what its parser holds goes out with the reason's flag. */
  end(streamId: number, reason: CloseReason, tsNs: bigint): void {
    const t = this.tunnels.get(streamId);
    if (!t) return;
    this.tunnels.delete(streamId);
    t.parser.close(reason, tsNs);
    this.onClosed(streamId);
  }

  /** The connection is over. */
  closeAll(reason: CloseReason, tsNs: bigint): void {
    for (const id of [...this.tunnels.keys()]) this.end(id, reason, tsNs);
  }
}
