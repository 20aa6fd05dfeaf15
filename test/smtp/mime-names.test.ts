// Attachment file names as mail programs write them: RFC 2231 for non-ASCII
// names (`filename*=utf-8''%C3%9C...`), continuations for long ones
// (`filename*0*=`, `filename*1*=` ...), a quoted name with an escaped quote,
// and an RFC 2047 encoded word inside a quoted value (Outlook's way). The
// oracle is Python's email package: it writes the mail and reads the names
// back from its bytes. Before session 35 SMTP's MIME reading gave the first
// as sent (`utf-8''%C3%9C...`), missed the second (continuations) and cut the
// third at its escaped quote.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { MessageCapture } from '../../packages/protocols/src/smtp/message.js';
import { repoRoot } from '../helpers/corpus.js';

test('attachment names in RFC 2231 (continuations too), quoted with escapes, or as RFC 2047 words: read as Python\'s email package reads them', () => {
  const json = join(mkdtempSync(join(tmpdir(), 'pano-mime-names-')), 'names.json');
  const r = spawnSync('/usr/bin/python3', [resolve(repoRoot, 'test/fixtures/smtp/names.py'), json]);
  assert.equal(r.status, 0, r.stderr?.toString());
  const names: string[] = JSON.parse(readFileSync(json, 'utf8'));
  assert.equal(names.length, 4);
  const m = new MessageCapture(64 * 1024, 64 * 1024);
  m.add(r.stdout, 0, r.stdout.length);
  const parts = m.parse().parts!;
  assert.deepEqual(parts.filter((p) => p.filename !== undefined).map((p) => p.filename), names);
});
