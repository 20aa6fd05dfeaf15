// Hand-built events (shaped exactly as docs/EVENTS.md describes), with the
// expected graph computed by hand in the comments next to each assertion.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { GraphBuilder, LatencySketch, resolutionsOf, directionOfPath, errorOf, operationOf } from '@panopticon/graph';

const T0 = 1_700_000_000_000_000_000n;

function ev(id: string, protocol: string, client: string, server: string, port: number, startMs: number, durMs: number, extra: Record<string, unknown> = {}, pano: Record<string, unknown> = {}) {
  const start = T0 + BigInt(startMs) * 1_000_000n;
  const end = start + BigInt(durMs) * 1_000_000n;
  return {
    pano: { v: 1, id, kind: 'exchange', protocol, start_ns: start.toString(), end_ns: end.toString(), duration_ns: durMs * 1_000_000, time: '', source: { type: 'pcap', name: 'hand' }, connection: { id: 1, roles: 'syn' }, request_bytes: 100, response_bytes: 1000, ...pano },
    client: { address: client, port: 40000 },
    server: { address: server, port },
    ...extra,
  };
}

const dnsAnswer = (id: string, startMs: number, q: string, answers: Array<[string, string, string]>) =>
  ev(id, 'dns', '10.0.0.1', '10.0.0.53', 53, startMs, 1, {
    dns: { question: { name: q, type: 'A' }, response_code: 'NOERROR', answers: answers.map(([name, type, data]) => ({ name, type, class: 'IN', ttl: 30, data })) },
  });

test('DNS answers name the server node; all names kept, the question name current', () => {
  const g = new GraphBuilder();
  g.add(dnsAnswer('1-1', 0, 'Shop.Example.com.', [['shop.example.com', 'CNAME', 'edge.cdn.net'], ['edge.cdn.net', 'A', '10.0.0.2'], ['edge.cdn.net', 'A', '10.0.0.3']]));
  g.add(ev('2-1', 'http', '10.0.0.1', '10.0.0.2', 443, 10, 4, { http: { request: { method: 'GET' }, response: { status_code: 200 } } }));
  g.add(ev('3-1', 'http', '10.0.0.1', '10.0.0.3', 443, 20, 8, { http: { request: { method: 'GET' }, response: { status_code: 502 } } }));
  const s = g.snapshot();
  assert.deepEqual(s.nodes.map((n) => n.id), ['10.0.0.1', '10.0.0.53', 'shop.example.com']);
  const shop = s.nodes.find((n) => n.id === 'shop.example.com')!;
  // both A records reached via the CNAME chain from the question: one node, two addresses
  assert.deepEqual(shop.addresses, ['10.0.0.2', '10.0.0.3']);
  assert.deepEqual(shop.names, ['edge.cdn.net', 'shop.example.com']);
  assert.deepEqual(shop.ports, [443]);
  assert.equal(shop.requests_served, 2);
  const http = s.edges.find((e) => e.protocol === 'http')!;
  assert.equal(http.id, '10.0.0.1 -> shop.example.com (http)');
  assert.equal(http.requests, 2);
  assert.equal(http.errors, 1); // 502 ≥ 500
  // nearest rank over {4 ms, 8 ms}: p50 = 4 ms, p95 = p99 = 8 ms (exact: clamped to min/max)
  assert.equal(http.latency_ns.p50, 4_000_000);
  assert.equal(http.latency_ns.p99, 8_000_000);
  assert.deepEqual(http.bytes, { client_to_server: 200, server_to_client: 2000 });
  assert.equal(http.first_seen_ns, (T0 + 10_000_000n).toString());
  assert.equal(http.last_seen_ns, (T0 + 28_000_000n).toString());
});

