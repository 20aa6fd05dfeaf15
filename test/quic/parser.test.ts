// QUIC connections built packet by packet with the test helper (itself held to RFC 9001's samples):
// the RFC's own client and server Initials; a ClientHello over two Initials that arrive out of
// order; a server datagram coalescing Initial, Handshake and padding; Retry; Version Negotiation;
// a TLS alert in a CONNECTION_CLOSE; damage and bounds. Where tshark reads a case, it is the oracle.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { versionParams } from '../../packages/protocols/src/quic/constants.js';
import { initialKeys } from '../../packages/protocols/src/quic/initial.js';
import { pcapng, udpFrame, type Frame } from '../helpers/synth.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';
import { cryptoFrame, handshakeMessage, sealLong, varint } from '../helpers/quic.js';
import { mutate, seeded } from '../helpers/mutate.js';
import { tsharkAvailable, tsharkFields } from '../helpers/tshark.js';
import * as rfc from '../fixtures/quic/rfc-vectors.js';
import { GraphBuilder } from '@panopticon/graph';

const client = { addr: '192.0.2.10', port: 50311 };
const server = { addr: '192.0.2.44', port: 443 };
const hex = (s: string) => Buffer.from(s, 'hex');
const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);
const vec = (lenBytes: 1 | 2, b: Buffer) => Buffer.concat([lenBytes === 1 ? Buffer.from([b.length]) : u16(b.length), b]);
const ext = (type: number, data: Buffer) => Buffer.concat([u16(type), vec(2, data)]);
const V1 = 1;
const V2 = 0x6b3343cf;

/** A TLS 1.3 ClientHello as a QUIC client sends it; `keyShare` bytes make it as long as post-quantum ones are. */
function clientHello(sni: string, alpn: string[], keyShare = 32): Buffer {
  return handshakeMessage(1, Buffer.concat([
    u16(0x0303), Buffer.alloc(32, 3), vec(1, Buffer.alloc(0)),
    vec(2, Buffer.concat([u16(0x1301), u16(0x1302), u16(0x1303)])),
    vec(1, Buffer.from([0])),
    vec(2, Buffer.concat([
      ext(0, vec(2, Buffer.concat([Buffer.from([0]), vec(2, Buffer.from(sni))]))),
      ext(16, vec(2, Buffer.concat(alpn.map((a) => vec(1, Buffer.from(a)))))),
      ext(43, vec(1, u16(0x0304))),
      ext(10, vec(2, Buffer.concat([u16(29), u16(23)]))),
      ext(51, vec(2, Buffer.concat([u16(29), vec(2, Buffer.alloc(keyShare, 5))]))),
      ext(57, Buffer.from([0x01, 0x02, 0x67, 0x10])), // quic_transport_parameters: max_idle_timeout 10 s
    ])),
  ]));
}
function serverHello(cipher = 0x1302): Buffer {
  return handshakeMessage(2, Buffer.concat([
    u16(0x0303), Buffer.alloc(32, 9), vec(1, Buffer.alloc(0)), u16(cipher), Buffer.from([0]),
    vec(2, Buffer.concat([ext(43, u16(0x0304)), ext(51, Buffer.concat([u16(29), vec(2, Buffer.alloc(32, 6))]))])),
  ]));
}

interface Side { dcid: Buffer; scid: Buffer }
/** Keys and ids of one connection: the client's first DCID, its SCID and the server's. */
function connection(version = V1) {
  const odcid = randomBytes(8);
  const ccid = randomBytes(5);
  const scid = randomBytes(8);
  const params = versionParams(version)!;
  return { version, params, odcid, ccid, scid, keys: initialKeys(params, odcid) };
}
type Conn = ReturnType<typeof connection>;
const toServer = (c: Conn, frames: Buffer, pn: number, dcid = c.odcid, token = Buffer.alloc(0)) =>
  sealLong(c.keys.client, { typeCode: c.params.types.initial, version: c.version, dcid, scid: c.ccid, token, packetNumber: pn, pnLength: 2, frames, padTo: 1200 });
