/**
 * Panopticon's own pcapng records (pano-frames(5)): Custom Blocks with
 * PEN 32473, the IANA Private Enterprise Number reserved for documentation
 * (RFC 5612) — see docs/adr/0303-custom-block-pen.md.
 *
 * Shared by the writer (pano-capture) and the readers (pano-parse), so it
 * lives with the format rather than with either of them.
 *
 * Custom data layout (byte order of the section, little-endian as written):
 *   u16 record type, u16 record version, then the record.
 */
export const PANO_PEN = 32473;

export const RecordType = {
  LOSS: 1,
  TLS: 2,
  TLS_END: 3,
} as const;

/** A zeroed record of `size` bytes with its type and version 1 written. */
function newRecord(type: number, size: number): Buffer {
  const b = Buffer.alloc(size);
  b.writeUInt16LE(type, 0);
  b.writeUInt16LE(1, 2);
  return b;
}

/**
 * Loss record, type 1 version 1, 48 bytes:
 *   0 u16 type = 1      2 u16 version = 1    4 u32 interface id (IDB index)
 *   8 u64 window start, ns since the Unix epoch
 *  16 u64 window end, ns since the Unix epoch
 *  24 u64 packets lost on this interface within the window
 *  32 u64 packets lost on this interface since the capture started
 *  40 u64 reserved, zero
 */
export interface LossRecord {
  interfaceId: number;
  startNs: bigint;
  endNs: bigint;
  lost: bigint;
  totalLost: bigint;
}

export const LOSS_RECORD_SIZE = 48;

export function encodeLossRecord(r: LossRecord): Buffer {
  const b = newRecord(RecordType.LOSS, LOSS_RECORD_SIZE);
  b.writeUInt32LE(r.interfaceId, 4);
  b.writeBigUInt64LE(r.startNs, 8);
  b.writeBigUInt64LE(r.endNs, 16);
  b.writeBigUInt64LE(r.lost, 24);
  b.writeBigUInt64LE(r.totalLost, 32);
  return b;
}

/** Decodes a loss record from a Custom Block's data; undefined when it is not one (or is damaged). */
export function decodeLossRecord(data: Buffer): LossRecord | undefined {
  if (data.length < LOSS_RECORD_SIZE || data.readUInt16LE(0) !== RecordType.LOSS || data.readUInt16LE(2) !== 1) return undefined;
  return {
    interfaceId: data.readUInt32LE(4),
    startNs: data.readBigUInt64LE(8),
    endNs: data.readBigUInt64LE(16),
    lost: data.readBigUInt64LE(24),
    totalLost: data.readBigUInt64LE(32),
  };
}

/**
 * TLS plaintext record, type 2 version 1: what one SSL_read/SSL_write call
 * moved, 108 bytes then the data (pano-frames(5)):
 *    0 u16 type = 2       2 u16 version = 1     4 u32 pid
 *    8 u64 time, ns since the Unix epoch
 *   16 u32 tid           20 u8 direction (1 the process received, 2 it sent)
 *   21 u8 IP version (0 connection unknown, 4, 6)
 *   22 u16 local port    24 u16 remote port
 *   26 u8 role of the process's end (0 unknown, 1 client, 2 server)   27 u8 reserved, zero
 *   28 u32 bytes the call moved (more than the data when it was cut)
 *   32 u64 the library's connection object (the SSL * address) in that process
 *   40 16 bytes local address (IPv4: the first 4, the rest zero)
 *   56 16 bytes remote address
 *   72 16 bytes thread name (comm), NUL-padded
 *   88 16 bytes library ("openssl"), NUL-padded
 *  104 u32 data length     108 data
 */
export interface TlsRecord {
  tsNs: bigint;
  pid: number;
  tid: number;
  /** 1: the process received these bytes (read); 2: it sent them (write). */
  direction: 1 | 2;
  /** 0 when the connection could not be found. */
  ipVersion: 0 | 4 | 6;
  localAddress: Buffer;
  localPort: number;
  remoteAddress: Buffer;
  remotePort: number;
  /** Bytes the call moved; data.length when nothing was cut. */
  length: number;
  ssl: bigint;
  comm: string;
  library: string;
  /** The process's end, as its library was told: 1 client (it connected), 2 server (it accepted), 0 unknown. */
  role: 0 | 1 | 2;
  data: Buffer;
}

export const TLS_RECORD_HEADER = 108;
/** Largest data a reader accepts in one record (pano-capture writes at most 32 KiB). */
export const TLS_RECORD_MAX_DATA = 1 << 20;

function fixedString(b: Buffer, at: number, text: string): void {
  b.write(text.slice(0, 15), at, 15, 'latin1');
}

function readFixed(b: Buffer, at: number): string {
  const s = b.subarray(at, at + 16);
  const end = s.indexOf(0);
  return s.toString('latin1', 0, end < 0 ? 16 : end);
}

