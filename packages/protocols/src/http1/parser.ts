/**
 * An HTTP/1.x connection: a request reader and a response reader, stitched
 * in order (keep-alive and pipelining), with the response framing rules that
 * depend on the request (HEAD, CONNECT) and the status (1xx, 204, 304).
 */
import { Dir, type CloseReason } from '@panopticon/flows';
import { sequential, setOwn } from '@panopticon/events';
import { bodyView, type BodyCapture } from '../body.js';
import { dohAttributes } from '../dns/doh.js';
import { FifoStitcher } from '../stitch.js';
import { GrpcFramer, bodyEncodingOf, grpcAttributes, grpcWire, type GrpcSide } from '../grpc/index.js';
import type { HandoffInit, ParserContext, StreamParser } from '../types.js';
import { MAX_INTERIM, header, headerHasToken, parseRequestHead, parseResponseHead, type Headers, type RequestHead, type ResponseHead } from './head.js';
import { MessageReader, type BodyFraming, type MessageEnd, type ReaderEvents } from './reader.js';
import { CLOSE_FLAG } from '../close-flags.js';

interface Exchange {
  req: RequestHead;
  startNs: bigint;
  reqEnd?: MessageEnd;
  interim: Array<{ status_code: number; header: Headers }>;
  /** 1xx responses past MAX_INTERIM, dropped: the event is flagged `truncated`. */
  interimDropped: boolean;
  res?: ResponseHead;
  /** Expect: 100-continue sent and no body yet: the client may never send it. */
  expectContinue: boolean;
  emitted: boolean;
  /** gRPC-Web (a grpc content-type on the request or the response): each side's framing. */
  /** gRPC-Web framing per side; a side whose content-type names another type has none. */
  grpc?: { req?: GrpcSide; res?: GrpcSide };
}

/** gRPC messages kept per side for decoding (the counts are always whole), as on HTTP/2. */
const GRPC_KEPT_MESSAGES = 20;


/** Bytes held while waiting to learn whether an Upgrade was accepted. */
const MAX_UPGRADE_HOLD = 64 * 1024;

/**
 * The request reader's events, passed on to the stream: one small object
 * with its methods on the prototype rather than four closures per reader,
 * for each of the tens of thousands of connections a table holds (ADR 0010).
 */
class RequestEvents implements ReaderEvents {
  constructor(
    private readonly stream: Http1Stream,
    private readonly ctx: ParserContext,
  ) {}

  head(buf: Buffer, start: number, end: number, startNs: bigint): BodyFraming | null {
    return this.stream.requestHead(buf, start, end, startNs);
  }

  message(end: MessageEnd): void {
    this.stream.requestDone(end);
  }

  bodyData(chunk: Buffer): void {
    const g = this.stream.requestGrpc();
    // A compressed body (Content-Encoding) is framed from the capture when the exchange is emitted.
    if (g && !g.bodyEncoding) g.framer.push(chunk);
  }

  bodyGap(): void {
    this.stream.requestGrpc()?.framer.gap();
  }

  switched(bytes: Buffer, tsNs: bigint): void {
    this.stream.holdClientBytes(bytes, tsNs);
  }

  count(name: string, n?: number): void {
    this.ctx.count(name, n);
  }
}

/** The response reader's events (see RequestEvents). */
class ResponseEvents implements ReaderEvents {
  constructor(
    private readonly stream: Http1Stream,
    private readonly ctx: ParserContext,
  ) {}

  head(buf: Buffer, start: number, end: number, startNs: bigint): BodyFraming | null {
    return this.stream.responseHead(buf, start, end, startNs);
  }

  message(end: MessageEnd): void {
    this.stream.responseDone(end);
  }

  bodyData(chunk: Buffer): void {
    const g = this.stream.responseGrpc();
    if (g && !g.bodyEncoding) g.framer.push(chunk);
  }

  bodyGap(): void {
    this.stream.responseGrpc()?.framer.gap();
  }

  switched(bytes: Buffer, tsNs: bigint): void {
    this.stream.responseSwitched(bytes, tsNs);
  }

