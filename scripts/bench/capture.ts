/**
 * Capture overhead: loopback HTTP load (wrk against nginx, both inside a
 * network namespace made for the run, so nobody else's traffic is in it),
 * measured without capture, with `tcpdump -w /dev/null`, and with
 * `pano-capture > /dev/null` (ring buffer and perf event array), rounds
 * interleaved in the same run. Prints request rates, ratios against the
 * uncaptured run and against tcpdump, and the drop counts each capture
 * reported. Needs root, wrk, nginx and tcpdump.
 *
 *   node --import tsx --conditions=source scripts/bench/capture.ts [seconds-per-run] [rounds]
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const SECONDS = Number(process.argv[2] ?? 5);
const ROUNDS = Number(process.argv[3] ?? 3);
const CONNECTIONS = 32;
const ROOT = resolve(import.meta.dirname, '../..');
const NS = `pano-bench-${process.pid}`;
const PORT = 18090;

function run(cmd: string[], allowFail = false): string {
  const r = spawnSync(cmd[0], cmd.slice(1), { encoding: 'utf8' });
  if (r.status !== 0 && !allowFail) throw new Error(`${cmd.join(' ')}: ${r.stderr.trim()}`);
  return r.stdout + r.stderr;
}

function inNs(cmd: string[]): string[] {
  return ['ip', 'netns', 'exec', NS, ...cmd];
}

async function waitStderr(child: ChildProcess, re: RegExp): Promise<() => string> {
  let text = '';
  child.stderr!.on('data', (d) => (text += d));
  await new Promise<void>((res, rej) => {
    const t = setInterval(() => {
      if (re.test(text)) {
        clearInterval(t);
        res();
      }
    }, 20);
    child.once('exit', (c) => {
      clearInterval(t);
      rej(new Error(`exited ${c}: ${text}`));
    });
  });
  return () => text;
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', () => r()));
}

function wrk(): number {
  const out = run(inNs(['wrk', '-t', '2', '-c', String(CONNECTIONS), '-d', `${SECONDS}s`, `http://127.0.0.1:${PORT}/`]));
  const m = /Requests\/sec:\s+([\d.]+)/.exec(out);
  if (!m) throw new Error(`wrk output not understood: ${out}`);
  return Number(m[1]);
}

interface Config {
  name: string;
  start?: () => Promise<{ child: ChildProcess; stderr: () => string }>;
  drops: (stderr: string) => number;
}

const nullFd = () => openSync('/dev/null', 'w');

const configs: Config[] = [
  { name: 'no capture', drops: () => 0 },
  {
    name: 'tcpdump -w /dev/null',
    start: async () => {
      const child = spawn('ip', ['netns', 'exec', NS, 'tcpdump', '-i', 'lo', '-n', '-Z', 'root', '-w', '/dev/null'], { stdio: ['ignore', 'ignore', 'pipe'] });
      return { child, stderr: await waitStderr(child, /listening on/) };
    },
    drops: (s) => Number(/(\d+) packets dropped by kernel/.exec(s)?.[1] ?? NaN),
  },
  ...(['ringbuf', 'perf'] as const).map((buffer) => ({
    name: `pano-capture --buffer ${buffer} > /dev/null`,
    start: async () => {
      const child = spawn('ip', ['netns', 'exec', NS, process.execPath, join(ROOT, 'bin/pano-capture'), '-i', 'lo', '--buffer', buffer], {
        stdio: ['ignore', nullFd(), 'pipe'],
      });
      return { child, stderr: await waitStderr(child, /capturing on/) };
    },
    drops: (s: string) => Number(/, (\d+) lost,/.exec(s)?.[1] ?? NaN),
  })),
];

async function main(): Promise<void> {
  for (const tool of ['wrk', 'nginx', 'tcpdump']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
      console.log(`capture bench skipped: ${tool} is not installed`);
      return;
    }
  }
  if (process.getuid?.() !== 0) {
    console.log('capture bench skipped: needs root');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'pano-bench-capture-'));
  writeFileSync(
    join(dir, 'nginx.conf'),
    `worker_processes 1; daemon off; pid ${dir}/nginx.pid; error_log ${dir}/error.log;
events { worker_connections 4096; }
http { access_log off; client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
  server { listen 127.0.0.1:${PORT}; location / { default_type text/plain; return 200 "hello from the capture benchmark\\n"; } } }
`,
  );
  run(['ip', 'netns', 'add', NS]);
  let nginx: ChildProcess | undefined;
  try {
    run(inNs(['ip', 'link', 'set', 'lo', 'up']));
    nginx = spawn('ip', ['netns', 'exec', NS, 'nginx', '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 500));
    run(inNs(['curl', '-sf', `http://127.0.0.1:${PORT}/`]));
    const rates = new Map<string, number[]>(configs.map((c) => [c.name, []]));
    const drops = new Map<string, number[]>(configs.map((c) => [c.name, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const c of configs) {
        const started = c.start ? await c.start() : undefined;
        const rate = wrk();
        if (started) {
          started.child.kill('SIGINT');
          await exited(started.child);
          drops.get(c.name)!.push(c.drops(started.stderr()));
        }
        rates.get(c.name)!.push(rate);
      }
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const base = median(rates.get('no capture')!);
    const tcpdump = median(rates.get('tcpdump -w /dev/null')!);
    console.log(`loopback HTTP/1.1 keep-alive load: wrk -t2 -c${CONNECTIONS}, ${SECONDS}s per run, ${ROUNDS} interleaved rounds, medians`);
    console.log('configuration'.padEnd(40), 'req/s'.padStart(10), 'vs none'.padStart(8), 'vs tcpdump'.padStart(11), '  drops per run');
    for (const c of configs) {
      const r = median(rates.get(c.name)!);
      console.log(
        c.name.padEnd(40),
        r.toFixed(0).padStart(10),
        (r / base).toFixed(3).padStart(8),
        (r / tcpdump).toFixed(3).padStart(11),
        ' ',
        c.start ? drops.get(c.name)!.join(', ') : '-',
      );
    }
  } finally {
    nginx?.kill('SIGTERM');
    if (nginx) await exited(nginx);
    run(['ip', 'netns', 'del', NS], true);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
