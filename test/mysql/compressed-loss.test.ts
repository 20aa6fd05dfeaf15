/**
 * MySQL sequence ids under the compressed protocol and after lost bytes, with
 * hand-built packets (packet = length(3) seq(1) payload; compressed frame =
 * compressed length(3) frame seq(1) uncompressed length(3), 0 meaning a raw
 * body). Frames number on across both directions; the packets inside them
 * keep their own ids, but a reply's first packet continues from the frames'
 * (MariaDB answers a request sent in two frames from packet id 2).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { deflateSync } from 'node:zlib';
import { C, S, attrs, session, type Step } from './session-script.js';
import { BASE_CAPS, CAP, cmd, columnDef, err, lstr, ok, packet, prepareOk, resultSet, u16, u32 } from './my-wire.js';

const CLIENT_COMPRESS = 0x20;

/**
 * One compressed frame around `inner`: deflated when asked and when that makes
 * it shorter (as MySQL's compress_packet does), else raw (uncompressed length 0).
 */
function frame(seq: number, inner: Buffer, deflate = true): Buffer {
  const z = deflate ? deflateSync(inner) : undefined;
  const body = z && z.length < inner.length ? z : inner;
  const h = Buffer.alloc(7);
  h.writeUIntLE(body.length, 0, 3);
  h[3] = seq;
  h.writeUIntLE(body === inner ? 0 : inner.length, 4, 3);
  return Buffer.concat([h, body]);
}




