/**
 * NATS operations → event fields: semconv `messaging.*` (system `nats`, the
 * subject as destination, a queue group as consumer group, the payload as
 * the message body) and the `nats` group (operation, sid, reply subject,
 * headers and status, CONNECT's and INFO's settings, the message answering a
 * request).
 */
import { setOwn } from '@panopticon/events';
import { BodyCapture, bodyView } from '../body.js';
import { ERROR_TYPES, OPERATIONS, STATUS_NAMES } from './constants.js';

/** A PUB, HPUB, MSG or HMSG with its payload. */
export interface NatsMessage {
  op: string;
  dir: 0 | 1;
  subject: string;
  reply?: string;
  sid?: string;
  /** HPUB/HMSG: the header block's fields, name → values in order. */
  headers?: Record<string, string[]>;
  status?: number;
  description?: string;
  body: BodyCapture;
  /** The subscription a MSG's sid names, as its SUB gave it. */
  subscription?: Subscription;
  startNs: bigint;
  endNs: bigint;
  bytes: number;
}

export interface Subscription {
  subject: string;
  queue?: string;
}

/** Any other operation that is an event: CONNECT, INFO, SUB, UNSUB, -ERR. */
export interface NatsControl {
  op: string;
  dir: 0 | 1;
  startNs: bigint;
  endNs: bigint;
  bytes: number;
  /** CONNECT's and INFO's settings as kept (credentials by size only). */
  settings?: Record<string, unknown>;
  subject?: string;
  queue?: string;
  sid?: string;
  maxMsgs?: number;
  /** -ERR's text, without its quotes. */
  error?: string;
}

export interface ConnectionFacts {
  /** The client id the server's INFO gave this connection. */
  clientId?: string;
  maxBody: number;
}

/** CONNECT fields whose values are credentials: reported as their size only. */
const SECRET = new Set(['pass', 'auth_token', 'jwt', 'sig']);
/** INFO fields that are per-connection noise or secrets: the nonce is the challenge an nkey signs. */
const INFO_OMIT = new Set(['nonce']);

/** CONNECT's or INFO's JSON object as kept: scalars and short lists, credentials as `{size}`. */
export function settingsOf(json: Record<string, unknown>, connect: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(json)) {
    const v = json[k];
    if (connect && SECRET.has(k)) {
      if (typeof v === 'string') setOwn(out, k, { size: Buffer.byteLength(v) });
      continue;
    }
    if (!connect && INFO_OMIT.has(k)) continue;
    if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') setOwn(out, k, v);
    else if (Array.isArray(v)) setOwn(out, k, v.slice(0, 64).filter((x) => typeof x === 'string' || typeof x === 'number'));
  }
  return out;
}

/** An -ERR text's class (`Permissions Violation for Publish to "x"` → permissions_violation). */
export function errorType(text: string): string {
  for (const [re, name] of ERROR_TYPES) if (re.test(text)) return name;
  return 'error';
}

/** A server-set header status that is a failure: no responders, and server errors. */
function statusFailure(status: number | undefined): string | undefined {
  if (status === undefined || (status !== 503 && status < 500)) return undefined;
  return STATUS_NAMES[status] ?? String(status);
}

function messageGroup(m: NatsMessage, maxBody: number): Record<string, unknown> {
  const g: Record<string, unknown> = { operation: m.op, subject: m.subject };
  if (m.sid !== undefined) g.sid = m.sid;
  if (m.reply !== undefined) g.reply_to = m.reply;
  if (m.headers) g.headers = m.headers;
  if (m.status !== undefined) g.status = m.status;
  if (m.description) g.status_description = m.description;
  g.body = payloadView(m, maxBody);
  return g;
}

function payloadView(m: NatsMessage, maxBody: number): Record<string, unknown> {
  const type = m.headers?.['Content-Type']?.[0] ?? m.headers?.['content-type']?.[0];
  return bodyView(m.body, type, undefined, maxBody) as unknown as Record<string, unknown>;
}

function base(name: string, type: string | undefined, facts: ConnectionFacts): Record<string, unknown> {
  const messaging: Record<string, unknown> = { system: 'nats', operation: type ? { name, type } : { name } };
  if (facts.clientId !== undefined) messaging.client = { id: facts.clientId };
  return messaging;
}

/**
 * A message (`res` absent), or a message carrying a reply subject with the
 * message sent back to it (`res`): a request and its reply.
 */
export function messageAttributes(m: NatsMessage, res: NatsMessage | undefined, facts: ConnectionFacts): { attributes: Record<string, unknown>; flags: string[] } {
  const op = OPERATIONS[m.op]!;
  const messaging = base(op.name, op.type, facts);
  messaging.destination = { name: m.subject };
  if (m.subscription?.queue) messaging.consumer = { group: { name: m.subscription.queue } };
  messaging.message = { body: payloadView(m, facts.maxBody) };
  const nats: Record<string, unknown> = { operation: m.op };
  if (m.sid !== undefined) nats.sid = m.sid;
  if (m.reply !== undefined) nats.reply_to = m.reply;
  if (m.subscription) nats.subscription = m.subscription.queue ? { subject: m.subscription.subject, queue: m.subscription.queue } : { subject: m.subscription.subject };
  if (m.headers) nats.headers = m.headers;
  if (m.status !== undefined) nats.status = m.status;
  if (m.description) nats.status_description = m.description;
  if (res) nats.response = messageGroup(res, facts.maxBody);
  const attributes: Record<string, unknown> = { messaging, nats };
  const failure = statusFailure(res?.status) ?? statusFailure(m.status);
  if (failure) attributes.error = { type: failure };
  attributes.network = { protocol: { name: 'nats' } };
  const flags: string[] = [];
  if (m.body.truncated || res?.body.truncated) flags.push('truncated');
  return { attributes, flags };
}

/** CONNECT (with what answered it: +OK, -ERR, or the PONG to its PING), INFO, SUB, UNSUB, -ERR. */
export function controlAttributes(c: NatsControl, answer: NatsControl | undefined, facts: ConnectionFacts): Record<string, unknown> {
  const op = OPERATIONS[c.op]!;
  const messaging = base(op.name, op.type, facts);
  const nats: Record<string, unknown> = { operation: c.op };
  if (c.subject !== undefined) {
    messaging.destination = { name: c.subject };
    nats.subject = c.subject;
  }
  if (c.queue !== undefined) {
    messaging.consumer = { group: { name: c.queue } };
    nats.queue = c.queue;
  }
  if (c.sid !== undefined) nats.sid = c.sid;
  if (c.maxMsgs !== undefined) nats.max_msgs = c.maxMsgs;
  if (c.op === 'CONNECT' && c.settings) nats.connect = c.settings;
  if (c.op === 'INFO' && c.settings) nats.info = c.settings;
  if (answer) nats.response = answer.error !== undefined ? { operation: answer.op, error: answer.error } : { operation: answer.op };
  const err = answer?.error ?? c.error;
  if (c.error !== undefined) nats.error = c.error;
  const attributes: Record<string, unknown> = { messaging, nats };
  if (err !== undefined) attributes.error = { type: errorType(err) };
  attributes.network = { protocol: { name: 'nats' } };
  return attributes;
}
