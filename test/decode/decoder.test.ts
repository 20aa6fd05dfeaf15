import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LinkType } from '@panopticon/pcap';
import { Decoder, IpProto, TcpFlag, type L4Packet } from '@panopticon/decode';
import { ether, ext6, frag6, ipv4, ipv6, nullHeader, packet, sll, sll2, snap, tcp, u16, udp } from './frames.js';

const ETH_IPV4 = 0x0800;
const ETH_IPV6 = 0x86dd;
const ETH_ARP = 0x0806;

function decodeOne(linkType: number, frame: Buffer): { d: Decoder; r: L4Packet | null } {
  const d = new Decoder();
  return { d, r: d.decode(packet(linkType, frame)) };
}

const body = Buffer.from('GET / HTTP/1.1\r\n\r\n');
const tcp4 = () => ipv4(tcp({ sport: 40001, dport: 80, seq: 0xfffffff0, ack: 0x80000001, flags: TcpFlag.PSH | TcpFlag.ACK, window: 502, payload: body }));
const tcp6 = () => ipv6(IpProto.TCP, tcp({ sport: 40001, dport: 443, seq: 7, payload: body }));

function assertTcp4(r: L4Packet | null) {
  assert.ok(r, 'decoded');
  assert.equal(r.ipVersion, 4);
  assert.equal(r.srcAddr, '192.168.1.10');
  assert.equal(r.dstAddr, '10.0.0.1');
  assert.equal(r.protocol, IpProto.TCP);
  assert.equal(r.srcPort, 40001);
  assert.equal(r.dstPort, 80);
  assert.deepEqual(r.tcp, { seq: 0xfffffff0, ack: 0x80000001, flags: TcpFlag.PSH | TcpFlag.ACK, window: 502 });
  assert.deepEqual(r.payload, body);
  assert.equal(r.missing, 0);
}

function assertTcp6(r: L4Packet | null) {
  assert.ok(r, 'decoded');
  assert.equal(r.ipVersion, 6);
  assert.equal(r.srcAddr, '2001:db8::1');
  assert.equal(r.dstAddr, '2001:db8::2');
  assert.equal(r.srcPort, 40001);
  assert.equal(r.dstPort, 443);
  assert.equal(r.tcp?.seq, 7);
  assert.deepEqual(r.payload, body);
}

test('Ethernet II carrying IPv4/TCP and IPv6/TCP', () => {
  const a = decodeOne(LinkType.ETHERNET, ether(ETH_IPV4, tcp4()));
  assertTcp4(a.r);
  assert.equal(a.r?.vlan, undefined);
  assert.equal(a.d.counters.decoded, 1);
  assertTcp6(decodeOne(LinkType.ETHERNET, ether(ETH_IPV6, tcp6())).r);
});

test('payload is a view into the frame, not a copy', () => {
  const frame = ether(ETH_IPV4, tcp4());
  const { r } = decodeOne(LinkType.ETHERNET, frame);
  assert.equal(r?.payload.buffer, frame.buffer);
  assert.equal(r?.payload.byteOffset, frame.byteOffset + 14 + 20 + 20);
});

test('802.3 length frames and non-IP EtherTypes are unsupported, not malformed', () => {
  const d = new Decoder();
  const llc = Buffer.concat([Buffer.alloc(12), u16(46), Buffer.alloc(46)]);
  assert.equal(d.decode(packet(LinkType.ETHERNET, llc)), null);
  assert.equal(d.decode(packet(LinkType.ETHERNET, ether(ETH_ARP, Buffer.alloc(28)))), null);
  assert.equal(d.decode(packet(147, Buffer.alloc(40))), null); // LINKTYPE_USER0
  assert.equal(d.counters.unsupported, 3);
  assert.equal(d.counters.malformed, 0);
});

