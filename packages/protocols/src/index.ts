export * from './types.js';
export * from './registry.js';
export * from './stitch.js';
export * from './dispatcher.js';
export { loadProtoSchemas } from './grpc/index.js';
export { TlsKeyLog, KeyLogError } from './tls/keylog.js';
export { QuicShardIds } from './quic/shard-ids.js';
export { FtpShardEndpoints } from './ftp/shard-endpoints.js';
