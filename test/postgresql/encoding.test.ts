/**
 * PostgreSQL client_encoding against hand-built messages: text the client
 * and the server exchange is decoded in the encoding the StartupMessage and
 * ParameterStatus announce (and `SET client_encoding` changes), and text that
 * cannot be decoded is kept byte for byte (latin1) with a flag. The bytes are
 * what PostgreSQL sends in each encoding: latin1 é = 0xE9, WIN1252 € = 0x80,
 * EUC-JP テ = 0xA5 0xC6, LATIN5 ş = 0xFE.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TextDecoder } from 'node:util';
import type { Connection } from '@panopticon/flows';
import type { ExchangeRecord, ParseOptions } from '../../packages/protocols/src/types.js';
import { postgresqlModule } from '../../packages/protocols/src/postgresql/index.js';
import { canonicalEncoding } from '../../packages/protocols/src/postgresql/encoding.js';
import { bytewise, feed, type Segment, runScript } from '../helpers/scripted-stream.js';
import { be, bin, fe, msg } from './pg-wire.js';

const C = 0 as const;
const S = 1 as const;
const FLAG = 'text_as_latin1';

const run = (script: Segment[], opts: Partial<ParseOptions> = {}, conn: Partial<Connection> = {}, cut?: (i: number, b: Buffer) => Buffer[]) => runScript(postgresqlModule, 5432, script, opts, conn, cut);
const attrs = (r: ExchangeRecord): any => r.attributes as any;
const NUL = Buffer.from([0]);
/** A string's bytes in an encoding Buffer knows (latin1), or given as hex. */
const L = (s: string) => Buffer.from(s, 'latin1');
const H = (hex: string) => Buffer.from(hex.replace(/ /g, ''), 'hex');
const z = (b: Buffer) => Buffer.concat([b, NUL]);

/** Messages carrying raw bytes (pg-wire's helpers write UTF-8). */
const raw = {
  query: (sql: Buffer) => msg('Q', z(sql)),
  parse: (sql: Buffer) => msg('P', NUL, z(sql), bin.i16(0)),
  bind: (values: Buffer[]) => msg('B', NUL, NUL, bin.i16(0), bin.i16(values.length), ...values.flatMap((v) => [bin.i32(v.length), v]), bin.i16(0)),
  rowDescription: (names: Buffer[]) => msg('T', bin.i16(names.length), ...names.flatMap((n) => [z(n), bin.i32(0), bin.i16(0), bin.i32(25), bin.i16(-1), bin.i32(-1), bin.i16(0)])),
  dataRow: (values: Buffer[]) => msg('D', bin.i16(values.length), ...values.flatMap((v) => [bin.i32(v.length), v])),
  error: (code: string, message: Buffer) => msg('E', L('SERROR\0VERROR\0C'), z(L(code)), L('M'), z(message), NUL),
  notice: (message: Buffer) => msg('N', L('SNOTICE\0VNOTICE\0C00000\0M'), z(message), NUL),
  notification: (channel: Buffer, payload: Buffer) => msg('A', bin.i32(77), z(channel), z(payload)),
};

function login(encoding: string | undefined, reported = encoding ?? 'UTF8'): Segment[] {
  return [
    { dir: C, bytes: fe.startup({ user: 'u', database: 'd', ...(encoding ? { client_encoding: encoding } : {}) }) },
    { dir: S, bytes: Buffer.concat([be.authOk(), be.parameterStatus('client_encoding', reported), be.parameterStatus('server_version', '15.8'), be.ready()]) },
  ];
}

function selectCafe(sql: Buffer, name: Buffer, value: Buffer): Segment[] {
  return [
    { dir: C, bytes: raw.query(sql) },
    { dir: S, bytes: Buffer.concat([raw.rowDescription([name]), raw.dataRow([value]), be.commandComplete('SELECT 1'), be.ready()]) },
  ];
}