test('802.1Q, 802.1ad QinQ and stacked legacy tags report VLAN ids outermost first', () => {
  const one = decodeOne(LinkType.ETHERNET, ether(ETH_IPV4, tcp4(), { tags: [[0x8100, 100]] })).r;
  assertTcp4(one);
  assert.deepEqual(one?.vlan, [100]);
  const qinq = decodeOne(LinkType.ETHERNET, ether(ETH_IPV6, tcp6(), { tags: [[0x88a8, 30], [0x8100, 40]] })).r;
  assertTcp6(qinq);
  assert.deepEqual(qinq?.vlan, [30, 40]);
  const triple = decodeOne(LinkType.ETHERNET, ether(ETH_IPV4, tcp4(), { tags: [[0x9100, 1], [0x88a8, 2], [0x8100, 4095]] })).r;
  assertTcp4(triple);
  assert.deepEqual(triple?.vlan, [1, 2, 4095]);
  // The priority bits share the tag with the id: they must not leak into it.
  const frame = ether(ETH_IPV4, tcp4(), { tags: [[0x8100, 5]] });
  frame[14] |= 0xe0; // PCP 7
  assert.deepEqual(decodeOne(LinkType.ETHERNET, frame).r?.vlan, [5]);
});

test('a tagged frame whose inner EtherType is not IP is unsupported', () => {
  const { d, r } = decodeOne(LinkType.ETHERNET, ether(ETH_ARP, Buffer.alloc(28), { tags: [[0x8100, 7]] }));
  assert.equal(r, null);
  assert.equal(d.counters.unsupported, 1);
});

test('PPPoE session and MPLS label stacks reach the IP header', () => {
  const pppoe = Buffer.concat([Buffer.from([0x11, 0x00]), u16(0x0001), u16(0), u16(0x0021), tcp4()]);
  assertTcp4(decodeOne(LinkType.ETHERNET, ether(0x8864, pppoe)).r);
  const pppoe6 = Buffer.concat([Buffer.from([0x11, 0x00]), u16(0x0001), u16(0), u16(0x0057), tcp6()]);
  assertTcp6(decodeOne(LinkType.ETHERNET, ether(0x8864, pppoe6)).r);
  // Two labels (label 16, then label 17 with bottom-of-stack), TTL 64.
  const labels = Buffer.from([0x00, 0x01, 0x00, 0x40, 0x00, 0x01, 0x11, 0x40]);
  assertTcp4(decodeOne(LinkType.ETHERNET, ether(0x8847, Buffer.concat([labels, tcp4()]))).r);
});

test('Linux SLL and SLL2', () => {
  assertTcp4(decodeOne(LinkType.LINUX_SLL, sll(ETH_IPV4, tcp4())).r);
  assertTcp6(decodeOne(LinkType.LINUX_SLL, sll(ETH_IPV6, tcp6())).r);
  assertTcp4(decodeOne(LinkType.LINUX_SLL2, sll2(ETH_IPV4, tcp4())).r);
  assertTcp6(decodeOne(LinkType.LINUX_SLL2, sll2(ETH_IPV6, tcp6())).r);
  // A VLAN tag left in place after the cooked header.
  const tagged = Buffer.concat([u16(12), u16(ETH_IPV4), tcp4()]);
  const r = decodeOne(LinkType.LINUX_SLL2, sll2(0x8100, tagged)).r;
  assertTcp4(r);
  assert.deepEqual(r?.vlan, [12]);
  const { d } = decodeOne(LinkType.LINUX_SLL, sll(0x0004, Buffer.alloc(30))); // ETH_P_802_2
  assert.equal(d.counters.unsupported, 1);
});

test('BSD NULL in either host byte order, and LOOP in network order', () => {
  for (const le of [true, false]) {
    assertTcp4(decodeOne(LinkType.NULL, nullHeader(2, tcp4(), le)).r);
    for (const family of [24, 28, 30]) assertTcp6(decodeOne(LinkType.NULL, nullHeader(family, tcp6(), le)).r);
  }
  assertTcp4(decodeOne(LinkType.LOOP, nullHeader(2, tcp4(), false)).r);
  assertTcp6(decodeOne(LinkType.LOOP, nullHeader(24, tcp6(), false)).r);
  const { d } = decodeOne(LinkType.NULL, nullHeader(7, tcp4(), true));
  assert.equal(d.counters.unsupported, 1);
});

