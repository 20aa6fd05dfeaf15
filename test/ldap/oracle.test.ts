// LDAP against tshark's LDAP dissector. The corpus has no LDAP capture: this
// file makes its own, with the traffic of the live test (ldapScenario: a
// private slapd driven by Python's ldap3 and by ldapsearch: a whole session
// of binds, searches, a reference and a referral, add, modify, compare,
// modify DN, delete, Who am I?, Password Modify, a persistent search
// abandoned; a refused and an anonymous bind; a paged search; StartTLS with
// the key log written), has tshark 4.0 read it (told the port is LDAP's with
// -d, given the key log) as PDML, and compares per connection and per message
// id:
//  - the request: its operation and what it names (a bind's version, name and
//    method; a search's base, scope, deref, limits, typesOnly, filter and
//    attributes; an add's entry and attributes; a modify's object and changes;
//    a delete's, modify DN's and compare's entry, new RDN, deleteoldrdn, new
//    superior, attribute and value; an extended request's name; an abandon's
//    id) and its controls' OIDs, with the event's ldap group;
//  - every SearchResultEntry (objectName, each attribute's type and values)
//    and SearchResultReference (its URLs), in order, with ldap.entries,
//    ldap.entry_count and ldap.references;
//  - the final response (resultCode with tshark's name for it, matchedDN,
//    errorMessage, referral URLs, an extended response's name and value, its
//    controls' OIDs) with ldap.response;
//  - the bytes of the request and of all the responses to it (tshark's
//    LDAPMessage sizes) with pano.request_bytes and pano.response_bytes;
//  - an Unbind and an Abandon as messages, and a request with no final
//    response (the abandoned search) as unanswered.
// Values are compared as the contract gives them (contractValue: text, a
// credential's size, a binary value's size and base64 up to 256 bytes) from
// the bytes tshark shows. The StartTLS session is compared inside TLS too
// (both sides have the key log), and, without it, up to StartTLS. Every event
// must pass the v1 schema.
//
// Left out or normalized, on purpose:
//  - tshark writes a filter's and/or set by folding its items pairwise
//    ("(&(&(&A B)C)D)" for a set of four: "and: 4 items" in its tree): the
//    filter is rebuilt from tshark's tree (each Filter item's choice, a set's
//    items, a not's inner filter), its leaves (equality, substrings, >=, <=,
//    presence, extensible) taken as tshark writes them;
//  - tshark writes an assertion value raw, without RFC 4515's escapes
//    ("(description=*(contractor))"): the event's filter, RFC 4515 text, is
//    read and its leaves unescaped before the comparison;
//  - passwords: tshark shows a simple bind's password and Password Modify's
//    old and new ones; the events keep none (the contract), so a bind is
//    compared as anonymous when tshark's password is empty, and Password
//    Modify's value by the size of tshark's PasswdModifyRequestValue;
//    userPassword values by size (contractValue);
//  - IntermediateResponses: the contract gives them no field (they count in
//    response_bytes only); tshark's are counted and asserted to be the one
//    Sync Info of the persistent search;
//  - the controls of a SearchResultEntry (syncrepl's Sync State on the
//    persistent search's entry): the contract lists controls of requests and
//    final responses only; asserted present in tshark's reading;
//  - what an event does not keep (pano-events(5), ldap): a search's entries
//    past the 100th and an attribute's values past the 100th; tshark's are
//    cut to the same, the number of entries compared whole (entry_count), and
//    the cut asserted to be only the limits mode's group and one-level search;
//  - ldap.response.name_text: tshark labels OIDs its own way
//    ("passwdModifyOID"); the OID itself (response.name) is compared.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { captureDuring } from '../helpers/loopback-capture.js';
import { parseCaptureSync, assertValidEvents } from '../helpers/parse.js';
import { tsharkAvailable, tsharkOutput } from '../helpers/tshark.js';
import {
  Slapd, slapdMissing, ldapScenario, contractValue, GROUP, MAX_ENTRIES, MAX_VALUES, MANY, type EventValue, type LdapEvent, type LdapScenarioResult,
} from '../helpers/slapd.js';

const missing = [...slapdMissing(), ...(tsharkAvailable() ? [] : ['tshark'])];
const skip = missing.length ? `missing ${missing.join(', ')}` : false;
let server: Slapd | undefined;
let file = '';
let run: LdapScenarioResult | undefined;

