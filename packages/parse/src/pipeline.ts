/**
 * The replay pipeline behind pano-parse: capture bytes in, events out.
 *
 *   CaptureReader → Decoder → FlowTable → Dispatcher → protocol parsers → onEvent
 *
 * Push-based and synchronous per chunk, so the caller decides how bytes
 * arrive (file, pipe, live capture) and can wait for its output to drain
 * between chunks.
 */
import { CaptureReader, PANO_PEN, SECRETS_TLS_KEY_LOG, interfaceKey, decodeLossRecord, decodeTlsRecord, decodeTlsEndRecord, type TlsRecord, type TlsEndRecord, type FrameRef, type LossRecord, type CustomBlock, type InterfaceInfo, type InterfaceStatistics, type ReaderWarning } from '@panopticon/pcap';
import { DECODED_LINK_TYPES, Decoder, IpProto, formatIPv4, formatIPv6, type DecoderOptions, type L4Packet } from '@panopticon/decode';
import { FlowTable, defaultFlowOptions, plaintextKey, type FlowTableOptions, type PlaintextChunk } from '@panopticon/flows';
import { LAST_NS, sequential, type EventSource, type PanoEvent } from '@panopticon/events';
import { Dispatcher, FtpShardEndpoints, QuicShardIds, protocolModules, type ParseOptions, type ProtocolModule } from '@panopticon/protocols';

export interface PipelineOptions {
  /** Protocol names to parse (default: all registered). */
  protocols?: string[];
  parse?: Partial<ParseOptions>;
  flows?: Partial<FlowTableOptions>;
  decoder?: DecoderOptions;
  source: EventSource;
  /**
   * The capture arrives as it is made (a pipe): packets that pano-capture's
   * TC hooks captured (its sections say so) come from `tc` on their
   * interface, not from `source`. A file is a replay, whoever wrote it.
   */
  live?: boolean;
  /**
   * Parse only the flows of shard `index` of `count` (flow-sharded parsing,
   * one pipeline per worker): every frame is still read and decoded, so
   * packet time, idle expiry and timeouts advance exactly as in one pipeline.
   */
  shard?: { index: number; count: number };
  onEvent(ev: PanoEvent): void;
  /** Damage the capture reader skipped (offset + message). */
  onWarning?(w: ReaderWarning): void;
  /**
   * Malformed packets (a bad IP or TCP/UDP header) are passed to `onWarning`
   * too, with the decoder's reason: for --strict, where damage is fatal where
   * it is met. Otherwise they are only counted (`decode.malformed`).
   */
  warnMalformed?: boolean;
  /** Blocks that are not packets (pcapng Custom Blocks), for stages that understand them. */
  onCustom?(b: CustomBlock): void;
  /** A pano-capture loss record (pano-frames(5)): the kernel dropped packets on an interface. */
  onLoss?(loss: LossRecord, interfaceName: string | undefined): void;
}

/**
 * Interfaces remembered (names, live provenance, drop counts): twice the most
 * one section can describe. A capture of many sections (`cat` of rotated
 * captures, or crafted: 48 bytes a section) made the table grow with the input,
 * about 200 bytes of heap per 48 bytes read, to an out-of-memory crash near
 * 1 GB. Past the bound the older half is forgotten: a connection still open
 * on one of those interfaces loses `network.interface.name`.
 */
const MAX_INTERFACES = 2 * 65536;


/**
 * Which of `count` shards a flow belongs to. Symmetric in the endpoints so
 * both directions land together; cheap (ports and each address's last
 * character) because every worker computes it for every packet.
 */
export function shardOf(p: L4Packet, count: number): number {
  return endpointsShard(p.srcAddr, p.srcPort, p.dstAddr, p.dstPort, count);
}

function endpointsShard(a: string, ap: number, b: string, bp: number, count: number): number {
  const h = ap ^ bp ^ ((a.charCodeAt(a.length - 1) ^ b.charCodeAt(b.length - 1)) << 16);
  return (Math.imul(h, 0x9e3779b1) >>> 16) % count;
}

/** Library connections remembered per shard as another shard's (see `tlsRecord`). */
const MAX_ELSEWHERE = 65536;

