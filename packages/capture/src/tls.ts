/**
 * pano-capture --tls: loads bpf/tls.bpf.o, attaches its uprobes to OpenSSL's
 * SSL_read/SSL_write (and _ex) or GnuTLS's gnutls_record_recv/send in each
 * target binary (libssl.so.3, libgnutls.so.30, a node binary) for every process,
 * to Go crypto/tls's (*Conn).Read/Write entries and RET instructions in each
 * Go binary (--tls-go, ADR 0305), and its raw tracepoint programs to
 * sock_send_length and sock_recv_length (which tie the plaintext to its
 * connection, ADR 0304). Records
 * come through their own ring buffer and leave as pcapng Custom Blocks, TLS
 * plaintext record type 2 (pano-frames(5)).
 */
import { existsSync, realpathSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { encodeTlsEndRecord, encodeTlsRecord, type TlsRecord } from '@panopticon/pcap';
import { libbpf, type Libbpf, type Pointer } from './libbpf.js';
import { bpfMap, bpfProgram, CaptureError, errnoText, lastLog, must, perCpuCounters } from './program.js';
import { RingReader } from './ring-reader.js';
import type { GoTlsTarget } from './gotls.js';
import { TLS_LIBRARY, TLS_NSTATS, TLS_PROGRAMS, TLS_RECORD, TlsKind, TlsStat } from './layout.js';

const TLS_OBJECT = 'tls.bpf.o';
export const TLS_OBJECT_PATH = resolve(import.meta.dirname, `../../../bpf/${TLS_OBJECT}`);

/**
 * What is probed in a target, per library: a target is the first library
 * whose two `data` functions it exports (entry, and return: pano_tls_ret).
 * `optionalData` are probed the same way where exported; `hooks` (entry, or
 * return with `ret`) emit nothing of their own: they tie an SSL object to its
 * socket (handshake), say which end the process is (role), and that the
 * object is over (free).
 */
interface LibraryProbes {
  name: string;
  data: readonly (readonly [func: string, prog: string])[];
  optionalData: readonly (readonly [func: string, prog: string])[];
  hooks: readonly (readonly [func: string, prog: string, ret: boolean])[];
}

const LIBRARIES: readonly LibraryProbes[] = [
  {
    name: 'OpenSSL',
    data: [
      ['SSL_write', TLS_PROGRAMS.write],
      ['SSL_read', TLS_PROGRAMS.read],
    ],
    optionalData: [
      ['SSL_write_ex', TLS_PROGRAMS.writeEx],
      ['SSL_read_ex', TLS_PROGRAMS.readEx],
    ],
    hooks: [
      ['SSL_do_handshake', TLS_PROGRAMS.handshake, false],
      ['SSL_do_handshake', TLS_PROGRAMS.handshakeRet, true],
      ['SSL_free', TLS_PROGRAMS.free, false],
      ['SSL_connect', TLS_PROGRAMS.connect, false],
      ['SSL_set_connect_state', TLS_PROGRAMS.connect, false],
      ['SSL_accept', TLS_PROGRAMS.accept, false],
      ['SSL_set_accept_state', TLS_PROGRAMS.accept, false],
    ],
  },
  {
    name: 'GnuTLS',
    data: [
      ['gnutls_record_send', TLS_PROGRAMS.gnutlsSend],
      ['gnutls_record_recv', TLS_PROGRAMS.gnutlsRecv],
    ],
    optionalData: [],
    hooks: [
      ['gnutls_handshake', TLS_PROGRAMS.handshake, false],
      ['gnutls_handshake', TLS_PROGRAMS.handshakeRet, true],
      ['gnutls_deinit', TLS_PROGRAMS.gnutlsDeinit, false],
      ['gnutls_init', TLS_PROGRAMS.gnutlsInit, false],
      ['gnutls_init', TLS_PROGRAMS.gnutlsInitRet, true],
    ],
  },
];

/**
 * A shared library (`libssl.so.3`) as the dynamic linker finds it: its cache
 * (ldconfig -p), then the usual directories. Undefined when there is none.
 */
export function findLibrary(soname: string): string | undefined {
  const r = spawnSync('ldconfig', ['-p'], { encoding: 'utf8' });
  if (r.status === 0) {
    const arch = process.arch === 'x64' ? 'x86-64' : process.arch === 'arm64' ? 'AArch64' : '';
    for (const line of r.stdout.split('\n')) {
      const m = /^\s*(\S+) \(([^)]*)\) => (\S+)/.exec(line);
      if (m && m[1] === soname && (!arch || m[2].includes(arch)) && existsSync(m[3])) return realpathSync(m[3]);
    }
  }
  for (const dir of ['/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu', '/lib/aarch64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/lib64', '/usr/lib', '/lib']) {
    const p = `${dir}/${soname}`;
    if (existsSync(p)) return realpathSync(p);
  }
  return undefined;
}

