// --otlp: statements go to the collector sanitized, as OpenTelemetry's
// database conventions ask (db.query.text with every literal replaced by ?),
// and bound parameters, Redis arguments and replies, memcached keys and values, e-mail messages are content
// (--otlp-content), like bodies and result rows. The sanitizer's outputs are
// written out by hand from the SQL dialects' literal rules (PostgreSQL:
// E'' escapes, $$ quoting, "" identifiers; MySQL: "" strings, backslash
// escapes, _charset and X'' literals, # comments).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DecodedSpan } from './otlp-receiver.js';
import { ev, exportedSpans } from './fixtures.js';

test('SQL literals become ?, identifiers, placeholders, keywords and comments stay', async () => {
  const { sanitizeSql } = await import('@panopticon/export');
  const cases: Array<[string, string, string]> = [
    ['postgresql', "SELECT * FROM users WHERE email = 'alice@example.com' AND id = 42", 'SELECT * FROM users WHERE email = ? AND id = ?'],
    ['postgresql', "INSERT INTO t (a, b, c) VALUES (E'it\\'s', 1.5e-3, $$body $$), ($tag$x$tag$, 0x1F, .5)", 'INSERT INTO t (a, b, c) VALUES (?, ?, ?), (?, ?, ?)'],
    ['postgresql', 'select "Name", t1.col2 from t1 where x = $1 and y = :y and z in (1, 2, -3)', 'select "Name", t1.col2 from t1 where x = $1 and y = :y and z in (?, ?, -?)'],
    // a backslash is an ordinary character in a standard PostgreSQL string: the string ends at the second quote
    ['postgresql', "select 'a\\', 'b'", 'select ?, ?'],
    ['postgresql', "select 'a''b', 'c' /* 'd' */ from dual where v = TRUE and w IS NULL -- 'e'", "select ?, ? /* 'd' */ from dual where v = TRUE and w IS NULL -- 'e'"],
    ['mysql', 'UPDATE `t` SET a = "x\\"y", b = _utf8mb4\'z\', c = X\'0A\', d = N\'q\' # tail 5', 'UPDATE `t` SET a = ?, b = ?, c = ?, d = ? # tail 5'],
    ['mysql', "SELECT 'it\\'s', col3 FROM t9 LIMIT 10", 'SELECT ?, col3 FROM t9 LIMIT ?'],
    // cut off inside a literal (the event's text is bounded): the rest is the literal
    ['mysql', "SELECT 'cut off", 'SELECT ?'],
    ['postgresql', 'SELECT 1', 'SELECT ?'],
    ['postgresql', 'BEGIN', 'BEGIN'],
  ];
  for (const [system, text, want] of cases) assert.equal(sanitizeSql(text, system), want, `${system}: ${text}`);
});

test('Redis: the command stays, every argument becomes ?', async () => {
  const { sanitizeRedis } = await import('@panopticon/export');
  assert.equal(sanitizeRedis('hset user:1 email alice@example.com', 3), 'hset ? ? ?');
  assert.equal(sanitizeRedis('PING', 0), 'PING');
  // arguments beyond those kept are counted in redis.args_count
  assert.equal(sanitizeRedis('MSET a 1 b', 4), 'MSET ? ? ? ?');
});

const SECRETS = ['alice@example.com', 'hunter2-secret', '+1-202-555-0143', 'carol@example.org', 'bob-session-value', 'dave@example.net', 'Erin Okafor', 'Payslip Frank Ito.pdf'];

function events(): string {
  return [
    ev({ id: '1-1', protocol: 'postgresql', groups: { db: {
      system: { name: 'postgresql' }, operation: { name: 'SELECT' },
      query: { text: `SELECT id FROM users WHERE email = '${SECRETS[0]}' AND pw = $1`, parameter: { 0: SECRETS[1] } },
      response: { rows: [{ phone: SECRETS[2] }] },
    } } }),
    ev({ id: '2-1', protocol: 'mysql', groups: { db: {
      system: { name: 'mysql' }, operation: { name: 'INSERT' },
      query: { text: `INSERT INTO contacts VALUES ("${SECRETS[3]}", 7)` },
    } } }),
    ev({ id: '3-1', protocol: 'redis', groups: {
      db: { system: { name: 'redis' }, operation: { name: 'SET' }, query: { text: `set session:9 ${SECRETS[4]}` } },
      redis: { args: ['session:9', SECRETS[4]], response: { type: 'simple', value: 'OK' } },
    } }),
    ev({ id: '4-1', protocol: 'memcached', groups: {
      db: { system: { name: 'memcached' }, operation: { name: 'set' }, query: { text: `set user:${SECRETS[0]} 0 3600 14` } },
      memcached: { protocol: 'text', keys: [`user:${SECRETS[0]}`], value: { size: 14, content: SECRETS[1] }, response: { status: 'STORED' } },
    } }),
    ev({ id: '5-1', protocol: 'smtp', groups: {
      smtp: { command: 'DATA', message: { size: 60, headers: { to: [SECRETS[5]] }, body: { size: 11, content: SECRETS[6] } }, reply: { code: 250, text: 'queued' } },
    } }),
    ev({ id: '7-1', protocol: 'imap', groups: {
      imap: { tag: 'a1', command: 'FETCH', arguments: '1 (UID ENVELOPE BODY[])', fetch: [{ seq: 1, uid: 7, size: 60, envelope: { subject: 'hi', from: [SECRETS[5]] }, structure: [{ part: '1', type: 'application', subtype: 'pdf', encoding: 'base64', size: 8, disposition: { type: 'attachment', parameters: { filename: SECRETS[7] } } }], headers: { to: [SECRETS[5]] }, message: { size: 60, headers: { from: [SECRETS[5]] }, body: { size: 11, content: SECRETS[6] } }, sections: [{ section: 'TEXT', body: { size: 11, content: SECRETS[6] } }] }], response: { status: 'OK', text: 'done' } },
    } }),
    ev({ id: '8-1', protocol: 'ldap', groups: {
      ldap: { message_id: 2, operation: 'search', search: { base: 'dc=example,dc=org', scope: 'sub', deref: 'never', size_limit: 0, time_limit: 0, types_only: false, filter: `(mail=${SECRETS[5]})`, attributes: ['cn'] }, entries: [{ dn: 'uid=e,dc=example,dc=org', attributes: { cn: [SECRETS[6]] } }], entry_count: 1, response: { result_code: 0, result: 'success' } },
    } }),
    ev({ id: '6-1', protocol: 'pop3', groups: {
      pop3: { command: 'RETR', message_number: 1, message: { size: 60, headers: { from: [SECRETS[5]] }, body: { size: 11, content: SECRETS[6] } }, response: { status: '+OK', text: '60 octets' } },
    } }),
  ].map((e) => JSON.stringify(e)).join('\n') + '\n';
}

