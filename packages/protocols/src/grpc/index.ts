/**
 * gRPC on top of an HTTP/2 stream: recognised by content-type, named by
 * `:path`, status from trailers (or a trailers-only response), messages
 * framed, decompressed and decoded to JSON (by schema when `--proto` gave
 * one, by wire format otherwise).
 */
import type { ParseOptions } from '../types.js';
import { inflate, type BodyCapture, type Inflated } from '../body.js';
import { GrpcFramer, type GrpcMessage } from './framing.js';
import { decodeMessage, loadProtoSchemas, type ProtoSchemas } from './proto.js';
import { GrpcWire, grpcWire, parseTrailerBlock } from './web.js';
import { MAX_BINARY_METADATA_BYTES, STATUS_DETAILS_KEY, binaryMetadata, statusDetails } from './metadata.js';
import { sequential } from '@panopticon/events';

export { GrpcFramer, GrpcWire, grpcWire, loadProtoSchemas };

/** Status code names (grpc/doc/statuscodes.md). */
const STATUS_NAMES = [
  'OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS',
  'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE',
  'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED',
];

/**
 * The paths split last: a channel calls the same few methods over and over, and the split (a regex
 * and two copies) was 4 % of a gRPC benchmark round. Bounded: cleared when full.
 */
const RPC_NAMES = new Map<string, { service?: string; method?: string }>();
const MAX_RPC_NAMES = 1024;

/** Splits `/pkg.Service/Method`. */
export function rpcName(path: string | undefined): { service?: string; method?: string } {
  if (!path) return {};
  const known = RPC_NAMES.get(path);
  if (known) return copyName(known);
  const m = /^\/([^/]+)\/([^/?]+)$/.exec(path);
  // Regex captures are slices of the path: copied so events stay on the JSON fast path (ADR 0007).
  const name = m ? { service: sequential(m[1]), method: sequential(m[2]) } : {};
  if (RPC_NAMES.size >= MAX_RPC_NAMES) RPC_NAMES.clear();
  RPC_NAMES.set(path, name);
  return copyName(name);
}

/** A caller's own copy: the cached one is shared. */
function copyName(n: { service?: string; method?: string }): { service?: string; method?: string } {
  return n.service === undefined ? {} : { service: n.service, method: n.method };
}

/**
 * grpc-message is percent-encoded UTF-8 (gRPC over HTTP/2 spec). The field
 * value arrives already read as UTF-8 (http2 splitHeaders), so raw UTF-8 that
 * some servers send unescaped is text here, kept as it is (as grpc-go does).
 */
function decodeGrpcMessage(v: string): string {
  try {
    return decodeURIComponent(v);
  } catch {
    return v;
  }
}

export interface GrpcSide {
  framer: GrpcFramer;
  /** Compression used by this side's sender (its `grpc-encoding`). */
  encoding?: string;
  /**
   * gRPC-Web's whole-body compression (its Content-Encoding: gzip, deflate,
   * br): such a body is framed once it ended, from its captured bytes
   * (bounded by --max-body), not as it streams; cleared once framed.
   * `identity`: framed from the capture as it is (a body that went by before
   * the exchange was known to be gRPC).
   */
  bodyEncoding?: string;
}

/**
 * The Content-Encoding a gRPC side's body must be undone from, or undefined
 * for none (identity). Whole-body compression by Content-Encoding is
 * gRPC-Web's (ADR 0204). Native gRPC compresses per message (grpc-encoding)
 * and is framed as it streams: a content-encoding on it (zstd, or one a proxy
 * adds) left it unframed until the end, then undecodable (flag malformed, no
 * messages).
 */
export function bodyEncodingOf(wire: GrpcWire, contentEncoding: string | undefined): string | undefined {
  if (wire === GrpcWire.NATIVE) return undefined;
  const e = contentEncoding?.trim().toLowerCase();
  return e && e !== 'identity' ? e : undefined;
}

/**
 * Frames a compressed body (see GrpcSide.bodyEncoding); a body that does not decompress is flagged
 * malformed. Its output is bounded as an HTTP body's (inflate: 32 x --max-body, or a prefix of a
 * bomb); the framer keeps --max-body bytes of it and counts the rest.
 */
function frameEncodedBody(side: GrpcSide | undefined, body: BodyCapture | undefined, max: number, flags: Set<string>): void {
  if (!side?.bodyEncoding || !body) return;
  const encoding = side.bodyEncoding;
  side.bodyEncoding = undefined;
  if (body.size === 0) return;
  let partial = false;
  try {
    if (encoding === 'identity') side.framer.push(body.bytes());
    else {
      const out = inflate(body.bytes(), encoding, max);
      partial = out.partial;
      side.framer.push(out.bytes);
    }
  } catch {
    flags.add('malformed');
  }
  // Cut at --max-body, by a gap or by the inflate bound: the last message read is reported cut, and the counts are not whole.
  side.framer.end();
  if (body.truncated || partial) flags.add('truncated');
}