test('raw IP link types', () => {
  assertTcp4(decodeOne(LinkType.RAW, tcp4()).r);
  assertTcp6(decodeOne(LinkType.RAW, tcp6()).r);
  assertTcp4(decodeOne(12, tcp4()).r); // DLT_RAW as some writers store it
  assertTcp4(decodeOne(LinkType.IPV4, tcp4()).r);
  assertTcp6(decodeOne(LinkType.IPV6, tcp6()).r);
  const { d } = decodeOne(LinkType.IPV4, tcp6());
  assert.equal(d.counters.malformed, 1, 'an IPv6 header where IPv4 is promised is damage');
});

test('UDP over IPv4 and IPv6, trimmed to the UDP length', () => {
  const dns = Buffer.from('0123456789abcdef', 'hex');
  const r = decodeOne(LinkType.RAW, ipv4(udp({ sport: 5353, dport: 53, payload: dns }), { proto: IpProto.UDP })).r;
  assert.ok(r);
  assert.equal(r.protocol, IpProto.UDP);
  assert.equal(r.tcp, undefined);
  assert.deepEqual([r.srcPort, r.dstPort], [5353, 53]);
  assert.deepEqual(r.payload, dns);
  // A UDP length shorter than the IP payload: trailing bytes are not UDP payload.
  const short = udp({ payload: Buffer.concat([dns, Buffer.from('trailer')]), length: 8 + dns.length });
  assert.deepEqual(decodeOne(LinkType.RAW, ipv6(IpProto.UDP, short)).r?.payload, dns);
  const bad = decodeOne(LinkType.RAW, ipv4(udp({ payload: dns, length: 7 }), { proto: IpProto.UDP }));
  assert.equal(bad.r, null);
  assert.equal(bad.d.counters.malformed, 1);
  const long = decodeOne(LinkType.RAW, ipv4(udp({ payload: dns, length: 100 }), { proto: IpProto.UDP }));
  assert.equal(long.r, null, 'UDP length beyond the IP datagram');
  assert.equal(long.d.counters.malformed, 1);
});

test('Ethernet padding after a short IPv4 datagram is trimmed', () => {
  const frame = ether(ETH_IPV4, ipv4(udp({ payload: Buffer.from('hi') }), { proto: IpProto.UDP }));
  const padded = Buffer.concat([frame, Buffer.alloc(60 - frame.length, 0xee)]);
  assert.equal(padded.length, 60);
  const r = decodeOne(LinkType.ETHERNET, padded).r;
  assert.deepEqual(r?.payload, Buffer.from('hi'));
  assert.equal(r?.missing, 0);
  const tcpFrame = ether(ETH_IPV4, ipv4(tcp({ payload: Buffer.from('x') })));
  const r2 = decodeOne(LinkType.ETHERNET, Buffer.concat([tcpFrame, Buffer.alloc(5, 0xee)])).r;
  assert.deepEqual(r2?.payload, Buffer.from('x'));
  const v6frame = ether(ETH_IPV6, ipv6(IpProto.TCP, tcp({ payload: Buffer.from('y') })));
  const r3 = decodeOne(LinkType.ETHERNET, Buffer.concat([v6frame, Buffer.alloc(4, 0xee)])).r;
  assert.deepEqual(r3?.payload, Buffer.from('y'));
});

test('IPv4 options are skipped and TCP options honoured through the data offset', () => {
  const options = Buffer.from([0x94, 0x04, 0x00, 0x00]); // router alert
  const tcpOptions = Buffer.from([0x02, 0x04, 0x05, 0xb4, 0x01, 0x01, 0x04, 0x02]); // MSS, NOP, NOP, SACK-permitted
  const r = decodeOne(LinkType.RAW, ipv4(tcp({ options: tcpOptions, payload: body, flags: TcpFlag.SYN }), { options })).r;
  assert.deepEqual(r?.payload, body);
  assert.equal(r?.tcp?.flags, TcpFlag.SYN);
});

