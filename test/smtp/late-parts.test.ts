// MIME parts past the body bytes kept (maxBody): a mail whose first attachment
// is large still shows the attachments after it, with their file names and
// sizes. The oracle is Python's email package: it writes the mail (a text and
// HTML alternative, a large PDF, a JPEG, a CSV, a quoted-printable text) and
// reads back each part's type, file name and decoded size; the message is fed
// whole and in pieces of many sizes (boundary lines and CRLFs split).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { MessageCapture } from '../../packages/protocols/src/smtp/message.js';
import { repoRoot } from '../helpers/corpus.js';

const PYTHON = '/usr/bin/python3';
const script = resolve(repoRoot, 'test/fixtures/smtp/attachments.py');
const tmp = mkdtempSync(join(tmpdir(), 'pano-late-parts-'));
const KEEP = 64 * 1024;

function mail(seed: number, big: number): { raw: Buffer; parts: Array<{ type: string; filename: string | null; size: number }> } {
  const json = join(tmp, `parts-${seed}.json`);
  const r = spawnSync(PYTHON, [script, String(seed), String(big), json], { maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, r.stderr?.toString());
  return { raw: r.stdout, parts: JSON.parse(readFileSync(json, 'utf8')) };
}

function read(raw: Buffer, step: number) {
  const m = new MessageCapture(KEEP, KEEP);
  for (let i = 0; i < raw.length; i += step) m.add(raw, i, Math.min(raw.length, i + step));
  return m.parse();
}

/** The bytes of a part's body as sent: after its header block, up to the line end before the next boundary line. */
function sentSize(raw: Buffer, filename: string): number {
  const text = raw.toString('latin1');
  const head = text.indexOf(`filename="${filename}"`);
  const start = text.indexOf('\n\n', head) + 2;
  const next = text.indexOf('\n--', start);
  return next - start;
}

test('parts past the kept bytes: every attachment with its file name and size, as Python\'s email package reads them back', () => {
  for (const [seed, big] of [[1, 70_000], [2, 150_000], [3, 400_000]] as const) {
    const { raw, parts } = mail(seed, big);
    assert.ok(raw.length > KEEP + 5_000, `the mail (${raw.length} bytes) is longer than what is kept`);
    for (const step of [raw.length, 1460, 997, 76, 7, 2, 1]) {
      const p = read(raw, step);
      const where = `seed ${seed}, pieces of ${step}`;
      assert.deepEqual(p.parts!.map((x) => x.filename ?? null), parts.map((x) => x.filename), where);
      assert.deepEqual(p.parts!.map((x) => x.headers['content-type']![0]!.split(';')[0]), parts.map((x) => x.type), where);
      for (const [i, want] of parts.entries()) {
        const got = p.parts![i]!.body;
        // quoted-printable is not decoded past the kept bytes: its size is as sent
        const size = want.filename === 'notes.txt' ? sentSize(raw, 'notes.txt') : want.size;
        assert.equal(got.size, size, `${where}: ${want.filename ?? want.type} size`);
        // only what was kept has content; the parts past it are flagged
        if (want.filename !== null) assert.equal(got.truncated, true, `${where}: ${want.filename}`);
      }
      assert.equal(p.size, raw.length);
      assert.equal(p.body.size, raw.length - raw.indexOf('\n\n') - 2, `${where}: the body's size is whole`);
    }
  }
});

test('a mail within the kept bytes reads as before: parts with their text, nothing flagged', () => {
  const { raw, parts } = mail(4, 2_000);
  const p = read(raw, 13);
  assert.deepEqual(p.parts!.map((x) => [x.filename ?? null, x.body.size, x.body.truncated ?? false]), parts.map((x) => [x.filename, x.size, false]));
  assert.match(p.parts!.find((x) => x.filename === 'contacts.csv')!.body.content!, /ann@example\.org/);
});

test('a part past the kept bytes that the message\'s end cuts, and lines that start with "-" but are no boundary', () => {
  const boundary = 'b0';
  const head = `Content-Type: multipart/mixed; boundary="${boundary}"\r\n\r\n`;
  const filler = `--${boundary}\r\nContent-Type: text/plain\r\n\r\n${'-- not a boundary\r\n'.repeat(5000)}`;
  const late = `--${boundary}\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="cut.bin"\r\n\r\nabcdef\r\n--${boundary}-`;
  const raw = Buffer.from(head + filler + late);
  for (const step of [raw.length, 5, 1]) {
    const p = read(raw, step);
    // the text part the kept bytes cut: its size whole (its last CRLF is the delimiter's); the last part runs to the end
    assert.deepEqual(p.parts!.map((x) => [x.filename ?? null, x.body.size]), [[null, 19 * 5000 - 2], ['cut.bin', `abcdef\r\n--${boundary}-`.length]], `pieces of ${step}`);
  }
});