export function findLibssl(): string | undefined {
  return findLibrary('libssl.so.3');
}

export function findLibgnutls(): string | undefined {
  return findLibrary('libgnutls.so.30');
}

export interface TlsCounters {
  chunks: bigint;
  dropBuffer: bigint;
  dropCopy: bigint;
  truncated: bigint;
  untied: bigint;
  activeFull: bigint;
}

export class TlsProbes {
  private readonly links: Pointer[] = [];
  /** The library found in each target, in order ('OpenSSL', 'GnuTLS'). */
  readonly libraries: string[] = [];
  private ring: RingReader | undefined;
  private closed = false;
  readonly ncpus: number;

  private constructor(
    readonly lib: Libbpf,
    private readonly obj: Pointer,
    readonly ringSize: number,
  ) {
    this.ncpus = lib.numPossibleCpus();
  }

  /** Loads the object and attaches to every target (paths of ELF files exporting SSL_read/SSL_write) and Go binary. */
  static attach(targets: string[], ringSize: number, goTargets: readonly GoTlsTarget[] = []): TlsProbes {
    const lib = libbpf();
    if (!existsSync(TLS_OBJECT_PATH)) throw new CaptureError(`BPF object missing: ${TLS_OBJECT_PATH} (run scripts/build-bpf.sh)`);
    const obj = lib.objectOpen(TLS_OBJECT_PATH);
    if (!obj) throw new CaptureError(`cannot open ${TLS_OBJECT_PATH}: ${errnoText(lib.errno())}`);
    let probes: TlsProbes | undefined;
    try {
      const ncpus = lib.numPossibleCpus();
      if (ncpus <= 0) throw new CaptureError(`cannot count CPUs: ${errnoText(-ncpus)}`);
      must(lib, lib.mapSetMaxEntries(bpfMap(lib, obj, 'tls_ring', TLS_OBJECT), ringSize), 'bpf_map__set_max_entries(tls_ring)');
      const err = lib.objectLoad(obj);
      if (err < 0) throw new CaptureError(`cannot load the TLS BPF program: ${errnoText(-err)}${lastLog(lib)}`);
      probes = new TlsProbes(lib, obj, ringSize);
      for (const name of [TLS_PROGRAMS.sockSend, TLS_PROGRAMS.sockRecv, TLS_PROGRAMS.exit]) {
        const link = lib.programAttach(bpfProgram(lib, obj, name, TLS_OBJECT));
        if (!link) throw new CaptureError(`cannot attach ${name} (raw tracepoint): ${errnoText(lib.errno())}${lastLog(lib)}`);
        probes.links.push(link);
      }
      for (const target of targets) probes.attachTarget(target);
      for (const target of goTargets) probes.attachGo(target);
      probes.ring = new RingReader(lib.mapFd(bpfMap(lib, obj, 'tls_ring', TLS_OBJECT)), ringSize);
      return probes;
    } catch (e) {
      if (probes) probes.close();
      else lib.objectClose(obj);
      throw e;
    }
  }