test('the server name a TLS client sent (SNI) names the server node it connected to, with no DNS answer seen', () => {
  const g = new GraphBuilder();
  g.add(ev('1-1', 'tls', '10.0.0.1', '203.0.113.9', 443, 0, 30, { tls: { protocol: { name: 'tls', version: '1.3' }, established: true, client: { server_name: 'API.Example.org' } } }));
  g.add(ev('2-1', 'tls', '10.0.0.1', '203.0.113.9', 443, 40, 30, { tls: { protocol: { name: 'tls', version: '1.3' }, established: true } }));
  const s = g.snapshot();
  assert.deepEqual(s.nodes.map((n) => n.id), ['10.0.0.1', 'api.example.org']);
  assert.deepEqual(s.nodes.find((n) => n.id === 'api.example.org')!.addresses, ['203.0.113.9']);
  assert.equal(s.edges[0]!.id, '10.0.0.1 -> api.example.org (tls)');
  assert.equal(s.edges[0]!.requests, 2);
});

test('an answer seen after the traffic still names the node; the last name to resolve wins', () => {
  const g = new GraphBuilder();
  g.add(ev('1-1', 'postgresql', '10.0.0.1', '10.0.0.9', 5432, 0, 1, { db: { system: { name: 'postgresql' } } }));
  assert.equal(g.snapshot().nodes.find((n) => n.addresses.includes('10.0.0.9'))!.id, '10.0.0.9');
  g.add(dnsAnswer('2-1', 5, 'db-old.internal', [['db-old.internal', 'A', '10.0.0.9']]));
  g.add(dnsAnswer('3-1', 6, 'db.internal', [['db.internal', 'A', '10.0.0.9']]));
  const node = g.snapshot().nodes.find((n) => n.addresses.includes('10.0.0.9'))!;
  assert.equal(node.id, 'db.internal');
  assert.deepEqual(node.names, ['db-old.internal', 'db.internal']);
});

test('DNS over HTTPS answers name addresses as DNS answers do', () => {
  // shaped as pano-parse reports a DoH POST on HTTP/2 (suricata dns_over_https_POST.pcap): an
  // http2 exchange with the same dns group as a DNS event (ADR 0202)
  const doh = (id: string, startMs: number, q: string, answers: Array<[string, string, string]>) =>
    ev(id, 'http2', '10.0.0.1', '10.0.0.99', 443, startMs, 3, {
      http: { request: { method: 'POST', header: { 'content-type': ['application/dns-message'] } }, response: { status_code: 200 } },
      dns: { question: { name: q, type: 'A' }, response_code: 'NOERROR', answers: answers.map(([name, type, data]) => ({ name, type, class: 'IN', ttl: 30, data })) },
    });
  const g = new GraphBuilder();
  g.add(doh('1-1', 0, 'apis.google.com', [['apis.google.com', 'CNAME', 'plus.l.google.com'], ['plus.l.google.com', 'A', '172.217.21.174']]));
  g.add(ev('2-1', 'http', '10.0.0.1', '172.217.21.174', 80, 10, 4));
  // traffic first, the answer after it: still named when the graph is written
  g.add(ev('3-1', 'http', '10.0.0.1', '216.58.211.132', 80, 20, 4));
  g.add(doh('1-2', 30, 'www.google.com', [['www.google.com', 'A', '216.58.211.132']]));
  const s = g.snapshot();
  assert.deepEqual(s.edges.filter((e) => e.protocol === 'http').map((e) => e.id), ['10.0.0.1 -> apis.google.com (http)', '10.0.0.1 -> www.google.com (http)']);
  assert.deepEqual(s.nodes.find((n) => n.id === 'apis.google.com')!.names, ['plus.l.google.com', 'apis.google.com']);
});

test('name cache TTL is stream time: an answer older than the TTL no longer names new traffic', () => {
  const g = new GraphBuilder({ names: { ttlNs: 1_000_000_000n } }); // 1 s
  g.add(dnsAnswer('1-1', 0, 'a.example', [['a.example', 'A', '10.1.1.1']]));
  g.add(ev('2-1', 'http', '10.0.0.1', '10.1.1.2', 80, 1, 1)); // unrelated address
  g.add(ev('3-1', 'http', '10.0.0.1', '10.1.1.1', 80, 2_000, 1)); // 2 s later: expired
  const s = g.snapshot();
  assert.ok(s.nodes.some((n) => n.id === '10.1.1.1'));
  assert.equal(s.counts.names_expired, 1);
});

