/**
 * Every protocol module the dispatcher knows, in detection order.
 * Detection is by content; `ports` are hints tried first and used when
 * content cannot decide.
 */
import type { ProtocolModule } from './types.js';
import { http2Module } from './http2/index.js';
import { dnsModule, dnsTcpModule } from './dns/index.js';
import { http1Module } from './http1/index.js';
import { postgresqlModule } from './postgresql/index.js';
import { mysqlModule } from './mysql/index.js';
import { redisModule } from './redis/index.js';
import { kafkaModule } from './kafka/index.js';
import { amqpModule } from './amqp/index.js';
import { mqttModule } from './mqtt/index.js';
import { natsModule } from './nats/index.js';
import { memcachedModule, memcachedUdpModule } from './memcached/index.js';
import { smtpModule } from './smtp/index.js';
import { pop3Module } from './pop3/index.js';
import { imapModule } from './imap/index.js';
import { ldapModule } from './ldap/index.js';
import { ftpModule, ftpDataModule } from './ftp/index.js';
import { websocketModule } from './websocket/index.js';
import { tlsModule } from './tls/index.js';
import { quicModule } from './quic/index.js';
import { dtlsModule } from './dtls/index.js';

export const protocolModules: ProtocolModule[] = [
  // one entry per module: import it above and add it here
  http2Module,
  http1Module,
  postgresqlModule,
  mysqlModule,
  // before Redis: a NATS server's first line is INFO, which Redis's inline detection would take
  natsModule,
  redisModule,
  // after Redis: a lone `get <key>` is Redis's inline command unless the port says memcached
  memcachedModule,
  kafkaModule,
  amqpModule,
  mqttModule,
  smtpModule,
  pop3Module,
  imapModule,
  ldapModule,
  ftpModule, ftpDataModule,
  websocketModule,
  tlsModule,
  dnsModule, dnsTcpModule,
  quicModule,
  dtlsModule,
  memcachedUdpModule,
];

export function findModule(name: string): ProtocolModule | undefined {
  return protocolModules.find((m) => m.name === name);
}
