// LDAP parser on hand-built BER (RFC 4511 §4, encodings per X.690 written out
// here): bind, search with its filter as RFC 4515 text, entries with text,
// binary and credential values, modify, add, delete, modify DN, compare,
// extended operations, abandon, unbind; messages split and joined across
// segments, out-of-order completion, oversized messages, gaps, damage,
// StartTLS, detection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fakeContext, recordAsEvent } from '../helpers/fake-parser-context.js';
import { C, S, at, shape, runSession, sidesOf, damagedSessionsStayValid, resumedInside, type RunOptions, type Side } from '../helpers/parser-session.js';
import { Conversation, pcapng } from '../helpers/synth.js';
import { assertValidEvents, parseCaptureSync } from '../helpers/parse.js';
import { LdapParser } from '../../packages/protocols/src/ldap/parser.js';
import { detectLdap } from '../../packages/protocols/src/ldap/index.js';
import type { ExchangeRecord } from '../../packages/protocols/src/types.js';

// --- a BER writer (definite lengths, X.690 §8.1.3) ---------------------------------------------
function tlv(tag: number, ...contents: Array<Buffer | string>): Buffer {
  const body = Buffer.concat(contents.map((c) => (typeof c === 'string' ? Buffer.from(c, 'utf8') : c)));
  const n = body.length;
  const len = n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : n < 0x10000 ? Buffer.from([0x82, n >> 8, n & 0xff]) : Buffer.from([0x83, n >> 16, (n >> 8) & 0xff, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), len, body]);
}
const int = (v: number, tag = 0x02) => tlv(tag, v < 0x80 ? Buffer.from([v]) : v < 0x8000 ? Buffer.from([v >> 8, v & 0xff]) : Buffer.from([0, v >> 16, (v >> 8) & 0xff, v & 0xff]));
const str = (s: string | Buffer, tag = 0x04) => tlv(tag, s);
const bool = (b: boolean) => tlv(0x01, Buffer.from([b ? 0xff : 0]));
const seq = (...c: Buffer[]) => tlv(0x30, ...c);
const set = (...c: Buffer[]) => tlv(0x31, ...c);
const msg = (id: number, op: Buffer, controls?: Buffer) => seq(int(id), op, ...(controls ? [controls] : []));
const attr = (type: string, ...values: Array<string | Buffer>) => seq(str(type), set(...values.map((v) => str(v))));
const result = (tag: number, code: number, matched = '', message = '', ...rest: Buffer[]) => tlv(tag, int(code, 0x0a), str(matched), str(message), ...rest);

const eq = (a: string, v: string) => tlv(0xa3, str(a), str(v));
const FILTER = tlv(0xa0, // and
  eq('objectClass', 'person'),
  tlv(0xa1, tlv(0xa4, str('mail'), seq(str('@example.org', 0x82))), tlv(0xa4, str('cn'), seq(str('Ivy', 0x80), str('C', 0x81)))),
  tlv(0xa2, tlv(0x87, 'telephoneNumber')),
  tlv(0xa5, str('uidNumber'), str('1000')),
  eq('description', 'a*b(c)d\\e'),
  tlv(0xa9, str('caseExactMatch', 0x81), str('cn', 0x82), str('Ivy Chen', 0x83), tlv(0x84, Buffer.from([0xff]))),
);
const PHOTO = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46]);