const toClient = (c: Conn, frames: Buffer, pn: number) =>
  sealLong(c.keys.server, { typeCode: c.params.types.initial, version: c.version, dcid: c.ccid, scid: c.scid, token: Buffer.alloc(0), packetNumber: pn, pnLength: 1, frames });

function capture(datagrams: Array<[0 | 1, Buffer]>): Buffer {
  let t = 1_700_000_000_000_000_000n;
  const frames: Frame[] = datagrams.map(([dir, d]) => ({ tsNs: (t += 1_000_000n), data: dir === 0 ? udpFrame(client, server, d) : udpFrame(server, client, d) }));
  return pcapng(frames);
}
function quic(bytes: Buffer) {
  const r = parseCaptureSync(bytes);
  assertValidEvents(r.events);
  return { events: (r.events as any[]).filter((e) => e.pano.protocol === 'quic'), stats: r.stats.protocols as Record<string, number> };
}
/** tshark's reading of the hellos in `bytes`: SNI, cipher suites offered, JA3, the chosen suite and JA3S. */
function tshark(bytes: Buffer): string[][] {
  const dir = mkdtempSync(join(tmpdir(), 'pano-quic-'));
  try {
    const file = join(dir, 'q.pcapng');
    writeFileSync(file, bytes);
    return tsharkFields(file, ['tls.handshake.type', 'tls.handshake.extensions_server_name', 'tls.handshake.extensions_alpn_str', 'tls.handshake.ciphersuite', 'tls.handshake.ja3', 'tls.handshake.ja3s'], 'tls.handshake');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
const oracle = { skip: tsharkAvailable() ? false : 'tshark is not installed' };

test("RFC 9001's client and server Initials as a connection: one exchange with the ClientHello's SNI and ALPN, the ServerHello's suite; tshark agrees", oracle, () => {
  const bytes = capture([[0, hex(rfc.V1_CLIENT_INITIAL)], [1, hex(rfc.V1_SERVER_INITIAL)]]);
  const { events, stats } = quic(bytes);
  assert.equal(events.length, 1);
  const e = events[0];
  assert.equal(e.pano.kind, 'exchange');
  assert.equal(e.pano.flags, undefined);
  assert.deepEqual(e.network.protocol, { name: 'quic', version: '1' });
  assert.equal(e.network.transport, 'udp');
  assert.deepEqual(e.quic, { original_destination_connection_id: rfc.DCID, client_connection_id: '', server_connection_id: 'f067a5502a4262b5' });
  assert.equal(e.tls.client.server_name, 'example.com');
  assert.deepEqual(e.tls.client.alpn, ['alpn']);
  assert.deepEqual(e.tls.client.supported_ciphers, ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384']);
  assert.equal(e.tls.cipher, 'TLS_AES_128_GCM_SHA256');
  assert.equal(e.tls.protocol.version, '1.3');
  assert.equal(e.tls.established, true);
  // JA4 by hand from RFC 9001 A.2's ClientHello: QUIC, 1.3, SNI, 2 suites, 11 extensions (0000 ff01 000a 0010
  // 0005 0033 002b 000d 002d 001c 0039), ALPN "alpn"; its sorted suites; its sorted extensions without SNI and
  // ALPN, then its signature algorithms in their order
  const sha12 = (t: string) => createHash('sha256').update(t).digest('hex').slice(0, 12);
  assert.equal(e.tls.client.ja4, `q13d0211an_${sha12('1301,1302')}_${sha12('0005,000a,000d,001c,002b,002d,0033,0039,ff01_0403,0503,0603,0203,0804,0805,0806')}`);
  assert.equal(e.pano.request_bytes, 1200);
  assert.equal(e.pano.response_bytes, 135);
  assert.equal(stats['quic.handshakes'], 1);
  const t = tshark(bytes);
  assert.deepEqual(t.map((r) => r[0]), ['1', '2']);
  assert.equal(t[0]![1], e.tls.client.server_name);
  assert.equal(t[0]![2], 'alpn');
  assert.equal(t[0]![3], '0x1301,0x1302');
  assert.equal(t[0]![4], e.tls.client.ja3);
  assert.equal(t[1]![3], '0x1301');
  assert.equal(t[1]![5], e.tls.server.ja3s);
});

test('a ClientHello over two Initials that arrive second first, and a server datagram of Initial, Handshake and padding; tshark agrees', oracle, () => {
  const c = connection();
  const hello = clientHello('pq.example.org', ['h3', 'h3-29'], 1600);
  const cut = 1000;
  const first = toServer(c, cryptoFrame(0, hello.subarray(0, cut)), 0);
  const second = toServer(c, Buffer.concat([Buffer.from([0x01]), cryptoFrame(cut, hello.subarray(cut))]), 1);
  const handshakeKeys = { key: randomBytes(16), iv: randomBytes(12), hp: randomBytes(16) };
  const handshake = sealLong(handshakeKeys, { typeCode: c.params.types.handshake, version: V1, dcid: c.ccid, scid: c.scid, packetNumber: 0, pnLength: 1, frames: cryptoFrame(0, randomBytes(300)) });
  const ack = Buffer.from([0x02, 0x01, 0x00, 0x00, 0x01]); // ACK largest 1, delay 0, no more ranges, first range 1
  const serverDatagram = Buffer.concat([toClient(c, Buffer.concat([ack, cryptoFrame(0, serverHello())]), 0), handshake, Buffer.alloc(200)]);
  const shortHeader = Buffer.concat([Buffer.from([0x41]), c.scid, randomBytes(60)]);
  const bytes = capture([[0, second], [0, first], [1, serverDatagram], [0, shortHeader], [1, Buffer.concat([Buffer.from([0x41]), c.ccid, randomBytes(900)])]]);
  const { events, stats } = quic(bytes);
  assert.equal(events.length, 1);
  const e = events[0];
  assert.equal(e.pano.kind, 'exchange');
  assert.equal(e.tls.client.server_name, 'pq.example.org');
  assert.deepEqual(e.tls.client.alpn, ['h3', 'h3-29']);
  assert.equal(e.tls.cipher, 'TLS_AES_256_GCM_SHA384');
  assert.deepEqual(e.quic, { original_destination_connection_id: c.odcid.toString('hex'), client_connection_id: c.ccid.toString('hex'), server_connection_id: c.scid.toString('hex') });
  assert.equal(stats['quic.undecryptable_packets'], undefined, 'the Handshake packet is passed over, not tried');
  const t = tshark(bytes);
  const ch = t.find((r) => r[0] === '1')!;
  assert.equal(ch[1], 'pq.example.org');
  assert.equal(ch[2], 'h3,h3-29');
  assert.equal(ch[4], e.tls.client.ja3);
  assert.equal(t.find((r) => r[0] === '2')![5], e.tls.server.ja3s);
});

test('Retry: the client starts again toward the Retry\'s SCID with its token, under that SCID\'s keys; flagged, the original DCID kept', () => {
  const c = connection();
  const hello = clientHello('retry.example', ['h3']);
  const retryScid = randomBytes(8);
  const token = randomBytes(24);
  const retry = Buffer.concat([Buffer.from([0xf0 | 0x0a]), Buffer.from([0, 0, 0, 1]), vec(1, c.ccid), vec(1, retryScid), token, randomBytes(16)]);
  const after = { ...c, keys: initialKeys(c.params, retryScid) };
  const bytes = capture([
    [0, toServer(c, cryptoFrame(0, hello), 0)],
    [1, retry],
    [0, toServer(after, cryptoFrame(0, hello), 1, retryScid, token)],
    [1, toClient(after, cryptoFrame(0, serverHello(0x1301)), 0)],
  ]);
  const { events } = quic(bytes);
  assert.equal(events.length, 1);
  const e = events[0];
  assert.equal(e.pano.kind, 'exchange');
  assert.deepEqual(e.pano.flags, ['retry']);
  assert.equal(e.quic.original_destination_connection_id, c.odcid.toString('hex'));
  assert.equal(e.tls.client.server_name, 'retry.example');
  assert.equal(e.tls.cipher, 'TLS_AES_128_GCM_SHA256');
});

test('Version Negotiation: a v2 Initial answered with the versions the server speaks, then v1 toward a new DCID: the v1 handshake, with the server\'s list', () => {
  const c2 = connection(V2);
  const c1 = { ...connection(V1), ccid: c2.ccid };
  c1.keys = initialKeys(c1.params, c1.odcid);
  const vn = Buffer.concat([Buffer.from([0x80 | 0x3a]), Buffer.alloc(4), vec(1, c2.ccid), vec(1, c2.odcid), Buffer.from([0, 0, 0, 1, 0xff, 0, 0, 0x1d, 0x1a, 0x2a, 0x3a, 0x4a])]);
  const bytes = capture([
    [0, toServer(c2, cryptoFrame(0, clientHello('v2.example', ['h3'])), 0)],
    [1, vn],
    [0, toServer(c1, cryptoFrame(0, clientHello('v1.example', ['h3'])), 0)],
    [1, toClient(c1, cryptoFrame(0, serverHello()), 0)],
  ]);
  const { events } = quic(bytes);
  assert.equal(events.length, 1);
  const e = events[0];
  assert.deepEqual(e.pano.flags, ['version_negotiation']);
  assert.deepEqual(e.network.protocol, { name: 'quic', version: '1' });
  assert.deepEqual(e.quic.server_versions, ['1', 'draft-29', '0x1a2a3a4a']);
  assert.equal(e.quic.original_destination_connection_id, c1.odcid.toString('hex'));
  assert.equal(e.tls.client.server_name, 'v1.example');
});

test('QUIC v2 and draft-29 connections are read with their own salts and type codes', () => {
  for (const [version, name] of [[V2, '2'], [0xff00001d, 'draft-29']] as const) {
    const c = connection(version);
    const bytes = capture([[0, toServer(c, cryptoFrame(0, clientHello(`${name}.example`, ['h3'])), 0)], [1, toClient(c, cryptoFrame(0, serverHello()), 0)]]);
    const { events } = quic(bytes);
    assert.equal(events.length, 1, name);
    assert.deepEqual(events[0].network.protocol, { name: 'quic', version: name });
    assert.equal(events[0].tls.client.server_name, `${name}.example`);
    assert.equal(events[0].pano.kind, 'exchange');
  }
});

test('a TLS alert in the server\'s CONNECTION_CLOSE (CRYPTO_ERROR 0x178, no_application_protocol) ends the handshake at once, not established', () => {
  const c = connection();
  const close = Buffer.concat([Buffer.from([0x1c]), varint(0x178), varint(0x06), varint(0)]);
  const bytes = capture([[0, toServer(c, cryptoFrame(0, clientHello('alpn.example', ['x-unknown'])), 0)], [1, toClient(c, close, 0)]]);
  const { events } = quic(bytes);
  assert.equal(events.length, 1);
  const e = events[0];
  assert.equal(e.pano.kind, 'unanswered');
  assert.deepEqual(e.pano.flags, ['connection_close']);
  assert.equal(e.tls.alert, 'no_application_protocol');
  assert.equal(e.error.type, 'no_application_protocol');
  assert.equal(e.tls.established, false);
  // a transport error instead (CONNECTION_REFUSED) is the error type
  const c2 = connection();
  const refused = Buffer.concat([Buffer.from([0x1c]), varint(0x02), varint(0), varint(4), Buffer.from('busy')]);
  const r = quic(capture([[0, toServer(c2, cryptoFrame(0, clientHello('busy.example', ['h3'])), 0)], [1, toClient(c2, refused, 0)]]));
  assert.equal(r.events[0].error.type, 'CONNECTION_REFUSED');
  assert.equal(r.events[0].tls.alert, undefined);
});

test('damage: a frame no Initial may carry is counted and flagged; a server Initial that fails authentication is counted; the client\'s hello is still reported', () => {
  const c = connection();
  const stream = Buffer.concat([Buffer.from([0x08]), varint(0), Buffer.from('GET /')]);
  const hello = clientHello('damage.example', ['h3']);
  const bad = toClient(c, cryptoFrame(0, serverHello()), 0);
  bad[bad.length - 3] ^= 0xff;
  const bytes = capture([[0, toServer(c, Buffer.concat([cryptoFrame(0, hello), stream]), 0)], [1, bad]]);
  const { events, stats } = quic(bytes);
  assert.equal(events.length, 1);
  assert.equal(events[0].pano.kind, 'unanswered');
  assert.deepEqual(events[0].pano.flags, ['malformed', 'eof']);
  assert.equal(events[0].tls.client.server_name, 'damage.example');
  assert.equal(stats['quic.malformed'], 1);
  assert.equal(stats['quic.undecryptable_packets'], 1);
});

test('bounds: a client whose Initials never complete a ClientHello is given up after 64 packets; CRYPTO data far ahead is bounded', () => {
  const c = connection();
  const datagrams: Array<[0 | 1, Buffer]> = [];
  // the first bytes never come: every packet's CRYPTO data is ahead of the stream
  for (let i = 0; i < 70; i++) datagrams.push([0, toServer(c, cryptoFrame(10_000 + i * 900, randomBytes(900)), i)]);
  const { events, stats } = quic(capture(datagrams));
  assert.equal(events.length, 0);
  assert.equal((stats['quic.crypto_overflows'] ?? 0) + (stats['quic.unfinished_handshakes'] ?? 0), 1);
  assert.equal(stats['quic.unread_handshakes'], 1);
});

test('joined late (only short-header packets): nothing is guessed; the flow is counted as unidentified', () => {
  const bytes = capture(Array.from({ length: 10 }, (_, i) => [(i % 2) as 0 | 1, Buffer.concat([Buffer.from([0x40 | i]), randomBytes(1250)])]));
  const { events, stats } = quic(bytes);
  assert.equal(events.length, 0);
  assert.equal(stats['dispatch.unidentified_udp_flows'], 1);
});

test('pano-graph names a QUIC server by the SNI its client sent, as it does a TLS server', () => {
  const { events } = quic(capture([[0, hex(rfc.V1_CLIENT_INITIAL)], [1, hex(rfc.V1_SERVER_INITIAL)]]));
  const g = new GraphBuilder();
  for (const e of events) g.add(e);
  const s = g.snapshot();
  assert.deepEqual(s.nodes.map((n) => n.id), [client.addr, 'example.com']);
  assert.deepEqual(s.nodes.find((n) => n.id === 'example.com')!.addresses, [server.addr]);
  assert.equal(s.edges[0]!.id, `${client.addr} -> example.com (quic)`);
});

test('fuzz: 1,500 connections whose decrypted frames are mutated (then sealed as a real endpoint would) never throw, fault or give an event the schema rejects', () => {
  const rnd = seeded(29);
  const c = connection();
  const hello = Buffer.concat([cryptoFrame(0, clientHello('fuzz.example', ['h3', 'h2'], 400)), Buffer.from([0x01])]);
  const answer = Buffer.concat([Buffer.from([0x02, 0x00, 0x00, 0x00, 0x00]), cryptoFrame(0, serverHello())]);
  let events = 0;
  for (let i = 0; i < 1500; i++) {
    const cf = i % 3 === 2 ? hello : mutate(hello, rnd);
    const sf = i % 3 === 1 ? answer : mutate(answer, rnd);
    const bytes = capture([[0, toServer(c, cf, 0)], [1, toClient(c, sf, 0)]]);
    const r = parseCaptureSync(bytes);
    assertValidEvents(r.events);
    const stats = r.stats.protocols as Record<string, number>;
    assert.equal(stats['quic.parser_faults'], undefined, `mutant ${i}`);
    events += r.events.length;
  }
  assert.ok(events > 500, `${events} events: mutants still read as QUIC`);
});
