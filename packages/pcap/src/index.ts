export * from './types.js';
export { CaptureReader, CaptureFormatError, type CaptureHandlers, type ReaderOptions } from './reader.js';
export { readCapture, type ReadCaptureOptions } from './read-file.js';
export {
  PcapngWriter,
  PcapWriter,
  type SectionHeaderOptions,
  type InterfaceDescriptionOptions,
  type EnhancedPacketOptions,
  type InterfaceStatisticsOptions,
  type CustomBlockOptions,
  type PcapWriterOptions,
} from './writer.js';
export { PANO_PEN, RecordType, encodeLossRecord, decodeLossRecord, LOSS_RECORD_SIZE, type LossRecord, encodeTlsRecord, decodeTlsRecord, TLS_RECORD_HEADER, TLS_RECORD_MAX_DATA, type TlsRecord, encodeTlsEndRecord, decodeTlsEndRecord, TLS_END_RECORD_SIZE, type TlsEndRecord } from './pano-frames.js';
export { TextTail } from './text-tail.js';
