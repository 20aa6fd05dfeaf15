// QUIC connections decrypted with a key log, built packet by packet (the sealing helper reproduces
// RFC 9001's sample packets byte for byte): the Handshake packets' EncryptedExtensions and Finished,
// 1-RTT packets with HTTP/3 inside, a key update (the Key Phase bit and the "quic ku" secret of
// RFC 9001 §6), a greased fixed bit (RFC 9287), two 1-RTT packets sent as one datagram (segmentation
// offload), a key log without the traffic secrets, and 300 resealed mutants of the 1-RTT frames.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { ParsePipeline } from '@panopticon/parse';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { versionParams } from '../../packages/protocols/src/quic/constants.js';
import { initialKeys, type PacketKeys } from '../../packages/protocols/src/quic/initial.js';
import { expandLabel } from '../../packages/protocols/src/tls/decrypt.js';
import { pcapng, udpFrame, type Frame } from '../helpers/synth.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';
import { cryptoFrame, handshakeMessage, sealLong, sealShort, streamFrame, varint } from '../helpers/quic.js';
import { mutate, seeded } from '../helpers/mutate.js';

const client = { addr: '192.0.2.10', port: 50411 };
const server = { addr: '192.0.2.44', port: 443 };
const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);
const vec = (lenBytes: 1 | 2, b: Buffer) => Buffer.concat([lenBytes === 1 ? Buffer.from([b.length]) : u16(b.length), b]);
const ext = (type: number, data: Buffer) => Buffer.concat([u16(type), vec(2, data)]);
const params = versionParams(1)!;
const RANDOM = Buffer.alloc(32, 0x5a);
const dir = mkdtempSync(join(tmpdir(), 'pano-quic-hand-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const clientHello = handshakeMessage(1, Buffer.concat([
  u16(0x0303), RANDOM, vec(1, Buffer.alloc(0)), vec(2, u16(0x1301)), vec(1, Buffer.from([0])),
  vec(2, Buffer.concat([
    ext(0, vec(2, Buffer.concat([Buffer.from([0]), vec(2, Buffer.from('h3.example'))]))),
    ext(16, vec(2, vec(1, Buffer.from('h3')))),
    ext(43, vec(1, u16(0x0304))),
    ext(51, Buffer.concat([u16(29), vec(2, Buffer.alloc(32, 5))])),
  ])),
]));
const serverHello = handshakeMessage(2, Buffer.concat([u16(0x0303), Buffer.alloc(32, 9), vec(1, Buffer.alloc(0)), u16(0x1301), Buffer.from([0]), vec(2, ext(43, u16(0x0304)))]));

/** 1-RTT (or Handshake) keys of a traffic secret, AES-128-GCM (RFC 9001 §5.1). */
const keysOf = (secret: Buffer): PacketKeys => ({ bulk: 'aes-128-gcm', key: expandLabel(secret, 'quic key', 16), iv: expandLabel(secret, 'quic iv', 12), hp: expandLabel(secret, 'quic hp', 16) });
const SECRETS = { CLIENT_HANDSHAKE_TRAFFIC_SECRET: Buffer.alloc(32, 1), SERVER_HANDSHAKE_TRAFFIC_SECRET: Buffer.alloc(32, 2), CLIENT_TRAFFIC_SECRET_0: Buffer.alloc(32, 3), SERVER_TRAFFIC_SECRET_0: Buffer.alloc(32, 4) };
function keylog(secrets: Record<string, Buffer> = SECRETS): string {
  const file = join(dir, `${Math.random().toString(36).slice(2)}.log`);
  writeFileSync(file, Object.entries(secrets).map(([l, s]) => `${l} ${RANDOM.toString('hex')} ${s.toString('hex')}`).join('\n') + '\n');
  return file;
}

const frame = (type: number, payload: Buffer) => Buffer.concat([varint(type), varint(payload.length), payload]);
const settings = Buffer.concat([Buffer.from([0x00]), frame(0x04, Buffer.concat([varint(0x01), varint(0)]))]);
/** QPACK field section with no dynamic references: prefix 0,0 then static indexed lines and literals with static names. */
const section = (...lines: Buffer[]) => Buffer.concat([Buffer.from([0, 0]), ...lines]);
const lit = (index: number, value: string) => Buffer.concat([Buffer.from([0x50 | index]), Buffer.from([value.length]), Buffer.from(value)]);

