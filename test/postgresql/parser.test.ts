/**
 * PostgreSQL parser against hand-built protocol messages: every exchange type,
 * chunking at every offset, coalescing, mid-connection joins, gaps and limits.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Connection } from '@panopticon/flows';
import type { ExchangeRecord, ParseOptions } from '../../packages/protocols/src/types.js';
import { postgresqlModule } from '../../packages/protocols/src/postgresql/index.js';
import { fakeContext } from '../helpers/fake-parser-context.js';
import { bytewise, coalesce, feed, splitAt, untimed, type Segment, runScript } from '../helpers/scripted-stream.js';
import { be, bin, fe, msg } from './pg-wire.js';

const C = 0 as const;
const S = 1 as const;

const run = (script: Segment[], opts: Partial<ParseOptions> = {}, conn: Partial<Connection> = {}, cut?: (i: number, b: Buffer) => Buffer[]) => runScript(postgresqlModule, 5432, script, opts, conn, cut);

function attrs(r: ExchangeRecord): any {
  return r.attributes as any;
}

const login: Segment[] = [
  { dir: C, bytes: fe.sslRequest() },
  { dir: S, bytes: be.sslAnswer('N') },
  { dir: C, bytes: fe.startup({ user: 'alice', database: 'shop', application_name: 'psql' }) },
  { dir: S, bytes: be.authSasl(['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256']) },
  { dir: C, bytes: fe.saslInitial('SCRAM-SHA-256', 'n,,n=,r=SECRETNONCE1') },
  { dir: S, bytes: be.authSaslContinue('r=SECRETNONCE1SERVER,s=SALTSALT,i=4096') },
  { dir: C, bytes: fe.saslResponse('c=biws,r=SECRETNONCE1SERVER,p=CLIENTPROOF') },
  {
    dir: S,
    bytes: Buffer.concat([
      be.authSaslFinal('v=SERVERSIGNATURE'),
      be.authOk(),
      be.parameterStatus('server_version', '15.8'),
      be.parameterStatus('application_name', 'psql'),
      be.backendKeyData(4242, 0x5ec2e7),
      be.ready(),
    ]),
  },
];

const simple: Segment[] = [
  { dir: C, bytes: fe.query('SELECT id, name FROM users WHERE id < 3') },
  {
    dir: S,
    bytes: Buffer.concat([
      be.rowDescription([{ name: 'id', oid: 23 }, { name: 'name' }]),
      be.dataRow(['1', 'Ann']),
      be.dataRow(['2', null]),
      be.commandComplete('SELECT 2'),
      be.ready(),
    ]),
  },
];

const extended: Segment[] = [
  {
    dir: C,
    bytes: Buffer.concat([
      fe.parse('s1', 'SELECT email FROM users WHERE id = $1 AND active = $2'),
      fe.bind('', 's1', ['7', 't']),
      fe.describe('P', ''),
      fe.execute(''),
      fe.sync(),
    ]),
  },
  {
    dir: S,
    bytes: Buffer.concat([
      be.parseComplete(),
      be.bindComplete(),
      be.rowDescription([{ name: 'email' }]),
      be.dataRow(['ann@example.com']),
      be.commandComplete('SELECT 1'),
      be.ready(),
    ]),
  },
  { dir: C, bytes: Buffer.concat([fe.bind('', 's1', ['8', 'f']), fe.execute(''), fe.sync()]) },
  { dir: S, bytes: Buffer.concat([be.bindComplete(), be.commandComplete('SELECT 0'), be.ready()]) },
];

const whole: Segment[] = [...login, ...simple, ...extended, { dir: C, bytes: fe.terminate() }];

describe('postgresql: startup and authentication', () => {
  const ctx = run(login);
  it('reports the refused SSLRequest and the startup with its facts', () => {
    assert.equal(ctx.records.length, 2);
    const [ssl, startup] = ctx.records;
    assert.equal(attrs(ssl).postgresql.message, 'SSLRequest');
    assert.deepEqual(attrs(ssl).postgresql.negotiation, { answer: 'N' });
    assert.equal(ssl.kind, 'exchange');
    const a = attrs(startup);
    assert.equal(startup.kind, 'exchange');
    assert.equal(a.db.system.name, 'postgresql');
    assert.equal(a.db.namespace, 'shop');
    assert.equal(a.postgresql.user, 'alice');
    assert.equal(a.postgresql.application_name, 'psql');
    assert.equal(a.postgresql.protocol_version, '3.0');
    assert.equal(a.postgresql.server_version, '15.8');
    assert.equal(a.postgresql.backend_pid, 4242);
    assert.deepEqual(a.postgresql.auth, {
      method: 'sasl',
      sasl_mechanisms: ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256'],
      sasl_mechanism: 'SCRAM-SHA-256',
      ok: true,
    });
  });
  it('never carries authentication secrets', () => {
    const text = JSON.stringify(ctx.records, (_k, v) => (typeof v === 'bigint' ? String(v) : v));
    for (const secret of ['SECRETNONCE1', 'SALTSALT', 'CLIENTPROOF', 'SERVERSIGNATURE', String(0x5ec2e7)]) {
      assert.ok(!text.includes(secret), `event text leaks ${secret}`);
    }
  });
  it('counts request and response bytes of the whole startup', () => {
    const startup = ctx.records[1];
    const reqBytes = login.slice(2).filter((s) => s.dir === C).reduce((n, s) => n + s.bytes.length, 0);
    const respBytes = login.slice(3).filter((s) => s.dir === S).reduce((n, s) => n + s.bytes.length, 0);
    assert.equal(startup.requestBytes, reqBytes);
    assert.equal(startup.responseBytes, respBytes);
  });
  it('reports a failed md5 login with its SQLSTATE, without the salt or hash', () => {
    const c = run([
      { dir: C, bytes: fe.startup({ user: 'bob' }) },
      { dir: S, bytes: be.authMd5(Buffer.from('SALT')) },
      { dir: C, bytes: fe.password('md5deadbeefdeadbeef') },
      { dir: S, bytes: be.error({ S: 'FATAL', V: 'FATAL', C: '28P01', M: 'password authentication failed for user "bob"' }) },
    ]);
    assert.equal(c.records.length, 1);
    const a = attrs(c.records[0]);
    assert.equal(a.db.namespace, 'bob', 'database defaults to the user name');
    assert.equal(a.db.response.status_code, '28P01');
    assert.equal(a.error.type, '28P01');
    assert.deepEqual(a.postgresql.auth, { method: 'md5', ok: false });
    assert.ok(!JSON.stringify(a).includes('deadbeef'));
    assert.ok(!JSON.stringify(a).includes('SALT'));
  });
  it("stops at SSLRequest answered 'S', flags tls and says so", () => {
    const c = run([
      { dir: C, bytes: fe.sslRequest() },
      { dir: S, bytes: be.sslAnswer('S') },
      { dir: C, bytes: Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5]) },
    ]);
    assert.equal(c.records.length, 1);
    assert.deepEqual(c.records[0].flags, ['tls']);
    assert.deepEqual(attrs(c.records[0]).postgresql.negotiation, { answer: 'S' });
    assert.deepEqual(c.abandoned, []);
    assert.deepEqual(c.handoffs.map((h) => h.protocol), ['tls']);
  });
  it('reports a CancelRequest as a one-way message with the backend pid, not the key', () => {
    const c = run([{ dir: C, bytes: fe.cancel(31337, 0x7abcdef) }]);
    assert.equal(c.records.length, 1);
    assert.equal(c.records[0].kind, 'message');
    assert.deepEqual(attrs(c.records[0]).postgresql.cancel, { backend_pid: 31337 });
    assert.ok(!JSON.stringify(attrs(c.records[0])).includes(String(0x7abcdef)));
  });
});

describe('postgresql: queries', () => {
  it('simple query: text, operation, rows, tag', () => {
    const c = run([...login, ...simple]);
    const r = c.records[2];
    assert.equal(r.kind, 'exchange');
    const a = attrs(r);
    assert.equal(a.db.query.text, 'SELECT id, name FROM users WHERE id < 3');
    assert.equal(a.db.operation.name, 'SELECT');
    assert.equal(a.db.response.returned_rows, 2);
    assert.deepEqual(a.db.response.rows, [
      { id: '1', name: 'Ann' },
      { id: '2', name: null },
    ]);
    assert.equal(a.postgresql.command_tag, 'SELECT 2');
    assert.equal(a.postgresql.row_count, 2);
    assert.equal(a.postgresql.user, 'alice');
    assert.equal(r.requestBytes, simple[0].bytes.length);
    assert.equal(r.responseBytes, simple[1].bytes.length);
    assert.equal(r.startNs, 8n);
    assert.equal(r.endNs, 9n);
  });
  it('extended protocol: parameters bound to the named statement text, reused by later executes', () => {
    const c = run([...login, ...extended]);
    const [e1, e2] = c.records.slice(2);
    assert.equal(c.records.length, 4, 'one event per Execute, none for Parse/Bind/Describe/Sync');
    assert.equal(attrs(e1).db.query.text, 'SELECT email FROM users WHERE id = $1 AND active = $2');
    assert.deepEqual(attrs(e1).db.query.parameter, { '0': '7', '1': 't' });
    assert.deepEqual(attrs(e1).db.response.rows, [{ email: 'ann@example.com' }]);
    assert.equal(attrs(e1).postgresql.message, 'Execute');
    assert.deepEqual(attrs(e1).postgresql.statement, { name: 's1' });
    assert.equal(attrs(e2).db.query.text, 'SELECT email FROM users WHERE id = $1 AND active = $2');
    assert.deepEqual(attrs(e2).db.query.parameter, { '0': '8', '1': 'f' });
    assert.equal(attrs(e2).db.response.returned_rows, 0);
    assert.equal(e1.requestBytes, extended[0].bytes.length - fe.sync().length);
  });
  it('binary parameters and results decoded by type', () => {
    const i4 = Buffer.alloc(4);
    i4.writeInt32BE(-5);
    const i8 = Buffer.alloc(8);
    i8.writeBigInt64BE(9007199254740993n);
    const uuid = Buffer.from('0123456789abcdef0123456789abcdef', 'hex');
    const c = run([
      { dir: C, bytes: Buffer.concat([fe.parse('', 'SELECT $1::int4, $2::int8, $3::uuid', [23, 20, 2950]), fe.bind('', '', [i4, i8, uuid], [1], [1]), fe.describe('P', ''), fe.execute(''), fe.sync()]) },
      {
        dir: S,
        bytes: Buffer.concat([
          be.parseComplete(),
          be.bindComplete(),
          be.rowDescription([{ name: 'a', oid: 23, format: 1 }, { name: 'b', oid: 16, format: 1 }, { name: 'c', oid: 701, format: 1 }]),
          be.dataRow([i4, Buffer.from([1]), Buffer.from('400921fb54442d18', 'hex')]),
          be.commandComplete('SELECT 1'),
          be.ready(),
        ]),
      },
    ]);
    const a = attrs(c.records[0]);
    assert.deepEqual(a.db.query.parameter, { '0': -5, '1': '9007199254740993', '2': '01234567-89ab-cdef-0123-456789abcdef' });
    assert.deepEqual(a.db.response.rows, [{ a: -5, b: true, c: Math.PI }]);
  });
  it('binary numeric, date, time, timestamp and timestamptz read as PostgreSQL prints them', () => {
    // numeric_send: ndigits, weight, sign, dscale, base-10000 digits; dates count days and timestamps
    // microseconds from 2000-01-01; time counts microseconds from midnight
    const numeric = (weight: number, sign: number, dscale: number, ...digits: number[]) =>
      Buffer.concat([bin.i16(digits.length), bin.i16(weight), Buffer.from([sign >> 8, sign & 0xff]), bin.i16(dscale), ...digits.map(bin.i16)]);
    const i64 = (n: bigint) => {
      const b = Buffer.alloc(8);
      b.writeBigInt64BE(n);
      return b;
    };
    const cols = [
      { name: 'n1', oid: 1700 }, { name: 'n2', oid: 1700 }, { name: 'n3', oid: 1700 }, { name: 'n4', oid: 1700 },
      { name: 'd1', oid: 1082 }, { name: 'd2', oid: 1082 }, { name: 't', oid: 1083 }, { name: 'ts', oid: 1114 }, { name: 'tz', oid: 1184 }, { name: 'bad', oid: 1700 },
    ].map((c) => ({ ...c, format: 1 }));
    const c = run([
      { dir: C, bytes: Buffer.concat([fe.parse('', 'SELECT ...'), fe.bind('', '', [], [], [1]), fe.describe('P', ''), fe.execute(''), fe.sync()]) },
      {
        dir: S,
        bytes: Buffer.concat([
          be.parseComplete(),
          be.bindComplete(),
          be.rowDescription(cols),
          be.dataRow([
            numeric(1, 0x4000, 6, 1, 2345, 6789), // -12345.678900
            numeric(-1, 0, 4, 1), // 0.0001
            numeric(0, 0xc000, 0), // NaN
            numeric(1, 0, 0, 10), // 100000
            bin.i32(8767), // 2000-01-01 + 8767 days
            bin.i32(-2), // 1999-12-30
            i64(45_296_500_000n), // 12:34:56.5
            i64(-1n), // one microsecond before 2000
            i64(2n * 86_400_000_000n + 3_600_000_000n + 120n), // 2000-01-03 01:00:00.00012 UTC
            Buffer.from([0, 1]), // too short to be a numeric
          ]),
          be.commandComplete('SELECT 1'),
          be.ready(),
        ]),
      },
    ]);
    assert.deepEqual(attrs(c.records[0]).db.response.rows, [
      {
        n1: '-12345.678900',
        n2: '0.0001',
        n3: 'NaN',
        n4: '100000',
        d1: '2024-01-02',
        d2: '1999-12-30',
        t: '12:34:56.5',
        ts: '1999-12-31 23:59:59.999999',
        tz: '2000-01-03 01:00:00.00012+00',
        bad: '\\x0001',
      },
    ]);
  });
  it('a Parse with no Execute in its batch is its own event', () => {
    const c = run([
      { dir: C, bytes: Buffer.concat([fe.parse('ins', 'INSERT INTO t VALUES ($1)'), fe.describe('S', 'ins'), fe.sync()]) },
      { dir: S, bytes: Buffer.concat([be.parseComplete(), be.parameterDescription([23]), be.noData(), be.ready()]) },
    ]);
    assert.equal(c.records.length, 1);
    const a = attrs(c.records[0]);
    assert.equal(a.postgresql.message, 'Parse');
    assert.equal(a.db.query.text, 'INSERT INTO t VALUES ($1)');
    assert.equal(a.db.operation.name, 'INSERT');
  });
  it('an error in a batch lands on its Execute, and the rest of the batch is skipped', () => {
    const c = run([
      { dir: C, bytes: Buffer.concat([fe.parse('', 'SELEC 1'), fe.bind('', '', []), fe.execute(''), fe.sync()]) },
      { dir: S, bytes: Buffer.concat([be.error({ S: 'ERROR', V: 'ERROR', C: '42601', M: 'syntax error at or near "SELEC"' }), be.ready()]) },
      { dir: C, bytes: fe.query('SELECT 1') },
      { dir: S, bytes: Buffer.concat([be.rowDescription([{ name: '?column?' }]), be.dataRow(['1']), be.commandComplete('SELECT 1'), be.ready()]) },
    ]);
    assert.equal(c.records.length, 2);
    const a = attrs(c.records[0]);
    assert.equal(a.postgresql.message, 'Execute');
    assert.equal(a.db.query.text, 'SELEC 1');
    assert.equal(a.db.response.status_code, '42601');
    assert.deepEqual(a.postgresql.error, { severity: 'ERROR', code: '42601', message: 'syntax error at or near "SELEC"' });
    assert.equal(attrs(c.records[1]).db.query.text, 'SELECT 1');
  });
  it('simple query error with a notice', () => {
    const c = run([
      { dir: C, bytes: fe.query('DROP TABLE IF EXISTS t; DROP TABLE t') },
      {
        dir: S,
        bytes: Buffer.concat([
          be.notice({ S: 'NOTICE', V: 'NOTICE', C: '00000', M: 'table "t" does not exist, skipping' }),
          be.commandComplete('DROP TABLE'),
          be.error({ S: 'ERROR', V: 'ERROR', C: '42P01', M: 'table "t" does not exist' }),
          be.ready(),
        ]),
      },
    ]);
    const a = attrs(c.records[0]);
    assert.equal(a.db.operation.name, 'DROP TABLE');
    assert.equal(a.db.response.status_code, '42P01');
    assert.deepEqual(a.postgresql.notices, [{ severity: 'NOTICE', code: '00000', message: 'table "t" does not exist, skipping' }]);
  });
  it('empty query and multi-statement tags', () => {
    const c = run([
      { dir: C, bytes: fe.query('') },
      { dir: S, bytes: Buffer.concat([be.emptyQuery(), be.ready()]) },
      { dir: C, bytes: fe.query('BEGIN; INSERT INTO t VALUES (1); COMMIT') },
      { dir: S, bytes: Buffer.concat([be.commandComplete('BEGIN'), be.commandComplete('INSERT 0 1'), be.commandComplete('COMMIT'), be.ready()]) },
    ]);
    assert.equal(attrs(c.records[0]).postgresql.empty_query, true);
    const a = attrs(c.records[1]);
    assert.deepEqual(a.postgresql.command_tags, ['BEGIN', 'INSERT 0 1', 'COMMIT']);
    assert.equal(a.db.operation.name, 'BEGIN');
  });
  it('COPY FROM STDIN keeps the data sent; COPY TO STDOUT counts the rows received', () => {
    const c = run([
      { dir: C, bytes: fe.query('COPY t FROM STDIN') },
      { dir: S, bytes: be.copyIn(2) },
      { dir: C, bytes: Buffer.concat([fe.copyData('1\tann\n2\tbob\n'), fe.copyDone()]) },
      { dir: S, bytes: Buffer.concat([be.commandComplete('COPY 2'), be.ready()]) },
      { dir: C, bytes: fe.query('COPY t TO STDOUT') },
      { dir: S, bytes: Buffer.concat([be.copyOut(2), be.copyData('1\tann\n'), be.copyData('2\tbob\n'), be.copyDone(), be.commandComplete('COPY 2'), be.ready()]) },
    ]);
    const cin = attrs(c.records[0]);
    assert.deepEqual(cin.postgresql.copy, { direction: 'in', format: 'text', messages: 1, data: { size: 12, content: '1\tann\n2\tbob\n' } });
    assert.equal(cin.postgresql.row_count, 2);
    const cout = attrs(c.records[1]);
    assert.deepEqual(cout.postgresql.copy, { direction: 'out', format: 'text', messages: 2, data: { size: 12, content: '1\tann\n2\tbob\n' } });
    assert.equal(cout.db.response.returned_rows, 2);
  });
  it('binary COPY TO STDOUT counts rows, not CopyData messages: the header rides with the first row, the trailer comes alone', () => {
    // COPY BINARY file format (sql-copy): signature, flags, header extension length; per tuple a field count
    // and length-prefixed fields; trailer -1. PostgreSQL sends the header with the first tuple's CopyData.
    const header = Buffer.concat([Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), bin.i32(0), bin.i32(0)]);
    const tuple = (n: number) => Buffer.concat([bin.i16(1), bin.i32(4), bin.i32(n)]);
    const trailer = bin.i16(-1);
    const copyOutBinary = msg('H', Buffer.from([1]), bin.i16(1), bin.i16(1));
    const data = (b: Buffer) => msg('d', b);
    const c = run([
      { dir: C, bytes: fe.query('COPY (SELECT g FROM generate_series(1, 2) g) TO STDOUT (FORMAT binary)') },
      { dir: S, bytes: Buffer.concat([copyOutBinary, data(Buffer.concat([header, tuple(1)])), data(tuple(2)), data(trailer), be.copyDone(), be.commandComplete('COPY 2'), be.ready()]) },
      { dir: C, bytes: fe.query('COPY (SELECT 1 WHERE false) TO STDOUT (FORMAT binary)') },
      { dir: S, bytes: Buffer.concat([copyOutBinary, data(Buffer.concat([header, trailer])), be.copyDone(), be.commandComplete('COPY 0'), be.ready()]) },
      // no tag to go by: cut short by an error, every CopyData sent held a row
      { dir: C, bytes: fe.query('COPY (SELECT 1/(2-g) FROM generate_series(1, 3) g) TO STDOUT (FORMAT binary)') },
      { dir: S, bytes: Buffer.concat([copyOutBinary, data(Buffer.concat([header, tuple(1)])), be.error({ S: 'ERROR', V: 'ERROR', C: '22012', M: 'division by zero' }), be.ready()]) },
    ]);
    const [two, none, failed] = c.records.map(attrs);
    assert.equal(two.postgresql.copy.messages, 3);
    assert.equal(two.db.response.returned_rows, 2);
    assert.equal(none.postgresql.copy.messages, 1);
    assert.equal(none.db.response.returned_rows, 0);
    assert.equal(failed.db.response.status_code, '22012');
    assert.equal(failed.db.response.returned_rows, 1);
  });
  it('NotificationResponse is a one-way message; Terminate too', () => {
    const note = be.notification(77, 'orders', '{"id":1}');
    const c = run([{ dir: S, bytes: note }, { dir: C, bytes: fe.terminate() }]);
    assert.equal(c.records.length, 2);
    assert.equal(c.records[0].kind, 'message');
    // sent by the server: its bytes are response bytes (they were counted as the client's)
    assert.equal(c.records[0].requestBytes, undefined);
    assert.equal(c.records[0].responseBytes, note.length);
    assert.equal(c.records[1].requestBytes, fe.terminate().length);
    assert.deepEqual(attrs(c.records[0]).postgresql.notification, { pid: 77, channel: 'orders', payload: '{"id":1}' });
    assert.equal(attrs(c.records[1]).postgresql.message, 'Terminate');
  });
  it('a query still running at close is unanswered, with what arrived', () => {
    const c = run([
      { dir: C, bytes: fe.query('SELECT pg_sleep(10)') },
      { dir: S, bytes: be.rowDescription([{ name: 'pg_sleep' }]) },
    ]);
    assert.equal(c.records.length, 1);
    assert.equal(c.records[0].kind, 'unanswered');
    assert.deepEqual(c.records[0].flags, ['closed']);
  });
  it('a query ended by a FATAL error (pg_terminate_backend) is answered by it, though no ReadyForQuery follows', () => {
    // a FATAL ErrorResponse ends the session: the server closes the connection without ReadyForQuery
    const c = run([
      { dir: C, bytes: fe.query('SELECT pg_sleep(10)') },
      { dir: S, bytes: be.rowDescription([{ name: 'pg_sleep' }]) },
      { dir: C, bytes: fe.query('SELECT 2') },
      { dir: S, bytes: be.error({ S: 'FATAL', V: 'FATAL', C: '57P01', M: 'terminating connection due to administrator command' }) },
    ]);
    assert.deepEqual(c.records.map((r) => [r.kind, attrs(r).db.query.text, r.flags ?? []]), [
      ['exchange', 'SELECT pg_sleep(10)', []],
      ['unanswered', 'SELECT 2', ['closed']],
    ]);
    assert.equal(attrs(c.records[0]).db.response.status_code, '57P01');
  });
});

describe('postgresql: less common flows', () => {
  it("GSSENCRequest refused with 'N', then a normal startup; 'G' stops like TLS", () => {
    const c = run([
      { dir: C, bytes: fe.gssencRequest() },
      { dir: S, bytes: be.sslAnswer('N') },
      { dir: C, bytes: fe.startup({ user: 'u', database: 'd' }) },
      { dir: S, bytes: Buffer.concat([be.authOk(), be.ready()]) },
    ]);
    assert.deepEqual(c.records.map((r) => attrs(r).postgresql.message), ['GSSENCRequest', 'StartupMessage']);
    assert.deepEqual(attrs(c.records[1]).postgresql.auth, { method: 'trust', ok: true });
    const g = run([{ dir: C, bytes: fe.gssencRequest() }, { dir: S, bytes: be.sslAnswer('G') }]);
    assert.deepEqual(g.records[0].flags, ['undecodable']);
    assert.deepEqual(g.abandoned, ['gss-encrypted']);
  });
  it('Execute with a row limit ends at PortalSuspended', () => {
    const c = run([
      { dir: C, bytes: Buffer.concat([fe.parse('', 'SELECT n FROM generate_series(1, 100) n'), fe.bind('cur', '', []), fe.execute('cur', 2), fe.sync()]) },
      { dir: S, bytes: Buffer.concat([be.parseComplete(), be.bindComplete(), be.dataRow(['1']), be.dataRow(['2']), be.portalSuspended(), be.ready('T')]) },
    ]);
    const a = attrs(c.records[0]);
    assert.equal(a.postgresql.portal_suspended, true);
    assert.deepEqual(a.postgresql.portal, { name: 'cur' });
    assert.equal(a.db.response.returned_rows, 2);
  });
  it('after an error in a Flush-ed batch, messages up to the Sync are skipped like the server does', () => {
    const c = run([
      { dir: C, bytes: Buffer.concat([fe.parse('a', 'SELEC 1'), fe.flush()]) },
      { dir: S, bytes: be.error({ S: 'ERROR', V: 'ERROR', C: '42601', M: 'syntax error' }) },
      { dir: C, bytes: Buffer.concat([fe.bind('', 'a', []), fe.execute(''), fe.sync()]) },
      { dir: S, bytes: be.ready() },
      { dir: C, bytes: fe.query('SELECT 2') },
      { dir: S, bytes: Buffer.concat([be.commandComplete('SELECT 0'), be.ready()]) },
    ]);
    assert.deepEqual(c.records.map((r) => [attrs(r).postgresql.message, attrs(r).db.response?.status_code]), [['Parse', '42601'], ['Query', undefined]]);
    assert.equal(c.counts.get('postgresql.skipped_after_error'), 2);
  });
  it('FunctionCall is answered by FunctionCallResponse and ReadyForQuery', () => {
    const call = Buffer.concat([Buffer.from('F'), Buffer.from([0, 0, 0, 14]), Buffer.from([0, 0, 0x0b, 0xb8]), Buffer.from([0, 0, 0, 0, 0, 0])]);
    const c = run([
      { dir: C, bytes: call },
      { dir: S, bytes: Buffer.concat([Buffer.from('V'), Buffer.from([0, 0, 0, 8]), Buffer.from([0xff, 0xff, 0xff, 0xff]), be.ready()]) },
    ]);
    assert.equal(attrs(c.records[0]).postgresql.message, 'FunctionCall');
    assert.equal(attrs(c.records[0]).postgresql.function_oid, 3000);
  });
  it('CopyFail is reported on the COPY', () => {
    const c = run([
      { dir: C, bytes: fe.query('COPY t FROM STDIN') },
      { dir: S, bytes: be.copyIn(1) },
      { dir: C, bytes: Buffer.concat([fe.copyData('1\n'), fe.copyFail('client gave up')]) },
      { dir: S, bytes: Buffer.concat([be.error({ S: 'ERROR', V: 'ERROR', C: '57014', M: 'COPY from stdin failed: client gave up' }), be.ready()]) },
    ]);
    const a = attrs(c.records[0]);
    assert.equal(a.postgresql.copy.failed, true);
    assert.equal(a.db.response.status_code, '57014');
  });
  it('COPY FROM STDIN through the extended protocol: the Sync sent with the Execute is ignored in copy-in mode, and the next query still gets its own answer', () => {
    // libpq (PQexecParams): Parse/Bind/Describe/Execute/Sync at once, then the data, CopyDone and a second Sync;
    // the server ignores the first Sync (it reads it in copy-in mode) and answers ReadyForQuery once
    const copyBatch: Segment[] = [
      { dir: C, bytes: Buffer.concat([fe.parse('', 'COPY t FROM STDIN'), fe.bind('', '', []), fe.describe('P', ''), fe.execute(''), fe.sync()]) },
      { dir: S, bytes: Buffer.concat([be.parseComplete(), be.bindComplete(), be.noData(), be.copyIn(1)]) },
      { dir: C, bytes: Buffer.concat([fe.copyData('1\n2\n'), fe.copyDone(), fe.sync()]) },
      { dir: S, bytes: Buffer.concat([be.commandComplete('COPY 2'), be.ready()]) },
    ];
    const c = run([
      ...copyBatch,
      { dir: C, bytes: fe.query('SELECT 1 AS one') },
      { dir: S, bytes: Buffer.concat([be.rowDescription([{ name: 'one', oid: 23 }]), be.dataRow(['1']), be.commandComplete('SELECT 1'), be.ready()]) },
      { dir: C, bytes: fe.query('SET x = 1') },
      { dir: S, bytes: Buffer.concat([be.commandComplete('SET'), be.ready()]) },
    ]);
    const ev = c.records.map(attrs);
    assert.deepEqual(
      ev.map((a) => [a.postgresql.message, a.db.query?.text, a.postgresql.command_tag]),
      [
        ['Execute', 'COPY t FROM STDIN', 'COPY 2'],
        ['Query', 'SELECT 1 AS one', 'SELECT 1'],
        ['Query', 'SET x = 1', 'SET'],
      ],
    );
    assert.deepEqual(c.records.map((r) => r.kind), ['exchange', 'exchange', 'exchange']);
    assert.equal(ev[0].postgresql.copy.data.content, '1\n2\n');
    assert.deepEqual(ev[1].db.response.rows, [{ one: '1' }]);
    // CopyFail in the same setting: the error, then the second Sync's ReadyForQuery
    const f = run([
      { dir: C, bytes: Buffer.concat([fe.parse('', 'COPY t FROM STDIN'), fe.bind('', '', []), fe.execute(''), fe.sync()]) },
      { dir: S, bytes: Buffer.concat([be.parseComplete(), be.bindComplete(), be.copyIn(1)]) },
      { dir: C, bytes: Buffer.concat([fe.copyData('1\n'), fe.copyFail('no'), fe.sync()]) },
      { dir: S, bytes: Buffer.concat([be.error({ S: 'ERROR', V: 'ERROR', C: '57014', M: 'COPY from stdin failed: no' }), be.ready()]) },
      { dir: C, bytes: fe.query('SET x = 1') },
      { dir: S, bytes: Buffer.concat([be.commandComplete('SET'), be.ready()]) },
    ]);
    assert.deepEqual(
      f.records.map((r) => [r.kind, attrs(r).postgresql.message, attrs(r).postgresql.error?.code, attrs(r).postgresql.command_tag]),
      [
        ['exchange', 'Execute', '57014', undefined],
        ['exchange', 'Query', undefined, 'SET'],
      ],
    );
  });
  it('binary jsonb, bool, int2, float4 and unknown types', () => {
    const i2 = Buffer.alloc(2);
    i2.writeInt16BE(-300);
    const f4 = Buffer.alloc(4);
    f4.writeFloatBE(0.5);
    const c = run([
      { dir: C, bytes: Buffer.concat([fe.parse('', 'SELECT $1::jsonb, $2::bool, $3::int2, $4::float4, $5::point', [3802, 16, 21, 700, 600]), fe.bind('', '', [Buffer.from('\x01{"a":1}'), Buffer.from([0]), i2, f4, Buffer.from([1, 2])], [1]), fe.execute(''), fe.sync()]) },
      { dir: S, bytes: Buffer.concat([be.parseComplete(), be.bindComplete(), be.commandComplete('SELECT 0'), be.ready()]) },
    ]);
    assert.deepEqual(attrs(c.records[0]).db.query.parameter, { '0': '{"a":1}', '1': false, '2': -300, '3': 0.5, '4': '\\x0102' });
  });
});

describe('postgresql: chunking, joins and limits', () => {
  const reference = untimed(run(whole).records);
  it('splitting any segment at any offset changes nothing', () => {
    for (let seg = 0; seg < whole.length; seg++) {
      for (let at = 1; at < whole[seg].bytes.length; at++) {
        const c = run(whole, {}, {}, (i, b) => (i === seg ? splitAt(b, at) : [b]));
        assert.deepEqual(untimed(c.records), reference, `segment ${seg} split at ${at}`);
      }
    }
  });
  it('byte-at-a-time delivery changes nothing', () => {
    assert.deepEqual(untimed(run(whole, {}, {}, (_i, b) => bytewise(b)).records), reference);
  });
  it('coalesced segments change nothing', () => {
    const c = run(coalesce(whole));
    assert.deepEqual(untimed(c.records), reference);
  });
  it('joins mid-connection at any offset inside a query and resynchronises', () => {
    // the tail of a DataRow-bearing response, then two complete exchanges
    const after: Segment[] = [...simple, ...simple];
    const partial = Buffer.concat([simple[0].bytes.subarray(3)]);
    for (let cut = 1; cut < simple[1].bytes.length - 1; cut++) {
      const script: Segment[] = [
        { dir: C, bytes: partial },
        { dir: S, bytes: simple[1].bytes.subarray(cut) },
        ...after,
      ];
      const c = run(script, {}, { midstream: true });
      const full = c.records.filter((r) => r.kind === 'exchange');
      assert.equal(full.length, 2, `cut ${cut}: ${JSON.stringify(untimed(c.records))}`);
      for (const r of full) {
        assert.equal(attrs(r).db.query.text, 'SELECT id, name FROM users WHERE id < 3');
        assert.equal(attrs(r).db.response.returned_rows, 2);
        assert.ok(r.flags?.includes('midstream'));
      }
      assert.ok(c.records.every((r) => r.kind !== 'unanswered'));
    }
  });
  it('a connection whose SYN was missed but whose startup was captured is read from the start', () => {
    const c = run([...login, ...simple], {}, { midstream: true });
    assert.deepEqual(c.records.map((r) => attrs(r).postgresql.message), ['SSLRequest', 'StartupMessage', 'Query']);
    assert.equal(attrs(c.records[2]).postgresql.user, 'alice');
  });
  it('rows of a statement described before the capture: keyed by position, binary values as hex', () => {
    const c = run(
      [
        { dir: C, bytes: Buffer.concat([fe.bind('', 'S_1', ['7'], [], [1]), fe.execute(''), fe.sync()]) },
        { dir: S, bytes: Buffer.concat([be.bindComplete(), be.dataRow([Buffer.from([0, 0, 0, 7]), null]), be.commandComplete('SELECT 1'), be.ready()]) },
      ],
      {},
      { midstream: true },
    );
    const a = attrs(c.records[0]);
    assert.deepEqual(a.postgresql.statement, { name: 'S_1' });
    assert.equal(a.db.query.text, undefined);
    assert.deepEqual(a.db.query.parameter, { '0': '7' });
    assert.deepEqual(a.db.response.rows, [{ '0': '\\x00000007', '1': null }]);
    assert.equal(c.counts.get('postgresql.unknown_statement'), 1);
  });
  it('joining mid-connection reports answers to unseen requests as orphan responses', () => {
    const c = run(
      [
        { dir: S, bytes: Buffer.concat([be.dataRow(['x']), be.commandComplete('SELECT 1'), be.ready()]) },
        ...simple,
      ],
      {},
      { midstream: true },
    );
    assert.deepEqual(
      c.records.map((r) => r.kind),
      ['orphan_response', 'exchange'],
    );
    assert.equal(attrs(c.records[0]).postgresql.command_tag, 'SELECT 1');
  });
  it('bytes lost in the server stream: the exchange is flagged and parsing resumes', () => {
    const ctx = fakeContext({}, {});
    const p = postgresqlModule.createStream!(ctx);
    p.data(C, simple[0].bytes, 1n);
    p.data(S, simple[1].bytes.subarray(0, 20), 2n);
    p.gap(S, 30, 3n);
    p.data(S, simple[1].bytes.subarray(50), 4n);
    feed(p, simple);
    p.close('fin', 9n);
    const ex = ctx.records.filter((r) => r.kind === 'exchange');
    assert.equal(ex.length, 2);
    assert.ok(ex[0].flags?.includes('gap'));
    assert.equal(attrs(ex[1]).db.response.returned_rows, 2);
    assert.ok(!ex[1].flags?.includes('gap'));
  });
  it('keeps at most maxRows rows and maxBody bytes of values, and says so', () => {
    const rows = Array.from({ length: 30 }, (_, i) => be.dataRow([String(i), 'x'.repeat(100)]));
    const c = run(
      [
        { dir: C, bytes: fe.query('SELECT * FROM big') },
        { dir: S, bytes: Buffer.concat([be.rowDescription([{ name: 'n' }, { name: 'pad' }]), ...rows, be.commandComplete('SELECT 30'), be.ready()]) },
      ],
      { maxRows: 5, maxBody: 250 },
    );
    const a = attrs(c.records[0]);
    assert.equal(a.db.response.returned_rows, 30);
    assert.equal(a.db.response.rows.length, 5);
    const kept = a.db.response.rows.reduce((n: number, r: any) => n + r.n.length + r.pad.length, 0);
    assert.ok(kept <= 250, `kept ${kept} bytes`);
    assert.deepEqual(c.records[0].flags, ['truncated']);
  });
  it('an oversized message is cut to the limit and the stream stays in sync', () => {
    const huge = 'y'.repeat(300_000);
    const c = run(
      [
        { dir: C, bytes: fe.query(`INSERT INTO t VALUES ('${huge}')`) },
        { dir: S, bytes: Buffer.concat([be.commandComplete('INSERT 0 1'), be.ready()]) },
        ...simple,
      ],
      { maxBody: 1000, maxHeaderBytes: 1000 },
      {},
      (_i, b) => Array.from({ length: Math.ceil(b.length / 1460) }, (_, k) => b.subarray(k * 1460, (k + 1) * 1460)),
    );
    assert.equal(c.records.length, 2);
    assert.equal(attrs(c.records[0]).db.query.text.length, 1000);
    assert.deepEqual(c.records[0].flags, ['truncated']);
    assert.equal(c.records[0].requestBytes, 300_000 + 'INSERT INTO t VALUES (\'\')'.length + 6);
    assert.equal(attrs(c.records[1]).db.response.returned_rows, 2);
  });
  it('bounds pending requests and the statements it remembers', () => {
    const many = Array.from({ length: 10 }, (_, i) => ({ dir: C, bytes: fe.query(`SELECT ${i}`) }) as Segment);
    const c = run(many, { maxPending: 4 });
    assert.equal(c.counts.get('postgresql.pending_overflow'), 6);
    assert.equal(c.records.filter((r) => r.flags?.includes('overflow')).length, 6);
    const parses = Array.from({ length: 1030 }, (_, i) => fe.parse(`st${i}`, 'SELECT 1'));
    const c2 = run([{ dir: C, bytes: Buffer.concat(parses) }], { maxPending: 2000 });
    assert.equal(c2.counts.get('postgresql.statements_forgotten'), 6);
  });
});

describe('postgresql: detection', () => {
  it('detects startup-phase messages as the client, with certainty', () => {
    for (const b of [fe.startup({ user: 'u' }), fe.sslRequest(), fe.gssencRequest(), fe.cancel(1, 2)]) {
      assert.deepEqual(postgresqlModule.detect(b, C), { sender: 'client', confidence: 1 });
    }
  });
  it('detects mid-connection traffic by framing, and which side sent it', () => {
    assert.equal((postgresqlModule.detect(Buffer.concat([fe.query('SELECT 1'), fe.query('SELECT 2')]), C) as any).sender, 'client');
    assert.equal((postgresqlModule.detect(Buffer.concat([be.commandComplete('SELECT 1'), be.ready()]), S) as any).sender, 'server');
  });
  it('asks for more when it cannot tell yet, and refuses other protocols', () => {
    assert.equal(postgresqlModule.detect(Buffer.from([0, 0]), C), 'more');
    assert.equal(postgresqlModule.detect(fe.query('SELECT 1').subarray(0, 7), C), 'more');
    for (const other of ['GET / HTTP/1.1\r\nHost: x\r\n\r\n', 'HTTP/1.1 200 OK\r\n\r\n', '*1\r\n$4\r\nPING\r\n', '+OK\r\n', 'SSH-2.0-OpenSSH_9.2\r\n']) {
      assert.equal(postgresqlModule.detect(Buffer.from(other), C), null, other);
    }
    assert.equal(postgresqlModule.detect(Buffer.from([0x16, 3, 1, 0, 200, 1, 0, 0, 196, 3, 3]), C), null);
    // a Query whose body does not end in its NUL terminator is not a Query
    const q = fe.query('SELECT 1');
    q[q.length - 1] = 0x41;
    assert.equal(postgresqlModule.detect(q, C), null);
  });
});

describe('postgresql: row keys off the wire', () => {
  it('columns named __proto__ and constructor are columns like any other (assigned, __proto__ set no property and was lost)', () => {
    const c = run([
      ...login,
      { dir: C, bytes: fe.query('SELECT 1') },
      { dir: S, bytes: Buffer.concat([be.rowDescription([{ name: '__proto__' }, { name: 'constructor' }, { name: 'id' }]), be.dataRow(['a', 'b', '1']), be.commandComplete('SELECT 1'), be.ready()]) },
    ]);
    assert.equal(JSON.stringify(attrs(c.records[2]!).db.response.rows), '[{"__proto__":"a","constructor":"b","id":"1"}]');
  });
});
