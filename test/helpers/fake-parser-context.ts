/**
 * A ParserContext stand-in for unit tests of protocol parsers: records what
 * the parser emitted, counted, abandoned and handed off, with no dispatcher.
 */
import type { Connection, Dir } from '@panopticon/flows';
import { defaultParseOptions, type ExchangeRecord, type ParseOptions, type ParserContext } from '../../packages/protocols/src/types.js';

export interface FakeContext extends ParserContext {
  records: ExchangeRecord[];
  counts: Map<string, number>;
  abandoned: string[];
  handoffs: Array<{ protocol: string; pending?: Array<{ dir: Dir; bytes: Buffer; tsNs: bigint }> }>;
}

/** A TCP connection 127.0.0.1:40000 → 127.0.0.1:53 seen from its SYN, with `conn` laid over it. */
export function testConnection(conn: Partial<Connection> = {}): Connection {
  return {
    id: 1,
    transport: 'tcp',
    ipVersion: 4,
    client: { address: '127.0.0.1', port: 40000 },
    server: { address: '127.0.0.1', port: 53 },
    roleSource: 'syn',
    interfaceKey: 0,
    firstNs: 0n,
    lastNs: 0n,
    bytes: [0, 0],
    midstream: false,
    ...conn,
  };
}

export function fakeContext(options: Partial<ParseOptions> = {}, conn: Partial<Connection> = {}): FakeContext {
  const counts = new Map<string, number>();
  const ctx: FakeContext = {
    conn: testConnection(conn),
    options: { ...defaultParseOptions, ...options },
    records: [],
    counts,
    abandoned: [],
    handoffs: [],
    emit(record) {
      ctx.records.push(record);
    },
    count(name, n = 1) {
      counts.set(name, (counts.get(name) ?? 0) + n);
    },
    abandon(reason) {
      ctx.abandoned.push(reason);
    },
    handoff(protocol, pending) {
      ctx.handoffs.push({ protocol, pending });
      return true;
    },
  };
  return ctx;
}
