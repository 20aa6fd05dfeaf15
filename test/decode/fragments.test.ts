import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LinkType } from '@panopticon/pcap';
import { Decoder, IpProto, type L4Packet } from '@panopticon/decode';
import { ether, ext6, frag6, ipv4, ipv6, packet, snap, tcp, udp, type Ipv4Opts } from './frames.js';

const ETH_IPV4 = 0x0800;
const ETH_IPV6 = 0x86dd;
const SECOND = 1_000_000_000n;

/** A UDP datagram of `n` payload bytes with a recognisable pattern. */
function datagram(n: number, seed = 0): { transport: Buffer; payload: Buffer } {
  const payload = Buffer.alloc(n);
  for (let i = 0; i < n; i++) payload[i] = (i * 7 + seed) & 0xff;
  return { transport: udp({ sport: 1111, dport: 2222, payload }), payload };
}

/** Splits transport bytes into IPv4 fragments at the given byte boundaries (multiples of 8). */
function fragments4(transport: Buffer, cuts: number[], o: Ipv4Opts = {}): Buffer[] {
  const bounds = [0, ...cuts, transport.length];
  const out: Buffer[] = [];
  for (let i = 0; i + 1 < bounds.length; i++) {
    out.push(
      ether(
        ETH_IPV4,
        ipv4(transport.subarray(bounds[i], bounds[i + 1]), {
          proto: IpProto.UDP,
          fragOffset: bounds[i],
          more: i + 2 < bounds.length,
          ...o,
        }),
      ),
    );
  }
  return out;
}

function run(d: Decoder, frames: Buffer[], t0 = 0n, step = 1000n): Array<L4Packet | null> {
  return frames.map((f, i) => d.decode(packet(LinkType.ETHERNET, f, { tsNs: t0 + BigInt(i) * step })));
}

function onlyResult(results: Array<L4Packet | null>): L4Packet {
  const got = results.filter((r): r is L4Packet => r !== null);
  assert.equal(got.length, 1, 'exactly one datagram completes');
  return got[0];
}

test('IPv4 fragments in order reassemble on the last one', () => {
  const { transport, payload } = datagram(3000);
  const d = new Decoder();
  const results = run(d, fragments4(transport, [1480, 2960]));
  assert.equal(results[0], null);
  assert.equal(results[1], null);
  const r = results[2];
  assert.ok(r);
  assert.deepEqual(r.payload, payload);
  assert.deepEqual([r.srcPort, r.dstPort, r.srcAddr, r.dstAddr], [1111, 2222, '192.168.1.10', '10.0.0.1']);
  assert.equal(r.missing, 0);
  assert.equal(d.counters.fragments, 3);
  assert.equal(d.counters.reassembled, 1);
  assert.equal(d.counters.decoded, 1);
  assert.deepEqual(d.fragmentState, { sets: 0, bytes: 0 });
});

test('IPv4 fragments reversed and shuffled', () => {
  const { transport, payload } = datagram(5000);
  const frames = fragments4(transport, [1000, 2000, 3000, 4000]);
  const d = new Decoder();
  assert.deepEqual(onlyResult(run(d, [...frames].reverse())).payload, payload);
  assert.deepEqual(onlyResult(run(d, [frames[2], frames[0], frames[4], frames[1], frames[3]])).payload, payload);
  assert.equal(d.counters.reassembled, 2);
  assert.equal(d.counters.fragmentConflicts, 0);
});

test('a TCP segment rebuilt from fragments keeps its header fields', () => {
  const body = Buffer.alloc(2000, 0x41);
  const seg = tcp({ sport: 5000, dport: 80, seq: 0xdeadbeef, payload: body });
  const frames = fragments4(seg, [1000], { proto: IpProto.TCP });
  const r = onlyResult(run(new Decoder(), frames));
  assert.equal(r.protocol, IpProto.TCP);
  assert.equal(r.tcp?.seq, 0xdeadbeef);
  assert.deepEqual(r.payload, body);
});

test('overlapping fragments with the same bytes reassemble without conflict', () => {
  const { transport, payload } = datagram(100);
  // [0,48) [40,88) [80,108): each overlaps the one before by 8 bytes.
  const a = ipv4(transport.subarray(0, 48), { proto: IpProto.UDP, more: true });
  const b = ipv4(transport.subarray(40, 88), { proto: IpProto.UDP, more: true, fragOffset: 40 });
  const c = ipv4(transport.subarray(80), { proto: IpProto.UDP, fragOffset: 80 });
  const d = new Decoder();
  assert.deepEqual(onlyResult(run(d, [c, a, b].map((x) => ether(ETH_IPV4, x)))).payload, payload);
  assert.equal(d.counters.fragmentConflicts, 0);
});

