// WebSocket (RFC 6455) after an HTTP/1.1 Upgrade, through the whole pipeline, on frames built by hand:
// the examples of RFC 6455 §5.7 and RFC 7692 §7.2.3 byte for byte, fragmentation with control frames
// between fragments, 16- and 64-bit lengths, close frames, damage, lost bytes and a cut connection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deflateRawSync, constants } from 'node:zlib';
import { Conversation } from '../helpers/synth.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';
import * as mqttPackets from '../helpers/mqtt.js';

const client = { addr: '192.0.2.10', port: 50124 };
const server = { addr: '192.0.2.80', port: 8080 };
const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

const UPGRADE = 'GET /chat?room=1 HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';
const switching = (extra = '') => `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n${extra}\r\n`;

function run(c: Conversation, opts = {}) {
  const r = parseCaptureSync(c.pcapng(), opts);
  assertValidEvents(r.events);
  return r;
}
const ws = (events: any[]) => events.filter((e) => e.pano.protocol === 'websocket');
const brief = (e: any) => [e.websocket.sender, e.websocket.opcode, e.websocket.frames, e.websocket.message?.body.content ?? e.websocket.close, e.pano.flags];

/** A client frame: masked with `key` (RFC 6455 §5.3). */
function masked(b0: number, key: Buffer, payload: Buffer): Buffer {
  const len = payload.length < 126 ? Buffer.from([0x80 | payload.length]) : payload.length < 65536 ? Buffer.from([0x80 | 126, payload.length >> 8, payload.length & 0xff]) : Buffer.concat([Buffer.from([0x80 | 127]), (() => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(payload.length)); return b; })()]);
  return Buffer.concat([Buffer.from([b0]), len, key, Buffer.from(payload.map((c, i) => c ^ key[i & 3]!))]);
}

test('RFC 6455 §5.7: unmasked and masked "Hello", fragmented "Hel"+"lo" with a ping between, 256- and 65536-byte binary messages', () => {
  const big = Buffer.alloc(65536, 0x61);
  const c = new Conversation(client, server)
    .handshake()
    .send(0, UPGRADE)
    .send(1, switching())
    .send(1, hex('81 05 48 65 6c 6c 6f')) // a single-frame unmasked text message
    .send(0, hex('81 85 37 fa 21 3d 7f 9f 4d 51 58')) // a single-frame masked text message
    .send(1, hex('01 03 48 65 6c')) // a fragmented unmasked text message: "Hel"
    .send(1, hex('89 05 48 65 6c 6c 6f')) // unmasked ping between the fragments
    .send(1, hex('80 02 6c 6f')) // "lo"
    .send(0, hex('8a 85 37 fa 21 3d 7f 9f 4d 51 58')) // masked pong
    .send(1, Buffer.concat([hex('82 7e 01 00'), Buffer.alloc(256, 0x7a)])) // 256 bytes binary, 16-bit length
    .send(1, Buffer.concat([hex('82 7f 00 00 00 00 00 01 00 00'), big])) // 64 KiB binary, 64-bit length
    .close();
  const { events, stats } = run(c, { parse: { maxBody: 1024 } });
  assert.equal(events[0].pano.protocol, 'http');
  assert.equal((events[0] as any).http.response.status_code, 101);
  const w = ws(events);
  assert.deepEqual(w.map(brief), [
    ['server', 'text', 1, 'Hello', undefined],
    ['client', 'text', 1, 'Hello', undefined],
    ['server', 'text', 2, 'Hello', undefined],
    ['server', 'binary', 1, 'z'.repeat(256), undefined],
    ['server', 'binary', 1, 'a'.repeat(1024), ['truncated']],
  ]);
  assert.deepEqual(w.map((e) => [e.pano.kind, e.websocket.message.size, e.websocket.message.body.size, e.websocket.message.body.truncated, e.pano.request_bytes ?? e.pano.response_bytes]), [
    ['message', 5, 5, undefined, 7],
    ['message', 5, 5, undefined, 11],
    ['message', 5, 5, undefined, 5 + 4],
    ['message', 256, 256, undefined, 4 + 256],
    ['message', 65536, 65536, true, 10 + 65536],
  ]);
  // all on the Upgrade's connection
  assert.ok(w.every((e) => e.pano.connection.id === events[0].pano.connection.id));
  assert.equal(stats.protocols['websocket.pings'], 1);
  assert.equal(stats.protocols['websocket.pongs'], 1);
  assert.equal(stats.protocols['http.upgrade_websocket'], 1);
});

