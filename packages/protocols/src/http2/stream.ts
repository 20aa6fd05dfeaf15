/**
 * One HTTP/2 stream as an observer sees it: request headers, body and
 * trailers from the client, response headers, body and trailers from the
 * server, and how it ended. Turns into one event (RFC 9113 §8.1).
 */
import { isUtf8 } from 'node:buffer';
import type { ExchangeRecord, HandoffInit, ParseOptions } from '../types.js';
import { BodyCapture, bodyView } from '../body.js';
import { GrpcFramer, GrpcWire, bodyEncodingOf, grpcAttributes, grpcWire, type GrpcSide } from '../grpc/index.js';
import type { HeaderList } from './hpack.js';
import { dohAttributes } from '../dns/doh.js';
import { MAX_INTERIM } from '../http1/head.js';
import { setOwn } from '@panopticon/events';

export type Headers = Record<string, string[]>;

/** gRPC messages kept per side for decoding (the counts are always whole). */
const GRPC_KEPT_MESSAGES = 20;

export class MessageSide {
  pseudo: Record<string, string> = {};
  headers: Headers | undefined;
  trailers: Headers | undefined;
  body: BodyCapture;
  grpc: GrpcSide | undefined;
  ended = false;
  /** A DATA frame came on this side: a header block after it is the trailer block. */
  dataSeen = false;
  /** Frame bytes of this side on the wire (headers included). */
  bytes = 0;
  firstNs = 0n;
  lastNs = 0n;

  constructor(maxBody: number) {
    this.body = new BodyCapture(maxBody);
  }

  touch(tsNs: bigint, frameBytes: number): void {
    if (this.bytes === 0) this.firstNs = tsNs;
    this.lastNs = tsNs;
    this.bytes += frameBytes;
  }
}

/** Whether a latin1 string has an octet ≥ 0x80 (a loop: short values, and no regex call per header). */
function highOctet(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return true;
  return false;
}

/** A value with high octets: UTF-8 text when it is valid UTF-8, else the octets as latin1 (never U+FFFD). */
function fieldText(raw: string): string {
  const bytes = Buffer.from(raw, 'latin1');
  return isUtf8(bytes) ? bytes.toString('utf8') : raw;
}

export function splitHeaders(list: HeaderList): { pseudo: Record<string, string>; headers: Headers } {
  const pseudo: Record<string, string> = {};
  const headers: Headers = {};
  for (const [rawName, rawValue] of list) {
    const name = rawName.toLowerCase();
    // Field values are octets; HTTP/2 peers send UTF-8 in practice, some (node's http2) latin1.
    const value = highOctet(rawValue) ? fieldText(rawValue) : rawValue;
    if (name.charCodeAt(0) === 0x3a) pseudo[name] = value;
    else {
      // A literal for the first value: `[]` and a push would reserve 17 slots per header.
      // Names come off the wire: `constructor` or `toString` find Object.prototype's members
      // (never an array; a push threw, a parser fault), `__proto__` must be defined, not
      // assigned (setOwn). A plain object, not a prototype-less one: V8's JSON.stringify
      // fast path (ADR 0007) takes it, about twice as fast on these maps.
      const values = headers[name];
      if (Array.isArray(values)) values.push(value);
      else setOwn(headers, name, [value]);
    }
  }
  return { pseudo, headers };
}

/**
 * Whether a header block is its side's trailer block though the side's head was not seen (a
 * stream joined mid-capture, or its head lost in a gap: the caller checks that it may be). RFC 9113 §8.1: the head comes before
 * any DATA, and only it carries pseudo-header fields (a request's :method, a response's :status,
 * also a trailers-only response's). A block after DATA is the trailers; so is one decoded whole
 * without pseudo-header fields. One with fields missing may have lost its :status: not known.
 */
function trailerBlock(side: MessageSide, pseudo: Record<string, string>, whole: boolean): boolean {
  return side.dataSeen || (whole && Object.keys(pseudo).length === 0);
}

/** A GOAWAY frame (RFC 9113 §6.8): who sent it, its error code name, and its debug data (bounded). */
export interface GoawayInfo {
  by: 'client' | 'server';
  errorCode: string;
  lastStreamId: number;
  /** The kept debug data: text when printable UTF-8, else hex. */
  debugData?: string;
  /** Debug data bytes in the frame (more than were kept when it was long). */
  debugSize?: number;
}

