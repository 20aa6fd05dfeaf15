/**
 * WebSocket (RFC 6455). Never detected by content: frames carry no marker,
 * and a connection is WebSocket because its HTTP/1.1 Upgrade said so. The
 * HTTP/1.1 parser hands the stream over after the 101 (with the
 * extensions the server agreed to).
 */
import type { ProtocolModule } from '../types.js';
import { WebSocketStream } from './parser.js';

export const websocketModule: ProtocolModule = {
  name: 'websocket',
  transport: 'tcp',
  ports: [],
  detect: () => null,
  createStream: (ctx, init) => new WebSocketStream(ctx, init),
};
