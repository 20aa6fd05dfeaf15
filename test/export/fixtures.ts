// Hand-built events shaped exactly as docs/EVENTS.md describes, and a small
// harness to run bin/pano-export as a child process.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { resolve } from 'node:path';
import assert from 'node:assert/strict';
import { receiver, type DecodedSpan } from './otlp-receiver.js';

export const ROOT = resolve(process.env.PANO_ROOT ?? process.cwd());
export const T0 = 1_700_000_000_000_000_000n;

export interface EvOpts {
  id: string;
  protocol?: string;
  kind?: string;
  client?: [string, number];
  server?: [string, number];
  startNs?: bigint;
  durNs?: number;
  reqBytes?: number;
  resBytes?: number;
  flags?: string[];
  groups?: Record<string, unknown>;
}

export function ev(o: EvOpts): Record<string, unknown> {
  const start = o.startNs ?? T0;
  const dur = o.durNs ?? 1_000_000;
  return {
    pano: {
      v: 1, id: o.id, kind: o.kind ?? 'exchange', protocol: o.protocol ?? 'http',
      start_ns: start.toString(), end_ns: (start + BigInt(dur)).toString(), duration_ns: dur, time: '',
      source: { type: 'pcap', name: 'hand-built' }, connection: { id: Number(o.id.split('-')[0]), roles: 'syn' },
      request_bytes: o.reqBytes ?? 0, response_bytes: o.resBytes ?? 0, flags: o.flags ?? [],
    },
    client: { address: o.client?.[0] ?? '10.0.0.1', port: o.client?.[1] ?? 40000 },
    server: { address: o.server?.[0] ?? '10.0.0.2', port: o.server?.[1] ?? 80 },
    network: { transport: 'tcp', type: 'ipv4' },
    ...o.groups,
  };
}

export function httpEv(id: string, method: string, status: number, durNs: number, extra: Partial<EvOpts> = {}, http: Record<string, unknown> = {}) {
  return ev({
    id, durNs, reqBytes: 100, resBytes: 1000, ...extra,
    groups: {
      http: { request: { method, ...(http.request as object) }, response: { status_code: status } },
      url: { path: '/api/users/' + id, scheme: 'http' },
      ...(status >= 500 ? { error: { type: String(status) } } : {}),
      ...extra.groups,
    },
  });
}

export interface Running {
  child: ChildProcessWithoutNullStreams;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
  /** resolves with the first stderr line matching re */
  waitStderr(re: RegExp, ms?: number): Promise<RegExpMatchArray>;
}

export function runExport(args: string[]): Running {
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', resolve(ROOT, 'packages/export/src/cli-entry.ts'), ...args], { cwd: ROOT });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d) => (err += d));
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitStderr(re, ms = 30_000) {
      return new Promise((res, rej) => {
        const t = setTimeout(() => rej(new Error(`no ${re} on stderr within ${ms} ms: ${err}`)), ms);
        const check = () => {
          const m = re.exec(err);
          if (m) {
            clearTimeout(t);
            child.stderr.off('data', check);
            res(m);
          }
        };
        child.stderr.on('data', check);
        check();
      });
    },
  };
}

/** Poll `fn` until it returns a value (not undefined), or fail after `ms`. */
export async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

/**
 * The spans `pano-export --otlp` sends for `input` (NDJSON) with `args`, as a
 * real OTLP/HTTP receiver decodes them, by `pano.event.id`; `expected` spans.
 */
export async function exportedSpans(input: string, args: string[], expected: number): Promise<Record<string, DecodedSpan>> {
  const rx = await receiver();
  try {
    const run = runExport(['--otlp', rx.url, '--otlp-delay', '20', ...args]);
    run.child.stdin.end(input);
    assert.equal(await run.exited, 0, run.stderr());
    assert.equal(rx.spans.length, expected, run.stderr());
    return Object.fromEntries(rx.spans.map((s) => [s.attributes['pano.event.id'], s]));
  } finally {
    rx.server.close();
  }
}
