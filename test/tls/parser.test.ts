// TLS handshakes built by hand (RFC 8446 §4.1): a ClientHello with SNI, ALPN, supported_versions and
// GREASE values (RFC 8701), split over records and segments; a HelloRetryRequest before the real
// ServerHello; an alert in the clear; a record that is no TLS record.
import { test } from 'node:test';
import { createHash } from 'node:crypto';
import assert from 'node:assert/strict';
import { Conversation } from '../helpers/synth.js';
import { ext, hs, record, u16, vec } from '../helpers/tls-bytes.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';

const client = { addr: '192.0.2.10', port: 50200 };
const server = { addr: '192.0.2.44', port: 443 };

const clientHello = hs(1, Buffer.concat([
  u16(0x0303), Buffer.alloc(32, 1), vec(1, Buffer.alloc(32, 7)),
  vec(2, Buffer.concat([u16(0x2a2a), u16(0x1301), u16(0x1302), u16(0xc02f)])), // GREASE first
  vec(1, Buffer.from([0])),
  vec(2, Buffer.concat([
    ext(0, vec(2, Buffer.concat([Buffer.from([0]), vec(2, Buffer.from('www.example.net'))]))),
    ext(16, vec(2, Buffer.concat([vec(1, Buffer.from('h2')), vec(1, Buffer.from('http/1.1'))]))),
    ext(43, vec(1, Buffer.concat([u16(0x3a3a), u16(0x0304), u16(0x0303)]))),
    ext(10, vec(2, Buffer.concat([u16(0x4a4a), u16(29), u16(23)]))),
  ])),
]));
const serverHello = (random: Buffer, version = 0x0304) => hs(2, Buffer.concat([
  u16(0x0303), random, vec(1, Buffer.alloc(32, 7)), u16(0x1301), Buffer.from([0]),
  vec(2, ext(43, u16(version))),
]));
const md5 = (t: string) => createHash('md5').update(t).digest('hex');
const sha12 = (t: string) => createHash('sha256').update(t).digest('hex').slice(0, 12);
const HRR = Buffer.from('cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c', 'hex');

function tls(c: Conversation) {
  const r = parseCaptureSync(c.pcapng());
  assertValidEvents(r.events);
  return { events: (r.events as any[]).filter((e) => e.pano.protocol === 'tls'), stats: r.stats };
}

test('a ClientHello over two records and three segments; a HelloRetryRequest with its compatibility ChangeCipherSpecs, then the ServerHello: one exchange with what both said, GREASE left out', () => {
  const half = clientHello.length >> 1;
  const recs = Buffer.concat([record(22, clientHello.subarray(0, half)), record(22, clientHello.subarray(half))]);
  const c = new Conversation(client, server).handshake()
    .send(0, recs.subarray(0, 7)).send(0, recs.subarray(7, 60)).send(0, recs.subarray(60))
    // TLS 1.3's middlebox ChangeCipherSpecs around a HelloRetryRequest (RFC 8446 §D.4): no encryption starts there
    .send(1, Buffer.concat([record(22, serverHello(HRR)), record(20, Buffer.from([1]))]))
    .send(0, Buffer.concat([record(20, Buffer.from([1])), record(22, clientHello)]))
    .send(1, record(22, serverHello(Buffer.alloc(32, 9))))
    .send(1, record(23, Buffer.alloc(40)))
    .close();
  const { events } = tls(c);
  assert.equal(events.length, 1);
  const e = events[0];
  assert.equal(e.pano.kind, 'exchange');
  assert.deepEqual(e.pano.flags, ['hello_retry']);
  assert.deepEqual(e.tls, {
    protocol: { name: 'tls', version: '1.3' },
    cipher: 'TLS_AES_128_GCM_SHA256',
    resumed: false,
    established: true,
    client: {
      server_name: 'www.example.net',
      supported_versions: ['1.3', '1.2'],
      supported_ciphers: ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256'],
      alpn: ['h2', 'http/1.1'],
      supported_groups: ['x25519', 'secp256r1'],
      // JA3 by hand: version 771; ciphers 4865-4866-49199 (GREASE 0x2a2a left out); extensions in order 0-16-43-10;
      // groups 29-23 (GREASE 0x4a4a left out); no point formats
      ja3: md5('771,4865-4866-49199,0-16-43-10,29-23,'),
      // JA4 by hand: TLS, 1.3 (highest supported version), SNI, 3 suites, 4 extensions, ALPN h2; the sorted
      // suites; the sorted extensions without SNI (0000) and ALPN (0010), no signature algorithms
      ja4: `t13d0304h2_${sha12('1301,1302,c02f')}_${sha12('000a,002b')}`,
    },
    // JA3S: version 771, cipher 4865, the one extension 43
    server: { ja3s: md5('771,4865,43') },
  });
});

