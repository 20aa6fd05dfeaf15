export * from './types.js';
export { Decoder, DEFAULT_DECODER_OPTIONS, type DecoderOptions } from './decoder.js';
export { formatIPv4, formatIPv6 } from './address.js';
export { DECODED_LINK_TYPES } from './link.js';
