// Real memcached traffic over UDP: memcached 1.6 (Debian) started for this
// file with -U on a loopback port, driven by a client written here on node's
// dgram (no installed client speaks memcached's UDP frames): text commands
// in single datagrams, each matched by request id to the datagrams that
// answer it; a value larger than a datagram (its answer several datagrams,
// then END as a message of its own, as memcached sends it), stats over two
// datagrams, a miss, a noreply set, incr, delete, and the binary protocol.
// Captured with tcpdump, parsed, and checked against what the client sent and
// got back. (tshark 4.0's memcache dissector shows these datagrams as an empty
// tree, with no field to compare: there is no oracle test.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { join } from 'node:path';
import { captureDuring, freePort } from '../helpers/loopback-capture.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';
import { MemcachedServer, memcachedMissing } from '../helpers/memcached-server.js';
import type { PanoEvent } from '@panopticon/events';

const missing = memcachedMissing();
const skip = missing.length ? `missing ${missing.join(', ')}` : false;
let server: MemcachedServer | undefined;
let udpPort = 0;

before(async () => {
  if (missing.length) return;
  udpPort = await freePort();
  // -U after the helper's own -U 0: memcached reads its options in order
  server = await MemcachedServer.start(['-U', String(udpPort)]);
});

after(async () => {
  await server?.stop();
});

/** A memcached UDP client: each request one datagram with a fresh request id; its answer read by id up to where it ends. */
class UdpClient {
  private nextId = 1;
  private readonly answers = new Map<number, Buffer[]>();
  private wake: (() => void) | undefined;

  private constructor(private readonly sock: Socket) {
    sock.on('message', (d: Buffer) => {
      const id = d.readUInt16BE(0);
      const list = this.answers.get(id) ?? [];
      // datagrams of one message by sequence number; messages in arrival order
      list.push(d);
      this.answers.set(id, list);
      this.wake?.();
    });
  }

  static async open(): Promise<UdpClient> {
    const s = createSocket('udp4');
    await new Promise<void>((res) => s.bind(0, '127.0.0.1', () => res()));
    return new UdpClient(s);
  }

  get port(): number {
    return this.sock.address().port;
  }

  /** Sends `body` framed; resolves with the answer's bytes once `done` says they are whole (or with '' when none is awaited). */
  async request(body: Buffer | string, done: ((text: Buffer) => boolean) | undefined): Promise<{ id: number; answer: Buffer }> {
    const id = this.nextId++;
    const frame = Buffer.alloc(8);
    frame.writeUInt16BE(id, 0);
    frame.writeUInt16BE(0, 2);
    frame.writeUInt16BE(1, 4);
    this.sock.send(Buffer.concat([frame, Buffer.from(body)]), udpPort, '127.0.0.1');
    if (!done) return { id, answer: Buffer.alloc(0) };
    const deadline = Date.now() + 5000;
    for (;;) {
      const answer = assemble(this.answers.get(id) ?? []);
      if (answer && done(answer)) return { id, answer };
      if (Date.now() > deadline) throw new Error(`no whole answer to request ${id}: ${answer?.toString('latin1').slice(0, 200)}`);
      await new Promise<void>((res) => {
        this.wake = res;
        setTimeout(res, 50);
      });
    }
  }

  close(): void {
    this.sock.close();
  }
}

/** The datagrams of an answer put back in order: message by message, each by sequence number; undefined while one is incomplete. */
function assemble(datagrams: Buffer[]): Buffer | undefined {
  const out: Buffer[] = [];
  let message: Buffer[] = [];
  let total = 0;
  for (const d of datagrams) {
    if (message.length === 0) total = d.readUInt16BE(4);
    message[d.readUInt16BE(2)] = d.subarray(8);
    if (message.filter(Boolean).length === total) {
      out.push(...message);
      message = [];
    }
  }
  return message.length ? undefined : Buffer.concat(out);
}

const line = (t: Buffer) => t.toString('latin1').endsWith('\r\n');
const upToEnd = (t: Buffer) => t.toString('latin1').endsWith('END\r\n');

