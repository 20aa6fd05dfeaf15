/**
 * Corpus access for the decoder's oracle tests: the capture files, their
 * packets, and what tshark says about each frame's IP and transport layers.
 */
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readCapture, type Packet } from '@panopticon/pcap';
import { tsharkOutput } from '../helpers/tshark.js';

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

/** Every packet of a capture, in file order, read with @panopticon/pcap. */
export async function readPackets(file: string): Promise<Packet[]> {
  const out: Packet[] = [];
  const warnings: string[] = [];
  await readCapture(file, {
    onPacket: (p) => out.push(p),
    onWarning: (w) => warnings.push(`byte ${w.offset}: ${w.message}`),
  });
  // A skipped record would shift frame numbers against tshark's.
  if (warnings.length) throw new Error(`${file}: reader warnings: ${warnings.join('; ')}`);
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
  const args = ['-n', '-o', 'ip.defragment:TRUE', '-o', 'ipv6.defragment:TRUE', '-T', 'fields', '-E', 'separator=/t'];
  for (const f of FIELDS) args.push('-e', f);
  const stdout = await tsharkOutput(file, args);
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