  private attachTarget(target: string): void {
    const lib = this.lib;
    if (!existsSync(target)) throw new CaptureError(`--tls: ${target}: no such file`);
    const uprobe = (func: string, prog: string, ret: boolean): boolean => {
      const link = lib.attachUprobe(bpfProgram(lib, this.obj, prog, TLS_OBJECT), -1, target, { func, retprobe: ret });
      if (!link) return false;
      this.links.push(link);
      return true;
    };
    let errno = 0;
    for (const l of LIBRARIES) {
      const [first, second] = l.data;
      if (!uprobe(first[0], first[1], false)) {
        errno ||= lib.errno();
        continue;
      }
      for (const [func, prog] of [second, ...l.optionalData]) {
        if (!uprobe(func, prog, false)) {
          if (func === second[0]) throw new CaptureError(`--tls: ${target}: exports ${first[0]} but cannot attach to ${func} (${errnoText(lib.errno())})`);
          continue;
        }
        if (!uprobe(func, TLS_PROGRAMS.ret, true)) throw new CaptureError(`--tls: ${target}: cannot attach to the return of ${func} (${errnoText(lib.errno())})`);
      }
      if (!uprobe(first[0], TLS_PROGRAMS.ret, true)) throw new CaptureError(`--tls: ${target}: cannot attach to the return of ${first[0]} (${errnoText(lib.errno())})`);
      for (const [func, prog, ret] of l.hooks) uprobe(func, prog, ret);
      this.libraries.push(l.name);
      return;
    }
    throw new CaptureError(`--tls: ${target}: cannot attach to SSL_write or gnutls_record_send (${errnoText(errno)}): not OpenSSL or GnuTLS, or its symbols are stripped`);
  }

  /**
   * A Go binary: entry probes on Read and Write, a probe on each of their RET
   * instructions (never uretprobes: ADR 0305), and Close's entry; those that
   * emit records (Write's entry, Read's RETs) carry the binary's
   * *net.TCPConn itab address as their cookie, to tie a *tls.Conn to its
   * socket. All at file offsets: libbpf looks names up as C symbols.
   */
  private attachGo(t: GoTlsTarget): void {
    const lib = this.lib;
    const at = (prog: string, offset: number, cookie = 0n): void => {
      const link = lib.attachUprobe(bpfProgram(lib, this.obj, prog, TLS_OBJECT), -1, t.path, { offset, cookie });
      if (!link) throw new CaptureError(`--tls-go: ${t.path}: cannot attach at file offset 0x${offset.toString(16)} (${errnoText(lib.errno())})`);
      this.links.push(link);
    };
    at(TLS_PROGRAMS.goRead, t.read.entryOffset);
    for (const r of t.read.retOffsets) at(TLS_PROGRAMS.goReadRet, r, t.tcpConnItab);
    at(TLS_PROGRAMS.goWrite, t.write.entryOffset, t.tcpConnItab);
    for (const r of t.write.retOffsets) at(TLS_PROGRAMS.goWriteRet, r);
    if (t.close) at(TLS_PROGRAMS.goClose, t.close.entryOffset);
    this.libraries.push('Go crypto/tls');
  }

  /** Loads bpf/tls.bpf.o through the verifier and unloads it, attaching nothing (--doctor). */
  static verify(): void {
    const lib = libbpf();
    if (!existsSync(TLS_OBJECT_PATH)) throw new CaptureError(`BPF object missing: ${TLS_OBJECT_PATH} (run scripts/build-bpf.sh)`);
    const obj = lib.objectOpen(TLS_OBJECT_PATH);
    if (!obj) throw new CaptureError(`cannot open ${TLS_OBJECT_PATH}: ${errnoText(lib.errno())}`);
    try {
      must(lib, lib.mapSetMaxEntries(bpfMap(lib, obj, 'tls_ring', TLS_OBJECT), 1 << 20), 'bpf_map__set_max_entries(tls_ring)');
      const err = lib.objectLoad(obj);
      if (err < 0) throw new CaptureError(`cannot load the TLS BPF program: ${errnoText(-err)}${lastLog(lib)}`);
    } finally {
      lib.objectClose(obj);
    }
  }

  /** Hands every queued record (a view, valid during the call) to `onRecord`; returns how many. */
  consume(onRecord: (rec: Buffer) => number): number {
    return this.ring && !this.closed ? this.ring.consume(onRecord) : 0;
  }

  counters(): TlsCounters {
    const s = this.readStats();
    return {
      chunks: s[TlsStat.CHUNKS],
      dropBuffer: s[TlsStat.DROP_BUFFER],
      dropCopy: s[TlsStat.DROP_COPY],
      truncated: s[TlsStat.TRUNCATED],
      untied: s[TlsStat.UNTIED],
      activeFull: s[TlsStat.ACTIVE_FULL],
    };
  }

