/**
 * One LDAPMessage (RFC 4511 §4.1.1) decoded from its bytes: the message id,
 * the protocol operation with one small reader per operation, and the
 * controls' object identifiers. Values are text when they are UTF-8 text,
 * otherwise their size (and base64 when short: object GUIDs and SIDs); the
 * values of credential attributes (userPassword, unicodePwd ...), a simple
 * bind's password and SASL credentials are never read out, only measured.
 */
import { isUtf8 } from 'node:buffer';
import { setOwn } from '@panopticon/events';
import { BerCursor, BerError, ENUMERATED, INTEGER, OCTET_STRING, SEQUENCE, SET } from './ber.js';
import {
  ABANDON_REQUEST, ADD_REQUEST, BIND_REQUEST, BIND_RESPONSE, COMPARE_REQUEST, CONTROLS, DEL_REQUEST, DEREF, EXTENDED_REQUEST,
  EXTENDED_RESPONSE, INTERMEDIATE_RESPONSE, MODIFY_DN_REQUEST, MODIFY_OPERATIONS, MODIFY_REQUEST, OID_NAMES, OID_PASSWORD_MODIFY,
  SCOPES, SEARCH_REQUEST, SEARCH_RESULT_ENTRY, SEARCH_RESULT_REFERENCE, SECRET_ATTRIBUTE, UNBIND_REQUEST,
} from './constants.js';
import { filterText } from './filter.js';

/** A value that is not kept as text: binary, a credential, or text past MAX_TEXT. */
export interface OpaqueValue {
  size: number;
  base64?: string;
  /** The first MAX_TEXT bytes of a longer text value. */
  text?: string;
  truncated?: true;
}
export type Value = string | OpaqueValue;
export type AttributeMap = Record<string, Value[]>;

export interface LdapResult {
  code: number;
  matchedDn: string;
  message: string;
  referrals?: string[];
}

export interface LdapMessage {
  id: number;
  /** The operation's tag (constants.ts). */
  op: number;
  bind?: { version: number; name: string; method: 'simple' | 'sasl'; mechanism?: string; credentials_size: number };
  search?: { base: string; scope: string; deref: string; size_limit: number; time_limit: number; types_only: boolean; filter: string; attributes: string[] };
  /** The entry a request names (modify, add, delete, modify DN, compare) or a search result entry's. */
  dn?: string;
  attributes?: AttributeMap;
  changes?: Array<{ operation: string; type: string; values: Value[] }>;
  modifyDn?: { new_rdn: string; delete_old_rdn: boolean; new_superior?: string };
  compare?: { attribute: string; value: Value };
  extended?: { oid: string; name?: string; value?: Value };
  abandonId?: number;
  result?: LdapResult;
  references?: string[];
  /** An extended or intermediate response's name and value, a bind response's SASL credentials' size. */
  responseName?: string;
  responseValue?: Value;
  saslCredentialsSize?: number;
  controls?: string[];
  /** Values past the per-attribute or per-entry limits. */
  valuesDropped: number;
  /** Text values cut at MAX_TEXT. */
  valuesCut: number;
}

/** Values kept per attribute, attributes per entry; text kept per value. */
const MAX_VALUES = 100;
const MAX_ATTRIBUTES = 256;
const MAX_TEXT = 4096;
/** Binary values this short are kept as base64 (GUIDs, SIDs, small certificates' fingerprints are longer). */
const MAX_BASE64 = 256;

export function decodeMessage(buf: Buffer, start: number, end: number): LdapMessage {
  const top = new BerCursor(buf, start, end);
  top.expect(SEQUENCE, 'LDAPMessage');
  const c = top.enter();
  const id = c.readInteger(INTEGER, 'messageID');
  if (id < 0) throw new BerError(c.valueStart, 'negative messageID');
  const op = c.next();
  const m: LdapMessage = { id, op, valuesDropped: 0, valuesCut: 0 };
  const body = c.enter();
  switch (op) {
    case BIND_REQUEST: bindRequest(m, body); break;
    case UNBIND_REQUEST: break;
    case SEARCH_REQUEST: searchRequest(m, body); break;
    case MODIFY_REQUEST: modifyRequest(m, body); break;
    case ADD_REQUEST: addRequest(m, body); break;
    case DEL_REQUEST: m.dn = c.text(); break;
    case MODIFY_DN_REQUEST: modifyDnRequest(m, body); break;
    case COMPARE_REQUEST: compareRequest(m, body); break;
    case ABANDON_REQUEST: m.abandonId = c.integer(); break;
    case EXTENDED_REQUEST: extendedRequest(m, body); break;
    case SEARCH_RESULT_ENTRY: searchResultEntry(m, body); break;
    case SEARCH_RESULT_REFERENCE: m.references = strings(body); break;
    case INTERMEDIATE_RESPONSE: intermediateResponse(m, body); break;
    default:
      if (op >= 0x61 && op <= 0x78) response(m, body);
      else throw new BerError(c.valueStart - 2, `unknown protocol operation 0x${op.toString(16)}`);
  }
  if (c.more && c.peek() === CONTROLS) {
    c.next();
    m.controls = controls(c.enter());
  }
  return m;
}

