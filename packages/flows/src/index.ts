export * from './types.js';
export { FlowTable, flowKey, type FlowTableOptions } from './flow-table.js';
export { HalfStream, seqDiff } from './half-stream.js';
