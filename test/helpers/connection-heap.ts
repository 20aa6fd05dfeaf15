/**
 * Prints the heap a tracked connection costs, as JSON: N HTTP/1.1 connections
 * (handshake, one whole exchange, then a partial request), pushed through a
 * ParsePipeline and kept open; heap used after a collection, before and
 * after. Run with --expose-gc (test/parse/connection-memory.test.ts).
 *
 *   node --expose-gc --import tsx --conditions=source test/helpers/connection-heap.ts [N]
 */
import { ParsePipeline } from '@panopticon/parse';
import { Conversation, pcapng, type Frame } from './synth.js';

const N = Number(process.argv[2] ?? 20000);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');
const frames: Frame[] = [];
for (let c = 0; c < N; c++) {
  const conv = new Conversation({ addr: `10.1.${(c >> 8) & 0xff}.${c & 0xff}`, port: 30000 + (c % 30000) }, { addr: '10.2.0.1', port: 80 }, { startNs: 1_700_000_000_000_000_000n + BigInt(c) * 1000n });
  conv.handshake().send(0, 'GET /a HTTP/1.1\r\nHost: x\r\n\r\n').send(1, 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok').send(0, 'GET /b HTTP/1.1\r\nHo');
  frames.push(...conv.frames);
}
frames.sort((a, b) => (a.tsNs < b.tsNs ? -1 : a.tsNs > b.tsNs ? 1 : 0));
const bytes = pcapng(frames);
frames.length = 0;
let events = 0;
const p = new ParsePipeline({ source: { type: 'pcap', name: 'connection-heap' }, onEvent: () => events++ });
gc();
const before = process.memoryUsage().heapUsed;
p.push(bytes);
gc();
const after = process.memoryUsage().heapUsed;
// every connection was tracked, and is still open (no FIN, no end of input) when the heap is read
console.log(JSON.stringify({ connections: Number(p.stats().flows.connections), events, bytesPerConnection: Math.round((after - before) / N) }));
