// An input the kernel will not read is the user's to fix, whatever the
// errno: status 2 and one line naming the file, never an internal error.
// /proc/self/mem opens but fails to read (EIO); a Unix socket fails to open
// (ENXIO).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runBinAsync } from '../helpers/bin.js';
import { PROCESSES, mapLimit } from '../helpers/parallel.js';

test('unreadable inputs (an I/O error, a socket): status 2, one line naming the file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pano-unreadable-'));
  const sock = join(dir, 'events.sock');
  const server = createServer();
  await new Promise<void>((done) => server.listen(sock, done));
  try {
    const cases: Array<[string, string[], string]> = [
      ['pano-parse', ['/proc/self/mem'], 'cannot read /proc/self/mem: input/output error'],
      ['pano-pii', ['/proc/self/mem'], '/proc/self/mem: input/output error'],
      ['pano-graph', ['/proc/self/mem'], '/proc/self/mem: input/output error'],
      ['pano-export', ['--tee', '/proc/self/mem'], '/proc/self/mem: input/output error'],
      ['pano-parse', [sock], `cannot open ${sock}: no such device or address`],
      ['pano-pii', [sock], `${sock}: no such device or address`],
      ['pano-graph', [sock], `${sock}: no such device or address`],
    ];
    await mapLimit(cases, PROCESSES, async ([cmd, args, message]) => {
      const r = await runBinAsync(cmd, args);
      assert.equal(r.status, 2, `${cmd} ${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr, `${cmd}: ${message}\n`);
    });
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
