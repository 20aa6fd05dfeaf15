// A multipart/form-data body (RFC 7578) is cut at the boundary its Content-Type names, and each
// field's value is scanned with the context of its name at `$.name`, as a form field's is: a name, a
// password or a date of birth that only the field's name tells is found. A file, a part of a non-text
// type, and what lies outside the parts are scanned as text, as the whole body was before. The oracle
// for what the body holds, and for what a redacted body still is, is undici's multipart parser
// (Response#formData), as a server reads it; the live test posts with `curl -F`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventScanner, type RedactMode } from '@panopticon/pii';
import { curlCapture } from '../helpers/curl-capture.js';
import { redactedTexts } from '../helpers/redacted.js';

const key = Buffer.alloc(32, 5);
const hmac8 = (type: string, v: string) => createHmac('sha256', key).update(type).update('\0').update(v).digest('hex').slice(0, 8);
const BOUNDARY = '----formdata-test-7MA4YWxkTrZu0gW';
const CT = `multipart/form-data; boundary=${BOUNDARY}`;

/** A multipart body of `parts` ([headers, value]), with a preamble, as RFC 2046 writes it. */
function multipart(parts: Array<[string, string]>, boundary = BOUNDARY, preamble = ''): string {
  return `${preamble ? preamble + '\r\n' : ''}${parts.map(([h, v]) => `--${boundary}\r\n${h}\r\n\r\n${v}\r\n`).join('')}--${boundary}--\r\n`;
}
const field = (name: string, value: string): [string, string] => [`Content-Disposition: form-data; name="${name}"`, value];

const httpEvent = (body: string, ct = CT) => ({
  pano: { v: 1, id: '1-1', kind: 'exchange', protocol: 'http', start_ns: '1', end_ns: '2', duration_ns: 1, time: '', source: { type: 'pcap' }, connection: { id: 1, roles: 'syn' } },
  http: { request: { method: 'POST', header: { 'content-type': [ct] }, body: { size: body.length, content: body } } },
}) as Record<string, any>;

/** The fields of a multipart body as a server's parser reads them. */
async function formData(body: string, ct = CT): Promise<Array<[string, string]>> {
  const f = await new Response(body, { headers: { 'content-type': ct } }).formData();
  const out: Array<[string, string]> = [];
  for (const [k, v] of f) out.push([k, typeof v === 'string' ? v : `file:${v.name}:${Buffer.from(await v.arrayBuffer()).toString('latin1')}`]);
  return out;
}

const BODY = multipart([
  field('email', 'alice@example.org'),
  field('full_name', 'Alice Smith'),
  field('password', 'hunter2-Secret'),
  field('dob', '1990-02-03'),
  field('comment', 'call me'),
  ['Content-Disposition: form-data; name="cv"; filename="cv.txt"\r\nContent-Type: text/plain', 'Alice Smith, bob@example.net'],
  ['Content-Disposition: form-data; name="blob"\r\nContent-Type: application/octet-stream', 'pw carol@example.com'],
]);

test('each field of a multipart body is found with its name as context at $.name; files and binary parts as text', async () => {
  // the oracle's reading of the body (the preamble is no field)
  const fields = await formData(BODY);
  assert.deepEqual(fields.map(([k]) => k), ['email', 'full_name', 'password', 'dob', 'comment', 'cv', 'blob']);
  const value = (k: string) => fields.find(([n]) => n === k)![1];
  const s = new EventScanner({ key, hashValues: true });
  const ev = httpEvent(BODY);
  const found = s.finish(s.collect(ev));
  const text = (f: { path: string; start: number; end: number }) => {
    const m = /\$\.(\w+)$/.exec(f.path);
    return (m ? value(m[1]!) : BODY).slice(f.start, f.end);
  };
  assert.deepEqual(found.map((f) => [f.type, f.path, text(f), f.detector]), [
    ['email', 'http.request.body.content$.email', 'alice@example.org', 'regex'],
    ['person_name', 'http.request.body.content$.full_name', 'Alice Smith', 'context'],
    ['password', 'http.request.body.content$.password', 'hunter2-Secret', 'context'],
    ['date_of_birth', 'http.request.body.content$.dob', '1990-02-03', 'context'],
    // the name the full_name field gave, again in the file (Repeats)
    ['person_name', 'http.request.body.content', 'Alice Smith', 'repeat'],
    // the file's content and the binary part: as text, at the body's path with offsets into it; no field context
    ['email', 'http.request.body.content', 'bob@example.net', 'regex'],
    ['email', 'http.request.body.content', 'carol@example.com', 'regex'],
  ]);
  assert.equal(found.find((f) => f.type === 'password')!.valueHash, createHmac('sha256', key).update('password').update('\0').update('hunter2-Secret').digest('hex'));
});

