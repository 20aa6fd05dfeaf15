/**
 * WebSocket over HTTP/2 (RFC 8441): a stream opened by an extended CONNECT
 * (`:method CONNECT`, `:protocol websocket`) and answered 2xx carries
 * WebSocket frames in its DATA frames, each way, until it ends. Each such
 * stream gets a WebSocket parser of its own, whose events are WebSocket's
 * (`pano.protocol` websocket) with the HTTP/2 stream id beside them.
 */
import type { CloseReason, Dir } from '@panopticon/flows';
import type { ExchangeRecord, ParserContext } from '../types.js';
import { WebSocketStream } from '../websocket/parser.js';
import type { BodyCapture } from '../body.js';
import type { Http2Stream } from './stream.js';

const CLIENT: Dir = 0;

/** Whether the stream is an extended CONNECT for WebSocket that the server accepted (RFC 8441 §4, §5). */
export function acceptedWebSocket(s: Http2Stream): boolean {
  const req = s.req.pseudo;
  const status = s.res.pseudo[':status'];
  return req[':method'] === 'CONNECT' && req[':protocol']?.toLowerCase() === 'websocket' && status !== undefined && status.length === 3 && status[0] === '2';
}

/** One accepted WebSocket stream: its parser, and which sides ended the stream. */
class Tunnel {
  readonly ended = [false, false];
  constructor(readonly ws: WebSocketStream) {}
}

/** The WebSocket streams of one HTTP/2 connection, bounded. */
export class WebSocketTunnels {
  private readonly tunnels = new Map<number, Tunnel>();

  constructor(
    private readonly ctx: ParserContext,
    /** Called when a tunnel's stream is over (ended, reset, given up), to treat later frames on it as late ones. */
    private readonly onClosed: (streamId: number) => void,
  ) {}

  has(streamId: number): boolean {
    return this.tunnels.has(streamId);
  }

  /**
   * The server accepted `s`: its DATA frames from now on are WebSocket
   * frames, and so are the client's bytes that came before (`early`).
   */
  open(s: Http2Stream, tsNs: bigint, early: BodyCapture): void {
    if (this.tunnels.size >= this.ctx.options.maxPending) {
      const oldest = this.tunnels.keys().next().value as number;
      this.ctx.count('http2.websocket_overflow');
      this.end(oldest, 'evicted', tsNs);
    }
    const id = s.id;
    const sub: ParserContext = {
      conn: this.ctx.conn,
      options: this.ctx.options,
      emit: (r: ExchangeRecord) => {
        r.protocol = 'websocket';
        r.attributes = { ...r.attributes, http2: { stream_id: id } };
        this.ctx.emit(r);
      },
      count: (name, n) => this.ctx.count(name, n),
      // RFC 6455 framing broken: this stream is given up, the connection's other streams go on
      abandon: () => {
        this.tunnels.delete(id);
        this.onClosed(id);
      },
      handoff: () => false,
    };
    const h = s.res.headers ?? {};
    const extensions = h['sec-websocket-extensions']?.join(', ');
    const protocol = h['sec-websocket-protocol']?.[0];
    const ws = new WebSocketStream(sub, { websocket: { extensions, protocol } });
    this.tunnels.set(id, new Tunnel(ws));
    this.ctx.count('http2.websocket_streams');
    if (early.size === 0) return;
    const kept = early.bytes();
    if (kept.length) ws.data(CLIENT, kept, s.req.firstNs);
    // more than --max-body of them, or a hole: that side cannot be followed
    if (early.size > kept.length) ws.gap(CLIENT, early.size - kept.length, tsNs);
  }

  /** A DATA frame's payload on a tunnel; `endStream` when it carried END_STREAM. */
  data(streamId: number, dir: Dir, payload: Buffer, endStream: boolean, tsNs: bigint): void {
    const t = this.tunnels.get(streamId)!;
    if (payload.length) t.ws.data(dir, payload, tsNs);
    if (!endStream || !this.tunnels.has(streamId)) return;
    t.ended[dir] = true;
    if (t.ended[0] && t.ended[1]) this.end(streamId, 'fin', tsNs);
  }

  /** The tunnel's stream is over: a message cut short goes out with the reason's flag. */
  end(streamId: number, reason: CloseReason, tsNs: bigint): void {
    const t = this.tunnels.get(streamId);
    if (!t) return;
    this.tunnels.delete(streamId);
    t.ws.close(reason, tsNs);
    this.onClosed(streamId);
  }

  /** The connection is over. */
  closeAll(reason: CloseReason, tsNs: bigint): void {
    for (const id of [...this.tunnels.keys()]) this.end(id, reason, tsNs);
  }
}