test('name TTL is counted to when the traffic started, not to when a long exchange ended', () => {
  const g = new GraphBuilder({ names: { ttlNs: 3_600_000_000_000n } }); // 1 h, the default
  g.add(dnsAnswer('1-1', 0, 'stream.example', [['stream.example', 'A', '10.1.1.1']]));
  // a gRPC stream opened 1 s after the answer and held for 2 h: new traffic 1 s after the answer
  g.add(ev('2-1', 'http2', '10.0.0.1', '10.1.1.1', 443, 1_000, 7_200_000));
  // traffic that starts 2 h after its answer: the answer no longer names it
  g.add(dnsAnswer('4-1', 0, 'late.example', [['late.example', 'A', '10.1.1.4']]));
  g.add(ev('5-1', 'http', '10.0.0.1', '10.1.1.4', 80, 7_200_000, 1));
  const s = g.snapshot();
  assert.ok(s.edges.some((e) => e.id === '10.0.0.1 -> stream.example (http2)'));
  assert.ok(s.edges.some((e) => e.id === '10.0.0.1 -> 10.1.1.4 (http)'));
  assert.equal(s.counts.names_expired, 1);
});

test('PII types counted per direction from the finding paths', () => {
  const g = new GraphBuilder();
  const pii = [
    { type: 'email', path: 'http.request.body.content', start: 0, end: 5, confidence: 0.9, detector: 'regex', validator: null },
    { type: 'email', path: 'http.request.header.x-user[0]', start: 0, end: 5, confidence: 0.9, detector: 'regex', validator: null },
    { type: 'credit_card', path: 'http.response.body.content', start: 0, end: 5, confidence: 0.99, detector: 'regex', validator: 'luhn' },
  ];
  g.add(ev('1-1', 'http', '10.0.0.1', '10.0.0.2', 80, 0, 1, { pii }));
  g.add(ev('1-2', 'http', '10.0.0.1', '10.0.0.2', 80, 5, 1, { pii: [pii[0]] }));
  const e = g.snapshot().edges[0]!;
  assert.deepEqual(e.pii, { client_to_server: { email: 3 }, server_to_client: { credit_card: 1 } });
  assert.deepEqual(e.pii_types, ['credit_card', 'email']);
  assert.equal(directionOfPath('/db/response/rows/0/ssn', {}), 'server_to_client');
  assert.equal(directionOfPath('messaging.message.body.content', { messaging: { operation: { type: 'receive' } } }), 'server_to_client');
  assert.equal(directionOfPath('messaging.message.body.content', { messaging: { operation: { type: 'send' } } }), 'client_to_server');
  // an MQTT PUBLISH the broker delivered at QoS 1 (an exchange): its user properties came from the broker too
  const delivered = { pano: { kind: 'exchange' }, messaging: { system: 'mqtt', operation: { type: 'receive' } }, mqtt: { packet_type: 'PUBLISH' } };
  assert.equal(directionOfPath('mqtt.properties.user_properties.phone[0]', delivered), 'server_to_client');
  assert.equal(directionOfPath('mqtt.properties.user_properties.phone[0]', { ...delivered, messaging: { system: 'mqtt', operation: { type: 'send' } } }), 'client_to_server');
  // mail: a message sent (SMTP DATA, IMAP APPEND) went to the server; one retrieved or fetched, a refusal's
  // text, a mailbox listing came from it
  assert.equal(directionOfPath('smtp.message.body.content', {}), 'client_to_server');
  assert.equal(directionOfPath('smtp.reply.text', {}), 'server_to_client');
  assert.equal(directionOfPath('pop3.message.headers.from[0]', {}), 'server_to_client');
  assert.equal(directionOfPath('pop3.username', {}), 'client_to_server');
  assert.equal(directionOfPath('imap.message.body.content', {}), 'client_to_server');
  assert.equal(directionOfPath('imap.fetch[0].envelope.from[0]', {}), 'server_to_client');
  assert.equal(directionOfPath('imap.mailboxes[2].name', {}), 'server_to_client');
  // what a server says of a mailbox's form and of an account: attachments' names, namespaces, quotas
  assert.equal(directionOfPath('imap.fetch[0].structure[2].disposition.parameters.filename', {}), 'server_to_client');
  assert.equal(directionOfPath('imap.namespace.other[0].prefix', {}), 'server_to_client');
  assert.equal(directionOfPath('imap.quota[0].root', {}), 'server_to_client');
  assert.equal(directionOfPath('imap.quota_roots.roots[0]', {}), 'server_to_client');
  assert.equal(directionOfPath('imap.response.text', {}), 'server_to_client');
  assert.equal(directionOfPath('imap.arguments', {}), 'client_to_server');
  // LDAP: a search's entries came from the directory, an add's attributes and a filter went to it
  assert.equal(directionOfPath('ldap.entries[0].attributes.mail[0]', {}), 'server_to_client');
  assert.equal(directionOfPath('ldap.attributes.mail[0]', {}), 'client_to_server');
  assert.equal(directionOfPath('ldap.search.filter', {}), 'client_to_server');
  // FTP data connections: which way the file went depends on the transfer and on who connected
  const transfer = (direction: string, mode: string) => ({ ftp: { transfer: { direction, mode } } });
  assert.equal(directionOfPath('ftp.transfer.body.content', transfer('download', 'passive')), 'server_to_client');
  assert.equal(directionOfPath('ftp.transfer.body.content', transfer('listing', 'passive')), 'server_to_client');
  assert.equal(directionOfPath('ftp.transfer.body.content', transfer('upload', 'passive')), 'client_to_server');
  assert.equal(directionOfPath('ftp.transfer.body.content', transfer('download', 'active')), 'client_to_server');
  assert.equal(directionOfPath('ftp.transfer.body.content', transfer('upload', 'active')), 'server_to_client');
  assert.equal(directionOfPath('ftp.reply.text', {}), 'server_to_client');
  // NATS: a requester's publish went to the server and its reply came back; a responder was handed the
  // request by the server and sent its reply back to it; INFO and -ERR are the server's
  const nats = (type: string) => ({ pano: { kind: 'exchange' }, messaging: { system: 'nats', operation: { type } } });
  assert.equal(directionOfPath('messaging.message.body.content', nats('send')), 'client_to_server');
  assert.equal(directionOfPath('nats.response.body.content', nats('send')), 'server_to_client');
  assert.equal(directionOfPath('messaging.message.body.content', nats('receive')), 'server_to_client');
  assert.equal(directionOfPath('nats.headers.Email[0]', nats('receive')), 'server_to_client');
  assert.equal(directionOfPath('nats.response.body.content', nats('receive')), 'client_to_server');
  assert.equal(directionOfPath('nats.info.client_ip', {}), 'server_to_client');
  assert.equal(directionOfPath('nats.error', {}), 'server_to_client');
  assert.equal(directionOfPath('nats.connect.user', {}), 'client_to_server');
});