/** Names of every protocol module, for `--protocols` validation and help. */
export function protocolNames(): string[] {
  return [...new Set(protocolModules.map((m) => m.name))];
}

export function selectModules(names: string[] | undefined): ProtocolModule[] {
  if (!names || names.length === 0) return protocolModules;
  const known = new Set(protocolNames());
  const unknown = names.filter((n) => !known.has(n));
  if (unknown.length) throw new RangeError(`unknown protocol ${unknown.map((n) => `"${n}"`).join(', ')} (known: ${[...known].join(', ')})`);
  return protocolModules.filter((m) => names.includes(m.name));
}

export class ParsePipeline {
  readonly reader: CaptureReader;
  readonly decoder: Decoder;
  readonly flows: FlowTable;
  readonly dispatcher: Dispatcher;
  readonly interfaces = new Map<number, InterfaceInfo>();
  /** With `live`: the `tc` provenance of each interface pano-capture described. */
  private readonly liveSources = new Map<number, EventSource>();
  /** Kernel/OS drops reported by Interface Statistics Blocks, per interface key (latest value). */
  readonly drops = new Map<number, bigint>();
  /** Drops of interfaces forgotten past MAX_INTERFACES. */
  private forgottenDrops = 0n;
  events = 0;
  /**
   * Frames read so far, plus one once input has ended: the position an
   * event was emitted at, by which sharded output is merged back in order.
   */
  ordinal = 0;
  /** Loss records seen and the packets they say were lost. */
  lossRecords = 0;
  lostPackets = 0n;
  /** TLS plaintext records (pano-frames(5) type 2) read. */
  tlsRecords = 0;
  /** TLS end records (pano-frames(5) type 3) read. */
  tlsEndRecords = 0;
  /** pcapng Decryption Secrets Blocks of TLS key log text read. */
  secretsBlocks = 0;
  private readonly shard: { index: number; count: number };
  /** With several shards: a QUIC connection that moves keeps the shard it started in (QuicShardIds). */
  private readonly quicIds = new QuicShardIds();
  /** With several shards and FTP parsed: a data connection goes to its control connection's shard (FtpShardEndpoints). */
  private readonly ftpEndpoints: FtpShardEndpoints | undefined;
  /** Library connections (plaintextKey) whose tuple another shard owns, oldest first, with their process. */
  private readonly tlsElsewhere = new Map<string, number>();
  private nextExpireNs = 0n;
  private section = -1;
  private readonly onWarning: PipelineOptions['onWarning'];

  private readonly warnMalformed: boolean;