test('RFC 7692 §7.2.3: permessage-deflate "Hello" compressed, then again with the first as its context (takeover); no_context_takeover resets it', () => {
  const c = new Conversation(client, server)
    .handshake()
    .send(0, UPGRADE.replace('\r\n\r\n', '\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n'))
    .send(1, switching('Sec-WebSocket-Extensions: permessage-deflate\r\n'))
    .send(1, hex('c1 07 f2 48 cd c9 c9 07 00')) // §7.2.3.1
    .send(1, hex('c1 05 f2 00 11 00 00')) // §7.2.3.2: refers back into the first message
    .send(1, hex('41 03 f2 48 cd') ) // §7.2.3.3: fragmented compressed message, "Hello" in two frames
    .send(1, hex('80 04 c9 c9 07 00'))
    .close();
  const w = ws(run(c).events);
  assert.deepEqual(w.map(brief), [
    ['server', 'text', 1, 'Hello', undefined],
    ['server', 'text', 1, 'Hello', undefined],
    ['server', 'text', 2, 'Hello', undefined],
  ]);
  assert.deepEqual(w.map((e) => [e.websocket.message.size, e.websocket.message.body.size, e.websocket.message.body.content_encoding]), [
    [5, 7, 'permessage-deflate'],
    [5, 5, 'permessage-deflate'],
    [5, 7, 'permessage-deflate'],
  ]);

  // client JSON compressed by zlib itself with a shared context; the server agreed no context takeover for its own side only
  const deflate = (s: string, dict?: Buffer) => {
    const out = deflateRawSync(Buffer.from(s), { finishFlush: constants.Z_SYNC_FLUSH, ...(dict ? { dictionary: dict } : {}) });
    return out.subarray(0, out.length - 4); // §7.2.1: the 00 00 ff ff tail removed
  };
  const first = '{"user":{"email":"alice@example.org","name":"Alice Smith"}}';
  const second = '{"user":{"email":"alice@example.org","name":"Alice Smith","n":2}}';
  const key = hex('01 02 03 04');
  const c2 = new Conversation(client, server)
    .handshake()
    .send(0, UPGRADE)
    .send(1, switching('Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\nSec-WebSocket-Protocol: chat.v1\r\n'))
    .send(0, masked(0xc1, key, deflate(first)))
    .send(0, masked(0xc1, key, deflate(second, Buffer.from(first))))
    .send(1, hex('c1 07 f2 48 cd c9 c9 07 00'))
    .send(1, hex('c1 07 f2 48 cd c9 c9 07 00')) // no takeover: the same bytes again
    .close();
  const w2 = ws(run(c2).events);
  assert.deepEqual(w2.map(brief), [
    ['client', 'text', 1, first, undefined],
    ['client', 'text', 1, second, undefined],
    ['server', 'text', 1, 'Hello', undefined],
    ['server', 'text', 1, 'Hello', undefined],
  ]);
  assert.ok(w2.every((e) => e.websocket.subprotocol === 'chat.v1'));
});

test('close frames: code and reason; a close without a body; the cut connection flags a message in progress', () => {
  const c = new Conversation(client, server)
    .handshake()
    .send(0, UPGRADE)
    .send(1, switching())
    .send(0, masked(0x88, hex('0a 0b 0c 0d'), Buffer.concat([hex('03 e8'), Buffer.from('bye for now, Zoë')])))
    .send(1, hex('88 02 03 e8'))
    .send(1, hex('88 00'))
    .send(1, hex('01 03 61 62 63')) // a message whose last fragment never comes
    .rst(1);
  const w = ws(run(c).events);
  assert.deepEqual(w.map(brief), [
    ['client', 'close', 1, { code: 1000, reason: 'bye for now, Zoë' }, undefined],
    ['server', 'close', 1, { code: 1000 }, undefined],
    ['server', 'close', 1, {}, undefined],
    ['server', 'text', 1, 'abc', ['reset', 'message_incomplete']],
  ]);
});

