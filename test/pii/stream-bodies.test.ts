// Bodies that are streams of JSON documents: NDJSON (a document per line), Server-Sent Events (a
// document per `data:` line, as streaming chat and LLM APIs send them) and Socket.IO packets
// (`42["event",{...}]` over WebSocket). Each document is walked as JSON, so a value gets the context of
// its key (a name, a password, a date of birth, which the text alone does not show) and its path
// (`$[n]$.user.email`); the text around the documents is scanned as text. Redaction writes each
// document back in place, so the stream keeps its lines and framing. The live test streams real
// SSE from a Node server to curl on loopback, through pano-parse and pano-pii.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { EventScanner, type RedactMode } from '@panopticon/pii';
import { curlCapture } from '../helpers/curl-capture.js';

const key = Buffer.from('0123456789abcdef0123456789abcdef');
const user = { name: 'Alice Smith', password: 'hunter2xyz', dob: '1984-03-12', email: 'alice.smith@example.org' };
const USER = JSON.stringify({ user });

const httpEvent = (contentType: string, content: string) => ({
  pano: { v: 1, id: '1-1', kind: 'exchange', protocol: 'http' },
  http: { response: { header: { 'content-type': [contentType] }, body: { size: content.length, content } } },
}) as Record<string, any>;
const wsEvent = (content: string) => ({
  pano: { v: 1, id: '1-2', kind: 'message', protocol: 'websocket' },
  websocket: { sender: 'client', opcode: 'text', frames: 1, message: { size: content.length, body: { size: content.length, content } } },
}) as Record<string, any>;

function scan(ev: Record<string, any>, redact?: RedactMode) {
  const s = new EventScanner({ key, redact });
  const found = s.finish(s.collect(ev));
  return found.map((f) => [f.type, f.path, f.detector]);
}

const BY_KEY = (at: string) => [
  ['person_name', `${at}.user.name`, 'context'],
  ['password', `${at}.user.password`, 'context'],
  ['date_of_birth', `${at}.user.dob`, 'context'],
  ['email', `${at}.user.email`, 'regex'],
];

test('NDJSON: every line a document, its values found by their keys at $[n]; a line cut at --max-body is text', () => {
  const body = `{"seq":1}\n${USER}\r\n\n${USER.slice(0, 12)}`;
  assert.deepEqual(scan(httpEvent('application/x-ndjson', body)), BY_KEY('http.response.body.content$[1]$'));
  // the same document alone in the body: the same findings at $ (nothing lost against a plain JSON body)
  assert.deepEqual(scan(httpEvent('application/json', USER)), BY_KEY('http.response.body.content$'));
});

test('Server-Sent Events: each data line\'s document walked; an address in another line found as text, at its offsets in the body', () => {
  const body = `: keep-alive\nevent: reply for bob@example.net\nid: 7\ndata: ${USER}\n\ndata: [DONE]\n\n`;
  const ev = httpEvent('text/event-stream', body);
  const s = new EventScanner({ key });
  const found = s.finish(s.collect(ev));
  assert.deepEqual(found.map((f) => [f.type, f.path, f.detector]), [['email', 'http.response.body.content', 'regex'], ...BY_KEY('http.response.body.content$[0]$')]);
  const [e] = found;
  assert.equal(body.slice(e!.start, e!.end), 'bob@example.net');
});

test('Socket.IO over WebSocket: the packet type digits, then the event array walked as JSON', () => {
  assert.deepEqual(scan(wsEvent(`42["chat",${USER}]`)), BY_KEY('websocket.message.body.content$[0]$[1]'));
  assert.deepEqual(scan(wsEvent(`42/admin,17["chat",${USER}]`)), BY_KEY('websocket.message.body.content$[0]$[1]'));
  // digits with no JSON after them are text
  assert.deepEqual(scan(wsEvent('42 alice.smith@example.org')), [['email', 'websocket.message.body.content', 'regex']]);
  // Engine.IO 4 long-polling: packets joined by the record separator 0x1e, each walked
  assert.deepEqual(scan(httpEvent('text/plain; charset=UTF-8', `0{"sid":"lv_VI97HAXpY6yYWAAAC"}\x1e42["chat",${USER}]`)), BY_KEY('http.response.body.content$[1]$[1]'));
  // a packet that is not one (no JSON after its head) leaves the whole payload text
  assert.deepEqual(scan(httpEvent('text/plain', `42["x"]\x1e3probe alice.smith@example.org`)), [['email', 'http.response.body.content', 'regex']]);
});

test('redaction writes each document back in place: lines, data fields and packet types stay; every document still parses', () => {
  const ndjson = `{"seq":1}\n${USER}\n`;
  const sse = `event: message\ndata: ${USER}\n\ndata: [DONE]\n\n`;
  const sio = `42["chat",${USER}]`;
  for (const mode of ['mask', 'hash', 'drop'] as RedactMode[]) {
    const a = httpEvent('application/x-ndjson', ndjson);
    scan(a, mode);
    const lines = (a.http.response.body.content as string).split('\n');
    assert.equal(lines.length, 3, mode);
    assert.equal(lines[0], '{"seq":1}');
    const doc = JSON.parse(lines[1]!);
    assert.ok(!lines[1]!.includes('Alice') && !lines[1]!.includes('hunter2') && !lines[1]!.includes('alice.smith'), `${mode}: ${lines[1]}`);
    if (mode === 'drop') assert.deepEqual(doc, { user: {} });
    else assert.deepEqual(Object.keys(doc.user), ['name', 'password', 'dob', 'email']);

    const b = httpEvent('text/event-stream', sse);
    scan(b, mode);
    const text = b.http.response.body.content as string;
    assert.match(text, /^event: message\ndata: \{.*\}\n\ndata: \[DONE\]\n\n$/, mode);
    JSON.parse(text.split('\n')[1]!.slice('data: '.length));
    assert.ok(!text.includes('hunter2'), mode);

    const c = wsEvent(sio);
    scan(c, mode);
    const packet = c.websocket.message.body.content as string;
    assert.ok(packet.startsWith('42["chat",'), packet);
    JSON.parse(packet.slice(2));
    assert.ok(!packet.includes('Alice Smith'), packet);
  }
});

test('curl reading a real event stream from a Node server (text/event-stream, chunks as they come): pano-parse keeps it whole, pano-pii walks each data line\'s document', { skip: existsSync('/usr/bin/curl') && existsSync('/usr/bin/tcpdump') ? false : 'missing curl or tcpdump' }, async () => {
  const chunks = [`data: ${JSON.stringify({ delta: { content: 'Hello' } })}\n\n`, `data: ${USER}\n\n`, 'data: [DONE]\n\n'];
  const events = await curlCapture((req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    let i = 0;
    const next = () => (i < chunks.length ? (res.write(chunks[i++]), setTimeout(next, 20)) : res.end());
    next();
  }, (base) => [['-N', `${base}/v1/chat/completions`]]);
  const ev = events.find((e) => e.http?.response?.status_code === 200)!;
  assert.equal(ev.http.response.body.content, chunks.join(''));
  assert.deepEqual(scan(ev), BY_KEY('http.response.body.content$[1]$'));
});
