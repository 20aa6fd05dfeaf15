// --token-file: the Bearer scheme in any case (RFC 9110 11.1: auth schemes are
// case-insensitive), the token itself exactly; /healthz open.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runExport } from './fixtures.js';

test('token auth: any case of Bearer is accepted, a wrong token or scheme is not', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pano-export-auth-'));
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, 's3cret\n', { mode: 0o600 });
  const run = runExport(['--prometheus', '127.0.0.1:0', '--token-file', tokenFile]);
  try {
    const [, port] = await run.waitStderr(/http:\/\/127\.0\.0\.1:(\d+)\//);
    const status = async (authorization?: string) => (await fetch(`http://127.0.0.1:${port}/metrics`, authorization === undefined ? {} : { headers: { authorization } })).status;
    assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
    for (const ok of ['Bearer s3cret', 'bearer s3cret', 'BEARER s3cret', 'bEaReR s3cret', 'Bearer  s3cret']) assert.equal(await status(ok), 200, ok);
    for (const bad of [undefined, 'Bearer S3CRET', 'bearer s3cre', 'Bearer s3crett', 'Basic s3cret', 'Bearers3cret', 's3cret', 'Bearer']) assert.equal(await status(bad), 401, String(bad));
  } finally {
    run.child.kill('SIGTERM');
    await run.exited;
    rmSync(dir, { recursive: true, force: true });
  }
});
