/**
 * A live capture: loads the classifier, hooks the interfaces, drains the ring
 * (or perf) buffer into pcapng blocks, reports kernel-counted loss, and on
 * stop detaches everything and flushes.
 */
import { release } from 'node:os';
import { PcapngWriter, SECRETS_TLS_KEY_LOG, type TextTail } from '@panopticon/pcap';
import { BPF_MAP_TYPE_RINGBUF, libbpf, type Libbpf } from './libbpf.js';
import { openRecords, type RecordSource } from './records.js';
import { CaptureError, LoadedProgram, type BufferKind } from './program.js';
import { InterfaceHooks, removeStale, type Direction, type StaleCleanup } from './hooks.js';
import { MonotonicToWall } from './clock.js';
import { ifIndexToName, ifNameToIndex } from './netlink.js';
import { RECORD, Stat, TLS_RECORD, TlsKind } from './layout.js';
import { encodeLossRecord, PANO_PEN } from '@panopticon/pcap';
import { EpbEncoder, splitOffset } from './epb.js';
import type { Filters } from './filters.js';
import type { NetInterface } from './interfaces.js';
import type { BlockSink } from './sink.js';
import { longInterval, type LongTimer } from '@panopticon/cli';
import { encodeKernelTlsRecord, TlsProbes, type TlsCounters } from './tls.js';
import type { GoTlsTarget } from './gotls.js';

export interface CaptureOptions {
  interfaces: NetInterface[];
  filters: Filters;
  snaplen: number;
  buffer: 'auto' | BufferKind;
  /** Ring buffer bytes (ringbuf), or the total over all CPUs (perf). */
  ringSize: number;
  /** Where pcapng goes; none for the smoke test. */
  sink?: BlockSink;
  /** Stop after this many packets. */
  count?: number;
  /** Interface Statistics Blocks every this many ms (and at the end); 0: only at the end. */
  statsIntervalMs: number;
  /** Sees each captured packet (after it went to the sink). */
  onPacket?(iface: NetInterface, data: Buffer, direction: number): void;
  /** Told at once, one line each: an interface went away or was renamed during the capture. */
  onNotice?(message: string): void;
  application?: string;
  /** TLS plaintext: the binaries whose OpenSSL SSL_read/SSL_write are probed (pano-capture --tls). */
  tls?: { targets: string[]; go?: GoTlsTarget[] };
  /**
   * Key log files (pano-capture --tls-keylog): what they hold at the start,
   * and each line appended during the capture, go into the pcapng as
   * Decryption Secrets Blocks ahead of the packets written after them.
   */
  keyLogs?: TextTail[];
}

export interface InterfaceCounters {
  name: string;
  seen: bigint;
  matched: bigint;
  captured: bigint;
  dropBuffer: bigint;
  dropCopy: bigint;
  truncated: bigint;
  delivered: number;
}

export interface CaptureSummary {
  buffer: BufferKind;
  packets: number;
  lost: bigint;
  interfaces: InterfaceCounters[];
  stale: StaleCleanup;
  problems: string[];
  /** Interfaces (as named at the start) whose capture ended before the run did: gone, or their filter removed. */
  lostInterfaces: string[];
  /** With --tls: the TLS plaintext records written, and the kernel's counters. */
  tls?: TlsCounters & { delivered: number };
  /** With --tls-keylog: Decryption Secrets Blocks written. */
  secretsBlocks?: number;
}

/** Which directions to hook: on loopback every packet passes egress and then ingress, so only ingress (ADR 0301). */
export function directionsFor(iface: NetInterface): Direction[] {
  return iface.loopback ? ['ingress'] : ['ingress', 'egress'];
}

const STATS_POLL_MS = 1000;
const IDLE_MAX_MS = 8;
/** Key log text per Decryption Secrets Block, at most. */
const SECRETS_BLOCK_BYTES = 1 << 20;
/** With --tls-keylog, how long blocks wait for the secrets logged after them (see `out`). */
const KEYLOG_DELAY_MS = 100;
/** Bytes of blocks held at most meanwhile; past it the oldest go at once. */
const MAX_DELAYED_BYTES = 32 * 1024 * 1024;

