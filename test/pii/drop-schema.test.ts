// --redact drop and the event schema: a field the schema requires that held a finding becomes null
// (removed, the event was one the schema refused: a DNS name or record data, an EDNS option's hex, a
// MySQL error message or column name, an MQTT will topic or subscription filter). The schema's required strings are read from the schema files
// themselves, so one added later must be classed here: able to hold a finding (REQUIRED_STRING, null
// allowed) or not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { validateEvent } from '@panopticon/events';
import { REQUIRED_STRING } from '../../packages/pii/src/event.js';
import { runBin } from '../helpers/bin.js';
import { corpusAvailable, corpusFiles, repoRoot } from '../helpers/corpus.js';

const SCHEMA_DIR = resolve(repoRoot, 'packages/events/schema');

/** `file pointer property` of every required property whose type includes string, with its types. */
function requiredStrings(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const f of readdirSync(SCHEMA_DIR).filter((n) => n.endsWith('.json')).sort()) {
    const walk = (o: unknown, at: string): void => {
      if (!o || typeof o !== 'object') return;
      const s = o as { required?: string[]; properties?: Record<string, { type?: string | string[] }> };
      if (Array.isArray(s.required) && s.properties) {
        for (const r of s.required) {
          const t = s.properties[r]?.type;
          const types = t === undefined ? [] : Array.isArray(t) ? t : [t];
          if (types.includes('string')) out.set(`${f} ${at} ${r}`, types);
        }
      }
      for (const [k, v] of Object.entries(o)) walk(v, `${at}/${k}`);
    };
    walk(JSON.parse(readFileSync(resolve(SCHEMA_DIR, f), 'utf8')), '');
  }
  return out;
}

/** Required strings that can hold a finding, each with an event path REQUIRED_STRING must take. */
const MAY_HOLD_PII: Record<string, string> = {
  'dns.json /properties/question name': 'dns.question.name',
  'dns.json /$defs/edns/properties/options/items data': 'dns.edns.options[0].data',
  'dns.json /$defs/records/items name': 'dns.authority[3].name',
  'dns.json /$defs/records/items data': 'dns.answers[12].data',
  'mysql.json /properties/columns/items name': 'mysql.columns[0].name',
  'mysql.json /properties/error message': 'mysql.error.message',
  'mqtt.json /properties/connect/properties/will topic': 'mqtt.connect.will.topic',
  'mqtt.json /properties/subscriptions/items filter': 'mqtt.subscriptions[1].filter',
  'mqtt.json /$defs/binary/oneOf/1 base64': 'mqtt.response.properties.correlation_data.base64',
  'memcached.json /properties/response/properties/values/items key': 'memcached.response.values[2].key',
  'smtp.json /$defs/reply text': 'smtp.reply.text',
  'pop3.json /properties/response text': 'pop3.response.text',
  'imap.json /properties/response text': 'imap.response.text',
  'imap.json /properties/mailboxes/items name': 'imap.mailboxes[0].name',
  'imap.json /properties/status mailbox': 'imap.status.mailbox',
  'imap.json /properties/quota_roots mailbox': 'imap.quota_roots.mailbox',
  'imap.json /properties/quota/items root': 'imap.quota[0].root',
  'imap.json /$defs/namespaces/items prefix': 'imap.namespace.other[1].prefix',
  'ldap.json /properties/bind name': 'ldap.bind.name',
  'ldap.json /properties/entries/items dn': 'ldap.entries[0].dn',
  'ldap.json /properties/modify_dn new_rdn': 'ldap.modify_dn.new_rdn',
  'ldap.json /properties/search base': 'ldap.search.base',
  'ldap.json /properties/search filter': 'ldap.search.filter',
  'ftp.json /$defs/reply text': 'ftp.reply.text',
  'nats.json /properties/subscription subject': 'nats.subscription.subject',
};
/** Required strings that hold no finding: names from a fixed set, codes, pano's own envelope (not scanned). */
const NO_PII = [
  'amqp.json  method', 'amqp.json /properties/response method', 'db.json /properties/system name', 'dns.json  opcode',
  'dns.json /properties/question type', 'dns.json /properties/question class', 'dns.json /$defs/records/items type',
  'dns.json /$defs/records/items class', 'event.v1.json /$defs/envelope id', 'event.v1.json /$defs/envelope protocol',
  'event.v1.json /$defs/envelope time', 'grpc.json /$defs/unknown_fields/items at', 'http2.json /properties/reset error_code',
  'http2.json /properties/goaway error_code', 'http3.json /properties/reset error_code', 'messaging.json  system', 'mysql.json  command', 'mysql.json /properties/columns/items type',
  'rpc.json  system', 'mqtt.json /properties/connect protocol_name', 'smtp.json /properties/auth mechanism',
  'pop3.json /properties/auth mechanism',
  'imap.json /properties/auth mechanism', 'imap.json /properties/fetch/items/properties/sections/items section',
  'imap.json /properties/mailboxes/items delimiter',
  'imap.json /$defs/namespaces/items delimiter', 'imap.json /properties/quota/items/properties/resources/items name',
  'imap.json /$defs/part part', 'imap.json /$defs/part type', 'imap.json /$defs/part subtype', 'imap.json /$defs/part/properties/disposition type',
  'ldap.json /$defs/controls/items oid', 'ldap.json /properties/changes/items operation', 'ldap.json /properties/changes/items type',
  'ldap.json /properties/compare attribute', 'ldap.json /properties/extended oid', 'ldap.json /properties/response result',
  'ldap.json /properties/search deref', 'ldap.json /properties/search scope',
  // an IP address the server names for a data connection: infrastructure, as the envelope's addresses are
  'ftp.json /properties/data_connection address',
];

