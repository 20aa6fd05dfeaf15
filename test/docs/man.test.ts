/** The man pages render without warnings, and pano-events(5) is current with docs/events/. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../helpers/corpus.js';

const manDir = join(repoRoot, 'man');
const groff = spawnSync('groff', ['--version'], { stdio: 'ignore' }).status === 0;

test('pano-events(5) is generated from docs/events/*.roff and up to date', () => {
  const r = spawnSync(process.execPath, [join(repoRoot, 'scripts/gen-events-man.mjs'), '--check'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});

for (const page of readdirSync(manDir).filter((f) => /\.[1-8]$/.test(f))) {
  test(`man/${page} renders without groff warnings`, { skip: groff ? false : 'groff not installed' }, () => {
    const r = spawnSync('groff', ['-man', '-Tutf8', '-ww', '-z', join(manDir, page)], { encoding: 'utf8' });
    assert.equal(r.status, 0);
    assert.equal(r.stderr, '', `${page}: ${r.stderr}`);
  });
}
