// DNS message decoding and query/response stitching against messages built
// by hand from RFC 1035 / 3596 / 6891 / 8659 / 9460 layouts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeMessage } from '../../packages/protocols/src/dns/message.js';
import { DnsDatagramParser, DnsStreamParser } from '../../packages/protocols/src/dns/parser.js';
import { detectDnsDatagram, detectDnsStream } from '../../packages/protocols/src/dns/index.js';
import { fakeContext } from '../helpers/fake-parser-context.js';
import { Conversation, pcapng, udpFrame } from '../helpers/synth.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';
import { tsharkAvailable, tsharkFields } from '../helpers/tshark.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function name(n: string): Buffer {
  const parts = n.split('.').filter(Boolean).map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'latin1')]));
  return Buffer.concat([...parts, Buffer.from([0])]);
}
function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}
function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}
function header(id: number, flags: number, qd: number, an: number, ns = 0, ar = 0): Buffer {
  return Buffer.concat([u16(id), u16(flags), u16(qd), u16(an), u16(ns), u16(ar)]);
}
/** Resource record whose owner is a pointer to offset 12 (the question name). */
function rrAtQ(type: number, ttl: number, rdata: Buffer, cls = 1): Buffer {
  return Buffer.concat([Buffer.from([0xc0, 12]), u16(type), u16(cls), u32(ttl), u16(rdata.length), rdata]);
}

const query = Buffer.concat([header(0x1234, 0x0100, 1, 0), name('example.com'), u16(1), u16(1)]);
const response = Buffer.concat([
  header(0x1234, 0x8180, 1, 2),
  name('example.com'), u16(1), u16(1),
  rrAtQ(5, 300, Buffer.concat([Buffer.from([3]), Buffer.from('www'), Buffer.from([0xc0, 12])])),
  rrAtQ(1, 60, Buffer.from([93, 184, 216, 34])),
]);

test('query and response decode to the hand-computed fields', () => {
  const q = decodeMessage(query);
  assert.equal(q.id, 0x1234);
  assert.equal(q.response, false);
  assert.deepEqual(q.flags, ['RD']);
  assert.deepEqual(q.questions, [{ name: 'example.com', type: 'A', class: 'IN' }]);
  const r = decodeMessage(response);
  assert.equal(r.response, true);
  assert.deepEqual(r.flags, ['RD', 'RA']);
  assert.deepEqual(r.answers, [
    { name: 'example.com', type: 'CNAME', class: 'IN', ttl: 300, data: 'www.example.com' },
    { name: 'example.com', type: 'A', class: 'IN', ttl: 60, data: '93.184.216.34' },
  ]);
});

test('record types render in presentation format; unknown types stay hex', () => {
  const aaaa = Buffer.from('20010db8000000000000000000000001', 'hex');
  const mx = Buffer.concat([u16(10), Buffer.from([4]), Buffer.from('mail'), Buffer.from([0xc0, 12])]);
  const txt = Buffer.concat([Buffer.from([5]), Buffer.from('hello'), Buffer.from([3]), Buffer.from('a"b')]);
  const srv = Buffer.concat([u16(1), u16(2), u16(5060), name('sip.example.com')]);
  const soa = Buffer.concat([name('ns1.example.com'), name('admin.example.com'), u32(2024010101), u32(7200), u32(3600), u32(1209600), u32(300)]);
  const caa = Buffer.concat([Buffer.from([0, 5]), Buffer.from('issue'), Buffer.from('letsencrypt.org')]);
  // RFC 9460 Appendix D.2 style: priority 1, target ".", alpn=h2,h3, port=8443, ipv4hint=192.0.2.1
  const https = Buffer.concat([
    u16(1), Buffer.from([0]),
    u16(1), u16(6), Buffer.from([2]), Buffer.from('h2'), Buffer.from([2]), Buffer.from('h3'),
    u16(3), u16(2), u16(8443),
    u16(4), u16(4), Buffer.from([192, 0, 2, 1]),
  ]);
  const unknown = Buffer.from([0xde, 0xad, 0xbe, 0xef]);
  const opt = Buffer.concat([Buffer.from([0]), u16(41), u16(1232), Buffer.from([1, 0, 0x80, 0]), u16(8), u16(10), u16(4), Buffer.from([1, 2, 3, 4])]);
  const msg = Buffer.concat([
    header(7, 0x8400, 1, 8, 0, 1), name('example.com'), u16(255), u16(1),
    rrAtQ(28, 1, aaaa), rrAtQ(15, 2, mx), rrAtQ(16, 3, txt), rrAtQ(33, 4, srv), rrAtQ(6, 5, soa), rrAtQ(257, 6, caa),
    rrAtQ(65, 7, https), rrAtQ(65280, 8, unknown), opt,
  ]);
  const m = decodeMessage(msg);
  assert.deepEqual(m.answers.map((a) => [a.type, a.data]), [
    ['AAAA', '2001:db8::1'],
    ['MX', '10 mail.example.com'],
    ['TXT', '"hello" "a\\"b"'],
    ['SRV', '1 2 5060 sip.example.com'],
    ['SOA', 'ns1.example.com admin.example.com 2024010101 7200 3600 1209600 300'],
    ['CAA', '0 issue "letsencrypt.org"'],
    ['HTTPS', '1 . alpn=h2,h3 port=8443 ipv4hint=192.0.2.1'],
    ['TYPE65280', 'deadbeef'],
  ]);
  assert.deepEqual(m.flags, ['AA']);
  assert.equal(m.rawRecords, 0);
  // Extended rcode 1 << 4 | 0 = 16 (BADVERS), DO bit set, one COOKIE option.
  assert.equal(m.rcode, 16);
  assert.deepEqual(m.edns, { udp_payload_size: 1232, version: 0, dnssec_ok: true, options: [{ code: 10, name: 'COOKIE', data: '01020304' }] });
});

test('compression loops and forward pointers are rejected, not followed', () => {
  const selfLoop = Buffer.concat([header(1, 0, 1, 0), Buffer.from([0xc0, 12]), u16(1), u16(1)]);
  assert.throws(() => decodeMessage(selfLoop), /does not point backwards at byte 12/);
  // label "a" at 12, then a pointer back to 12: bounded by the 255-byte name limit.
  const cycle = Buffer.concat([header(1, 0, 1, 0), Buffer.from([1, 0x61, 0xc0, 12]), u16(1), u16(1)]);
  assert.throws(() => decodeMessage(cycle), /name longer than 255 bytes|too many compression pointers/);
  const ctx = fakeContext({}, { transport: 'udp' });
  const p = new DnsDatagramParser(ctx);
  p.datagram(0, cycle, 1n);
  assert.equal(ctx.counts.get('dns.malformed'), 1);
  assert.equal(ctx.records.length, 0);
});

test('UDP: query and response become one exchange; error.type for failures', () => {
  const ctx = fakeContext({}, { transport: 'udp' });
  const p = new DnsDatagramParser(ctx);
  p.datagram(0, query, 1000n);
  p.datagram(1, response, 3000n);
  const nx = Buffer.from(response);
  nx.writeUInt16BE(0x8183, 2);
  p.datagram(0, query, 4000n);
  p.datagram(1, nx, 5000n);
  assert.equal(ctx.records.length, 2);
  const [a, b] = ctx.records;
  assert.equal(a.kind, 'exchange');
  assert.equal(a.startNs, 1000n);
  assert.equal(a.endNs, 3000n);
  assert.equal(a.requestBytes, query.length);
  assert.equal(a.responseBytes, response.length);
  const dns = a.attributes.dns as Record<string, any>;
  assert.equal(dns.question.name, 'example.com');
  assert.equal(dns.response_code, 'NOERROR');
  assert.equal(dns.answer_count, 2);
  assert.equal(a.attributes.error, undefined);
  assert.deepEqual(b.attributes.error, { type: 'NXDOMAIN' });
});

test('mDNS (port 5353): the top bit of a class is the QU bit of a question and the cache-flush bit of a record (RFC 6762 §5.4, §10.2), not part of the class; elsewhere it is', () => {
  // A QU query for printer.local A (class 0x8001), answered with a cache-flush A record (0x8001), a shared PTR (0x0001)
  // and an OPT record, whose class is the UDP payload size (0x05a0: its top bit clear; 0x8000 would be no flag either).
  const q = Buffer.concat([header(0, 0, 1, 0), name('printer.local'), u16(1), u16(0x8001)]);
  const opt = Buffer.concat([Buffer.from([0]), u16(41), u16(0x05a0), u32(0), u16(0)]);
  const r = Buffer.concat([header(0, 0x8400, 1, 2, 0, 1), name('printer.local'), u16(1), u16(0x8001),
    rrAtQ(1, 120, Buffer.from([192, 0, 2, 9]), 0x8001), rrAtQ(12, 4500, Buffer.from([0xc0, 12]), 0x0001), opt]);
  const events = (port: number) => {
    const ctx = fakeContext({}, { transport: 'udp', client: { address: '192.0.2.1', port }, server: { address: '224.0.0.251', port } });
    const p = new DnsDatagramParser(ctx);
    // through detection, as the dispatcher does: it decodes first, not knowing the port
    assert.deepEqual(detectDnsDatagram(q), { sender: 'client' });
    p.datagram(0, q, 1n);
    assert.ok(detectDnsDatagram(r));
    p.datagram(1, r, 2n);
    return ctx.records.map((e) => e.attributes.dns as any);
  };
  const [mdns] = events(5353);
  assert.deepEqual(mdns.question, { name: 'printer.local', type: 'A', class: 'IN', unicast_response: true });
  assert.deepEqual(mdns.answers.map((a: any) => [a.type, a.class, a.cache_flush]), [['A', 'IN', true], ['PTR', 'IN', undefined]]);
  assert.equal(mdns.edns.udp_payload_size, 0x05a0);
  const [unicast] = events(53);
  assert.deepEqual(unicast.question, { name: 'printer.local', type: 'A', class: 'CLASS32769' });
  assert.deepEqual(unicast.answers.map((a: any) => [a.type, a.class, a.cache_flush]), [['A', 'CLASS32769', undefined], ['PTR', 'IN', undefined]]);
});

test('UDP: unanswered queries expire on tick; late responses are orphans', () => {
  const ctx = fakeContext({ responseTimeoutNs: 1000n }, { transport: 'udp' });
  const p = new DnsDatagramParser(ctx);
  p.datagram(0, query, 0n);
  p.tick(500n);
  assert.equal(ctx.records.length, 0);
  p.tick(1001n);
  assert.equal(ctx.records.length, 1);
  assert.equal(ctx.records[0].kind, 'unanswered');
  assert.deepEqual(ctx.records[0].flags, ['timeout']);
  p.datagram(1, response, 2000n);
  assert.equal(ctx.records[1].kind, 'orphan_response');
  p.datagram(0, query, 3000n);
  p.close('end', 3001n);
  assert.equal(ctx.records[2].kind, 'unanswered');
  assert.deepEqual(ctx.records[2].flags, ['eof']);
});

function tcpFrame(m: Buffer): Buffer {
  return Buffer.concat([u16(m.length), m]);
}

