/**
 * The pano-capture command's own behaviour: privileges, --doctor,
 * --smoke-test, -c, --duration, a full disk under -w, in-kernel filters on
 * live traffic, --help.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCapture, type Packet } from '@panopticon/pcap';
import { bpfUnavailable, toolMissing } from './env.js';
import { TestNet, NODE_SRC, ROOT, waitFor, exited, collect } from './netns.js';
import { runArgvAsync } from '../helpers/bin.js';
import { PROCESSES, mapLimit } from '../helpers/parallel.js';

const skip = bpfUnavailable() ?? toolMissing('ip', 'tcpdump', 'curl', 'setpriv', 'capinfos', 'unshare', 'tshark');
const CAPTURE = [...NODE_SRC, join(ROOT, 'bin/pano-capture')];

function run(args: string[], prefix: string[] = []) {
  const cmd = [...prefix, ...CAPTURE, ...args];
  const r = spawnSync(cmd[0], cmd.slice(1), { encoding: 'utf8', cwd: ROOT });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function packetsOf(path: string): Promise<Packet[]> {
  const out: Packet[] = [];
  await readCapture(path, { onPacket: (p) => out.push({ ...p, data: Buffer.from(p.data) }) });
  return out;
}

/** Destination and source ports of an Ethernet/IPv4 TCP or UDP frame. */
function ports(p: Packet): [number, number] | undefined {
  const d = p.data;
  if (d.readUInt16BE(12) !== 0x0800 || (d[23] !== 6 && d[23] !== 17)) return undefined;
  const l4 = 14 + (d[14] & 0x0f) * 4;
  return [d.readUInt16BE(l4), d.readUInt16BE(l4 + 2)];
}