test('PII in what only the server sends counts server → client', () => {
  // shaped as pano-parse reports psql's session against PostgreSQL 15 (captured on lo): a duplicate
  // key's error detail quotes the value, COPY ... TO STDOUT returns rows, NOTIFY pushes a payload
  const email = (path: string) => ({ type: 'email', path, start: 0, end: 5, confidence: 0.9, detector: 'regex', validator: null });
  const pg = (id: string, extra: Record<string, unknown>, kind = 'exchange') =>
    ev(id, 'postgresql', '10.0.0.1', '10.0.0.5', 5432, 0, 1, { db: { system: { name: 'postgresql' } }, ...extra }, { kind });
  const g = new GraphBuilder();
  g.add(pg('1-1', { postgresql: { error: { code: '23505', detail: 'Key (email)=(a@b.example) already exists.' } }, pii: [email('db.query.text'), email('postgresql.error.detail')] }));
  g.add(pg('1-2', { postgresql: { copy: { direction: 'out', format: 'text', messages: 1 } }, pii: [email('postgresql.copy.data.content')] }));
  g.add(pg('1-3', { postgresql: { copy: { direction: 'in', format: 'text', messages: 1 } }, pii: [email('postgresql.copy.data.content')] }));
  g.add(pg('1-4', { postgresql: { notification: { pid: 7, channel: 'ch', payload: 'a@b.example' } }, pii: [email('postgresql.notification.payload')] }, 'message'));
  // a delivered AMQP message: the broker sent its method arguments as well as its body
  g.add(ev('2-1', 'amqp', '10.0.0.1', '10.0.0.6', 5672, 0, 0, { messaging: { operation: { type: 'receive', name: 'basic.deliver' } }, amqp: { arguments: { consumer_tag: 'Alice' } }, pii: [email('amqp.arguments.consumer_tag')] }, { kind: 'message' }));
  const edge = (p: string) => g.snapshot().edges.find((e) => e.protocol === p)!.pii;
  // by hand: the query text and the COPY FROM STDIN data went to the server; the error
  // detail, the COPY TO STDOUT data and the notification came from it
  assert.deepEqual(edge('postgresql'), { client_to_server: { email: 2 }, server_to_client: { email: 3 } });
  assert.deepEqual(edge('amqp'), { client_to_server: {}, server_to_client: { email: 1 } });
  assert.equal(directionOfPath('mysql.error.message', {}), 'server_to_client'); // "Duplicate entry '…' for key …"
  assert.equal(directionOfPath('kafka.records[0].value.content', { kafka: { api_name: 'Fetch' }, messaging: { operation: { type: 'receive' } } }), 'server_to_client');
  assert.equal(directionOfPath('kafka.records[0].value.content', { kafka: { api_name: 'Produce' }, messaging: { operation: { type: 'send' } } }), 'client_to_server');
  assert.equal(directionOfPath('kafka.request.topics[0].name', { messaging: { operation: { type: 'receive' } } }), 'client_to_server');
  // a WebSocket message, by its sender; a DNS query's own records (an UPDATE's) went to the server
  assert.equal(directionOfPath('websocket.message.body.content$.user.email', { websocket: { sender: 'server' } }), 'server_to_client');
  assert.equal(directionOfPath('websocket.message.body.content$.user.email', { websocket: { sender: 'client' } }), 'client_to_server');
  assert.equal(directionOfPath('dns.query_authority[2].data', {}), 'client_to_server');
  assert.equal(directionOfPath('dns.answers[0].data', {}), 'server_to_client');
});

