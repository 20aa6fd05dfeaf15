import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { LinkType } from '@panopticon/pcap';
import { Decoder, formatIPv4, formatIPv6 } from '@panopticon/decode';
import { packet, pcapFile } from './frames.js';
// The caches are internal to the package; tested here directly.
import { IPv4Names, IPv6Names } from '../../packages/decode/src/address.js';

const run = promisify(execFile);

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

/**
 * Oracle: tshark's `ipv6.src`/`ipv6.dst` for thousands of addresses built to
 * hit the compression rules (zero runs of every length and position, ties,
 * IPv4-mapped and -compatible forms, the NAT64 prefix).
 */
test('IPv6 text equals tshark for generated addresses', async () => {
  let seed = 7;
  const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) % n;
  const word = () => [0, 0, 0, 0, 1, 0xffff, 0xabc, rand(0x10000)][rand(8)];
  const addrs: Buffer[] = [];
  for (let i = 0; i < 3000; i++) {
    const w = Array.from({ length: 8 }, word);
    if (i % 10 === 0) w.splice(0, 6, 0, 0, 0, 0, 0, i % 20 ? 0xffff : 0);
    if (i % 17 === 0) w.splice(0, 2, 0x64, 0xff9b);
    addrs.push(words(...w));
  }
  const frames: Buffer[] = [];
  for (let i = 0; i < addrs.length; i += 2) {
    const udpHeader = Buffer.from([0, 1, 0, 2, 0, 8, 0, 0]);
    frames.push(Buffer.concat([Buffer.from([0x60, 0, 0, 0, 0, 8, 17, 64]), addrs[i], addrs[i + 1], udpHeader]));
  }
  const dir = mkdtempSync(join(tmpdir(), 'pano-decode-'));
  try {
    const file = join(dir, 'v6.pcap');
    writeFileSync(file, pcapFile(LinkType.IPV6, frames));
    const { stdout } = await run('tshark', ['-n', '-r', file, '-T', 'fields', '-e', 'ipv6.src', '-e', 'ipv6.dst']);
    const theirs = stdout.trim().split('\n').join('\t').split('\t');
    const d = new Decoder();
    const ours = frames.flatMap((f) => {
      const r = d.decode(packet(LinkType.IPV6, f));
      assert.ok(r);
      return [r.srcAddr, r.dstAddr];
    });
    assert.equal(theirs.length, addrs.length);
    assert.deepEqual(ours, theirs);
    assert.deepEqual(addrs.map((a) => formatIPv6(a, 0)), theirs);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the IPv4 and IPv6 text caches return the right text when slots collide', () => {
  const names = new IPv6Names(2); // two slots: nearly every lookup evicts or collides
  let seed = 3;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) % 4;
  const pool = Array.from({ length: 16 }, (_, i) => words(0x2001, 0xdb8, 0, 0, 0, 0, i >> 2, i & 3));
  for (let i = 0; i < 2000; i++) {
    const a = pool[rand() * 4 + rand()];
    assert.equal(names.name(a, 0), formatIPv6(a, 0));
  }
  const v4names = new IPv4Names(4); // 35 addresses in four slots
  for (let i = 0; i < 1000; i++) {
    const a = Buffer.from([10, 0, i % 7, i % 5]);
    assert.equal(v4names.name(a, 0), `10.0.${i % 7}.${i % 5}`);
  }
});
