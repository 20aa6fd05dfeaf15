/**
 * PostgreSQL frontend/backend protocol v3: startup, authentication (without
 * secrets), simple and extended queries with parameters, results, errors,
 * COPY, cancel, notifications; stitched in order per connection.
 */
import type { ProtocolModule } from '../types.js';
import { detectPostgresql } from './detect.js';
import { PgSession } from './session.js';

export const postgresqlModule: ProtocolModule = {
  name: 'postgresql',
  transport: 'tcp',
  ports: [5432],
  detect: (head) => detectPostgresql(head),
  createStream: (ctx) => new PgSession(ctx),
};
