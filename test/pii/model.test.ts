// The span model path through onnxruntime-node: a model built with known
// weights must give the softmax computed here by hand; the shipped model
// loads, keeps the contract and finds a name in a name field; v1 models still
// load and are fed v1 features (v4 features and the word clusters: word-table.test.ts); the lexicon behind v3 features is read right and is what its
// builder makes; a part of a longer hit loses to it; candidate rules cover the shapes found in
// error analysis; the CLI budget flag and a bad model file behave.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { OnnxSpanModel, featurize, featureStrings, featureId, nameCandidates, lexClass, EventScanner, BUILTIN_MODEL, FEATURE_SETS, Hint, type Candidate, type SpanModel } from '@panopticon/pii';
import { buildMlpOnnx, buildOnnx, mlpForward } from '../../scripts/pii/train-model.js';

const dir = mkdtempSync(join(tmpdir(), 'pii-model-'));

for (const features of FEATURE_SETS) {
  test(`a hand-weighted ONNX model (${features}) reproduces the softmax of summed feature weights`, async () => {
    const dim = 1024;
    const labels = ['none', 'person_name', 'street_address'];
    const W = new Float32Array(dim * 3);
    const b = Float32Array.from([0.5, -0.25, 0.1]);
    for (let i = 1; i < dim; i++) for (let c = 0; c < 3; c++) W[i * 3 + c] = ((i * 7 + c * 13) % 11) / 10 - 0.5;
    const file = join(dir, `hand-${features}.onnx`);
    writeFileSync(file, buildOnnx(W, b, { 'pano.features': features, 'pano.dim': String(dim), 'pano.k': '64', 'pano.labels': labels.join(',') }));
    const model = await OnnxSpanModel.load(file);
    assert.equal(model.features, features);
    const cand: Candidate = { start: 5, end: 15, text: 'Dear Alice Smith, hi', key: 'note', whole: false };
    const [[label, p]] = await model.score([cand]);
    const ids = [...new Set(featureStrings(cand, features).map((f) => featureId(f, dim)))].slice(0, 64);
    const z = [0, 1, 2].map((c) => b[c]! + ids.reduce((s, id) => s + W[id * 3 + c]!, 0));
    const e = z.map((v) => Math.exp(v - Math.max(...z)));
    const probs = e.map((v) => v / e.reduce((x, y) => x + y, 0));
    const best = probs.indexOf(Math.max(...probs));
    assert.equal(label, labels[best]);
    assert.ok(Math.abs(p - probs[best]!) < 1e-5, `${p} vs ${probs[best]}`);
  });
}

test('a hidden-layer model (train-model.ts --hidden) loads under the same contract and gives the forward pass computed by hand', async () => {
  const dim = 1024;
  const H = 8;
  const labels = ['none', 'person_name', 'street_address'];
  const E = new Float32Array(dim * H);
  for (let i = 1; i < dim; i++) for (let j = 0; j < H; j++) E[i * H + j] = ((i * 5 + j * 3) % 13) / 26 - 0.25;
  const W2 = Float32Array.from({ length: H * 3 }, (_, i) => ((i * 7) % 5) / 2 - 1);
  const mlp = { E, b1: new Float32Array(H).fill(0.05), W2, b2: Float32Array.from([0.2, -0.1, 0]), H };
  const file = join(dir, 'hand-mlp.onnx');
  writeFileSync(file, buildMlpOnnx(mlp, { 'pano.features': 'pano-span-v4', 'pano.dim': String(dim), 'pano.k': '64', 'pano.labels': labels.join(',') }));
  const model = await OnnxSpanModel.load(file);
  for (const cand of [{ start: 5, end: 15, text: 'Dear Alice Smith, hi', key: 'note', whole: false }, { start: 0, end: 16, text: '221B Baker Street', key: 'address', whole: true }] as Candidate[]) {
    const [[label, p]] = await model.score([cand]);
    const ids = Int32Array.from([...new Set(featureStrings(cand, 'pano-span-v4').map((f) => featureId(f, dim)))].slice(0, 64));
    const z = new Float64Array(3);
    mlpForward(mlp, ids, new Float64Array(H), new Float64Array(H), z);
    // and by hand: ReLU of the summed rows, then the softmax
    const h = Array.from({ length: H }, (_, j) => Math.max(0, 0.05 + [...ids].reduce((s, id) => s + E[id * H + j]!, 0)));
    const logits = [0, 1, 2].map((c) => mlp.b2[c]! + h.reduce((s, v, j) => s + v * W2[j * 3 + c]!, 0));
    const e = logits.map((v) => Math.exp(v - Math.max(...logits)));
    const probs = e.map((v) => v / e.reduce((x, y) => x + y, 0));
    const best = probs.indexOf(Math.max(...probs));
    assert.ok(Math.abs(z[best]! - probs[best]!) < 1e-9);
    assert.equal(label, labels[best]);
    assert.ok(Math.abs(p - probs[best]!) < 1e-5, `${p} vs ${probs[best]}`);
  }
});

