/**
 * IMAP commands and their responses → event fields: the `imap` group (tag,
 * command, arguments, user name, mailbox, the tagged status with its response
 * code, and what the untagged responses in between said: capabilities, the
 * selected mailbox's counts, a listing of mailboxes, STATUS items, SEARCH and
 * ESEARCH results, namespaces, quotas, fetched messages with their envelopes,
 * MIME structure and bodies) and `error.type` for NO and BAD. No
 * OpenTelemetry convention names IMAP.
 */
import { sequential } from '@panopticon/events';
import type { ParsedMessage } from '../smtp/message.js';
import type { BodyView } from '../body.js';

export interface ImapStatus {
  status: string;
  code?: string;
  text: string;
  startNs: bigint;
  endNs: bigint;
  bytes: number;
}

export interface Envelope {
  date?: string;
  subject?: string;
  from?: string[];
  sender?: string[];
  reply_to?: string[];
  to?: string[];
  cc?: string[];
  bcc?: string[];
  in_reply_to?: string;
  message_id?: string;
}

/** One part of a message's MIME structure (BODYSTRUCTURE or BODY), absent fields left out. */
export interface StructurePart {
  /** The IMAP part number (1, 1.2 ...); a multipart container that is a message's body: TEXT, or 3.TEXT inside part 3. */
  part: string;
  type: string;
  subtype: string;
  parameters?: Record<string, string>;
  id?: string;
  description?: string;
  encoding?: string;
  size?: number;
  /** A message/rfc822 part's: the envelope of the message it holds (whose parts follow it). */
  envelope?: Envelope;
  lines?: number;
  md5?: string;
  disposition?: { type: string; parameters?: Record<string, string> };
  language?: string[];
  location?: string;
}

export interface Namespace {
  prefix: string;
  delimiter: string | null;
}

/** SEARCH's answer, or ESEARCH's (RFC 4731): what it returned (ids as the first of ALL's set, the set itself when they are cut short). */
export interface SearchAnswer {
  count?: number;
  ids?: number[];
  uid?: true;
  min?: number;
  max?: number;
  all?: string;
}

export interface FetchEntry {
  seq: number;
  uid?: number;
  flags?: string[];
  size?: number;
  internal_date?: string;
  envelope?: Envelope;
  /** BODYSTRUCTURE or BODY: the parts in order. */
  structure?: StructurePart[];
  /** BODY[] or RFC822: the whole message; BODY[HEADER] and the like: its header fields alone. */
  message?: ParsedMessage;
  headers?: Record<string, string[]>;
  /** Other sections (TEXT, a part number), as bodies. */
  sections?: Array<{ section: string; body: BodyView }>;
}

export interface ImapCommand {
  tag: string;
  verb: string;
  args: string;
  username?: string;
  auth?: { mechanism: string; username?: string; steps: number };
  mailbox?: string;
  /** APPEND's message. */
  message?: ParsedMessage;
  clientId?: Record<string, string | null>;
  // what the untagged responses said
  capabilities?: string[];
  exists?: number;
  recent?: number;
  expunged?: number;
  flags?: string[];
  uidvalidity?: number;
  uidnext?: number;
  mailboxes?: Array<{ name: string; delimiter: string | null; attributes: string[] }>;
  status?: { mailbox: string; items: Record<string, number> };
  search?: SearchAnswer;
  /** SEARCH's RETURN options (RFC 4731), upper-cased; undefined when it has none. */
  searchReturn?: string[];
  namespace?: { personal: Namespace[]; other: Namespace[]; shared: Namespace[] };
  quota?: Array<{ root: string; resources: Array<{ name: string; usage: number; limit: number }> }>;
  quotaRoots?: { mailbox: string; roots: string[] };
  fetch?: FetchEntry[];
  serverId?: Record<string, string | null>;
  enabled?: string[];
  bye?: string;
  startNs: bigint;
  endNs: bigint;
  bytes: number;
  /** Continuations ("+") and untagged responses the server sent for this command. */
  responseBytes: number;
  flagsOut: string[];
}

