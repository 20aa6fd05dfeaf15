/**
 * SMTP commands and replies → event fields: the `smtp` group (command,
 * arguments, reply with its enhanced status code, envelope, the message's
 * header fields and body, AUTH's mechanism and user name) and `error.type`
 * for replies of 400 and above. No OpenTelemetry convention names SMTP.
 */
import { sequential } from '@panopticon/events';
import type { ParsedMessage } from './message.js';

export interface SmtpReply {
  code: number;
  lines: string[];
  startNs: bigint;
  endNs: bigint;
  bytes: number;
}

export interface SmtpCommand {
  verb: string;
  args: string;
  mailFrom?: string;
  rcptTo?: string;
  auth?: { mechanism: string; username?: string; steps: number };
  envelope?: { mail_from?: string; rcpt_to: string[] };
  message?: ParsedMessage;
  /** DATA's 354. */
  intermediate?: SmtpReply;
  /** BDAT ... LAST */
  last?: true;
  startNs: bigint;
  endNs: bigint;
  bytes: number;
  flags: string[];
}

export interface Fields {
  attributes: Record<string, unknown>;
  flags: string[];
}

/** RFC 3463 enhanced status code at the start of a reply's text (`2.1.0 Ok`). */
const ENHANCED = /^([245]\.\d{1,3}\.\d{1,3})(?: |$)/;

function replyGroup(r: SmtpReply): Record<string, unknown> {
  const g: Record<string, unknown> = { code: r.code };
  const e = ENHANCED.exec(r.lines[0] ?? '');
  if (e) g.enhanced_status = e[1];
  g.text = sequential(r.lines.join('\n'));
  return g;
}

/** The event of command `c` and reply `r` (the greeting: `r` alone, `greeting` set). */
export function smtpAttributes(c: SmtpCommand | undefined, r: SmtpReply | undefined, greeting: boolean): Fields {
  const flags: string[] = [];
  const smtp: Record<string, unknown> = {};
  if (greeting) smtp.greeting = true;
  if (c) {
    smtp.command = c.verb;
    if (c.args) smtp.arguments = sequential(c.args);
    if (c.mailFrom !== undefined) smtp.mail_from = c.mailFrom;
    if (c.rcptTo !== undefined) smtp.rcpt_to = c.rcptTo;
    if (c.auth) smtp.auth = c.auth.username === undefined ? { mechanism: c.auth.mechanism, steps: c.auth.steps } : { mechanism: c.auth.mechanism, username: c.auth.username, steps: c.auth.steps };
    if (c.envelope && c.message) smtp.envelope = c.envelope;
    if (c.message) {
      const m = c.message;
      smtp.message = m.parts ? { size: m.size, headers: m.headers, body: m.body, parts: m.parts } : { size: m.size, headers: m.headers, body: m.body };
      if (m.body.truncated || m.headersCut) flags.push('truncated');
    }
    if (c.intermediate) smtp.intermediate_reply = replyGroup(c.intermediate);
  }
  if (r) smtp.reply = replyGroup(r);
  const attributes: Record<string, unknown> = { smtp };
  if (r && r.code >= 400) attributes.error = { type: String(r.code) };
  attributes.network = { protocol: { name: 'smtp' } };
  return { attributes, flags };
}
