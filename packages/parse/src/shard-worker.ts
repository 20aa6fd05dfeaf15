/**
 * One worker of flow-sharded parsing (sharded.ts): the whole pipeline over
 * every frame of the input, parsing only the flows of its shard, writing its
 * events as UTF-8 NDJSON into batches that go back to the main thread with
 * the position (ordinal) each event was emitted at. A worker serves one
 * input after another (`start` … `end`), so its compiled code stays warm.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { CaptureFormatError } from '@panopticon/pcap';
import { ParsePipeline } from './pipeline.js';
import { BATCH_BYTES, detachOnce, type FromWorker, type ToWorker, type WorkerSetup } from './shard-messages.js';

/**
 * Batches the main thread has written out and handed back. Refilling them
 * instead of allocating 1 MiB per batch keeps both threads' external memory
 * flat: fresh batches cost the main thread several full GCs per 40 MB of output.
 */
const spare: ArrayBuffer[] = [];
/** More than this many spare batches are dropped (the main thread never holds more than a few). */
const MAX_SPARE = 8;

function newBatch(): Buffer {
  const b = spare.pop();
  return b !== undefined ? Buffer.from(b) : Buffer.allocUnsafeSlow(BATCH_BYTES);
}

detachOnce();
const port = parentPort!;
const index = (workerData as { index: number }).index;

const EMPTY = new Uint8Array(0);
let batch = newBatch();
let used = 0;
let ords: number[] = [];
let ends: number[] = [];
let pipeline: ParsePipeline | undefined;

function post(m: FromWorker, transfer?: ArrayBuffer[]): void {
  port.postMessage(m, transfer);
}

/** Sends what is batched; every event still to come has an ordinal ≥ watermark. `ack`: an input chunk is done. */
function flush(watermark: number, ack: boolean): void {
  if (used === 0) {
    post({ t: 'events', bytes: EMPTY, ords: new Float64Array(0), ends: new Uint32Array(0), watermark, ack });
    return;
  }
  const bytes = batch.subarray(0, used);
  post({ t: 'events', bytes, ords: Float64Array.from(ords), ends: Uint32Array.from(ends), watermark, ack }, [bytes.buffer as ArrayBuffer]);
  batch = newBatch();
  used = 0;
  ords = [];
  ends = [];
}

function start(setup: WorkerSetup): ParsePipeline {
  // The capture-level reports are the same in every worker (each reads every
  // frame): the first worker alone passes them on.
  const first = setup.shard.index === 0;
  const p: ParsePipeline = new ParsePipeline({
    ...setup.options,
    shard: setup.shard,
    onEvent(ev) {
      const line = JSON.stringify(ev);
      // A UTF-16 code unit encodes to at most 3 UTF-8 bytes.
      const worst = line.length * 3 + 1;
      if (used + worst > batch.length) {
        if (used > 0) flush(p.ordinal, false);
        if (worst > batch.length) batch = Buffer.allocUnsafeSlow(worst);
      }
      used += batch.write(line, used);
      batch[used++] = 0x0a;
      ords.push(p.ordinal);
      ends.push(used);
    },
    onWarning: first ? (w) => post({ t: 'warning', offset: w.offset, message: w.message, ordinal: p.ordinal }) : undefined,
    onLoss: first ? (loss, interfaceName) => post({ t: 'loss', loss, interfaceName }) : undefined,
  });
  return p;
}

port.on('message', (m: ToWorker) => {
  try {
    switch (m.t) {
      case 'start':
        if (m.setup.shard.index !== index) throw new Error(`worker ${index} given shard ${m.setup.shard.index}`);
        pipeline = start(m.setup);
        break;
      case 'recycle':
        if (spare.length < MAX_SPARE) spare.push(m.bytes);
        break;
      case 'chunk':
        pipeline!.push(Buffer.from(m.bytes.buffer, m.bytes.byteOffset, m.bytes.byteLength));
        flush(pipeline!.ordinal + 1, true);
        break;
      case 'end':
      case 'abort': {
        const p = pipeline!;
        pipeline = undefined;
        if (m.t === 'end') p.end();
        else p.abort();
        flush(Number.POSITIVE_INFINITY, false);
        post({ t: 'done', stats: p.stats(), nextId: p.nextConnectionId });
        break;
      }
    }
  } catch (e) {
    const err = e as Error;
    pipeline = undefined;
    used = 0;
    ords = [];
    ends = [];
    post({ t: 'error', message: err.message, offset: e instanceof CaptureFormatError ? e.offset : undefined, stack: err.stack });
  }
});