before(async () => {
  if (missing.length) return;
  server = await Slapd.start();
  file = join(server.dir, 'ldap.pcap');
  run = await captureDuring(file, `tcp port ${server.port}`, () => ldapScenario(server!));
});

after(async () => {
  await server?.stop();
});

// ---------------------------------------------------------------------------
// What both sides are brought to

type Attributes = Record<string, EventValue[]>;
interface Final {
  result_code: number;
  result: string;
  matched_dn?: string;
  diagnostic_message?: string;
  referrals?: string[];
  name?: string;
  value?: EventValue;
  controls?: string[];
}
/** One message id of a connection: its request, what came back for it, and the bytes each way. */
interface Op {
  request: Record<string, unknown>;
  /** the first MAX_ENTRIES, each attribute's first MAX_VALUES values */
  entries: Array<{ dn: string; attributes: Attributes }>;
  /** entries returned */
  entryCount: number;
  references: string[];
  final?: Final;
  requestBytes: number;
  /** absent when nothing came back */
  responseBytes?: number;
}
/** By message id, in the order the requests were sent. */
type Conn = Map<number, Op>;

const SCOPES = ['base', 'one', 'sub', 'children'];
const DEREF = ['never', 'searching', 'finding', 'always'];
const MODIFY_OPS = ['add', 'delete', 'replace', 'increment'];
/** RFC 4511's protocolOp CHOICE numbers (tshark's ldap.protocolOp), as the events name the requests. */
const REQUESTS: Record<number, string> = { 0: 'bind', 2: 'unbind', 3: 'search', 6: 'modify', 8: 'add', 10: 'delete', 12: 'modify_dn', 14: 'compare', 16: 'abandon', 23: 'extended' };
const ENTRY = 4;
const REFERENCE = 19;
const INTERMEDIATE = 25;
const FINALS = new Set([1, 5, 7, 9, 11, 13, 15, 24]);
const PASSWORD_MODIFY = '1.3.6.1.4.1.4203.1.11.1';

// ---------------------------------------------------------------------------
// Filters

type FilterNode = { op: '&' | '|' | '!'; items: FilterNode[] } | { leaf: string };

const renderFilter = (f: FilterNode): string => ('leaf' in f ? `(${f.leaf})` : `(${f.op}${f.items.map(renderFilter).join('')})`);

/** An RFC 4515 filter read into its tree, each leaf with its escapes (\XX) undone: as tshark writes values. */
export function readFilter(s: string): FilterNode {
  let i = 0;
  const node = (): FilterNode => {
    if (s[i] !== '(') throw new Error(`filter: '(' expected at ${i} in ${s}`);
    i++;
    const c = s[i];
    if (c === '&' || c === '|' || c === '!') {
      i++;
      const items: FilterNode[] = [];
      while (s[i] === '(') items.push(node());
      if (s[i++] !== ')') throw new Error(`filter: ')' expected in ${s}`);
      return { op: c, items };
    }
    // a leaf has no unescaped parenthesis (RFC 4515 escapes them)
    const end = s.indexOf(')', i);
    const text = s.slice(i, end);
    i = end + 1;
    const bytes: number[] = [];
    for (let k = 0; k < text.length; ) {
      if (text[k] === '\\') {
        bytes.push(parseInt(text.slice(k + 1, k + 3), 16));
        k += 3;
      } else {
        const cp = text.codePointAt(k)!;
        bytes.push(...Buffer.from(String.fromCodePoint(cp)));
        k += cp > 0xffff ? 2 : 1;
      }
    }
    return { leaf: Buffer.from(bytes).toString('utf8') };
  };
  const f = node();
  if (i !== s.length) throw new Error(`filter: text after the end: ${s}`);
  return f;
}

// ---------------------------------------------------------------------------
// tshark's side: PDML read into a tree

interface Node {
  name: string;
  show: string;
  showname: string;
  /** the field's bytes, hex */
  value?: string;
  size: number;
  children: Node[];
}

