/**
 * The TC classifier under BPF_PROG_TEST_RUN: hand-built IPv4 and IPv6 frames
 * go through the loaded program (ring buffer and perf paths), and the records
 * that come out are checked field by field against the frames.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  LoadedProgram,
  NO_FILTERS,
  openRecords,
  parseHost,
  testRun,
  RECORD,
  Stat,
  DIRECTION_EGRESS,
  DIRECTION_INGRESS,
  type BufferKind,
  type Filters,
} from '@panopticon/capture';
import { arp, ext, fragmentHeader, ICMP, ipv4, ipv6, l4, TCP, UDP } from './packets.js';
import { bpfUnavailable } from './env.js';

const skip = bpfUnavailable();
/** TC_ACT_UNSPEC (-1) as the u32 retval: "continue with the next classifier". */
const TC_ACT_UNSPEC = 0xffffffff;
const LO = 1; // BPF_PROG_TEST_RUN's skb lives on the loopback device of the caller's namespace

interface Rec {
  ifindex: number;
  origLen: number;
  capLen: number;
  slot: number;
  direction: number;
  tsNs: bigint;
  data: Buffer;
}

class Harness {
  readonly program: LoadedProgram;
  private readonly records: Rec[] = [];
  private readonly source;

  constructor(buffer: BufferKind, filters: Filters = NO_FILTERS, snaplen = 262144, slot = 0, bufferBytes = 1 << 20) {
    this.program = LoadedProgram.load({ buffer, snaplen, ringSize: bufferBytes, filters });
    this.program.setInterface(LO, slot, 14);
    this.source = openRecords(this.program, (r) => {
      const capLen = r.readUInt32LE(RECORD.CAP_LEN);
      this.records.push({
        tsNs: r.readBigUInt64LE(RECORD.TS_NS),
        ifindex: r.readUInt32LE(RECORD.IFINDEX),
        origLen: r.readUInt32LE(RECORD.ORIG_LEN),
        capLen,
        slot: r.readUInt16LE(RECORD.SLOT),
        direction: r[RECORD.DIRECTION],
        data: Buffer.from(r.subarray(RECORD.SIZE, RECORD.SIZE + capLen)),
      });
      return 0;
    }, bufferBytes);
  }

  /** Runs each frame through the program and returns the records that came out. */
  run(frames: Buffer[], direction: 'ingress' | 'egress' = 'ingress'): Rec[] {
    for (const f of frames) assert.equal(testRun(this.program.lib, this.program.programFd(direction), f, LO), TC_ACT_UNSPEC, 'the classifier must always pass');
    this.source.consume();
    return this.records.splice(0);
  }

  close(): void {
    this.source.free();
    this.program.close();
  }
}

const hello = Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
const tcp4 = (src: string, dst: string, sport: number, dport: number) => ipv4({ src, dst, proto: TCP, body: l4(TCP, sport, dport, hello) });
const udp4 = (src: string, dst: string, sport: number, dport: number) => ipv4({ src, dst, proto: UDP, body: l4(UDP, sport, dport, hello) });
const tcp6 = (src: string, dst: string, sport: number, dport: number) => ipv6({ src, dst, next: TCP, body: l4(TCP, sport, dport, hello) });

