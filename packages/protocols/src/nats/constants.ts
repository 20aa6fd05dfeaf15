/**
 * NATS client protocol words (docs.nats.io, "Client Protocol"): operations
 * by side, and the classes of the server's -ERR texts.
 */

/** What a client sends. */
export const CLIENT_OPS = new Set(['CONNECT', 'PUB', 'HPUB', 'SUB', 'UNSUB', 'PING', 'PONG']);
/** What a server sends. */
export const SERVER_OPS = new Set(['INFO', 'MSG', 'HMSG', 'PING', 'PONG', '+OK', '-ERR']);

/** `messaging.operation` per operation that is an event. */
export const OPERATIONS: Record<string, { name: string; type?: string }> = {
  CONNECT: { name: 'connect' },
  INFO: { name: 'info' },
  PUB: { name: 'publish', type: 'send' },
  HPUB: { name: 'publish', type: 'send' },
  MSG: { name: 'receive', type: 'receive' },
  HMSG: { name: 'receive', type: 'receive' },
  SUB: { name: 'subscribe' },
  UNSUB: { name: 'unsubscribe' },
  '-ERR': { name: 'error' },
};

/**
 * The server's -ERR texts (nats-server's `client.go` and the protocol
 * documentation) → `error.type`. Texts that name a subject or a limit keep
 * only their class, so error.type stays a short list.
 */
export const ERROR_TYPES: Array<[RegExp, string]> = [
  [/^authorization violation/i, 'authorization_violation'],
  [/^authentication timeout/i, 'authentication_timeout'],
  [/^authentication expired/i, 'authentication_expired'],
  [/^user authentication (?:revoked|expired)/i, 'authentication_revoked'],
  [/^permissions violation/i, 'permissions_violation'],
  [/^maximum payload/i, 'maximum_payload_violation'],
  [/^maximum connections exceeded/i, 'maximum_connections_exceeded'],
  [/^maximum subscriptions exceeded/i, 'maximum_subscriptions_exceeded'],
  [/^maximum account active connections exceeded/i, 'maximum_connections_exceeded'],
  [/^unknown protocol operation/i, 'unknown_protocol_operation'],
  [/^invalid (?:publish )?subject/i, 'invalid_subject'],
  [/^stale connection/i, 'stale_connection'],
  [/^slow consumer/i, 'slow_consumer'],
  [/^secure connection - tls required/i, 'tls_required'],
  [/^attempted to connect to route port/i, 'route_port'],
  [/^invalid client protocol/i, 'invalid_client_protocol'],
  [/^no responders requires headers support/i, 'no_responders_requires_headers'],
  [/^parser error/i, 'parser_error'],
];

/**
 * The `error.type`s of an -ERR about an operation after a CONNECT the server
 * took: such an -ERR answers no CONNECT, even one still waiting.
 */
export const OPERATION_ERRORS = new Set([
  'permissions_violation',
  'maximum_payload_violation',
  'maximum_subscriptions_exceeded',
  'invalid_subject',
  'slow_consumer',
  'stale_connection',
  'unknown_protocol_operation',
]);

/** The header status a server sets that has a name of its own here (`NATS/1.0 503`: no one subscribes to the subject). */
export const STATUS_NAMES: Record<number, string> = {
  503: 'no_responders',
};