test('featurize writes the first k distinct ids of featureStrings in order, zero-padded, call after call', () => {
  const texts = [
    'Dear Alice Smith, your parcel for 221B Baker Street, London NW1 6XE left today.',
    'Producer Sandy Lahtela met Mr. Derek Crnić. Who called Marie?',
    'why is yulan so impulsive lol',
    'Ship to: 12 Baker Street\n Apt. 4\n Springfield, IL 62704',
  ];
  const cands = texts.flatMap((t) => nameCandidates(t, 'note', 0)).concat(nameCandidates('Ana de la Cruz', 'name', Hint.name));
  assert.ok(cands.length > 10, String(cands.length));
  for (const features of FEATURE_SETS) {
    for (const [dim, k] of [[1 << 16, 96], [1024, 24], [64, 96]] as const) {
      // one array for all candidates, written at offsets, twice over: stale ids from the first pass must not survive
      const out = new BigInt64Array(cands.length * k).fill(-1n);
      for (let pass = 0; pass < 2; pass++) cands.forEach((c, i) => featurize(c, dim, k, out, i * k, features));
      cands.forEach((c, i) => {
        const want = [...new Set(featureStrings(c, features).map((f) => featureId(f, dim)))].slice(0, k);
        const got = [...out.subarray(i * k, (i + 1) * k)].map(Number);
        assert.deepEqual(got, [...want, ...new Array(k - want.length).fill(0)], `${features} dim ${dim} k ${k} ${c.text.slice(c.start, c.end)}`);
      });
    }
  }
});

test('v2 features add the span structure to v1', () => {
  const cand: Candidate = { start: 10, end: 52, text: 'Ship to: 12 Baker Street\n Apt. 4\n Springfield, IL 62704 today', key: 'note', whole: false };
  cand.end = cand.text.indexOf(' today');
  const v1 = featureStrings(cand, 'pano-span-v1');
  const v2 = featureStrings(cand, 'pano-span-v2');
  assert.deepEqual(v2.slice(v2.length - v1.length), v1);
  for (const f of ['lines:3', 'unitline', 'state-zip', 'case:mixed', 'textcase:mixed', 'two-numbers']) assert.ok(v2.includes(f), f);
  assert.ok(!v2.includes('postbox'));
});

test('lexicon classes: sections, commonness, case, possessives and full stops', () => {
  // faker's given names hold Clement, its family names Smith; SCOWL's level-10 words hold "the"
  assert.match(lexClass('Clement'), /^g/);
  assert.match(lexClass('SMITH'), /f/);
  assert.match(lexClass("Smith's"), /f/);
  assert.match(lexClass('Germany'), /p/);
  assert.match(lexClass('Avenue'), /s/);
  assert.match(lexClass('GmbH'), /o/);
  assert.equal(lexClass('the'), 'c1');
  assert.equal(lexClass('The.'), 'c1');
  assert.match(lexClass('stadium'), /^c[123]$/);
  assert.equal(lexClass('Xqzzvtl'), 'u');
});

test('v3 features add the lexicon classes of the span and its neighbours to v2', () => {
  const text = 'thanks to Clement Smith today';
  const cand: Candidate = { start: 10, end: 23, text, key: 'comment', whole: false };
  const v2 = featureStrings(cand, 'pano-span-v2');
  const v3 = featureStrings(cand, 'pano-span-v3');
  assert.deepEqual(v3.slice(0, v2.length), v2);
  const lx = v3.slice(v2.length);
  const [g, f, b, a] = [lexClass('Clement'), lexClass('Smith'), lexClass('to'), lexClass('today')];
  assert.deepEqual(lx, [`lx:${g}`, `lx:${f}`, `lx0:${g}`, `lxl:${f}`, `LX:${g}_${f}`, `lxb:${b}`, `lxa:${a}`]);
});

