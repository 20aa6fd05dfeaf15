export * from './errors.js';
export * from './output.js';
export * from './signals.js';
export * from './options.js';
export * from './stats.js';
export * from './progress.js';
export * from './ndjson.js';
export * from './bad-lines.js';
