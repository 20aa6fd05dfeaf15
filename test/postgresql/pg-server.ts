/**
 * A throwaway PostgreSQL server for tests: initdb in a temp directory owned
 * by the postgres user, SCRAM-SHA-256 password authentication over TCP on
 * 127.0.0.1, started and stopped with pg_ctl.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function pgBinDir(): string | undefined {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return undefined;
  const versions = readdirSync(base).filter((v) => existsSync(join(base, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a));
  return versions.length ? join(base, versions[0], 'bin') : undefined;
}

export interface PgServer {
  port: number;
  dir: string;
  password: string;
  stop(): void;
}

/**
 * initdb and pg_ctl run as the postgres user and need a world-writable
 * /dev/null. Writing a capture to /dev/null as root with a 0600 file mode
 * (pano-capture -w /dev/null, packages/capture/src/sink.ts) or with tcpdump
 * (which chowns its output) leaves it unusable for every other user; put
 * the standard mode back and say so, rather than fail for someone else's
 * side effect.
 */
function repairDevNull(): void {
  const st = statSync('/dev/null');
  if (st.isCharacterDevice() && (st.mode & 0o666) !== 0o666) {
    process.stderr.write(`pg-server: /dev/null had mode ${(st.mode & 0o777).toString(8)} (uid ${st.uid}); restoring 0666\n`);
    chmodSync('/dev/null', 0o666);
  }
}

function asPostgres(bin: string, args: string[]): string {
  repairDevNull();
  return execFileSync('runuser', ['-u', 'postgres', '--', bin, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** `tls`: serve TLS with a fresh self-signed certificate (ssl=on). */
export function startPg(port: number, opts: { tls?: boolean } = {}): PgServer {
  const bin = pgBinDir();
  if (!bin) throw new Error('PostgreSQL binaries not found under /usr/lib/postgresql');
  const dir = mkdtempSync(join(tmpdir(), 'pano-pg-'));
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  chownSync(dir, uid, gid);
  const password = 'pano-secret-pw-7731';
  const pwfile = join(dir, 'pw');
  writeFileSync(pwfile, password + '\n');
  chownSync(pwfile, uid, gid);
  const data = join(dir, 'data');
  asPostgres(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--pwfile', pwfile, '--auth-host=scram-sha-256', '--auth-local=trust', '-E', 'UTF8', '--no-instructions']);
  let serverOpts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c shared_buffers=16MB`;
  if (opts.tls) {
    const cert = join(dir, 'server.crt');
    const key = join(dir, 'server.key');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-days', '1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
    for (const f of [cert, key]) chownSync(f, uid, gid);
    serverOpts += ` -c ssl=on -c ssl_cert_file=${cert} -c ssl_key_file=${key}`;
  }
  asPostgres(join(bin, 'pg_ctl'), ['-D', data, '-o', serverOpts, '-l', join(dir, 'log'), '-w', 'start']);
  let stopped = false;
  return {
    port,
    dir,
    password,
    stop() {
      if (stopped) return;
      stopped = true;
      try {
        asPostgres(join(bin, 'pg_ctl'), ['-D', data, '-m', 'fast', '-w', 'stop']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
