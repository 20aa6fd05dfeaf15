import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FlowTable, Dir, fingerprint, type Connection, type FlowSink } from '@panopticon/flows';
import { IpProto, TcpFlag, type L4Packet } from '@panopticon/decode';

const C = { addr: '10.0.0.1', port: 40000 };
const S = { addr: '10.0.0.2', port: 80 };

interface Rec {
  log: string[];
  streams: Map<number, [string, string]>;
  conns: Connection[];
}

function recorder(): { sink: FlowSink; rec: Rec } {
  const rec: Rec = { log: [], streams: new Map(), conns: [] };
  const sink: FlowSink = {
    open(c) {
      rec.conns.push(c);
      rec.streams.set(c.id, ['', '']);
      rec.log.push(`open ${c.id} ${c.client.port}->${c.server.port} ${c.roleSource}`);
    },
    data(c, dir, chunk) {
      const s = rec.streams.get(c.id)!;
      s[dir] += chunk.toString('latin1');
    },
    gap(c, dir, n) {
      const s = rec.streams.get(c.id)!;
      s[dir] += `<gap ${n}>`;
      rec.log.push(`gap ${c.id} ${dir} ${n}`);
    },
    end(c, dir) {
      rec.log.push(`end ${c.id} ${dir}`);
    },
    close(c, reason) {
      rec.log.push(`close ${c.id} ${reason}`);
    },
    datagram(c, dir, p) {
      rec.log.push(`dgram ${c.id} ${dir} ${p.toString()}`);
    },
  };
  return { sink, rec };
}

let t = 0n;
function seg(from: 'c' | 's', seq: number, flags: number, payload = '', missing = 0): L4Packet {
  const [a, b] = from === 'c' ? [C, S] : [S, C];
  t += 1000n;
  return {
    tsNs: t,
    interfaceKey: 0,
    ipVersion: 4,
    srcAddr: a.addr,
    dstAddr: b.addr,
    protocol: IpProto.TCP,
    srcPort: a.port,
    dstPort: b.port,
    tcp: { seq: seq >>> 0, ack: 0, flags, window: 1000 },
    payload: Buffer.from(payload, 'latin1'),
    missing,
  };
}
const A = TcpFlag.ACK;

test('in-order stream with handshake: roles from SYN, FIN on both sides closes', () => {
  const { sink, rec } = recorder();
  const ft = new FlowTable(sink);
  ft.packet(seg('c', 100, TcpFlag.SYN));
  ft.packet(seg('s', 900, TcpFlag.SYN | A));
  ft.packet(seg('c', 101, A, 'hello '));
  ft.packet(seg('c', 107, A, 'world'));
  ft.packet(seg('s', 901, A, 'ok'));
  ft.packet(seg('c', 112, TcpFlag.FIN | A));
  ft.packet(seg('s', 903, TcpFlag.FIN | A));
  assert.deepEqual(rec.streams.get(1), ['hello world', 'ok']);
  assert.deepEqual(rec.log, ['open 1 40000->80 syn', `end 1 ${Dir.ToServer}`, `end 1 ${Dir.ToClient}`, 'close 1 fin']);
  assert.equal(ft.size, 0);
});

test('out-of-order, retransmitted and overlapping segments reassemble exactly', () => {
  const { sink, rec } = recorder();
  const ft = new FlowTable(sink);
  ft.packet(seg('c', 0, TcpFlag.SYN));
  ft.packet(seg('c', 11, A, 'KLMNO')); // ahead: held
  ft.packet(seg('c', 6, A, 'FGHIJ')); // ahead: held
  ft.packet(seg('c', 1, A, 'ABCDE')); // fills the hole: all three delivered
  ft.packet(seg('c', 1, A, 'ABCDE')); // full retransmission: dropped
  ft.packet(seg('c', 14, A, 'NOPQR')); // overlaps 2 bytes: only PQR is new
  ft.closeAll();
  assert.equal(rec.streams.get(1)![0], 'ABCDEFGHIJKLMNOPQR');
  assert.equal(ft.counters.retransmittedBytes, 5);
  assert.equal(ft.counters.overlapBytes, 2);
  assert.equal(ft.counters.outOfOrderSegments, 2);
});

