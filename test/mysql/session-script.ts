/** Runs the MySQL parser over a script of packets and gaps, after a MariaDB login unless joined mid-stream. */
import type { ExchangeRecord, ParseOptions } from '../../packages/protocols/src/types.js';
import { mysqlModule } from '../../packages/protocols/src/mysql/index.js';
import { fakeContext, type FakeContext } from '../helpers/fake-parser-context.js';
import { greeting, handshakeResponse, ok } from './my-wire.js';

export const C = 0 as const;
export const S = 1 as const;
export const attrs = (r: ExchangeRecord): any => r.attributes as any;

/** Bytes from the client (0) or server (1), or a gap of N bytes in one direction. */
export type Step = [0 | 1, Buffer] | ['gap', 0 | 1, number];

export function session(caps: number, steps: Step[], midstream = false, opts: Partial<ParseOptions> = {}): FakeContext {
  const ctx = fakeContext(opts, { server: { address: '127.0.0.1', port: 3306 }, midstream });
  const p = mysqlModule.createStream!(ctx);
  let t = 0n;
  if (!midstream) {
    p.data(S, greeting('10.11.6-MariaDB', caps), t++);
    p.data(C, handshakeResponse(caps, 'app', Buffer.from('x'), 'shop'), t++);
    p.data(S, ok(2), t++);
  }
  for (const s of steps) {
    if (s[0] === 'gap') p.gap(s[1], s[2], t++);
    else p.data(s[0], s[1], t++);
  }
  p.close('fin', t);
  return ctx;
}