test('damage: a reserved opcode, RSV1 where no extension allows it, a continuation outside a message, a new message inside one, a fragmented ping: what came before is reported, then the connection is given up and counted', () => {
  // [why, the bad frame, whether a fragmented message is open when it comes]
  const cases: Array<[string, Buffer, boolean]> = [
    ['reserved_opcode', hex('83 00'), true],
    ['rsv1_continuation', hex('c0 01 41'), true],
    ['message_inside_message', hex('81 01 41'), true],
    ['control_fragmented', hex('09 00'), true],
    ['control_too_long', Buffer.concat([hex('89 7e 00 7e'), Buffer.alloc(126)]), true],
    ['rsv2_rsv3', hex('a1 01 41'), true],
    ['frame_length', hex('82 7f 80 00 00 00 00 00 00 00'), true],
    ['rsv1_without_deflate', hex('c1 01 41'), false],
    ['continuation_outside_message', hex('80 01 41'), false],
  ];
  for (const [why, bad, open] of cases) {
    const c = new Conversation(client, server)
      .handshake()
      .send(0, UPGRADE)
      .send(1, switching())
      .send(1, hex('81 02 6f 6b'))
      .send(1, open ? hex('01 01 61') : hex('81 01 61'))
      .send(1, bad)
      .send(1, hex('81 02 6e 6f'))
      .close();
    const { events, stats } = run(c);
    assert.deepEqual(ws(events).map(brief), [
      ['server', 'text', 1, 'ok', undefined],
      ['server', 'text', 1, 'a', open ? ['malformed', 'message_incomplete'] : undefined],
    ], why);
    assert.equal(stats.protocols['websocket.malformed'], 1, why);
    assert.equal(stats.protocols[`websocket.malformed.${why}`], 1, why);
    assert.equal(stats.protocols['websocket.abandoned.malformed'], 1, why);
  }
});

test('lost bytes: the side that lost them is read no further (frames carry no marker to resync on), the other goes on', () => {
  const c = new Conversation(client, server)
    .handshake()
    .send(0, UPGRADE)
    .send(1, switching())
    .send(1, hex('01 03 61 62 63'));
  c.segments(1, hex('80 03 64 65 66')); // never captured
  c.send(1, hex('81 02 6e 6f'))
    .send(0, masked(0x81, hex('01 02 03 04'), Buffer.from('still here')))
    .close();
  const { events, stats } = run(c);
  assert.deepEqual(ws(events).map(brief), [
    ['server', 'text', 1, 'abc', ['gap', 'message_incomplete']],
    ['client', 'text', 1, 'still here', undefined],
  ]);
  assert.equal(stats.protocols['websocket.gap_bytes'], 5);
});

test('without the websocket module (--protocols http) the Upgrade is reported and the frames are not read', () => {
  const c = new Conversation(client, server)
    .handshake()
    .send(0, UPGRADE)
    .send(1, switching())
    .send(1, hex('81 05 48 65 6c 6c 6f'))
    .close();
  const { events, stats } = run(c, { protocols: ['http'] });
  assert.deepEqual(events.map((e: any) => [e.pano.protocol, e.http?.response?.status_code]), [['http', 101]]);
  assert.equal(stats.protocols['http.handoff_unavailable.websocket'], 1);
});

test('permessage-deflate bounds: a compressed message past 1 MiB on the wire is not decompressed, and with context takeover neither is any later one of that side (flagged undecodable); the other side is unaffected', () => {
  // random bytes do not compress: over 1 MiB on the wire
  let x = 12345;
  const noise = Buffer.from(Array.from({ length: (1 << 20) + 4096 }, () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 24)));
  const deflate = (b: Buffer, dict?: Buffer) => {
    const out = deflateRawSync(b, { finishFlush: constants.Z_SYNC_FLUSH, ...(dict ? { dictionary: dict } : {}) });
    return out.subarray(0, out.length - 4);
  };
  const big = deflate(noise);
  assert.ok(big.length > 1 << 20);
  const frame = (payload: Buffer) => Buffer.concat([hex('c2 7f'), (() => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(payload.length)); return b; })(), payload]);
  const c = new Conversation(client, server)
    .handshake()
    .send(0, UPGRADE)
    .send(1, switching('Sec-WebSocket-Extensions: permessage-deflate\r\n'))
    .send(1, frame(big))
    .send(1, Buffer.concat([hex('c1'), Buffer.from([deflate(Buffer.from('after'), noise.subarray(noise.length - 32768)).length]), deflate(Buffer.from('after'), noise.subarray(noise.length - 32768))]))
    .send(0, masked(0xc1, hex('01 02 03 04'), deflate(Buffer.from('client side'))))
    .close();
  const { events, stats } = run(c);
  const w = ws(events);
  assert.deepEqual(w.map((e) => [e.websocket.sender, e.websocket.opcode, e.websocket.message.size, e.websocket.message.body.size, e.websocket.message.body.content, e.websocket.message.body.decode_error, e.pano.flags]), [
    ['server', 'binary', undefined, big.length, undefined, 'compressed message past the 1048576 bytes kept', ['truncated']],
    ['server', 'text', undefined, w[1].websocket.message.body.size, undefined, 'an earlier message could not be decompressed (context takeover)', ['undecodable']],
    ['client', 'text', 11, w[2].websocket.message.body.size, 'client side', undefined, undefined],
  ]);
  assert.equal(stats.protocols['websocket.undecodable'], 1);
});