test('TCP: pipelined messages split at every offset give the same events', () => {
  const q2 = Buffer.from(query);
  q2.writeUInt16BE(0x9999, 0);
  const r2 = Buffer.from(response);
  r2.writeUInt16BE(0x9999, 0);
  const client = Buffer.concat([tcpFrame(query), tcpFrame(q2)]);
  const server = Buffer.concat([tcpFrame(r2), tcpFrame(response)]); // answered out of order (RFC 7766)
  for (let cut = 0; cut <= client.length; cut++) {
    const ctx = fakeContext();
    const p = new DnsStreamParser(ctx);
    p.data(0, client.subarray(0, cut), 1n);
    p.data(0, client.subarray(cut), 2n);
    const sc = Math.min(cut, server.length);
    p.data(1, server.subarray(0, sc), 3n);
    p.data(1, server.subarray(sc), 4n);
    p.close('fin', 5n);
    assert.deepEqual(ctx.records.map((r) => [r.kind, (r.attributes.dns as any).id]), [['exchange', 0x9999], ['exchange', 0x1234]], `cut ${cut}`);
  }
});

test('TCP: an exchange ends at the last byte of its response, not the first, when the response spans segments (length prefix alone, then the body in two)', () => {
  const ctx = fakeContext();
  const p = new DnsStreamParser(ctx);
  const framed = tcpFrame(response);
  p.data(0, tcpFrame(query), 10n);
  p.data(1, framed.subarray(0, 2), 20n);
  p.data(1, framed.subarray(2, 9), 30n);
  p.data(1, framed.subarray(9), 40n);
  // An orphan (an id never asked) over two segments: from its first byte to its last.
  p.data(1, tcpFrame(withId(response, 0x7777)).subarray(0, 5), 50n);
  p.data(1, tcpFrame(withId(response, 0x7777)).subarray(5), 60n);
  p.close('fin', 70n);
  assert.deepEqual(ctx.records.map((r) => [r.kind, r.startNs, r.endNs]), [['exchange', 10n, 40n], ['orphan_response', 50n, 60n]]);
});

test('TCP: after a gap the next message start is found again (at a chunk start, inside a chunk, across chunks)', () => {
  const framed = tcpFrame(response);
  const lostTail = Buffer.concat([Buffer.from('tail of a lost answer: '), Buffer.alloc(40, 0xff)]);
  const cases: Array<[string, Buffer[], number]> = [
    ['at the next chunk', [framed], 0],
    ['inside a chunk', [Buffer.concat([lostTail, framed])], lostTail.length],
    ['across chunks', [Buffer.concat([lostTail, framed.subarray(0, 20)]), framed.subarray(20)], lostTail.length],
  ];
  for (const [label, chunks, skipped] of cases) {
    const ctx = fakeContext();
    const p = new DnsStreamParser(ctx);
    p.data(0, tcpFrame(query), 1n);
    p.gap(1, 100, 2n);
    chunks.forEach((c, i) => p.data(1, c, BigInt(3 + i)));
    p.close('fin', 9n);
    assert.deepEqual(ctx.records.map((r) => r.kind), ['exchange'], label);
    assert.equal(ctx.counts.get('dns.gap_bytes'), 100, label);
    assert.equal(ctx.counts.get('dns.resyncs'), 1, label);
    assert.equal(ctx.counts.get('dns.skipped_bytes'), skipped || undefined, label);
  }
});

test('TCP: bytes held while resynchronising are dropped at a second gap, not joined across it', () => {
  const framed = tcpFrame(response);
  const ctx = fakeContext();
  const p = new DnsStreamParser(ctx);
  p.data(0, tcpFrame(query), 1n);
  p.gap(1, 100, 2n);
  p.data(1, framed.subarray(0, 20), 3n); // a plausible start, waiting for its rest
  p.gap(1, 50, 4n); // ...which was lost
  p.data(1, framed.subarray(20), 5n); // joined to the first 20 bytes this would decode
  p.close('fin', 6n);
  assert.deepEqual(ctx.records.map((r) => r.kind), ['unanswered']);
  assert.equal(ctx.counts.get('dns.resyncs'), undefined);
  assert.equal(ctx.counts.get('dns.skipped_bytes'), framed.length);
});

test('TCP: after a gap, a query going to the client is no place to resync; nothing found is skipped within a bound', () => {
  const ctx = fakeContext();
  const p = new DnsStreamParser(ctx);
  p.data(0, tcpFrame(query), 1n);
  p.gap(1, 100, 2n);
  // A well-formed query in the server-to-client direction is not what that side sends.
  p.data(1, tcpFrame(query), 3n);
  const junk = Buffer.alloc(300_000, 0xff);
  p.data(1, junk, 4n);
  p.close('rst', 5n);
  assert.deepEqual(ctx.records.map((r) => [r.kind, r.flags]), [['unanswered', ['reset']]]);
  assert.equal(ctx.counts.get('dns.resyncs'), undefined);
  // Every byte after the gap is counted as skipped, held ones included at the close.
  assert.equal(ctx.counts.get('dns.skipped_bytes'), query.length + 2 + junk.length);
});

test('TCP: a zone transfer over several messages is one event', () => {
  const axfrQ = Buffer.concat([header(5, 0, 1, 0), name('z.test'), u16(252), u16(1)]);
  const soa = Buffer.concat([name('ns.z.test'), name('h.z.test'), u32(1), u32(2), u32(3), u32(4), u32(5)]);
  const m1 = Buffer.concat([header(5, 0x8400, 1, 2), name('z.test'), u16(252), u16(1), rrAtQ(6, 9, soa), rrAtQ(1, 9, Buffer.from([10, 0, 0, 1]))]);
  // The second message has no question section, so its owners are written out in full.
  const owner = name('z.test');
  const rr = (type: number, rdata: Buffer) => Buffer.concat([owner, u16(type), u16(1), u32(9), u16(rdata.length), rdata]);
  const m2b = Buffer.concat([header(5, 0x8400, 0, 2), rr(1, Buffer.from([10, 0, 0, 2])), rr(6, soa)]);
  const ctx = fakeContext();
  const p = new DnsStreamParser(ctx);
  p.data(0, tcpFrame(axfrQ), 1n);
  p.data(1, tcpFrame(m1), 2n);
  assert.equal(ctx.records.length, 0);
  // the last message in two segments: the transfer ends with the second
  p.data(1, tcpFrame(m2b).subarray(0, 20), 3n);
  assert.equal(ctx.records.length, 0);
  p.data(1, tcpFrame(m2b).subarray(20), 4n);
  assert.equal(ctx.records.length, 1);
  const dns = ctx.records[0].attributes.dns as any;
  assert.equal(dns.answer_count, 4);
  assert.deepEqual(dns.answers.map((a: any) => a.data), ['ns.z.test h.z.test 1 2 3 4 5', '10.0.0.1', '10.0.0.2', 'ns.z.test h.z.test 1 2 3 4 5']);
  assert.equal(ctx.records[0].endNs, 4n);
});

