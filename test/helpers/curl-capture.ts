/** Real HTTP traffic for the PII tests: curl against a throwaway Node server on loopback, captured with tcpdump and parsed. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createServer, type RequestListener } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LoopbackCapture, freePort } from './loopback-capture.js';
import { parseCaptureSync } from './parse.js';

/**
 * Runs curl once per entry of `runs(base)` (its arguments after `-s -o /dev/null`; `base` is the
 * server's `http://127.0.0.1:PORT`), one after the other, against a server answering with `handler`,
 * and returns the parsed events of the capture. curl runs asynchronously: the server answers on this
 * process's event loop.
 */
export async function curlCapture(handler: RequestListener, runs: (base: string) => string[][]): Promise<Array<Record<string, any>>> {
  const dir = mkdtempSync(join(tmpdir(), 'pano-curl-'));
  try {
    const port = await freePort();
    const server = createServer(handler);
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    const file = join(dir, 'http.pcap');
    const cap = new LoopbackCapture(file, `tcp port ${port}`);
    try {
      await cap.start();
      try {
        for (const args of runs(`http://127.0.0.1:${port}`)) await promisify(execFile)('curl', ['-s', '-o', '/dev/null', ...args]);
      } finally {
        await cap.stop();
      }
    } finally {
      server.close();
    }
    return parseCaptureSync(file).events as Array<Record<string, any>>;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A handler that reads `field` of each request as a server does (URLSearchParams, the form-encoding
 * spec: of the body, else of the query) into `seen`, and answers `ok`: the oracle for what a value sent
 * in a form stands for.
 */
export function formReader(field: string, seen: string[]): RequestListener {
  return (req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      seen.push(new URLSearchParams(body || req.url!.split('?')[1]).get(field)!);
      res.end('ok');
    });
  };
}

/** The text a finding's offsets are into: a form field's value decoded (body or query), a Referer as sent. */
export function formFindingText(f: { path: string }, ev: Record<string, any>, field: string): string {
  if (f.path === `http.request.body.content$.${field}`) return new URLSearchParams(ev.http.request.body.content).get(field)!;
  if (f.path === `url.query$.${field}`) return new URLSearchParams(ev.url.query).get(field)!;
  if (f.path === 'http.request.header.referer[0]') return ev.http.request.header.referer[0];
  throw new Error(`unexpected finding at ${f.path}`);
}
