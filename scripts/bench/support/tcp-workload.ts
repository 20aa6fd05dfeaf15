/**
 * Shared by the database benchmarks: writes a pcapng of many interleaved TCP
 * connections (SYN handshake, MSS-sized segments with ACKs, FIN), and times
 * a command (best of N rounds, peak RSS from /usr/bin/time).
 */
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, statSync, writeSync } from 'node:fs';
import { PcapngWriter, LinkType } from '@panopticon/pcap';
import { tcpFrame, F } from '../../../test/helpers/synth.js';

let seed = 11;
/** Deterministic pseudo-random integer in [0, n). */
export function rand(n: number): number {
  seed = (seed * 1103515245 + 12345) >>> 0;
  return (seed >>> 8) % n;
}

export interface Conn {
  index: number;
  c: { addr: string; port: number };
  s: { addr: string; port: number };
  seq: [number, number];
}

export interface Workload {
  /** Opens connections and returns a sender; `finish` closes them and the file. */
  conns: Conn[];
  send(k: Conn, side: 0 | 1, data: Buffer): void;
  /** Opens one more connection (an FTP data connection) with its handshake; `close` ends it. */
  connect(c: Conn['c'], s: Conn['s']): Conn;
  close(k: Conn): void;
  finish(): { packets: number; bytes: number };
}

export function writeWorkload(file: string, connections: number, serverPort: number): Workload {
  const w = new PcapngWriter();
  const fd = openSync(file, 'w');
  writeSync(fd, w.sectionHeader({ application: 'panopticon bench' }));
  writeSync(fd, w.interfaceDescription({ linkType: LinkType.ETHERNET, snapLen: 262144, name: 'bench0' }).block);
  let t = 1_763_000_000_000_000_000n;
  let packets = 0;
  const pending: Buffer[] = [];
  const emit = (data: Buffer) => {
    t += 5_000n + BigInt(rand(20_000));
    pending.push(w.enhancedPacket({ interfaceId: 0, tsNs: t, data }));
    packets++;
    if (pending.length >= 4096) writeSync(fd, Buffer.concat(pending.splice(0)));
  };
  const conns: Conn[] = Array.from({ length: connections }, (_, k) => ({
    index: k,
    c: { addr: `10.1.${(k >> 8) & 255}.${(k & 255) + 1}`, port: 30000 + k },
    s: { addr: '10.9.0.2', port: serverPort },
    seq: [1000 + k * 7919, 50000 + k * 104729] as [number, number],
  }));
  const handshake = (k: Conn) => {
    emit(tcpFrame({ src: k.c, dst: k.s, seq: k.seq[0], flags: F.SYN }));
    emit(tcpFrame({ src: k.s, dst: k.c, seq: k.seq[1], ack: k.seq[0] + 1, flags: F.SYN | F.ACK }));
    k.seq = [k.seq[0] + 1, k.seq[1] + 1];
  };
  const fin = (k: Conn) => {
    emit(tcpFrame({ src: k.c, dst: k.s, seq: k.seq[0], ack: k.seq[1], flags: F.FIN | F.ACK }));
    emit(tcpFrame({ src: k.s, dst: k.c, seq: k.seq[1], ack: k.seq[0] + 1, flags: F.FIN | F.ACK }));
  };
  for (const k of conns) handshake(k);
  let extra = 0;
  return {
    conns,
    connect(c, s) {
      const k: Conn = { index: connections + extra, c, s, seq: [7000 + extra * 7919, 90000 + extra * 104729] };
      extra++;
      handshake(k);
      return k;
    },
    close: fin,
    send(k, side, data) {
      const [src, dst] = side === 0 ? [k.c, k.s] : [k.s, k.c];
      for (let off = 0; off < data.length; off += 1448) {
        const payload = data.subarray(off, Math.min(data.length, off + 1448));
        emit(tcpFrame({ src, dst, seq: k.seq[side], ack: k.seq[1 - side], flags: F.ACK | F.PSH, payload }));
        k.seq[side] = (k.seq[side] + payload.length) >>> 0;
      }
      emit(tcpFrame({ src: dst, dst: src, seq: k.seq[1 - side], ack: k.seq[side], flags: F.ACK }));
    },
    finish() {
      for (const k of conns) fin(k);
      writeSync(fd, Buffer.concat(pending));
      closeSync(fd);
      return { packets, bytes: statSync(file).size };
    },
  };
}

export interface Run {
  seconds: number;
  rssKiB: number;
  lines: number;
}

/**
 * Best of `rounds` runs of a command. With `discardOutput`, its stdout goes to
 * /dev/null (as a user would redirect it) instead of through a pipe into this
 * process, and `lines` is 0: count output in a separate, untimed run.
 */
export function timed(cmd: string, args: string[], rounds: number, discardOutput = false): Run {
  let best: Run | null = null;
  for (let r = 0; r < rounds; r++) {
    const start = process.hrtime.bigint();
    const devnull = discardOutput ? openSync('/dev/null', 'w') : undefined;
    const res = spawnSync('/usr/bin/time', ['-f', '%M', cmd, ...args], {
      encoding: 'utf8',
      maxBuffer: 1 << 30,
      stdio: devnull === undefined ? 'pipe' : ['ignore', devnull, 'pipe'],
    });
    if (devnull !== undefined) closeSync(devnull);
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    if (res.status !== 0) throw new Error(`${cmd} failed: ${res.stderr.slice(-500)}`);
    const rssKiB = Number(res.stderr.trim().split('\n').pop());
    const lines = res.stdout?.length ? res.stdout.split('\n').length - 1 : 0;
    if (!best || seconds < best.seconds) best = { seconds, rssKiB, lines };
  }
  return best!;
}

export function report(mb: number, packets: number, pano: Run, tshark: Run, rounds: number): void {
  const row = (name: string, r: Run) =>
    `${name.padEnd(12)} ${r.seconds.toFixed(2).padStart(7)} s  ${(mb / r.seconds).toFixed(1).padStart(7)} MB/s  ${Math.round(packets / r.seconds).toString().padStart(9)} pkt/s  ${(r.rssKiB / 1024).toFixed(0).padStart(5)} MiB RSS`;
  console.log(row('pano-parse', pano));
  console.log(row('tshark', tshark));
  console.log(`ratio: pano-parse is ${(tshark.seconds / pano.seconds).toFixed(1)}x tshark (best of ${rounds}, same file, same run)`);
}
