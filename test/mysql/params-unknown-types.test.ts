/**
 * MySQL prepared-statement parameters whose types the capture did not see,
 * with hand-built packets (COM_STMT_EXECUTE = 0x17 id(4) flags(1)
 * iterations(4), then NULL bitmap, new-params-bound(1), types (2 bytes each,
 * only when new-params-bound is 1), values; with new-params-bound 0 the
 * server reuses the types of the previous execute). Never guessed: left out
 * and flagged undecodable.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { C, S, attrs, session } from './session-script.js';
import { BASE_CAPS, CAP, cmd, columnDef, lstr, ok, prepareOk, u32 } from './my-wire.js';



const dbl = (n: number) => {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(n);
  return b;
};

describe('mysql: prepared statement parameters whose types were not seen', () => {
  const caps = BASE_CAPS | CAP.DEPRECATE_EOF;
  const sql = 'UPDATE people SET name = ?, score = ? WHERE id = ?';
  const prepare: Step[] = [
    [C, cmd.prepare(sql)],
    [S, Buffer.concat([prepareOk(1, 4, 0, 3), columnDef(2, { name: '?' }), columnDef(3, { name: '?' }), columnDef(4, { name: '?' })])],
  ];
  const firstExecute = cmd.execute(4, [
    [0xfd, false, lstr('Ann')],
    [0x05, false, dbl(1.5)],
    [0x03, false, u32(1)],
  ]);

  it('the execute that bound them was lost: with new-params-bound 0 only NULLs are known; the rest is left out and flagged undecodable', () => {
    const c = session(caps, [
      ...prepare,
      ['gap', C, firstExecute.length],
      [S, ok(1, 1)],
      // new-params-bound 0: bitmap (param 1 NULL = bit 1), flag 0, then values only: lstr('Zoë'), int 2
      [C, cmd.execute(4, [[0xfd, false, lstr('Zoë')], [0x05, false, null], [0x03, false, u32(2)]], false)],
      [S, ok(1, 1)],
    ]);
    const exec = c.records.find((r) => attrs(r).mysql.command === 'COM_STMT_EXECUTE')!;
    assert.equal(attrs(exec).db.query.text, sql);
    assert.deepEqual(attrs(exec).db.query.parameter, { '1': null });
    assert.deepEqual(exec.flags, ['gap', 'undecodable']);
    assert.equal(attrs(exec).mysql.affected_rows, 1);
    assert.equal(c.counts.get('mysql.undecodable_parameters'), 1);
  });

  it('types seen, then client bytes lost (an execute there may have bound others): not reused', () => {
    const c = session(caps, [
      [C, cmd.prepare('DELETE FROM t WHERE k = ?')],
      [S, Buffer.concat([prepareOk(1, 9, 0, 1), columnDef(2, { name: '?' })])],
      [C, cmd.execute(9, [[0x03, false, u32(5)]])],
      [S, ok(1, 1)],
      // lost: an execute binding a string instead
      ['gap', C, cmd.execute(9, [[0xfd, false, lstr('abcd')]]).length],
      [S, ok(1, 1)],
      // read with the stale LONG type, the bytes 04 'w' 'x' 'y' would be 2037937924
      [C, cmd.execute(9, [[0xfd, false, lstr('wxyz')]], false)],
      [S, ok(1, 0)],
    ]);
    const execs = c.records.filter((r) => attrs(r).mysql.command === 'COM_STMT_EXECUTE');
    assert.equal(execs.length, 2);
    assert.deepEqual(attrs(execs[0]).db.query.parameter, { '0': 5 });
    assert.equal(attrs(execs[1]).db.query.parameter, undefined);
    assert.deepEqual(execs[1].flags, ['gap', 'undecodable']);
  });

  it('types bound by an execute that was seen are reused (no loss)', () => {
    const c = session(caps, [...prepare, [C, firstExecute], [S, ok(1, 1)], [C, cmd.execute(4, [[0xfd, false, lstr('Bob')], [0x05, false, dbl(2.25)], [0x03, false, u32(2)]], false)], [S, ok(1, 1)]]);
    const execs = c.records.filter((r) => attrs(r).mysql.command === 'COM_STMT_EXECUTE');
    assert.deepEqual(attrs(execs[1]).db.query.parameter, { '0': 'Bob', '1': 2.25, '2': 2 });
    assert.equal(execs[1].flags, undefined);
  });

  it('joined mid-connection: an execute of a statement prepared earlier carries parameters that are not read, and says so', () => {
    const c = session(
      caps,
      [
        [C, cmd.execute(4, [[0xfd, false, lstr('Zoë')], [0x03, false, u32(2)]])],
        [S, ok(1, 1)],
        [C, cmd.execute(5, [])],
        [S, ok(1, 0)],
      ],
      true,
    );
    const [withParams, without] = c.records;
    assert.equal(attrs(withParams).db.query?.parameter, undefined);
    assert.deepEqual(withParams.flags, ['midstream', 'undecodable']);
    assert.deepEqual(without.flags, ['midstream']);
  });
});
