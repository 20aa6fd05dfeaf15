// QUIC Initial packet protection against the specifications' own samples: RFC 9001 Appendix A (keys,
// the client's and the server's Initial) and RFC 9369 Appendix A (the client's Initial in QUIC v2);
// packet number decoding against RFC 9000 §A.3's example. The test helper that seals packets for the
// other QUIC tests is held to the same samples.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { versionParams } from '../../packages/protocols/src/quic/constants.js';
import { decodePacketNumber, initialKeys, openInitial } from '../../packages/protocols/src/quic/initial.js';
import { detectQuic } from '../../packages/protocols/src/quic/index.js';
import { sealLong } from '../helpers/quic.js';
import * as rfc from '../fixtures/quic/rfc-vectors.js';

const hex = (s: string) => Buffer.from(s, 'hex');
const hexOf = (k: { key: Buffer; iv: Buffer; hp: Buffer }) => ({ key: k.key.toString('hex'), iv: k.iv.toString('hex'), hp: k.hp.toString('hex') });

test('RFC 9001 A.1: the client and server Initial keys of DCID 8394c8f03e515708', () => {
  const k = initialKeys(versionParams(1)!, hex(rfc.DCID));
  assert.deepEqual(hexOf(k.client), rfc.V1_KEYS.client);
  assert.deepEqual(hexOf(k.server), rfc.V1_KEYS.server);
});

test('RFC 9001 A.2: the client Initial opens to its CRYPTO frame and PADDING, packet number 2', () => {
  const pkt = hex(rfc.V1_CLIENT_INITIAL);
  const k = initialKeys(versionParams(1)!, hex(rfc.DCID));
  // header: first byte, version, DCID length + 8, SCID length 0, token length 0, Length 0x449e (2 bytes) = 18 bytes
  const opened = openInitial(k.client, pkt, 18, -1);
  assert.ok(opened);
  assert.equal(opened.packetNumber, 2);
  const frames = hex(rfc.CLIENT_CRYPTO_FRAME);
  assert.equal(opened.payload.length, 1200 - 18 - 4 - 16);
  assert.deepEqual(opened.payload.subarray(0, frames.length), frames);
  assert.ok(opened.payload.subarray(frames.length).every((b) => b === 0), 'the rest is PADDING');
  assert.equal(pkt.equals(hex(rfc.V1_CLIENT_INITIAL)), true, 'the packet is not modified');
});

test('RFC 9001 A.3: the server Initial opens to its ACK and ServerHello, packet number 1', () => {
  const k = initialKeys(versionParams(1)!, hex(rfc.DCID));
  // first byte, version, DCID length 0, SCID length + 8, Length 0x4075 = 18 bytes
  const opened = openInitial(k.server, hex(rfc.V1_SERVER_INITIAL), 18, -1);
  assert.ok(opened);
  assert.equal(opened.packetNumber, 1);
  assert.deepEqual(opened.payload, hex(rfc.SERVER_FRAMES));
});

test('RFC 9369 A.2: the client Initial of QUIC v2 opens under the v2 salt and labels', () => {
  const k = initialKeys(versionParams(0x6b3343cf)!, hex(rfc.DCID));
  const opened = openInitial(k.client, hex(rfc.V2_CLIENT_INITIAL), 18, -1);
  assert.ok(opened);
  assert.equal(opened.packetNumber, 2);
  assert.deepEqual(opened.payload.subarray(0, 245), hex(rfc.CLIENT_CRYPTO_FRAME));
  // and not under v1's keys
  assert.equal(openInitial(initialKeys(versionParams(1)!, hex(rfc.DCID)).client, hex(rfc.V2_CLIENT_INITIAL), 18, -1), undefined);
});

test('a changed byte anywhere after the header fails authentication', () => {
  const k = initialKeys(versionParams(1)!, hex(rfc.DCID));
  for (const at of [18, 19, 40, 600, 1183, 1199]) {
    const pkt = hex(rfc.V1_CLIENT_INITIAL);
    pkt[at] ^= 0x01;
    assert.equal(openInitial(k.client, pkt, 18, -1), undefined, `byte ${at}`);
  }
  // too short to take the header protection sample
  assert.equal(openInitial(k.client, hex(rfc.V1_CLIENT_INITIAL).subarray(0, 37), 18, -1), undefined);
});

test('RFC 9000 A.3: a 16-bit truncated packet number 0x9b32 after 0xa82f30ea is 0xa82f9b32; and the window edges', () => {
  assert.equal(decodePacketNumber(0xa82f30ea, 0x9b32, 16), 0xa82f9b32);
  assert.equal(decodePacketNumber(-1, 0, 8), 0);
  assert.equal(decodePacketNumber(-1, 2, 32), 2);
  assert.equal(decodePacketNumber(255, 0, 8), 256); // the next after 255 wraps the byte
  assert.equal(decodePacketNumber(300, 0xff, 8), 255); // behind the expected one, within half a window
});

test('the test helper seals the RFC samples byte for byte (v1 client and server, v2 client)', () => {
  const v1 = initialKeys(versionParams(1)!, hex(rfc.DCID));
  const client = sealLong(v1.client, { typeCode: 0, version: 1, dcid: hex(rfc.DCID), scid: Buffer.alloc(0), token: Buffer.alloc(0), packetNumber: 2, pnLength: 4, frames: hex(rfc.CLIENT_CRYPTO_FRAME), padTo: 1200 });
  assert.equal(client.toString('hex'), rfc.V1_CLIENT_INITIAL);
  const server = sealLong(v1.server, { typeCode: 0, version: 1, dcid: Buffer.alloc(0), scid: hex('f067a5502a4262b5'), token: Buffer.alloc(0), packetNumber: 1, pnLength: 2, frames: hex(rfc.SERVER_FRAMES) });
  assert.equal(server.toString('hex'), rfc.V1_SERVER_INITIAL);
  const v2 = initialKeys(versionParams(0x6b3343cf)!, hex(rfc.DCID));
  const c2 = sealLong(v2.client, { typeCode: 1, version: 0x6b3343cf, dcid: hex(rfc.DCID), scid: Buffer.alloc(0), token: Buffer.alloc(0), packetNumber: 2, pnLength: 4, frames: hex(rfc.CLIENT_CRYPTO_FRAME), padTo: 1200 });
  assert.equal(c2.toString('hex'), rfc.V2_CLIENT_INITIAL);
});

test('detection: a client Initial that opens under its own DCID is QUIC; the server Initial, a damaged or short one, or an unknown version is not', () => {
  assert.deepEqual(detectQuic(hex(rfc.V1_CLIENT_INITIAL)), { sender: 'client' });
  assert.deepEqual(detectQuic(hex(rfc.V2_CLIENT_INITIAL)), { sender: 'client' });
  assert.equal(detectQuic(hex(rfc.V1_SERVER_INITIAL)), null);
  const damaged = hex(rfc.V1_CLIENT_INITIAL);
  damaged[700] ^= 0x80;
  assert.equal(detectQuic(damaged), null);
  assert.equal(detectQuic(hex(rfc.V1_CLIENT_INITIAL).subarray(0, 1199)), null);
  const unknown = hex(rfc.V1_CLIENT_INITIAL);
  unknown.writeUInt32BE(0x1a2a3a4a, 1);
  assert.equal(detectQuic(unknown), null);
  // a DNS message padded to 1200 bytes (EDNS padding) with the high bit of its id set
  const dns = Buffer.alloc(1200);
  dns[0] = 0xc0;
  assert.equal(detectQuic(dns), null);
});
