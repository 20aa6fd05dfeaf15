/**
 * Payloads past 16 MiB against a real MariaDB: an 18 MB INSERT and the row
 * read back travel as several packets each way. tcpdump runs with a large
 * kernel buffer (-B), because loopback delivers the 18 MB burst faster than
 * a default-sized buffer drains, and a capture with kernel drops would test
 * gap handling instead.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import mysql from 'mysql2/promise';
import { freePort } from '../helpers/loopback-capture.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';
import { assertDbGroups } from '../helpers/db-schema.js';
import { startMariaDb, type MariaDb } from './mariadb-server.js';

async function bigBufferCapture(file: string, filter: string): Promise<{ stop(): Promise<string> }> {
  const proc: ChildProcess = spawn('tcpdump', ['-i', 'lo', '-U', '--immediate-mode', '-B', '131072', '-s', '0', '-w', file, filter], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise((r) => proc.once('exit', r));
  for (let i = 0; !stderr.includes('listening on') || !existsSync(file) || statSync(file).size < 24; i++) {
    if (proc.exitCode !== null || i > 500) throw new Error(`tcpdump did not start: ${stderr}`);
    await sleep(20);
  }
  await sleep(100);
  return {
    async stop() {
      await sleep(200);
      proc.kill('SIGINT');
      await exited;
      return stderr;
    },
  };
}

describe('mysql: live MariaDB, payloads over 16 MiB', () => {
  let server: MariaDb | undefined;
  let work: string;
  let events: any[] = [];
  let tcpdumpReport = '';
  const r: Record<string, any> = {};
  const bigText = 'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(500_000); // 18 MB
  const insertSql = `INSERT INTO docs VALUES (1, '${bigText}')`;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'pano-mysql-big-'));
    const port = await freePort();
    server = await startMariaDb(port);
    const file = join(work, 'big.pcap');
    const cap = await bigBufferCapture(file, `tcp port ${port}`);
    try {
      const conn = await mysql.createConnection({ host: '127.0.0.1', port, user: server.user, password: server.password, database: server.database });
      await conn.query('CREATE TABLE docs (id INT PRIMARY KEY, body LONGTEXT)');
      [r.insert] = await conn.query(insertSql);
      [r.rows] = await conn.query('SELECT body FROM docs WHERE id = 1');
      await conn.end();
    } finally {
      tcpdumpReport = await cap.stop();
    }
    events = parseCaptureSync(file).events;
  });

  after(async () => {
    await server?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('the capture is complete (no kernel drops)', () => {
    assert.match(tcpdumpReport, /\b0 packets dropped by kernel/);
    assertValidEvents(events);
    assertDbGroups(events);
  });

  it('the INSERT is read as one payload across packets: text kept up to maxBody, sizes whole', () => {
    const insert = events.find((e) => e.db?.query?.text?.startsWith('INSERT INTO docs'));
    const payload = 1 + Buffer.byteLength(insertSql);
    const packets = Math.floor(payload / 0xffffff) + 1;
    assert.equal(packets, 2);
    assert.equal(insert.pano.kind, 'exchange');
    assert.equal(insert.pano.request_bytes, payload + 4 * packets);
    assert.equal(insert.db.query.text, insertSql.slice(0, 64 * 1024));
    assert.deepEqual(insert.pano.flags, ['truncated']);
    assert.equal(insert.mysql.affected_rows, r.insert.affectedRows);
  });

  it('the row read back spans packets too; the next command is still in step', () => {
    const select = events.find((e) => e.db?.query?.text === 'SELECT body FROM docs WHERE id = 1');
    assert.equal(select.pano.kind, 'exchange');
    assert.equal(select.db.response.returned_rows, 1);
    assert.ok(select.pano.response_bytes > 0xffffff);
    assert.equal(r.rows[0].body.length, bigText.length);
    const kept = select.db.response.rows[0].body;
    assert.ok(kept.length > 1000 && bigText.startsWith(kept));
    assert.deepEqual(select.pano.flags, ['truncated']);
    const quit = events.filter((e) => e.mysql?.command === 'COM_QUIT');
    assert.equal(quit.length, 1);
    assert.equal(events.filter((e) => e.pano.kind === 'unanswered').length, 0);
  });
});
