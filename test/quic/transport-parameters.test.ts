// The server's preferred address in its QUIC transport parameters (RFC 9000 §18.2), by hand: the
// connection ID a client moving there will send, found among other parameters, and nothing from
// parameters that do not read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { preferredAddressCid } from '../../packages/protocols/src/quic/packets.js';

/** A transport parameter: id and length as 1- or 2-byte varints (RFC 9000 §16), then its value. */
function param(id: number, value: Buffer): Buffer {
  const varint = (n: number) => (n < 64 ? Buffer.from([n]) : Buffer.from([0x40 | (n >> 8), n & 0xff]));
  return Buffer.concat([varint(id), varint(value.length), value]);
}
const cid = Buffer.from('c1d2e3f4a5b6c7d8', 'hex');
const preferred = (id: Buffer) => Buffer.concat([Buffer.from([127, 0, 0, 1]), Buffer.from([0x38, 0x3b]), Buffer.alloc(16), Buffer.from([0, 0]), Buffer.from([id.length]), id, Buffer.alloc(16, 0xee)]);

test('the preferred address\'s connection ID, after and among other parameters (varint ids of one and two bytes)', () => {
  const others = Buffer.concat([param(0x04, Buffer.from([0x80, 0x10, 0, 0])), param(0x0f, Buffer.from('0102030405', 'hex')), param(0x2ab2, Buffer.alloc(3))]);
  assert.deepEqual(preferredAddressCid(Buffer.concat([others, param(0x0d, preferred(cid)), param(0x01, Buffer.from([0x40, 0x64]))])), cid);
  assert.equal(preferredAddressCid(others), undefined, 'none given');
  assert.equal(preferredAddressCid(Buffer.alloc(0)), undefined);
});

test('parameters that do not read give nothing: a length past the end, a preferred address cut inside its ID or before it', () => {
  assert.equal(preferredAddressCid(Buffer.from([0x0d, 0x30, 1, 2])), undefined);
  const whole = preferred(cid);
  assert.equal(preferredAddressCid(param(0x0d, whole.subarray(0, 26))), undefined, 'cut inside the ID');
  assert.equal(preferredAddressCid(param(0x0d, whole.subarray(0, 24))), undefined, 'cut before the ID\'s length');
  assert.equal(preferredAddressCid(Buffer.from([0x4d])), undefined, 'an id cut short');
});
