// DNS over QUIC's streams by hand (DoqConnection, RFC 9250): STREAM frames out of order and split
// anywhere, streams interleaved, a stream reset, a server that ends its side without an answer,
// queries that time out, the bound on streams tracked, a late copy of an answered stream, and
// streams DoQ does not use.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Dir } from '@panopticon/flows';
import { DoqConnection } from '../../packages/protocols/src/dns/doq.js';
import { fakeContext } from '../helpers/fake-parser-context.js';

function name(n: string): Buffer {
  return Buffer.concat([...n.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])), Buffer.from([0])]);
}
const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);
/** A query for `host` A, ID 0 (§4.2.1), and its answer 192.0.2.`last`; each with its 2-byte length. */
function exchange(host: string, last: number): [Buffer, Buffer] {
  const q = Buffer.concat([u16(0), u16(0x0100), u16(1), u16(0), u16(0), u16(0), name(host), u16(1), u16(1)]);
  const question = q.subarray(12);
  const r = Buffer.concat([u16(0), u16(0x8180), u16(1), u16(1), u16(0), u16(0), question, Buffer.from([0xc0, 12]), u16(1), u16(1), Buffer.from([0, 0, 0, 60]), u16(4), Buffer.from([192, 0, 2, last])]);
  return [Buffer.concat([u16(q.length), q]), Buffer.concat([u16(r.length), r])];
}
const setup = (options = {}) => {
  const ctx = fakeContext(options, { transport: 'udp', roleSource: 'port', server: { address: '127.0.0.1', port: 853 } });
  const doq = new DoqConnection(ctx, (r) => {
    r.attributes = { ...r.attributes, tls: { decrypted: true } };
  });
  return { ctx, doq };
};
const summary = (ctx: ReturnType<typeof setup>['ctx']) =>
  ctx.records.map((r: any) => [r.kind, r.protocol, r.attributes.quic.stream_id, r.attributes.dns.question?.name, r.attributes.dns.answers?.map((a: any) => a.data), r.flags ?? [], r.attributes.tls.decrypted]);

test('streams interleaved, each side in STREAM frames out of order, overlapping and split inside the length: one event per stream, as it completes', () => {
  const { ctx, doq } = setup();
  const [q0, r0] = exchange('a.example.test', 1);
  const [q4, r4] = exchange('b.example.test', 2);
  // stream 4's query in three pieces, the last first; stream 0's in one with FIN
  doq.stream(Dir.ToServer, 4, 10, q4.subarray(10), true, 1n);
  doq.stream(Dir.ToServer, 0, 0, q0, true, 2n);
  doq.stream(Dir.ToServer, 4, 0, q4.subarray(0, 1), false, 3n);
  doq.stream(Dir.ToServer, 4, 0, q4.subarray(0, 12), false, 4n); // a retransmission overlapping the first piece
  // stream 4 answered first, its answer cut inside its length prefix
  doq.stream(Dir.ToClient, 4, 0, r4.subarray(0, 1), false, 5n);
  assert.equal(ctx.records.length, 0);
  doq.stream(Dir.ToClient, 4, 1, r4.subarray(1), true, 6n);
  doq.stream(Dir.ToClient, 0, 0, r0, true, 7n);
  assert.deepEqual(summary(ctx), [
    ['exchange', 'dns', 4, 'b.example.test', ['192.0.2.2'], [], true],
    ['exchange', 'dns', 0, 'a.example.test', ['192.0.2.1'], [], true],
  ]);
  const r = ctx.records[0]!;
  // the query starts when its first byte came (at 3, the piece at 1 was its end), the exchange ends with the answer's last
  assert.deepEqual([r.startNs, r.endNs, r.requestBytes, r.responseBytes], [3n, 6n, q4.length, r4.length]);
  // a late copy of an answered stream's frames is no new query
  doq.stream(Dir.ToServer, 4, 0, q4, true, 8n);
  doq.stream(Dir.ToClient, 4, 0, r4, true, 9n);
  assert.equal(ctx.records.length, 2);
  assert.equal(ctx.counts.get('dns.queries'), 2);
});

test('a reset stream, a server that ends its side with no answer, and the connection\'s end: each query unanswered, flagged why', () => {
  const { ctx, doq } = setup();
  const [q0] = exchange('reset.example.test', 1);
  const [q4, r4] = exchange('short.example.test', 2);
  const [q8] = exchange('open.example.test', 3);
  doq.stream(Dir.ToServer, 0, 0, q0, true, 1n);
  doq.reset(Dir.ToServer, 0, 0x5, 2n);
  doq.stream(Dir.ToServer, 4, 0, q4, true, 3n);
  doq.stream(Dir.ToClient, 4, 0, r4.subarray(0, 10), true, 4n);
  doq.stream(Dir.ToServer, 8, 0, q8, true, 5n);
  doq.close('end', 6n);
  assert.deepEqual(summary(ctx), [
    ['unanswered', 'dns', 0, 'reset.example.test', undefined, ['reset'], true],
    ['unanswered', 'dns', 4, 'short.example.test', undefined, ['response_incomplete'], true],
    ['unanswered', 'dns', 8, 'open.example.test', undefined, ['eof'], true],
  ]);
});

