/**
 * One Kafka connection. Requests carry a correlation id that the response
 * repeats; the response can only be read knowing the request's API key and
 * version, so responses are decoded when they are matched to their pending
 * request (keyed by correlation id).
 */
import type { CloseReason, Dir } from '@panopticon/flows';
import { KeyedStitcher } from '../stitch.js';
import type { ExchangeRecord, ParserContext, StreamParser } from '../types.js';
import {
  API_KEYS,
  MAX_PLAUSIBLE_VERSION,
  apiName,
  isFlexible,
  requestHasClientId,
  responseHeaderHasTags,
} from './apis.js';
import { exchangeAttributes } from './fields.js';
import { KafkaFramer, MAX_FRAME, type KafkaFrame } from './framer.js';
import { KafkaRangeError, KafkaReader } from './reader.js';
import { SCHEMAS, decodeBody, type DecodeContext, type DecodedBody } from './schemas.js';
import { CLOSE_FLAG } from '../close-flags.js';

/** Messages decoded whole up to this size; larger ones are decoded from this prefix. */
export const MAX_DECODED_MESSAGE = 8 * 1024 * 1024;

export interface KafkaHalf {
  frame: KafkaFrame;
  decoded?: DecodedBody;
  records: DecodeContext['records'];
  /** the body was not decoded: why */
  undecoded?: string;
  /** a record header value was cut to the body budget */
  headerCut?: boolean;
}

export interface KafkaRequest extends KafkaHalf {
  apiKey: number;
  apiVersion: number;
  correlationId: number;
  clientId: string | null;
}


export class KafkaParser implements StreamParser {
  private readonly framers: [KafkaFramer, KafkaFramer];
  private readonly pending: KeyedStitcher<number, KafkaRequest>;
  private gapFlag = false;

  constructor(private readonly ctx: ParserContext) {
    const skipped = (n: number) => ctx.count('kafka.skipped_bytes', n);
    const damaged = (reason: string) => {
      void reason;
      ctx.count('kafka.malformed');
      this.gapFlag = true;
    };
    this.framers = [
      new KafkaFramer(MAX_DECODED_MESSAGE, (f) => this.onRequest(f), plausibleRequest, skipped, damaged),
      new KafkaFramer(MAX_DECODED_MESSAGE, (f) => this.onResponse(f), (b, o) => this.plausibleResponse(b, o), skipped, damaged),
    ];
    if (ctx.conn.midstream) {
      this.framers[0].syncing = true;
      this.framers[1].syncing = true;
    }
    this.pending = new KeyedStitcher<number, KafkaRequest>(ctx.options.maxPending, (req) => {
      ctx.count('kafka.evicted');
      this.emit('unanswered', req, undefined, ['evicted']);
    });
  }

  data(dir: Dir, chunk: Buffer, tsNs: bigint): void {
    this.framers[dir].push(chunk, tsNs);
  }

  gap(dir: Dir, _length: number, _tsNs: bigint): void {
    this.ctx.count('kafka.gaps');
    this.gapFlag = true;
    this.framers[dir].resync();
  }

  end(_dir: Dir, _tsNs: bigint): void {}

  close(reason: CloseReason, _tsNs: bigint): void {
    for (const [, req] of this.pending.drain()) this.emit('unanswered', req, undefined, [CLOSE_FLAG[reason]]);
  }

  private onRequest(frame: KafkaFrame): void {
    const r = new KafkaReader(frame.bytes);
    let req: KafkaRequest;
    try {
      const apiKey = r.int16();
      const apiVersion = r.int16();
      const correlationId = r.int32();
      const clientId = requestHasClientId(apiKey, apiVersion) ? r.string() : null;
      req = { frame, apiKey, apiVersion, correlationId, clientId, records: [] };
      r.flexible = isFlexible(apiKey, apiVersion);
      r.taggedFields(); // request header v2
    } catch (err) {
      if (!(err instanceof KafkaRangeError)) throw err;
      this.ctx.count('kafka.malformed');
      return;
    }
    this.decode(req, r, 'request');
    if (req.apiKey === 0 && req.decoded?.body.acks === 0) {
      // acks=0: the broker never answers a fire-and-forget produce
      this.emit('message', req, undefined);
      return;
    }
    this.pending.set(req.correlationId, req);
  }

  private onResponse(frame: KafkaFrame): void {
    if (frame.bytes.length < 4) {
      this.ctx.count('kafka.malformed');
      return;
    }
    const correlationId = frame.bytes.readInt32BE(0);
    const req = this.pending.take(correlationId);
    if (!req) {
      this.emitOrphan(frame, correlationId);
      return;
    }
    const r = new KafkaReader(frame.bytes, 4, responseHeaderHasTags(req.apiKey, req.apiVersion));
    const res: KafkaHalf = { frame, records: [] };
    try {
      r.taggedFields(); // response header v1
      r.flexible = isFlexible(req.apiKey, req.apiVersion);
      this.decode(res, r, 'response', req);
    } catch (err) {
      if (!(err instanceof KafkaRangeError)) throw err;
      res.undecoded = err.message;
    }
    this.emit('exchange', req, res);
  }