export class Http2Stream {
  readonly req: MessageSide;
  readonly res: MessageSide;
  readonly flags = new Set<string>();
  /** 1xx responses seen before the final one. */
  interim: Array<{ status_code: number; header: Headers }> = [];
  /** Stream that carried the PUSH_PROMISE, for pushed streams. */
  promisedBy: number | undefined;
  /** Error code name when RST_STREAM ended it. */
  resetBy: { side: 'client' | 'server'; code: string } | undefined;
  /** The GOAWAY that refused the stream, else the first one seen while it was open (the flags say which). */
  goaway: GoawayInfo | undefined;
  /** Request head was not captured (joined mid-stream). */
  requestSeen = false;
  /** The request came over HTTP/1.1 before an h2c upgrade. */
  upgraded: HandoffInit['upgradedRequest'];
  isGrpc = false;

  private readonly maxBody: number;

  constructor(readonly id: number, options: ParseOptions) {
    this.maxBody = options.maxBody;
    this.req = new MessageSide(options.maxBody);
    this.res = new MessageSide(options.maxBody);
  }

  /** The server answered: its final head (1xx are not kept there), or its trailer block when that head was not captured. */
  get answered(): boolean {
    return this.res.headers !== undefined || this.res.trailers !== undefined;
  }

  /** Something identifies the stream: a head, or a trailer block whose head was not captured. */
  get identified(): boolean {
    return this.requestSeen || this.answered || this.req.trailers !== undefined;
  }

  /**
   * The stream began before the capture, or bytes of it were lost: a side's head may not have
   * been seen. Otherwise a first block without :status is a malformed head, kept as one.
   */
  private get headMayBeMissing(): boolean {
    return this.flags.has('midstream') || this.flags.has('gap');
  }

  /**
   * `whole`: the block decoded with no field missing (all its HPACK references known), so a
   * block without pseudo-header fields is known to be a trailer block.
   */
  requestHeaders(list: HeaderList, whole = false): void {
    const { pseudo, headers } = splitHeaders(list);
    if (this.req.headers || (this.headMayBeMissing && trailerBlock(this.req, pseudo, whole))) {
      this.req.trailers = headers;
      return;
    }
    this.requestSeen = true;
    this.req.pseudo = pseudo;
    // The authority is shown among the request fields (server.address stays the network address).
    if (pseudo[':authority'] !== undefined) headers[':authority'] = [pseudo[':authority']];
    this.req.headers = headers;
    const wire = grpcWire(headers['content-type']?.[0]);
    if (wire !== undefined) this.startGrpc(wire);
  }

  responseHeaders(list: HeaderList, whole = false): void {
    const { pseudo, headers } = splitHeaders(list);
    if (this.res.headers || (this.headMayBeMissing && trailerBlock(this.res, pseudo, whole))) {
      this.res.trailers = headers;
      return;
    }
    const status = Number(pseudo[':status']);
    if (status >= 100 && status < 200) {
      if (this.interim.length < MAX_INTERIM) this.interim.push({ status_code: status, header: headers });
      else this.flags.add('truncated');
      return;
    }
    this.res.pseudo = pseudo;
    this.res.headers = headers;
    const wire = grpcWire(headers['content-type']?.[0]);
    if (!this.isGrpc && wire !== undefined) {
      this.startGrpc(wire);
      // The request said what it is (JSON, a form): it is read as that, as the response is by its own.
      if (this.req.headers?.['content-type'] !== undefined) this.req.grpc = undefined;
    } else if (this.res.grpc && wire === undefined) {
      // Each side is read by its own content-type: a response that is not gRPC (a proxy's 502
      // page, a plain-text 503) is not framed, or "<htm" read as a length made a 1.75 GB message
      // and the page was lost. Its body is shown as any HTTP/2 body; the request stays gRPC.
      this.res.grpc = undefined;
    } else if (this.res.grpc && wire !== undefined && wire !== this.res.grpc.framer.wire && this.res.body.size === 0) {
      // Each side has its own content-type: a grpc-web-text request may be answered in binary.
      this.res.grpc.framer = new GrpcFramer(GRPC_KEPT_MESSAGES, this.maxBody, wire);
    }
    if (this.res.grpc) {
      this.res.grpc.encoding = headers['grpc-encoding']?.[0];
      this.res.grpc.bodyEncoding = bodyEncodingOf(this.res.grpc.framer.wire, headers['content-encoding']?.[0]);
    }
  }

