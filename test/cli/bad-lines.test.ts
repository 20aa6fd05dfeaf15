// BadLines: how pano-pii, pano-graph and pano-export name skipped input lines,
// and the three stages doing so alike (reasons, escaping, byte order marks, over-long lines).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EVENT_LINE, runBin } from '../helpers/bin.js';
import { BadLines, BAD_LINES_SHOWN, UserError, terminalSafe } from '@panopticon/cli';

test('the first ten bad lines are named, the eleventh says the rest are only counted, later ones are silent', () => {
  const written: string[] = [];
  const bad = new BadLines('pano-x', { write: (t) => written.push(t) });
  for (let i = 1; i <= 25; i++) bad.report(`in.jsonl:${i}`, `reason ${i}`);
  assert.equal(BAD_LINES_SHOWN, 10);
  assert.equal(bad.count, 25);
  assert.equal(written.length, 11);
  for (let i = 0; i < 10; i++) assert.equal(written[i], `pano-x: in.jsonl:${i + 1}: reason ${i + 1}; line skipped\n`);
  assert.equal(written[10], 'pano-x: in.jsonl:11: reason 11; line skipped, and further bad lines only counted\n');
});

test('input quoted in a message cannot drive the terminal: control characters are escaped, under --strict too', () => {
  const written: string[] = [];
  const bad = new BadLines('pano-x', { write: (t) => written.push(t) });
  bad.report('in.jsonl:1', `not JSON (Unexpected token '\u001b', "\u001b[31mRED\u0000" is not valid JSON)`);
  assert.equal(written[0], `pano-x: in.jsonl:1: not JSON (Unexpected token '\\x1b', "\\x1b[31mRED\\x00" is not valid JSON); line skipped\n`);
  assert.equal(terminalSafe('tab\there\u007f\u009b ok é'), 'tab\\x09here\\x7f\\x9b ok é');
  const strict = new BadLines('pano-x', { strict: true });
  assert.throws(() => strict.report('in.jsonl:2', '\u001b[2J'), (e: Error) => e instanceof UserError && e.message === 'in.jsonl:2: \\x1b[2J');
});

test('name() says a line counted elsewhere (an over-long one) without counting it again', () => {
  const written: string[] = [];
  const bad = new BadLines('pano-x', { write: (t) => written.push(t) });
  bad.name('in.jsonl:3', 'line longer than 67108864 bytes');
  assert.equal(bad.count, 0);
  assert.deepEqual(written, ['pano-x: in.jsonl:3: line longer than 67108864 bytes; line skipped\n']);
  assert.throws(() => new BadLines('pano-x', { strict: true }).name('in.jsonl:3', 'line longer than 67108864 bytes'), UserError);
});

const run = (cmd: string, args: string[], input = '') => runBin(cmd, args, { input });
const event = EVENT_LINE;

test('the three NDJSON stages: the same reason for a line that is not JSON, escaped; a byte order mark is not an error', () => {
  const input = `\ufeff${event}\nHost: www.example.com\n\u001b[31mRED\n${event}\n`;
  for (const [cmd, args] of [['pano-pii', []], ['pano-graph', []], ['pano-export', ['--tee']]] as Array<[string, string[]]>) {
    const r = run(cmd, args, input);
    assert.equal(r.status, 0, `${cmd}: ${r.stderr}`);
    const lines = r.stderr.split('\n').filter((l) => l.includes('stdin:'));
    assert.deepEqual(lines, [
      `${cmd}: stdin:2: not JSON (Unexpected token 'H'); line skipped`,
      `${cmd}: stdin:3: not JSON (Unexpected token '\\x1b'); line skipped`,
    ], cmd);
    assert.ok(!r.stderr.includes('\u001b'), `${cmd}: no raw escape on stderr`);
  }
  // a bad line's text is not quoted back: V8's message did ("alice.smit"...), on stderr, past pano-pii's redaction
  for (const [cmd, args] of [['pano-pii', ['--redact', 'mask']], ['pano-graph', []], ['pano-export', ['--tee']]] as Array<[string, string[]]>) {
    const r = run(cmd, args, 'alice.smith@example.org SSN 078-05-1120\n{"ssn": 078-05-1120}\n');
    assert.equal(r.status, 0, `${cmd}: ${r.stderr}`);
    assert.ok(!/alice|078-05|1120/.test(r.stderr), `${cmd}: ${r.stderr}`);
    // (Node.js 26's V8 adds the line and column)
    assert.match(r.stderr, /stdin:2: not JSON \(Unexpected number in JSON at position 9( \(line 1 column 10\))?\); line skipped/);
  }
});

test('pano-graph and pano-export name an over-long line by file and line, and --strict makes it fatal', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pano-long-line-'));
  try {
    const f = join(dir, 'long.jsonl');
    // one line past the 64 MiB bound, between two events
    const long = Buffer.alloc(64 * 1024 * 1024 + 16, 0x61);
    writeFileSync(f, Buffer.concat([Buffer.from(event + '\n'), long, Buffer.from('\n' + event + '\n')]));
    for (const [cmd, args] of [['pano-graph', []], ['pano-export', ['--tee']]] as Array<[string, string[]]>) {
      const r = run(cmd, [...args, f]);
      assert.equal(r.status, 0, `${cmd}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`^${cmd}: ${f}:2: line longer than 67108864 bytes; line skipped$`, 'm'));
      const s = run(cmd, [...args, '--strict', f]);
      assert.equal(s.status, 2, `${cmd} --strict: ${s.stderr}`);
      assert.equal(s.stderr, `${cmd}: ${f}:2: line longer than 67108864 bytes\n`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
