/**
 * Builds MySQL client/server protocol packets by hand, byte for byte from the
 * protocol documentation, for unit tests.
 */
export function lenenc(n: number): Buffer {
  if (n < 0xfb) return Buffer.from([n]);
  if (n < 0x10000) return Buffer.from([0xfc, n & 0xff, n >> 8]);
  if (n < 0x1000000) return Buffer.from([0xfd, n & 0xff, (n >> 8) & 0xff, n >> 16]);
  const b = Buffer.alloc(9);
  b[0] = 0xfe;
  b.writeBigUInt64LE(BigInt(n), 1);
  return b;
}
export function lstr(s: string | Buffer): Buffer {
  const b = Buffer.isBuffer(s) ? s : Buffer.from(s, 'utf8');
  return Buffer.concat([lenenc(b.length), b]);
}
export function cstr(s: string): Buffer {
  return Buffer.concat([Buffer.from(s, 'utf8'), Buffer.from([0])]);
}
export function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n);
  return b;
}
export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

/** One packet; payloads of 16 MiB - 1 or more are split as the protocol requires. */
export function packet(seq: number, ...parts: Buffer[]): Buffer {
  const payload = Buffer.concat(parts);
  const out: Buffer[] = [];
  let off = 0;
  for (;;) {
    const n = Math.min(0xffffff, payload.length - off);
    const h = Buffer.alloc(4);
    h.writeUIntLE(n, 0, 3);
    h[3] = seq++ & 0xff;
    out.push(h, payload.subarray(off, off + n));
    off += n;
    if (n < 0xffffff) break;
  }
  return Buffer.concat(out);
}

export const CAP = {
  LONG_PASSWORD: 0x1,
  CONNECT_WITH_DB: 0x8,
  PROTOCOL_41: 0x200,
  SSL: 0x800,
  SECURE_CONNECTION: 0x8000,
  PLUGIN_AUTH: 0x80000,
  CONNECT_ATTRS: 0x100000,
  PLUGIN_AUTH_LENENC: 0x200000,
  SESSION_TRACK: 0x800000,
  DEPRECATE_EOF: 0x1000000,
  QUERY_ATTRIBUTES: 0x8000000,
};

export const BASE_CAPS = CAP.LONG_PASSWORD | CAP.PROTOCOL_41 | CAP.SECURE_CONNECTION | CAP.PLUGIN_AUTH | CAP.PLUGIN_AUTH_LENENC | CAP.CONNECT_WITH_DB | CAP.CONNECT_ATTRS;

export function greeting(version: string, caps: number, connId = 7, plugin = 'mysql_native_password'): Buffer {
  return packet(
    0,
    Buffer.from([10]),
    cstr(version),
    u32(connId),
    Buffer.from('SCRAMBL1'),
    Buffer.from([0]),
    u16(caps & 0xffff),
    Buffer.from([45]),
    u16(2),
    u16(caps >>> 16),
    Buffer.from([21]),
    Buffer.alloc(10),
    Buffer.from('SCRAMBLE2xyz'),
    Buffer.from([0]),
    cstr(plugin),
  );
}

export function handshakeResponse(caps: number, user: string, authData: Buffer, db?: string, plugin = 'mysql_native_password', attrs: Record<string, string> = {}): Buffer {
  const attrBytes = Buffer.concat(Object.entries(attrs).flatMap(([k, v]) => [lstr(k), lstr(v)]));
  return packet(
    1,
    u32(caps),
    u32(16777216),
    Buffer.from([45]),
    Buffer.alloc(23),
    cstr(user),
    lstr(authData),
    ...(db !== undefined ? [cstr(db)] : []),
    cstr(plugin),
    ...(caps & CAP.CONNECT_ATTRS ? [lstr(attrBytes)] : []),
  );
}

export function sslRequest(caps: number): Buffer {
  return packet(1, u32(caps | CAP.SSL), u32(16777216), Buffer.from([45]), Buffer.alloc(23));
}