test('overlapping fragments that disagree: the first copy wins and the conflict is counted', () => {
  const { transport, payload } = datagram(100);
  const first = ipv4(transport.subarray(0, 64), { proto: IpProto.UDP, more: true });
  const forged = Buffer.from(transport.subarray(32));
  forged.fill(0xff, 0, 16); // rewrites bytes 32..47, which the first fragment already holds
  const second = ipv4(forged, { proto: IpProto.UDP, fragOffset: 32 });
  const d = new Decoder();
  const r = onlyResult(run(d, [first, second].map((x) => ether(ETH_IPV4, x))));
  assert.deepEqual(r.payload, payload);
  assert.equal(d.counters.fragmentConflicts, 1);

  // Same forgery arriving first: its bytes are the ones kept.
  const d2 = new Decoder();
  const r2 = onlyResult(run(d2, [second, first].map((x) => ether(ETH_IPV4, x))));
  const expected = Buffer.from(payload);
  expected.fill(0xff, 32 - 8, 48 - 8);
  assert.deepEqual(r2.payload, expected);
  assert.equal(d2.counters.fragmentConflicts, 1);
});

test('duplicated fragments are absorbed; a late duplicate after completion times out', () => {
  const { transport, payload } = datagram(3000);
  const [f0, f1, f2] = fragments4(transport, [1480, 2960]);
  const d = new Decoder();
  const results = run(d, [f0, f0, f1, f1, f2, f2]);
  assert.deepEqual(results.map((r) => r !== null), [false, false, false, false, true, false]);
  assert.deepEqual(results[4]?.payload, payload);
  assert.equal(d.counters.reassembled, 1);
  assert.equal(d.counters.fragmentConflicts, 0);
  assert.equal(d.fragmentState.sets, 1, 'the duplicate of the last fragment starts a new datagram');
  d.expire(40n * SECOND);
  assert.equal(d.fragmentState.sets, 0);
  assert.equal(d.counters.fragmentsDropped, 1);
});

test('fragment timeout: an incomplete datagram is given up, explicitly or as time moves on', () => {
  const { transport } = datagram(3000);
  const [f0, f1, f2] = fragments4(transport, [1480, 2960]);
  const d = new Decoder({ fragmentTimeoutNs: 30n * SECOND });
  run(d, [f0, f1], 0n);
  d.expire(29n * SECOND);
  assert.equal(d.fragmentState.sets, 1, 'not yet expired');
  d.expire(30n * SECOND);
  assert.equal(d.fragmentState.sets, 0);
  assert.equal(d.counters.fragmentsDropped, 1);
  assert.equal(d.decode(packet(LinkType.ETHERNET, f2, { tsNs: 31n * SECOND })), null, 'the rest alone does not complete');

  // Without an explicit expire, the next fragment's timestamp ages the table.
  const d2 = new Decoder({ fragmentTimeoutNs: 30n * SECOND });
  run(d2, [f0], 0n);
  const other = fragments4(datagram(100).transport, [48], { id: 77 });
  d2.decode(packet(LinkType.ETHERNET, other[0], { tsNs: 60n * SECOND }));
  assert.equal(d2.counters.fragmentsDropped, 1);
  assert.equal(d2.fragmentState.sets, 1);
});

