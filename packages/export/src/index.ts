export type { Sink } from './sink.js';
export { JsonlSink, type JsonlOptions } from './jsonl-sink.js';
export { MetricsSink, type StageHealth, type MetricsOptions } from './metrics-sink.js';
export { MetricsEndpoint, parseListenAddress, type EndpointOptions } from './http-endpoint.js';
export { OtlpSink, BoundedBatchProcessor, tracesUrl, type OtlpOptions, type BatcherOptions } from './otlp-sink.js';
export { spanShapeOf, parseTraceparent, hrTimeFromNs, isCredentialHeader, redactQuery, redactUrl, REDACTED, type SpanShape, type SpanParent, type MappingOptions } from './span-mapping.js';
export { LabelLimiter, OVERFLOW_VALUE } from './label-limiter.js';
export { AuditSink } from './audit-sink.js';
export { sanitizeSql, sanitizeRedis } from './query-text.js';