test('the checked-in lexicon is what scripts/pii/build-lexicon.ts makes of the installed word lists', () => {
  const root = process.env.PANO_ROOT ?? process.cwd();
  const r = spawnSync(process.execPath, ['--import', 'tsx', resolve(root, 'scripts/pii/build-lexicon.ts'), '--check'], { encoding: 'utf8', cwd: root });
  assert.equal(r.status, 0, r.stderr);
});

test('a class of the model that is not a PII type (organization, location) is never a finding', async () => {
  // a model trained with entity classes of its own beside names: "Acme Corp" is its organization, "Alice" its name
  const text = 'Alice joined Acme Corp in Paris';
  const stub: SpanModel = {
    labels: ['none', 'person_name', 'street_address', 'organization', 'location'],
    score: async (cs) => cs.map((c) => {
      const span = text.slice(c.start, c.end);
      return span === 'Alice' ? ['person_name', 0.9] : span === 'Acme Corp' ? ['organization', 0.95] : span === 'Paris' ? ['location', 0.97] : ['none', 0.99];
    }),
  };
  const s = new EventScanner({ key: Buffer.alloc(32), model: stub });
  const p = s.collect({ comment: text } as Record<string, unknown>);
  assert.ok(p.candidates.length >= 3, `candidates: ${p.candidates.length}`);
  await s.scoreCandidates([p]);
  assert.deepEqual(s.finish(p).map((x) => [x.type, text.slice(x.start, x.end)]), [['person_name', 'Alice']]);
});

test('of two model hits of one type, one inside the other, the longer is kept unless the part is clearly more probable', async () => {
  // "Ben" alone scores higher than "Ben Player", as parts of names do: the part must not win
  const text = 'In fact Ben Player won';
  const stub: SpanModel = {
    labels: ['none', 'person_name', 'street_address'],
    score: async (cs) => cs.map((c) => {
      const span = text.slice(c.start, c.end);
      return span === 'Ben' ? ['person_name', 0.9] : span === 'Ben Player' ? ['person_name', 0.8] : ['none', 0.99];
    }),
  };
  const s = new EventScanner({ key: Buffer.alloc(32), model: stub });
  const p = s.collect({ comment: text } as Record<string, unknown>);
  await s.scoreCandidates([p]);
  assert.deepEqual(s.finish(p).map((x) => text.slice(x.start, x.end)), ['Ben Player']);
  // ...but a part clearly more probable than the whole wins ("Marie" against "Hello Marie")
  const hello = 'Hello Marie';
  const sure: SpanModel = { labels: stub.labels, score: async (cs) => cs.map((c) => (c.end - c.start === 5 ? ['person_name', 0.99] : ['person_name', 0.64])) };
  const s2 = new EventScanner({ key: Buffer.alloc(32), model: sure });
  const p2 = s2.collect({ comment: hello } as Record<string, unknown>);
  await s2.scoreCandidates([p2]);
  assert.deepEqual(s2.finish(p2).map((x) => hello.slice(x.start, x.end)), ['Marie']);
});

