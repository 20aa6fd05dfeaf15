/**
 * Odd and damaged captures a forensic analyst meets, replayed through the
 * whole pipeline: what was complete must come out, with what it carried.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ParsePipeline } from '@panopticon/parse';
import { parseCaptureSync } from '../helpers/parse.js';
import { Conversation } from '../helpers/synth.js';
import { cat, idb, isb, opt, shb, u64 } from '../pcap/build.js';

function httpConversation(port: number): Conversation {
  return new Conversation({ addr: '10.1.1.1', port }, { addr: '10.1.1.2', port: 80 })
    .handshake()
    .send(0, 'GET /a HTTP/1.1\r\nHost: x\r\n\r\n')
    .send(1, 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
}

test('pcapng with more than 32767 sections (concatenated rotated captures): events keep the name of their interface', () => {
  // Empty sections, each with one unnamed interface, as `cat` of many short captures leaves them.
  const empty = cat(shb('le'), idb('le', 1, 0));
  // An exchange in a section numbered 32768 (key section × 65536 past 2^31)...
  const late = cat(Buffer.concat(Array(32768).fill(empty)), httpConversation(40000).pcapng());
  const a = parseCaptureSync(late);
  assert.equal(a.events.length, 1);
  assert.deepEqual((a.events[0].network as { interface?: unknown }).interface, { name: 'synth0' });
  // ...and a request in section 0, unanswered, so its event comes at the end of input: after
  // section 65536 described its own unnamed interface 0.
  const request = new Conversation({ addr: '10.1.1.1', port: 40001 }, { addr: '10.1.1.2', port: 80 }).handshake().send(0, 'GET /b HTTP/1.1\r\nHost: x\r\n\r\n');
  const early = cat(request.pcapng(), Buffer.concat(Array(65536).fill(empty)));
  const b = parseCaptureSync(early);
  assert.equal(b.events.length, 1);
  assert.equal(b.events[0].pano.kind, 'unanswered');
  assert.deepEqual((b.events[0].network as { interface?: unknown }).interface, { name: 'synth0' });
});

test('interfaces remembered are bounded: a capture of 140,000 sections does not grow the table with the input', () => {
  const empty = cat(shb('le'), idb('le', 1, 0));
  // The first section's interface reports 5 packets dropped (isb_osdrop): counted after it is forgotten.
  const first = cat(shb('le'), idb('le', 1, 0), isb('le', 0, 1_600_000_000_000_000n, opt('le', 7, u64('le', 5n))));
  const capture = cat(first, Buffer.concat(Array(140_000).fill(empty)), httpConversation(40002).pcapng());
  const events: unknown[] = [];
  const p = new ParsePipeline({ source: { type: 'pcap', name: 'x' }, onEvent: (e) => events.push(e) });
  for (let o = 0; o < capture.length; o += 1 << 20) p.push(capture.subarray(o, o + (1 << 20)));
  p.end();
  assert.ok(p.interfaces.size <= 2 * 65536, `${p.interfaces.size} interfaces held`);
  assert.equal(events.length, 1);
  assert.deepEqual((events[0] as { network: { interface?: unknown } }).network.interface, { name: 'synth0' });
  assert.equal(p.stats().capture.kernel_drops, 5n);
});
