/**
 * Where the parser benchmarks put their events: pano-parse's own output path
 * (`JSON.stringify` into `LineOutput`, which UTF-8 encodes the lines into
 * 256 KiB batches), writing to a stream that discards the bytes, as
 * `> /dev/null` would.
 */
import { Writable } from 'node:stream';
import { LineOutput } from '@panopticon/cli';

export function discardingOutput(): { out: LineOutput; bytes: () => number } {
  let bytes = 0;
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      bytes += chunk.length;
      done();
    },
  });
  const out = new LineOutput(sink);
  return {
    out,
    bytes: () => {
      out.flushBatch();
      return bytes;
    },
  };
}