test('detection: UDP by a full decode, TCP by length prefix and header', () => {
  assert.deepEqual(detectDnsDatagram(query), { sender: 'client' });
  assert.deepEqual(detectDnsDatagram(response), { sender: 'server' });
  assert.equal(detectDnsDatagram(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')), null);
  assert.equal(detectDnsStream(tcpFrame(query).subarray(0, 10), 0), 'more');
  assert.deepEqual(detectDnsStream(tcpFrame(response), 1), { sender: 'server' });
  assert.equal(detectDnsStream(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), 0), null);
});

test('a known type whose RDATA does not parse is kept as hex and flags the event undecodable', () => {
  // An A record with 3 bytes of RDATA.
  const bad = Buffer.concat([header(9, 0x8180, 1, 1), name('example.com'), u16(1), u16(1), rrAtQ(1, 5, Buffer.from([1, 2, 3]))]);
  const m = decodeMessage(bad);
  assert.equal(m.answers[0].data, '010203');
  assert.equal(m.rawRecords, 1);
  const ctx = fakeContext({}, { transport: 'udp' });
  const p = new DnsDatagramParser(ctx);
  const q = Buffer.concat([header(9, 0x0100, 1, 0), name('example.com'), u16(1), u16(1)]);
  p.datagram(0, q, 1n);
  p.datagram(1, bad, 2n);
  assert.deepEqual(ctx.records[0].flags, ['undecodable']);
});

test('addresses and MX preferences written digit by digit match their textbook forms at every width', () => {
  // A: one-, two- and three-digit octets, zeros; AAAA (RFC 5952 §4): zero runs at the start, the end and the
  // middle, the longest run compressed (first on a tie), a lone zero word kept, hex without leading zeros;
  // IPv4-mapped and IPv4-compatible addresses end in a dotted quad, as dig and tshark (dns.aaaa) print them.
  const a = [[0, 9, 10, 99], [100, 199, 200, 255]].map((o) => rrAtQ(1, 1, Buffer.from(o)));
  const v6 = ['00000000000000000000000000000001', 'fd000000000000000000000000000000', '00010000000000000000000000000002', '20010db8000000010000000000000001', '20010db8000000000001000000000001', 'ffff0fff00ff000f0000abcd00100100', '0000000100000000000000000000000a', '00000000000000000000ffffc0000201', '000000000000000000000000c0000201']
    .map((h) => rrAtQ(28, 1, Buffer.from(h, 'hex')));
  const mx = [0, 7, 65535].map((p) => rrAtQ(15, 1, Buffer.concat([u16(p), name('mx.example.org')])));
  const records = [...a, ...v6, ...mx];
  const msg = Buffer.concat([header(9, 0x8180, 1, records.length), name('example.com'), u16(255), u16(1), ...records]);
  assert.deepEqual(decodeMessage(msg).answers.map((r) => r.data), [
    '0.9.10.99', '100.199.200.255',
    '::1', 'fd00::', '1::2', '2001:db8:0:1::1', '2001:db8::1:0:0:1', 'ffff:fff:ff:f:0:abcd:10:100', '0:1::a', '::ffff:192.0.2.1', '::192.0.2.1',
    '0 mx.example.org', '7 mx.example.org', '65535 mx.example.org',
  ]);
});

test('names met again through pointers (whole names, suffixes, the same offset twice) decode as when read afresh', () => {
  // Question "a.b.example.com" at 12; answers owned by pointers to the whole
  // name (12), to its suffix "example.com" (16) and to "b.example.com" (14);
  // RDATA names that add labels in front of a pointer, and an additional
  // record whose owner name is read twice at the same offset (OPT check, then
  // the record).
  const q = name('a.b.example.com');
  const msg = Buffer.concat([
    header(7, 0x8180, 1, 3, 0, 1),
    q, u16(5), u16(1),
    rrAtQ(5, 60, Buffer.concat([Buffer.from([1, 0x78]), Buffer.from([0xc0, 16])])),
    Buffer.concat([Buffer.from([0xc0, 16]), u16(2), u16(1), u32(60), u16(5), Buffer.from([2, 0x6e, 0x73, 0xc0, 14])]),
    Buffer.concat([Buffer.from([0xc0, 14]), u16(12), u16(1), u32(60), u16(2), Buffer.from([0xc0, 12])]),
    Buffer.concat([Buffer.from([3, 0x7a, 0x2e, 0x5c]), Buffer.from([0xc0, 24]), u16(1), u16(1), u32(5), u16(4), Buffer.from([1, 2, 3, 4])]),
  ]);
  const m = decodeMessage(msg);
  assert.deepEqual(m.questions, [{ name: 'a.b.example.com', type: 'CNAME', class: 'IN' }]);
  assert.deepEqual(
    m.answers.map((r) => [r.name, r.data]),
    [
      ['a.b.example.com', 'x.example.com'],
      ['example.com', 'ns.b.example.com'],
      ['b.example.com', 'a.b.example.com'],
    ],
  );
  // A label "z.\\" (escaped) in front of a pointer to the last label of the question.
  assert.deepEqual(m.additional.map((r) => [r.name, r.data]), [['z\\.\\\\.com', '1.2.3.4']]);
  // The same bytes decoded again (and a pointer into a name that became too long) give the same answers.
  assert.deepEqual(decodeMessage(msg), m);
  const long = 'l'.repeat(63);
  const big = name(`${long}.${long}.${long}.abc`); // 1+63 x3 + 4 + 1 = 197 bytes
  const over = Buffer.concat([header(1, 0x8180, 1, 1), big, u16(1), u16(1), Buffer.from([40, ...Buffer.alloc(40, 0x61), 20, ...Buffer.alloc(20, 0x62), 0xc0, 12]), u16(1), u16(1), u32(1), u16(4), Buffer.from([1, 2, 3, 4])]);
  assert.throws(() => decodeMessage(over), /name longer than 255 bytes/);
});

test('a name is at most 255 bytes on the wire, the root label\'s zero byte included (RFC 1035 §3.1)', () => {
  const long = 'l'.repeat(63);
  const query = (n: string) => Buffer.concat([header(1, 0x0100, 1, 0), name(n), u16(1), u16(1)]);
  // 3 x (1 + 63) + (1 + 61) + 1 = 255 bytes: the longest name there is
  const longest = `${long}.${long}.${long}.${'m'.repeat(61)}`;
  assert.equal(name(longest).length, 255);
  assert.equal(decodeMessage(query(longest)).questions[0].name, longest);
  // one letter more: 256 bytes
  assert.throws(() => decodeMessage(query(`${longest}m`)), /name longer than 255 bytes/);
});

/** A copy of a message with another transaction id. */
function withId(m: Buffer, id: number): Buffer {
  const b = Buffer.from(m);
  b.writeUInt16BE(id, 0);
  return b;
}

test('TCP capture with a lost segment: the answers after it are still paired (through reader, flows and parser)', () => {
  const c = new Conversation({ addr: '192.0.2.1', port: 40000 }, { addr: '192.0.2.53', port: 53 }).handshake();
  const ids = [0x0101, 0x0202, 0x0303];
  const framedWithId = (m: Buffer, id: number) => tcpFrame(withId(m, id));
  for (const id of ids) c.send(0, framedWithId(query, id));
  const answers = ids.map((id) => c.segments(1, framedWithId(response, id)));
  c.frames.push(...answers[0], ...answers[2]); // the second answer's segment was not captured
  c.close();
  const { events, stats } = parseCaptureSync(c.pcapng());
  assertValidEvents(events);
  const byId = new Map((events as any[]).map((e) => [e.dns.id, e]));
  assert.equal(byId.get(0x0101)?.pano.kind, 'exchange');
  assert.equal(byId.get(0x0303)?.pano.kind, 'exchange');
  assert.equal(byId.get(0x0303)?.dns.answers.length, 2);
  assert.equal(byId.get(0x0202)?.pano.kind, 'unanswered');
  assert.equal(stats.protocols['dns.resyncs'], 1);
  assert.equal(stats.protocols['dns.gap_bytes'], response.length + 2);
});

test('UDP: a flow lasts while a query waits; once all are answered, the next query on the same ports is a new flow', () => {
  const client = { addr: '192.0.2.1', port: 40000 };
  const server = { addr: '192.0.2.53', port: 53 };
  let t = 1_700_000_000_000_000_000n;
  const frames: Array<{ tsNs: bigint; data: Buffer }> = [];
  const q = (id: number) => frames.push({ tsNs: (t += 1000n), data: udpFrame(client, server, withId(query, id)) });
  const r = (id: number) => frames.push({ tsNs: (t += 1000n), data: udpFrame(server, client, withId(response, id)) });
  q(1); q(2); r(2); r(1); // two questions at once (A and AAAA, as glibc asks them): one flow
  q(3); r(3); // asked again from the same port after every answer: a new flow
  r(3); // the answer again: a response without its query, a flow of its own
  q(4); // never answered: its flow lasts to the end
  const { events, stats } = parseCaptureSync(pcapng(frames));
  assertValidEvents(events);
  const seen = (events as any[]).map((e) => [e.pano.kind, e.dns.id, e.pano.connection.id, e.pano.flags ?? []]);
  const [c1, c2, c3, c4] = [seen[0][2], seen[2][2], seen[3][2], seen[4][2]];
  assert.deepEqual(seen, [
    ['exchange', 2, c1, []],
    ['exchange', 1, c1, []],
    ['exchange', 3, c2, []],
    ['orphan_response', 3, c3, []],
    ['unanswered', 4, c4, ['eof']],
  ]);
  assert.equal(new Set([c1, c2, c3, c4]).size, 4);
  assert.equal(new Set((events as any[]).map((e) => e.pano.id)).size, events.length);
  assert.equal(stats.flows.udpFlows, 4);
  assert.equal(stats.flows.udpFlowsFinished, 3);
});

test('UDP: a flow whose last query timed out ends when packet time moves on; the port asking again is a new flow', () => {
  const a = { addr: '192.0.2.1', port: 40000 };
  const b = { addr: '192.0.2.2', port: 40001 };
  const server = { addr: '192.0.2.53', port: 53 };
  const s = 1_000_000_000n;
  const t0 = 1_700_000_000n * s;
  const frames = [
    { tsNs: t0, data: udpFrame(a, server, withId(query, 1)) }, // never answered
    { tsNs: t0 + 7n * s, data: udpFrame(b, server, withId(query, 2)) }, // time moves on: a's query expires
    { tsNs: t0 + 7n * s + 1000n, data: udpFrame(server, b, withId(response, 2)) },
    { tsNs: t0 + 8n * s, data: udpFrame(a, server, withId(query, 3)) },
    { tsNs: t0 + 8n * s + 1000n, data: udpFrame(server, a, withId(response, 3)) },
  ];
  const { events, stats } = parseCaptureSync(pcapng(frames));
  assertValidEvents(events);
  const seen = (events as any[]).map((e) => [e.pano.kind, e.dns.id, e.client.port, e.pano.connection.id, e.pano.flags ?? []]);
  assert.deepEqual(seen.map(([k, id, port, , f]) => [k, id, port, f]), [
    ['unanswered', 1, 40000, ['timeout']],
    ['exchange', 2, 40001, []],
    ['exchange', 3, 40000, []],
  ]);
  assert.notEqual(seen[2][3], seen[0][3], 'asked again after the timeout ended its flow: a new connection');
  assert.equal(stats.flows.udpFlows, 3);
  assert.equal(stats.flows.udpFlowsFinished, 3);
});

test('UDP: datagrams no module recognises keep their flow and make it unidentified after eight', () => {
  const c = { addr: '192.0.2.1', port: 40000 };
  const server = { addr: '192.0.2.9', port: 9999 };
  const frames = Array.from({ length: 10 }, (_, i) => ({ tsNs: 1_700_000_000_000_000_000n + BigInt(i) * 1000n, data: udpFrame(c, server, Buffer.from(`not dns ${i}`)) }));
  const { events, stats } = parseCaptureSync(pcapng(frames));
  assert.equal(events.length, 0);
  assert.equal(stats.flows.udpFlows, 1);
  assert.equal(stats.flows.udpFlowsFinished, 0);
  assert.equal(stats.protocols['dispatch.unidentified_udp_flows'], 1);
});

/**
 * Names as RFC 1035 §4.1.4 reads them, written out plainly: labels and
 * pointers followed one by one, no memo. A pointer must go backwards, at most
 * 127 of them, and the labels (length bytes included, the root's too) at most 255 bytes; text
 * in presentation format (RFC 1035 §5.1: `.`, `\` and `"();@$` escaped, other
 * non-printables \DDD). Throws on anything else.
 */
function referenceName(msg: Buffer, offset: number): { text: string; end: number } {
  const labels: string[] = [];
  let pos = offset;
  let end = -1;
  let jumps = 0;
  let wire = 0;
  for (;;) {
    if (pos >= msg.length) throw new Error('past the end');
    const len = msg[pos];
    if ((len & 0xc0) === 0xc0) {
      if (pos + 1 >= msg.length) throw new Error('cut pointer');
      const target = ((len & 0x3f) << 8) | msg[pos + 1];
      if (target >= pos || ++jumps > 127) throw new Error('bad pointer');
      if (end < 0) end = pos + 2;
      pos = target;
      continue;
    }
    if (len & 0xc0) throw new Error('label type');
    if (len === 0) return { text: labels.length ? labels.join('.') : '.', end: end < 0 ? pos + 1 : end };
    if (pos + 1 + len > msg.length) throw new Error('label past the end');
    wire += len + 1;
    if (wire + 1 > 255) throw new Error('too long'); // with the root's zero byte
    let label = '';
    for (const c of msg.subarray(pos + 1, pos + 1 + len)) {
      // RFC 1035 §5.1: `.` and `\\` inside a label, and the characters a zone file reads specially
      if ('.\\"();@$'.includes(String.fromCharCode(c))) label += '\\' + String.fromCharCode(c);
      else if (c > 0x20 && c < 0x7f) label += String.fromCharCode(c);
      else label += '\\' + String(c).padStart(3, '0');
    }
    labels.push(label);
    pos += 1 + len;
  }
}

test('names through random chains of labels and pointers decode as the plain reading of RFC 1035 does', () => {
  let seed = 0x5eed;
  const rand = (n: number) => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) % n;
  };
  const label = () => {
    const len = 1 + rand(rand(40) === 0 ? 63 : 6);
    // mostly letters; now and then a dot, a backslash or a byte that needs \DDD
    return Buffer.concat([Buffer.from([len]), Buffer.from(Array.from({ length: len }, () => (rand(10) === 0 ? [0x2e, 0x5c, 0x00, 0x20, 0xff][rand(5)] : 0x61 + rand(26))))]);
  };
  let decoded = 0;
  let rejected = 0;
  for (let m = 0; m < 3000; m++) {
    const parts: Buffer[] = [header(m & 0xffff, 0x8180, 1, 0)];
    let size = 12;
    const starts: number[] = []; // offsets where a label begins
    const encodeName = (): Buffer => {
      const bytes: Buffer[] = [];
      let at = size;
      // targets among earlier names' labels (a name's own labels would make a loop: that case comes from the random target)
      const earlier = starts.length;
      for (let i = rand(3); i > 0; i--) {
        const l = label();
        starts.push(at);
        bytes.push(l);
        at += l.length;
      }
      const r = rand(20);
      if (r < 12 && earlier) {
        // a pointer to an earlier label start; now and then anywhere earlier, or forward
        const t = r === 0 ? rand(at + 4) : starts[rand(earlier)]!;
        bytes.push(Buffer.from([0xc0 | (t >> 8), t & 0xff]));
      } else bytes.push(Buffer.from([0]));
      const b = Buffer.concat(bytes);
      size += b.length;
      return b;
    };
    parts.push(encodeName(), u16(5), u16(1));
    size += 4;
    const records = 1 + rand(6);
    for (let r = 0; r < records; r++) {
      parts.push(encodeName());
      size += 10;
      const head = Buffer.concat([u16(5), u16(1), u32(60)]);
      const target = encodeName();
      parts.push(head, u16(target.length), target);
    }
    const msg = Buffer.concat(parts);
    msg.writeUInt16BE(records, 6);
    // the reference reading of every name in the message, in order
    let want: { question: string; answers: Array<[string, string]> } | undefined;
    try {
      let pos = 12;
      const q = referenceName(msg, pos);
      pos = q.end + 4;
      const answers: Array<[string, string]> = [];
      for (let r = 0; r < records; r++) {
        const owner = referenceName(msg, pos);
        const rdStart = owner.end + 10;
        const rdEnd = rdStart + msg.readUInt16BE(owner.end + 8);
        let data: string;
        try {
          data = referenceName(msg, rdStart).text;
        } catch {
          data = msg.toString('hex', rdStart, rdEnd); // RDATA that does not decode is kept as hex
        }
        answers.push([owner.text, data]);
        pos = rdEnd;
      }
      want = { question: q.text, answers };
    } catch {
      want = undefined;
    }
    let got: { question: string; answers: Array<[string, string]> } | undefined;
    try {
      const d = decodeMessage(msg);
      got = { question: d.questions[0]!.name, answers: d.answers.map((a) => [a.name, a.data]) };
    } catch {
      got = undefined;
    }
    assert.deepEqual(got, want, `message ${m}: ${msg.toString('hex')}`);
    if (want) decoded++;
    else rejected++;
  }
  // both kinds were exercised
  assert.ok(decoded > 2000 && rejected > 100, `${decoded} decoded, ${rejected} rejected`);
});

