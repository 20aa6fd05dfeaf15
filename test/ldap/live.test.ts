// Real LDAP traffic: a private OpenLDAP slapd 2.5 started once for this file
// on a loopback port (test/helpers/slapd.ts: its own slapd.conf, an mdb
// database loaded by slapadd, the syncprov overlay, StartTLS with a
// certificate made here), the directory seeded with six people (cn, sn, mail,
// telephoneNumber, postalAddress, userPassword, uidNumber; a 200-byte and a
// 100 KB jpegPhoto, whose entry spans TCP segments; a UTF-8 name; a
// description over 4096 bytes), two organizational units and a referral
// object; driven by Python's ldap3 (test/fixtures/ldap/client.py, every
// message it sent and received logged) and once by ldapsearch (ldap-utils):
// a whole session as the admin (a search
// whose filter uses &, |, !, substrings, presence, >= and an extensible
// match; one hitting its size limit; one of a base that does not exist; one
// meeting a reference and one a referral; an add refused with a diagnostic
// message, add, modify, compare true and false and of a password, modify DN,
// delete, Who am I?, Password Modify, a persistent search abandoned, a bind as
// the user with the new password), a refused bind and an anonymous one, a
// search paged with the Paged Results control, StartTLS with the session
// going on inside TLS 1.3 (key log written), and ldapsearch with an extensible
// match on DN attributes, one by matching rule OID, <= and escaped
// parentheses; captured with tcpdump, parsed, and checked against what each
// client sent and got back (its transcript), the seeded entries, the scenario's
// own requests (filters as written, DNs, values), and slapd's own log of each
// connection's operations and results. See ldapScenario.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { captureDuring } from '../helpers/loopback-capture.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';
import {
  Slapd,
  slapdMissing,
  ldapScenario,
  expectedFromTranscript,
  contractValue,
  seedEntry,
  person,
  personDn,
  ADMIN,
  SUFFIX,
  PEOPLE,
  STAFF,
  REMOTE,
  REMOTE_URL,
  BULK,
  GROUP,
  MEMBERS,
  DEVICES,
  MAX_ENTRIES,
  MAX_VALUES,
  BULK_FILTER,
  TYPES_ATTRIBUTES,
  FILTER,
  FILTER_MATCHES,
  SEARCH_ATTRIBUTES,
  SIZE_LIMIT,
  SIZE_FILTER,
  MISSING_BASE,
  REFERENCES_FILTER,
  UNDER_REMOTE,
  BAD_ADD,
  OSCAR,
  ADD_ATTRIBUTES,
  CHANGES,
  COMPARES,
  MODIFY_DN,
  PASSWORD_MODIFY,
  PERSIST,
  PAGED,
  PERSONS,
  ANONYMOUS_ATTRIBUTES,
  TLS_ATTRIBUTES,
  LDAPSEARCH_FILTER,
  LDAPSEARCH_ATTRIBUTES,
  LDAPSEARCH_MATCHES,
  LONG_DESCRIPTION,
  SMALL_PHOTO,
  LARGE_PHOTO,
  SECRETS,
  type EventValue,
  type ExpectedLdap,
  type LdapEvent,
  type LdapMode,
  type LdapRun,
  type LdapScenarioResult,
  type SlapdConnection,
} from '../helpers/slapd.js';
import type { PanoEvent } from '@panopticon/events';

const missing = slapdMissing();
const skip = missing.length ? `missing ${missing.join(', ')}` : false;
let server: Slapd | undefined;

before(async () => {
  if (!missing.length) server = await Slapd.start();
});

after(async () => {
  await server?.stop();
});

interface Captured {
  run: LdapScenarioResult;
  file: string;
  /** every event of the capture, parsed with the StartTLS session's key log */
  events: PanoEvent[];
  /** the ldap events of that parse */
  ldap: LdapEvent[];
  /** every event of the capture, parsed without the key log */
  plain: PanoEvent[];
}
let captured: Promise<Captured> | undefined;