test('no name candidates in token headers, protocol status texts, binary values and CSS font lists', () => {
  // from the corpus captures: `br`/`gzip` in accept-encoding, `Apache` in server, `Moved Temporarily`,
  // AMQP's `Normal shutdown`, two-letter "names" in compressed bodies, fonts in inline CSS
  const recorder: SpanModel = { labels: ['none', 'person_name', 'street_address'], score: async (cs) => cs.map(() => ['none', 0.99]) };
  const s = new EventScanner({ key: Buffer.alloc(32), model: recorder });
  const ev = {
    http: {
      request: { header: { 'accept-encoding': ['gzip, deflate, br'], 'x-customer': ['Maria Gonzalez'] } },
      response: { reason: 'Moved Temporarily', header: { server: ['Apache'], 'content-type': ['Text/Html'] } },
    },
    amqp: { arguments: { reply_text: 'Normal shutdown' } },
  } as Record<string, unknown>;
  const p = s.collect(ev);
  const paths = (p.candidates as Array<{ slot: { path: string } }>).map((c) => c.slot.path);
  assert.deepEqual([...new Set(paths)], ['http.request.header.x-customer[0]']);
  const binary = 'R}\ufffd\ufffdihf\ufffd\u001b}\ufffdT|\ufffd\ufffd,]\ufffd\ufffd_ Dj Ly \ufffd\ufffd\ufffd\ufffd7\u0006\ufffd@q\ufffd\t\ufffdv\ufffdz\ufffdh[';
  assert.deepEqual(nameCandidates(binary, 'content', 0), []);
  const css = 'body { font-family: Arial,Helvetica,"Helvetica Neue"; } pre{font:11px Menlo,Monaco} <p>Written by Jon Siwek</p>';
  const spans = nameCandidates(css, 'content', 0).map((c) => css.slice(c.start, c.end));
  assert.ok(spans.includes('Jon Siwek'), spans.join('|'));
  for (const font of ['Arial', 'Helvetica', 'Helvetica Neue', 'Menlo', 'Monaco']) assert.ok(!spans.includes(font), font);
});

test("no name candidate is or holds the event's own protocol or system (`Hello Kafka` in a Kafka record)", () => {
  const recorder: SpanModel = { labels: ['none', 'person_name', 'street_address'], score: async (cs) => cs.map(() => ['none', 0.99]) };
  const s = new EventScanner({ key: Buffer.alloc(32), model: recorder });
  const spans = (ev: Record<string, unknown>) => (s.collect(ev).candidates as Array<{ cand: { text: string; start: number; end: number } }>).map(({ cand }) => cand.text.slice(cand.start, cand.end));
  const kafka = { pano: { protocol: 'kafka' }, messaging: { system: 'kafka', message: { body: { content: 'Hello Kafka from Maria' } } } };
  // neither `Kafka` nor `Hello Kafka` (the product's name as one of its words); the person after it stays
  assert.deepEqual(spans(kafka).filter((t) => /Kafka/.test(t)), []);
  assert.ok(spans(kafka).includes('Maria'), spans(kafka).join('|'));
  const redis = { pano: { protocol: 'redis' }, db: { system: { name: 'redis' } }, redis: { args: ['Redis', 'Maria Gonzalez'] } };
  assert.ok(!spans(redis).includes('Redis'));
  assert.ok(spans(redis).includes('Maria Gonzalez'));
  // in another system's event the word is a candidate like any other
  const http = { pano: { protocol: 'http' }, http: { request: { body: { content: 'Hello Kafka' } } } };
  assert.ok(spans(http).includes('Kafka'));
});

test('a model declaring an unknown feature set is refused', async () => {
  const file = join(dir, 'v9.onnx');
  writeFileSync(file, buildOnnx(new Float32Array(16 * 3), new Float32Array(3), { 'pano.features': 'pano-span-v9', 'pano.dim': '16', 'pano.k': '64', 'pano.labels': 'none,person_name,street_address' }));
  await assert.rejects(OnnxSpanModel.load(file), /features "pano-span-v9" unsupported/);
});