  count(name: string, n?: number): void {
    this.ctx.count(name, n);
  }
}

export class Http1Stream implements StreamParser {
  private readonly pending: FifoStitcher<Exchange>;
  private readonly reqReader: MessageReader;
  private readonly resReader: MessageReader;
  /** The request currently being read (head parsed, body not finished). */
  private reading: Exchange | null = null;
  /** Response head being read, paired with its request (or none: orphan). */
  private responding: { ex: Exchange | null; head: ResponseHead; startNs: bigint } | null = null;
  /** Client bytes held after a request that asked to Upgrade, until the response decides. */
  private held: Array<{ bytes: Buffer; tsNs: bigint }> | null = null;
  private heldBytes = 0;
  private awaitingUpgrade: Exchange | null = null;
  private switched = false;
  /** The request a 101 to h2c answered, and the 101, until the connection is handed to HTTP/2. */
  private upgradedTo: { ex: Exchange; res: ResponseHead; resStartNs: bigint; end: MessageEnd } | null = null;
  /**
   * Where a 101 to WebSocket ('websocket', what the server agreed) or a CONNECT answered 2xx ('': to
   * detection) sends the connection: handed over once the chunk that held the answer is read (data).
   */
  private handover: { protocol: string; counter: string; init?: HandoffInit } | null = null;
  /** Server bytes after a 101, until the protocol taking over is started (made on the first). */
  private serverSwitched: Array<{ bytes: Buffer; tsNs: bigint }> | undefined;
  private serverSwitchedBytes = 0;

  constructor(private readonly ctx: ParserContext) {
    const o = ctx.options;
    this.pending = new FifoStitcher(o.maxPending, (ex) => this.emitUnanswered(ex, ['evicted']));
    this.reqReader = new MessageReader('request', new RequestEvents(this, ctx), o.maxBody, o.maxHeaderBytes);
    this.resReader = new MessageReader('response', new ResponseEvents(this, ctx), o.maxBody, o.maxHeaderBytes);
  }

  data(dir: Dir, chunk: Buffer, tsNs: bigint): void {
    if (this.switched) return;
    if (dir === Dir.ToServer) {
      if (this.held) this.holdClientBytes(chunk, tsNs);
      else this.reqReader.push(chunk, tsNs);
    } else {
      this.resReader.push(chunk, tsNs);
    }
    // an h2c upgrade goes to HTTP/2 once its request is whole (see responseDone), or when the server's
    // frames held meanwhile pass the bound: then the rest of the body goes to HTTP/2 as damage
    const u = this.upgradedTo;
    if (u && (u.ex.reqEnd || this.serverSwitchedBytes > MAX_UPGRADE_HOLD)) {
      if (!u.ex.reqEnd) this.ctx.count('http.upgrade_hold_overflow');
      this.handOverH2c(u);
    }
    if (this.handover) this.handOver(this.handover);
  }

  gap(dir: Dir, length: number): void {
    if (this.switched) return;
    (dir === Dir.ToServer ? this.reqReader : this.resReader).gap(length);
  }

  /** A side's FIN, in order: what it cuts short was closed by its sender. */
  end(dir: Dir, tsNs: bigint): void {
    if (this.switched) return;
    (dir === Dir.ToServer ? this.reqReader : this.resReader).end(tsNs, 'fin');
  }

  close(reason: CloseReason, tsNs: bigint): void {
    const u = this.upgradedTo;
    if (u) {
      // Not handed over (it is, in the data call that read the 101): no HTTP/2 parser to report it.
      this.upgradedTo = null;
      this.emitExchange(u.ex, u.res, u.resStartNs, u.end);
    }
    if (!this.switched) {
      this.reqReader.end(tsNs, reason);
      this.resReader.end(tsNs, reason);
    }
    const reading = this.reading;
    for (const ex of this.pending.drain()) {
      this.emitUnanswered(ex, ex === reading ? [CLOSE_FLAG[reason], 'request_incomplete'] : [CLOSE_FLAG[reason]]);
    }
    this.reading = null;
  }

  // --- requests ---