test('operation labels: method, DB operation, RPC method, messaging operation, DNS type, WebSocket opcode', () => {
  assert.equal(operationOf({ http: { request: { method: 'GET' } } }), 'GET');
  assert.equal(operationOf({ rpc: { service: 'greet.Greeter', method: 'SayHello' } }), 'greet.Greeter/SayHello');
  assert.equal(operationOf({ dns: { question: { type: 'AAAA' } } }), 'AAAA');
  assert.equal(operationOf({ websocket: { sender: 'client', opcode: 'binary' } }), 'binary');
  assert.equal(operationOf({ tls: { protocol: { name: 'tls', version: '1.0' }, established: true } }), 'TLS 1.0');
  assert.equal(operationOf({ tls: { protocol: { name: 'tls' }, established: true } }), '', 'joined after the handshake: no version');
  assert.equal(operationOf({}), '');
});

test('error rules per protocol', () => {
  assert.equal(errorOf({ http: { response: { status_code: 500 } } }), '500');
  assert.equal(errorOf({ http: { response: { status_code: 404 } } }), undefined);
  assert.equal(errorOf({ rpc: { grpc: { status_code: 5 } } }), '5');
  assert.equal(errorOf({ rpc: { grpc: { status_code: 0 } } }), undefined);
  assert.equal(errorOf({ dns: { response_code: 'NXDOMAIN' } }), 'NXDOMAIN');
  assert.equal(errorOf({ dns: { response_code: 'NOERROR' } }), undefined);
  assert.equal(errorOf({ error: { type: '42P01' }, db: { response: { status_code: '42P01' } } }), '42P01');
});

