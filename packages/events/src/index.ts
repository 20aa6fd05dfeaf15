export * from './types.js';
export * from './time.js';
export { sequential } from './flat.js';
export { setOwn } from './own-keys.js';
export { validateEvent, eventSchemaPath } from './validate.js';