  /** Server bytes after a 101 Switching Protocols, kept for the protocol that takes over. */
  responseSwitched(bytes: Buffer, tsNs: bigint): void {
    (this.serverSwitched ??= []).push({ bytes, tsNs });
    this.serverSwitchedBytes += bytes.length;
  }

  requestHead(buf: Buffer, start: number, end: number, startNs: bigint): BodyFraming | null {
    const req = parseRequestHead(buf, start, end);
    if (!req) return null;
    const ex: Exchange = {
      req,
      startNs,
      interim: [],
      interimDropped: false,
      expectContinue: headerHasToken(req.headers, 'expect', '100-continue'),
      emitted: false,
    };
    const wire = grpcWire(header(req.headers, 'content-type'));
    if (wire !== undefined) ex.grpc = { req: this.grpcSide(wire, req.headers) };
    this.reading = ex;
    this.pending.push(ex);
    const framing = requestFraming(req);
    if (req.method === 'CONNECT' || (framing.kind === 'none' && req.headers['upgrade'])) {
      // Whatever the client sends next may already be tunnel bytes or the new
      // protocol: hold it until the response says whether the switch happened.
      this.awaitingUpgrade = ex;
      this.held = [];
      this.heldBytes = 0;
      return { kind: 'switch' };
    }
    return framing;
  }

  requestDone(end: MessageEnd): void {
    const ex = this.reading;
    if (!ex) return;
    ex.reqEnd = end;
    // the request an h2c 101 came before the end of: what follows its body is HTTP/2, held for the hand-over
    if (this.upgradedTo?.ex === ex) {
      this.held = [];
      this.heldBytes = 0;
    }
    ex.grpc?.req?.framer.end();
    this.reading = null;
  }

  /** The gRPC framing of the request whose body is being read, if it is gRPC-Web. */
  requestGrpc(): GrpcSide | undefined {
    return this.reading?.grpc?.req;
  }

  /** The gRPC framing of the response whose body is being read. */
  responseGrpc(): GrpcSide | undefined {
    return this.responding?.ex?.grpc?.res;
  }

  private grpcSide(wire: NonNullable<ReturnType<typeof grpcWire>>, headers: Headers): GrpcSide {
    return {
      framer: new GrpcFramer(GRPC_KEPT_MESSAGES, this.ctx.options.maxBody, wire),
      encoding: header(headers, 'grpc-encoding'),
      bodyEncoding: bodyEncodingOf(wire, header(headers, 'content-encoding')),
    };
  }

  holdClientBytes(bytes: Buffer, tsNs: bigint): void {
    if (!this.held) {
      // CONNECT: bytes after the request belong to the tunnel.
      this.ctx.count('http.tunnel_bytes', bytes.length);
      return;
    }
    this.heldBytes += bytes.length;
    if (this.heldBytes > MAX_UPGRADE_HOLD) {
      this.ctx.count('http.upgrade_hold_overflow');
      this.held = null;
      return;
    }
    this.held.push({ bytes, tsNs });
  }

  // --- responses ---

  responseHead(buf: Buffer, start: number, end: number, startNs: bigint): BodyFraming | null {
    const res = parseResponseHead(buf, start, end);
    if (!res) return null;
    const ex = this.pending.peek() ?? null;
    if (res.status >= 100 && res.status < 200 && res.status !== 101) {
      if (ex && ex.interim.length < MAX_INTERIM) ex.interim.push({ status_code: res.status, header: res.headers });
      else if (ex) ex.interimDropped = true;
      else this.ctx.count('http.orphan_interim_response');
      if (ex && res.status === 100) ex.expectContinue = false;
      this.responding = null;
      // Interim responses have no body; the reader goes on to the final one.
      return { kind: 'none' };
    }
    this.responding = { ex, head: res, startNs };
    if (ex) {
      // Each side has its own content-type (a grpc-web-text request may be answered in binary);
      // an error without one (a proxy's 4xx/5xx page) is not framed.
      const wire = grpcWire(header(res.headers, 'content-type'));
      if (wire !== undefined) {
        if (!ex.grpc && header(ex.req.headers, 'content-type') !== undefined) {
          // The request said what it is (JSON, a form): it is read as that, as the response is by its own.
          ex.grpc = {};
        } else if (!ex.grpc) {
          // Only the response says gRPC: the request body went by unframed, it is framed from the capture.
          const req = this.grpcSide(wire, ex.req.headers);
          req.bodyEncoding ??= 'identity';
          ex.grpc = { req };
        }
        ex.grpc.res = this.grpcSide(wire, res.headers);
      }
    }
    if (ex && ex.expectContinue && this.reading === ex && this.reqReader.bodyBytesSoFar === 0) {
      // A final response to "Expect: 100-continue" before any body: the client will not send it.
      this.reqReader.end(startNs);
    }
    if (res.status === 101) return { kind: 'switch' };
    if (ex?.req.method === 'CONNECT' && res.status >= 200 && res.status < 300) return { kind: 'switch' };
    return responseFraming(res, ex?.req.method);
  }