  private startGrpc(wire: GrpcWire): void {
    this.isGrpc = true;
    const rq = this.req.headers;
    const rs = this.res.headers;
    this.req.grpc = { framer: new GrpcFramer(GRPC_KEPT_MESSAGES, this.maxBody, wire), encoding: rq?.['grpc-encoding']?.[0], bodyEncoding: bodyEncodingOf(wire, rq?.['content-encoding']?.[0]) };
    this.res.grpc = { framer: new GrpcFramer(GRPC_KEPT_MESSAGES, this.maxBody, wire), encoding: rs?.['grpc-encoding']?.[0], bodyEncoding: bodyEncodingOf(wire, rs?.['content-encoding']?.[0]) };
    // Recognised only after request bytes went by (joined mid-stream): their framing is unknown.
    if (this.req.body.size) this.req.grpc.framer.gap();
  }

  data(side: MessageSide, payload: Buffer): void {
    side.body.add(payload);
    // A compressed body (gRPC-Web's Content-Encoding) is framed from the capture when it ended.
    if (side.grpc && !side.grpc.bodyEncoding) side.grpc.framer.push(payload);
  }

  /**
   * Builds the event; `kind` and extra flags are decided by the connection.
   * `version` 3: an HTTP/3 request stream (the same semantics, RFC 9114 §4),
   * whose stream facts go in `http3` instead of `http2`.
   */
  record(kind: ExchangeRecord['kind'], options: ParseOptions, extraFlags: string[] = [], version: '2' | '3' = '2'): ExchangeRecord {
    const flags = this.flags;
    for (const f of extraFlags) flags.add(f);
    const req = this.req;
    const res = this.res;
    const pseudo = req.pseudo;
    const attrs: Record<string, unknown> = { network: { protocol: { name: 'http', version } } };
    const http: Record<string, unknown> = {};
    const request: Record<string, unknown> = {};
    const up = this.upgraded;
    let path: string | undefined;
    if (up) {
      request.method = up.method;
      request.header = up.headers;
      path = up.target;
      attrs.url = urlOf(up.target, 'http');
    } else if (this.requestSeen) {
      request.method = pseudo[':method'];
      request.header = req.headers;
      path = pseudo[':path'];
      if (path !== undefined) attrs.url = urlOf(path, pseudo[':scheme']);
    }
    const ua = (up ? up.headers : this.requestSeen ? req.headers : undefined)?.['user-agent']?.[0];
    if (ua !== undefined) attrs.user_agent = { original: ua };
    // the upgraded request's body was read by HTTP/1.1 and handed over with it
    const reqHeaders = up ? up.headers : req.headers;
    const reqBody = up?.body ?? req.body;
    if (!this.isGrpc || !req.grpc) {
      const rb = bodyView(reqBody, reqHeaders?.['content-type']?.[0], reqHeaders?.['content-encoding']?.[0], options.maxBody);
      if (rb.size > 0) request.body = rb;
      if (rb.truncated) flags.add('truncated');
    } else if (reqBody.size > 0) {
      request.body = { size: reqBody.size };
    }
    if (Object.keys(request).length) http.request = request;
    if (res.headers || res.trailers || this.interim.length) {
      const response: Record<string, unknown> = {};
      if (res.headers) {
        // three digits (RFC 9113 §8.3.2, RFC 9110 §15): anything else is no status, and the stream says so
        const text = res.pseudo[':status'];
        const status = text !== undefined && /^[1-9]\d\d$/.test(text) ? Number(text) : NaN;
        if (Number.isFinite(status)) response.status_code = status;
        else if (text !== undefined) flags.add('malformed');
        response.header = res.headers;
        if (status >= 500) attrs.error = { type: String(status) };
      }
      if (res.trailers) response.trailer = res.trailers;
      if (this.interim.length) response.interim = this.interim;
      if (!this.isGrpc || !res.grpc) {
        const bv = bodyView(res.body, res.headers?.['content-type']?.[0], res.headers?.['content-encoding']?.[0], options.maxBody);
        if (bv.size > 0) response.body = bv;
        if (bv.truncated) flags.add('truncated');
      } else if (res.body.size > 0) {
        response.body = { size: res.body.size };
      }
      http.response = response;
    }
    attrs.http = http;
    const h2: Record<string, unknown> = { stream_id: this.id };
    if (this.promisedBy !== undefined) h2.push_promise_stream_id = this.promisedBy;
    if (this.resetBy) h2.reset = { by: this.resetBy.side, error_code: this.resetBy.code };
    const g = this.goaway;
    if (g) {
      const goaway: Record<string, unknown> = { by: g.by, error_code: g.errorCode, last_stream_id: g.lastStreamId };
      if (g.debugData !== undefined) {
        goaway.debug_data = g.debugData;
        goaway.debug_data_size = g.debugSize;
      }
      h2.goaway = goaway;
    }
    // Request trailers are rare (gRPC and most APIs send none); semconv has no place for them.
    if (req.trailers) h2.request_trailer = req.trailers;
    if (version === '3') attrs.http3 = h2;
    else attrs.http2 = h2;
    if (!this.isGrpc) {
      const dohFlags: string[] = [];
      const dns = dohAttributes(
        { method: up ? up.method : pseudo[':method'], target: path, requestHeaders: reqHeaders, requestBody: reqBody, responseHeaders: res.headers, responseBody: res.body },
        dohFlags,
      );
      if (dns) attrs.dns = dns;
      for (const f of dohFlags) flags.add(f);
    }
    if (this.isGrpc) {
      const trailers = res.trailers ?? (res.headers && res.headers['grpc-status'] ? res.headers : undefined);
      const responseComplete =
        kind === 'exchange' && res.ended && !this.resetBy && !flags.has('gap') && res.grpc?.framer.wire === GrpcWire.NATIVE;
      const timeout = reqHeaders?.['grpc-timeout']?.[0];
      const g = grpcAttributes({ path, request: req.grpc, response: res.grpc, trailers, requestBody: req.body, responseBody: res.body, responseComplete, timeout, requestHeaders: reqHeaders, responseHeaders: res.headers }, options, flags);
      if (g.error && !attrs.error) attrs.error = g.error;
      // Everything but `error`, in order (a `delete` would turn `g` into a dictionary first).
      for (const k in g) if (k !== 'error') attrs[k] = g[k];
    }
    // A stream reset before its response ended is a failed call to its client, with no status to say so:
    // without error.type the graph, metrics and spans counted cancelled and refused calls as successes.
    // Not when the response had ended (RFC 9113 §8.1: a server that answered whole may reset the rest of
    // the request), nor NO_ERROR, nor a pushed stream (a client declining a push is not a failure).
    const reset = this.resetBy;
    if (reset && !attrs.error && !res.ended && reset.code !== 'NO_ERROR' && this.promisedBy === undefined) attrs.error = { type: reset.code };
    const startNs = up ? up.startNs : req.bytes ? req.firstNs : res.firstNs;
    let endNs = res.bytes ? (res.lastNs > req.lastNs ? res.lastNs : req.lastNs) : req.lastNs || startNs;
    if (up && up.responseEndNs > endNs) endNs = up.responseEndNs;
    const rec: ExchangeRecord = { kind, startNs, endNs: endNs < startNs ? startNs : endNs, attributes: attrs };
    // An upgraded request's bytes and its 101's were HTTP/1.1 (the 101 is in http.response.interim).
    const reqBytes = (up?.requestBytes ?? 0) + req.bytes;
    if (reqBytes || kind !== 'orphan_response') rec.requestBytes = reqBytes;
    const resBytes = (up?.responseBytes ?? 0) + res.bytes;
    if (resBytes) rec.responseBytes = resBytes;
    if (flags.size) rec.flags = [...flags];
    return rec;
  }
}

function urlOf(target: string, scheme: string | undefined): Record<string, unknown> {
  const url: Record<string, unknown> = {};
  let path = target;
  // Origin-form (`/path`), the usual target, cannot be absolute: no regex for it.
  const abs = target.charCodeAt(0) === 0x2f ? null : /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/[^/?#]*/.exec(target);
  if (abs) {
    url.full = target;
    url.scheme = abs[1].toLowerCase();
    path = target.slice(abs[0].length) || '/';
  } else if (scheme) {
    url.scheme = scheme;
  }
  const q = path.indexOf('?');
  url.path = q === -1 ? path : path.slice(0, q);
  if (q !== -1) url.query = path.slice(q + 1);
  return url;
}
