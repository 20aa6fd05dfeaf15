// DTLS handshakes built record by record (RFC 6347 §4.1–4.2, RFC 9147): a ClientHello in three
// fragments over three datagrams, out of order and overlapping; a HelloVerifyRequest and the second
// ClientHello with its cookie; retransmissions; DTLS 1.3's ServerHello and unified-header records; an
// alert; damage; what detection takes and refuses. JA4 by hand from the definition.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { pcapng, udpFrame, type Frame } from '../helpers/synth.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';
import { detectDtls } from '../../packages/protocols/src/dtls/index.js';

const client = { addr: '192.0.2.10', port: 50400 };
const server = { addr: '192.0.2.44', port: 5684 };
const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);
const u24 = (n: number) => Buffer.from([n >> 16, (n >> 8) & 0xff, n & 0xff]);
const vec = (lenBytes: 1 | 2, b: Buffer) => Buffer.concat([lenBytes === 1 ? Buffer.from([b.length]) : u16(b.length), b]);
const ext = (type: number, data: Buffer) => Buffer.concat([u16(type), vec(2, data)]);
const sha12 = (t: string) => createHash('sha256').update(t).digest('hex').slice(0, 12);

/** A DTLS 1.2 ClientHello body: legacy version 0xfefd, a cookie after the session id (RFC 6347 §4.2.1). */
function clientHello(cookie: Buffer): Buffer {
  return Buffer.concat([
    u16(0xfefd), Buffer.alloc(32, 1), vec(1, Buffer.alloc(0)), vec(1, cookie),
    vec(2, Buffer.concat([u16(0xc02b), u16(0xc02f), u16(0x00ff)])),
    vec(1, Buffer.from([0])),
    vec(2, Buffer.concat([
      ext(0, vec(2, Buffer.concat([Buffer.from([0]), vec(2, Buffer.from('coap.example'))]))),
      ext(10, vec(2, u16(23))),
      ext(13, vec(2, Buffer.concat([u16(0x0403), u16(0x0804)]))),
      ext(14, Buffer.from([0, 2, 0, 1, 0])), // use_srtp
    ])),
  ]);
}
function serverHello(version: number): Buffer {
  const exts = version === 0xfefc ? vec(2, ext(43, u16(0xfefc))) : vec(2, ext(0xff01, Buffer.from([0])));
  return Buffer.concat([u16(0xfefd), Buffer.alloc(32, 2), vec(1, Buffer.alloc(0)), u16(0xc02b), Buffer.from([0]), exts]);
}
/** A handshake fragment: type, whole length, message_seq, offset, the fragment (RFC 6347 §4.2.2). */
function fragment(type: number, seq: number, body: Buffer, offset = 0, length = body.length - offset): Buffer {
  return Buffer.concat([Buffer.from([type]), u24(body.length), u16(seq), u24(offset), u24(length), body.subarray(offset, offset + length)]);
}
/** A DTLSPlaintext record: type, version, epoch, 48-bit sequence, length (RFC 6347 §4.1). */
function record(type: number, payload: Buffer, epoch = 0, seq = 0, version = 0xfefd): Buffer {
  const h = Buffer.alloc(13);
  h[0] = type;
  h.writeUInt16BE(version, 1);
  h.writeUInt16BE(epoch, 3);
  h.writeUIntBE(seq, 5, 6);
  h.writeUInt16BE(payload.length, 11);
  return Buffer.concat([h, payload]);
}
function capture(datagrams: Array<[0 | 1, Buffer]>): Buffer {
  let t = 1_700_000_000_000_000_000n;
  const frames: Frame[] = datagrams.map(([dir, d]) => ({ tsNs: (t += 1_000_000n), data: dir === 0 ? udpFrame(client, server, d) : udpFrame(server, client, d) }));
  return pcapng(frames);
}
function dtls(bytes: Buffer) {
  const r = parseCaptureSync(bytes);
  assertValidEvents(r.events);
  return { events: (r.events as any[]).filter((e) => e.pano.protocol === 'dtls'), stats: r.stats.protocols as Record<string, number> };
}

