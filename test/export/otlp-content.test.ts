// --otlp: payload stays out of spans unless --otlp-content, whichever group
// carries it. The events are shaped as pano-parse reports them (grpc.request /
// grpc.response messages as in packt-Unary.pcapng; COPY, NOTIFY and LOAD DATA
// LOCAL INFILE as in pano-events(5)); the spans are decoded by a real OTLP
// receiver, and the test looks for the values themselves in everything sent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ev, exportedSpans } from './fixtures.js';

const SECRETS = ['Clement Durand', 'Hello Clement Durand', 'alice.smith@example.com', 'bob.jones@example.org', '4111 1111 1111 1111', 'carol.white@example.net'];

function events(): string {
  return [
    ev({ id: '1-1', protocol: 'http2', groups: {
      rpc: { system: 'grpc', service: 'helloworld.Greeter', method: 'SayHello', grpc: { status_code: 0 } },
      grpc: {
        status: 'OK',
        request: { message_count: 1, message_bytes: 16, messages: [{ size: 16, fields: { f1: SECRETS[0] } }] },
        response: { message_count: 1, message_bytes: 22, messages: [{ size: 22, fields: { f1: SECRETS[1] } }] },
      },
    } }),
    ev({ id: '2-1', protocol: 'postgresql', groups: {
      db: { system: { name: 'postgresql' }, operation: { name: 'COPY' }, query: { text: 'copy (select email from users) to stdout' } },
      postgresql: { copy: { direction: 'out', format: 'text', messages: 1, data: { size: 24, content: `${SECRETS[2]}\n` } } },
    } }),
    ev({ id: '3-1', protocol: 'postgresql', kind: 'message', groups: {
      db: { system: { name: 'postgresql' } },
      postgresql: { message: 'NotificationResponse', notification: { pid: 7, channel: 'signups', payload: SECRETS[3] } },
    } }),
    ev({ id: '4-1', protocol: 'mysql', groups: {
      db: { system: { name: 'mysql' }, operation: { name: 'LOAD' }, query: { text: "LOAD DATA LOCAL INFILE '/tmp/cards.csv' INTO TABLE cards" } },
      mysql: { local_infile: { name: '/tmp/cards.csv', data: { size: 20, content: `${SECRETS[4]}\n` } }, query_attributes: { customer: SECRETS[5] } },
    } }),
  ].map((e) => JSON.stringify(e)).join('\n') + '\n';
}

test('gRPC messages, COPY data, NOTIFY payloads, LOCAL INFILE data and MySQL query attributes stay out of spans unless --otlp-content', async () => {
  const by = await exportedSpans(events(), [], 4);
  const all = JSON.stringify(Object.values(by).map((s) => s.attributes));
  for (const secret of SECRETS) assert.ok(!all.includes(secret), `${secret} must not reach the collector`);
  // what describes the payload is telemetry and stays
  assert.equal(by['1-1']!.attributes['grpc.request.message_count'], 1);
  assert.equal(by['1-1']!.attributes['grpc.response.message_bytes'], 22);
  assert.equal(by['2-1']!.attributes['postgresql.copy.data.size'], 24);
  assert.equal(by['2-1']!.attributes['postgresql.copy.direction'], 'out');
  assert.equal(by['3-1']!.attributes['postgresql.notification.channel'], 'signups');
  assert.equal(by['4-1']!.attributes['mysql.local_infile.data.size'], 20);

  const raw = await exportedSpans(events(), ['--otlp-content'], 4);
  assert.equal(raw['1-1']!.attributes['grpc.request.messages'], JSON.stringify([{ size: 16, fields: { f1: SECRETS[0] } }]));
  assert.equal(raw['2-1']!.attributes['postgresql.copy.data.content'], `${SECRETS[2]}\n`);
  assert.equal(raw['3-1']!.attributes['postgresql.notification.payload'], SECRETS[3]);
  assert.equal(raw['4-1']!.attributes['mysql.local_infile.data.content'], `${SECRETS[4]}\n`);
  assert.equal(raw['4-1']!.attributes['mysql.query_attributes.customer'], SECRETS[5]);
});