export class Capture {
  readonly lib: Libbpf;
  readonly program: LoadedProgram;
  private readonly hooks: InterfaceHooks[] = [];
  private readonly writer = new PcapngWriter();
  private readonly clock = new MonotonicToWall();
  private readonly delivered: number[];
  private readonly lostSoFar: bigint[];
  private readonly startNs: bigint;
  private lastLossCheckNs: bigint;
  private source: RecordSource | undefined;
  private tls: TlsProbes | undefined;
  private tlsDelivered = 0;
  /** Wall-clock time of the last block of this drain (ns, as a double): a TLS record older than it breaks the order. */
  private lastTime = 0;
  private readonly epb: EpbEncoder;
  private offHi = 0;
  private offLo = 0;
  /** The blocks of the current drain, with their wall-clock times (ns, as doubles) for ordering. */
  private blocks: Buffer[] = [];
  private times: number[] = [];
  private ordered = true;
  /** For onPacket (smoke test): copies of what was captured in this drain. */
  private seen: { slot: number; dir: number; data: Buffer }[] = [];
  private pollTimer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  private statsTimer: NodeJS.Timeout | undefined;
  private isbTimer: LongTimer | undefined;
  private idleMs = 1;
  private packets = 0;
  /** Decryption Secrets Blocks written (--tls-keylog). */
  private secretsBlocks = 0;
  /** With --tls-keylog: blocks held for the secrets logged after their packets crossed. */
  private delayed: Array<{ block: Buffer; at: number }> = [];
  private delayedBytes = 0;
  private stopped = false;
  private readonly stale: StaleCleanup;
  /** Per slot: still attached (checked every second). */
  private readonly live: boolean[];
  /** Per slot: the interface's name now (it may be renamed during the capture). */
  private readonly names: string[];
  private readonly lost: string[] = [];
  /** Per slot: a filter was seen missing while the interface was still there (said only when seen so twice). */
  private readonly suspect: boolean[];
  private readonly lossProblems: string[] = [];
  private readonly doneWaiters: ((s: CaptureSummary) => void)[] = [];
  private summary: CaptureSummary | undefined;

  constructor(private readonly opts: CaptureOptions) {
    this.lib = libbpf();
    if (opts.interfaces.length === 0 && !opts.tls) throw new CaptureError('no interface to capture on');
    this.stale = removeStale(this.lib);
    const buffer = chooseBuffer(this.lib, opts.buffer);
    this.program = LoadedProgram.load({ buffer, snaplen: opts.snaplen, ringSize: opts.ringSize, filters: opts.filters });
    this.epb = new EpbEncoder(this.program.snaplen);
    this.delivered = opts.interfaces.map(() => 0);
    this.lostSoFar = opts.interfaces.map(() => 0n);
    this.live = opts.interfaces.map(() => true);
    this.names = opts.interfaces.map((i) => i.name);
    this.suspect = opts.interfaces.map(() => false);
    this.startNs = this.clock.wall(MonotonicToWall.monotonicNow());
    [this.offHi, this.offLo] = splitOffset(this.clock.offsetNs);
    this.lastLossCheckNs = this.startNs;
    try {
      this.writeHeader();
      this.writeSecrets();
      if (opts.interfaces.length) this.openSource();
      if (opts.tls) this.tls = TlsProbes.attach(opts.tls.targets, opts.ringSize, opts.tls.go);
      opts.interfaces.forEach((iface, slot) => this.program.setInterface(iface.ifindex, slot, iface.l3Offset));
      for (const iface of opts.interfaces) {
        const h = new InterfaceHooks(this.lib, iface);
        this.hooks.push(h);
        h.attach((d) => this.program.programFd(d), directionsFor(iface));
      }
    } catch (e) {
      this.teardown();
      throw e;
    }
    this.opts.sink?.flush();
    this.schedulePoll(0);
    this.statsTimer = setInterval(() => {
      this.checkLoss();
      this.checkInterfaces();
    }, STATS_POLL_MS);
    // (not setInterval: past 2^31-1 ms it fires every millisecond)
    if (opts.statsIntervalMs > 0) this.isbTimer = longInterval(() => this.writeStatistics(), opts.statsIntervalMs);
  }