describe('mysql: sequence ids under the compressed protocol and after loss', () => {
  const caps = BASE_CAPS | CAP.DEPRECATE_EOF | CLIENT_COMPRESS;
  const rs = (rows: number, seq = 1) => resultSet(seq, [{ name: 'n' }], Array.from({ length: rows }, (_, i) => [String(i)]), true).bytes;

  it('a request in two frames is answered from packet id 2, as MariaDB does: not a sequence error', () => {
    const query = cmd.query(`SELECT LENGTH('${'y'.repeat(20000)}') AS n`);
    const c = session(caps, [
      // the one COM_QUERY packet (id 0) split over frames 0 and 1
      [C, Buffer.concat([frame(0, query.subarray(0, 16384)), frame(1, query.subarray(16384))])],
      // frame 2; its packets 2, 3, 4 (column count, definition, row) and the OK (0xFE) 5
      [S, frame(2, rs(1, 2))],
      [C, frame(0, cmd.ping(), false)],
      [S, frame(1, ok(1), false)],
    ]);
    assert.deepEqual(c.records.map((r) => attrs(r).mysql.command), ['handshake', 'COM_QUERY', 'COM_PING']);
    assert.deepEqual(attrs(c.records[1]).db.response.rows, [{ n: '0' }]);
    assert.equal(c.counts.get('mysql.sequence_error'), undefined);
  });

  it('a frame out of sequence is a sequence error', () => {
    const reply = rs(3);
    const c = session(caps, [
      [C, frame(0, cmd.query('SELECT n FROM t'))],
      // frames 1 and then 3: frame 2 never came (or this is not what it seems)
      [S, Buffer.concat([frame(1, reply.subarray(0, 20), false), frame(3, reply.subarray(20), false)])],
    ]);
    assert.equal(attrs(c.records[1]).db.response.returned_rows, 3);
    assert.equal(c.counts.get('mysql.sequence_error'), 1);
  });

  /** Offset of the first packet boundary at or after `at` (a frame split there starts with a whole packet). */
  const boundary = (b: Buffer, at: number) => {
    let off = 0;
    while (off < at) off += 4 + b.readUIntLE(off, 3);
    return off;
  };
  for (const deflate of [true, false]) {
    const kind = deflate ? 'deflated' : 'raw';
    const reply = rs(40);
    const after: Step[] = [
      [C, frame(0, cmd.ping(), false)],
      [S, frame(1, ok(1), false)],
      [C, frame(0, cmd.query('SELECT 1'))],
      [S, frame(1, rs(1))],
    ];
    it(`${kind} frames: a gap inside a frame loses that frame only; the next frame is read from its header on`, () => {
      const cut = boundary(reply, 300);
      const f1 = frame(1, reply.subarray(0, cut), deflate);
      const f2 = frame(2, reply.subarray(cut), deflate);
      const c = session(caps, [[C, frame(0, cmd.query('SELECT n FROM t'))], [S, f1.subarray(0, 12)], ['gap', S, 5], [S, Buffer.concat([f1.subarray(17), f2])], ...after]);
      assert.deepEqual(c.records.map((r) => [attrs(r).mysql.command, r.flags ?? []]), [['handshake', []], ['COM_QUERY', ['gap']], ['COM_PING', []], ['COM_QUERY', []]]);
      assert.deepEqual(attrs(c.records[3]).db.response.rows, [{ n: '0' }]);
      assert.equal(c.counts.get('mysql.sequence_error'), undefined);
      assert.equal(c.counts.get('mysql.resync_skipped_bytes'), undefined, 'frame and packet boundaries were known: nothing was searched for');
    });
    it(`${kind} frames: a gap across a frame header is resynchronised on the next header`, () => {
      const a = boundary(reply, 150);
      const b = boundary(reply, 300);
      const f1 = frame(1, reply.subarray(0, a), deflate);
      const f2 = frame(2, reply.subarray(a, b), deflate);
      const f3 = frame(3, reply.subarray(b), deflate);
      // lost: f1's last 3 bytes, f2's header and 5 bytes of its body
      const c = session(caps, [[C, frame(0, cmd.query('SELECT n FROM t'))], [S, f1.subarray(0, f1.length - 3)], ['gap', S, 15], [S, Buffer.concat([f2.subarray(12), f3])], ...after]);
      assert.deepEqual(c.records.map((r) => [attrs(r).mysql.command, r.flags ?? []]), [['handshake', []], ['COM_QUERY', ['gap']], ['COM_PING', []], ['COM_QUERY', []]]);
      assert.deepEqual(attrs(c.records[3]).db.response.rows, [{ n: '0' }]);
      assert.equal(c.counts.get('mysql.sequence_error'), undefined);
      assert.equal(c.counts.get('mysql.resync_skipped_bytes'), f2.length - 12, "the rest of f2's body was searched through and skipped");
    });
  }

  describe('lost bytes counted under compression', () => {
    // frames longer than maxBody + maxHeaderBytes = 256 are skipped and their bytes counted as mysql.gap_bytes
    const small = { maxBody: 200, maxHeaderBytes: 56 };
    /** Rows of distinct hex digits, so that even deflated the reply is longer than the limit. */
    const noisy = resultSet(1, [{ name: 'h' }], Array.from({ length: 40 }, (_, i) => [(BigInt(i + 1) * 0x9e3779b97f4a7c15n).toString(16)]), true).bytes;
    const after: Step[] = [
      [C, frame(0, cmd.ping(), false)],
      [S, frame(1, ok(1), false)],
    ];
    for (const deflate of [false, true]) {
      const kind = deflate ? 'deflated' : 'raw';
      const big = frame(1, noisy, deflate);
      const body = big.length - 7;
      // what a skipped frame counts: its uncompressed length (raw frames: the body)
      const whole = deflate ? noisy.length : body;
      const start: Step[] = [[C, frame(0, cmd.query('SELECT h FROM t'))], [S, big.subarray(0, 7 + 100)]];
      it(`${kind} oversized frame: as many lost bytes counted with or without a gap inside it`, () => {
        assert.ok(body > 256 && (big.readUIntLE(4, 3) !== 0) === deflate, 'the frame is oversized, and raw or deflated as named');
        const clean = session(caps, [...start, [S, big.subarray(107)], ...after], false, small);
        assert.equal(clean.counts.get('mysql.gap_bytes'), whole);
        // gaps of 20 and 30 bytes inside its body: the rest of the frame is still lost, and counted
        const gapped = session(caps, [...start, ['gap', S, 20], [S, big.subarray(127, 150)], ['gap', S, 30], [S, big.subarray(180)], ...after], false, small);
        assert.equal(gapped.counts.get('mysql.gap_bytes'), whole);
        // a gap ending where the frame ends
        const toEnd = session(caps, [...start, ['gap', S, big.length - 107], ...after], false, small);
        assert.equal(toEnd.counts.get('mysql.gap_bytes'), whole);
        // a gap running past the frame's end through the next frame (the OK of a ping): that frame's bytes too
        const okFrame = frame(1, ok(1), false);
        const past = session(caps, [...start, [C, frame(0, cmd.ping(), false)], ['gap', S, big.length - 107 + okFrame.length], ...after], false, small);
        assert.equal(past.counts.get('mysql.gap_bytes'), whole + okFrame.length);
        for (const c of [clean, gapped, toEnd, past]) {
          assert.equal(attrs(c.records.at(-1)!).mysql.command, 'COM_PING');
          assert.equal(c.counts.get('mysql.resync_skipped_bytes'), undefined, 'boundaries known: nothing searched for');
        }
      });
    }

    it('bytes held while resynchronising and dropped at the next gap count as skipped', () => {
      // long repeated values: each frame deflates shorter
      const reply = resultSet(1, [{ name: 'n' }], Array.from({ length: 40 }, () => ['x'.repeat(40)]), true).bytes;
      const a = boundary(reply, 150);
      const b = boundary(reply, 600);
      const f1 = frame(1, reply.subarray(0, a));
      const f2 = frame(2, reply.subarray(a, b));
      const f3 = frame(3, reply.subarray(b));
      assert.ok(f3.readUIntLE(4, 3) !== 0 && f3.length > 40, 'f3 is deflated');
      const c = session(caps, [
        [C, frame(0, cmd.query('SELECT n FROM t'))],
        [S, f1],
        // f2's header cut by a gap: frame boundaries unknown from here
        [S, f2.subarray(0, 5)],
        ['gap', S, f2.length - 5],
        // f3's start is a believable deflated header whose end has not come: its 20 + 10 bytes are held
        [S, f3.subarray(0, 20)],
        [S, f3.subarray(20, 30)],
        // and are dropped by the next gap
        ['gap', S, f3.length - 30],
        ...after,
      ]);
      assert.equal(c.counts.get('mysql.gap_bytes'), f2.length - 5 + f3.length - 30);
      assert.equal(c.counts.get('mysql.resync_skipped_bytes'), 30);
      assert.deepEqual(c.records.map((r) => attrs(r).mysql.command), ['handshake', 'COM_QUERY', 'COM_PING']);
    });
  });

  it('uncompressed: bytes held while resynchronising are not joined to what follows the next gap', () => {
    const reply = rs(6);
    // after the first gap: zeros, then 0b 00 00 00 (a header of length 11, its payload not come), which the scan holds
    const held = Buffer.from([0, 0, 0, 0, 0, 0x0b, 0, 0, 0]);
    const c = session(BASE_CAPS | CAP.DEPRECATE_EOF, [[C, cmd.query('SELECT n FROM t')], [S, reply.subarray(0, 40)], ['gap', S, 16], [S, held], ['gap', S, 7], [S, ok(1, 3)]]);
    // joined across the gap, that header took the 11-byte OK for its payload, and the OK was not read
    assert.equal(attrs(c.records[1]).mysql.affected_rows, 3);
    // skipped: the first byte of row 0's header (the reply was cut at 40: packets of 5, 34, then row 0 at 39), and the held chunk
    assert.equal(c.counts.get('mysql.resync_skipped_bytes'), 1 + held.length);
  });

  it('uncompressed: the packet after a gap in a result set is not a sequence error', () => {
    const reply = rs(6);
    // cut inside row 2; bytes up to the middle of row 4 are lost
    const c = session(BASE_CAPS | CAP.DEPRECATE_EOF, [[C, cmd.query('SELECT n FROM t')], [S, reply.subarray(0, 40)], ['gap', S, 16], [S, reply.subarray(56)], [C, cmd.ping()], [S, ok(1)]]);
    assert.deepEqual(c.records.map((r) => attrs(r).mysql.command), ['handshake', 'COM_QUERY', 'COM_PING']);
    assert.equal(c.counts.get('mysql.sequence_error'), undefined);
  });

  describe('uncompressed: after a gap in a reply, each command keeps its own reply', () => {
    const rows = (n: number) => Array.from({ length: n }, (_, i) => [`v${i}`]);
    /** Offset of packet `i` of a reply. */
    const at = (b: Buffer, i: number) => {
      let off = 0;
      for (let k = 0; k < i; k++) off += 4 + b.readUIntLE(off, 3);
      return off;
    };
    /** The whole packets in the first `cut` bytes of `reply`: how many, and their bytes. */
    const wholeBefore = (reply: Buffer, cut: number) => {
      let off = 0;
      let n = 0;
      while (off + 4 <= cut && off + 4 + reply.readUIntLE(off, 3) <= cut) {
        off += 4 + reply.readUIntLE(off, 3);
        n++;
      }
      return { packets: n, bytes: off };
    };
    const commands = (c: ReturnType<typeof session>) =>
      c.records.slice(1).map((r) => [attrs(r).mysql.command, r.kind, attrs(r).db?.response?.returned_rows, r.flags ?? []]);
    /** Rows read before a gap at `cut`: the whole packets before it, less the `head` packets before the rows. */
    const rowsBefore = (reply: Buffer, cut: number, head: number) => Math.max(0, wholeBefore(reply, cut).packets - head);
    for (const deprecateEof of [true, false]) {
      const caps = BASE_CAPS | (deprecateEof ? CAP.DEPRECATE_EOF : 0);
      const style = deprecateEof ? 'OK-terminated' : 'EOF-terminated';
      it(`${style}: the rest of the reply lost, the next reply is the next command's, not the cut one's`, () => {
        const r1 = resultSet(1, [{ name: 'n' }], rows(6), deprecateEof).bytes;
        const r2 = resultSet(1, [{ name: 'm' }], rows(3), deprecateEof).bytes;
        const c = session(caps, [
          [C, cmd.query('SELECT n FROM t')],
          [S, r1.subarray(0, 40)],
          ['gap', S, r1.length - 40],
          [C, cmd.query('SELECT m FROM u')],
          [S, r2],
          [C, cmd.ping()],
          [S, ok(1)],
        ]);
        // before: the cut query took r2's first packet as its end, and the second query read r2
        // from its column definition on
        // the cut query's rows: those read before the gap
        assert.deepEqual(commands(c), [
          ['COM_QUERY', 'exchange', rowsBefore(r1, 40, deprecateEof ? 2 : 3), ['gap']],
          ['COM_QUERY', 'exchange', 3, []],
          ['COM_PING', 'exchange', undefined, []],
        ]);
        assert.deepEqual(attrs(c.records[2]).db.response.rows, [{ m: 'v0' }, { m: 'v1' }, { m: 'v2' }]);
        // the cut query has the bytes of the whole packets that were seen
        assert.equal(c.records[1].responseBytes, wholeBefore(r1, 40).bytes);
        assert.equal(c.counts.get('mysql.sequence_error'), undefined);
      });
      it(`${style}: packets after the gap are the rest of the cut reply, whatever they look like`, () => {
        const r1 = resultSet(1, [{ name: 'n' }], rows(8), deprecateEof).bytes;
        // rows 1 to 3 lost, the framer picks up at row 4; the rest (rows, terminator) follows
        const head = deprecateEof ? 2 : 3;
        const rowAt = (i: number) => at(r1, head + i);
        const c = session(caps, [
          [C, cmd.query('SELECT n FROM t')],
          [S, r1.subarray(0, rowAt(1))],
          ['gap', S, rowAt(4) - rowAt(1)],
          [S, r1.subarray(rowAt(4))],
          [C, cmd.query('SELECT 1')],
          [S, resultSet(1, [{ name: '1' }], [['1']], deprecateEof).bytes],
        ]);
        assert.deepEqual(commands(c), [
          ['COM_QUERY', 'exchange', 1, ['gap']],
          ['COM_QUERY', 'exchange', 1, []],
        ]);
        // every byte of the cut reply that arrived is its own
        assert.equal(c.records[1].responseBytes, r1.length - (rowAt(4) - rowAt(1)));
        // before: the first row after the gap ended the query, and the rest of its reply was unmatched
        assert.equal(c.counts.get('mysql.unmatched_response'), undefined);
      });
    }
    for (const deprecateEof of [true, false]) {
      const caps = BASE_CAPS | (deprecateEof ? CAP.DEPRECATE_EOF : 0);
      const style = deprecateEof ? 'OK-terminated' : 'EOF-terminated';
      it(`${style}: a cut reply of more than 256 packets (its ids wrap from 0 to 1) stays its own`, () => {
        const r1 = resultSet(1, [{ name: 'n' }], rows(300), deprecateEof).bytes;
        const lost = at(r1, 8) - at(r1, 5);
        const c = session(caps, [
          [C, cmd.query('SELECT n FROM big')],
          [S, r1.subarray(0, at(r1, 5))],
          ['gap', S, lost],
          [S, r1.subarray(at(r1, 8))],
          [C, cmd.query('SELECT 1')],
          [S, resultSet(1, [{ name: '1' }], [['1']], deprecateEof).bytes],
        ]);
        assert.equal(c.counts.get('mysql.unmatched_response'), undefined);
        assert.equal(c.records[1].responseBytes, r1.length - lost);
        assert.deepEqual(commands(c)[1], ['COM_QUERY', 'exchange', 1, []]);
      });
      it(`${style}: pipelined, the wrapped id 1 inside the cut reply does not start the next command's reply`, () => {
        const r1 = resultSet(1, [{ name: 'n' }], rows(300), deprecateEof).bytes;
        const r2 = resultSet(1, [{ name: 'm' }], rows(2), deprecateEof).bytes;
        const c = session(caps, [
          [C, cmd.query('SELECT n FROM big')],
          [C, cmd.query('SELECT m FROM small')],
          [S, r1.subarray(0, at(r1, 5))],
          ['gap', S, at(r1, 8) - at(r1, 5)],
          [S, r1.subarray(at(r1, 8))],
          [S, r2],
        ]);
        // before: the second query took the rest of the first's rows (41 rows, flagged truncated)
        assert.deepEqual(commands(c)[1], ['COM_QUERY', 'exchange', 2, ['gap']]);
      });
    }
    it('a cut reply whose rest arrived, ended by the connection, is an exchange (EOF style: no terminator is trusted)', () => {
      const r1 = resultSet(1, [{ name: 'n' }], rows(6), false).bytes;
      const lost = at(r1, 6) - at(r1, 4);
      const c = session(BASE_CAPS, [[C, cmd.query('SELECT n FROM t')], [S, r1.subarray(0, at(r1, 4))], ['gap', S, lost], [S, r1.subarray(at(r1, 6))]]);
      assert.deepEqual(commands(c), [['COM_QUERY', 'exchange', rowsBefore(r1, at(r1, 4), 3), ['closed', 'gap']]]);
      assert.equal(c.records[1].responseBytes, r1.length - lost);
    });
    it('a one-at-a-time client: the reply after the gap is the newest command\'s; those before it were answered in the lost bytes', () => {
      const r1 = resultSet(1, [{ name: 'n' }], rows(6), true).bytes;
      const c = session(BASE_CAPS | CAP.DEPRECATE_EOF, [
        [C, cmd.query('SELECT n FROM t')],
        [S, r1.subarray(0, at(r1, 3))],
        // the rest of r1 and the whole reply to 'SELECT b' are lost
        [C, cmd.query('SELECT b')],
        [C, cmd.query('SELECT c')],
        ['gap', S, r1.length - at(r1, 3) + 40],
        [S, resultSet(1, [{ name: 'c' }], [['c0']], true).bytes],
        [C, cmd.query('SELECT d')],
        [S, resultSet(1, [{ name: 'd' }], [['d0'], ['d1']], true).bytes],
      ]);
      const byText = (t: string) => c.records.find((r) => attrs(r).db?.query?.text === t)!;
      assert.deepEqual([byText('SELECT n FROM t').kind, byText('SELECT b').kind], ['exchange', 'unanswered']);
      assert.deepEqual(byText('SELECT b').flags, ['gap']);
      // before: 'SELECT c' got b's place in line and d's rows, for as long as the connection lasted
      assert.deepEqual(attrs(byText('SELECT c')).db.response.rows, [{ c: 'c0' }]);
      assert.deepEqual(attrs(byText('SELECT d')).db.response.rows, [{ d: 'd0' }, { d: 'd1' }]);
    });
    it('an ERR after the gap ends the cut command', () => {
      const r1 = resultSet(1, [{ name: 'n' }], rows(4), true).bytes;
      const c = session(BASE_CAPS | CAP.DEPRECATE_EOF, [
        [C, cmd.query('SELECT n FROM t')],
        [S, r1.subarray(0, 30)],
        ['gap', S, 25],
        [S, err(7, 1317, '70100', 'Query execution was interrupted')],
        [C, cmd.ping()],
        [S, ok(1)],
      ]);
      assert.deepEqual(commands(c), [
        ['COM_QUERY', 'exchange', rowsBefore(r1, 30, 2), ['gap']],
        ['COM_PING', 'exchange', undefined, []],
      ]);
      assert.equal(attrs(c.records[1]).error.type, '1317');
    });
    it('an OK that says more result sets follow does not end the cut command', () => {
      const MORE_RESULTS = 0x0008;
      const first = resultSet(1, [{ name: 'a' }], rows(3), true, 2 | MORE_RESULTS);
      const second = resultSet(first.nextSeq, [{ name: 'b' }], rows(2), true).bytes;
      const r1 = Buffer.concat([first.bytes, second]);
      // lost: the first result set's second row, so its OK (more results follow) arrives after the gap
      const from = wholeBefore(r1, 30).bytes, to = boundary(r1, from + 1);
      assert.ok(to < first.bytes.length - 4);
      const c = session(BASE_CAPS | CAP.DEPRECATE_EOF, [
        [C, cmd.query('CALL p()')],
        [S, r1.subarray(0, from)],
        ['gap', S, to - from],
        [S, r1.subarray(to)],
        [C, cmd.ping()],
        [S, ok(1)],
      ]);
      assert.deepEqual(commands(c), [
        ['COM_QUERY', 'exchange', rowsBefore(r1, 30, 2), ['gap']],
        ['COM_PING', 'exchange', undefined, []],
      ]);
      assert.equal(c.records[1].responseBytes, r1.length - (to - from));
    });
  });
  describe('a COM_STMT_SEND_LONG_DATA lost with client bytes', () => {
    const caps = BASE_CAPS | CAP.DEPRECATE_EOF;
    const prepare: Step[] = [
      [C, cmd.prepare('INSERT INTO docs (body, author) VALUES (?, ?)')],
      [S, Buffer.concat([prepareOk(1, 9, 0, 2), columnDef(2, { name: '?' }), columnDef(3, { name: '?' })])],
    ];
    const longData = packet(0, Buffer.from([0x18]), u32(9), u16(0), Buffer.from('a long text'));
    // the body went as long data, so the execute carries only the author's value
    const execute = cmd.execute(9, [[0xfc, false, Buffer.alloc(0)], [0xfd, false, lstr('ann')]]);
    const executes = (c: ReturnType<typeof session>) => c.records.filter((r) => attrs(r).mysql.command === 'COM_STMT_EXECUTE');
    it('seen, it is the value of its parameter (the baseline)', () => {
      const [e] = executes(session(caps, [...prepare, [C, longData], [C, execute], [S, ok(1, 1)]]));
      assert.deepEqual(attrs(e).db.query.parameter, { '0': 'a long text', '1': 'ann' });
      assert.deepEqual(e.flags ?? [], []);
    });
    it('lost, the values that no longer fit the execute are not shown, and the execute is flagged', () => {
      const c = session(caps, [...prepare, ['gap', C, longData.length], [C, execute], [S, ok(1, 1)]]);
      const [e] = executes(c);
      // before: the body was shown as 'ann' and the author as '', flagged truncated
      assert.equal(attrs(e).db.query.parameter, undefined);
      assert.deepEqual(e.flags, ['gap', 'undecodable']);
      assert.equal(c.counts.get('mysql.undecodable_parameters'), 1);
      // the next execute of the statement, with nothing lost before it, is read as usual
      const again = session(caps, [...prepare, ['gap', C, longData.length], [C, execute], [S, ok(1, 1)], [C, longData], [C, execute], [S, ok(1, 1)]]);
      const [, e2] = executes(again);
      assert.deepEqual(attrs(e2).db.query.parameter, { '0': 'a long text', '1': 'ann' });
      assert.deepEqual(e2.flags ?? [], []);
    });
    it('a statement whose values still fit keeps them, flagged gap', () => {
      const full = cmd.execute(9, [[0xfd, false, lstr('body')], [0xfd, false, lstr('ann')]]);
      const [e] = executes(session(caps, [...prepare, ['gap', C, 30], [C, full], [S, ok(1, 1)]]));
      assert.deepEqual(attrs(e).db.query.parameter, { '0': 'body', '1': 'ann' });
      assert.deepEqual(e.flags, ['gap']);
    });
    it('leftover bytes after the values tell too: shifted values that still fit are not shown', () => {
      const prepare3: Step[] = [
        [C, cmd.prepare('INSERT INTO docs (body, version, hash) VALUES (?, ?, ?)')],
        [S, Buffer.concat([prepareOk(1, 9, 0, 3), columnDef(2, { name: '?' }), columnDef(3, { name: '?' }), columnDef(4, { name: '?' })])],
      ];
      // read one place early, the INT takes the hash's length byte and three of its bytes, the hash takes 5 of what is left
      const hash = Buffer.from([0x05, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
      const execute3 = cmd.execute(9, [[0xfc, false, Buffer.alloc(0)], [0x03, false, u32(0)], [0xfc, false, lstr(hash)]]);
      const seen = executes(session(caps, [...prepare3, [C, longData], [C, execute3], [S, ok(1, 1)]]));
      assert.equal(attrs(seen[0]).db.query.parameter['1'], 0);
      const [e] = executes(session(caps, [...prepare3, ['gap', C, longData.length], [C, execute3], [S, ok(1, 1)]]));
      assert.equal(attrs(e).db.query.parameter, undefined);
      assert.deepEqual(e.flags, ['gap', 'undecodable']);
    });
    it('COM_STMT_RESET discards the long data sent before it: the next execute carries every value', () => {
      const [e] = executes(
        session(caps, [
          ...prepare,
          [C, longData],
          [C, packet(0, Buffer.from([0x1a]), u32(9))],
          [S, ok(1)],
          [C, cmd.execute(9, [[0xfd, false, lstr('body')], [0xfd, false, lstr('ann')]])],
          [S, ok(1, 1)],
        ]),
      );
      // before: the body was the discarded long data, and the author the body
      assert.deepEqual(attrs(e).db.query.parameter, { '0': 'body', '1': 'ann' });
    });
  });
});