test('tls.early_data, without keys: sent when the ServerHello takes the client\'s first key (only the encrypted extensions say more); rejected when it takes none or another, and after a HelloRetryRequest', () => {
  // a resumption's ClientHello offering 0-RTT: early_data (42), then pre_shared_key (41) last
  const resuming = hs(1, Buffer.concat([
    u16(0x0303), Buffer.alloc(32, 2), vec(1, Buffer.alloc(0)), vec(2, u16(0x1301)), vec(1, Buffer.from([0])),
    vec(2, Buffer.concat([ext(43, vec(1, u16(0x0304))), ext(42, Buffer.alloc(0)), ext(41, Buffer.concat([vec(2, Buffer.concat([vec(2, Buffer.alloc(16, 3)), Buffer.alloc(4)])), vec(2, vec(1, Buffer.alloc(32, 4)))]))])),
  ]));
  const answer = (pskExt: Buffer[]) => hs(2, Buffer.concat([u16(0x0303), Buffer.alloc(32, 9), vec(1, Buffer.alloc(0)), u16(0x1301), Buffer.from([0]), vec(2, Buffer.concat([ext(43, u16(0x0304)), ...pskExt]))]));
  const early = (hello: Buffer, retry = false) => {
    const c = new Conversation(client, server).handshake().send(0, Buffer.concat([record(22, resuming), record(23, Buffer.alloc(40, 5))]));
    if (retry) c.send(1, record(22, serverHello(HRR))).send(0, record(22, clientHello));
    return tls(c.send(1, record(22, hello)).close()).events[0].tls.early_data;
  };
  assert.equal(early(answer([ext(41, u16(0))])), 'sent');
  assert.equal(early(answer([ext(41, u16(1))])), 'rejected');
  assert.equal(early(answer([])), 'rejected');
  assert.equal(early(serverHello(Buffer.alloc(32, 9), 0x0303)), 'rejected');
  assert.equal(early(serverHello(Buffer.alloc(32, 9)), true), 'rejected');
  // a ClientHello without early_data: no field
  assert.equal(tls(new Conversation(client, server).handshake().send(0, record(22, clientHello)).send(1, record(22, serverHello(Buffer.alloc(32, 9)))).close()).events[0].tls.early_data, undefined);
});

test('an alert in the clear ends the handshake: error.type, not established; a ClientHello never answered is unanswered', () => {
  const c = new Conversation(client, server).handshake()
    .send(0, record(22, clientHello))
    .send(1, record(21, Buffer.from([2, 112]))) // fatal unrecognized_name
    .close();
  const [e] = tls(c).events;
  assert.equal(e.pano.kind, 'unanswered');
  assert.equal(e.tls.alert, 'unrecognized_name');
  assert.equal(e.error.type, 'unrecognized_name');
  assert.equal(e.tls.established, false);

  const c2 = new Conversation(client, server).handshake().send(0, record(22, clientHello)).close();
  const [u] = tls(c2).events;
  assert.equal(u.pano.kind, 'unanswered');
  assert.deepEqual(u.pano.flags, ['closed']);
  assert.equal(u.tls.protocol.version, '1.3');
});

