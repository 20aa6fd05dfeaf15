/**
 * pano-parse: replay pcap/pcapng (files or stdin) into NDJSON events.
 */
import { open } from 'node:fs/promises';
import { addAbortSignal, type Readable } from 'node:stream';
import { basename } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { CaptureFormatError } from '@panopticon/pcap';
import { KeyLogError, TlsKeyLog, loadProtoSchemas } from '@panopticon/protocols';
import { LineOutput, PIPE_GRACE_MS, Progress, addCounters, isErrno, isPipe, openFifo, refuseInputAsOutput, oneLineUsageErrors, StopSignal, UserError, describeFsError, formatStats, parseCount, parseDuration, parseList, parsePositiveCount, parsePositiveDuration, parseSize, runMain } from '@panopticon/cli';
import { ParsePipeline, protocolNames, selectModules, type PipelineOptions } from './pipeline.js';
import { ParseWorkers, ShardedPipeline, sharedChunk } from './sharded.js';

const VERSION = '0.1.0';
const READ_CHUNK = 1024 * 1024;

interface Opts {
  protocols?: string[];
  maxBody: number;
  maxRows: number;
  maxConnections: number;
  maxBuffer: number;
  maxBufferTotal: number;
  idleTimeout: number;
  output?: string;
  strict?: boolean;
  stats?: boolean;
  proto?: string[];
  tlsKeylog?: string[];
  workers: number;
}

/** Workers past this are refused: each reads the whole input, so more than cores only adds work. */
const MAX_WORKERS = 64;

/** What the file loop needs of a pipeline, in one thread or sharded over workers. */
interface Pipeline {
  readonly events: number;
  push(chunk: Buffer): void | Promise<void>;
  end(): void | Promise<void>;
  abort(): void | Promise<void>;
  stats(): ReturnType<ParsePipeline['stats']>;
  readonly nextConnectionId: number;
}

function parseWorkers(value: string): number {
  const n = parseCount(value);
  if (n < 1 || n > MAX_WORKERS) throw new InvalidArgumentError(`not between 1 and ${MAX_WORKERS}: "${value}"`);
  return n;
}

export function buildCommand(): Command {
  const cmd = new Command('pano-parse')
    .description('Replay pcap or pcapng captures (files or stdin) into NDJSON events, one per completed exchange.')
    .version(VERSION)
    .argument('[files...]', 'capture files; "-" or none reads standard input')
    .option('-p, --protocols <list>', `protocols to parse, comma separated (default: all: ${protocolNames().join(', ')})`, parseList)
    .option('--max-body <size>', 'body/payload bytes kept per message (sizes are always reported whole)', parseSize, 64 * 1024)
    .option('--max-rows <n>', 'result rows kept per query', parseCount, 20)
    .option('--max-connections <n>', 'connections tracked at once; the least recently active is evicted past this', parsePositiveCount, 65536)
    .option('--max-buffer <size>', 'out-of-order bytes held per direction before a hole is declared a gap', parseSize, 4 * 1024 * 1024)
    .option('--max-buffer-total <size>', 'out-of-order bytes held over all connections; past it a hole is declared a gap', parseSize, 64 * 1024 * 1024)
    .option('--idle-timeout <duration>', 'a connection idle this long (packet time) is closed', parsePositiveDuration, 300)
    .option('-o, --output <file>', 'write events to FILE (created 0600) instead of standard output')
    // One path per --proto: a variadic option would take the capture files after it for .proto paths.
    .option('--proto <path>', 'decode gRPC messages with the .proto files at PATH, a file or directory; repeatable (else a schema-less wire decode)', (path: string, paths: string[] = []) => [...paths, path])
    .option('--tls-keylog <file>', 'decrypt TLS with the secrets of this NSS key log (SSLKEYLOGFILE), followed as it grows; repeatable', (path: string, paths: string[] = []) => [...paths, path])
    .option('-w, --workers <n>', 'parse on N threads, each taking a share of the flows (same events; see pano-parse(1) for what differs)', parseWorkers, 1)
    .option('--strict', 'damage in the input is fatal instead of skipped and counted')
    .option('--stats', 'print per-stage counters to stderr at exit')
    .addOption(new Option('--no-color').hideHelp())
    .addHelpText(
      'after',
      `
Examples:
  pano-parse capture.pcapng | jq -c '{m: .http.request.method, p: .url.path, s: .http.response.status_code}'
  sudo pano-capture -i lo | pano-parse --protocols http,dns
  pano-parse --stats --max-body 1M dump.pcap > events.jsonl

Events follow pano-events(5); the capture format pano-frames(5).`,
    );
  return oneLineUsageErrors(cmd, 'pano-parse');
}

