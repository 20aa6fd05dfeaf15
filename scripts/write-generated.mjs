// Writes a generated, checked-in file, or with `--check` on the command line
// fails (exit 1, one line) when the checked-in file is not what its generator
// makes now: tests run the generators with --check so a stale file cannot land.
import { readFileSync, writeFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');

/** `target` absolute path, `text` its content, `regenerate` the command that rewrites it. Returns true when written. */
export function writeGenerated(target, text, regenerate) {
  if (process.argv.includes('--check')) {
    let old = null;
    try { old = readFileSync(target, 'utf8'); } catch { /* missing counts as stale */ }
    if (old !== text) {
      console.error(`${relative(root, target)} is stale: run ${regenerate}`);
      process.exit(1);
    }
    return false;
  }
  writeFileSync(target, text);
  return true;
}
