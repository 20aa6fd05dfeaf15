// EventScanner's per-key shortcuts (cached path segments and SQL parameter
// maps, body detection asked only for keys that can hold a body) must give
// the same paths and hints on every event, not only the first.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventScanner } from '@panopticon/pii';

const scanner = () => new EventScanner({ key: Buffer.alloc(32), redact: 'mask' });

test('a repeated SQL statement maps its parameters to columns every time', () => {
  const es = scanner();
  const sql = 'INSERT INTO people (name, ssn) VALUES ($1, $2)';
  for (const v of ['536228821', '536228822']) {
    // a bare 9-digit number is an SSN only with the column's context
    const f = es.finish(es.collect({ db: { query: { text: sql, parameter: { '0': 'x', '1': v } } } }));
    assert.deepEqual(f.map((x) => [x.type, x.path]), [['us_ssn', 'db.query.parameter.1']], v);
  }
});

test('odd keys keep their quoted path segment on every event', () => {
  const es = scanner();
  for (let i = 0; i < 3; i++) {
    const f = es.finish(es.collect({ meta: { 'e mail': 'bob@example.com', plain: 'ann@example.com' } }));
    assert.deepEqual(f.map((x) => x.path), ['meta["e mail"]', 'meta.plain']);
  }
});

test('bodies are opened under a nested key and under a flattened top-level key', () => {
  const es = scanner();
  const doc = '{"user":{"email":"ann@example.com"}}';
  const nested = es.finish(es.collect({ http: { request: { body: { content: doc } } } }));
  assert.deepEqual(nested.map((x) => x.path), ['http.request.body.content$.user.email']);
  const flat = es.finish(es.collect({ 'http.request.body.content': doc, 'url.query': 'q=bob%40example.com' }));
  assert.deepEqual(flat.map((x) => x.path), ['http.request.body.content$.user.email', 'url.query$.q']);
  // a key named like the last segment elsewhere is no body
  const other = es.finish(es.collect({ note: { content: doc } }));
  assert.deepEqual(other.map((x) => x.path), ['note.content']);
});

test('integers in result rows, bound parameters and decoded gRPC fields are scanned and redacted; protocol numbers are not', () => {
  const es = scanner();
  const ev = {
    db: {
      query: { text: 'SELECT * FROM cards WHERE card_number = $1', parameter: { '0': 4111111111111111 } },
      response: { rows: [{ card_number: 4111111111111111, phone: 14155552671, ssn: 536228821, memory_size: 16785907712 }] },
    },
    grpc: { request: { messages: [{ size: 9, fields: { f1: 4111111111111111, f2: { f1: 5555555555554444 } } }] } },
    // sizes, offsets and times of the protocol: 4111111111111111 passes Luhn, and still is no card here
    kafka: { records: [{ offset: 4111111111111111, timestamp: 1700000000123 }] },
  };
  const f = es.finish(es.collect(ev));
  assert.deepEqual(f.map((x) => [x.type, x.path]).sort(), [
    ['credit_card', 'db.query.parameter.0'],
    ['credit_card', 'db.response.rows[0].card_number'],
    ['credit_card', 'grpc.request.messages[0].fields.f1'],
    ['credit_card', 'grpc.request.messages[0].fields.f2.f1'],
    ['phone', 'db.response.rows[0].phone'],
    ['us_ssn', 'db.response.rows[0].ssn'],
  ]);
  assert.equal(ev.db.response.rows[0]!.card_number as unknown, '<credit_card:************1111>');
  assert.equal(ev.db.response.rows[0]!.memory_size, 16785907712);
  assert.equal(ev.kafka.records[0]!.offset, 4111111111111111);
  assert.ok(!JSON.stringify(ev).includes('14155552671'));
});