  constructor(opts: PipelineOptions) {
    this.onWarning = opts.onWarning;
    this.warnMalformed = opts.warnMalformed ?? false;
    const modules = selectModules(opts.protocols);
    this.dispatcher = new Dispatcher({
      modules,
      parse: opts.parse,
      // In every event: its name (often a file's basename, a slice) copied once into a sequential string (ADR 0007).
      source: opts.source.name === undefined ? opts.source : { ...opts.source, name: sequential(opts.source.name) },
      onEvent: (ev) => {
        this.events++;
        opts.onEvent(ev);
      },
      interfaceName: (key) => this.interfaces.get(key)?.name,
      interfaceSource: opts.live ? (key) => this.liveSources.get(key) : undefined,
    });
    const serverPorts = new Set<number>();
    for (const m of modules) for (const p of m.ports) serverPorts.add(p);
    const shard = opts.shard ?? { index: 0, count: 1 };
    this.shard = shard;
    if (!(Number.isInteger(shard.count) && shard.count >= 1 && Number.isInteger(shard.index) && shard.index >= 0 && shard.index < shard.count)) {
      throw new RangeError(`bad shard ${shard.index} of ${shard.count}`);
    }
    this.ftpEndpoints = shard.count > 1 && modules.some((m) => m.name === 'ftp-data') ? new FtpShardEndpoints() : undefined;
    const flowOpts = { ...defaultFlowOptions, ...opts.flows };
    this.flows = new FlowTable(this.dispatcher, {
      ...flowOpts,
      serverPorts,
      // Each shard tracks its share of the connection bound, and ids that no other shard uses.
      maxConnections: Math.ceil(flowOpts.maxConnections / shard.count),
      maxBufferedTotal: Math.ceil(flowOpts.maxBufferedTotal / shard.count),
      firstId: flowOpts.firstId + shard.index * flowOpts.idStep,
      idStep: flowOpts.idStep * shard.count,
      countsUntiedLoss: shard.count === 1 ? undefined : (pid) => pid % shard.count === shard.index,
    });
    this.dispatcher.flipRoles = (conn) => this.flows.flipRoles(conn);
    this.dispatcher.endFlow = (conn) => this.flows.finish(conn);
    this.decoder = new Decoder(opts.decoder);
    this.reader = new CaptureReader({
      // Each frame is decoded at once and only its payload view is kept, so
      // the reader's reused record spares a Packet and a view per packet.
      onFrame: shard.count === 1 ? (p) => this.frame(p) : (p) => this.shardFrame(p, shard.index, shard.count),
      onInterface: (i) => {
        this.section = i.section;
        const key = interfaceKey(i.section, i.id);
        this.interfaces.set(key, i);
        if (this.interfaces.size > MAX_INTERFACES) this.forgetOldInterfaces();
        if (opts.live && i.application !== undefined && /^pano-capture\b/.test(i.application)) {
          this.liveSources.set(key, { type: 'tc', name: sequential(i.name ?? `interface ${i.id}`) });
        }
        // Said once for the interface, where it is described: otherwise its packets vanish into a counter
        if (!DECODED_LINK_TYPES.has(i.linkType)) {
          const what = i.name ? `interface ${i.id} (${i.name})` : `interface ${i.id}`;
          this.onWarning?.({ offset: i.offset ?? 0, message: `${what}: link type ${i.linkType} is not decoded (its packets count as decode.unsupported)` });
        }
      },
      onStatistics: (s: InterfaceStatistics) => {
        const d = (s.ifDrop ?? 0n) + (s.osDrop ?? 0n);
        this.drops.set(s.interfaceKey, d);
      },
      onCustom: (b) => {
        if (b.pen === PANO_PEN) {
          const tls = decodeTlsRecord(b.data);
          if (typeof tls === 'string') this.onWarning?.({ offset: b.offset, message: tls });
          else if (tls) this.tlsRecord(tls);
          const end = decodeTlsEndRecord(b.data);
          if (typeof end === 'string') this.onWarning?.({ offset: b.offset, message: end });
          else if (end) this.tlsEnd(end);
          const loss = decodeLossRecord(b.data);
          const damage = loss && this.lossDamage(loss);
          if (damage) {
            // a record pano-capture cannot have written: damage, said and skipped, not a loss to report
            this.onWarning?.({ offset: b.offset, message: `loss record: ${damage}` });
          } else if (loss) {
            this.lossRecords++;
            this.lostPackets += loss.lost;
            opts.onLoss?.(loss, this.interfaces.get(interfaceKey(Math.max(this.section, 0), loss.interfaceId))?.name);
          }
        }
        opts.onCustom?.(b);
      },
      // TLS key log text carried in the capture: connections after it decrypt as with --tls-keylog
      onSecrets: (sec) => {
        if (sec.type === SECRETS_TLS_KEY_LOG) {
          this.secretsBlocks++;
          this.dispatcher.tlsKeys.addText(sec.data.toString('latin1'));
        }
      },
      onWarning: (w) => opts.onWarning?.(w),
    });
  }

  private frame(p: FrameRef): void {
    this.ordinal++;
    if (p.tsNs > LAST_NS || p.tsNs < 0n) return this.badTime(p);
    const l4 = this.decoder.decodeFrame(p);
    if (l4 !== null) this.ownPacket(l4);
    else if (this.warnMalformed) this.malformedFrame(p);
    this.expireFragments(p.tsNs);
  }