  responseDone(end: MessageEnd): void {
    const r = this.responding;
    if (!r) return; // an interim response finished
    this.responding = null;
    r.ex?.grpc?.res?.framer.end();
    const ex = r.ex;
    const upgrade = r.head.status === 101 ? (header(r.head.headers, 'upgrade') ?? '').toLowerCase() : '';
    if (ex && upgrade === 'h2c') {
      // RFC 9113 §3.2: the request continues as HTTP/2 stream 1, whose event carries it with this
      // 101 among its interim responses; an event here too would report the request (its headers
      // and body, and what PII they hold) twice. Handed over when the response reader has passed
      // on the rest of the chunk that carried the 101: a server sends its first HTTP/2 frames
      // right behind it, often in the same segment.
      this.pending.shift();
      this.upgradedTo = { ex, res: r.head, resStartNs: r.startNs, end };
      // A server may answer before it has read the request's body (Node's 'upgrade' event comes with
      // the head): the rest of the body is still HTTP/1.1, and only what follows it HTTP/2 (§3.2: a
      // body is sent whole before any frame). The hand-over waits for the request's end.
      if (this.reading === ex) this.reqReader.switchAfterMessage();
      else this.switched = true;
      return;
    }
    if (ex) {
      this.pending.shift();
      if (this.reading === ex) {
        // The server answered before the request body was complete (early reply): emit now.
        this.reading = null;
      }
      this.emitExchange(ex, r.head, r.startNs, end);
    } else {
      this.emitOrphan(r.head, r.startNs, end);
    }
    if (ex && upgrade === 'websocket') {
      // RFC 6455 §4: frames follow the 101 both ways
      this.switched = true;
      const websocket = { extensions: header(r.head.headers, 'sec-websocket-extensions'), protocol: header(r.head.headers, 'sec-websocket-protocol') };
      this.handover = { protocol: 'websocket', counter: 'http.upgrade_websocket', init: { websocket } };
    } else if (ex?.req.method === 'CONNECT' && r.head.status >= 200 && r.head.status < 300) {
      // RFC 9110 §9.3.6: the connection is now a tunnel to the target; what it carries is detected by content
      this.switched = true;
      this.handover = { protocol: '', counter: 'http.connect_tunnel' };
    } else if (r.head.status === 101) {
      this.switchProtocols(upgrade || 'unknown');
    } else if (this.awaitingUpgrade && this.awaitingUpgrade === ex) {
      // Upgrade declined: the held bytes are more HTTP/1.1.
      const held = this.held ?? [];
      this.awaitingUpgrade = null;
      this.held = null;
      this.reqReader.resume();
      for (const h of held) this.reqReader.push(h.bytes, h.tsNs);
    }
  }

  /** `upgrade`: the 101's Upgrade token, for a protocol no parser takes over (h2c and websocket are handed over). */
  private switchProtocols(upgrade: string): void {
    this.switched = true;
    this.ctx.abandon(`upgrade_${upgrade.replace(/[^a-z0-9]+/g, '_')}`);
  }

