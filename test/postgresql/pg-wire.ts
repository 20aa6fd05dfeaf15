/**
 * Builds PostgreSQL v3 messages by hand, byte for byte from the protocol
 * documentation (protocol-message-formats), for unit tests.
 */
function cstr(s: string): Buffer {
  return Buffer.concat([Buffer.from(s, 'utf8'), Buffer.from([0])]);
}
function i16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeInt16BE(n);
  return b;
}
function i32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
}

/** type byte + length (including itself) + body */
export function msg(type: string, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from(type, 'latin1'), i32(body.length + 4), body]);
}

function untyped(...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  return Buffer.concat([i32(body.length + 4), body]);
}

export const fe = {
  startup: (params: Record<string, string>) =>
    untyped(i32(196608), ...Object.entries(params).flatMap(([k, v]) => [cstr(k), cstr(v)]), Buffer.from([0])),
  sslRequest: () => untyped(i32(80877103)),
  gssencRequest: () => untyped(i32(80877104)),
  cancel: (pid: number, key: number) => untyped(i32(80877102), i32(pid), i32(key)),
  query: (sql: string) => msg('Q', cstr(sql)),
  parse: (name: string, sql: string, oids: number[] = []) => msg('P', cstr(name), cstr(sql), i16(oids.length), ...oids.map(i32)),
  bind: (portal: string, stmt: string, values: Array<Buffer | string | null>, paramFormats: number[] = [], resultFormats: number[] = []) =>
    msg(
      'B',
      cstr(portal),
      cstr(stmt),
      i16(paramFormats.length),
      ...paramFormats.map(i16),
      i16(values.length),
      ...values.flatMap((v) => (v === null ? [i32(-1)] : [i32(Buffer.byteLength(v)), Buffer.from(v)])),
      i16(resultFormats.length),
      ...resultFormats.map(i16),
    ),
  describe: (kind: 'S' | 'P', name: string) => msg('D', Buffer.from(kind), cstr(name)),
  execute: (portal: string, maxRows = 0) => msg('E', cstr(portal), i32(maxRows)),
  close: (kind: 'S' | 'P', name: string) => msg('C', Buffer.from(kind), cstr(name)),
  sync: () => msg('S'),
  flush: () => msg('H'),
  terminate: () => msg('X'),
  password: (secret: string) => msg('p', cstr(secret)),
  saslInitial: (mech: string, data: string) => msg('p', cstr(mech), i32(Buffer.byteLength(data)), Buffer.from(data)),
  saslResponse: (data: string) => msg('p', Buffer.from(data)),
  copyData: (data: string) => msg('d', Buffer.from(data)),
  copyDone: () => msg('c'),
  copyFail: (why: string) => msg('f', cstr(why)),
};

export interface Col {
  name: string;
  oid?: number;
  format?: number;
}

export const be = {
  sslAnswer: (c: 'S' | 'N' | 'G') => Buffer.from(c),
  authOk: () => msg('R', i32(0)),
  authMd5: (salt: Buffer) => msg('R', i32(5), salt),
  authCleartext: () => msg('R', i32(3)),
  authSasl: (mechs: string[]) => msg('R', i32(10), ...mechs.map(cstr), Buffer.from([0])),
  authSaslContinue: (data: string) => msg('R', i32(11), Buffer.from(data)),
  authSaslFinal: (data: string) => msg('R', i32(12), Buffer.from(data)),
  parameterStatus: (k: string, v: string) => msg('S', cstr(k), cstr(v)),
  backendKeyData: (pid: number, key: number) => msg('K', i32(pid), i32(key)),
  ready: (status: 'I' | 'T' | 'E' = 'I') => msg('Z', Buffer.from(status)),
  rowDescription: (cols: Col[]) =>
    msg('T', i16(cols.length), ...cols.flatMap((c) => [cstr(c.name), i32(0), i16(0), i32(c.oid ?? 25), i16(-1), i32(-1), i16(c.format ?? 0)])),
  dataRow: (values: Array<Buffer | string | null>) =>
    msg('D', i16(values.length), ...values.flatMap((v) => (v === null ? [i32(-1)] : [i32(Buffer.byteLength(v)), Buffer.from(v)]))),
  commandComplete: (tag: string) => msg('C', cstr(tag)),
  emptyQuery: () => msg('I'),
  parseComplete: () => msg('1'),
  bindComplete: () => msg('2'),
  closeComplete: () => msg('3'),
  noData: () => msg('n'),
  portalSuspended: () => msg('s'),
  parameterDescription: (oids: number[]) => msg('t', i16(oids.length), ...oids.map(i32)),
  error: (fields: Record<string, string>) =>
    msg('E', ...Object.entries(fields).flatMap(([k, v]) => [Buffer.from(k), cstr(v)]), Buffer.from([0])),
  notice: (fields: Record<string, string>) =>
    msg('N', ...Object.entries(fields).flatMap(([k, v]) => [Buffer.from(k), cstr(v)]), Buffer.from([0])),
  notification: (pid: number, channel: string, payload: string) => msg('A', i32(pid), cstr(channel), cstr(payload)),
  copyIn: (cols: number) => msg('G', Buffer.from([0]), i16(cols), ...Array.from({ length: cols }, () => i16(0))),
  copyOut: (cols: number) => msg('H', Buffer.from([0]), i16(cols), ...Array.from({ length: cols }, () => i16(0))),
  copyData: (data: string) => msg('d', Buffer.from(data)),
  copyDone: () => msg('c'),
};

export const bin = { i16, i32 };
