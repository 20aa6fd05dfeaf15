/**
 * A protocol parser driven over a hand-written session in unit tests: each
 * side's bytes fed whole or in pieces, the records read back by path and
 * compared without their times, and the same session damaged at random.
 */
import type { StreamParser, ExchangeRecord } from '../../packages/protocols/src/types.js';
import { fakeContext, recordAsEvent, type FakeContext } from './fake-parser-context.js';
import { assertValidEvents } from './parse.js';

/** Bytes one side sends (0 client, 1 server); text is UTF-8. */
export type Side = [0 | 1, string | Buffer];
export const C = 0 as const;
export const S = 1 as const;

export interface RunOptions {
  /** Piece size each side's bytes are fed in (whole by default). */
  step?: number;
  options?: Parameters<typeof fakeContext>[0];
  conn?: Parameters<typeof fakeContext>[1];
  /** Close the connection (fin) after the last piece (default true). */
  close?: boolean;
}

/** Feeds `sides` in order, each split into pieces of `step` bytes, to a parser `create` makes; returns the context with its records and counts. */
export function runSession(create: (ctx: FakeContext) => StreamParser, sides: Side[], o: RunOptions = {}): FakeContext {
  const ctx = fakeContext(o.options ?? {}, o.conn ?? {});
  const p = create(ctx);
  let t = 1000n;
  for (const [dir, raw] of sides) {
    const bytes = typeof raw === 'string' ? Buffer.from(raw, 'utf8') : raw;
    const n = o.step === undefined || o.step === Infinity ? bytes.length : o.step;
    for (let i = 0; i < bytes.length; i += n) p.data(dir, bytes.subarray(i, Math.min(bytes.length, i + n)), t++);
  }
  if (o.close !== false) p.close('fin', t);
  return ctx;
}

/** The value at a dotted path of a record's attributes. */
export const at = (r: ExchangeRecord, path: string): unknown => path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], r.attributes);

/** What records say, without their times (which follow the pieces they were fed in). */
export const shape = (records: ExchangeRecord[]) => records.map(({ startNs, endNs, ...rest }) => (void startNs, void endNs, rest));

/**
 * The parser a switch to TLS (STARTTLS, STLS) hands over to resume the session inside it, on a
 * fresh context: the switch's carried parser, checked to be named `name`.
 */
export function resumedInside(ctx: FakeContext, name: string): { inner: FakeContext; parser: StreamParser } {
  const h = ctx.handoffs.find((x) => x.protocol === 'tls');
  if (!h?.init?.carried) throw new Error(`no switch to TLS with a ${name} session to resume`);
  if (h.init.carried.name !== name) throw new Error(`the session resumed is ${h.init.carried.name}, not ${name}`);
  const inner = fakeContext();
  return { inner, parser: h.init.carried.parser(inner) };
}

/** Each side's bytes of a session, joined. */
export function sidesOf(sides: Side[]): { client: Buffer; server: Buffer } {
  const join = (d: 0 | 1) => Buffer.concat(sides.filter(([s]) => s === d).map(([, b]) => (typeof b === 'string' ? Buffer.from(b, 'utf8') : b)));
  return { client: join(C), server: join(S) };
}

export interface DamageOptions {
  seed: number;
  runs?: number;
  /** Pieces are 1 to maxPiece bytes. */
  maxPiece: number;
  /** Feed the sides piece by piece, this one first; by default the client's bytes all go first. */
  interleave?: 'client' | 'server';
  /** The chance that a run joins mid-session. */
  midstream?: number;
  /** More checks on each run's context. */
  check?: (ctx: FakeContext) => void;
}

/**
 * `runs` copies of a session with 1–4 random bytes changed, fed in random pieces: none may throw,
 * and every record read must be an event the schema accepts.
 */
export function damagedSessionsStayValid(create: (ctx: FakeContext) => StreamParser, client: Buffer, server: Buffer, protocol: string, o: DamageOptions): void {
  let seed = o.seed;
  const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  for (let i = 0; i < (o.runs ?? 300); i++) {
    const a = Buffer.from(client);
    const b = Buffer.from(server);
    for (let k = 0; k < 1 + Math.floor(rand() * 4); k++) {
      const t = rand() < 0.5 ? a : b;
      t[Math.floor(rand() * t.length)] = Math.floor(rand() * 256);
    }
    const n = 1 + Math.floor(rand() * o.maxPiece);
    const conn = o.midstream !== undefined ? { midstream: rand() < o.midstream } : {};
    let ctx: FakeContext;
    if (o.interleave) {
      ctx = fakeContext({}, conn);
      const p = create(ctx);
      const [first, second]: Array<[0 | 1, Buffer]> = o.interleave === 'client' ? [[C, a], [S, b]] : [[S, b], [C, a]];
      let t = 1n;
      for (let off = 0; off < Math.max(a.length, b.length); off += n) {
        if (off < first[1].length) p.data(first[0], first[1].subarray(off, off + n), t++);
        if (off < second[1].length) p.data(second[0], second[1].subarray(off, off + n), t++);
      }
      p.close('fin', t);
    } else ctx = runSession(create, [[C, a], [S, b]], { step: n, conn });
    o.check?.(ctx);
    for (const r of ctx.records) assertValidEvents([recordAsEvent(r, protocol)]);
  }
}
