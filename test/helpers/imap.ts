/**
 * The IMAP client traffic the IMAP live and oracle tests share, against the
 * private Dovecot of test/helpers/dovecot.ts (started with `{ imap: true }`):
 * imapScenario runs test/fixtures/imap/client.py once per mode, and
 * expectedFromImapTranscript says what events each connection's transcript
 * must give.
 *
 * A transcript is what each side sent, framed by the client as IMAP (lines,
 * and the literals a line announces at its end), in the order the client sent
 * or read it. It is read here on its own terms, not with the parser's code:
 * a small reading of IMAP's data syntax (tokens: atoms with their section
 * brackets, quoted strings, NIL, lists, literals), modified UTF-7 through
 * UTF-16, RFC 2047 through the live tests' decoder, RFC 2231 through
 * decodeURIComponent, and messages through expectedMessage (Python's email
 * package for MIME parts). BODYSTRUCTURE is read here from RFC 9051's grammar
 * (structureOf); what Python's email package makes of the same messages is
 * client.py's (results.messages[].structure), which the live test holds the
 * events to as well.
 */
import type { PanoEvent } from '@panopticon/events';
import { join } from 'node:path';
import { runClient } from './client-process.js';
import { Dovecot, EVE, IVY, MESSAGES, PYTHON, QUOTA_ROOT, WRONG_PASSWORD, messageNumber, type LoginRecord } from './dovecot.js';
import { decodeEncodedWords, expectedBody, expectedMessage, type Body, type SmtpMessage } from './smtp-server.js';
import type { Namespace, SearchAnswer, StructurePart } from '../../packages/protocols/src/imap/fields.js';

export const IMAP_CLIENT = join(import.meta.dirname, '../fixtures/imap/client.py');

/** The mailbox the plain session creates, appends to and examines; on the wire in modified UTF-7. */
export const FOLDER = 'Entwürfe';
export const FOLDER_MUTF7 = 'Entw&APw-rfe';

const crlf = (lines: string[]) => Buffer.from(lines.map((l) => `${l}\r\n`).join(''));

/** The draft the plain session APPENDs to FOLDER (a synchronising literal), a phone number in it. */
export const DRAFT_PHONE = '+1 212 555 0187';
export const APPENDED = crlf(['From: Eve Adams <eve@example.com>', 'To: Ivy Chen <ivy@example.org>', 'Subject: Re: Lunch on Thursday', '', `Noon works. My number is ${DRAFT_PHONE}.`]);
/** The message the idle mode's second connection APPENDs to INBOX while the first idles. */
export const IDLE_MESSAGE = crlf(['From: Oscar Diaz <oscar.diaz@example.net>', 'To: eve@example.com', 'Subject: New while idling', '', 'Ping.']);

/**
 * The message the literals mode APPENDs to INBOX (with \Seen and QUOTED_DATE) and fetches back by UID: its From's
 * name has quotes and its Subject 8-bit characters and quotes, which Dovecot sends as literals inside the ENVELOPE.
 */
export const QUOTED_NAME = 'Eve "E" Adams';
export const QUOTED_SUBJECT = 'Re: Lunch on Thursday — "noon" it is';
export const QUOTED_DATE = '13-Nov-2023 11:30:00 +0100';
export const QUOTED = crlf([
  'From: "Eve \\"E\\" Adams" <eve@example.com>',
  'To: Ivy Chen <ivy@example.org>',
  `Subject: ${QUOTED_SUBJECT}`,
  'Date: Mon, 13 Nov 2023 11:30:00 +0100',
  'Message-ID: <noon-7@example.com>',
  'MIME-Version: 1.0',
  'Content-Type: text/plain; charset=utf-8',
  'Content-Transfer-Encoding: 8bit',
  '',
  'Noon it is. À bientôt.',
]);

/** The mailboxes the mime mode creates: one for its MIME messages, one it fills by COPY past MAX_SEARCH_IDS (and deletes). */
export const MIME_FOLDER = 'Anhänge';
export const ARCHIVE_FOLDER = 'Archiv';
/** What the events keep of a SEARCH's numbers, of a structure's parts, and how deep (pano-events(5)). */
export const MAX_SEARCH_IDS = 1000;
export const MAX_STRUCTURE_PARTS = 100;
export const MAX_STRUCTURE_NESTING = 16;

/** What UID SEARCH FROM looks for; the message whose FROM and SUBJECT are fetched (encoded words), and the one whose TEXT is. */
export const SEARCH_FROM = IVY.address;
export const HEADERS_OF = messageNumber('encoded');
export const TEXT_OF = messageNumber('plain');

// ---------------------------------------------------------------------------
// Transcripts

/** A line (without its CRLF) or a literal (base64) one side sent; `partial`: the client stopped reading it. */
export type ImapItem =
  | { from: 'client' | 'server'; line: string; tls: boolean }
  | { from: 'client' | 'server'; literal: string; partial?: boolean; tls: boolean };

/** A logical line: its text pieces and the literals between them. */
export interface LogicalLine {
  pieces: Array<string | Buffer>;
  tls: boolean;
  /** its bytes on the wire: each line with its CRLF, each literal */
  bytes: number;
  /** a literal of it the client stopped reading (the line never ended) */
  partial?: boolean;
}

const LITERAL_MARKER = /~?\{(\d+)\+?\}$/;