  private handOverH2c(u: NonNullable<Http1Stream['upgradedTo']>): void {
    this.upgradedTo = null;
    this.switched = true;
    const { ex, res, end } = u;
    this.ctx.count('http.upgrade_h2c');
    const took = this.ctx.handoff('http2', this.takeSwitchedBytes(), {
      upgradedRequest: {
        method: ex.req.method,
        target: ex.req.target,
        authority: header(ex.req.headers, 'host'),
        headers: ex.req.headers,
        startNs: ex.startNs,
        requestBytes: ex.reqEnd?.wireBytes ?? 0,
        body: ex.reqEnd?.body,
        interim: [...ex.interim, { status_code: res.status, header: res.headers }],
        responseBytes: end.wireBytes,
        responseEndNs: end.endNs,
      },
    });
    // HTTP/2 not parsed (--protocols without it): the exchange up to the 101 is all there is to report.
    if (!took) this.emitExchange(ex, res, u.resStartNs, end);
  }

  /** The connection goes on as `h.protocol` (WebSocket, or for a CONNECT tunnel whatever detection finds). */
  private handOver(h: NonNullable<Http1Stream['handover']>): void {
    this.handover = null;
    this.ctx.count(h.counter);
    this.ctx.handoff(h.protocol, this.takeSwitchedBytes(), h.init);
  }

  /** What the protocol taking over gets first: the client's bytes held since its request, the server's after the answer. */
  private takeSwitchedBytes(): Array<{ dir: Dir; bytes: Buffer; tsNs: bigint }> {
    const pending = [
      ...(this.held ?? []).map((h) => ({ dir: Dir.ToServer, bytes: h.bytes, tsNs: h.tsNs })),
      ...(this.serverSwitched ?? []).map((h) => ({ dir: Dir.ToClient, bytes: h.bytes, tsNs: h.tsNs })),
    ];
    this.held = null;
    this.serverSwitched = undefined;
    return pending;
  }

  // --- events ---

  private emitExchange(ex: Exchange, res: ResponseHead, resStartNs: bigint, end: MessageEnd): void {
    ex.emitted = true;
    const o = this.ctx.options;
    const flags: string[] = [];
    const reqEnd = ex.reqEnd;
    if (reqEnd?.gap || end.gap) flags.push('gap');
    if (!reqEnd || reqEnd.incomplete) flags.push('request_incomplete');
    // A response the connection's reset or close cut short, its framing unfinished and nothing lost, failed
    // for its client whatever its status (curl: "Connection reset by peer", "transfer closed with N bytes
    // remaining"; OpenTelemetry's span status is Error on a network error reading the body). Not so when the
    // capture ended, bytes were lost, or pano-parse itself timed the connection out or evicted it.
    let cut: string | undefined;
    if (end.incomplete) {
      flags.push('response_incomplete');
      const why = end.cutBy;
      if ((why === 'rst' || why === 'fin') && !end.gap) {
        flags.push(CLOSE_FLAG[why]);
        cut = why === 'rst' ? 'connection_reset' : 'connection_closed';
      }
    }
    const reqBody = reqEnd ? bodyView(reqEnd.body, header(ex.req.headers, 'content-type'), header(ex.req.headers, 'content-encoding'), o.maxBody) : undefined;
    const resBody = bodyView(end.body, header(res.headers, 'content-type'), header(res.headers, 'content-encoding'), o.maxBody);
    if (reqBody?.truncated || resBody.truncated || ex.interimDropped) flags.push('truncated');
    const response: Record<string, unknown> = {
      status_code: res.status,
      reason: res.reason,
      header: res.headers,
    };
    if (end.trailers) response.trailer = trailerFields(end.trailers);
    if (resBody.size > 0 || resBody.content !== undefined) response.body = resBody;
    if (ex.interim.length) response.interim = ex.interim;
    void resStartNs;
    const attributes: Record<string, unknown> = {
      ...requestAttributes(ex.req, reqBody, this.ctx.conn.origin !== undefined || this.ctx.overTls === true),
      http: { request: requestFields(ex.req, reqBody), response },
    };
    const dns = dohAttributes({ method: ex.req.method, target: ex.req.target, requestHeaders: ex.req.headers, requestBody: reqEnd?.body, responseHeaders: res.headers, responseBody: end.body }, flags);
    if (dns) attributes.dns = dns;
    if (res.status >= 500) attributes.error = { type: String(res.status) };
    // Status in the body's trailer frame, else in HTTP trailers, else in the headers (trailers-only).
    if (ex.grpc) this.addGrpc(attributes, ex, end.trailers ? trailerFields(end.trailers) : header(res.headers, 'grpc-status') !== undefined ? res.headers : undefined, end.body, flags, res.headers);
    // a status the server sent (5xx, a gRPC-Web status) is the error its client reported
    if (cut && !attributes.error) attributes.error = { type: cut };
    this.ctx.emit({
      kind: 'exchange',
      startNs: ex.startNs,
      endNs: end.endNs,
      requestBytes: reqEnd?.wireBytes,
      responseBytes: end.wireBytes,
      flags,
      attributes,
    });
  }