function bindRequest(m: LdapMessage, c: BerCursor): void {
  const version = c.readInteger(INTEGER, 'bind version');
  const name = c.readText(OCTET_STRING, 'bind name');
  const tag = c.next();
  if (tag === 0x80) {
    // simple: the password, measured only (empty: an anonymous or unauthenticated bind, RFC 4513 §5.1)
    m.bind = { version, name, method: 'simple', credentials_size: c.valueEnd - c.valueStart };
  } else if (tag === 0xa3) {
    const s = c.enter();
    const mechanism = s.readText(OCTET_STRING, 'SASL mechanism');
    let size = 0;
    if (s.more) {
      s.expect(OCTET_STRING, 'SASL credentials');
      size = s.valueEnd - s.valueStart;
    }
    m.bind = { version, name, method: 'sasl', mechanism, credentials_size: size };
  } else throw new BerError(c.valueStart, `bind authentication 0x${tag.toString(16)}`);
}

function searchRequest(m: LdapMessage, c: BerCursor): void {
  const base = c.readText(OCTET_STRING, 'search base');
  const scope = c.readInteger(ENUMERATED, 'scope');
  const deref = c.readInteger(ENUMERATED, 'derefAliases');
  const sizeLimit = c.readInteger(INTEGER, 'sizeLimit');
  const timeLimit = c.readInteger(INTEGER, 'timeLimit');
  const typesOnly = c.readBoolean('typesOnly');
  c.next();
  const filter = filterText(c);
  c.expect(SEQUENCE, 'attributes');
  const attributes = strings(c.enter());
  m.search = {
    base,
    scope: SCOPES[scope] ?? String(scope),
    deref: DEREF[deref] ?? String(deref),
    size_limit: sizeLimit,
    time_limit: timeLimit,
    types_only: typesOnly,
    filter,
    attributes,
  };
}

function modifyRequest(m: LdapMessage, c: BerCursor): void {
  m.dn = c.readText(OCTET_STRING, 'modify object');
  c.expect(SEQUENCE, 'changes');
  const changes = c.enter();
  m.changes = [];
  while (changes.more) {
    changes.expect(SEQUENCE, 'change');
    const ch = changes.enter();
    const op = ch.readInteger(ENUMERATED, 'modify operation');
    ch.expect(SEQUENCE, 'modification');
    const mod = ch.enter();
    const type = mod.readText(OCTET_STRING, 'attribute type');
    mod.expect(SET, 'values');
    if (m.changes.length >= MAX_ATTRIBUTES) {
      m.valuesDropped++;
      continue;
    }
    m.changes.push({ operation: MODIFY_OPERATIONS[op] ?? String(op), type, values: values(m, type, mod.enter()) });
  }
}

function addRequest(m: LdapMessage, c: BerCursor): void {
  m.dn = c.readText(OCTET_STRING, 'add entry');
  c.expect(SEQUENCE, 'attributes');
  m.attributes = attributeList(m, c.enter());
}

function modifyDnRequest(m: LdapMessage, c: BerCursor): void {
  m.dn = c.readText(OCTET_STRING, 'modify DN entry');
  const newRdn = c.readText(OCTET_STRING, 'newrdn');
  const deleteOld = c.readBoolean('deleteoldrdn');
  m.modifyDn = { new_rdn: newRdn, delete_old_rdn: deleteOld };
  if (c.more) {
    c.expect(0x80, 'newSuperior');
    m.modifyDn.new_superior = c.text();
  }
}

function compareRequest(m: LdapMessage, c: BerCursor): void {
  m.dn = c.readText(OCTET_STRING, 'compare entry');
  c.expect(SEQUENCE, 'ava');
  const ava = c.enter();
  const attribute = ava.readText(OCTET_STRING, 'attribute');
  ava.expect(OCTET_STRING, 'assertion value');
  m.compare = { attribute, value: value(m, attribute, ava.bytes()) };
}

