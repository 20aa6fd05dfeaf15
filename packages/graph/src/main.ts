/** pano-graph: events in, service graph out. Wiring only; the work is in GraphBuilder and the renderers. */
import { Command, Option } from 'commander';
import { BadLines, LineOutput, StopSignal, refuseInputAsOutput, UserError, formatStats, oneLineUsageErrors, runMain } from '@panopticon/cli';
import { GraphBuilder, type BuilderCounters } from './graph-builder.js';
import { NameCache } from './name-cache.js';
import { readLines, parseEventLine, lineWhere, InputError, DEFAULT_MAX_LINE_BYTES, type InputCounters } from './ndjson-input.js';
import { parseCount, parseDuration } from './duration.js';
import { renderDot, renderMermaid } from './render-text.js';
import { renderHtml } from './render-html.js';
import { startNsOf } from './event-facts.js';
import type { GraphSnapshot } from './snapshot.js';

const PROG = 'pano-graph';
export const VERSION = '0.1.0';

const EXAMPLES = `
Examples:
  pano-parse capture.pcapng | pano-graph                      # JSON graph
  pano-parse capture.pcapng | pano-pii | pano-graph -f html > map.html
  pano-graph -f dot events.jsonl | dot -Tsvg > map.svg
  pano-graph -f mermaid --top 20 events.jsonl
  sudo pano-capture -i lo | pano-parse | pano-graph --window 1m   # one NDJSON snapshot per minute
`;

interface Opts {
  format: 'json' | 'dot' | 'mermaid' | 'html';
  window?: string;
  top?: string;
  minRequests?: string;
  maxNodes: string;
  maxEdges: string;
  maxNames: string;
  nameTtl: string;
  strict?: boolean;
  stats?: boolean;
}

export function render(g: GraphSnapshot, format: Opts['format']): string {
  switch (format) {
    case 'dot':
      return renderDot(g);
    case 'mermaid':
      return renderMermaid(g);
    case 'html':
      return renderHtml(g);
    default:
      return JSON.stringify(g, null, 2) + '\n';
  }
}

/** An option's value from `f`, or a usage error; `name`: the option, for messages that do not name it. */
function option<T>(f: () => T, name?: string): T {
  try {
    return f();
  } catch (err) {
    throw new UserError(name ? `${name}: ${(err as Error).message}` : (err as Error).message);
  }
}

