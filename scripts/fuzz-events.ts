/**
 * Longer runs of the structural event fuzzing in test/pii/fuzz-events.test.ts:
 * N mutants of the events pano-parse makes of the corpus captures (optionally
 * those whose path contains FILTER), each rebuilt from SEED and its index
 * alone (test/helpers/event-mutants.ts). Two passes:
 *
 * - in-process (test/helpers/event-stages.ts): every mutant through pano-pii
 *   (no redaction, each --redact mode, --audit; --model builtin on every
 *   tenth), then the mutant and pano-pii's outputs through pano-graph and
 *   pano-export, spans sent to a local OTLP receiver. A worker runs them, so
 *   a mutant that takes over 5 s is named and the run goes on past it.
 * - the built commands (bin/ on the dist/ bundle: `npm run build` first) over the whole batch
 *   as one NDJSON file: each pano-pii mode, verify-audit of its log, every
 *   pano-graph format (DOT through `dot -Tsvg`) and --window, pano-export
 *   with --jsonl, --tee, --audit, --otlp and --prometheus (scraped); the
 *   last two on the mutants and on pano-pii's output without redaction.
 *
 * Prints each problem with the seed and the mutant's index (the line number,
 * in the batch); exits 1 if any.
 *
 *   node --import tsx --conditions=source scripts/fuzz-events.ts [SEED] [N] [FILTER]
 */