/** The datagrams of one connection: hellos, the encrypted handshake, a request and its answer; `tamper` changes 1-RTT frames before sealing. */
function connection(tamper: (frames: Buffer) => Buffer = (f) => f): Buffer {
  return pcapng(connectionFrames(tamper));
}

function connectionFrames(tamper: (frames: Buffer) => Buffer): Frame[] {
  const odcid = randomBytes(8), ccid = randomBytes(5), scid = randomBytes(8);
  const init = initialKeys(params, odcid);
  const hs = { c: keysOf(SECRETS.CLIENT_HANDSHAKE_TRAFFIC_SECRET), s: keysOf(SECRETS.SERVER_HANDSHAKE_TRAFFIC_SECRET) };
  const app = { c: keysOf(SECRETS.CLIENT_TRAFFIC_SECRET_0), s: keysOf(SECRETS.SERVER_TRAFFIC_SECRET_0) };
  // the server's next generation after a key update: "quic ku", the header protection key kept
  const nextServer = { ...keysOf(expandLabel(SECRETS.SERVER_TRAFFIC_SECRET_0, 'quic ku', 32)), hp: app.s.hp };
  const long = (keys: PacketKeys, type: 'initial' | 'handshake', toServer: boolean, pn: number, frames: Buffer) =>
    sealLong(keys, { typeCode: params.types[type], version: 1, dcid: toServer ? odcid : ccid, scid: toServer ? ccid : scid, token: type === 'initial' ? Buffer.alloc(0) : undefined, packetNumber: pn, pnLength: 2, frames, padTo: toServer && type === 'initial' ? 1200 : undefined });
  const short = (keys: PacketKeys, toServer: boolean, pn: number, frames: Buffer, keyPhase: 0 | 1 = 0, grease = false) =>
    sealShort(keys, { dcid: toServer ? scid : ccid, packetNumber: pn, pnLength: 2, keyPhase, frames: tamper(frames), greaseFixedBit: grease });
  const ee = handshakeMessage(8, vec(2, ext(16, vec(2, vec(1, Buffer.from('h3'))))));
  const request = frame(0x01, section(Buffer.from([0xc0 | 17, 0xc0 | 23]), lit(0, 'h3.example'), lit(1, '/account?id=7')));
  const body = Buffer.from('{"email":"grace@example.org"}');
  const datagrams: Array<[0 | 1, Buffer]> = [
    [0, long(init.client, 'initial', true, 0, cryptoFrame(0, clientHello))],
    [1, Buffer.concat([long(init.server, 'initial', false, 0, cryptoFrame(0, serverHello)), long(hs.s, 'handshake', false, 0, cryptoFrame(0, Buffer.concat([ee, handshakeMessage(20, Buffer.alloc(32, 7))])))])],
    [1, short(app.s, false, 0, streamFrame(3, 0, settings))],
    [0, Buffer.concat([long(hs.c, 'handshake', true, 0, cryptoFrame(0, handshakeMessage(20, Buffer.alloc(32, 8)))), short(app.c, true, 0, Buffer.concat([streamFrame(2, 0, settings), streamFrame(0, 0, request, true)]), 0, true)])],
    // the server's answer in two 1-RTT packets handed to the kernel as one (no boundary on the wire), the second after a key update
    [1, Buffer.concat([
      short(app.s, false, 1, streamFrame(0, 0, frame(0x01, section(Buffer.from([0xc0 | 25, 0xc0 | 46]))))),
      short(nextServer, false, 2, streamFrame(0, frame(0x01, section(Buffer.from([0xc0 | 25, 0xc0 | 46]))).length, frame(0x00, body), true), 1),
    ])],
    // the client closes: an application CONNECTION_CLOSE with H3_NO_ERROR
    [0, short(app.c, true, 1, Buffer.concat([Buffer.from([0x1d]), varint(0x100), varint(0)]))],
  ];
  let t = 1_700_000_000_000_000_000n;
  return datagrams.map(([d, b]) => ({ tsNs: (t += 1_000_000n), data: d === 0 ? udpFrame(client, server, b) : udpFrame(server, client, b) }));
}

function parse(bytes: Buffer, log: string) {
  const r = parseCaptureSync(bytes, { parse: { tlsKeyLogs: [log] } });
  assertValidEvents(r.events);
  return { events: r.events as any[], stats: r.stats.protocols as Record<string, number> };
}

