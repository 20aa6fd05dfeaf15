/**
 * LDAP requests and their responses → event fields: the `ldap` group (message
 * id, operation, what the request asked, the entries and references a search
 * returned, the result) and `error.type` for a result that is a failure. No
 * OpenTelemetry convention names LDAP.
 */
import { NOT_ERRORS, OID_NAMES, REQUESTS, RESULT_CODES } from './constants.js';
import type { AttributeMap, LdapMessage } from './messages.js';

export interface LdapExchange {
  id: number;
  /** Absent for responses whose request was not seen (joined mid-session). */
  request?: LdapMessage;
  entries: Array<{ dn: string; attributes: AttributeMap }>;
  /** Entries returned, kept or not; references; intermediate responses. */
  entryCount: number;
  references: string[];
  final?: LdapMessage;
  startNs: bigint;
  endNs: bigint;
  requestBytes: number;
  responseBytes: number;
  flags: string[];
}

export interface Fields {
  attributes: Record<string, unknown>;
  flags: string[];
}

function controlList(oids: string[]): Array<{ oid: string; name?: string }> {
  return oids.map((oid) => {
    const name = OID_NAMES[oid];
    return name ? { oid, name } : { oid };
  });
}

export function ldapAttributes(x: LdapExchange): Fields {
  const flags: string[] = [];
  const ldap: Record<string, unknown> = { message_id: x.id };
  const q = x.request;
  if (q) {
    ldap.operation = REQUESTS[q.op]?.name ?? 'unknown';
    if (q.bind) {
      const b = q.bind;
      const bind: Record<string, unknown> = { version: b.version, name: b.name, method: b.method };
      if (b.mechanism !== undefined) bind.mechanism = b.mechanism;
      // RFC 4513 §5.1: an empty name and password is anonymous, a name without a password unauthenticated
      if (b.method === 'simple' && b.credentials_size === 0) bind.anonymous = true;
      ldap.bind = bind;
    }
    if (q.search) ldap.search = q.search;
    if (q.dn !== undefined) ldap.dn = q.dn;
    if (q.attributes) ldap.attributes = q.attributes;
    if (q.changes) ldap.changes = q.changes;
    if (q.modifyDn) ldap.modify_dn = q.modifyDn;
    if (q.compare) ldap.compare = q.compare;
    if (q.extended) ldap.extended = q.extended;
    if (q.abandonId !== undefined) ldap.abandon_id = q.abandonId;
    if (q.controls) ldap.controls = controlList(q.controls);
    if ((q.valuesDropped || q.valuesCut) && !flags.includes('truncated')) flags.push('truncated');
  }
  if (x.entryCount > 0 || (q?.search && x.final)) {
    ldap.entries = x.entries;
    ldap.entry_count = x.entryCount;
    if (x.entryCount > x.entries.length && !flags.includes('truncated')) flags.push('truncated');
  }
  if (x.references.length) ldap.references = x.references;
  const f = x.final;
  let error: string | undefined;
  if (f?.result) {
    const r = f.result;
    const name = RESULT_CODES[r.code] ?? String(r.code);
    const response: Record<string, unknown> = { result_code: r.code, result: name };
    if (r.matchedDn) response.matched_dn = r.matchedDn;
    if (r.message) response.diagnostic_message = r.message;
    if (r.referrals) response.referrals = r.referrals;
    if (f.responseName !== undefined) {
      response.name = f.responseName;
      if (OID_NAMES[f.responseName]) response.name_text = OID_NAMES[f.responseName];
    }
    if (f.responseValue !== undefined) response.value = f.responseValue;
    if (f.controls) response.controls = controlList(f.controls);
    ldap.response = response;
    if (!NOT_ERRORS.has(r.code)) error = name;
  }
  const attributes: Record<string, unknown> = { ldap };
  if (error !== undefined) attributes.error = { type: error };
  attributes.network = { protocol: { name: 'ldap' } };
  return { attributes, flags };
}
