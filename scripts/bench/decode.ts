/**
 * Decoder throughput: packets/s of `Decoder.decode` over a synthetic capture
 * of realistic frames, beside tshark reading the same frames from a pcap
 * file in the same run (printing only the IP source and transport ports,
 * with every dissector above TCP/UDP disabled, so it does the same work).
 * Also times the @panopticon/pcap reader alone over that file (the floor)
 * and reader + decoder. Prints the ratios.
 *
 * Frames: 70% Ethernet/IPv4/TCP (payloads 0-1448 bytes), 10% Ethernet/IPv4/UDP
 * (DNS-sized), 15% Ethernet/IPv6/TCP, 5% 802.1Q-tagged IPv4/TCP, in 4000
 * conversations (2000 client hosts, 20 servers) with consistent ports and
 * advancing sequence numbers, so tshark's per-conversation work is realistic.
 *
 *   node --import tsx --conditions=source scripts/bench/decode.ts [packets]
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Decoder } from '@panopticon/decode';
import { LinkType, readCapture, type Packet } from '@panopticon/pcap';

const COUNT = Number(process.argv[2] ?? 200_000);
const ROUNDS = 5;

let seed = 42;
function rand(n: number): number {
  seed = (seed * 1103515245 + 12345) >>> 0;
  return (seed >>> 8) % n;
}

function ethernet(type: number, vlan: number | null, ip: Buffer): Buffer {
  const tag = vlan === null ? 0 : 4;
  const h = Buffer.alloc(14 + tag);
  h.write('0200000000010200000000020000', 'hex');
  if (vlan !== null) {
    h.writeUInt16BE(0x8100, 12);
    h.writeUInt16BE(vlan, 14);
  }
  h.writeUInt16BE(type, 12 + tag);
  return Buffer.concat([h, ip]);
}

function ipv4(proto: number, client: number, server: number, l4: Buffer, toServer: boolean): Buffer {
  const h = Buffer.alloc(20);
  h[0] = 0x45;
  h.writeUInt16BE(20 + l4.length, 2);
  h.writeUInt16BE(0x4000, 6);
  h[8] = 64;
  h[9] = proto;
  const c = [10, 1, (client >> 8) & 0xff, client & 0xff];
  const s = [192, 168, 100, server];
  Buffer.from(toServer ? c : s).copy(h, 12);
  Buffer.from(toServer ? s : c).copy(h, 16);
  return Buffer.concat([h, l4]);
}

function ipv6(client: number, server: number, l4: Buffer, toServer: boolean): Buffer {
  const h = Buffer.alloc(40);
  h[0] = 0x60;
  h.writeUInt16BE(l4.length, 4);
  h[6] = 6;
  h[7] = 64;
  const c = Buffer.from(`20010db8000000000000000000${(client & 0xffff).toString(16).padStart(4, '0')}01`.slice(0, 32), 'hex');
  const s = Buffer.from(`2a0014500000000000000000000000${server.toString(16).padStart(2, '0')}`, 'hex');
  (toServer ? c : s).copy(h, 8);
  (toServer ? s : c).copy(h, 24);
  return Buffer.concat([h, l4]);
}

function tcp(sport: number, dport: number, seq: number, ack: number, payloadLen: number): Buffer {
  const h = Buffer.alloc(32 + payloadLen); // 12 bytes of options (NOP, NOP, timestamps), as Linux sends
  h.writeUInt16BE(sport, 0);
  h.writeUInt16BE(dport, 2);
  h.writeUInt32BE(seq >>> 0, 4);
  h.writeUInt32BE(ack >>> 0, 8);
  h[12] = 8 << 4;
  h[13] = 0x18;
  h.writeUInt16BE(502, 14);
  h.write('0101080a', 20, 'hex');
  return h;
}

function udp(sport: number, dport: number, payloadLen: number): Buffer {
  const h = Buffer.alloc(8 + payloadLen);
  h.writeUInt16BE(sport, 0);
  h.writeUInt16BE(dport, 2);
  h.writeUInt16BE(8 + payloadLen, 4);
  return h;
}

interface Conversation {
  kind: number;
  client: number;
  server: number;
  cport: number;
  seq: [number, number];
}

const conversations: Conversation[] = Array.from({ length: 4000 }, () => ({
  kind: rand(100),
  client: rand(2000),
  server: 1 + rand(20),
  cport: 32768 + rand(28000),
  seq: [rand(0x7fffffff), rand(0x7fffffff)],
}));

function frame(): Buffer {
  const c = conversations[rand(conversations.length)];
  const toServer = rand(2) === 0;
  const payload = rand(3) === 0 ? 0 : rand(1449);
  const from = toServer ? 0 : 1;
  const seq = c.seq[from];
  const ack = c.seq[1 - from];
  c.seq[from] = (seq + payload) % 0x100000000;
  const seg = (sport: number) =>
    toServer ? tcp(c.cport, sport, seq, ack, payload) : tcp(sport, c.cport, seq, ack, payload);
  if (c.kind < 70) return ethernet(0x0800, null, ipv4(6, c.client, c.server, seg(443), toServer));
  if (c.kind < 80) {
    const dgram = toServer ? udp(c.cport, 53, 40 + rand(200)) : udp(53, c.cport, 40 + rand(200));
    return ethernet(0x0800, null, ipv4(17, c.client, c.server, dgram, toServer));
  }
  if (c.kind < 95) return ethernet(0x86dd, null, ipv6(c.client, c.server, seg(80), toServer));
  return ethernet(0x0800, 100 + (c.client % 4), ipv4(6, c.client, c.server, seg(5432), toServer));
}

/** Classic pcap, microsecond timestamps, little-endian (the libpcap default). */
function pcapFile(frames: Buffer[]): Buffer {
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(262144, 16);
  header.writeUInt32LE(LinkType.ETHERNET, 20);
  const parts = [header];
  frames.forEach((f, i) => {
    const r = Buffer.alloc(16);
    r.writeUInt32LE(1_700_000_000 + Math.floor(i / 1000), 0);
    r.writeUInt32LE((i % 1000) * 1000, 4);
    r.writeUInt32LE(f.length, 8);
    r.writeUInt32LE(f.length, 12);
    parts.push(r, f);
  });
  return Buffer.concat(parts);
}