test('a QUIC connection decrypted by hand: ALPN from EncryptedExtensions, HTTP/3 across a key update and an offloaded send, a greased fixed bit', () => {
  const { events, stats } = parse(connection(), keylog());
  const [q, h3, ...rest] = events;
  assert.equal(rest.length, 0);
  assert.equal(q.pano.protocol, 'quic');
  assert.equal(q.tls.decrypted, true);
  assert.equal(q.tls.next_protocol, 'h3');
  assert.equal(h3.pano.protocol, 'http3');
  assert.equal(h3.pano.kind, 'exchange');
  assert.equal(h3.http.request.method, 'GET');
  assert.deepEqual(h3.url, { scheme: 'https', path: '/account', query: 'id=7' });
  assert.deepEqual(h3.http.request.header[':authority'], ['h3.example']);
  assert.equal(h3.http.response.status_code, 200);
  assert.equal(h3.http.response.body.content, '{"email":"grace@example.org"}');
  assert.deepEqual(h3.tls, { protocol: { name: 'tls', version: '1.3' }, cipher: 'TLS_AES_128_GCM_SHA256', established: true, decrypted: true });
  assert.equal(stats['quic.key_updates'], 1);
  assert.equal(stats['quic.segmented_datagrams'], 1);
  assert.equal(stats['quic.undecryptable_packets'], undefined);
});

test('a key log with the handshake secrets only: the handshake read, its 1-RTT packets held for the traffic secrets until the end, flagged keys_missing', () => {
  const { CLIENT_HANDSHAKE_TRAFFIC_SECRET, SERVER_HANDSHAKE_TRAFFIC_SECRET } = SECRETS;
  const { events, stats } = parse(connection(), keylog({ CLIENT_HANDSHAKE_TRAFFIC_SECRET, SERVER_HANDSHAKE_TRAFFIC_SECRET }));
  assert.equal(events.length, 1);
  assert.equal(events[0].tls.next_protocol, 'h3');
  assert.deepEqual(events[0].pano.flags, ['keys_missing']);
  assert.equal(stats['quic.keys_missing'], 2);
  assert.equal(stats['quic.undecryptable_packets'], undefined);
});

test('traffic secrets logged after the handshake\'s (each as the client\'s handshake reaches it): the 1-RTT packets held meanwhile are opened', () => {
  const frames = connectionFrames((f) => f);
  const bytes = pcapng(frames);
  const cut = pcapng(frames.slice(0, 4)).length;
  const { CLIENT_HANDSHAKE_TRAFFIC_SECRET, SERVER_HANDSHAKE_TRAFFIC_SECRET, CLIENT_TRAFFIC_SECRET_0, SERVER_TRAFFIC_SECRET_0 } = SECRETS;
  const file = keylog({ CLIENT_HANDSHAKE_TRAFFIC_SECRET, SERVER_HANDSHAKE_TRAFFIC_SECRET });
  const events: any[] = [];
  const p = new ParsePipeline({ source: { type: 'pcap', name: 'live' }, parse: { tlsKeyLogs: [file] }, onEvent: (e) => events.push(JSON.parse(JSON.stringify(e))) });
  p.push(bytes.subarray(0, cut));
  appendFileSync(file, readFileSync(keylog({ CLIENT_TRAFFIC_SECRET_0, SERVER_TRAFFIC_SECRET_0 })));
  p.push(bytes.subarray(cut));
  p.end();
  assert.deepEqual(events.map((e) => [e.pano.protocol, e.pano.flags]), [['quic', undefined], ['http3', undefined]]);
});

test('without the connection\'s secrets: what follows the ServerHello is held for them (bounded), then the event is as without a key log, flagged keys_missing', () => {
  const { events } = parse(connection(), keylog({}));
  assert.equal(events.length, 1);
  assert.deepEqual(events[0].pano.flags, ['keys_missing']);
  assert.equal(events[0].tls.decrypted, undefined);
});

test('a followed key log that gets the secrets after the ServerHello was read (a live capture racing the client): the held datagrams are opened then', () => {
  const frames = connectionFrames((f) => f);
  const bytes = pcapng(frames);
  // the capture as far as the server's first flight, then the rest
  const cut = pcapng(frames.slice(0, 2)).length;
  const file = keylog({});
  const events: any[] = [];
  const p = new ParsePipeline({ source: { type: 'pcap', name: 'live' }, parse: { tlsKeyLogs: [file] }, onEvent: (e) => events.push(JSON.parse(JSON.stringify(e))) });
  p.push(bytes.subarray(0, cut));
  // the client writes its secrets as its handshake goes on
  appendFileSync(file, readFileSync(keylog()));
  p.push(bytes.subarray(cut));
  p.end();
  assertValidEvents(events);
  assert.deepEqual(events.map((e) => e.pano.protocol), ['quic', 'http3']);
  assert.equal(events[0].pano.flags, undefined);
  assert.equal(events[1].http.response.body.content, '{"email":"grace@example.org"}');
});