test('bounds: the oldest datagram is given up when the set or byte limit is hit', () => {
  const frames = (id: number) => fragments4(datagram(2000, id).transport, [1000], { id });
  const d = new Decoder({ maxFragmentSets: 2 });
  const [a0, a1] = frames(1);
  const [b0, b1] = frames(2);
  const [c0, c1] = frames(3);
  run(d, [a0, b0, c0]);
  assert.equal(d.counters.fragmentsDropped, 1);
  assert.equal(d.fragmentState.sets, 2);
  const results = run(d, [a1, b1, c1]);
  // Each late fragment finds its datagram evicted, starts a new one and evicts the oldest in turn.
  assert.equal(results.filter((r) => r !== null).length, 0, 'every completion was prevented by eviction');
  assert.equal(d.counters.fragmentsDropped, 4);
  assert.equal(d.fragmentState.sets, 2);

  const e = new Decoder({ maxFragmentBytes: 2500 });
  const [x0, x1] = frames(10);
  const [y0, y1] = frames(11);
  run(e, [x0, y0]); // 1000 + 1000 bytes held
  assert.equal(e.fragmentState.bytes, 2000);
  assert.equal(e.counters.fragmentsDropped, 0);
  const last = run(e, [y1]); // 1008 more: over 2500, so x is given up, y completes
  assert.equal(last[0]?.payload.length, 2000);
  assert.equal(e.counters.fragmentsDropped, 1);
  assert.equal(e.decode(packet(LinkType.ETHERNET, x1)), null);
  assert.equal(e.fragmentState.bytes, 1008);

  // A single datagram larger than the byte bound can never be held.
  const f = new Decoder({ maxFragmentBytes: 1500 });
  const big = frames(20);
  assert.deepEqual(run(f, big), [null, null]);
  assert.equal(f.counters.fragmentsDropped, 1);
  assert.equal(f.fragmentState.bytes, 0);
});

test('a fragment cut by the snap length makes its datagram unrecoverable, counted once', () => {
  const { transport } = datagram(3000);
  const [f0, f1, f2] = fragments4(transport, [1480, 2960]);
  const d = new Decoder();
  const results = [
    d.decode(snap(packet(LinkType.ETHERNET, f0), 200)),
    d.decode(packet(LinkType.ETHERNET, f1)),
    d.decode(packet(LinkType.ETHERNET, f2)),
  ];
  assert.deepEqual(results, [null, null, null]);
  assert.equal(d.counters.fragmentsDropped, 1);
  assert.equal(d.fragmentState.bytes, 0);
});

test('fragments are kept apart by id, addresses and interface', () => {
  const one = datagram(200, 1);
  const two = datagram(200, 2);
  const a = fragments4(one.transport, [104], { id: 1 });
  const b = fragments4(two.transport, [104], { id: 2 });
  const c = fragments4(two.transport, [104], { id: 1, src: '192.168.1.11' });
  const d = new Decoder();
  const results = run(d, [a[0], b[0], c[0], b[1], c[1], a[1]]);
  assert.deepEqual(results[3]?.payload, two.payload);
  assert.equal(results[4]?.srcAddr, '192.168.1.11');
  assert.deepEqual(results[5]?.payload, one.payload);

  const e = new Decoder();
  assert.equal(e.decode(packet(LinkType.ETHERNET, a[0], { interfaceKey: 0 })), null);
  assert.equal(e.decode(packet(LinkType.ETHERNET, a[1], { interfaceKey: 1 })), null);
  assert.equal(e.fragmentState.sets, 2);
});

test('invalid fragments: odd non-final length, beyond 65535, contradicting last fragments', () => {
  const { transport } = datagram(100);
  const d = new Decoder();
  d.decode(packet(LinkType.ETHERNET, ether(ETH_IPV4, ipv4(transport.subarray(0, 50), { proto: IpProto.UDP, more: true }))));
  assert.equal(d.counters.fragmentsDropped, 1, 'non-final fragment not a multiple of 8');
  d.decode(packet(LinkType.ETHERNET, ether(ETH_IPV4, ipv4(Buffer.alloc(16), { proto: IpProto.UDP, id: 5, fragOffset: 65528 }))));
  assert.equal(d.counters.fragmentsDropped, 2, 'ends beyond 65535');
  const last1 = ether(ETH_IPV4, ipv4(transport.subarray(48), { proto: IpProto.UDP, id: 6, fragOffset: 48 }));
  const last2 = ether(ETH_IPV4, ipv4(transport.subarray(56), { proto: IpProto.UDP, id: 6, fragOffset: 48 }));
  run(d, [last1, last2]);
  assert.equal(d.counters.fragmentConflicts, 1, 'a second last fragment with another end');
  const first = ether(ETH_IPV4, ipv4(transport.subarray(0, 48), { proto: IpProto.UDP, id: 6, more: true }));
  assert.equal(d.decode(packet(LinkType.ETHERNET, first))?.payload.length, 100, 'the first last fragment stands');
});

