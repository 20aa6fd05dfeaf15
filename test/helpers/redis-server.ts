/** A throwaway redis-server on a free loopback port, for tests driving it with real clients. */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { freePort } from './loopback-capture.js';

export interface RedisServer {
  port: number;
  process: ChildProcess;
}

/** Starts redis-server (no persistence, files in `dir`, `extra` arguments) and waits until it answers PING. */
export async function startRedis(dir: string, extra: string[] = []): Promise<RedisServer> {
  const port = await freePort();
  const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...extra], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  for (let i = 0; i < 200; i++) {
    try {
      if (execFileSync('redis-cli', ['-p', String(port), 'PING'], { encoding: 'utf8', stdio: 'pipe' }).trim() === 'PONG') return { port, process: server };
    } catch {
      if (server.exitCode !== null) throw new Error('redis-server exited');
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  server.kill('SIGTERM');
  throw new Error('redis-server did not answer');
}
