/**
 * One small decoder per PostgreSQL message body. Bodies may be cut short
 * (oversized messages arrive as a prefix), so every reader stops quietly at
 * the end of the bytes it has instead of throwing.
 */
import { BoundedReader } from '../sql/bounded-reader.js';
import { type PgTextCodec, UTF8_CODEC } from './encoding.js';

/** PostgreSQL's big-endian integers over a bounded body reader; strings in the connection's client_encoding. */
export class BodyReader extends BoundedReader {
  constructor(
    buf: Buffer,
    private readonly codec: PgTextCodec = UTF8_CODEC,
  ) {
    super(buf);
  }

  protected override text(start: number, end: number): string {
    return this.codec.decode(this.buf, start, end);
  }

  byte(): number {
    if (this.pos + 1 > this.buf.length) return this.fail(0);
    return this.buf[this.pos++];
  }

  int16(): number {
    if (this.pos + 2 > this.buf.length) return this.fail(0);
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  int32(): number {
    if (this.pos + 4 > this.buf.length) return this.fail(0);
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
}

export interface StartupMessage {
  code: number;
  params: Record<string, string>;
}

/** Untyped first messages: StartupMessage parameters, or just the request code. */
export function decodeUntyped(body: Buffer): StartupMessage {
  const r = new BodyReader(body);
  const code = r.int32();
  const params: Record<string, string> = {};
  if (code >> 16 === 3) {
    while (r.remaining > 1) {
      const name = r.cstring();
      if (name === '') break;
      params[name] = r.cstring();
    }
  }
  return { code, params };
}

/** CancelRequest: the backend it targets. The secret key that follows is never read. */
export function decodeCancelPid(body: Buffer): number {
  return body.length >= 8 ? body.readInt32BE(4) : 0;
}

export interface ParseMessage {
  name: string;
  /** The statement text's bytes (a view, without its NUL). */
  query: Buffer;
  paramOids: number[];
}

export function decodeParse(body: Buffer, codec?: PgTextCodec): ParseMessage {
  const r = new BodyReader(body, codec);
  const name = r.cstring();
  const start = r.pos;
  let end = body.indexOf(0, start);
  if (end < 0) end = body.length;
  r.pos = Math.min(body.length, end + 1);
  const query = body.subarray(start, end);
  const n = r.int16();
  const paramOids: number[] = [];
  for (let i = 0; i < n && !r.short; i++) paramOids.push(r.int32() >>> 0);
  return { name, query, paramOids };
}

export interface BindMessage {
  portal: string;
  statement: string;
  /** 0 = text, 1 = binary; one entry applies to all, none means all text. */
  paramFormats: number[];
  /** Views of the parameter values (null for SQL NULL). */
  values: Array<Buffer | null>;
  resultFormats: number[];
  /** The body was cut: some values are missing or short. */
  short: boolean;
}

export function decodeBind(body: Buffer, codec?: PgTextCodec): BindMessage {
  const r = new BodyReader(body, codec);
  const portal = r.cstring();
  const statement = r.cstring();
  const paramFormats: number[] = [];
  for (let i = 0, n = r.int16(); i < n && !r.short; i++) paramFormats.push(r.int16());
  const values: Array<Buffer | null> = [];
  for (let i = 0, n = r.int16(); i < n && !r.short; i++) {
    const len = r.int32();
    values.push(len < 0 ? null : r.bytes(len));
  }
  const resultFormats: number[] = [];
  for (let i = 0, n = r.int16(); i < n && !r.short; i++) resultFormats.push(r.int16());
  return { portal, statement, paramFormats, values, resultFormats, short: r.short };
}

export function decodeExecute(body: Buffer, codec?: PgTextCodec): { portal: string; maxRows: number } {
  const r = new BodyReader(body, codec);
  return { portal: r.cstring(), maxRows: r.int32() };
}

/** Describe and Close share a body: 'S' (statement) or 'P' (portal) and a name. */
export function decodeTarget(body: Buffer, codec?: PgTextCodec): { kind: 'S' | 'P'; name: string } {
  const r = new BodyReader(body, codec);
  const kind = r.byte() === 0x50 ? 'P' : 'S';
  return { kind, name: r.cstring() };
}

export interface Column {
  name: string;
  tableOid: number;
  typeOid: number;
  format: number;
}

export function decodeRowDescription(body: Buffer, codec?: PgTextCodec): Column[] {
  const r = new BodyReader(body, codec);
  const n = r.int16();
  const cols: Column[] = [];
  for (let i = 0; i < n && !r.short; i++) {
    const name = r.cstring();
    const tableOid = r.int32() >>> 0;
    r.int16(); // attribute number
    const typeOid = r.int32() >>> 0;
    r.int16(); // type length
    r.int32(); // type modifier
    const format = r.int16();
    if (!r.short) cols.push({ name, tableOid, typeOid, format });
  }
  return cols;
}

/** Views of a DataRow's column values; a cut body yields the columns that fit (the last one short). */
export function decodeDataRow(body: Buffer): Array<Buffer | null> {
  const r = new BodyReader(body);
  const n = r.int16();
  const out: Array<Buffer | null> = [];
  for (let i = 0; i < n && r.remaining >= 4; i++) {
    const len = r.int32();
    out.push(len < 0 ? null : r.bytes(len));
  }
  return out;
}

export function decodeParameterDescription(body: Buffer): number[] {
  const r = new BodyReader(body);
  const oids: number[] = [];
  for (let i = 0, n = r.int16(); i < n && !r.short; i++) oids.push(r.int32() >>> 0);
  return oids;
}

/** ErrorResponse / NoticeResponse fields we keep (by their one-letter codes). */
export interface ErrorFields {
  severity?: string;
  code?: string;
  message?: string;
  detail?: string;
  hint?: string;
}

export function decodeErrorFields(body: Buffer, codec?: PgTextCodec): ErrorFields {
  const r = new BodyReader(body, codec);
  const out: ErrorFields = {};
  let localized: string | undefined;
  while (r.remaining > 0) {
    const field = r.byte();
    if (field === 0) break;
    const value = r.cstring();
    switch (field) {
      case 0x56: out.severity = value; break; // V: never localized
      case 0x53: localized = value; break; // S: may be localized
      case 0x43: out.code = value; break; // C: SQLSTATE
      case 0x4d: out.message = value; break; // M
      case 0x44: out.detail = value; break; // D
      case 0x48: out.hint = value; break; // H
      default: break;
    }
  }
  if (out.severity === undefined && localized !== undefined) out.severity = localized;
  return out;
}

export interface AuthRequest {
  code: number;
  /** SASL mechanisms offered (AuthenticationSASL only). */
  mechanisms?: string[];
}

/** Authentication request: only the code and, for SASL, the mechanism names; salts and SASL data are never read. */
export function decodeAuthentication(body: Buffer): AuthRequest {
  const r = new BodyReader(body);
  const code = r.int32();
  if (code !== 10) return { code };
  const mechanisms: string[] = [];
  while (r.remaining > 1) {
    const m = r.cstring();
    if (m === '') break;
    mechanisms.push(m);
  }
  return { code, mechanisms };
}

export function decodeParameterStatus(body: Buffer): [string, string] {
  const r = new BodyReader(body);
  return [r.cstring(), r.cstring()];
}

export function decodeNotification(body: Buffer, codec?: PgTextCodec): { pid: number; channel: string; payload: string } {
  const r = new BodyReader(body, codec);
  return { pid: r.int32(), channel: r.cstring(), payload: r.cstring() };
}

/** SASLInitialResponse: the mechanism name only; the client-first message is not read. */
export function decodeSaslMechanism(body: Buffer): string {
  return new BodyReader(body).cstring();
}

export function decodeCopyResponse(body: Buffer): { format: number; columns: number } {
  const r = new BodyReader(body);
  return { format: r.byte(), columns: r.int16() };
}