test('a ClientHello in three fragments (the last first, two overlapping), a HelloVerifyRequest, the second ClientHello with its cookie, a retransmission, ServerHello and ServerHelloDone: one exchange', () => {
  const first = clientHello(Buffer.alloc(0));
  const second = clientHello(Buffer.from('cookie-0123456789'));
  const hvr = Buffer.concat([u16(0xfeff), vec(1, Buffer.from('cookie-0123456789'))]);
  const bytes = capture([
    [0, record(22, fragment(1, 0, first, 60, first.length - 60), 0, 2)],
    [0, record(22, fragment(1, 0, first, 0, 40), 0, 0)],
    [0, record(22, fragment(1, 0, first, 30, 40), 0, 1)], // overlaps the first fragment
    [1, record(22, fragment(3, 0, hvr), 0, 0, 0xfeff)],
    [0, record(22, fragment(1, 1, second), 0, 3)],
    [0, record(22, fragment(1, 1, second), 0, 4)], // retransmitted
    [1, Buffer.concat([record(22, fragment(2, 1, serverHello(0xfefd)), 0, 1), record(22, fragment(14, 2, Buffer.alloc(0)), 0, 2)])],
    [0, Buffer.concat([record(20, Buffer.from([1]), 0, 5), record(22, Buffer.alloc(40, 9), 1, 0)])],
  ]);
  const { events, stats } = dtls(bytes);
  assert.equal(events.length, 1);
  const e = events[0];
  assert.equal(e.pano.kind, 'exchange');
  assert.deepEqual(e.pano.flags, ['hello_verify']);
  assert.deepEqual(e.network.protocol, { name: 'dtls' });
  assert.deepEqual(e.tls.protocol, { name: 'dtls', version: '1.2' });
  assert.equal(e.tls.cipher, 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256');
  assert.equal(e.tls.client.server_name, 'coap.example');
  assert.deepEqual(e.tls.client.supported_ciphers, ['TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', 'TLS_EMPTY_RENEGOTIATION_INFO_SCSV']);
  // JA4 by hand: DTLS, 1.2 (d2), SNI, 3 suites, 4 extensions, no ALPN; sorted suites; sorted extensions
  // without SNI, then the signature algorithms
  assert.equal(e.tls.client.ja4, `dd2d030400_${sha12('00ff,c02b,c02f')}_${sha12('000a,000d,000e_0403,0804')}`);
  assert.equal(e.tls.established, true);
  assert.equal(stats['dtls.handshakes'], 1);
});

test('DTLS 1.3: the ServerHello ends what is readable; unified-header records after it are passed over', () => {
  const bytes = capture([
    [0, record(22, fragment(1, 0, clientHello(Buffer.alloc(0))))],
    [1, Buffer.concat([record(22, fragment(2, 0, serverHello(0xfefc))), Buffer.from([0x2c, 0x00, 0x10]), Buffer.alloc(20, 7)])],
    [0, Buffer.concat([Buffer.from([0x2c, 0x00, 0x11]), Buffer.alloc(30, 8)])],
  ]);
  const { events } = dtls(bytes);
  assert.equal(events.length, 1);
  assert.deepEqual(events[0].tls.protocol, { name: 'dtls', version: '1.3' });
  assert.equal(events[0].pano.kind, 'exchange');
  assert.equal(events[0].pano.flags, undefined);
});

test('an alert in the clear ends the handshake; damage is counted and flagged, what was read reported', () => {
  const alert = dtls(capture([[0, record(22, fragment(1, 0, clientHello(Buffer.alloc(0))))], [1, record(21, Buffer.from([2, 40]))]])).events;
  assert.equal(alert.length, 1);
  assert.equal(alert[0].pano.kind, 'unanswered');
  assert.equal(alert[0].tls.alert, 'handshake_failure');
  assert.equal(alert[0].error.type, 'handshake_failure');
  // a fragment that runs past its message
  const hello = clientHello(Buffer.alloc(0));
  const bad = fragment(1, 1, hello);
  bad.writeUIntBE(hello.length + 5, 9, 3); // fragment_length past the message length
  const { events, stats } = dtls(capture([[0, record(22, fragment(1, 0, hello))], [0, record(22, bad)]]));
  assert.equal(events.length, 1);
  assert.deepEqual(events[0].pano.flags, ['malformed']);
  assert.equal(events[0].tls.client.server_name, 'coap.example');
  assert.equal(stats['dtls.malformed'], 1);
});

test('detection: a ClientHello record of epoch 0 is DTLS; encrypted epochs, TLS over UDP look-alikes and DNS are not', () => {
  const hello = record(22, fragment(1, 0, clientHello(Buffer.alloc(0))));
  assert.deepEqual(detectDtls(hello), { sender: 'client' });
  assert.equal(detectDtls(record(22, fragment(1, 0, clientHello(Buffer.alloc(0))), 1)), null);
  const tlsVersion = Buffer.from(hello);
  tlsVersion.writeUInt16BE(0x0303, 1);
  assert.equal(detectDtls(tlsVersion), null);
  assert.equal(detectDtls(hello.subarray(0, 24)), null);
  const dns = Buffer.from('16fe01000001000000000000076578616d706c6503636f6d0000010001', 'hex');
  assert.equal(detectDtls(dns), null);
});

test('fuzz: 1,500 mutants of a handshake\'s datagrams never throw, fault or give an event the schema rejects', async () => {
  const { mutate, seeded } = await import('../helpers/mutate.js');
  const rnd = seeded(2929);
  const datagrams: Array<[0 | 1, Buffer]> = [
    [0, record(22, fragment(1, 0, clientHello(Buffer.alloc(0)), 0, 50))],
    [0, record(22, fragment(1, 0, clientHello(Buffer.alloc(0)), 50))],
    [1, Buffer.concat([record(22, fragment(2, 0, serverHello(0xfefd))), record(22, fragment(14, 1, Buffer.alloc(0)))])],
  ];
  let events = 0;
  for (let i = 0; i < 1500; i++) {
    const r = parseCaptureSync(capture(datagrams.map(([d, b], j) => [d, j === i % 3 ? mutate(b, rnd) : b])));
    assertValidEvents(r.events);
    assert.equal((r.stats.protocols as Record<string, number>)['dtls.parser_faults'], undefined, `mutant ${i}`);
    events += r.events.length;
  }
  assert.ok(events > 500, `${events} events`);
});