import { fork, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { corpusFiles } from '../test/helpers/corpus.js';
import { corpusEvents, mutateEvent, rng, type EventMutant } from '../test/helpers/event-mutants.js';

const HANG_MS = 5000;
/** One mutant in this many also goes through pano-pii --model builtin. */
const MODEL_EVERY = 10;
const ROOT = resolve(import.meta.dirname, '..');

interface Args {
  seed: number;
  n: number;
  filter: string;
}

/** The mutants of a run: the i-th from its own generator, so SEED and i rebuild it with any N. */
function mutants(a: Args): EventMutant[] {
  const events = corpusEvents(corpusFiles().filter((f) => f.includes(a.filter)));
  if (events.length === 0) throw new Error(`no events in the captures matching "${a.filter}"`);
  const out: EventMutant[] = [];
  for (let i = 0; i < a.n; i++) {
    const rand = rng(Math.imul(a.seed ^ 0x9e3779b9, 0x85ebca6b) ^ i);
    const base = events[Math.floor(rand() * events.length)]!;
    const donor = events[Math.floor(rand() * events.length)]!;
    out.push(mutateEvent(base, donor, rand, { plant: rand() < 0.5 }));
  }
  return out;
}

/** The child: runs mutants `from`.. in-process and reports each start and problem. */
async function childMain(a: Args & { from: number; otlpUrl: string }): Promise<void> {
  const send = (m: object) => new Promise<void>((r) => process.send!(m, () => r()));
  const { EventStages } = await import('../test/helpers/event-stages.js');
  const { OnnxSpanModel, BUILTIN_MODEL } = await import('@panopticon/pii');
  const all = mutants(a);
  const stages = new EventStages({ model: await OnnxSpanModel.load(BUILTIN_MODEL), otlpUrl: a.otlpUrl });
  for (let i = a.from; i < all.length; i++) {
    await send({ start: i });
    for (const p of await stages.run(all[i]!, { model: i % MODEL_EVERY === 0 })) await send({ problem: `${p} [mutant ${i}: ${all[i]!.ops.join('; ')}]` });
  }
  // closing (the spans flushed, the audit logs verified) is not a mutant's time
  await send({ closing: true });
  for (const p of await stages.close()) await send({ problem: p });
  await send({ done: stages.badLines });
  process.disconnect();
}

let problems = 0;
const report = (what: string) => {
  problems++;
  console.log(what.length > 1500 ? what.slice(0, 1500) + '…' : what);
};

/** The in-process pass, restarted past a mutant that hangs. */
async function inProcess(a: Args, otlpUrl: string): Promise<void> {
  let from = 0;
  while (from < a.n) {
    from = await new Promise<number>((done) => {
      const w = fork(import.meta.filename, ['--child', JSON.stringify({ ...a, from, otlpUrl })], { execArgv: process.execArgv });
      let current = -1;
      let timer: NodeJS.Timeout | undefined;
      w.on('message', (m: { start?: number; problem?: string; done?: number; closing?: true }) => {
        if (m.closing) clearTimeout(timer);
        else if (m.start !== undefined) {
          current = m.start;
          clearTimeout(timer);
          timer = setTimeout(() => {
            report(`HANG seed ${a.seed} mutant ${current}: over ${HANG_MS} ms in-process`);
            w.kill('SIGKILL');
            done(current + 1);
          }, HANG_MS);
        } else if (m.problem) report(`seed ${a.seed}: ${m.problem}`);
        else if (m.done !== undefined) {
          clearTimeout(timer);
          console.log(`in-process: ${a.n} mutants (${m.done} not a JSON object)`);
        }
      });
      let finished = false;
      w.on('message', (m: { done?: number }) => void (finished ||= m.done !== undefined));
      w.on('exit', (code, signal) => {
        clearTimeout(timer);
        if (finished || signal === 'SIGKILL') return done(finished ? a.n : current + 1);
        // died of a mutant (out of memory, a native crash): named, and the run goes on past it; before the first, ends
        report(`CRASH seed ${a.seed} mutant ${current}: the in-process run exited with ${signal ?? `status ${code}`}`);
        done(current < 0 ? a.n : current + 1);
      });
    });
  }
}

/** stderr lines a command may write for this input: bad lines named, the counts, where it serves. */
const EXPECTED_STDERR = /^(?:pano-[a-z]+: (?:\S+:\d+: .*; line skipped(?:, and further bad lines only counted)?|\d+ bad lines?.*|serving metrics on \S+)|[a-z0-9_.]+ \d+)$/;

function checkRun(what: string, r: { status: number | null; signal: NodeJS.Signals | null; stderr: string; error?: Error }, ms: number, budgetMs: number): boolean {
  let ok = true;
  if (r.error || r.status !== 0) {
    report(`EXIT ${what}: ${r.error?.message ?? `status ${r.status}${r.signal ? ' ' + r.signal : ''}`}: ${r.stderr.split('\n').slice(0, 3).join(' | ')}`);
    ok = false;
  }
  const odd = r.stderr.split('\n').filter((l) => l && !EXPECTED_STDERR.test(l));
  if (odd.length) report(`STDERR ${what}: ${odd.slice(0, 3).join(' | ')}`);
  if (ms > budgetMs) report(`SLOW ${what}: ${ms.toFixed(0)} ms for the batch`);
  return ok;
}

function jsonLines(what: string, text: string, input: string[]): string[] {
  const lines = text.split('\n');
  if (lines.pop() !== '') report(`OUTPUT ${what}: the last line has no newline`);
  lines.forEach((l, k) => {
    try {
      const v = JSON.parse(l);
      if (v === null || typeof v !== 'object' || Array.isArray(v)) report(`OUTPUT ${what}: line ${k + 1} is not a JSON object`);
    } catch {
      report(`OUTPUT ${what}: line ${k + 1} is not JSON: ${l.slice(0, 200)}`);
    }
  });
  void input;
  return lines;
}

/** Runs a built command over the batch file. */
function cli(cmd: string, args: string[], budgetMs: number) {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', cmd), ...args], { encoding: 'utf8', maxBuffer: 1 << 30, timeout: budgetMs * 4 });
  const ms = performance.now() - t0;
  return { r, ms };
}

async function batch(a: Args, all: EventMutant[], receiver: { url: string; spans: unknown[] }): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'pano-fuzz-events-cli-'));
  try {
    const file = join(dir, 'mutants.jsonl');
    writeFileSync(file, all.map((m) => m.line + '\n').join(''));
    const key = join(dir, 'key');
    writeFileSync(key, Buffer.alloc(32, 9), { mode: 0o600 });
    const budget = Math.max(30_000, a.n * 40);
    const outputs: string[] = [];
    for (const mode of [[], ['--redact', 'mask', '--key-file', key], ['--redact', 'hash', '--key-file', key], ['--redact', 'drop', '--key-file', key], ['--audit', join(dir, 'pii-audit.log'), '--checkpoint-every', '100']]) {
      const what = `seed ${a.seed}: pano-pii ${mode.join(' ').replace(dir, '$TMP')}`;
      const { r, ms } = cli('pano-pii', [...mode, '--stats', file], budget);
      if (!checkRun(what, r, ms, budget)) continue;
      const lines = jsonLines(what, r.stdout, []);
      // every line is an event out or a bad line (not an object, over-long, too deep to write out)
      const badLines = Number(/^pii\.bad_lines (\d+)$/m.exec(r.stderr)?.[1] ?? 0);
      if (lines.length + badLines !== all.length) report(`OUTPUT ${what}: ${lines.length} events out and ${badLines} bad lines of ${all.length} lines in`);
      // the events out, by mutant: the bad lines are named while there are at most ten
      const skipped = new Set([...r.stderr.matchAll(/^pano-pii: \S+:(\d+): .*; line skipped/gm)].map((x) => Number(x[1]) - 1));
      const out = all.map((_, i) => i).filter((i) => !skipped.has(i));
      if (mode[0] === '--redact' && skipped.size === badLines) {
        lines.forEach((l, k) => {
          const m = all[out[k]!];
          if (!m?.planted || !l.includes(m.planted.value)) return;
          const pii = (JSON.parse(l) as { pii?: unknown }).pii;
          const p = m.planted;
          if (Array.isArray(pii) && pii.some((f) => f?.type === p.type && typeof f.path === 'string' && (f.path === p.path || f.path.startsWith(p.path + '$')))) {
            report(`LEAK ${what}: mutant ${out[k]}: planted ${p.type} at ${p.path} annotated but still in the output`);
          }
        });
      }
      outputs.push(r.stdout);
    }
    const v = spawnSync(process.execPath, [join(ROOT, 'bin', 'pano-pii'), 'verify-audit', join(dir, 'pii-audit.log')], { encoding: 'utf8' });
    if (v.status !== 0) report(`AUDIT seed ${a.seed}: pano-pii verify-audit: ${v.stderr.trim()}`);
    // --model builtin on every tenth mutant
    const some = join(dir, 'some.jsonl');
    writeFileSync(some, all.filter((_, i) => i % MODEL_EVERY === 0).map((m) => m.line + '\n').join(''));
    {
      const what = `seed ${a.seed}: pano-pii --model builtin (every ${MODEL_EVERY}th mutant)`;
      const { r, ms } = cli('pano-pii', ['--model', 'builtin', some], budget);
      if (checkRun(what, r, ms, budget)) jsonLines(what, r.stdout, []);
    }

    // pano-pii's output without redaction onwards: each mode's would take five times as long for little more
    const piiOut = join(dir, 'pii-out.jsonl');
    writeFileSync(piiOut, outputs[0] ?? '');
    for (const input of [file, piiOut]) {
      const name = input === file ? 'mutants' : "pano-pii's outputs";
      for (const format of ['json', 'dot', 'mermaid', 'html']) {
        const what = `seed ${a.seed}: pano-graph -f ${format} (${name})`;
        const { r, ms } = cli('pano-graph', ['-f', format, input], budget);
        if (!checkRun(what, r, ms, budget)) continue;
        if (format === 'json') {
          try {
            JSON.parse(r.stdout);
          } catch (e) {
            report(`OUTPUT ${what}: not JSON (${(e as Error).message.slice(0, 100)})`);
          }
        } else if (format === 'dot') {
          // Graphviz is the oracle of the DOT grammar
          const d = spawnSync('dot', ['-Tsvg', '-o', '/dev/null'], { input: r.stdout, encoding: 'utf8' });
          if (d.status !== 0 || d.stderr.trim()) report(`OUTPUT ${what}: dot -Tsvg: ${d.stderr.split('\n').slice(0, 2).join(' | ')}`);
        } else if (format === 'html' && !/^<!doctype html>/i.test(r.stdout)) report(`OUTPUT ${what}: not an HTML page`);
      }
      const what = `seed ${a.seed}: pano-graph --window 1s (${name})`;
      const { r, ms } = cli('pano-graph', ['--window', '1s', input], budget);
      if (checkRun(what, r, ms, budget)) jsonLines(what, r.stdout, []);
      await exportRun(a, dir, input, name, receiver);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** pano-export with every sink over `input`: --tee and --jsonl copy each event line, the audit log verifies, spans arrive, /metrics answers. */
async function exportRun(a: Args, dir: string, input: string, name: string, receiver: { url: string; spans: unknown[] }): Promise<void> {
  const what = `seed ${a.seed}: pano-export --jsonl --tee --audit --otlp --prometheus (${name})`;
  const jsonl = join(dir, `export-${receiver.spans.length}.jsonl`);
  const audit = join(dir, `export-audit-${receiver.spans.length}.log`);
  const spansBefore = receiver.spans.length;
  const args = [join(ROOT, 'bin', 'pano-export'), '--jsonl', jsonl, '--tee', '--audit', audit, '--otlp', receiver.url, '--otlp-queue', '1000000', '--prometheus', '127.0.0.1:0', '--keep-serving', '--stats', input];
  const t0 = performance.now();
  const child = spawn(process.execPath, args);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<{ status: number | null; signal: NodeJS.Signals | null }>((r) => child.on('close', (status, signal) => r({ status, signal })));
  const lines = readFileSync(input, 'utf8').split('\n').filter((l) => l.trim());
  const events = lines.filter((l) => {
    try {
      const v = JSON.parse(l);
      return v !== null && typeof v === 'object' && !Array.isArray(v) && v.pano !== null && typeof v.pano === 'object';
    } catch {
      return false;
    }
  });
  // wait for the whole input to be read, then scrape
  let metricsStatus = 0;
  for (let t = 0; t < 1200; t++) {
    await new Promise((r) => setTimeout(r, 100));
    const url = /serving metrics on (\S+)\/metrics/.exec(stderr)?.[1];
    if (!url || child.exitCode !== null) {
      if (child.exitCode !== null) break;
      continue;
    }
    const state = (await (await fetch(`${url}/debug/state`)).json()) as { input: { lines: number } };
    if (state.input.lines < readFileSync(input, 'utf8').split('\n').length - 1) continue;
    const m = await fetch(`${url}/metrics`);
    metricsStatus = m.status;
    await m.text();
    break;
  }
  child.kill('SIGTERM');
  const r = await exited;
  const ms = performance.now() - t0;
  if (metricsStatus !== 200) report(`OUTPUT ${what}: /metrics answered ${metricsStatus || 'nothing'}`);
  if (!checkRun(what, { ...r, stderr }, ms, Math.max(30_000, a.n * 40))) return;
  const tee = stdout.split('\n').slice(0, -1);
  if (tee.length !== events.length || tee.some((l, k) => l !== events[k])) report(`OUTPUT ${what}: --tee wrote ${tee.length} lines for ${events.length} events, not each as it came`);
  if (readFileSync(jsonl, 'utf8') !== stdout) report(`OUTPUT ${what}: --jsonl differs from --tee`);
  const v = spawnSync(process.execPath, [join(ROOT, 'bin', 'pano-pii'), 'verify-audit', audit], { encoding: 'utf8' });
  if (v.status !== 0) report(`AUDIT ${what}: verify-audit: ${v.stderr.trim()}`);
  const stat = (k: string) => Number(new RegExp(`^${k.replace('.', '\\.')} (\\d+)$`, 'm').exec(stderr)?.[1] ?? 0);
  if (stat('otlp.failed') || stat('otlp.lost')) report(`OTLP ${what}: ${stat('otlp.failed')} spans failed, ${stat('otlp.lost')} lost`);
  if (receiver.spans.length - spansBefore !== stat('otlp.spans')) report(`OTLP ${what}: ${stat('otlp.spans')} spans made, ${receiver.spans.length - spansBefore} received`);
}

async function main(): Promise<void> {
  const a: Args = { seed: Number(process.argv[2] ?? 1), n: Number(process.argv[3] ?? 1000), filter: process.argv[4] ?? '' };
  const { receiver } = await import('../test/export/otlp-receiver.js');
  const rec = await receiver();
  const t0 = performance.now();
  await inProcess(a, rec.url);
  const t1 = performance.now();
  await batch(a, mutants(a), rec);
  rec.server.close();
  console.log(`seed ${a.seed}: ${a.n} mutants (in-process ${((t1 - t0) / 1000).toFixed(1)} s, commands ${((performance.now() - t1) / 1000).toFixed(1)} s): ${problems} problem(s)`);
  process.exitCode = problems ? 1 : 0;
}

if (process.argv[2] === '--child') await childMain(JSON.parse(process.argv[3]!));
else await main();