for (const buffer of ['ringbuf', 'perf'] as const) {
  describe(`classifier under BPF_PROG_TEST_RUN (${buffer})`, { skip }, () => {
    const open: Harness[] = [];
    const harness = (...a: ConstructorParameters<typeof Harness> extends [unknown, ...infer R] ? R : never) => {
      const h = new Harness(buffer, ...a);
      open.push(h);
      return h;
    };
    after(() => open.forEach((h) => h.close()));

    it('copies every frame whole, with its metadata, on both hooks', () => {
      const h = harness(NO_FILTERS, 262144, 3);
      const frames = [tcp4('10.0.0.1', '10.0.0.2', 40000, 80), tcp6('2001:db8::1', '2001:db8::2', 40000, 443), arp()];
      const before = process.hrtime.bigint(); // CLOCK_MONOTONIC, the clock bpf_ktime_get_ns reads
      const ing = h.run(frames, 'ingress');
      const eg = h.run(frames, 'egress');
      const afterNs = process.hrtime.bigint();
      assert.equal(ing.length, 3);
      assert.equal(eg.length, 3);
      for (const [recs, dir] of [
        [ing, DIRECTION_INGRESS],
        [eg, DIRECTION_EGRESS],
      ] as const) {
        recs.forEach((r, i) => {
          assert.deepEqual(r.data, frames[i]);
          assert.equal(r.origLen, frames[i].length);
          assert.equal(r.capLen, frames[i].length);
          assert.equal(r.ifindex, LO);
          assert.equal(r.slot, 3);
          assert.equal(r.direction, dir);
          assert.ok(r.tsNs >= before && r.tsNs <= afterNs, `timestamp ${r.tsNs} within [${before}, ${afterNs}]`);
        });
      }
      const s = h.program.readStats(3);
      assert.equal(s[Stat.SEEN], 6n);
      assert.equal(s[Stat.MATCHED], 6n);
      assert.equal(s[Stat.CAPTURED], 6n);
      assert.equal(s[Stat.DROP_BUFFER] + s[Stat.DROP_COPY] + s[Stat.TRUNCATED], 0n);
    });

    it('cuts at the snap length and keeps the original length', () => {
      const h = harness(NO_FILTERS, 60);
      const frame = ipv4({ src: '10.0.0.1', dst: '10.0.0.2', proto: UDP, body: l4(UDP, 1, 2, Buffer.alloc(500, 0x61)) });
      const [r] = h.run([frame]);
      assert.equal(r.capLen, 60);
      assert.equal(r.origLen, frame.length);
      assert.deepEqual(r.data, frame.subarray(0, 60));
      assert.equal(h.program.readStats(0)[Stat.TRUNCATED], 1n);
    });

    it('ignores frames from interfaces it was not told about', () => {
      // No setInterface: the program has no slot for lo.
      const p = LoadedProgram.load({ buffer, snaplen: 262144, ringSize: 1 << 20, filters: NO_FILTERS });
      try {
        let n = 0;
        const src = openRecords(p, () => (n++, 0));
        assert.equal(testRun(p.lib, p.programFd('ingress'), tcp4('10.0.0.1', '10.0.0.2', 1, 2), LO), TC_ACT_UNSPEC);
        src.consume();
        src.free();
        assert.equal(n, 0);
      } finally {
        p.close();
      }
    });

    it('port filter: source or destination, TCP or UDP, nothing else', () => {
      const h = harness({ ports: [80, 5353], hosts: [], protocols: [] });
      const frames = [
        tcp4('10.0.0.1', '10.0.0.2', 40000, 80), // dport
        tcp4('10.0.0.2', '10.0.0.1', 80, 40000), // sport
        tcp4('10.0.0.1', '10.0.0.2', 40000, 81),
        udp4('10.0.0.1', '10.0.0.2', 5353, 9),
        udp4('10.0.0.1', '10.0.0.2', 53, 9),
        ipv4({ src: '10.0.0.1', dst: '10.0.0.2', proto: ICMP, body: l4(ICMP, 0, 0, hello) }),
        arp(),
        // A non-first fragment has no ports, even if its bytes look like port 80.
        ipv4({ src: '10.0.0.1', dst: '10.0.0.2', proto: TCP, body: l4(TCP, 40000, 80, hello), fragOffset: 1480 }),
        // The first fragment has them.
        ipv4({ src: '10.0.0.1', dst: '10.0.0.2', proto: TCP, body: l4(TCP, 40000, 80, hello), moreFragments: true }),
        // IPv4 options move the transport header.
        ipv4({ src: '10.0.0.1', dst: '10.0.0.2', proto: TCP, body: l4(TCP, 40000, 80, hello), options: Buffer.from([1, 1, 1, 0]) }),
        tcp6('2001:db8::1', '2001:db8::2', 40000, 80),
        tcp6('2001:db8::1', '2001:db8::2', 40000, 8080),
      ];
      const recs = h.run(frames);
      const want = [0, 1, 3, 8, 9, 10].map((i) => frames[i]);
      assert.deepEqual(
        recs.map((r) => r.data),
        want,
      );
      const s = h.program.readStats(0);
      assert.equal(s[Stat.SEEN], BigInt(frames.length));
      assert.equal(s[Stat.MATCHED], BigInt(want.length));
    });

    it('port filter walks IPv6 extension headers and fragments', () => {
      const h = harness({ ports: [443], hosts: [], protocols: [] });
      const seg = l4(TCP, 40000, 443, hello);
      const frames = [
        // hop-by-hop (0) -> destination options (60) -> TCP
        ipv6({ src: '2001:db8::1', dst: '2001:db8::2', next: 0, body: Buffer.concat([ext(60), ext(TCP, 1), seg]) }),
        // routing (43) -> TCP, port 444: no match
        ipv6({ src: '2001:db8::1', dst: '2001:db8::2', next: 43, body: Buffer.concat([ext(TCP), l4(TCP, 40000, 444, hello)]) }),
        // first fragment (offset 0) -> TCP 443: match
        ipv6({ src: '2001:db8::1', dst: '2001:db8::2', next: 44, body: Buffer.concat([fragmentHeader(TCP, 0, true), seg]) }),
        // later fragment: no transport header, no match
        ipv6({ src: '2001:db8::1', dst: '2001:db8::2', next: 44, body: Buffer.concat([fragmentHeader(TCP, 1448, false), seg]) }),
        // UDP behind hop-by-hop, port 443 (QUIC-like): match
        ipv6({ src: '2001:db8::1', dst: '2001:db8::2', next: 0, body: Buffer.concat([ext(UDP), l4(UDP, 5000, 443, hello)]) }),
      ];
      assert.deepEqual(
        h.run(frames).map((r) => r.data),
        [frames[0], frames[2], frames[4]],
      );
    });

    it('host filter: IPv4 and IPv6 CIDRs, source or destination', () => {
      const h = harness({ ports: [], hosts: ['10.1.0.0/16', '192.168.7.7', '2001:db8:aa::/48'].map(parseHost), protocols: [] });
      const frames = [
        tcp4('10.1.2.3', '172.16.0.1', 1, 2), // src in /16
        tcp4('172.16.0.1', '10.1.255.255', 1, 2), // dst in /16
        tcp4('10.2.0.1', '172.16.0.1', 1, 2), // outside
        udp4('192.168.7.7', '8.8.8.8', 1, 53), // exact host
        udp4('192.168.7.8', '8.8.8.8', 1, 53),
        tcp6('2001:db8:aa:1::5', '2001:db8:ff::1', 1, 2), // src in /48
        tcp6('2001:db8:ab::5', '2001:db8:ff::1', 1, 2), // outside
        arp(),
      ];
      assert.deepEqual(
        h.run(frames).map((r) => r.data),
        [frames[0], frames[1], frames[3], frames[5]],
      );
    });

    it('protocol filter, and filters of different kinds combine with AND', () => {
      const udpOnly = harness({ ports: [], hosts: [], protocols: ['udp'] });
      const frames = [tcp4('10.0.0.1', '10.0.0.2', 1, 53), udp4('10.0.0.1', '10.0.0.2', 1, 53), tcp6('2001:db8::1', '2001:db8::2', 1, 53)];
      assert.deepEqual(
        udpOnly.run(frames).map((r) => r.data),
        [frames[1]],
      );
      const both = harness({ ports: [80], hosts: [parseHost('10.0.0.1')], protocols: ['tcp'] });
      const f2 = [
        tcp4('10.0.0.1', '10.0.0.9', 5, 80), // all three match
        tcp4('10.0.0.2', '10.0.0.9', 5, 80), // host fails
        tcp4('10.0.0.1', '10.0.0.9', 5, 81), // port fails
        udp4('10.0.0.1', '10.0.0.9', 5, 80), // protocol fails
      ];
      assert.deepEqual(
        both.run(f2).map((r) => r.data),
        [f2[0]],
      );
      // Later fragments have no ports but name their protocol and hosts: --proto and --host keep them
      // (a datagram they select can be reassembled), --port cannot tell and leaves them out.
      const later = [
        ipv4({ src: '10.0.0.1', dst: '10.0.0.2', proto: UDP, body: Buffer.alloc(64, 7), fragOffset: 1480 }),
        ipv6({ src: '2001:db8::1', dst: '2001:db8::2', next: 44, body: Buffer.concat([fragmentHeader(UDP, 1448, false), Buffer.alloc(64, 7)]) }),
      ];
      assert.deepEqual(udpOnly.run(later).map((r) => r.data), later);
      assert.deepEqual(harness({ ports: [], hosts: [parseHost('10.0.0.0/8'), parseHost('2001:db8::/32')], protocols: [] }).run(later).map((r) => r.data), later);
      assert.deepEqual(harness({ ports: [53], hosts: [], protocols: [] }).run(later), []);
    });

    it('records that wrap around the end of a small buffer come out whole', () => {
      // 64 KiB ring (128 KiB per CPU for perf, the smallest): 300 KiB of records pass through it.
      const h = harness(NO_FILTERS, 262144, 0, buffer === 'perf' ? 256 * 1024 : 64 * 1024);
      for (let round = 0; round < 10; round++) {
        const frames = Array.from({ length: 10 }, (_, i) => ipv4({ src: '10.0.0.1', dst: '10.0.0.2', proto: UDP, body: l4(UDP, round, i, Buffer.alloc(2900 + round * 7 + i, round * 10 + i)) }));
        assert.deepEqual(
          h.run(frames).map((r) => r.data),
          frames,
        );
      }
      assert.equal(h.program.readStats(0)[Stat.DROP_BUFFER], 0n);
    });

    it('passes malformed frames without capturing them when filtering', () => {
      const h = harness({ ports: [80], hosts: [], protocols: [] });
      const truncated = tcp4('10.0.0.1', '10.0.0.2', 1, 80).subarray(0, 14 + 20 + 2); // TCP header cut before the destination port
      const badVersion = Buffer.from(tcp4('10.0.0.1', '10.0.0.2', 1, 80));
      badVersion[14] = 0x55;
      assert.equal(h.run([truncated, badVersion]).length, 0);
    });
  });
}