async function run(files: string[], opts: Opts): Promise<number> {
  const windowNs = opts.window !== undefined ? option(() => parseDuration(opts.window!), '--window') : undefined;
  const top = opts.top !== undefined ? option(() => parseCount('--top', opts.top!, 1)) : undefined;
  const minRequests = opts.minRequests !== undefined ? option(() => parseCount('--min-requests', opts.minRequests!, 1)) : undefined;
  const maxAddresses = option(() => parseCount('--max-nodes', opts.maxNodes, 2));
  const maxEdges = option(() => parseCount('--max-edges', opts.maxEdges, 1));
  const maxNames = option(() => parseCount('--max-names', opts.maxNames, 1));
  const ttlNs = option(() => parseDuration(opts.nameTtl), '--name-ttl');
  if (windowNs !== undefined && opts.format !== 'json') throw new UserError('--window writes NDJSON snapshots; it needs --format json');

  refuseInputAsOutput(undefined, files, 'standard output');
  const out = new LineOutput(process.stdout);
  const stop = new StopSignal();
  const input: InputCounters = { lines: 0, bytes: 0, oversized: 0, unterminated: 0 };
  const bad = new BadLines(PROG, { strict: opts.strict });
  const names = new NameCache({ ttlNs, maxAddresses: maxNames });
  const newBuilder = () => new GraphBuilder({ maxAddresses, maxEdges, nameCache: names });
  let builder = newBuilder();
  // --stats and the warning at exit count every window's events, not only the last one's
  const totals: BuilderCounters = { events: 0, no_address: 0, dropped_address_limit: 0, dropped_edge_limit: 0, mirror_views: 0 };
  let cutIdentifiers = 0;
  const addTotals = (b: GraphBuilder) => {
    for (const k of Object.keys(totals) as Array<keyof BuilderCounters>) totals[k] += b.counters[k];
    cutIdentifiers += b.cutIdentifiers;
  };
  let windowIndex: bigint | undefined;
  let late = 0;
  let snapshots = 0;
  // a snapshot's counts are its own window's (the builder's are, being new per window): the
  // running totals when the window began are taken off, so summing snapshots counts each once
  let before = { bad: 0, oversized: 0, late: 0 };
  const counts = () => ({ bad_lines: bad.count - before.bad, oversized_lines: input.oversized - before.oversized, late_events: late - before.late });

  const emitWindow = async () => {
    if (windowIndex === undefined || builder.empty) return;
    const start = windowIndex * windowNs!;
    const g = builder.snapshot({ top, minRequests, window: { start_ns: start.toString(), end_ns: (start + windowNs!).toString() }, extraCounts: counts() });
    out.line(JSON.stringify(g));
    snapshots++;
    await out.drained();
  };

  // under --strict the first bad line ends the reading; the graph of the events before it is still written,
  // as on SIGINT, and every stage writes what was complete before the damage (ADR 0008)
  let fatal: unknown;
  try {
    for await (const line of readLines(files, input, { signal: stop.inputSignal(files) })) {
      if (out.closed) break;
      if (line.oversized) {
        try {
          bad.name(lineWhere(line), `line longer than ${DEFAULT_MAX_LINE_BYTES} bytes`);
        } catch (e) {
          fatal = e;
          break;
        }
        continue;
      }
      const { event, error } = parseEventLine(line.text);
      if (!event) {
        try {
          bad.report(lineWhere(line), error);
        } catch (e) {
          fatal = e;
          break;
        }
        continue;
      }
      if (windowNs !== undefined) {
        const start = startNsOf(event);
        if (start !== undefined) {
          const idx = start / windowNs;
          if (windowIndex === undefined) windowIndex = idx;
          else if (idx > windowIndex) {
            await emitWindow();
            addTotals(builder);
            builder = newBuilder();
            before = { bad: bad.count, oversized: input.oversized, late };
            windowIndex = idx;
          } else if (idx < windowIndex) late++;
        }
      }
      builder.add(event);
    }
  } catch (err) {
    if (err instanceof InputError) throw new UserError(err.message);
    throw err;
  }

  if (windowNs !== undefined) await emitWindow();
  else {
    const text = render(builder.snapshot({ top, minRequests, extraCounts: counts() }), opts.format);
    out.line(text.endsWith('\n') ? text.slice(0, -1) : text);
  }
  await out.end();
  if (fatal) throw fatal;

  addTotals(builder);
  const c = totals;
  const stats = {
    lines: input.lines,
    events: c.events,
    bad_lines: bad.count,
    oversized_lines: input.oversized,
    without_addresses: c.no_address,
    dropped_address_limit: c.dropped_address_limit,
    dropped_edge_limit: c.dropped_edge_limit,
    mirror_views: c.mirror_views,
    names_evicted: names.evicted,
    cut_identifiers: cutIdentifiers + names.identifiers.cut,
    snapshots,
    late_events: late,
  };
  if (opts.stats) process.stderr.write(formatStats({ graph: stats }));
  else if (bad.count || input.oversized || c.dropped_address_limit || c.dropped_edge_limit) {
    process.stderr.write(`${PROG}: ${bad.count} bad lines, ${input.oversized} oversized, ${c.dropped_address_limit + c.dropped_edge_limit} events dropped at limits (see --stats)\n`);
  }
  return 0;
}

export async function main(argv: string[] = process.argv): Promise<void> {
  const program = new Command(PROG)
    .description('Build the service graph (who talks to whom, per protocol, with the PII types that crossed) from pano events')
    .version(VERSION)
    .argument('[files...]', 'NDJSON event files (default: stdin; "-" is stdin)')
    .addOption(new Option('-f, --format <format>', 'output format').choices(['json', 'dot', 'mermaid', 'html']).default('json'))
    .option('--window <duration>', 'emit one JSON snapshot per window of event time, as NDJSON (e.g. 1m)')
    .option('--top <n>', 'keep the N edges with the most requests')
    .option('--min-requests <n>', 'keep edges with at least N requests')
    .option('--max-nodes <n>', 'most addresses tracked (beyond: events counted and left out)', '10000')
    .option('--max-edges <n>', 'most edges tracked (beyond: events counted and left out)', '50000')
    .option('--max-names <n>', 'most addresses in the DNS name cache', '100000')
    .option('--name-ttl <duration>', 'how long a DNS answer names its address (stream time)', '1h')
    .option('--strict', 'a bad input line is fatal')
    .option('--stats', 'print the counters on stderr at exit')
    .addHelpText('after', EXAMPLES)
    .action(async (files: string[], opts: Opts) => {
      await runMain(PROG, () => run(files, opts));
    });
  await oneLineUsageErrors(program, PROG).parseAsync(argv);
}
