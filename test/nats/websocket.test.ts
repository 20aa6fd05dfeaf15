// NATS over WebSocket, as browsers speak it (nats.ws): nats-server's websocket
// listener and a client on Debian's python3-websockets that names no
// subprotocol and sends the NATS protocol in binary messages. pano-parse
// knows the protocol from the server's first binary message (INFO) and reads
// every binary message after it as NATS's byte stream: the events are NATS
// events, marked websocket.carried, checked against what the client sent and
// received.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { captureDuring, freePort } from '../helpers/loopback-capture.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';
import { ANN, NatsServer, natsMissing } from '../helpers/nats-server.js';
import { repoRoot } from '../helpers/corpus.js';
import type { PanoEvent } from '@panopticon/events';

const CLIENT = resolve(repoRoot, 'test/fixtures/nats/ws-client.py');
const missing = [...natsMissing(), ...(existsSync('/usr/lib/python3/dist-packages/websockets/__init__.py') ? [] : ['python3-websockets'])];
const skip = missing.length ? `missing ${missing.join(', ')}` : false;
let server: NatsServer | undefined;
let wsPort = 0;

before(async () => {
  if (missing.length) return;
  wsPort = await freePort();
  server = await NatsServer.start({ websocketPort: wsPort, jetstream: false });
});
after(async () => {
  await server?.stop();
});

test('NATS in WebSocket binary messages: INFO, CONNECT, SUB, PUB and the delivery are NATS events, as the client sent and received them', { skip }, async () => {
  const file = join(server!.dir, 'nats-ws.pcap');
  const out = await captureDuring(file, `tcp port ${wsPort}`, async () => spawnSync('/usr/bin/python3', [CLIENT, String(wsPort), ANN.user, ANN.pass], { encoding: 'utf8', timeout: 20_000 }));
  assert.equal(out.status, 0, out.stderr);
  const lines = out.stdout.trim().split('\n').map((l) => JSON.parse(l) as { sent?: string; recv?: string });
  const info = JSON.parse(/^INFO (.*)\r\n/.exec(lines[0]!.recv!)![1]!);
  const received = lines[lines.length - 1]!.recv!;
  assert.match(received, /MSG crm\.customers\.42\.email 1 15\r\nann@example\.org\r\n/);

  const { events } = parseCaptureSync(file);
  assertValidEvents(events);
  const nats = events.filter((e) => e.pano.protocol === 'nats') as Array<PanoEvent & Record<string, any>>;
  assert.deepEqual(
    nats.map((e) => [e.pano.kind, e.nats.operation, e.messaging.destination?.name ?? null]),
    [
      ['message', 'INFO', null],
      ['exchange', 'CONNECT', null],
      ['message', 'SUB', 'crm.customers.*.email'],
      ['message', 'PUB', 'crm.customers.42.email'],
      ['message', 'MSG', 'crm.customers.42.email'],
    ],
  );
  for (const e of nats) {
    assert.deepEqual(e.websocket, { carried: 'nats' });
    assert.equal(e.server!.port, wsPort);
    assert.equal(e.messaging.client?.id ?? String(info.client_id), String(info.client_id));
  }
  assert.equal(nats[0]!.nats.info.server_id, info.server_id);
  assert.equal(nats[0]!.nats.info.client_id, info.client_id);
  assert.equal(nats[1]!.nats.connect.name, 'ws-client');
  assert.deepEqual(nats[1]!.nats.connect.pass, { size: ANN.pass.length });
  assert.equal(nats[1]!.nats.response.operation, 'PONG');
  assert.deepEqual(nats[3]!.messaging.message.body, { size: 15, content: 'ann@example.org' });
  assert.deepEqual(nats[4]!.nats.subscription, { subject: 'crm.customers.*.email' });
  assert.ok(!JSON.stringify(events).includes(ANN.pass), 'the password appears nowhere');
  // no binary message is left as a WebSocket message event: the WebSocket events are the two close frames
  const ws = events.filter((e) => e.pano.protocol === 'websocket') as Array<PanoEvent & Record<string, any>>;
  assert.deepEqual(ws.map((e) => [e.websocket.sender, e.websocket.opcode]), [['client', 'close'], ['server', 'close']]);
});
