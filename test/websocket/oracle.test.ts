// WebSocket in the corpus (linux-sll/suricata-websocket-ping-input.pcap: an Upgrade, a text message,
// a ping and a pong) against tshark: every frame's sender and opcode, the text, the pings and pongs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { corpusAvailable, corpusDir } from '../helpers/corpus.js';
import { tsharkAvailable, tsharkFields } from '../helpers/tshark.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';

const ready = corpusAvailable() && tsharkAvailable();

test('tshark agrees on WebSocket: linux-sll/suricata-websocket-ping-input.pcap', { skip: !ready && 'corpus or tshark missing' }, () => {
  const file = join(corpusDir, 'linux-sll/suricata-websocket-ping-input.pcap');
  const { events, stats } = parseCaptureSync(file);
  assertValidEvents(events);
  const upgrade = (events as any[]).find((e) => e.http?.response?.status_code === 101);
  assert.ok(upgrade, 'the Upgrade exchange');
  const serverPort = upgrade.server.port;
  const rows = tsharkFields(file, ['tcp.srcport', 'websocket.opcode', 'websocket.payload.text'], 'websocket');
  assert.ok(rows.length > 0, 'tshark finds WebSocket frames');
  const theirs = rows.filter(([, op]) => op === '1' || op === '2').map(([src, op, text]) => [Number(src) === serverPort ? 'server' : 'client', op === '1' ? 'text' : 'binary', text]);
  const ours = (events as any[]).filter((e) => e.pano.protocol === 'websocket').map((e) => [e.websocket.sender, e.websocket.opcode, e.websocket.message?.body.content]);
  assert.deepEqual(ours, theirs);
  assert.equal(stats.protocols['websocket.pings'] ?? 0, rows.filter(([, op]) => op === '9').length);
  assert.equal(stats.protocols['websocket.pongs'] ?? 0, rows.filter(([, op]) => op === '10').length);
  // the capture's client ping is not masked, as RFC 6455 §5.1 requires of a client: counted, still read
  assert.equal(stats.protocols['websocket.mask_violation'], 1);
});
