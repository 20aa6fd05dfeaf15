export * from './types.js';
export { FlowTable, fingerprint, flowKey, plaintextKey, type FlowTableOptions } from './flow-table.js';
export { HalfStream, seqDiff } from './half-stream.js';
