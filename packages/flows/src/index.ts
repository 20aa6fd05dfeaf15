export * from './types.js';
export { FlowTable, fingerprint, flowKey, type FlowTableOptions } from './flow-table.js';
export { HalfStream, seqDiff } from './half-stream.js';