/**
 * A resumption sending its request as 0-RTT (RFC 9000 §17.2.3, keys from the client's early secret):
 * the ClientHello offers early_data, the 0-RTT packet rides in the first datagram after the Initial,
 * the ServerHello takes the first pre-shared key, and the server's EncryptedExtensions take the data
 * (`taken`) or not; a client whose 0-RTT was refused sends the request again in 1-RTT. `tamper`
 * changes the 0-RTT frames before sealing.
 */
function earlyConnection(taken: boolean, tamper: (frames: Buffer) => Buffer = (f) => f): Buffer {
  const odcid = randomBytes(8), ccid = randomBytes(5), scid = randomBytes(8);
  const init = initialKeys(params, odcid);
  const hs = { c: keysOf(SECRETS.CLIENT_HANDSHAKE_TRAFFIC_SECRET), s: keysOf(SECRETS.SERVER_HANDSHAKE_TRAFFIC_SECRET) };
  const app = { c: keysOf(SECRETS.CLIENT_TRAFFIC_SECRET_0), s: keysOf(SECRETS.SERVER_TRAFFIC_SECRET_0) };
  const early = keysOf(EARLY_SECRET);
  const long = (keys: PacketKeys, type: 'initial' | 'zeroRtt' | 'handshake', toServer: boolean, pn: number, frames: Buffer) =>
    sealLong(keys, { typeCode: params.types[type], version: 1, dcid: toServer ? odcid : ccid, scid: toServer ? ccid : scid, token: type === 'initial' ? Buffer.alloc(0) : undefined, packetNumber: pn, pnLength: 2, frames, padTo: toServer && type === 'initial' ? 1200 : undefined });
  const short = (keys: PacketKeys, toServer: boolean, pn: number, frames: Buffer) => sealShort(keys, { dcid: toServer ? scid : ccid, packetNumber: pn, pnLength: 2, keyPhase: 0, frames });
  const resuming = handshakeMessage(1, Buffer.concat([
    u16(0x0303), RANDOM, vec(1, Buffer.alloc(0)), vec(2, u16(0x1301)), vec(1, Buffer.from([0])),
    vec(2, Buffer.concat([ext(16, vec(2, vec(1, Buffer.from('h3')))), ext(43, vec(1, u16(0x0304))), ext(51, Buffer.concat([u16(29), vec(2, Buffer.alloc(32, 5))])), ext(42, Buffer.alloc(0)),
      ext(41, Buffer.concat([vec(2, Buffer.concat([vec(2, Buffer.alloc(16, 3)), Buffer.alloc(4)])), vec(2, vec(1, Buffer.alloc(32, 4)))]))])),
  ]));
  const resumed = handshakeMessage(2, Buffer.concat([u16(0x0303), Buffer.alloc(32, 9), vec(1, Buffer.alloc(0)), u16(0x1301), Buffer.from([0]), vec(2, Buffer.concat([ext(43, u16(0x0304)), ext(41, u16(0))]))]));
  const ee = handshakeMessage(8, vec(2, Buffer.concat([ext(16, vec(2, vec(1, Buffer.from('h3')))), ...(taken ? [ext(42, Buffer.alloc(0))] : [])])));
  const request = frame(0x01, section(Buffer.from([0xc0 | 17, 0xc0 | 23]), lit(0, 'h3.example'), lit(1, '/early')));
  const requestFrames = Buffer.concat([streamFrame(2, 0, settings), streamFrame(0, 0, request, true)]);
  const datagrams: Array<[0 | 1, Buffer]> = [
    [0, Buffer.concat([long(init.client, 'initial', true, 0, cryptoFrame(0, resuming)), long(early, 'zeroRtt', true, 0, tamper(requestFrames))])],
    [1, Buffer.concat([long(init.server, 'initial', false, 0, cryptoFrame(0, resumed)), long(hs.s, 'handshake', false, 0, cryptoFrame(0, Buffer.concat([ee, handshakeMessage(20, Buffer.alloc(32, 7))])))])],
    [0, Buffer.concat([long(hs.c, 'handshake', true, 0, cryptoFrame(0, handshakeMessage(20, Buffer.alloc(32, 8)))), ...(taken ? [] : [short(app.c, true, 0, requestFrames)])])],
    [1, short(app.s, false, 0, Buffer.concat([streamFrame(3, 0, settings), streamFrame(0, 0, Buffer.concat([frame(0x01, section(Buffer.from([0xc0 | 25]))), frame(0x00, Buffer.from('early answer'))]), true)]))],
  ];
  let t = 1_700_000_000_000_000_000n;
  return pcapng(datagrams.map(([d, b]) => ({ tsNs: (t += 1_000_000n), data: d === 0 ? udpFrame(client, server, b) : udpFrame(server, client, b) })));
}
const EARLY_SECRET = Buffer.alloc(32, 6);