/** A token of IMAP's data syntax: an atom (with a section spec's brackets), a string, NIL, a literal's bytes, a list. */
export type Tok = { atom: string } | string | null | Buffer | Tok[];

/** The tokens of a logical line (RFC 9051 §4): the literal markers stand for the literals after them. */
export function tokens(pieces: Array<string | Buffer>): Tok[] {
  const top: Tok[] = [];
  const stack: Tok[][] = [top];
  const add = (t: Tok) => stack.at(-1)!.push(t);
  for (const piece of pieces) {
    if (Buffer.isBuffer(piece)) {
      add(piece);
      continue;
    }
    const s = piece.replace(LITERAL_MARKER, '');
    let i = 0;
    while (i < s.length) {
      const ch = s[i]!;
      if (ch === ' ') i++;
      else if (ch === '(') {
        const list: Tok[] = [];
        add(list);
        stack.push(list);
        i++;
      } else if (ch === ')') {
        if (stack.length > 1) stack.pop();
        i++;
      } else if (ch === '"') {
        let out = '';
        i++;
        while (i < s.length && s[i] !== '"') {
          if (s[i] === '\\') i++;
          out += s[i++] ?? '';
        }
        i++;
        add(out);
      } else {
        let j = i;
        let bracket = 0;
        while (j < s.length && (bracket > 0 || !' ()'.includes(s[j]!))) {
          if (s[j] === '[') bracket++;
          else if (s[j] === ']') bracket--;
          j++;
        }
        const a = s.slice(i, j);
        add(a.toUpperCase() === 'NIL' ? null : { atom: a });
        i = j;
      }
    }
  }
  return top;
}

/** An atom's or a string's text (a literal is a string too, RFC 9051 §4.3). */
export function tokText(t: Tok | undefined): string | undefined {
  if (typeof t === 'string') return t;
  if (Buffer.isBuffer(t)) return t.toString('utf8');
  if (t && !Array.isArray(t) && !Buffer.isBuffer(t)) return t.atom;
  return undefined;
}

/** A mailbox name from modified UTF-7 (RFC 3501 §5.1.3): "&" base64 of UTF-16BE ("," for "/") "-", and "&-" for "&". */
export function decodeMailbox(name: string): string {
  return name.replace(/&([A-Za-z0-9+,]*)-/g, (_, b64: string) => (b64 === '' ? '&' : new TextDecoder('utf-16be').decode(Buffer.from(b64.replace(/,/g, '/'), 'base64'))));
}

export interface ImapResponse {
  status: string;
  code?: string;
  text: string;
}

/** A status line: tag or "*", OK/NO/BAD/BYE/PREAUTH, the response code in brackets, the text after it. */
export function toImapResponse(line: string): ImapResponse | undefined {
  const m = /^\S+ (OK|NO|BAD|BYE|PREAUTH)(?: \[([^\]]*)\])?(?: (.*))?$/i.exec(line);
  if (!m) return undefined;
  return m[2] === undefined ? { status: m[1]!.toUpperCase(), text: m[3] ?? '' } : { status: m[1]!.toUpperCase(), code: m[2], text: m[3] ?? '' };
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

/** A MIME part as BODYSTRUCTURE describes it, SEARCH's or ESEARCH's answer, NAMESPACE's: the events' shapes (pano-events(5)). */
export type ExpectedPart = StructurePart;
export type ExpectedSearch = SearchAnswer;
export type ExpectedNamespaces = Record<'personal' | 'other' | 'shared', Namespace[]>;

export type ExpectedQuota = Array<{ root: string; resources: Array<{ name: string; usage: number; limit: number }> }>;

/** What one FETCH response said of a message (the bytes of its literals as they came). */
export interface ExpectedFetch {
  seq: number;
  uid?: number;
  flags?: string[];
  size?: number;
  internal_date?: string;
  envelope?: Envelope;
  /** BODYSTRUCTURE, or BODY when no BODYSTRUCTURE came */
  structure?: ExpectedPart[];
  /** the structure had more parts, or deeper, than the events keep */
  structureCut?: boolean;
  /** BODY[] or RFC822 */
  message?: Buffer;
  /** BODY[HEADER...] and RFC822.HEADER, merged */
  headers?: Buffer[];
  /** other sections */
  sections?: Array<{ section: string; data: Buffer }>;
  /** the client stopped reading its literal: the bytes are a prefix of what came */
  partial?: boolean;
}

/** What one IMAP event of a connection must hold. */
/** The `imap` fields an event and its expectation share (and name alike). */
interface ImapShared {
  greeting?: boolean;
  tag?: string;
  command?: string;
  arguments?: string;
  username?: string;
  auth?: { mechanism: string; username?: string; steps: number };
  mailbox?: string;
  client_id?: Record<string, string | null>;
  server_id?: Record<string, string | null>;
  capabilities?: string[];
  exists?: number;
  recent?: number;
  expunged?: number;
  flags?: string[];
  uidvalidity?: number;
  uidnext?: number;
  mailboxes?: Array<{ name: string; delimiter: string | null; attributes: string[] }>;
  status?: { mailbox: string; items: Record<string, number> };
  search?: ExpectedSearch;
  namespace?: ExpectedNamespaces;
  quota?: ExpectedQuota;
  quota_roots?: { mailbox: string; roots: string[] };
  bye?: string;
  response?: ImapResponse;
}

