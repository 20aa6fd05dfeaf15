/**
 * Builds HTTP/2 frames byte by byte (RFC 9113 §4.1) for tests and benchmark
 * captures, with HPACK blocks from the project's encoder.
 */
export function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(streamId, 5);
  return Buffer.concat([h, payload]);
}

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export function settings(entries: Array<[number, number]> = [], ack = false): Buffer {
  const p = Buffer.alloc(entries.length * 6);
  entries.forEach(([id, v], i) => {
    p.writeUInt16BE(id, i * 6);
    p.writeUInt32BE(v, i * 6 + 2);
  });
  return frame(4, ack ? 1 : 0, 0, p);
}

export function grpcMessage(payload: Buffer, compressed = false): Buffer {
  const h = Buffer.alloc(5);
  h[0] = compressed ? 1 : 0;
  h.writeUInt32BE(payload.length, 1);
  return Buffer.concat([h, payload]);
}

/** Protobuf wire-format writers, for gRPC payloads built by hand. */
export function pbVarint(n: number): Buffer {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return Buffer.from(out);
}
export function pbField(field: number, value: number | string | Buffer): Buffer {
  if (typeof value === 'number') return Buffer.concat([pbVarint(field * 8), pbVarint(value)]);
  const b = typeof value === 'string' ? Buffer.from(value) : value;
  return Buffer.concat([pbVarint(field * 8 + 2), pbVarint(b.length), b]);
}