test('IPv6 fragments behind hop-by-hop and destination options, reordered, with options after the fragment header', () => {
  const body = Buffer.alloc(3000);
  for (let i = 0; i < body.length; i++) body[i] = i % 251;
  // Fragmentable part: destination options, then TCP.
  const fragmentable = Buffer.concat([ext6(IpProto.TCP), tcp({ sport: 443, dport: 50000, seq: 42, payload: body })]);
  const id = 0xcafe0001;
  const cuts = [0, 1232, 2464, fragmentable.length];
  const frames: Buffer[] = [];
  for (let i = 0; i + 1 < cuts.length; i++) {
    const more = i + 2 < cuts.length;
    // Unfragmentable part: hop-by-hop → destination options → fragment.
    const headers = Buffer.concat([ext6(60), ext6(44), frag6(60, cuts[i], more, id)]);
    frames.push(ether(ETH_IPV6, ipv6(0, Buffer.concat([headers, fragmentable.subarray(cuts[i], cuts[i + 1])]), { src: 'fe80::1', dst: 'fe80::2' })));
  }
  const d = new Decoder();
  const r = onlyResult(run(d, [frames[1], frames[2], frames[0]]));
  assert.equal(r.ipVersion, 6);
  assert.equal(r.srcAddr, 'fe80::1');
  assert.equal(r.tcp?.seq, 42);
  assert.deepEqual([r.srcPort, r.dstPort], [443, 50000]);
  assert.deepEqual(r.payload, body);
  assert.equal(d.counters.fragments, 3);
  assert.equal(d.counters.reassembled, 1);
});

test('IPv6 UDP fragments keyed by identification', () => {
  const one = datagram(1500, 3);
  const two = datagram(1500, 4);
  const frag = (t: Buffer, id: number) => [
    ether(ETH_IPV6, ipv6(44, Buffer.concat([frag6(IpProto.UDP, 0, true, id), t.subarray(0, 1000)]))),
    ether(ETH_IPV6, ipv6(44, Buffer.concat([frag6(IpProto.UDP, 1000, false, id), t.subarray(1000)]))),
  ];
  const [a0, a1] = frag(one.transport, 1);
  const [b0, b1] = frag(two.transport, 2);
  const results = run(new Decoder(), [a0, b0, b1, a1]);
  assert.deepEqual(results[2]?.payload, two.payload);
  assert.deepEqual(results[3]?.payload, one.payload);
});

test('flush gives up every incomplete datagram at the end of input', () => {
  const d = new Decoder();
  run(d, [fragments4(datagram(2000, 1).transport, [1000], { id: 1 })[0], fragments4(datagram(2000, 2).transport, [1000], { id: 2 })[0]]);
  assert.equal(d.fragmentState.sets, 2);
  d.flush();
  assert.deepEqual(d.fragmentState, { sets: 0, bytes: 0 });
  assert.equal(d.counters.fragmentsDropped, 2);
});

test('decoder options are validated', () => {
  assert.throws(() => new Decoder({ maxFragmentSets: 0 }), /maxFragmentSets/);
  assert.throws(() => new Decoder({ maxFragmentBytes: 1.5 }), /maxFragmentBytes/);
  assert.throws(() => new Decoder({ fragmentTimeoutNs: -1n }), /fragmentTimeoutNs/);
});

test('a fragment cut at every length never throws and never completes its datagram', () => {
  const { transport } = datagram(600);
  const v4 = fragments4(transport, [200, 400]);
  const fragmentable = udp({ sport: 7, dport: 9, payload: Buffer.alloc(500, 3) });
  const v6 = [0, 1].map((i) =>
    ether(ETH_IPV6, ipv6(0, Buffer.concat([ext6(44), frag6(IpProto.UDP, i * 256, i === 0, 5), fragmentable.subarray(i * 256, i ? undefined : 256)]))),
  );
  for (const set of [v4, v6]) {
    for (let victim = 0; victim < set.length; victim++) {
      for (let cut = 0; cut < set[victim].length; cut++) {
        const d = new Decoder();
        const results = set.map((f, i) => {
          const p = packet(LinkType.ETHERNET, f);
          return d.decode(i === victim ? snap(p, cut) : p);
        });
        assert.ok(results.every((r) => r === null), `fragment ${victim} cut at ${cut}`);
        assert.equal(d.counters.reassembled, 0, `fragment ${victim} cut at ${cut}`);
      }
    }
    // Whole, they do complete.
    const d = new Decoder();
    assert.equal(set.map((f) => d.decode(packet(LinkType.ETHERNET, f))).filter((r) => r !== null).length, 1);
  }
});
