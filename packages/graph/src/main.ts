/** pano-graph: events in, service graph out. Wiring only; the work is in GraphBuilder and the renderers. */
import { Command, Option } from 'commander';
import { GraphBuilder } from './graph-builder.js';
import { NameCache } from './name-cache.js';
import { readLines, parseEventLine, InputError, type InputCounters } from './ndjson-input.js';
import { parseCount, parseDuration } from './duration.js';
import { abortOnSignals, fail, quietOnEpipe, writeAll } from './stage-io.js';
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
    .option('--stats', 'always print the counts on stderr at exit')
    .addHelpText('after', EXAMPLES)
    .showHelpAfterError();
  program.parse(argv);
  const opts = program.opts<Opts>();
  const files = program.args;

  let windowNs: bigint | undefined;
  let top: number | undefined;
  let minRequests: number | undefined;
  let limits: { maxAddresses: number; maxEdges: number; maxNames: number; ttl: bigint };
  try {
    if (opts.window !== undefined) windowNs = parseDuration(opts.window);
    if (opts.top !== undefined) top = parseCount('--top', opts.top, 1);
    if (opts.minRequests !== undefined) minRequests = parseCount('--min-requests', opts.minRequests, 1);
    limits = {
      maxAddresses: parseCount('--max-nodes', opts.maxNodes, 2),
      maxEdges: parseCount('--max-edges', opts.maxEdges, 1),
      maxNames: parseCount('--max-names', opts.maxNames, 1),
      ttl: parseDuration(opts.nameTtl),
    };
  } catch (err) {
    fail(PROG, (err as Error).message, 2);
  }
  if (windowNs !== undefined && opts.format !== 'json') fail(PROG, '--window writes NDJSON snapshots; it needs --format json', 2);

  quietOnEpipe();
  const ac = abortOnSignals();
  const input: InputCounters = { lines: 0, bytes: 0, oversized: 0, unterminated: 0 };
  let badLines = 0;
  const names = new NameCache({ ttlNs: limits.ttl, maxAddresses: limits.maxNames });
  const newBuilder = () => new GraphBuilder({ maxAddresses: limits.maxAddresses, maxEdges: limits.maxEdges, nameCache: names });
  let builder = newBuilder();
  let windowIndex: bigint | undefined;
  let late = 0;
  let snapshots = 0;
  const counts = () => ({ bad_lines: badLines, oversized_lines: input.oversized, late_events: late });

  const emitWindow = async () => {
    if (windowIndex === undefined || builder.empty) return;
    const start = windowIndex * windowNs!;
    const g = builder.snapshot({ top, minRequests, window: { start_ns: start.toString(), end_ns: (start + windowNs!).toString() }, extraCounts: counts() });
    await writeAll(process.stdout, JSON.stringify(g) + '\n');
    snapshots++;
  };

  try {
    for await (const line of readLines(files, input, { signal: ac.signal })) {
      const { event, error } = parseEventLine(line.text);
      if (!event) {
        badLines++;
        const where = `${line.source === '-' ? 'stdin' : line.source}:${line.lineNo}`;
        if (opts.strict) fail(PROG, `${where}: ${error}`);
        if (badLines === 1) process.stderr.write(`${PROG}: ${where}: ${error} (skipped; further bad lines are counted)\n`);
        continue;
      }
      if (windowNs !== undefined) {
        const start = startNsOf(event);
        if (start !== undefined) {
          const idx = start / windowNs;
          if (windowIndex === undefined) windowIndex = idx;
          else if (idx > windowIndex) {
            await emitWindow();
            builder = newBuilder();
            windowIndex = idx;
          } else if (idx < windowIndex) late++;
        }
      }
      builder.add(event);
    }
  } catch (err) {
    if (err instanceof InputError) fail(PROG, err.message);
    throw err;
  }

  if (windowNs !== undefined) await emitWindow();
  else await writeAll(process.stdout, render(builder.snapshot({ top, minRequests, extraCounts: counts() }), opts.format));

  const c = builder.counters;
  const dropped = c.dropped_address_limit + c.dropped_edge_limit;
  if (opts.stats || badLines || input.oversized || dropped || c.no_address) {
    process.stderr.write(
      `${PROG}: ${input.lines} lines, ${badLines} bad, ${input.oversized} oversized, ${c.no_address} without addresses, ` +
        `${dropped} dropped at limits, ${names.evicted} names evicted${windowNs !== undefined ? `, ${snapshots} snapshots, ${late} late` : ''}\n`,
    );
  }
}
