// Which module a command in bin/ starts from: its bundle in dist/
// (scripts/bundle.mjs, ADR 0012) while no file it was built from is newer
// than it, else the package itself (packages/*/dist, or the sources under
// --conditions=source as the tests run it), so that a `tsc -b` without a new
// bundle never runs old code.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const ROOT = join(import.meta.dirname, '..', '..');

/** The URL of COMMAND's bundle under ROOT/dist if it is there and up to date, else null. */
export function freshBundle(command, root = ROOT) {
  let manifest;
  try {
    manifest = JSON.parse(readFileSync(join(root, 'dist', 'bundle.json'), 'utf8'));
  } catch {
    return null;
  }
  if (!Array.isArray(manifest?.commands) || !manifest.commands.includes(command) || typeof manifest.stamps !== 'object') return null;
  // each package's .tsbuildinfo (rewritten by every `tsc -b` that emits into
  // its dist/) and npm's node_modules/.package-lock.json, as they were when
  // the bundle was built: a dozen stats, where statting its ~300 inputs cost 5-15 ms
  for (const [f, t] of Object.entries(manifest.stamps)) {
    if (statSync(join(root, f), { throwIfNoEntry: false })?.mtimeMs !== t) return null;
  }
  return pathToFileURL(join(root, 'dist', `${command}.js`)).href;
}

/** What bin/COMMAND imports: its fresh bundle, or PKG (as bin/ names it). */
export function startModule(command, pkg) {
  // PKG resolving to TypeScript means --conditions=source (tests, tsx): run the sources
  if (process.env.PANO_NO_BUNDLE || !import.meta.resolve(pkg).endsWith('.js')) return pkg;
  return freshBundle(command) ?? pkg;
}