  private decode(half: KafkaHalf, r: KafkaReader, which: 'request' | 'response', req?: KafkaRequest): void {
    const apiKey = req?.apiKey ?? (half as KafkaRequest).apiKey;
    const version = req?.apiVersion ?? (half as KafkaRequest).apiVersion;
    const schema = SCHEMAS.get(apiKey);
    if (!schema) {
      half.undecoded = `${apiName(apiKey)} bodies are not decoded`;
      return;
    }
    if (version > schema.maxVersion) {
      half.undecoded = `${apiName(apiKey)} v${version} is newer than the v${schema.maxVersion} this decoder knows`;
      this.ctx.count('kafka.unknown_version');
      return;
    }
    const dctx: DecodeContext = { version, budget: { records: this.ctx.options.maxRows, bytes: this.ctx.options.maxBody }, records: half.records };
    half.decoded = decodeBody(r, which === 'request' ? schema.request : schema.response, dctx);
    if (dctx.budget.headerCut) half.headerCut = true;
    if (half.decoded.incomplete && half.frame.bytes.length === half.frame.size) this.ctx.count('kafka.malformed_body');
  }

  /** A response header: sane size and a correlation id we are waiting for. */
  private plausibleResponse(buf: Buffer, off: number): 'yes' | 'no' | 'more' {
    if (buf.length - off < 8) return 'more';
    const size = buf.readInt32BE(off);
    if (size < 4 || size > MAX_FRAME) return 'no';
    return this.pending.get(buf.readInt32BE(off + 4)) ? 'yes' : 'no';
  }

  private emit(kind: ExchangeRecord['kind'], req: KafkaRequest, res: KafkaHalf | undefined, extraFlags: string[] = []): void {
    const flags = new Set(extraFlags);
    if (this.gapFlag) {
      flags.add('gap');
      if (this.pending.size === 0) this.gapFlag = false;
    }
    const { attributes, truncated, undecodable } = exchangeAttributes(req, res);
    if (truncated) flags.add('truncated');
    if (undecodable) flags.add('undecodable');
    const rec: ExchangeRecord = {
      kind,
      startNs: req.frame.startNs,
      endNs: res ? res.frame.endNs : req.frame.endNs,
      requestBytes: req.frame.size + 4,
      attributes,
    };
    if (res) rec.responseBytes = res.frame.size + 4;
    if (flags.size) rec.flags = [...flags];
    this.ctx.emit(rec);
  }

  private emitOrphan(frame: KafkaFrame, correlationId: number): void {
    const flags: string[] = [];
    if (this.ctx.conn.midstream) flags.push('midstream');
    if (this.gapFlag) flags.push('gap');
    this.ctx.emit({
      kind: 'orphan_response',
      startNs: frame.startNs,
      endNs: frame.endNs,
      responseBytes: frame.size + 4,
      attributes: { messaging: { system: 'kafka' }, kafka: { correlation_id: correlationId }, network: { protocol: { name: 'kafka' } } },
      ...(flags.length ? { flags } : {}),
    });
  }
}

/**
 * Requests larger than this are not believed when detecting or resynchronising
 * (brokers refuse requests over socket.request.max.bytes, 100 MiB by default);
 * it also keeps TLS records (0x16 0x03 ...) from reading as a size.
 */
const MAX_PLAUSIBLE_REQUEST = 100 * 1024 * 1024;

/** A request header at off: sane size, a known API key, a plausible version and client id. */
export function plausibleRequest(buf: Buffer, off: number): 'yes' | 'no' | 'more' {
  if (buf.length - off < 14) return 'more';
  const size = buf.readInt32BE(off);
  const apiKey = buf.readInt16BE(off + 4);
  const version = buf.readInt16BE(off + 6);
  if (size < 10 || size > MAX_PLAUSIBLE_REQUEST || !API_KEYS.has(apiKey) || version < 0 || version > MAX_PLAUSIBLE_VERSION) return 'no';
  if (!requestHasClientId(apiKey, version)) return 'yes';
  const idLen = buf.readInt16BE(off + 12);
  if (idLen < -1 || idLen > size - 10) return 'no';
  const end = off + 14 + Math.max(0, idLen);
  const avail = Math.min(end, buf.length);
  for (let i = off + 14; i < avail; i++) {
    const c = buf[i]!;
    if (c < 0x20 || c > 0x7e) return 'no';
  }
  return avail < end && end - off <= 256 ? 'more' : 'yes';
}
