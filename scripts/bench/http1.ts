/**
 * HTTP/1.1 replay throughput: pano-parse beside tshark on the same capture,
 * in the same run.
 *
 * The capture: 50,000 keep-alive request/response pairs over 400 concurrent
 * connections (125 exchanges each, interleaved the way a busy host's packets
 * are), realistic heads (browser-like request headers, server response
 * headers), JSON request bodies on a third of the requests, JSON responses
 * of 200 B to 12 KB, segmented at MSS 1448 with ACKs. Written as pcapng.
 *
 * Peers: `pano-parse FILE > /dev/null` and `tshark -r FILE -Y http -T fields`
 * with the fields pano-parse puts in every event (11 fields). Each is run
 * ROUNDS times; the best wall time counts. Prints MB/s, packets/s, peak RSS
 * and the ratio.
 *
 *   npm run bench -- http1          (or: node --import tsx --conditions=source scripts/bench/http1.ts [pairs])
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, openSync, writeSync, closeSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PcapngWriter, LinkType } from '@panopticon/pcap';
import { tcpFrame, F } from '../../test/helpers/synth.js';

const PAIRS = Number(process.argv[2] ?? 50_000);
const GENERATE_ONLY = process.argv.includes("--generate-only");
const CONNS = 400;
const ROUNDS = 3;
const root = resolve(import.meta.dirname, '../..');
const outDir = join(root, 'bench-out');
mkdirSync(outDir, { recursive: true });
const file = join(outDir, `http1-${PAIRS}.pcapng`);

let seed = 7;
function rand(n: number): number {
  seed = (seed * 1103515245 + 12345) >>> 0;
  return (seed >>> 8) % n;
}

const paths = ['/api/v1/users', '/api/v1/orders', '/api/v1/products/search', '/static/app.js', '/api/v1/cart/items', '/health'];
function requestFor(i: number): Buffer {
  const p = paths[i % paths.length];
  const withBody = i % 3 === 0;
  const body = withBody ? JSON.stringify({ id: i, customer: { name: `User ${i}`, email: `user${i}@example.com` }, items: Array.from({ length: 1 + (i % 5) }, (_, k) => ({ sku: `SKU-${k}-${i}`, qty: k + 1 })) }) : '';
  const head =
    `${withBody ? 'POST' : 'GET'} ${p}?page=${i % 17}&sort=desc HTTP/1.1\r\n` +
    `Host: shop.example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36\r\n` +
    `Accept: application/json, text/plain, */*\r\nAccept-Language: en-US,en;q=0.9\r\nAccept-Encoding: identity\r\n` +
    `Cookie: session=${(i * 2654435761) >>> 0}; theme=dark\r\nConnection: keep-alive\r\n` +
    (withBody ? `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` : '') +
    '\r\n';
  return Buffer.from(head + body);
}
function responseFor(i: number): Buffer {
  const n = 2 + rand(60);
  const body = JSON.stringify({ page: i % 17, items: Array.from({ length: n }, (_, k) => ({ id: k, name: `Item ${k}`, price: (k * 3.7).toFixed(2), tags: ['a', 'b'] })) });
  const head =
    `HTTP/1.1 200 OK\r\nDate: Tue, 15 Nov 2026 08:12:31 GMT\r\nServer: nginx/1.22.1\r\nContent-Type: application/json; charset=utf-8\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: keep-alive\r\nCache-Control: no-store\r\nX-Request-Id: ${i}\r\n\r\n`;
  return Buffer.from(head + body);
}

function generate(): { packets: number; bytes: number } {
  const w = new PcapngWriter();
  const fd = openSync(file, 'w');
  writeSync(fd, w.sectionHeader({ application: 'panopticon bench' }));
  writeSync(fd, w.interfaceDescription({ linkType: LinkType.ETHERNET, snapLen: 262144, name: 'bench0' }).block);
  let t = 1_763_000_000_000_000_000n;
  let packets = 0;
  const pending: Buffer[] = [];
  const emit = (data: Buffer) => {
    t += 5_000n + BigInt(rand(20_000));
    pending.push(w.enhancedPacket({ interfaceId: 0, tsNs: t, data }));
    packets++;
    if (pending.length >= 4096) writeSync(fd, Buffer.concat(pending.splice(0)));
  };
  const conns = Array.from({ length: CONNS }, (_, k) => ({
    c: { addr: `10.0.${(k >> 8) & 255}.${(k & 255) + 1}`, port: 30000 + k },
    s: { addr: '10.9.0.1', port: 80 },
    seq: [1000 + k * 7919, 50000 + k * 104729] as [number, number],
    done: 0,
  }));
  for (const k of conns) {
    emit(tcpFrame({ src: k.c, dst: k.s, seq: k.seq[0], flags: F.SYN }));
    emit(tcpFrame({ src: k.s, dst: k.c, seq: k.seq[1], ack: k.seq[0] + 1, flags: F.SYN | F.ACK }));
    k.seq = [k.seq[0] + 1, k.seq[1] + 1];
  }
  const send = (k: (typeof conns)[0], side: 0 | 1, data: Buffer) => {
    const [src, dst] = side === 0 ? [k.c, k.s] : [k.s, k.c];
    for (let off = 0; off < data.length; off += 1448) {
      const payload = data.subarray(off, Math.min(data.length, off + 1448));
      emit(tcpFrame({ src, dst, seq: k.seq[side], ack: k.seq[1 - side], flags: F.ACK | F.PSH, payload }));
      k.seq[side] = (k.seq[side] + payload.length) >>> 0;
    }
    emit(tcpFrame({ src: dst, dst: src, seq: k.seq[1 - side], ack: k.seq[side], flags: F.ACK }));
  };
  let made = 0;
  while (made < PAIRS) {
    const k = conns[rand(CONNS)];
    send(k, 0, requestFor(made));
    send(k, 1, responseFor(made));
    made++;
  }
  for (const k of conns) {
    emit(tcpFrame({ src: k.c, dst: k.s, seq: k.seq[0], ack: k.seq[1], flags: F.FIN | F.ACK }));
    emit(tcpFrame({ src: k.s, dst: k.c, seq: k.seq[1], ack: k.seq[0] + 1, flags: F.FIN | F.ACK }));
  }
  writeSync(fd, Buffer.concat(pending));
  closeSync(fd);
  return { packets, bytes: statSync(file).size };
}

interface Run {
  seconds: number;
  rssKiB: number;
  lines: number;
}

function timed(cmd: string, args: string[]): Run {
  let best: Run | null = null;
  for (let r = 0; r < ROUNDS; r++) {
    const start = process.hrtime.bigint();
    const res = spawnSync('/usr/bin/time', ['-f', '%M', cmd, ...args], { encoding: 'utf8', maxBuffer: 1 << 30 });
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    if (res.status !== 0) throw new Error(`${cmd} failed: ${res.stderr.slice(-500)}`);
    const rssKiB = Number(res.stderr.trim().split('\n').pop());
    const lines = res.stdout.length ? res.stdout.split('\n').length - 1 : 0;
    if (!best || seconds < best.seconds) best = { seconds, rssKiB, lines };
  }
  return best!;
}

const gen = generate();
const mb = gen.bytes / 1e6;
console.log(`capture: ${file}: ${PAIRS} exchanges, ${CONNS} connections, ${gen.packets} packets, ${mb.toFixed(1)} MB`);
if (GENERATE_ONLY) process.exit(0);

const pano = timed(process.execPath, [join(root, 'bin/pano-parse'), file]);
if (pano.lines !== PAIRS) throw new Error(`pano-parse emitted ${pano.lines} events, expected ${PAIRS}`);
const fields = ['frame.time_epoch', 'ip.src', 'tcp.srcport', 'ip.dst', 'tcp.dstport', 'http.request.method', 'http.request.uri', 'http.request.version', 'http.user_agent', 'http.response.code', 'http.content_type'];
const tshark = timed('tshark', ['-r', file, '-Y', 'http', '-T', 'fields', ...fields.flatMap((f) => ['-e', f])]);

const row = (name: string, r: Run) =>
  `${name.padEnd(12)} ${r.seconds.toFixed(2).padStart(7)} s  ${(mb / r.seconds).toFixed(1).padStart(7)} MB/s  ${Math.round(gen.packets / r.seconds).toString().padStart(9)} pkt/s  ${(r.rssKiB / 1024).toFixed(0).padStart(5)} MiB RSS`;
console.log(row('pano-parse', pano));
console.log(row('tshark', tshark));
console.log(`ratio: pano-parse is ${(tshark.seconds / pano.seconds).toFixed(1)}x tshark (best of ${ROUNDS}, same file, same run)`);