describe('pano-capture command', { skip }, () => {
  let net: TestNet;
  let dir: string;
  before(async () => {
    net = new TestNet('cmd');
    dir = mkdtempSync(join(tmpdir(), 'pano-capture-cmd-'));
    await net.httpServer(net.b, '0.0.0.0', 8080);
    await net.httpServer(net.b, '0.0.0.0', 9090);
  });
  after(() => {
    net?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('without CAP_BPF/CAP_NET_ADMIN: one line saying what is missing, exit 1', () => {
    const r = run(['-i', 'lo'], ['setpriv', '--bounding-set', '-all', '--inh-caps', '-all', '--']);
    assert.equal(r.status, 1);
    assert.equal(r.stderr, 'pano-capture: needs CAP_BPF and CAP_NET_ADMIN to load and attach BPF programs (run as root, e.g. sudo pano-capture ...)\n');
  });

  it('without libbpf.so.1: one line naming the library and the package, exit 1', () => {
    // A private mount namespace where the library file is empty (/dev/null bound over it).
    const lib = spawnSync('sh', ['-c', 'readlink -f "$(ldconfig -p | sed -n "s/.*libbpf.so.1 .*=> //p" | head -1)"'], { encoding: 'utf8' }).stdout.trim();
    assert.ok(lib, 'libbpf.so.1 found by ldconfig');
    const script = `mount --bind /dev/null ${lib} && exec ${CAPTURE.join(' ')} -i lo -w /dev/null`;
    const r = spawnSync('unshare', ['-m', 'sh', '-c', script], { encoding: 'utf8', cwd: ROOT });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^pano-capture: cannot load libbpf\.so\.1 \(install libbpf1, version 1\.0 or later\): [^\n]*\n$/);
  });

  it('--doctor reports what works here, and what is missing without privileges', () => {
    const ok = run(['--doctor']);
    assert.equal(ok.status, 0, ok.stdout);
    for (const line of [/^ok +libbpf +libbpf\.so\.1 v1\./m, /^ok +ring buffer/m, /^ok +perf event array/m, /^ok +program \(ringbuf\) .* passes the verifier/m, /^ok +interface lo .*loopback/m, /^ok +TLS program \(--tls\) .* passes the verifier/m, /can capture on this machine/]) {
      assert.match(ok.stdout, line);
    }
    const bad = run(['--doctor'], ['setpriv', '--bounding-set', '-all', '--inh-caps', '-all', '--']);
    assert.equal(bad.status, 1);
    assert.match(bad.stdout, /^FAIL capabilities .*missing CAP_BPF, CAP_NET_ADMIN/m);
  });

  for (const buffer of ['ringbuf', 'perf']) {
    it(`--smoke-test on loopback and on a veth (${buffer})`, () => {
      const r = spawnSync('ip', ['netns', 'exec', net.a, ...CAPTURE, '--smoke-test', '-i', `lo,${net.vethA}`, '--buffer', buffer], { encoding: 'utf8', cwd: ROOT });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, new RegExp(`smoke test ok on lo \\(${buffer}\\)`));
      assert.match(r.stderr, new RegExp(`smoke test ok on ${net.vethA} \\(${buffer}\\): a datagram to 10\\.77\\.0\\.255`));
      assert.doesNotMatch(net.exec(net.a, ['tc', 'qdisc', 'show']), /clsact/);
    });
  }

  it('-i any hooks every interface that is up', () => {
    const r = spawnSync('ip', ['netns', 'exec', net.a, ...CAPTURE, '--smoke-test', '-i', 'any'], { encoding: 'utf8', cwd: ROOT });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /smoke test ok on lo /);
    assert.match(r.stderr, new RegExp(`smoke test ok on ${net.vethA} `));
  });

  it("-i takes an interface's alternative name, as ip and tcpdump do, and captures under its primary name", () => {
    net.exec(net.a, ['ip', 'link', 'property', 'add', 'dev', net.vethA, 'altname', 'pano-alt0']);
    try {
      const r = spawnSync('ip', ['netns', 'exec', net.a, ...CAPTURE, '--smoke-test', '-i', 'pano-alt0'], { encoding: 'utf8', cwd: ROOT });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, new RegExp(`smoke test ok on ${net.vethA} `));
      // a name that is no interface's, primary or alternative, is still one line
      const bad = spawnSync('ip', ['netns', 'exec', net.a, ...CAPTURE, '--smoke-test', '-i', 'pano-alt1'], { encoding: 'utf8', cwd: ROOT });
      assert.equal(bad.status, 1);
      assert.equal(bad.stderr, 'pano-capture: no such interface: pano-alt1\n');
    } finally {
      net.exec(net.a, ['ip', 'link', 'property', 'del', 'dev', net.vethA, 'altname', 'pano-alt0']);
    }
  });

  it('an interface that is down: said in one line (even with -q), and the capture goes on', () => {
    net.exec(net.a, ['ip', 'link', 'add', 'pdown0', 'type', 'veth', 'peer', 'name', 'pdown1']);
    try {
      const file = join(dir, 'down.pcapng');
      const r = spawnSync('ip', ['netns', 'exec', net.a, ...CAPTURE, '-q', '-i', `lo,pdown0`, '--duration', '0.3s', '-w', file], { encoding: 'utf8', cwd: ROOT });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr, 'pano-capture: pdown0 is down: nothing crosses it until it is brought up (the capture is attached and goes on)\n');
    } finally {
      net.exec(net.a, ['ip', 'link', 'del', 'pdown0']);
    }
  });

  it('-c N stops by itself after exactly N packets', async () => {
    const file = join(dir, 'count.pcapng');
    const cap = net.spawn(net.a, [...CAPTURE, '-i', net.vethA, '-c', '5', '-w', file]);
    const err = collect(cap, 'stderr');
    await waitFor(cap, 'stderr', /capturing on/);
    for (let i = 0; i < 3 && cap.exitCode === null; i++) net.exec(net.a, ['curl', '-s', '-o', '/dev/null', `http://${net.ipB}:8080/c${i}`]);
    assert.equal(await exited(cap), 0, err());
    assert.equal((await packetsOf(file)).length, 5);
    assert.match(err(), /^pano-capture: 5 packets captured/m);
  });

  it('-w on a full disk: one line naming the file, exit 74, and the file ends with its last whole block', async () => {
    const disk = join(dir, 'disk');
    mkdirSync(disk);
    const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=16k', 'tmpfs', disk], { encoding: 'utf8' });
    assert.equal(m.status, 0, m.stderr);
    try {
      const file = join(disk, 'full.pcapng');
      const cap = net.spawn(net.a, [...CAPTURE, '-i', net.vethA, '-c', '300', '-w', file]);
      const err = collect(cap, 'stderr');
      await waitFor(cap, 'stderr', /capturing on/);
      for (let i = 0; i < 100 && cap.exitCode === null; i++) net.exec(net.a, ['curl', '-s', '-o', '/dev/null', `http://${net.ipB}:8080/full${i}`]);
      assert.equal(await exited(cap), 74, err());
      assert.match(err(), new RegExp(`^pano-capture: ${file}: ENOSPC: no space left on device, write$`, 'm'));
      assert.equal(err().match(/ENOSPC/g)?.length, 1, 'said once');
      // tshark reads every block to the end: no packet cut short
      const t = spawnSync('tshark', ['-r', file], { encoding: 'utf8' });
      assert.equal(t.status, 0, t.stderr);
      assert.doesNotMatch(t.stderr, /cut short/);
      assert.ok((await packetsOf(file)).length > 10);
    } finally {
      spawnSync('umount', [disk]);
    }
  });

  it('-w FILE that cannot be created: one line naming -w, the file and why, exit 2, nothing attached', () => {
    const file = join(dir, 'exists');
    writeFileSync(file, '');
    const locked = join(dir, 'locked');
    mkdirSync(locked, { mode: 0o500 });
    chownSync(locked, 65534, 65534);
    // root without CAP_DAC_OVERRIDE meets the directory's mode like anyone else (and keeps CAP_BPF/CAP_NET_ADMIN)
    const noDac = ['setpriv', '--bounding-set', '-dac_override,-dac_read_search', '--inh-caps', '-dac_override,-dac_read_search', '--'];
    for (const [path, why, prefix] of [
      [dir, 'is a directory', []],
      [join(dir, 'nosuch', 'x.pcapng'), `no such directory: ${join(dir, 'nosuch')}`, []],
      [join(file, 'x.pcapng'), 'a component of the path is not a directory', []],
      [join(locked, 'x.pcapng'), 'permission denied', noDac],
    ] as Array<[string, string, string[]]>) {
      const r = spawnSync('ip', ['netns', 'exec', net.a, ...prefix, ...CAPTURE, '-i', 'lo', '-w', path], { encoding: 'utf8', cwd: ROOT });
      assert.equal(r.stderr, `pano-capture: -w ${path}: ${why}\n`);
      assert.equal(r.status, 2, path);
    }
    assert.doesNotMatch(net.exec(net.a, ['tc', 'qdisc', 'show', 'dev', 'lo']), /clsact/);
  });

  it('-o is -w as the other pano commands spell it; two different files are a usage error', () => {
    const bad = join(dir, 'nosuch', 'x.pcapng');
    let r = spawnSync('ip', ['netns', 'exec', net.a, ...CAPTURE, '-i', 'lo', '-o', bad], { encoding: 'utf8', cwd: ROOT });
    assert.equal(r.stderr, `pano-capture: -o ${bad}: no such directory: ${join(dir, 'nosuch')}\n`);
    assert.equal(r.status, 2);
    const a = join(dir, 'a.pcapng');
    const b = join(dir, 'b.pcapng');
    r = spawnSync('ip', ['netns', 'exec', net.a, ...CAPTURE, '-i', 'lo', '-w', a, '-o', b], { encoding: 'utf8', cwd: ROOT });
    assert.equal(r.stderr, `pano-capture: -w ${a} and -o ${b}: two files given for one capture; use one\n`);
    assert.equal(r.status, 2);
    assert.ok(!existsSync(a) && !existsSync(b), 'nothing created');
    const o = join(dir, 'o.pcapng');
    r = spawnSync('ip', ['netns', 'exec', net.a, ...CAPTURE, '-i', 'lo', '--duration', '300ms', '-o', o, '-w', o], { encoding: 'utf8', cwd: ROOT });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(statSync(o).mode & 0o777, 0o600);
    const info = spawnSync('capinfos', ['-c', o], { encoding: 'utf8' });
    assert.equal(info.status, 0, info.stderr);
  });

  it('--duration stops by itself, leaving a complete capture', async () => {
    const file = join(dir, 'duration.pcapng');
    const r = spawnSync('ip', ['netns', 'exec', net.a, ...CAPTURE, '-i', 'lo', '--duration', '500ms', '-w', file], { encoding: 'utf8', cwd: ROOT });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(await packetsOf(file), []);
    const info = spawnSync('capinfos', ['-c', '-I', file], { encoding: 'utf8' });
    assert.equal(info.status, 0, info.stderr);
    assert.match(info.stdout, /Number of packets:\s+0/);
  });

  it('--duration and --stats-interval past 2^31-1 ms (600h): no early stop, no ISB storm, a complete capture at SIGINT', async () => {
    // Node timers hold at most 2^31-1 ms (24.8 days); 600h used to fire after 1 ms: the capture
    // stopped at once (exit 0, empty) and ISBs were written every millisecond.
    const file = join(dir, 'long.pcapng');
    const cap = net.spawn(net.b, [...CAPTURE, '-i', 'lo', '--duration', '600h', '--stats-interval', '600h', '-w', file]);
    const err = collect(cap, 'stderr');
    await waitFor(cap, 'stderr', /capturing on/);
    for (let i = 0; i < 3; i++) net.exec(net.b, ['curl', '-s', '-o', '/dev/null', `http://127.0.0.1:8080/long${i}`]);
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(cap.exitCode, null, `still capturing after 1.5 s: ${err()}`);
    cap.kill('SIGINT');
    assert.equal(await exited(cap), 0, err());
    assert.doesNotMatch(err(), /Warning/);
    const stats: unknown[] = [];
    const packets: Packet[] = [];
    await readCapture(file, { onPacket: (p) => packets.push(p), onStatistics: (s) => stats.push(s) });
    assert.ok(packets.length >= 30, `the HTTP exchanges were captured (${packets.length} packets)`);
    assert.equal(stats.length, 1, 'one Interface Statistics Block: the one at exit');
    const info = spawnSync('capinfos', ['-c', file], { encoding: 'utf8' });
    assert.equal(info.status, 0, info.stderr);
    assert.match(info.stdout, new RegExp(`Number of packets:\\s+${packets.length}\\b`));
  });

  it('--port and --proto filter in the kernel: only the chosen port, and all of it', async () => {
    const file = join(dir, 'port.pcapng');
    const theirs = join(dir, 'port.pcap');
    const cap = net.spawn(net.a, [...CAPTURE, '-i', net.vethA, '--port', '8080', '--proto', 'tcp', '-w', file]);
    const capErr = collect(cap, 'stderr');
    const td = net.spawn(net.a, ['tcpdump', '-i', net.vethA, '--immediate-mode', '-B', '65536', '-U', '-n', '-w', theirs, 'tcp port 8080']);
    try {
      await Promise.all([waitFor(cap, 'stderr', /capturing on/), waitFor(td, 'stderr', /listening on/)]);
      for (const port of [8080, 9090, 8080]) net.exec(net.a, ['curl', '-s', '-o', '/dev/null', `http://${net.ipB}:${port}/p`]);
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      cap.kill('SIGTERM');
      td.kill('SIGINT');
    }
    assert.equal(await exited(cap), 0, capErr());
    await exited(td);
    const mine = await packetsOf(file);
    const tcpd = await packetsOf(theirs);
    assert.ok(mine.length > 10);
    for (const p of mine) assert.ok(ports(p)?.includes(8080), 'only port 8080');
    assert.deepEqual(
      mine.map((p) => p.data.toString('hex')).sort(),
      tcpd.map((p) => p.data.toString('hex')).sort(),
    );
  });

  it('option values are usage errors (2), checked before privileges are asked for: filters, ring size, modes', async () => {
    // (the kernel's EINVAL for a 64 GiB ring and "exit 1" for a typed port read like machine problems)
    const unprivileged = ['setpriv', '--bounding-set', '-all', '--inh-caps', '-all', '--'];
    const cases: Array<[string[], string, string[]]> = [];
    for (const [args, message] of [
      [['--port', '70000'], 'pano-capture: --port 70000: not a port number (1-65535)\n'],
      [['--proto', 'icmp'], 'pano-capture: --proto icmp: must be tcp or udp\n'],
      [['--host', '10.0.0.0/40'], 'pano-capture: --host 10.0.0.0/40: prefix length must be 0-32\n'],
      [['--ring-size', '64G'], "pano-capture: option '--ring-size <bytes>' argument '64G' is invalid. must be a power of two from 4k to 1G (e.g. 8M)\n"],
      [['--doctor', '--cleanup'], 'pano-capture: --doctor, --cleanup and --smoke-test are runs of their own: give one\n'],
      // zero would stop before the first packet
      [['-c', '0'], `pano-capture: option '-c, --count <n>' argument '0' is invalid. must be at least 1: "0"\n`],
      [['--duration', '0s'], `pano-capture: option '--duration <time>' argument '0s' is invalid. must be more than 0: "0s"\n`],
      // past a year is a typo; 1e400 would be Infinity
      [['--duration', '8761h'], `pano-capture: option '--duration <time>' argument '8761h' is invalid. must be at most 8760h (365 days): "8761h"\n`],
      [['--duration', `1${'0'.repeat(400)}s`], `pano-capture: option '--duration <time>' argument '1${'0'.repeat(400)}s' is invalid. must be at most 8760h (365 days): "1${'0'.repeat(400)}s"\n`],
      [['--stats-interval', '8761h'], `pano-capture: option '--stats-interval <time>' argument '8761h' is invalid. must be at most 8760h (365 days): "8761h"\n`],
      // would round to 0 ms, which means "only at exit"
      [['--stats-interval', '500us'], `pano-capture: option '--stats-interval <time>' argument '500us' is invalid. must be 0 (only at exit) or at least 1ms: "500us"\n`],
    ] as Array<[string[], string]>) {
      for (const prefix of [[], unprivileged]) cases.push([args, message, prefix]);
    }
    await mapLimit(cases, PROCESSES, async ([args, message, prefix]) => {
      const r = await runArgvAsync([...prefix, ...CAPTURE, '-i', 'lo', ...args, '-w', '/dev/null']);
      assert.equal(r.status, 2, `${args.join(' ')} ${prefix.length ? 'unprivileged' : 'as root'}: ${r.stderr}`);
      assert.equal(r.stderr, message);
    });
  });

  it('--help shows examples; --version prints the version', () => {
    const h = run(['--help']);
    assert.equal(h.status, 0);
    assert.match(h.stdout, /Examples:\n +sudo pano-capture -i lo \| pano-parse/);
    const v = run(['--version']);
    assert.equal(v.status, 0);
    assert.match(v.stdout, /^\d+\.\d+\.\d+\n$/);
  });
});
