/**
 * Untagged data responses of IMAP extensions, read from their values (the
 * line's, "*" and the response's name first): NAMESPACE (RFC 2342), QUOTA and
 * QUOTAROOT (RFC 9208), ESEARCH (RFC 4731, and RFC 9051's SEARCH answer).
 * Lists are bounded (MAX_LISTED); what a bound left out is `dropped`.
 */
import type { Namespace, SearchAnswer } from './fields.js';
import { mailboxName, num, text, type Value } from './values.js';

/** Namespaces of each kind, quota roots and their resources kept from one response. */
export const MAX_LISTED = 100;

const upper = (v: Value | undefined) => text(v)?.toUpperCase();

/** `* NAMESPACE personal other shared`: each NIL or a list of (prefix delimiter [extensions]); prefixes are mailbox names. */
export function namespaceAnswer(values: Value[]): { namespace: { personal: Namespace[]; other: Namespace[]; shared: Namespace[] }; dropped: number } {
  let dropped = 0;
  const kind = (v: Value | undefined): Namespace[] => {
    const out: Namespace[] = [];
    if (!Array.isArray(v)) return out;
    for (const ns of v) {
      const prefix = Array.isArray(ns) ? text(ns[0]) : undefined;
      if (prefix === undefined) continue;
      if (out.length >= MAX_LISTED) dropped++;
      else out.push({ prefix: mailboxName(prefix), delimiter: text((ns as Value[])[1]) ?? null });
    }
    return out;
  };
  return { namespace: { personal: kind(values[2]), other: kind(values[3]), shared: kind(values[4]) }, dropped };
}

/** `* QUOTA root (name usage limit ...)`: a quota root and its resources (STORAGE in KiB, MESSAGE ...). */
export function quotaAnswer(values: Value[]): { quota?: { root: string; resources: Array<{ name: string; usage: number; limit: number }> }; dropped: number } {
  const root = text(values[2]);
  const list = values[3];
  if (root === undefined || !Array.isArray(list)) return { dropped: 0 };
  let dropped = 0;
  const resources: Array<{ name: string; usage: number; limit: number }> = [];
  for (let i = 0; i + 2 < list.length; i += 3) {
    const name = upper(list[i]);
    const usage = num(list[i + 1]);
    const limit = num(list[i + 2]);
    if (name === undefined || usage === undefined || limit === undefined) continue;
    if (resources.length >= MAX_LISTED) dropped++;
    else resources.push({ name, usage, limit });
  }
  return { quota: { root, resources }, dropped };
}

/** `* QUOTAROOT mailbox root ...`: the quota roots a mailbox is under. */
export function quotaRootAnswer(values: Value[]): { quotaRoots?: { mailbox: string; roots: string[] }; dropped: number } {
  const mailbox = text(values[2]);
  if (mailbox === undefined) return { dropped: 0 };
  const roots = values.slice(3).map(text).filter((r): r is string => r !== undefined);
  return { quotaRoots: { mailbox: mailboxName(mailbox), roots: roots.slice(0, MAX_LISTED) }, dropped: Math.max(0, roots.length - MAX_LISTED) };
}

/** The tag an ESEARCH response names (`* ESEARCH (TAG "a1") ...`), read from its line's text; undefined when it names none. */
export function esearchTag(first: string): string | undefined {
  const m = /^\* ESEARCH \(TAG (?:"((?:[^"\\]|\\.)*)"|([^\s()"]+))\)/i.exec(first);
  if (!m) return undefined;
  return m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2];
}

/**
 * `* ESEARCH [(TAG "a1")] [UID] (name value)*`: MIN, MAX, COUNT and ALL (a sequence set, its first
 * `maxIds` numbers as ids, the set kept as it came when that cuts it). `allAsked`: the command asked
 * for ALL (RETURN () or RETURN (ALL ...), or no RETURN to an IMAP4rev2 server), whose absence then
 * means that nothing matched (RFC 4731 §3.1).
 */
export function esearchAnswer(values: Value[], allAsked: boolean, maxIds: number): SearchAnswer {
  let i = 2;
  if (Array.isArray(values[2]) && upper(values[2][0]) === 'TAG') i++;
  const a: SearchAnswer = {};
  if (upper(values[i]) === 'UID') {
    a.uid = true;
    i++;
  }
  const items = new Map<string, Value>();
  for (; i + 1 < values.length; i += 2) {
    const name = upper(values[i]);
    if (name !== undefined) items.set(name, values[i + 1]!);
  }
  const min = num(items.get('MIN'));
  if (min !== undefined) a.min = min;
  const max = num(items.get('MAX'));
  if (max !== undefined) a.max = max;
  const count = num(items.get('COUNT'));
  const all = text(items.get('ALL'));
  if (all !== undefined) {
    const set = sequenceSet(all, maxIds);
    a.count = count ?? set.size;
    a.ids = set.ids;
    if (set.size > set.ids.length) a.all = all;
  } else if (count !== undefined || allAsked) {
    a.count = count ?? 0;
    if (allAsked) a.ids = [];
  }
  return a;
}

/** A sequence set's numbers (`1:3,7,9:8`), the first `max` of them, and how many it holds. */
export function sequenceSet(set: string, max: number): { ids: number[]; size: number } {
  const ids: number[] = [];
  let size = 0;
  for (const range of set.split(',')) {
    const m = /^(\d{1,10})(?::(\d{1,10}))?$/.exec(range);
    if (!m) continue;
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    const lo = Math.min(a, b);
    const hi = Math.max(a, b);
    size += hi - lo + 1;
    for (let n = lo; n <= hi && ids.length < max; n++) ids.push(n);
  }
  return { ids, size };
}