test('every required string of the schema is classed; those that can hold a finding allow null and are nulled by drop', () => {
  const found = requiredStrings();
  assert.deepEqual([...found.keys()].sort(), [...Object.keys(MAY_HOLD_PII), ...NO_PII].sort());
  for (const [where, path] of Object.entries(MAY_HOLD_PII)) {
    assert.ok(found.get(where)!.includes('null'), `${where}: null not allowed`);
    assert.ok(REQUIRED_STRING.test(path), path);
  }
  for (const path of ['dns.question.type', 'dns.answers[0].type', 'mysql.columns[0].type', 'dns.question.name.x', 'xdns.question.name']) {
    assert.ok(!REQUIRED_STRING.test(path), path);
  }
});

const envelope = (id: string, protocol: string, port: number) => ({
  pano: { v: 1, id, kind: 'exchange', protocol, start_ns: '1', end_ns: '2', duration_ns: 1, time: '2023-11-14T22:13:20.000000001Z', source: { type: 'pcap', name: 'x' }, connection: { id: 1, roles: 'syn' } },
  client: { address: '10.0.0.1', port: 50000 },
  server: { address: '10.0.0.2', port },
  network: { transport: port === 53 ? 'udp' : 'tcp', type: 'ipv4', protocol: { name: protocol } },
});
const EVENTS = [
  {
    ...envelope('1-1', 'dns', 53),
    dns: {
      id: 1, opcode: 'QUERY', flags: ['RD', 'RA'],
      question: { name: 'alice\\@example.org.mail.example.net', type: 'TXT', class: 'IN' },
      response_code: 'NOERROR', answer_count: 2,
      answers: [
        { name: 'alice\\@example.org.mail.example.net', type: 'CNAME', class: 'IN', ttl: 60, data: 'bob\\@example.org.mail.example.net' },
        { name: 'bob\\@example.org.mail.example.net', type: 'TXT', class: 'IN', ttl: 60, data: '"card 4111 1111 1111 1111"' },
      ],
    },
  },
  {
    ...envelope('2-1', 'mysql', 3306),
    db: { system: { name: 'mysql' }, query: { text: "SELECT 'carol@example.org'" } },
    mysql: { command: 'COM_QUERY', columns: [{ name: 'carol@example.org', type: 'VAR_STRING' }] },
  },
  {
    ...envelope('3-1', 'mysql', 3306),
    db: { system: { name: 'mysql' }, query: { text: 'INSERT INTO u(email) VALUES (?)' } },
    mysql: { command: 'COM_STMT_EXECUTE', error: { code: 1062, sql_state: '23000', message: "Duplicate entry 'dave@example.org' for key 'email'" } },
    error: { type: '1062' },
  },
  {
    ...envelope('4-1', 'mqtt', 1883),
    messaging: { system: 'mqtt', operation: { name: 'subscribe' }, client: { id: 'c' } },
    mqtt: {
      packet_type: 'SUBSCRIBE', packet_id: 1, subscriptions: [{ filter: 'users/erin@example.org/#', qos: 1 }],
      connect: { protocol_name: 'MQTT', keep_alive: 60, will: { topic: 'gone/frank@example.org', qos: 0, retain: false, body: { size: 1, content: 'x' } } },
      response: { packet_type: 'SUBACK', properties: { correlation_data: { base64: Buffer.from('grace@example.org').toString('base64') } } },
    },
  },
  {
    ...envelope('5-1', 'memcached', 11211),
    db: { system: { name: 'memcached' }, operation: { name: 'get' } },
    memcached: { protocol: 'text', keys: ['user:hank@example.org'], response: { status: 'END', values: [{ key: 'user:hank@example.org', flags: 0, value: { size: 1, content: 'x' } }] } },
  },
  {
    ...envelope('6-1', 'smtp', 25),
    smtp: { command: 'RCPT', arguments: 'TO:<ivy@example.org>', rcpt_to: 'ivy@example.org', reply: { code: 550, text: '5.1.1 <ivy@example.org>: Recipient address rejected' } },
    error: { type: '550' },
  },
  {
    ...envelope('7-1', 'pop3', 110),
    pop3: { command: 'USER', arguments: 'jack@example.org', username: 'jack@example.org', response: { status: '-ERR', text: 'no mailbox for jack@example.org' } },
    error: { type: 'ERR' },
  },
  {
    ...envelope('8-1', 'imap', 143),
    imap: {
      tag: 'a1', command: 'LIST', arguments: '"" "*"',
      mailboxes: [{ name: 'Clients/kim@example.org', delimiter: '/', attributes: [] }],
      status: { mailbox: 'Clients/kim@example.org', items: { MESSAGES: 1 } },
      namespace: { personal: [{ prefix: '', delimiter: '/' }], other: [{ prefix: 'Users/kim@example.org/', delimiter: '/' }], shared: [] },
      quota: [{ root: 'user/kim@example.org', resources: [{ name: 'STORAGE', usage: 10, limit: 100 }] }],
      quota_roots: { mailbox: 'Clients/kim@example.org', roots: ['user/kim@example.org'] },
      response: { status: 'NO', text: 'no access to kim@example.org' },
    },
    error: { type: 'NO' },
  },
  {
    ...envelope('9-1', 'ldap', 389),
    ldap: {
      message_id: 2, operation: 'search',
      search: { base: 'mail=lee@example.org,dc=example,dc=org', scope: 'sub', deref: 'never', size_limit: 0, time_limit: 0, types_only: false, filter: '(mail=lee@example.org)', attributes: ['mail'] },
      entries: [{ dn: 'mail=lee@example.org,dc=example,dc=org', attributes: { mail: ['lee@example.org'] } }],
      entry_count: 1,
      response: { result_code: 0, result: 'success' },
    },
  },
  {
    ...envelope('10-1', 'ftp', 21),
    ftp: { command: 'RETR', arguments: 'mia@example.org.csv', reply: { code: 550, text: 'mia@example.org.csv: No such file or directory.' } },
    error: { type: '550' },
  },
];