test('a hole that never fills is reported as a gap at close, not glued', () => {
  const { sink, rec } = recorder();
  const ft = new FlowTable(sink);
  ft.packet(seg('c', 0, TcpFlag.SYN));
  ft.packet(seg('c', 1, A, 'abc'));
  ft.packet(seg('c', 10, A, 'xyz')); // bytes 4..9 lost
  ft.closeAll();
  assert.equal(rec.streams.get(1)![0], 'abc<gap 6>xyz');
  assert.equal(ft.counters.gapBytes, 6);
});

test('a hole the other side has acknowledged is a gap at once; one it has not is waited for', () => {
  const { sink, rec } = recorder();
  const ft = new FlowTable(sink);
  const acking = (p: L4Packet, ack: number) => ((p.tcp!.ack = ack), p);
  ft.packet(seg('c', 0, TcpFlag.SYN));
  ft.packet(acking(seg('s', 500, TcpFlag.SYN | A), 1));
  ft.packet(seg('c', 1, A, 'abc'));
  ft.packet(seg('c', 10, A, 'xyz')); // bytes 4..9 not captured
  // the server has bytes up to 4 only: the hole may still be retransmitted
  ft.packet(acking(seg('s', 501, A, 'r1'), 4));
  assert.equal(rec.streams.get(1)![0], 'abc');
  // it acknowledges byte 13: it received 4..9, which will not be sent again
  ft.packet(acking(seg('s', 503, A, 'r2'), 13));
  assert.equal(rec.streams.get(1)![0], 'abc<gap 6>xyz');
  assert.equal(ft.counters.ackedHoles, 1);
  assert.deepEqual(rec.log.filter((l) => l.startsWith('gap')), ['gap 1 0 6']);
  assert.equal(rec.streams.get(1)![1], 'r1r2');
  // the late copy of the lost bytes is a retransmission now, not data
  ft.packet(seg('c', 4, A, 'defghi'));
  assert.equal(rec.streams.get(1)![0], 'abc<gap 6>xyz');
});

test('held bytes past the bound declare the hole a gap without waiting', () => {
  const { sink, rec } = recorder();
  const ft = new FlowTable(sink, { maxBufferedBytes: 8 });
  ft.packet(seg('c', 0, TcpFlag.SYN));
  ft.packet(seg('c', 1, A, 'a'));
  ft.packet(seg('c', 5, A, 'eeee'));
  ft.packet(seg('c', 9, A, 'iiii'));
  ft.packet(seg('c', 13, A, 'mmmm')); // 12 held > 8: give up on bytes 2..4
  assert.equal(rec.streams.get(1)![0], 'a<gap 3>eeeeiiiimmmm');
});

test('out-of-order bytes of all connections together are bounded: past the total, the direction adding more gives up its hole', () => {
  const { sink, rec } = recorder();
  const ft = new FlowTable(sink, { maxBufferedBytes: 100, maxBufferedTotal: 10 });
  const other = (p: L4Packet): L4Packet => (p.srcPort === C.port ? { ...p, srcPort: 40001 } : { ...p, dstPort: 40001 });
  ft.packet(seg('c', 0, TcpFlag.SYN));
  ft.packet(seg('c', 1, A, 'a'));
  ft.packet(seg('c', 5, A, 'eeeeffff')); // connection 1 holds 8 (bytes 2..4 missing so far)
  ft.packet(other(seg('c', 0, TcpFlag.SYN)));
  ft.packet(other(seg('c', 1, A, 'A')));
  ft.packet(other(seg('c', 4, A, 'DDDD'))); // connection 2 would hold 4 more: 12 > 10, so it gives up bytes 2..3
  assert.equal(rec.streams.get(2)![0], 'A<gap 2>DDDD');
  assert.equal(ft.counters.bufferTotalGaps, 1);
  // connection 1 kept what it held, and its hole can still fill
  ft.packet(seg('c', 2, A, 'bcd'));
  assert.equal(rec.streams.get(1)![0], 'abcdeeeeffff');
  // each connection alone is under its own bound: without the total, both would hold
  const free = recorder();
  const ft2 = new FlowTable(free.sink, { maxBufferedBytes: 100 });
  for (const p of [seg('c', 0, TcpFlag.SYN), seg('c', 1, A, 'a'), seg('c', 5, A, 'eeeeffff'), other(seg('c', 0, TcpFlag.SYN)), other(seg('c', 1, A, 'A')), other(seg('c', 4, A, 'DDDD'))]) ft2.packet(p);
  assert.equal(free.rec.streams.get(2)![0], 'A');
  assert.equal(ft2.counters.bufferTotalGaps, 0);
});

