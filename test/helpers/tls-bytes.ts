/** TLS wire structures built by hand (RFC 8446 §3: vectors with 1-, 2- or 3-byte lengths; §4 handshake messages; §5.1 records). */
export const u16 = (n: number): Buffer => Buffer.from([n >> 8, n & 0xff]);
export const vec = (lenBytes: 1 | 2 | 3, b: Buffer): Buffer =>
  Buffer.concat([lenBytes === 1 ? Buffer.from([b.length]) : lenBytes === 2 ? u16(b.length) : Buffer.from([b.length >> 16, (b.length >> 8) & 0xff, b.length & 0xff]), b]);
export const ext = (type: number, data: Buffer): Buffer => Buffer.concat([u16(type), vec(2, data)]);
export const hs = (type: number, body: Buffer): Buffer => Buffer.concat([Buffer.from([type]), vec(3, body)]);
/** A record labeled 3.`minor` (a ClientHello's first record often says 3.1). */
export const record = (type: number, payload: Buffer, minor = 1): Buffer => Buffer.concat([Buffer.from([type, 3, minor]), vec(2, payload)]);
