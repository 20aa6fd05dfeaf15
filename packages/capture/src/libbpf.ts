/**
 * The libbpf 1.x calls pano-capture needs, bound through koffi.
 *
 * Structs passed by pointer are laid out by hand in Buffers (and passed as
 * `void *`, so the library writes into the Buffer's own memory). The offsets
 * below are those of libbpf 1.1's headers on LP64 (x86-64, aarch64):
 *
 *   bpf_tc_hook (libbpf.h)        { size_t sz; int ifindex; enum attach_point;
 *                                   __u32 parent; }                      24 bytes
 *   bpf_tc_opts (libbpf.h)        { size_t sz; int prog_fd; __u32 flags;
 *                                   __u32 prog_id; __u32 handle;
 *                                   __u32 priority; }                    32 bytes
 *   bpf_test_run_opts (bpf.h)     { size_t sz; void *data_in, *data_out;
 *                                   __u32 data_size_in, data_size_out;
 *                                   void *ctx_in, *ctx_out;
 *                                   __u32 ctx_size_in, ctx_size_out, retval;
 *                                   int repeat; __u32 duration, flags, cpu,
 *                                   batch_size; }                        80 bytes
 *   bpf_uprobe_opts (libbpf.h)    { size_t sz; size_t ref_ctr_offset;
 *                                   __u64 bpf_cookie; bool retprobe;
 *                                   const char *func_name; }             40 bytes
 *   bpf_prog_info (linux/bpf.h)   name[16] at offset 64
 *
 * Every opts struct carries its own size first (`sz`), which is how libbpf
 * keeps old callers working; always fill it.
 *
 * Functions returning int return a negative errno on failure (libbpf 1.0
 * semantics); functions returning a pointer return null and set errno.
 *
 * Records are not read through libbpf's callbacks (ring_buffer__consume,
 * perf_buffer__consume): one FFI crossing per packet costs more than the
 * packet's whole processing, so the rings are mapped and read in JS
 * (ring-reader.ts); libbpf only sets up the perf rings.
 */
import koffi, { type TypeObject, type LibraryHandle } from 'koffi';

export const BPF_TC_INGRESS = 1;
export const BPF_TC_EGRESS = 2;
export const BPF_MAP_TYPE_PERF_EVENT_ARRAY = 4;
export const BPF_MAP_TYPE_RINGBUF = 27;
export const BPF_PROG_TYPE_SCHED_CLS = 3;
export const BPF_ANY = 0;

export const TC_HOOK_SIZE = 24;
export const TC_OPTS_SIZE = 32;
export const TEST_RUN_OPTS_SIZE = 80;
/** bpf_uprobe_opts (libbpf 1.1): sz 0, ref_ctr_offset 8, bpf_cookie 16, retprobe 24, func_name 32. */
export const UPROBE_OPTS_SIZE = 40;
const PROG_INFO_NAME_OFFSET = 64;
const PROG_INFO_LEN = 80;

/** Could not load libbpf.so.1 at all: the one error with its own remedy. */
export class LibbpfMissingError extends Error {}

export type Pointer = bigint | null;

export interface Libbpf {
  version: string;
  objectOpen(path: string): Pointer;
  objectLoad(obj: Pointer): number;
  objectClose(obj: Pointer): void;
  findProgram(obj: Pointer, name: string): Pointer;
  programSetAutoload(prog: Pointer, on: boolean): number;
  programFd(prog: Pointer): number;
  findMap(obj: Pointer, name: string): Pointer;
  mapSetAutocreate(map: Pointer, on: boolean): number;
  mapSetMaxEntries(map: Pointer, n: number): number;
  mapSetInitialValue(map: Pointer, data: Buffer): number;
  mapFd(map: Pointer): number;
  mapUpdate(fd: number, key: Buffer, value: Buffer, flags: number): number;
  mapLookup(fd: number, key: Buffer, value: Buffer): number;
  tcHookCreate(hook: Buffer): number;
  tcHookDestroy(hook: Buffer): number;
  tcAttach(hook: Buffer, opts: Buffer): number;
  tcDetach(hook: Buffer, opts: Buffer): number;
  tcQuery(hook: Buffer, opts: Buffer): number;
  /** perf_buffer__new_raw: our own perf_event_attr (see perfOutputAttr), events handed over raw. */
  perfBufferNewRaw(mapFd: number, pageCount: number, attr: Buffer, eventCb: bigint): Pointer;
  perfBufferConsume(pb: Pointer): number;
  perfBufferCount(pb: Pointer): number;
  /** The mmap()ed region of one per-CPU buffer: its address (header page first) and data size. */
  perfBufferRegion(pb: Pointer, idx: number): { base: bigint; dataSize: number } | undefined;
  perfBufferFree(pb: Pointer): void;
  progTestRun(progFd: number, opts: Buffer): number;
  /** bpf_program__attach: attach by the program's section (fentry); a bpf_link or null (errno). */
  programAttach(prog: Pointer): Pointer;
  /**
   * bpf_program__attach_uprobe_opts(prog, pid, binary, func_offset, {func_name, retprobe, bpf_cookie}):
   * at a named function (libbpf resolves it in the ELF symbols), or at the
   * file offset `offset` when no name is given; a bpf_link or null (errno).
   */
  attachUprobe(prog: Pointer, pid: number, binary: string, at: UprobeTarget): Pointer;
  linkDestroy(link: Pointer): number;
  numPossibleCpus(): number;
  probeMapType(type: number): number;
  probeProgType(type: number): number;
  progGetFdById(id: number): number;
  /** The name of a loaded program, or undefined when it cannot be read. */
  progName(fd: number): string | undefined;
  close(fd: number): void;
  errno(): number;
  /** Callback types, for koffi.register. */
  types: { perfEvent: TypeObject };
  /** Collects libbpf's log lines (warnings, verifier output) instead of printing them. */
  logLines: string[];
}