export interface Fields {
  attributes: Record<string, unknown>;
  flags: string[];
}

function statusGroup(s: ImapStatus): Record<string, unknown> {
  return s.code === undefined ? { status: s.status, text: sequential(s.text) } : { status: s.status, code: sequential(s.code), text: sequential(s.text) };
}

/** The event of command `c` and its tagged status `s` (the greeting: `s` alone with `greeting`; an unsolicited status: `s` alone). */
export function imapAttributes(c: ImapCommand | undefined, s: ImapStatus | undefined, greeting: boolean, capabilities?: string[]): Fields {
  const flags: string[] = [];
  const imap: Record<string, unknown> = {};
  if (greeting) imap.greeting = true;
  if (c) {
    imap.tag = c.tag;
    imap.command = c.verb;
    if (c.args) imap.arguments = c.args;
    if (c.username !== undefined) imap.username = c.username;
    if (c.auth) imap.auth = c.auth.username === undefined ? { mechanism: c.auth.mechanism, steps: c.auth.steps } : { mechanism: c.auth.mechanism, username: c.auth.username, steps: c.auth.steps };
    if (c.mailbox !== undefined) imap.mailbox = c.mailbox;
    if (c.message) {
      imap.message = messageGroup(c.message);
      if (c.message.body.truncated || c.message.headersCut) flags.push('truncated');
    }
    if (c.clientId) imap.client_id = c.clientId;
    if (c.capabilities) imap.capabilities = c.capabilities.map(sequential);
    if (c.exists !== undefined) imap.exists = c.exists;
    if (c.recent !== undefined) imap.recent = c.recent;
    if (c.expunged !== undefined) imap.expunged = c.expunged;
    if (c.flags) imap.flags = c.flags;
    if (c.uidvalidity !== undefined) imap.uidvalidity = c.uidvalidity;
    if (c.uidnext !== undefined) imap.uidnext = c.uidnext;
    if (c.mailboxes) imap.mailboxes = c.mailboxes;
    if (c.status) imap.status = c.status;
    if (c.search) imap.search = c.search;
    if (c.namespace) imap.namespace = c.namespace;
    if (c.quota) imap.quota = c.quota;
    if (c.quotaRoots) imap.quota_roots = c.quotaRoots;
    if (c.fetch) {
      imap.fetch = c.fetch.map(fetchGroup);
      for (const f of c.fetch) if (f.message && (f.message.body.truncated || f.message.headersCut) && !flags.includes('truncated')) flags.push('truncated');
    }
    if (c.serverId) imap.server_id = c.serverId;
    if (c.enabled) imap.enabled = c.enabled;
    if (c.bye !== undefined) imap.bye = c.bye;
  } else if (capabilities) imap.capabilities = capabilities.map(sequential);
  let error: string | undefined;
  if (s) {
    imap.response = statusGroup(s);
    if (s.status === 'NO' || s.status === 'BAD') error = s.code?.split(' ')[0]?.toUpperCase() || s.status;
  }
  const attributes: Record<string, unknown> = { imap };
  if (error !== undefined) attributes.error = { type: error };
  attributes.network = { protocol: { name: 'imap' } };
  return { attributes, flags };
}

function messageGroup(m: ParsedMessage): Record<string, unknown> {
  return m.parts ? { size: m.size, headers: m.headers, body: m.body, parts: m.parts } : { size: m.size, headers: m.headers, body: m.body };
}

function fetchGroup(f: FetchEntry): Record<string, unknown> {
  const g: Record<string, unknown> = { seq: f.seq };
  if (f.uid !== undefined) g.uid = f.uid;
  if (f.flags) g.flags = f.flags;
  if (f.size !== undefined) g.size = f.size;
  if (f.internal_date !== undefined) g.internal_date = f.internal_date;
  if (f.envelope) g.envelope = f.envelope;
  if (f.structure) g.structure = f.structure;
  if (f.message) g.message = messageGroup(f.message);
  if (f.headers) g.headers = f.headers;
  if (f.sections) g.sections = f.sections;
  return g;
}
