export * from './types.js';
export * from './time.js';
export { validateEvent, eventSchemaPath } from './validate.js';
