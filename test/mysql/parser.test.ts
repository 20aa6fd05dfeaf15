/**
 * MySQL / MariaDB parser against hand-built packets: handshake, every command
 * kind, typed parameters, result sets in both EOF styles, multi-packet
 * payloads, chunking at every offset, mid-connection joins and limits.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { deflateSync } from 'node:zlib';
import type { Connection } from '@panopticon/flows';
import type { ExchangeRecord, ParseOptions } from '../../packages/protocols/src/types.js';
import { mysqlModule } from '../../packages/protocols/src/mysql/index.js';
import { fakeContext } from '../helpers/fake-parser-context.js';
import { bytewise, coalesce, feed, splitAt, untimed, type Segment, runScript } from '../helpers/scripted-stream.js';
import {
  BASE_CAPS,
  CAP,
  cmd,
  columnDef,
  eof,
  err,
  greeting,
  handshakeResponse,
  lenenc,
  lstr,
  ok,
  packet,
  prepareOk,
  resultSet,
  sslRequest,
  textRow,
  u16,
  u32,
} from './my-wire.js';

const C = 0 as const;
const S = 1 as const;

const run = (script: Segment[], opts: Partial<ParseOptions> = {}, conn: Partial<Connection> = {}, cut?: (i: number, b: Buffer) => Buffer[]) => runScript(mysqlModule, 3306, script, opts, conn, cut);
const attrs = (r: ExchangeRecord): any => r.attributes as any;

const caps8 = BASE_CAPS | CAP.DEPRECATE_EOF | CAP.SESSION_TRACK;
const login8: Segment[] = [
  { dir: S, bytes: greeting('8.0.36', caps8, 42, 'caching_sha2_password') },
  { dir: C, bytes: handshakeResponse(caps8, 'app', Buffer.from('SECRETSCRAMBLE'), 'shop', 'caching_sha2_password', { _client_name: 'libmysql', program_name: 'billing' }) },
  { dir: S, bytes: packet(2, Buffer.from([0x01, 0x03])) }, // fast auth success
  { dir: S, bytes: ok(3) },
];

const queries8: Segment[] = [
  { dir: C, bytes: cmd.query('SELECT id, email FROM users') },
  {
    dir: S,
    bytes: resultSet(1, [{ name: 'id', type: 0x03, charset: 63 }, { name: 'email' }], [['1', 'ann@example.com'], ['2', null]], true).bytes,
  },
  { dir: C, bytes: cmd.query("UPDATE users SET email = 'x' WHERE id = 9") },
  { dir: S, bytes: ok(1, 3, 0, 2, 1, 0x00) },
  { dir: C, bytes: cmd.query('SELEC 1') },
  { dir: S, bytes: err(1, 1064, '42000', 'You have an error in your SQL syntax') },
];

describe('mysql: handshake', () => {
  it('reports server version, user, schema, plugin and attributes, without secrets', () => {
    const c = run(login8);
    assert.equal(c.records.length, 1);
    const r = c.records[0];
    assert.equal(r.kind, 'exchange');
    const a = attrs(r);
    assert.equal(a.db.system.name, 'mysql');
    assert.equal(a.db.namespace, 'shop');
    assert.equal(a.mysql.command, 'handshake');
    assert.equal(a.mysql.user, 'app');
    assert.equal(a.mysql.server.version, '8.0.36');
    assert.equal(a.mysql.connection_id, 42);
    assert.equal(a.mysql.server_capabilities, caps8);
    assert.deepEqual(a.mysql.auth, { ok: true, plugin: 'caching_sha2_password' });
    assert.deepEqual(a.mysql.connection_attributes, { _client_name: 'libmysql', program_name: 'billing' });
    const text = JSON.stringify(a);
    assert.ok(!text.includes('SECRET') && !text.includes('SCRAMBL'), text);
    assert.equal(r.requestBytes, login8[1].bytes.length);
    assert.equal(r.responseBytes, login8[0].bytes.length + login8[2].bytes.length + login8[3].bytes.length);
  });
  it('names MariaDB servers mariadb and follows an auth switch', () => {
    const caps = BASE_CAPS & ~CAP.LONG_PASSWORD;
    const c = run([
      { dir: S, bytes: greeting('5.5.5-10.11.6-MariaDB-0+deb12u1', caps) },
      { dir: C, bytes: handshakeResponse(caps, 'root', Buffer.alloc(0)) },
      { dir: S, bytes: packet(2, Buffer.from([0xfe]), cstrB('mysql_native_password'), Buffer.from('NEWSCRAMBLE12345678\0')) },
      { dir: C, bytes: packet(3, Buffer.from('0123456789abcdefghij')) },
      { dir: S, bytes: err(4, 1045, '28000', "Access denied for user 'root'@'localhost' (using password: YES)") },
    ]);
    const a = attrs(c.records[0]);
    assert.equal(a.db.system.name, 'mariadb');
    assert.equal(a.db.response.status_code, '1045');
    assert.equal(a.error.type, '1045');
    assert.deepEqual(a.mysql.error, { code: 1045, sql_state: '28000', message: "Access denied for user 'root'@'localhost' (using password: YES)" });
    assert.equal(a.mysql.auth.switched_to, 'mysql_native_password');
    assert.equal(a.mysql.auth.ok, false);
    assert.ok(!JSON.stringify(a).includes('NEWSCRAMBLE'));
  });
  it('at an SSL request: flags tls, says so, and hands the session to the TLS parser', () => {
    const c = run([
      { dir: S, bytes: greeting('8.0.36', caps8 | CAP.SSL) },
      { dir: C, bytes: sslRequest(caps8) },
      { dir: C, bytes: Buffer.from([0x16, 3, 1, 0, 10, 1, 2, 3]) },
    ]);
    assert.equal(c.records.length, 1);
    assert.deepEqual(c.records[0].flags, ['tls']);
    assert.equal(attrs(c.records[0]).mysql.tls_requested, true);
    assert.deepEqual(c.abandoned, []);
    assert.deepEqual(c.handoffs.map((h) => h.protocol), ['tls']);
  });
  it('the compressed protocol (CLIENT_COMPRESS, zlib) is unwrapped: raw and deflated frames', () => {
    const caps = caps8 | 0x20;
    const frame = (seq: number, inner: Buffer, compress: boolean) => {
      const body = compress ? deflateSync(inner) : inner;
      const h = Buffer.alloc(7);
      h.writeUIntLE(body.length, 0, 3);
      h[3] = seq;
      h.writeUIntLE(compress ? inner.length : 0, 4, 3);
      return Buffer.concat([h, body]);
    };
    const rs = resultSet(1, [{ name: 'n' }], [['1'], ['2']], true).bytes;
    const c = run(
      [
        { dir: S, bytes: greeting('8.0.36', caps) },
        { dir: C, bytes: handshakeResponse(caps, 'app', Buffer.from('x'), 'shop') },
        { dir: S, bytes: ok(2) },
        { dir: C, bytes: frame(0, cmd.query('SELECT n FROM t'), false) },
        { dir: S, bytes: frame(1, rs, true) },
        { dir: C, bytes: frame(0, cmd.query("SELECT 'zipped'"), true) },
        { dir: S, bytes: frame(1, resultSet(1, [{ name: 'zipped' }], [['zipped']], true).bytes, true) },
      ],
      {},
      {},
      (_i, b) => [b.subarray(0, 5), b.subarray(5)],
    );
    assert.deepEqual(c.records.map((e) => attrs(e).mysql.command), ['handshake', 'COM_QUERY', 'COM_QUERY']);
    assert.equal(attrs(c.records[0]).mysql.compression, 'zlib');
    assert.deepEqual(attrs(c.records[1]).db.response.rows, [{ n: '1' }, { n: '2' }]);
    assert.equal(attrs(c.records[2]).db.query.text, "SELECT 'zipped'");
    assert.deepEqual(attrs(c.records[2]).db.response.rows, [{ zipped: 'zipped' }]);
  });
  it('zstd compression is reported and the rest skipped, not misread', () => {
    const caps = caps8 | 0x4000000;
    const c = run([
      { dir: S, bytes: greeting('8.0.36', caps) },
      { dir: C, bytes: handshakeResponse(caps, 'app', Buffer.from('x'), 'shop') },
      { dir: S, bytes: ok(2) },
      { dir: C, bytes: Buffer.from([0x0f, 0, 0, 0, 0x0b, 0, 0, 0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0]) },
    ]);
    assert.equal(c.records.length, 1);
    assert.equal(attrs(c.records[0]).mysql.compression, 'zstd');
    assert.deepEqual(c.records[0].flags, ['undecodable']);
    assert.deepEqual(c.abandoned, ['compressed']);
  });
  it('a host refused before the handshake is a one-way error message', () => {
    const c = run([{ dir: S, bytes: err(0, 1130, 'HY000', "Host '10.0.0.9' is not allowed to connect to this MySQL server").subarray(0) }]);
    assert.equal(c.records[0].kind, 'message');
    assert.equal(attrs(c.records[0]).db.response.status_code, '1130');
  });
});

describe('mysql: commands', () => {
  const c = run([...login8, ...queries8, { dir: C, bytes: cmd.initDb('billing') }, { dir: S, bytes: ok(1) }, { dir: C, bytes: cmd.ping() }, { dir: S, bytes: ok(1) }, { dir: C, bytes: cmd.quit() }]);
  const [, sel, upd, bad, init, ping, quit] = c.records;
  it('COM_QUERY with a text result set (CLIENT_DEPRECATE_EOF)', () => {
    const a = attrs(sel);
    assert.equal(a.mysql.command, 'COM_QUERY');
    assert.equal(a.db.query.text, 'SELECT id, email FROM users');
    assert.equal(a.db.operation.name, 'SELECT');
    assert.equal(a.db.namespace, 'shop');
    assert.equal(a.db.response.returned_rows, 2);
    assert.deepEqual(a.db.response.rows, [
      { id: '1', email: 'ann@example.com' },
      { id: '2', email: null },
    ]);
    assert.deepEqual(a.mysql.columns, [
      { name: 'id', table: 't', type: 'LONG' },
      { name: 'email', table: 't', type: 'VAR_STRING' },
    ]);
    assert.equal(sel.requestBytes, queries8[0].bytes.length);
    assert.equal(sel.responseBytes, queries8[1].bytes.length);
  });
  it('OK: affected rows and warnings', () => {
    const a = attrs(upd);
    assert.equal(a.mysql.affected_rows, 3);
    assert.equal(a.mysql.warnings, 1);
    assert.equal(a.db.operation.name, 'UPDATE');
    assert.equal(a.db.response, undefined);
  });
  it('ERR: code, SQLSTATE, message', () => {
    const a = attrs(bad);
    assert.equal(a.db.response.status_code, '1064');
    assert.deepEqual(a.mysql.error, { code: 1064, sql_state: '42000', message: 'You have an error in your SQL syntax' });
  });
  it('COM_INIT_DB switches db.namespace; COM_PING; COM_QUIT is one-way', () => {
    assert.equal(attrs(init).mysql.command, 'COM_INIT_DB');
    assert.equal(attrs(init).mysql.schema, 'billing');
    assert.equal(attrs(ping).mysql.command, 'COM_PING');
    assert.equal(attrs(ping).db.namespace, 'billing');
    assert.equal(quit.kind, 'message');
    assert.equal(attrs(quit).mysql.command, 'COM_QUIT');
  });
  it('result sets with EOF packets (no CLIENT_DEPRECATE_EOF), and several result sets', () => {
    const caps = BASE_CAPS;
    const MORE = 0x0008 | 2;
    const first = resultSet(1, [{ name: 'a' }], [['1']], false, MORE);
    const second = resultSet(first.nextSeq, [{ name: 'b' }], [['2'], ['3']], false);
    const r = run([
      { dir: S, bytes: greeting('5.7.44-log', caps) },
      { dir: C, bytes: handshakeResponse(caps, 'u', Buffer.from('x'.repeat(20))) },
      { dir: S, bytes: ok(2) },
      { dir: C, bytes: cmd.query('CALL two_results()') },
      { dir: S, bytes: Buffer.concat([first.bytes, second.bytes, ok(second.nextSeq)]) },
      { dir: C, bytes: cmd.query('SELECT 1') },
      { dir: S, bytes: resultSet(1, [{ name: '1' }], [['1']], false).bytes },
    ]);
    assert.equal(r.records.length, 3);
    const a = attrs(r.records[1]);
    assert.equal(a.mysql.result_sets, 2);
    assert.equal(a.db.response.returned_rows, 3);
    assert.deepEqual(a.db.response.rows, [{ a: '1' }, { b: '2' }, { b: '3' }]);
    assert.equal(attrs(r.records[2]).db.response.returned_rows, 1);
    assert.equal(r.counts.get('mysql.sequence_error'), undefined);
  });
  it('the warning count of the EOF that ends a result set (no CLIENT_DEPRECATE_EOF) is kept', () => {
    const caps = BASE_CAPS;
    const head = resultSet(1, [{ name: 'w' }], [['0']], false);
    // the same result set, its final EOF saying 1 warning (SELECT CAST('abc' AS SIGNED))
    const rows = head.bytes.subarray(0, head.bytes.length - 9);
    const r = run([
      { dir: S, bytes: greeting('10.11.6-MariaDB', caps) },
      { dir: C, bytes: handshakeResponse(caps, 'u', Buffer.from('x'.repeat(20))) },
      { dir: S, bytes: ok(2) },
      { dir: C, bytes: cmd.query("SELECT CAST('abc' AS SIGNED) AS w") },
      { dir: S, bytes: Buffer.concat([rows, eof(head.nextSeq - 1, 2, 1)]) },
      { dir: C, bytes: cmd.query('SELECT 1') },
      { dir: S, bytes: head.bytes },
    ]);
    assert.deepEqual(r.records.map((e) => [attrs(e).mysql.command, attrs(e).mysql.warnings]), [['handshake', undefined], ['COM_QUERY', 1], ['COM_QUERY', undefined]]);
    assert.deepEqual(attrs(r.records[1]).db.response.rows, [{ w: '0' }]);
  });
  it('prepared statements: parameters decoded by type and mapped to the statement; binary rows', () => {
    const caps = BASE_CAPS;
    const i32 = u32(-7);
    const big = Buffer.alloc(8);
    big.writeBigUInt64LE(18446744073709551615n);
    const dbl = Buffer.alloc(8);
    dbl.writeDoubleLE(2.5);
    const dt = Buffer.from([11, ...u16(2024), 2, 29, 13, 5, 9, ...u32(120)]);
    const sql = 'SELECT name, born FROM people WHERE id = ? AND big = ? AND name = ? AND score > ? AND seen < ? AND x IS ?';
    // binary row: header, NULL bitmap (2 cols + 2 bits -> 1 byte; col 1 NULL = bit 3), values
    const row = packet(5, Buffer.from([0x00, 0b1000]), lstr('Zoë'));
    const r = run([
      { dir: S, bytes: greeting('8.0.36', caps) },
      { dir: C, bytes: handshakeResponse(caps, 'u', Buffer.from('x')) },
      { dir: S, bytes: ok(2) },
      { dir: C, bytes: cmd.prepare(sql) },
      {
        dir: S,
        bytes: Buffer.concat([
          prepareOk(1, 5, 2, 6),
          ...Array.from({ length: 6 }, (_, i) => columnDef(2 + i, { name: '?' })),
          eof(8),
          columnDef(9, { name: 'name' }),
          columnDef(10, { name: 'born', type: 0x0c, charset: 63 }),
          eof(11),
        ]),
      },
      {
        dir: C,
        bytes: cmd.execute(5, [
          [0x03, false, i32],
          [0x08, true, big],
          [0xfd, false, lstr('Zoë')],
          [0x05, false, dbl],
          [0x0c, false, dt],
          [0x06, false, null],
        ]),
      },
      { dir: S, bytes: Buffer.concat([packet(1, lenenc(2)), columnDef(2, { name: 'name' }), columnDef(3, { name: 'born', type: 0x0c, charset: 63 }), eof(4), row, eof(6)]) },
      { dir: C, bytes: cmd.close(5) },
    ]);
    const [, prep, exec, close] = r.records;
    assert.equal(attrs(prep).mysql.command, 'COM_STMT_PREPARE');
    assert.deepEqual(attrs(prep).mysql.prepared, { statement_id: 5, params: 6, columns: 2 });
    assert.equal(attrs(prep).db.query.text, sql);
    const a = attrs(exec);
    assert.equal(a.mysql.command, 'COM_STMT_EXECUTE');
    assert.equal(a.db.query.text, sql);
    assert.equal(a.mysql.statement_id, 5);
    assert.deepEqual(a.db.query.parameter, { '0': -7, '1': '18446744073709551615', '2': 'Zoë', '3': 2.5, '4': '2024-02-29 13:05:09.000120', '5': null });
    assert.deepEqual(a.db.response.rows, [{ name: 'Zoë', born: null }]);
    assert.equal(close.kind, 'message');
    assert.equal(attrs(close).mysql.command, 'COM_STMT_CLOSE');
    assert.equal(attrs(close).db.query.text, sql);
  });
  it('a later execute reuses the types bound first', () => {
    const caps = BASE_CAPS | CAP.DEPRECATE_EOF;
    const r = run([
      { dir: S, bytes: greeting('8.0.36', caps) },
      { dir: C, bytes: handshakeResponse(caps, 'u', Buffer.from('x')) },
      { dir: S, bytes: ok(2) },
      { dir: C, bytes: cmd.prepare('DELETE FROM t WHERE id = ?') },
      { dir: S, bytes: Buffer.concat([prepareOk(1, 1, 0, 1), columnDef(2, { name: '?' })]) },
      { dir: C, bytes: cmd.execute(1, [[0x01, false, Buffer.from([0xff])]]) },
      { dir: S, bytes: ok(1, 1) },
      { dir: C, bytes: cmd.execute(1, [[0x01, false, Buffer.from([0x05])]], false) },
      { dir: S, bytes: ok(1, 1) },
    ]);
    assert.deepEqual(attrs(r.records[2]).db.query.parameter, { '0': -1 });
    assert.deepEqual(attrs(r.records[3]).db.query.parameter, { '0': 5 });
    assert.equal(attrs(r.records[3]).mysql.affected_rows, 1);
  });
  it('query attributes (CLIENT_QUERY_ATTRIBUTES) are read apart from the text', () => {
    const caps = BASE_CAPS | CAP.DEPRECATE_EOF | CAP.QUERY_ATTRIBUTES;
    const r = run([
      { dir: S, bytes: greeting('8.0.36', caps) },
      { dir: C, bytes: handshakeResponse(caps, 'u', Buffer.from('x')) },
      { dir: S, bytes: ok(2) },
      { dir: C, bytes: cmd.queryWithAttrs('SELECT 1', []) },
      { dir: S, bytes: resultSet(1, [{ name: '1' }], [['1']], true).bytes },
      { dir: C, bytes: cmd.queryWithAttrs("SELECT mysql_query_attribute_string('n1')", [['n1', 'v1'], ['trace', 'abc']]) },
      { dir: S, bytes: resultSet(1, [{ name: 'x' }], [['v1']], true).bytes },
    ]);
    assert.equal(attrs(r.records[1]).db.query.text, 'SELECT 1');
    assert.equal(attrs(r.records[2]).db.query.text, "SELECT mysql_query_attribute_string('n1')");
    assert.deepEqual(attrs(r.records[2]).mysql.query_attributes, { n1: 'v1', trace: 'abc' });
  });
  it('COM_FIELD_LIST lists the columns', () => {
    const r = run([
      ...login8,
      { dir: C, bytes: packet(0, Buffer.from([0x04]), Buffer.from('users\0')) },
      { dir: S, bytes: Buffer.concat([columnDef(1, { name: 'id', table: 'users' }), columnDef(2, { name: 'email', table: 'users' }), eof(3)]) },
      { dir: C, bytes: cmd.ping() },
      { dir: S, bytes: ok(1) },
    ]);
    assert.equal(attrs(r.records[1]).mysql.table, 'users');
    assert.deepEqual(attrs(r.records[1]).mysql.columns.map((c: any) => c.name), ['id', 'email']);
    assert.equal(attrs(r.records[2]).mysql.command, 'COM_PING');
  });
  it('a payload of 16 MiB or more arrives in several packets and is read as one', () => {
    const big = 'x'.repeat(0xffffff + 100);
    const q = cmd.query(`INSERT INTO blobs VALUES ('${big}')`);
    const r = run([...login8, { dir: C, bytes: q }, { dir: S, bytes: ok(2, 1) }, { dir: C, bytes: cmd.ping() }, { dir: S, bytes: ok(1) }], { maxBody: 1000 }, {}, (_i, b) =>
      Array.from({ length: Math.ceil(b.length / 65536) }, (_, k) => b.subarray(k * 65536, (k + 1) * 65536)),
    );
    assert.equal(r.records.length, 3);
    const a = attrs(r.records[1]);
    assert.equal(a.db.query.text.length, 1000);
    assert.ok(a.db.query.text.startsWith("INSERT INTO blobs VALUES ('xxx"));
    assert.deepEqual(r.records[1].flags, ['truncated']);
    assert.equal(r.records[1].requestBytes, q.length);
    assert.equal(a.mysql.affected_rows, 1);
    assert.equal(attrs(r.records[2]).mysql.command, 'COM_PING');
    assert.equal(r.counts.get('mysql.sequence_error'), undefined);
  });
  it('LOAD DATA LOCAL INFILE keeps the file name and data sent', () => {
    const r = run([
      ...login8,
      { dir: C, bytes: cmd.query("LOAD DATA LOCAL INFILE '/tmp/p.csv' INTO TABLE people") },
      { dir: S, bytes: packet(1, Buffer.from([0xfb]), Buffer.from('/tmp/p.csv')) },
      { dir: C, bytes: Buffer.concat([packet(2, Buffer.from('1,ann\n2,bob\n')), packet(3)]) },
      { dir: S, bytes: ok(4, 2) },
    ]);
    assert.deepEqual(attrs(r.records[1]).mysql.local_infile, { name: '/tmp/p.csv', data: { size: 12, content: '1,ann\n2,bob\n' } });
    assert.equal(attrs(r.records[1]).mysql.affected_rows, 2);
  });
  it('MariaDB progress reports (ERR with code 0xFFFF) before the reply are no error: the OK after them ends the command', () => {
    // sql/protocol.cc net_send_progress_packet: 0xFF, code 0xFFFF, strings (1), stage, max stage,
    // progress in thousandths of a percent (3 bytes), lenenc stage name
    const progress = (seq: number, stage: number, max: number, thousandths: number, name: string) =>
      packet(seq, Buffer.from([0xff, 0xff, 0xff, 1, stage, max]), Buffer.from([thousandths & 0xff, (thousandths >> 8) & 0xff, thousandths >> 16]), lstr(name));
    const r = run([
      ...login8,
      { dir: C, bytes: cmd.query('ALTER TABLE people ADD COLUMN age INT') },
      { dir: S, bytes: Buffer.concat([progress(1, 1, 2, 50_000, 'copy to tmp table'), progress(2, 2, 2, 12_345, 'Enabling keys')]) },
      { dir: S, bytes: ok(3, 7) },
      { dir: C, bytes: cmd.query('SELECT 1') },
      { dir: S, bytes: resultSet(1, [{ name: '1', type: 0x08, charset: 63 }], [['1']], true).bytes },
    ]);
    const alter = attrs(r.records[1]);
    assert.equal(alter.db.response, undefined);
    assert.equal(alter.mysql.error, undefined);
    assert.equal(alter.mysql.affected_rows, 7);
    assert.deepEqual(alter.mysql.progress, { reports: 2, stage: 2, max_stage: 2, percent: 12.345, state: 'Enabling keys' });
    assert.equal(r.records[1].kind, 'exchange');
    assert.deepEqual(attrs(r.records[2]).db.response.rows, [{ '1': '1' }]);
    assert.equal(r.counts.get('mysql.sequence_error'), undefined);
    assert.equal(r.counts.get('mysql.unmatched_response'), undefined);
  });
});

describe('mysql: less common commands', () => {
  const caps = BASE_CAPS | CAP.DEPRECATE_EOF | CAP.SESSION_TRACK;
  const login: Segment[] = [
    { dir: S, bytes: greeting('8.0.36', caps) },
    { dir: C, bytes: handshakeResponse(caps, 'u', Buffer.from('x'), 'shop') },
    { dir: S, bytes: ok(2) },
  ];
  it('COM_STMT_SEND_LONG_DATA supplies the value of its parameter at the next execute', () => {
    const r = run([
      ...login,
      { dir: C, bytes: cmd.prepare('INSERT INTO docs (id, body) VALUES (?, ?)') },
      { dir: S, bytes: Buffer.concat([prepareOk(1, 9, 0, 2), columnDef(2, { name: '?' }), columnDef(3, { name: '?' })]) },
      { dir: C, bytes: packet(0, Buffer.from([0x18]), u32(9), u16(1), Buffer.from('long text, ')) },
      { dir: C, bytes: packet(0, Buffer.from([0x18]), u32(9), u16(1), Buffer.from('sent in parts')) },
      { dir: C, bytes: cmd.execute(9, [[0x03, false, u32(4)], [0xfc, false, Buffer.alloc(0)]]) },
      { dir: S, bytes: ok(1, 1) },
    ]);
    assert.deepEqual(r.records.map((e) => attrs(e).mysql.command), ['handshake', 'COM_STMT_PREPARE', 'COM_STMT_EXECUTE']);
    assert.deepEqual(attrs(r.records[2]).db.query.parameter, { '0': 4, '1': 'long text, sent in parts' });
  });
  it('binary parameter bytes (a BLOB bound from a byte buffer, long data) are hex, not U+FFFD', () => {
    const r = run([
      ...login,
      { dir: C, bytes: cmd.prepare('INSERT INTO files (a, b, c, d) VALUES (?, ?, ?, ?)') },
      { dir: S, bytes: Buffer.concat([prepareOk(1, 3, 0, 4), ...[2, 3, 4, 5].map((seq) => columnDef(seq, { name: '?' }))]) },
      { dir: C, bytes: packet(0, Buffer.from([0x18]), u32(3), u16(3), Buffer.from([0x89, 0x50, 0x4e, 0x47])) },
      {
        dir: C,
        bytes: cmd.execute(3, [
          [0xfc, false, lstr(Buffer.from([0x00, 0x01, 0xff]))],
          [0xfd, false, lstr('héllo')],
          [0xfe, false, lstr(Buffer.from([0xc3, 0x28]))],
          [0xfc, false, Buffer.alloc(0)],
        ]),
      },
      { dir: S, bytes: ok(1, 1) },
    ]);
    assert.deepEqual(attrs(r.records[2]).db.query.parameter, { '0': '\\x0001ff', '1': 'héllo', '2': '\\xc328', '3': '\\x89504e47' });
  });
  it('binary temporal values carry the fraction of their column: TIME(3) .789, DATETIME(6) at a whole second .000000, DATETIME none, DATE no time', () => {
    // what the text protocol (and the mysql client) print for the same columns
    const cols = [
      { name: 't3', type: 0x0b, charset: 63, decimals: 3 },
      { name: 'd6', type: 0x0c, charset: 63, decimals: 6 },
      { name: 'd0', type: 0x0c, charset: 63, decimals: 0 },
      { name: 'day', type: 0x0a, charset: 63, decimals: 0 },
      { name: 'free', type: 0x0c, charset: 63, decimals: 31 },
    ];
    const time = Buffer.from([12, 1, ...u32(0), 12, 34, 56, ...u32(789000)]);
    const whole = Buffer.from([7, ...u16(2024), 2, 29, 13, 5, 9]);
    const day = Buffer.from([4, ...u16(2024), 2, 29]);
    const micro = Buffer.from([11, ...u16(2024), 2, 29, 13, 5, 9, ...u32(120)]);
    const row = packet(7, Buffer.from([0x00, 0x00]), time, whole, whole, day, micro);
    const r = run([
      ...login,
      { dir: C, bytes: cmd.prepare('SELECT t3, d6, d0, day, free FROM t') },
      { dir: S, bytes: Buffer.concat([prepareOk(1, 4, 5, 0), ...cols.map((c, i) => columnDef(2 + i, c)), eof(7)]) },
      { dir: C, bytes: packet(0, Buffer.from([0x17]), u32(4), Buffer.from([0]), u32(1)) },
      { dir: S, bytes: Buffer.concat([packet(1, lenenc(5)), ...cols.map((c, i) => columnDef(2 + i, c)), row, eof(8)]) },
    ]);
    const exec = r.records.find((e) => attrs(e).mysql.command === 'COM_STMT_EXECUTE')!;
    assert.deepEqual(attrs(exec).db.response.rows, [{ t3: '-12:34:56.789', d6: '2024-02-29 13:05:09.000000', d0: '2024-02-29 13:05:09', day: '2024-02-29', free: '2024-02-29 13:05:09.000120' }]);
  });
  it('COM_STMT_FETCH returns binary rows of the cursor opened by an execute', () => {
    const CURSOR = 0x0040 | 2;
    const r = run([
      ...login,
      { dir: C, bytes: cmd.prepare('SELECT id FROM t') },
      { dir: S, bytes: Buffer.concat([prepareOk(1, 3, 1, 0), columnDef(2, { name: 'id', type: 0x03, charset: 63 })]) },
      { dir: C, bytes: packet(0, Buffer.from([0x17]), u32(3), Buffer.from([1]), u32(1)) },
      // cursor opened: definitions, then an OK/EOF with SERVER_STATUS_CURSOR_EXISTS and no rows yet
      { dir: S, bytes: Buffer.concat([packet(1, lenenc(1)), columnDef(2, { name: 'id', type: 0x03, charset: 63 }), eof(3, CURSOR)]) },
      { dir: C, bytes: packet(0, Buffer.from([0x1c]), u32(3), u32(2)) },
      { dir: S, bytes: Buffer.concat([packet(1, Buffer.from([0, 0]), u32(7)), packet(2, Buffer.from([0, 0]), u32(8)), ok(3, 0, 0, CURSOR, 0, 0xfe)]) },
    ], {}, {});
    const fetch = r.records.find((e) => attrs(e).mysql.command === 'COM_STMT_FETCH')!;
    assert.equal(attrs(fetch).db.query.text, 'SELECT id FROM t');
    assert.deepEqual(attrs(fetch).db.response.rows, [{ id: 7 }, { id: 8 }]);
  });
  it('COM_CHANGE_USER follows its authentication exchange; COM_STATISTICS keeps the reply text', () => {
    const changeUser = packet(0, Buffer.from([0x11]), Buffer.from('other\0'), Buffer.from([20]), Buffer.alloc(20, 9), Buffer.from('shop\0'));
    const authData = packet(2, Buffer.alloc(20, 3));
    const r = run([
      ...login,
      { dir: C, bytes: changeUser },
      { dir: S, bytes: packet(1, Buffer.from([0xfe]), Buffer.from('mysql_native_password\0'), Buffer.from('NEWSALT0123456789012\0')) },
      { dir: C, bytes: authData },
      { dir: S, bytes: ok(3) },
      { dir: C, bytes: packet(0, Buffer.from([0x09])) },
      { dir: S, bytes: packet(1, Buffer.from('Uptime: 5  Threads: 1  Questions: 9')) },
    ]);
    const [, change, stats] = r.records;
    // the session is now the new user's, in the schema named
    assert.equal(attrs(stats).mysql.user, 'other');
    assert.equal(attrs(stats).db.namespace, 'shop');
    assert.equal(attrs(change).mysql.command, 'COM_CHANGE_USER');
    assert.equal(attrs(change).mysql.user, 'other');
    assert.equal(change.requestBytes, changeUser.length + authData.length);
    assert.ok(!JSON.stringify(attrs(change)).includes('NEWSALT'));
    assert.equal(attrs(stats).mysql.statistics, 'Uptime: 5  Threads: 1  Questions: 9');
  });
  it('COM_CHANGE_USER: a refusal changes nothing; success moves user and schema and forgets the old session\'s statements', () => {
    const changeUser = (user: string, schema: string) => packet(0, Buffer.from([0x11]), Buffer.from(`${user}\0`), Buffer.from([20]), Buffer.alloc(20, 9), Buffer.from(`${schema}\0`));
    const r = run([
      ...login,
      { dir: C, bytes: cmd.prepare('SELECT ?') },
      { dir: S, bytes: Buffer.concat([prepareOk(1, 5, 0, 1), columnDef(2, { name: '?' })]) },
      { dir: C, bytes: changeUser('intruder', 'secret') },
      { dir: S, bytes: err(1, 1045, '28000', "Access denied for user 'intruder'") },
      { dir: C, bytes: cmd.ping() },
      { dir: S, bytes: ok(1) },
      { dir: C, bytes: changeUser('audit', '') },
      { dir: S, bytes: ok(1) },
      { dir: C, bytes: cmd.ping() },
      { dir: S, bytes: ok(1) },
      { dir: C, bytes: cmd.execute(5, [[0xfd, false, lstr('x')]]) },
      { dir: S, bytes: err(1, 1243, 'HY000', 'Unknown prepared statement handler (5) given to mysqld_stmt_execute') },
    ]);
    const [, , refused, ping1, changed, ping2, exec] = r.records.map(attrs);
    assert.equal(refused.db.response.status_code, '1045');
    assert.equal(ping1.mysql.user, 'u');
    assert.equal(ping1.db.namespace, 'shop');
    assert.equal(changed.mysql.user, 'audit');
    assert.equal(ping2.mysql.user, 'audit');
    assert.equal(ping2.db.namespace, undefined, 'no schema named: none selected');
    assert.equal(exec.db.query, undefined, 'the statement went with the old session');
  });
  it('COM_RESET_CONNECTION: the server closes the session\'s prepared statements; user and schema stay', () => {
    const r = run([
      ...login,
      { dir: C, bytes: cmd.prepare('SELECT ?') },
      { dir: S, bytes: Buffer.concat([prepareOk(1, 5, 0, 1), columnDef(2, { name: '?' })]) },
      { dir: C, bytes: packet(0, Buffer.from([0x1f])) },
      { dir: S, bytes: ok(1) },
      { dir: C, bytes: cmd.execute(5, [[0xfd, false, lstr('x')]]) },
      { dir: S, bytes: err(1, 1243, 'HY000', 'Unknown prepared statement handler (5) given to mysqld_stmt_execute') },
    ]);
    const [, , reset, exec] = r.records.map(attrs);
    assert.equal(reset.mysql.command, 'COM_RESET_CONNECTION');
    assert.equal(reset.mysql.user, 'u');
    assert.equal(exec.db.namespace, 'shop');
    assert.equal(exec.db.query, undefined, 'the statement was closed by the reset');
  });
  it('COM_PROCESS_INFO is answered by a text result set', () => {
    const r = run([
      ...login,
      { dir: C, bytes: packet(0, Buffer.from([0x0a])) },
      { dir: S, bytes: resultSet(1, [{ name: 'Id' }, { name: 'User' }], [['5', 'app']], true).bytes },
      { dir: C, bytes: cmd.ping() },
      { dir: S, bytes: ok(1) },
    ]);
    assert.deepEqual(r.records.map((e) => attrs(e).mysql.command), ['handshake', 'COM_PROCESS_INFO', 'COM_PING']);
    assert.deepEqual(attrs(r.records[1]).db.response.rows, [{ Id: '5', User: 'app' }]);
    assert.equal(r.counts.get('mysql.unmatched_response'), undefined);
  });
  it('a schema change reported by session tracking moves db.namespace', () => {
    // OK: header, affected 0, insert id 0, status with SERVER_SESSION_STATE_CHANGED, warnings, info "", state: SESSION_TRACK_SCHEMA "billing"
    const state = Buffer.concat([Buffer.from([1]), lstr(lstr('billing'))]);
    const okUse = packet(1, Buffer.from([0, 0, 0]), u16(0x4002), u16(0), lenenc(0), lstr(state));
    const r = run([...login, { dir: C, bytes: cmd.query('USE billing') }, { dir: S, bytes: okUse }, { dir: C, bytes: cmd.ping() }, { dir: S, bytes: ok(1) }]);
    assert.equal(attrs(r.records[1]).db.namespace, 'billing');
    assert.equal(attrs(r.records[2]).db.namespace, 'billing');
  });
});

describe('mysql: chunking, joins and limits', () => {
  const whole: Segment[] = [...login8, ...queries8, { dir: C, bytes: cmd.quit() }];
  const reference = untimed(run(whole).records);
  it('splitting any segment at any offset changes nothing', () => {
    for (let seg = 0; seg < whole.length; seg++) {
      for (let at = 1; at < whole[seg].bytes.length; at++) {
        const c = run(whole, {}, {}, (i, b) => (i === seg ? splitAt(b, at) : [b]));
        assert.deepEqual(untimed(c.records), reference, `segment ${seg} split at ${at}`);
      }
    }
  });
  it('byte-at-a-time and coalesced delivery change nothing', () => {
    assert.deepEqual(untimed(run(whole, {}, {}, (_i, b) => bytewise(b)).records), reference);
    assert.deepEqual(untimed(run(coalesce(whole)).records), reference);
  });
  it('joins mid-connection, inside a result set, in either EOF style', () => {
    for (const deprecate of [false, true]) {
      const rs = resultSet(1, [{ name: 'id' }, { name: 'v' }], [['1', 'a'], ['2', 'b'], ['3', 'c']], deprecate).bytes;
      for (let cut = 1; cut < rs.length - 1; cut++) {
        const r = run(
          [
            { dir: S, bytes: rs.subarray(cut) },
            { dir: C, bytes: cmd.query('SELECT id, v FROM t') },
            { dir: S, bytes: rs },
            { dir: C, bytes: cmd.query('DELETE FROM t') },
            { dir: S, bytes: ok(1, 3) },
          ],
          {},
          { midstream: true },
        );
        const msg = `deprecate ${deprecate} cut ${cut}: ${JSON.stringify(untimed(r.records))}`;
        assert.equal(r.records.length, 2, msg);
        assert.deepEqual(attrs(r.records[0]).db.response.rows, [{ id: '1', v: 'a' }, { id: '2', v: 'b' }, { id: '3', v: 'c' }], msg);
        assert.equal(attrs(r.records[1]).mysql.affected_rows, 3, msg);
        assert.ok(r.records.every((e) => e.flags?.includes('midstream')));
      }
    }
  });
  it('a connection whose SYN was missed but whose greeting was captured is read from the start', () => {
    const r = run([...login8, ...queries8.slice(0, 2)], {}, { midstream: true });
    assert.deepEqual(r.records.map((e) => attrs(e).mysql.command), ['handshake', 'COM_QUERY']);
    assert.equal(attrs(r.records[0]).mysql.user, 'app');
    assert.equal(attrs(r.records[1]).db.response.returned_rows, 2);
  });
  it('joined late, a prepare reply with or without trailing EOF keeps the next command in step', () => {
    for (const withEof of [false, true]) {
      const r = run(
        [
          { dir: C, bytes: cmd.prepare('SELECT ?') },
          { dir: S, bytes: Buffer.concat([prepareOk(1, 3, 0, 1), columnDef(2, { name: '?' }), ...(withEof ? [eof(3)] : [])]) },
          { dir: C, bytes: cmd.ping() },
          { dir: S, bytes: ok(1) },
        ],
        {},
        { midstream: true },
      );
      assert.deepEqual(r.records.map((e) => attrs(e).mysql.command), ['COM_STMT_PREPARE', 'COM_PING']);
      assert.equal(r.counts.get('mysql.unmatched_response'), undefined);
    }
  });
  it('keeps at most maxRows rows and maxBody bytes of values', () => {
    const rows = Array.from({ length: 50 }, (_, i) => [String(i), 'y'.repeat(100)]);
    const r = run([...login8, { dir: C, bytes: cmd.query('SELECT * FROM big') }, { dir: S, bytes: resultSet(1, [{ name: 'n' }, { name: 'pad' }], rows, true).bytes }], {
      maxRows: 4,
      maxBody: 300,
    });
    const a = attrs(r.records[1]);
    assert.equal(a.db.response.returned_rows, 50);
    assert.equal(a.db.response.rows.length, 4);
    assert.ok(a.db.response.rows.reduce((n: number, x: any) => n + x.n.length + x.pad.length, 0) <= 300);
    assert.deepEqual(r.records[1].flags, ['truncated']);
  });
  it('a gap in the server stream flags the exchange and parsing resumes at the next command', () => {
    const ctx = fakeContext();
    const p = mysqlModule.createStream!(ctx);
    feed(p, login8);
    const rs = resultSet(1, [{ name: 'id' }], [['1'], ['2'], ['3']], true).bytes;
    p.data(C, cmd.query('SELECT id FROM t'), 10n);
    p.data(S, rs.subarray(0, 12), 11n);
    p.gap(S, 20, 12n);
    p.data(S, rs.subarray(32), 13n);
    p.data(C, cmd.ping(), 14n);
    p.data(S, ok(1), 15n);
    p.close('fin', 16n);
    const cmds = ctx.records.slice(1).map((e) => [attrs(e).mysql.command, e.kind, e.flags ?? []]);
    assert.deepEqual(cmds[cmds.length - 1], ['COM_PING', 'exchange', []]);
    assert.ok(ctx.records.slice(1).some((e) => attrs(e).mysql.command === 'COM_QUERY' && e.flags?.includes('gap')));
  });
  it('bounds pending commands and remembered statements', () => {
    const r = run([...login8, ...Array.from({ length: 8 }, () => ({ dir: C, bytes: cmd.ping() }) as Segment)], { maxPending: 3 });
    assert.equal(r.counts.get('mysql.pending_overflow'), 5);
  });
});

describe('mysql: detection', () => {
  it('detects greetings as the server and commands as the client', () => {
    assert.deepEqual(mysqlModule.detect(greeting('8.0.36', caps8), S), { sender: 'server', confidence: 1 });
    assert.equal((mysqlModule.detect(cmd.query('SELECT 1'), C) as any).sender, 'client');
    assert.equal((mysqlModule.detect(cmd.queryWithAttrs('SELECT 1', []), C) as any).sender, 'client');
    assert.equal((mysqlModule.detect(cmd.execute(1, [[0x03, false, u32(1)]]), C) as any).sender, 'client');
  });
  it('asks for more, and refuses other protocols', () => {
    assert.equal(mysqlModule.detect(Buffer.from([0x4a, 0]), S), 'more');
    for (const other of ['GET / HTTP/1.1\r\nHost: x\r\n\r\n', '*1\r\n$4\r\nPING\r\n', 'SSH-2.0-OpenSSH_9.2\r\n', 'AMQP\x00\x00\x09\x01']) {
      assert.equal(mysqlModule.detect(Buffer.from(other, 'latin1'), C), null, other);
    }
    assert.equal(mysqlModule.detect(textRow(0, ['x']), C), null);
    // encrypted application data that happens to look like a sequence-0 packet with a command byte
    const noise = Buffer.from('a4394856b55da9173e1a4b7b3ce6778b63a592e63830c7cf4d963d1b85346057ebfc8a3ba4e0907b7243', 'hex');
    for (const code of [0x03, 0x16, 0x02]) {
      assert.equal(mysqlModule.detect(packet(0, Buffer.from([code]), noise), C), null, `command 0x${code.toString(16)}`);
    }
    assert.equal((mysqlModule.detect(cmd.initDb('shop'), C) as any).sender, 'client');
    assert.equal((mysqlModule.detect(cmd.prepare('/* app */ SELECT 1'), C) as any).sender, 'client');
  });
});