test('snap-length truncated payload becomes a gap of the missing bytes', () => {
  const { sink, rec } = recorder();
  const ft = new FlowTable(sink);
  ft.packet(seg('c', 0, TcpFlag.SYN));
  ft.packet(seg('c', 1, A, 'head', 6)); // 10 bytes on the wire, 4 captured
  ft.packet(seg('c', 11, A, 'next'));
  ft.closeAll();
  assert.equal(rec.streams.get(1)![0], 'head<gap 6>next');
});

test('sequence numbers wrap around 2^32', () => {
  const { sink, rec } = recorder();
  const ft = new FlowTable(sink);
  ft.packet(seg('c', 0xfffffffd, TcpFlag.SYN));
  ft.packet(seg('c', 0xfffffffe, A, 'ab'));
  ft.packet(seg('c', 1, A, 'de')); // after wrap: held until 'c' at 0
  ft.packet(seg('c', 0, A, 'c'));
  ft.closeAll();
  assert.equal(rec.streams.get(1)![0], 'abcde');
});

test('mid-stream join: roles from ports, then the protocol can flip them', () => {
  const { sink, rec } = recorder();
  const ft = new FlowTable(sink);
  ft.packet(seg('s', 5000, A, 'HTTP/1.1 200 OK\r\n'));
  const conn = rec.conns[0];
  assert.equal(conn.roleSource, 'port');
  assert.equal(conn.server.port, 80);
  assert.equal(conn.midstream, true);
  ft.flipRoles(conn);
  assert.equal(conn.client.port, 80);
  // After the flip, the port-80 side's bytes are ToServer, the other side's ToClient.
  ft.packet(seg('s', 5017, A, 'more'));
  ft.packet(seg('c', 77, A, 'back'));
  assert.deepEqual(rec.streams.get(1), ['more', 'HTTP/1.1 200 OK\r\nback']);
});

test('bare ACKs for unknown connections open nothing; RST closes', () => {
  const { sink, rec } = recorder();
  const ft = new FlowTable(sink);
  ft.packet(seg('c', 1, A));
  assert.equal(rec.conns.length, 0);
  ft.packet(seg('c', 1, A, 'x'));
  ft.packet(seg('s', 1, TcpFlag.RST));
  assert.deepEqual(rec.log.slice(-1), ['close 1 rst']);
  // A late retransmission after the close does not resurrect the connection.
  ft.packet(seg('c', 1, A, 'x'));
  assert.equal(rec.conns.length, 1);
});

test('connection bound: the least recently active (to a second) is evicted and counted', () => {
  const { sink, rec } = recorder();
  const ft = new FlowTable(sink, { maxConnections: 2 });
  const s = 1_000_000_000n;
  const mk = (port: number, ts: bigint): L4Packet => ({ ...seg('c', 1, A, 'x'), srcPort: port, tsNs: ts });
  ft.packet(mk(1001, 1n * s));
  ft.packet(mk(1002, 2n * s));
  ft.packet(mk(1001, 3n * s)); // 1001 active again
  ft.packet(mk(1003, 4n * s)); // evicts 1002
  assert.equal(ft.counters.evicted, 1);
  assert.ok(rec.log.includes('close 2 evicted'));
  assert.equal(ft.size, 2);
});

test('idle connections are closed by packet time', () => {
  const { sink, rec } = recorder();
  const ft = new FlowTable(sink, { idleTimeoutNs: 10_000_000_000n });
  ft.packet({ ...seg('c', 1, A, 'x'), tsNs: 1_000_000_000n });
  ft.packet({ ...seg('c', 1, A, 'y'), srcPort: 999, tsNs: 30_000_000_000n });
  assert.ok(rec.log.includes('close 1 idle'));
  assert.equal(ft.counters.idleClosed, 1);
});

