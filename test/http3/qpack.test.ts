// QPACK (RFC 9204) decoding against the worked examples of its Appendix B, byte for byte: a literal
// with a static name reference, encoder-stream insertions read back through post-base indices, a
// literal name, a duplicate, an eviction; Huffman strings (HPACK's code, §4.1.2 with the H bit above
// a 3-bit prefix); Required Insert Count wrapping (§4.5.1.1); and the damage a decoder must refuse.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { QpackDecoder, QpackError, QPACK_STATIC } from '../../packages/protocols/src/http3/qpack.js';
import { huffmanEncode } from '../../packages/protocols/src/http2/huffman.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const decode = (q: QpackDecoder, s: string) => {
  const b = hex(s);
  return q.decode(b, 0, b.length).headers;
};

test('the static table has RFC 9204 Appendix A\'s 99 entries where the examples and common fields need them', () => {
  assert.equal(QPACK_STATIC.length, 99);
  assert.deepEqual(QPACK_STATIC[0], [':authority', '']);
  assert.deepEqual(QPACK_STATIC[1], [':path', '/']);
  assert.deepEqual(QPACK_STATIC[17], [':method', 'GET']);
  assert.deepEqual(QPACK_STATIC[23], [':scheme', 'https']);
  assert.deepEqual(QPACK_STATIC[25], [':status', '200']);
  assert.deepEqual(QPACK_STATIC[63], [':status', '100']);
  assert.deepEqual(QPACK_STATIC[98], ['x-frame-options', 'sameorigin']);
});

test('RFC 9204 B.1: a literal field line with a static name reference, no dynamic table', () => {
  const q = new QpackDecoder();
  q.maxTableCapacity = 0;
  assert.deepEqual(decode(q, '0000 510b 2f69 6e64 6578 2e68 746d 6c'), [[':path', '/index.html']]);
});

test('RFC 9204 B.2-B.5: encoder stream insertions, post-base and relative indices, a literal name, a duplicate, an eviction', () => {
  const q = new QpackDecoder();
  q.maxTableCapacity = 220;
  // B.2: capacity 220, two insertions by static name reference
  q.encoderStream(hex('3fbd01 c00f 7777 772e 6578 616d 706c 652e 636f 6d c10c 2f73 616d 706c 652f 7061 7468'));
  assert.equal(q.insertCount, 2);
  assert.deepEqual(decode(q, '0381 10 11'), [[':authority', 'www.example.com'], [':path', '/sample/path']]);
  // B.3: an insertion with a literal name
  q.encoderStream(hex('4a63 7573 746f 6d2d 6b65 790c 6375 7374 6f6d 2d76 616c 7565'));
  // B.4: a duplicate of entry 0; a section with Base 4 using relative dynamic and static indices
  q.encoderStream(hex('02'));
  assert.equal(q.insertCount, 4);
  assert.deepEqual(decode(q, '0500 80 c1 81'), [[':authority', 'www.example.com'], [':path', '/'], ['custom-key', 'custom-value']]);
  // B.5: an insertion by dynamic name reference that evicts entry 0 (57 + 49 + 54 + 57 + 55 > 220)
  q.encoderStream(hex('810d 6375 7374 6f6d 2d76 616c 7565 32'));
  assert.equal(q.insertCount, 5);
  // entry 4 is custom-key=custom-value2; entry 0 was evicted
  assert.deepEqual(decode(q, '0600 80'), [['custom-key', 'custom-value2']]);
  assert.throws(() => decode(q, '0600 84'), /evicted/); // Base 5, relative 4: entry 0
});

test('instructions and field lines cut anywhere on the encoder stream join; Huffman literals decode', () => {
  const q = new QpackDecoder();
  q.maxTableCapacity = 4096;
  const name = huffmanEncode('x-request-id');
  const value = huffmanEncode('a1b2c3d4');
  // Set capacity 4096 (001 + 5-bit prefix: 31, then 4065 in 7-bit groups), Insert With Literal Name, H bits set
  const stream = Buffer.concat([hex('3f e1 1f'), Buffer.from([0x60 | name.length]), name, Buffer.from([0x80 | value.length]), value]);
  for (let i = 0; i < stream.length; i++) q.encoderStream(stream.subarray(i, i + 1));
  assert.equal(q.insertCount, 1);
  // Required Insert Count 1 (encoded 2), Base 1; Indexed dynamic relative 0; a literal with a literal Huffman name (001 N H len(3))
  const lit = huffmanEncode('via');
  const section = Buffer.concat([hex('0200 80'), Buffer.from([0x28 | lit.length]), lit, Buffer.from([0x03]), Buffer.from('pxy')]);
  assert.deepEqual(q.decode(section, 0, section.length).headers, [['x-request-id', 'a1b2c3d4'], ['via', 'pxy']]);
});

test('Required Insert Count wraps modulo 2 × MaxEntries (§4.5.1.1)', () => {
  const q = new QpackDecoder();
  q.maxTableCapacity = 64; // MaxEntries 2, FullRange 4
  q.encoderStream(hex('3f 21')); // capacity 64
  for (let i = 0; i < 5; i++) q.encoderStream(Buffer.concat([hex('c0'), Buffer.from([1]), Buffer.from(String(i))])); // :authority=i, 43 bytes each: one kept
  assert.equal(q.insertCount, 5);
  // RIC 5 encodes as 5 mod 4 + 1 = 2; Base 5 (delta 0); the newest entry, relative 0
  assert.deepEqual(decode(q, '0200 80'), [[':authority', '4']]);
});

test('damage is refused with a QpackError: an index past the static table, a reference past the inserts, a capacity past the bound, a string past its end', () => {
  const q = new QpackDecoder();
  q.maxTableCapacity = 220;
  assert.throws(() => decode(q, '0000 ff 28'), QpackError); // static index 63 + 40 = 103
  assert.throws(() => decode(q, '0381 10'), QpackError); // Required Insert Count 2 with none inserted
  assert.throws(() => q.encoderStream(hex('3f e1 ff 7f')), /capacity/);
  assert.throws(() => decode(q, '0000 5f0f 2f'), QpackError);
});
