/** pano-export: events in, fanned out to JSONL, Prometheus, OTLP and the audit log (and stdout with --tee). */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { BadLines, LineOutput, MAX_TIMER_MS, StopSignal, refuseInputAsOutput, refuseSameOutputs, requireParents, UserError, describeFsError, formatStats, oneLineUsageErrors, parseSize, runMain } from '@panopticon/cli';
import { DEFAULT_MAX_LINE_BYTES, lineWhere, parseCount, parseEventLine, readLines, InputError, type InputCounters } from '@panopticon/graph';
import { JsonlSink } from './jsonl-sink.js';
// The OTLP exporter (~0.17 s to load here), the audit log (all of @panopticon/pii, ~0.17 s) and
// prom-client are imported when their option is given: a --jsonl run, and --help, do not wait for them.
import type { MetricsEndpoint } from './http-endpoint.js';
import type { OtlpSink } from './otlp-sink.js';
import type { AuditSink } from './audit-sink.js';
import { FileWriteError, type Sink } from './sink.js';

const PROG = 'pano-export';
export const VERSION = '0.1.0';

const EXAMPLES = `
Examples:
  pano-parse dump.pcap | pano-export --jsonl events.jsonl --rotate 100M --keep 10
  pano-parse dump.pcap | pano-export --prometheus 127.0.0.1:9464 --keep-serving
  pano-parse dump.pcap | pano-pii | pano-export --otlp http://127.0.0.1:4318 --tee | pano-graph
  sudo pano-capture -i lo | pano-parse | pano-export --prometheus :9464 --token-file /etc/pano/token
`;

interface Opts {
  jsonl?: string;
  rotate?: string;
  keep: string;
  prometheus?: string;
  tokenFile?: string;
  keepServing?: boolean;
  otlp?: string;
  otlpQueue: string;
  otlpBatch: string;
  otlpDelay: string;
  otlpTimeout: string;
  otlpFlushTimeout: string;
  otlpContent?: boolean;
  otlpCredentials?: boolean;
  serviceName: string;
  tee?: boolean;
  audit?: string;
  signKey?: string;
  checkpointEvery: string;
  strict?: boolean;
  stats?: boolean;
}

export async function main(argv: string[] = process.argv): Promise<void> {
  const program = new Command(PROG)
    .description('Fan pano events out to JSONL files, a Prometheus endpoint, an OTLP collector and the PII audit log')
    .version(VERSION)
    .argument('[files...]', 'NDJSON event files (default: stdin; "-" is stdin)')
    .option('--jsonl <file>', 'append events to FILE (created 0600)')
    .option('--rotate <size>', 'rotate the JSONL file before it passes SIZE (e.g. 100M); SIGHUP rotates too')
    .option('--keep <n>', 'rotated JSONL files kept (FILE.1 … FILE.N)', '5')
    .option('--prometheus <addr>', 'serve /metrics, /healthz, /readyz, /debug/state on ADDR (default host 127.0.0.1)')
    .option('--token-file <file>', 'require "Authorization: Bearer <token>" (token read from FILE) on all paths but /healthz')
    .option('--keep-serving', 'after the input ends, keep the HTTP endpoint up until SIGINT/SIGTERM')
    .option('--otlp <url>', 'send one span per event to an OTLP/HTTP (protobuf) collector, e.g. http://127.0.0.1:4318')
    .option('--otlp-queue <n>', 'spans queued for export before new ones are dropped (counted)', '8192')
    .option('--otlp-batch <n>', 'spans per export request', '512')
    .option('--otlp-delay <ms>', 'longest wait before a partial batch is sent', '1000')
    .option('--otlp-timeout <ms>', 'per export request, retries with back-off included', '10000')
    .option('--otlp-flush-timeout <ms>', 'at exit, how long to wait for queued spans', '5000')
    .option('--otlp-content', 'also send body contents, result rows, bound parameters, the literals of db.query.text, Redis arguments and replies, gRPC messages, COPY and LOAD DATA LOCAL INFILE data, NOTIFY payloads, MySQL query attributes and Kafka record values as attributes')
    .option('--otlp-credentials', 'send the values of credential headers (Authorization, Cookie, Set-Cookie, API keys, tokens …) and URL parameters, and URL user information, as they are, not REDACTED')
    .option('--service-name <name>', 'OTLP resource service.name', 'panopticon')
    .option('--audit <file>', 'append the PII findings that pass to the hash-chained audit log FILE (pano-pii\'s format, created 0600)')
    .option('--sign-key <pem>', 'Ed25519 private key (PEM file) signing the audit checkpoints')
    .option('--checkpoint-every <n>', 'audit records between checkpoints', '1000')
    .option('--tee', 'copy every input event to stdout')
    .option('--strict', 'a bad input line is fatal')
    .option('--stats', 'always print the counts on stderr at exit')
    .addHelpText('after', EXAMPLES)
    .action(async (files: string[], opts: Opts, cmd: Command) => {
      await runMain(PROG, async () => {
        requireParents(cmd, {
          rotate: 'jsonl', keep: 'jsonl', tokenFile: 'prometheus', keepServing: 'prometheus',
          otlpQueue: 'otlp', otlpBatch: 'otlp', otlpDelay: 'otlp', otlpTimeout: 'otlp', otlpFlushTimeout: 'otlp', otlpContent: 'otlp', otlpCredentials: 'otlp', serviceName: 'otlp',
          signKey: 'audit', checkpointEvery: 'audit',
        });
        return run(files, opts);
      });
    });
  await oneLineUsageErrors(program, PROG).parseAsync(argv);
  // the OTLP exporter's sockets and timers must not keep a finished pipe alive
  process.exit(process.exitCode ?? 0);
}

