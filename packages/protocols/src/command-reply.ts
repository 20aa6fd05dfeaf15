/**
 * What the line protocols that pair commands with replies in order share
 * (SMTP, POP3, FTP; IMAP's queue too): the bounded queue of commands waiting
 * for a reply, and the record of a command with its reply, or of either
 * alone (a greeting, a command the connection's end left unanswered).
 */
import type { EventKind } from '@panopticon/events';
import type { ExchangeRecord, ParserContext } from './types.js';

/** A command or reply as these parsers keep it: when it was sent, and its bytes on the wire. */
export interface Timed {
  startNs: bigint;
  endNs: bigint;
  bytes: number;
}

/**
 * Queues `c`; when maxPending commands already wait, the oldest is reported unanswered (flag
 * evicted) and counted as `<protocol>.pending_overflow`.
 */
export function queueCommand<T>(ctx: ParserContext, protocol: string, pending: T[], c: T, unanswered: (evicted: T) => void): void {
  if (pending.length >= ctx.options.maxPending) {
    ctx.count(`${protocol}.pending_overflow`);
    unanswered(pending.shift()!);
  }
  pending.push(c);
}

/**
 * The record of command `c` and reply `r` (one may be absent): from the first byte of whichever
 * came first to the reply's last, the reply's bytes with `moreResponseBytes` (intermediate replies,
 * challenges) added.
 */
export function commandRecord(kind: EventKind, c: Timed | undefined, r: Timed | undefined, attributes: Record<string, unknown>, flags: string[], moreResponseBytes = 0): ExchangeRecord {
  const first = (c ?? r)!;
  return {
    kind,
    startNs: first.startNs,
    endNs: r ? r.endNs : first.endNs,
    ...(c ? { requestBytes: c.bytes } : {}),
    ...(r ? { responseBytes: r.bytes + moreResponseBytes } : {}),
    attributes,
    ...(flags.length ? { flags } : {}),
  };
}
