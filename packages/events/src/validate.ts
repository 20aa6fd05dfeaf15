/**
 * JSON Schema validation of events against the v1 schema (and the protocol
 * fragments it references). Used by tests on every event they produce.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Ajv2020 as Ajv2020Type } from 'ajv/dist/2020.js';

// Loaded on the first validation only: the commands import this package for
// its types and time helpers, and should not pay for a JSON Schema compiler.
const require = createRequire(import.meta.url);

const schemaDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'schema');

export const eventSchemaPath = join(schemaDir, 'event.v1.json');

let validator: ((ev: unknown) => boolean) & { errors?: Array<{ instancePath: string; message?: string }> | null };

function compile() {
  const { Ajv2020 } = require('ajv/dist/2020.js') as { Ajv2020: typeof Ajv2020Type };
  const ajv = new Ajv2020({ allErrors: true, strict: false });
  for (const f of readdirSync(schemaDir)) {
    if (f.endsWith('.json') && f !== 'event.v1.json') ajv.addSchema(JSON.parse(readFileSync(join(schemaDir, f), 'utf8')));
  }
  return ajv.compile(JSON.parse(readFileSync(eventSchemaPath, 'utf8')));
}

/** Schema errors of one event as `path: message` strings; empty when valid. */
export function validateEvent(ev: unknown): string[] {
  validator ??= compile() as typeof validator;
  if (validator(ev)) return [];
  return (validator.errors ?? []).map((e) => `${e.instancePath || '/'}: ${e.message ?? 'invalid'}`);
}
