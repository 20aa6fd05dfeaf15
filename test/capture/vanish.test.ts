/**
 * An interface that goes away during a capture (deleted, deleted and made
 * again under its name, its clsact qdisc deleted by someone else) or is
 * renamed: pano-capture used to go on forever without a word, and exit 0.
 * Real veth pairs in network namespaces made for the test.
 */
import { describe, it, before, after, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCapture, type InterfaceStatistics, type Packet } from '@panopticon/pcap';
import { bpfUnavailable, toolMissing } from './env.js';
import { TestNet, NODE_SRC, ROOT, sh, waitFor, exited, collect } from './netns.js';

const skip = bpfUnavailable() ?? toolMissing('ip', 'tc', 'curl', 'capinfos', 'tshark');
const CAPTURE = [...NODE_SRC, join(ROOT, 'bin/pano-capture')];
const DEV = 'vgone0';
const PEER = 'vgone1';
const IP = '10.88.0.1';
const PEER_IP = '10.88.0.2';

interface Read {
  packets: Packet[];
  stats: InterfaceStatistics[];
}

async function read(path: string): Promise<Read> {
  const r: Read = { packets: [], stats: [] };
  await readCapture(path, { onPacket: (p) => r.packets.push({ ...p, data: Buffer.from(p.data) }), onStatistics: (s) => r.stats.push(s) });
  return r;
}