  /**
   * Forgets the older half of the interfaces at once: one at a time, the
   * walk from the start of the Map passes every deleted entry not yet
   * compacted away, quadratic over a long input.
   */
  private forgetOldInterfaces(): void {
    let n = this.interfaces.size - MAX_INTERFACES / 2;
    for (const key of this.interfaces.keys()) {
      if (n-- <= 0) break;
      this.interfaces.delete(key);
      this.liveSources.delete(key);
      const d = this.drops.get(key);
      if (d !== undefined) {
        this.forgottenDrops += d;
        this.drops.delete(key);
      }
    }
  }

  /**
   * A TLS plaintext record: into the flow table as a chunk of its library
   * connection's stream.
   *
   * With several shards, a record goes to the shard of its socket tuple, as
   * the connection's packets do: when both ends were captured (client and
   * server processes on this host), both views land in one shard, where the
   * second learns it mirrors the first (by process they split, and both were
   * counted as exchanges of their own). A record without a tuple yet cannot
   * be placed: every shard holds it untied until the library connection's
   * tuple comes; then the shards that do not own it let theirs go and pass
   * over its untied records from then on.
   */
  private tlsRecord(r: TlsRecord): void {
    this.tlsRecords++;
    if (r.tsNs > LAST_NS) return;
    const fmt = r.ipVersion === 4 ? formatIPv4 : formatIPv6;
    const chunk: PlaintextChunk = {
      tsNs: r.tsNs,
      origin: r.library,
      pid: r.pid,
      tid: r.tid,
      comm: r.comm,
      handle: r.ssl,
      sent: r.direction === 2,
      role: r.role === 1 ? 'client' : r.role === 2 ? 'server' : undefined,
      tuple:
        r.ipVersion === 0
          ? undefined
          : {
              ipVersion: r.ipVersion,
              local: { address: fmt(r.localAddress, 0), port: r.localPort },
              remote: { address: fmt(r.remoteAddress, 0), port: r.remotePort },
            },
      data: r.data,
      missing: r.length - r.data.length,
    };
    // every shard sees every chunk's time, as it sees every packet's
    this.dispatcher.advance(chunk.tsNs);
    if (this.shard.count > 1 && !this.ownsPlaintext(chunk)) return;
    this.flows.plaintext(chunk);
  }

  /** Whether this shard takes `c` (several shards; see `tlsRecord`); when not, only time moves on. */
  private ownsPlaintext(c: PlaintextChunk): boolean {
    const key = plaintextKey(c.origin, c.pid, c.handle);
    const { index, count } = this.shard;
    if (c.tuple) {
      const { local, remote } = c.tuple;
      if (endpointsShard(local.address, local.port, remote.address, remote.port, count) === index) {
        this.tlsElsewhere.delete(key);
        return true;
      }
      this.flows.plaintextElsewhere(c);
      this.tlsElsewhere.delete(key);
      if (this.tlsElsewhere.size >= MAX_ELSEWHERE) this.tlsElsewhere.delete(this.tlsElsewhere.keys().next().value!);
      this.tlsElsewhere.set(key, c.pid);
      return false;
    }
    if (!this.tlsElsewhere.has(key)) return true;
    this.flows.advance(c.tsNs);
    return false;
  }

  /** A TLS end record: the library connection, or all of the process's, end now (every shard ends what it holds). */
  private tlsEnd(r: TlsEndRecord): void {
    this.tlsEndRecords++;
    if (r.tsNs > LAST_NS) return;
    const handle = r.reason === 1 ? r.ssl : undefined;
    if (handle !== undefined) this.tlsElsewhere.delete(plaintextKey(r.library, r.pid, handle));
    else for (const [key, pid] of this.tlsElsewhere) if (pid === r.pid) this.tlsElsewhere.delete(key);
    this.flows.plaintextEnd({ tsNs: r.tsNs, origin: r.library, pid: r.pid, handle });
  }

  /** What is wrong with a loss record, or undefined when it is one pano-capture writes (pano-frames(5)). */
  private lossDamage(loss: LossRecord): string | undefined {
    if (!this.interfaces.has(interfaceKey(Math.max(this.section, 0), loss.interfaceId))) return `interface ${loss.interfaceId} is not described in this section`;
    if (loss.startNs > loss.endNs) return `its window ends (${loss.endNs} ns) before it starts (${loss.startNs} ns)`;
    if (loss.totalLost < loss.lost) return `${loss.lost} lost, more than the ${loss.totalLost} since capture start`;
    return undefined;
  }