test('damaged IPv4 and TCP headers are malformed', () => {
  const cases: Array<[string, Buffer]> = [
    ['version 5', ipv4(tcp(), { version: 5 })],
    ['IHL 4', ipv4(tcp(), { ihl: 4 })],
    ['IHL beyond the frame', ipv4(Buffer.alloc(0), { ihl: 15 })],
    ['total length below the header', ipv4(tcp(), { totalLength: 19 })],
    ['TCP data offset 4', (() => { const b = ipv4(tcp()); b[32] = 4 << 4; return b; })()],
    ['TCP data offset beyond the segment', (() => { const b = ipv4(tcp()); b[32] = 15 << 4; return b; })()],
    ['IPv6 version 4 in an IPv6 frame', ipv6(IpProto.TCP, tcp(), { version: 4 })],
  ];
  for (const [name, frame] of cases) {
    const { d, r } = decodeOne(name.startsWith('IPv6') ? LinkType.IPV6 : LinkType.IPV4, frame);
    assert.equal(r, null, name);
    assert.equal(d.counters.malformed, 1, name);
    assert.notEqual(d.problem, '', name);
  }
});

test('an IPv4 total length of zero (segmentation offload) takes the frame as the datagram', () => {
  const r = decodeOne(LinkType.RAW, ipv4(tcp({ payload: body }), { totalLength: 0 })).r;
  assert.deepEqual(r?.payload, body);
  assert.equal(r?.missing, 0);
});

test('ICMP, ICMPv6, ESP and No Next Header count as other transports', () => {
  const d = new Decoder();
  assert.equal(d.decode(packet(LinkType.RAW, ipv4(Buffer.alloc(8), { proto: IpProto.ICMP }))), null);
  assert.equal(d.decode(packet(LinkType.RAW, ipv6(IpProto.ICMPV6, Buffer.alloc(8)))), null);
  assert.equal(d.decode(packet(LinkType.RAW, ipv6(50, Buffer.alloc(16)))), null);
  assert.equal(d.decode(packet(LinkType.RAW, ipv6(0, ext6(59)))), null);
  assert.equal(d.counters.otherTransport, 4);
  assert.equal(d.counters.malformed, 0);
});

test('IPv6 extension header chain: hop-by-hop, routing, destination options, AH, atomic fragment', () => {
  // AH: next, payload length in 4-byte units minus 2 (RFC 4302): 24 bytes → 4.
  const ah = Buffer.alloc(24);
  ah[0] = IpProto.TCP;
  ah[1] = 4;
  const chain = Buffer.concat([
    ext6(43, Buffer.alloc(14)), // hop-by-hop, 16 bytes, next routing
    ext6(60), // routing, next destination options
    ext6(44), // destination options, next fragment
    frag6(51, 0, false, 99), // atomic fragment, next AH
    ah,
    tcp({ sport: 40001, dport: 443, seq: 7, payload: body }),
  ]);
  const { d, r } = decodeOne(LinkType.RAW, ipv6(0, chain));
  assertTcp6(r);
  assert.equal(d.counters.fragments, 0, 'an atomic fragment is not a fragment');
});

test('IPv6 jumbograms are unsupported', () => {
  const { d, r } = decodeOne(LinkType.RAW, ipv6(0, ext6(IpProto.TCP, Buffer.from([0xc2, 4, 0, 1, 0, 0])), { payloadLength: 0 }));
  assert.equal(r, null);
  assert.equal(d.counters.unsupported, 1);
});

test('snap-length truncated payload: kept bytes are a view, the rest counted as missing', () => {
  const payload = Buffer.alloc(1000, 0x61);
  const frame = ether(ETH_IPV4, ipv4(tcp({ payload })));
  const d = new Decoder();
  const r = d.decode(snap(packet(LinkType.ETHERNET, frame), 96));
  assert.equal(r?.payload.length, 96 - 54);
  assert.equal(r?.missing, 1000 - (96 - 54));
  assert.equal(d.counters.truncated, 1);
  // UDP over IPv6: the UDP length gives what is missing.
  const u = ether(ETH_IPV6, ipv6(IpProto.UDP, udp({ payload })));
  const r6 = d.decode(snap(packet(LinkType.ETHERNET, u), 200));
  assert.equal(r6?.payload.length, 200 - 14 - 40 - 8);
  assert.equal(r6?.missing, 1000 - (200 - 14 - 40 - 8));
  // Cut inside the TCP options: header fields are readable, payload all missing.
  const withOptions = ether(ETH_IPV4, ipv4(tcp({ options: Buffer.alloc(12, 1), payload: Buffer.alloc(10) })));
  const r2 = d.decode(snap(packet(LinkType.ETHERNET, withOptions), 14 + 20 + 24));
  assert.equal(r2?.payload.length, 0);
  assert.equal(r2?.missing, 10);
});

