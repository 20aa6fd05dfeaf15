/**
 * pano-capture on live interfaces, in network namespaces made for the test:
 * real HTTP clients (curl) and servers (node http) exchange traffic over a
 * veth pair and over the namespace's loopback while tcpdump captures the same
 * interface. Both captures must hold the same packets (count and bytes), and
 * `pano-capture | pano-parse` must print exactly the exchanges made.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCapture, Direction, type Packet, type CustomBlock, type InterfaceStatistics, type InterfaceInfo } from '@panopticon/pcap';
import { PANO_PEN, decodeLossRecord } from '@panopticon/capture';
import { bpfUnavailable, toolMissing } from './env.js';
import { TestNet, NODE_SRC, waitFor, exited, collect, ROOT } from './netns.js';
import { ipv4, l4, UDP } from './packets.js';

const skip = bpfUnavailable() ?? toolMissing('ip', 'tc', 'tcpdump', 'curl');
const CAPTURE = [...NODE_SRC, join(ROOT, 'bin/pano-capture')];
const PARSE = [...NODE_SRC, join(ROOT, 'bin/pano-parse')];
const PORT = 8080;

interface Read {
  packets: Packet[];
  interfaces: InterfaceInfo[];
  stats: InterfaceStatistics[];
  custom: CustomBlock[];
}

async function read(path: string): Promise<Read> {
  const r: Read = { packets: [], interfaces: [], stats: [], custom: [] };
  await readCapture(path, {
    onPacket: (p) => r.packets.push({ ...p, data: Buffer.from(p.data) }),
    onInterface: (i) => r.interfaces.push(i),
    onStatistics: (s) => r.stats.push(s),
    onCustom: (c) => r.custom.push(c),
  });
  return r;
}

/** TCP segments to or from `port` (IPv4 or IPv6 over Ethernet), as hex, for comparing captures. */
function segmentsOf(packets: Packet[], port: number): Packet[] {
  return packets.filter((p) => {
    const d = p.data;
    const type = d.readUInt16BE(12);
    let l4: number;
    if (type === 0x0800 && d[23] === 6) l4 = 14 + (d[14] & 0x0f) * 4;
    else if (type === 0x86dd && d[20] === 6) l4 = 14 + 40;
    else return false;
    return d.readUInt16BE(l4) === port || d.readUInt16BE(l4 + 2) === port;
  });
}

function sortedHex(packets: Packet[]): string[] {
  return packets.map((p) => p.data.toString('hex')).sort();
}

