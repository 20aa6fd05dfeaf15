#!/usr/bin/env node
// Runs every test/**/*.test.ts (or those under the paths given) with node's
// test runner, TypeScript loaded through tsx and workspace packages resolved
// to their sources (the "source" export condition), so a test never depends
// on a stale build.
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);
const passthrough = args.filter((a) => a.startsWith('--'));
const roots = args.filter((a) => !a.startsWith('--'));

function collect(path, out) {
  const st = statSync(path);
  if (st.isFile()) {
    if (path.endsWith('.test.ts')) out.push(path);
    return;
  }
  for (const name of readdirSync(path).sort()) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    collect(join(path, name), out);
  }
}

const files = [];
for (const r of roots.length ? roots : ['test']) collect(resolve(root, r), files);
if (files.length === 0) {
  console.error('run-tests: no test files found');
  process.exit(1);
}
const res = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--conditions=source', '--test', '--test-reporter=spec', ...passthrough, ...files],
  { stdio: 'inherit', cwd: root, env: { ...process.env, PANO_ROOT: root } },
);
process.exit(res.status ?? 1);
