#!/usr/bin/env node
// Bundles each command's compiled code (packages/*/dist, after `tsc -b`)
// with esbuild into dist/, so that a command starts by compiling a few ES
// modules instead of 50–250 (ADR 0012). bin/ runs a bundle only while none
// of its inputs is newer than it (bin/lib/bundled.js); otherwise it runs
// packages/*/dist as before.
//
//   node scripts/bundle.mjs [outdir]      (default: dist/ in the repository)
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFile } from 'node:fs/promises';
import * as esbuild from 'esbuild';

const root = resolve(import.meta.dirname, '..');
const outdir = resolve(process.argv[2] ?? join(root, 'dist'));

/** Output name → the module bin/ imports (as bin/ names it). */
const COMMANDS = {
  'pano-parse': '@panopticon/parse',
  'pano-pii': '@panopticon/pii',
  'pano-graph': '@panopticon/graph/main',
  'pano-export': '@panopticon/export/main',
  'pano-capture': '@panopticon/capture',
};

/**
 * Third-party packages compiled into the bundles: those every start of a
 * command loads. Everything else stays a package import, resolved from
 * node_modules when (and if) it is used: native modules (koffi,
 * onnxruntime-node), and what the code loads lazily for one option
 * (OpenTelemetry, prom-client, protobufjs, ajv, ...).
 */
const INLINE = new Set(['commander', 'chalk', 'libphonenumber-js']);

/**
 * Files whose `import.meta.url` must stay the bundle's own: sharded.js starts
 * its workers from `./shard-worker.js` beside it, which is the bundled worker
 * entry below. Every other file gets the URL of its compiled original, so
 * that paths it builds from it (bpf/ objects, the event schema, the PII
 * model, createRequire) still point where they did.
 */
const OWN_URL = new Set([join(root, 'packages/parse/dist/sharded.js')]);

const packageName = (spec) => spec.split('/').slice(0, spec.startsWith('@') ? 2 : 1).join('/');
const stage = `${outdir}.tmp-${process.pid}`;

const externals = new Set();
const plugin = {
  name: 'panopticon',
  setup(build) {
    build.onResolve({ filter: /^[^./]/ }, (args) => {
      // node: built-ins, our packages and package-internal `#imports` (chalk) resolve as esbuild does
      if (args.path.startsWith('node:') || args.path.startsWith('@panopticon/') || args.path.startsWith('#')) return undefined;
      const name = packageName(args.path);
      if (INLINE.has(name)) return undefined;
      externals.add(name);
      return { path: args.path, external: true };
    });
    build.onLoad({ filter: /[\\/]packages[\\/][^\\/]+[\\/]dist[\\/].*\.js$/ }, async (args) => {
      let code = await readFile(args.path, 'utf8');
      if (!OWN_URL.has(args.path) && code.includes('import.meta')) {
        // relative to the output directory, which every chunk is in (`chunkNames` has no directory)
        const fromOut = relative(outdir, args.path).split(sep).join('/');
        const url = `new URL(${JSON.stringify(fromOut)}, import.meta.url).href`;
        code = code
          .replaceAll('import.meta.url', url)
          .replaceAll('import.meta.dirname', `(import.meta.dirname + ${JSON.stringify('/' + dirname(fromOut))})`)
          .replaceAll('import.meta.filename', `(import.meta.dirname + ${JSON.stringify('/' + fromOut)})`);
        if (/import\.meta\.(?!url\b|dirname\b)/.test(code.replaceAll(`${url}`, ''))) {
          throw new Error(`${args.path}: uses import.meta beyond url/dirname/filename, which the bundle cannot relocate`);
        }
      }
      return { contents: code, loader: 'js' };
    });
  },
};

const entryPoints = Object.entries(COMMANDS).map(([out, spec]) => ({ out, in: fileURLToPath(import.meta.resolve(spec)) }));
entryPoints.push({ out: 'shard-worker', in: join(root, 'packages/parse/dist/shard-worker.js') });
for (const e of entryPoints) {
  if (!existsSync(e.in)) {
    console.error(`bundle: ${relative(root, e.in)} is missing: run \`npx tsc -b\` first`);
    process.exit(1);
  }
}

// What bin/lib/bundled.js checks (a stat each, where statting every input
// would cost 5-15 ms a start): the .tsbuildinfo that `tsc -b` rewrites after
// emitting any file of a package, and npm's record of node_modules, which
// every install rewrites. Their mtimes now, before esbuild reads anything.
const mtime = (p) => statSync(join(root, p), { throwIfNoEntry: false })?.mtimeMs;
const stamps = {};
for (const name of readdirSync(join(root, 'packages')).sort()) {
  const p = `packages/${name}/dist/.tsbuildinfo`;
  if (mtime(p) !== undefined) stamps[p] = mtime(p);
}
if (mtime('node_modules/.package-lock.json') !== undefined) stamps['node_modules/.package-lock.json'] = mtime('node_modules/.package-lock.json');

rmSync(stage, { recursive: true, force: true });
mkdirSync(stage, { recursive: true });
try {
  const result = await esbuild.build({
    entryPoints,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    outdir: stage,
    entryNames: '[name]',
    chunkNames: 'chunk-[hash]',
    sourcemap: 'linked',
    metafile: true,
    logLevel: 'warning',
    plugins: [plugin],
    // bundled CommonJS (commander) calls require() for Node's built-ins
    banner: { js: "import { createRequire as __panoCreateRequire } from 'node:module'; const require = __panoCreateRequire(import.meta.url);" },
  });

  // A package left external must be found from dist/ as it was from its
  // package (one nested in packages/*/node_modules would not be).
  for (const name of externals) {
    let found = false;
    for (let d = outdir; !found; d = dirname(d)) {
      found = existsSync(join(d, 'node_modules', name, 'package.json'));
      if (dirname(d) === d) break;
    }
    if (!found) throw new Error(`bundle: ${name} is not reachable from ${relative(root, outdir) || '.'}/node_modules: bundle it or install it at the top`);
  }

  const inputs = Object.keys(result.metafile.inputs).map((p) => relative(root, resolve(p)).split(sep).join('/'));
  for (const p of inputs) {
    const pkg = /^packages\/[^/]+\//.exec(p);
    if (pkg && !(`${pkg[0]}dist/.tsbuildinfo` in stamps)) throw new Error(`bundle: ${pkg[0]}dist/.tsbuildinfo is missing: build with \`npx tsc -b\``);
  }
  // a package rebuilt while esbuild read it: the bundle may mix old and new
  for (const [p, t] of Object.entries(stamps)) {
    if (mtime(p) !== t) throw new Error(`bundle: ${p} changed during the build: run it again`);
  }
  writeFileSync(join(stage, 'bundle.json'), JSON.stringify({ commands: Object.keys(COMMANDS), stamps }, null, 1) + '\n');
  rmSync(outdir, { recursive: true, force: true });
  renameSync(stage, outdir);
  console.log(`bundle: ${Object.keys(COMMANDS).length} commands and the parse worker into ${relative(root, outdir) || '.'}/ from ${inputs.length} modules`);
} catch (e) {
  rmSync(stage, { recursive: true, force: true });
  console.error(e instanceof Error && e.message.startsWith('bundle:') ? e.message : e);
  process.exit(1);
}
