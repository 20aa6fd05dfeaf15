// Every option's bad value is refused in one line that names the option (exit 2);
// durations a Node timer cannot hold (over 2^31-1 ms) are refused, not turned into 1 ms.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ROOT } from './fixtures.js';
import { runArgvAsync } from '../helpers/bin.js';
import { PROCESSES, mapLimit } from '../helpers/parallel.js';

const entry = [process.execPath, '--conditions=source', '--import', 'tsx', resolve(ROOT, 'packages/export/src/cli-entry.ts')];
const run = (args: string[]) => spawnSync(entry[0]!, [...entry.slice(1), ...args], { cwd: ROOT, input: '', encoding: 'utf8', timeout: 20_000 });

async function expectUsage(args: string[], re: RegExp): Promise<void> {
  const r = await runArgvAsync([...entry, ...args]);
  assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
  assert.match(r.stderr, re, args.join(' '));
  assert.equal(r.stderr.split('\n').length, 2, `one line: ${r.stderr}`);
}

test('durations over 2^31-1 ms are refused, naming the option', async () => {
  await mapLimit(['--otlp-delay', '--otlp-timeout', '--otlp-flush-timeout'], PROCESSES, async (opt) => {
    await expectUsage(['--otlp', 'http://127.0.0.1:9', opt, '3000000000'], new RegExp(`^pano-export: ${opt} must be at most 2147483647 ms \\(about 24\\.8 days\\), got "3000000000"\\n$`));
    await expectUsage(['--otlp', 'http://127.0.0.1:9', opt, '2147483648'], new RegExp(`^pano-export: ${opt} must be at most 2147483647 ms`));
  });
  // the largest a timer holds is taken (nothing is queued, so the exit does not wait for it)
  const ok = run(['--otlp', 'http://127.0.0.1:9', '--otlp-delay', '2147483647', '--otlp-timeout', '2147483647', '--otlp-flush-timeout', '2147483647']);
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal(ok.stderr, '', 'no TimeoutOverflowWarning');
});

test('bad values and files name their option', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pano-export-opts-'));
  try {
    const empty = join(dir, 'empty-token');
    writeFileSync(empty, '\n');
    const notPem = join(dir, 'not.pem');
    writeFileSync(notPem, 'hello\n');
    const rsa = join(dir, 'rsa.pem');
    writeFileSync(rsa, generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const cases: Array<[string[], RegExp]> = [
      [['--jsonl', join(dir, 'x'), '--rotate', 'abc'], /^pano-export: --rotate must be a size such as 100M, 512k or 65536, got "abc"\n$/],
      [['--jsonl', join(dir, 'x'), '--rotate', '0'], /^pano-export: --rotate must be greater than zero\n$/],
      [['--jsonl', join(dir, 'x'), '--keep', 'abc'], /^pano-export: --keep must be an integer ≥ 1, got "abc"\n$/],
      [['--jsonl', '/nonexistent/dir/x.jsonl'], /^pano-export: --jsonl \/nonexistent\/dir\/x\.jsonl: no such file or directory\n$/],
      [['--jsonl', dir], new RegExp(`^pano-export: --jsonl ${dir}: is a directory\\n$`)],
      [['--audit', '/nonexist/a.log'], /^pano-export: --audit \/nonexist\/a\.log: no such file or directory\n$/],
      [['--audit', dir], new RegExp(`^pano-export: --audit ${dir}: is a directory\\n$`)],
      [['--audit', '/dev/null'], /^pano-export: --audit \/dev\/null: not a regular file\n$/],
      [['--audit', join(dir, 'a.log'), '--sign-key', '/nonexist/k.pem'], /^pano-export: --sign-key \/nonexist\/k\.pem: no such file or directory\n$/],
      [['--audit', join(dir, 'a.log'), '--sign-key', notPem], new RegExp(`^pano-export: --sign-key ${notPem}: not a PEM private key\\n$`)],
      [['--audit', join(dir, 'a.log'), '--sign-key', rsa], new RegExp(`^pano-export: --sign-key ${rsa}: an Ed25519 key is needed, this one is rsa\\n$`)],
      [['--audit', join(dir, 'a.log'), '--checkpoint-every', 'x'], /^pano-export: --checkpoint-every must be an integer ≥ 0, got "x"\n$/],
      [['--otlp', 'ftp://x'], /^pano-export: --otlp: URL "ftp:\/\/x" is not http or https\n$/],
      [['--otlp', 'not a url'], /^pano-export: --otlp: invalid URL "not a url" \(use e\.g\. http:\/\/127\.0\.0\.1:4318\)\n$/],
      [['--otlp', 'http://127.0.0.1:9', '--otlp-queue', '0'], /^pano-export: --otlp-queue must be an integer ≥ 1, got "0"\n$/],
      [['--otlp', 'http://127.0.0.1:9', '--otlp-batch', 'x'], /^pano-export: --otlp-batch must be an integer ≥ 1, got "x"\n$/],
      [['--otlp', 'http://127.0.0.1:9', '--otlp-delay', '-5'], /^pano-export: --otlp-delay must be an integer ≥ 1, got "-5"\n$/],
      [['--otlp', 'http://127.0.0.1:9', '--service-name', ''], /--service-name/],
      [['--prometheus', 'nope'], /^pano-export: --prometheus: invalid listen address "nope" \(use e\.g\./],
      [['--prometheus', '127.0.0.1:0', '--token-file', empty], new RegExp(`^pano-export: --token-file ${empty}: empty token file\\n$`)],
      [['--prometheus', '127.0.0.1:0', '--token-file', '/nonexist/t'], /^pano-export: --token-file \/nonexist\/t: no such file or directory\n$/],
      [['--prometheus', '192.0.2.1:9464'], /^pano-export: --prometheus 192\.0\.2\.1:9464: address not available on this host\n$/],
    ];
    await mapLimit(cases, PROCESSES, ([args, re]) => expectUsage(args, re));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--prometheus on an address in use names the option', async () => {
  const busy = createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
  const port = (busy.address() as { port: number }).port;
  try {
    const r = spawnSync(entry[0]!, [...entry.slice(1), '--prometheus', `127.0.0.1:${port}`], { cwd: ROOT, input: '', encoding: 'utf8' });
    // spawnSync blocks this process, but the listening socket is the kernel's: the bind still fails
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stderr, `pano-export: --prometheus 127.0.0.1:${port}: address already in use\n`);
  } finally {
    busy.close();
  }
});