test('a new SYN on a finished tuple starts a new connection (port reuse)', () => {
  const { sink, rec } = recorder();
  const ft = new FlowTable(sink);
  ft.packet(seg('c', 100, TcpFlag.SYN));
  ft.packet(seg('c', 101, A, 'one'));
  ft.packet(seg('c', 5000, TcpFlag.SYN));
  ft.packet(seg('c', 5001, A, 'two'));
  // another client on the same ports takes the lookup cache's slot: the new connection is found in the table
  ft.packet({ ...seg('c', 1, A, 'other'), srcAddr: '10.0.0.9' });
  ft.packet(seg('c', 5004, A, '-more'));
  ft.closeAll();
  assert.equal(rec.conns.length, 3);
  assert.deepEqual(rec.streams.get(1), ['one', '']);
  assert.deepEqual(rec.streams.get(2), ['two-more', '']);
  assert.deepEqual(rec.streams.get(3), ['other', '']);
});

test('UDP datagrams: roles from ports, both directions on one flow', () => {
  const { sink, rec } = recorder();
  const ft = new FlowTable(sink, { serverPorts: new Set([53]) });
  const q: L4Packet = { ...seg('c', 0, 0, 'q'), protocol: IpProto.UDP, tcp: undefined, srcPort: 5555, dstPort: 53 };
  const r: L4Packet = { ...seg('s', 0, 0, 'r'), protocol: IpProto.UDP, tcp: undefined, srcPort: 53, dstPort: 5555 };
  ft.packet(r); // the response seen first still makes port 53 the server
  ft.packet(q);
  assert.deepEqual(rec.log, ['open 1 5555->53 port', `dgram 1 ${Dir.ToClient} r`, `dgram 1 ${Dir.ToServer} q`]);
});

function udp(from: 'c' | 's', text: string, client = C): L4Packet {
  const [a, b] = from === 'c' ? [client, S] : [S, client];
  t += 1000n;
  return { tsNs: t, interfaceKey: 0, ipVersion: 4, srcAddr: a.addr, dstAddr: b.addr, protocol: IpProto.UDP, srcPort: a.port, dstPort: b.port, payload: Buffer.from(text), missing: 0 };
}

test('a UDP flow whose receiver is done closes (fin); the next datagram on its ports opens a new flow', () => {
  const { sink, rec } = recorder();
  // the receiver is done after every datagram that says "done"
  const ft = new FlowTable({ ...sink, datagram: (c, dir, p) => (sink.datagram(c, dir, p, 0n), p.toString().endsWith('done')) });
  ft.packet(udp('c', 'q1'));
  ft.packet(udp('c', 'q2'));
  ft.packet(udp('s', 'r1'));
  ft.packet(udp('s', 'r2 done'));
  ft.packet(udp('c', 'q3'));
  assert.equal(ft.size, 1);
  ft.closeAll();
  assert.deepEqual(rec.log, [
    'open 1 40000->80 port',
    `dgram 1 ${Dir.ToServer} q1`,
    `dgram 1 ${Dir.ToServer} q2`,
    `dgram 1 ${Dir.ToClient} r1`,
    `dgram 1 ${Dir.ToClient} r2 done`,
    'close 1 fin',
    'open 2 40000->80 port',
    `dgram 2 ${Dir.ToServer} q3`,
    'close 2 end',
  ]);
  assert.equal(ft.counters.udpFlows, 2);
  assert.equal(ft.counters.udpFlowsFinished, 1);
});

/**
 * Client endpoints whose tuples with S share a fingerprint. The fingerprint
 * has 52 bits, so a pair is found by search, not in a test: 2^28 clients
 * (10.0.0.0/8 on ports 1024-1039) against S, fingerprints sorted: 11 pairs
 * for UDP and 3 for TCP (a 52-bit hash gives about 8); the first of each.
 */
