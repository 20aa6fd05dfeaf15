import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatIPv4, formatIPv6 } from '@panopticon/decode';

function words(...w: number[]): Buffer {
  const b = Buffer.alloc(16);
  w.forEach((x, i) => b.writeUInt16BE(x, i * 2));
  return b;
}

test('IPv4 dotted quad', () => {
  assert.equal(formatIPv4(Buffer.from([0, 10, 255, 1]), 0), '0.10.255.1');
  assert.equal(formatIPv4(Buffer.from([9, 192, 168, 0, 1]), 1), '192.168.0.1');
});

// Expected texts are the examples of RFC 5952 section 4 and glibc's
// inet_ntop rules for embedded IPv4 (what tshark prints).
test('IPv6 text follows RFC 5952', () => {
  const cases: Array<[Buffer, string]> = [
    [words(0x2001, 0xdb8, 0, 0, 0, 0, 2, 1), '2001:db8::2:1'], // 4.2.1 longest run compressed
    [words(0x2001, 0xdb8, 0, 1, 1, 1, 1, 1), '2001:db8:0:1:1:1:1:1'], // 4.2.2 a single zero word stays
    [words(0x2001, 0, 0, 1, 0, 0, 0, 1), '2001:0:0:1::1'], // 4.2.3 longest run wins
    [words(0x2001, 0xdb8, 0, 0, 1, 0, 0, 1), '2001:db8::1:0:0:1'], // 4.2.3 first run on a tie
    [words(0x2001, 0xdb8, 0xabcd, 0x12, 0, 0, 0, 0x1), '2001:db8:abcd:12::1'], // 4.3 lower case
    [words(0, 0, 0, 0, 0, 0, 0, 0), '::'],
    [words(0, 0, 0, 0, 0, 0, 0, 1), '::1'],
    [words(1, 0, 0, 0, 0, 0, 0, 0), '1::'],
    [words(0xfe80, 0, 0, 0, 0x0200, 0x5eff, 0xfe00, 0x5301), 'fe80::200:5eff:fe00:5301'],
    [words(0, 0, 0, 0, 0, 0xffff, 0xc000, 0x0201), '::ffff:192.0.2.1'], // 5: IPv4-mapped
    [words(0, 0, 0, 0, 0, 0, 0x0102, 0x0304), '::1.2.3.4'], // IPv4-compatible
    [words(0, 0, 0, 0, 0, 0, 0, 0xffff), '::ffff'],
    [words(0, 0, 0, 0, 0, 0, 0, 0x0100), '::100'], // seven zero words: not IPv4-compatible
    [words(0, 0, 0, 0, 0xffff, 0, 0x0102, 0x0304), '::ffff:0:102:304'], // not IPv4-mapped
    [words(0x64, 0xff9b, 0, 0, 0, 0, 0x0102, 0x0304), '64:ff9b::102:304'], // NAT64 prefix: no dotted tail
    [words(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), '2001:db8::'],
    [words(0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff), 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'],
  ];
  for (const [bytes, text] of cases) assert.equal(formatIPv6(bytes, 0), text);
});
