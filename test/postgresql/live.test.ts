/**
 * A real PostgreSQL server and real clients (the `pg` driver and psql),
 * captured with tcpdump on loopback and parsed: every event is checked
 * against what the client did and what it got back.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { LoopbackCapture, freePort } from '../helpers/loopback-capture.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';
import { assertDbGroups } from '../helpers/db-schema.js';
import { tsharkFields } from '../helpers/tshark.js';
import { startPg, type PgServer } from './pg-server.js';

describe('postgresql: live server, pg driver and psql', () => {
  let server: PgServer | undefined;
  let work: string;
  let events: any[] = [];
  let copyOut = '';
  const results: Record<string, any> = {};
  const binaryRows = 3;
  // numeric, date, time, timestamp and timestamptz values at the edges of their binary forms
  const binaryTypesQuery = `SELECT $1::int AS one,
    0::numeric AS n0, 0.00::numeric AS n1, -0.5::numeric AS n2, 1e-20::numeric AS n3, 123456789012345678901234567890.123::numeric AS n4,
    10000::numeric AS n5, -9999.9999::numeric AS n6, 'NaN'::numeric AS n7, 'Infinity'::numeric AS n8, '-Infinity'::numeric AS n9, 1.10::numeric(10,4) AS n10,
    '2000-01-01'::date AS d0, '1999-12-31'::date AS d1, '0044-03-15 BC'::date AS d2, 'infinity'::date AS d3, '-infinity'::date AS d4, '9999-12-31'::date AS d5,
    '00:00:00'::time AS t0, '23:59:59.999999'::time AS t1, '24:00:00'::time AS t2, '12:00:00.5'::time AS t3,
    '2000-01-01 00:00:00'::timestamp AS ts0, '1969-07-20 20:17:40.1'::timestamp AS ts1, '0044-03-15 12:00:00 BC'::timestamp AS ts2, 'infinity'::timestamp AS ts3,
    '2262-04-11 23:47:16.854775'::timestamp AS ts4,
    '2024-02-29 13:05:09.000120+00'::timestamptz AS tz0, '1900-01-01 00:00:00+00'::timestamptz AS tz1, '-infinity'::timestamptz AS tz2`;
  let port = 0;
  let pcap = '';
  const copyIn = '3\tCid\tcid@example.com\t2000-03-04\n4\tDee\t\\N\t1999-12-31\n';

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'pano-pg-live-'));
    port = await freePort();
    server = startPg(port);
    const capture = new LoopbackCapture(join(work, 'pg.pcap'), `tcp port ${port}`);
    await capture.start();
    try {
      const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', password: server.password, database: 'postgres', application_name: 'pano-live' });
      await client.connect();
      results.create = await client.query('CREATE TABLE people (id int PRIMARY KEY, name text, email text, born date)');
      results.insert = await client.query('INSERT INTO people VALUES ($1, $2, $3, $4), ($5, $6, $7, $8)', [1, 'Ann', 'ann@example.com', '1990-01-02', 2, 'Bob', null, '1985-05-06']);
      const byId = 'SELECT id, name, email FROM people WHERE id = $1';
      results.named1 = await client.query({ name: 'person-by-id', text: byId, values: [1] });
      results.named2 = await client.query({ name: 'person-by-id', text: byId, values: [2] });
      results.all = await client.query('SELECT id, name FROM people ORDER BY id');
      results.missing = await client.query('SELECT * FROM no_such_table').catch((e) => e);
      results.badParam = await client.query('SELECT $1::int AS n', ['not-a-number']).catch((e) => e);
      await client.end();
      // the same values fetched as text (the server's own printing) and in binary format
      const typed = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', password: server.password, database: 'postgres', application_name: 'pano-binary' });
      await typed.connect();
      await typed.query("SET TimeZone = 'UTC'");
      for (const binary of [false, true]) await typed.query({ text: binaryTypesQuery, values: ['1'], binary });
      await typed.end();
      // a long query cancelled through a CancelRequest on a connection of its own
      const cfg = { host: '127.0.0.1', port, user: 'postgres', password: server.password, database: 'postgres', application_name: 'pano-cancel' };
      const victim = new pg.Client(cfg);
      await victim.connect();
      results.victimPid = victim.processID;
      const sleeper = new pg.Query('SELECT pg_sleep(30)');
      const cancelled = new Promise((resolve) => {
        sleeper.on('error', resolve);
        sleeper.on('end', () => resolve(null));
      });
      victim.query(sleeper);
      // A cancel that reaches an idle backend is dropped, so wait until the server runs the query
      // (asked over the Unix socket, which the capture does not see).
      const watcher = new pg.Client({ host: server.dir, port, user: 'postgres', database: 'postgres' });
      await watcher.connect();
      for (;;) {
        const { rows } = await watcher.query("SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND state = 'active' AND query LIKE 'SELECT pg_sleep%'", [victim.processID]);
        if (rows.length) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      new pg.Client(cfg).cancel(victim, sleeper);
      results.cancelled = await cancelled;
      await victim.end();
      // a query whose backend is terminated: a FATAL ErrorResponse, then the server closes the connection
      const doomed = new pg.Client({ ...cfg, application_name: 'pano-terminated' });
      doomed.on('error', () => {});
      await doomed.connect();
      const longQuery = doomed.query('SELECT pg_sleep(31)').catch((e) => e);
      for (;;) {
        const { rows } = await watcher.query("SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND state = 'active' AND query LIKE 'SELECT pg_sleep%'", [doomed.processID]);
        if (rows.length) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      await watcher.query('SELECT pg_terminate_backend($1)', [doomed.processID]);
      results.terminated = await longQuery;
      await watcher.end();
      const psql = (args: string[], input?: string) => {
        const r = spawnSync('psql', ['-X', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'postgres', ...args], {
          input,
          encoding: 'utf8',
          env: { ...process.env, PGPASSWORD: server!.password, PGAPPNAME: 'psql-copy', PGSSLMODE: 'prefer' },
        });
        assert.equal(r.status, 0, r.stderr);
        return r.stdout;
      };
      // a password in SQL text (set to the one it already is)
      psql(['-c', `ALTER USER postgres PASSWORD '${server.password}'`]);
      psql(['-c', 'COPY people (id, name, email, born) FROM STDIN'], copyIn);
      copyOut = psql(['-c', 'COPY people TO STDOUT']);
      // binary COPY TO: the header rides with the first row and the trailer comes alone, so CopyData messages are not rows
      psql(['-c', `COPY (SELECT g FROM generate_series(1, ${binaryRows}) g) TO STDOUT (FORMAT binary)`, '-c', 'COPY (SELECT 1 WHERE false) TO STDOUT (FORMAT binary)']);
    } finally {
      await capture.stop();
    }
    pcap = capture.file;
    events = parseCaptureSync(capture.file).events;
  });

  after(() => {
    server?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const pgEvents = () => events.filter((e) => e.pano.protocol === 'postgresql');
  const driverEvents = () => pgEvents().filter((e) => e.postgresql.application_name === 'pano-live');

  it('every event passes the schema, and none carries the password', () => {
    assert.ok(events.length > 0);
    assertValidEvents(events);
    assertDbGroups(events);
    const text = JSON.stringify(events);
    assert.ok(!text.includes(server!.password));
  });

  it('the driver connection: startup with SCRAM, then one event per query in order', () => {
    const ev = driverEvents();
    assert.deepEqual(
      ev.map((e) => e.postgresql.message),
      ['StartupMessage', 'Query', 'Execute', 'Execute', 'Execute', 'Query', 'Query', 'Execute', 'Terminate'],
    );
    const [startup] = ev;
    assert.equal(startup.pano.kind, 'exchange');
    assert.equal(startup.db.namespace, 'postgres');
    assert.equal(startup.postgresql.user, 'postgres');
    assert.deepEqual(startup.postgresql.auth, { method: 'sasl', sasl_mechanisms: ['SCRAM-SHA-256'], sasl_mechanism: 'SCRAM-SHA-256', ok: true });
    assert.match(startup.postgresql.server_version, /^\d+\.\d+/);
    assert.ok(ev.every((e) => e.db.system.name === 'postgresql' && e.server.port === server!.port));
  });

  it('simple query and extended query with bound parameters', () => {
    const [, create, insert] = driverEvents();
    assert.equal(create.db.query.text, 'CREATE TABLE people (id int PRIMARY KEY, name text, email text, born date)');
    assert.equal(create.postgresql.command_tag, 'CREATE TABLE');
    assert.equal(create.postgresql.command_tag.split(' ')[0], results.create.command);
    assert.equal(create.db.operation.name, 'CREATE TABLE');
    assert.equal(insert.db.query.text, 'INSERT INTO people VALUES ($1, $2, $3, $4), ($5, $6, $7, $8)');
    assert.deepEqual(insert.db.query.parameter, { '0': '1', '1': 'Ann', '2': 'ann@example.com', '3': '1990-01-02', '4': '2', '5': 'Bob', '6': null, '7': '1985-05-06' });
    assert.equal(insert.postgresql.row_count, results.insert.rowCount);
    assert.equal(insert.db.operation.name, 'INSERT');
  });

  it('a named statement, executed twice, is mapped back to its text both times', () => {
    const [, , , first, second] = driverEvents();
    for (const [e, res, id] of [
      [first, results.named1, '1'],
      [second, results.named2, '2'],
    ] as const) {
      assert.equal(e.db.query.text, 'SELECT id, name, email FROM people WHERE id = $1');
      assert.deepEqual(e.postgresql.statement, { name: 'person-by-id' });
      assert.deepEqual(e.db.query.parameter, { '0': id });
      assert.equal(e.db.response.returned_rows, res.rowCount);
      assert.deepEqual(
        e.db.response.rows,
        res.rows.map((r: any) => ({ id: String(r.id), name: r.name, email: r.email })),
      );
    }
  });

  it('multi-row results and errors with their SQLSTATE', () => {
    const [, , , , , all, missing, bad] = driverEvents();
    assert.deepEqual(all.db.response.rows, results.all.rows.map((r: any) => ({ id: String(r.id), name: r.name })));
    assert.equal(all.postgresql.command_tag, `SELECT ${results.all.rowCount}`);
    assert.equal(missing.db.response.status_code, results.missing.code);
    assert.equal(missing.error.type, '42P01');
    assert.equal(missing.postgresql.error.message, results.missing.message);
    assert.equal(bad.db.query.text, 'SELECT $1::int AS n');
    assert.deepEqual(bad.db.query.parameter, { '0': 'not-a-number' });
    assert.equal(bad.db.response.status_code, results.badParam.code);
  });

  it('CancelRequest: a one-way message naming the backend; the cancelled query fails with 57014', () => {
    const cancel = pgEvents().filter((e) => e.postgresql.message === 'CancelRequest');
    assert.equal(cancel.length, 1);
    assert.equal(cancel[0].pano.kind, 'message');
    assert.deepEqual(cancel[0].postgresql.cancel, { backend_pid: results.victimPid });
    const sleeper = pgEvents().find((e) => e.db.query?.text === 'SELECT pg_sleep(30)');
    assert.equal(sleeper.postgresql.application_name, 'pano-cancel');
    assert.equal(sleeper.db.response.status_code, results.cancelled.code);
    assert.equal(sleeper.db.response.status_code, '57014');
    const startup = pgEvents().find((e) => e.postgresql.message === 'StartupMessage' && e.postgresql.application_name === 'pano-cancel');
    assert.equal(startup.postgresql.backend_pid, results.victimPid);
  });

  it('a query ended by pg_terminate_backend is answered by its FATAL error, not left unanswered', () => {
    const [e] = pgEvents().filter((x) => x.postgresql.application_name === 'pano-terminated' && x.db.query?.text === 'SELECT pg_sleep(31)');
    assert.equal(results.terminated.code, '57P01');
    assert.equal(e.pano.kind, 'exchange');
    assert.equal(e.pano.flags, undefined);
    assert.equal(e.db.response.status_code, results.terminated.code);
    assert.equal(e.postgresql.error.severity, 'FATAL');
  });

  it('a password written into SQL text is replaced before it reaches the event', () => {
    const alter = pgEvents().find((e) => e.db.query?.text?.startsWith('ALTER USER'));
    assert.equal(alter.db.query.text, "ALTER USER postgres PASSWORD '?'");
    assert.equal(alter.postgresql.command_tag, 'ALTER ROLE');
  });

  it('psql: SSL refused, COPY FROM STDIN keeps the data sent, COPY TO STDOUT the data received', () => {
    const ev = pgEvents().filter((e) => e.postgresql.message === 'SSLRequest');
    assert.equal(ev.length, 4, 'psql asks for TLS first (sslmode=prefer)');
    for (const e of ev) assert.deepEqual(e.postgresql.negotiation, { answer: 'N' });
    const copies = pgEvents().filter((e) => e.postgresql.copy?.format === 'text');
    assert.equal(copies.length, 2);
    const [cin, cout] = copies;
    assert.equal(cin.postgresql.application_name, 'psql-copy');
    assert.equal(cin.db.query.text, 'COPY people (id, name, email, born) FROM STDIN');
    assert.equal(cin.postgresql.copy.direction, 'in');
    assert.equal(cin.postgresql.copy.data.content, copyIn);
    assert.equal(cin.postgresql.row_count, 2);
    assert.equal(cout.postgresql.copy.direction, 'out');
    assert.equal(cout.postgresql.copy.data.content, copyOut);
    assert.equal(cout.db.response.returned_rows, copyOut.trim().split('\n').length);
  });

  it('binary-format numeric, date, time, timestamp and timestamptz values read as the server prints them as text', () => {
    const [asText, asBinary] = pgEvents().filter((e) => e.postgresql.application_name === 'pano-binary' && e.db.query?.text === binaryTypesQuery);
    const textRow = asText.db.response.rows[0];
    assert.equal(textRow.one, '1', 'the text run is text');
    assert.equal(asBinary.db.response.rows[0].one, 1, 'the binary run is binary');
    assert.deepEqual(asBinary.db.response.rows[0], { ...textRow, one: 1 });
  });

  it('binary COPY TO STDOUT: returned_rows counts the rows (as the COPY tag), not the CopyData messages', () => {
    const [some, none] = pgEvents().filter((e) => e.postgresql.copy?.format === 'binary');
    // tshark: CopyData messages per server segment of the two COPYs (rows + 1 trailer; header and trailer alone)
    const copyData = tsharkFields(pcap, ['pgsql.type'], `tcp.srcport == ${port} && pgsql.type == "Copy data"`, ['-d', `tcp.port==${port},pgsql`]).flatMap(([t]) => t.split(','));
    assert.equal(copyData.filter((t) => t === 'Copy data').length, copyOut.trim().split('\n').length + binaryRows + 1 + 1);
    assert.equal(some.postgresql.copy.messages, binaryRows + 1);
    assert.equal(some.postgresql.row_count, binaryRows);
    assert.equal(some.db.response.returned_rows, binaryRows);
    assert.equal(none.postgresql.copy.messages, 1);
    assert.equal(none.postgresql.row_count, 0);
    assert.equal(none.db.response.returned_rows, 0);
  });
});
