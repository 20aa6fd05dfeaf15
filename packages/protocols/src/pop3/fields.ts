/**
 * POP3 commands and responses → event fields: the `pop3` group (command,
 * arguments, the user name, AUTH's mechanism, the response's status, text and
 * RFC 2449 extended code, what a multi-line response listed, a retrieved
 * message) and `error.type` for -ERR. No OpenTelemetry convention names POP3.
 */
import { sequential } from '@panopticon/events';
import type { ParsedMessage } from '../smtp/message.js';

export interface Pop3Response {
  ok: boolean;
  text: string;
  startNs: bigint;
  endNs: bigint;
  bytes: number;
}

export interface ListingEntry {
  number: number;
  size?: number;
  uid?: string;
}

export interface Pop3Command {
  verb: string;
  /** What `pop3.arguments` shows: never PASS's, only AUTH's mechanism and APOP's name. */
  args: string;
  username?: string;
  auth?: { mechanism: string; username?: string; steps: number };
  messageNumber?: number;
  /** A multi-line +OK's content, by what the command asked for. */
  message?: ParsedMessage;
  listing?: ListingEntry[];
  capabilities?: string[];
  maildrop?: { messages: number; size: number };
  startNs: bigint;
  endNs: bigint;
  bytes: number;
  /** AUTH: the server's "+" challenge lines. */
  challengeBytes: number;
  flags: string[];
}

export interface Fields {
  attributes: Record<string, unknown>;
  flags: string[];
}

/** RFC 2449 §8: an extended response code in brackets right after the status (`-ERR [IN-USE] ...`). */
const CODE = /^\[([A-Za-z0-9/-]{1,64})\]/;

function responseGroup(r: Pop3Response): Record<string, unknown> {
  const g: Record<string, unknown> = { status: r.ok ? '+OK' : '-ERR', text: sequential(r.text) };
  const m = CODE.exec(r.text);
  if (m) g.code = m[1]!.toUpperCase();
  return g;
}

/** The event of command `c` and response `r` (the greeting: `r` alone, `greeting` set). */
export function pop3Attributes(c: Pop3Command | undefined, r: Pop3Response | undefined, greeting: boolean): Fields {
  const flags: string[] = [];
  const pop3: Record<string, unknown> = {};
  if (greeting) pop3.greeting = true;
  if (c) {
    pop3.command = c.verb;
    if (c.args) pop3.arguments = sequential(c.args);
    if (c.username !== undefined) pop3.username = sequential(c.username);
    if (c.auth) pop3.auth = c.auth.username === undefined ? { mechanism: c.auth.mechanism, steps: c.auth.steps } : { mechanism: c.auth.mechanism, username: c.auth.username, steps: c.auth.steps };
    if (c.messageNumber !== undefined) pop3.message_number = c.messageNumber;
    if (c.maildrop) pop3.maildrop = c.maildrop;
    if (c.listing) pop3.listing = c.listing;
    if (c.capabilities) pop3.capabilities = c.capabilities.map(sequential);
    if (c.message) {
      const m = c.message;
      pop3.message = m.parts ? { size: m.size, headers: m.headers, body: m.body, parts: m.parts } : { size: m.size, headers: m.headers, body: m.body };
      if (m.body.truncated || m.headersCut) flags.push('truncated');
    }
  }
  let error: string | undefined;
  if (r) {
    const g = responseGroup(r);
    pop3.response = g;
    if (!r.ok) error = (g.code as string | undefined) ?? 'ERR';
  }
  const attributes: Record<string, unknown> = { pop3 };
  if (error !== undefined) attributes.error = { type: error };
  attributes.network = { protocol: { name: 'pop3' } };
  return { attributes, flags };
}