export async function main(argv = process.argv): Promise<void> {
  await runMain('pano-parse', async () => {
    const cmd = buildCommand();
    cmd.parse(argv);
    const files = cmd.args.length ? cmd.args : ['-'];
    const o = cmd.opts<Opts>();
    try {
      selectModules(o.protocols);
      if (o.proto) loadProtoSchemas(o.proto);
      // a key log that cannot be opened is said now, not once per file and worker
      if (o.tlsKeylog) TlsKeyLog.check(o.tlsKeylog);
    } catch (e) {
      throw new UserError(e instanceof KeyLogError ? `--tls-keylog ${e.message}` : (e as Error).message);
    }
    refuseInputAsOutput(o.output, files, '-o');
    const out = LineOutput.toPath(o.output);
    const stop = new StopSignal();
    const totals: Array<ReturnType<ParsePipeline['stats']>> = [];
    // connection numbers go on from file to file, so that event ids stay unique within the run
    let firstId = 1;
    let warnings = 0;
    let losses = 0;
    // One set of workers serves every file, so their compiled code stays warm.
    const pool = o.workers > 1 ? new ParseWorkers(o.workers) : undefined;
    try {
      for (const file of files) {
        if (stop.stopped || out.closed) break;
        const name = file === '-' ? 'stdin' : file;
        const options: Omit<PipelineOptions, 'onEvent'> = {
          protocols: o.protocols,
          parse: { maxBody: o.maxBody, maxRows: o.maxRows, ...(o.proto ? { protoPaths: o.proto } : {}), ...(o.tlsKeylog ? { tlsKeyLogs: o.tlsKeylog } : {}) },
          flows: {
            maxConnections: o.maxConnections,
            maxBufferedBytes: o.maxBuffer,
            maxBufferedTotal: o.maxBufferTotal,
            idleTimeoutNs: BigInt(Math.round(o.idleTimeout * 1e9)),
            firstId,
          },
          source: { type: 'pcap', name: file === '-' ? '-' : basename(file) },
          live: isPipe(file),
          // under --strict a malformed packet is damage like a bad record: fatal where it is met
          warnMalformed: o.strict,
          onLoss: (loss, ifName) => {
            // Loss is never silent: exchanges around it may be missing or flagged `gap`.
            losses++;
            if (losses <= 10) {
              process.stderr.write(`pano-parse: ${name}: the kernel lost ${loss.lost} packet(s) on ${ifName ?? `interface ${loss.interfaceId}`} (${loss.totalLost} since capture start)\n`);
            }
          },
          onWarning: (w) => {
            warnings++;
            // The line already starts with the offset: drop the message's own mention of that same offset.
            const what = w.message.replace(` at offset ${w.offset}`, '');
            if (o.strict) throw new UserError(`${name}: offset ${w.offset}: ${what}`);
            if (warnings <= 10) process.stderr.write(`pano-parse: ${name}: offset ${w.offset}: ${what} (skipped)\n`);
          },
        };
        const pipeline: Pipeline = pool
          ? new ShardedPipeline({ ...options, pool, onLines: (batch, start, end, n) => out.encodedLines(batch, start, end, n) })
          : new ParsePipeline({ ...options, onEvent: (ev) => out.line(JSON.stringify(ev)) });
        await feed(file, pipeline, out, stop, pool ? sharedChunk : Buffer.allocUnsafeSlow);
        try {
          if (stop.stopped || out.closed) await pipeline.abort();
          else await pipeline.end();
        } catch (e) {
          // Workers report a damaged capture when they get to it, which can be after the last chunk was handed over.
          throw captureError(name, e);
        }
        totals.push(pipeline.stats());
        firstId = pipeline.nextConnectionId;
      }
    } finally {
      await pool?.close();
      // the complete events go out whatever ended the run (damage under --strict, an unreadable file)
      await out.end();
    }
    const faults = parserFaults(mergeStats(totals));
    if (faults) {
      process.stderr.write(`pano-parse: a parser failed on ${faults}, not parsed further: a bug met by unusual input; please report it with the capture (PANO_DEBUG=1 stops at the first, with its stack)\n`);
    }
    if (warnings > 10) process.stderr.write(`pano-parse: ${warnings} damaged regions skipped in all\n`);
    if (losses > 10) process.stderr.write(`pano-parse: ${losses} loss records in all\n`);
    if (o.stats) process.stderr.write(formatStats(mergeStats(totals)));
    return 0;
  });
}

