// One side of a QUIC stream put back in order (OrderedStream): pieces in any order, overlapping
// retransmissions, and a shorter piece held first at the offset of a longer one (an empty STREAM
// frame, a retransmission cut elsewhere), which once hid the longer one's bytes for good.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OrderedStream } from '../../packages/protocols/src/quic/stream-order.js';

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