function spansOf(args: string[]): Promise<Record<string, DecodedSpan>> {
  return exportedSpans(events(), args, 8);
}

test('spans carry sanitized statements and no parameters, arguments or replies unless --otlp-content', async () => {
  const by = await spansOf([]);
  const all = JSON.stringify(Object.values(by).map((s) => s.attributes));
  for (const secret of SECRETS) assert.ok(!all.includes(secret), `${secret} must not reach the collector`);
  assert.equal(by['1-1']!.attributes['db.query.text'], 'SELECT id FROM users WHERE email = ? AND pw = $1');
  assert.equal(by['1-1']!.attributes['db.query.parameter.0'], undefined);
  assert.equal(by['1-1']!.attributes['db.operation.name'], 'SELECT');
  assert.equal(by['2-1']!.attributes['db.query.text'], 'INSERT INTO contacts VALUES (?, ?)');
  assert.equal(by['3-1']!.attributes['db.query.text'], 'set ? ?');
  assert.equal(by['3-1']!.attributes['redis.args'], undefined);
  assert.equal(by['3-1']!.attributes['redis.response.value'], undefined);
  assert.equal(by['3-1']!.attributes['redis.response.type'], 'simple', 'the reply type is telemetry');
  // memcached: keys and values are content, the command line keeps only its command
  assert.equal(by['4-1']!.attributes['db.query.text'], 'set ? ? ? ?');
  assert.equal(by['4-1']!.attributes['memcached.keys'], undefined);
  assert.equal(by['4-1']!.attributes['memcached.value.content'], undefined);
  assert.equal(by['4-1']!.attributes['memcached.response.status'], 'STORED');
  // e-mail sent (SMTP) and retrieved (POP3): the message is content, the command and its answer are telemetry
  assert.equal(by['5-1']!.attributes['smtp.command'], 'DATA');
  assert.equal(by['6-1']!.attributes['pop3.command'], 'RETR');
  assert.equal(by['6-1']!.attributes['pop3.response.status'], '+OK');
  assert.equal(by['7-1']!.attributes['imap.command'], 'FETCH');
  assert.equal(by['8-1']!.attributes['ldap.search.base'], 'dc=example,dc=org');
  assert.equal(by['8-1']!.attributes['ldap.entry_count'], 1);

  const raw = await spansOf(['--otlp-content']);
  assert.equal(raw['1-1']!.attributes['db.query.text'], `SELECT id FROM users WHERE email = '${SECRETS[0]}' AND pw = $1`);
  assert.equal(raw['1-1']!.attributes['db.query.parameter.0'], SECRETS[1]);
  assert.deepEqual(raw['3-1']!.attributes['redis.args'], ['session:9', SECRETS[4]]);
  assert.equal(raw['3-1']!.attributes['redis.response.value'], 'OK');
  assert.deepEqual(raw['4-1']!.attributes['memcached.keys'], [`user:${SECRETS[0]}`]);
  assert.equal(raw['4-1']!.attributes['memcached.value.content'], SECRETS[1]);
  for (const id of ['5-1', '6-1', '7-1', '8-1']) {
    const attrs = JSON.stringify(raw[id]!.attributes);
    assert.ok(attrs.includes(SECRETS[5]) && attrs.includes(SECRETS[6]), `${id}: the message with --otlp-content`);
  }
  // an attachment's file name in what IMAP fetched of a message's structure: content too
  assert.ok(JSON.stringify(raw['7-1']!.attributes).includes(SECRETS[7]!), 'the structure with --otlp-content');
});