interface Done {
  id: number;
  request: string;
  answer: Buffer;
}

test('memcached over UDP: each request with its answer, matched by request id, as the client saw them', { skip }, async () => {
  const s = server!;
  const file = join(s.dir, 'memcached-udp.pcap');
  const big = JSON.stringify({ email: 'ann@example.org', pad: 'x'.repeat(3000) });
  const done: Done[] = [];
  let clientPort = 0;
  await captureDuring(file, `udp port ${udpPort}`, async () => {
    const c = await UdpClient.open();
    clientPort = c.port;
    const ask = async (request: string, until: ((t: Buffer) => boolean) | undefined) => {
      const r = await c.request(request, until);
      done.push({ id: r.id, request, answer: r.answer });
    };
    await ask('set user:1:email 0 0 15\r\nann@example.org\r\n', line);
    await ask(`set big 5 0 ${big.length}\r\n${big}\r\n`, line);
    await ask('get user:1:email\r\n', upToEnd);
    await ask('get big missing\r\n', upToEnd);
    await ask('set quiet 0 0 1 noreply\r\nq\r\n', undefined);
    await ask('set n 0 0 2\r\n41\r\n', line);
    await ask('incr n 1\r\n', line);
    await ask('stats\r\n', upToEnd);
    await ask('delete user:1:email\r\n', line);
    await ask('get user:1:email\r\n', upToEnd);
    c.close();
  });
  const answers = new Map(done.map((d) => [d.id, d]));
  assert.ok(done[3]!.answer.length > 2 * 1400, `the big value's answer spans datagrams (${done[3]!.answer.length} bytes)`);
  assert.match(done[7]!.answer.toString('latin1'), /^STAT pid \d+/);

  const { events } = parseCaptureSync(file);
  assertValidEvents(events);
  const mc = events.filter((e) => e.pano.protocol === 'memcached') as Array<PanoEvent & Record<string, any>>;
  assert.equal(mc.length, done.length, mc.map((e) => e.db?.query?.text).join(' | '));
  for (const e of mc) {
    assert.equal(e.network!.transport, 'udp');
    assert.equal(e.client!.port, clientPort);
    assert.equal(e.server!.port, udpPort);
  }
  // each event is one request as sent (query text: its line without the data block), answered as the client was
  const byText = (text: string) => mc.filter((e) => e.db.query.text === text);
  for (const d of done) {
    const text = d.request.slice(0, d.request.indexOf('\r\n'));
    const e = byText(text).shift();
    assert.ok(e, `no event for ${text}`);
    mc.splice(mc.indexOf(e!), 1);
    if (d.answer.length === 0) {
      assert.equal(e!.pano.kind, 'message', `${text}: noreply`);
      continue;
    }
    assert.equal(e!.pano.kind, 'exchange', text);
    assert.equal(e!.pano.response_bytes, d.answer.length, `${text}: the answer's bytes without frame headers`);
    const first = d.answer.toString('latin1').split('\r\n')[0]!;
    const status = e!.memcached.response.status;
    if (/^(?:STORED|DELETED|NOT_FOUND|END)$/.test(first)) assert.equal(status, first, text);
    if (first.startsWith('VALUE ')) {
      // the values returned: each key with its size, as the answer's VALUE lines say
      const values = [...d.answer.toString('latin1').matchAll(/VALUE (\S+) (\d+) (\d+)\r\n/g)].map((m) => ({ key: m[1], flags: Number(m[2]), size: Number(m[3]) }));
      assert.deepEqual(e!.memcached.response.values.map((v: any) => ({ key: v.key, flags: v.flags, size: v.value.size })), values, text);
      assert.equal(status, 'END', text);
    }
    if (text === 'incr n 1') assert.equal(String(e!.memcached.response.number), first);
    if (text === 'stats') assert.equal(e!.memcached.response.stats.pid, /^STAT pid (\d+)/.exec(first)![1]);
  }
  assert.deepEqual(answers.size, done.length);
});