test('unanswered requests count as requests without latency; limits drop and count', () => {
  const g = new GraphBuilder({ maxAddresses: 3, maxEdges: 2 });
  g.add(ev('1-1', 'redis', '10.0.0.1', '10.0.0.6', 6379, 0, 3));
  g.add(ev('1-2', 'redis', '10.0.0.1', '10.0.0.6', 6379, 5, 0, {}, { kind: 'unanswered', flags: ['eof'] }));
  g.add(ev('2-1', 'http', '10.0.0.1', '10.0.0.7', 80, 6, 1)); // third address, second edge
  g.add(ev('3-1', 'http', '10.0.0.1', '10.0.0.8', 80, 7, 1)); // a fourth address: over the limit
  g.add(ev('4-1', 'dns', '10.0.0.1', '10.0.0.6', 53, 8, 1)); // known addresses but a third edge
  const s = g.snapshot();
  const redis = s.edges.find((e) => e.protocol === 'redis')!;
  assert.equal(redis.requests, 2);
  assert.equal(redis.unanswered, 1);
  assert.equal(redis.latency_ns.samples, 1);
  assert.equal(s.counts.dropped_address_limit, 1);
  assert.equal(s.counts.dropped_edge_limit, 1);
  assert.equal(s.edges.length, 2);
});

test('--top and --min-requests keep the busiest edges and their nodes', () => {
  const g = new GraphBuilder();
  for (let i = 0; i < 5; i++) g.add(ev(`1-${i}`, 'http', '10.0.0.1', '10.0.0.2', 80, i, 1));
  for (let i = 0; i < 3; i++) g.add(ev(`2-${i}`, 'http', '10.0.0.1', '10.0.0.3', 80, i, 1));
  g.add(ev('3-1', 'http', '10.0.0.4', '10.0.0.3', 80, 0, 1));
  assert.deepEqual(g.snapshot({ top: 1 }).edges.map((e) => e.target), ['10.0.0.2']);
  const s = g.snapshot({ minRequests: 3 });
  assert.equal(s.edges.length, 2);
  assert.deepEqual(s.nodes.map((n) => n.id), ['10.0.0.1', '10.0.0.2', '10.0.0.3']);
  assert.equal(s.counts.hidden_nodes, 1);
});

test('latency sketch: nearest-rank percentiles within 1 % of 1..1000 ms', () => {
  const s = new LatencySketch();
  for (let i = 1; i <= 1000; i++) s.add(i * 1_000_000);
  // nearest rank: p50 = 500th value = 500 ms, p95 = 950 ms, p99 = 990 ms
  for (const [q, want] of [[0.5, 500e6], [0.95, 950e6], [0.99, 990e6]] as const) {
    const got = s.quantile(q)!;
    assert.ok(Math.abs(got - want) / want <= 0.01, `q${q}: ${got} vs ${want}`);
  }
  const a = new LatencySketch();
  const b = new LatencySketch();
  for (let i = 1; i <= 500; i++) a.add(i * 1_000_000);
  for (let i = 501; i <= 1000; i++) b.add(i * 1_000_000);
  a.merge(b);
  assert.equal(a.quantile(0.95), s.quantile(0.95));
});

test('resolutionsOf ignores answers that the question does not lead to', () => {
  const r = resolutionsOf({ dns: { question: { name: 'x.example' }, answers: [{ name: 'other.example', type: 'A', class: 'IN', ttl: 1, data: '192.0.2.1' }] } });
  assert.deepEqual(r, [{ address: '192.0.2.1', names: ['other.example'] }]);
});