export interface ExpectedImap extends ImapShared {
  kind: 'message' | 'exchange' | 'unanswered';
  /** APPEND's message */
  message?: Buffer;
  /** SEARCH's RETURN options, upper-cased */
  searchReturn?: string[];
  fetch?: ExpectedFetch[];
  /** the connection ended inside the response (the client gave up) */
  incomplete?: boolean;
  /** sent inside TLS */
  tls: boolean;
  /** the bytes of the command's lines (with its literals, AUTHENTICATE's answers, IDLE's DONE), and of the server's lines for it */
  request_bytes: number;
  response_bytes: number;
  /** the command's place in the connection (the greeting -1): events are in this order */
  order: number;
}

const b64 = (s: string) => Buffer.from(s, 'base64');

/** ID's list: name, value, ... (RFC 2971), names lower-cased. */
function idPairs(list: Tok | undefined): Record<string, string | null> | undefined {
  if (!Array.isArray(list)) return undefined;
  const out: Record<string, string | null> = {};
  for (let i = 0; i + 1 < list.length; i += 2) out[tokText(list[i])!.toLowerCase()] = list[i + 1] === null ? null : (tokText(list[i + 1]) ?? null);
  return out;
}

/** An ENVELOPE (RFC 9051 §7.5.2), its addresses as "Name <mailbox@host>" with encoded words decoded. */
function envelopeOf(v: Tok[]): Envelope {
  const e: Envelope = {};
  const str = (t: Tok | undefined) => (typeof t === 'string' || Buffer.isBuffer(t) ? tokText(t) : undefined);
  const addrs = (t: Tok | undefined) => {
    if (!Array.isArray(t)) return undefined;
    return t.map((a) => {
      const [name, , mailbox, host] = a as Tok[];
      const addr = `${tokText(mailbox)}@${tokText(host)}`;
      return str(name) ? `${decodeEncodedWords(str(name)!)} <${addr}>` : addr;
    });
  };
  if (str(v[0]) !== undefined) e.date = str(v[0]);
  if (str(v[1]) !== undefined) e.subject = decodeEncodedWords(str(v[1])!);
  (['from', 'sender', 'reply_to', 'to', 'cc', 'bcc'] as const).forEach((k, i) => {
    const a = addrs(v[2 + i]);
    if (a) e[k] = a;
  });
  if (str(v[8]) !== undefined) e.in_reply_to = str(v[8]);
  if (str(v[9]) !== undefined) e.message_id = str(v[9]);
  return e;
}

const num = (t: Tok | undefined) => Number(tokText(t));

/** A MIME parameter list: names lower-cased, RFC 2231's name*=charset''%XX (UTF-8 here) and RFC 2047's encoded words decoded. */
function mimeParams(t: Tok | undefined): Record<string, string> | undefined {
  if (!Array.isArray(t) || t.length === 0) return undefined;
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < t.length; i += 2) {
    const name = tokText(t[i])!.toLowerCase();
    const value = tokText(t[i + 1])!;
    if (name.endsWith('*')) out[name.slice(0, -1)] = decodeURIComponent(value.replace(/^utf-8'[^']*'/i, ''));
    else out[name] = decodeEncodedWords(value);
  }
  return out;
}

/**
 * A BODYSTRUCTURE or BODY as the events must give it: the parts in order, a multipart before its
 * parts, IMAP's part numbers (RFC 9051 §6.4.5: a message's multipart body is TEXT, or n.TEXT in
 * message/rfc822 part n, its single part n.1), read until MAX_STRUCTURE_PARTS parts or a body
 * nested deeper than MAX_STRUCTURE_NESTING (then `cut`).
 */
export function structureOf(top: Tok): { parts: ExpectedPart[]; cut: boolean } {
  const parts: ExpectedPart[] = [];
  let cut = false;
  const str = (t: Tok | undefined) => (t === null || t === undefined ? undefined : tokText(t));
  const put = <K extends keyof ExpectedPart>(p: ExpectedPart, k: K, v: ExpectedPart[K] | undefined) => {
    if (v !== undefined) p[k] = v;
  };
  // the extension data after a part's own fields: disposition, language, location
  const extension = (p: ExpectedPart, list: Tok[], from: number) => {
    const [dsp, lang, loc] = list.slice(from);
    if (Array.isArray(dsp)) put(p, 'disposition', mimeParams(dsp[1]) ? { type: tokText(dsp[0])!.toLowerCase(), parameters: mimeParams(dsp[1]) } : { type: tokText(dsp[0])!.toLowerCase() });
    put(p, 'language', Array.isArray(lang) ? lang.map((l) => tokText(l)!) : str(lang) === undefined ? undefined : [str(lang)!]);
    put(p, 'location', str(loc));
  };
  const visit = (b: Tok[], depth: number, number: string, prefix: string): void => {
    if (cut || depth > MAX_STRUCTURE_NESTING || parts.length >= MAX_STRUCTURE_PARTS) {
      cut = true;
      return;
    }
    if (Array.isArray(b[0])) {
      const children = b.findIndex((x) => !Array.isArray(x));
      const p: ExpectedPart = { part: number, type: 'multipart', subtype: tokText(b[children])!.toLowerCase() };
      put(p, 'parameters', mimeParams(b[children + 1]));
      extension(p, b, children + 2);
      parts.push(p);
      b.slice(0, children).forEach((child, i) => {
        const n = prefix ? `${prefix}.${i + 1}` : String(i + 1);
        visit(child as Tok[], depth + 1, n, n);
      });
      return;
    }
    const [type, subtype, params, id, description, encoding, size] = b;
    const p: ExpectedPart = { part: number, type: tokText(type)!.toLowerCase(), subtype: tokText(subtype)!.toLowerCase() };
    put(p, 'parameters', mimeParams(params));
    put(p, 'id', str(id));
    put(p, 'description', str(description) === undefined ? undefined : decodeEncodedWords(str(description)!));
    put(p, 'encoding', str(encoding)?.toLowerCase());
    p.size = num(size);
    let at = 7;
    const message = p.type === 'message' && p.subtype === 'rfc822';
    if (message) {
      p.envelope = envelopeOf(b[7] as Tok[]);
      at = 9;
    }
    if (message || p.type === 'text') p.lines = num(b[at++]);
    put(p, 'md5', str(b[at]));
    extension(p, b, at + 1);
    parts.push(p);
    // the message it holds: its multipart n.TEXT, or its single part n.1
    if (message) {
      const inner = b[8] as Tok[];
      visit(inner, depth + 1, `${number}.${Array.isArray(inner[0]) ? 'TEXT' : '1'}`, number);
    }
  };
  const b = top as Tok[];
  visit(b, 1, Array.isArray(b[0]) ? 'TEXT' : '1', '');
  return { parts, cut };
}