test("every value of a repeated header has the header's name as context; in Redis lists the previous argument names the next", () => {
  const es = scanner();
  // bare digits are a phone or an SSN only by their field's name
  const h = es.finish(es.collect({ http: { request: { header: { 'x-phone': ['4155550123', '4155550188'], 'x-ssn': ['536228821', '536228822'] } } } }));
  assert.deepEqual(h.map((x) => [x.type, x.path]), [
    ['phone', 'http.request.header.x-phone[0]'], ['phone', 'http.request.header.x-phone[1]'],
    ['us_ssn', 'http.request.header.x-ssn[0]'], ['us_ssn', 'http.request.header.x-ssn[1]'],
  ]);
  const r = es.finish(es.collect({ redis: { args: ['HSET', 'user:1', 'phone', '4155550123', 'ssn', '536228821'] } }));
  assert.deepEqual(r.map((x) => [x.type, x.path]), [['phone', 'redis.args[3]'], ['us_ssn', 'redis.args[5]']]);
});

test('a key renamed by redaction leaves a sibling named __proto__ in place (it was re-assigned, set the prototype and vanished)', () => {
  const es = scanner();
  const ev = JSON.parse('{"http":{"request":{"body":{"content":"{\\"__proto__\\":\\"x\\",\\"alice@example.org\\":{\\"a\\":1}}"}}},"kafka":{"records":[{"headers":{"__proto__":["y"],"bob@example.org":["z"]}}]}}');
  es.finish(es.collect(ev));
  assert.equal(ev.http.request.body.content, '{"__proto__":"x","<email:*****@*******.***>":{"a":1}}');
  assert.deepEqual(Object.keys(ev.kafka.records[0].headers), ['__proto__', '<email:***@*******.***>']);
});

test('an event whose pano or pano.flags is not what the schema says is scanned and redacted all the same (a string there was an internal error)', () => {
  const es = scanner();
  // nested past the walk's depth: the event would be flagged pii_scan_cut
  const deep = '['.repeat(80) + '"bob@example.org"' + ']'.repeat(80);
  for (const pano of ['x', { v: 1, flags: 'notalist' }, null, [1]]) {
    const ev: Record<string, any> = { pano, http: { request: { body: { content: deep } } }, url: { query: 'q=alice@example.org' } };
    const found = es.finish(es.collect(ev));
    assert.deepEqual(found.map((f) => f.path), ['url.query$.q'], JSON.stringify(pano));
    assert.equal(ev.url.query, 'q=%3Cemail%3A*****%40*******.***%3E');
    assert.deepEqual(ev.pano, pano);
  }
  const ok: Record<string, any> = { pano: { v: 1 }, http: { request: { body: { content: deep } } } };
  es.finish(es.collect(ok));
  assert.deepEqual(ok.pano.flags, ['pii_scan_cut']);
});

test('`name` is a person in application headers (Kafka, AMQP) and a protocol object\'s name elsewhere', () => {
  const es = scanner();
  const f = es.finish(es.collect({
    kafka: { records: [{ headers: { name: 'Kofi Moreno' } }] },
    // a basic.publish's properties, and a basic.get-ok's (the message it got)
    amqp: { properties: { headers: { name: 'Ana Lima' } }, response: { properties: { headers: { name: 'Ana Lima' } } } },
    messaging: { destination: { name: 'Orders Queue' } },
  }));
  assert.deepEqual(f.map((x) => [x.type, x.path]), [
    ['person_name', 'kafka.records[0].headers.name'],
    ['person_name', 'amqp.properties.headers.name'],
    ['person_name', 'amqp.response.properties.headers.name'],
  ]);
});