function cstrB(s: string): Buffer {
  return Buffer.concat([Buffer.from(s), Buffer.from([0])]);
}

describe('mysql: statement commands too short to name their statement', () => {
  it('a COM_STMT_CLOSE or COM_STMT_FETCH without its four id bytes names no statement (there was a statement_id of -1)', () => {
    const r = run([
      ...login8,
      { dir: C, bytes: packet(0, Buffer.from([0x19])) },
      { dir: C, bytes: packet(0, Buffer.from([0x1c, 0x01])) },
      { dir: S, bytes: err(1, 1243, 'HY000', 'Unknown prepared statement handler') },
    ]);
    const cmds = r.records.slice(1).map((x) => attrs(x).mysql);
    assert.deepEqual(cmds.map((m) => m.command), ['COM_STMT_CLOSE', 'COM_STMT_FETCH']);
    for (const m of cmds) assert.equal('statement_id' in m, false, JSON.stringify(m));
  });
});

describe('mysql: row keys off the wire', () => {
  it('columns named __proto__ and constructor are columns like any other (assigned, __proto__ set no property and was lost)', () => {
    const c = run([
      ...login8,
      { dir: C, bytes: cmd.query('SELECT 1') },
      { dir: S, bytes: resultSet(1, [{ name: '__proto__' }, { name: 'constructor' }, { name: 'id' }], [['a', 'b', '1']], true).bytes },
    ]);
    const q = c.records.find((r) => attrs(r).mysql?.command === 'COM_QUERY')!;
    assert.equal(JSON.stringify(attrs(q).db.response.rows), '[{"__proto__":"a","constructor":"b","id":"1"}]');
  });
  it('a connection attribute named __proto__ is kept', () => {
    const c = run([
      { dir: S, bytes: greeting('8.0.36', caps8, 42, 'caching_sha2_password') },
      { dir: C, bytes: handshakeResponse(caps8, 'app', Buffer.from('x'), 'shop', 'caching_sha2_password', JSON.parse('{"__proto__":"p","_os":"Linux"}')) },
      { dir: S, bytes: ok(2) },
    ]);
    assert.equal(JSON.stringify(attrs(c.records[0]!).mysql.connection_attributes), '{"__proto__":"p","_os":"Linux"}');
  });
});