/** ESEARCH (RFC 4731): UID, MIN, MAX, COUNT and ALL (its numbers up to MAX_SEARCH_IDS, the set too when they stop short); an ALL asked for and absent is none. */
function esearchOf(toks: Tok[], returnOptions: string[] | undefined): ExpectedSearch {
  const rest = toks.slice(Array.isArray(toks[2]) ? 3 : 2);
  const out: ExpectedSearch = {};
  if (tokText(rest[0])?.toUpperCase() === 'UID') {
    out.uid = true;
    rest.shift();
  }
  const items = new Map<string, string>();
  for (let i = 0; i + 1 < rest.length; i += 2) items.set(tokText(rest[i])!.toUpperCase(), tokText(rest[i + 1])!);
  if (items.has('MIN')) out.min = Number(items.get('MIN'));
  if (items.has('MAX')) out.max = Number(items.get('MAX'));
  const all = items.get('ALL');
  const allAsked = !returnOptions || returnOptions.length === 0 || returnOptions.includes('ALL');
  if (all !== undefined) {
    const numbers = all.split(',').flatMap((r) => {
      const [a, b = a] = r.split(':').map(Number);
      return Array.from({ length: Math.abs(b! - a!) + 1 }, (_, k) => Math.min(a!, b!) + k);
    });
    out.count = items.has('COUNT') ? Number(items.get('COUNT')) : numbers.length;
    out.ids = numbers.slice(0, MAX_SEARCH_IDS);
    if (numbers.length > MAX_SEARCH_IDS) out.all = all;
  } else if (items.has('COUNT') || allAsked) {
    out.count = items.has('COUNT') ? Number(items.get('COUNT')) : 0;
    if (allAsked) out.ids = [];
  }
  return out;
}

/** `* n FETCH (items)`: an entry's fields from the items (name, value pairs). */
function fetchEntry(seq: number, items: Tok[], partial: boolean): ExpectedFetch {
  const e: ExpectedFetch = { seq };
  for (let i = 0; i + 1 < items.length; i += 2) {
    const name = tokText(items[i])!.toUpperCase();
    const v = items[i + 1];
    if (name === 'UID') e.uid = num(v);
    else if (name === 'FLAGS') e.flags = (v as Tok[]).map((f) => tokText(f)!);
    else if (name === 'RFC822.SIZE') e.size = num(v);
    else if (name === 'INTERNALDATE') e.internal_date = tokText(v);
    else if (name === 'ENVELOPE') e.envelope = envelopeOf(v as Tok[]);
    else if (name === 'BODYSTRUCTURE' || (name === 'BODY' && !e.structure)) {
      const { parts, cut } = structureOf(v!);
      e.structure = parts;
      if (cut) e.structureCut = true;
      else delete e.structureCut;
    }
    else if (Buffer.isBuffer(v) || typeof v === 'string') {
      const data = Buffer.isBuffer(v) ? v : Buffer.from(v);
      const section = /\[(.*)\]/.exec(name)?.[1] ?? (name === 'RFC822' ? '' : name === 'RFC822.HEADER' ? 'HEADER' : 'TEXT');
      if (section === '') e.message = data;
      else if (section.startsWith('HEADER')) (e.headers ??= []).push(data);
      else (e.sections ??= []).push({ section, data });
    }
  }
  if (partial) e.partial = true;
  return e;
}

/**
 * The logical lines of a transcript, each side's in the order they ended (a line with literals ends
 * after its last piece); `clientOpen`: a client line was being sent when this server line came (a
 * synchronising literal's go-ahead).
 */
