/**
 * Draining the kernel buffer: a BPF ring buffer or a perf event array, read
 * through libbpf with a registered callback. Each record is handed over as a
 * Buffer viewing libbpf's memory, valid only during the call: copy what you keep.
 */
import koffi from 'koffi';
import { perfOutputAttr, PERF_EVENT_CONT, PERF_RECORD_SAMPLE, type Pointer } from './libbpf.js';
import { CaptureError, type LoadedProgram } from './program.js';

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
  let handed = 0;
  const release = () => {
    for (const cb of callbacks.splice(0)) koffi.unregister(cb);
  };
  if (program.buffer === 'ringbuf') {
    const cb = koffi.register((_ctx: unknown, data: bigint, size: number | bigint) => {
      handed++;
      return onRecord(Buffer.from(koffi.view(data, Number(size))));
    }, koffi.pointer(lib.types.ringSample));
    callbacks.push(cb);
    const rb: Pointer = lib.ringBufferNew(program.mapFd('ring'), cb);
    if (!rb) {
      release();
      throw new CaptureError(`cannot open the ring buffer: errno ${lib.errno()}`);
    }
    return {
      consume: () => {
        const before = handed;
        lib.ringBufferConsume(rb);
        return handed - before;
      },
      free: () => {
        lib.ringBufferFree(rb);
        release();
      },
    };
  }
  // Each event is a perf_event_header (u32 type, u16 misc, u16 size); a
  // sample then holds u32 raw size and the raw bytes (padded to 8), whose
  // record header says how much is ours. Lost notices count the same drops
  // the kernel counters already hold.
  const event = koffi.register((_ctx: unknown, _cpu: number, ev: bigint) => {
    const head = Buffer.from(koffi.view(ev, 12));
    if (head.readUInt32LE(0) !== PERF_RECORD_SAMPLE) return PERF_EVENT_CONT;
    const raw = head.readUInt32LE(8);
    handed++;
    void onRecord(Buffer.from(koffi.view(ev, 12 + raw)).subarray(12));
    return PERF_EVENT_CONT;
  }, koffi.pointer(lib.types.perfEvent));
  callbacks.push(event);
  const perCpu = Math.max(128 * 1024, floorPow2(Math.floor(perfTotalBytes / Math.max(1, program.ncpus))));
  const pb: Pointer = lib.perfBufferNewRaw(program.mapFd('perf'), perCpu / 4096, perfOutputAttr(perCpu / 2), event);
  if (!pb) {
    release();
    throw new CaptureError(`cannot open the perf buffer: errno ${lib.errno()}`);
  }
  return {
    consume: () => {
      const before = handed;
      lib.perfBufferConsume(pb); // returns 0 on success, not a count
      return handed - before;
    },
    free: () => {
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