test('a JSON document in a result row or a bound parameter is walked by its fields; a value only starting with a brace stays text', () => {
  const es = scanner();
  const profile = '{"home": {"street": "221B Baker Street"}, "dob": "1985-03-14", "order_id": 12345678901234567891}';
  const ev = {
    db: {
      query: { text: 'UPDATE t SET profile = $1 WHERE k = $2', parameter: { '0': profile, '1': '{user:1}:cart' } },
      response: { rows: [{ profile }] },
    },
    redis: { args: ['{user:1}:Kofi Moreno'] },
  };
  const f = es.finish(es.collect(ev));
  assert.deepEqual(f.map((x) => `${x.type} ${x.path} ${x.start}-${x.end}`), [
    'street_address db.query.parameter.0$.home.street 0-17',
    'date_of_birth db.query.parameter.0$.dob 0-10',
    'street_address db.response.rows[0].profile$.home.street 0-17',
    'date_of_birth db.response.rows[0].profile$.dob 0-10',
  ]);
  // written back with its other values as they were: an integer beyond 2^53 keeps its digits
  assert.equal(ev.db.response.rows[0]!.profile, '{"home":{"street":"<street_address:**** ***** ******>"},"dob":"<date_of_birth:****-**-**>","order_id":12345678901234567891}');
  assert.equal(ev.db.query.parameter['1'], '{user:1}:cart');
});

test('SQL literals take the column they are compared with (=, <>, !=, LIKE, ILIKE, a qualified name), not one compared by order', () => {
  const es = scanner();
  const sql = "SELECT 1 FROM u WHERE u.full_name = 'Ann Lee' OR surname<>'Moreno' OR first_name != 'Kofi' OR name LIKE 'Ana Lima' OR name ilike 'Bo Yang' OR pin >= '7'";
  const f = es.finish(es.collect({ db: { query: { text: sql } } }));
  assert.deepEqual(f.map((x) => sql.slice(x.start, x.end)), ['Ann Lee', 'Moreno', 'Kofi', 'Ana Lima', 'Bo Yang']);
});

test('MQTT: a PUBLISH payload and a will are bodies; a user property takes its name as context and may hold JSON', () => {
  const es = scanner();
  const event = {
    messaging: { system: 'mqtt', destination: { name: 'devices/42/status' }, message: { body: { size: 60, content: '{"owner":{"email":"ann@example.com"},"ssn":"536-22-8821"}' } } },
    mqtt: {
      packet_type: 'PUBLISH',
      properties: { user_properties: { phone: ['+1 415 555 2671'], ctx: ['{"contact":"bob@example.com"}'], note: ['536228821'] } },
      connect: { will: { topic: 't', qos: 0, retain: false, body: { size: 20, content: '{"mail":"eve@example.com"}' } } },
    },
  };
  const f = es.finish(es.collect(event));
  assert.deepEqual(f.map((x) => [x.type, x.path]).sort(), [
    ['email', 'messaging.message.body.content$.owner.email'],
    ['email', 'mqtt.connect.will.body.content$.mail'],
    ['email', 'mqtt.properties.user_properties.ctx[0]$.contact'],
    ['phone', 'mqtt.properties.user_properties.phone[0]'],
    ['us_ssn', 'messaging.message.body.content$.ssn'],
  ]);
});

test('MQTT: a bare payload takes its topic\'s last level as context, as a parameter takes its column\'s', () => {
  const es = scanner();
  const ev = (topic: string, content: string) => ({ messaging: { system: 'mqtt', destination: { name: topic }, message: { body: { size: content.length, content } } }, mqtt: { packet_type: 'PUBLISH' } });
  // a bare 9-digit number is an SSN only with context
  const named = es.finish(es.collect(ev('hr/employees/17/ssn', '536228821')));
  assert.deepEqual(named.map((x) => [x.type, x.path]), [['us_ssn', 'messaging.message.body.content']]);
  assert.deepEqual(es.finish(es.collect(ev('hr/employees/17/badge', '536228821'))), []);
  // a JSON payload's members keep their own names
  const json = es.finish(es.collect(ev('hr/employees/17/ssn', '{"ssn":"536228821","note":"536228821"}')));
  assert.deepEqual(json.map((x) => [x.type, x.path]), [['us_ssn', 'messaging.message.body.content$.ssn']]);
  // not MQTT: no topic
  const amqp = es.finish(es.collect({ messaging: { system: 'rabbitmq', destination: { name: 'ssn' }, message: { body: { size: 9, content: '536228821' } } } }));
  assert.deepEqual(amqp, []);
});