/** The scenario's traffic, captured and parsed once for the tests that read it. */
function capture(): Promise<Captured> {
  return (captured ??= (async () => {
    const s = server!;
    const file = join(s.dir, 'ldap.pcap');
    const run = await captureDuring(file, `tcp port ${s.port}`, () => ldapScenario(s));
    const { events } = parseCaptureSync(file, { parse: { tlsKeyLogs: [run.keylog] } });
    assertValidEvents(events);
    const plain = parseCaptureSync(file).events;
    assertValidEvents(plain);
    return { run, file, events, plain, ldap: ldapOf(events) };
  })());
}

const ldapOf = (events: PanoEvent[]) => events.filter((e) => e.pano.protocol === 'ldap') as LdapEvent[];

const show = (e: LdapEvent) => `${e.pano.kind} #${e.ldap.message_id} ${e.ldap.operation ?? '?'} -> ${e.ldap.response?.result ?? '-'}${e.pano.flags?.length ? ` [${e.pano.flags.join(',')}]` : ''}${e.tls?.decrypted ? ' [tls]' : ''}`;
const showAll = (list: LdapEvent[]) => list.map(show).join('\n  ');
const showX = (x: ExpectedLdap) => `${x.kind} #${x.ldap.message_id} ${x.ldap.operation} -> ${x.ldap.response?.result ?? '-'}${x.flags.length ? ` [${x.flags.join(',')}]` : ''}${x.tls ? ' [tls]' : ''}`;

const cmpStart = (a: PanoEvent, b: PanoEvent) => (BigInt(a.pano.start_ns) < BigInt(b.pano.start_ns) ? -1 : BigInt(a.pano.start_ns) > BigInt(b.pano.start_ns) ? 1 : 0);

/** The events of each connection (by client port), each list in start order (an event starts at its request). */
function byPort(list: LdapEvent[]): Map<number, LdapEvent[]> {
  const out = new Map<number, LdapEvent[]>();
  for (const e of list) out.set(e.client.port, [...(out.get(e.client.port) ?? []), e]);
  for (const l of out.values()) l.sort(cmpStart);
  return out;
}

/** The connection of each client.py run (it told its port). */
function runConnections(c: Captured): Map<LdapMode, { run: LdapRun; port: number; events: LdapEvent[] }> {
  const conns = byPort(c.ldap);
  const ports = [...c.run.runs.map((r) => r.port), c.run.ldapsearch.port].sort();
  assert.deepEqual([...conns.keys()].sort(), ports, `a connection per client run, got:\n  ${[...conns].map(([p, l]) => `${p}: ${showAll(l)}`).join('\n  ')}`);
  return new Map(c.run.runs.map((run) => [run.name, { run, port: run.port, events: conns.get(run.port)! }]));
}

const conn = (c: Captured, name: LdapMode) => runConnections(c).get(name)!;
const op = (events: LdapEvent[], id: number) => events.find((e) => e.ldap.message_id === id)!;

/**
 * A filter as compared: RFC 4515 lets an assertion value escape any octet
 * (`\41` is `A`) in either hex case, so each value is decoded and written again
 * escaping only what must be (NUL, `(`, `)`, `*`, `\`), in lower case. Nothing
 * else has two spellings.
 */
export function normalizeFilter(f: string): string {
  return f.replace(/((?:\\[0-9a-fA-F]{2})+)/g, (run) => {
    const bytes = Buffer.from(run.replace(/\\/g, ''), 'hex');
    let s = '';
    let plain: number[] = [];
    const flush = () => {
      s += Buffer.from(plain).toString('utf8');
      plain = [];
    };
    for (const b of bytes) {
      if (b === 0 || b === 0x28 || b === 0x29 || b === 0x2a || b === 0x5c) {
        flush();
        s += `\\${b.toString(16).padStart(2, '0')}`;
      } else plain.push(b);
    }
    flush();
    return s;
  });
}

/** The seeded values of `dn`'s attribute `type`, as the event gives them. */
function seeded(dn: string, type: string): EventValue[] | undefined {
  const a = seedEntry(dn).attributes.find(([t]) => t.toLowerCase() === type.toLowerCase());
  return a?.[1].map((v) => contractValue(type, typeof v === 'string' ? Buffer.from(v) : v));
}