export interface GrpcInput {
  path?: string;
  request?: GrpcSide;
  response?: GrpcSide;
  /** Merged response trailers (or the headers of a trailers-only response). */
  trailers?: Record<string, string[]>;
  /** The captured bodies, for sides with a bodyEncoding. */
  requestBody?: BodyCapture;
  responseBody?: BodyCapture;
  /**
   * The response ended as gRPC ends it, with nothing lost on the way (native
   * gRPC: END_STREAM seen, no reset, no gap): its status must be there.
   */
  responseComplete?: boolean;
  /** The request's grpc-timeout header. */
  timeout?: string;
  /** The request's and the response's header fields, for their binary metadata (`-bin`). */
  requestHeaders?: Record<string, string[]>;
  responseHeaders?: Record<string, string[]>;
}

/** Nanoseconds per grpc-timeout unit (gRPC over HTTP/2: Hours, Minutes, Seconds, milli, micro, nano). */
const TIMEOUT_UNIT_NS: Record<string, number> = { H: 3_600_000_000_000, M: 60_000_000_000, S: 1_000_000_000, m: 1_000_000, u: 1_000, n: 1 };

/**
 * The deadline a grpc-timeout gives, in nanoseconds: TimeoutValue (1 to 8
 * digits) then TimeoutUnit. Undefined when the header is not of that form
 * (it stays in the request headers as sent). At most 99,999,999 hours:
 * 3.6e20 ns, past 2^53, so the number is exact only to its first 15 or 16
 * digits; deadlines that long are not deadlines.
 */
export function grpcTimeoutNs(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const m = /^(\d{1,8})([HMSmun])$/.exec(value.trim());
  return m ? Number(m[1]) * TIMEOUT_UNIT_NS[m[2]] : undefined;
}

/**
 * gRPC-Web's trailers, from the trailer frame at the end of the response
 * body; undefined when there was none (a trailers-only response has the
 * status in its headers), it cannot be read, or it has no field.
 */
function webTrailers(side: GrpcSide | undefined, max: number): Record<string, string[]> | undefined {
  const block = side?.framer.trailerBlock;
  if (!block) return undefined;
  let fields: Record<string, string[]>;
  try {
    let text = block;
    if (side!.framer.trailerCompressed) {
      const out = inflateGrpc(block, side!.encoding, max);
      // A prefix of a bomb: a line cut short could read as a wrong value, so only whole lines are read.
      text = out.partial ? out.bytes.subarray(0, out.bytes.lastIndexOf(0x0a) + 1) : out.bytes;
    }
    fields = parseTrailerBlock(text);
  } catch {
    return undefined;
  }
  // No field (a frame cut at the 16 KiB bound before its first line ended leaves an empty block):
  // `{}` would hide the HTTP trailers or a trailers-only response's headers, which may hold the status.
  for (const _ in fields) return fields;
  return undefined;
}

let schemaCache: { key: string; schemas: ProtoSchemas | Error } | undefined;

function schemasFor(options: ParseOptions): ProtoSchemas | Error | undefined {
  const paths = options.protoPaths;
  if (!paths || paths.length === 0) return undefined;
  const key = paths.join('\0');
  if (schemaCache?.key !== key) {
    try {
      schemaCache = { key, schemas: loadProtoSchemas(paths) };
    } catch (err) {
      schemaCache = { key, schemas: err as Error };
    }
  }
  return schemaCache!.schemas;
}

/**
 * Undoes a side's grpc-encoding (gzip, deflate; br as gRPC-Web's
 * Content-Encoding has it) with HTTP bodies' bounded inflate.
 */
function inflateGrpc(bytes: Buffer, encoding: string | undefined, max: number): Inflated {
  const e = (encoding ?? 'identity').toLowerCase();
  if (e !== 'gzip' && e !== 'x-gzip' && e !== 'deflate' && e !== 'br') throw new Error(`unsupported grpc-encoding ${encoding ?? 'identity'}`);
  return inflate(bytes, e, max);
}

function messageViews(
  side: GrpcSide,
  type: import('protobufjs').Type | undefined,
  options: ParseOptions,
  flags: Set<string>,
): Array<Record<string, unknown>> {
  // The side's kept messages hold at most --max-body bytes once decompressed, as the framer keeps
  // at most that many on the wire: a message past what is left is cut and, like a message the
  // framer cut, not decoded. (Decompressed unbounded, a 1 KB gzip message put 1 MB in the event.)
  let room = options.maxBody;
  return side.framer.messages.map((m: GrpcMessage) => {
    const view: Record<string, unknown> = { size: m.size };
    if (m.compressed) view.compressed = true;
    if (m.truncated) {
      view.truncated = true;
      flags.add('truncated');
    }
    if (!m.bytes || m.truncated) return view;
    let plain = m.bytes;
    let cut = false;
    if (m.compressed) {
      try {
        const out = inflateGrpc(m.bytes, side.encoding, room);
        plain = out.bytes;
        // A bomb's prefix may be shorter than what is left, and is still cut.
        cut = out.partial;
      } catch (err) {
        view.decode_error = (err as Error).message.split('\n')[0];
        return view;
      }
    }
    if (cut || plain.length > room) {
      view.truncated = true;
      flags.add('truncated');
      // Spent, as the framer's bound is once it cut a message: the messages after this one are cut too.
      room = 0;
      return view;
    }
    room -= plain.length;
    decodeMessage(view, type, plain);
    return view;
  });
}