describe('pano-capture on live interfaces', { skip }, () => {
  let net: TestNet;
  let dir: string;

  before(async () => {
    net = new TestNet('cap');
    dir = mkdtempSync(join(tmpdir(), 'pano-capture-'));
    await net.httpServer(net.b, '0.0.0.0', PORT);
    await net.httpServer(net.b, '::', PORT + 1);
    await net.httpServer(net.a, '127.0.0.1', PORT);
  });
  after(() => {
    net?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Runs pano-capture and tcpdump on `iface` in namespace `ns` (A) around `traffic`, and returns both captures. */
  async function captureBoth(iface: string, extra: string[], traffic: () => void, ns = net.a) {
    const ours = join(dir, `${iface}-${extra.join('')}.pcapng`);
    const theirs = join(dir, `${iface}-${extra.join('')}.pcap`);
    const cap = net.spawn(ns, [...CAPTURE, '-i', iface, '-w', ours, ...extra]);
    const capErr = collect(cap, 'stderr');
    const tcpdump = net.spawn(ns, ['tcpdump', '-i', iface, '--immediate-mode', '-B', '65536', '-U', '-n', '-w', theirs]);
    try {
      await Promise.all([waitFor(cap, 'stderr', /capturing on/), waitFor(tcpdump, 'stderr', /listening on/)]);
      traffic();
      // Let the last packets (FIN/ACK) through both captures before stopping them.
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      cap.kill('SIGTERM');
      tcpdump.kill('SIGINT');
    }
    assert.equal(await exited(cap), 0, `pano-capture failed: ${capErr()}`);
    await exited(tcpdump);
    assert.equal(statSync(ours).mode & 0o777, 0o600, '-w creates the file 0600');
    return { ours: await read(ours), theirs: await read(theirs), stderr: capErr() };
  }

  function curl(ns: string, urls: string[]): string[] {
    const out = net.exec(ns, ['curl', '-s', '-g', '-w', '%{http_code}\n', ...urls.flatMap((u) => ['-o', '/dev/null', u])]);
    return out.trim().split('\n');
  }

  for (const buffer of ['ringbuf', 'perf'] as const) {
    it(`veth (${buffer}): the same packets as tcpdump, IPv4 and IPv6, with direction and sane timestamps`, async () => {
      const startMs = Date.now();
      const { ours, theirs, stderr } = await captureBoth(net.vethA, ['--buffer', buffer], () => {
        assert.deepEqual(curl(net.a, [`http://${net.ipB}:${PORT}/one`, `http://${net.ipB}:${PORT}/status/404`]), ['200', '404']);
        assert.deepEqual(curl(net.a, [`http://[${net.ip6B}]:${PORT + 1}/six`]), ['200']);
        // A body bigger than the MTU, so segments are split (or GSO-merged) on the way.
        net.exec(net.a, ['curl', '-s', '-o', '/dev/null', '--data-binary', `@${join(ROOT, 'package-lock.json')}`, `http://${net.ipB}:${PORT}/upload`]);
      });
      assert.match(stderr, new RegExp(buffer === 'perf' ? 'perf event array' : 'ring buffer'));
      const mine = [...segmentsOf(ours.packets, PORT), ...segmentsOf(ours.packets, PORT + 1)];
      const tcpd = [...segmentsOf(theirs.packets, PORT), ...segmentsOf(theirs.packets, PORT + 1)];
      assert.ok(tcpd.length >= 20, `tcpdump saw ${tcpd.length} segments`);
      assert.equal(mine.length, tcpd.length, 'packet count equals tcpdump');
      assert.deepEqual(sortedHex(mine), sortedHex(tcpd), 'packet bytes equal tcpdump');
      assert.equal(
        mine.reduce((a, p) => a + p.originalLength, 0),
        tcpd.reduce((a, p) => a + p.originalLength, 0),
      );
      // One interface, described with its name and nanosecond resolution.
      assert.equal(ours.interfaces.length, 1);
      assert.equal(ours.interfaces[0].name, net.vethA);
      assert.deepEqual(ours.interfaces[0].tsResol, { base: 10, exponent: 9 });
      // Directions: requests leave A (outbound), responses arrive (inbound).
      for (const p of mine) {
        const d = p.data;
        const v4 = d.readUInt16BE(12) === 0x0800;
        const src = v4 ? d.subarray(26, 30) : d.subarray(22, 38);
        const fromA = v4 ? src.equals(Buffer.from(net.ipA.split('.').map(Number))) : src.readUInt16BE(14) === 1;
        assert.equal(p.flags & 3, fromA ? Direction.OUTBOUND : Direction.INBOUND);
      }
      // Wall-clock timestamps: inside the test's run, and close to tcpdump's for the same packet.
      const endMs = Date.now();
      const theirTs = new Map(tcpd.map((p) => [p.data.toString('hex'), p.tsNs]));
      for (const p of mine) {
        assert.ok(p.tsNs >= BigInt(startMs - 1000) * 1_000_000n && p.tsNs <= BigInt(endMs + 1000) * 1_000_000n, `timestamp ${p.tsNs} in the run`);
        const t = theirTs.get(p.data.toString('hex'))!;
        const diff = p.tsNs > t ? p.tsNs - t : t - p.tsNs;
        assert.ok(diff < 50_000_000n, `within 50 ms of tcpdump's timestamp (off by ${diff} ns)`);
      }
      // Statistics at exit: nothing lost, everything delivered.
      const last = ours.stats[ours.stats.length - 1];
      assert.ok(last, 'an Interface Statistics Block at exit');
      assert.equal(last.osDrop, 0n);
      assert.equal(last.usrDeliv, BigInt(ours.packets.length));
      assert.equal(ours.custom.filter((c) => c.pen === PANO_PEN).length, 0, 'no loss record without loss');
    });

    it(`loopback (${buffer}): every packet exactly once, like tcpdump`, async () => {
      const { ours, theirs } = await captureBoth('lo', ['--buffer', buffer], () => {
        assert.deepEqual(curl(net.a, [`http://127.0.0.1:${PORT}/a`, `http://127.0.0.1:${PORT}/b`, `http://127.0.0.1:${PORT}/c`]), ['200', '200', '200']);
        // A 256 KiB upload: loopback hands the classifier GSO packets of up to 64 KiB.
        net.exec(net.a, ['sh', '-c', `head -c 262144 /dev/zero | curl -s -o /dev/null --data-binary @- http://127.0.0.1:${PORT}/big`]);
      });
      const mine = segmentsOf(ours.packets, PORT);
      const tcpd = segmentsOf(theirs.packets, PORT);
      assert.ok(tcpd.length >= 15);
      const dupes = sortedHex(mine).filter((h, i, a) => i > 0 && a[i - 1] === h);
      assert.equal(dupes.length, 0, 'no packet twice');
      if (buffer === 'perf') {
        // The perf path cuts at 65472 bytes; compare what both hold within that.
        assert.deepEqual(
          mine.map((p) => p.originalLength).sort(),
          tcpd.map((p) => p.originalLength).sort(),
        );
        assert.deepEqual(
          mine.map((p) => p.data.subarray(0, 65472).toString('hex')).sort(),
          tcpd.map((p) => p.data.subarray(0, 65472).toString('hex')).sort(),
        );
      } else {
        assert.deepEqual(sortedHex(mine), sortedHex(tcpd));
      }
      assert.ok(mine.some((p) => p.originalLength > 1500), 'GSO super-packets were captured whole');
      for (const p of mine) assert.equal(p.flags & 3, Direction.INBOUND, 'loopback is captured on ingress');
    });
  }

  for (const buffer of ['ringbuf', 'perf'] as const) {
    it(`802.1Q-tagged frames (${buffer}): the tag the kernel took out before TC ingress is put back, as tcpdump shows it`, async () => {
      // Tagged UDP frames sent raw out of A's veth arrive on B's, where the stack moves the tag out of
      // the bytes (VLAN acceleration) before TC ingress runs.
      const udp = ipv4({ src: net.ipA, dst: net.ipB, proto: UDP, body: l4(UDP, 5555, 9999, Buffer.from('tagged')) });
      const tag = Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 1, 0x81, 0x00, 0x20, 0x0a, 0x08, 0x00]); // PCP 1, VLAN 10
      const frame = Buffer.concat([tag, udp]);
      const { ours, theirs } = await captureBoth(net.vethB, ['--buffer', buffer], () => {
        net.exec(net.a, [process.execPath, join(ROOT, 'test/capture/fixtures/send-frame.mjs'), net.vethA, frame.toString('hex'), '3']);
      }, net.b);
      const tagged = (ps: Packet[]) => ps.filter((p) => p.data.readUInt16BE(12) === 0x8100);
      assert.equal(tagged(theirs.packets).length, 3, 'tcpdump saw the tagged frames');
      assert.deepEqual(sortedHex(tagged(ours.packets)), sortedHex(tagged(theirs.packets)), 'the same bytes as tcpdump, tag included');
      assert.deepEqual(sortedHex(tagged(ours.packets)), Array(3).fill(frame.toString('hex')), 'the frame as it was sent');
      for (const p of tagged(ours.packets)) {
        assert.equal(p.originalLength, frame.length, 'the original length counts the tag');
        assert.equal(p.flags & 3, Direction.INBOUND);
      }
    });
  }

  it('loss is counted in the kernel and reported: loss records, ISBs, stderr', async () => {
    // A 4 KiB ring cannot hold a 64 KiB loopback GSO packet: those are lost, and must be said to be.
    const { ours, stderr } = await captureBoth('lo', ['--ring-size', '4096', '--stats-interval', '0.2'], () => {
      net.exec(net.a, ['sh', '-c', `head -c 1048576 /dev/zero | curl -s -o /dev/null --data-binary @- http://127.0.0.1:${PORT}/big`]);
    });
    const losses = ours.custom.filter((c) => c.pen === PANO_PEN).map((c) => decodeLossRecord(c.data)!);
    assert.ok(losses.length >= 1, 'a loss record');
    assert.ok(losses.every((l) => l && l.interfaceId === 0 && l.lost > 0n && l.endNs >= l.startNs));
    const total = losses.reduce((a, l) => a + l.lost, 0n);
    assert.equal(losses[losses.length - 1].totalLost, total);
    assert.ok(ours.stats.length >= 2, `periodic ISBs plus the final one (got ${ours.stats.length})`);
    const last = ours.stats[ours.stats.length - 1];
    assert.equal(last.osDrop, total, 'ISB osdrop equals the loss records');
    assert.equal(last.usrDeliv, BigInt(ours.packets.length));
    assert.equal(last.filterAccept, BigInt(ours.packets.length) + total, 'every accepted packet was either delivered or counted lost');
    assert.match(stderr, new RegExp(`lo: ${total} packets lost in the kernel \\(${total} buffer full, 0 unreadable\\)`));
  });

  for (const workers of [[], ['--workers', '2']]) {
    it(`pano-capture | pano-parse${workers.map((w) => ` ${w}`).join('')} prints exactly the HTTP exchanges made`, async () => {
      const cap = net.spawn(net.a, [...CAPTURE, '-i', `${net.vethA},lo`], { stdio: ['ignore', 'pipe', 'pipe'] });
      const capErr = collect(cap, 'stderr');
      const parse = net.spawn(net.a, [...PARSE, ...workers], { stdio: ['pipe', 'pipe', 'pipe'] });
      cap.stdout!.pipe(parse.stdin!);
      const events = collect(parse, 'stdout');
      await waitFor(cap, 'stderr', /capturing on/);
      const made: [string, string, number][] = [];
      const urls = [
        [`http://${net.ipB}:${PORT}/users/1`, '/users/1', 200],
        [`http://${net.ipB}:${PORT}/status/503`, '/status/503', 503],
        [`http://[${net.ip6B}]:${PORT + 1}/v6/path`, '/v6/path', 200],
        [`http://127.0.0.1:${PORT}/local`, '/local', 200],
      ] as const;
      for (const [url, path, status] of urls) {
        assert.deepEqual(curl(net.a, [url]), [String(status)]);
        made.push(['GET', path, status]);
      }
      net.exec(net.a, ['curl', '-s', '-o', '/dev/null', '-X', 'POST', '--data', 'name=x', `http://${net.ipB}:${PORT}/form`]);
      made.push(['POST', '/form', 200]);
      await new Promise((r) => setTimeout(r, 300));
      cap.kill('SIGTERM');
      assert.equal(await exited(cap), 0, capErr());
      assert.equal(await exited(parse), 0);
      const all = events()
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l));
      // live: every event says it came from the TC hook of the interface it was captured on
      for (const e of all) assert.deepEqual(e.pano.source, { type: 'tc', name: e.network.interface.name });
      assert.deepEqual([...new Set(all.map((e) => e.pano.source.name))].sort(), [net.vethA, 'lo'].sort());
      const got = all
        .filter((e) => e.http)
        .map((e) => [e.http.request.method, e.url.path, e.http.response.status_code] as [string, string, number]);
      const key = (x: [string, string, number]) => x.join(' ');
      assert.deepEqual(got.map(key).sort(), made.map(key).sort());
    });
  }

  it('SIGTERM removes the clsact qdisc it created and its filters', async () => {
    const cap = net.spawn(net.a, [...CAPTURE, '-i', `${net.vethA},lo`, '-w', '/dev/null']);
    await waitFor(cap, 'stderr', /capturing on/);
    assert.match(net.exec(net.a, ['tc', 'qdisc', 'show', 'dev', net.vethA]), /clsact/);
    assert.match(net.exec(net.a, ['tc', 'filter', 'show', 'dev', net.vethA, 'egress']), /pano_cap_eg/);
    cap.kill('SIGTERM');
    assert.equal(await exited(cap), 0);
    for (const dev of [net.vethA, 'lo']) {
      assert.doesNotMatch(net.exec(net.a, ['tc', 'qdisc', 'show', 'dev', dev]), /clsact/);
      assert.equal(net.exec(net.a, ['tc', 'filter', 'show', 'dev', dev, 'ingress']).trim(), '');
    }
  });

  it('leaves a clsact qdisc that existed, and other filters on it', async () => {
    net.exec(net.a, ['tc', 'qdisc', 'add', 'dev', net.vethA, 'clsact']);
    net.exec(net.a, ['tc', 'filter', 'add', 'dev', net.vethA, 'ingress', 'prio', '7', 'protocol', 'ip', 'u32', 'match', 'ip', 'dst', '203.0.113.9/32']);
    try {
      const cap = net.spawn(net.a, [...CAPTURE, '-i', net.vethA, '-w', '/dev/null']);
      await waitFor(cap, 'stderr', /capturing on/);
      assert.match(net.exec(net.a, ['tc', 'filter', 'show', 'dev', net.vethA, 'ingress']), /pano_cap_in/);
      cap.kill('SIGINT');
      assert.equal(await exited(cap), 0);
      assert.match(net.exec(net.a, ['tc', 'qdisc', 'show', 'dev', net.vethA]), /clsact/);
      const left = net.exec(net.a, ['tc', 'filter', 'show', 'dev', net.vethA, 'ingress']);
      assert.match(left, /u32/);
      assert.doesNotMatch(left, /pano_cap/);
    } finally {
      net.exec(net.a, ['tc', 'qdisc', 'del', 'dev', net.vethA, 'clsact'], { allowFail: true });
    }
  });

  it('after SIGKILL, the next run removes the filters and the qdisc the killed run left', async () => {
    const cap = net.spawn(net.a, [...CAPTURE, '-i', `${net.vethA},lo`, '-w', '/dev/null']);
    await waitFor(cap, 'stderr', /capturing on/);
    cap.kill('SIGKILL');
    await exited(cap);
    assert.match(net.exec(net.a, ['tc', 'filter', 'show', 'dev', net.vethA, 'ingress']), /pano_cap_in/, 'SIGKILL leaves the filter behind');
    // A concurrent live capture on the same interface must survive the cleanup.
    const live = net.spawn(net.a, [...CAPTURE, '-i', net.vethA, '-w', '/dev/null']);
    await waitFor(live, 'stderr', /capturing on/);
    const filters = net.exec(net.a, ['tc', 'filter', 'show', 'dev', net.vethA, 'ingress']);
    assert.equal(filters.match(/pano_cap_in_\w+:\[/g)?.length, 1, 'only the live run’s filter is left');
    assert.doesNotMatch(net.exec(net.a, ['tc', 'qdisc', 'show', 'dev', 'lo']), /clsact/, 'the killed run’s qdisc on lo is gone');
    live.kill('SIGTERM');
    assert.equal(await exited(live), 0);
    for (const dev of [net.vethA, 'lo']) {
      assert.doesNotMatch(net.exec(net.a, ['tc', 'qdisc', 'show', 'dev', dev]), /clsact/);
      assert.equal(net.exec(net.a, ['tc', 'filter', 'show', 'dev', dev, 'egress']).trim(), '');
    }
  });

  it('a closed stdout ends the capture quietly and detaches', async () => {
    const cap = net.spawn(net.a, ['bash', '-c', `${CAPTURE.join(' ')} -i lo | head -c 64 > /dev/null; exit \${PIPESTATUS[0]}`]);
    const err = collect(cap, 'stderr');
    await waitFor(cap, 'stderr', /capturing on/);
    // Traffic makes the capture write, which meets the closed pipe.
    for (let i = 0; i < 5 && cap.exitCode === null; i++) {
      curl(net.a, [`http://127.0.0.1:${PORT}/x`]);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(await exited(cap), 0);
    assert.doesNotMatch(err(), /error|EPIPE/i);
    assert.doesNotMatch(net.exec(net.a, ['tc', 'qdisc', 'show', 'dev', 'lo']), /clsact/);
  });

  /**
   * Starts `pano-capture -i lo` writing into a pipe this process stops reading, and sends it
   * 1 MiB of loopback traffic: far more pcapng than the pipe and the stream's buffer hold, so the
   * capture's writes find the pipe full.
   */
  async function stalledReader() {
    const cap = net.spawn(net.a, [...CAPTURE, '-i', 'lo']);
    const err = collect(cap, 'stderr');
    cap.stdout!.pause();
    await waitFor(cap, 'stderr', /capturing on/);
    for (let i = 0; i < 4; i++) {
      net.exec(net.a, ['sh', '-c', `head -c 262144 /dev/zero | curl -s -o /dev/null --data-binary @- http://127.0.0.1:${PORT}/stall${i}`]);
    }
    // the capture has certainly met the full pipe once its stream holds what the pipe could not take
    for (let i = 0; i < 100 && cap.stdout!.readableLength < cap.stdout!.readableHighWaterMark; i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(cap.stdout!.readableLength >= cap.stdout!.readableHighWaterMark, 'the reader side is full');
    return { cap, err };
  }

  async function filtersGone(): Promise<boolean> {
    for (let i = 0; i < 100; i++) {
      if (net.exec(net.a, ['tc', 'filter', 'show', 'dev', 'lo', 'ingress']).trim() === '') return true;
      await new Promise((r) => setTimeout(r, 50));
    }
    return false;
  }

  it('SIGTERM while the reader has stopped reading: the filters go at once, and the reader that comes back gets the whole capture', { timeout: 60_000 }, async () => {
    const { cap, err } = await stalledReader();
    cap.kill('SIGTERM');
    // (it used to wait for the pipe in a loop that kept the signal from ever being handled)
    assert.ok(await filtersGone(), 'the filters are detached while the reader is still stalled');
    const packets: Packet[] = [];
    const stats: InterfaceStatistics[] = [];
    const warnings: unknown[] = [];
    const last: string[] = [];
    await readCapture(cap.stdout!, {
      onPacket: (p) => (packets.push(p), last.push('packet')),
      onStatistics: (st) => (stats.push(st), last.push('statistics')),
      onWarning: (w) => warnings.push(w),
    });
    assert.equal(await exited(cap), 0, err());
    assert.deepEqual(warnings, [], 'a whole pcapng stream');
    const said = /(\d+) packets captured/.exec(err());
    assert.ok(said, err());
    assert.equal(packets.length, Number(said[1]), 'every packet captured reached the reader');
    assert.equal(last[last.length - 1], 'statistics', 'the final statistics end the stream');
    assert.equal(stats[stats.length - 1].usrDeliv + stats[stats.length - 1].osDrop, stats[stats.length - 1].filterAccept);
  });

  it('SIGTERM while the reader never reads again: detached at once, the run ends, saying what was not written (exit 74)', { timeout: 60_000 }, async () => {
    const { cap, err } = await stalledReader();
    cap.kill('SIGTERM');
    assert.ok(await filtersGone(), 'the filters are detached while the reader is stalled');
    assert.equal(await exited(cap), 74, err());
    assert.match(err(), /^pano-capture: standard output: the reader took nothing for 2 s after the capture ended; its last \d+ bytes were not written$/m);
    cap.stdout!.destroy();
  });

  it('clear one-line errors: unknown interface, bad filter values', () => {
    const run = (args: string[]) => {
      try {
        net.exec(net.a, [...CAPTURE, ...args]);
        return '';
      } catch (e) {
        return (e as Error).message;
      }
    };
    assert.match(run(['-i', 'nosuch0']), /pano-capture: no such interface: nosuch0\s*$/);
    assert.match(run(['-i', 'lo', '--host', '10.0.0.0/40']), /--host 10\.0\.0\.0\/40: prefix length must be 0-32/);
    assert.match(run(['-i', 'lo', '--port', '70000']), /--port 70000: not a port number/);
    assert.match(run(['-i', 'lo', '--ring-size', '3000']), /power of two/);
    assert.match(run([]), /no interface given/);
  });
});
