// JSONL sink: 0600 files, size rotation and SIGHUP rotation while events
// flow, SIGTERM mid-stream: no complete line lost, no partial line written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, statSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { httpEv, runExport, until } from './fixtures.js';

function lines(n: number, from = 0): string[] {
  const out: string[] = [];
  for (let i = from; i < from + n; i++) out.push(JSON.stringify(httpEv(`${i}-1`, 'GET', 200, 1000 + i)));
  return out;
}

/** All JSONL files, oldest first: FILE.N … FILE.1, FILE. */
function readRotated(dir: string, base: string): { files: string[]; text: string } {
  const names = readdirSync(dir).filter((n) => n === base || n.startsWith(base + '.'));
  const idx = (n: string) => (n === base ? 0 : Number(n.slice(base.length + 1)));
  names.sort((a, b) => idx(b) - idx(a));
  return { files: names, text: names.map((n) => readFileSync(join(dir, n), 'utf8')).join('') };
}

test('size rotation plus SIGHUP rotations under load lose no line; every file 0600, whole lines, within size', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pano-jsonl-'));
  try {
    const file = join(dir, 'events.jsonl');
    const input = lines(3000);
    const rotate = 64 * 1024;
    const run = runExport(['--jsonl', file, '--rotate', String(rotate), '--keep', '1000', '--stats']);
    // write in slices, sending SIGHUP between them
    let hups = 0;
    for (let i = 0; i < input.length; i += 250) {
      const chunk = input.slice(i, i + 250).join('\n') + '\n';
      if (!run.child.stdin.write(chunk)) await new Promise((r) => run.child.stdin.once('drain', r));
      if (i > 0 && i % 500 === 0) {
        run.child.kill('SIGHUP');
        hups++;
      }
    }
    run.child.stdin.end();
    assert.equal(await run.exited, 0, run.stderr());
    const { files, text } = readRotated(dir, 'events.jsonl');
    assert.equal(text, input.join('\n') + '\n', 'concatenated files are exactly the input, in order');
    // ~3000 lines of ~600 bytes is > 1.7 MB: many size rotations on top of the SIGHUP ones
    assert.ok(files.length > hups + 10, `${files.length} files`);
    for (const f of files) {
      const st = statSync(join(dir, f));
      assert.equal(st.mode & 0o777, 0o600, `${f} mode`);
      assert.ok(st.size <= rotate, `${f} ${st.size} bytes`);
      const t = readFileSync(join(dir, f), 'utf8');
      assert.ok(t === '' || t.endsWith('\n'), `${f} ends with a newline`);
    }
    assert.match(run.stderr(), /^export\.events 3000$/m);
    assert.match(run.stderr(), /^jsonl\.lines 3000$/m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--keep bounds the number of rotated files and counts what was discarded', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pano-jsonl-'));
  try {
    const file = join(dir, 'e.jsonl');
    const input = lines(500);
    const run = runExport(['--jsonl', file, '--rotate', '16k', '--keep', '3', '--prometheus', '127.0.0.1:0', '--keep-serving']);
    const [, port] = await run.waitStderr(/http:\/\/127\.0\.0\.1:(\d+)\//);
    run.child.stdin.end(input.join('\n') + '\n');
    const state = await until('all events', async () => {
      const s = (await (await fetch(`http://127.0.0.1:${port}/debug/state`)).json()) as { input: { events: number }; sinks: { jsonl: { files_discarded: number; rotations: number } } };
      return s.input.events === 500 ? s : undefined;
    });
    run.child.kill('SIGTERM');
    assert.equal(await run.exited, 0);
    const { files, text } = readRotated(dir, 'e.jsonl');
    assert.deepEqual(files.sort(), ['e.jsonl', 'e.jsonl.1', 'e.jsonl.2', 'e.jsonl.3']);
    // what is kept is the newest lines, whole, in order: a suffix of the input
    assert.ok((input.join('\n') + '\n').endsWith(text));
    assert.equal(state.sinks.jsonl.files_discarded, state.sinks.jsonl.rotations - 3);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('SIGTERM mid-stream: the file holds exactly the complete lines read, none partial', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pano-jsonl-'));
  try {
    const file = join(dir, 'e.jsonl');
    const input = lines(2000);
    const run = runExport(['--jsonl', file, '--stats', '--prometheus', '127.0.0.1:0']);
    const [, port] = await run.waitStderr(/http:\/\/127\.0\.0\.1:(\d+)\//);
    // 1200 whole lines then half of the next one; stdin stays open
    run.child.stdin.write(input.slice(0, 1200).join('\n') + '\n' + input[1200]!.slice(0, 200));
    await until('1200 events read', async () => {
      const s = (await (await fetch(`http://127.0.0.1:${port}/debug/state`)).json()) as { input: { events: number } };
      return s.input.events === 1200 ? true : undefined;
    });
    run.child.kill('SIGTERM');
    assert.equal(await run.exited, 0, run.stderr());
    assert.equal(readFileSync(file, 'utf8'), input.slice(0, 1200).join('\n') + '\n');
    assert.match(run.stderr(), /^export\.events 1200$/m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an existing file with a wider mode is tightened to 0600', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pano-jsonl-'));
  try {
    const file = join(dir, 'e.jsonl');
    writeFileSync(file, '');
    chmodSync(file, 0o644);
    const run = runExport(['--jsonl', file]);
    run.child.stdin.end(lines(3).join('\n') + '\n');
    assert.equal(await run.exited, 0);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(readFileSync(file, 'utf8').split('\n').length, 4);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
