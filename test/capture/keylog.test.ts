/**
 * pano-capture --tls-keylog end to end: eBPF capture on loopback of curl
 * (OpenSSL, SSLKEYLOGFILE) against Node's HTTPS server, the key log's lines
 * written into the capture as Decryption Secrets Blocks while they appear.
 * The saved capture then decrypts on its own: tshark reads the requests from
 * it with no key log option, pano-parse gives the requests and answers as
 * sent and received, and capinfos counts the secrets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { createServer } from 'node:https';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bpfUnavailable, toolMissing } from './env.js';
import { NODE_SRC, ROOT, collect, exited, waitFor } from './netns.js';
import { freePort } from '../helpers/loopback-capture.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';

const skip = bpfUnavailable() ?? toolMissing('curl', 'openssl', 'tshark', 'capinfos');
const CAPTURE = [...NODE_SRC, join(ROOT, 'bin/pano-capture')];

test('pano-capture --tls-keylog: the key log goes into the capture as it grows, and the capture decrypts without it', { skip, timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pano-cap-keys-'));
  const keys = join(dir, 'keys.log');
  const file = join(dir, 'cap.pcapng');
  writeFileSync(keys, '');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '30', '-subj', '/CN=keys.example.test',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')]);
  const server = createServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => res.end(`saved ${req.url}: ${body}`));
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  try {
    const cap = spawn(CAPTURE[0]!, [...CAPTURE.slice(1), '-i', 'lo', '--port', String(port), '--tls-keylog', keys, '-w', file], { stdio: ['ignore', 'ignore', 'pipe'] });
    const err = collect(cap, 'stderr');
    await waitFor(cap, 'stderr', /capturing on lo/);
    const sent: Array<{ path: string; body: string; tls: string }> = [
      { path: '/users/7', body: 'email=ada@example.org', tls: '1.3' },
      { path: '/users/8', body: 'email=grace@example.org', tls: '1.2' },
    ];
    for (const s of sent) {
      const { stdout } = await promisify(execFile)('curl', ['-sk', '--tls-max', s.tls, '--data-binary', s.body, `https://127.0.0.1:${port}${s.path}`], { env: { ...process.env, SSLKEYLOGFILE: keys } });
      assert.equal(stdout, `saved ${s.path}: ${s.body}`);
    }
    // the capture writes what it read of the log before the packets after it; give its next poll a moment
    await new Promise((r) => setTimeout(r, 300));
    cap.kill('SIGINT');
    assert.equal(await exited(cap), 0, err());
    assert.match(err(), /[1-9]\d* decryption secrets block\(s\) of TLS key log lines written/);

    // capinfos counts the secrets; tshark decrypts with them alone
    assert.match(spawnSync('capinfos', [file], { encoding: 'utf8' }).stdout, /Number of decryption secrets in file: *[1-9]/);
    const uris = spawnSync('tshark', ['-r', file, '-Y', 'http.request', '-T', 'fields', '-e', 'http.request.uri'], { encoding: 'utf8' }).stdout.trim().split('\n');
    assert.deepEqual(uris.sort(), sent.map((s) => s.path).sort());

    const { events, stats } = parseCaptureSync(file);
    assertValidEvents(events);
    const http = (events as any[]).filter((e) => e.pano.protocol === 'http');
    assert.deepEqual(http.map((e) => [e.url.path, e.http.request.body.content, e.http.response.body.content, e.tls.protocol.version, e.tls.decrypted]), sent.map((s) => [s.path, s.body, `saved ${s.path}: ${s.body}`, s.tls, true]));
    assert.ok((stats.capture.secrets_blocks as number) >= 1);
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
