// The span model path through onnxruntime-node: a model built with known
// weights must give the softmax computed here by hand; the shipped model
// loads, keeps the contract and finds a name in a name field; the CLI
// budget flag and a bad model file behave.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { OnnxSpanModel, featureStrings, featureId, EventScanner, BUILTIN_MODEL, type Candidate } from '@panopticon/pii';
import { buildOnnx } from '../../scripts/pii/train-model.js';

const dir = mkdtempSync(join(tmpdir(), 'pii-model-'));

test('a hand-weighted ONNX model reproduces the softmax of summed feature weights', async () => {
  const dim = 1024;
  const labels = ['none', 'person_name', 'street_address'];
  const W = new Float32Array(dim * 3);
  const b = Float32Array.from([0.5, -0.25, 0.1]);
  for (let i = 1; i < dim; i++) for (let c = 0; c < 3; c++) W[i * 3 + c] = ((i * 7 + c * 13) % 11) / 10 - 0.5;
  const file = join(dir, 'hand.onnx');
  writeFileSync(file, buildOnnx(W, b, { 'pano.features': 'pano-span-v1', 'pano.dim': String(dim), 'pano.k': '64', 'pano.labels': labels.join(',') }));
  const model = await OnnxSpanModel.load(file);
  const cand: Candidate = { start: 5, end: 15, text: 'Dear Alice Smith, hi', key: 'note', whole: false };
  const [[label, p]] = await model.score([cand]);
  const ids = [...new Set(featureStrings(cand).map((f) => featureId(f, dim)))].slice(0, 64);
  const z = [0, 1, 2].map((c) => b[c]! + ids.reduce((s, id) => s + W[id * 3 + c]!, 0));
  const e = z.map((v) => Math.exp(v - Math.max(...z)));
  const probs = e.map((v) => v / e.reduce((x, y) => x + y, 0));
  const best = probs.indexOf(Math.max(...probs));
  assert.equal(label, labels[best]);
  assert.ok(Math.abs(p - probs[best]!) < 1e-5, `${p} vs ${probs[best]}`);
});

test('the shipped model is under 2 MiB, keeps the contract, and names a name', async () => {
  assert.ok(statSync(BUILTIN_MODEL).size < 2 * 1024 * 1024);
  const model = await OnnxSpanModel.load(BUILTIN_MODEL);
  assert.deepEqual(model.labels, ['none', 'person_name', 'street_address']);
  const s = new EventScanner({ key: Buffer.alloc(32), model });
  const ev = { http: { request: { body: { content: JSON.stringify({ customer_name: 'Maria Gonzalez', sku: 'AB-1234' }) } } } } as Record<string, unknown>;
  const p = s.collect(ev);
  await s.scoreCandidates([p]);
  const found = s.finish(p);
  assert.deepEqual(found.map((f) => [f.type, f.path, f.detector]), [['person_name', 'http.request.body.content$.customer_name', 'model']]);
});

test('a model file that is not ONNX, or lacks the contract, is a one-line error', () => {
  const bad = join(dir, 'bad.onnx');
  writeFileSync(bad, 'not a model');
  const root = process.env.PANO_ROOT ?? process.cwd();
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--conditions=source', resolve(root, 'bin/pano-pii'), '--model', bad], { input: '', encoding: 'utf8', cwd: root });
  assert.equal(r.status, 2);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.match(r.stderr, /^pano-pii: --model .*bad\.onnx: /);
});

test('--ml-budget flags events whose candidates were cut', () => {
  const root = process.env.PANO_ROOT ?? process.cwd();
  const text = Array.from({ length: 30 }, (_, i) => `Meeting with Anna Berg${i} and Tom Lind${i}.`).join(' ');
  const ev = JSON.stringify({ pano: { id: '1-1', flags: [] }, messaging: { message: { body: { content: text } } } });
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--conditions=source', resolve(root, 'bin/pano-pii'), '--model', 'builtin', '--ml-budget', '5', '--stats'], { input: ev + '\n', encoding: 'utf8', cwd: root });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.deepEqual(out.pano.flags, ['pii_ml_partial']);
  assert.match(r.stderr, /^pii\.ml_partial_events 1$/m);
  assert.match(r.stderr, /^pii\.ml_candidates 5$/m);
});