const unxml = (s: string) =>
  s.replace(/&(#x[0-9a-f]+|#\d+|quot|amp|lt|gt|apos);/gi, (_, e: string) =>
    e[0] === '#' ? String.fromCodePoint(e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : Number(e.slice(1))) : ({ quot: '"', amp: '&', lt: '<', gt: '>', apos: "'" } as Record<string, string>)[e.toLowerCase()]!,
  );

/** Every packet of a PDML document, as the tree of its protos and fields. */
function readPdml(pdml: string): Node[] {
  const packets: Node[] = [];
  const stack: Node[] = [];
  for (const [, close, tag, attrs, selfClose] of pdml.matchAll(/<(\/?)(packet|proto|field)\b([^>]*?)(\/?)>/g)) {
    if (close) {
      const n = stack.pop()!;
      if (tag === 'packet') packets.push(n);
      continue;
    }
    const attr = (k: string) => {
      const m = new RegExp(` ${k}="([^"]*)"`).exec(attrs!);
      return m ? unxml(m[1]!) : undefined;
    };
    const n: Node = { name: attr('name') ?? tag!, show: attr('show') ?? '', showname: attr('showname') ?? '', value: attr('value') || undefined, size: Number(attr('size') ?? 0), children: [] };
    stack.at(-1)?.children.push(n);
    if (!selfClose) stack.push(n);
  }
  return packets;
}

const find = (n: Node, name: string): Node | undefined => {
  for (const c of n.children) {
    if (c.name === name) return c;
    const d = find(c, name);
    if (d) return d;
  }
  return undefined;
};
const findAll = (n: Node, name: string, out: Node[] = []): Node[] => {
  for (const c of n.children) {
    if (c.name === name) out.push(c);
    else findAll(c, name, out);
  }
  return out;
};
const child = (n: Node, name: string) => n.children.find((c) => c.name === name);
const bytes = (n: Node | undefined) => (n?.value ? Buffer.from(n.value, 'hex') : Buffer.alloc(0));
const text = (n: Node | undefined) => (n ? (n.value ? bytes(n).toString('utf8') : n.show) : '');
const num = (n: Node | undefined) => Number(n?.show);

/** A filter item tshark shows ("Filter: ..."): rebuilt from its choice, sets unfolded. */
function tsharkFilter(item: Node): FilterNode {
  const choice = item.children.find((c) => /^ldap\.(filter|and_item|or_item|not)$/.test(c.name));
  if (!choice) throw new Error(`no filter choice under ${item.show}`);
  const code = num(choice);
  if (code === 0 || code === 1) {
    const set = find(choice, code === 0 ? 'ldap.and' : 'ldap.or')!;
    const items = set.children.filter((c) => c.name === '' && c.show.startsWith('Filter: '));
    assert.equal(items.length, num(set), `${item.show}: ${num(set)} items`);
    return { op: code === 0 ? '&' : '|', items: items.map(tsharkFilter) };
  }
  if (code === 2) {
    const inner = choice.children.find((c) => c.name === '' && c.show.startsWith('Filter: '))!;
    return { op: '!', items: [tsharkFilter(inner)] };
  }
  const m = /^Filter: \((.*)\)$/s.exec(item.show);
  if (!m) throw new Error(`a filter leaf tshark shows so: ${item.show}`);
  return { leaf: m[1]! };
}

/**
 * type → values of a list of attribute items (each with ldap.type and ldap.AttributeValue fields), the first
 * MAX_VALUES of each when `limit` (a search's entries); `cut` hears of each attribute with more.
 */
function attributeItems(items: Node[], limit = false, cut?: (type: string, count: number) => void): Attributes {
  const out: Attributes = {};
  for (const it of items) {
    const type = text(find(it, 'ldap.type'));
    const values = findAll(it, 'ldap.AttributeValue');
    if (limit && values.length > MAX_VALUES) cut?.(type, values.length);
    (out[type] ??= []).push(...(limit ? values.slice(0, MAX_VALUES) : values).map((v) => contractValue(type, bytes(v))));
  }
  return out;
}

function tsharkRequest(op: number, body: Node, stats: TsharkStats): Record<string, unknown> {
  const operation = REQUESTS[op]!;
  switch (operation) {
    case 'bind': {
      const auth = find(body, 'ldap.authentication')!;
      const simple = num(auth) === 0;
      return {
        operation, version: num(find(body, 'ldap.version')), name: text(find(body, 'ldap.name')), method: simple ? 'simple' : 'sasl',
        ...(simple ? (text(find(auth, 'ldap.simple')) === '' ? { anonymous: true } : {}) : { mechanism: text(find(auth, 'ldap.mechanism')) }),
      };
    }
    case 'search': {
      const req = find(body, 'ldap.searchRequest_element')!;
      const filterItem = req.children.find((c) => c.name === '' && c.show.startsWith('Filter: '))!;
      return {
        operation,
        base: text(find(req, 'ldap.baseObject')),
        scope: SCOPES[num(find(req, 'ldap.scope'))],
        deref: DEREF[num(find(req, 'ldap.derefAliases'))],
        size_limit: num(find(req, 'ldap.sizeLimit')),
        time_limit: num(find(req, 'ldap.timeLimit')),
        types_only: find(req, 'ldap.typesOnly')!.show === '1',
        filter: renderFilter(tsharkFilter(filterItem)),
        attributes: findAll(child(req, 'ldap.attributes')!, 'ldap.AttributeDescription').map(text),
      };
    }
    case 'add':
      return { operation, dn: text(find(body, 'ldap.entry')), attributes: attributeItems(findAll(body, 'ldap.AttributeList_item_element')) };
    case 'modify':
      return {
        operation,
        dn: text(find(body, 'ldap.object')),
        changes: findAll(body, 'ldap.modification_item_element').map((m) => {
          const type = text(find(m, 'ldap.type'));
          return { operation: MODIFY_OPS[num(find(m, 'ldap.operation'))], type, values: findAll(m, 'ldap.AttributeValue').map((v) => contractValue(type, bytes(v))) };
        }),
      };
    case 'delete':
      return { operation, dn: text(find(body, 'ldap.delRequest')) };
    case 'modify_dn': {
      const sup = find(body, 'ldap.newSuperior');
      return {
        operation, dn: text(find(body, 'ldap.entry')),
        modify_dn: { new_rdn: text(find(body, 'ldap.newrdn')), delete_old_rdn: find(body, 'ldap.deleteoldrdn')!.show === '1', ...(sup ? { new_superior: text(sup) } : {}) },
      };
    }
    case 'compare': {
      const attribute = text(find(body, 'ldap.attributeDesc'));
      return { operation, dn: text(find(body, 'ldap.entry')), compare: { attribute, value: contractValue(attribute, bytes(find(body, 'ldap.assertionValue'))) } };
    }
    case 'abandon':
      return { operation, abandon_id: num(find(body, 'ldap.abandonRequest')) };
    case 'extended': {
      const oid = text(find(body, 'ldap.requestName'));
      const pm = find(body, 'ldap.PasswdModifyRequestValue_element');
      const value = find(body, 'ldap.requestValue');
      if (pm) stats.passwordModify++;
      return { operation, oid, ...(pm ? { value: { size: pm.size } } : value ? { value: contractValue('', bytes(value)) } : {}) };
    }
    default:
      return { operation };
  }
}

function tsharkFinal(body: Node, controls: string[]): Final {
  const code = find(body, 'ldap.resultCode')!;
  const f: Final = { result_code: num(code), result: /^resultCode: (\w+) \(\d+\)$/.exec(code.showname)![1]! };
  const matched = text(find(body, 'ldap.matchedDN'));
  if (matched) f.matched_dn = matched;
  const message = text(find(body, 'ldap.errorMessage'));
  if (message) f.diagnostic_message = message;
  const referral = find(body, 'ldap.referral');
  if (referral) f.referrals = findAll(referral, 'ldap.LDAPURL').map(text);
  const name = find(body, 'ldap.responseName');
  if (name) f.name = text(name);
  const value = find(body, 'ldap.response');
  if (value?.value) f.value = contractValue('', bytes(value));
  if (controls.length) f.controls = controls;
  return f;
}

interface TsharkStats {
  /** by client port: the IntermediateResponses' names, "id name" */
  intermediate: Map<number, string[]>;
  /** by client port: the controls of SearchResultEntries, "id oid" */
  entryControls: Map<number, string[]>;
  passwordModify: number;
  /** "id dn type count": the attributes of an entry with more than MAX_VALUES values */
  cutValues: string[];
}

/** Every connection's LDAP in `file` as tshark reads it, by client port. */
async function tsharkConnections(file: string, port: number, keylog: string | undefined): Promise<{ conns: Map<number, Conn>; stats: TsharkStats }> {
  const args = ['-d', `tcp.port==${port},ldap`, ...(keylog ? ['-o', `tls.keylog_file:${keylog}`] : []), '-Y', 'ldap', '-T', 'pdml'];
  const packets = readPdml(await tsharkOutput(file, args));
  const conns = new Map<number, Conn>();
  const stats: TsharkStats = { intermediate: new Map(), entryControls: new Map(), passwordModify: 0, cutValues: [] };
  const note = (m: Map<number, string[]>, k: number, v: string) => m.set(k, [...(m.get(k) ?? []), v]);
  for (const packet of packets) {
    const src = Number(find(packet, 'tcp.srcport')!.show);
    const dst = Number(find(packet, 'tcp.dstport')!.show);
    const fromServer = src === port;
    const client = fromServer ? dst : src;
    const c = conns.get(client) ?? new Map<number, Op>();
    conns.set(client, c);
    for (const proto of packet.children.filter((p) => p.name === 'ldap')) {
      for (const m of proto.children.filter((f) => f.name === 'ldap.LDAPMessage_element')) {
        const id = num(child(m, 'ldap.messageID'));
        const protocolOp = child(m, 'ldap.protocolOp')!;
        const op = num(protocolOp);
        const controls = findAll(child(m, 'ldap.controls') ?? { children: [] } as unknown as Node, 'ldap.controlType').map((n) => n.show);
        if (!fromServer) {
          if (c.has(id)) throw new Error(`connection ${client}: message id ${id} used twice`);
          const request = tsharkRequest(op, protocolOp, stats);
          if (controls.length) request.controls = controls;
          c.set(id, { request, entries: [], entryCount: 0, references: [], requestBytes: m.size });
          continue;
        }
        const x = c.get(id);
        if (!x) throw new Error(`connection ${client}: a response to no request: ${m.showname}`);
        x.responseBytes = (x.responseBytes ?? 0) + m.size;
        if (op === ENTRY) {
          const dn = text(find(protocolOp, 'ldap.objectName'));
          const attributes = attributeItems(findAll(protocolOp, 'ldap.PartialAttributeList_item_element'), true, (type, n) => stats.cutValues.push(`${id} ${dn} ${type} ${n}`));
          if (x.entryCount++ < MAX_ENTRIES) x.entries.push({ dn, attributes });
          for (const oid of controls) note(stats.entryControls, client, `${id} ${oid}`);
        } else if (op === REFERENCE) x.references.push(...findAll(protocolOp, 'ldap.LDAPURL').map(text));
        else if (op === INTERMEDIATE) note(stats.intermediate, client, `${id} ${text(find(protocolOp, 'ldap.responseName'))}`);
        else if (FINALS.has(op)) x.final = tsharkFinal(protocolOp, controls);
        else throw new Error(`connection ${client}: ${m.showname}`);
      }
    }
  }
  for (const [k, c] of conns) if (!c.size) conns.delete(k);
  return { conns, stats };
}

// ---------------------------------------------------------------------------
// The events' side, brought to the same

function eventConnections(events: LdapEvent[]): Map<number, Conn> {
  const out = new Map<number, Conn>();
  for (const e of [...events].sort((a, b) => (BigInt(a.pano.start_ns) < BigInt(b.pano.start_ns) ? -1 : BigInt(a.pano.start_ns) > BigInt(b.pano.start_ns) ? 1 : 0))) {
    const c = out.get(e.client.port) ?? new Map<number, Op>();
    out.set(e.client.port, c);
    const l = e.ldap;
    assert.ok(l.operation, `an event with its request: ${e.pano.kind} #${l.message_id}`);
    const request: Record<string, unknown> = { operation: l.operation };
    if (l.bind) Object.assign(request, l.bind);
    if (l.search) Object.assign(request, { ...l.search, filter: renderFilter(readFilter(l.search.filter)) });
    if (l.dn !== undefined) request.dn = l.dn;
    if (l.attributes) request.attributes = l.attributes;
    if (l.changes) request.changes = l.changes;
    if (l.modify_dn) request.modify_dn = l.modify_dn;
    if (l.compare) request.compare = l.compare;
    if (l.abandon_id !== undefined) request.abandon_id = l.abandon_id;
    if (l.extended) Object.assign(request, { oid: l.extended.oid, ...(l.extended.value === undefined ? {} : { value: l.extended.value }) });
    if (l.controls) request.controls = l.controls.map((x) => x.oid);
    const x: Op = { request, entries: l.entries ?? [], entryCount: l.entry_count ?? 0, references: l.references ?? [], requestBytes: e.pano.request_bytes! };
    if (e.pano.response_bytes !== undefined) x.responseBytes = e.pano.response_bytes;
    const r = l.response;
    if (r) {
      const { name_text: _, controls, ...rest } = r;
      x.final = { ...rest, ...(controls ? { controls: controls.map((k) => k.oid) } : {}) };
    }
    // the kind follows from what came back: a final response makes an exchange, an Unbind or Abandon a message
    const kind = r ? 'exchange' : l.operation === 'unbind' || l.operation === 'abandon' ? 'message' : 'unanswered';
    assert.equal(e.pano.kind, kind, `#${l.message_id} ${l.operation}`);
    if (c.has(l.message_id)) throw new Error(`connection ${e.client.port}: two events of message id ${l.message_id}`);
    c.set(l.message_id, x);
  }
  return out;
}

/** Compares tshark's reading with the events', id by id. */
function compare(theirs: Map<number, Conn>, ours: Map<number, Conn>, what: string): void {
  assert.deepEqual([...ours.keys()].sort(), [...theirs.keys()].sort(), `${what}: connections`);
  for (const [port, t] of theirs) {
    const o = ours.get(port)!;
    assert.deepEqual([...o.keys()], [...t.keys()], `${what}: connection ${port}: the message ids, in order`);
    for (const [id, x] of t) assert.deepEqual(o.get(id), x, `${what}: connection ${port}: message ${id} (${x.request.operation})`);
  }
}

const ldapOf = (events: Awaited<ReturnType<typeof parseCaptureSync>>['events']) => events.filter((e) => e.pano.protocol === 'ldap') as LdapEvent[];

test('ldap oracle: requests, entries, references, results, controls and bytes against tshark, inside StartTLS with the key log', { skip }, async () => {
  const r = run!;
  const { conns: theirs, stats } = await tsharkConnections(file, r.port, r.keylog);
  const { events } = parseCaptureSync(file, { parse: { tlsKeyLogs: [r.keylog] } });
  assertValidEvents(events);
  const ldap = ldapOf(events);
  assert.ok(ldap.length > 0, 'no ldap events');
  assert.equal(theirs.size, r.runs.length + 1, 'tshark reads a connection per client run');
  const conn = (name: string) => theirs.get(r.runs.find((x) => x.name === name)!.port)!;

  // what the normalization rests on is in tshark's reading, so a tshark that changes shows here first
  const session = r.runs.find((x) => x.name === 'session')!;
  const abandoned = session.py.abandoned as number;
  assert.deepEqual([...stats.intermediate], [[session.port, [`${abandoned} 1.3.6.1.4.1.4203.1.9.1.4`]]], "the persistent search's Sync Info, tshark's only intermediate response");
  assert.deepEqual([...stats.entryControls], [[session.port, [`${abandoned} 1.3.6.1.4.1.4203.1.9.1.2`]]], "the Sync State control of the persistent search's entry");
  assert.equal(stats.passwordModify, 1, "tshark reads Password Modify's value");
  assert.deepEqual(stats.cutValues, [`1 ${GROUP} memberUid ${MANY}`], "the only attribute over the limit: the group's members");
  const limits = conn('limits');
  assert.deepEqual([...limits.values()].map((x) => x.entryCount), [1, MANY, 1, 0], 'the one-level search returned more than an event keeps');
  const s = conn('session');
  assert.equal(s.get(abandoned)!.final, undefined, 'the abandoned search has no final response');
  assert.ok(s.get(2)!.entries.length === 4 && s.get(5)!.references.length === 1, 'entries and a reference');
  assert.ok([...s.values()].some((x) => x.final?.diagnostic_message), 'a diagnostic message');
  assert.ok([...conn('paged').values()].every((x) => x.request.operation !== 'search' || (x.final?.controls?.length === 1)), "the paged responses' controls");
  assert.deepEqual([...conn('starttls').values()].map((x) => x.request.operation), ['extended', 'bind', 'search', 'extended', 'unbind'], 'read on inside TLS');

  compare(theirs, eventConnections(ldap), 'with the key log');
});

test('ldap oracle: without the key log, both stop at StartTLS', { skip }, async () => {
  const r = run!;
  const { conns: theirs } = await tsharkConnections(file, r.port, undefined);
  const { events } = parseCaptureSync(file);
  assertValidEvents(events);
  const t = theirs.get(r.runs.find((x) => x.name === 'starttls')!.port);
  assert.ok(t, 'tshark reads the StartTLS connection');
  assert.deepEqual([...t.values()].map((x) => [x.request.operation, x.request.oid, x.final?.result]), [['extended', '1.3.6.1.4.1.1466.20037', 'success']]);
  compare(theirs, eventConnections(ldapOf(events)), 'without the key log');
});