  get buffer(): BufferKind {
    return this.program.buffer;
  }

  /** Resolves when the capture has stopped (count reached, sink closed, or stop()). */
  done(): Promise<CaptureSummary> {
    if (this.summary) return Promise.resolve(this.summary);
    return new Promise((resolve) => this.doneWaiters.push(resolve));
  }

  /** Detaches, drains what the kernel already queued, writes final statistics and flushes. */
  stop(): CaptureSummary {
    if (this.summary) return this.summary;
    this.stopped = true;
    this.isbTimer?.cancel();
    for (const t of [this.pollTimer, this.statsTimer]) {
      if (t) {
        clearTimeout(t as NodeJS.Timeout);
        clearInterval(t as NodeJS.Timeout);
        clearImmediate(t as NodeJS.Immediate);
      }
    }
    const problems: string[] = [];
    for (const h of this.hooks) problems.push(...h.detach());
    this.tls?.detach();
    // Nothing new can arrive now; take what is queued (bounded: the buffer is finite).
    this.drain();
    this.checkLoss();
    this.writeStatistics();
    this.releaseDelayed(true);
    this.opts.sink?.flush();
    const interfaces = this.counters();
    this.summary = {
      buffer: this.program.buffer,
      packets: this.packets,
      lost: interfaces.reduce((a, c) => a + c.dropBuffer + c.dropCopy, 0n),
      interfaces,
      stale: this.stale,
      problems: [...this.stale.problems, ...this.lossProblems, ...problems],
      lostInterfaces: [...this.lost],
    };
    if (this.tls) this.summary.tls = { ...this.tls.counters(), delivered: this.tlsDelivered };
    if (this.opts.keyLogs) this.summary.secretsBlocks = this.secretsBlocks;
    if (this.opts.sink?.error) this.summary.problems.push(this.opts.sink.error);
    this.teardown();
    for (const w of this.doneWaiters.splice(0)) w(this.summary);
    return this.summary;
  }

  counters(): InterfaceCounters[] {
    return this.opts.interfaces.map((iface, slot) => {
      const s = this.program.readStats(slot);
      return {
        name: iface.name,
        seen: s[Stat.SEEN],
        matched: s[Stat.MATCHED],
        captured: s[Stat.CAPTURED],
        dropBuffer: s[Stat.DROP_BUFFER],
        dropCopy: s[Stat.DROP_COPY],
        truncated: s[Stat.TRUNCATED],
        delivered: this.delivered[slot],
      };
    });
  }

  private teardown(): void {
    for (const h of this.hooks) h.detach();
    this.tls?.close();
    this.tls = undefined;
    this.source?.free();
    this.source = undefined;
    this.program?.close();
  }

  private writeHeader(): void {
    const sink = this.opts.sink;
    if (!sink) return;
    sink.push(this.writer.sectionHeader({ application: this.opts.application ?? 'pano-capture', os: osName() }));
    for (const iface of this.opts.interfaces) {
      const { block } = this.writer.interfaceDescription({
        linkType: iface.linkType!,
        snapLen: this.program.snaplen,
        name: iface.name,
        description: `tc ${directionsFor(iface).join('+')} on ${iface.name}`,
        tsResolNs: true,
      });
      sink.push(block);
    }
  }

  private openSource(): void {
    this.source = openRecords(this.program, (rec) => this.onRecord(rec), this.opts.ringSize);
  }