test('NATS: a bare payload takes its subject\'s last token as context (a wildcard names nothing); header values are named by their header', () => {
  const es = scanner();
  const ev = (subject: string, content: string, headers?: Record<string, string[]>) => ({ messaging: { system: 'nats', destination: { name: subject }, message: { body: { size: content.length, content } } }, nats: { operation: headers ? 'HPUB' : 'PUB', ...(headers ? { headers } : {}) } });
  const named = es.finish(es.collect(ev('hr.employees.17.ssn', '536228821')));
  assert.deepEqual(named.map((x) => [x.type, x.path]), [['us_ssn', 'messaging.message.body.content']]);
  assert.deepEqual(es.finish(es.collect(ev('hr.employees.17.badge', '536228821'))), []);
  assert.deepEqual(es.finish(es.collect(ev('hr.employees.ssn.>', '536228821'))), []);
  const h = es.finish(es.collect(ev('events.signup', '{}', { SSN: ['536228821'], 'Trace-Id': ['536228821'] })));
  assert.deepEqual(h.map((x) => [x.type, x.path]), [['us_ssn', 'nats.headers.SSN[0]']]);
});

test('memcached: stored and returned values are bodies named by their key\'s last part', () => {
  const es = scanner();
  const f = es.finish(es.collect({
    db: { system: { name: 'memcached' }, query: { text: 'set user:42:ssn 0 0 9' } },
    memcached: {
      protocol: 'text', keys: ['user:42:ssn'], value: { size: 9, content: '536228821' },
      response: { status: 'END', values: [{ key: 'session:9f', flags: 0, value: { size: 40, content: '{"email":"kim@example.org","n":536228821}' } }, { key: 'user:7:badge', flags: 0, value: { size: 9, content: '536228821' } }] },
    },
  }));
  assert.deepEqual(f.map((x) => [x.type, x.path]).sort(), [
    ['email', 'memcached.response.values[0].value.content$.email'],
    ['us_ssn', 'memcached.value.content'],
  ]);
});

test('SMTP: envelope addresses, header fields by their names and the body are scanned; AUTH carries no secret to find', () => {
  const es = scanner();
  const f = es.finish(es.collect({
    smtp: {
      command: 'DATA',
      envelope: { mail_from: 'shop@example.com', rcpt_to: ['ann@example.org'] },
      message: { size: 100, headers: { from: ['Shop <shop@example.com>'], to: ['Ann <ann@example.org>'], subject: ['Order 42'] }, body: { size: 40, content: 'Call us: +44 20 7946 0958\r\nSSN on file: 536-22-8821\r\n' } },
      reply: { code: 250, text: '2.0.0 Ok: queued' },
    },
  }));
  assert.deepEqual(f.map((x) => [x.type, x.path]).sort(), [
    ['email', 'smtp.envelope.mail_from'],
    ['email', 'smtp.envelope.rcpt_to[0]'],
    ['email', 'smtp.message.headers.from[0]'],
    ['email', 'smtp.message.headers.to[0]'],
    ['phone', 'smtp.message.body.content'],
    ['us_ssn', 'smtp.message.body.content'],
  ]);
});

test('SMTP MIME parts: a decoded attachment\'s text is scanned at its part\'s path', () => {
  const es = scanner();
  const f = es.finish(es.collect({
    smtp: { command: 'DATA', message: { size: 300, headers: {}, body: { size: 200 }, parts: [
      { headers: { 'content-type': ['text/plain'] }, body: { size: 10, content: 'see attached' } },
      { headers: { 'content-type': ['text/csv'] }, body: { size: 60, content_encoding: 'base64', content: 'name,email\nAnn Lee,ann@example.org\n' }, filename: 'contacts.csv' },
    ] } },
  }));
  assert.deepEqual(f.filter((x) => x.type === 'email').map((x) => x.path), ['smtp.message.parts[1].body.content']);
});

