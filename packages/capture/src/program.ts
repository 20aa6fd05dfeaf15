/**
 * Opens, configures and loads bpf/capture.bpf.o: chooses the buffer (ring or
 * perf), writes the snap length and filter flags into .rodata before load,
 * and fills the filter and interface maps after.
 */
import { existsSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { resolve } from 'node:path';
import { libbpf, type Libbpf, type Pointer } from './libbpf.js';
import { CONFIG_SIZE, FilterFlag, MAX_IFACES, MAX_SNAPLEN, NSTATS, PERF_MAX_SNAPLEN, PROGRAMS } from './layout.js';
import type { Filters } from './filters.js';

export type BufferKind = 'ringbuf' | 'perf';

export interface ProgramOptions {
  buffer: BufferKind;
  snaplen: number;
  /** Ring buffer size in bytes (power of two, multiple of the page size). */
  ringSize: number;
  filters: Filters;
}

/** A kernel or environment problem, phrased for the user (one line). */
export class CaptureError extends Error {}

export const OBJECT_PATH = resolve(import.meta.dirname, '../../../bpf/capture.bpf.o');

export class LoadedProgram {
  readonly ncpus: number;
  private closed = false;

  private constructor(
    readonly lib: Libbpf,
    private readonly obj: Pointer,
    readonly buffer: BufferKind,
    readonly snaplen: number,
    /** Bytes of the ring buffer map (ringbuf only). */
    readonly ringSize: number,
  ) {
    this.ncpus = lib.numPossibleCpus();
  }

  static load(opts: ProgramOptions): LoadedProgram {
    const lib = libbpf();
    if (!existsSync(OBJECT_PATH)) throw new CaptureError(`BPF object missing: ${OBJECT_PATH} (run scripts/build-bpf.sh)`);
    const obj = lib.objectOpen(OBJECT_PATH);
    if (!obj) throw new CaptureError(`cannot open ${OBJECT_PATH}: ${errnoText(lib.errno())}`);
    const snaplen = Math.min(opts.snaplen, opts.buffer === 'perf' ? PERF_MAX_SNAPLEN : MAX_SNAPLEN);
    try {
      const other: BufferKind = opts.buffer === 'perf' ? 'ringbuf' : 'perf';
      for (const dir of ['ingress', 'egress'] as const) {
        must(lib, lib.programSetAutoload(bpfProgram(lib, obj, PROGRAMS[other][dir]), false), 'bpf_program__set_autoload');
      }
      // On kernels before 5.8 the ring buffer map cannot even be created, so
      // the perf path must not ask for it.
      if (opts.buffer === 'perf') must(lib, lib.mapSetAutocreate(bpfMap(lib, obj, 'ring'), false), 'bpf_map__set_autocreate');
      else must(lib, lib.mapSetMaxEntries(bpfMap(lib, obj, 'ring'), opts.ringSize), 'bpf_map__set_max_entries(ring)');
      const ncpus = lib.numPossibleCpus();
      if (ncpus <= 0) throw new CaptureError(`cannot count CPUs: ${errnoText(-ncpus)}`);
      if (opts.buffer === 'ringbuf') must(lib, lib.mapSetMaxEntries(bpfMap(lib, obj, 'scratch'), ncpus), 'bpf_map__set_max_entries(scratch)');
      else must(lib, lib.mapSetMaxEntries(bpfMap(lib, obj, 'scratch'), 1), 'bpf_map__set_max_entries(scratch)');

      const config = Buffer.alloc(CONFIG_SIZE);
      config.writeUInt32LE(snaplen, 0);
      config.writeUInt32LE(filterFlags(opts.filters), 4);
      must(lib, lib.mapSetInitialValue(bpfMap(lib, obj, '.rodata'), config), 'bpf_map__set_initial_value(.rodata)');

      const err = lib.objectLoad(obj);
      if (err < 0) throw new CaptureError(`cannot load the BPF program: ${errnoText(-err)}${lastLog(lib)}`);
      const loaded = new LoadedProgram(lib, obj, opts.buffer, snaplen, opts.ringSize);
      loaded.fillFilters(opts.filters);
      return loaded;
    } catch (e) {
      lib.objectClose(obj);
      throw e;
    }
  }

  programFd(direction: 'ingress' | 'egress'): number {
    return this.lib.programFd(bpfProgram(this.lib, this.obj, PROGRAMS[this.buffer][direction]));
  }

  mapFd(name: string): number {
    return this.lib.mapFd(bpfMap(this.lib, this.obj, name));
  }

  /** Tells the program which interface slot (and link-layer header length) an ifindex has. */
  setInterface(ifindex: number, slot: number, l3Offset: number): void {
    if (slot >= MAX_IFACES) throw new CaptureError(`at most ${MAX_IFACES} interfaces can be captured at once`);
    const key = Buffer.alloc(4);
    key.writeUInt32LE(ifindex, 0);
    const value = Buffer.alloc(8);
    value.writeUInt32LE(slot, 0);
    value.writeUInt32LE(l3Offset, 4);
    must(this.lib, this.lib.mapUpdate(this.mapFd('ifaces'), key, value, 0), 'bpf_map_update_elem(ifaces)');
  }

  /** Sums one interface slot's per-CPU counters. */
  readStats(slot: number): bigint[] {
    return perCpuCounters(this.lib, this.mapFd('stats'), slot * NSTATS, NSTATS, this.ncpus);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.lib.objectClose(this.obj);
  }

  private fillFilters(f: Filters): void {
    const one = Buffer.from([1]);
    const portFd = this.mapFd('ports');
    for (const port of f.ports) {
      const key = Buffer.alloc(2);
      key.writeUInt16LE(port, 0);
      must(this.lib, this.lib.mapUpdate(portFd, key, one, 0), 'bpf_map_update_elem(ports)');
    }
    for (const h of f.hosts) {
      const key = Buffer.alloc(4 + h.address.length);
      key.writeUInt32LE(h.prefixLength, 0);
      h.address.copy(key, 4);
      const name = h.address.length === 4 ? 'hosts4' : 'hosts6';
      must(this.lib, this.lib.mapUpdate(this.mapFd(name), key, one, 0), `bpf_map_update_elem(${name})`);
    }
  }
}

function filterFlags(f: Filters): number {
  let flags = 0;
  if (f.ports.length) flags |= FilterFlag.PORTS;
  if (f.hosts.length) flags |= FilterFlag.HOSTS;
  if (f.protocols.length) {
    flags |= FilterFlag.PROTO;
    if (f.protocols.includes('tcp')) flags |= FilterFlag.TCP;
    if (f.protocols.includes('udp')) flags |= FilterFlag.UDP;
  }
  return flags;
}

/** Counters `first` … `first + count - 1` of a per-CPU array of u64, each summed over the CPUs (a missing one reads 0). */
export function perCpuCounters(lib: Libbpf, fd: number, first: number, count: number, ncpus: number): bigint[] {
  const key = Buffer.alloc(4);
  const values = Buffer.alloc(8 * ncpus);
  const out: bigint[] = [];
  for (let s = first; s < first + count; s++) {
    key.writeUInt32LE(s, 0);
    let sum = 0n;
    if (lib.mapLookup(fd, key, values) === 0) for (let c = 0; c < ncpus; c++) sum += values.readBigUInt64LE(c * 8);
    out.push(sum);
  }
  return out;
}

// The object file is named in errors: a program or map missing from it means a stale build.
export function bpfProgram(lib: Libbpf, obj: Pointer, name: string, objectFile = 'capture.bpf.o'): Pointer {
  const p = lib.findProgram(obj, name);
  if (!p) throw new CaptureError(`BPF object has no program ${name} (stale bpf/${objectFile}?)`);
  return p;
}

export function bpfMap(lib: Libbpf, obj: Pointer, name: string, objectFile = 'capture.bpf.o'): Pointer {
  const m = lib.findMap(obj, name);
  if (!m) throw new CaptureError(`BPF object has no map ${name} (stale bpf/${objectFile}?)`);
  return m;
}

export function must(lib: Libbpf, ret: number, what: string): void {
  if (ret < 0) throw new CaptureError(`${what} failed: ${errnoText(-ret)}${lastLog(lib)}`);
}

export function lastLog(lib: Libbpf): string {
  // The most useful libbpf line is usually the last non-empty one before the failure.
  const lines = lib.logLines.filter((l) => l.trim() !== '');
  const last = lines[lines.length - 1];
  return last ? ` (libbpf: ${last.trim()})` : '';
}

const errnoNames = new Map<number, string>(Object.entries(osConstants.errno).map(([k, v]) => [v, k]));
const errnoMessages: Record<string, string> = {
  EPERM: 'operation not permitted',
  EACCES: 'permission denied',
  ENOENT: 'no such file or object',
  ENODEV: 'no such device',
  EINVAL: 'invalid argument',
  EEXIST: 'already exists',
  ENOMEM: 'out of memory',
  E2BIG: 'argument too big',
  EOPNOTSUPP: 'not supported by this kernel',
  ENOTSUPP: 'not supported by this kernel',
};

export function errnoText(errno: number): string {
  const name = errnoNames.get(errno) ?? (errno === 524 ? 'ENOTSUPP' : `errno ${errno}`);
  const msg = errnoMessages[name];
  return msg ? `${msg} (${name})` : name;
}
