/**
 * Checks the database groups of events (`db`, `postgresql`, `mysql`) against
 * their schema fragments directly, so the fragments are tested even before
 * event.v1.json references them.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { repoRoot } from './corpus.js';

const schemaDir = join(repoRoot, 'packages', 'events', 'schema');
let validators: Map<string, ReturnType<Ajv2020['compile']>> | undefined;

function compileAll() {
  const ajv = new Ajv2020({ allErrors: true, strict: false });
  const m = new Map<string, ReturnType<Ajv2020['compile']>>();
  for (const group of ['db', 'postgresql', 'mysql']) {
    m.set(group, ajv.compile(JSON.parse(readFileSync(join(schemaDir, `${group}.json`), 'utf8'))));
  }
  return m;
}

export function assertDbGroups(events: unknown[]): void {
  validators ??= compileAll();
  for (const ev of events as Array<Record<string, unknown>>) {
    for (const [group, validate] of validators) {
      if (ev[group] === undefined) continue;
      if (!validate(ev[group])) {
        const errs = (validate.errors ?? []).map((e) => `${group}${e.instancePath}: ${e.message}`).join('; ');
        throw new Error(`event fails ${group}.json: ${errs}\n${JSON.stringify(ev).slice(0, 1500)}`);
      }
    }
  }
}
