/**
 * Draining the kernel buffer: a BPF ring buffer or the per-CPU rings of a
 * perf event array, both mapped once and walked in JS (ring-reader.ts).
 * Each record is handed over as a Buffer viewing the shared memory, valid
 * only during the call: copy what you keep.
 */
import koffi from 'koffi';
import { perfOutputAttr, PERF_EVENT_CONT, type Pointer } from './libbpf.js';
import { CaptureError, type LoadedProgram } from './program.js';
import { PerfRingReader, RingReader } from './ring-reader.js';

export interface RecordSource {
  /** Drains what is queued now; returns how many records were handed over. */
  consume(): number;
  free(): void;
}

/** Return a negative number to stop the current drain (the record stays queued). */
export type OnRecord = (record: Buffer) => number;

export function openRecords(program: LoadedProgram, onRecord: OnRecord, perfTotalBytes = 8 << 20): RecordSource {
  const lib = program.lib;
  const callbacks: bigint[] = [];
  const release = () => {
    for (const cb of callbacks.splice(0)) koffi.unregister(cb);
  };
  if (program.buffer === 'ringbuf') {
    const ring = new RingReader(program.mapFd('ring'), program.ringSize);
    let closed = false;
    return {
      consume: () => (closed ? 0 : ring.consume(onRecord)),
      free: () => {
        closed = true;
        ring.close();
      },
    };
  }
  // libbpf opens and maps one perf ring per CPU (with our attributes, see
  // perfOutputAttr); the rings are then read in JS like the ring buffer. The
  // event callback is required by libbpf but only runs if libbpf itself
  // consumes, which we never ask it to.
  const event = koffi.register(() => PERF_EVENT_CONT, koffi.pointer(lib.types.perfEvent));
  callbacks.push(event);
  const perCpu = Math.max(128 * 1024, floorPow2(Math.floor(perfTotalBytes / Math.max(1, program.ncpus))));
  const pb: Pointer = lib.perfBufferNewRaw(program.mapFd('perf'), perCpu / 4096, perfOutputAttr(perCpu / 2), event);
  if (!pb) {
    release();
    throw new CaptureError(`cannot open the perf buffer: errno ${lib.errno()}`);
  }
  const rings: PerfRingReader[] = [];
  for (let i = 0; i < lib.perfBufferCount(pb); i++) {
    const region = lib.perfBufferRegion(pb, i);
    if (!region) {
      lib.perfBufferFree(pb);
      release();
      throw new CaptureError(`cannot read perf buffer ${i}`);
    }
    rings.push(new PerfRingReader(region.base, region.dataSize));
  }
  let closed = false;
  return {
    consume: () => {
      let n = 0;
      if (!closed) for (const r of rings) n += r.consume(onRecord);
      return n;
    },
    free: () => {
      closed = true;
      lib.perfBufferFree(pb);
      release();
    },
  };
}

function floorPow2(n: number): number {
  let p = 1;
  while (p * 2 <= n) p *= 2;
  return p;
}