describe('postgresql: client_encoding', () => {
  it('LATIN1: query text, column names and row values decoded; byte 0x80 is U+0080 (ISO 8859-1, not windows-1252)', () => {
    const c = run([...login('LATIN1'), ...selectCafe(L("SELECT 'café', 'Müller\x80' AS größe"), L('größe'), L('Müller\x80'))]);
    const q = c.records[1];
    assert.equal(attrs(q).db.query.text, "SELECT 'café', 'Müller\u0080' AS größe");
    assert.deepEqual(attrs(q).db.response.rows, [{ größe: 'Müller\u0080' }]);
    assert.equal(q.flags, undefined);
  });

  it('an alias in the StartupMessage (latin1, ISO-8859-1) takes effect before the server confirms it', () => {
    for (const name of ['latin1', 'ISO-8859-1', 'iso_8859_1']) {
      const c = run([
        { dir: C, bytes: fe.startup({ user: 'u', client_encoding: name }) },
        { dir: C, bytes: raw.query(L("SELECT 'é'")) },
      ]);
      assert.equal(attrs(c.records.find((r) => attrs(r).postgresql.message === 'Query')!).db.query.text, "SELECT 'é'", name);
    }
    assert.equal(canonicalEncoding('Windows-1252'), 'WIN1252');
    assert.equal(canonicalEncoding('unicode'), 'UTF8');
    assert.equal(canonicalEncoding('klingon'), undefined);
  });

  it('a name that is an Object.prototype property (constructor, __proto__) is unknown: the connection stays UTF-8', () => {
    // the alias table was a plain object, so "constructor" found Object (inherited) and a byte-wise codec was installed
    for (const name of ['constructor', 'Constructor', '__proto__', 'toString']) {
      const c = run([
        { dir: C, bytes: fe.startup({ user: 'u', client_encoding: name }) },
        { dir: S, bytes: Buffer.concat([be.authOk(), be.parameterStatus('client_encoding', name), be.ready()]) },
        ...selectCafe(Buffer.from("SELECT 'café'"), Buffer.from('größe'), Buffer.from('Müller')),
      ]);
      const q = c.records.find((r) => attrs(r).postgresql.message === 'Query')!;
      assert.equal(attrs(q).db.query.text, "SELECT 'café'", name);
      assert.deepEqual(attrs(q).db.response.rows, [{ größe: 'Müller' }], name);
      assert.equal(q.flags, undefined, name);
      assert.equal(c.counts.get('postgresql.unknown_client_encoding'), 2, name);
      assert.equal(c.counts.get('postgresql.client_encoding_changes'), undefined, name);
      assert.equal(canonicalEncoding(name), undefined, name);
    }
  });

  it('extended protocol: statement text, parameters, errors and notices in the client encoding', () => {
    const c = run([
      ...login('LATIN1'),
      { dir: C, bytes: Buffer.concat([raw.parse(L('INSERT INTO people (name) VALUES ($1) -- für')), raw.bind([L('Müller')]), fe.execute(''), fe.sync()]) },
      { dir: S, bytes: Buffer.concat([be.parseComplete(), be.bindComplete(), raw.notice(L('Hinweis: Größe')), raw.error('23505', L('doppelter Schlüssel: Müller')), be.ready()]) },
    ]);
    const e = attrs(c.records[1]);
    assert.equal(e.db.query.text, 'INSERT INTO people (name) VALUES ($1) -- für');
    assert.deepEqual(e.db.query.parameter, { '0': 'Müller' });
    assert.equal(e.postgresql.error.message, 'doppelter Schlüssel: Müller');
    assert.equal(e.postgresql.notices[0].message, 'Hinweis: Größe');
    assert.equal(c.records[1].flags, undefined);
  });

  it('SET client_encoding: the ParameterStatus that confirms it switches decoding for what follows', () => {
    const c = run([
      ...login(undefined),
      { dir: C, bytes: fe.query("SELECT 'café'") },
      { dir: S, bytes: Buffer.concat([be.rowDescription([{ name: 'x' }]), be.dataRow(['café']), be.commandComplete('SELECT 1'), be.ready()]) },
      { dir: C, bytes: fe.query("SET client_encoding TO 'WIN1252'") },
      { dir: S, bytes: Buffer.concat([be.commandComplete('SET'), be.parameterStatus('client_encoding', 'WIN1252'), be.ready()]) },
      ...selectCafe(L("SELECT '\x80 café'"), L('x'), L('\x80 café')),
      { dir: C, bytes: fe.query("SET client_encoding TO 'UTF8'") },
      { dir: S, bytes: Buffer.concat([be.commandComplete('SET'), be.parameterStatus('client_encoding', 'UTF8'), be.ready()]) },
      { dir: C, bytes: fe.query("SELECT '€ café'") },
    ]);
    const texts = c.records.filter((r) => attrs(r).postgresql.message === 'Query').map((r) => attrs(r).db.query.text);
    assert.deepEqual(texts, ["SELECT 'café'", "SET client_encoding TO 'WIN1252'", "SELECT '€ café'", "SET client_encoding TO 'UTF8'", "SELECT '€ café'"]);
    assert.deepEqual(attrs(c.records[1]).db.response.rows, [{ x: 'café' }]);
    assert.deepEqual(attrs(c.records[3]).db.response.rows, [{ x: '€ café' }]);
    assert.ok(c.records.every((r) => !r.flags?.includes(FLAG)));
    assert.equal(c.counts.get('postgresql.client_encoding_changes'), 2);
  });

  it('joined mid-connection: UTF-8 until a ParameterStatus names the encoding', () => {
    const c = run(
      [
        ...selectCafe(L("SELECT 'é'"), L('x'), L('é')),
        { dir: C, bytes: fe.query("SET client_encoding TO 'LATIN1'") },
        { dir: S, bytes: Buffer.concat([be.commandComplete('SET'), be.parameterStatus('client_encoding', 'LATIN1'), be.ready()]) },
        ...selectCafe(L("SELECT 'é'"), L('x'), L('é')),
      ],
      {},
      { midstream: true },
    );
    const q = c.records.filter((r) => attrs(r).postgresql.message === 'Query');
    assert.equal(q.length, 3);
    assert.equal(attrs(q[0]).db.query.text, "SELECT '\ufffd'", 'before the ParameterStatus: UTF-8, as before');
    assert.equal(attrs(q[2]).db.query.text, "SELECT 'é'");
    assert.deepEqual(attrs(q[2]).db.response.rows, [{ x: 'é' }]);
  });

  it('SQL_ASCII: bytes above 0x7F are shown one code point per byte, flagged; ASCII-only events are not', () => {
    const utf8 = Buffer.from("SELECT 'café'", 'utf8');
    const c = run([...login('SQL_ASCII'), ...selectCafe(utf8, L('x'), Buffer.from('café', 'utf8')), ...selectCafe(L('SELECT 1'), L('n'), L('1'))]);
    const [, cafe, one] = c.records;
    assert.equal(attrs(cafe).db.query.text, "SELECT 'cafÃ©'");
    assert.ok(Buffer.from(attrs(cafe).db.query.text, 'latin1').equals(utf8), 'the bytes are recoverable');
    assert.deepEqual(attrs(cafe).db.response.rows, [{ x: 'cafÃ©' }]);
    assert.deepEqual(cafe.flags, [FLAG]);
    assert.equal(one.flags, undefined);
  });

  it('SQL_ASCII column names from a Describe flag the Execute whose rows they key', () => {
    const c = run([
      ...login('SQL_ASCII'),
      { dir: C, bytes: Buffer.concat([raw.parse(L('SELECT * FROM v')), fe.describe('S', ''), raw.bind([]), fe.execute(''), fe.sync()]) },
      { dir: S, bytes: Buffer.concat([be.parseComplete(), be.parameterDescription([]), raw.rowDescription([L('\xe9')]), be.bindComplete(), raw.dataRow([L('1')]), be.commandComplete('SELECT 1'), be.ready()]) },
    ]);
    const e = c.records.find((r) => attrs(r).postgresql.message === 'Execute')!;
    assert.deepEqual(attrs(e).db.response.rows, [{ é: '1' }]);
    assert.deepEqual(e.flags, [FLAG]);
  });

  it('an encoding that cannot be decoded (EUC_TW, MULE_INTERNAL) keeps every byte and flags the event', () => {
    for (const enc of ['EUC_TW', 'MULE_INTERNAL']) {
      // SELECT '..' with two two-byte characters: which ones does not matter, only that no byte is lost
      const bytes = H('53454c45435420 27 c4e3bac3 27');
      const c = run([...login(enc), ...selectCafe(bytes, L('x'), H('c4e3bac3'))]);
      const q = c.records[1];
      assert.ok(Buffer.from(attrs(q).db.query.text, 'latin1').equals(bytes), enc);
      assert.ok(Buffer.from(attrs(q).db.response.rows[0].x, 'latin1').equals(H('c4e3bac3')), enc);
      assert.deepEqual(q.flags, [FLAG], enc);
    }
  });

  it('multibyte encodings: EUC_JP decoded; bytes invalid in it are kept and flagged; a value cut at the limit drops its split character', () => {
    const tesuto = H('a5c6 a5b9 a5c8'); // テスト in EUC-JP
    const ok = run([...login('EUC_JP'), ...selectCafe(Buffer.concat([L("SELECT '"), tesuto, L("'")]), L('x'), tesuto)]);
    const canDecode = (() => {
      try {
        new TextDecoder('euc-jp');
        return true;
      } catch {
        return false;
      }
    })();
    if (canDecode) {
      assert.equal(attrs(ok.records[1]).db.query.text, "SELECT 'テスト'");
      assert.deepEqual(attrs(ok.records[1]).db.response.rows, [{ x: 'テスト' }]);
      assert.equal(ok.records[1].flags, undefined);
    } else {
      // an ICU without EUC-JP: the bytes, flagged, never U+FFFD
      assert.ok(Buffer.from(attrs(ok.records[1]).db.query.text, 'latin1').subarray(8, 14).equals(tesuto));
      assert.deepEqual(ok.records[1].flags, [FLAG]);
    }
    const bad = run([...login('EUC_JP'), ...selectCafe(L("SELECT '\xff'"), L('x'), L('ok'))]);
    assert.equal(attrs(bad.records[1]).db.query.text, "SELECT '\xff'");
    assert.deepEqual(bad.records[1].flags, [FLAG]);
    if (canDecode) {
      // 5 bytes of row budget: テ (2) ス (2) and half of ト
      const cut = run([...login('EUC_JP'), ...selectCafe(L('SELECT x FROM t'), L('x'), tesuto)], { maxBody: 5 });
      assert.deepEqual(attrs(cut.records[1]).db.response.rows, [{ x: 'テス' }]);
      assert.deepEqual(cut.records[1].flags, ['truncated']);
    }
  });

  it('LATIN5 (ISO 8859-9) has its six Turkish letters where latin1 has others; WIN1251 decodes Cyrillic; WIN1252 its 0x80-0x9F', () => {
    const c = run([...login('LATIN5'), ...selectCafe(L("SELECT 'I\xfe\xfdk \xd0\xdd\xde\xf0 \xe9'"), L('x'), L('\xfe'))]);
    assert.equal(attrs(c.records[1]).db.query.text, "SELECT 'Işık ĞİŞğ é'");
    const w = run([...login('WIN1251'), ...selectCafe(L("SELECT '\xcf\xf0\xe8\xe2\xe5\xf2'"), L('x'), L('\xe4\xe0'))]);
    assert.equal(attrs(w.records[1]).db.query.text, "SELECT 'Привет'");
    assert.deepEqual(attrs(w.records[1]).db.response.rows, [{ x: 'да' }]);
    // windows-1252 at 0x80-0x9F (Node 20's TextDecoder reads these as latin1)
    const cp = run([...login('WIN1252'), ...selectCafe(L("SELECT '\x80\x92\x9f\x9e \xe9'"), L('x'), L('\x84ok\x93'))]);
    assert.equal(attrs(cp.records[1]).db.query.text, "SELECT '€’Ÿž é'");
    assert.deepEqual(attrs(cp.records[1]).db.response.rows, [{ x: '„ok“' }]);
  });

  it('notifications and COPY text are in the client encoding too', () => {
    const c = run([
      ...login('LATIN1'),
      { dir: S, bytes: raw.notification(L('k\xe4se'), L('M\xfcller')) },
      { dir: C, bytes: fe.query('COPY people TO STDOUT') },
      { dir: S, bytes: Buffer.concat([be.copyOut(1), msg('d', L('M\xfcller\n')), be.copyDone(), be.commandComplete('COPY 1'), be.ready()]) },
    ]);
    const n = c.records.find((r) => attrs(r).postgresql.message === 'NotificationResponse')!;
    assert.deepEqual(attrs(n).postgresql.notification, { pid: 77, channel: 'käse', payload: 'Müller' });
    const copy = c.records.find((r) => attrs(r).postgresql.copy)!;
    assert.equal(attrs(copy).postgresql.copy.data.content, 'Müller\n');
  });

  it('delivery byte by byte changes nothing', () => {
    const script = [...login('LATIN1'), ...selectCafe(L("SELECT 'café'"), L('größe'), L('Müller'))];
    const whole = run(script).records.map((r) => r.attributes);
    const bytewiseRun = run(script, {}, {}, (_i, b) => bytewise(b)).records.map((r) => r.attributes);
    assert.deepEqual(bytewiseRun, whole);
  });

  it('UTF-8 connections are read as before', () => {
    const c = run([...login('UTF8'), ...selectCafe(Buffer.from("SELECT 'café'"), Buffer.from('größe'), Buffer.from('Müller'))]);
    assert.equal(attrs(c.records[1]).db.query.text, "SELECT 'café'");
    assert.deepEqual(attrs(c.records[1]).db.response.rows, [{ größe: 'Müller' }]);
    assert.equal(c.counts.get('postgresql.client_encoding_changes'), undefined);
  });
});
