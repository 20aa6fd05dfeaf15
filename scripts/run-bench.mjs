#!/usr/bin/env node
// Runs every scripts/bench/*.ts (or the names given, e.g. `npm run bench -- http1`)
// in sequence. Each benchmark measures Panopticon beside a peer in the same run
// and prints ratios; figures worth keeping go to docs/PERFORMANCE.md.
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = resolve(import.meta.dirname, '..');
const dir = join(root, 'scripts', 'bench');
const wanted = process.argv.slice(2);
const all = readdirSync(dir).filter((f) => f.endsWith('.ts')).sort();
const chosen = wanted.length ? all.filter((f) => wanted.some((w) => f.startsWith(w))) : all;
// Figures depend on the runtime as much as on the code (ADR 0007): say which.
console.log(`runtime: Node.js ${process.version} (V8 ${process.versions.v8}) at ${process.execPath}`);
let failed = 0;
for (const f of chosen) {
  console.log(`\n=== bench: ${f} ===`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--conditions=source', join(dir, f)], {
    stdio: 'inherit',
    cwd: root,
  });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