test('a response asking another question than the pending query with its id is an orphan, not its answer (RFC 5452 §9.1)', () => {
  const ask = (id: number, n: string) => Buffer.concat([header(id, 0x0100, 1, 0), name(n), u16(1), u16(1)]);
  const answer = (id: number, n: string, ip: number[]) => Buffer.concat([header(id, 0x8180, 1, 1), name(n), u16(1), u16(1), rrAtQ(1, 60, Buffer.from(ip))]);
  const ctx = fakeContext({}, { transport: 'udp' });
  const p = new DnsDatagramParser(ctx);
  p.datagram(0, ask(77, 'spoof.x.test'), 1n);
  // a forged answer first (same id, another question), then the real one
  p.datagram(1, answer(77, 'evil.x.test', [10, 0, 0, 66]), 2n);
  p.datagram(1, answer(77, 'spoof.x.test', [10, 0, 0, 50]), 3n);
  assert.deepEqual(ctx.records.map((r) => {
    const d = r.attributes.dns as any;
    return [r.kind, d.question.name, d.answers[0].data];
  }), [['orphan_response', 'evil.x.test', '10.0.0.66'], ['exchange', 'spoof.x.test', '10.0.0.50']]);
  // the name's case does not make another question (RFC 4343; 0x20 randomisation)
  p.datagram(0, ask(78, 'MiXeD.x.test'), 4n);
  p.datagram(1, answer(78, 'mixed.X.TEST', [10, 0, 0, 1]), 5n);
  assert.equal(ctx.records[2].kind, 'exchange');
});

test('TCP: an incremental zone transfer (RFC 1995) is one event over its messages; the final SOA ends it', () => {
  const soa = (serial: number) => Buffer.concat([name('ns.x.test'), name('h.x.test'), u32(serial), u32(3600), u32(600), u32(86400), u32(300)]);
  const owner = name('x.test');
  const rr = (type: number, rdata: Buffer) => Buffer.concat([owner, u16(type), u16(1), u32(9), u16(rdata.length), rdata]);
  const ixfrQ = (id: number) => Buffer.concat([header(id, 0, 1, 0, 1), name('x.test'), u16(251), u16(1), rr(6, soa(101))]);
  const msg = (id: number, ...rrs: Buffer[]) => Buffer.concat([header(id, 0x8400, 0, rrs.length), ...rrs]);
  const run = (id: number, messages: Buffer[][]) => {
    const ctx = fakeContext();
    const p = new DnsStreamParser(ctx);
    p.data(0, tcpFrame(ixfrQ(id)), 1n);
    messages.forEach((rrs, i) => p.data(1, tcpFrame(msg(id, ...rrs)), BigInt(2 + i)));
    return ctx.records.map((r) => [r.kind, (r.attributes.dns as any).answer_count, r.endNs, r.flags ?? []]);
  };
  // 101 → 102: delete a, add d; SOA 102 opens, SOA 101 opens the deletions, SOA 102 the additions, SOA 102 closes
  assert.deepEqual(run(1, [[rr(6, soa(102)), rr(6, soa(101)), rr(1, Buffer.from([10, 0, 0, 1]))], [rr(6, soa(102)), rr(1, Buffer.from([10, 0, 0, 4]))], [rr(6, soa(102))]]),
    [['exchange', 6, 4n, []]]);
  // two changes, 101 → 102 → 103, the last adding nothing: SOA 103 opens the last additions and closes at once
  assert.deepEqual(run(2, [[rr(6, soa(103)), rr(6, soa(101)), rr(6, soa(102)), rr(1, Buffer.from([10, 0, 0, 2]))], [rr(6, soa(102)), rr(1, Buffer.from([10, 0, 0, 2])), rr(6, soa(103))], [rr(6, soa(103))]]),
    [['exchange', 8, 4n, []]]);
  // answered with the whole zone (AXFR-style): the second SOA 103 ends it
  assert.deepEqual(run(3, [[rr(6, soa(103)), rr(1, Buffer.from([10, 0, 0, 3]))], [rr(6, soa(103))]]), [['exchange', 3, 3n, []]]);
  // up to date: one SOA
  assert.deepEqual(run(4, [[rr(6, soa(101))]]), [['exchange', 1, 2n, []]]);
});

test('TCP: a zone transfer over 256 records keeps 256 and is flagged truncated; its count is whole', () => {
  const axfrQ = Buffer.concat([header(6, 0, 1, 0), name('big.test'), u16(252), u16(1)]);
  const soa = Buffer.concat([name('ns.big.test'), name('h.big.test'), u32(7), u32(2), u32(3), u32(4), u32(5)]);
  const owner = name('big.test');
  const rr = (type: number, rdata: Buffer) => Buffer.concat([owner, u16(type), u16(1), u32(9), u16(rdata.length), rdata]);
  const a = (i: number) => rr(1, Buffer.from([10, 0, i >> 8, i & 0xff]));
  const m1 = Buffer.concat([header(6, 0x8400, 0, 151), rr(6, soa), ...Array.from({ length: 150 }, (_, i) => a(i))]);
  const m2 = Buffer.concat([header(6, 0x8400, 0, 151), ...Array.from({ length: 150 }, (_, i) => a(150 + i)), rr(6, soa)]);
  const ctx = fakeContext();
  const p = new DnsStreamParser(ctx);
  p.data(0, tcpFrame(axfrQ), 1n);
  p.data(1, tcpFrame(m1), 2n);
  p.data(1, tcpFrame(m2), 3n);
  assert.equal(ctx.records.length, 1);
  const dns = ctx.records[0].attributes.dns as any;
  assert.equal(dns.answer_count, 302);
  assert.equal(dns.answers.length, 256);
  assert.deepEqual(ctx.records[0].flags, ['truncated']);
});

test('presentation format as dig writes it: special characters in names, alpn ids with commas, other SvcParams as strings, RRSIG times', () => {
  // a label with `"`, `;`, `@`, `$`, `(`, `)` and a space: escaped as a zone file needs them
  const odd = Buffer.concat([Buffer.from([10]), Buffer.from('q"u;@$() x', 'latin1'), name('x.test')]);
  const q = Buffer.concat([header(3, 0x0100, 1, 0), odd, u16(1), u16(1)]);
  assert.equal(decodeMessage(q).questions[0].name, 'q\\"u\\;\\@\\$\\(\\)\\032x.x.test');
  // HTTPS: alpn ids "a,b" and "h2"; dohpath (key 7, RFC 9461) and an unknown key 65000 holding `hi"x`
  const https = Buffer.concat([
    u16(1), Buffer.from([0]),
    u16(1), u16(7), Buffer.from([3]), Buffer.from('a,b'), Buffer.from([2]), Buffer.from('h2'),
    u16(7), u16(15), Buffer.from('/q{?dns}', 'latin1'), Buffer.from('/x\\y"z\x01', 'latin1'),
    u16(65000), u16(4), Buffer.from('hi"x'),
  ]);
  // RRSIG over A: algorithm 13, 2 labels, TTL 300, expiration 2027-01-01T00:00:00Z, inception 2026-12-01T12:30:05Z
  const rrsig = Buffer.concat([u16(1), Buffer.from([13, 2]), u32(300), u32(1798761600), u32(1796128205), u16(12345), name('x.test'), Buffer.from([1, 2, 3])]);
  const msg = Buffer.concat([header(4, 0x8400, 1, 2), name('x.test'), u16(65), u16(1), rrAtQ(65, 1, https), rrAtQ(46, 1, rrsig)]);
  assert.deepEqual(decodeMessage(msg).answers.map((a) => a.data), [
    '1 . alpn=a\\,b,h2 dohpath="/q{?dns}/x\\\\y\\"z\\001" key65000="hi\\"x"',
    'A 13 2 300 20270101000000 20261201123005 12345 x.test AQID',
  ]);
});

test('a query without a question priming a DNS cookie (RFC 7873 §5.4) is DNS; a bare header is not', () => {
  const cookieOpt = (data: Buffer) => Buffer.concat([Buffer.from([0]), u16(41), u16(1232), Buffer.from([0, 0, 0, 0]), u16(4 + data.length), u16(10), u16(data.length), data]);
  const q = Buffer.concat([header(0x5f00, 0x0100, 0, 0, 0, 1), cookieOpt(Buffer.from('622162cb056fbdc5', 'hex'))]);
  const r = Buffer.concat([header(0x5f00, 0x8180, 0, 0, 0, 1), cookieOpt(Buffer.from('622162cb056fbdc5aabbccddeeff0011', 'hex'))]);
  assert.deepEqual(detectDnsDatagram(q), { sender: 'client' });
  assert.deepEqual(detectDnsStream(tcpFrame(r), 1), { sender: 'server' });
  assert.equal(detectDnsDatagram(header(0x5f00, 0x0100, 0, 0)), null);
  const client = { addr: '10.0.0.1', port: 40000 };
  const server = { addr: '10.0.0.53', port: 53 };
  const { events } = parseCaptureSync(pcapng([{ tsNs: 1_000n, data: udpFrame(client, server, q) }, { tsNs: 2_000n, data: udpFrame(server, client, r) }]));
  assertValidEvents(events);
  assert.equal(events.length, 1);
  assert.equal(events[0].pano.kind, 'exchange');
  assert.equal(events[0].dns.question, undefined);
  assert.deepEqual(events[0].dns.edns.options, [{ code: 10, name: 'COOKIE', data: '622162cb056fbdc5aabbccddeeff0011' }]);
});