const BIND = msg(1, tlv(0x60, int(3), str('cn=admin,dc=example,dc=org'), str('secret-admin-pw', 0x80)));
const BIND_OK = msg(1, result(0x61, 0));
const SEARCH = msg(2, tlv(0x63, str('dc=example,dc=org'), int(2, 0x0a), int(0, 0x0a), int(0), int(0), bool(false), FILTER, seq(str('cn'), str('mail'), str('userPassword'), str('jpegPhoto'))), tlv(0xa0, seq(str('1.2.840.113556.1.4.319'), str(seq(int(100), str(''))))));
const ENTRY = msg(2, tlv(0x64, str('uid=ivy,ou=people,dc=example,dc=org'), seq(attr('cn', 'Ivy Chen'), attr('mail', 'ivy@example.org', 'ivy.chen@example.org'), attr('userPassword', '{SSHA}abcdefgh'), attr('jpegPhoto', PHOTO))));
const ENTRY2 = msg(2, tlv(0x64, str('uid=bob,ou=people,dc=example,dc=org'), seq(attr('cn', 'Bob Li'))));
const REFERENCE = msg(2, tlv(0x73, str('ldap://other.example.org/dc=example,dc=org??sub')));
const SEARCH_DONE = msg(2, result(0x65, 0), tlv(0xa0, seq(str('1.2.840.113556.1.4.319'), str(seq(int(0), str(''))))));
const MODIFY = msg(3, tlv(0x66, str('uid=ivy,ou=people,dc=example,dc=org'), seq(seq(int(2, 0x0a), attr('telephoneNumber', '+44 20 7946 0958')), seq(int(1, 0x0a), attr('description')))));
const MODIFY_OK = msg(3, result(0x67, 0));
const ADD = msg(4, tlv(0x68, str('uid=kim,ou=people,dc=example,dc=org'), seq(attr('objectClass', 'inetOrgPerson'), attr('cn', 'Kim Park'), attr('sn', 'Park'), attr('userPassword', 'kim-pw-123'))));
const ADD_EXISTS = msg(4, result(0x69, 68, '', 'Entry already exists'));
const COMPARE = msg(5, tlv(0x6e, str('uid=ivy,ou=people,dc=example,dc=org'), seq(str('mail'), str('ivy@example.org'))));
const COMPARE_TRUE = msg(5, result(0x6f, 6));
const MODDN = msg(6, tlv(0x6c, str('uid=kim,ou=people,dc=example,dc=org'), str('uid=kimp'), bool(true), str('ou=staff,dc=example,dc=org', 0x80)));
const MODDN_NOSUCH = msg(6, result(0x6d, 32, 'dc=example,dc=org', 'no such object'));
const DELETE = msg(7, str('uid=bob,ou=people,dc=example,dc=org', 0x4a));
const DELETE_OK = msg(7, result(0x6b, 0));
const WHOAMI = msg(8, tlv(0x77, str('1.3.6.1.4.1.4203.1.11.3', 0x80)));
const WHOAMI_OK = msg(8, result(0x78, 0, '', '', str('dn:cn=admin,dc=example,dc=org', 0x8b)));
const PASSWD = msg(9, tlv(0x77, str('1.3.6.1.4.1.4203.1.11.1', 0x80), str(seq(str('uid=ivy,ou=people,dc=example,dc=org', 0x80), str('old-pw-ivy', 0x81), str('new-pw-ivy', 0x82)), 0x81)));
const PASSWD_OK = msg(9, result(0x78, 0));
const UNBIND = msg(10, tlv(0x42));

const session: Side[] = [
  [C, BIND], [S, BIND_OK],
  [C, SEARCH], [S, Buffer.concat([ENTRY, ENTRY2, REFERENCE, SEARCH_DONE])],
  [C, MODIFY], [S, MODIFY_OK],
  [C, ADD], [S, ADD_EXISTS],
  [C, COMPARE], [S, COMPARE_TRUE],
  [C, MODDN], [S, MODDN_NOSUCH],
  [C, DELETE], [S, DELETE_OK],
  [C, WHOAMI], [S, WHOAMI_OK],
  [C, PASSWD], [S, PASSWD_OK],
  [C, UNBIND],
];

const run = (sides: Side[], step = Infinity, conn: RunOptions['conn'] = {}) => runSession((ctx) => new LdapParser(ctx), sides, { step, conn });

