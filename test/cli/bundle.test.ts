// The bundled commands (scripts/bundle.mjs, ADR 0012) against the unbundled
// build they are made from: same output, byte for byte, for every command,
// with the paths their modules build from import.meta (bpf objects, the PII
// model, the parse worker, createRequire'd packages) still found; and bin/'s
// choice of a bundle only while it is up to date. Needs the build (`npx tsc -b`,
// as `npm test` does first): the unbundled side is packages/*/dist.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PROCESSES, mapLimit } from '../helpers/parallel.js';

const ROOT = resolve(import.meta.dirname, '../..');
// inside the repository, so that the packages left external resolve from node_modules as from dist/
mkdirSync(join(ROOT, '.tmp'), { recursive: true });
const work = mkdtempSync(join(ROOT, '.tmp', 'bundle-test-'));
const out = join(work, 'dist');
const built = spawnSync(process.execPath, [join(ROOT, 'scripts/bundle.mjs'), out], { encoding: 'utf8', cwd: ROOT });
// runs a bundle's main() with process.argv as bin/ gives it
const driver = join(work, 'run.mjs');
writeFileSync(driver, "const m = await import(new URL(`./dist/${process.env.PANO_BUNDLE_CMD}.js`, import.meta.url).href);\nawait m.main();\n");

after(() => rmSync(work, { recursive: true, force: true }));

interface Run {
  status: number | null;
  stdout: Buffer;
  stderr: string;
}

