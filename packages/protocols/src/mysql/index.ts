/**
 * MySQL / MariaDB client/server protocol: handshake (without secrets),
 * text and prepared-statement commands with typed parameters, OK / ERR / EOF,
 * text and binary result sets, multi-packet payloads, query attributes,
 * TLS switch; stitched in order per connection.
 */
import type { ProtocolModule } from '../types.js';
import { detectMysql } from './detect.js';
import { MySession } from './session.js';

export const mysqlModule: ProtocolModule = {
  name: 'mysql',
  transport: 'tcp',
  ports: [3306],
  detect: (head) => detectMysql(head),
  createStream: (ctx) => new MySession(ctx),
};
