// Real HTTP/2 traffic on loopback: node's http2 server (nghttp2) answering
// curl --http2-prior-knowledge and node's http2 client (with server push),
// captured with tcpdump, parsed, and compared with what both ends saw.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { gzipSync } from 'node:zlib';
import { isUtf8 } from 'node:buffer';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LoopbackCapture } from '../helpers/loopback-capture.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';

const run = promisify(execFile);
const missing = ['/usr/bin/curl', '/usr/bin/tcpdump', '/usr/bin/editcap', '/usr/bin/tshark'].filter((p) => !existsSync(p));
/** The capture of the first test, reused by the mid-stream test. */
let captured: string | undefined;
const dir = mkdtempSync(join(tmpdir(), 'pano-h2-'));
let server: http2.Http2Server;
let port = 0;

/** What the server saw, per request, in order. */
const seen: Array<{ method: string; path: string; headers: http2.IncomingHttpHeaders; body: string; status: number }> = [];

before(async () => {
  server = http2.createServer();
  server.on('stream', (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      const path = String(headers[':path']);
      const body = Buffer.concat(chunks).toString('utf8');
      let status = 200;
      if (path === '/missing') status = 404;
      seen.push({ method: String(headers[':method']), path, headers, body, status });
      if (path === '/page' && stream.pushAllowed) {
        stream.pushStream({ ':path': '/style.css' }, (err, push) => {
          if (err) return;
          push.respond({ ':status': 200, 'content-type': 'text/css' });
          push.end('body { color: red }');
        });
      }
      if (path === '/gz') {
        stream.respond({ ':status': 200, 'content-type': 'application/json', 'content-encoding': 'gzip' });
        stream.end(gzipSync(JSON.stringify({ email: 'someone@example.test' })));
        return;
      }
      stream.respond({ ':status': status, 'content-type': 'text/plain; charset=utf-8', 'x-served-by': 'node-h2' });
      stream.end(status === 404 ? 'not here' : `you sent ${body.length} bytes to ${path}`);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as { port: number }).port;
});

after(() => {
  server?.close();
  if (!process.env.PANO_KEEP) rmSync(dir, { recursive: true, force: true });
});

/** Header values carrying every octet node lets through (HTAB, 0x20-0x7e, 0x80-0xff), padded with
 * common letters so that nghttp2's encoder picks Huffman (it does when that is shorter). */
/** A field value as events show it: UTF-8 text when its octets are UTF-8, else the octets as latin1. */
function asObserved(latin1: string): string {
  const bytes = Buffer.from(latin1, 'latin1');
  return isUtf8(bytes) ? bytes.toString('utf8') : latin1;
}

function octetValues(): string[] {
  const out: string[] = [];
  for (let b = 0; b < 256; b++) {
    if (b !== 0x09 && (b < 0x20 || b === 0x7f)) continue;
    out.push(`aeiou${String.fromCharCode(b)}tsnr${String.fromCharCode(b)}aeiouaeiou`);
  }
  return out;
}

async function nodeClient(): Promise<{ pushed: string[]; sentOctets: string[] }> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  const pushed: string[] = [];
  session.on('stream', (push, headers) => {
    pushed.push(String(headers[':path']));
    push.resume();
  });
  const request = (headers: http2.OutgoingHttpHeaders, body?: string) =>
    new Promise<void>((resolve, reject) => {
      const req = session.request(headers);
      req.on('error', reject);
      req.on('response', () => {});
      req.resume();
      req.on('end', resolve);
      req.end(body);
    });
  const octets = octetValues();
  // 24 header fields per request, so HPACK's dynamic table fills, evicts and refills.
  for (let i = 0; i < octets.length; i += 24) {
    const h: http2.OutgoingHttpHeaders = { ':path': `/octets/${i}`, ':method': 'GET' };
    octets.slice(i, i + 24).forEach((v, k) => (h[`x-octet-${i + k}`] = Buffer.from(v, 'latin1').toString('latin1')));
    await request(h);
  }
  await request({ ':path': '/page', ':method': 'GET' });
  await request({ ':path': '/gz', ':method': 'GET' });
  await new Promise((r) => setTimeout(r, 100));
  await new Promise<void>((r) => session.close(r));
  return { pushed, sentOctets: octets };
}