function logical(items: ImapItem[]): Array<{ from: 'client' | 'server'; line: LogicalLine; clientOpen: boolean }> {
  const out: Array<{ from: 'client' | 'server'; line: LogicalLine; clientOpen: boolean }> = [];
  const open: Record<'client' | 'server', LogicalLine | undefined> = { client: undefined, server: undefined };
  for (const item of items) {
    const cur = (open[item.from] ??= { pieces: [], tls: item.tls, bytes: 0 });
    if ('literal' in item) {
      const data = b64(item.literal);
      cur.pieces.push(data);
      cur.bytes += data.length;
      if (item.partial) {
        cur.partial = true;
        out.push({ from: item.from, line: cur, clientOpen: open.client !== undefined });
        open[item.from] = undefined;
      }
      continue;
    }
    cur.pieces.push(item.line);
    cur.bytes += Buffer.byteLength(item.line) + 2;
    if (LITERAL_MARKER.test(item.line)) continue;
    open[item.from] = undefined;
    out.push({ from: item.from, line: cur, clientOpen: open.client !== undefined });
  }
  return out;
}

/** A command's arguments as the contract shows them: as sent, a literal as {size} (LITERAL+'s "+" dropped). */
function argumentsText(pieces: Array<string | Buffer>, skipWords: number): string {
  const text = pieces.map((p) => (Buffer.isBuffer(p) ? '' : p.replace(/~?\{(\d+)\+?\}$/, '{$1}'))).join('');
  return text.split(' ').slice(skipWords).join(' ').trim();
}

/**
 * The IMAP events a connection's transcript must give, in the order their
 * commands started: the greeting (a message), then an exchange per tagged
 * command, ended by the status carrying its tag, with what the untagged
 * responses before it said (credited to the oldest command waiting). A "+"
 * line while AUTHENTICATE waits is a challenge (a step), and the client line
 * after it an answer, not a command; IDLE's DONE is not a command either.
 * Commands left waiting at the end are unanswered (LOGOUT a message), and one
 * whose response the client stopped reading is incomplete. Each with the bytes
 * sent for it: the command's lines with their literals, AUTHENTICATE's answers
 * and IDLE's DONE (request_bytes); the go-ahead, challenges and untagged lines
 * credited to it and its status (response_bytes); the greeting's line.
 */