  /** Called for each kernel record, a view into the shared buffer: encode (copy) it at once. */
  private onRecord(rec: Buffer): number {
    if (this.countReached()) return -1;
    const capLen = rec.readUInt32LE(RECORD.CAP_LEN);
    if (RECORD.SIZE + capLen > rec.length) return 0; // cannot happen with our program
    const slot = rec.readUInt16LE(RECORD.SLOT);
    if (slot >= this.opts.interfaces.length) return 0;
    if (this.opts.sink) {
      this.blocks.push(this.epb.encode(rec, slot, this.offHi, this.offLo));
      this.times.push(this.epb.lastTs);
      if (this.epb.lastTs < this.lastTime && this.blocks.length > 1) this.ordered = false;
      this.lastTime = this.epb.lastTs;
    }
    if (this.opts.onPacket) this.seen.push({ slot, dir: rec[RECORD.DIRECTION], data: Buffer.from(rec.subarray(RECORD.SIZE, RECORD.SIZE + capLen)) });
    this.packets++;
    this.delivered[slot]++;
    return 0;
  }

  /** Called for each kernel TLS record (bpf/tls.h): a Custom Block, TLS plaintext (type 2) or TLS end (type 3) record (pano-frames(5)). */
  private onTlsRecord(rec: Buffer): number {
    if (this.countReached()) return -1;
    if (this.opts.sink) {
      const data = encodeKernelTlsRecord(rec, this.clock.offsetNs);
      const t = Number(data.readBigUInt64LE(8));
      this.blocks.push(this.writer.custom({ pen: PANO_PEN, copyable: true, data }));
      this.times.push(t);
      if (t < this.lastTime && this.blocks.length > 1) this.ordered = false;
      this.lastTime = t;
    }
    if (rec[TLS_RECORD.KIND] === TlsKind.DATA) this.tlsDelivered++;
    return 0;
  }

  /** Both buffers: packets, then TLS records; emitBatch orders them by time. */
  private consume(): number {
    let n = this.source ? this.source.consume() : 0;
    if (this.tls) n += this.tls.consume((rec) => this.onTlsRecord(rec));
    return n;
  }

  /** Writes the blocks of one drain in timestamp order (perf rings are per CPU, so a drain interleaves CPUs). */
  private emitBatch(): void {
    const sink = this.opts.sink;
    if (sink && this.blocks.length) {
      const blocks = this.blocks;
      const times = this.times;
      if (!this.ordered) {
        const order = blocks.map((_, i) => i).sort((x, y) => times[x] - times[y] || x - y);
        for (const i of order) this.out(blocks[i]);
      } else {
        for (const b of blocks) this.out(b);
      }
      this.blocks = [];
      this.times = [];
      this.ordered = true;
      this.lastTime = 0;
    }
    if (this.seen.length) {
      for (const r of this.seen.splice(0)) this.opts.onPacket?.(this.opts.interfaces[r.slot], r.data, r.dir);
    }
    this.releaseDelayed(false);
  }

  /**
   * A block to the sink; with --tls-keylog, held KEYLOG_DELAY_MS first:
   * a server's encrypted flight crosses the wire before its client has
   * logged the secrets that open it, and Wireshark and tshark need a
   * secret before the records it opens (pano-parse would wait for it).
   */
  private out(block: Buffer): void {
    if (!this.opts.keyLogs) return void this.opts.sink?.push(block);
    this.delayed.push({ block, at: Date.now() });
    this.delayedBytes += block.length;
  }

  /** Key log lines appended meanwhile, then the blocks held long enough (all of them at the end, or past the bound). */
  private releaseDelayed(all: boolean): void {
    const sink = this.opts.sink;
    if (!sink || !this.opts.keyLogs) return;
    this.writeSecrets();
    const due = Date.now() - KEYLOG_DELAY_MS;
    let n = 0;
    while (n < this.delayed.length && (all || this.delayed[n]!.at <= due || this.delayedBytes > MAX_DELAYED_BYTES)) {
      const d = this.delayed[n++]!;
      sink.push(d.block);
      this.delayedBytes -= d.block.length;
    }
    if (n) this.delayed.splice(0, n);
  }

