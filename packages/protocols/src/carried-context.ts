/**
 * The context of a protocol carried inside another connection's bytes: a
 * tunnel, an HTTP/2 stream, a QUIC stream. It is the carrier's connection
 * and options; each record is marked by the carrier (`mark`) on its way out;
 * giving up (`abandon`) gives up only what is carried; nothing is handed off.
 * A connection the carried protocol announces (an FTP data connection, from a
 * control session inside TLS) is announced for the carrier's connection.
 */
import type { ExchangeRecord, ParserContext } from './types.js';

export function carriedContext(
  ctx: ParserContext,
  mark: (r: ExchangeRecord) => void,
  opts: { abandon?: () => void; overTls?: boolean } = {},
): ParserContext {
  return {
    conn: ctx.conn,
    options: ctx.options,
    overTls: opts.overTls,
    emit: (r) => {
      mark(r);
      ctx.emit(r);
    },
    count: (name, n) => ctx.count(name, n),
    abandon: opts.abandon ?? (() => {}),
    handoff: () => false,
    ...(ctx.expect ? { expect: ctx.expect.bind(ctx) } : {}),
  };
}