const frames = Array.from({ length: COUNT }, frame);
const packets: Packet[] = frames.map((data, i) => ({
  interfaceKey: 0,
  linkType: LinkType.ETHERNET,
  tsNs: 1_700_000_000_000_000_000n + BigInt(i) * 1000n,
  capturedLength: data.length,
  originalLength: data.length,
  data,
  flags: 0,
  offset: 0,
}));
const bytes = frames.reduce((n, f) => n + f.length, 0);

// Decoder: best of several rounds, a fresh decoder each (caches start cold).
let best = Infinity;
let decoded = 0;
for (let round = 0; round < ROUNDS; round++) {
  const d = new Decoder();
  let sink = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < packets.length; i++) {
    const r = d.decode(packets[i]);
    if (r !== null) sink += r.payload.length;
  }
  const ns = Number(process.hrtime.bigint() - t0);
  best = Math.min(best, ns);
  decoded = d.counters.decoded;
  if (sink < 0) console.log(sink);
}
if (decoded !== COUNT) throw new Error(`decoded ${decoded} of ${COUNT}`);
const oursPps = COUNT / (best / 1e9);

// Peer: tshark over the same frames written as a pcap file. Its start-up
// (measured on a one-frame file) is reported apart, so the steady-state rate
// is comparable whatever the frame count.
const dir = resolve(import.meta.dirname, '../../.tmp/bench-decode');
mkdirSync(dir, { recursive: true });
const file = join(dir, 'frames.pcap');
const oneFile = join(dir, 'one.pcap');
writeFileSync(file, pcapFile(frames));
writeFileSync(oneFile, pcapFile(frames.slice(0, 1)));
// Only the layers the decoder covers, without TCP sequence analysis: the same
// work as the decoder, not the application dissectors on top of it.
const TSHARK_LAYERS = [
  '--disable-protocol', 'ALL',
  '--enable-protocol', 'frame,eth,ethertype,vlan,ip,ipv6,tcp,udp',
  '-o', 'tcp.analyze_sequence_numbers:FALSE',
];
function tshark(path: string, expected: number): number {
  const t = process.hrtime.bigint();
  const r = spawnSync('tshark', ['-n', '-r', path, ...TSHARK_LAYERS, '-T', 'fields', '-e', 'ip.src', '-e', 'ipv6.src', '-e', 'tcp.srcport', '-e', 'udp.srcport'], {
    maxBuffer: 1 << 30,
    encoding: 'utf8',
  });
  const ns = Number(process.hrtime.bigint() - t);
  if (r.status !== 0) throw new Error(`tshark failed: ${r.stderr}`);
  const lines = r.stdout.split('\n').filter((l) => l !== '').length;
  if (lines !== expected) throw new Error(`tshark printed ${lines} lines for ${expected} frames`);
  return ns;
}
// Floor: the pcap reader alone over the same file, then reader + decoder
// (what pano-parse pays per packet below flow tracking).
async function readerRun(decode: boolean): Promise<number> {
  const d = new Decoder();
  let n = 0;
  const t = process.hrtime.bigint();
  await readCapture(file, {
    onPacket: decode
      ? (p) => {
          if (d.decode(p) !== null) n++;
        }
      : () => {
          n++;
        },
  });
  const ns = Number(process.hrtime.bigint() - t);
  if (n !== COUNT) throw new Error(`reader run saw ${n} of ${COUNT}`);
  return ns;
}
let readerBest = Infinity;
let readerDecodeBest = Infinity;
for (let round = 0; round < 3; round++) {
  readerBest = Math.min(readerBest, await readerRun(false));
  readerDecodeBest = Math.min(readerDecodeBest, await readerRun(true));
}
const readerPps = COUNT / (readerBest / 1e9);
const readerDecodePps = COUNT / (readerDecodeBest / 1e9);

