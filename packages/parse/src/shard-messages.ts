/** What the main thread and the workers of flow-sharded parsing say to each other (structured clone). */
import type { LossRecord } from '@panopticon/pcap';
import type { PipelineOptions } from './pipeline.js';

/** The pipeline options that cross to a worker: the callbacks stay behind. */
export type WorkerPipelineOptions = Omit<PipelineOptions, 'onEvent' | 'onWarning' | 'onCustom' | 'onLoss' | 'shard'>;

export interface WorkerSetup {
  options: WorkerPipelineOptions;
  shard: { index: number; count: number };
}

export type ToWorker =
  | { t: 'start'; setup: WorkerSetup }
  | { t: 'chunk'; bytes: Uint8Array }
  /** An events batch the main thread has written out, handed back (transferred) to be filled again. */
  | { t: 'recycle'; bytes: ArrayBuffer }
  | { t: 'end' }
  | { t: 'abort' };

/**
 * Size of a worker's events batch: it is sent when it holds this much. An event larger than it gets
 * a batch of its own; only batches of exactly this size go back to their worker once written.
 */
export const BATCH_BYTES = 1024 * 1024;

/**
 * Detaches a throwaway ArrayBuffer. The first buffer a thread detaches (as
 * transferring a batch does) makes V8 drop all of that thread's optimised code
 * that reads typed arrays, which then warms up again: in each worker most of
 * the parser, compiled twice. Called before any of it runs, so it is compiled
 * once (ADR 0006: a cold `-w 2` run compiled for 1.9 s, now 1.15-1.39 s).
 */
export function detachOnce(): void {
  const b = new ArrayBuffer(8);
  structuredClone(b, { transfer: [b] });
}

export type FromWorker =
  /**
   * NDJSON lines; event i ends at ends[i] and was emitted at ords[i]. Every
   * later event of this worker has an ordinal ≥ watermark. The last
   * message for an input chunk has `ack` set, so the main thread knows how
   * far behind the worker is.
   */
  | { t: 'events'; bytes: Uint8Array; ords: Float64Array; ends: Uint32Array; watermark: number; ack: boolean }
  /** Damage the reader skipped; `ordinal`: frames read when it was met (every event before it has an ordinal ≤ this). */
  | { t: 'warning'; offset: number; message: string; ordinal: number }
  | { t: 'loss'; loss: LossRecord; interfaceName: string | undefined }
  | { t: 'done'; stats: ReturnType<import('./pipeline.js').ParsePipeline['stats']>; nextId: number }
  | { t: 'error'; message: string; offset: number | undefined; stack: string | undefined };
