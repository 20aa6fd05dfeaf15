/**
 * JSON Schema validation of events against the v1 schema (and the protocol
 * fragments it references). Used by tests on every event they produce.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';

const schemaDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'schema');

export const eventSchemaPath = join(schemaDir, 'event.v1.json');

let validator: ((ev: unknown) => boolean) & { errors?: Array<{ instancePath: string; message?: string }> | null };

function compile() {
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
