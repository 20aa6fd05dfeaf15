// One side of a QUIC stream put back in order (OrderedStream): pieces in any order, overlapping
// retransmissions, and a shorter piece held first at the offset of a longer one (an empty STREAM
// frame, a retransmission cut elsewhere), which once hid the longer one's bytes for good.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_CONNECTION_AHEAD, OrderedStream, type AheadBudget } from '../../packages/protocols/src/quic/stream-order.js';

function read(pieces: Array<[offset: number, text: string, fin?: boolean]>): { text: string; ended: boolean; overflowed: boolean } {
  const s = new OrderedStream();
  let text = '';
  let overflowed = false;
  for (const [offset, t, fin] of pieces) s.join(offset, Buffer.from(t), fin === true, (b) => (text += b.toString()), () => (overflowed = true));
  return { text, ended: s.ended, overflowed };
}

test('pieces in any order and overlapping are handed on in order, each byte once; the side ends at its FIN once every byte before it came', () => {
  assert.deepEqual(read([[6, 'world', true], [0, 'hello '], [3, 'lo wo']]), { text: 'hello world', ended: true, overflowed: false });
  assert.deepEqual(read([[0, 'ab'], [4, 'ef', true]]), { text: 'ab', ended: false, overflowed: false });
});

test('a shorter piece held first at an offset does not hide a longer one there: an empty frame, a piece cut shorter', () => {
  assert.deepEqual(read([[0, 'abc'], [5, ''], [5, 'fgh', true], [3, 'de']]), { text: 'abcdefgh', ended: true, overflowed: false });
  assert.deepEqual(read([[4, 'e'], [4, 'efgh', true], [0, 'abcd']]), { text: 'abcdefgh', ended: true, overflowed: false });
  assert.deepEqual(read([[4, 'efgh', true], [4, 'e'], [0, 'abcd']]), { text: 'abcdefgh', ended: true, overflowed: false });
});

test('more than 256 KiB held ahead of a hole: the side is given up, once', () => {
  const s = new OrderedStream();
  let overflows = 0;
  let text = '';
  for (let i = 1; i <= 300; i++) s.join(i * 1024, Buffer.alloc(1024, 0x61), false, (b) => (text += b), () => overflows++);
  assert.equal(overflows, 1);
  assert.equal(s.lost, true);
  s.join(0, Buffer.alloc(1024, 0x62), false, (b) => (text += b), () => overflows++);
  assert.equal(text, '', 'nothing after it is read');
});

test('the streams of one connection hold at most 16 MiB ahead of holes together: the side that would pass it is given up and lets go of what it held; bytes handed on or dropped go back to the budget', () => {
  const budget: AheadBudget = { held: 0 };
  const sides: OrderedStream[] = [];
  let overflows = 0;
  const piece = Buffer.alloc(200 * 1024, 0x61);
  // each side holds 200 KiB after a 1-byte hole, under its own 256 KiB bound
  for (let i = 0; budget.held + piece.length <= MAX_CONNECTION_AHEAD; i++) {
    const s = new OrderedStream(budget);
    s.join(1, piece, false, () => {}, () => overflows++);
    sides.push(s);
  }
  assert.equal(overflows, 0);
  assert.equal(budget.held, sides.length * piece.length);
  const last = new OrderedStream(budget);
  last.join(1, piece, false, () => {}, () => overflows++);
  assert.deepEqual([overflows, last.lost, last.aheadBytes], [1, true, 0]);
  assert.equal(budget.held, sides.length * piece.length, 'the refused piece is not counted');
  // the hole filled: the bytes go on and leave the budget; a stream that ends lets go of the rest
  let got = 0;
  sides[0]!.join(0, Buffer.from('x'), false, (b) => (got += b.length), () => overflows++);
  assert.equal(got, 1 + piece.length);
  sides[1]!.drop();
  assert.equal(budget.held, (sides.length - 2) * piece.length);
  const again = new OrderedStream(budget);
  again.join(1, piece, false, () => {}, () => overflows++);
  assert.deepEqual([overflows, again.lost], [1, false], 'room again');
});