test('POP3: a retrieved message\'s header fields and body and the user name are scanned', () => {
  const es = scanner();
  const f = es.finish(es.collect({
    pop3: {
      command: 'RETR',
      message_number: 1,
      message: { size: 100, headers: { from: ['Shop <shop@example.com>'], subject: ['Order 42'] }, body: { size: 40, content: 'SSN on file: 536-22-8821\r\n' } },
      response: { status: '+OK', text: '100 octets' },
    },
  }));
  assert.deepEqual(f.map((x) => [x.type, x.path]).sort(), [
    ['email', 'pop3.message.headers.from[0]'],
    ['us_ssn', 'pop3.message.body.content'],
  ]);
  const user = scanner();
  const u = user.finish(user.collect({ pop3: { command: 'USER', arguments: 'ann@example.org', username: 'ann@example.org', response: { status: '+OK', text: '' } } }));
  assert.deepEqual(u.map((x) => [x.type, x.path]).sort(), [['email', 'pop3.arguments'], ['email', 'pop3.username']]);
});

test('IMAP: fetched envelopes, header fields and bodies, appended messages and mailbox names are scanned; LOGIN keeps no password to find', () => {
  const es = scanner();
  const f = es.finish(es.collect({
    imap: {
      tag: 'a1',
      command: 'UID FETCH',
      arguments: '1 (ENVELOPE BODY[])',
      fetch: [{
        seq: 1,
        uid: 7,
        envelope: { subject: 'Order 42', from: ['Shop <shop@example.com>'], to: ['ann@example.org'] },
        message: { size: 100, headers: { from: ['Shop <shop@example.com>'] }, body: { size: 40, content: 'SSN on file: 536-22-8821\r\n' } },
      }],
      mailboxes: [{ name: 'Clients/bob@example.net', delimiter: '/', attributes: [] }],
      response: { status: 'OK', text: 'Fetch completed.' },
    },
  }));
  assert.deepEqual(f.map((x) => [x.type, x.path]).sort(), [
    ['email', 'imap.fetch[0].envelope.from[0]'],
    ['email', 'imap.fetch[0].envelope.to[0]'],
    ['email', 'imap.fetch[0].message.headers.from[0]'],
    ['email', 'imap.mailboxes[0].name'],
    ['us_ssn', 'imap.fetch[0].message.body.content'],
  ]);
});

test('LDAP: entries\' values by their attribute types, DNs, filters and added values are scanned; credentials are sizes', () => {
  const es = scanner();
  const f = es.finish(es.collect({
    ldap: {
      message_id: 2,
      operation: 'search',
      search: { base: 'dc=example,dc=org', scope: 'sub', deref: 'never', size_limit: 0, time_limit: 0, types_only: false, filter: '(mail=ann@example.org)', attributes: [] },
      entries: [{ dn: 'mail=ann@example.org,dc=example,dc=org', attributes: { mail: ['ann@example.org'], telephoneNumber: ['+44 20 7946 0958'], userPassword: [{ size: 14 }] } }],
      entry_count: 1,
      response: { result_code: 0, result: 'success' },
    },
  }));
  assert.deepEqual(f.map((x) => [x.type, x.path]).sort(), [
    ['email', 'ldap.entries[0].attributes.mail[0]'],
    ['email', 'ldap.entries[0].dn'],
    ['email', 'ldap.search.filter'],
    ['phone', 'ldap.entries[0].attributes.telephoneNumber[0]'],
  ]);
});

test('FTP: a transferred file is scanned as a body, a refused file name in a reply as text', () => {
  const es = scanner();
  const f = es.finish(es.collect({ ftp: { transfer: { command: 'RETR', path: 'contacts.csv', direction: 'download', mode: 'passive', body: { size: 60, content: 'name,email\nAnn Lee,ann@example.org\n' } } } }));
  assert.deepEqual(f.map((x) => [x.type, x.path]), [['email', 'ftp.transfer.body.content']]);
  const r = scanner();
  const g = r.finish(r.collect({ ftp: { command: 'RETR', arguments: 'bob@example.net.csv', reply: { code: 550, text: 'bob@example.net.csv: No such file' } } }));
  assert.deepEqual(g.map((x) => [x.type, x.path]).sort(), [['email', 'ftp.arguments'], ['email', 'ftp.reply.text']]);
});
