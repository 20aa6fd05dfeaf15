export { ParsePipeline, protocolNames, selectModules, type PipelineOptions } from './pipeline.js';
export { main, buildCommand } from './command.js';
