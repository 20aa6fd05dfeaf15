/**
 * The Go crypto/tls probe points (packages/capture/src/gotls.ts) against
 * objdump: in a Go binary built here, every RET objdump's disassembly lists
 * in crypto/tls.(*Conn).Read and .Write is found, and nothing else; the
 * entries' file offsets are objdump's; binaries that cannot be probed get a
 * one-line error naming them.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { goTlsTarget, GO_FUNCS } from '../../packages/capture/src/gotls.js';
import { ElfError } from '../../packages/capture/src/elf.js';
import { toolMissing } from './env.js';
import { buildGoFixture, goMissing } from './go-build.js';

const skip = goMissing() ?? toolMissing('objdump', 'nm');

/** objdump's view of one function: its entry's file offset, and the file offsets of its RETs. */
function objdumpFunction(bin: string, name: string): { entry: number; rets: number[] } {
  const nm = spawnSync('nm', ['-S', bin], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const line = nm.stdout.split('\n').find((l) => l.endsWith(` ${name}`));
  assert.ok(line, `nm lists no ${name}`);
  const [addr, size] = line.split(' ').slice(0, 2).map((x) => BigInt(`0x${x}`));
  const d = spawnSync('objdump', ['-d', '-F', '--no-show-raw-insn', `--start-address=0x${addr.toString(16)}`, `--stop-address=0x${(addr + size).toString(16)}`, bin], { encoding: 'utf8', maxBuffer: 64 << 20 });
  assert.equal(d.status, 0, d.stderr);
  const label = /^[0-9a-f]+ <(.*)> \(File Offset: 0x([0-9a-f]+)\):$/m.exec(d.stdout);
  assert.ok(label && label[1] === name, d.stdout.slice(0, 400));
  const entry = parseInt(label[2], 16);
  const rets = [...d.stdout.matchAll(/^\s*([0-9a-f]+):\s+ret\s*$/gm)].map((m) => entry + Number(BigInt(`0x${m[1]}`) - addr));
  return { entry, rets };
}

describe('Go crypto/tls probe points', { skip }, () => {
  let dir: string;
  let bin: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'pano-gotls-elf-'));
    bin = buildGoFixture(dir, 'go-https');
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('finds every RET of Read and Write that objdump lists, and nothing else, at the file offsets objdump gives', () => {
    const t = goTlsTarget(bin);
    for (const f of [t.read, t.write]) {
      const o = objdumpFunction(bin, f.name);
      assert.equal(f.entryOffset, o.entry, f.name);
      assert.ok(o.rets.length >= 2, `${f.name}: objdump lists ${o.rets.length} RETs`);
      assert.deepEqual(f.retOffsets, o.rets, f.name);
    }
    assert.equal(t.read.name, GO_FUNCS.read);
    assert.equal(t.write.name, GO_FUNCS.write);
    assert.equal(t.close?.entryOffset, objdumpFunction(bin, GO_FUNCS.close).entry);
  });

  it("names the *net.TCPConn itab at nm's address", () => {
    const nm = spawnSync('nm', [bin], { encoding: 'utf8', maxBuffer: 64 << 20 });
    const line = nm.stdout.split('\n').find((l) => / go[.:]itab\.\*net\.TCPConn,net\.Conn$/.test(l));
    assert.ok(line);
    assert.equal(goTlsTarget(bin).tcpConnItab, BigInt(`0x${line.split(' ')[0]}`));
  });

  it('a stripped binary, a PIE, a binary without crypto/tls and a file that is not ELF get one-line errors naming them', () => {
    const stripped = buildGoFixture(dir, 'stripped', ['-ldflags=-s -w']);
    const pie = buildGoFixture(dir, 'pie', ['-buildmode=pie']);
    const notGo = join(dir, 'true');
    copyFileSync('/bin/true', notGo);
    const text = join(dir, 'go.mod');
    copyFileSync(join(import.meta.dirname, 'fixtures/go-https/main.go'), text);
    for (const [path, what] of [
      [stripped, /stripped \(no \.symtab\)/],
      [pie, /position-independent Go binary \(PIE\) is not supported/],
      [notGo, /not a Go program using crypto\/tls|stripped/],
      [text, /not an ELF file/],
    ] as const) {
      assert.throws(
        () => goTlsTarget(path),
        (e: unknown) => e instanceof ElfError && e.message.startsWith(`${path}: `) && what.test(e.message) && !e.message.includes('\n'),
        path,
      );
    }
  });
});