test('a session: every operation with its response, the search with its filter, entries, reference and controls; no credential kept', () => {
  const ctx = run(session);
  assert.deepEqual(ctx.records.map((r) => [r.kind, at(r, 'ldap.message_id'), at(r, 'ldap.operation'), at(r, 'ldap.response.result') ?? null]), [
    ['exchange', 1, 'bind', 'success'],
    ['exchange', 2, 'search', 'success'],
    ['exchange', 3, 'modify', 'success'],
    ['exchange', 4, 'add', 'entryAlreadyExists'],
    ['exchange', 5, 'compare', 'compareTrue'],
    ['exchange', 6, 'modify_dn', 'noSuchObject'],
    ['exchange', 7, 'delete', 'success'],
    ['exchange', 8, 'extended', 'success'],
    ['exchange', 9, 'extended', 'success'],
    ['message', 10, 'unbind', null],
  ]);
  const [bind, search, modify, add, compare, moddn, del, whoami, passwd] = ctx.records;
  assert.deepEqual(at(bind!, 'ldap.bind'), { version: 3, name: 'cn=admin,dc=example,dc=org', method: 'simple' });
  assert.equal(bind!.requestBytes, BIND.length);
  assert.deepEqual(at(search!, 'ldap.search'), {
    base: 'dc=example,dc=org', scope: 'sub', deref: 'never', size_limit: 0, time_limit: 0, types_only: false,
    filter: '(&(objectClass=person)(|(mail=*@example.org)(cn=Ivy*C*))(!(telephoneNumber=*))(uidNumber>=1000)(description=a\\2ab\\28c\\29d\\5ce)(cn:dn:caseExactMatch:=Ivy Chen))',
    attributes: ['cn', 'mail', 'userPassword', 'jpegPhoto'],
  });
  assert.deepEqual(at(search!, 'ldap.controls'), [{ oid: '1.2.840.113556.1.4.319', name: 'Paged Results' }]);
  assert.deepEqual(at(search!, 'ldap.entries'), [
    { dn: 'uid=ivy,ou=people,dc=example,dc=org', attributes: { cn: ['Ivy Chen'], mail: ['ivy@example.org', 'ivy.chen@example.org'], userPassword: [{ size: 14 }], jpegPhoto: [{ size: 8, base64: PHOTO.toString('base64') }] } },
    { dn: 'uid=bob,ou=people,dc=example,dc=org', attributes: { cn: ['Bob Li'] } },
  ]);
  assert.equal(at(search!, 'ldap.entry_count'), 2);
  assert.deepEqual(at(search!, 'ldap.references'), ['ldap://other.example.org/dc=example,dc=org??sub']);
  assert.deepEqual(at(search!, 'ldap.response.controls'), [{ oid: '1.2.840.113556.1.4.319', name: 'Paged Results' }]);
  assert.equal(search!.responseBytes, ENTRY.length + ENTRY2.length + REFERENCE.length + SEARCH_DONE.length);
  assert.deepEqual(at(modify!, 'ldap.changes'), [{ operation: 'replace', type: 'telephoneNumber', values: ['+44 20 7946 0958'] }, { operation: 'delete', type: 'description', values: [] }]);
  assert.deepEqual(at(add!, 'ldap.attributes'), { objectClass: ['inetOrgPerson'], cn: ['Kim Park'], sn: ['Park'], userPassword: [{ size: 10 }] });
  assert.deepEqual(add!.attributes.error, { type: 'entryAlreadyExists' });
  assert.deepEqual(at(add!, 'ldap.response'), { result_code: 68, result: 'entryAlreadyExists', diagnostic_message: 'Entry already exists' });
  assert.deepEqual(at(compare!, 'ldap.compare'), { attribute: 'mail', value: 'ivy@example.org' });
  // compareTrue answers the question: no error
  assert.equal(compare!.attributes.error, undefined);
  assert.deepEqual(at(moddn!, 'ldap.modify_dn'), { new_rdn: 'uid=kimp', delete_old_rdn: true, new_superior: 'ou=staff,dc=example,dc=org' });
  assert.equal(at(moddn!, 'ldap.response.matched_dn'), 'dc=example,dc=org');
  assert.equal(at(del!, 'ldap.dn'), 'uid=bob,ou=people,dc=example,dc=org');
  assert.deepEqual(at(whoami!, 'ldap.extended'), { oid: '1.3.6.1.4.1.4203.1.11.3', name: 'Who am I?' });
  assert.equal(at(whoami!, 'ldap.response.value'), 'dn:cn=admin,dc=example,dc=org');
  assert.deepEqual(at(passwd!, 'ldap.extended'), { oid: '1.3.6.1.4.1.4203.1.11.1', name: 'Password Modify', value: { size: 2 + 37 + 12 + 12 } });
  const text = JSON.stringify(ctx.records.map((r) => r.attributes));
  for (const secret of ['secret-admin-pw', 'SSHA', 'kim-pw-123', 'old-pw-ivy', 'new-pw-ivy']) assert.ok(!text.includes(secret), secret);
  for (const r of ctx.records) assert.deepEqual(r.attributes.network, { protocol: { name: 'ldap' } });
  assertValidEvents(ctx.records.map((r) => recordAsEvent(r, 'ldap')));
});

test('messages split into 1, 3 and 50-byte pieces, or all in one segment, give the same records', () => {
  const whole = shape(run(session).records);
  for (const n of [1, 3, 50]) assert.deepEqual(shape(run(session, n).records), whole, `pieces of ${n}`);
  const { client, server } = sidesOf(session);
  const joined: Side[] = [[C, client], [S, server]];
  // all requests first: the unbind (a message, no response) comes out before the answered ones
  const byId = (rs: ExchangeRecord[]) => shape(rs).sort((a, b) => Number(at(a as ExchangeRecord, 'ldap.message_id')) - Number(at(b as ExchangeRecord, 'ldap.message_id')));
  assert.deepEqual(byId(run(joined).records), byId(run(session).records));
});