export function expectedFromImapTranscript(items: ImapItem[]): ExpectedImap[] {
  const out: ExpectedImap[] = [];
  const pending: Array<ExpectedImap & { answers: string[] }> = [];
  let greeted = false;
  let answerDue = false;
  let order = 0;
  /** a go-ahead the server sent while a command line was still being sent: that command's */
  let carried = 0;
  const finish = (x: ExpectedImap & { answers: string[] }): ExpectedImap => {
    const { answers, ...e } = x;
    if (e.auth && e.auth.username === undefined && e.auth.mechanism === 'PLAIN' && answers[0] !== undefined) {
      // authzid NUL authcid NUL password: the authcid
      e.auth = { mechanism: e.auth.mechanism, username: b64(answers[0]).toString('utf8').split('\0')[1]!, steps: e.auth.steps };
      e.username = e.auth.username;
    }
    return e;
  };
  for (const { from, line, clientOpen } of logical(items)) {
    const first = typeof line.pieces[0] === 'string' ? line.pieces[0] : '';
    if (from === 'client') {
      if (answerDue) {
        answerDue = false;
        pending[0]!.answers.push(first);
        pending[0]!.request_bytes += line.bytes;
        continue;
      }
      const idle = pending.find((p) => p.command === 'IDLE');
      if (first.toUpperCase() === 'DONE' && idle) {
        idle.request_bytes += line.bytes;
        continue;
      }
      const words = first.split(' ');
      let command = (words[1] ?? '').toUpperCase();
      if (command === 'UID' && words[2]) command = `UID ${words[2].toUpperCase()}`;
      const skip = command.startsWith('UID ') ? 3 : 2;
      const x: ExpectedImap & { answers: string[] } = { kind: 'exchange', tag: words[0]!, command, tls: line.tls, request_bytes: line.bytes, response_bytes: carried, order: order++, answers: [] };
      carried = 0;
      const args = tokens(line.pieces).slice(skip);
      const argsText = argumentsText(line.pieces, skip);
      if (command === 'LOGIN') {
        // the user name alone: the password is never kept
        x.username = tokText(args[0]);
        x.arguments = x.username;
      } else if (command === 'AUTHENTICATE') {
        const mechanism = tokText(args[0])!.toUpperCase();
        x.arguments = mechanism;
        x.auth = { mechanism, steps: 0 };
        // SASL-IR: the initial response in the command
        const initial = tokText(args[1]);
        if (initial !== undefined) x.answers.push(initial);
      } else if (argsText) {
        x.arguments = argsText;
      }
      if (['SELECT', 'EXAMINE', 'CREATE', 'DELETE', 'SUBSCRIBE', 'UNSUBSCRIBE', 'STATUS', 'APPEND', 'GETQUOTAROOT'].includes(command)) x.mailbox = decodeMailbox(tokText(args[0])!);
      if (command.endsWith('SEARCH') && tokText(args[0])?.toUpperCase() === 'RETURN') x.searchReturn = (args[1] as Tok[]).map((t) => tokText(t)!.toUpperCase());
      if (command === 'APPEND') x.message = args.find((a): a is Buffer => Buffer.isBuffer(a));
      if (command === 'ID') x.client_id = idPairs(args[0]);
      pending.push(x);
      continue;
    }
    if (!greeted) {
      greeted = true;
      const response = toImapResponse(first)!;
      const g: ExpectedImap = { kind: 'message', greeting: true, response, tls: line.tls, request_bytes: 0, response_bytes: line.bytes, order: -1 };
      if (response.code?.toUpperCase().startsWith('CAPABILITY ')) g.capabilities = response.code.split(' ').slice(1);
      out.push(g);
      continue;
    }
    if (first.startsWith('+')) {
      // a synchronising literal's go-ahead, IDLE's start, or a challenge to AUTHENTICATE
      if (clientOpen) carried += line.bytes;
      else if (pending.length) pending.at(-1)!.response_bytes += line.bytes;
      if (!clientOpen && pending[0]?.command === 'AUTHENTICATE') {
        pending[0].auth!.steps++;
        answerDue = true;
      }
      continue;
    }
    const head = pending[0];
    if (first.startsWith('* ')) {
      if (!head) continue;
      head.response_bytes += line.bytes;
      if (line.partial) head.incomplete = true;
      const toks = tokens(line.pieces);
      const what = tokText(toks[1])!.toUpperCase();
      const status = toImapResponse(first);
      if (status && line.pieces.length === 1) {
        const code = status.code ?? '';
        const [name, arg] = code.split(' ');
        if (name === 'CAPABILITY') head.capabilities = code.split(' ').slice(1);
        else if (name === 'UIDVALIDITY') head.uidvalidity = Number(arg);
        else if (name === 'UIDNEXT') head.uidnext = Number(arg);
        if (status.status === 'BYE') head.bye = status.text;
      } else if (/^\d+$/.test(what)) {
        const n = Number(what);
        const kind = tokText(toks[2])!.toUpperCase();
        if (kind === 'EXISTS') head.exists = n;
        else if (kind === 'RECENT') head.recent = n;
        else if (kind === 'EXPUNGE') head.expunged = (head.expunged ?? 0) + 1;
        else if (kind === 'FETCH') (head.fetch ??= []).push(fetchEntry(n, toks[3] as Tok[], line.partial === true));
      } else if (what === 'CAPABILITY') head.capabilities = toks.slice(2).map((t) => tokText(t)!);
      else if (what === 'FLAGS') head.flags = (toks[2] as Tok[]).map((t) => tokText(t)!);
      else if (what === 'LIST' || what === 'LSUB') {
        (head.mailboxes ??= []).push({ name: decodeMailbox(tokText(toks[4])!), delimiter: tokText(toks[3]) ?? null, attributes: (toks[2] as Tok[]).map((t) => tokText(t)!) });
      } else if (what === 'STATUS') {
        const list = toks[3] as Tok[];
        const items: Record<string, number> = {};
        for (let i = 0; i + 1 < list.length; i += 2) items[tokText(list[i])!.toUpperCase()] = num(list[i + 1]);
        head.status = { mailbox: decodeMailbox(tokText(toks[2])!), items };
      } else if (what === 'SEARCH') {
        const ids = toks.slice(2).map(num);
        head.search = { count: ids.length, ids: ids.slice(0, MAX_SEARCH_IDS) };
      } else if (what === 'ESEARCH') {
        // to the command whose tag it names
        const tag = Array.isArray(toks[2]) ? tokText(toks[2][1]) : undefined;
        const to = pending.find((p) => p.tag === tag) ?? head;
        to.search = esearchOf(toks, to.searchReturn);
      } else if (what === 'NAMESPACE') {
        const kind = (t: Tok | undefined) => (Array.isArray(t) ? t.map((ns) => ({ prefix: decodeMailbox(tokText((ns as Tok[])[0])!), delimiter: tokText((ns as Tok[])[1]) ?? null })) : []);
        head.namespace = { personal: kind(toks[2]), other: kind(toks[3]), shared: kind(toks[4]) };
      } else if (what === 'QUOTA') {
        const list = toks[3] as Tok[];
        const resources = [];
        for (let i = 0; i + 2 < list.length; i += 3) resources.push({ name: tokText(list[i])!.toUpperCase(), usage: num(list[i + 1]), limit: num(list[i + 2]) });
        (head.quota ??= []).push({ root: tokText(toks[2])!, resources });
      } else if (what === 'QUOTAROOT') {
        head.quota_roots = { mailbox: decodeMailbox(tokText(toks[2])!), roots: toks.slice(3).map((t) => tokText(t)!) };
      } else if (what === 'ID') head.server_id = idPairs(toks[2]);
      continue;
    }
    const tag = first.split(' ')[0];
    const i = pending.findIndex((p) => p.tag === tag);
    if (i < 0) throw new Error(`a status no command waits for: ${first}`);
    const [x] = pending.splice(i, 1);
    if (x!.command === 'AUTHENTICATE') answerDue = false;
    x!.response_bytes += line.bytes;
    x!.response = toImapResponse(first)!;
    const code = x!.response.code;
    if (code?.toUpperCase().startsWith('CAPABILITY ')) x!.capabilities = code.split(' ').slice(1);
    out.push(finish(x!));
  }
  for (const p of pending) out.push({ ...finish(p), kind: p.command === 'LOGOUT' ? 'message' : 'unanswered' });
  return out.sort((a, b) => a.order - b.order);
}