  private emitUnanswered(ex: Exchange, flags: string[]): void {
    if (ex.emitted) return;
    ex.emitted = true;
    const reqEnd = ex.reqEnd;
    const o = this.ctx.options;
    const reqBody = reqEnd ? bodyView(reqEnd.body, header(ex.req.headers, 'content-type'), header(ex.req.headers, 'content-encoding'), o.maxBody) : undefined;
    const f = [...flags];
    if (reqEnd?.incomplete) f.push('request_incomplete');
    if (reqEnd?.gap) f.push('gap');
    if (reqBody?.truncated || ex.interimDropped) f.push('truncated');
    this.ctx.count('http.unanswered');
    const attributes: Record<string, unknown> = {
      ...requestAttributes(ex.req, reqBody, this.ctx.conn.origin !== undefined || this.ctx.overTls === true),
      http: {
        request: requestFields(ex.req, reqBody),
        ...(ex.interim.length ? { response: { interim: ex.interim } } : {}),
      },
    };
    const dns = dohAttributes({ method: ex.req.method, target: ex.req.target, requestHeaders: ex.req.headers, requestBody: reqEnd?.body, responseHeaders: undefined, responseBody: undefined }, f);
    if (dns) attributes.dns = dns;
    if (ex.grpc) this.addGrpc(attributes, ex, undefined, undefined, f);
    this.ctx.emit({
      kind: 'unanswered',
      startNs: ex.startNs,
      endNs: reqEnd?.endNs ?? ex.startNs,
      requestBytes: reqEnd?.wireBytes,
      flags: f,
      attributes,
    });
  }

  /** The rpc.* and grpc.* groups of a gRPC-Web exchange, as gRPC over HTTP/2 has them. */
  private addGrpc(attributes: Record<string, unknown>, ex: Exchange, trailers: Headers | undefined, responseBody: BodyCapture | undefined, flags: string[], responseHeaders?: Headers): void {
    const set = new Set<string>();
    const url = attributes.url as { path?: string } | undefined;
    const g = grpcAttributes(
      { path: url?.path, request: ex.grpc!.req, response: ex.grpc!.res, trailers, requestBody: ex.reqEnd?.body, responseBody, timeout: header(ex.req.headers, 'grpc-timeout'), requestHeaders: ex.req.headers, responseHeaders },
      this.ctx.options,
      set,
    );
    if (g.error && !attributes.error) attributes.error = g.error;
    for (const k in g) if (k !== 'error') attributes[k] = g[k];
    for (const f of set) if (!flags.includes(f)) flags.push(f);
  }

  private emitOrphan(res: ResponseHead, startNs: bigint, end: MessageEnd): void {
    const o = this.ctx.options;
    const resBody = bodyView(end.body, header(res.headers, 'content-type'), header(res.headers, 'content-encoding'), o.maxBody);
    const flags = ['midstream'];
    if (end.gap) flags.push('gap');
    if (resBody.truncated) flags.push('truncated');
    this.ctx.count('http.orphan_response');
    const attributes: Record<string, unknown> = {
      network: { protocol: { name: 'http', version: res.version } },
      http: {
        response: {
          status_code: res.status,
          reason: res.reason,
          header: res.headers,
          ...(resBody.size > 0 ? { body: resBody } : {}),
        },
      },
    };
    const dns = dohAttributes({ method: undefined, target: undefined, requestHeaders: undefined, requestBody: undefined, responseHeaders: res.headers, responseBody: end.body }, flags);
    if (dns) attributes.dns = dns;
    if (res.status >= 500) attributes.error = { type: String(res.status) };
    this.ctx.emit({
      kind: 'orphan_response',
      startNs,
      endNs: end.endNs,
      responseBytes: end.wireBytes,
      flags,
      attributes,
    });
  }
}

