/**
 * NDJSON input: the `ndjson` package's parse stream beside the project's own
 * line reader (`readNdjson` in @panopticon/cli), on the same file of events,
 * same run. Decides which one the stages after pano-parse use (ADR 0003).
 *
 *   npm run bench -- ndjson
 */
import { createReadStream, mkdirSync, writeFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import ndjson from 'ndjson';
import { readNdjson } from '@panopticon/cli';

const root = resolve(import.meta.dirname, '../..');
const dir = join(root, 'bench-out');
mkdirSync(dir, { recursive: true });
const file = join(dir, 'events.ndjson');
const N = Number(process.argv[2] ?? 200_000);
const lines: string[] = [];
for (let i = 0; i < N; i++) {
  lines.push(
    JSON.stringify({
      pano: { v: 1, id: `${i}-1`, kind: 'exchange', protocol: 'http', start_ns: '1763000000000000000', end_ns: '1763000000001000000', duration_ns: 1000000 },
      client: { address: '10.0.0.1', port: 40000 + (i % 1000) },
      server: { address: '10.9.0.1', port: 80 },
      http: { request: { method: 'GET', header: { host: ['shop.example.com'], 'user-agent': ['Mozilla/5.0'] } }, response: { status_code: 200, body: { size: 300, content: JSON.stringify({ items: [i, i + 1], email: `u${i}@example.com` }) } } },
      url: { path: '/api/v1/users', query: `page=${i % 7}` },
    }),
  );
}
writeFileSync(file, lines.join('\n') + '\n');
const mb = statSync(file).size / 1e6;

async function viaNdjsonPackage(): Promise<number> {
  let n = 0;
  await new Promise<void>((res, rej) => {
    createReadStream(file)
      .pipe(ndjson.parse())
      .on('data', () => n++)
      .on('end', res)
      .on('error', rej);
  });
  return n;
}

async function viaReadNdjson(): Promise<number> {
  let n = 0;
  await readNdjson([file], { record: () => n++ });
  return n;
}

async function best(fn: () => Promise<number>): Promise<number> {
  let t = Infinity;
  for (let r = 0; r < 3; r++) {
    const s = process.hrtime.bigint();
    const n = await fn();
    if (n !== N) throw new Error(`read ${n} records, expected ${N}`);
    t = Math.min(t, Number(process.hrtime.bigint() - s) / 1e9);
  }
  return t;
}

const a = await best(viaNdjsonPackage);
const b = await best(viaReadNdjson);
console.log(`${N} events, ${mb.toFixed(1)} MB`);
console.log(`ndjson package  ${a.toFixed(2)} s  ${(mb / a).toFixed(1)} MB/s`);
console.log(`readNdjson      ${b.toFixed(2)} s  ${(mb / b).toFixed(1)} MB/s`);
console.log(`ratio: readNdjson is ${(a / b).toFixed(2)}x the ndjson package (best of 3, same file, same run)`);
