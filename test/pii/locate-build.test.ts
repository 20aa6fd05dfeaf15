/** The checked-in WebAssembly locator is what packages/pii/native/locate.c builds to (ADR 0404). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../helpers/corpus.js';

test('packages/pii/src/locate-wasm.ts is the build of native/locate.c (clang, wasm-ld)', () => {
  const r = spawnSync(process.execPath, [join(repoRoot, 'scripts/pii/build-locate.mjs'), '--check'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});
