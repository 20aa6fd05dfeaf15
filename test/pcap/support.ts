/** Shared by the pcap tests: corpus discovery (from test/helpers/corpus.ts), tshark as the oracle, collecting reader output. */
import { execFileSync, spawnSync } from 'node:child_process';
import {
  CaptureReader,
  type CustomBlock,
  type InterfaceInfo,
  type InterfaceStatistics,
  type Packet,
  type ReaderOptions,
  type ReaderStats,
  type ReaderWarning,
} from '@panopticon/pcap';

export { corpusDir, corpusFiles } from '../helpers/corpus.js';

/** Why tshark-based tests cannot run here, or undefined when they can. */
export function tsharkMissing(): string | undefined {
  const r = spawnSync('tshark', ['--version'], { stdio: 'ignore' });
  return r.status === 0 ? undefined : 'tshark is not installed';
}

/** One row per frame: the requested fields, tab-separated, as tshark prints them. */
export function tsharkFields(file: string, fields: string[]): string[][] {
  const args = ['-n', '-r', file, '--disable-protocol', 'ALL', '--enable-protocol', 'frame', '-T', 'fields'];
  for (const f of fields) args.push('-e', f);
  const out = execFileSync('tshark', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 28 });
  return out
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => l.split('\t'));
}

/** Epoch nanoseconds in tshark's `frame.time_epoch` notation (9 decimals). */
export function epochString(tsNs: bigint): string {
  const neg = tsNs < 0n;
  const abs = neg ? -tsNs : tsNs;
  return `${neg ? '-' : ''}${abs / 1_000_000_000n}.${String(abs % 1_000_000_000n).padStart(9, '0')}`;
}

export interface Collected {
  packets: Packet[];
  interfaces: InterfaceInfo[];
  statistics: InterfaceStatistics[];
  custom: CustomBlock[];
  warnings: ReaderWarning[];
  stats: ReaderStats;
}

/** Runs a reader over `chunks` (pushed in order) and keeps everything it reports. */
export function collect(chunks: Buffer[], opts?: ReaderOptions): Collected {
  const c: Collected = { packets: [], interfaces: [], statistics: [], custom: [], warnings: [], stats: undefined! };
  const reader = new CaptureReader(
    {
      onPacket: (p) => c.packets.push(p),
      onInterface: (i) => c.interfaces.push(i),
      onStatistics: (s) => c.statistics.push(s),
      onCustom: (b) => c.custom.push(b),
      onWarning: (w) => c.warnings.push(w),
    },
    opts,
  );
  for (const ch of chunks) reader.push(ch);
  reader.end();
  c.stats = reader.stats;
  return c;
}

/** A comparable digest of a reader's output (data as hex), for equivalence checks. */
export function digest(c: Collected): unknown {
  return {
    packets: c.packets.map((p) => ({ ...p, data: p.data.toString('hex') })),
    interfaces: c.interfaces,
    statistics: c.statistics,
    custom: c.custom.map((b) => ({ ...b, data: b.data.toString('hex') })),
    warnings: c.warnings,
    packetsCount: c.stats.packets,
  };
}