  private readStats(): bigint[] {
    return perCpuCounters(this.lib, this.lib.mapFd(bpfMap(this.lib, this.obj, 'tls_stats', TLS_OBJECT)), 0, TLS_NSTATS, this.ncpus);
  }

  /** Detaches every probe (no new records); the ring stays readable until close(). */
  detach(): void {
    for (const l of this.links.splice(0)) this.lib.linkDestroy(l);
  }

  close(): void {
    if (this.closed) return;
    this.detach();
    this.closed = true;
    this.ring?.close();
    this.ring = undefined;
    this.lib.objectClose(this.obj);
  }
}

const V4_MAPPED = Buffer.from('00000000000000000000ffff', 'hex');

/**
 * A kernel record (bpf/tls.h) as a TLS plaintext record with its wall-clock
 * time. An IPv4 connection on an IPv6 socket (::ffff:a.b.c.d at both ends)
 * is written as IPv4, as its packets are.
 */
export function tlsRecordFrom(rec: Buffer, offsetNs: bigint): TlsRecord {
  const capLen = rec.readUInt32LE(TLS_RECORD.CAP_LEN);
  const family = rec[TLS_RECORD.FAMILY];
  let local = Buffer.from(rec.subarray(TLS_RECORD.LADDR, TLS_RECORD.LADDR + 16));
  let remote = Buffer.from(rec.subarray(TLS_RECORD.RADDR, TLS_RECORD.RADDR + 16));
  let ipVersion: 0 | 4 | 6 = family === 2 ? 4 : family === 10 ? 6 : 0;
  if (ipVersion === 6 && local.subarray(0, 12).equals(V4_MAPPED) && remote.subarray(0, 12).equals(V4_MAPPED)) {
    ipVersion = 4;
    local = Buffer.concat([local.subarray(12), Buffer.alloc(12)]);
    remote = Buffer.concat([remote.subarray(12), Buffer.alloc(12)]);
  }
  const comm = rec.subarray(TLS_RECORD.COMM, TLS_RECORD.COMM + 16);
  const end = comm.indexOf(0);
  return {
    tsNs: rec.readBigUInt64LE(TLS_RECORD.TS_NS) + offsetNs,
    pid: rec.readUInt32LE(TLS_RECORD.PID),
    tid: rec.readUInt32LE(TLS_RECORD.TID),
    direction: rec[TLS_RECORD.DIRECTION] === 2 ? 2 : 1,
    ipVersion,
    localAddress: local,
    localPort: rec.readUInt16LE(TLS_RECORD.LPORT),
    remoteAddress: remote,
    remotePort: rec.readUInt16LE(TLS_RECORD.RPORT),
    length: rec.readUInt32LE(TLS_RECORD.LEN),
    ssl: rec.readBigUInt64LE(TLS_RECORD.SSL),
    comm: comm.toString('latin1', 0, end < 0 ? 16 : end),
    library: TLS_LIBRARY[rec[TLS_RECORD.LIBRARY]] ?? 'unknown',
    role: tlsRole(rec[TLS_RECORD.ROLE]),
    data: Buffer.from(rec.subarray(TLS_RECORD.SIZE, TLS_RECORD.SIZE + capLen)),
  };
}

function tlsRole(v: number): TlsRecord['role'] {
  return v === 1 || v === 2 ? v : 0;
}

/** A kernel record as the pano-frames(5) record it stands for: TLS plaintext (type 2) or a TLS end (type 3). */
export function encodeKernelTlsRecord(rec: Buffer, offsetNs: bigint): Buffer {
  const kind = rec[TLS_RECORD.KIND];
  if (kind === TlsKind.DATA) return encodeTlsRecord(tlsRecordFrom(rec, offsetNs));
  return encodeTlsEndRecord({
    tsNs: rec.readBigUInt64LE(TLS_RECORD.TS_NS) + offsetNs,
    pid: rec.readUInt32LE(TLS_RECORD.PID),
    reason: kind === TlsKind.END_EXIT ? 2 : 1,
    ssl: kind === TlsKind.END_EXIT ? 0n : rec.readBigUInt64LE(TLS_RECORD.SSL),
    library: kind === TlsKind.END_EXIT ? '' : (TLS_LIBRARY[rec[TLS_RECORD.LIBRARY]] ?? 'unknown'),
  });
}