test('ECS option (RFC 7871 §6): the subnet as dig prints it, address bytes cut to the source prefix; malformed ones keep only the hex', () => {
  const ecs = (data: Buffer) => {
    const opt = Buffer.concat([Buffer.from([0]), u16(41), u16(1232), u32(0), u16(4 + data.length), u16(8), u16(data.length), data]);
    return decodeMessage(Buffer.concat([header(7, 0x0100, 1, 0, 0, 1), name('example.com'), u16(1), u16(1), opt])).edns!.options![0];
  };
  const ok: Array<[string, string]> = [
    ['00011800010203', '1.2.3.0/24/0'], // family 1, /24: three address bytes
    ['00012018c6336464', '198.51.100.100/32/24'],
    ['00010000', '0.0.0.0/0/0'], // /0: no address bytes (RFC 7871 §7.1.2, a client opting out)
    ['0002300020010db80004', '2001:db8:4::/48/0'],
  ];
  for (const [hex, subnet] of ok) {
    const o = ecs(Buffer.from(hex, 'hex'));
    assert.equal(o.name, 'ECS');
    assert.equal(o.data, hex);
    assert.equal(o.subnet, subnet, hex);
  }
  // unknown family, source prefix past the address, an address byte more than the prefix needs, too short
  // and 31 bits of IPv6 in 3 bytes (they take 4)
  for (const hex of ['0003080001', '0001210001020304ff', '00010800010203', '000118', '00021f00200d0b']) assert.equal(ecs(Buffer.from(hex, 'hex')).subnet, undefined, hex);
});

test("the query's EDNS options are kept beside the response's OPT record; a query OPT without options is not repeated", () => {
  const opt = (options: Buffer) => Buffer.concat([Buffer.from([0]), u16(41), u16(1232), u32(0), u16(options.length), options]);
  const cookie = Buffer.concat([u16(10), u16(8), Buffer.from('0123456789abcdef', 'hex')]);
  const q = (o: Buffer) => Buffer.concat([header(9, 0x0100, 1, 0, 0, 1), name('example.com'), u16(1), u16(1), opt(o)]);
  const r = Buffer.concat([header(9, 0x8180, 1, 1, 0, 1), name('example.com'), u16(1), u16(1), rrAtQ(1, 60, Buffer.from([192, 0, 2, 1])), opt(Buffer.alloc(0))]);
  for (const [query, expected] of [
    [q(cookie), { udp_payload_size: 1232, version: 0, dnssec_ok: false, options: [{ code: 10, name: 'COOKIE', data: '0123456789abcdef' }] }],
    [q(Buffer.alloc(0)), undefined],
  ] as const) {
    const ctx = fakeContext();
    const p = new DnsDatagramParser(ctx);
    p.datagram(0, query, 1n);
    p.datagram(1, r, 2n);
    const dns = ctx.records[0].attributes.dns as any;
    assert.deepEqual(dns.edns, { udp_payload_size: 1232, version: 0, dnssec_ok: false });
    assert.deepEqual(dns.query_edns, expected);
    assert.deepEqual(dns.answers.map((a: any) => a.data), ['192.0.2.1']);
  }
});

test('TCP: a transfer answered with no records (NOERROR, the SOA in authority: dnsmasq to an IXFR) is answered then, not left waiting to the end', () => {
  const soa = Buffer.concat([name('ns.x.test'), name('h.x.test'), u32(7), u32(1200), u32(180), u32(1209600), u32(600)]);
  const owner = name('x.test');
  const rr = (type: number, rdata: Buffer) => Buffer.concat([owner, u16(type), u16(1), u32(600), u16(rdata.length), rdata]);
  for (const type of [251, 252]) {
    const q = Buffer.concat([header(3, 0, 1, 0, type === 251 ? 1 : 0), name('x.test'), u16(type), u16(1), ...(type === 251 ? [rr(6, soa)] : [])]);
    const empty = Buffer.concat([header(3, 0x8400, 1, 0, 1), name('x.test'), u16(type), u16(1), rr(6, soa)]);
    // the connection goes on: a second query and its answer
    const q2 = Buffer.concat([header(4, 0x0100, 1, 0), name('x.test'), u16(1), u16(1)]);
    const r2 = Buffer.concat([header(4, 0x8580, 1, 1), name('x.test'), u16(1), u16(1), rrAtQ(1, 60, Buffer.from([10, 0, 0, 9]))]);
    const ctx = fakeContext();
    const p = new DnsStreamParser(ctx);
    p.data(0, tcpFrame(q), 1n);
    p.data(1, tcpFrame(empty), 2n);
    p.data(0, tcpFrame(q2), 3n);
    p.data(1, tcpFrame(r2), 4n);
    p.close('fin', 5n);
    assert.deepEqual(
      ctx.records.map((r) => [r.kind, r.endNs, r.flags, (r.attributes.dns as any).answer_count, (r.attributes.dns as any).authority?.map((a: any) => a.data)]),
      [
        ['exchange', 2n, undefined, 0, ['ns.x.test h.x.test 7 1200 180 1209600 600']],
        ['exchange', 4n, undefined, 1, undefined],
      ],
      String(type),
    );
  }
});

test('NAPTR whose strings or replacement do not fit its RDATA is kept as hex and flags the record', () => {
  const good = Buffer.concat([u16(10), u16(20), Buffer.from([1]), Buffer.from('U'), Buffer.from([0]), Buffer.from([0]), Buffer.from([0])]);
  const cases: Array<[Buffer, string | undefined]> = [
    [good, '10 20 "U" "" "" .'],
    [good.subarray(0, 8), undefined], // the replacement is missing
    [Buffer.concat([good.subarray(0, 4), Buffer.from([9]), Buffer.from('U')]), undefined], // a string longer than the RDATA
    [Buffer.concat([good, Buffer.from([0])]), undefined], // a byte after the replacement
  ];
  for (const [rdata, text] of cases) {
    const m = decodeMessage(Buffer.concat([header(1, 0x8400, 1, 1), name('n.test'), u16(35), u16(1), rrAtQ(35, 60, rdata)]));
    assert.equal(m.answers[0].data, text ?? rdata.toString('hex'));
    assert.equal(m.rawRecords, text ? 0 : 1);
  }
});

test('a record shorter than its type needs is hex, not read on into the next record', () => {
  // RDATA cut short inside a message that goes on: each decoder must stop at its own RDATA's end.
  const cases: Array<[type: number, rdata: Buffer, why: string]> = [
    [15, u16(10), 'MX with a preference and no exchange name'],
    [5, Buffer.from([3, 0x77, 0x77, 0x77]), 'CNAME whose name runs past its RDATA'],
    [2, Buffer.concat([name('ns.example.com'), Buffer.from([0])]), 'NS with a byte after its name'],
    [33, Buffer.concat([u16(0), u16(5), u16(443)]), 'SRV without a target'],
    [43, Buffer.from([0x12, 0x34, 8]), 'DS cut inside its fixed fields'],
    [48, Buffer.from([1, 1, 3]), 'DNSKEY cut inside its fixed fields'],
  ];
  for (const [type, rdata, why] of cases) {
    const m = decodeMessage(Buffer.concat([header(3, 0x8180, 1, 2), name('example.com'), u16(type), u16(1), rrAtQ(type, 60, rdata), rrAtQ(1, 60, Buffer.from([192, 0, 2, 1]))]));
    assert.equal(m.answers[0].data, rdata.toString('hex'), why);
    assert.equal(m.rawRecords, 1, why);
    // the record after it is read where it is
    assert.equal(m.answers[1].data, '192.0.2.1', why);
  }
  // and whole records of the same types still decode
  const good = decodeMessage(Buffer.concat([header(4, 0x8180, 1, 2), name('example.com'), u16(15), u16(1), rrAtQ(15, 60, Buffer.concat([u16(10), name('mx.example.com')])), rrAtQ(33, 60, Buffer.concat([u16(0), u16(5), u16(443), name('svc.example.com')]))]));
  assert.deepEqual(good.answers.map((a) => a.data), ['10 mx.example.com', '0 5 443 svc.example.com']);
  assert.equal(good.rawRecords, 0);
});

test('SVCB/HTTPS whose SvcParams break RFC 9460 (wrong value length, keys out of order, an empty alpn id) is hex, not values made of the next record', () => {
  const param = (key: number, value: Buffer) => Buffer.concat([u16(key), u16(value.length), value]);
  const svcb = (...params: Buffer[]) => Buffer.concat([u16(1), Buffer.from([0]), ...params]);
  const alpn = (...ids: string[]) => Buffer.concat(ids.map((i) => Buffer.concat([Buffer.from([i.length]), Buffer.from(i)])));
  const cases: Array<[rdata: Buffer, why: string]> = [
    [svcb(param(3, Buffer.from([0x20]))), 'port of one byte (the next record\'s first byte would end it)'],
    [svcb(param(3, Buffer.from([1, 187, 0]))), 'port of three bytes'],
    [svcb(param(4, Buffer.from([192, 0, 2, 1, 9]))), 'ipv4hint of five bytes'],
    [svcb(param(4, Buffer.alloc(0))), 'ipv4hint without an address'],
    [svcb(param(6, Buffer.alloc(15))), 'ipv6hint of fifteen bytes'],
    [svcb(param(0, Buffer.from([0, 3, 0]))), 'mandatory of three bytes'],
    [svcb(param(0, Buffer.concat([u16(3), u16(1)])), param(1, alpn('h3')), param(3, u16(443))), 'mandatory keys not increasing'],
    [svcb(param(1, Buffer.from([3, 0x68, 0x32])), param(3, u16(80))), 'alpn id longer than its value'],
    [svcb(param(1, alpn('', 'h2'))), 'an empty alpn id'],
    [svcb(param(2, Buffer.from([0]))), 'no-default-alpn with a value'],
    [svcb(param(3, u16(443)), param(1, alpn('h3'))), 'port before alpn'],
    [svcb(param(3, u16(443)), param(3, u16(80))), 'port twice'],
  ];
  for (const [rdata, why] of cases) {
    const m = decodeMessage(Buffer.concat([header(3, 0x8180, 1, 2), name('example.com'), u16(65), u16(1), rrAtQ(65, 60, rdata), rrAtQ(1, 60, Buffer.from([192, 0, 2, 1]))]));
    assert.equal(m.answers[0].data, rdata.toString('hex'), why);
    assert.equal(m.rawRecords, 1, why);
    assert.equal(m.answers[1].data, '192.0.2.1', why);
  }
  // the same parameters well formed, computed by hand from RFC 9460 §7 and §8
  const good = decodeMessage(Buffer.concat([header(4, 0x8180, 1, 1), name('example.com'), u16(65), u16(1),
    rrAtQ(65, 60, svcb(param(0, Buffer.concat([u16(1), u16(3)])), param(1, alpn('h3', 'h2')), param(2, Buffer.alloc(0)), param(3, u16(443)), param(4, Buffer.from([192, 0, 2, 1, 192, 0, 2, 2])), param(6, Buffer.concat([Buffer.from([0x20, 0x01, 0x0d, 0xb8]), Buffer.alloc(11), Buffer.from([1])]))))]));
  assert.equal(good.answers[0].data, '1 . mandatory=alpn,port alpn=h3,h2 no-default-alpn port=443 ipv4hint=192.0.2.1,192.0.2.2 ipv6hint=2001:db8::1');
  assert.equal(good.rawRecords, 0);
});