/** An entry as the event must give it: the seeded values of each attribute asked for that the entry has (and `hidden` left out). */
function seededEntry(dn: string, attributes: string[], hidden: string[] = []): { dn: string; attributes: Record<string, EventValue[]> } {
  const out: Record<string, EventValue[]> = {};
  for (const t of attributes) {
    const v = seeded(dn, t);
    if (v && !hidden.includes(t)) out[t] = v;
  }
  return { dn, attributes: out };
}

/** Entries compared without their order (slapd returns them in its own order) nor their attributes' order. */
const entrySet = (list: Array<{ dn: string; attributes: Record<string, EventValue[]> }> | undefined) =>
  (list ?? []).map((e) => JSON.stringify({ dn: e.dn, attributes: Object.fromEntries(Object.entries(e.attributes).sort(([a], [b]) => (a < b ? -1 : 1))) })).sort();

/** Checks one event against what the transcript says of its request and responses. */
function checkEvent(e: LdapEvent, x: ExpectedLdap, c: Captured, where: string): void {
  const at = `${where}: ${show(e)}`;
  assert.equal(e.pano.protocol, 'ldap', at);
  assert.equal(e.network.protocol.name, 'ldap', at);
  assert.equal(e.server.port, c.run.port, at);
  assert.equal(e.pano.kind, x.kind, at);
  const { search, ...rest } = e.ldap;
  const { search: xsearch, ...xrest } = x.ldap;
  assert.deepEqual(rest, xrest, `${at}: the ldap group`);
  if (xsearch) {
    const { filter, ...s } = search!;
    const { filter: xfilter, ...xs } = xsearch;
    assert.deepEqual(s, xs, `${at}: search`);
    assert.equal(normalizeFilter(filter), normalizeFilter(xfilter), `${at}: the filter as RFC 4515 text`);
  } else assert.equal(search, undefined, at);
  assert.deepEqual(e.error, x.error, `${at}: error`);
  assert.deepEqual([...(e.pano.flags ?? [])].sort(), [...x.flags].sort(), `${at}: flags`);
  if (x.tls) assert.equal(e.tls?.decrypted, true, `${at}: read inside TLS`);
  else assert.notEqual(e.tls?.decrypted, true, `${at}: sent in the clear`);
}

function checkSequence(list: LdapEvent[], expected: ExpectedLdap[], c: Captured, what: string): void {
  assert.deepEqual(list.map(show), expected.map(showX), `${what}: the events`);
  expected.forEach((x, i) => checkEvent(list[i]!, x, c, `${what} #${i}`));
}

/** slapd's stats log names operations so; the events' names. */
const SLAPD_VERBS: Record<string, string> = {
  BIND: 'bind', SRCH: 'search', ADD: 'add', MOD: 'modify', MODRDN: 'modify_dn', DEL: 'delete', CMP: 'compare', EXT: 'extended', ABANDON: 'abandon', UNBIND: 'unbind',
};

// ---------------------------------------------------------------------------

test('every LDAP connection parses into what its client sent and got back, and what slapd logged of it', { skip }, async () => {
  const c = await capture();
  assert.ok(c.ldap.length > 0, 'no ldap events');
  for (const e of c.ldap) {
    assert.notEqual(e.pano.kind, 'orphan_response', show(e));
    assert.ok(!e.pano.flags?.includes('gap'), show(e));
  }
  for (const { run, events } of runConnections(c).values()) {
    checkSequence(events, expectedFromTranscript(run.transcript), c, run.name);
  }
  // slapd's own account of each connection: every operation it read, in order, with its result
  // code and the entries it sent; the persistent search has no result (abandoned)
  const all = byPort(c.ldap);
  assert.equal(c.run.connections.length, c.run.runs.length + 1, 'slapd logged a connection per client run');
  // slapd logs from several threads: an operation's RESULT line may come after the connection's
  // close; its log is read again until each operation answered has its result there (5 s at most)
  const mine = new Set(c.run.connections.map((sc) => sc.conn));
  const settled = (cs: SlapdConnection[]) =>
    cs.filter((sc) => mine.has(sc.conn)).every((sc) => {
      const events = all.get(sc.rport) ?? [];
      return sc.ops.length === events.length && sc.ops.every((o, i) => (o.err !== undefined) === (events[i]!.ldap.response !== undefined));
    });
  const logged = await server!.waitConnections(settled).catch(() => server!.connections());
  for (const sc of logged.filter((x) => mine.has(x.conn))) {
    const events = all.get(sc.rport);
    assert.ok(events, `slapd's connection from port ${sc.rport} is in the events`);
    assert.deepEqual(
      // slapd counts the entries of a search it answered (nentries): the abandoned one has no RESULT line
      events.map((e) => [e.ldap.operation, e.ldap.response?.result_code, e.ldap.response ? e.ldap.entry_count : undefined]),
      sc.ops.map((o) => [SLAPD_VERBS[o.verb] ?? o.verb, o.err, o.nentries]),
      `slapd's conn=${sc.conn}`,
    );
  }
});

