/**
 * AMQP 0-9-1 as RabbitMQ speaks it: frame types, every class and method
 * with its argument list (from the 0-9-1 specification and RabbitMQ's
 * extensions: exchange.bind/unbind, basic.nack, confirm.*, connection.blocked,
 * connection.update-secret), which methods answer which, and reply codes.
 */

import { sequential } from '@panopticon/events';

export const FRAME_METHOD = 1;
export const FRAME_HEADER = 2;
export const FRAME_BODY = 3;
/** The 0-9-1 spec says 8; some old brokers sent 4 (0-8). */
export const FRAME_HEARTBEAT = 8;
export const FRAME_HEARTBEAT_08 = 4;
export const FRAME_END = 0xce;
export const FRAME_HEADER_SIZE = 7;

export const PROTOCOL_HEADER = Buffer.from('AMQP', 'latin1');

export type ArgType = 'octet' | 'short' | 'long' | 'longlong' | 'shortstr' | 'longstr' | 'bit' | 'table' | 'timestamp' | 'secret';

export interface MethodSpec {
  classId: number;
  methodId: number;
  /** `class.method`, e.g. `basic.publish` */
  name: string;
  args: Array<[name: string, type: ArgType]>;
  /** methods that answer this one (synchronous request) */
  replies?: string[];
  /** followed by a content header and body frames */
  content?: boolean;
  /** argument that, when set, means no reply will come */
  noWait?: string;
}

const CLASSES: Record<number, string> = { 10: 'connection', 20: 'channel', 30: 'access', 40: 'exchange', 50: 'queue', 60: 'basic', 85: 'confirm', 90: 'tx' };

type Def = [classId: number, methodId: number, method: string, args: string, extra?: Partial<Pick<MethodSpec, 'replies' | 'content' | 'noWait'>>];

// args: space-separated name:type
const DEFS: Def[] = [
  [10, 10, 'start', 'version_major:octet version_minor:octet server_properties:table mechanisms:longstr locales:longstr', { replies: ['connection.start-ok'] }],
  [10, 11, 'start-ok', 'client_properties:table mechanism:shortstr response:secret locale:shortstr'],
  [10, 20, 'secure', 'challenge:secret', { replies: ['connection.secure-ok'] }],
  [10, 21, 'secure-ok', 'response:secret'],
  [10, 30, 'tune', 'channel_max:short frame_max:long heartbeat:short', { replies: ['connection.tune-ok'] }],
  [10, 31, 'tune-ok', 'channel_max:short frame_max:long heartbeat:short'],
  [10, 40, 'open', 'virtual_host:shortstr capabilities:shortstr insist:bit', { replies: ['connection.open-ok'] }],
  [10, 41, 'open-ok', 'known_hosts:shortstr'],
  [10, 50, 'close', 'reply_code:short reply_text:shortstr class_id:short method_id:short', { replies: ['connection.close-ok'] }],
  [10, 51, 'close-ok', ''],
  [10, 60, 'blocked', 'reason:shortstr'],
  [10, 61, 'unblocked', ''],
  [10, 70, 'update-secret', 'new_secret:secret reason:shortstr', { replies: ['connection.update-secret-ok'] }],
  [10, 71, 'update-secret-ok', ''],
  [20, 10, 'open', 'out_of_band:shortstr', { replies: ['channel.open-ok'] }],
  [20, 11, 'open-ok', 'channel_id:longstr'],
  [20, 20, 'flow', 'active:bit', { replies: ['channel.flow-ok'] }],
  [20, 21, 'flow-ok', 'active:bit'],
  [20, 40, 'close', 'reply_code:short reply_text:shortstr class_id:short method_id:short', { replies: ['channel.close-ok'] }],
  [20, 41, 'close-ok', ''],
  [30, 10, 'request', 'realm:shortstr exclusive:bit passive:bit active:bit write:bit read:bit', { replies: ['access.request-ok'] }],
  [30, 11, 'request-ok', 'ticket:short'],
  [40, 10, 'declare', 'ticket:short exchange:shortstr type:shortstr passive:bit durable:bit auto_delete:bit internal:bit no_wait:bit arguments:table', { replies: ['exchange.declare-ok'], noWait: 'no_wait' }],
  [40, 11, 'declare-ok', ''],
  [40, 20, 'delete', 'ticket:short exchange:shortstr if_unused:bit no_wait:bit', { replies: ['exchange.delete-ok'], noWait: 'no_wait' }],
  [40, 21, 'delete-ok', ''],
  [40, 30, 'bind', 'ticket:short destination:shortstr source:shortstr routing_key:shortstr no_wait:bit arguments:table', { replies: ['exchange.bind-ok'], noWait: 'no_wait' }],
  [40, 31, 'bind-ok', ''],
  [40, 40, 'unbind', 'ticket:short destination:shortstr source:shortstr routing_key:shortstr no_wait:bit arguments:table', { replies: ['exchange.unbind-ok'], noWait: 'no_wait' }],
  [40, 51, 'unbind-ok', ''],
  [50, 10, 'declare', 'ticket:short queue:shortstr passive:bit durable:bit exclusive:bit auto_delete:bit no_wait:bit arguments:table', { replies: ['queue.declare-ok'], noWait: 'no_wait' }],
  [50, 11, 'declare-ok', 'queue:shortstr message_count:long consumer_count:long'],
  [50, 20, 'bind', 'ticket:short queue:shortstr exchange:shortstr routing_key:shortstr no_wait:bit arguments:table', { replies: ['queue.bind-ok'], noWait: 'no_wait' }],
  [50, 21, 'bind-ok', ''],
  [50, 30, 'purge', 'ticket:short queue:shortstr no_wait:bit', { replies: ['queue.purge-ok'], noWait: 'no_wait' }],
  [50, 31, 'purge-ok', 'message_count:long'],
  [50, 40, 'delete', 'ticket:short queue:shortstr if_unused:bit if_empty:bit no_wait:bit', { replies: ['queue.delete-ok'], noWait: 'no_wait' }],
  [50, 41, 'delete-ok', 'message_count:long'],
  [50, 50, 'unbind', 'ticket:short queue:shortstr exchange:shortstr routing_key:shortstr arguments:table', { replies: ['queue.unbind-ok'] }],
  [50, 51, 'unbind-ok', ''],
  [60, 10, 'qos', 'prefetch_size:long prefetch_count:short global:bit', { replies: ['basic.qos-ok'] }],
  [60, 11, 'qos-ok', ''],
  [60, 20, 'consume', 'ticket:short queue:shortstr consumer_tag:shortstr no_local:bit no_ack:bit exclusive:bit no_wait:bit arguments:table', { replies: ['basic.consume-ok'], noWait: 'no_wait' }],
  [60, 21, 'consume-ok', 'consumer_tag:shortstr'],
  [60, 30, 'cancel', 'consumer_tag:shortstr no_wait:bit', { replies: ['basic.cancel-ok'], noWait: 'no_wait' }],
  [60, 31, 'cancel-ok', 'consumer_tag:shortstr'],
  [60, 40, 'publish', 'ticket:short exchange:shortstr routing_key:shortstr mandatory:bit immediate:bit', { content: true }],
  [60, 50, 'return', 'reply_code:short reply_text:shortstr exchange:shortstr routing_key:shortstr', { content: true }],
  [60, 60, 'deliver', 'consumer_tag:shortstr delivery_tag:longlong redelivered:bit exchange:shortstr routing_key:shortstr', { content: true }],
  [60, 70, 'get', 'ticket:short queue:shortstr no_ack:bit', { replies: ['basic.get-ok', 'basic.get-empty'] }],
  [60, 71, 'get-ok', 'delivery_tag:longlong redelivered:bit exchange:shortstr routing_key:shortstr message_count:long', { content: true }],
  [60, 72, 'get-empty', 'cluster_id:shortstr'],
  [60, 80, 'ack', 'delivery_tag:longlong multiple:bit'],
  [60, 90, 'reject', 'delivery_tag:longlong requeue:bit'],
  [60, 100, 'recover-async', 'requeue:bit'],
  [60, 110, 'recover', 'requeue:bit', { replies: ['basic.recover-ok'] }],
  [60, 111, 'recover-ok', ''],
  [60, 120, 'nack', 'delivery_tag:longlong multiple:bit requeue:bit'],
  [85, 10, 'select', 'nowait:bit', { replies: ['confirm.select-ok'], noWait: 'nowait' }],
  [85, 11, 'select-ok', ''],
  [90, 10, 'select', '', { replies: ['tx.select-ok'] }],
  [90, 11, 'select-ok', ''],
  [90, 20, 'commit', '', { replies: ['tx.commit-ok'] }],
  [90, 21, 'commit-ok', ''],
  [90, 30, 'rollback', '', { replies: ['tx.rollback-ok'] }],
  [90, 31, 'rollback-ok', ''],
];