test('queries past the response timeout are unanswered when later frames come; past 256 streams the oldest is ended (evicted)', () => {
  const { ctx, doq } = setup({ responseTimeoutNs: 1_000n });
  const [q0] = exchange('slow.example.test', 1);
  const [q4, r4] = exchange('fast.example.test', 2);
  doq.stream(Dir.ToServer, 0, 0, q0, true, 0n);
  doq.stream(Dir.ToServer, 4, 0, q4, true, 2_000n);
  doq.stream(Dir.ToClient, 4, 0, r4, true, 2_500n);
  assert.deepEqual(summary(ctx).map((s) => [s[0], s[2], s[5]]), [['unanswered', 0, ['timeout']], ['exchange', 4, []]]);

  const many = setup();
  for (let i = 0; i <= 256; i++) many.doq.stream(Dir.ToServer, 4 * i, 0, exchange(`q${i}.example.test`, 1)[0], true, BigInt(i));
  assert.deepEqual(summary(many.ctx).map((s) => [s[0], s[2], s[3], s[5]]), [['unanswered', 0, 'q0.example.test', ['evicted']]]);
});

test('streams DoQ does not carry DNS on (server-initiated, unidirectional) are counted, not read; a malformed query is counted', () => {
  const { ctx, doq } = setup();
  const [q] = exchange('x.example.test', 1);
  for (const id of [1, 2, 3]) doq.stream(Dir.ToServer, id, 0, q, true, 1n);
  assert.equal(ctx.counts.get('dns.doq_unexpected_streams'), 3);
  doq.stream(Dir.ToServer, 0, 0, Buffer.from([0, 3, 1, 2, 3]), true, 2n);
  assert.equal(ctx.counts.get('dns.malformed'), 1);
  assert.equal(ctx.records.length, 0);
});

test('fuzz: 600 exchanges on their own streams, each side split into pieces delivered out of order and mixed with the other streams\', some pieces mutated (bytes flipped, offsets moved, FIN anywhere, resets, stray stream ids): nothing throws, the untouched exchanges are read whole, every record is one of a client bidirectional stream', () => {
  let seed = 20261129;
  const rand = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  const { ctx, doq } = setup({ responseTimeoutNs: 1_000_000n });
  const frames: Array<{ key: number; dir: Dir; id: number; offset: number; data: Buffer; fin: boolean; reset?: boolean }> = [];
  const clean = new Set<number>();
  for (let i = 0; i < 600; i++) {
    const id = 4 * i;
    const [q, r] = exchange(`f${i}.example.test`, i & 0xff);
    const mutate = rand(3) === 0;
    if (!mutate) clean.add(id);
    for (const [dir, whole] of [[Dir.ToServer, q], [Dir.ToClient, r]] as Array<[Dir, Buffer]>) {
      const cuts = [0, ...Array.from({ length: rand(4) }, () => rand(whole.length)), whole.length].sort((a, b) => a - b);
      for (let k = 0; k + 1 < cuts.length; k++) {
        const data = Buffer.from(whole.subarray(cuts[k], cuts[k + 1]));
        let offset = cuts[k]!;
        let fin = k + 2 === cuts.length;
        if (mutate && rand(2) === 0) {
          if (data.length) data[rand(data.length)] ^= 1 << rand(8);
          if (rand(4) === 0) offset = rand(whole.length + 40);
          if (rand(4) === 0) fin = !fin;
        }
        // a query's pieces pass the capture before its answer's (the server answers what it got); streams overlap
        const key = i * 10 + (dir === Dir.ToServer ? 0 : 30) + rand(30);
        frames.push({ key, dir, id: mutate && rand(20) === 0 ? 4 * 600 + rand(1000) : id, offset, data, fin, reset: mutate && rand(30) === 0 });
      }
    }
  }
  frames.sort((a, b) => a.key - b.key);
  frames.forEach((f, t) => {
    if (f.reset) doq.reset(f.dir, f.id, 0, BigInt(t));
    else doq.stream(f.dir, f.id, f.offset, f.data, f.fin, BigInt(t));
  });
  doq.close('end', BigInt(frames.length));
  const records = ctx.records as any[];
  for (const rec of records) {
    assert.ok(['exchange', 'unanswered', 'orphan_response'].includes(rec.kind), rec.kind);
    assert.equal(rec.protocol, 'dns');
    assert.equal(rec.attributes.quic.stream_id % 4, 0);
  }
  const read = new Set(records.filter((r) => r.kind === 'exchange' && !r.flags).map((r) => r.attributes.quic.stream_id));
  for (const id of clean) assert.ok(read.has(id), `stream ${id}, not mutated, read whole: ${JSON.stringify(records.filter((r) => r.attributes.quic.stream_id === id).map((r) => [r.kind, r.flags]))} ${JSON.stringify(frames.filter((f) => f.id === id).map((f) => [f.key, f.dir, f.offset, f.data.length, f.fin]))}`);
});