const startupNs = tshark(oneFile, 1);
const tsharkNs = tshark(file, COUNT);
if (!process.env.KEEP) rmSync(dir, { recursive: true, force: true });
const tsharkPps = COUNT / (tsharkNs / 1e9);
const tsharkSteadyPps = COUNT / (Math.max(1, tsharkNs - startupNs) / 1e9);

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
console.log(`frames: ${fmt(COUNT)} (${(bytes / 1e6).toFixed(1)} MB)`);
console.log(`decode (best of ${ROUNDS}):      ${fmt(oursPps)} packets/s  (${(bytes / (best / 1e9) / 1e6).toFixed(0)} MB/s)`);
console.log(`pcap reader alone (best of 3):  ${fmt(readerPps)} packets/s`);
console.log(`pcap reader + decode (best of 3): ${fmt(readerDecodePps)} packets/s (${((readerDecodeBest / readerBest - 1) * 100).toFixed(0)}% over the reader)`);
console.log(`tshark -T fields (1 run): ${fmt(tsharkPps)} packets/s; without its ${(startupNs / 1e9).toFixed(2)} s start-up: ${fmt(tsharkSteadyPps)} packets/s`);
console.log(`ratio decode/tshark:      ${(oursPps / tsharkPps).toFixed(1)}x (${(oursPps / tsharkSteadyPps).toFixed(1)}x steady state)`);
console.log(`ratio reader+decode/tshark: ${(readerDecodePps / tsharkPps).toFixed(1)}x`);