test('ldap (1): the session binds and searches with &, |, !, substrings, presence, >= and an extensible match: the filter as written, the entries as seeded', { skip }, async () => {
  const c = await capture();
  const { events } = conn(c, 'session');
  assert.deepEqual(events.map((e) => e.ldap.operation), [
    'bind', 'search', 'search', 'search', 'search', 'search', 'add', 'add', 'modify', 'compare', 'compare', 'compare', 'modify_dn', 'delete',
    'extended', 'extended', 'search', 'abandon', 'bind', 'extended', 'unbind',
  ]);
  assert.deepEqual(events.map((e) => e.ldap.message_id), events.map((_, i) => i + 1), 'ldap3 numbers its messages from 1');
  assert.deepEqual(op(events, 1).ldap.bind, { version: 3, name: ADMIN.dn, method: 'simple' });
  assert.deepEqual(op(events, 1).ldap.response, { result_code: 0, result: 'success' });

  const s = op(events, 2);
  // ldap3 sends the filter as written (no escapes in it: nothing to normalize), UTF-8 as is
  assert.equal(s.ldap.search!.filter, FILTER);
  assert.deepEqual(s.ldap.search, { base: PEOPLE, scope: 'sub', deref: 'always', size_limit: 0, time_limit: 0, types_only: false, filter: FILTER, attributes: SEARCH_ATTRIBUTES });
  assert.deepEqual(entrySet(s.ldap.entries), entrySet(FILTER_MATCHES.map((u) => seededEntry(personDn(u), SEARCH_ATTRIBUTES))));
  assert.equal(s.ldap.entry_count, FILTER_MATCHES.length);
  const entry = (uid: string) => s.ldap.entries!.find((x) => x.dn === personDn(uid))!.attributes;
  // text as text (UTF-8 too), the password measured, a photo of at most 256 bytes as base64, a larger one by size
  assert.deepEqual(entry('chloe').cn, ['Chloé Müller']);
  assert.deepEqual(entry('alice').postalAddress, ['1 Market St$San Francisco, CA 94105']);
  assert.deepEqual(entry('alice').mail, person('alice').mail);
  assert.deepEqual(entry('alice').userPassword, [{ size: person('alice').password.length }]);
  assert.deepEqual(entry('alice').jpegPhoto, [{ size: SMALL_PHOTO.length, base64: SMALL_PHOTO.toString('base64') }]);
  assert.deepEqual(entry('bob').jpegPhoto, [{ size: LARGE_PHOTO.length }]);
  assert.equal(entry('erin').jpegPhoto, undefined, 'an attribute the entry does not have is not returned');
  assert.deepEqual(s.ldap.response, { result_code: 0, result: 'success' });
  assert.equal(s.error, undefined);
});

