/**
 * A ParserContext stand-in for unit tests of protocol parsers: records what
 * the parser emitted, counted, abandoned and handed off, with no dispatcher.
 */
import type { Connection, Dir } from '@panopticon/flows';
import { defaultParseOptions, type ExchangeRecord, type HandoffInit, type ParseOptions, type ParserContext, type StreamParser } from '../../packages/protocols/src/types.js';

export interface FakeContext extends ParserContext {
  records: ExchangeRecord[];
  counts: Map<string, number>;
  abandoned: string[];
  handoffs: Array<{ protocol: string; pending?: Array<{ dir: Dir; bytes: Buffer; tsNs: bigint }>; init?: HandoffInit }>;
  /** Connections the parser announced (ParserContext.expect). */
  expects: Array<{ address: string; port: number; protocol: string; parser: (ctx: ParserContext) => StreamParser }>;
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
    expects: [],
    emit(record) {
      ctx.records.push(record);
    },
    count(name, n = 1) {
      counts.set(name, (counts.get(name) ?? 0) + n);
    },
    abandon(reason) {
      ctx.abandoned.push(reason);
    },
    handoff(protocol, pending, init) {
      ctx.handoffs.push({ protocol, pending, init });
      return true;
    },
    expect(address, port, protocol, parser) {
      ctx.expects.push({ address, port, protocol, parser });
    },
  };
  return ctx;
}

/**
 * The event a record becomes, with a fixed envelope around its attributes (the dispatcher's job in a
 * real run): for checking a parser's records against the schema without a pipeline.
 */
export function recordAsEvent(r: ExchangeRecord, protocol: string): Record<string, unknown> {
  return {
    pano: { v: 1, id: '1-1', kind: r.kind, protocol, start_ns: '1', end_ns: '1', duration_ns: 0, time: '1970-01-01T00:00:00.000000001Z', source: { type: 'pcap', name: 'x' }, connection: { id: 1, roles: 'syn' } },
    client: { address: '127.0.0.1', port: 1 },
    server: { address: '127.0.0.1', port: 2 },
    ...r.attributes,
    network: { transport: 'tcp', type: 'ipv4', ...(r.attributes.network as object) },
  };
}