  /** Malformed packets counted so far, to tell a malformed frame from one held or not decoded. */
  private malformedSeen = 0;

  private malformedFrame(p: FrameRef): void {
    const n = this.decoder.counters.malformed;
    if (n === this.malformedSeen) return;
    this.malformedSeen = n;
    this.onWarning?.({ offset: p.offset, message: `malformed packet: ${this.decoder.problem}` });
  }

  /** `frame` for one shard of several: another shard's packet only moves packet time on. */
  private shardFrame(p: FrameRef, index: number, count: number): void {
    this.ordinal++;
    if (p.tsNs > LAST_NS || p.tsNs < 0n) return this.badTime(p);
    const l4 = this.decoder.decodeFrame(p);
    if (l4 === null && this.warnMalformed) this.malformedFrame(p);
    if (l4 !== null) {
      const tuple = shardOf(l4, count);
      const shard =
        l4.protocol === IpProto.UDP ? this.quicIds.shardOf(l4.payload, tuple) : this.ftpEndpoints ? this.ftpEndpoints.shardOf(l4, tuple) : tuple;
      if (shard === index) {
        this.ownPacket(l4);
      } else {
        this.flows.advance(l4.tsNs);
        this.dispatcher.advance(l4.tsNs);
      }
    }
    this.expireFragments(p.tsNs);
  }

  /**
   * A packet of this table. A TCP packet moves the dispatcher's time on
   * before it is delivered, as a datagram does (inside its delivery, which
   * spares the flow it is for): requests over TCP time out too (DNS), at the
   * same packet whichever shard holds them.
   */
  private ownPacket(l4: L4Packet): void {
    if (l4.protocol === IpProto.TCP) this.dispatcher.advance(l4.tsNs);
    this.flows.packet(l4);
  }

  /**
   * A packet stamped before 1970 or after year 9999 is damage (a flipped bit
   * in a timestamp, a corrupt if_tsoffset), not a time: it would throw flows
   * into the far future and has no ISO 8601 date. Skipped like other damage.
   */
  private badTime(p: FrameRef): void {
    this.onWarning?.({ offset: p.offset, message: `packet time ${p.tsNs} ns since 1970 is outside years 1970–9999 (a damaged timestamp)` });
  }

  private expireFragments(tsNs: bigint): void {
    if (tsNs >= this.nextExpireNs) {
      this.decoder.expire(tsNs);
      this.nextExpireNs = tsNs + 1_000_000_000n;
    }
  }

  push(chunk: Buffer): void {
    this.reader.push(chunk);
  }

  /** End of input: every connection is closed, pending requests come out as unanswered. */
  end(): void {
    // the reader's last frames and its damage report first, then the end-of-input position: what
    // closing the flows completes comes after anything a damaged tail reported (sharded --strict)
    this.reader.end();
    this.ordinal++;
    this.decoder.flush();
    this.flows.closeAll('end');
    this.dispatcher.tick(BigInt(Number.MAX_SAFE_INTEGER) * 1_000_000n);
  }

  /** Stop early (signal, closed output): close what is open so complete exchanges still come out. */
  abort(): void {
    this.ordinal++;
    this.flows.closeAll('end');
  }

  /** Greater than every connection id this pipeline gave: where the next file's numbering starts. */
  get nextConnectionId(): number {
    return this.flows.nextConnectionId;
  }

  stats(): Record<string, Record<string, number | bigint>> {
    const drops = [...this.drops.values()].reduce((a, b) => a + b, this.forgottenDrops);
    return {
      capture: {
        ...(this.reader.stats as unknown as Record<string, number>),
        kernel_drops: drops,
        loss_records: this.lossRecords,
        tls_records: this.tlsRecords,
        tls_end_records: this.tlsEndRecords,
        secrets_blocks: this.secretsBlocks,
        lost_packets: this.lostPackets,
      },
      decode: { ...this.decoder.counters },
      flows: { ...this.flows.counters },
      protocols: this.dispatcher.stats(),
      events: { written: this.events },
    };
  }
}
