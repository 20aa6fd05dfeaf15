/**
 * client_encoding against a real PostgreSQL server: psql speaking LATIN1
 * (PGCLIENTENCODING) to a UTF8 database, then switching with SET
 * client_encoding to WIN1252 and SQL_ASCII; and psql on a LATIN1 database
 * without a client_encoding of its own (only the server's ParameterStatus
 * says LATIN1). Captured with tcpdump on loopback and parsed. Query texts are
 * checked against the bytes psql was given, rows against the bytes psql
 * printed, and both against tshark's pgsql dissector.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LoopbackCapture, freePort } from '../helpers/loopback-capture.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';
import { assertDbGroups } from '../helpers/db-schema.js';
import { tsharkFields } from '../helpers/tshark.js';
import { startPg, type PgServer } from './pg-server.js';

/** The statements psql sends (with their semicolon), each as one simple Query, in the encoding in force when it is sent. */
const statements: Array<{ sql: Buffer }> = [
  { sql: Buffer.from('CREATE TABLE people (id int, name text);', 'latin1') },
  { sql: Buffer.from("INSERT INTO people VALUES (1, 'Müller'), (2, 'café');", 'latin1') },
  { sql: Buffer.from("SELECT name, 'größe' AS größe FROM people ORDER BY id;", 'latin1') },
  { sql: Buffer.from('SELECT * FROM "tä";', 'latin1') },
  { sql: Buffer.from("SET client_encoding TO 'WIN1252';", 'latin1') },
  // € is 0x80 in windows-1252
  { sql: Buffer.concat([Buffer.from("SELECT '", 'latin1'), Buffer.from([0x80]), Buffer.from(" ' || name AS n FROM people WHERE id = 1;", 'latin1')]) },
  { sql: Buffer.from("SET client_encoding TO 'SQL_ASCII';", 'latin1') },
  // no conversion at all now: the server sends its UTF-8 bytes as they are
  { sql: Buffer.from('SELECT name FROM people WHERE id = 2;', 'latin1') },
];

/** A text of these statements back in the bytes psql sent (latin1 / windows-1252; € is their only difference here). */
function wire(text: string): Buffer {
  return Buffer.from(text.replace(/€/g, '\x80'), 'latin1');
}