test('outstanding operations answered out of order; abandon reports the abandoned one; an anonymous bind', () => {
  const search = (id: number) => msg(id, tlv(0x63, str('dc=example,dc=org'), int(2, 0x0a), int(0, 0x0a), int(0), int(0), bool(false), tlv(0x87, 'objectClass'), seq()));
  const ctx = run([
    [C, msg(1, tlv(0x60, int(3), str(''), str('', 0x80)))],
    [S, msg(1, result(0x61, 0))],
    [C, Buffer.concat([search(2), search(3), search(4)])],
    [S, Buffer.concat([msg(3, result(0x65, 0)), msg(2, result(0x65, 4, '', 'size limit'))])],
    [C, msg(5, int(4, 0x50))],
  ]);
  assert.deepEqual(ctx.records.map((r) => [r.kind, at(r, 'ldap.message_id'), at(r, 'ldap.operation'), r.flags ?? []]), [
    ['exchange', 1, 'bind', []],
    ['exchange', 3, 'search', []],
    ['exchange', 2, 'search', []],
    ['message', 5, 'abandon', []],
    ['unanswered', 4, 'search', ['abandoned']],
  ]);
  assert.deepEqual(at(ctx.records[0]!, 'ldap.bind'), { version: 3, name: '', method: 'simple', anonymous: true });
  assert.equal(at(ctx.records[1]!, 'ldap.search.filter'), '(objectClass=*)');
  assert.deepEqual(ctx.records[2]!.attributes.error, { type: 'sizeLimitExceeded' });
  assert.equal(at(ctx.records[3]!, 'ldap.abandon_id'), 4);
});

test('limits: 100 entries kept of 130 (counted), an oversized entry skipped and counted, 100 values per attribute', () => {
  const entries = Array.from({ length: 130 }, (_, i) => msg(2, tlv(0x64, str(`uid=u${i},dc=example,dc=org`), seq(attr('cn', `User ${i}`)))));
  const big = msg(2, tlv(0x64, str('uid=photo,dc=example,dc=org'), seq(attr('jpegPhoto', Buffer.alloc(2.5 * 1024 * 1024, 7)))));
  const many = msg(2, tlv(0x64, str('uid=many,dc=example,dc=org'), seq(attr('mail', ...Array.from({ length: 150 }, (_, i) => `m${i}@example.org`)))));
  const ctx = run([
    [C, msg(2, tlv(0x63, str('dc=example,dc=org'), int(2, 0x0a), int(0, 0x0a), int(0), int(0), bool(false), tlv(0x87, 'objectClass'), seq()))],
    [S, Buffer.concat([...entries, big, many, msg(2, result(0x65, 0))])],
  ], 1448);
  const [search] = ctx.records;
  assert.equal((at(search!, 'ldap.entries') as unknown[]).length, 100);
  assert.equal(at(search!, 'ldap.entry_count'), 132);
  assert.deepEqual(search!.flags, ['oversized', 'truncated']);
  assert.equal(ctx.counts.get('ldap.oversized_messages'), 1);
  assert.equal(ctx.counts.get('ldap.entries_dropped'), 31);
});

test('a text value past 4096 bytes is cut, its size kept, and its event flagged truncated: in an entry and in a request', () => {
  const long = 'Note. '.repeat(800);
  const ctx = run([
    [C, msg(2, tlv(0x63, str('dc=example,dc=org'), int(0, 0x0a), int(0, 0x0a), int(0), int(0), bool(false), tlv(0x87, 'objectClass'), seq()))],
    [S, Buffer.concat([msg(2, tlv(0x64, str('uid=a,dc=example,dc=org'), seq(attr('description', long)))), msg(2, result(0x65, 0))])],
    [C, msg(3, tlv(0x68, str('uid=b,dc=example,dc=org'), seq(attr('description', long))))],
    [S, msg(3, result(0x69, 0))],
  ]);
  const cut = { size: long.length, text: long.slice(0, 4096), truncated: true };
  assert.deepEqual((at(ctx.records[0]!, 'ldap.entries') as Array<{ attributes: unknown }>)[0]!.attributes, { description: [cut] });
  assert.deepEqual(at(ctx.records[1]!, 'ldap.attributes'), { description: [cut] });
  assert.deepEqual(ctx.records.map((r) => r.flags), [['truncated'], ['truncated']]);
});

