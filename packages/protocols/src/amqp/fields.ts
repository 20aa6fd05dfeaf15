/**
 * AMQP methods → event fields: semconv `messaging.*` (RabbitMQ flavour:
 * destination is the exchange, the routing key and delivery tag have their
 * own names) and the `amqp` group (channel, method, arguments, properties,
 * the answering method).
 */
import { bodyView } from '../body.js';
import { REPLY_CODES } from './constants.js';
import type { AmqpMethod } from './parser.js';

const OPERATION_TYPE: Record<string, string> = {
  'basic.publish': 'send',
  'basic.deliver': 'receive',
  'basic.get': 'receive',
  'basic.get-ok': 'receive',
  'basic.return': 'receive',
  'basic.ack': 'settle',
  'basic.nack': 'settle',
  'basic.reject': 'settle',
};

/** Content encodings that are compressions the body view can undo; others (`utf-8`, `binary`) are labels. */
const COMPRESSIONS = new Set(['gzip', 'x-gzip', 'deflate', 'br']);

interface Fields {
  attributes: Record<string, unknown>;
  flags: string[];
}

function methodGroup(m: AmqpMethod): Record<string, unknown> {
  const g: Record<string, unknown> = { method: m.spec.name };
  if (Object.keys(m.args).length) g.arguments = m.args;
  return g;
}

/** Where the operation points: exchange for publishing and exchange methods, queue for queue methods and consuming. */
function destination(m: AmqpMethod, res?: AmqpMethod): { name?: string; routingKey?: string } {
  const a = m.args;
  const cls = m.spec.name.split('.')[0];
  if (cls === 'queue') {
    const q = (res?.args.queue as string | undefined) || (a.queue as string | undefined);
    return { name: q, routingKey: a.routing_key as string | undefined };
  }
  if (cls === 'exchange') return { name: (a.exchange ?? a.destination) as string | undefined, routingKey: a.routing_key as string | undefined };
  if (m.spec.name === 'basic.consume' || m.spec.name === 'basic.get') {
    const d: { name?: string; routingKey?: string } = { name: a.queue as string };
    if (res?.spec.name === 'basic.get-ok') d.routingKey = res.args.routing_key as string;
    return d;
  }
  if ('exchange' in a) return { name: (a.exchange as string) || 'amq.default', routingKey: a.routing_key as string | undefined };
  return {};
}

function messaging(m: AmqpMethod, res?: AmqpMethod): Record<string, unknown> {
  const out: Record<string, unknown> = { system: 'rabbitmq', operation: { name: m.spec.name } };
  const type = OPERATION_TYPE[m.spec.name];
  if (type) (out.operation as Record<string, unknown>).type = type;
  const d = destination(m, res);
  if (d.name !== undefined) out.destination = { name: d.name };
  const rabbit: Record<string, unknown> = {};
  if (d.routingKey) rabbit.destination = { routing_key: d.routingKey };
  const tag = res?.args.delivery_tag ?? m.args.delivery_tag;
  if (tag !== undefined) rabbit.message = { delivery_tag: tag };
  if (Object.keys(rabbit).length) out.rabbitmq = rabbit;
  return out;
}

/** Body and properties of a content-carrying method into `messaging.message` and `amqp.properties`. */
function addContent(m: AmqpMethod, msg: Record<string, unknown>, amqp: Record<string, unknown>, maxBody: number, flags: string[]): void {
  const c = m.content;
  if (!c) return;
  const props = c.header?.properties ?? {};
  if (Object.keys(props).length) amqp.properties = props;
  const encoding = typeof props.content_encoding === 'string' && COMPRESSIONS.has(props.content_encoding.toLowerCase()) ? props.content_encoding : undefined;
  const view = bodyView(c.body, props.content_type as string | undefined, encoding, maxBody);
  if (c.header && c.received < c.header.bodySize) {
    view.size = c.header.bodySize;
    view.truncated = true;
  }
  if (view.truncated) flags.push('truncated');
  if (c.gap) flags.push('gap');
  const message: Record<string, unknown> = { body: view };
  if (typeof props.message_id === 'string') message.id = props.message_id;
  if (typeof props.correlation_id === 'string') message.conversation_id = props.correlation_id;
  msg.message = message;
}

function replyError(m: AmqpMethod | undefined, attributes: Record<string, unknown>, amqp: Record<string, unknown>): void {
  const code = m?.args.reply_code;
  if (typeof code !== 'number') return;
  amqp.reply_code = code;
  if (REPLY_CODES[code]) amqp.reply_name = REPLY_CODES[code];
  if (code >= 300) attributes.error = { type: String(code) };
}

function network(version: string | undefined): Record<string, unknown> {
  return { protocol: { name: 'amqp', version: version ?? '0-9-1' } };
}

/** `refusal`: the close that refused a login after the client answered (its reply code is the exchange's). */
export function exchangeAttributes(req: AmqpMethod, res: AmqpMethod | undefined, maxBody: number, version: string | undefined, refusal?: AmqpMethod): Fields {
  const flags: string[] = [];
  const amqp: Record<string, unknown> = { channel: req.channel, ...methodGroup(req) };
  const msg = messaging(req, res);
  const attributes: Record<string, unknown> = { messaging: msg, amqp, network: network(version) };
  if (res) {
    const r = methodGroup(res);
    amqp.response = r;
    if (res.content) addContent(res, msg, r, maxBody, flags);
  }
  // The refusal is in the answer (a close answering a declare) or in the request (a close answered by close-ok).
  replyError(refusal ?? (res && typeof res.args.reply_code === 'number' ? res : req), attributes, amqp);
  return { attributes, flags };
}

export function messageAttributes(m: AmqpMethod, maxBody: number, version: string | undefined): Fields {
  const flags: string[] = [];
  const amqp: Record<string, unknown> = { channel: m.channel, ...methodGroup(m) };
  if (m.queue !== undefined) amqp.queue = m.queue;
  const msg = messaging(m);
  const attributes: Record<string, unknown> = { messaging: msg, amqp, network: network(version) };
  addContent(m, msg, amqp, maxBody, flags);
  replyError(m, attributes, amqp);
  return { attributes, flags };
}