test('subprotocol mqtt: binary messages carry MQTT packets (split across messages and fragments, compressed, past --max-body), text messages and close frames stay WebSocket events', () => {
  const { pkt, str, u16, u8 } = mqttPackets;
  const key = hex('11 22 33 44');
  const connect = pkt(0x10, str('MQTT'), u8(4), u8(0x02), u16(30), str('ws-unit'));
  const big = Buffer.alloc(3000, 0x62); // a payload past the 1 KiB kept: its packet still read whole
  const publish = pkt(0x32, str('unit/big'), u16(9), big);
  const small = pkt(0x30, str('unit/small'), Buffer.from('{"email":"zoe@example.com"}'));
  // permessage-deflate: the deflate stream without its final empty block's 00 00 ff ff (RFC 7692 §7.2.1)
  const deflated = deflateRawSync(small, { finishFlush: constants.Z_SYNC_FLUSH });
  const compressed = deflated.subarray(0, deflated.length - 4);
  const c = new Conversation(client, server)
    .handshake()
    .send(0, UPGRADE.replace('\r\n\r\n', '\r\nSec-WebSocket-Protocol: mqtt\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n'))
    .send(1, switching('Sec-WebSocket-Protocol: mqtt\r\nSec-WebSocket-Extensions: permessage-deflate\r\n'))
    .send(0, masked(0x82, key, connect))
    .send(1, hex('82 04 20 02 00 00')) // CONNACK
    // the PUBLISH: its first 1000 bytes in one message, the rest in a second one of two fragments
    .send(0, masked(0x82, key, publish.subarray(0, 1000)))
    .send(0, masked(0x02, key, publish.subarray(1000, 2000)))
    .send(0, masked(0x80, key, publish.subarray(2000)))
    .send(1, hex('82 04 40 02 00 09')) // PUBACK
    .send(0, masked(0xc2, key, compressed)) // compressed binary: a QoS 0 PUBLISH
    .send(0, masked(0x81, key, Buffer.from('not mqtt'))) // a text message: no MQTT, reported as itself
    .send(0, masked(0x88, key, hex('03 e8')))
    .close();
  const { events, stats } = run(c, { parse: { maxBody: 1024 } });
  const mqtt = events.filter((e) => e.pano.protocol === 'mqtt') as any[];
  assert.deepEqual(mqtt.map((e) => [e.pano.kind, e.mqtt.packet_type, e.messaging.destination?.name]), [
    ['exchange', 'CONNECT', undefined],
    ['exchange', 'PUBLISH', 'unit/big'],
    ['message', 'PUBLISH', 'unit/small'],
  ]);
  for (const e of mqtt) assert.deepEqual(e.websocket, { subprotocol: 'mqtt' });
  assert.deepEqual(mqtt[1].messaging.message.body, { size: 3000, content: 'b'.repeat(1024), truncated: true });
  assert.equal(mqtt[1].mqtt.response.packet_type, 'PUBACK');
  assert.equal(mqtt[2].messaging.message.body.content, '{"email":"zoe@example.com"}');
  assert.deepEqual(ws(events).map(brief), [
    ['client', 'text', 1, 'not mqtt', undefined],
    ['client', 'close', 1, { code: 1000 }, undefined],
  ]);
  assert.equal(stats.protocols['websocket.carried_mqtt'], 1);
  // CONNECT, CONNACK, the PUBLISH's two messages, PUBACK, the compressed one
  assert.equal(stats.protocols['websocket.carried_messages'], 6);
});