const COLLIDING: Record<number, [typeof C, typeof C]> = {
  [IpProto.UDP]: [{ addr: '10.74.63.107', port: 1024 }, { addr: '10.67.125.127', port: 1028 }],
  [IpProto.TCP]: [{ addr: '10.139.6.136', port: 1024 }, { addr: '10.213.38.171', port: 1034 }],
};

function collidingClients(proto: number = IpProto.UDP): [typeof C, typeof C] {
  const [c1, c2] = COLLIDING[proto];
  assert.equal(fingerprint(proto, c1.addr, c1.port, S.addr, S.port), fingerprint(proto, S.addr, S.port, c2.addr, c2.port), 'the pair no longer collides: search again');
  return [c1, c2];
}

test('tuples sharing a fingerprint are two connections, each found again, through a close', () => {
  const [c1, c2] = collidingClients();
  const { sink, rec } = recorder();
  const ft = new FlowTable(sink);
  ft.packet(udp('c', 'a1', c1));
  ft.packet(udp('c', 'b1', c2));
  assert.equal(ft.size, 2);
  ft.packet(udp('s', 'a2', c1));
  ft.packet(udp('s', 'b2', c2));
  ft.closeAll();
  assert.equal(ft.counters.udpFlows, 2);
  assert.equal((ft as unknown as { textKeyed: number }).textKeyed, 0, 'no text-keyed entry is left counted');
  assert.deepEqual(
    rec.log.filter((l) => l.startsWith('dgram')),
    [`dgram 1 ${Dir.ToServer} a1`, `dgram 2 ${Dir.ToServer} b1`, `dgram 1 ${Dir.ToClient} a2`, `dgram 2 ${Dir.ToClient} b2`],
  );
  // the first (keyed by the fingerprint) ends; the second, keyed by its text, is still found
  const r2 = recorder();
  const ft2 = new FlowTable({ ...r2.sink, datagram: (c, dir, p) => (r2.sink.datagram(c, dir, p, 0n), p.toString().endsWith('done')) });
  ft2.packet(udp('c', 'a1', c1));
  ft2.packet(udp('c', 'b1', c2));
  ft2.packet(udp('s', 'a2 done', c1));
  ft2.packet(udp('s', 'b2', c2));
  ft2.packet(udp('c', 'a3', c1));
  ft2.packet(udp('c', 'b3', c2));
  ft2.closeAll();
  assert.deepEqual(
    r2.rec.log.filter((l) => !l.startsWith('open')),
    [
      `dgram 1 ${Dir.ToServer} a1`,
      `dgram 2 ${Dir.ToServer} b1`,
      `dgram 1 ${Dir.ToClient} a2 done`,
      'close 1 fin',
      `dgram 2 ${Dir.ToClient} b2`,
      `dgram 3 ${Dir.ToServer} a3`,
      `dgram 2 ${Dir.ToServer} b3`,
      'close 2 end',
      'close 3 end',
    ],
  );
});

test('a TCP connection keyed by its text (fingerprint taken) has its halves swapped with its roles', () => {
  const [c1, c2] = collidingClients(IpProto.TCP);
  const { sink, rec } = recorder();
  const ft = new FlowTable(sink);
  const from = (who: typeof C, toServer: boolean, seq: number, text: string): L4Packet => {
    const p = seg(toServer ? 'c' : 's', seq, A, text);
    return toServer ? { ...p, srcAddr: who.addr, srcPort: who.port } : { ...p, dstAddr: who.addr, dstPort: who.port };
  };
  ft.packet(from(c1, true, 1, 'one'));
  ft.packet(from(c2, true, 1, 'two'));
  const second = rec.conns[1];
  ft.flipRoles(second); // the protocol says the port-80 side is the client
  ft.packet(from(c2, true, 4, '-more'));
  ft.packet(from(c1, true, 1, 'one')); // a retransmission: the first connection's halves are as they were
  ft.closeAll();
  assert.equal(ft.counters.retransmittedBytes, 3);
  // bytes from c2 before the flip went to the server, after it to the client (its half swapped too)
  assert.deepEqual(rec.streams.get(second.id), ['two', '-more']);
  assert.deepEqual(rec.streams.get(rec.conns[0].id), ['one', '']);
});