test('SOA with bytes after its numbers, HINFO of one or three strings, CAA with an empty or non-alphanumeric tag, TXT/SPF without a string: hex and flagged, as dig rejects them', () => {
  const cs = (...s: string[]) => Buffer.concat(s.map((x) => Buffer.concat([Buffer.from([x.length]), Buffer.from(x)])));
  const soa = Buffer.concat([name('ns.test'), name('hm.test'), u32(1), u32(2), u32(3), u32(4), u32(5)]);
  const caa = (flags: number, tag: string, value: string) => Buffer.concat([Buffer.from([flags, tag.length]), Buffer.from(tag), Buffer.from(value)]);
  const cases: Array<[type: number, rdata: Buffer, text: string | undefined]> = [
    [6, Buffer.concat([soa, Buffer.from([0xff])]), undefined],
    [6, soa, 'ns.test hm.test 1 2 3 4 5'],
    [13, cs('X86'), undefined],
    [13, cs('X86', 'Linux', 'x'), undefined],
    [13, cs('X86', ''), '"X86" ""'],
    [257, caa(0, '', 'abc'), undefined],
    [257, caa(0, 'a-b', 'abc'), undefined],
    [257, caa(128, 'ISSUE', 'abc'), '128 ISSUE "abc"'],
    [16, Buffer.alloc(0), undefined],
    [99, Buffer.alloc(0), undefined],
    [16, cs(''), '""'],
  ];
  for (const [type, rdata, text] of cases) {
    const m = decodeMessage(Buffer.concat([header(5, 0x8180, 1, 2), name('example.com'), u16(type), u16(1), rrAtQ(type, 60, rdata), rrAtQ(1, 60, Buffer.from([192, 0, 2, 1]))]));
    assert.equal(m.answers[0].data, text ?? rdata.toString('hex'), `${type} ${rdata.toString('hex')}`);
    assert.equal(m.rawRecords, text ? 0 : 1, `${type} ${rdata.toString('hex')}`);
    assert.equal(m.answers[1].data, '192.0.2.1');
  }
});

test('TCP: an unanswered query times out as over UDP, once; the connection\'s end does not emit it again; a late response is an orphan', () => {
  const ctx = fakeContext({ responseTimeoutNs: 1000n });
  const p = new DnsStreamParser(ctx);
  p.data(0, tcpFrame(withId(query, 1)), 0n);
  p.tick(1000n);
  assert.equal(ctx.records.length, 0, 'not before its time is up');
  p.tick(1001n);
  assert.deepEqual(ctx.records.map((r) => [r.kind, (r.attributes.dns as any).id, r.startNs, r.endNs, r.flags]), [['unanswered', 1, 0n, 0n, ['timeout']]]);
  p.data(1, tcpFrame(withId(response, 1)), 1500n);
  // no tick between: the query's own time is up when the next bytes come, whatever the tick schedule
  p.data(0, tcpFrame(withId(query, 2)), 2000n);
  p.data(1, tcpFrame(withId(response, 2)), 3001n);
  // the connection ends after a third query's time was up, no tick having come: timeout, not closed; a fourth still in time: closed
  p.data(0, tcpFrame(withId(query, 3)), 4000n);
  p.data(0, tcpFrame(withId(query, 4)), 4500n);
  p.close('fin', 5100n);
  p.close('fin', 5200n);
  assert.deepEqual(ctx.records.map((r) => [r.kind, (r.attributes.dns as any).id, r.flags]), [
    ['unanswered', 1, ['timeout']],
    ['orphan_response', 1, undefined],
    ['unanswered', 2, ['timeout']],
    ['orphan_response', 2, undefined],
    ['unanswered', 3, ['timeout']],
    ['unanswered', 4, ['closed']],
  ]);
  assert.equal(ctx.counts.get('dns.unanswered'), 4);
});

/**
 * Pieces of an AXFR of zone z.test (id 5) over TCP: the query, its SOA of serial `serial`, a record of
 * z.test of a type and RDATA, an answer message of records (AA set, no question), an A record 10.0.0.i.
 */
function zoneTransfer(serial: number) {
  const soa = Buffer.concat([name('ns.z.test'), name('h.z.test'), u32(serial), u32(2), u32(3), u32(4), u32(5)]);
  const owner = name('z.test');
  const rr = (type: number, rdata: Buffer) => Buffer.concat([owner, u16(type), u16(1), u32(9), u16(rdata.length), rdata]);
  const axfrQ = Buffer.concat([header(5, 0, 1, 0), name('z.test'), u16(252), u16(1)]);
  const msg = (...rrs: Buffer[]) => Buffer.concat([header(5, 0x8400, 0, rrs.length), ...rrs]);
  const a = (i: number) => rr(1, Buffer.from([10, 0, 0, i]));
  return { soa, rr, axfrQ, msg, a };
}

test('TCP: a zone transfer under way times out from its last message, not its query; a query pipelined behind it still times out', () => {
  const { soa, rr, axfrQ, msg, a } = zoneTransfer(1);
  // messages 900 apart: the transfer lasts 2700 with a timeout of 1000 and is whole
  let ctx = fakeContext({ responseTimeoutNs: 1000n });
  let p = new DnsStreamParser(ctx);
  p.data(0, tcpFrame(axfrQ), 0n);
  p.data(0, tcpFrame(withId(query, 9)), 100n);
  p.data(1, tcpFrame(msg(rr(6, soa), a(1))), 900n);
  p.tick(1101n);
  p.data(1, tcpFrame(msg(a(2))), 1800n);
  p.tick(2700n);
  p.data(1, tcpFrame(msg(a(3), rr(6, soa))), 2700n);
  p.close('fin', 2800n);
  assert.deepEqual(ctx.records.map((r) => [r.kind, (r.attributes.dns as any).id, (r.attributes.dns as any).answer_count, r.endNs, r.flags]), [
    ['unanswered', 9, undefined, 100n, ['timeout']],
    ['exchange', 5, 5, 2700n, undefined],
  ]);
  // stalled after its first message: out at the timeout with what it gathered
  ctx = fakeContext({ responseTimeoutNs: 1000n });
  p = new DnsStreamParser(ctx);
  p.data(0, tcpFrame(axfrQ), 0n);
  p.data(1, tcpFrame(msg(rr(6, soa), a(1))), 900n);
  p.tick(1900n);
  assert.equal(ctx.records.length, 0);
  p.tick(1901n);
  p.close('fin', 3000n);
  assert.deepEqual(ctx.records.map((r) => [r.kind, (r.attributes.dns as any).answer_count, r.endNs, r.flags]), [['exchange', 2, 900n, ['timeout', 'response_incomplete']]]);
});

test('TCP capture: a query never answered is unanswered when packet time passes its timeout, before its connection ends; its late answer is an orphan (through reader, flows and parser)', () => {
  const s = 1_000_000_000n;
  const t0 = 1_700_000_000n * s;
  const a = new Conversation({ addr: '192.0.2.1', port: 40000 }, { addr: '192.0.2.53', port: 53 }, { startNs: t0 }).handshake().send(0, tcpFrame(withId(query, 1)));
  // another connection 7 s later (past the 5 s default): its packets move packet time on
  const b = new Conversation({ addr: '192.0.2.2', port: 40001 }, { addr: '192.0.2.53', port: 53 }, { startNs: t0 + 7n * s }).handshake().send(0, tcpFrame(withId(query, 2))).send(1, tcpFrame(withId(response, 2))).close();
  const late = a.segments(1, tcpFrame(withId(response, 1)));
  for (const f of late) f.tsNs = t0 + 8n * s;
  a.frames.push(...late);
  a.close();
  for (const f of a.frames.slice(-2)) f.tsNs += 8n * s;
  const { events } = parseCaptureSync(pcapng([...a.frames, ...b.frames].sort((x, y) => (x.tsNs < y.tsNs ? -1 : x.tsNs > y.tsNs ? 1 : 0))));
  assertValidEvents(events);
  assert.deepEqual((events as any[]).map((e) => [e.pano.kind, e.dns.id, e.client.port, e.pano.flags ?? []]), [
    ['unanswered', 1, 40000, ['timeout']],
    ['exchange', 2, 40001, []],
    ['orphan_response', 1, 40000, []],
  ]);
});

test('Extended DNS Error option (RFC 8914 §2): INFO-CODE with its registered name and EXTRA-TEXT as UTF-8; shorter than an INFO-CODE, only the hex', () => {
  const ede = (data: Buffer) => Buffer.concat([u16(15), u16(data.length), data]);
  const refused = (...options: Buffer[]) => {
    const opt = Buffer.concat([Buffer.from([0]), u16(41), u16(1232), u32(0), u16(Buffer.concat(options).length), ...options]);
    return Buffer.concat([header(7, 0x8185, 1, 0, 0, 1), name('example.com'), u16(1), u16(1), opt]); // REFUSED
  };
  const options = (...data: Buffer[]) => decodeMessage(refused(...data.map(ede))).edns!.options!;
  // 18 "Prohibited" (RFC 8914 §4.19) with a reason: 0x0012 then 17 bytes of text
  assert.deepEqual(options(Buffer.concat([u16(18), Buffer.from('blocked by policy')])), [
    { code: 15, name: 'EDE', data: '0012626c6f636b656420627920706f6c696379', info_code: 18, info_code_name: 'Prohibited', extra_text: 'blocked by policy' },
  ]);
  // no text (§2: it may be empty); the first and last codes RFC 8914 registers; one it does not
  assert.deepEqual(options(u16(6), u16(0), u16(24), u16(49152)), [
    { code: 15, name: 'EDE', data: '0006', info_code: 6, info_code_name: 'DNSSEC Bogus' },
    { code: 15, name: 'EDE', data: '0000', info_code: 0, info_code_name: 'Other Error' },
    { code: 15, name: 'EDE', data: '0018', info_code: 24, info_code_name: 'Invalid Data' },
    { code: 15, name: 'EDE', data: 'c000', info_code: 49152 },
  ]);
  // the codes registered after RFC 8914, by their registry names (30: RFC 9824 §3.5); 31 is past what is named here
  const later = options(u16(25), u16(26), u16(27), u16(28), u16(29), Buffer.concat([u16(30), Buffer.from('NXNAME')]), u16(31));
  assert.deepEqual(later.map((o) => [o.data, o.info_code, o.info_code_name, o.extra_text]), [
    ['0019', 25, 'Signature Expired before Valid', undefined],
    ['001a', 26, 'Too Early', undefined],
    ['001b', 27, 'Unsupported NSEC3 Iterations Value', undefined],
    ['001c', 28, 'Unable to conform to policy', undefined],
    ['001d', 29, 'Synthesized', undefined],
    ['001e4e584e414d45', 30, 'Invalid Query Type', 'NXNAME'],
    ['001f', 31, undefined, undefined],
  ]);
  // UTF-8 text: "Zone gesperrt für Größe" with ü (c3 bc), ö (c3 b6), ß (c3 9f)
  const text = Buffer.from('5a6f6e6520676573706572727420' + '66c3bc7220' + '4772c3b6c39f65', 'hex');
  assert.equal(options(Buffer.concat([u16(15), text]))[0].extra_text, 'Zone gesperrt für Größe');
  assert.equal(options(Buffer.concat([u16(15), text]))[0].info_code_name, 'Blocked');
  // one byte, or none: no INFO-CODE to read
  assert.deepEqual(options(Buffer.from([0x12]), Buffer.alloc(0)), [{ code: 15, name: 'EDE', data: '12' }, { code: 15, name: 'EDE', data: '' }]);
  // in an event: valid against the schema, the response's OPT record as decoded
  const q = Buffer.concat([header(7, 0x0100, 1, 0), name('example.com'), u16(1), u16(1)]);
  const client = { addr: '192.0.2.1', port: 40000 };
  const server = { addr: '192.0.2.53', port: 53 };
  const t = 1_700_000_000_000_000_000n;
  const r = refused(ede(Buffer.concat([u16(18), Buffer.from('blocked by policy')])), ede(Buffer.from([1])));
  const { events } = parseCaptureSync(pcapng([{ tsNs: t, data: udpFrame(client, server, q) }, { tsNs: t + 1000n, data: udpFrame(server, client, r) }]));
  assertValidEvents(events);
  const ev = events[0] as any;
  assert.equal(ev.dns.response_code, 'REFUSED');
  assert.deepEqual(ev.dns.edns.options.map((o: any) => [o.info_code, o.info_code_name, o.extra_text]), [[18, 'Prohibited', 'blocked by policy'], [undefined, undefined, undefined]]);
  assert.equal(ev.pano.flags, undefined);
});