test('0-RTT the server took: its packet opened with the early secret once the EncryptedExtensions say so, the request read from it (its time the first datagram\'s); without the secret, flagged keys_missing and not read', () => {
  const bytes = earlyConnection(true);
  const { events, stats } = parse(bytes, keylog({ ...SECRETS, CLIENT_EARLY_TRAFFIC_SECRET: EARLY_SECRET }));
  assert.deepEqual(events.map((e) => [e.pano.protocol, e.pano.flags]), [['quic', undefined], ['http3', undefined]]);
  assert.equal(events[0].tls.early_data, 'accepted');
  assert.equal(events[0].tls.resumed, true);
  const h3 = events[1];
  assert.deepEqual([h3.url.path, h3.http.response.status_code, h3.http.response.body.content], ['/early', 200, 'early answer']);
  assert.equal(h3.pano.start_ns, '1700000000001000000');
  assert.equal(stats['quic.early_data_decrypted'], 1);
  assert.equal(stats['quic.early_data_packets'], undefined);
  const without = parse(bytes, keylog());
  assert.deepEqual(without.events[0].pano.flags, ['keys_missing']);
  assert.ok(!JSON.stringify(without.events).includes('/early'));
  assert.equal(without.stats['quic.early_data_packets'], 1);
});

test('0-RTT the server refused (taken session, no early_data in its EncryptedExtensions): not read, even with the early secret; the request sent again in 1-RTT is', () => {
  const { events, stats } = parse(earlyConnection(false), keylog({ ...SECRETS, CLIENT_EARLY_TRAFFIC_SECRET: EARLY_SECRET }));
  assert.equal(events[0].tls.early_data, 'rejected');
  assert.deepEqual(events.slice(1).map((e) => [e.url.path, e.pano.start_ns, e.http.response.body.content]), [['/early', '1700000000003000000', 'early answer']]);
  assert.equal(stats['quic.early_data_packets'], 1);
  assert.equal(stats['quic.early_data_decrypted'], undefined);
  // without a key log: sent, and nothing says more
  const bare = parseCaptureSync(earlyConnection(true)).events as any[];
  assert.deepEqual(bare.map((e) => [e.pano.protocol, e.tls.early_data]), [['quic', 'sent']]);
});

test('fuzz: 200 connections whose 0-RTT frames are mutated, then sealed, never throw, fault or give an event the schema rejects', () => {
  const rnd = seeded(31);
  const log = keylog({ ...SECRETS, CLIENT_EARLY_TRAFFIC_SECRET: EARLY_SECRET });
  for (let i = 0; i < 200; i++) {
    const { events, stats } = parse(earlyConnection(i % 2 === 0, (f) => mutate(f, rnd)), log);
    assert.ok(events.length >= 1, `mutant ${i}: the handshake is still reported`);
    for (const k of Object.keys(stats)) assert.ok(!k.endsWith('parser_faults'), `mutant ${i}: ${k}`);
  }
});

test('fuzz: 300 connections whose 1-RTT frames are mutated, then sealed as a real endpoint would, never throw, fault or give an event the schema rejects', () => {
  const rnd = seeded(31);
  const log = keylog();
  let events = 0;
  for (let i = 0; i < 300; i++) {
    const r = parse(connection((f) => (rnd(2) === 0 ? mutate(f, rnd) : f)), log);
    for (const k of Object.keys(r.stats)) assert.ok(!k.endsWith('parser_faults'), `mutant ${i}: ${k}`);
    events += r.events.length;
  }
  assert.ok(events >= 300, `${events} events`);
});