test('damage: a record that is no TLS record after the hello, a handshake message past its record: reported as far as read, counted, given up', () => {
  const c = new Conversation(client, server).handshake()
    .send(0, record(22, clientHello))
    .send(1, Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n'))
    .close();
  const { events, stats } = tls(c);
  assert.equal(events.length, 1);
  assert.deepEqual(events[0].pano.flags, ['malformed']);
  assert.equal(stats.protocols['tls.malformed'], 1);
  // a ClientHello whose cipher list claims more than the message holds
  const bad = Buffer.from(clientHello);
  bad.writeUInt16BE(0x7ff0, 4 + 2 + 32 + 33);
  const c2 = new Conversation(client, server).handshake().send(0, record(22, bad)).close();
  const r2 = tls(c2);
  assert.equal(r2.events.length, 0);
  assert.equal(r2.stats.protocols['tls.malformed'], 1);
});

/**
 * The ClientHello of JA4's own worked example (FoxIO, technical_details/JA4.md): its 15 suites and 16
 * extensions in the order given there, its signature algorithms, ALPN h2 first, with GREASE among the
 * suites, extensions, versions and signature algorithms. `sigs` undefined: extension 13 sent empty.
 */
function ja4Example(alpnFirst: Buffer = Buffer.from('h2'), sigs: number[] | undefined = [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601]): Buffer {
  const suites = [0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035];
  const body = (t: number): Buffer => {
    switch (t) {
      case 0x0000: return vec(2, Buffer.concat([Buffer.from([0]), vec(2, Buffer.from('ja4.example'))]));
      case 0x0010: return vec(2, Buffer.concat([vec(1, alpnFirst), vec(1, Buffer.from('http/1.1'))]));
      case 0x002b: return vec(1, Buffer.concat([u16(0xdada), u16(0x0304), u16(0x0303)]));
      case 0x000d: return vec(2, Buffer.concat([u16(0x1a1a), ...(sigs ?? []).map(u16)]));
      case 0x000a: return vec(2, Buffer.concat([u16(0x2a2a), u16(29), u16(23)]));
      case 0x000b: return vec(1, Buffer.from([0]));
      default: return Buffer.alloc(0);
    }
  };
  const order = [0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d, 0x0005, 0x0023, 0x0012, 0x002b, 0xff01, 0x000b, 0x000a, 0x0015];
  return hs(1, Buffer.concat([
    u16(0x0303), Buffer.alloc(32, 1), vec(1, Buffer.alloc(0)),
    vec(2, Buffer.concat([u16(0x3a3a), ...suites.map(u16)])),
    vec(1, Buffer.from([0])),
    vec(2, Buffer.concat([ext(0x5a5a, Buffer.alloc(0)), ...order.map((t) => ext(t, body(t)))])),
  ]));
}
const ja4Of = (hello: Buffer) => tls(new Conversation(client, server).handshake().send(0, record(22, hello)).close()).events[0].tls.client.ja4 as string;

test("JA4 of the specification's worked example is its t13d1516h2_8daaf6152771_e5627efa2ab1; with extension 13 empty, its _6d807ffa2a79", () => {
  assert.equal(ja4Of(ja4Example()), 't13d1516h2_8daaf6152771_e5627efa2ab1');
  assert.equal(ja4Of(ja4Example(undefined, [])), 't13d1516h2_8daaf6152771_6d807ffa2a79');
});

test("JA4's ALPN characters: first and last of the first value, or of its hex when either end is not alphanumeric (the specification's five cases)", () => {
  const cases: Array<[number[], string]> = [[[0xab], 'ab'], [[0xab, 0xcd], 'ad'], [[0x30, 0xab], '3b'], [[0x30, 0x31, 0xab, 0xcd], '3d'], [[0x30, 0xab, 0xcd, 0x31], '01'], [[0x71], 'qq']];
  for (const [bytes, chars] of cases) assert.equal(ja4Of(ja4Example(Buffer.from(bytes))).slice(8, 10), chars, Buffer.from(bytes).toString('hex'));
});

test('a connection joined after its handshake (no SYN, no hello): one event with the bytes each side sent, flagged handshake_missed; a side whose capture began inside a record is counted too', () => {
  const app = (n: number, fill: number) => Buffer.concat([Buffer.from([23, 3, 3]), u16(n), Buffer.alloc(n, fill)]);
  const big = app(16384, 7); // a full-size record over 12 segments
  const c = new Conversation(client, server) // no handshake(): joined mid-connection
    .send(0, Buffer.concat([app(40, 1), app(300, 2)]))
    .send(1, big, 1400)
    .send(1, Buffer.alloc(500, 9).subarray(0, 100)) // not a record start: the server side's bytes go on being counted
    .close();
  const { events, stats } = tls(c);
  assert.equal(events.length, 1);
  const e = events[0];
  assert.equal(e.pano.kind, 'exchange');
  assert.deepEqual(e.pano.flags, ['handshake_missed', 'closed']);
  assert.equal(e.pano.connection.midstream, true);
  assert.equal(e.pano.request_bytes, 45 + 305);
  assert.equal(e.pano.response_bytes, 16389 + 100);
  assert.deepEqual(e.tls, { protocol: { name: 'tls' }, established: true });
  assert.equal(e.server.port, 443);
  assert.equal((stats.protocols as Record<string, number>)['tls.joined_connections'], 1);

  // the server's side captured from inside a record, first; the client's records then identify the connection
  const d = new Conversation(client, server)
    .send(1, Buffer.alloc(700, 0x5c))
    .send(0, app(64, 3))
    .close();
  const j = tls(d).events;
  assert.equal(j.length, 1);
  assert.equal(j[0].pano.request_bytes, 69);
  assert.equal(j[0].pano.response_bytes, 700);

  // only an encrypted alert, as a connection is seen closing: a one-way message
  const a = tls(new Conversation(client, server).send(1, Buffer.concat([Buffer.from([21, 3, 3]), u16(26), Buffer.alloc(26, 4)])).close()).events;
  assert.equal(a.length, 1);
  assert.equal(a[0].pano.kind, 'message');
  assert.equal(a[0].pano.response_bytes, 31);
});

test('bytes that only begin like a TLS record are not taken for one: a length the packet does not end at, a next header that is none', () => {
  const fake = (payload: Buffer) => tls(new Conversation(client, { addr: server.addr, port: 9000 }).send(0, payload).send(1, Buffer.from('OK\r\n')).close()).events;
  // 23 3 3, length 16, then 20 bytes: the four after the record are no record header
  assert.equal(fake(Buffer.concat([Buffer.from([23, 3, 3, 0, 16]), Buffer.alloc(16, 1), Buffer.from('XYZW')])).length, 0);
  // an alert header of TLS 1.0 whose record runs past the packet: not enough to tell
  assert.equal(fake(Buffer.concat([Buffer.from([21, 3, 1, 0, 200]), Buffer.alloc(50, 1)])).length, 0);
  // length zero
  assert.equal(fake(Buffer.from([23, 3, 3, 0, 0, 23, 3, 3, 0, 0])).length, 0);
});