test('TCP: a zone transfer ended part way by an error RCODE keeps the records that came, with the error, flagged response_incomplete', () => {
  const soa = (serial: number) => Buffer.concat([name('ns.z.test'), name('h.z.test'), u32(serial), u32(2), u32(3), u32(4), u32(5)]);
  const owner = name('z.test');
  const rr = (type: number, rdata: Buffer) => Buffer.concat([owner, u16(type), u16(1), u32(9), u16(rdata.length), rdata]);
  const a = (i: number) => rr(1, Buffer.from([10, 0, 0, i]));
  const msg = (id: number, flags: number, ...rrs: Buffer[]) => Buffer.concat([header(id, flags, 0, rrs.length), ...rrs]);
  const run = (q: Buffer, messages: Buffer[]) => {
    const ctx = fakeContext();
    const p = new DnsStreamParser(ctx);
    p.data(0, tcpFrame(q), 1n);
    messages.forEach((m, i) => p.data(1, tcpFrame(m), BigInt(2 + i)));
    // the connection goes on: the next query is answered on its own
    p.data(0, tcpFrame(withId(query, 0x4444)), 10n);
    p.data(1, tcpFrame(withId(response, 0x4444)), 11n);
    p.close('fin', 12n);
    return ctx.records.map((r) => {
      const dns = r.attributes.dns as any;
      return [r.kind, dns.id, dns.response_code, (r.attributes.error as any)?.type, dns.answer_count, dns.answers.map((x: any) => x.data), r.endNs, r.responseBytes, r.flags];
    });
  };
  // AXFR: two messages of records, then SERVFAIL (rcode 2) with none; 2 + 12 bytes of header per message, plus its records
  const axfrQ = Buffer.concat([header(5, 0, 1, 0), name('z.test'), u16(252), u16(1)]);
  const axfr = [msg(5, 0x8400, rr(6, soa(1)), a(1)), msg(5, 0x8400, a(2)), msg(5, 0x8402)];
  const axfrBytes = axfr.reduce((n, m) => n + 2 + m.length, 0);
  assert.deepEqual(run(axfrQ, axfr), [
    ['exchange', 5, 'SERVFAIL', 'SERVFAIL', 3, ['ns.z.test h.z.test 1 2 3 4 5', '10.0.0.1', '10.0.0.2'], 4n, axfrBytes, ['response_incomplete']],
    ['exchange', 0x4444, 'NOERROR', undefined, 2, ['www.example.com', '93.184.216.34'], 11n, response.length + 2, undefined],
  ]);
  // IXFR 1 → 3 (RFC 1995 §4): the opening SOA 3, the deletions under SOA 1, then NOTAUTH (rcode 9) echoing the question.
  // Bytes: owner z.test 8, SOA RDATA 11 + 10 + 20 = 41, so an SOA record 8 + 10 + 41 = 59 and an A record 22; the first
  // message 12 + 59 + 59 + 22 = 152, the error 12 + 8 + 4 = 24; each with its 2-byte length: 154 + 26 = 180
  const ixfrQ = Buffer.concat([header(6, 0, 1, 0, 1), name('z.test'), u16(251), u16(1), rr(6, soa(1))]);
  const notauth = Buffer.concat([header(6, 0x8409, 1, 0), name('z.test'), u16(251), u16(1)]);
  assert.deepEqual(run(ixfrQ, [msg(6, 0x8400, rr(6, soa(3)), rr(6, soa(1)), a(7)), notauth]), [
    ['exchange', 6, 'NOTAUTH', 'NOTAUTH', 3, ['ns.z.test h.z.test 3 2 3 4 5', 'ns.z.test h.z.test 1 2 3 4 5', '10.0.0.7'], 3n, 180, ['response_incomplete']],
    ['exchange', 0x4444, 'NOERROR', undefined, 2, ['www.example.com', '93.184.216.34'], 11n, response.length + 2, undefined],
  ]);
  // an error as the first answer is the whole answer, as before: no records, not incomplete
  assert.deepEqual(run(axfrQ, [msg(5, 0x8405)])[0], ['exchange', 5, 'REFUSED', 'REFUSED', 0, [], 2n, 14, undefined]);
});

test('TCP capture: a zone transfer cut by its connection before the closing SOA is flagged response_incomplete beside why; a whole one is not (through reader, flows and parser)', () => {
  const { soa, rr, axfrQ, msg, a } = zoneTransfer(7);
  const server = { addr: '192.0.2.53', port: 53 };
  const t0 = 1_700_000_000_000_000_000n;
  const run = (build: (c: Conversation) => Conversation) => {
    const c = build(new Conversation({ addr: '192.0.2.1', port: 40000 }, server, { startNs: t0 }).handshake().send(0, tcpFrame(axfrQ)));
    const { events } = parseCaptureSync(c.pcapng());
    assertValidEvents(events);
    return (events as any[]).map((e) => [e.pano.kind, e.dns.answer_count, e.dns.answers.map((x: any) => x.data), e.pano.flags ?? []]);
  };
  const first = msg(rr(6, soa), a(1), a(2));
  const soaText = 'ns.z.test h.z.test 7 2 3 4 5';
  // two messages of three: the server resets the connection, or closes it, before the third with the closing SOA
  assert.deepEqual(run((c) => c.send(1, tcpFrame(first)).send(1, tcpFrame(msg(a(3)))).rst(1)), [
    ['exchange', 4, [soaText, '10.0.0.1', '10.0.0.2', '10.0.0.3'], ['reset', 'response_incomplete']],
  ]);
  assert.deepEqual(run((c) => c.send(1, tcpFrame(first)).close()), [['exchange', 3, [soaText, '10.0.0.1', '10.0.0.2'], ['closed', 'response_incomplete']]]);
  // the last message itself cut: its first bytes came, the connection ended; the records of the messages whole are kept
  const last = tcpFrame(msg(a(3), rr(6, soa)));
  assert.deepEqual(run((c) => c.send(1, tcpFrame(first)).send(1, last.subarray(0, 20)).close()), [
    ['exchange', 3, [soaText, '10.0.0.1', '10.0.0.2'], ['closed', 'response_incomplete']],
  ]);
  // whole: ended by its closing SOA, then the connection closes; no flag
  assert.deepEqual(run((c) => c.send(1, tcpFrame(first)).send(1, last).close()), [['exchange', 5, [soaText, '10.0.0.1', '10.0.0.2', '10.0.0.3', soaText], []]]);
});

/**
 * A TSIG record (RFC 8945 §4.2) owned by `key`: algorithm name, 48-bit time signed, fudge, MAC
 * size and MAC, original id, error, other length and other data.
 */
function tsigRecord(key: string, alg: string, signed: number, fudge: number, mac: Buffer, originalId: number, error: number, other: Buffer, extra = Buffer.alloc(0)): Buffer {
  const time = Buffer.alloc(6);
  time.writeUIntBE(signed, 0, 6);
  const rdata = Buffer.concat([name(alg), time, u16(fudge), u16(mac.length), mac, u16(originalId), u16(error), u16(other.length), other, extra]);
  return Buffer.concat([name(key), u16(250), u16(255), u32(0), u16(rdata.length), rdata]);
}

test('TSIG (RFC 8945): the fields as dig prints them, MAC and other data in base64; errors by their TSIG names; RDATA the fields do not fill exactly is hex and flagged', () => {
  const mac = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex'); // base64 AAECAwQFBgcICQoLDA0ODw==
  const q = (rec: Buffer) => Buffer.concat([header(0x4242, 0x0100, 1, 0, 0, 1), name('example.com'), u16(1), u16(1), rec]);
  const cases: Array<[rec: Buffer, text: string | undefined]> = [
    // 2^40 + 5 seconds: a time past 32 bits keeps its high word
    [tsigRecord('k1.example', 'hmac-sha256', 2 ** 40 + 5, 300, mac, 0x4242, 0, Buffer.alloc(0)), 'hmac-sha256 1099511627781 300 16 AAECAwQFBgcICQoLDA0ODw== 16962 NOERROR 0'],
    // BADTIME with the server's time (6 bytes) as other data; 16 is BADSIG in a TSIG, not BADVERS
    [tsigRecord('k1.example', 'hmac-sha1', 1700000000, 300, mac, 7, 18, Buffer.from([0, 0, 0x65, 0x53, 0xf1, 0x00])), 'hmac-sha1 1700000000 300 16 AAECAwQFBgcICQoLDA0ODw== 7 BADTIME 6 AABlU/EA'],
    [tsigRecord('k1.example', 'hmac-md5.sig-alg.reg.int', 1, 1, Buffer.alloc(0), 9, 16, Buffer.alloc(0)), 'hmac-md5.sig-alg.reg.int 1 1 0 9 BADSIG 0'],
    [tsigRecord('k1.example', 'hmac-sha256', 1, 1, Buffer.alloc(0), 9, 17, Buffer.alloc(0)), 'hmac-sha256 1 1 0 9 BADKEY 0'],
    [tsigRecord('k1.example', 'hmac-sha256', 1, 1, mac, 9, 0, Buffer.alloc(0), Buffer.from([0])), undefined], // a byte after the other data
  ];
  for (const [rec, text] of cases) {
    const m = decodeMessage(q(rec));
    const rdata = rec.subarray(name('k1.example').length + 10);
    assert.deepEqual(m.additional, [{ name: 'k1.example', type: 'TSIG', class: 'ANY', ttl: 0, data: text ?? rdata.toString('hex') }]);
    assert.equal(m.rawRecords, text ? 0 : 1);
  }
  // a MAC size past the RDATA: hex, not the next record's bytes read as the MAC
  const short = tsigRecord('k1.example', 'hmac-sha256', 1, 1, mac, 9, 0, Buffer.alloc(0));
  short.writeUInt16BE(200, name('k1.example').length + 10 + name('hmac-sha256').length + 8);
  assert.equal(decodeMessage(q(short)).rawRecords, 1);
});