test('TLS plaintext seen from both ends: one exchange counted once, each process on its own node', () => {
  const g = new GraphBuilder();
  const http = { http: { request: { method: 'GET' }, response: { status_code: 200 } } };
  const tls = { type: 'tls', library: 'openssl' };
  // nginx's view (connection 1, captured first) and curl's (connection 2, naming it) of the same exchange, then a lone server view
  g.add(ev('1-1', 'http', '10.0.0.1', '10.0.0.2', 443, 0, 2, { ...http, process: { pid: 20, executable: { name: 'nginx' } } }, { source: tls, connection: { id: 1, roles: 'library', view: 'server' } }));
  g.add(ev('2-1', 'http', '10.0.0.1', '10.0.0.2', 443, 0, 2, { ...http, process: { pid: 10, executable: { name: 'curl' } } }, { source: tls, connection: { id: 2, roles: 'library', view: 'client', mirror_of: 1 } }));
  g.add(ev('3-1', 'http', '10.0.0.9', '10.0.0.2', 443, 5, 2, { ...http, process: { pid: 20, executable: { name: 'nginx' } } }, { source: tls, connection: { id: 3, roles: 'library', view: 'server' } }));
  const s = g.snapshot();
  const edge = s.edges.find((e) => e.source === '10.0.0.1')!;
  assert.equal(edge.requests, 1);
  assert.equal(s.counts.mirror_views, 1);
  // the lone server view (its client not captured) counts
  assert.equal(s.edges.find((e) => e.source === '10.0.0.9')!.requests, 1);
  assert.deepEqual(s.nodes.find((n) => n.id === '10.0.0.1')!.processes, ['curl']);
  assert.deepEqual(s.nodes.find((n) => n.id === '10.0.0.2')!.processes, ['nginx']);
  assert.deepEqual(s.nodes.find((n) => n.id === '10.0.0.9')!.processes, []);
  assert.equal(s.nodes.find((n) => n.id === '10.0.0.1')!.requests_made, 1);
});

test('a start or end past year 9999 is no time: the edge keeps the times it has, and the snapshot is written', () => {
  // found by scripts/fuzz-events.ts: end_ns "999999999999999999999999999999" reached Date and pano-graph exited 70
  const b = new GraphBuilder();
  b.add(ev('1-1', 'http', '10.0.0.1', '10.0.0.2', 80, 0, 5));
  b.add(ev('2-1', 'http', '10.0.0.1', '10.0.0.2', 80, 10, 5, {}, { end_ns: '999999999999999999999999999999' }));
  b.add(ev('2-2', 'http', '10.0.0.1', '10.0.0.2', 80, 10, 5, {}, { start_ns: (T0 + 10n).toString(), end_ns: '253402300800000000000' }));
  // the last instant of 9999 is still one
  b.add(ev('3-1', 'http', '10.0.0.1', '10.0.0.2', 80, 20, 5, {}, { start_ns: '253402300799999999999', end_ns: '253402300799999999999' }));
  const [edge] = b.snapshot().edges;
  assert.equal(edge!.requests, 4);
  assert.equal(edge!.first_seen_ns, T0.toString());
  assert.equal(edge!.last_seen, '9999-12-31T23:59:59.999999999Z');
});