test('ldap (2): a size limit hit, a base that does not exist, a reference and a referral', { skip }, async () => {
  const c = await capture();
  const { events } = conn(c, 'session');
  const limited = op(events, 3);
  assert.deepEqual([limited.ldap.search!.filter, limited.ldap.search!.size_limit], [SIZE_FILTER, SIZE_LIMIT]);
  // the entries until the limit, then sizeLimitExceeded: a failure
  assert.equal(limited.ldap.entries!.length, SIZE_LIMIT);
  assert.equal(limited.ldap.entry_count, SIZE_LIMIT);
  for (const e of limited.ldap.entries!) assert.deepEqual(e, seededEntry(e.dn, ['uid']));
  assert.deepEqual(limited.ldap.response, { result_code: 4, result: 'sizeLimitExceeded' });
  assert.deepEqual(limited.error, { type: 'sizeLimitExceeded' });

  const nowhere = op(events, 4);
  assert.equal(nowhere.ldap.search!.base, MISSING_BASE);
  assert.deepEqual([nowhere.ldap.entries, nowhere.ldap.entry_count], [[], 0]);
  assert.deepEqual(nowhere.ldap.response, { result_code: 32, result: 'noSuchObject', matched_dn: SUFFIX });
  assert.deepEqual(nowhere.error, { type: 'noSuchObject' });

  // the subtree search meets the referral object: a SearchResultReference (slapd adds the scope to its URL)
  const refs = op(events, 5);
  assert.deepEqual([refs.ldap.search!.base, refs.ldap.search!.filter], [SUFFIX, REFERENCES_FILTER]);
  assert.deepEqual(entrySet(refs.ldap.entries), entrySet([PEOPLE, STAFF, BULK].map((dn) => seededEntry(dn, ['ou']))));
  assert.deepEqual(refs.ldap.references, [`${REMOTE_URL}??sub`]);
  assert.deepEqual(refs.ldap.response, { result_code: 0, result: 'success' });
  // a search under it: the referral result, not an error, its URL naming the base asked for
  const under = op(events, 6);
  assert.equal(under.ldap.search!.base, UNDER_REMOTE);
  assert.deepEqual(under.ldap.response, {
    result_code: 10, result: 'referral', matched_dn: REMOTE, referrals: [`ldap://ldap.remote.example/${UNDER_REMOTE}??base`],
  });
  assert.equal(under.error, undefined);
});

test('ldap (3): add (one refused with a diagnostic message), modify, compare, modify DN, delete', { skip }, async () => {
  const c = await capture();
  const { events } = conn(c, 'session');
  const refused = op(events, 7);
  assert.equal(refused.ldap.dn, BAD_ADD.dn);
  assert.deepEqual(refused.ldap.attributes, BAD_ADD.attributes);
  assert.deepEqual(refused.ldap.response, { result_code: 65, result: 'objectClassViolation', diagnostic_message: "object class 'inetOrgPerson' requires attribute 'sn'" });
  assert.deepEqual(refused.error, { type: 'objectClassViolation' });

  const add = op(events, 8);
  assert.equal(add.ldap.dn, OSCAR.dn);
  assert.deepEqual(add.ldap.attributes, { ...ADD_ATTRIBUTES, userPassword: [{ size: OSCAR.password.length }] });
  assert.deepEqual(add.ldap.response, { result_code: 0, result: 'success' });

  const modify = op(events, 9);
  assert.equal(modify.ldap.dn, OSCAR.dn);
  assert.deepEqual(modify.ldap.changes, CHANGES.map((ch) => (ch.type === 'userPassword' ? { ...ch, values: ch.values.map((v) => ({ size: v.length })) } : ch)));
  assert.deepEqual(modify.ldap.response, { result_code: 0, result: 'success' });

  // compareTrue and compareFalse are answers, not errors; a compared password is measured
  const compares = [10, 11, 12].map((id) => op(events, id));
  assert.deepEqual(
    compares.map((e) => [e.ldap.dn, e.ldap.compare, e.ldap.response?.result, e.error]),
    COMPARES.map((x) => [OSCAR.dn, { attribute: x.attribute, value: x.attribute === 'userPassword' ? { size: x.value.length } : x.value }, x.result, undefined]),
  );
  assert.deepEqual(compares.map((e) => e.ldap.response?.result_code), [6, 5, 6]);

  const moved = op(events, 13);
  assert.equal(moved.ldap.dn, OSCAR.dn);
  assert.deepEqual(moved.ldap.modify_dn, { new_rdn: MODIFY_DN.newRdn, delete_old_rdn: true, new_superior: STAFF });
  assert.deepEqual(moved.ldap.response, { result_code: 0, result: 'success' });
  const deleted = op(events, 14);
  assert.deepEqual([deleted.ldap.operation, deleted.ldap.dn, deleted.ldap.response?.result], ['delete', MODIFY_DN.moved, 'success']);
});

