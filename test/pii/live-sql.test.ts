// Personal data written as SQL literals by psql (statements typed by hand
// carry their values in the text, not as bound parameters), against a
// throwaway PostgreSQL server on loopback, captured with tcpdump and parsed:
// a name and a password known only by their columns are found in the
// statement's text, hashed as the values they are, and redacted; and a name a
// result row's column tells is found again where the statement wrote it as a
// literal no column names (an IN list, a function's argument: `O''Neil`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventScanner, hmacHex } from '@panopticon/pii';
import { LoopbackCapture, freePort } from '../helpers/loopback-capture.js';
import { parseCaptureSync } from '../helpers/parse.js';
import { redactedTexts } from '../helpers/redacted.js';
import { pgBinDir, startPg } from '../postgresql/pg-server.js';

const missing = !pgBinDir() || !existsSync('/usr/bin/psql') || !existsSync('/usr/bin/tcpdump');

const NAME = "Renée O'Neil";
const PASSWORD = 'Tr0ub4dor&3';

test('a name and a password in the literals of an INSERT and a WHERE typed into psql are found by their columns and redacted', { skip: missing ? 'needs PostgreSQL, psql and tcpdump' : false }, async () => {
  const port = await freePort();
  const pg = startPg(port);
  const dir = mkdtempSync(join(tmpdir(), 'pano-pii-sql-'));
  const file = join(dir, 'pg.pcap');
  const sqlName = NAME.replace(/'/g, "''");
  const insert = `INSERT INTO customers (id, full_name, password) VALUES (1, '${sqlName}', '${PASSWORD}'), (2, 'Kofi Moreno', DEFAULT)`;
  const select = `SELECT id FROM customers WHERE full_name = '${sqlName}'`;
  const lookup = `SELECT full_name FROM customers WHERE lower(full_name) IN (lower('${sqlName}'), 'nobody')`;
  try {
    const psql = (sql: string) => execFileSync('psql', ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-X', '-q', '-At', '-c', sql], { encoding: 'utf8', env: { ...process.env, PGPASSWORD: pg.password, PGSSLMODE: 'disable' } }).trim();
    psql('CREATE TABLE customers (id int, full_name text, password text)');
    const cap = new LoopbackCapture(file, `tcp port ${port}`);
    await cap.start();
    try {
      psql(insert);
      assert.equal(psql(select), '1');
      assert.equal(psql(lookup), NAME);
    } finally {
      await cap.stop();
    }
  } finally {
    pg.stop();
  }
  const events = (parseCaptureSync(file).events as unknown as Array<Record<string, any>>).filter((e) => [insert, select, lookup].includes(e.db?.query?.text));
  rmSync(dir, { recursive: true, force: true });
  assert.equal(events.length, 3);
  const key = Buffer.alloc(32, 7);
  const es = new EventScanner({ key, hashValues: true });
  const found = events.flatMap((ev) => es.finish(es.collect(structuredClone(ev))));
  // offsets of the literals' contents in the statements as psql sent them
  const span = (sql: string, v: string) => [sql.indexOf(v), sql.indexOf(v) + v.length];
  assert.deepEqual(found.map((f) => [f.type, f.path, f.start, f.end]), [
    ['person_name', 'db.query.text', ...span(insert, sqlName)],
    ['password', 'db.query.text', ...span(insert, PASSWORD)],
    ['person_name', 'db.query.text', ...span(insert, 'Kofi Moreno')],
    ['person_name', 'db.query.text', ...span(select, sqlName)],
    // the row's column names the name; the statement wrote it with its quote doubled (until session 22 left raw)
    ['person_name', 'db.query.text', ...span(lookup, sqlName)],
    ['person_name', 'db.response.rows[0].full_name', 0, NAME.length],
  ]);
  assert.equal(found[4]!.detector, 'repeat');
  // hashed as the value, not as SQL wrote it (O''Neil), so it joins the same name found anywhere else
  assert.equal(found[0]!.valueHash, hmacHex(key, 'person_name', NAME));
  for (const f of found.slice(3).filter((f) => f.type === 'person_name')) assert.equal(f.valueHash, found[0]!.valueHash);
  for (const [mode, text] of redactedTexts(events, key)) {
    for (const v of ['Renée', 'Neil', 'Tr0ub4dor', 'Kofi']) assert.ok(!text.includes(v), `${mode}: ${v} left in ${text}`);
  }
});