function extendedRequest(m: LdapMessage, c: BerCursor): void {
  const oid = c.readText(0x80, 'requestName');
  m.extended = { oid };
  const name = OID_NAMES[oid];
  if (name) m.extended.name = name;
  if (c.more) {
    c.expect(0x81, 'requestValue');
    // Password Modify's value holds the old and new passwords (RFC 3062): measured only
    m.extended.value = oid === OID_PASSWORD_MODIFY ? { size: c.valueEnd - c.valueStart } : value(m, '', c.bytes());
  }
}

function searchResultEntry(m: LdapMessage, c: BerCursor): void {
  m.dn = c.readText(OCTET_STRING, 'objectName');
  c.expect(SEQUENCE, 'attributes');
  m.attributes = attributeList(m, c.enter());
}

function intermediateResponse(m: LdapMessage, c: BerCursor): void {
  while (c.more) {
    const tag = c.next();
    if (tag === 0x80) m.responseName = c.text();
    else if (tag === 0x81) m.responseValue = value(m, '', c.bytes());
  }
}

/** LDAPResult, and what a bind or extended response adds after it. */
function response(m: LdapMessage, c: BerCursor): void {
  const code = c.readInteger(ENUMERATED, 'resultCode');
  const matchedDn = c.readText(OCTET_STRING, 'matchedDN');
  const message = c.readText(OCTET_STRING, 'diagnosticMessage');
  m.result = { code, matchedDn, message };
  while (c.more) {
    const tag = c.next();
    if (tag === 0xa3) m.result.referrals = strings(c.enter());
    else if (tag === 0x87 && m.op === BIND_RESPONSE) m.saslCredentialsSize = c.valueEnd - c.valueStart;
    else if (tag === 0x8a && m.op === EXTENDED_RESPONSE) m.responseName = c.text();
    // Who am I?'s answer is an authorization identity (`dn:cn=...`): text, as other text values are
    else if (tag === 0x8b && m.op === EXTENDED_RESPONSE) m.responseValue = value(m, '', c.bytes());
  }
}

function controls(c: BerCursor): string[] {
  const out: string[] = [];
  while (c.more && out.length < 64) {
    c.expect(SEQUENCE, 'control');
    const ctl = c.enter();
    out.push(ctl.readText(OCTET_STRING, 'controlType'));
    // criticality and the value (often BER itself) are not read
  }
  return out;
}

/** SEQUENCE OF OCTET STRING (attribute selections, referral and reference URIs). */
function strings(c: BerCursor): string[] {
  const out: string[] = [];
  while (c.more) {
    c.expect(OCTET_STRING, 'string');
    if (out.length < MAX_VALUES * 10) out.push(c.text());
  }
  return out;
}

/** AttributeList / PartialAttributeList: type → values, in order. */
function attributeList(m: LdapMessage, c: BerCursor): AttributeMap {
  const out: AttributeMap = {};
  let n = 0;
  while (c.more) {
    c.expect(SEQUENCE, 'attribute');
    const a = c.enter();
    const type = a.readText(OCTET_STRING, 'attribute type');
    a.expect(SET, 'values');
    if (++n > MAX_ATTRIBUTES) {
      m.valuesDropped++;
      continue;
    }
    const vals = values(m, type, a.enter());
    const seen = out[type];
    if (Array.isArray(seen)) seen.push(...vals);
    else setOwn(out, type, vals);
  }
  return out;
}

function values(m: LdapMessage, type: string, c: BerCursor): Value[] {
  const out: Value[] = [];
  while (c.more) {
    c.expect(OCTET_STRING, 'value');
    if (out.length >= MAX_VALUES) {
      m.valuesDropped++;
      continue;
    }
    out.push(value(m, type, c.bytes()));
  }
  return out;
}

/**
 * A value as text when it is UTF-8 text; a credential's by size only; binary by size (and base64
 * when short); text past MAX_TEXT cut, and counted on `m`, whose event is flagged truncated.
 */
function value(m: LdapMessage, type: string, bytes: Buffer): Value {
  if (type && SECRET_ATTRIBUTE.test(type)) return { size: bytes.length };
  if (isText(bytes)) {
    if (bytes.length <= MAX_TEXT) return bytes.toString('utf8');
    m.valuesCut++;
    return { size: bytes.length, text: bytes.subarray(0, MAX_TEXT).toString('utf8'), truncated: true };
  }
  return bytes.length <= MAX_BASE64 ? { size: bytes.length, base64: bytes.toString('base64') } : { size: bytes.length };
}

/** UTF-8 without control characters other than tab, CR and LF. */
function isText(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) {
    const c = b[i]!;
    if (c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return false;
    if (c === 0x7f) return false;
  }
  return isUtf8(b);
}
