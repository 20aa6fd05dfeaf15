export { ParsePipeline, protocolNames, selectModules, shardOf, type PipelineOptions } from './pipeline.js';
export { ParseWorkers, ShardedPipeline, sharedChunk, type ShardedOptions } from './sharded.js';
export { main, buildCommand } from './command.js';