function requestFraming(req: RequestHead): BodyFraming {
  const te = req.headers['transfer-encoding'];
  if (te) {
    return headerHasToken(req.headers, 'transfer-encoding', 'chunked') ? { kind: 'chunked' } : { kind: 'none' };
  }
  const cl = contentLength(req.headers);
  if (cl !== undefined) return { kind: 'length', length: cl };
  return { kind: 'none' };
}

function responseFraming(res: ResponseHead, method: string | undefined): BodyFraming {
  if (method === 'HEAD' || res.status === 204 || res.status === 304) return { kind: 'none' };
  if (res.headers['transfer-encoding']) {
    return headerHasToken(res.headers, 'transfer-encoding', 'chunked') ? { kind: 'chunked' } : { kind: 'close' };
  }
  const cl = contentLength(res.headers);
  if (cl !== undefined) return { kind: 'length', length: cl };
  return { kind: 'close' };
}

function contentLength(h: Headers): number | undefined {
  const v = h['content-length'];
  if (!v) return undefined;
  // Repeated identical values are allowed (RFC 9110 §8.6); differing ones are not trustworthy.
  const first = v[0].split(',')[0].trim();
  if (!/^\d{1,15}$/.test(first)) return undefined;
  return Number(first);
}

function trailerFields(raw: Buffer): Headers {
  const out: Headers = {};
  for (const line of raw.toString('latin1').split('\r\n')) {
    const c = line.indexOf(':');
    if (c <= 0) continue;
    const name = line.slice(0, c).trim().toLowerCase();
    const value = line.slice(c + 1).trim();
    // a trailer named `constructor` found Object.prototype's member and threw on push; see parseFields
    const seen = out[name];
    if (Array.isArray(seen)) seen.push(value);
    else setOwn(out, name, [value]);
  }
  return out;
}

function requestFields(req: RequestHead, body: ReturnType<typeof bodyView> | undefined): Record<string, unknown> {
  const r: Record<string, unknown> = { method: req.method, header: req.headers };
  if (body && (body.size > 0 || body.content !== undefined)) r.body = body;
  return r;
}

/** url.*, user_agent.*, network.protocol.* from the request line and headers. */
function requestAttributes(req: RequestHead, _body: unknown, tls = false): Record<string, unknown> {
  const out: Record<string, unknown> = {
    network: { protocol: req.version ? { name: 'http', version: req.version } : { name: 'http' } },
  };
  const url: Record<string, unknown> = {};
  const t = req.target;
  const authority = req.method === 'CONNECT' ? /^(\[[^\]]+\]|[^:/\s]+):(\d{1,5})$/.exec(t) : null;
  if (authority) {
    url.domain = sequential(authority[1].replace(/^\[|\]$/g, ''));
    url.port = Number(authority[2]);
  } else {
    let path = t;
    const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/[^/?#]*/.exec(t);
    if (scheme) {
      url.full = t;
      url.scheme = scheme[1].toLowerCase();
      path = t.slice(scheme[0].length) || '/';
    } else {
      // plaintext from a TLS library (pano-capture --tls) was https on the wire
      url.scheme = tls ? 'https' : 'http';
    }
    const q = path.indexOf('?');
    // slices of the target: copied so the event stays on the JSON fast path (ADR 0007)
    url.path = sequential(q === -1 ? path : path.slice(0, q));
    if (q !== -1) url.query = sequential(path.slice(q + 1));
  }
  out.url = url;
  const ua = header(req.headers, 'user-agent');
  if (ua !== undefined) out.user_agent = { original: ua };
  return out;
}