test('--redact drop nulls required fields that held a finding: the events stay valid, and every mode leaves them valid', () => {
  for (const ev of EVENTS) assert.deepEqual(validateEvent(ev), [], `input ${ev.pano.id}`);
  const input = EVENTS.map((e) => JSON.stringify(e)).join('\n') + '\n';
  for (const mode of ['mask', 'hash', 'drop']) {
    const r = runBin('pano-pii', ['--redact', mode], { input });
    assert.equal(r.status, 0, r.stderr);
    const out = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    for (const ev of out) assert.deepEqual(validateEvent(ev), [], `${mode} ${ev.pano.id}`);
    assert.ok(!/alice|bob\\|carol|dave|4111|erin|frank|hank|ivy|jack|kim|lee|mia/.test(r.stdout.replace(/"pii":\[.*?\]\}$/gm, '')), `${mode}: a value left`);
    if (mode !== 'drop') continue;
    const [dns, columns, error] = out;
    assert.equal(dns.dns.question.name, null);
    assert.deepEqual(dns.dns.answers.map((a: { name: unknown; data: unknown }) => [a.name, a.data]), [[null, null], [null, null]]);
    assert.deepEqual(dns.dns.answers.map((a: { type: string }) => a.type), ['CNAME', 'TXT']);
    assert.deepEqual(columns.mysql.columns, [{ name: null, type: 'VAR_STRING' }]);
    // a field the schema does not require is still removed
    assert.equal(columns.db.query.text, undefined);
    assert.deepEqual(error.mysql.error, { code: 1062, sql_state: '23000', message: null });
    const mqtt = out[3];
    assert.deepEqual(mqtt.mqtt.subscriptions, [{ filter: null, qos: 1 }]);
    assert.equal(mqtt.mqtt.connect.will.topic, null);
    const mc = out[4];
    assert.deepEqual(mc.memcached.keys, [null]);
    assert.equal(mc.memcached.response.values[0].key, null);
    assert.deepEqual(out[5].smtp.reply, { code: 550, text: null });
    assert.deepEqual(out[6].pop3.response, { status: '-ERR', text: null });
    assert.deepEqual(out[7].imap.response, { status: 'NO', text: null });
    assert.deepEqual(out[7].imap.mailboxes, [{ name: null, delimiter: '/', attributes: [] }]);
    assert.deepEqual(out[7].imap.status, { mailbox: null, items: { MESSAGES: 1 } });
    assert.deepEqual(out[7].imap.namespace, { personal: [{ prefix: '', delimiter: '/' }], other: [{ prefix: null, delimiter: '/' }], shared: [] });
    assert.deepEqual(out[7].imap.quota, [{ root: null, resources: [{ name: 'STORAGE', usage: 10, limit: 100 }] }]);
    assert.deepEqual(out[7].imap.quota_roots, { mailbox: null, roots: [null] });
    assert.equal(out[8].ldap.search.base, null);
    assert.equal(out[8].ldap.search.filter, null);
    assert.deepEqual(out[8].ldap.entries, [{ dn: null, attributes: { mail: [null] } }]);
    assert.deepEqual(out[9].ftp.reply, { code: 550, text: null });
  }
});

test('real DNS captures (client subnets, SOA mailboxes) through pano-parse and pano-pii --redact drop stay valid', (t) => {
  if (!corpusAvailable()) return t.skip('corpus not present (../shared/corpus)');
  const parsed = runBin('pano-parse', corpusFiles('dns'));
  assert.equal(parsed.status, 0, parsed.stderr);
  const r = runBin('pano-pii', ['--redact', 'drop'], { input: parsed.stdout });
  assert.equal(r.status, 0, r.stderr);
  const out = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  let nulled = 0;
  for (const ev of out) {
    assert.deepEqual(validateEvent(ev), [], ev.pano.id);
    for (const p of ev.pii ?? []) if (REQUIRED_STRING.test(p.path)) nulled++;
  }
  // the ECS options and SOA mailboxes of these captures (pano-pii(1)): some required field held one
  assert.ok(nulled > 0, 'no required field held a finding');
});
