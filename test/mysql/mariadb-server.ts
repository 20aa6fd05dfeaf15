/**
 * A throwaway MariaDB server for tests: mariadb-install-db into a temp
 * directory, mariadbd on 127.0.0.1 with a socket in that directory, a
 * database and a password-authenticated user created over the socket.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface MariaDb {
  port: number;
  socket: string;
  user: string;
  password: string;
  database: string;
  /** Runs SQL as root over the socket (not captured: the capture filters the TCP port). */
  sql(statements: string): string;
  stop(): Promise<void>;
}

/** `tls`: serve TLS with a fresh self-signed certificate. */
export async function startMariaDb(port: number, opts: { tls?: boolean } = {}): Promise<MariaDb> {
  const dir = mkdtempSync(join(tmpdir(), 'pano-mariadb-'));
  const data = join(dir, 'data');
  const socket = join(dir, 'sock');
  const tlsArgs: string[] = [];
  if (opts.tls) {
    const cert = join(dir, 'server.crt');
    const key = join(dir, 'server.key');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-days', '1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
    tlsArgs.push(`--ssl-cert=${cert}`, `--ssl-key=${key}`);
  }
  execFileSync('mariadb-install-db', ['--no-defaults', `--datadir=${data}`, '--user=root', '--auth-root-authentication-method=socket', '--skip-test-db'], { stdio: 'ignore' });
  const proc: ChildProcess = spawn(
    'mariadbd',
    ['--no-defaults', `--datadir=${data}`, `--socket=${socket}`, `--port=${port}`, '--bind-address=127.0.0.1', '--user=root', `--pid-file=${join(dir, 'pid')}`, '--skip-name-resolve', '--skip-log-bin', '--innodb-buffer-pool-size=16M', '--max-allowed-packet=64M', `--log-error=${join(dir, 'err.log')}`, ...tlsArgs],
    { stdio: 'ignore' },
  );
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const sql = (statements: string) => execFileSync('mariadb', ['--no-defaults', `--socket=${socket}`, '-uroot', '-N', '-e', statements], { encoding: 'utf8' });
  for (let i = 0; ; i++) {
    if (proc.exitCode !== null) throw new Error(`mariadbd exited with ${proc.exitCode} (see ${dir}/err.log)`);
    if (existsSync(socket)) {
      try {
        sql('SELECT 1');
        break;
      } catch {
        // not accepting yet
      }
    }
    if (i > 600) throw new Error('mariadbd did not come up');
    await sleep(100);
  }
  const user = 'app';
  const password = 'pano-maria-secret-4412';
  const database = 'shop';
  sql(`CREATE DATABASE ${database}; CREATE USER '${user}'@'127.0.0.1' IDENTIFIED BY '${password}'; GRANT ALL ON ${database}.* TO '${user}'@'127.0.0.1';`);
  let stopped = false;
  return {
    port,
    socket,
    user,
    password,
    database,
    sql,
    async stop() {
      if (stopped) return;
      stopped = true;
      if (proc.exitCode === null) {
        proc.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
