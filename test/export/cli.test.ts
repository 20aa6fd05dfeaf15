// pano-export as a command: --tee into a closed pipe, bad input, option errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { httpEv, ROOT, runExport } from './fixtures.js';

const entry = [process.execPath, '--conditions=source', '--import', 'tsx', resolve(ROOT, 'packages/export/src/cli-entry.ts')];

test('--tee into | head -1 ends quietly with status 0', () => {
  const lines = [];
  for (let i = 0; i < 20000; i++) lines.push(JSON.stringify(httpEv(`${i}-1`, 'GET', 200, 1000)));
  const r = spawnSync('bash', ['-c', `set -o pipefail; ${[...entry, '--tee'].map((a) => `'${a}'`).join(' ')} | head -1`], { cwd: ROOT, input: lines.join('\n') + '\n', encoding: 'utf8', maxBuffer: 1 << 26 });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, lines[0] + '\n');
  assert.equal(r.stderr, '');
});

test('--tee into | head -1 with --jsonl: the archive still gets every event', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pano-export-tee-'));
  try {
    const archive = join(dir, 'all.jsonl');
    const lines = [];
    for (let i = 0; i < 20000; i++) lines.push(JSON.stringify(httpEv(`${i}-1`, 'GET', 200, 1000)));
    const r = spawnSync('bash', ['-c', `set -o pipefail; ${[...entry, '--jsonl', archive, '--tee'].map((a) => `'${a}'`).join(' ')} | head -1`], { cwd: ROOT, input: lines.join('\n') + '\n', encoding: 'utf8', maxBuffer: 1 << 26 });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, lines[0] + '\n');
    // the archive stopped where the copy's reader left (a few thousand lines) until this was fixed
    assert.equal(readFileSync(archive, 'utf8'), lines.join('\n') + '\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--tee passes lines byte for byte; bad lines are skipped, counted and named; --strict is fatal', async () => {
  const good = '{"pano":{"v":1,"id":"1-1","kind":"exchange","protocol":"http","start_ns":"1","end_ns":"2","duration_ns":1.0}}';
  const run = runExport(['--tee', '--stats']);
  run.child.stdin.end(`${good}\nnot json\n${good}\n[1]\n`);
  assert.equal(await run.exited, 0);
  assert.equal(run.stdout(), `${good}\n${good}\n`, 'not re-serialised: 1.0 stays 1.0');
  assert.match(run.stderr(), /^pano-export: stdin:2: not JSON .*; line skipped$/m);
  assert.match(run.stderr(), /^pano-export: stdin:4: not a JSON object; line skipped$/m);
  assert.match(run.stderr(), /^export\.bad_lines 2$/m);
  const strict = runExport(['--tee', '--strict']);
  strict.child.stdin.end(`${good}\nnot json\n`);
  assert.equal(await strict.exited, 2);
  assert.match(strict.stderr(), /^pano-export: stdin:2: not JSON .*\n$/);
  // the line passed on before the bad one is not lost with the run
  assert.equal(strict.stdout(), `${good}\n`);
});

test('option and setup errors are one line', () => {
  const run = (args: string[]) => spawnSync(entry[0]!, [...entry.slice(1), ...args], { cwd: ROOT, input: '', encoding: 'utf8' });
  const cases: Array<[string[], RegExp]> = [
    [[], /^pano-export: nothing to do: give at least one of --jsonl, --prometheus, --otlp, --audit, --tee\n$/],
    [['--jsonl', '/nonexistent/dir/x.jsonl'], /^pano-export: --jsonl \/nonexistent\/dir\/x.jsonl: no such file or directory\n$/],
    [['--otlp', 'ftp://x'], /^pano-export: --otlp: URL "ftp:\/\/x" is not http or https\n$/],
    [['--prometheus', 'nope'], /^pano-export: --prometheus: invalid listen address "nope"/],
    [['--tee', '--rotate', '1M'], /^pano-export: --rotate needs --jsonl\n$/],
    [['--bogus'], /^pano-export: unknown option '--bogus'\n$/],
    [['--jsonl'], /^pano-export: option '--jsonl <file>' argument missing\n$/],
  ];
  for (const [args, re] of cases) {
    const r = run(args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
  }
});

test('heavy sinks load only when asked for: a --jsonl run does not import the OTLP exporter, prom-client or the PII scanner', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pano-export-loads-'));
  // a resolve hook that logs every module URL the command imports
  const hook = join(dir, 'hook.mjs');
  const log = join(dir, 'loaded.txt');
  writeFileSync(
    hook,
    `import { register } from 'node:module';\nregister('data:text/javascript,' + encodeURIComponent(${JSON.stringify(
      `import { appendFileSync } from 'node:fs';\nexport async function resolve(s, c, n) { const r = await n(s, c); appendFileSync(${JSON.stringify(log)}, r.url + '\\n'); return r; }`,
    )}));\n`,
  );
  const loaded = (args: string[]): string => {
    writeFileSync(log, '');
    const r = spawnSync(entry[0]!, ['--import', hook, ...entry.slice(1), ...args], { cwd: ROOT, input: JSON.stringify(httpEv('1-1', 'GET', 200, 1000)) + '\n', encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return readFileSync(log, 'utf8');
  };
  const heavy = /@opentelemetry\/exporter-trace-otlp-proto|\/prom-client\/|\/packages\/pii\//;
  const jsonl = loaded(['--jsonl', join(dir, 'out.jsonl')]);
  assert.ok(jsonl.includes('/packages/export/'), 'the hook sees the command load');
  assert.doesNotMatch(jsonl, heavy);
  assert.match(loaded(['--jsonl', join(dir, 'out2.jsonl'), '--audit', join(dir, 'audit.log')]), /\/packages\/pii\//);
  assert.match(loaded(['--otlp', 'http://127.0.0.1:9/v1/traces', '--otlp-flush-timeout', '100']), /@opentelemetry\/exporter-trace-otlp-proto/);
  rmSync(dir, { recursive: true, force: true });
});