export interface UprobeTarget {
  /** A function libbpf finds by name; or none, and `offset` is the probe's file offset. */
  func?: string;
  offset?: number;
  retprobe?: boolean;
  /** What bpf_get_attach_cookie() returns in the program. */
  cookie?: bigint;
}

let cached: Libbpf | undefined;

/** Loads libbpf.so.1 once; throws LibbpfMissingError when it is not installed. */
export function libbpf(): Libbpf {
  if (cached) return cached;
  let lib: LibraryHandle;
  try {
    lib = koffi.load('libbpf.so.1');
  } catch (err) {
    throw new LibbpfMissingError(
      `cannot load libbpf.so.1 (install libbpf1, version 1.0 or later): ${(err as Error).message.split('\n')[0]}`,
    );
  }
  const libc = koffi.load('libc.so.6');

  const perfEvent = koffi.proto('int pano_perf_event(void *ctx, int cpu, void *event)');
  const printFn = koffi.proto('int pano_libbpf_print(int level, const char *fmt, void *args)');

  const f = {
    version: lib.func('const char *libbpf_version_string(void)'),
    open: lib.func('void *bpf_object__open_file(const char *path, void *opts)'),
    load: lib.func('int bpf_object__load(void *obj)'),
    closeObj: lib.func('void bpf_object__close(void *obj)'),
    findProg: lib.func('void *bpf_object__find_program_by_name(void *obj, const char *name)'),
    setAutoload: lib.func('int bpf_program__set_autoload(void *prog, bool autoload)'),
    progFd: lib.func('int bpf_program__fd(void *prog)'),
    findMap: lib.func('void *bpf_object__find_map_by_name(void *obj, const char *name)'),
    setAutocreate: lib.func('int bpf_map__set_autocreate(void *map, bool autocreate)'),
    setMaxEntries: lib.func('int bpf_map__set_max_entries(void *map, uint32_t n)'),
    setInitial: lib.func('int bpf_map__set_initial_value(void *map, void *data, size_t size)'),
    mapFd: lib.func('int bpf_map__fd(void *map)'),
    update: lib.func('int bpf_map_update_elem(int fd, void *key, void *value, uint64_t flags)'),
    lookup: lib.func('int bpf_map_lookup_elem(int fd, void *key, void *value)'),
    hookCreate: lib.func('int bpf_tc_hook_create(void *hook)'),
    hookDestroy: lib.func('int bpf_tc_hook_destroy(void *hook)'),
    attach: lib.func('int bpf_tc_attach(void *hook, void *opts)'),
    detach: lib.func('int bpf_tc_detach(void *hook, void *opts)'),
    query: lib.func('int bpf_tc_query(void *hook, void *opts)'),
    pbNewRaw: lib.func('void *perf_buffer__new_raw(int map_fd, size_t page_cnt, void *attr, void *event_cb, void *ctx, void *opts)'),
    pbCount: lib.func('size_t perf_buffer__buffer_cnt(void *pb)'),
    pbBuffer: lib.func('int perf_buffer__buffer(void *pb, int idx, void *buf_out, void *size_out)'),
    pbConsume: lib.func('int perf_buffer__consume(void *pb)'),
    pbFree: lib.func('void perf_buffer__free(void *pb)'),
    testRun: lib.func('int bpf_prog_test_run_opts(int prog_fd, void *opts)'),
    progAttach: lib.func('void *bpf_program__attach(void *prog)'),
    uprobe: lib.func('void *bpf_program__attach_uprobe_opts(void *prog, int pid, const char *binary_path, size_t func_offset, void *opts)'),
    linkDestroy: lib.func('int bpf_link__destroy(void *link)'),
    ncpus: lib.func('int libbpf_num_possible_cpus(void)'),
    probeMap: lib.func('int libbpf_probe_bpf_map_type(int type, void *opts)'),
    probeProg: lib.func('int libbpf_probe_bpf_prog_type(int type, void *opts)'),
    getFdById: lib.func('int bpf_prog_get_fd_by_id(uint32_t id)'),
    infoByFd: lib.func('int bpf_obj_get_info_by_fd(int fd, void *info, _Inout_ uint32_t *len)'),
    setPrint: lib.func('void *libbpf_set_print(void *fn)'),
    close: libc.func('int close(int fd)'),
    vsnprintf: libc.func('int vsnprintf(void *buf, size_t size, const char *fmt, void *args)'),
  };

  // libbpf prints through a printf-style callback; format each line with the
  // C library (va_list is passed by pointer on LP64) and keep the last lines
  // so a failure can say what the verifier or libbpf objected to.
  const logLines: string[] = [];
  const line = Buffer.alloc(256 * 1024);
  const printer = koffi.register((_level: number, fmt: string, args: bigint) => {
    const n = f.vsnprintf(line, line.length, fmt, args) as number;
    if (n > 0) {
      const text = line.toString('utf8', 0, Math.min(n, line.length - 1)).trimEnd();
      if (process.env.PANO_LIBBPF_DEBUG) process.stderr.write(`libbpf: ${text}\n`);
      logLines.push(text);
      if (logLines.length > 200) logLines.splice(0, logLines.length - 200);
    }
    return 0;
  }, koffi.pointer(printFn));
  f.setPrint(printer);

  cached = {
    version: f.version() as string,
    objectOpen: (path) => f.open(path, null) as Pointer,
    objectLoad: (obj) => f.load(obj) as number,
    objectClose: (obj) => void f.closeObj(obj),
    findProgram: (obj, name) => f.findProg(obj, name) as Pointer,
    programSetAutoload: (prog, on) => f.setAutoload(prog, on) as number,
    programFd: (prog) => f.progFd(prog) as number,
    findMap: (obj, name) => f.findMap(obj, name) as Pointer,
    mapSetAutocreate: (map, on) => f.setAutocreate(map, on) as number,
    mapSetMaxEntries: (map, n) => f.setMaxEntries(map, n) as number,
    mapSetInitialValue: (map, data) => f.setInitial(map, data, data.length) as number,
    mapFd: (map) => f.mapFd(map) as number,
    mapUpdate: (fd, key, value, flags) => f.update(fd, key, value, flags) as number,
    mapLookup: (fd, key, value) => f.lookup(fd, key, value) as number,
    tcHookCreate: (hook) => f.hookCreate(hook) as number,
    tcHookDestroy: (hook) => f.hookDestroy(hook) as number,
    tcAttach: (hook, opts) => f.attach(hook, opts) as number,
    tcDetach: (hook, opts) => f.detach(hook, opts) as number,
    tcQuery: (hook, opts) => f.query(hook, opts) as number,
    perfBufferNewRaw: (fd, pages, attr, cb) => f.pbNewRaw(fd, pages, attr, cb, null, null) as Pointer,
    perfBufferCount: (pb) => Number(f.pbCount(pb)),
    perfBufferRegion: (pb, idx) => {
      const base = Buffer.alloc(8);
      const size = Buffer.alloc(8);
      if ((f.pbBuffer(pb, idx, base, size) as number) !== 0) return undefined;
      return { base: base.readBigUInt64LE(0), dataSize: Number(size.readBigUInt64LE(0)) };
    },
    perfBufferConsume: (pb) => f.pbConsume(pb) as number,
    perfBufferFree: (pb) => void f.pbFree(pb),
    progTestRun: (fd, opts) => f.testRun(fd, opts) as number,
    programAttach: (prog) => f.progAttach(prog) as Pointer,
    attachUprobe: (prog, pid, binary, at) => {
      // bpf_uprobe_opts { size_t sz; size_t ref_ctr_offset; __u64 bpf_cookie; bool retprobe; const char *func_name; }
      const name = at.func === undefined ? undefined : Buffer.from(`${at.func}\0`, 'latin1');
      const opts = Buffer.alloc(UPROBE_OPTS_SIZE);
      opts.writeBigUInt64LE(BigInt(UPROBE_OPTS_SIZE), 0);
      opts.writeBigUInt64LE(at.cookie ?? 0n, 16);
      opts.writeUInt8(at.retprobe ? 1 : 0, 24);
      if (name) opts.writeBigUInt64LE(koffi.address(name) as bigint, 32);
      const link = f.uprobe(prog, pid, binary, name ? 0 : (at.offset ?? 0), opts) as Pointer;
      name?.length; // kept alive until here
      return link;
    },
    linkDestroy: (link) => f.linkDestroy(link) as number,
    numPossibleCpus: () => f.ncpus() as number,
    probeMapType: (t) => f.probeMap(t, null) as number,
    probeProgType: (t) => f.probeProg(t, null) as number,
    progGetFdById: (id) => f.getFdById(id) as number,
    progName: (fd) => {
      const info = Buffer.alloc(PROG_INFO_LEN);
      const len = [PROG_INFO_LEN];
      if ((f.infoByFd(fd, info, len) as number) !== 0) return undefined;
      const name = info.subarray(PROG_INFO_NAME_OFFSET, PROG_INFO_NAME_OFFSET + 16);
      const end = name.indexOf(0);
      return name.toString('latin1', 0, end < 0 ? 16 : end);
    },
    close: (fd) => void f.close(fd),
    errno: () => koffi.errno(),
    types: { perfEvent },
    logLines,
  };
  return cached;
}

