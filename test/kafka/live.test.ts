// A real Kafka client (kafkajs) producing to a broker double on loopback, with
// every compression codec: uncompressed, gzip (kafkajs's own), snappy, lz4 and
// zstd (codecs registered here with snappyjs, lz4js and the zstd command, the
// way kafkajs users plug codecs in). Captured with tcpdump and parsed; each
// record's key, value and headers (a key repeated) must come back as the
// client sent them, at the offsets the broker assigned, and the headers as
// tshark reads them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import kafkajs from 'kafkajs';
import { LoopbackCapture, freePort } from '../helpers/loopback-capture.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';
import { tsharkAvailable, tsharkFields } from '../helpers/tshark.js';
import { BrokerDouble } from './broker-double.js';

const { Kafka, CompressionTypes, CompressionCodecs, logLevel } = kafkajs;
type CompressionTypes = kafkajs.CompressionTypes;
const require = createRequire(import.meta.url);
const snappy = require('snappyjs') as { compress(b: Buffer): Buffer };
const lz4 = require('lz4js') as { compress(b: Buffer): Uint8Array };

const missing = ['/usr/bin/tcpdump', '/usr/bin/zstd'].filter((p) => !existsSync(p));
const dir = mkdtempSync(join(tmpdir(), 'pano-kafka-'));
const broker = new BrokerDouble(['orders', 'audit']);

type Encoder = { buffer: Buffer };
const codec = (compress: (b: Buffer) => Buffer) => () => ({
  compress: async (encoder: Encoder) => compress(encoder.buffer),
  decompress: async () => {
    throw new Error('not used: the test only produces');
  },
});
CompressionCodecs[CompressionTypes.Snappy] = codec((b) => Buffer.from(snappy.compress(b)));
CompressionCodecs[CompressionTypes.LZ4] = codec((b) => Buffer.from(lz4.compress(b)));
CompressionCodecs[CompressionTypes.ZSTD] = codec((b) => execFileSync('zstd', ['-q', '-c'], { input: b }));

before(async () => {
  if (missing.length) return;
  await broker.start(await freePort());
});

after(async () => {
  await broker.stop();
  if (!process.env.PANO_KEEP) rmSync(dir, { recursive: true, force: true });
});

interface KafkaEvent {
  pano: { kind: string; flags?: string[] };
  messaging: { client?: { id: string }; destination?: { name: string; partition?: { id: string } }; operation: { name: string; type?: string }; batch?: { message_count: number } };
  kafka: {
    api_name: string;
    correlation_id: number;
    request?: { topics: Array<{ partitions: Array<{ records: { compression?: string; count: number; undecoded?: string } }> }> };
    records?: Array<{ topic: string; partition: number; offset: number; key: { content?: string } | null; value: { content?: string; size: number }; headers?: Record<string, string[]> }>;
  };
}

const codecs: Array<[string, CompressionTypes]> = [
  ['none', CompressionTypes.None],
  ['gzip', CompressionTypes.GZIP],
  ['snappy', CompressionTypes.Snappy],
  ['lz4', CompressionTypes.LZ4],
  ['zstd', CompressionTypes.ZSTD],
];

test('kafkajs produce with every codec parses back to the records sent', { skip: missing.length ? `missing ${missing.join(', ')}` : false }, async () => {
  const file = join(dir, 'kafka.pcap');
  const cap = new LoopbackCapture(file, `tcp port ${broker.port}`);
  await cap.start();
  const sent: Array<{ codec: string; topic: string; messages: Array<{ key: string; value: string; headers: Record<string, string | string[]> }> }> = [];
  try {
    const kafka = new Kafka({ clientId: 'pano-test-producer', brokers: [`127.0.0.1:${broker.port}`], logLevel: logLevel.NOTHING, retry: { retries: 0 } });
    const producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    for (const [name, type] of codecs) {
      const messages = [0, 1, 2].map((i) => ({
        key: `user-${i}`,
        value: JSON.stringify({ codec: name, i, email: `user${i}@example.com`, pad: 'x'.repeat(200) }),
        // a key given a list is sent once per value (duplicate keys are legal in Kafka)
        headers: { 'trace-id': [`t-${name}-${i}`, `u-${name}-${i}`], source: 'pano' },
      }));
      await producer.send({ topic: 'orders', compression: type, acks: 1, messages });
      sent.push({ codec: name, topic: 'orders', messages });
    }
    await producer.disconnect();
  } finally {
    await cap.stop();
  }

  const { events } = parseCaptureSync(file);
  assertValidEvents(events);
  const kafka = events.filter((e) => e.pano.protocol === 'kafka') as unknown as KafkaEvent[];
  const produces = kafka.filter((e) => e.kafka.api_name === 'Produce');
  assert.equal(produces.length, codecs.length);
  assert.ok(kafka.some((e) => e.kafka.api_name === 'ApiVersions'));
  assert.ok(kafka.some((e) => e.kafka.api_name === 'Metadata'));

  produces.forEach((e, i) => {
    const want = sent[i]!;
    const seen = broker.produced.find((p) => p.correlationId === e.kafka.correlation_id)!;
    assert.ok(seen, 'the broker saw this request');
    assert.equal(e.pano.kind, 'exchange');
    assert.deepEqual(e.pano.flags, undefined, `${want.codec}: no flags`);
    assert.equal(e.messaging.client!.id, 'pano-test-producer');
    assert.deepEqual(e.messaging.destination, { name: 'orders', partition: { id: '0' } });
    assert.equal(e.messaging.operation.type, 'send');
    assert.equal(e.messaging.batch!.message_count, 3);
    const records = e.kafka.request!.topics[0]!.partitions[0]!.records;
    assert.equal(records.compression, want.codec === 'none' ? undefined : want.codec, `${want.codec}: compression named`);
    assert.equal(records.undecoded, undefined);
    assert.deepEqual(
      e.kafka.records!.map((r) => ({ topic: r.topic, partition: r.partition, offset: r.offset, key: r.key?.content, value: r.value.content, headers: r.headers })),
      want.messages.map((m, j) => ({ topic: 'orders', partition: 0, offset: seen.baseOffset + j, key: m.key, value: m.value, headers: { 'trace-id': m.headers['trace-id'], source: [m.headers.source] } })),
      `${want.codec}: records`,
    );
  });

  // tshark lists each header of each Produce request, repeats included, in wire order
  if (tsharkAvailable()) {
    const theirs = tsharkFields(file, ['kafka.correlation_id', 'kafka.header_key', 'kafka.header_value'], 'kafka.header_key', ['-d', `tcp.port==${broker.port},kafka`]).map(
      ([corr, keys, values]) => {
        const vs = values!.split(',').map((h) => Buffer.from(h.replace(/:/g, ''), 'hex').toString());
        return [Number(corr), keys!.split(',').map((k, j) => `${k}=${vs[j]}`)];
      },
    );
    const ours = produces.map((e) => [e.kafka.correlation_id, e.kafka.records!.flatMap((r) => ['trace-id', 'source'].flatMap((k) => r.headers![k]!.map((v) => `${k}=${v}`)))]);
    // per record, tshark's order is the wire's (trace-id, source, trace-id); ours groups a key's values
    const grouped = theirs.map(([corr, kv]) => {
      const out: string[] = [];
      for (let i = 0; i < (kv as string[]).length; i += 3) {
        const rec = (kv as string[]).slice(i, i + 3);
        out.push(...rec.filter((x) => x.startsWith('trace-id=')), ...rec.filter((x) => x.startsWith('source=')));
      }
      return [corr, out];
    });
    assert.deepEqual(ours, grouped, 'headers as tshark reads them');
  }
});
