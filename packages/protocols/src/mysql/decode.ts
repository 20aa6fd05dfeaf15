/**
 * One small decoder per MySQL packet payload. Payloads may be cut short
 * (logical payloads beyond the keep limit), so readers stop quietly at the
 * end of the bytes they have.
 */
import { setOwn } from '@panopticon/events';
import { Cap } from './constants.js';
import { BoundedReader } from '../sql/bounded-reader.js';

/** MySQL's little-endian and length-encoded integers and strings over a bounded payload reader. */
export class PayloadReader extends BoundedReader {
  u8(): number {
    if (this.pos + 1 > this.buf.length) return this.fail(0);
    return this.buf[this.pos++];
  }

  u16(): number {
    if (this.pos + 2 > this.buf.length) return this.fail(0);
    const v = this.buf.readUInt16LE(this.pos);
    this.pos += 2;
    return v;
  }

  u24(): number {
    if (this.pos + 3 > this.buf.length) return this.fail(0);
    const v = this.buf.readUIntLE(this.pos, 3);
    this.pos += 3;
    return v;
  }

  u32(): number {
    if (this.pos + 4 > this.buf.length) return this.fail(0);
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  /** Length-encoded integer; 0xFB (NULL in rows) reads as -1. Values past 2^53 lose precision (only sizes and ids use this). */
  lenenc(): number {
    const first = this.u8();
    if (first < 0xfb) return first;
    if (first === 0xfb) return -1;
    if (first === 0xfc) return this.u16();
    if (first === 0xfd) return this.u24();
    if (first === 0xfe) {
      if (this.pos + 8 > this.buf.length) return this.fail(0);
      const v = Number(this.buf.readBigUInt64LE(this.pos));
      this.pos += 8;
      return v;
    }
    return this.fail(0); // 0xFF is not a valid length
  }

  /** Exact length-encoded integer (affected rows, insert ids) as a number when safe, else a decimal string. */
  lenencExact(): number | string {
    if (this.buf[this.pos] === 0xfe && this.pos + 9 <= this.buf.length) {
      const v = this.buf.readBigUInt64LE(this.pos + 1);
      this.pos += 9;
      return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
    }
    return this.lenenc();
  }

  /** View of a length-encoded string (null for the NULL marker). */
  lenencBytes(): Buffer | null {
    const n = this.lenenc();
    if (n < 0) return null;
    return this.bytes(n);
  }

  lenencString(): string {
    const b = this.lenencBytes();
    return b ? b.toString('utf8') : '';
  }

  /** The rest of the payload as text. */
  rest(): string {
    const s = this.buf.toString('utf8', this.pos);
    this.pos = this.buf.length;
    return s;
  }

  skip(n: number): void {
    this.pos = Math.min(this.buf.length, this.pos + n);
  }
}

export interface Greeting {
  protocol: number;
  serverVersion: string;
  connectionId: number;
  capabilities: number;
  /** MariaDB's extended capabilities (in the greeting's reserved bytes), 0 for MySQL. */
  mariadbCapabilities: number;
  charset: number;
  status: number;
  authPlugin?: string;
}

/** Initial handshake packet, protocol 10. The scramble (auth-plugin-data) is skipped, never kept. */
export function decodeGreeting(p: Buffer): Greeting {
  const r = new PayloadReader(p);
  const protocol = r.u8();
  const serverVersion = r.cstring();
  const connectionId = r.u32();
  r.skip(8 + 1); // scramble part 1, filler
  let capabilities = r.u16();
  const g: Greeting = { protocol, serverVersion, connectionId, capabilities, mariadbCapabilities: 0, charset: 0, status: 0 };
  if (r.remaining === 0) return g;
  g.charset = r.u8();
  g.status = r.u16();
  capabilities |= r.u16() << 16;
  g.capabilities = capabilities >>> 0;
  const scrambleLen = r.u8();
  r.skip(6);
  // MySQL leaves these 4 bytes zero; MariaDB puts its extended capabilities here when it does not claim CLIENT_MYSQL (bit 0)
  const ext = r.u32();
  if ((capabilities & Cap.LongPassword) === 0) g.mariadbCapabilities = ext;
  if (capabilities & Cap.SecureConnection) r.skip(Math.max(13, scrambleLen - 8));
  if (capabilities & Cap.PluginAuth) g.authPlugin = r.cstring();
  return g;
}

export interface HandshakeResponse {
  capabilities: number;
  maxPacket: number;
  charset: number;
  /** Only the capability part was sent: the client asks for TLS and the rest follows encrypted. */
  sslRequest: boolean;
  user?: string;
  database?: string;
  authPlugin?: string;
  attributes?: Record<string, string>;
}

/** Most connection attributes kept (they name the client program and library). */
const MAX_ATTRIBUTES = 32;

/** HandshakeResponse41 / SSLRequest (and the old 320 form). The auth response bytes are skipped, never read. */
export function decodeHandshakeResponse(p: Buffer): HandshakeResponse {
  const r = new PayloadReader(p);
  const low = r.u16();
  if ((low & Cap.Protocol41) === 0) {
    // HandshakeResponse320: caps(2) max-packet(3) user auth
    const maxPacket = r.u24();
    return { capabilities: low, maxPacket, charset: 0, sslRequest: (low & Cap.Ssl) !== 0 && r.remaining === 0, user: r.cstring() };
  }
  const capabilities = (low | (r.u16() << 16)) >>> 0;
  const maxPacket = r.u32();
  const charset = r.u8();
  r.skip(23);
  const out: HandshakeResponse = { capabilities, maxPacket, charset, sslRequest: false };
  if (r.remaining === 0) {
    out.sslRequest = (capabilities & Cap.Ssl) !== 0;
    return out;
  }
  out.user = r.cstring();
  if (capabilities & Cap.PluginAuthLenencClientData) r.skip(Math.max(0, r.lenenc()));
  else if (capabilities & Cap.SecureConnection) r.skip(r.u8());
  else r.cstring();
  if (capabilities & Cap.ConnectWithDb && r.remaining > 0) out.database = r.cstring();
  if (capabilities & Cap.PluginAuth && r.remaining > 0) out.authPlugin = r.cstring();
  if (capabilities & Cap.ConnectAttrs && r.remaining > 0) {
    const total = r.lenenc();
    const end = Math.min(r.pos + Math.max(0, total), p.length);
    const attrs: Record<string, string> = {};
    let n = 0;
    while (r.pos < end && !r.short && n < MAX_ATTRIBUTES) {
      const k = r.lenencString();
      // `__proto__` is defined, not assigned (assigned, it set no property and the attribute was lost)
      setOwn(attrs, k, r.lenencString());
      n++;
    }
    out.attributes = attrs;
  }
  return out;
}

export interface OkPacket {
  affectedRows: number | string;
  lastInsertId: number | string;
  status: number;
  warnings: number;
  info?: string;
  /** New default schema, when the server tracks session state (SESSION_TRACK_SCHEMA). */
  schema?: string;
}

/** OK packet (header 0x00, or 0xFE when it ends a result set under CLIENT_DEPRECATE_EOF). */
export function decodeOk(p: Buffer, capabilities: number): OkPacket {
  const r = new PayloadReader(p, 1);
  const ok: OkPacket = { affectedRows: r.lenencExact(), lastInsertId: r.lenencExact(), status: 0, warnings: 0 };
  ok.status = r.u16();
  ok.warnings = r.u16();
  if (r.remaining <= 0) return ok;
  if (capabilities & Cap.SessionTrack) {
    ok.info = r.lenencString() || undefined;
    if (ok.status & 0x4000 /* SERVER_SESSION_STATE_CHANGED */ && r.remaining > 0) {
      const end = Math.min(p.length, r.pos + Math.max(0, r.lenenc()));
      while (r.pos < end && !r.short) {
        const type = r.u8();
        const data = r.lenencBytes();
        if (type === 1 /* SESSION_TRACK_SCHEMA */ && data) ok.schema = new PayloadReader(data).lenencString();
      }
    }
  } else {
    ok.info = r.rest() || undefined;
  }
  return ok;
}

export interface ErrPacket {
  code: number;
  sqlState?: string;
  message: string;
}

export function decodeErr(p: Buffer): ErrPacket {
  const r = new PayloadReader(p, 1);
  const code = r.u16();
  // The '#' marker and SQLSTATE are absent before 4.1 and in some handshake errors.
  if (r.remaining >= 6 && p[r.pos] === 0x23) {
    r.skip(1);
    const sqlState = p.toString('latin1', r.pos, r.pos + 5);
    r.skip(5);
    return { code, sqlState, message: r.rest() };
  }
  return { code, message: r.rest() };
}

/** A MariaDB progress report (an ERR packet with code 0xFFFF). */
export interface ProgressReport {
  stage: number;
  maxStage: number;
  /** 0–100, in thousandths */
  percent: number;
  state: string;
}

/**
 * MariaDB progress report: 0xFF, code 0xFFFF, then one byte (the number of
 * strings, 1), stage, max stage, progress in thousandths of a percent (3 bytes),
 * and the stage's name as a length-encoded string (MariaDB sql/protocol.cc
 * net_send_progress_packet; libmariadb cli_report_progress reads it so).
 */
export function decodeProgress(p: Buffer): ProgressReport {
  const r = new PayloadReader(p, 3);
  r.u8(); // number of strings
  const stage = r.u8();
  const maxStage = r.u8();
  const percent = r.u24() / 1000;
  return { stage, maxStage, percent, state: r.lenencString() };
}

/** EOF packet: warnings and status (header 0xFE, payload of 5 bytes). */
export function decodeEof(p: Buffer): { warnings: number; status: number } {
  if (p.length < 5) return { warnings: 0, status: 0 };
  return { warnings: p.readUInt16LE(1), status: p.readUInt16LE(3) };
}

export interface ColumnDef {
  schema: string;
  table: string;
  name: string;
  charset: number;
  length: number;
  type: number;
  flags: number;
  decimals: number;
}

/** Column definition (Protocol::ColumnDefinition41). */
export function decodeColumnDef(p: Buffer): ColumnDef {
  const r = new PayloadReader(p);
  r.skip(Math.max(0, r.lenenc())); // catalog, always "def"
  const schema = r.lenencString();
  const table = r.lenencString();
  r.skip(Math.max(0, r.lenenc())); // org_table
  const name = r.lenencString();
  r.skip(Math.max(0, r.lenenc())); // org_name
  let fixed = r.lenenc();
  // MariaDB with extended metadata puts one more length-encoded string here
  if (fixed !== 0x0c && r.remaining > 12) {
    r.skip(Math.max(0, fixed));
    fixed = r.lenenc();
  }
  const charset = r.u16();
  const length = r.u32();
  const type = r.u8();
  const flags = r.u16();
  const decimals = r.u8();
  return { schema, table, name, charset, length, type, flags, decimals };
}

export interface PrepareOk {
  statementId: number;
  columns: number;
  params: number;
  warnings: number;
}

export function decodePrepareOk(p: Buffer): PrepareOk {
  const r = new PayloadReader(p, 1);
  const statementId = r.u32();
  const columns = r.u16();
  const params = r.u16();
  r.skip(1);
  const warnings = r.remaining >= 2 ? r.u16() : 0;
  return { statementId, columns, params, warnings };
}

/** Views of a text result row's cells (null for NULL). */
export function decodeTextRow(p: Buffer, columns: number): Array<Buffer | null> {
  const r = new PayloadReader(p);
  const out: Array<Buffer | null> = [];
  for (let i = 0; (columns === 0 || i < columns) && r.remaining > 0; i++) {
    if (p[r.pos] === 0xfb) {
      r.skip(1);
      out.push(null);
    } else {
      out.push(r.lenencBytes());
    }
  }
  return out;
}