test('ldap (4): Who am I?, Password Modify measured, a persistent search abandoned, a bind with the new password', { skip }, async () => {
  const c = await capture();
  const { run, events } = conn(c, 'session');
  const whoami = op(events, 15);
  assert.deepEqual(whoami.ldap.extended, { oid: '1.3.6.1.4.1.4203.1.11.3', name: 'Who am I?' });
  // slapd's response names no OID (RFC 4532 leaves it out); its value is the authorization identity
  assert.deepEqual(whoami.ldap.response, { result_code: 0, result: 'success', value: `dn:${ADMIN.dn}` });

  const passwd = op(events, 16);
  const sent = run.transcript.find((m) => m.from === 'client' && m.id === 16)!;
  assert.ok(sent.from === 'client');
  assert.deepEqual(passwd.ldap.extended, { oid: '1.3.6.1.4.1.4203.1.11.1', name: 'Password Modify', value: { size: sent.request.value.size } });
  // RFC 3062's value: SEQUENCE { [0] userIdentity, [1] oldPasswd, [2] newPasswd }, short lengths
  assert.equal(sent.request.value.size, 2 + [PASSWORD_MODIFY.dn, PASSWORD_MODIFY.old, PASSWORD_MODIFY.new].reduce((n, s) => n + 2 + Buffer.byteLength(s), 0));
  assert.deepEqual(passwd.ldap.response, { result_code: 0, result: 'success' });

  // the refreshAndPersist search: its entry and the Sync Info came, then the Abandon: unanswered, flagged
  const persist = op(events, 17);
  assert.equal(run.py.abandoned, 17);
  assert.equal(persist.pano.kind, 'unanswered');
  assert.deepEqual(persist.pano.flags, ['abandoned']);
  assert.deepEqual(persist.ldap.controls, [{ oid: '1.3.6.1.4.1.4203.1.9.1.1', name: 'Sync Request' }]);
  assert.deepEqual([persist.ldap.search!.base, persist.ldap.search!.filter, persist.ldap.search!.attributes], [PERSIST.base, PERSIST.filter, PERSIST.attributes]);
  assert.deepEqual(persist.ldap.entries, [seededEntry(personDn('erin'), PERSIST.attributes)]);
  assert.equal(persist.ldap.response, undefined);
  const abandon = op(events, 18);
  assert.deepEqual([abandon.pano.kind, abandon.ldap.operation, abandon.ldap.abandon_id, abandon.ldap.response], ['message', 'abandon', 17, undefined]);

  // alice binds with the password Password Modify set, and is who Who am I? says
  assert.deepEqual(op(events, 19).ldap.bind, { version: 3, name: PASSWORD_MODIFY.dn, method: 'simple' });
  assert.deepEqual(op(events, 19).ldap.response, { result_code: 0, result: 'success' });
  assert.equal(op(events, 20).ldap.response?.value, `dn:${PASSWORD_MODIFY.dn}`);
  assert.deepEqual([events.at(-1)!.pano.kind, events.at(-1)!.ldap.operation], ['message', 'unbind']);
});

test('ldap (5): a refused bind is invalidCredentials, an anonymous bind says so; the ACL hides userPassword; a long value is cut at 4096 bytes', { skip }, async () => {
  const c = await capture();
  const { events } = conn(c, 'refused');
  assert.deepEqual(events.map((e) => [e.ldap.message_id, e.ldap.operation, e.ldap.bind, e.ldap.response?.result_code, e.error]), [
    [1, 'bind', { version: 3, name: ADMIN.dn, method: 'simple' }, 49, { type: 'invalidCredentials' }],
    [2, 'bind', { version: 3, name: '', method: 'simple', anonymous: true }, 0, undefined],
    [3, 'search', undefined, 0, undefined],
    [4, 'unbind', undefined, undefined, undefined],
  ]);
  assert.equal(events[0]!.ldap.response!.result, 'invalidCredentials');
  const frank = personDn('frank');
  const s = events[2]!;
  assert.deepEqual(s.ldap.search, { base: frank, scope: 'base', deref: 'always', size_limit: 0, time_limit: 0, types_only: false, filter: '(objectClass=*)', attributes: ANONYMOUS_ATTRIBUTES });
  const want = seededEntry(frank, ANONYMOUS_ATTRIBUTES, ['userPassword']);
  assert.deepEqual(want.attributes.description, [{ size: LONG_DESCRIPTION.length, text: LONG_DESCRIPTION.slice(0, 4096), truncated: true }]);
  assert.deepEqual(s.ldap.entries, [want]);
  // the value was cut: the event says so (pano-events(5): truncated)
  assert.deepEqual(s.pano.flags, ['truncated'], 'a value cut at its limit flags the event truncated');
});

