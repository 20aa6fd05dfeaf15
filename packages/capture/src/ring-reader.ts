/**
 * Reads a BPF ring buffer directly from its memory mapping, in JavaScript.
 *
 * libbpf's ring_buffer__consume calls back into JS once per record, and each
 * FFI crossing (plus a view of the record's memory) costs microseconds; at
 * tens of thousands of packets per second that is the whole budget. Mapping
 * the ring once and walking it here makes a record cost a few typed-array
 * reads. The protocol is the kernel's (kernel/bpf/ringbuf.c) as libbpf
 * implements it (ringbuf.c: ringbuf_process_ring):
 *
 *   mmap offset 0, one page, read-write:  u64 consumer_pos
 *   mmap offset page, read-only:          u64 producer_pos, then at the next
 *                                         page the data, mapped twice in a
 *                                         row so no record wraps
 *   record: u32 len (bit 31 busy, bit 30 discarded), u32 page offset, data,
 *           padded to 8 bytes
 *
 * Ordering: positions are read and written as 32-bit halves, which x86-64
 * (and the kernel's 64-bit stores) keep in program order; producer_pos is
 * re-read until both halves agree, and consumer_pos is written low half
 * first, so a torn value can only make the kernel see less free space.
 */
import koffi from 'koffi';
import { CaptureError, errnoText } from './program.js';

const PROT_READ = 1;
const PROT_WRITE = 2;
const MAP_SHARED = 1;
const BUSY = 0x80000000;
const DISCARD = 0x40000000;
const HDR = 8;

interface Libc {
  mmap(addr: null, len: number, prot: number, flags: number, fd: number, off: number): bigint | null;
  munmap(addr: bigint, len: number): number;
  sysconf(name: number): number;
}
let libc: Libc | undefined;
function c(): Libc {
  // Plain typed-array loads are only as ordered as the CPU makes them:
  // x86-64 keeps loads in order (TSO), weaker architectures would need the
  // acquire barriers libbpf uses. Refuse rather than read torn records.
  if (process.arch !== 'x64') throw new CaptureError(`reading BPF rings in-process needs x86-64 memory ordering; ${process.arch} is not supported yet`);
  if (!libc) {
    const l = koffi.load('libc.so.6');
    const mmap = l.func('void *mmap(void *addr, size_t len, int prot, int flags, int fd, int64_t off)');
    libc = {
      mmap: (a, len, prot, flags, fd, off) => {
        const p = mmap(a, len, prot, flags, fd, off) as bigint | null;
        // MAP_FAILED is (void *)-1.
        return p === null || p === 0xffffffffffffffffn ? null : p;
      },
      munmap: l.func('int munmap(void *addr, size_t len)') as unknown as Libc['munmap'],
      sysconf: l.func('long sysconf(int name)') as unknown as Libc['sysconf'],
    };
  }
  return libc;
}

export class RingReader {
  private readonly cons: Uint32Array;
  private readonly prod: Uint32Array;
  private readonly data: Buffer;
  private readonly mask: number;
  private consPtr: bigint | null;
  private prodPtr: bigint | null;
  private readonly prodLen: number;
  private readonly page: number;

  constructor(mapFd: number, size: number) {
    const lib = c();
    this.page = lib.sysconf(30 /* _SC_PAGESIZE */);
    this.consPtr = lib.mmap(null, this.page, PROT_READ | PROT_WRITE, MAP_SHARED, mapFd, 0);
    if (!this.consPtr) throw new CaptureError(`cannot map the ring buffer: ${errnoText(koffi.errno())}`);
    this.prodLen = this.page + 2 * size;
    this.prodPtr = lib.mmap(null, this.prodLen, PROT_READ, MAP_SHARED, mapFd, this.page);
    if (!this.prodPtr) {
      lib.munmap(this.consPtr, this.page);
      throw new CaptureError(`cannot map the ring buffer: ${errnoText(koffi.errno())}`);
    }
    this.cons = new Uint32Array(koffi.view(this.consPtr, 8));
    this.prod = new Uint32Array(koffi.view(this.prodPtr, 8));
    const all = koffi.view(this.prodPtr, this.prodLen);
    this.data = Buffer.from(all, this.page, 2 * size);
    this.mask = size - 1;
  }

