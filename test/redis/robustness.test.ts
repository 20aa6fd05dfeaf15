// Damaged and random input never throws out of the Redis, Kafka or AMQP
// parsers, and what they emit stays well-formed; 300 seeded mutations each of
// valid streams, cut at random, with gaps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fakeContext } from '../helpers/fake-parser-context.js';
import { cuts, mutate, seeded } from '../helpers/mutate.js';
import { redisModule } from '../../packages/protocols/src/redis/index.js';
import { kafkaModule } from '../../packages/protocols/src/kafka/index.js';
import { amqpModule } from '../../packages/protocols/src/amqp/index.js';
import type { ProtocolModule } from '../../packages/protocols/src/types.js';

const cmd = (...a: string[]) => `*${a.length}\r\n${a.map((x) => `$${x.length}\r\n${x}\r\n`).join('')}`;
const redis: Array<[0 | 1, Buffer]> = [
  [0, Buffer.from(cmd('SET', 'k', 'v') + cmd('SUBSCRIBE', 'a', 'b') + 'PING\r\n' + cmd('MULTI') + cmd('EXEC'))],
  [1, Buffer.from('+OK\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n>3\r\n$7\r\nmessage\r\n$1\r\na\r\n$2\r\nhi\r\n|1\r\n+x\r\n:1\r\n%1\r\n+a\r\n~1\r\n,1.5\r\n=7\r\ntxt:abc\r\n(12\r\n#t\r\n_\r\n')],
];

const i16 = (n: number) => { const b = Buffer.alloc(2); b.writeInt16BE(n); return b; };
const i32 = (n: number) => { const b = Buffer.alloc(4); b.writeInt32BE(n); return b; };
const sized = (b: Buffer) => Buffer.concat([i32(b.length), b]);
const kstr = (s: string) => Buffer.concat([i16(s.length), Buffer.from(s)]);
const kafka: Array<[0 | 1, Buffer]> = [
  [0, Buffer.concat([
    sized(Buffer.concat([i16(3), i16(1), i32(1), kstr('c'), i32(1), kstr('t')])),
    sized(Buffer.concat([i16(18), i16(3), i32(2), kstr('c'), Buffer.from([0, 2, 0x61, 2, 0x62, 0])])),
    sized(Buffer.concat([i16(0), i16(3), i32(3), kstr('c'), i16(-1), i16(1), i32(100), i32(1), kstr('t'), i32(1), i32(0), i32(-1)])),
  ])],
  [1, Buffer.concat([
    sized(Buffer.concat([i32(1), i32(0), i32(1), i16(0), kstr('t'), i32(0)])),
    sized(Buffer.concat([i32(2), i16(0), Buffer.from([2]), i16(0), i16(0), i16(9), Buffer.from([0]), i32(0), Buffer.from([0])])),
  ])],
];

const u8 = (n: number) => Buffer.from([n]);
const u16 = (n: number) => { const b = Buffer.alloc(2); b.writeUInt16BE(n); return b; };
const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
const frame = (t: number, ch: number, p: Buffer) => Buffer.concat([u8(t), u16(ch), u32(p.length), p, u8(0xce)]);
const sstr = (s: string) => Buffer.concat([u8(s.length), Buffer.from(s)]);
const amqp: Array<[0 | 1, Buffer]> = [
  [0, Buffer.concat([
    Buffer.from('AMQP\x00\x00\x09\x01', 'latin1'),
    frame(1, 1, Buffer.concat([u16(50), u16(10), u16(0), sstr('q'), u8(0), u32(9), sstr('x'), Buffer.from('S'), u32(1), Buffer.from('y')])),
    frame(1, 1, Buffer.concat([u16(60), u16(40), u16(0), sstr('e'), sstr('r'), u8(0)])),
    frame(2, 1, Buffer.concat([u16(60), u16(0), Buffer.alloc(7), u8(4), u16(0x2000), u32(0)])),
    frame(3, 1, Buffer.from('abcd')),
    frame(8, 0, Buffer.alloc(0)),
  ])],
  [1, frame(1, 1, Buffer.concat([u16(50), u16(11), sstr('q'), u32(0), u32(0)]))],
];

function hammer(mod: ProtocolModule, streams: Array<[0 | 1, Buffer]>, seed: number) {
  const rnd = seeded(seed);
  for (let round = 0; round < 300; round++) {
    for (const midstream of [false, true]) {
      const ctx = fakeContext({ maxBody: 64, maxRows: 3 }, { midstream });
      const p = mod.createStream!(ctx);
      let ts = 1n;
      for (const [dir, bytes] of streams) {
        const damaged = round === 0 ? bytes : mutate(bytes, rnd);
        for (const piece of cuts(damaged, rnd)) {
          p.data(dir, piece, ts++);
          if (rnd(50) === 0) p.gap(dir, 1 + rnd(100), ts++);
        }
      }
      p.close(rnd(2) ? 'fin' : 'rst', ts);
      for (const r of ctx.records) {
        assert.ok(['exchange', 'message', 'unanswered', 'orphan_response'].includes(r.kind));
        assert.ok(r.endNs >= r.startNs);
        JSON.stringify(r.attributes);
      }
    }
    // and pure noise
    const noise = Buffer.from(Array.from({ length: 200 }, () => rnd(256)));
    const ctx = fakeContext();
    const p = mod.createStream!(ctx);
    p.data(0, noise, 1n);
    p.data(1, noise, 2n);
    p.close('end', 3n);
  }
}

test('redis parser survives damage', () => hammer(redisModule, redis, 1));
test('kafka parser survives damage', () => hammer(kafkaModule, kafka, 2));
test('amqp parser survives damage', () => hammer(amqpModule, amqp, 3));
