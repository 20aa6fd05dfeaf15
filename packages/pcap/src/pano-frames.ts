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
} as const;

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
  const b = Buffer.alloc(LOSS_RECORD_SIZE);
  b.writeUInt16LE(RecordType.LOSS, 0);
  b.writeUInt16LE(1, 2);
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