test('a redacted multipart body is still one a server reads, each field replaced in place or its part removed', async () => {
  const out = (mode: RedactMode) => {
    const s = new EventScanner({ key, redact: mode });
    const ev = httpEvent(BODY);
    s.finish(s.collect(ev));
    return ev.http.request.body.content as string;
  };
  assert.deepEqual(await formData(out('mask')), [
    ['email', '<email:*****@*******.***>'],
    ['full_name', '<person_name:***** *****>'],
    ['password', '<password:*******-******>'],
    ['dob', '<date_of_birth:****-**-**>'],
    ['comment', 'call me'],
    ['cv', 'file:cv.txt:<person_name:***** *****>, <email:***@*******.***>'],
    ['blob', 'pw <email:*****@*******.***>'],
  ]);
  assert.deepEqual((await formData(out('hash'))).slice(0, 4), [
    ['email', `<email:${hmac8('email', 'alice@example.org')}>`],
    ['full_name', `<person_name:${hmac8('person_name', 'Alice Smith')}>`],
    ['password', `<password:${hmac8('password', 'hunter2-Secret')}>`],
    ['dob', `<date_of_birth:${hmac8('date_of_birth', '1990-02-03')}>`],
  ]);
  // drop: the parts that held something go whole
  assert.deepEqual(await formData(out('drop')), [['comment', 'call me']]);
});

test('a preamble is text at the body\'s path, its offsets into the body; dropped alone under --redact drop', () => {
  const body = multipart([field('comment', 'hi'), field('password', 'hunter2-Secret')], BOUNDARY, 'mail dave@example.com');
  const s = new EventScanner({ key });
  assert.deepEqual(s.finish(s.collect(httpEvent(body))).map((f) => [f.path, f.start, f.end]), [
    ['http.request.body.content', body.indexOf('dave@'), body.indexOf('.com') + 4],
    ['http.request.body.content$.password', 0, 'hunter2-Secret'.length],
  ]);
  const d = new EventScanner({ key, redact: 'drop' });
  const ev = httpEvent(body);
  d.finish(d.collect(ev));
  // by hand: the preamble and its CRLF's line gone, the password's part gone, the comment's part and the close delimiter left
  assert.equal(ev.http.request.body.content, `\r\n--${BOUNDARY}\r\nContent-Disposition: form-data; name="comment"\r\n\r\nhi\r\n--${BOUNDARY}--\r\n`);
});

test('only the Content-Type\'s boundary cuts the body; another type leaves it text', () => {
  const other = multipart([field('password', 'hunter2-Secret'), field('full_name', 'Alice Smith')], 'other-boundary');
  // a boundary named by the Content-Type that the body does not use, and a body with no multipart type: text as before
  for (const ev of [httpEvent(other), httpEvent(other, 'text/plain')]) {
    const s = new EventScanner({ key });
    assert.deepEqual(s.finish(s.collect(ev)), [], JSON.stringify(ev.http.request.header));
  }
  // a line starting with the boundary inside a value, with more after it on the line, is no delimiter (RFC 2046 §5.1.1)
  const inner = multipart([field('password', `x\r\n--${BOUNDARY}x\r\nhunter`), field('full_name', 'Alice Smith')]);
  const s = new EventScanner({ key });
  const found = s.finish(s.collect(httpEvent(inner)));
  assert.deepEqual(found.map((f) => [f.path, f.start, f.end]), [
    ['http.request.body.content$.password', 0, `x\r\n--${BOUNDARY}x\r\nhunter`.length],
    ['http.request.body.content$.full_name', 0, 11],
  ]);
});

