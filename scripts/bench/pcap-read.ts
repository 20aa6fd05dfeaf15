/**
 * Capture reading throughput: MB/s and packets/s of `readCapture` (framing,
 * timestamps, one Packet object per packet, nothing decoded) over a ~200 MB
 * pcapng written with PcapngWriter, beside tshark listing frame numbers of
 * the same file (`tshark -r FILE -T fields -e frame.number`, every dissector
 * above `frame` disabled so it reads rather than dissects) and `capinfos -c`
 * in the same run. Prints the ratios.
 *
 * Packet sizes follow a bulk-TCP-plus-requests mix: 40% 66-byte ACKs, 35%
 * 1514-byte full segments, 25% uniform 100-1000 bytes; every fifth packet
 * carries epb_flags. The file is kept in bench-out/ and reused while its size
 * matches.
 *
 *   node --import tsx --conditions=source scripts/bench/pcap-read.ts [megabytes]
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, statSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Direction, LinkType, PcapngWriter, readCapture } from '@panopticon/pcap';

const TARGET_MB = Number(process.argv[2] ?? 200);
const ROUNDS = 3;
const root = resolve(import.meta.dirname, '../..');
const dir = join(root, 'bench-out');
const file = join(dir, `pcap-read-${TARGET_MB}mb.pcapng`);

let seed = 7;
function rand(n: number): number {
  seed = (seed * 1103515245 + 12345) >>> 0;
  return (seed >>> 8) % n;
}

function generate(): void {
  mkdirSync(dir, { recursive: true });
  const fd = openSync(file, 'w');
  const w = new PcapngWriter();
  const target = TARGET_MB * 1e6;
  const payload = Buffer.alloc(1514);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 31) & 0xff;
  let written = 0;
  let batch: Buffer[] = [w.sectionHeader({ application: 'pano bench' })];
  for (const name of ['eth0', 'lo']) batch.push(w.interfaceDescription({ linkType: LinkType.ETHERNET, snapLen: 262144, name }).block);
  let ts = 1700000000000000000n;
  for (let n = 0; written < target; n++) {
    const r = rand(100);
    const size = r < 40 ? 66 : r < 75 ? 1514 : 100 + rand(901);
    ts += BigInt(1000 + rand(50000));
    const block = w.enhancedPacket({
      interfaceId: n & 1,
      tsNs: ts,
      data: payload.subarray(0, size),
      flags: n % 5 === 0 ? Direction.INBOUND : undefined,
    });
    batch.push(block);
    written += block.length;
    if (batch.length >= 4096) {
      writeSync(fd, Buffer.concat(batch));
      batch = [];
    }
  }
  writeSync(fd, Buffer.concat(batch));
  closeSync(fd);
}

function time(cmd: string, args: string[]): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'ignore'] });
  if (r.status !== 0) throw new Error(`${cmd} failed with status ${r.status}`);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

if (!existsSync(file) || Math.abs(statSync(file).size - TARGET_MB * 1e6) > 4e6) {
  console.log(`generating ${file} ...`);
  generate();
}
const bytes = statSync(file).size;

let best = Infinity;
let packets = 0;
let sum = 0;
for (let round = 0; round < ROUNDS; round++) {
  let n = 0;
  let len = 0;
  const t0 = process.hrtime.bigint();
  const stats = await readCapture(file, {
    onPacket(p) {
      n++;
      len += p.capturedLength;
    },
  });
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (stats.warnings !== 0) throw new Error('the generated file read with warnings');
  packets = n;
  sum = len;
  best = Math.min(best, s);
}

const mb = bytes / 1e6;
console.log(`file: ${mb.toFixed(1)} MB, ${packets} packets, ${(sum / packets).toFixed(0)} bytes captured per packet on average`);
console.log(`pano readCapture:  ${best.toFixed(2)} s  ${(mb / best).toFixed(0)} MB/s  ${(packets / best / 1e3).toFixed(0)}k packets/s  (best of ${ROUNDS})`);

const hasTshark = spawnSync('tshark', ['--version'], { stdio: 'ignore' }).status === 0;
if (!hasTshark) {
  console.log('tshark not installed: no peer to compare with');
} else {
  const tshark = time('tshark', ['-n', '-r', file, '--disable-protocol', 'ALL', '--enable-protocol', 'frame', '-T', 'fields', '-e', 'frame.number']);
  console.log(`tshark -T fields:  ${tshark.toFixed(2)} s  ${(mb / tshark).toFixed(0)} MB/s  ${(packets / tshark / 1e3).toFixed(0)}k packets/s`);
  const capinfos = time('capinfos', ['-c', file]);
  console.log(`capinfos -c:       ${capinfos.toFixed(2)} s  ${(mb / capinfos).toFixed(0)} MB/s  ${(packets / capinfos / 1e3).toFixed(0)}k packets/s`);
  console.log(`ratio: pano is ${(tshark / best).toFixed(1)}x tshark, ${(capinfos / best).toFixed(1)}x capinfos`);
}