test("UPDATE (RFC 2136): the request's prerequisites, updates and TSIG are in the event; class ANY/NONE records without data have empty data, not hex; a plain query's event is unchanged", () => {
  // zone example.com SOA; prerequisite "nxrrset new.example.com A" (NONE, no data);
  // updates: delete old.example.com A (ANY, no data), add new.example.com 300 A 192.0.2.7,
  // delete the one record gone.example.com TXT "x" (NONE, with data); additional: TSIG
  const rr = (owner: string, type: number, cls: number, ttl: number, rdata: Buffer) => Buffer.concat([name(owner), u16(type), u16(cls), u32(ttl), u16(rdata.length), rdata]);
  const mac = Buffer.alloc(32, 0xab);
  const update = Buffer.concat([
    header(0x0777, 0x2800, 1, 1, 3, 1), name('example.com'), u16(6), u16(1),
    rr('new.example.com', 1, 254, 0, Buffer.alloc(0)),
    rr('old.example.com', 1, 255, 0, Buffer.alloc(0)),
    rr('new.example.com', 1, 1, 300, Buffer.from([192, 0, 2, 7])),
    rr('gone.example.com', 16, 254, 0, Buffer.from([1, 0x78])),
    tsigRecord('key.example', 'hmac-sha256', 1795957742, 300, mac, 0x0777, 0, Buffer.alloc(0)),
  ]);
  const refused = Buffer.concat([header(0x0777, 0xa805, 1, 0), name('example.com'), u16(6), u16(1)]);
  const ctx = fakeContext();
  const p = new DnsDatagramParser(ctx);
  p.datagram(0, update, 1n);
  p.datagram(1, refused, 2n);
  assert.equal(ctx.records.length, 1);
  const rec = ctx.records[0];
  assert.equal(rec.flags, undefined);
  const dns = rec.attributes.dns as any;
  assert.equal(dns.opcode, 'UPDATE');
  assert.equal(dns.response_code, 'REFUSED');
  assert.deepEqual(dns.question, { name: 'example.com', type: 'SOA', class: 'IN' });
  assert.deepEqual(dns.answers, []);
  assert.deepEqual(dns.query_answers, [{ name: 'new.example.com', type: 'A', class: 'NONE', ttl: 0, data: '' }]);
  assert.deepEqual(dns.query_authority, [
    { name: 'old.example.com', type: 'A', class: 'ANY', ttl: 0, data: '' },
    { name: 'new.example.com', type: 'A', class: 'IN', ttl: 300, data: '192.0.2.7' },
    { name: 'gone.example.com', type: 'TXT', class: 'NONE', ttl: 0, data: '"x"' },
  ]);
  assert.deepEqual(dns.query_additional, [{ name: 'key.example', type: 'TSIG', class: 'ANY', ttl: 0, data: `hmac-sha256 1795957742 300 32 ${'q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s='} 1911 NOERROR 0` }]);
  assert.deepEqual(Object.keys(dns), ['id', 'opcode', 'flags', 'question', 'response_code', 'answer_count', 'answers', 'query_answers', 'query_authority', 'query_additional']);

  // unanswered, the request's records are there too; a record of class IN without data is malformed (an A of 0 bytes)
  const bad = Buffer.concat([header(0x0778, 0x2800, 1, 0, 1, 0), name('example.com'), u16(6), u16(1), rr('x.example.com', 1, 1, 300, Buffer.alloc(0))]);
  const ctx2 = fakeContext({ responseTimeoutNs: 1000n }, { transport: 'udp' });
  const p2 = new DnsDatagramParser(ctx2);
  p2.datagram(0, bad, 1n);
  p2.tick(1002n);
  const unanswered = ctx2.records[0];
  assert.deepEqual((unanswered.attributes.dns as any).query_authority, [{ name: 'x.example.com', type: 'A', class: 'IN', ttl: 300, data: '' }]);
  assert.ok(unanswered.flags?.includes('undecodable'), JSON.stringify(unanswered.flags));
  assert.ok(unanswered.flags?.includes('timeout'), JSON.stringify(unanswered.flags));

  // a plain query with only an OPT record gains no query_ fields
  const ctx3 = fakeContext();
  const p3 = new DnsDatagramParser(ctx3);
  p3.datagram(0, query, 1n);
  p3.datagram(1, response, 2n);
  assert.deepEqual(Object.keys(ctx3.records[0].attributes.dns as object), ['id', 'opcode', 'flags', 'question', 'response_code', 'answer_count', 'answers']);
});

/** A TKEY record (RFC 2930 §2): algorithm, inception, expiration, mode, error, key size and key, other size and other data. */
function tkeyRecord(owner: string, alg: string, inception: number, expiration: number, mode: number, error: number, key: Buffer, other: Buffer, extra = Buffer.alloc(0)): Buffer {
  const rdata = Buffer.concat([name(alg), u32(inception), u32(expiration), u16(mode), u16(error), u16(key.length), key, u16(other.length), other, extra]);
  return Buffer.concat([name(owner), u16(249), u16(255), u32(0), u16(rdata.length), rdata]);
}

test('TKEY (RFC 2930): the fields as dig prints them, key and other data in base64; RDATA the fields do not fill exactly is hex and flagged; TSIG and TKEY fields as tshark reads them', { skip: tsharkAvailable() ? false : 'tshark missing' }, () => {
  const token = Buffer.from('6082010006092a864886f712010202', 'hex'); // the start of a GSS-API (Kerberos) token: base64 YIIBAAYJKoZIhvcSAQIC
  const q = (id: number, rec: Buffer, section: 'authority' | 'additional') => Buffer.concat([
    header(id, 0x0000, 1, 0, section === 'authority' ? 1 : 0, section === 'additional' ? 1 : 0), name('1234.sig-host.example.com'), u16(249), u16(255), rec,
  ]);
  const cases: Array<[owner: string, rec: Buffer, text: string | undefined]> = [
    // GSS-TSIG negotiation (mode 3, RFC 3645): one day from 2023-11-14T22:13:20Z
    ['1234.sig-host.example.com', tkeyRecord('1234.sig-host.example.com', 'gss-tsig', 1700000000, 1700086400, 3, 0, token, Buffer.alloc(0)), 'gss-tsig 1700000000 1700086400 3 NOERROR 15 YIIBAAYJKoZIhvcSAQIC 0'],
    ['k.example', tkeyRecord('k.example', 'hmac-md5.sig-alg.reg.int', 1, 2, 2, 21, Buffer.alloc(0), Buffer.from('abc')), 'hmac-md5.sig-alg.reg.int 1 2 2 BADALG 0 3 YWJj'],
    ['k.example', tkeyRecord('k.example', 'gss-tsig', 1, 2, 3, 0, token, Buffer.alloc(0), Buffer.from([0])), undefined], // a byte after the other data
  ];
  for (const [owner, rec, text] of cases) {
    const m = decodeMessage(q(1, rec, 'additional'));
    assert.deepEqual(m.additional, [{ name: owner, type: 'TKEY', class: 'ANY', ttl: 0, data: text ?? rec.subarray(name(owner).length + 10).toString('hex') }]);
    assert.equal(m.rawRecords, text ? 0 : 1);
  }

  // tshark, on a capture of a GSS-TSIG TKEY query (its TKEY in additional, as Windows clients send it) and a signed query
  const client = { addr: '192.0.2.10', port: 50000 };
  const server = { addr: '192.0.2.53', port: 53 };
  const mac = Buffer.alloc(28, 0x5a);
  const signed = Buffer.concat([header(2, 0x0100, 1, 0, 0, 1), name('www.example.com'), u16(1), u16(1), tsigRecord('key.example', 'hmac-sha224', 1795957742, 300, mac, 2, 18, Buffer.from([0, 0, 0x6b, 0x0b, 0x9a, 0xee]))]);
  const frames = [
    { tsNs: 1_000n, data: udpFrame(client, server, q(1, cases[0][1], 'additional')) },
    { tsNs: 2_000n, data: udpFrame({ addr: client.addr, port: 50001 }, server, signed) },
  ];
  const dir = mkdtempSync(join(tmpdir(), 'pano-tkey-'));
  try {
    const file = join(dir, 'tkey.pcapng');
    writeFileSync(file, pcapng(frames));
    const { events } = parseCaptureSync(file);
    assertValidEvents(events);
    assert.equal(events.length, 2);
    const byId = (id: number) => (events as any[]).find((e) => e.dns.id === id).dns.query_additional[0].data.split(' ');
    const [tkeyRow] = tsharkFields(file, ['dns.tkey.algo_name', 'dns.tkey.signature_inception', 'dns.tkey.signature_expiration', 'dns.tkey.mode', 'dns.tkey.error', 'dns.tkey.key_size', 'dns.tkey.other_size'], 'dns.id == 1', ['-t', 'e']);
    const t = byId(1);
    // tshark prints the two times as dates: compare them as the seconds they stand for
    assert.deepEqual([t[0], t[3], t[4] === 'NOERROR' ? '0' : t[4], t[5], t[7]], [tkeyRow[0], tkeyRow[3], tkeyRow[4], tkeyRow[5], tkeyRow[6]]);
    assert.deepEqual([t[1], t[2]].map(Number), [tkeyRow[1], tkeyRow[2]].map((d) => Date.parse(d.replace(/^(\w+) +(\d+), (\d+) (\S+?)(\.\d+)? UTC$/, '$1 $2 $3 $4 UTC')) / 1000));
    const [tsigRow] = tsharkFields(file, ['dns.tsig.algorithm_name', 'dns.tsig.fudge', 'dns.tsig.mac_size', 'dns.tsig.original_id', 'dns.tsig.error', 'dns.tsig.other_len'], 'dns.id == 2');
    const g = byId(2);
    assert.deepEqual(g, ['hmac-sha224', '1795957742', '300', '28', mac.toString('base64'), '2', 'BADTIME', '6', 'AABrC5ru']);
    assert.deepEqual([g[0], g[2], g[3], g[5], '18', g[7]], tsigRow);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('NSEC3 next hashed owners of every length in base32hex without padding (RFC 4648 §7; values from Python\'s base64.b32hexencode); type bitmaps across windows', () => {
  const expected = ['U0', 'U3OG', 'U3OV4', 'U3OV5SO', 'U3OV5SVK', 'U3OV5SVKUK', 'U3OV5SVKUNR0'];
  expected.forEach((b32, i) => {
    const hash = Buffer.from(Array.from({ length: i + 1 }, (_, k) => 0xf0 + k));
    // SHA-1, no flags, 0 iterations, no salt; types A (window 0) and TYPE65534 (window 255, byte 31, bit 6)
    const bitmaps = Buffer.concat([Buffer.from([0, 1, 0x40]), Buffer.from([255, 32]), Buffer.alloc(31), Buffer.from([0x02])]);
    const rdata = Buffer.concat([Buffer.from([1, 0, 0, 0, 0, hash.length]), hash, bitmaps]);
    const m = decodeMessage(Buffer.concat([header(1, 0x8180, 1, 1), name('x.test'), u16(50), u16(1), rrAtQ(50, 60, rdata)]));
    assert.equal(m.answers[0].data, `1 0 0 - ${b32} A TYPE65534`);
    assert.equal(m.rawRecords, 0);
  });
});