  /**
   * Key log lines appended since the last batch, as Decryption Secrets
   * Blocks (1 MiB of lines at most each) before the batch's packets: a
   * client writes its secrets as its handshake goes on, so they come at
   * most a batch after the packets they open, which pano-parse waits for.
   */
  private writeSecrets(): void {
    const sink = this.opts.sink;
    if (!sink || !this.opts.keyLogs) return;
    for (const tail of this.opts.keyLogs) {
      let text = tail.read();
      while (text.length) {
        const cut = text.length <= SECRETS_BLOCK_BYTES ? text.length : text.lastIndexOf('\n', SECRETS_BLOCK_BYTES) + 1 || text.length;
        sink.push(this.writer.decryptionSecrets(SECRETS_TLS_KEY_LOG, Buffer.from(text.slice(0, cut), 'latin1')));
        this.secretsBlocks++;
        text = text.slice(cut);
      }
    }
  }

  /** Takes what the kernel has queued (bounded: the buffer is finite) and writes it. */
  private drain(): void {
    if (!this.countReached()) {
      for (let i = 0; i < 1000 && this.consume() > 0; i++) this.emitBatch();
    }
    this.emitBatch();
  }

  /**
   * Every second: is each interface still hooked? One that went away (deleted,
   * moved to another namespace, deleted and made again under its name) or
   * whose filter or clsact qdisc something else removed captures nothing more,
   * in silence, unless told: say so once, end its capture with a last
   * statistics block, and end the run when no interface is left. A renamed
   * interface keeps its hooks: said once, and the capture goes on.
   */
  private checkInterfaces(): void {
    if (this.stopped) return;
    this.opts.interfaces.forEach((iface, slot) => {
      const hooks = this.hooks[slot];
      if (!this.live[slot] || !hooks) return;
      let missing: Direction[];
      try {
        missing = hooks.missing();
      } catch {
        return; // netlink could not tell: ask again in a second
      }
      const nameNow = ifIndexToName(iface.ifindex);
      const label = this.names[slot] === iface.name ? iface.name : `${iface.name} (renamed ${this.names[slot]})`;
      const gone = nameNow === undefined || nameNow !== this.names[slot];
      // An interface being deleted loses its qdisc before its name: wait a second before taking a missing
      // filter on a present interface for a removed filter (it is then most likely gone altogether).
      if (missing.length > 0 && !gone && !this.suspect[slot]) {
        this.suspect[slot] = true;
        return;
      }
      this.suspect[slot] = false;
      if (missing.length === 0) {
        if (nameNow !== undefined && nameNow !== this.names[slot]) {
          this.opts.onNotice?.(`${label}: renamed ${nameNow}; still capturing on it (named ${iface.name} in the capture)`);
          this.names[slot] = nameNow;
        }
        return;
      }
      this.live[slot] = false;
      this.lost.push(iface.name);
      let why: string;
      if (gone) {
        // gone (its ifindex now free, or taken by another interface)
        hooks.forget();
        const again = ifNameToIndex(this.names[slot]);
        why = `the interface is gone (deleted, or moved to another network namespace)${again !== undefined ? `; the new ${this.names[slot]} (ifindex ${again}) is not captured` : ''}`;
      } else {
        this.lossProblems.push(...hooks.detach());
        why = `the capture's ${missing.join(' and ')} filter was removed (tc, or another program, deleted it or the clsact qdisc)`;
      }
      this.opts.onNotice?.(`${label}: ${why}; no longer capturing on it`);
      // what it captured before is written, then its last statistics
      this.drain();
      this.writeStatistics([slot], `capture on ${iface.name} ended: ${why}`);
    });
    if (this.live.length > 0 && this.live.every((l) => !l) && !this.tls) {
      this.opts.onNotice?.('no interface left to capture on; the capture ends');
      this.stop();
    }
  }