/** `rpc.*` and `grpc.*` attributes, plus `error.type` for a failed call. */
export function grpcAttributes(input: GrpcInput, options: ParseOptions, flags: Set<string>): Record<string, unknown> {
  const { service, method } = rpcName(input.path);
  const rpc: Record<string, unknown> = { system: 'grpc' };
  if (service) rpc.service = service;
  if (method) rpc.method = method;
  const out: Record<string, unknown> = { rpc };
  const grpc: Record<string, unknown> = {};
  frameEncodedBody(input.request, input.requestBody, options.maxBody, flags);
  frameEncodedBody(input.response, input.responseBody, options.maxBody, flags);
  const trailers = webTrailers(input.response, options.maxBody) ?? input.trailers;
  const status = trailers?.['grpc-status']?.[0];
  if (status !== undefined && /^\d+$/.test(status.trim())) {
    const code = Number(status.trim());
    rpc.grpc = { status_code: code };
    grpc.status = STATUS_NAMES[code] ?? String(code);
    if (code !== 0) out.error = { type: STATUS_NAMES[code] ?? String(code) };
  } else if (status === undefined && input.responseComplete) {
    // A response that ends without grpc-status is an error to its client (grpc-java reports
    // UNKNOWN, "missing GRPC status in response"); which code a client made of it is not on the wire.
    flags.add('grpc_status_missing');
    out.error = { type: 'grpc_status_missing' };
  }
  const msg = trailers?.['grpc-message']?.[0];
  if (msg) grpc.status_message = decodeGrpcMessage(msg);
  const schemas = schemasFor(options);
  // Binary metadata's decoded bytes, the status details first: they are what a failed call says.
  const budget = { left: MAX_BINARY_METADATA_BYTES };
  const details = trailers?.[STATUS_DETAILS_KEY];
  if (details?.length) {
    const lookup = schemas && !(schemas instanceof Error) ? (name: string) => schemas.type(name) : undefined;
    grpc.status_details = statusDetails(details, budget, flags, lookup);
  }
  // The call's deadline, as the client set it: with pano.duration_ns it tells a call cancelled at its deadline
  // (DEADLINE_EXCEEDED at the client, never sent: the wire shows a reset, or a half-close the server may answer
  // with OK) from one cancelled by its caller.
  const timeoutNs = grpcTimeoutNs(input.timeout);
  if (timeoutNs !== undefined) grpc.timeout_ns = timeoutNs;
  if (schemas instanceof Error) flags.add('proto_error');
  const types = schemas && !(schemas instanceof Error) && input.path ? schemas.method(input.path) : undefined;
  if (types) grpc.schema = true;
  if (input.request) grpc.request = sideAttributes(input.request, types?.request, options, flags);
  if (input.response) grpc.response = sideAttributes(input.response, types?.response, options, flags);
  if (input.request) {
    const m = binaryMetadata(input.requestHeaders, budget, flags);
    if (m) (grpc.request as Record<string, unknown>).metadata = m;
  }
  if (input.response) {
    const res = grpc.response as Record<string, unknown>;
    // a trailers-only response's head is its trailers: its status details are read as such
    const trailersOnly = trailers !== undefined && trailers === input.responseHeaders;
    const m = binaryMetadata(input.responseHeaders, budget, flags, trailersOnly ? STATUS_DETAILS_KEY : undefined);
    if (m) res.metadata = m;
    const t = trailersOnly ? undefined : binaryMetadata(trailers, budget, flags, STATUS_DETAILS_KEY);
    if (t) res.trailer_metadata = t;
  }
  out.grpc = grpc;
  return out;
}

/** `grpc.request` or `grpc.response`: counts, sizes and the kept messages of one side. */
function sideAttributes(side: GrpcSide, type: import('protobufjs').Type | undefined, options: ParseOptions, flags: Set<string>): Record<string, unknown> {
  const f = side.framer;
  const s: Record<string, unknown> = { message_count: f.count, message_bytes: f.totalBytes };
  if (side.encoding && side.encoding !== 'identity') s.encoding = side.encoding;
  if (f.lost) s.gap = true;
  // gRPC-Web text that is not base64: counted up to the bad byte, the rest is unknown.
  if (f.malformed) flags.add('malformed');
  if (f.messages.length) s.messages = messageViews(side, type, options, flags);
  if (f.count > f.messages.length) flags.add('truncated');
  return s;
}