test('ldap (6): a paged search: the Paged Results control on every request and response, the pages together every person', { skip }, async () => {
  const c = await capture();
  const { run, events } = conn(c, 'paged');
  const pages = events.filter((e) => e.ldap.operation === 'search');
  assert.equal(pages.length, Math.ceil(PERSONS.length / PAGED.pageSize));
  const paged = [{ oid: '1.2.840.113556.1.4.319', name: 'Paged Results' }];
  for (const p of pages) {
    assert.deepEqual([p.ldap.search!.base, p.ldap.search!.filter], [PAGED.base, PAGED.filter]);
    assert.deepEqual(p.ldap.controls, paged, show(p));
    assert.deepEqual(p.ldap.response, { result_code: 0, result: 'success', controls: paged }, show(p));
    assert.equal(p.ldap.entry_count, PAGED.pageSize);
  }
  assert.deepEqual(pages.map((p) => p.ldap.entries!.map((e) => e.dn)), run.py.pages);
  assert.deepEqual(pages.flatMap((p) => p.ldap.entries!.map((e) => e.dn)).sort(), PERSONS.map((p) => personDn(p.uid)).sort());
});

test('ldap (7): past the limits: 100 values of an attribute and 100 entries of a search kept, with the count, flagged truncated; a typesOnly search; no bind at all', { skip }, async () => {
  const c = await capture();
  const { events } = conn(c, 'limits');
  assert.deepEqual(events.map(show), [
    'exchange #1 search -> success [truncated]',
    'exchange #2 search -> success [truncated]',
    'exchange #3 search -> success',
    'message #4 unbind -> -',
  ]);
  const group = events[0]!;
  assert.equal(group.ldap.search!.base, GROUP);
  assert.deepEqual(group.ldap.entries, [{ dn: GROUP, attributes: { cn: ['crowd'], memberUid: MEMBERS.slice(0, MAX_VALUES) } }]);
  assert.ok(MEMBERS.length > MAX_VALUES);
  const bulk = events[1]!;
  assert.deepEqual([bulk.ldap.search!.base, bulk.ldap.search!.scope, bulk.ldap.search!.filter], [BULK, 'one', BULK_FILTER]);
  assert.equal(bulk.ldap.entry_count, DEVICES.length);
  assert.equal(bulk.ldap.entries!.length, MAX_ENTRIES);
  for (const e of bulk.ldap.entries!) assert.deepEqual(e, seededEntry(e.dn, ['cn']));
  assert.equal(new Set(bulk.ldap.entries!.map((e) => e.dn)).size, MAX_ENTRIES);
  // typesOnly: each type asked for that the entry has, with no values
  const types = events[2]!;
  assert.equal(types.ldap.search!.types_only, true);
  assert.deepEqual(types.ldap.entries, [{ dn: personDn('alice'), attributes: Object.fromEntries(TYPES_ATTRIBUTES.map((t) => [t, []])) }]);
});

