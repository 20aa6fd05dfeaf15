/**
 * A real MariaDB server and real clients (the `mysql2` driver and the
 * `mariadb` CLI), captured with tcpdump on loopback and parsed: every event
 * is checked against what the client did and what it got back.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { LoopbackCapture, freePort } from '../helpers/loopback-capture.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';
import { assertDbGroups } from '../helpers/db-schema.js';
import { tsharkFields } from '../helpers/tshark.js';
import { commandName } from '../../packages/protocols/src/mysql/constants.js';
import { startMariaDb, type MariaDb } from './mariadb-server.js';

const codeOf = new Map(Object.entries(commandName).map(([code, name]) => [name, Number(code)]));

describe('mysql: live MariaDB server, mysql2 driver and mariadb CLI', () => {
  let server: MariaDb | undefined;
  let work: string;
  let events: any[] = [];
  const r: Record<string, any> = {};
  let cliOut = '';
  let zippedOut: string[][] = [];
  let loadOut = '';
  let pcap = '';
  const select = 'SELECT id, name, email, score, born, big FROM people WHERE id = ? AND name = ?';

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'pano-mysql-live-'));
    const port = await freePort();
    server = await startMariaDb(port);
    const capture = new LoopbackCapture(join(work, 'mysql.pcap'), `tcp port ${port}`);
    await capture.start();
    try {
      const conn = await mysql.createConnection({
        host: '127.0.0.1',
        port,
        user: server.user,
        password: server.password,
        database: server.database,
        connectAttributes: { program_name: 'pano-live' },
        supportBigNumbers: true,
        bigNumberStrings: true,
        dateStrings: true,
      });
      [r.create] = await conn.query('CREATE TABLE people (id INT PRIMARY KEY, name VARCHAR(50), email VARCHAR(100), score DOUBLE, born DATETIME, big BIGINT UNSIGNED)');
      [r.insert] = await conn.query(
        "INSERT INTO people VALUES (1, 'Ann', 'ann@example.com', 9.5, '1990-01-02 03:04:05', 18446744073709551615), (2, 'Bob', NULL, 7.25, '1985-05-06 07:08:09', 5)",
      );
      [r.exec1] = await conn.execute(select, [1, 'Ann']);
      [r.exec2] = await conn.execute(select, [2, 'Bob']);
      [r.update] = await conn.execute('UPDATE people SET score = ? WHERE id = ?', [1.5, 2]);
      r.missing = await conn.query('SELECT * FROM nope').catch((e) => e);
      [r.all] = await conn.query('SELECT id, name FROM people ORDER BY id');
      await conn.ping();
      conn.unprepare(select);
      await conn.end();
      // COM_CHANGE_USER: the session becomes another user's, in another schema
      server.sql(`CREATE DATABASE audit; CREATE USER 'auditor'@'127.0.0.1' IDENTIFIED BY 'audit-pw-5521'; GRANT ALL ON audit.* TO 'auditor'@'127.0.0.1';`);
      const changing = await mysql.createConnection({ host: '127.0.0.1', port, user: server.user, password: server.password, database: server.database, connectAttributes: { program_name: 'pano-change' } });
      await changing.changeUser({ user: 'auditor', password: 'audit-pw-5521', database: 'audit' });
      [r.afterChange] = await changing.query('SELECT CURRENT_USER() AS who, DATABASE() AS db');
      await changing.end();
      const cli = spawnSync(
        'mariadb',
        ['--no-defaults', '--skip-ssl', '-h', '127.0.0.1', '-P', String(port), '-u', server.user, `-p${server.password}`, '-N', '-e', `use ${server.database}; SET PASSWORD = PASSWORD('${server.password}'); SELECT COUNT(*) FROM people`],
        { encoding: 'utf8' },
      );
      assert.equal(cli.status, 0, cli.stderr);
      cliOut = cli.stdout.trim();
      const zipped = spawnSync(
        'mariadb',
        ['--no-defaults', '--skip-ssl', '--compress', '-h', '127.0.0.1', '-P', String(port), '-u', server.user, `-p${server.password}`, '-N', '-e', `SELECT name, email FROM ${server.database}.people ORDER BY id`],
        { encoding: 'utf8' },
      );
      assert.equal(zipped.status, 0, zipped.stderr);
      zippedOut = zipped.stdout.trim().split('\n').map((l) => l.split('\t'));
      // the CLI asks for progress reports: the server sends one (an ERR packet with code 65535) before LOAD DATA's OK
      const tsv = join(work, 'loaded.tsv');
      writeFileSync(tsv, '1\tone\n2\ttwo\n3\tthree\n');
      const load = spawnSync(
        'mariadb',
        ['--no-defaults', '--skip-ssl', '--local-infile=1', '-h', '127.0.0.1', '-P', String(port), '-u', server.user, `-p${server.password}`, '-N', server.database],
        { encoding: 'utf8', input: `CREATE TABLE loaded (id INT, name VARCHAR(20));\nLOAD DATA LOCAL INFILE '${tsv}' INTO TABLE loaded;\nSELECT ROW_COUNT();\n` },
      );
      assert.equal(load.status, 0, load.stderr);
      loadOut = load.stdout.trim();
    } finally {
      await capture.stop();
    }
    pcap = capture.file;
    events = parseCaptureSync(capture.file).events;
  });

  after(async () => {
    await server?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const my = () => events.filter((e) => e.pano.protocol === 'mysql');
  const driver = () => {
    const hs = my().find((e) => e.mysql.connection_attributes?.program_name === 'pano-live');
    return my().filter((e) => e.pano.connection.id === hs.pano.connection.id);
  };

  it('every event passes the schema, and none carries the password', () => {
    assert.ok(events.length > 0);
    assertValidEvents(events);
    assertDbGroups(events);
    assert.ok(!JSON.stringify(events).includes(server!.password));
  });

  it('the driver connection: handshake, then one event per command in order', () => {
    const ev = driver();
    assert.deepEqual(
      ev.map((e) => e.mysql.command),
      ['handshake', 'COM_QUERY', 'COM_QUERY', 'COM_STMT_PREPARE', 'COM_STMT_EXECUTE', 'COM_STMT_EXECUTE', 'COM_STMT_PREPARE', 'COM_STMT_EXECUTE', 'COM_QUERY', 'COM_QUERY', 'COM_PING', 'COM_STMT_CLOSE', 'COM_STMT_CLOSE', 'COM_QUIT'],
    );
    // mysql2 closes the statement on unprepare and once more from its statement cache; tshark agrees
    const wire = tsharkFields(pcap, ['tcp.srcport', 'mysql.command'], 'mysql.command && mysql.packet_number == 0', ['-d', `tcp.port==${server!.port},mysql`])
      .filter(([src]) => Number(src) === ev[0].client.port)
      .map(([, c]) => Number(c));
    assert.deepEqual(ev.slice(1).map((e) => codeOf.get(e.mysql.command)), wire);
    const hs = ev[0];
    assert.equal(hs.db.system.name, 'mariadb');
    assert.equal(hs.db.namespace, 'shop');
    assert.equal(hs.mysql.user, 'app');
    assert.match(hs.mysql.server.version, /MariaDB/);
    assert.equal(hs.mysql.auth.ok, true);
    assert.ok(ev.every((e) => e.db.system.name === 'mariadb' && e.db.namespace === 'shop'));
  });

  it('text queries: OK with affected rows, result rows as text', () => {
    const [, create, insert] = driver();
    assert.equal(create.db.operation.name, 'CREATE');
    assert.equal(insert.mysql.affected_rows, r.insert.affectedRows);
    const all = driver()[9];
    assert.equal(all.db.query.text, 'SELECT id, name FROM people ORDER BY id');
    assert.deepEqual(all.db.response.rows, r.all.map((x: any) => ({ id: String(x.id), name: x.name })));
    assert.equal(all.db.response.returned_rows, r.all.length);
  });

  it('prepared statements: typed parameters mapped to the statement, binary rows decoded', () => {
    const ev = driver();
    const [prep, e1, e2] = [ev[3], ev[4], ev[5]];
    assert.equal(prep.db.query.text, select);
    assert.deepEqual(prep.mysql.prepared, { statement_id: e1.mysql.statement_id, params: 2, columns: 6 });
    for (const [e, params, rows] of [
      [e1, { '0': 1, '1': 'Ann' }, r.exec1],
      [e2, { '0': 2, '1': 'Bob' }, r.exec2],
    ] as const) {
      assert.equal(e.db.query.text, select);
      assert.deepEqual(e.db.query.parameter, params);
      assert.deepEqual(
        e.db.response.rows,
        // 64-bit integers are JSON numbers when exact, decimal strings beyond 2^53
        rows.map((x: any) => ({ ...x, big: Number.isSafeInteger(Number(x.big)) ? Number(x.big) : String(x.big) })),
      );
    }
    assert.equal(e1.db.response.rows[0].big, '18446744073709551615');
    const update = ev[7];
    assert.equal(update.db.query.text, 'UPDATE people SET score = ? WHERE id = ?');
    assert.deepEqual(update.db.query.parameter, { '0': 1.5, '1': 2 });
    assert.equal(update.mysql.affected_rows, r.update.affectedRows);
    assert.equal(ev[11].db.query.text, select, 'COM_STMT_CLOSE names the statement it closes');
    assert.equal(ev[12].db.query, undefined, 'a statement already closed has no text');
  });

  it('errors carry the error number and SQLSTATE', () => {
    const e = driver()[8];
    assert.equal(e.db.response.status_code, String(r.missing.errno));
    assert.equal(e.mysql.error.sql_state, r.missing.sqlState);
    assert.equal(e.mysql.error.message, r.missing.sqlMessage);
  });

  it('the CLI with --compress: zlib frames unwrapped, the query and its rows read', () => {
    const q = my().find((e) => e.db.query?.text?.startsWith('SELECT name, email FROM'));
    const hs = my().find((e) => e.mysql.command === 'handshake' && e.pano.connection.id === q.pano.connection.id);
    assert.equal(hs.mysql.compression, 'zlib');
    assert.deepEqual(
      q.db.response.rows.map((r: any) => [r.name, r.email ?? 'NULL']),
      zippedOut,
    );
  });

  it('COM_CHANGE_USER: the events after it carry the new user and schema, as the server says', () => {
    const hs = my().find((e) => e.mysql.connection_attributes?.program_name === 'pano-change');
    const ev = my().filter((e) => e.pano.connection.id === hs.pano.connection.id);
    assert.deepEqual(ev.map((e) => e.mysql.command), ['handshake', 'COM_CHANGE_USER', 'COM_QUERY', 'COM_QUIT']);
    const [, change, query] = ev;
    assert.equal(change.mysql.user, 'auditor');
    assert.equal(change.db.response, undefined);
    const [{ who, db }] = r.afterChange;
    assert.equal(who, 'auditor@127.0.0.1');
    assert.equal(query.mysql.user, who.split('@')[0]);
    assert.equal(query.db.namespace, db);
    assert.deepEqual(query.db.response.rows, [{ who, db }]);
    assert.ok(!JSON.stringify(events).includes('audit-pw-5521'));
  });

  it('the CLI: LOAD DATA LOCAL INFILE succeeds with its OK; the progress report before it is no error', () => {
    const load = my().find((e) => e.db.query?.text?.startsWith('LOAD DATA LOCAL INFILE'));
    assert.equal(loadOut, '3', 'the server loaded three rows');
    assert.equal(load.db.response?.status_code, undefined);
    assert.equal(load.mysql.error, undefined);
    assert.equal(load.mysql.affected_rows, 3);
    assert.equal(load.mysql.local_infile.data.size, '1\tone\n2\ttwo\n3\tthree\n'.length);
    // tshark sees the report as an ERR packet with code 65535, then the OK
    const errnos = tsharkFields(pcap, ['mysql.error_code'], `tcp.dstport == ${load.client.port} && mysql.error_code`, ['-d', `tcp.port==${server!.port},mysql`]).flatMap(([e]) => e.split(','));
    assert.ok(errnos.includes('65535'), JSON.stringify(errnos));
    assert.equal(load.mysql.progress.reports, errnos.filter((e) => e === '65535').length);
    assert.equal(typeof load.mysql.progress.state, 'string');
  });

  it('the CLI: COM_INIT_DB switches the namespace for the next query', () => {
    const cli = my().filter((e) => e.pano.connection.id !== driver()[0].pano.connection.id);
    const init = cli.find((e) => e.mysql.command === 'COM_INIT_DB');
    assert.equal(init.mysql.schema, 'shop');
    const setPassword = cli.find((e) => e.db.query?.text?.startsWith('SET PASSWORD'));
    assert.equal(setPassword.db.query.text, "SET PASSWORD = PASSWORD('?')", 'the password literal is replaced');
    const count = cli.find((e) => e.db.query?.text === 'SELECT COUNT(*) FROM people');
    assert.equal(count.db.namespace, 'shop');
    assert.deepEqual(Object.values(count.db.response.rows[0]), [cliOut]);
  });
});
