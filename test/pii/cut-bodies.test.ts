// JSON bodies that JSON.parse rejects (cut at --max-body, or followed by more text) are walked as far as
// they are whole, with paths and field context, and written back cut as they came (json-prefix.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventScanner, parseJsonPrefix, serialiseJsonPrefix } from '@panopticon/pii';

const DOCS: unknown[] = [
  { users: [{ name: 'John Smith', email: 'john@example.org', age: 41, admin: false, tags: ['a', 'b'], note: null }, { name: 'Zoë "Z" O\'Neil', path: 'C:\\tmp\\x', line: 'a\nb\tc', ctl: '\u0001', emoji: '😀' }] },
  [1, -2.5e3, 12.5, 1e21, -0.00025, true, null, 'x', [], {}, [[['deep']]], { a: { b: { c: 'd' } } }],
  { '': '', 'key with spaces': { 'ünï': [0, 10, 1234567890123] }, __proto__x: 'p' },
];

/** Every string or number leaf with its path. */
function leaves(v: unknown, path = '$', out = new Map<string, unknown>()): Map<string, unknown> {
  if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) leaves(x, `${path}/${k}`, out);
  else out.set(path, v);
  return out;
}

test('every cut of compact JSON: the whole leaves are those of the document, and it is written back as cut', () => {
  let parsed = 0;
  for (const doc of DOCS) {
    const text = JSON.stringify(doc);
    const full = leaves(doc);
    for (let k = 1; k < text.length; k++) {
      // bodies are decoded from UTF-8 cut at a character: no cut between the halves of a surrogate pair
      if (/[\ud800-\udbff]/.test(text[k - 1]!)) continue;
      const cut = text.slice(0, k);
      const p = parseJsonPrefix(cut);
      if (!p) {
        // nothing whole yet: a first key or value still being written
        assert.match(cut, /^[[{](?:"[^"]*"?:?|"[^"]*":[-\d.e]+|"[^"]*":[tfn][a-z]*|[-\d.e]+|[tfn][a-z]*)?$/, `k=${k} ${cut}`);
        continue;
      }
      parsed++;
      for (const [path, v] of leaves(p.doc)) {
        assert.ok(full.has(path), `k=${k}: ${path} is no leaf of the document`);
        const want = full.get(path);
        // the cut string is a beginning of the whole one; numbers that reach the cut are tail, not leaves
        if (p.partialString && typeof v === 'string' && v !== want) assert.ok(String(want).startsWith(v), `k=${k}: ${path} ${v} of ${want}`);
        else assert.equal(v, want, `k=${k}: ${path}`);
      }
      const back = serialiseJsonPrefix(p);
      // written back as it was, but for an escape cut in the middle, which is left out
      if (back !== cut) assert.match(cut.slice(back.length), /^\\(?:u[0-9a-f]{0,3})?$/, `k=${k}: ${cut} -> ${back}`);
      assert.ok(cut.startsWith(back), `k=${k}: ${cut} -> ${back}`);
    }
  }
  assert.ok(parsed > 200);
});

test('pretty-printed JSON cut anywhere keeps its structure; text after a whole document is its tail', () => {
  const text = JSON.stringify(DOCS[0], null, 2);
  const p = parseJsonPrefix(text.slice(0, text.indexOf('"admin"') + 3))!;
  assert.deepEqual(p.doc, { users: [{ name: 'John Smith', email: 'john@example.org', age: 41 }] });
  assert.equal(p.open.length, 3);
  assert.equal(p.tail, ',\n      "ad');
  const nd = parseJsonPrefix('{"a":1}\n{"b":"x@example.org"}\n')!;
  assert.deepEqual(nd.doc, { a: 1 });
  assert.deepEqual(nd.open, []);
  assert.equal(nd.tail, '\n{"b":"x@example.org"}\n');
  assert.equal(serialiseJsonPrefix(nd), '{"a":1}\n{"b":"x@example.org"}\n');
  // not JSON at all: left to the text scan
  assert.equal(parseJsonPrefix('[INFO] started'), undefined);
  assert.equal(parseJsonPrefix('{oops'), undefined);
  // a number or literal running to the cut may be cut itself: tail, not a value; so is one that the
  // cut leaves with what would continue it (`12.` of 12.5, `1e` of 1e5)
  assert.deepEqual(parseJsonPrefix('[1,2,12')!.doc, [1, 2]);
  assert.deepEqual(parseJsonPrefix('[1,2,12.')!.doc, [1, 2]);
  assert.deepEqual(parseJsonPrefix('[1,2,1e')!.doc, [1, 2]);
  assert.deepEqual(parseJsonPrefix('[1,2,1e+')!.doc, [1, 2]);
  assert.equal(parseJsonPrefix('[1,2,tr')!.tail, ',tr');
  // nesting past the parser's bound is left as text, closing brackets and all
  const deep = '['.repeat(300) + '"a@example.org"' + ']'.repeat(300);
  const d = parseJsonPrefix(deep)!;
  assert.equal(d.open.length, 256);
  assert.equal(serialiseJsonPrefix(d), deep);
});

const CUT = '{"users":[{"name":"John Smith","email":"john@example.org","dob":"1985-03-14"},{"name":"Mary Jones","password":"hunter2 horse","note":"alice\\u0040example.org"},{"name":"Bob Mart';

test('a cut JSON body is walked as JSON: paths, field context and decoded escapes, as when it is whole', () => {
  const es = new EventScanner({ key: Buffer.alloc(32) });
  const found = (content: string) => es.finish(es.collect({ http: { response: { body: { content } } } })).map((f) => `${f.type} ${f.path.replace('http.response.body.content', '')} ${f.start}-${f.end}`);
  const whole = found(CUT + '"}]}');
  assert.deepEqual(found(CUT), whole);
  assert.deepEqual(whole, [
    'person_name $.users[0].name 0-10', 'email $.users[0].email 0-16', 'date_of_birth $.users[0].dob 0-10',
    'person_name $.users[1].name 0-10', 'password $.users[1].password 0-13', 'email $.users[1].note 0-17',
    'person_name $.users[2].name 0-8',
  ]);
  // the tail (a key cut in the middle, text after the document) is scanned as text, at offsets into the field
  const tailed = CUT.slice(0, CUT.indexOf(',{"name":"Bob')) + '],"carol@example.org';
  const t = found(tailed);
  assert.equal(t.at(-1), `email  ${tailed.indexOf('carol')}-${tailed.length}`);
});

test('redaction writes a cut body back cut: mask, hash and drop, the tail included', () => {
  const redact = (mode: 'mask' | 'hash' | 'drop', content: string) => {
    const ev = { http: { response: { body: { content, truncated: true } } } };
    const es = new EventScanner({ key: Buffer.alloc(32), redact: mode });
    es.finish(es.collect(ev));
    return ev.http.response.body.content;
  };
  assert.equal(
    redact('mask', CUT),
    '{"users":[{"name":"<person_name:**** *****>","email":"<email:****@*******.***>","dob":"<date_of_birth:****-**-**>"},{"name":"<person_name:**** *****>","password":"<password:******* *****>","note":"<email:*****@*******.***>"},{"name":"<person_name:*** ****>',
  );
  assert.equal(redact('drop', CUT), '{"users":[{},{},{');
  const hashed = redact('hash', CUT);
  assert.match(hashed, /^\{"users":\[\{"name":"<person_name:[0-9a-f]{8}>",.*"name":"<person_name:[0-9a-f]{8}>$/);
  const tailed = '{"a":"b","carol@example.org';
  assert.equal(redact('mask', tailed), '{"a":"b","<email:*****@*******.***>');
  assert.equal(redact('drop', tailed), '{"a":"b"');
  // the cut string dropped: the whole string before it keeps its closing quote
  assert.equal(redact('drop', '{"note":"hello","password":"hunter2 hor'), '{"note":"hello"');
  assert.equal(redact('mask', '{"note":"hello","password":"hunter2 hor'), '{"note":"hello","password":"<password:******* ***>');
  // every item of the innermost open container dropped: no comma before its tail (`{,"z":12` is no JSON)
  assert.equal(redact('drop', '[{"card":"4111 1111 1111 1111"},{"card":4111111111111111,"z":12'), '[{},{"z":12');
  assert.equal(redact('drop', '{"a":{"email":"a@example.org", "z":12'), '{"a":{ "z":12');
  assert.equal(redact('drop', '{"a":1,"email":"a@example.org","z":12'), '{"a":1,"z":12');
  // nothing found: the text is left exactly as it came
  assert.equal(redact('mask', '{"a": "b", "c'), '{"a": "b", "c');
});