test('ldap (8): StartTLS: the events stop at the switch without the key log, and go on inside TLS with it', { skip }, async () => {
  const c = await capture();
  const { run, port, events } = conn(c, 'starttls');
  assert.equal(run.py.tls_version, 'TLSv1.3');
  assert.ok(readFileSync(c.run.keylog, 'utf8').includes('CLIENT_TRAFFIC_SECRET_0'), 'the key log was written');

  // without the key log: StartTLS, then a TLS connection
  const plain = byPort(ldapOf(c.plain)).get(port) ?? [];
  assert.deepEqual(plain.map(show), ['exchange #1 extended -> success']);
  // slapd's StartTLS response names no OID: ldap3 notes OpenLDAP leaves it out
  assert.deepEqual(plain[0]!.ldap.extended, { oid: '1.3.6.1.4.1.1466.20037', name: 'StartTLS' });
  assert.deepEqual(plain[0]!.ldap.response, { result_code: 0, result: 'success' });
  const tls = c.plain.filter((e) => e.pano.protocol === 'tls' && (e.client as { port?: number } | undefined)?.port === port);
  assert.equal(tls.length, 1, 'a TLS event follows the switch');
  assert.equal(tls[0]!.pano.connection.id, plain[0]!.pano.connection.id);
  assert.ok(!JSON.stringify([...plain, ...tls]).includes(person('alice').mail[0]!), 'nothing of the search inside TLS without the key log');

  // with it: StartTLS, then the session inside TLS, each marked decrypted
  assert.deepEqual(events.map((e) => [e.ldap.message_id, e.ldap.operation, e.ldap.response?.result, e.tls?.decrypted ?? false]), [
    [1, 'extended', 'success', false],
    [2, 'bind', 'success', true],
    [3, 'search', 'success', true],
    [4, 'extended', 'success', true],
    [5, 'unbind', undefined, true],
  ]);
  assert.deepEqual(events[2]!.ldap.entries, [seededEntry(personDn('alice'), TLS_ATTRIBUTES)]);
  assert.equal(events[3]!.ldap.response!.value, `dn:${ADMIN.dn}`);

  // the other connections read the same with or without the key log
  const strip = (list: LdapEvent[]) => list.filter((x) => x.client.port !== port).map((x) => JSON.stringify({ ...x, pano: { ...x.pano, id: undefined, connection: undefined } }));
  assert.deepEqual(strip(ldapOf(c.plain)), strip(c.ldap));
});

test('ldap (9): ldapsearch (libldap): an extensible match on DN attributes and by rule OID, <=, escaped parentheses; its entries as its LDIF', { skip }, async () => {
  const c = await capture();
  const ls = c.run.ldapsearch;
  const events = byPort(c.ldap).get(ls.port)!;
  assert.deepEqual(events.map(show), ['exchange #1 bind -> success', 'exchange #2 search -> success', 'message #3 unbind -> -']);
  const s = events[1]!;
  assert.equal(normalizeFilter(s.ldap.search!.filter), normalizeFilter(LDAPSEARCH_FILTER));
  // libldap keeps the escapes of the command line: written the same, byte for byte
  assert.equal(s.ldap.search!.filter, LDAPSEARCH_FILTER);
  assert.deepEqual(s.ldap.search, { base: PEOPLE, scope: 'sub', deref: 'never', size_limit: 0, time_limit: 0, types_only: false, filter: LDAPSEARCH_FILTER, attributes: LDAPSEARCH_ATTRIBUTES });
  // ldapsearch printed what it got: the same entries, and the ones the filter means
  const ldif = ls.entries.map((e) => ({ dn: e.dn, attributes: Object.fromEntries(Object.entries(e.attributes).map(([t, vs]) => [t, vs.map((v) => contractValue(t, v))])) }));
  assert.deepEqual(s.ldap.entries, ldif);
  assert.deepEqual(entrySet(s.ldap.entries), entrySet(LDAPSEARCH_MATCHES.map((u) => seededEntry(personDn(u), LDAPSEARCH_ATTRIBUTES))));
  assert.deepEqual(events[0]!.ldap.bind, { version: 3, name: ADMIN.dn, method: 'simple' });
});

test('ldap (10): no password of the scenario, seeded, sent, refused or set by Password Modify, is anywhere in the output', { skip }, async () => {
  const c = await capture();
  for (const [what, list] of [['with the key log', c.events], ['without', c.plain]] as const) {
    const text = JSON.stringify(list);
    for (const secret of SECRETS) {
      for (const form of [secret, Buffer.from(secret).toString('base64'), Buffer.from(secret).toString('hex')]) {
        assert.ok(!text.includes(form), `${what}: ${form} in the events`);
      }
    }
  }
  // they were on the wire in the clear (bar the StartTLS session's): what the parser read and left out
  const wire = readFileSync(c.file);
  for (const secret of [ADMIN.password, OSCAR.password, OSCAR.newPassword, PASSWORD_MODIFY.old, PASSWORD_MODIFY.new]) {
    assert.ok(wire.includes(secret), `${secret} was sent`);
  }
});
