/**
 * The decoder against tshark over every capture in the shared corpus.
 *
 * For each file, the (frame, addresses, ports, transport, TCP sequence,
 * payload length) of every packet the decoder hands to flow tracking must
 * equal what tshark prints for the frames where it dissects TCP or UDP, with
 * tshark's own IPv4/IPv6 reassembly on (a reassembled datagram appears at the
 * frame of the fragment that completed it, in both tools).
 *
 * Exclusions, each because the frame carries no TCP/UDP datagram of its own:
 * - tshark lists pcapng blocks that are not packets (custom blocks) as frames
 *   of their own with no encapsulation; they are dropped from its numbering,
 *   since a capture reader does not deliver them as packets.
 * - ICMP/ICMPv6 errors quote the header of the datagram that caused them;
 *   tshark dissects the quoted UDP/TCP header, but the frame is ICMP, and
 *   flow tracking must not see a quoted header as traffic. Such frames are
 *   recognised by icmp/icmpv6 coming before tcp/udp in frame.protocols, and
 *   the decoder must count them as other transports.
 * Where tshark finds IP inside a transport (tunnels over UDP), the fields
 * hold several values; the first (outermost) is the one compared, as the
 * decoder stops at the outer transport.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { relative } from 'node:path';
import { Decoder, IpProto } from '@panopticon/decode';
import { captureFiles, corpusDir, readPackets, tsharkRows, type TsharkRow } from './corpus.js';

const first = (s: string): string => s.split(',')[0];

interface Expectation {
  /** Frame number → expected decoder line. */
  lines: Map<number, string>;
  /** Frames that are ICMP errors quoting a transport header. */
  icmpQuotes: number;
  /** Frame number → reassembled datagram length. */
  reassembled: Map<number, number>;
}

function expectation(rows: TsharkRow[]): Expectation {
  const lines = new Map<number, string>();
  const reassembled = new Map<number, number>();
  let icmpQuotes = 0;
  let frame = 0;
  for (const t of rows) {
    if (t.encapType === '') continue; // not a packet (see header comment)
    frame++;
    const len = t.ipReassembledLength || t.ipv6ReassembledLength;
    if (len) reassembled.set(frame, Number(first(len)));
    const isTcp = t.tcpSrcPort !== '';
    const isUdp = t.udpSrcPort !== '';
    if (!isTcp && !isUdp) continue;
    const layers = t.protocols.split(':');
    const transportAt = Math.min(...['tcp', 'udp'].map((p) => layers.indexOf(p)).filter((i) => i >= 0));
    const icmpAt = layers.findIndex((l) => l === 'icmp' || l === 'icmpv6');
    if (icmpAt >= 0 && icmpAt < transportAt) {
      icmpQuotes++;
      continue;
    }
    const src = first(t.ipSrc) || first(t.ipv6Src);
    const dst = first(t.ipDst) || first(t.ipv6Dst);
    const tcpOuter = layers[transportAt] === 'tcp';
    lines.set(
      frame,
      tcpOuter
        ? `${src} ${dst} tcp ${first(t.tcpSrcPort)} ${first(t.tcpDstPort)} seq=${first(t.tcpSeqRaw)} len=${first(t.tcpLen)}`
        : `${src} ${dst} udp ${first(t.udpSrcPort)} ${first(t.udpDstPort)} len=${Number(first(t.udpLength)) - 8}`,
    );
  }
  return { lines, icmpQuotes, reassembled };
}

interface Observed {
  lines: Map<number, string>;
  reassembled: Map<number, number>;
  decoder: Decoder;
}

async function observe(file: string): Promise<Observed> {
  const decoder = new Decoder();
  const lines = new Map<number, string>();
  const reassembled = new Map<number, number>();
  (await readPackets(file)).forEach((p, i) => {
    const r = decoder.decode(p);
    if (decoder.reassembledLength) reassembled.set(i + 1, decoder.reassembledLength);
    if (r === null) return;
    const len = r.payload.length + r.missing;
    lines.set(
      i + 1,
      r.protocol === IpProto.TCP
        ? `${r.srcAddr} ${r.dstAddr} tcp ${r.srcPort} ${r.dstPort} seq=${r.tcp?.seq} len=${len}`
        : `${r.srcAddr} ${r.dstAddr} udp ${r.srcPort} ${r.dstPort} len=${len}`,
    );
  });
  return { lines, reassembled, decoder };
}

/** tshark runs two at a time: the machine is shared. Run once, shared by both tests. */
let cached: Promise<Map<string, Expectation>> | undefined;
function allExpectations(files: string[]): Promise<Map<string, Expectation>> {
  return (cached ??= runTshark(files));
}

async function runTshark(files: string[]): Promise<Map<string, Expectation>> {
  const out = new Map<string, Expectation>();
  let next = 0;
  const worker = async () => {
    while (next < files.length) {
      const file = files[next++];
      out.set(file, expectation(await tsharkRows(file)));
    }
  };
  await Promise.all([worker(), worker()]);
  return out;
}

function sorted<T>(m: Map<number, T>): Array<[number, T]> {
  return [...m].sort((a, b) => a[0] - b[0]);
}

const files = captureFiles();

test('the corpus is there', () => {
  assert.ok(files.length >= 100, `expected the shared corpus under ${corpusDir}, found ${files.length} captures`);
});

test('decoded TCP/UDP of every corpus capture equals tshark', async (t) => {
  const expected = await allExpectations(files);
  let frames = 0;
  for (const file of files) {
    const name = relative(corpusDir, file);
    await t.test(name, async () => {
      const want = expected.get(file)!;
      const got = await observe(file);
      assert.deepEqual(sorted(got.lines), sorted(want.lines));
      assert.equal(got.decoder.counters.otherTransport >= want.icmpQuotes, true, 'ICMP errors are other transports');
      frames += want.lines.size;
    });
  }
  assert.ok(frames > 10000, `compared ${frames} frames`);
});

test('corpus fragments reassemble where and as tshark reassembles them', async (t) => {
  const fragmentFiles = files.filter((f) => relative(corpusDir, f).startsWith('ip-fragmentation/'));
  assert.equal(fragmentFiles.length, 8);
  const expected = await allExpectations(files);
  let datagrams = 0;
  for (const file of fragmentFiles) {
    await t.test(relative(corpusDir, file), async () => {
      const want = expected.get(file)!;
      const got = await observe(file);
      assert.deepEqual(sorted(got.reassembled), sorted(want.reassembled));
      assert.equal(got.decoder.counters.reassembled, want.reassembled.size);
      datagrams += want.reassembled.size;
    });
  }
  assert.ok(datagrams > 20, `compared ${datagrams} reassembled datagrams`);
});