test('a field named by personal data is a key finding at $[key#N], renamed in the redacted body; a body cut short keeps its fields', async () => {
  const body = multipart([field('comment', 'hi'), field('alice@example.org', 'yes')]);
  const s = new EventScanner({ key, redact: 'mask' });
  const ev = httpEvent(body);
  const found = s.finish(s.collect(ev));
  assert.deepEqual(found.map((f) => [f.path, f.start, f.end, f.key]), [['http.request.body.content$[key#1]', 0, 17, true]]);
  assert.deepEqual(await formData(ev.http.request.body.content), [['comment', 'hi'], ['<email:*****@*******.***>', 'yes']]);
  // cut at --max-body inside the last value: that value is still the field's
  const cut = multipart([field('comment', 'hi'), field('password', 'hunter2-Secret')]).slice(0, -30);
  const c = new EventScanner({ key });
  assert.deepEqual(c.finish(c.collect(httpEvent(cut))).map((f) => [f.type, f.path]), [['password', 'http.request.body.content$.password']]);
});

test('parts past the bound are scanned as text: what they hold is found, without field context', () => {
  const parts = Array.from({ length: 4096 }, (_, i) => field(`f${i}`, 'x'));
  const body = multipart([...parts, field('email', 'alice@example.org'), field('password', 'hunter2-Secret')]);
  const s = new EventScanner({ key, redact: 'mask' });
  const ev = httpEvent(body);
  const found = s.finish(s.collect(ev));
  assert.deepEqual(found.map((f) => [f.type, f.path, body.slice(f.start, f.end)]), [['email', 'http.request.body.content', 'alice@example.org']]);
  assert.ok(!ev.http.request.body.content.includes('alice@'));
});

const missing = ['/usr/bin/curl', '/usr/bin/tcpdump'].filter((p) => !existsSync(p));

test('a curl -F POST to a local server, captured and parsed: each field found by its name, redacted under every mode', { skip: missing.length ? `missing ${missing.join(', ')}` : false }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pano-pii-multipart-'));
  const file = join(dir, 'note.txt');
  writeFileSync(file, 'from bob@example.net');
  const seen: Array<Array<[string, string]>> = [];
  const events = await curlCapture(
    (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (d) => chunks.push(d));
      req.on('end', async () => {
        seen.push(await formData(Buffer.concat(chunks).toString('latin1'), req.headers['content-type']));
        res.end('ok');
      });
    },
    (base) => [['-F', 'email=alice@example.org', '-F', 'full_name=Alice Smith', '-F', 'password=hunter2-Secret', '-F', 'dob=1990-02-03', '-F', `note=@${file}`, `${base}/signup`]],
  ).finally(() => rmSync(dir, { recursive: true, force: true }));
  assert.deepEqual(seen, [[['email', 'alice@example.org'], ['full_name', 'Alice Smith'], ['password', 'hunter2-Secret'], ['dob', '1990-02-03'], ['note', 'file:note.txt:from bob@example.net']]]);
  assert.equal(events.length, 1);
  const ev = events[0]!;
  assert.match(ev.http.request.header['content-type'][0], /^multipart\/form-data; boundary=/);
  const s = new EventScanner({ key });
  const found = s.finish(s.collect(structuredClone(ev)));
  const body = ev.http.request.body.content as string;
  const text = (f: { path: string; start: number; end: number }) => (f.path.includes('$.') ? seen[0]!.find(([k]) => f.path.endsWith('$.' + k))![1] : body).slice(f.start, f.end);
  assert.deepEqual(found.map((f) => [f.type, f.path, text(f)]), [
    ['email', 'http.request.body.content$.email', 'alice@example.org'],
    ['person_name', 'http.request.body.content$.full_name', 'Alice Smith'],
    ['password', 'http.request.body.content$.password', 'hunter2-Secret'],
    ['date_of_birth', 'http.request.body.content$.dob', '1990-02-03'],
    // the file, as text at the body's path
    ['email', 'http.request.body.content', 'bob@example.net'],
  ]);
  for (const [mode, out] of redactedTexts(events, key)) {
    for (const v of ['alice@example.org', 'Alice Smith', 'hunter2-Secret', '1990-02-03', 'bob@example.net']) assert.ok(!out.includes(v), `${mode}: ${v} left`);
  }
});
