/**
 * Corpus access for the decoder's oracle tests: the capture files, their
 * packets, and what tshark says about each frame's IP and transport layers.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { Packet } from '@panopticon/pcap';

const run = promisify(execFile);

export const corpusDir = resolve(process.env.PANO_ROOT ?? process.cwd(), '../shared/corpus');

/** Every capture file under the corpus (recursive), sorted. */
export function captureFiles(dir = corpusDir): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...captureFiles(path));
    else if (/\.(pcap|pcapng|cap)$/.test(name)) out.push(path);
  }
  return out;
}

/**
 * TEMPORARY minimal pcap/pcapng reader, only until @panopticon/pcap's
 * `readCapture` is committed; then this goes and the tests use that reader.
 * Reads whole files; handles both byte orders, µs/ns pcap, pcapng sections
 * with several interfaces, EPB and SPB, and if_tsresol.
 */
export function readPackets(file: string): Packet[] {
  const buf = readFileSync(file);
  const magic = buf.readUInt32LE(0);
  return magic === 0x0a0d0d0a ? readPcapng(buf) : readPcap(buf);
}

function readPcap(buf: Buffer): Packet[] {
  const m = buf.readUInt32LE(0);
  const le = m === 0xa1b2c3d4 || m === 0xa1b23c4d;
  const nano = m === 0xa1b23c4d || m === 0x4d3cb2a1;
  const u32 = (o: number) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const linkType = u32(20) & 0x0fffffff;
  const out: Packet[] = [];
  for (let off = 24; off + 16 <= buf.length; ) {
    const caplen = u32(off + 8);
    const data = buf.subarray(off + 16, off + 16 + caplen);
    out.push({
      interfaceKey: 0,
      linkType,
      tsNs: BigInt(u32(off)) * 1_000_000_000n + BigInt(u32(off + 4)) * (nano ? 1n : 1000n),
      capturedLength: caplen,
      originalLength: u32(off + 12),
      data,
      flags: 0,
      offset: off,
    });
    off += 16 + caplen;
  }
  return out;
}

function readPcapng(buf: Buffer): Packet[] {
  const out: Packet[] = [];
  let le = true;
  let section = -1;
  let ifaces: Array<{ linkType: number; unitsPerSecond: bigint }> = [];
  for (let off = 0; off + 12 <= buf.length; ) {
    if (buf.readUInt32LE(off) === 0x0a0d0d0a) {
      le = buf.readUInt32LE(off + 8) === 0x1a2b3c4d;
      section++;
      ifaces = [];
    }
    const u16 = (o: number) => (le ? buf.readUInt16LE(o) : buf.readUInt16BE(o));
    const u32 = (o: number) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
    const type = u32(off);
    const len = u32(off + 4);
    if (type === 1) {
      let unitsPerSecond = 1_000_000n;
      for (let o = off + 16; o + 4 <= off + len - 4; ) {
        const code = u16(o);
        const olen = u16(o + 2);
        if (code === 0) break;
        if (code === 9) {
          const r = buf[o + 4];
          unitsPerSecond = r & 0x80 ? 1n << BigInt(r & 0x7f) : 10n ** BigInt(r);
        }
        o += 4 + ((olen + 3) & ~3);
      }
      ifaces.push({ linkType: u16(off + 8), unitsPerSecond });
    } else if (type === 6 || type === 3) {
      const id = type === 6 ? u32(off + 8) : 0;
      const iface = ifaces[id];
      const caplen = type === 6 ? u32(off + 20) : Math.min(u32(off + 8), len - 16);
      const start = off + (type === 6 ? 28 : 12);
      const ts = type === 6 ? (BigInt(u32(off + 12)) << 32n) | BigInt(u32(off + 16)) : 0n;
      out.push({
        interfaceKey: (section << 16) | id,
        linkType: iface.linkType,
        tsNs: (ts * 1_000_000_000n) / iface.unitsPerSecond,
        capturedLength: caplen,
        originalLength: type === 6 ? u32(off + 24) : u32(off + 8),
        data: buf.subarray(start, start + caplen),
        flags: 0,
        offset: off,
      });
    }
    off += len;
  }
  return out;
}

export interface TsharkRow {
  frame: number;
  /** Comma-separated values when a frame has several (tunnels, ICMP errors): outermost first. */
  ipSrc: string;
  ipDst: string;
  ipv6Src: string;
  ipv6Dst: string;
  tcpSrcPort: string;
  tcpDstPort: string;
  udpSrcPort: string;
  udpDstPort: string;
  tcpSeqRaw: string;
  tcpLen: string;
  udpLength: string;
  protocols: string;
  /** Empty for records that are not packets (pcapng custom blocks tshark lists as frames). */
  encapType: string;
  ipReassembledLength: string;
  ipv6ReassembledLength: string;
}

const FIELDS = [
  'frame.number',
  'ip.src',
  'ip.dst',
  'ipv6.src',
  'ipv6.dst',
  'tcp.srcport',
  'tcp.dstport',
  'udp.srcport',
  'udp.dstport',
  'tcp.seq_raw',
  'tcp.len',
  'udp.length',
  'frame.protocols',
  'frame.encap_type',
  'ip.reassembled.length',
  'ipv6.reassembled.length',
];

/** tshark's view of every frame, with its own IPv4 and IPv6 reassembly on. */
export async function tsharkRows(file: string): Promise<TsharkRow[]> {
  const args = ['-r', file, '-n', '-o', 'ip.defragment:TRUE', '-o', 'ipv6.defragment:TRUE', '-T', 'fields', '-E', 'separator=/t'];
  for (const f of FIELDS) args.push('-e', f);
  const { stdout } = await run('tshark', args, { maxBuffer: 256 * 1024 * 1024 });
  return stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((line) => {
      const v = line.split('\t');
      return {
        frame: Number(v[0]),
        ipSrc: v[1],
        ipDst: v[2],
        ipv6Src: v[3],
        ipv6Dst: v[4],
        tcpSrcPort: v[5],
        tcpDstPort: v[6],
        udpSrcPort: v[7],
        udpDstPort: v[8],
        tcpSeqRaw: v[9],
        tcpLen: v[10],
        udpLength: v[11],
        protocols: v[12],
        encapType: v[13],
        ipReassembledLength: v[14],
        ipv6ReassembledLength: v[15],
      };
    });
}