  private countReached(): boolean {
    return this.opts.count !== undefined && this.packets + this.tlsDelivered >= this.opts.count;
  }

  private schedulePoll(delayMs: number): void {
    if (this.stopped) return;
    const tick = () => {
      if (this.stopped || (!this.source && !this.tls)) return;
      const sink = this.opts.sink;
      sink?.flush();
      // A reader that is behind (a full pipe): leave the packets in the kernel buffer, which drops and
      // counts what no longer fits, instead of holding them here without bound; look again shortly.
      const n = sink?.full ? 0 : this.consume();
      this.emitBatch();
      sink?.flush();
      if (this.countReached() || this.opts.sink?.closed) {
        this.stop();
        return;
      }
      this.idleMs = n > 0 ? 0 : Math.min(IDLE_MAX_MS, Math.max(1, this.idleMs * 2));
      this.schedulePoll(this.idleMs);
    };
    this.pollTimer = delayMs === 0 ? setImmediate(tick) : setTimeout(tick, delayMs);
  }

  /** Emits a loss record for every interface whose kernel drop counters grew since the last check. */
  private checkLoss(): void {
    this.clock.resample();
    [this.offHi, this.offLo] = splitOffset(this.clock.offsetNs);
    const now = this.clock.wall(MonotonicToWall.monotonicNow());
    const sink = this.opts.sink;
    this.opts.interfaces.forEach((_iface, slot) => {
      const s = this.program.readStats(slot);
      const lost = s[Stat.DROP_BUFFER] + s[Stat.DROP_COPY];
      const prev = this.lostSoFar[slot];
      if (lost > prev) {
        this.lostSoFar[slot] = lost;
        if (sink) this.out(
          this.writer.custom({
            pen: PANO_PEN,
            copyable: true,
            data: encodeLossRecord({
              interfaceId: slot,
              startNs: this.lastLossCheckNs,
              endNs: now,
              lost: lost - prev,
              totalLost: lost,
            }),
          }),
        );
      }
    });
    this.lastLossCheckNs = now;
    sink?.flush();
  }

  /** Interface Statistics Blocks for `slots` (default: those still captured; a lost one had its last when it went). */
  private writeStatistics(slots = this.live.flatMap((l, slot) => (l ? [slot] : [])), comment?: string): void {
    const sink = this.opts.sink;
    if (!sink) return;
    const now = this.clock.wall(MonotonicToWall.monotonicNow());
    slots.forEach((slot) => {
      const s = this.program.readStats(slot);
      // after the packets they count, also when those wait for key log lines
      this.out(
        this.writer.interfaceStatistics({
          interfaceId: slot,
          tsNs: now,
          startNs: this.startNs,
          endNs: now,
          ifRecv: s[Stat.SEEN],
          filterAccept: s[Stat.MATCHED],
          osDrop: s[Stat.DROP_BUFFER] + s[Stat.DROP_COPY],
          usrDeliv: BigInt(this.delivered[slot]),
          comment,
        }),
      );
    });
    sink.flush();
  }
}


function osName(): string {
  return `Linux ${release()}`;
}

/** auto: the ring buffer where the kernel has it (5.8+), else the perf event array. */
export function chooseBuffer(lib: Libbpf, wanted: 'auto' | BufferKind): BufferKind {
  if (wanted === 'perf') return 'perf';
  const hasRing = lib.probeMapType(BPF_MAP_TYPE_RINGBUF) === 1;
  if (wanted === 'ringbuf') {
    if (!hasRing) throw new CaptureError('this kernel lacks the BPF ring buffer (Linux 5.8 or later); use --buffer perf');
    return 'ringbuf';
  }
  return hasRing ? 'ringbuf' : 'perf';
}