/** A file an option names, read whole; a failure names the option and the file (a directory, a missing file). */
function readOption(option: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new UserError(`${option} ${describeFsError(e, file)}`);
  }
}

function positiveSize(name: string, text: string): number {
  let n: number;
  try {
    n = parseSize(text);
  } catch {
    throw new UserError(`${name} must be a size such as 100M, 512k or 65536, got "${text}"`);
  }
  if (n <= 0) throw new UserError(`${name} must be greater than zero`);
  return n;
}

/** Milliseconds for a timer: a whole number from `min` up to what a timer can hold. */
function parseMs(name: string, text: string, min: number): number {
  const n = parseCount(name, text, min);
  if (n > MAX_TIMER_MS) throw new UserError(`${name} must be at most ${MAX_TIMER_MS} ms (about 24.8 days), got "${text}"`);
  return n;
}

/**
 * Set up what one option asks for; an error names the option: a file's
 * (`--jsonl FILE: permission denied`), or the option's own words.
 */
async function forOption<T>(option: string, value: string, fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof UserError) throw err;
    const e = err as NodeJS.ErrnoException;
    if (e.code && e.path) throw new UserError(`${option} ${describeFsError(e, e.path)}`);
    // the audit log's own errors begin with 'audit: FILE: '
    const msg = (e.message ?? String(err)).split('\n')[0]!.replace(/^audit: /, '');
    if (msg.startsWith(`${value}: `)) throw new UserError(`${option} ${msg}`);
    // a message quoting the value names it already
    throw new UserError(msg.includes(`"${value}"`) ? `${option}: ${msg}` : `${option} ${value}: ${msg}`);
  }
}

