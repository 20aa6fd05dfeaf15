// A response cut short by its server, on loopback, captured with tcpdump: curl's exit status is the
// oracle for what its client saw. A reset (curl 56, "Recv failure") or a close (curl 18, "transfer
// closed with outstanding read data remaining") before Content-Length's bytes came is a failed
// exchange whatever its 200 says: error.type and the flag of why. A whole response on a connection
// reset after it is not, nor a close-delimited body ended by its close (curl 0).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LoopbackCapture, freePort, tcpdumpAvailable } from '../helpers/loopback-capture.js';
import { assertValidEvents, parseCaptureSync } from '../helpers/parse.js';

const skip = process.getuid?.() !== 0 ? 'needs root (tcpdump on lo)' : !tcpdumpAvailable() ? 'missing: tcpdump' : false;

type Ending = 'reset-mid-body' | 'close-mid-body' | 'reset-after-whole' | 'close-delimited';

/** What the server does on its connection for each path. */
function answer(sock: Socket, ending: Ending): void {
  const part = 'x'.repeat(10);
  if (ending === 'close-delimited') {
    sock.end(`HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n${part}`);
    return;
  }
  const whole = ending === 'reset-after-whole';
  sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${whole ? 10 : 100}\r\n\r\n${part}`, () => {
    // let the bytes leave before the reset or FIN, as a crashing server's would have
    setTimeout(() => (ending === 'close-mid-body' ? sock.end() : sock.resetAndDestroy()), 50);
  });
}

test('a response cut by a reset or a close is a failed exchange (error.type, flag), as curl says; a whole one is not', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pano-cut-'));
  try {
    const port = await freePort();
    const server = createServer((sock) => {
      let head = '';
      sock.on('data', (d) => {
        head += d;
        const m = /^GET \/([a-z-]+) /.exec(head);
        if (m && head.includes('\r\n\r\n')) answer(sock, m[1] as Ending);
      });
      sock.on('error', () => {});
    });
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    const file = join(dir, 'cut.pcap');
    const cap = new LoopbackCapture(file, `tcp port ${port}`);
    const endings: Ending[] = ['reset-mid-body', 'close-mid-body', 'reset-after-whole', 'close-delimited'];
    const curlExit: Record<string, number> = {};
    try {
      await cap.start();
      for (const e of endings) {
        curlExit[e] = await new Promise<number>((resolve) => {
          execFile('curl', ['-s', '-o', '/dev/null', `http://127.0.0.1:${port}/${e}`], (err) => resolve(err ? Number((err as { code?: number }).code) : 0));
        });
      }
    } finally {
      await cap.stop();
      server.close();
    }
    // the oracle: what curl made of each
    assert.deepEqual(curlExit, { 'reset-mid-body': 56, 'close-mid-body': 18, 'reset-after-whole': 0, 'close-delimited': 0 });
    const { events } = parseCaptureSync(file);
    assertValidEvents(events);
    const byPath = new Map((events as Array<Record<string, any>>).map((ev) => [ev.url.path, ev]));
    const seen = (e: Ending) => {
      const ev = byPath.get(`/${e}`)!;
      return { kind: ev.pano.kind, status: ev.http.response?.status_code, error: ev.error?.type, flags: (ev.pano.flags ?? []).sort() };
    };
    assert.deepEqual(seen('reset-mid-body'), { kind: 'exchange', status: 200, error: 'connection_reset', flags: ['reset', 'response_incomplete'] });
    assert.deepEqual(seen('close-mid-body'), { kind: 'exchange', status: 200, error: 'connection_closed', flags: ['closed', 'response_incomplete'] });
    assert.deepEqual(seen('reset-after-whole'), { kind: 'exchange', status: 200, error: undefined, flags: [] });
    assert.deepEqual(seen('close-delimited'), { kind: 'exchange', status: 200, error: undefined, flags: [] });
    assert.equal(byPath.get('/reset-mid-body')!.http.response.body.size, 10);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