// ---------------------------------------------------------------------------
// The imap group an event must have

/** The default body limit of the parse pipeline (64 KiB). */
export { MAX_BODY } from './smtp-server.js';

/** A message as the event gives it, its MIME parts as Python reads them (body and file name; see pythonParts). */
export type ImapMessage = SmtpMessage;

/** A message the way both sides are compared: parts as their bodies and file names. */
export function comparableMessage(m: { size: number; headers: Record<string, string[]>; body: Body; parts?: Array<{ body: unknown; filename?: string }> }): SmtpMessage {
  const out: SmtpMessage = { size: m.size, headers: m.headers, body: m.body };
  if (m.parts) out.parts = m.parts.map((p) => (p.filename === undefined ? { body: p.body as SmtpMessage['body'] } : { body: p.body as SmtpMessage['body'], filename: p.filename }));
  return out;
}

/** The message an event must give of `data` (a literal's bytes): as smtp.message is read, an empty body its size alone. */
export function expectedImapMessage(data: Buffer): SmtpMessage {
  const m = expectedMessage(data);
  if (m.body.size === 0) m.body = { size: 0 };
  return m;
}

/** The exact `imap` group of an event expected as `x`, messages comparable (a partial fetch entry left out: checked on its own). */
export function expectedImapGroup(x: ExpectedImap): Record<string, unknown> {
  const g: Record<string, unknown> = {};
  if (x.greeting) g.greeting = true;
  if (x.tag !== undefined) g.tag = x.tag;
  if (x.command !== undefined) g.command = x.command;
  if (x.arguments) g.arguments = x.arguments;
  if (x.username !== undefined) g.username = x.username;
  if (x.auth) g.auth = x.auth;
  if (x.mailbox !== undefined) g.mailbox = x.mailbox;
  if (x.message) g.message = expectedImapMessage(x.message);
  if (x.client_id) g.client_id = x.client_id;
  for (const k of ['capabilities', 'exists', 'recent', 'expunged', 'flags', 'uidvalidity', 'uidnext', 'mailboxes', 'status', 'search', 'namespace', 'quota', 'quota_roots'] as const) {
    if (x[k] !== undefined) g[k] = x[k];
  }
  if (x.fetch) {
    g.fetch = x.fetch.filter((f) => !f.partial).map((f) => {
      const e: Record<string, unknown> = { seq: f.seq };
      for (const k of ['uid', 'flags', 'size', 'internal_date', 'envelope', 'structure'] as const) if (f[k] !== undefined) e[k] = f[k];
      if (f.message) e.message = expectedImapMessage(f.message);
      if (f.headers) e.headers = Object.assign({}, ...f.headers.map((h) => expectedMessage(h).headers));
      if (f.sections) e.sections = f.sections.map((s) => ({ section: s.section, body: expectedBody(s.data) }));
      return e;
    });
  }
  if (x.server_id) g.server_id = x.server_id;
  if (x.bye !== undefined) g.bye = x.bye;
  if (x.response) g.response = x.response;
  return g;
}

/** An event's `imap` group with its messages comparable (see comparableMessage), a partial fetch entry left out. */
export function comparableImapGroup(imap: ImapFields['imap'], leaveOut: (seq: number) => boolean = () => false): Record<string, unknown> {
  const g: Record<string, unknown> = { ...imap };
  if (imap.message) g.message = comparableMessage(imap.message);
  if (imap.fetch) g.fetch = imap.fetch.filter((f) => !leaveOut(f.seq)).map((f) => (f.message ? { ...f, message: comparableMessage(f.message) } : f));
  return g;
}

// ---------------------------------------------------------------------------
// The client traffic of the IMAP live and oracle tests

export type ImapMode = 'plain' | 'refused' | 'auth-plain' | 'sasl-ir' | 'idle' | 'literals' | 'starttls' | 'abandoned' | 'mime';
/** A connection's name: its mode's, and idle-append for the second connection of idle. */
export type ImapConnName = ImapMode | 'idle-append';

/** The modes imapScenario runs, in order (see client.py). */
export const IMAP_MODES: ImapMode[] = ['plain', 'refused', 'auth-plain', 'sasl-ir', 'idle', 'literals', 'starttls', 'abandoned', 'mime'];

/** One connection of a client run. */
export interface ImapRun {
  name: ImapConnName;
  /** the client's port */
  port: number;
  transcript: ImapItem[];
  /** what client.py printed for the whole mode */
  py: Record<string, any>;
}

export interface ImapScenarioResult {
  /** the IMAP port */
  port: number;
  /** one per connection, in the order they were opened */
  runs: ImapRun[];
  /** the logins Dovecot logged (imap-login), one per connection */
  logins: LoginRecord[];
  /** the TLS key log of the STARTTLS session (NSS format) */
  keylog: string;
}

