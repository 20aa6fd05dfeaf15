// Numbers in JSON bodies are scanned as the text the body wrote, and a body written back after redaction
// keeps every number it does not redact as it came: JSON.parse rounds an integer beyond 2^53, which hid a
// 19-digit card number from the scan, left its first 15 digits in the redacted body and changed ids.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { EventScanner, JsonNumber, parseJsonPrefix, serialiseJsonPrefix, type RedactMode } from '@panopticon/pii';

const key = Buffer.from('0123456789abcdef0123456789abcdef');
const token = (type: string, v: string) => `<${type}:${createHmac('sha256', key).update(type).update('\0').update(v).digest('hex').slice(0, 8)}>`;
// Luhn-valid, 19 digits, beyond 2^53 (JSON.parse reads 6212345678901234000)
const CARD = '6212345678901234569';

function bodyEvent(content: string) {
  return {
    pano: { v: 1, id: '1-1', kind: 'exchange', protocol: 'http' },
    http: { request: { method: 'POST', header: { 'content-type': ['application/json'] }, body: { size: content.length, content } } },
  } as Record<string, any>;
}

function scan(content: string, redact?: RedactMode) {
  const s = new EventScanner({ key, redact, hashValues: true });
  const ev = bodyEvent(content);
  const found = s.finish(s.collect(ev));
  return { found, out: ev.http.request.body.content as string };
}

test('an integer beyond 2^53 in a JSON body is scanned as the digits written: a 19-digit card number is found, masked to its own last four, hashed as written', () => {
  const { found } = scan(`{"card":${CARD}}`);
  assert.deepEqual(found.map((f) => [f.path, f.start, f.end, f.type, f.validator]), [['http.request.body.content$.card', 0, 19, 'credit_card', 'luhn+iin']]);
  assert.equal(found[0]!.valueHash, createHmac('sha256', key).update('credit_card').update('\0').update(CARD).digest('hex'));
  assert.equal(scan(`{"card":${CARD}}`, 'mask').out, '{"card":"<credit_card:***************4569>"}');
  assert.equal(scan(`{"card":${CARD}}`, 'hash').out, `{"card":"${token('credit_card', CARD)}"}`);
  // in an array, deep in the document, and beside a number that is not one
  const { found: more } = scan(`{"a":[1,{"b":[${CARD}]}],"n":12345678901234567891}`);
  assert.deepEqual(more.map((f) => f.path), ['http.request.body.content$.a[1].b[0]']);
});

test('a JSON body written back after redaction keeps every number it does not redact as it came', () => {
  const numbers = '"order_id":12345678901234567891,"neg":-98765432109876543210,"price":1.50,"tiny":0.10000000000000000001,"e":1e3,"z":-0,"big":1e400,"plain":42,"f":2.5,"list":[18014398509481985,7,3.0]';
  const text = `{"email":"a@example.org","card":${CARD},${numbers}}`;
  for (const mode of ['mask', 'hash', 'drop'] as const) {
    const { out } = scan(text, mode);
    const card = mode === 'drop' ? '' : `"card":${JSON.stringify(mode === 'mask' ? '<credit_card:***************4569>' : token('credit_card', CARD))},`;
    const email = mode === 'drop' ? '' : `"email":${JSON.stringify(mode === 'mask' ? '<email:*@*******.***>' : token('email', 'a@example.org'))},`;
    assert.equal(out, `{${email}${card}${numbers}}`, mode);
  }
  // a number is kept as written though nothing beyond 2^53 was scanned (the body is rewritten for the e-mail)
  assert.equal(scan('{"email":"a@example.org","price":1.50,"n":[0.10000000000000000001]}', 'mask').out, '{"email":"<email:*@*******.***>","price":1.50,"n":[0.10000000000000000001]}');
  // a body whose numbers JSON.parse holds exactly is written as before
  assert.equal(scan('{"email":"a@example.org","n":[1,2.5,-3,1234567]}', 'mask').out, '{"email":"<email:*@*******.***>","n":[1,2.5,-3,1234567]}');
});

test('numbers keep their text where a key holding personal data is renamed or dropped, and in a cut body', () => {
  const keyed = `{"alice@example.org":{"id":12345678901234567891,"n":1.50},"z":98765432109876543210}`;
  assert.equal(scan(keyed, 'mask').out, '{"<email:*****@*******.***>":{"id":12345678901234567891,"n":1.50},"z":98765432109876543210}');
  assert.equal(scan(keyed, 'drop').out, '{"z":98765432109876543210}');
  // cut at --max-body: walked by json-prefix.ts, which keeps the texts itself
  const cut = `{"order_id":12345678901234567891,"card":${CARD},"price":1.50,"note":"call a@exam`;
  const { found, out } = scan(cut, 'mask');
  assert.deepEqual(found.map((f) => [f.path, f.type]), [['http.request.body.content$.card', 'credit_card']]);
  assert.equal(out, '{"order_id":12345678901234567891,"card":"<credit_card:***************4569>","price":1.50,"note":"call a@exam');
  // the prefix parser's document: numbers a double gives back as numbers, others as their text
  const p = parseJsonPrefix('[1,2.5,1e+21,1e21,12345678901234567891,1.50,');
  const doc = p!.doc as unknown[];
  assert.deepEqual(doc.slice(0, 3), [1, 2.5, 1e21]);
  assert.deepEqual(doc.slice(3).map((v) => v instanceof JsonNumber && v.text), ['1e21', '12345678901234567891', '1.50']);
  assert.equal(serialiseJsonPrefix(p!), '[1,2.5,1e+21,1e21,12345678901234567891,1.50,');
});

test('an integer beyond 2^53 below the walk\'s depth bound is flagged and, under --redact, not written back', () => {
  // the number is the first thing past the bound (64 levels of arrays under the root object's "x")
  const deep = '['.repeat(64) + CARD + ']'.repeat(64);
  const s = new EventScanner({ key, redact: 'mask' });
  const ev = bodyEvent(`{"email":"a@example.org","x":${deep}}`);
  s.finish(s.collect(ev));
  assert.ok(ev.pano.flags.includes('pii_scan_cut'));
  assert.ok(!ev.http.request.body.content.includes('621234567890123'), ev.http.request.body.content);
});