/** capinfos and tshark read the whole file: every block whole, nothing cut short. */
function assertComplete(file: string, packets: number): void {
  const info = spawnSync('capinfos', ['-c', file], { encoding: 'utf8' });
  assert.equal(info.status, 0, info.stderr);
  assert.match(info.stdout, new RegExp(`Number of packets:\\s+${packets}\\b`));
  const t = spawnSync('tshark', ['-r', file], { encoding: 'utf8' });
  assert.equal(t.status, 0, t.stderr);
  assert.doesNotMatch(t.stderr, /cut short|appears to be damaged/);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

describe('pano-capture when an interface goes away', { skip }, () => {
  let net: TestNet;
  let dir: string;
  let nsId: string;
  before(async () => {
    net = new TestNet('gone');
    dir = mkdtempSync(join(tmpdir(), 'pano-capture-gone-'));
    await net.httpServer(net.b, '0.0.0.0', 8080);
    // pano-capture's clsact markers are named by the namespace's inode
    nsId = String(statSync(`/run/netns/${net.a}`).ino);
  });
  after(() => {
    net?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** A veth pair of its own between the namespaces, so deleting it leaves the TestNet whole. */
  function makePair(): void {
    sh(['ip', 'link', 'add', DEV, 'netns', net.a, 'type', 'veth', 'peer', 'name', PEER, 'netns', net.b]);
    net.exec(net.a, ['ip', 'addr', 'add', `${IP}/24`, 'dev', DEV]);
    net.exec(net.b, ['ip', 'addr', 'add', `${PEER_IP}/24`, 'dev', PEER]);
    net.exec(net.a, ['ip', 'link', 'set', DEV, 'up']);
    net.exec(net.b, ['ip', 'link', 'set', PEER, 'up']);
  }
  beforeEach(makePair);
  afterEach(() => {
    // whatever the test left of the pair (deleting either end deletes both)
    for (const dev of [DEV, 'vren0']) net.exec(net.a, ['ip', 'link', 'del', dev], { allowFail: true });
    net.exec(net.b, ['ip', 'link', 'del', PEER], { allowFail: true });
  });

  function get(path: string): void {
    assert.equal(net.exec(net.a, ['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', `http://${PEER_IP}:8080${path}`]), '200');
  }

  async function start(ifaces: string, file: string): Promise<{ cap: ChildProcess; err: () => string }> {
    const cap = net.spawn(net.a, [...CAPTURE, '-i', ifaces, '-w', file]);
    const err = collect(cap, 'stderr');
    await waitFor(cap, 'stderr', /capturing on/);
    return { cap, err };
  }

  /** Exits by itself within `ms` (its status), or fails the test (stopping the capture). */
  async function exitsWithin(cap: ChildProcess, ms: number, err: () => string): Promise<number | null> {
    let stoppedByTest = false;
    const timer = setTimeout(() => {
      stoppedByTest = true;
      cap.kill('SIGINT');
    }, ms);
    const code = await exited(cap);
    clearTimeout(timer);
    assert.ok(!stoppedByTest, `still running after ${ms} ms: ${err()}`);
    return code;
  }

  it('deleted: said once, naming it; the file is finished (packets, last statistics) and the run ends with status 1', async () => {
    const file = join(dir, 'deleted.pcapng');
    const { cap, err } = await start(DEV, file);
    get('/before');
    await sleep(200);
    net.exec(net.a, ['ip', 'link', 'del', DEV]);
    assert.equal(await exitsWithin(cap, 3000, err), 1, err());
    assert.equal(
      err().match(/^pano-capture: .*$/gm)?.filter((l) => !/^pano-capture: (capturing on|\d+ packets captured)/.test(l)).join('\n'),
      `pano-capture: ${DEV}: the interface is gone (deleted, or moved to another network namespace); no longer capturing on it\n` +
        'pano-capture: no interface left to capture on; the capture ends',
    );
    const r = await read(file);
    assert.ok(r.packets.length >= 10, `the exchange before the deletion is there (${r.packets.length} packets)`);
    assertComplete(file, r.packets.length);
    assert.equal(r.stats.length, 1, 'one last statistics block, when it went');
    assert.match(r.stats[0].comment ?? '', new RegExp(`^capture on ${DEV} ended: the interface is gone`));
    assert.equal(r.stats[0].usrDeliv, BigInt(r.packets.length));
    assert.match(err(), new RegExp(`pano-capture: ${r.packets.length} packets captured`));
    // its clsact went with it: no marker left claiming that ifindex
    assert.deepEqual(readdirSync('/run/panopticon/clsact').filter((m) => m.startsWith(`${nsId}.`)), []);
  });

  it('one of two deleted: the capture goes on on the other; SIGINT ends it with status 1', async () => {
    const file = join(dir, 'one-of-two.pcapng');
    const { cap, err } = await start(`lo,${DEV}`, file);
    get('/before');
    net.exec(net.a, ['ip', 'link', 'del', DEV]);
    await sleep(2000);
    assert.equal(cap.exitCode, null, `still capturing on lo: ${err()}`);
    assert.equal(err().match(new RegExp(`${DEV}: the interface is gone`, 'g'))?.length, 1, 'said once');
    // loopback traffic after the deletion is still captured
    net.exec(net.a, ['bash', '-c', 'echo pano-after-delete > /dev/udp/127.0.0.1/9']);
    await sleep(300);
    cap.kill('SIGINT');
    assert.equal(await exited(cap), 1, err());
    assert.doesNotMatch(err(), /no interface left/);
    const r = await read(file);
    assertComplete(file, r.packets.length);
    assert.ok(r.packets.some((p) => p.interfaceKey === 0 && p.data.includes('pano-after-delete')), 'lo captured after the deletion');
    assert.ok(r.packets.filter((p) => p.interfaceKey === 1).length >= 10, 'the veth before it');
    const last = r.stats.filter((s) => s.interfaceKey === 1);
    assert.equal(last.length, 1);
    assert.match(last[0].comment ?? '', /ended: the interface is gone/);
    assert.ok(r.stats.some((s) => s.interfaceKey === 0), 'lo has its statistics at exit');
  });

  it('deleted and made again under the same name: the old attachment is gone, said with the new ifindex', async () => {
    const file = join(dir, 'again.pcapng');
    const { cap, err } = await start(DEV, file);
    net.exec(net.a, ['ip', 'link', 'del', DEV]);
    makePair();
    const ifindex = net.exec(net.a, ['cat', `/sys/class/net/${DEV}/ifindex`]).trim();
    assert.equal(await exitsWithin(cap, 5000, err), 1, err());
    assert.match(err(), new RegExp(`^pano-capture: ${DEV}: the interface is gone \\(deleted, or moved to another network namespace\\); the new ${DEV} \\(ifindex ${ifindex}\\) is not captured; no longer capturing on it$`, 'm'));
    assertComplete(file, (await read(file)).packets.length);
    // the new interface was left alone
    assert.doesNotMatch(net.exec(net.a, ['tc', 'qdisc', 'show', 'dev', DEV]), /clsact/);
  });

  it('its clsact qdisc deleted by someone else: said, and the run ends with status 1', async () => {
    const file = join(dir, 'qdisc.pcapng');
    const { cap, err } = await start(DEV, file);
    get('/before');
    net.exec(net.a, ['tc', 'qdisc', 'del', 'dev', DEV, 'clsact']);
    assert.equal(await exitsWithin(cap, 5000, err), 1, err());
    assert.match(err(), new RegExp(`^pano-capture: ${DEV}: the capture's ingress and egress filter was removed \\(tc, or another program, deleted it or the clsact qdisc\\); no longer capturing on it$`, 'm'));
    const r = await read(file);
    assert.ok(r.packets.length >= 10);
    assertComplete(file, r.packets.length);
  });

  it('renamed: the hooks stay, said once, and the capture goes on (exit 0)', async () => {
    const file = join(dir, 'renamed.pcapng');
    const { cap, err } = await start(DEV, file);
    net.exec(net.a, ['ip', 'link', 'set', DEV, 'down']);
    net.exec(net.a, ['ip', 'link', 'set', DEV, 'name', 'vren0']);
    net.exec(net.a, ['ip', 'link', 'set', 'vren0', 'up']);
    net.exec(net.b, ['ip', 'link', 'set', PEER, 'up']);
    await sleep(2000); // checked every second
    assert.match(err(), /renamed/);
    get('/after-rename');
    await sleep(1500);
    assert.equal(cap.exitCode, null, err());
    cap.kill('SIGINT');
    assert.equal(await exited(cap), 0, err());
    assert.equal(err().match(/renamed/g)?.length, 1, 'said once');
    assert.match(err(), new RegExp(`^pano-capture: ${DEV}: renamed vren0; still capturing on it \\(named ${DEV} in the capture\\)$`, 'm'));
    const r = await read(file);
    assert.ok(r.packets.some((p) => p.data.includes('/after-rename')), 'traffic after the rename is captured');
    assertComplete(file, r.packets.length);
  });
});
