/**
 * FlowTable.plaintext: TLS library chunks (pano-capture --tls) become
 * streams of their own, apart from packet flows of the same tuple.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FlowTable, Dir, type Connection, type FlowSink, type PlaintextChunk } from '@panopticon/flows';

interface Log {
  conns: Connection[];
  streams: Map<number, [string, string]>;
  log: string[];
}

function recorder(): { sink: FlowSink; rec: Log } {
  const rec: Log = { conns: [], streams: new Map(), log: [] };
  const sink: FlowSink = {
    open(c) {
      rec.conns.push(c);
      rec.streams.set(c.id, ['', '']);
      rec.log.push(`open ${c.id} ${c.client.port}->${c.server.port}`);
    },
    data(c, dir, chunk) {
      rec.streams.get(c.id)![dir] += chunk.toString('latin1');
    },
    gap(c, dir, n) {
      rec.streams.get(c.id)![dir] += `<gap ${n}>`;
    },
    end() {},
    close(c, reason) {
      rec.log.push(`close ${c.id} ${reason}`);
    },
    datagram() {},
  };
  return { sink, rec };
}

const LOCAL = { address: '127.0.0.1', port: 51000 };
const REMOTE = { address: '127.0.0.1', port: 443 };
let ts = 1_000_000_000n;

function chunk(sent: boolean, text: string, over: Partial<PlaintextChunk> = {}): PlaintextChunk {
  ts += 1000n;
  return {
    tsNs: ts,
    origin: 'openssl',
    pid: 100,
    tid: 101,
    comm: 'curl',
    handle: 0xabcn,
    sent,
    tuple: { ipVersion: 4, local: LOCAL, remote: REMOTE },
    data: Buffer.from(text),
    missing: 0,
    ...over,
  };
}

test('a library connection is one ordered stream pair, with its process and origin', () => {
  const { sink, rec } = recorder();
  const ft = new FlowTable(sink, { serverPorts: new Set([443]) });
  ft.plaintext(chunk(true, 'GET / HTTP/1.1\r\n\r\n'));
  ft.plaintext(chunk(false, 'HTTP/1.1 200 OK\r\n'));
  ft.plaintext(chunk(false, '\r\n'));
  ft.closeAll();
  assert.equal(rec.conns.length, 1);
  const c = rec.conns[0];
  assert.deepEqual(c.client, LOCAL);
  assert.deepEqual(c.server, REMOTE);
  assert.equal(c.origin, 'openssl');
  assert.deepEqual(c.process, { pid: 100, tid: 101, comm: 'curl' });
  assert.equal(c.interfaceKey, -1);
  assert.deepEqual(rec.streams.get(c.id), ['GET / HTTP/1.1\r\n\r\n', 'HTTP/1.1 200 OK\r\n\r\n']);
  assert.equal(ft.counters.plaintextConnections, 1);
});

test("the server side's chunks: its reads go to the server; after a role flip, direction follows its own end", () => {
  const { sink, rec } = recorder();
  const ft = new FlowTable(sink, { serverPorts: new Set([443]) });
  const server = { tuple: { ipVersion: 4 as const, local: REMOTE, remote: LOCAL }, comm: 'nginx' };
  ft.plaintext(chunk(false, 'req', server));
  const c = rec.conns[0];
  assert.deepEqual(c.server, REMOTE);
  assert.deepEqual(rec.streams.get(c.id), ['req', '']);
  ft.plaintext(chunk(true, 'resp', server));
  assert.deepEqual(rec.streams.get(c.id), ['req', 'resp']);
  // a flip (the dispatcher's content detection) makes the process's end the client: what it sends now goes to the server
  ft.flipRoles(c);
  assert.deepEqual(c.client, REMOTE);
  ft.plaintext(chunk(true, '+sent', server));
  ft.plaintext(chunk(false, '+got', server));
  assert.deepEqual(rec.streams.get(c.id), ['req+sent', 'resp+got']);
});

test('chunks without a tuple wait for one from the same library connection, then come first', () => {
  const { sink, rec } = recorder();
  const ft = new FlowTable(sink, { serverPorts: new Set([443]) });
  ft.plaintext(chunk(true, 'POST /a HTTP/1.1\r\n', { tuple: undefined }));
  ft.plaintext(chunk(true, 'other', { tuple: undefined, handle: 0xdefn }));
  assert.equal(rec.conns.length, 0);
  ft.plaintext(chunk(false, 'HTTP/1.1 201'));
  assert.equal(rec.conns.length, 1);
  assert.deepEqual(rec.streams.get(rec.conns[0].id), ['POST /a HTTP/1.1\r\n', 'HTTP/1.1 201']);
  // and once tied, untied chunks of it go straight in
  ft.plaintext(chunk(true, 'more', { tuple: undefined }));
  assert.equal(rec.streams.get(rec.conns[0].id)![Dir.ToServer], 'POST /a HTTP/1.1\r\nmore');
  ft.closeAll();
  // the other handle never got a tuple: dropped and counted
  assert.equal(ft.counters.plaintextUntiedBytes, 5);
});

test('untied chunks are bounded per library connection', () => {
  const { sink } = recorder();
  const ft = new FlowTable(sink, {});
  const big = 'x'.repeat(200 * 1024);
  ft.plaintext(chunk(true, big, { tuple: undefined }));
  ft.plaintext(chunk(true, big, { tuple: undefined }));
  assert.equal(ft.counters.plaintextUntiedBytes, big.length);
});

test('a handle that comes with another tuple (memory reused) ends the old stream; a cut call is a gap', () => {
  const { sink, rec } = recorder();
  const ft = new FlowTable(sink, { serverPorts: new Set([443]) });
  ft.plaintext(chunk(true, 'a', { missing: 10 }));
  ft.plaintext(chunk(true, 'b', { tuple: { ipVersion: 4, local: { address: '127.0.0.1', port: 51001 }, remote: REMOTE } }));
  assert.deepEqual(rec.log, ['open 1 51000->443', 'close 1 end', 'open 2 51001->443']);
  assert.equal(rec.streams.get(1)![Dir.ToServer], 'a<gap 10>');
  assert.equal(ft.counters.gapBytes, 10);
});

test('plaintext and packets of the same tuple are different connections; idle plaintext closes', () => {
  const { sink, rec } = recorder();
  const ft = new FlowTable(sink, { idleTimeoutNs: 1_000_000_000n });
  ft.plaintext(chunk(true, 'a'));
  ft.plaintext(chunk(true, 'b', { pid: 200 }));
  assert.equal(rec.conns.length, 2);
  ft.advance(ts + 5_000_000_000n);
  assert.deepEqual(rec.log.filter((l) => l.startsWith('close')), ['close 1 idle', 'close 2 idle']);
});

test('the role the library gave decides client and server, where the ports would guess them the other way round', () => {
  // An HTTP/2 server on a port above its client's speaks first (SETTINGS): by ports, the lower one is the server.
  const serverEnd = { address: '127.0.0.1', port: 62000 };
  const clientEnd = { address: '127.0.0.1', port: 40000 };
  const fromServer = (role?: 'server') => [
    chunk(true, 'SETTINGS', { comm: 'nginx', role, tuple: { ipVersion: 4, local: serverEnd, remote: clientEnd } }),
    chunk(false, 'PREFACE', { comm: 'nginx', role, tuple: { ipVersion: 4, local: serverEnd, remote: clientEnd } }),
  ];
  const told = recorder();
  const ft = new FlowTable(told.sink, {});
  for (const c of fromServer('server')) ft.plaintext(c);
  ft.closeAll();
  const c = told.rec.conns[0];
  assert.deepEqual([c.client.port, c.server.port, c.roleSource], [40000, 62000, 'library']);
  assert.deepEqual(told.rec.streams.get(c.id), ['PREFACE', 'SETTINGS']);

  // the same chunks without a role: the port guess, the other way round
  const guessed = recorder();
  const ft2 = new FlowTable(guessed.sink, {});
  for (const c of fromServer()) ft2.plaintext(c);
  ft2.closeAll();
  const g = guessed.rec.conns[0];
  assert.deepEqual([g.client.port, g.server.port, g.roleSource], [62000, 40000, 'port']);
});

test('a freed connection object ends its stream then; its untied chunks are dropped and counted', () => {
  const { sink, rec } = recorder();
  const ft = new FlowTable(sink, { serverPorts: new Set([443]) });
  ft.plaintext(chunk(true, 'GET / HTTP/1.1\r\n\r\n'));
  ft.plaintext(chunk(true, 'waits', { tuple: undefined, handle: 0xdefn }));
  // another process's object at the same address is not this one
  ft.plaintextEnd({ tsNs: ts + 1n, origin: 'openssl', pid: 999, handle: 0xabcn });
  assert.deepEqual(rec.log, ['open 1 51000->443']);
  ft.plaintextEnd({ tsNs: ts + 2n, origin: 'openssl', pid: 100, handle: 0xabcn });
  assert.deepEqual(rec.log, ['open 1 51000->443', 'close 1 end']);
  assert.equal(ft.counters.plaintextEndedByLibrary, 1);
  ft.plaintextEnd({ tsNs: ts + 3n, origin: 'openssl', pid: 100, handle: 0xdefn });
  assert.equal(ft.counters.plaintextUntiedBytes, 5);
  // the same address used again afterwards is a new stream
  ft.plaintext(chunk(true, 'again'));
  assert.deepEqual(rec.log.slice(2), ['open 2 51000->443']);
});

test("a process's exit ends all of its streams, and no other process's", () => {
  const { sink, rec } = recorder();
  const ft = new FlowTable(sink, { serverPorts: new Set([443]) });
  ft.plaintext(chunk(true, 'a'));
  ft.plaintext(chunk(true, 'b', { handle: 0xdefn, tuple: { ipVersion: 4, local: { address: '127.0.0.1', port: 51001 }, remote: REMOTE } }));
  ft.plaintext(chunk(true, 'c', { pid: 1000, tuple: { ipVersion: 4, local: { address: '127.0.0.1', port: 51002 }, remote: REMOTE } }));
  ft.plaintext(chunk(true, 'untied', { handle: 0x123n, tuple: undefined }));
  ft.plaintextEnd({ tsNs: ts + 1n, origin: 'openssl', pid: 100 });
  assert.deepEqual(rec.log.filter((l) => l.startsWith('close')).sort(), ['close 1 end', 'close 2 end']);
  assert.equal(ft.counters.plaintextEndedByExit, 2);
  assert.equal(ft.counters.plaintextUntiedBytes, 6);
  ft.closeAll();
  assert.ok(rec.log.includes('close 3 end'));
});

test('both ends captured on this host: the view opened second names the first; the process end stays known', () => {
  const { sink, rec } = recorder();
  const ft = new FlowTable(sink, { serverPorts: new Set([443]) });
  // curl's view, then nginx's view of the same connection, then an unrelated one
  ft.plaintext(chunk(true, 'GET', { role: 'client' }));
  ft.plaintext(chunk(false, 'GET', { pid: 200, comm: 'nginx', role: 'server', tuple: { ipVersion: 4, local: REMOTE, remote: LOCAL } }));
  ft.plaintext(chunk(true, 'x', { pid: 300, tuple: { ipVersion: 4, local: { address: '127.0.0.1', port: 51999 }, remote: REMOTE } }));
  const [curl, nginx, other] = rec.conns;
  assert.deepEqual([curl.mirrorOf, nginx.mirrorOf, other.mirrorOf], [undefined, curl.id, undefined]);
  assert.deepEqual(curl.processEnd, LOCAL);
  assert.deepEqual(nginx.processEnd, REMOTE);
  // a view that ended is not the mirror of a later connection on the same tuple
  ft.plaintextEnd({ tsNs: ts + 1n, origin: 'openssl', pid: 100, handle: 0xabcn });
  ft.plaintext(chunk(false, 'again', { pid: 200, comm: 'nginx', handle: 0x999n, role: 'server', tuple: { ipVersion: 4, local: REMOTE, remote: LOCAL } }));
  assert.equal(rec.conns[3].mirrorOf, undefined);
});

test("the other end's view that opens after the first closed still names it, within 5 s, once", () => {
  const { sink, rec } = recorder();
  const ft = new FlowTable(sink, { serverPorts: new Set([443]) });
  const server = { pid: 200, comm: 'nginx', handle: 0x900n, role: 'server' as const, tuple: { ipVersion: 4 as const, local: REMOTE, remote: LOCAL } };
  // a Connection: close exchange: nginx reads, answers and frees its SSL * before curl's SSL_write returns
  ft.plaintext(chunk(false, 'GET / HTTP/1.1\r\n\r\n', server));
  ft.plaintext(chunk(true, 'HTTP/1.1 200 OK\r\n\r\n', server));
  ft.plaintextEnd({ tsNs: ts + 1n, origin: 'openssl', pid: 200, handle: 0x900n });
  ft.plaintext(chunk(true, 'GET / HTTP/1.1\r\n\r\n', { role: 'client' }));
  const [nginx, curl] = rec.conns;
  assert.deepEqual([nginx.mirrorOf, curl.mirrorOf], [undefined, nginx.id]);
  // paired once: a later view on the tuple names neither
  ft.plaintextEnd({ tsNs: ts + 1n, origin: 'openssl', pid: 100, handle: 0xabcn });
  ft.plaintext(chunk(false, 'again', { ...server, handle: 0x901n }));
  assert.equal(rec.conns[2].mirrorOf, undefined);
  // a view alone is remembered 5 s of capture time after it closed, not longer
  ft.plaintextEnd({ tsNs: ts + 1n, origin: 'openssl', pid: 200, handle: 0x901n });
  ts += 5_000_000_001n;
  ft.plaintext(chunk(true, 'late', { handle: 0xabdn, role: 'client' }));
  assert.equal(rec.conns[3].mirrorOf, undefined);
});
