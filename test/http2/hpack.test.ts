// HPACK against the RFC 7541 Appendix C examples (typed in from the RFC),
// Huffman code properties from Appendix B, and the mid-stream rules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HpackDecoder, HpackEncoder, HpackError } from '../../packages/protocols/src/http2/hpack.js';
import { HUFFMAN_CODES, huffmanDecode, huffmanEncode } from '../../packages/protocols/src/http2/huffman.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function tableOf(d: HpackDecoder): Array<[string, string]> {
  return d.table.entries.map((e) => [e.name, e.value]);
}

test('C.2 literal header field representations', () => {
  let d = new HpackDecoder();
  assert.deepEqual(d.decode(hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572')).headers, [['custom-key', 'custom-header']]);
  assert.equal(d.table.size, 55);
  d = new HpackDecoder();
  assert.deepEqual(d.decode(hex('040c 2f73 616d 706c 652f 7061 7468')).headers, [[':path', '/sample/path']]);
  assert.equal(d.table.entries.length, 0);
  d = new HpackDecoder();
  assert.deepEqual(d.decode(hex('1008 7061 7373 776f 7264 0673 6563 7265 74')).headers, [['password', 'secret']]);
  assert.equal(d.table.entries.length, 0);
  assert.deepEqual(new HpackDecoder().decode(hex('82')).headers, [[':method', 'GET']]);
});

const requests = [
  [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com']],
  [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com'], ['cache-control', 'no-cache']],
  [[':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [':authority', 'www.example.com'], ['custom-key', 'custom-value']],
];
const requestTables = [
  { size: 57, entries: [[':authority', 'www.example.com']] },
  { size: 110, entries: [['cache-control', 'no-cache'], [':authority', 'www.example.com']] },
  { size: 164, entries: [['custom-key', 'custom-value'], ['cache-control', 'no-cache'], [':authority', 'www.example.com']] },
];

for (const [title, blocks] of [
  ['C.3 requests without Huffman', [
    '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
    '8286 84be 5808 6e6f 2d63 6163 6865',
    '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65',
  ]],
  ['C.4 requests with Huffman', [
    '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff',
    '8286 84be 5886 a8eb 1064 9cbf',
    '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf',
  ]],
] as const) {
  test(title, () => {
    const d = new HpackDecoder();
    blocks.forEach((b, i) => {
      assert.deepEqual(d.decode(hex(b)).headers, requests[i], `block ${i + 1}`);
      assert.equal(d.table.size, requestTables[i].size);
      assert.deepEqual(tableOf(d), requestTables[i].entries);
    });
  });
}

const date1 = 'Mon, 21 Oct 2013 20:13:21 GMT';
const date2 = 'Mon, 21 Oct 2013 20:13:22 GMT';
const cookie = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1';
const responses = [
  [[':status', '302'], ['cache-control', 'private'], ['date', date1], ['location', 'https://www.example.com']],
  [[':status', '307'], ['cache-control', 'private'], ['date', date1], ['location', 'https://www.example.com']],
  [[':status', '200'], ['cache-control', 'private'], ['date', date2], ['location', 'https://www.example.com'], ['content-encoding', 'gzip'], ['set-cookie', cookie]],
];
const responseTables = [
  { size: 222, entries: [['location', 'https://www.example.com'], ['date', date1], ['cache-control', 'private'], [':status', '302']] },
  { size: 222, entries: [[':status', '307'], ['location', 'https://www.example.com'], ['date', date1], ['cache-control', 'private']] },
  { size: 215, entries: [['set-cookie', cookie], ['content-encoding', 'gzip'], ['date', date2]] },
];

for (const [title, blocks] of [
  ['C.5 responses without Huffman, table size 256', [
    `4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
     2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d`,
    '4803 3330 37c1 c0bf',
    `88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
     54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
     5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31`,
  ]],
  ['C.6 responses with Huffman, table size 256', [
    `4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
     2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3`,
    '4883 640e ffc1 c0bf',
    `88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
     77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
     9587 3160 65c0 03ed 4ee5 b106 3d50 07`,
  ]],
] as const) {
  test(title, () => {
    const d = new HpackDecoder({ maxTableSize: 256 });
    d.table.resize(256);
    blocks.forEach((b, i) => {
      assert.deepEqual(d.decode(hex(b)).headers, responses[i], `block ${i + 1}`);
      assert.equal(d.table.size, responseTables[i].size);
      assert.deepEqual(tableOf(d), responseTables[i].entries);
    });
  });
}

test('Appendix B: the typed table is a complete canonical prefix code', () => {
  assert.equal(HUFFMAN_CODES.length, 257);
  // Kraft sum of a complete code is exactly 1.
  let kraft = 0;
  for (const [, len] of HUFFMAN_CODES) kraft += 2 ** -len;
  assert.equal(kraft, 1);
  // Canonical: ordered by (length, symbol), each code is the previous + 1, shifted to the new length.
  const order = HUFFMAN_CODES.map(([code, len], sym) => ({ code, len, sym })).sort((a, b) => a.len - b.len || a.sym - b.sym);
  let expected = 0;
  let prevLen = order[0].len;
  for (const e of order) {
    expected *= 2 ** (e.len - prevLen);
    prevLen = e.len;
    assert.equal(e.code, expected, `symbol ${e.sym}`);
    expected++;
  }
});

test('Huffman: every octet round-trips; padding and EOS rules (RFC 7541 §5.2)', () => {
  let all = '';
  for (let i = 0; i < 256; i++) all += String.fromCharCode(i);
  for (let i = 0; i < 256; i++) {
    const s = all.slice(i) + all.slice(0, i);
    const enc = huffmanEncode(s);
    assert.equal(huffmanDecode(enc, 0, enc.length), s);
    const one = huffmanEncode(all[i]);
    assert.equal(huffmanDecode(one, 0, one.length), all[i]);
  }
  assert.equal(huffmanDecode(Buffer.alloc(0), 0, 0), '');
  // "a" is 00011 + 111 padding = 0x1f; padding of zeros is invalid.
  assert.equal(huffmanDecode(Buffer.from([0x1f]), 0, 1), 'a');
  assert.throws(() => huffmanDecode(Buffer.from([0x18]), 0, 1), /padding/);
  // A full byte of ones is padding longer than 7 bits.
  assert.throws(() => huffmanDecode(Buffer.from([0x1f, 0xff]), 0, 2), /padding/);
  // EOS (30 ones) then padding.
  assert.throws(() => huffmanDecode(Buffer.from([0xff, 0xff, 0xff, 0xff]), 0, 4), /EOS/);
});

test('size updates are bounded by SETTINGS_HEADER_TABLE_SIZE and only lead a block', () => {
  const d = new HpackDecoder({ maxTableSize: 4096 });
  // 0x3f 0xe2 0x1f encodes 31 + 0x62 + 0x1f * 128 = 4097, one more than allowed
  assert.throws(() => d.decode(hex('3fe21f')), HpackError);
  d.decode(hex('3fe11f')); // 4096
  d.decode(hex('20'));
  assert.equal(d.table.maxSize, 0);
  assert.throws(() => d.decode(hex('82 20')), /after a header field/);
});

test('mid-stream: unseen dynamic entries are missing, never guessed; recovery as the table refills', () => {
  const enc = new HpackEncoder();
  const b1 = enc.encode([[':method', 'GET'], [':path', '/a'], ['x-secret', 'one']]);
  const b2 = enc.encode([[':method', 'GET'], [':path', '/b'], ['x-secret', 'one']]);
  // The observer missed b1.
  const d = new HpackDecoder({ known: false });
  const r2 = d.decode(b2);
  assert.deepEqual(r2.headers, [[':method', 'GET'], [':path', '/b']]);
  assert.equal(r2.missing, 1);
  // Fill the table with entries the observer sees: 4096 bytes of new headers evict everything unseen.
  const big = 'v'.repeat(1000);
  const b3 = enc.encode([['x-fill-1', big], ['x-fill-2', big], ['x-fill-3', big], ['x-fill-4', big], ['x-fill-5', big]]);
  d.decode(b3);
  assert.equal(d.table.unknownTail, false);
  const b4 = enc.encode([['x-fill-5', big], ['x-fill-4', big]]);
  assert.deepEqual(d.decode(b4), { headers: [['x-fill-5', big], ['x-fill-4', big]], missing: 0 });
  // A reference beyond a known table is damage, not a gap in knowledge.
  assert.throws(() => new HpackDecoder().decode(hex('be')), /beyond the dynamic table/);
});

test("a size update beyond the observer's bound is damage, not a reason to grow", () => {
  const d = new HpackDecoder({ known: false });
  d.setSettingsMaxSize(0xffffffff);
  // 0x3f then varint of (2^21 - 31): a 2 MiB table
  const v = (1 << 21) - 31;
  const bytes = [0x3f];
  let x = v;
  while (x >= 128) { bytes.push((x % 128) | 0x80); x = Math.floor(x / 128); }
  bytes.push(x);
  assert.throws(() => d.decode(Buffer.from(bytes)), /observer's 1048576-byte bound/);
});

test('Huffman: long strings of mixed short and long codes decode at any offset (the output buffer grows)', () => {
  let seed = 1;
  let s = '';
  for (let i = 0; i < 20000; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    // Mostly short codes (letters), with long ones (control and high octets) mixed in.
    s += seed % 7 === 0 ? String.fromCharCode((seed >>> 8) & 0xff) : String.fromCharCode(0x61 + ((seed >>> 8) % 26));
  }
  const enc = huffmanEncode(s);
  const framed = Buffer.concat([Buffer.from([1, 2, 3]), enc, Buffer.from([4])]);
  assert.equal(huffmanDecode(framed, 3, enc.length), s);
  // A short string after a long one is not polluted by what the long one left behind.
  const short = huffmanEncode('ok');
  assert.equal(huffmanDecode(short, 0, short.length), 'ok');
});
