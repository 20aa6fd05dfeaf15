/**
 * Damaged input never breaks the SQL parsers: conversations with flipped
 * bytes, lost ranges (reported as gaps), garbage inserted, or cut short are
 * fed to the PostgreSQL and MySQL parsers; neither may throw (their own
 * guard would count `*.internal_error`), and both must keep going.
 * Deterministic: a seeded generator picks the damage.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ProtocolModule } from '../../packages/protocols/src/types.js';
import { postgresqlModule } from '../../packages/protocols/src/postgresql/index.js';
import { mysqlModule } from '../../packages/protocols/src/mysql/index.js';
import { fakeContext } from '../helpers/fake-parser-context.js';
import type { Segment } from '../helpers/scripted-stream.js';
import { be, fe } from './pg-wire.js';
import { BASE_CAPS, CAP, cmd, greeting, handshakeResponse, ok, prepareOk, columnDef, resultSet, u32, lstr } from '../mysql/my-wire.js';

let seed = 1;
function rand(n: number): number {
  seed = (seed * 1103515245 + 12345) >>> 0;
  return (seed >>> 8) % n;
}

const C = 0 as const;
const S = 1 as const;

const pgScript: Segment[] = [
  { dir: C, bytes: fe.startup({ user: 'u', database: 'd' }) },
  { dir: S, bytes: Buffer.concat([be.authOk(), be.parameterStatus('server_version', '15'), be.backendKeyData(1, 2), be.ready()]) },
  { dir: C, bytes: fe.query('SELECT a, b FROM t') },
  { dir: S, bytes: Buffer.concat([be.rowDescription([{ name: 'a' }, { name: 'b', oid: 23, format: 1 }]), be.dataRow(['x', Buffer.from([0, 0, 0, 1])]), be.commandComplete('SELECT 1'), be.ready()]) },
  { dir: C, bytes: Buffer.concat([fe.parse('s', 'SELECT $1'), fe.bind('', 's', ['1']), fe.describe('P', ''), fe.execute(''), fe.sync()]) },
  { dir: S, bytes: Buffer.concat([be.parseComplete(), be.bindComplete(), be.rowDescription([{ name: '?column?' }]), be.dataRow(['1']), be.commandComplete('SELECT 1'), be.ready()]) },
  { dir: C, bytes: fe.query('COPY t FROM STDIN') },
  { dir: S, bytes: be.copyIn(2) },
  { dir: C, bytes: Buffer.concat([fe.copyData('1\t2\n'), fe.copyDone()]) },
  { dir: S, bytes: Buffer.concat([be.commandComplete('COPY 1'), be.ready()]) },
  { dir: C, bytes: fe.terminate() },
];

const caps = BASE_CAPS | CAP.DEPRECATE_EOF;
const myScript: Segment[] = [
  { dir: S, bytes: greeting('8.0.36', caps) },
  { dir: C, bytes: handshakeResponse(caps, 'u', Buffer.from('x'), 'db') },
  { dir: S, bytes: ok(2) },
  { dir: C, bytes: cmd.query('SELECT a FROM t') },
  { dir: S, bytes: resultSet(1, [{ name: 'a' }], [['1'], [null]], true).bytes },
  { dir: C, bytes: cmd.prepare('SELECT ?') },
  { dir: S, bytes: Buffer.concat([prepareOk(1, 1, 1, 1), columnDef(2, { name: '?' }), columnDef(3, { name: 'x', type: 0x03, charset: 63 })]) },
  { dir: C, bytes: cmd.execute(1, [[0x03, false, u32(5)]]) },
  { dir: S, bytes: resultSet(1, [{ name: 'x' }], [['5']], true).bytes },
  { dir: C, bytes: cmd.execute(1, [[0xfd, false, lstr('y')]]) },
  { dir: S, bytes: ok(1) },
  { dir: C, bytes: cmd.quit() },
];

function damage(module: ProtocolModule, script: Segment[], midstream: boolean): { counts: Map<string, number>; events: number } {
  const ctx = fakeContext({ maxBody: 64, maxHeaderBytes: 64, maxRows: 2, maxPending: 8 }, { midstream });
  const p = module.createStream!(ctx);
  let t = 0n;
  for (const s of script) {
    let b = Buffer.from(s.bytes);
    const kind = rand(6);
    if (kind === 0 && b.length) b[rand(b.length)] ^= 1 << rand(8); // flipped bit
    if (kind === 1 && b.length > 2) {
      // a lost range, reported as a gap
      const at = rand(b.length - 1);
      const n = 1 + rand(b.length - at - 1);
      p.data(s.dir, b.subarray(0, at), t++);
      p.gap(s.dir, n, t++);
      b = b.subarray(at + n);
    }
    if (kind === 2) b = Buffer.concat([b, Buffer.from(Array.from({ length: 1 + rand(40) }, () => rand(256)))]); // garbage after
    if (kind === 3) b = b.subarray(0, rand(b.length + 1)); // cut short, no gap reported
    for (let off = 0; off < b.length; ) {
      const n = 1 + rand(24);
      p.data(s.dir, b.subarray(off, off + n), t++);
      off += n;
    }
  }
  p.close(rand(2) ? 'fin' : 'rst', t);
  return { counts: ctx.counts, events: ctx.records.length };
}

for (const [name, module, script] of [
  ['postgresql', postgresqlModule, pgScript],
  ['mysql', mysqlModule, myScript],
] as const) {
  describe(`${name}: damaged input`, () => {
    it('never throws, across 2000 damaged conversations (half joined mid-connection)', () => {
      seed = name.length;
      let events = 0;
      for (let i = 0; i < 2000; i++) {
        const r = damage(module, script, i % 2 === 1);
        assert.equal(r.counts.get(`${name}.internal_error`), undefined, `conversation ${i}: ${[...r.counts].join(' ')}`);
        events += r.events;
      }
      assert.ok(events > 2000, `only ${events} events from 2000 conversations`);
    });
  });
}