async function run(files: string[], opts: Opts): Promise<number> {
  if (!opts.jsonl && !opts.prometheus && !opts.otlp && !opts.tee && !opts.audit) throw new UserError('nothing to do: give at least one of --jsonl, --prometheus, --otlp, --audit, --tee');
  if (opts.jsonl) refuseInputAsOutput(opts.jsonl, files, '--jsonl');
  if (opts.audit) refuseInputAsOutput(opts.audit, files, '--audit');
  if (opts.tee) refuseInputAsOutput(undefined, files, '--tee');
  // two outputs that are one file would overwrite each other's lines
  if (opts.jsonl && opts.audit) refuseSameOutputs(opts.jsonl, '--jsonl', opts.audit, '--audit');
  if (opts.tee && opts.jsonl) refuseSameOutputs(undefined, '--tee', opts.jsonl, '--jsonl');
  if (opts.tee && opts.audit) refuseSameOutputs(undefined, '--tee', opts.audit, '--audit');

  const input: InputCounters = { lines: 0, bytes: 0, oversized: 0, unterminated: 0 };
  let eventsIn = 0;
  const bad = new BadLines(PROG, { strict: opts.strict });
  const sinks: Sink[] = [];
  let jsonl: JsonlSink | undefined;
  let otlp: OtlpSink | undefined;
  let endpoint: MetricsEndpoint | undefined;
  let audit: AuditSink | undefined;

  try {
    if (opts.jsonl) {
      const rotateBytes = opts.rotate ? positiveSize('--rotate', opts.rotate) : 0;
      const keep = parseCount('--keep', opts.keep, 1);
      jsonl = await forOption('--jsonl', opts.jsonl, () => new JsonlSink(opts.jsonl!, { rotateBytes, keep }));
      sinks.push(jsonl);
    } else if (opts.rotate) throw new Error('--rotate needs --jsonl');
    if (opts.otlp) {
      const { OtlpSink, tracesUrl } = await import('./otlp-sink.js');
      const url = await forOption('--otlp', opts.otlp, () => tracesUrl(opts.otlp!));
      otlp = new OtlpSink({
        url,
        serviceName: opts.serviceName,
        maxQueue: parseCount('--otlp-queue', opts.otlpQueue, 1),
        maxBatch: parseCount('--otlp-batch', opts.otlpBatch, 1),
        delayMs: parseMs('--otlp-delay', opts.otlpDelay, 1),
        timeoutMs: parseMs('--otlp-timeout', opts.otlpTimeout, 1),
        flushTimeoutMs: parseMs('--otlp-flush-timeout', opts.otlpFlushTimeout, 0),
        includeContent: opts.otlpContent,
        includeCredentials: opts.otlpCredentials,
      });
      sinks.push(otlp);
    }
    if (opts.audit) {
      const where = [opts.jsonl && 'jsonl', opts.otlp && 'otlp', opts.tee && 'stdout', opts.prometheus && 'prometheus'].filter(Boolean).join(',');
      let signKey: KeyObject | undefined;
      if (opts.signKey) {
        const pem = readOption('--sign-key', opts.signKey);
        signKey = await forOption('--sign-key', opts.signKey, () => {
          let key: KeyObject;
          try {
            key = createPrivateKey(pem);
          } catch {
            throw new Error('not a PEM private key');
          }
          if (key.asymmetricKeyType !== 'ed25519') throw new Error(`an Ed25519 key is needed, this one is ${key.asymmetricKeyType}`);
          return key;
        });
      }
      const checkpointEvery = parseCount('--checkpoint-every', opts.checkpointEvery, 0);
      const { AuditSink } = await import('./audit-sink.js');
      audit = await forOption('--audit', opts.audit, () => new AuditSink(opts.audit!, where || 'none', { signKey, checkpointEvery }));
      sinks.push(audit);
    } else if (opts.signKey) throw new Error('--sign-key needs --audit');
    if (opts.prometheus) {
      const [{ MetricsSink }, { MetricsEndpoint, parseListenAddress }] = await Promise.all([import('./metrics-sink.js'), import('./http-endpoint.js')]);
      const { host, port } = await forOption('--prometheus', opts.prometheus, () => parseListenAddress(opts.prometheus!));
      let token: string | undefined;
      if (opts.tokenFile) {
        token = readOption('--token-file', opts.tokenFile).trim();
        if (!token) throw new UserError(`--token-file ${opts.tokenFile}: empty token file`);
      }
      const metrics = new MetricsSink({
        eventsIn: () => eventsIn,
        parseFailures: () => bad.count,
        dropped: () =>
          otlp
            ? [
                { sink: 'otlp', reason: 'queue_full', count: otlp.processor.droppedQueueFull },
                { sink: 'otlp', reason: 'export_failed', count: otlp.processor.failed },
              ]
            : [],
        queueDepths: () => (otlp ? [{ sink: 'otlp', depth: otlp.processor.depth }] : []),
      });
      sinks.push(metrics);
      endpoint = new MetricsEndpoint({ host, port, token, registry: metrics.registry, ready: () => eventsIn > 0, state: () => debugState() });
      const addr = await forOption('--prometheus', opts.prometheus, async () => {
        try {
          return await endpoint!.listen();
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code === 'EADDRINUSE') throw new Error('address already in use');
          if (code === 'EADDRNOTAVAIL') throw new Error('address not available on this host');
          if (code === 'EACCES') throw new Error('permission denied (a port below 1024 needs privileges)');
          if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') throw new Error('host name not found');
          throw e;
        }
      });
      const shown = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
      process.stderr.write(`${PROG}: serving metrics on http://${shown}:${addr.port}/metrics\n`);
    }
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    for (const s of sinks) await s.close().catch(() => undefined);
    if (err instanceof UserError) throw err;
    throw new UserError(e.code && e.path ? describeFsError(e, e.path) : e.message.split('\n')[0]!);
  }

  function debugState() {
    return {
      input: { lines: input.lines, bytes: input.bytes, events: eventsIn, bad_lines: bad.count, oversized_lines: input.oversized },
      ready: eventsIn > 0,
      sinks: Object.fromEntries(sinks.map((s) => [s.name, s.state()])),
      queues: otlp ? { otlp: otlp.processor.depth } : {},
      http: endpoint ? { requests: endpoint.requests, unauthorized: endpoint.unauthorized } : undefined,
    };
  }

  const out = opts.tee ? new LineOutput(process.stdout) : undefined;
  const stop = new StopSignal();
  if (jsonl) process.on('SIGHUP', () => jsonl!.rotate());

  try {
    for await (const line of readLines(files, input, { signal: stop.inputSignal(files) })) {
      if (line.oversized) {
        bad.name(lineWhere(line), `line longer than ${DEFAULT_MAX_LINE_BYTES} bytes`);
        continue;
      }
      const { event, error } = parseEventLine(line.text);
      if (!event) {
        bad.report(lineWhere(line), error);
        continue;
      }
      eventsIn++;
      for (const s of sinks) s.accept(event, line.text);
      if (out && !out.closed) {
        out.line(line.text);
        if (out.full) await out.drained();
      }
      // `| head` went away: with nothing else to feed, end quietly; an archive, metrics or
      // spans still take every event (the reader of a copy does not decide what is kept)
      if (out?.closed && sinks.length === 0) break;
    }
  } catch (err) {
    // fatal: still flush and close what is complete (the lines already passed on with --tee too)
    for (const s of sinks) await s.close().catch(() => undefined);
    await out?.end();
    await endpoint?.close();
    if (err instanceof InputError) throw new UserError(err.message);
    throw writeFailure(err);
  }

  await out?.end();
  if (endpoint && opts.keepServing && !stop.stopped) {
    await new Promise<void>((resolve) => stop.signal.addEventListener('abort', () => resolve(), { once: true }));
  }
  let closeFailure: unknown;
  for (const s of sinks) await s.close().catch((e) => (closeFailure ??= e));
  await endpoint?.close();
  if (closeFailure) throw writeFailure(closeFailure);

  const lost = otlp?.lost ?? 0;
  const groups: Record<string, Record<string, number>> = {
    export: { lines: input.lines, events: eventsIn, bad_lines: bad.count, oversized_lines: input.oversized },
  };
  if (jsonl) groups.jsonl = { lines: jsonl.lines, rotations: jsonl.rotations, files_discarded: jsonl.filesDiscarded };
  if (otlp) {
    const p = otlp.processor;
    groups.otlp = { spans: otlp.spans, unmappable: otlp.unmappable, sent: p.sent, lost, failed: p.failed, dropped_queue_full: p.droppedQueueFull, lost_at_exit: p.lostAtExit };
  }
  if (audit) groups.audit = { findings: audit.findings };
  if (opts.stats) process.stderr.write(formatStats(groups));
  else if (bad.count || input.oversized || lost) {
    process.stderr.write(`${PROG}: ${bad.count} bad lines, ${input.oversized} oversized${otlp ? `, ${lost} spans lost` : ''} (see --stats)\n`);
  }
  if (otlp?.processor.lastError && lost) process.stderr.write(`${PROG}: otlp: last export error: ${otlp.processor.lastError}\n`);
  return 0;
}

/**
 * A sink's file that could not be written ends the run as EX_IOERR (74), in
 * one line naming the file. (The audit log's AuditWriteError is known by name:
 * @panopticon/pii is loaded only with --audit.)
 */
function writeFailure(err: unknown): unknown {
  const e = err as { name?: string; file?: string; error?: NodeJS.ErrnoException } | undefined;
  if ((err instanceof FileWriteError || e?.name === 'AuditWriteError') && e?.file && e.error) return new UserError(describeFsError(e.error, e.file), 74);
  return err;
}