test('curl and node http2 clients against node http2 server: events match both ends', { skip: missing.length ? `missing ${missing.join(', ')}` : false }, async () => {
  const file = join(dir, 'h2.pcap');
  const cap = new LoopbackCapture(file, `tcp port ${port}`);
  await cap.start();
  let client: Awaited<ReturnType<typeof nodeClient>>;
  try {
    const base = `http://127.0.0.1:${port}`;
    await run('curl', ['-s', '--http2-prior-knowledge', '-H', 'x-trace: abc123', '-A', 'curl-test/1', `${base}/hello?name=world`]);
    await run('curl', ['-s', '--http2-prior-knowledge', '-H', 'content-type: application/json', '--data', '{"card":"4111 1111 1111 1111"}', `${base}/echo`]);
    await run('curl', ['-s', '--http2-prior-knowledge', `${base}/missing`]);
    client = await nodeClient();
  } finally {
    await cap.stop();
  }
  captured = file;
  const { events } = parseCaptureSync(file);
  assertValidEvents(events);
  const h2 = events.filter((e: any) => e.pano.protocol === 'http2') as any[];
  const exchanges = h2.filter((e) => e.pano.kind === 'exchange');
  assert.equal(exchanges.length, seen.length, 'one exchange per request the server handled');
  for (const s of seen) {
    const [path, query] = s.path.split('?');
    const ev = exchanges.find((e) => e.url.path === path && (e.url.query ?? undefined) === query);
    assert.ok(ev, `event for ${s.path}`);
    assert.equal(ev.http.request.method, s.method);
    assert.equal(ev.http.response.status_code, s.status);
    assert.equal(ev.network.protocol.version, '2');
    assert.deepEqual(ev.pano.flags, undefined);
    for (const [name, value] of Object.entries(s.headers)) {
      if (name.startsWith(':')) continue;
      // node joins repeated fields; ours are arrays of the octets decoded as UTF-8 when they are
      const expected = asObserved(String(value));
      assert.deepEqual(ev.http.request.header[name], [expected], `${s.path} ${name}`);
    }
    if (s.body) assert.equal(ev.http.request.body.content, s.body);
  }
  const hello = exchanges.find((e) => e.url.path === '/hello');
  assert.deepEqual(hello.user_agent, { original: 'curl-test/1' });
  assert.equal(hello.http.response.body.content, 'you sent 0 bytes to /hello?name=world');
  assert.deepEqual(hello.http.response.header['x-served-by'], ['node-h2']);
  const gz = exchanges.find((e) => e.url.path === '/gz');
  assert.equal(gz.http.response.body.content_encoding, 'gzip');
  assert.deepEqual(JSON.parse(gz.http.response.body.content), { email: 'someone@example.test' });
  // Every octet value went through nghttp2's HPACK encoder and our decoder.
  const octetEvents = exchanges.filter((e) => e.url.path.startsWith('/octets/'));
  const decoded = new Map<string, string>();
  for (const e of octetEvents) for (const [k, v] of Object.entries<string[]>(e.http.request.header)) if (k.startsWith('x-octet-')) decoded.set(k, v[0]);
  assert.equal(decoded.size, client!.sentOctets.length);
  client!.sentOctets.forEach((v, i) => assert.equal(decoded.get(`x-octet-${i}`), asObserved(v), `octet value ${i}`));
  // Server push, as the node client received it.
  assert.deepEqual(client!.pushed, ['/style.css']);
  const pushes = h2.filter((e) => e.pano.kind === 'message');
  assert.equal(pushes.length, 1);
  assert.equal(pushes[0].url.path, '/style.css');
  assert.equal(pushes[0].http.response.body.content, 'body { color: red }');
  assert.equal(pushes[0].http2.push_promise_stream_id, exchanges.find((e) => e.url.path === '/page').http2.stream_id);
});

test('the same capture joined mid-connection: HPACK gaps reported, nothing guessed, requests recover', { skip: missing.length ? `missing ${missing.join(', ')}` : false }, async () => {
  assert.ok(captured, 'the first test produced a capture');
  // Cut the capture just before the frame carrying the third octet request: the
  // observer misses the preface, SETTINGS and the blocks that filled both HPACK tables.
  const { stdout } = await run('tshark', ['-r', captured!, '-d', `tcp.port==${port},http2`, '-Y', 'http2.headers.path == "/octets/48"', '-T', 'fields', '-e', 'frame.number']);
  const first = Number(stdout.trim().split('\n')[0]);
  assert.ok(first > 1);
  const cut = join(dir, 'h2-midstream.pcap');
  await run('editcap', ['-r', captured!, cut, `${first}-1000000`]);
  const { events } = parseCaptureSync(cut);
  assertValidEvents(events);
  const h2 = (events as any[]).filter((e) => e.pano.protocol === 'http2');
  const requests = h2.filter((e) => e.http?.request?.method);
  assert.ok(requests.length >= 4);
  for (const e of h2) {
    const path = e.url?.path;
    if (e.pano.kind === 'message') {
      assert.equal(path, '/style.css', 'the only push');
      continue;
    }
    const s = seen.find((x) => x.path === path);
    if (path !== undefined) assert.ok(s, `path ${path} was really requested`);
    if (!s) continue;
    // Every header we report is exactly what the server received: gaps, never guesses.
    for (const [name, values] of Object.entries<string[]>(e.http.request.header ?? {})) {
      if (name.startsWith(':')) continue;
      assert.deepEqual(values, [asObserved(String(s.headers[name]))], `${path} ${name}`);
    }
    if (e.http.response?.status_code !== undefined) assert.equal(e.http.response.status_code, s.status);
  }
  const undecodable = h2.filter((e) => e.pano.flags?.includes('undecodable'));
  assert.ok(undecodable.length > 0, 'references to the missed table entries are reported');
  // The client's table is rebuilt by the octet requests (24 new fields each): the last ones decode whole.
  const page = requests.find((e) => e.url.path === '/page');
  assert.ok(page, '/page request decoded');
  const pageSeen = seen.find((x) => x.path === '/page')!;
  for (const name of Object.keys(pageSeen.headers).filter((n) => !n.startsWith(':'))) assert.ok(page.http.request.header[name], `/page ${name} recovered`);
  assert.equal(page.http.request.header[':authority']?.[0], String(pageSeen.headers[':authority']));
});