/** Runs client.py in `mode` against `server`'s IMAP port; one run per connection it opened. */
export async function runImapClient(server: Dovecot, mode: ImapMode, keylog: string): Promise<ImapRun[]> {
  const cfg = {
    user: EVE.user,
    password: EVE.password,
    wrong: WRONG_PASSWORD,
    keylog,
    folder: FOLDER,
    appended: APPENDED.toString('utf8'),
    idle_message: IDLE_MESSAGE.toString('utf8'),
    quoted: QUOTED.toString('utf8'),
    quoted_date: `"${QUOTED_DATE}"`,
    from: SEARCH_FROM,
    headers_of: HEADERS_OF,
    text_of: TEXT_OF,
    big: messageNumber('big'),
    mime_folder: MIME_FOLDER,
    archive: ARCHIVE_FOLDER,
    quota_root: QUOTA_ROOT,
    search_ids: MAX_SEARCH_IDS,
  };
  const result = await runClient(PYTHON, [IMAP_CLIENT, mode, String(server.imapPort), JSON.stringify(cfg)], 30_000, server.dir);
  if (result.code !== 0) throw new Error(`client.py ${mode}: exit ${result.code}${result.timedOut ? ' (timed out)' : ''}: ${result.stderr.trim()}\n${result.stdout.slice(-2000)}\n${server.log.slice(-2000)}`);
  const py = JSON.parse(result.stdout) as Record<string, any>;
  return (py.conns as Array<{ name: ImapConnName; port: number; log: ImapItem[] }>).map((c) => ({ name: c.name, port: c.port, transcript: c.log, py }));
}

/**
 * Drives the traffic of the IMAP live and oracle tests against `server` (eve's
 * INBOX holding MESSAGES), one mode at a time, while the caller captures
 * (client.py's modes, in order; each one connection, idle two):
 *  (1) plain: CAPABILITY, ID, LOGIN, CREATE FOLDER, LIST, SELECT INBOX,
 *      SEARCH ALL, UID SEARCH FROM, FETCH 1:* of UID, FLAGS, RFC822.SIZE,
 *      ENVELOPE and BODY.PEEK[], FETCH of HEADER.FIELDS (FROM SUBJECT), FETCH
 *      of TEXT, UID STORE +FLAGS (\Seen), STATUS INBOX, APPEND APPENDED to
 *      FOLDER, EXAMINE FOLDER, SELECT and DELETE of a mailbox that does not
 *      exist, NOOP, LOGOUT;
 *  (2) refused: LOGIN with the wrong password, LOGOUT;
 *  (3) auth-plain: AUTHENTICATE PLAIN through a "+" challenge, STATUS, LOGOUT;
 *  (4) sasl-ir: AUTHENTICATE PLAIN with the initial response, LOGOUT;
 *  (5) idle: LOGIN (the password a LITERAL+ literal), SELECT, IDLE; the
 *      second connection (idle-append) APPENDs IDLE_MESSAGE to INBOX; EXISTS
 *      comes, DONE, LOGOUT;
 *  (6) literals: LOGIN, APPEND QUOTED to INBOX with \Seen and QUOTED_DATE,
 *      SELECT, UID FETCH of its INTERNALDATE, ENVELOPE (strings as literals),
 *      HEADER.FIELDS (SUBJECT) and part 1, LOGOUT;
 *  (7) starttls: STARTTLS, then inside TLS 1.3 (key log written) CAPABILITY,
 *      LOGIN, SELECT, FETCH 1 BODY.PEEK[], LOGOUT;
 *  (8) abandoned: LOGIN, SELECT, FETCH of the big message, the connection
 *      closed once the line announcing its literal came (a 4 KiB receive
 *      window: the literal's end never reaches the wire).
 */
export async function imapScenario(server: Dovecot, modes: ImapMode[] = IMAP_MODES): Promise<ImapScenarioResult> {
  const keylog = join(server.dir, 'imap-keys.log');
  const before = server.logins().length;
  const runs: ImapRun[] = [];
  for (const mode of modes) runs.push(...(await runImapClient(server, mode, keylog)));
  const logins = (await server.waitLogins(before + runs.length)).slice(before);
  return { port: server.imapPort, runs, logins, keylog };
}

/** The envelope Dovecot must give of a seeded message, from its header fields (sender and reply-to default to from, RFC 9051 §7.5.2). */
export function envelopeOfSeed(n: number): Envelope {
  const h = expectedMessage(MESSAGES[n - 1]!.data).headers;
  const one = (k: string) => h[k]?.[0];
  const e: Envelope = {};
  if (one('date')) e.date = one('date');
  if (one('subject')) e.subject = one('subject');
  if (one('from')) e.from = e.sender = e.reply_to = [one('from')!];
  if (one('to')) e.to = [one('to')!];
  if (one('message-id')) e.message_id = one('message-id');
  return e;
}

// ---------------------------------------------------------------------------
// The typed view of an IMAP event the live and oracle tests read

export interface ImapFields {
  client: { port: number };
  server: { port: number };
  network: { protocol: { name: string } };
  imap: ImapShared & {
    message?: ImapMessage & { parts?: Array<{ headers?: Record<string, string[]>; body: Body & { content_encoding?: string }; filename?: string }> };
    fetch?: Array<{
      seq: number;
      uid?: number;
      flags?: string[];
      size?: number;
      internal_date?: string;
      envelope?: Envelope;
      structure?: ExpectedPart[];
      message?: ImapMessage & { parts?: Array<{ headers?: Record<string, string[]>; body: Body & { content_encoding?: string }; filename?: string }> };
      headers?: Record<string, string[]>;
      sections?: Array<{ section: string; body: Body }>;
    }>;
  };
  tls?: { decrypted?: boolean };
  error?: { type: string };
}

export type ImapEvent = PanoEvent & ImapFields;