/** A bpf_tc_hook for one interface and attach point. */
export function tcHook(ifindex: number, attachPoint: number): Buffer {
  const b = Buffer.alloc(TC_HOOK_SIZE);
  b.writeBigUInt64LE(BigInt(TC_HOOK_SIZE), 0);
  b.writeInt32LE(ifindex, 8);
  b.writeInt32LE(attachPoint, 12);
  return b;
}

/** A bpf_tc_opts; prog_fd 0 for detach/query. */
export function tcOpts(o: { progFd?: number; handle: number; priority: number }): Buffer {
  const b = Buffer.alloc(TC_OPTS_SIZE);
  b.writeBigUInt64LE(BigInt(TC_OPTS_SIZE), 0);
  b.writeInt32LE(o.progFd ?? 0, 8);
  b.writeUInt32LE(o.handle >>> 0, 20);
  b.writeUInt32LE(o.priority >>> 0, 24);
  return b;
}

/** prog_id written back by bpf_tc_attach/bpf_tc_query. */
export function tcOptsProgId(opts: Buffer): number {
  return opts.readUInt32LE(16);
}

/** perf_event_attr (linux/perf_event.h), PERF_ATTR_SIZE_VER5: 112 bytes are enough for the fields used. */
export const PERF_ATTR_SIZE = 112;
const PERF_TYPE_SOFTWARE = 1;
const PERF_COUNT_SW_BPF_OUTPUT = 10;
const PERF_SAMPLE_RAW = 1 << 10;
const PERF_ATTR_FLAG_WATERMARK = 1n << 14n;
/** Record types in the perf ring. */
export const PERF_RECORD_LOST = 2;
export const PERF_RECORD_SAMPLE = 9;
/** LIBBPF_PERF_EVENT_CONT: keep going. */
export const PERF_EVENT_CONT = -2;

/**
 * Attributes of the per-CPU BPF output events. libbpf's perf_buffer__new
 * asks for a wakeup after every sample; we never sleep on the buffer (it is
 * drained on a timer), and in a VM each wakeup is an interrupt, so ask for
 * one only when a buffer is half full.
 */
export function perfOutputAttr(wakeupBytes: number): Buffer {
  const a = Buffer.alloc(PERF_ATTR_SIZE);
  a.writeUInt32LE(PERF_TYPE_SOFTWARE, 0);
  a.writeUInt32LE(PERF_ATTR_SIZE, 4);
  a.writeBigUInt64LE(BigInt(PERF_COUNT_SW_BPF_OUTPUT), 8);
  a.writeBigUInt64LE(1n, 16); // sample_period
  a.writeBigUInt64LE(BigInt(PERF_SAMPLE_RAW), 24);
  a.writeBigUInt64LE(PERF_ATTR_FLAG_WATERMARK, 40);
  a.writeUInt32LE(wakeupBytes, 48); // wakeup_watermark
  return a;
}