test('an event without a time says nothing of when its edge was seen: not 1970, and null when no event had one', () => {
  const b = new GraphBuilder();
  const timeless = { start_ns: undefined, end_ns: undefined, duration_ns: undefined };
  b.add(ev('1-1', 'http', '10.0.0.1', '10.0.0.2', 80, 0, 5, {}, timeless));
  b.add(ev('2-1', 'http', '10.0.0.1', '10.0.0.2', 80, 10, 5));
  b.add(ev('3-1', 'http', '10.0.0.1', '10.0.0.2', 80, 20, 5, {}, { end_ns: 'not a time', start_ns: '' }));
  b.add(ev('4-1', 'http', '10.0.0.1', '10.0.0.3', 80, 0, 5, {}, timeless));
  // the same server name on two addresses: edges merged by name keep the times one of them has
  b.add(dnsAnswer('5-1', 1, 'api.example.com', [['api.example.com', 'A', '10.0.0.4'], ['api.example.com', 'A', '10.0.0.5']]));
  b.add(ev('6-1', 'http', '10.0.0.1', '10.0.0.4', 80, 0, 5, {}, timeless));
  b.add(ev('7-1', 'http', '10.0.0.1', '10.0.0.5', 80, 30, 5));
  const s = b.snapshot();
  const edge = (target: string) => s.edges.find((e) => e.target === target && e.protocol === 'http')!;
  const timed = edge('10.0.0.2');
  assert.equal(timed.requests, 3);
  assert.equal(timed.first_seen_ns, (T0 + 10_000_000n).toString());
  assert.equal(timed.last_seen_ns, (T0 + 15_000_000n).toString());
  const never = edge('10.0.0.3');
  assert.equal(never.requests, 1);
  assert.deepEqual([never.first_seen_ns, never.last_seen_ns, never.first_seen, never.last_seen], [null, null, null, null]);
  const merged = edge('api.example.com');
  assert.equal(merged.requests, 2);
  assert.equal(merged.first_seen_ns, (T0 + 30_000_000n).toString());
  assert.equal(merged.last_seen, '2023-11-14T22:13:20.035000000Z');
});

test('addresses, names and process or protocol names past 1024 characters are cut to their start and a hash: each stays its own node, memory stays bounded, and the cuts are counted', () => {
  const b = new GraphBuilder();
  const longA = '10.0.0.1' + 'a'.repeat(5000);
  const longB = '10.0.0.1' + 'a'.repeat(4999) + 'b'; // the same start: only the hash tells them apart
  const longName = 'x'.repeat(3000) + '.example';
  b.add(dnsAnswer('1-1', 0, longName, [[longName, 'A', '10.0.0.2']]));
  b.add(ev('2-1', 'http', longA, '10.0.0.2', 80, 10, 5));
  b.add(ev('3-1', 'http', longA, '10.0.0.2', 80, 20, 5));
  b.add(ev('4-1', 'http', longB, '10.0.0.2', 80, 30, 5, { process: { executable: { name: 'p'.repeat(2000) } } }));
  b.add(ev('5-1', 'q'.repeat(1500), '10.0.0.1', '10.0.0.2', 80, 40, 5));
  const s = b.snapshot();
  for (const n of s.nodes) for (const t of [n.id, n.label, ...n.names, ...n.addresses, ...n.processes, ...n.protocols]) assert.ok(t.length <= 1024, `${t.length} characters`);
  const clients = s.nodes.filter((n) => n.id.startsWith('10.0.0.1a'));
  assert.equal(clients.length, 2);
  // start, length and the first 16 hex digits of the SHA-256 of the whole (computed here independently)
  const sha = (t: string) => createHash('sha256').update(t).digest('hex').slice(0, 16);
  const cutA = clients.find((n) => n.id.endsWith(`…(5008 characters, sha256 ${sha(longA)})`))!;
  assert.ok(cutA.id.startsWith(longA.slice(0, 900)));
  assert.equal(cutA.requests_made, 2);
  assert.ok(clients.some((n) => n.id.endsWith(`…(5008 characters, sha256 ${sha(longB)})`)));
  const server = s.nodes.find((n) => n.addresses.includes('10.0.0.2'))!;
  assert.deepEqual(server.names, [`${longName.slice(0, 928)}…(3008 characters, sha256 ${sha(longName)})`]);
  assert.ok(s.edges.some((e) => e.protocol.startsWith('qqq') && e.protocol.length <= 1024));
  // the question and the answer's name (the same text, cut twice), the client address three times, the process, the protocol
  assert.equal(s.counts.cut_identifiers, 7);
});