export function encodeTlsRecord(r: TlsRecord): Buffer {
  const b = newRecord(RecordType.TLS, TLS_RECORD_HEADER + r.data.length);
  b.writeUInt32LE(r.pid, 4);
  b.writeBigUInt64LE(r.tsNs, 8);
  b.writeUInt32LE(r.tid, 16);
  b[20] = r.direction;
  b[21] = r.ipVersion;
  b.writeUInt16LE(r.localPort, 22);
  b.writeUInt16LE(r.remotePort, 24);
  b[26] = r.role;
  b.writeUInt32LE(r.length, 28);
  b.writeBigUInt64LE(r.ssl, 32);
  r.localAddress.copy(b, 40, 0, 16);
  r.remoteAddress.copy(b, 56, 0, 16);
  fixedString(b, 72, r.comm);
  fixedString(b, 88, r.library);
  b.writeUInt32LE(r.data.length, 104);
  r.data.copy(b, TLS_RECORD_HEADER);
  return b;
}

/**
 * Decodes a TLS plaintext record from a Custom Block's data: undefined when
 * it is not one, a string saying what is wrong when it is one but damaged.
 * `data` is a view into `data`.
 */
export function decodeTlsRecord(data: Buffer): TlsRecord | string | undefined {
  if (data.length < 4 || data.readUInt16LE(0) !== RecordType.TLS) return undefined;
  // a version this reader does not know is skipped, as unknown types are (pano-frames(5))
  if (data.readUInt16LE(2) !== 1) return undefined;
  if (data.length < TLS_RECORD_HEADER) return `TLS record of ${data.length} bytes is shorter than its ${TLS_RECORD_HEADER}-byte header`;
  const direction = data[20];
  const ipVersion = data[21];
  const role = data[26];
  const n = data.readUInt32LE(104);
  const length = data.readUInt32LE(28);
  if (direction !== 1 && direction !== 2) return `TLS record direction ${direction} is neither 1 nor 2`;
  if (ipVersion !== 0 && ipVersion !== 4 && ipVersion !== 6) return `TLS record IP version ${ipVersion} is not 0, 4 or 6`;
  if (role > 2) return `TLS record role ${role} is not 0, 1 or 2`;
  if (n > TLS_RECORD_MAX_DATA || TLS_RECORD_HEADER + n > data.length) return `TLS record data length ${n} overruns its block`;
  if (length < n) return `TLS record says the call moved ${length} bytes, fewer than the ${n} it carries`;
  return {
    tsNs: data.readBigUInt64LE(8),
    pid: data.readUInt32LE(4),
    tid: data.readUInt32LE(16),
    direction,
    ipVersion,
    localPort: data.readUInt16LE(22),
    remotePort: data.readUInt16LE(24),
    length,
    ssl: data.readBigUInt64LE(32),
    localAddress: data.subarray(40, 56),
    remoteAddress: data.subarray(56, 72),
    comm: readFixed(data, 72),
    library: readFixed(data, 88),
    role: role as 0 | 1 | 2,
    data: data.subarray(TLS_RECORD_HEADER, TLS_RECORD_HEADER + n),
  };
}

/**
 * TLS end record, type 3 version 1, 48 bytes: library connections that are
 * over, so a reader closes their plaintext streams now rather than when they
 * go idle (pano-frames(5)):
 *    0 u16 type = 3       2 u16 version = 1     4 u32 pid
 *    8 u64 time, ns since the Unix epoch
 *   16 u64 the library's connection object (SSL *); 0 with reason 2
 *   24 u8 reason: 1 the library freed the object (SSL_free), 2 the process exited
 *   25 3 bytes reserved, zero    28 u32 reserved, zero
 *   32 16 bytes library ("openssl"), NUL-padded
 */
export interface TlsEndRecord {
  tsNs: bigint;
  pid: number;
  /** 1: one connection object freed; 2: the process exited, all of its connections end. */
  reason: 1 | 2;
  ssl: bigint;
  library: string;
}

export const TLS_END_RECORD_SIZE = 48;

export function encodeTlsEndRecord(r: TlsEndRecord): Buffer {
  const b = newRecord(RecordType.TLS_END, TLS_END_RECORD_SIZE);
  b.writeUInt32LE(r.pid, 4);
  b.writeBigUInt64LE(r.tsNs, 8);
  b.writeBigUInt64LE(r.ssl, 16);
  b[24] = r.reason;
  fixedString(b, 32, r.library);
  return b;
}

/** As decodeTlsRecord, for type 3: undefined when it is not one, a string naming the damage. */
export function decodeTlsEndRecord(data: Buffer): TlsEndRecord | string | undefined {
  if (data.length < 4 || data.readUInt16LE(0) !== RecordType.TLS_END || data.readUInt16LE(2) !== 1) return undefined;
  if (data.length < TLS_END_RECORD_SIZE) return `TLS end record of ${data.length} bytes is shorter than ${TLS_END_RECORD_SIZE}`;
  const reason = data[24];
  const ssl = data.readBigUInt64LE(16);
  if (reason !== 1 && reason !== 2) return `TLS end record reason ${reason} is neither 1 nor 2`;
  if ((reason === 1) !== (ssl !== 0n)) return reason === 1 ? 'TLS end record of a freed connection names no connection object' : 'TLS end record of a process exit names a connection object';
  return { tsNs: data.readBigUInt64LE(8), pid: data.readUInt32LE(4), reason, ssl, library: readFixed(data, 32) };
}