function run(argv: string[], env: Record<string, string>, input = ''): Promise<Run> {
  // no --conditions=source: both sides are built code
  const child = spawn(process.execPath, argv, { cwd: ROOT, env: { ...process.env, ...env } });
  const chunks: Buffer[] = [];
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => chunks.push(d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdin.on('error', () => {});
  child.stdin.end(input);
  return new Promise((res, rej) => {
    child.on('error', rej);
    child.on('close', (status) => res({ status, stdout: Buffer.concat(chunks), stderr }));
  });
}
const unbundled = (cmd: string, args: string[], input?: string) => run([join(ROOT, 'bin', cmd), ...args], { PANO_NO_BUNDLE: '1' }, input);
const bundled = (cmd: string, args: string[], input?: string) => run([driver, ...args], { PANO_BUNDLE_CMD: cmd }, input);

async function same(cmd: string, args: string[], input?: string): Promise<Run> {
  const [a, b] = await Promise.all([unbundled(cmd, args, input), bundled(cmd, args, input)]);
  const what = `${cmd} ${args.join(' ')}`;
  assert.equal(b.status, a.status, `${what}: exit status; bundled stderr: ${b.stderr}`);
  assert.equal(b.stderr, a.stderr, `${what}: standard error`);
  assert.ok(b.stdout.equals(a.stdout), `${what}: standard output differs (${b.stdout.length} bytes bundled, ${a.stdout.length} unbundled)`);
  return a;
}

test('the bundle builds from the compiled packages', () => {
  assert.equal(built.status, 0, built.stderr);
});

test('every command, bundled, prints the same help and version as unbuilt', async () => {
  const cases: Array<[string, string[]]> = [];
  for (const cmd of ['pano-parse', 'pano-pii', 'pano-graph', 'pano-export', 'pano-capture']) cases.push([cmd, ['--help']], [cmd, ['--version']]);
  await mapLimit(cases, PROCESSES, ([cmd, args]) => same(cmd, args));
});

test('pano-parse bundled gives the same events, in one thread and with the bundled worker threads', async () => {
  const captures = [join(ROOT, 'test/fixtures/sample-http.pcapng'), '/work/shared/corpus/dns/tcpdump-dns_udp.pcap', '/work/shared/corpus/dns/deepflow-dns-tcp-multi.pcap'];
  const cases = captures.flatMap((c) => [[c], ['-w', '2', c], ['--stats', c]]);
  await mapLimit(cases, PROCESSES, async (args) => {
    const r = await same('pano-parse', args);
    assert.equal(r.status, 0, r.stderr);
    if (!args.includes('--stats')) assert.ok(r.stdout.length > 0, `${args.join(' ')}: no events`);
  });
});

test('pano-pii (rules and the built-in model), pano-graph (HTML with cytoscape) and pano-export give the same output bundled', async () => {
  const events = (await unbundled('pano-parse', [join(ROOT, 'test/fixtures/sample-http.pcapng')])).stdout.toString();
  assert.ok(events.length > 0);
  const cases: Array<[string, string[]]> = [
    ['pano-pii', ['--redact', 'mask']],
    ['pano-pii', ['--model', 'builtin', '--stats']],
    ['pano-graph', ['-f', 'html']],
    ['pano-graph', ['-f', 'dot', '--stats']],
    ['pano-export', ['--tee', '--stats']],
  ];
  await mapLimit(cases, PROCESSES, async ([cmd, args]) => {
    const r = await same(cmd, args, events);
    assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
    assert.ok(r.stdout.length > 0);
  });
});

test('paths the bundled modules build from import.meta are those of the compiled packages', async () => {
  const probe = `
    const [b, d] = await Promise.all([import(${JSON.stringify(pathToFileURL(join(out, 'pano-capture.js')).href)}), import('@panopticon/capture')]);
    const [bp, dp] = await Promise.all([import(${JSON.stringify(pathToFileURL(join(out, 'pano-pii.js')).href)}), import('@panopticon/pii')]);
    console.log(JSON.stringify([[b.OBJECT_PATH, b.TLS_OBJECT_PATH, bp.BUILTIN_MODEL, bp.LEXICON_FILE, bp.CLUSTERS_FILE], [d.OBJECT_PATH, d.TLS_OBJECT_PATH, dp.BUILTIN_MODEL, dp.LEXICON_FILE, dp.CLUSTERS_FILE]]));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', probe], { encoding: 'utf8', cwd: ROOT });
  assert.equal(r.status, 0, r.stderr);
  const [b, d] = JSON.parse(r.stdout) as [string[], string[]];
  assert.ok(d.every((p) => p.startsWith(ROOT + '/')), d.join(' '));
  assert.deepEqual(b, d);
});

test('bin/ takes a bundle only while the packages and node_modules it was built from are unchanged', async () => {
  const { freshBundle } = (await import(pathToFileURL(join(ROOT, 'bin/lib/bundled.js')).href)) as { freshBundle(command: string, root?: string): string | null };
  const root = join(work, 'root');
  mkdirSync(join(root, 'dist'), { recursive: true });
  mkdirSync(join(root, 'packages/parse/dist'), { recursive: true });
  const info = join(root, 'packages/parse/dist/.tsbuildinfo');
  writeFileSync(info, '{}');
  utimesSync(info, 1000, 1000);
  const manifest = (stamps: Record<string, number>, commands = ['pano-parse']) => writeFileSync(join(root, 'dist/bundle.json'), JSON.stringify({ commands, stamps }));

  assert.equal(freshBundle('pano-parse', root), null, 'no bundle.json');
  manifest({ 'packages/parse/dist/.tsbuildinfo': 1000 * 1000 });
  assert.equal(freshBundle('pano-parse', root), pathToFileURL(join(root, 'dist/pano-parse.js')).href);
  assert.equal(freshBundle('pano-pii', root), null, 'a command the bundle lacks');
  utimesSync(info, 1001, 1001);
  assert.equal(freshBundle('pano-parse', root), null, 'a package rebuilt since');
  manifest({ 'packages/parse/dist/.tsbuildinfo': 1001 * 1000, 'node_modules/.package-lock.json': 5 });
  assert.equal(freshBundle('pano-parse', root), null, 'node_modules gone or reinstalled');
  manifest({ 'packages/parse/dist/.tsbuildinfo': 1001 * 1000 });
  assert.equal(freshBundle('pano-parse', root), pathToFileURL(join(root, 'dist/pano-parse.js')).href);
});