test('a gap flags the waiting exchange and parsing resumes at the next message; damage is skipped and counted', () => {
  const ctx = fakeContext();
  const p = new LdapParser(ctx);
  p.data(C, SEARCH, 1n);
  p.data(S, ENTRY.subarray(0, 20), 2n);
  p.gap(S, 100, 3n);
  p.data(S, Buffer.concat([ENTRY2, SEARCH_DONE]), 4n);
  p.data(C, Buffer.from('not ldap at all'), 5n);
  p.data(C, MODIFY, 6n);
  p.data(S, MODIFY_OK, 7n);
  p.close('fin', 8n);
  const [search, modify] = ctx.records;
  assert.deepEqual(search!.flags, ['gap']);
  assert.deepEqual((at(search!, 'ldap.entries') as Array<{ dn: string }>).map((e) => e.dn), ['uid=bob,ou=people,dc=example,dc=org']);
  assert.equal(at(modify!, 'ldap.operation'), 'modify');
  assert.equal(ctx.counts.get('ldap.malformed'), 1);
});

test('StartTLS answered with success hands the connection to TLS with an LDAP parser; the Notice of Disconnection is a message', () => {
  const ctx = fakeContext();
  const p = new LdapParser(ctx);
  p.data(C, msg(1, tlv(0x77, str('1.3.6.1.4.1.1466.20037', 0x80))), 1n);
  p.data(S, msg(1, result(0x78, 0, '', '', str('1.3.6.1.4.1.1466.20037', 0x8a))), 2n);
  assert.deepEqual(ctx.handoffs.map((h) => h.protocol), ['tls']);
  assert.deepEqual(at(ctx.records[0]!, 'ldap.extended'), { oid: '1.3.6.1.4.1.1466.20037', name: 'StartTLS' });
  assert.deepEqual(at(ctx.records[0]!, 'ldap.response'), { result_code: 0, result: 'success', name: '1.3.6.1.4.1.1466.20037', name_text: 'StartTLS' });
  const { inner, parser: q } = resumedInside(ctx, 'ldap');
  q.data(C, BIND, 3n);
  q.data(S, BIND_OK, 4n);
  q.data(S, msg(0, result(0x78, 52, '', 'server shutting down', str('1.3.6.1.4.1.1466.20036', 0x8a))), 5n);
  assert.deepEqual(inner.records.map((r) => [r.kind, at(r, 'ldap.operation') ?? null, at(r, 'ldap.response.result')]), [['exchange', 'bind', 'success'], ['message', null, 'unavailable']]);
});

test('after a GSSAPI bind with a security layer, wrapped bytes end the parse of the connection', () => {
  const ctx = run([
    [C, msg(1, tlv(0x60, int(3), str(''), tlv(0xa3, str('GSSAPI'), str(Buffer.from([1, 2, 3])))))],
    [S, msg(1, result(0x61, 0))],
    [C, Buffer.from([0, 0, 0, 40, 5, 4, 1, 255, 0, 12, 0, 0])],
    [C, SEARCH],
  ]);
  assert.deepEqual(ctx.records.map((r) => at(r, 'ldap.operation')), ['bind']);
  assert.deepEqual(at(ctx.records[0]!, 'ldap.bind'), { version: 3, name: '', method: 'sasl', mechanism: 'GSSAPI' });
  assert.deepEqual(ctx.abandoned, ['SASL security layer']);
});

test('random damage never throws, and what is read stays within the schema', () => {
  const { client, server } = sidesOf(session);
  damagedSessionsStayValid((ctx) => new LdapParser(ctx), client, server, 'ldap', { seed: 3, runs: 400, maxPiece: 60 });
});

test('detection: a request from the client, a response from the server; not other protocols starting 0x30', () => {
  assert.deepEqual(detectLdap(BIND, 0), { sender: 'client', confidence: 0.8 });
  assert.deepEqual(detectLdap(SEARCH, 0), { sender: 'client', confidence: 0.8 });
  assert.deepEqual(detectLdap(ENTRY, 1), { sender: 'server', confidence: 0.8 });
  assert.equal(detectLdap(BIND.subarray(0, 3), 0), 'more');
  assert.equal(detectLdap(Buffer.from('0 OK\r\n'), 0), null);
  assert.equal(detectLdap(Buffer.from([0x30, 0x00, 0x00, 0x00, 0x03]), 0), null); // a MySQL packet of 48 bytes
  assert.equal(detectLdap(seq(int(1), tlv(0x30)), 0), null);
});

test('through pano-parse: a captured session on port 389 and on another port is LDAP, with valid events', () => {
  for (const port of [389, 10389]) {
    const conv = new Conversation({ addr: '10.0.0.1', port: 51000 }, { addr: '10.0.0.2', port }).handshake();
    for (const [side, b] of session) conv.send(side, b);
    conv.close();
    const { events, stats } = parseCaptureSync(pcapng(conv.frames));
    assertValidEvents(events);
    assert.equal(events.filter((e) => e.pano.protocol === 'ldap').length, 10, `port ${port}`);
    assert.equal(stats.protocols['ldap.malformed'] ?? 0, 0);
  }
});