export function ok(seq: number, affected = 0, insertId = 0, status = 2, warnings = 0, header = 0x00, info = ''): Buffer {
  return packet(seq, Buffer.from([header]), lenenc(affected), lenenc(insertId), u16(status), u16(warnings), Buffer.from(info));
}
export function err(seq: number, code: number, state: string, message: string): Buffer {
  return packet(seq, Buffer.from([0xff]), u16(code), Buffer.from('#' + state), Buffer.from(message));
}
export function eof(seq: number, status = 2, warnings = 0): Buffer {
  return packet(seq, Buffer.from([0xfe]), u16(warnings), u16(status));
}

export interface ColSpec {
  name: string;
  type?: number;
  charset?: number;
  flags?: number;
  table?: string;
  /** fractional-second digits of a temporal column, or a numeric column's scale */
  decimals?: number;
}
export function columnDef(seq: number, c: ColSpec): Buffer {
  return packet(
    seq,
    lstr('def'),
    lstr('shop'),
    lstr(c.table ?? 't'),
    lstr(c.table ?? 't'),
    lstr(c.name),
    lstr(c.name),
    Buffer.from([0x0c]),
    u16(c.charset ?? 45),
    u32(255),
    Buffer.from([c.type ?? 0xfd]),
    u16(c.flags ?? 0),
    Buffer.from([c.decimals ?? 0]),
    Buffer.alloc(2),
  );
}
export function textRow(seq: number, cells: Array<string | null>): Buffer {
  return packet(seq, ...cells.map((c) => (c === null ? Buffer.from([0xfb]) : lstr(c))));
}

/** A whole text result set: count, definitions, [EOF], rows, EOF or OK(0xFE). */
export function resultSet(startSeq: number, cols: ColSpec[], rows: Array<Array<string | null>>, deprecateEof: boolean, status = 2): { bytes: Buffer; nextSeq: number } {
  let seq = startSeq;
  const parts: Buffer[] = [packet(seq++, lenenc(cols.length))];
  for (const c of cols) parts.push(columnDef(seq++, c));
  if (!deprecateEof) parts.push(eof(seq++, status));
  for (const r of rows) parts.push(textRow(seq++, r));
  parts.push(deprecateEof ? ok(seq++, 0, 0, status, 0, 0xfe) : eof(seq++, status));
  return { bytes: Buffer.concat(parts), nextSeq: seq };
}

export const cmd = {
  query: (sql: string) => packet(0, Buffer.from([0x03]), Buffer.from(sql)),
  queryWithAttrs: (sql: string, attrs: Array<[string, string]>) =>
    packet(
      0,
      Buffer.from([0x03]),
      lenenc(attrs.length),
      lenenc(1),
      ...(attrs.length
        ? [
            Buffer.alloc((attrs.length + 7) >> 3),
            Buffer.from([1]),
            ...attrs.flatMap(([k]) => [u16(0xfd), lstr(k)]),
            ...attrs.map(([, v]) => lstr(v)),
          ]
        : []),
      Buffer.from(sql),
    ),
  initDb: (db: string) => packet(0, Buffer.from([0x02]), Buffer.from(db)),
  ping: () => packet(0, Buffer.from([0x0e])),
  quit: () => packet(0, Buffer.from([0x01])),
  prepare: (sql: string) => packet(0, Buffer.from([0x16]), Buffer.from(sql)),
  close: (id: number) => packet(0, Buffer.from([0x19]), u32(id)),
  /** params: [type, unsigned, encoded value or null] */
  execute: (id: number, params: Array<[number, boolean, Buffer | null]>, bound = true) => {
    const nulls = Buffer.alloc((params.length + 7) >> 3);
    params.forEach(([, , v], i) => {
      if (v === null) nulls[i >> 3] |= 1 << (i & 7);
    });
    return packet(
      0,
      Buffer.from([0x17]),
      u32(id),
      Buffer.from([0]),
      u32(1),
      ...(params.length
        ? [nulls, Buffer.from([bound ? 1 : 0]), ...(bound ? params.map(([t, u]) => u16(t | (u ? 0x8000 : 0))) : []), ...params.flatMap(([, , v]) => (v ? [v] : []))]
        : []),
    );
  },
};

export function prepareOk(seq: number, id: number, columns: number, params: number): Buffer {
  return packet(seq, Buffer.from([0]), u32(id), u16(columns), u16(params), Buffer.from([0]), u16(0));
}