test('candidates: titles, possessives, sentence ends, lower-case text, post boxes, quoted address lines', () => {
  const spans = (t: string) => nameCandidates(t, 'comment', 0).map((c) => t.slice(c.start, c.end));
  assert.ok(spans('Hello, this is Mr. Derek Crnić. Who are you?').includes('Mr. Derek Crnić'));
  assert.ok(spans('from Elizabeth Mitchell\'s Cautionary Tales').includes('Elizabeth Mitchell'));
  assert.ok(spans('Producer Sandy Lahtela explained').includes('Sandy Lahtela'));
  // a closing quote of SQL or a Python repr is not part of the name
  assert.deepEqual(spans("WHERE plant_name = 'Zeeky'"), ['Zeeky']);
  assert.deepEqual(spans('why is yulan so impulsive?'), ['yulan', 'impulsive']);
  assert.deepEqual(spans('WAS THAT ELEKTRA ! ! !'), ['ELEKTRA']);
  // a name capitalised inside lower-case prose stays one run, not its pieces
  assert.deepEqual(spans('a talk by Teresa de Vaan will be in the conference'), ['talk', 'Teresa de Vaan', 'de Vaan', 'conference']);
  assert.ok(spans('have you been to a claudia nakajima concert before?').includes('claudia nakajima'));
  assert.ok(spans('sent to PSC 7951, Box 9972\nAPO AA 69974?').includes('PSC 7951, Box 9972\nAPO AA 69974'));
  assert.ok(spans('The bus station is on P.O. Box 104').includes('P.O. Box 104'));
  assert.ok(spans('> 42 Kromwater 38\n> Apt. 705\n> Zoetermeer').includes('42 Kromwater 38\n> Apt. 705\n> Zoetermeer'));
  assert.ok(spans('Verda lives on 33 avenue de Provence street.').includes('33 avenue de Provence street'));
  // an address is also cut after each line, so a trailing phone line cannot hide it; blank lines inside are kept
  const blank = spans('Harry\n\n515 385 Gemsbok St\n Apt. 460\n\n South Africa 89082\n082 490 1693-Office');
  assert.ok(blank.includes('515 385 Gemsbok St\n Apt. 460\n\n South Africa 89082'), blank.join(' | '));
  // an address ends where a sentence does
  assert.ok(spans('I lived in 178 Piermark Drive\n Albany 79879. I now live in Oslo').includes('178 Piermark Drive\n Albany 79879'));
  // a one-word lower-case value (an enum, a status) or a header list is no candidate
  assert.deepEqual(spans('pending'), []);
  assert.deepEqual(spans('gzip,deflate'), []);
  // identifiers in name fields are not candidates; names are
  const whole = (t: string) => nameCandidates(t, 'name', Hint.name).map((c) => t.slice(c.start, c.end));
  assert.deepEqual(whole('deepflow-server-0'), []);
  assert.deepEqual(whole('CognitoCore.tasks.executePolicy'), []);
  assert.deepEqual(whole('J. R. Tolkien'), ['J. R. Tolkien']);
  assert.deepEqual(whole('dc648715-2525-5734-a14e-4cc17e7dc2ec'), []);
  assert.deepEqual(whole(' Chris Sanders '), ['Chris Sanders']);
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

test('the shipped model tells people it never saw from places it never saw, by how their words are used', async () => {
  // sentences written for this test; none of these words is in the lexicon's name or place lists as used here.
  // The v3 model (no word clusters) called Wembley and Kadamba people.
  const model = await OnnxSpanModel.load(BUILTIN_MODEL);
  const s = new EventScanner({ key: Buffer.alloc(32), model });
  const names = async (text: string) => {
    const p = s.collect({ message: { body: text } } as Record<string, unknown>);
    await s.scoreCandidates([p]);
    return s.finish(p).filter((f) => f.type === 'person_name').map((f) => text.slice(f.start, f.end));
  };
  assert.deepEqual(await names('The proof follows a lemma of Calabi from 1957.'), ['Calabi']);
  assert.deepEqual(await names('The striker Tevez scored twice.'), ['Tevez']);
  assert.deepEqual(await names('Our delivery driver Okonkwo called twice.'), ['Okonkwo']);
  assert.deepEqual(await names('Tickets for the Wembley final sold out.'), []);
  assert.deepEqual(await names('Shipped to the Kadamba warehouse.'), []);
  assert.deepEqual(await names('The ferry crosses the Mandovi river at dawn.'), []);
});

test('protocol objects called `name` (result columns, queues) are no name candidates, rows still are', async () => {
  // from mysql/zeek-many-query-attrs.pcap: the grant table's column names came out as person names
  const model = await OnnxSpanModel.load(BUILTIN_MODEL);
  const s = new EventScanner({ key: Buffer.alloc(32), model });
  const ev = {
    mysql: { columns: [{ name: 'Host' }, { name: 'Db' }, { name: 'Grantor' }, { name: 'Table_name' }] },
    messaging: { destination: { name: 'Grantor' } },
    db: { response: { rows: [{ name: 'Maria Gonzalez' }] } },
  } as Record<string, unknown>;
  const p = s.collect(ev);
  await s.scoreCandidates([p]);
  assert.deepEqual(s.finish(p).map((f) => [f.type, f.path]), [['person_name', 'db.response.rows[0].name']]);
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