/**
 * Cutting a frame at every length must never throw. Cuts inside the headers
 * up to the transport's fixed part are damage; cuts after it decode with
 * exactly the cut-off payload bytes counted as missing.
 */
test('truncated at every cut: never throws, missing is exact', () => {
  const payload = Buffer.alloc(40, 0x5a);
  const tcpOptions = Buffer.from([0x02, 0x04, 0x05, 0xb4]);
  const frames: Array<{ name: string; linkType: number; frame: Buffer; headers: number; fixed: number }> = [
    {
      name: 'QinQ IPv4 with options, TCP with options',
      linkType: LinkType.ETHERNET,
      frame: ether(ETH_IPV4, ipv4(tcp({ options: tcpOptions, payload }), { options: Buffer.from([1, 1, 1, 0]) }), { tags: [[0x88a8, 1], [0x8100, 2]] }),
      headers: 22 + 24 + 24,
      fixed: 22 + 24 + 20,
    },
    {
      name: 'SLL2 IPv6 hop-by-hop + destination options, UDP',
      linkType: LinkType.LINUX_SLL2,
      frame: sll2(ETH_IPV6, ipv6(0, Buffer.concat([ext6(60), ext6(IpProto.UDP, Buffer.alloc(14)), udp({ payload })]))),
      headers: 20 + 40 + 8 + 16 + 8,
      fixed: 20 + 40 + 8 + 16 + 8,
    },
    {
      name: 'NULL IPv6 TCP',
      linkType: LinkType.NULL,
      frame: nullHeader(30, ipv6(IpProto.TCP, tcp({ payload })), true),
      headers: 4 + 40 + 20,
      fixed: 4 + 40 + 20,
    },
    {
      name: 'SLL IPv4 UDP',
      linkType: LinkType.LINUX_SLL,
      frame: sll(ETH_IPV4, ipv4(udp({ payload }), { proto: IpProto.UDP })),
      headers: 16 + 20 + 8,
      fixed: 16 + 20 + 8,
    },
  ];
  for (const { name, linkType, frame, headers, fixed } of frames) {
    const d = new Decoder();
    const full = d.decode(packet(linkType, frame));
    assert.equal(full?.payload.length, payload.length, name);
    for (let cut = 0; cut < frame.length; cut++) {
      let r: L4Packet | null = null;
      assert.doesNotThrow(() => {
        r = d.decode(snap(packet(linkType, frame), cut));
      }, `${name} cut at ${cut}`);
      const got = r as L4Packet | null;
      if (cut < fixed) {
        assert.equal(got, null, `${name} cut at ${cut}`);
      } else {
        assert.ok(got, `${name} cut at ${cut}`);
        assert.equal(got.payload.length, Math.max(0, cut - headers), `${name} cut at ${cut}`);
        assert.equal(got.missing, payload.length - got.payload.length, `${name} cut at ${cut}`);
      }
    }
    assert.equal(d.counters.packets, frame.length + 1);
    assert.equal(d.counters.malformed, fixed, `${name}: every cut inside the headers is counted`);
  }
});

test('random garbage on every link type never throws', () => {
  const d = new Decoder();
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
  const linkTypes = Object.values(LinkType);
  let results = 0;
  for (let i = 0; i < 20000; i++) {
    const frame = Buffer.alloc(rand() % 120);
    for (let j = 0; j < frame.length; j++) frame[j] = rand();
    // Bias towards plausible headers so the deeper layers are reached.
    if (frame.length > 20 && i % 2) frame[14] = 0x45;
    if (frame.length > 14 && i % 3 === 0) frame.writeUInt16BE(i % 2 ? ETH_IPV4 : ETH_IPV6, 12);
    if (d.decode(packet(linkTypes[i % linkTypes.length], frame)) !== null) results++;
  }
  const c = d.counters;
  assert.equal(c.packets, 20000);
  assert.equal(c.decoded, results);
});
