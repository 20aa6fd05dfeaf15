/** Builds the Go fixture (test/capture/fixtures/go-https) with the installed Go, standard library only. */
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './netns.js';

export const GO_FIXTURE = join(ROOT, 'test/capture/fixtures/go-https/main.go');

/** A one-line reason when Go is not installed (scripts/setup-machine.sh installs golang-go). */
export function goMissing(): string | undefined {
  const r = spawnSync('go', ['version'], { encoding: 'utf8' });
  return r.status === 0 ? undefined : 'go is not installed (apt-get install golang-go)';
}

/**
 * `go build` of the fixture into dir/name. The build cache is one temporary
 * directory shared by the test runs (Go's cache is content-addressed and safe
 * for concurrent builds), and nothing of the user's Go setup is touched. No
 * `-trimpath`: with it a fresh cache rebuilt the whole standard library
 * (22 s here, against 8 s without; `-buildmode=pie` rebuilds it anyway).
 */
export function buildGoFixture(dir: string, name: string, flags: string[] = []): string {
  const out = join(dir, name);
  const r = spawnSync('go', ['build', ...flags, '-o', out, GO_FIXTURE], {
    encoding: 'utf8',
    env: { ...process.env, GOCACHE: join(tmpdir(), 'pano-test-gocache'), GOPATH: join(dir, 'gopath'), GOFLAGS: '', GO111MODULE: 'off', CGO_ENABLED: '0' },
  });
  if (r.status !== 0) throw new Error(`go build failed: ${r.stderr.trim()}`);
  return out;
}