export const METHODS: ReadonlyMap<number, MethodSpec> = new Map(
  DEFS.map(([classId, methodId, method, args, extra]) => [
    (classId << 16) | methodId,
    {
      classId,
      methodId,
      // sequential: put in every event, and a rope would cost it the JSON fast path (ADR 0007)
      name: sequential(`${CLASSES[classId]}.${method}`),
      args: args ? args.split(' ').map((a) => a.split(':') as [string, ArgType]) : [],
      ...extra,
    },
  ]),
);

export function methodSpec(classId: number, methodId: number): MethodSpec | undefined {
  return METHODS.get((classId << 16) | methodId);
}

export function className(classId: number): string | undefined {
  return CLASSES[classId];
}

/** Basic content properties, in property-flag order (bit 15 first). */
export const BASIC_PROPERTIES: Array<[name: string, type: 'shortstr' | 'table' | 'octet' | 'timestamp']> = [
  ['content_type', 'shortstr'],
  ['content_encoding', 'shortstr'],
  ['headers', 'table'],
  ['delivery_mode', 'octet'],
  ['priority', 'octet'],
  ['correlation_id', 'shortstr'],
  ['reply_to', 'shortstr'],
  ['expiration', 'shortstr'],
  ['message_id', 'shortstr'],
  ['timestamp', 'timestamp'],
  ['type', 'shortstr'],
  ['user_id', 'shortstr'],
  ['app_id', 'shortstr'],
  ['cluster_id', 'shortstr'],
];

export const REPLY_CODES: Record<number, string> = {
  200: 'reply-success',
  311: 'content-too-large',
  312: 'no-route',
  313: 'no-consumers',
  320: 'connection-forced',
  402: 'invalid-path',
  403: 'access-refused',
  404: 'not-found',
  405: 'resource-locked',
  406: 'precondition-failed',
  501: 'frame-error',
  502: 'syntax-error',
  503: 'command-invalid',
  504: 'channel-error',
  505: 'unexpected-frame',
  506: 'resource-error',
  530: 'not-allowed',
  540: 'not-implemented',
  541: 'internal-error',
};