/** `allocate(size)`: a fresh buffer per file read; with workers, one they all read in place. */
async function feed(file: string, pipeline: Pipeline, out: LineOutput, stop: StopSignal, allocate: (size: number) => Buffer): Promise<void> {
  const name = file === '-' ? 'stdin' : file;
  const progress = new Progress(`pano-parse ${name}`);
  let bytes = 0;
  const step = async (chunk: Buffer) => {
    try {
      await pipeline.push(chunk);
    } catch (e) {
      throw captureError(name, e);
    }
    bytes += chunk.length;
    progress.update(() => `${(bytes / 1048576).toFixed(1)} MiB, ${pipeline.events} events`);
    if (out.full) await out.drained();
  };
  try {
    // A FIFO (`<(pano-capture …)`, mkfifo) is read as standard input is, through a pipe handle: a file
    // read of it waits in a thread that a signal cannot interrupt (see openInput).
    const pipe = file === '-' ? process.stdin : await openPipe(file);
    if (pipe) {
      // On a signal, what is already in the pipe is still worth reading: the
      // producer upstream (pano-capture) got the same signal and is flushing.
      // Read until it closes, for at most PIPE_GRACE_MS.
      const abort = new AbortController();
      const onStop = () => setTimeout(() => abort.abort(), PIPE_GRACE_MS).unref();
      stop.signal.addEventListener('abort', onStop, { once: true });
      try {
        for await (const chunk of addAbortSignal(abort.signal, pipe)) {
          await step(chunk as Buffer);
          if (out.closed) break;
        }
      } catch (e) {
        if ((e as Error).name !== 'AbortError') throw e;
      } finally {
        stop.signal.removeEventListener('abort', onStop);
      }
    } else {
      let fh;
      try {
        fh = await open(file, 'r');
      } catch (e) {
        throw new UserError(`cannot open ${describeFsError(e, file)}`);
      }
      try {
        for (;;) {
          // A fresh buffer per read: packets (and the bodies parsers keep) are views into it.
          const buf = allocate(READ_CHUNK);
          const { bytesRead } = await fh.read(buf, 0, READ_CHUNK, null);
          if (bytesRead === 0) break;
          await step(bytesRead === READ_CHUNK ? buf : buf.subarray(0, bytesRead));
          if (stop.stopped || out.closed) break;
        }
      } catch (e) {
        // a directory, an I/O error, a file the kernel will not read (/proc/self/mem): the input's fault, named
        if (isErrno(e)) throw new UserError(`cannot read ${describeFsError(e, file)}`);
        throw e;
      } finally {
        await fh.close();
      }
    }
  } finally {
    progress.done();
  }
  if (bytes === 0 && !stop.stopped && !out.closed) throw new UserError(`${name}: empty input (expected a pcap or pcapng capture)`);
}

/** `file` as a pipe when it is a FIFO (see openFifo), else undefined: it is read as a file. */
async function openPipe(file: string): Promise<Readable | undefined> {
  try {
    return await openFifo(file);
  } catch (e) {
    throw new UserError(`cannot open ${describeFsError(e, file)}`);
  }
}

/** A capture the reader cannot go on with is the user's input, not our bug: one line naming file and offset. */
function captureError(name: string, e: unknown): unknown {
  return e instanceof CaptureFormatError ? new UserError(`${name}: offset ${e.offset}: ${e.message}`) : e;
}

/** `dns: 2 connections, http: 1 connection` from the `<protocol>.parser_faults` counters, or '' when there are none. */
function parserFaults(stats: Record<string, Record<string, number | bigint>>): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(stats.protocols ?? {})) {
    const n = Number(v);
    if (k.endsWith('.parser_faults') && n > 0) parts.push(`${k.slice(0, -'.parser_faults'.length)}: ${n} connection${n === 1 ? '' : 's'}`);
  }
  return parts.join(', ');
}

function mergeStats(all: Array<Record<string, Record<string, number | bigint>>>): Record<string, Record<string, number | bigint>> {
  const out: Record<string, Record<string, number | bigint>> = {};
  for (const s of all) {
    for (const [g, counters] of Object.entries(s)) addCounters((out[g] ??= {}), counters);
  }
  return out;
}
