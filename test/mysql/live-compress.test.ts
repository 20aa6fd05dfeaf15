/**
 * The compressed protocol against a real MariaDB server: the `mariadb` CLI
 * with --compress sends a 100 KB query, which travels in two compressed
 * frames (0 and 1), and MariaDB numbers the reply's packets from 2. Captured
 * with tcpdump on loopback and parsed: the rows are what the CLI printed, and
 * no sequence error is counted for what the protocol does.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LoopbackCapture, freePort } from '../helpers/loopback-capture.js';
import { parseCaptureSync, assertValidEvents, type ParseResult } from '../helpers/parse.js';
import { startMariaDb, type MariaDb } from './mariadb-server.js';

describe('mysql: live MariaDB, compressed protocol with a request larger than one frame', () => {
  let server: MariaDb | undefined;
  let work: string;
  let result: ParseResult;
  let printed: string[] = [];
  const literal = 'y'.repeat(100_000);
  const queries = [`SELECT LENGTH('${literal}') AS n`, 'SELECT seq FROM seq_1_to_300', 'SELECT 1 AS one'];

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'pano-mysql-zlib-'));
    const port = await freePort();
    server = await startMariaDb(port);
    const capture = new LoopbackCapture(join(work, 'mysql.pcap'), `tcp port ${port}`);
    await capture.start();
    try {
      const cli = spawnSync(
        'mariadb',
        ['--no-defaults', '--skip-ssl', '--compress', '-h', '127.0.0.1', '-P', String(port), '-u', server.user, `-p${server.password}`, '-N', '-B', server.database, '-e', queries.join('; ')],
        { encoding: 'utf8', maxBuffer: 1 << 24 },
      );
      assert.equal(cli.status, 0, cli.stderr);
      printed = cli.stdout.trim().split('\n');
    } finally {
      await capture.stop();
    }
    result = parseCaptureSync(capture.file);
  });

  after(async () => {
    await server?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('the three queries and their rows, as the CLI printed them', () => {
    const events = result.events as any[];
    assertValidEvents(events);
    assert.equal(events[0].mysql.compression, 'zlib');
    const q = events.filter((e) => e.mysql.command === 'COM_QUERY');
    assert.equal(q.length, 3);
    assert.ok(q[0].db.query.text.startsWith("SELECT LENGTH('yyy"));
    assert.deepEqual(q[0].db.response.rows, [{ n: printed[0] }]);
    assert.equal(printed[0], String(literal.length));
    assert.equal(q[1].db.response.returned_rows, 300);
    assert.deepEqual(q[1].db.response.rows.map((r: any) => r.seq), printed.slice(1, 1 + q[1].db.response.rows.length));
    assert.deepEqual(q[2].db.response.rows, [{ one: printed[301] }]);
  });

  it('no sequence error, no resynchronisation, no gap', () => {
    const counts = result.stats.protocols as Record<string, number>;
    assert.equal(counts['mysql.sequence_error'], undefined);
    assert.equal(counts['mysql.resync_skipped_bytes'], undefined);
    assert.equal(counts['mysql.gap_bytes'], undefined);
  });
});
