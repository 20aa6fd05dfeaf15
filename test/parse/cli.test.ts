/**
 * pano-parse as a user runs it: the built command, real files, pipes and
 * signals. Run after `npm run build` (npm test builds first).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { corpusAvailable, corpusDir, repoRoot } from '../helpers/corpus.js';
import { Conversation, pcapng } from '../helpers/synth.js';
import { PcapngWriter, LinkType, PANO_PEN, encodeLossRecord } from '@panopticon/pcap';

const bin = resolve(repoRoot, 'bin/pano-parse');
const skip = corpusAvailable() ? false : 'corpus not found at ../shared/corpus';
const post = join(corpusDir, 'http1/chrissanders-http_post.pcapng');
const methods = join(corpusDir, 'http1/zeek-methods.pcap');
const tmp = mkdtempSync(join(tmpdir(), 'pano-parse-cli-'));

function run(args: string[], input?: Buffer) {
  return spawnSync(process.execPath, [bin, ...args], { input, encoding: 'utf8', maxBuffer: 64 << 20 });
}

test('replays a file to NDJSON on stdout, one event per line', { skip }, () => {
  const r = run([post]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '');
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.length, 2);
  assert.equal(lines[0].http.request.method, 'POST');
  assert.equal(lines[0].pano.source.name, 'chrissanders-http_post.pcapng');
});

test('reads standard input when no file or "-" is given', { skip }, () => {
  const input = readFileSync(post);
  const a = run([], input);
  const b = run(['-'], input);
  assert.equal(a.status, 0, a.stderr);
  assert.equal(a.stdout, b.stdout);
  assert.equal(a.stdout.trim().split('\n').length, 2);
});

test('a missing file is a one-line error with exit status 2', () => {
  const r = run([join(tmp, 'nope.pcap')]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^pano-parse: cannot open .*nope\.pcap: no such file or directory\n$/);
});

test('a file that is not a capture names the file, offset and magic', () => {
  const f = join(tmp, 'text.pcap');
  writeFileSync(f, 'hello, this is not a capture\n');
  const r = run([f]);
  assert.equal(r.status, 2);
  assert.equal(r.stderr.split('\n').length, 2, r.stderr);
  assert.match(r.stderr, /text\.pcap.*offset 0.*magic/i);
  assert.doesNotMatch(r.stderr, /\bat .*\.js:\d+/);
});

test('a truncated capture: complete events still come out, damage is reported, exit 0; --strict makes it fatal', { skip }, () => {
  const bytes = readFileSync(methods);
  const f = join(tmp, 'cut.pcap');
  writeFileSync(f, bytes.subarray(0, Math.floor(bytes.length * 0.6) + 7));
  const r = run([f]);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(r.stdout.trim().split('\n').length >= 5);
  assert.match(r.stderr, /cut\.pcap: offset \d+: .*truncated/i);
  const s = run(['--strict', f]);
  assert.equal(s.status, 2);
  assert.match(s.stderr, /^pano-parse: .*cut\.pcap: offset \d+: /);
});

test('--strict: a malformed packet is fatal where it is met, named by offset and reason, with and without workers', { skip }, () => {
  // zeek-methods.pcap with the IPv4 version of its 20th packet set to 12: events after it were written,
  // and the error said only "1 malformed packet(s)" after the whole file
  const bytes = Buffer.from(readFileSync(methods));
  let off = 24;
  for (let i = 0; i < 19; i++) off += 16 + bytes.readUInt32LE(off + 8);
  const record = off;
  bytes[record + 16 + 14] = 0xc5; // after the record header and the Ethernet header
  const f = join(tmp, 'bad-ip-version.pcap');
  writeFileSync(f, bytes);
  for (const workers of [[], ['-w', '2']]) {
    // workers number connections their own way (pano-parse(1)): compared with a run of the same kind
    const all = run([...workers, f]);
    assert.equal(all.status, 0, all.stderr);
    const allLines = all.stdout.trim().split('\n');
    const s = run(['--strict', ...workers, f]);
    assert.equal(s.status, 2, s.stderr);
    assert.equal(s.stderr, `pano-parse: ${f}: offset ${record}: malformed packet: IPv4 version is not 4\n`);
    const lines = s.stdout.trim().split('\n').filter(Boolean);
    assert.ok(lines.length > 0 && lines.length < allLines.length, `${workers.join(' ')}: ${lines.length} of ${allLines.length} events`);
    // the events before the damage, as the run without --strict wrote them
    assert.deepEqual(lines.map((l) => JSON.parse(l).pano.id).sort(), allLines.slice(0, lines.length).map((l) => JSON.parse(l).pano.id).sort());
  }
});

test('several files: event ids stay unique within the run, connection numbers going on from file to file', { skip }, () => {
  for (const workers of [[], ['-w', '2']]) {
    const once = run([...workers, methods]);
    const thrice = run([...workers, methods, methods, methods]);
    assert.equal(thrice.status, 0, thrice.stderr);
    const ids = thrice.stdout.trim().split('\n').map((l) => JSON.parse(l).pano.id as string);
    const n = once.stdout.trim().split('\n').length;
    assert.equal(ids.length, 3 * n);
    // the second and third files' ids were the first's again
    assert.equal(new Set(ids).size, ids.length, `${workers.join(' ')}: repeated ids`);
    const conns = (list: string[]) => list.map((id) => Number(id.split('-')[0]));
    assert.ok(Math.min(...conns(ids.slice(n))) > Math.max(...conns(ids.slice(0, n))), `${workers.join(' ')}: the second file's connections numbered after the first's`);
  }
});

test('a link type the decoder does not know is said once, where its interface is described, not only counted', { skip }, () => {
  // zeek-methods.pcap with its file header's link type (bytes 20-23) set to 999
  const bytes = Buffer.from(readFileSync(methods));
  bytes.writeUInt32LE(999, 20);
  const f = join(tmp, 'linktype-999.pcap');
  writeFileSync(f, bytes);
  const r = run([f]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, `pano-parse: ${f}: offset 0: interface 0: link type 999 is not decoded (its packets count as decode.unsupported) (skipped)\n`);
  const s = run(['--strict', f]);
  assert.equal(s.status, 2);
  assert.equal(s.stderr, `pano-parse: ${f}: offset 0: interface 0: link type 999 is not decoded (its packets count as decode.unsupported)\n`);
});

test('option errors are one line naming the command, exit status 2 (pano-parse(1) EXIT STATUS)', () => {
  for (const [args, re] of [
    [['--bogus'], /^pano-parse: unknown option '--bogus'\n$/],
    [['--max-body', 'lots'], /^pano-parse: option '--max-body <size>' argument 'lots' is invalid\. not a size: "lots"/],
    [['--idle-timeout'], /^pano-parse: option '--idle-timeout <duration>' argument missing\n$/],
    // zero limits would track or wait for nothing (--max-connections 0 was an internal error, --idle-timeout 0 split every exchange)
    [['--max-connections', '0'], /^pano-parse: option '--max-connections <n>' argument '0' is invalid\. must be at least 1: "0"/],
    [['--idle-timeout', '0s'], /^pano-parse: option '--idle-timeout <duration>' argument '0s' is invalid\. must be more than 0: "0s"/],
    [['-p', ''], /^pano-parse: option '-p, --protocols <list>' argument '' is invalid\. empty list: ""/],
  ] as Array<[string[], RegExp]>) {
    const r = run(args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.split('\n').length, 2, r.stderr);
  }
});

test('unknown --protocols name is a clear error listing the known ones', () => {
  const r = run(['--protocols', 'http,gopher', post]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown protocol "gopher" \(known: .*http/);
});

test('a --proto path that does not exist is a one-line error before any input is read', () => {
  const r = run(['--proto', join(tmp, 'missing-protos'), post]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^pano-parse: --proto .*missing-protos: no such file or directory\n$/);
});

test('-o writes a 0600 file; --stats prints counters on stderr', { skip }, () => {
  const out = join(tmp, 'events.jsonl');
  const r = run(['-o', out, '--stats', post]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, '');
  assert.equal(statSync(out).mode & 0o777, 0o600);
  assert.equal(readFileSync(out, 'utf8').trim().split('\n').length, 2);
  assert.match(r.stderr, /^capture\.packets 21$/m);
  assert.match(r.stderr, /^events\.written 2$/m);
  assert.match(r.stderr, /^flows\.connections \d+$/m);
});

for (const workers of ['', '--workers 2']) {
  test(`a closed downstream pipe (| head -1) ends quietly with status 0${workers ? ` (${workers})` : ''}`, { skip }, () => {
    const r = spawnSync('sh', ['-c', `"${process.execPath}" "${bin}" ${workers} "${methods}" "${methods}" "${methods}" | head -1; echo "status=\${PIPESTATUS:-$?}"`], { encoding: 'utf8' });
    const sh = spawnSync('bash', ['-c', `set -o pipefail; "${process.execPath}" "${bin}" ${workers} "${methods}" "${methods}" | head -1 >/dev/null; echo $?`], { encoding: 'utf8' });
    assert.equal(sh.stdout.trim(), '0', sh.stderr);
    assert.equal(sh.stderr, '');
    assert.equal(r.stdout.split('\n').filter((l) => l.startsWith('{')).length, 1);
  });
}

for (const workers of [[], ['--workers', '2']]) {
  test(`SIGTERM while reading a pipe: complete exchanges are flushed, exit 0${workers.length ? ' (--workers 2)' : ''}`, async () => {
    const c = new Conversation({ addr: '10.1.1.1', port: 40000 }, { addr: '10.1.1.2', port: 80 }).handshake();
    c.send(0, 'GET /done HTTP/1.1\r\nHost: h\r\n\r\n').send(1, 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
    c.send(0, 'GET /pending HTTP/1.1\r\nHost: h\r\n\r\n');
    const child = spawn(process.execPath, [bin, ...workers], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.stdin.write(c.pcapng()); // the pipe stays open: more could come
    // Give node time to start and read the pipe (generous: CI machines are small).
    await new Promise((r) => setTimeout(r, 3000));
    child.kill('SIGTERM');
    const code = await new Promise((r) => child.on('exit', (code) => r(code)));
    assert.equal(code, 0, err);
    const events = out.trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(events.map((e) => [e.pano.kind, e.url.path]), [
      ['exchange', '/done'],
      ['unanswered', '/pending'],
    ]);
    assert.deepEqual(events[1].pano.flags, ['eof']);
  });
}

test('--help lists options and examples; --version prints the version', () => {
  const h = run(['--help']);
  assert.equal(h.status, 0);
  assert.match(h.stdout, /--max-body/);
  assert.match(h.stdout, /Examples:/);
  assert.match(run(['--version']).stdout, /^\d+\.\d+\.\d+\n$/);
});

test('pano-capture loss records are reported on stderr and counted, never silent', () => {
  const w = new PcapngWriter();
  const idb = w.interfaceDescription({ linkType: LinkType.ETHERNET, snapLen: 65535, name: 'lo' });
  const loss = encodeLossRecord({ interfaceId: idb.id, startNs: 1_700_000_000_000_000_000n, endNs: 1_700_000_001_000_000_000n, lost: 7n, totalLost: 9n });
  const f = join(tmp, 'loss.pcapng');
  writeFileSync(f, Buffer.concat([w.sectionHeader({ application: 'test' }), idb.block, w.custom({ pen: PANO_PEN, data: loss, copyable: true })]));
  const r = run(['--stats', f]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /^pano-parse: .*loss\.pcapng: the kernel lost 7 packet\(s\) on lo \(9 since capture start\)$/m);
  assert.match(r.stderr, /^capture\.loss_records 1$/m);
  assert.match(r.stderr, /^capture\.lost_packets 7$/m);
});

test('a loss record pano-capture cannot have written is damage named by its offset, not a loss', () => {
  const w = new PcapngWriter();
  const shb = w.sectionHeader({ application: 'test' });
  const idb = w.interfaceDescription({ linkType: LinkType.ETHERNET, snapLen: 65535, name: 'lo' });
  const cases: Array<[Parameters<typeof encodeLossRecord>[0], string]> = [
    [{ interfaceId: 0xffffffff, startNs: 1n, endNs: 2n, lost: 7n, totalLost: 9n }, 'interface 4294967295 is not described in this section'],
    [{ interfaceId: idb.id, startNs: 5n, endNs: 2n, lost: 7n, totalLost: 9n }, 'its window ends (2 ns) before it starts (5 ns)'],
    [{ interfaceId: idb.id, startNs: 1n, endNs: 2n, lost: 7n, totalLost: 3n }, '7 lost, more than the 3 since capture start'],
  ];
  for (const [record, why] of cases) {
    const f = join(tmp, 'bad-loss.pcapng');
    const offset = shb.length + idb.block.length;
    writeFileSync(f, Buffer.concat([shb, idb.block, w.custom({ pen: PANO_PEN, data: encodeLossRecord(record), copyable: true })]));
    const r = run(['--stats', f]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`^pano-parse: ${f}: offset ${offset}: loss record: ${why.replace(/[()]/g, '\\$&')} \\(skipped\\)$`, 'm'));
    assert.doesNotMatch(r.stderr, /the kernel lost/);
    assert.doesNotMatch(r.stderr, /loss_records/); // (counters of 0 are not printed)
    const s = run(['--strict', f]);
    assert.equal(s.status, 2);
    assert.equal(s.stderr, `pano-parse: ${f}: offset ${offset}: loss record: ${why}\n`);
  }
});

test('pano-capture read from a pipe: events come from tc on their interface; a file, or another writer, is a replay', async () => {
  const c = new Conversation({ addr: '10.1.1.1', port: 40000 }, { addr: '10.1.1.2', port: 80 }).handshake();
  c.send(0, 'GET /x HTTP/1.1\r\nHost: h\r\n\r\n').send(1, 'HTTP/1.1 204 No Content\r\n\r\n');
  /** The conversation as `application` writes it, on an interface called `interfaceName`. */
  const capture = (application: string, interfaceName: string) => pcapng(c.frames, 262144, { application, interfaceName });
  const sources = (stdout: string) => stdout.trim().split('\n').map((l) => JSON.parse(l).pano.source);
  const live = capture('pano-capture', 'veth7');
  const other = capture('tcpdump', 'veth7');
  const f = join(tmp, 'pano-capture-written.pcapng');
  writeFileSync(f, live);
  // a pipe (spawnSync's input is one), with and without workers
  for (const workers of [[], ['--workers', '2']]) {
    const r = run(workers, live);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(sources(r.stdout), [{ type: 'tc', name: 'veth7' }]);
  }
  assert.deepEqual(sources(run([], other).stdout), [{ type: 'pcap', name: '-' }]);
  // the file pano-capture -w wrote, named, or redirected onto standard input: a replay
  assert.deepEqual(sources(run([f]).stdout), [{ type: 'pcap', name: 'pano-capture-written.pcapng' }]);
  const redirected = spawnSync('sh', ['-c', `"${process.execPath}" "${bin}" < "${f}"`], { encoding: 'utf8' });
  assert.equal(redirected.status, 0, redirected.stderr);
  assert.deepEqual(sources(redirected.stdout), [{ type: 'pcap', name: '-' }]);
  // a shell pipe is a FIFO (spawnSync's input is a socket): live too, since the bytes are pano-capture's
  const piped = spawnSync('sh', ['-c', `cat "${f}" | "${process.execPath}" "${bin}"`], { encoding: 'utf8' });
  assert.equal(piped.status, 0, piped.stderr);
  assert.deepEqual(sources(piped.stdout), [{ type: 'tc', name: 'veth7' }]);
});
