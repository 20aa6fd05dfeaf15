/**
 * A Kafka broker double: just enough of the wire protocol for a real client
 * library (kafkajs) to produce — ApiVersions v0-v2, Metadata v0, Produce v3 —
 * written from the protocol guide. Debian has no Kafka broker; the corpus has
 * no compressed batches, so this is how a real client's compressed record
 * batches reach the parser. It records what it was sent, decoded by nobody
 * but itself: the test compares the parser's events with the client's input.
 */
import { createServer, type Server, type Socket } from 'node:net';

const API_VERSIONS = 18;
const METADATA = 3;
const PRODUCE = 0;

class Writer {
  private parts: Buffer[] = [];
  int16(v: number): this {
    const b = Buffer.alloc(2);
    b.writeInt16BE(v);
    this.parts.push(b);
    return this;
  }
  int32(v: number): this {
    const b = Buffer.alloc(4);
    b.writeInt32BE(v);
    this.parts.push(b);
    return this;
  }
  int64(v: bigint): this {
    const b = Buffer.alloc(8);
    b.writeBigInt64BE(v);
    this.parts.push(b);
    return this;
  }
  string(s: string): this {
    const b = Buffer.from(s, 'utf8');
    this.int16(b.length);
    this.parts.push(b);
    return this;
  }
  build(): Buffer {
    return Buffer.concat(this.parts);
  }
}

export interface ProduceSeen {
  correlationId: number;
  topic: string;
  partition: number;
  baseOffset: number;
}

export class BrokerDouble {
  private server: Server | undefined;
  private readonly offsets = new Map<string, number>();
  readonly produced: ProduceSeen[] = [];
  port = 0;

  constructor(private readonly topics: string[]) {}

  async start(port: number): Promise<void> {
    this.port = port;
    this.server = createServer((s) => this.serve(s));
    await new Promise<void>((res) => this.server!.listen(port, '127.0.0.1', res));
  }

  async stop(): Promise<void> {
    await new Promise((res) => this.server?.close(res));
  }

  private serve(sock: Socket): void {
    let buf = Buffer.alloc(0);
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 4 && buf.length >= 4 + buf.readInt32BE(0)) {
        const size = buf.readInt32BE(0);
        const msg = buf.subarray(4, 4 + size);
        buf = buf.subarray(4 + size);
        const reply = this.handle(msg);
        if (reply) {
          const head = Buffer.alloc(4);
          head.writeInt32BE(reply.length);
          sock.write(Buffer.concat([head, reply]));
        }
      }
    });
    sock.on('error', () => {});
  }

  private handle(msg: Buffer): Buffer | undefined {
    const apiKey = msg.readInt16BE(0);
    const version = msg.readInt16BE(2);
    const correlationId = msg.readInt32BE(4);
    const clientIdLen = msg.readInt16BE(8);
    let off = 10 + Math.max(0, clientIdLen);
    const w = new Writer().int32(correlationId);
    if (apiKey === API_VERSIONS) {
      const apis: Array<[number, number, number]> = [[PRODUCE, 3, 3], [METADATA, 0, 0], [API_VERSIONS, 0, 2]];
      w.int16(0).int32(apis.length);
      for (const [k, lo, hi] of apis) w.int16(k).int16(lo).int16(hi);
      if (version >= 1) w.int32(0);
      return w.build();
    }
    if (apiKey === METADATA) {
      w.int32(1).int32(0).string('127.0.0.1').int32(this.port);
      w.int32(this.topics.length);
      for (const t of this.topics) w.int16(0).string(t).int32(1).int16(0).int32(0).int32(0).int32(1).int32(0).int32(1).int32(0);
      return w.build();
    }
    if (apiKey === PRODUCE) {
      // v3: transactional_id, acks, timeout, [topic [partition records]]
      const tidLen = msg.readInt16BE(off);
      off += 2 + Math.max(0, tidLen);
      const acks = msg.readInt16BE(off);
      off += 2 + 4;
      const topics: Array<[string, Array<[number, number]>]> = [];
      const nTopics = msg.readInt32BE(off);
      off += 4;
      for (let t = 0; t < nTopics; t++) {
        const nameLen = msg.readInt16BE(off);
        const name = msg.toString('utf8', off + 2, off + 2 + nameLen);
        off += 2 + nameLen;
        const parts: Array<[number, number]> = [];
        const nParts = msg.readInt32BE(off);
        off += 4;
        for (let p = 0; p < nParts; p++) {
          const index = msg.readInt32BE(off);
          const recLen = msg.readInt32BE(off + 4);
          off += 8 + Math.max(0, recLen);
          // record count of the (single) batch: offset 57 of a v2 batch
          const count = recLen >= 61 ? msg.readInt32BE(off - recLen + 57) : 0;
          const key = `${name}/${index}`;
          const base = this.offsets.get(key) ?? 0;
          this.offsets.set(key, base + count);
          this.produced.push({ correlationId, topic: name, partition: index, baseOffset: base });
          parts.push([index, base]);
        }
        topics.push([name, parts]);
      }
      if (acks === 0) return undefined;
      w.int32(topics.length);
      for (const [name, parts] of topics) {
        w.string(name).int32(parts.length);
        for (const [index, base] of parts) w.int32(index).int16(0).int64(BigInt(base)).int64(-1n);
      }
      w.int32(0);
      return w.build();
    }
    return undefined;
  }
}