describe('postgresql: live server, client_encoding LATIN1 / WIN1252 / SQL_ASCII', () => {
  let server: PgServer | undefined;
  let work: string;
  let pcap = '';
  let port = 0;
  /** tshark dissects PostgreSQL on 5432 only; the server runs on a free port. */
  const decodeAs = () => ['-d', `tcp.port==${port},pgsql`];
  /** ParameterStatus name/value pairs tshark shows (joined with '|': values such as DateStyle "ISO, MDY" hold commas). */
  const parameterStatus = (filter: string): Array<[string, string]> =>
    execFileSync('tshark', ['-r', pcap, ...decodeAs(), '-Y', filter, '-T', 'fields', '-E', 'separator=\t', '-E', 'aggregator=|', '-e', 'pgsql.parameter_name', '-e', 'pgsql.parameter_value'], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.length > 0)
      .flatMap((l) => {
        const [names, values] = l.split('\t');
        const v = values.split('|');
        return names.split('|').map((n, i): [string, string] => [n, v[i]]);
      });
  let events: any[] = [];
  let printed = Buffer.alloc(0);
  let printedLatin1Db = Buffer.alloc(0);
  let latin1Db: any[] = [];
  let all: any[] = [];
  const latin1DbQuery = Buffer.from("SELECT 'Müller' AS größe, 'x' || chr(233) AS e;", 'latin1');

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'pano-pg-enc-'));
    port = await freePort();
    server = startPg(port);
    // over the Unix socket, which the capture does not see
    const created = spawnSync('psql', ['-X', '-q', '-h', server.dir, '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-c', "CREATE DATABASE lat ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"]);
    assert.equal(created.status, 0, created.stderr.toString());
    const capture = new LoopbackCapture(join(work, 'pg.pcap'), `tcp port ${port}`);
    await capture.start();
    try {
      const input = Buffer.concat(statements.flatMap((s) => [s.sql, Buffer.from('\n')]));
      const r = spawnSync('psql', ['-X', '-q', '-A', '-t', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-f', '-'], {
        input,
        env: { ...process.env, PGPASSWORD: server.password, PGAPPNAME: 'pano-enc', PGSSLMODE: 'disable', PGCLIENTENCODING: 'LATIN1' },
      });
      assert.equal(r.status, 0, r.stderr.toString('latin1'));
      printed = r.stdout;
      // not a terminal, so psql asks for no client_encoding: the server's (LATIN1) applies
      const env = { ...process.env, PGPASSWORD: server.password, PGAPPNAME: 'pano-latin1db', PGSSLMODE: 'disable' };
      delete env.PGCLIENTENCODING;
      const l = spawnSync('psql', ['-X', '-q', '-A', '-t', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'lat', '-f', '-'], { input: latin1DbQuery, env });
      assert.equal(l.status, 0, l.stderr.toString('latin1'));
      printedLatin1Db = l.stdout;
    } finally {
      await capture.stop();
    }
    pcap = capture.file;
    all = parseCaptureSync(pcap).events.filter((e: any) => e.pano.protocol === 'postgresql');
    events = all.filter((e: any) => e.postgresql.application_name === 'pano-enc');
    latin1Db = all.filter((e: any) => e.postgresql.application_name === 'pano-latin1db');
  });

  after(() => {
    server?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const queries = () => events.filter((e) => e.postgresql.message === 'Query');

  it('both connections were captured and parsed from their startup; every event passes the schema', () => {
    assertValidEvents(all);
    assertDbGroups(all);
    assert.equal(events[0].postgresql.message, 'StartupMessage');
    assert.equal(latin1Db[0].postgresql.message, 'StartupMessage');
    assert.equal(latin1Db[0].db.namespace, 'lat');
  });

  it('query texts are what psql sent, decoded in the encoding in force (LATIN1, then WIN1252)', () => {
    const q = queries();
    assert.equal(q.length, statements.length);
    q.forEach((e, i) => assert.ok(wire(e.db.query.text).equals(statements[i].sql), `statement ${i}: ${e.db.query.text}`));
    assert.deepEqual(
      q.map((e) => e.db.query.text),
      [
        'CREATE TABLE people (id int, name text);',
        "INSERT INTO people VALUES (1, 'Müller'), (2, 'café');",
        "SELECT name, 'größe' AS größe FROM people ORDER BY id;",
        'SELECT * FROM "tä";',
        "SET client_encoding TO 'WIN1252';",
        "SELECT '€ ' || name AS n FROM people WHERE id = 1;",
        "SET client_encoding TO 'SQL_ASCII';",
        'SELECT name FROM people WHERE id = 2;',
      ],
    );
  });

  it('rows, column names and the error message are decoded as the server sent them', () => {
    const [, , sel, missing, , euro, , raw] = queries();
    // psql printed the rows in the client encoding of the moment: LATIN1 (2 rows), WIN1252, SQL_ASCII (UTF-8 bytes)
    const lines = printed.toString('latin1').split('\n');
    assert.deepEqual(sel.db.response.rows, [
      { name: 'Müller', größe: 'größe' },
      { name: 'café', größe: 'größe' },
    ]);
    assert.deepEqual(lines.slice(0, 2), ['Müller|größe', 'café|größe']);
    assert.equal(sel.pano.flags, undefined);
    assert.equal(missing.db.response.status_code, '42P01');
    assert.equal(missing.postgresql.error.message, 'relation "tä" does not exist');
    assert.deepEqual(euro.db.response.rows, [{ n: '€ Müller' }]);
    assert.ok(printed.includes(Buffer.from([0x80, 0x20, 0x4d, 0xfc])), 'psql printed € Müller in windows-1252');
    // SQL_ASCII: no encoding is declared, so the UTF-8 bytes of café are shown one code point per byte, flagged
    assert.deepEqual(raw.db.response.rows, [{ name: 'cafÃ©' }]);
    assert.ok(printed.includes(Buffer.from('café\n', 'utf8')), 'psql printed the raw UTF-8 bytes');
    assert.deepEqual(raw.pano.flags, ['text_as_latin1']);
  });

  it('tshark: the server reported LATIN1 at startup, then WIN1252 and SQL_ASCII after each SET', () => {
    const startup = events[0];
    assert.equal(startup.postgresql.auth.ok, true);
    const reported = parameterStatus('tcp.stream == 0 && pgsql.type == "Parameter status"').filter(([n]) => n === 'client_encoding').map(([, v]) => v);
    assert.deepEqual(reported, ['LATIN1', 'WIN1252', 'SQL_ASCII']);
  });

  it('tshark sees the same query texts, byte for byte where it shows bytes', () => {
    const shown = tsharkFields(pcap, ['pgsql.query'], 'tcp.stream == 0 && pgsql.type == "Simple query"', decodeAs()).map(([q]) => q);
    // tshark reads pgsql.query as ASCII and prints every byte above 0x7F as U+FFFD
    const asTshark = (b: Buffer) => [...b].map((c) => (c < 0x80 ? String.fromCharCode(c) : '\ufffd')).join('');
    assert.deepEqual(shown, statements.map((s) => asTshark(s.sql)));
    assert.deepEqual(queries().map((e) => asTshark(wire(e.db.query.text))), shown);
  });

  it('a LATIN1 database: the encoding comes from the server alone, and text is decoded in it', () => {
    const q = latin1Db.find((e) => e.postgresql.message === 'Query');
    assert.ok(wire(q.db.query.text).equals(latin1DbQuery), q.db.query.text);
    assert.deepEqual(q.db.response.rows, [{ größe: 'Müller', e: 'xé' }]);
    assert.equal(printedLatin1Db.toString('latin1'), 'Müller|xé\n');
    assert.equal(q.pano.flags, undefined);
    const reported = parameterStatus('tcp.stream == 1 && pgsql.type == "Parameter status"');
    assert.deepEqual(reported.filter(([n]) => n === 'client_encoding'), [['client_encoding', 'LATIN1']]);
    const startupParams = tsharkFields(pcap, ['pgsql.parameter_name'], 'tcp.stream == 1 && pgsql.type == "Startup message"', decodeAs());
    assert.ok(!startupParams.flat().join(',').includes('client_encoding'), 'psql sent no client_encoding');
  });
});
