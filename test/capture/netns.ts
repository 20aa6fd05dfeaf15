/**
 * Network namespaces for the live capture tests: two namespaces joined by a
 * veth pair (MTU 1500, IPv4 and IPv6), each with its own loopback, removed
 * again by `destroy()` (call it from an `after` hook).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { once } from 'node:events';

export const ROOT = resolve(process.env.PANO_ROOT ?? process.cwd());
/** Runs a bin/ command from sources (tsx), like the tests themselves, so no stale build is exercised. */
export const NODE_SRC = [process.execPath, '--import', 'tsx', '--conditions=source'];

export function sh(cmd: string[], opts: { input?: string; allowFail?: boolean } = {}): string {
  const r = spawnSync(cmd[0], cmd.slice(1), { encoding: 'utf8', input: opts.input, cwd: ROOT });
  if (r.status !== 0 && !opts.allowFail) throw new Error(`${cmd.join(' ')} failed (${r.status}): ${r.stderr.trim()}`);
  return r.stdout;
}

export class TestNet {
  readonly a: string;
  readonly b: string;
  readonly vethA = 'pcapA';
  readonly vethB = 'pcapB';
  readonly ipA = '10.77.0.1';
  readonly ipB = '10.77.0.2';
  readonly ip6A = 'fd00:77::1';
  readonly ip6B = 'fd00:77::2';
  private readonly children = new Set<ChildProcess>();

  constructor(tag: string) {
    const id = `${process.pid}-${Math.random().toString(36).slice(2, 7)}`;
    this.a = `pano-${tag}-${id}-a`;
    this.b = `pano-${tag}-${id}-b`;
    sh(['ip', 'netns', 'add', this.a]);
    sh(['ip', 'netns', 'add', this.b]);
    sh(['ip', 'link', 'add', this.vethA, 'netns', this.a, 'mtu', '1500', 'type', 'veth', 'peer', 'name', this.vethB, 'netns', this.b, 'mtu', '1500']);
    for (const [ns, dev, ip, ip6] of [
      [this.a, this.vethA, this.ipA, this.ip6A],
      [this.b, this.vethB, this.ipB, this.ip6B],
    ]) {
      this.exec(ns, ['ip', 'link', 'set', 'lo', 'up']);
      this.exec(ns, ['ip', 'addr', 'add', `${ip}/24`, 'dev', dev]);
      this.exec(ns, ['ip', '-6', 'addr', 'add', `${ip6}/64`, 'dev', dev, 'nodad']);
      this.exec(ns, ['ip', 'link', 'set', dev, 'up']);
    }
  }

  exec(ns: string, cmd: string[], opts: { allowFail?: boolean } = {}): string {
    return sh(['ip', 'netns', 'exec', ns, ...cmd], opts);
  }

  spawn(ns: string, cmd: string[], opts: { stdio?: ('pipe' | 'ignore' | 'inherit' | number)[] } = {}): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', ns, ...cmd], { cwd: ROOT, stdio: (opts.stdio as never) ?? ['ignore', 'pipe', 'pipe'] });
    this.children.add(child);
    child.on('exit', () => this.children.delete(child));
    return child;
  }

  /** Starts the fixture HTTP server in `ns` and waits until it listens. */
  async httpServer(ns: string, host: string, port: number): Promise<ChildProcess> {
    const child = this.spawn(ns, [process.execPath, resolve(ROOT, 'test/capture/fixtures/http-server.mjs'), host, String(port)]);
    await waitFor(child, 'stdout', /listening/);
    return child;
  }

  destroy(): void {
    for (const c of this.children) c.kill('SIGKILL');
    sh(['ip', 'netns', 'del', this.a], { allowFail: true });
    sh(['ip', 'netns', 'del', this.b], { allowFail: true });
  }
}

/** Resolves once the child's stream has printed something matching `re` (rejects if it exits first). */
export async function waitFor(child: ChildProcess, stream: 'stdout' | 'stderr', re: RegExp): Promise<string> {
  let text = '';
  return new Promise((resolveP, reject) => {
    const onData = (d: Buffer) => {
      text += d.toString();
      if (re.test(text)) {
        child[stream]!.off('data', onData);
        resolveP(text);
      }
    };
    child[stream]!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`process exited (${code}) before printing ${re}: ${text}`)));
  });
}

export async function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const [code] = await once(child, 'exit');
  return code as number | null;
}

export function collect(child: ChildProcess, stream: 'stdout' | 'stderr'): () => string {
  let text = '';
  child[stream]?.on('data', (d: Buffer) => (text += d.toString()));
  return () => text;
}