  private producer(): number {
    for (;;) {
      const hi = this.prod[1];
      const lo = this.prod[0];
      if (this.prod[1] === hi) return hi * 0x100000000 + lo;
    }
  }

  private setConsumer(pos: number): void {
    this.cons[0] = pos >>> 0;
    this.cons[1] = Math.floor(pos / 0x100000000);
  }

  /**
   * Hands every committed record to `onRecord` (a view into the ring, valid
   * only during the call) and releases its space. A negative return stops
   * the drain and leaves that record queued. Returns the records handed over.
   */
  consume(onRecord: (record: Buffer) => number): number {
    const data = this.data;
    let cons = this.cons[1] * 0x100000000 + this.cons[0];
    let handed = 0;
    for (;;) {
      const prod = this.producer();
      if (cons >= prod) return handed;
      while (cons < prod) {
        const at = cons & this.mask;
        const len = data.readUInt32LE(at);
        if (len & BUSY) return handed; // reserved, not yet committed
        const size = len & ~(BUSY | DISCARD) & 0xffffffff;
        if (!(len & DISCARD)) {
          if (onRecord(data.subarray(at + HDR, at + HDR + size)) < 0) return handed;
          handed++;
        }
        cons += (size + HDR + 7) & ~7;
        this.setConsumer(cons);
      }
    }
  }

  close(): void {
    const lib = c();
    if (this.prodPtr) lib.munmap(this.prodPtr, this.prodLen);
    if (this.consPtr) lib.munmap(this.consPtr, this.page);
    this.prodPtr = this.consPtr = null;
  }
}

/** perf_event_mmap_page: data_head and data_tail (u64 each). */
const DATA_HEAD = 1024;
const DATA_TAIL = 1032;
const PERF_RECORD_SAMPLE = 9;

/**
 * Reads one CPU's perf ring (as mapped by libbpf's perf buffer) in
 * JavaScript, for the same reason as RingReader. Records are perf_event
 * headers (u32 type, u16 misc, u16 size); a sample holds u32 raw size and
 * the raw bytes. The data area is not mapped twice, so a record that wraps
 * is copied into a scratch buffer.
 */
export class PerfRingReader {
  private readonly ctl: Uint32Array;
  private readonly data: Buffer;
  private readonly size: number;
  private scratch = Buffer.alloc(0);

  constructor(base: bigint, dataSize: number) {
    const page = c().sysconf(30 /* _SC_PAGESIZE */);
    this.ctl = new Uint32Array(koffi.view(base, page));
    this.data = Buffer.from(koffi.view(base + BigInt(page), dataSize));
    this.size = dataSize;
  }

  private head(): number {
    const i = DATA_HEAD / 4;
    for (;;) {
      const hi = this.ctl[i + 1];
      const lo = this.ctl[i];
      if (this.ctl[i + 1] === hi) return hi * 0x100000000 + lo;
    }
  }

  consume(onRecord: (record: Buffer) => number): number {
    const t = DATA_TAIL / 4;
    let tail = this.ctl[t + 1] * 0x100000000 + this.ctl[t];
    const head = this.head();
    let handed = 0;
    const data = this.data;
    while (tail < head) {
      const at = tail % this.size;
      const type = data.readUInt32LE(at);
      const len = data.readUInt16LE(at + 6);
      if (len < 8) break; // cannot happen; never spin on it
      let rec: Buffer;
      if (at + len <= this.size) rec = data.subarray(at, at + len);
      else {
        if (this.scratch.length < len) this.scratch = Buffer.alloc(Math.max(len, 65536 + 64));
        const first = this.size - at;
        data.copy(this.scratch, 0, at, this.size);
        data.copy(this.scratch, first, 0, len - first);
        rec = this.scratch.subarray(0, len);
      }
      if (type === PERF_RECORD_SAMPLE) {
        const raw = rec.readUInt32LE(8);
        if (onRecord(rec.subarray(12, 12 + raw)) < 0) break;
        handed++;
      }
      tail += len;
    }
    this.ctl[t] = tail >>> 0;
    this.ctl[t + 1] = Math.floor(tail / 0x100000000);
    return handed;
  }
}
